//! GELU: `x * Φ(x)`, exact (through erf) or torch's tanh approximation.

use crate::simd::{chunk_for, par_chunks, TASK_WORK};
use crate::Exec;

/// erf with absolute error < 2e-7 (Abramowitz & Stegun 7.1.26 is too coarse;
/// this is the classic erfc rational-Chebyshev fit from Numerical Recipes'
/// `erfcc`, evaluated in f64).
pub fn erf(x: f32) -> f32 {
    let z = (x as f64).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06 + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let r = 1.0 - erfc;
    (if x >= 0.0 { r } else { -r }) as f32
}

/// One value of GELU (the reference the kernel is tested against too).
pub fn gelu_one(x: f32, tanh_approx: bool) -> f32 {
    if tanh_approx {
        let c = (2.0f32 / std::f32::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
    } else {
        0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
    }
}

/// `out[i] = gelu(x[i])`.
pub fn gelu(exec: Exec, tanh_approx: bool, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "gelu: input and output lengths differ");
    par_chunks(exec, out, chunk_for(30, TASK_WORK), &|start, part| {
        for (o, &v) in part.iter_mut().zip(&x[start..]) {
            *o = gelu_one(v, tanh_approx);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::{assert_close, for_each_exec_same, Rng};

    #[test]
    fn erf_matches_known_values() {
        // erf values to 9 digits (tables).
        for (x, want) in [(0.0f32, 0.0f64), (0.5, 0.520_499_878), (1.0, 0.842_700_793), (2.0, 0.995_322_265), (-1.5, -0.966_105_146), (4.0, 0.999_999_985)] {
            assert!((erf(x) as f64 - want).abs() < 3e-7, "erf({x}) = {}, want {want}", erf(x));
        }
    }

    #[test]
    fn gelu_matches_reference() {
        let x = Rng(5).vec(1000, -6.0, 6.0);
        for approx in [false, true] {
            // Reference in f64 (erf via the same fit; tanh from std).
            let want: Vec<f32> = x
                .iter()
                .map(|&v| {
                    let v64 = v as f64;
                    if approx {
                        let c = (2.0 / std::f64::consts::PI).sqrt();
                        (0.5 * v64 * (1.0 + (c * (v64 + 0.044715 * v64 * v64 * v64)).tanh())) as f32
                    } else {
                        (0.5 * v64 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2) as f64)) as f32
                    }
                })
                .collect();
            for_each_exec_same(|exec| {
                let mut out = vec![0.0; x.len()];
                gelu(exec, approx, &x, &mut out);
                assert_close(&out, &want, 1e-6, "gelu");
                out
            });
        }
        assert!((gelu_one(1.0, false) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_one(-3.0, false) + 0.004_049_7).abs() < 1e-6);
    }
}
