//! CONV_2D and DEPTHWISE_CONV_2D over NHWC.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::{Clamp, Exec, Isa, Nhwc, Window2d};

/// A CONV_2D's weights (`[out_c, kh, kw, in_c]`, TFLite's OHWI) packed once.
pub struct PackedConv2d {
    pub isa: Isa,
    pub out_c: usize,
    pub in_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
}

impl PackedConv2d {
    pub fn pack(isa: Isa, out_c: usize, kernel_h: usize, kernel_w: usize, in_c: usize, w_ohwi: &[f32], bias: Option<&[f32]>) -> PackedConv2d {
        let _ = (w_ohwi, bias);
        unimplemented!("scaffold {isa} {out_c} {kernel_h} {kernel_w} {in_c}")
    }
}

/// Convolution of `input` (shape `in_shape`, `in_shape.c == w.in_c`) into
/// `output` of shape `[n, win.out_h(h), win.out_w(w), w.out_c]`; zero padding.
pub fn conv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedConv2d, output: &mut [f32], clamp: Clamp) {
    let _ = (exec, win, in_shape, input, w, output, clamp);
    unimplemented!("scaffold")
}

/// DEPTHWISE_CONV_2D weights (`[1, kh, kw, in_c * depth_multiplier]`) packed once.
pub struct PackedDepthwise {
    pub isa: Isa,
    pub in_c: usize,
    pub depth_multiplier: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
}

impl PackedDepthwise {
    pub fn pack(isa: Isa, kernel_h: usize, kernel_w: usize, in_c: usize, depth_multiplier: usize, w_1hwc: &[f32], bias: Option<&[f32]>) -> PackedDepthwise {
        let _ = (w_1hwc, bias);
        unimplemented!("scaffold {isa} {kernel_h} {kernel_w} {in_c} {depth_multiplier}")
    }
}

/// Depthwise convolution; output channel `c * depth_multiplier + m` reads input channel `c`.
pub fn depthwise_conv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedDepthwise, output: &mut [f32], clamp: Clamp) {
    let _ = (exec, win, in_shape, input, w, output, clamp);
    unimplemented!("scaffold")
}
