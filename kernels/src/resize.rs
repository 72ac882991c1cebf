//! RESIZE_BILINEAR over NHWC with TFLite's coordinate conventions.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::{Exec, Nhwc};

pub fn resize_bilinear(exec: Exec, in_shape: Nhwc, input: &[f32], out_h: usize, out_w: usize, align_corners: bool, half_pixel_centers: bool, output: &mut [f32]) {
    let _ = (exec, in_shape, input, out_h, out_w, align_corners, half_pixel_centers, output);
    unimplemented!("scaffold")
}
