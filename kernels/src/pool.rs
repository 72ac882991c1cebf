//! AVERAGE_POOL_2D and MAX_POOL_2D over NHWC (TFLite semantics: the average
//! counts only the taps inside the input; padding never wins a max).
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::{Clamp, Exec, Nhwc, Window2d};

/// `win.dilation_*` are 1. Output shape `[n, win.out_h(h), win.out_w(w), c]`.
pub fn avg_pool2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], output: &mut [f32], clamp: Clamp) {
    let _ = (exec, win, in_shape, input, output, clamp);
    unimplemented!("scaffold")
}

pub fn max_pool2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], output: &mut [f32], clamp: Clamp) {
    let _ = (exec, win, in_shape, input, output, clamp);
    unimplemented!("scaffold")
}
