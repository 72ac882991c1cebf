//! MEAN over any set of axes.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::Exec;

/// Mean of `input` (shape `shape`) over `axes` (sorted, unique, each < rank);
/// `output` holds the product of the kept dimensions, in order.
pub fn mean(exec: Exec, input: &[f32], shape: &[usize], axes: &[usize], output: &mut [f32]) {
    let _ = (exec, input, shape, axes, output);
    unimplemented!("scaffold")
}
