//! How close two runs of a graph are: verify mode's measure.

/// How far one output of armrest is from tract's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OutputError {
    /// max |armrest - tract| over the output's elements.
    pub max_abs: f32,
    /// `max_abs` relative to the output's scale: max_abs / max(1, max |tract|),
    /// the measure armrest's tests use (an output of tiny values is judged
    /// by its absolute error).
    pub max_rel: f32,
}

impl OutputError {
    /// Compares `got` with the reference `want` (same length).
    pub fn between(got: &[f32], want: &[f32]) -> OutputError {
        let mut max_abs = 0f32;
        let mut scale = 0f32;
        for (&g, &w) in got.iter().zip(want) {
            let d = (g - w).abs();
            // NaN anywhere makes the error NaN, never a silent pass.
            max_abs = if d.is_nan() || max_abs.is_nan() { f32::NAN } else { max_abs.max(d) };
            scale = scale.max(w.abs());
        }
        if got.len() != want.len() {
            max_abs = f32::INFINITY;
        }
        let max_rel = max_abs / scale.max(1.0);
        OutputError { max_abs, max_rel }
    }

    /// Within `tolerance` (relative), NaN never is.
    pub fn within(&self, tolerance: f32) -> bool {
        self.max_rel <= tolerance
    }
}

