//! int8 kernels for the non-MAC operators, bit-exact with LiteRT 2.3.0's
//! `BUILTIN_REF` kernels (the reference kernel path).
//!
//! # Representation
//! Every tensor is int8. A uint8 tensor is mapped by the delegate to int8
//! with `q ^ 0x80` and `zero_point - 128`, which leaves `real = scale * (q -
//! zp)` unchanged; where TFLite's uint8 reference kernel computes something
//! other than the shifted int8 result, the op's params take a `uint8: bool`
//! flag that makes the kernel reproduce the uint8 arithmetic. Scales are the
//! raw f32 values of the TFLite tensors: each `*Params::new` runs the op's
//! own TFLite `Prepare` computation (float vs double products exactly as
//! there) and returns `Err` for what TFLite would reject or abort on.
//! Fused activations arrive as an int8 `[act_min, act_max]` range; compute
//! it with [`activation_range`] (TFLite's `CalculateActivationRangeQuantized`).
//!
//! # API (everything public in this module; signatures are a contract)
//! ```text
//! // shared
//! enum FusedActivation { None, Relu, ReluN1To1, Relu6 }
//! fn activation_range(act: FusedActivation, out_scale: f32, out_zp: i32) -> Result<(i32, i32), String>
//! fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String>
//!
//! // QUANTIZE / DEQUANTIZE (quantize.rs)
//! QuantizeParams::new(out_scale: f32, out_zp: i32) -> Result<QuantizeParams, String>
//! fn qquantize(exec: Exec, p: &QuantizeParams, input: &[f32], output: &mut [i8])
//! RequantizeParams::new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<RequantizeParams, String>
//! fn qrequantize(exec: Exec, p: &RequantizeParams, input: &[i8], output: &mut [i8])
//! DequantizeParams::new(scale: f32, zp: i32) -> Result<DequantizeParams, String>
//! fn qdequantize(exec: Exec, p: &DequantizeParams, input: &[i8], output: &mut [f32])
//! fn qdequantize_per_channel(exec: Exec, scales: &[f32], zps: &[i32], shape: &[usize], axis: usize, input: &[i8], output: &mut [f32]) -> Result<(), String>
//!
//! // ADD / SUB / MUL (binary.rs), numpy broadcasting of ND shapes; output
//! // length = product of broadcast_shape(a_shape, b_shape)
//! AddParams::new(a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, act_min, act_max) -> Result<AddParams, String>
//! SubParams::new(same arguments) -> Result<SubParams, String>
//! MulParams::new(same arguments) -> Result<MulParams, String>
//! fn qadd(exec: Exec, p: &AddParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8])
//! fn qsub(exec: Exec, p: &SubParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8])
//! fn qmul(exec: Exec, p: &MulParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8])
//!
//! // AVERAGE_POOL_2D / MAX_POOL_2D (pool.rs), NHWC, dilation must be 1
//! PoolParams::new(in_scale, in_zp, out_scale, out_zp, act_min, act_max, uint8: bool) -> Result<PoolParams, String>
//! fn qavg_pool2d(exec: Exec, p: &PoolParams, win: &Window2d, in_shape: Nhwc, input: &[i8], output: &mut [i8]) -> Result<(), String>
//! fn qmax_pool2d(exec: Exec, p: &PoolParams, win: &Window2d, in_shape: Nhwc, input: &[i8], output: &mut [i8]) -> Result<(), String>
//!
//! // PAD (pad.rs): `paddings[d] = (before, after)`, output shape in[d] + before + after
//! PadParams::new(out_scale: f32, out_zp: i32, constant: Option<(i8, f32, i32)>) -> Result<PadParams, String>
//! fn qpad(exec: Exec, p: &PadParams, in_shape: &[usize], input: &[i8], paddings: &[(usize, usize)], output: &mut [i8])
//!
//! // CONCATENATION (concat.rs): all inputs have in_shapes[i].len() dims, equal but on `axis`;
//! // TFLite's Prepare rejects a fused activation on it (do not claim one)
//! ConcatParams::new(in_scales: &[f32], in_zps: &[i32], out_scale, out_zp, uint8: bool) -> Result<ConcatParams, String>
//! fn qconcat(exec: Exec, p: &ConcatParams, in_shapes: &[&[usize]], inputs: &[&[i8]], axis: usize, output: &mut [i8])
//! ```
//! ```text
//! // MEAN (mean.rs): output holds the kept dims in order (keep_dims only changes the shape)
//! MeanParams::new(in_scale, in_zp, out_scale, out_zp) -> Result<MeanParams, String>
//! fn qmean(exec: Exec, p: &MeanParams, in_shape: &[usize], input: &[i8], axes: &[i32], output: &mut [i8]) -> Result<(), String>
//!
//! // SOFTMAX (softmax.rs) over the last axis
//! SoftmaxParams::new(in_scale, in_zp, out_scale, out_zp, beta: f32, uint8: bool) -> Result<SoftmaxParams, String>
//! fn qsoftmax(exec: Exec, p: &SoftmaxParams, rows: usize, depth: usize, input: &[i8], output: &mut [i8])
//!
//! // LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU (lut.rs): one 256-entry table each
//! Lut::logistic(in_scale, in_zp, out_scale, out_zp) -> Result<Lut, String>
//! Lut::tanh(in_scale, in_zp, out_scale, out_zp) -> Result<Lut, String>
//! Lut::hard_swish(in_scale, in_zp, out_scale, out_zp) -> Result<Lut, String>
//! Lut::leaky_relu(in_scale, in_zp, out_scale, out_zp, alpha: f32) -> Result<Lut, String>
//! Lut::from_fn(f: impl Fn(i32) -> i8) -> Lut
//! fn qlut(exec: Exec, lut: &Lut, input: &[i8], output: &mut [i8])
//!
//! // RESIZE_BILINEAR (resize.rs), NHWC
//! ResizeParams::new(in_scale, in_zp, out_scale, out_zp, align_corners: bool, half_pixel_centers: bool, uint8: bool) -> Result<ResizeParams, String>
//! fn qresize_bilinear(exec: Exec, p: &ResizeParams, in_shape: Nhwc, input: &[i8], out_h: usize, out_w: usize, output: &mut [i8])
//! ```
//! `uint8: bool` matters for AVERAGE_POOL_2D (rounding of the uint8 sum),
//! CONCATENATION (uint8 rescales inputs, int8 requires equal quantization),
//! RESIZE_BILINEAR (uint8 runs TFLite's float kernel) and SOFTMAX (the
//! int8 output-quantization check); every other op computes the same
//! integers for both.
//! Length mismatches between a shape and its slice are caller bugs and
//! panic, as in the fp32 kernels; the delegate validates shapes first.

pub mod binary;
pub mod concat;
pub mod lut;
pub mod mean;
pub mod pad;
pub mod pool;
pub mod quantize;
pub mod resize;
pub mod softmax;
mod vec;
#[cfg(target_arch = "x86_64")]
pub(crate) mod vec512;

pub use binary::{qadd, qmul, qsub, AddParams, MulParams, SubParams};
pub use concat::{qconcat, ConcatParams};
pub use lut::{qlut, Lut};
pub use mean::{qmean, MeanParams};
pub use pad::{qpad, PadParams};
pub use pool::{qavg_pool2d, qmax_pool2d, PoolParams};
pub use resize::{qresize_bilinear, ResizeParams};
pub use softmax::{qsoftmax, SoftmaxParams};
pub use quantize::{qdequantize, qdequantize_per_channel, qquantize, qrequantize, DequantizeParams, QuantizeParams, RequantizeParams};

use crate::Exec;
use std::sync::Mutex;

/// TFLite's fused activation functions that quantized kernels clamp to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedActivation {
    None,
    Relu,
    ReluN1To1,
    Relu6,
}

/// TFLite's `CalculateActivationRangeQuantized` for an int8 output (a
/// uint8 output gives the same range shifted by 128): the bound `f` maps to
/// `zp + round(f / scale)` computed in f32, rounded half away from zero.
pub fn activation_range(act: FusedActivation, out_scale: f32, out_zp: i32) -> Result<(i32, i32), String> {
    if !(out_scale.is_finite() && out_scale > 0.0) {
        return Err(format!("output scale {out_scale} is not a positive finite number"));
    }
    let quantize = |f: f32| -> Result<i32, String> {
        // kernel_util.cc Quantize: TfLiteRound(f / scale) in float, rejected outside i32.
        let tmp = (f / out_scale).round();
        if tmp >= i32::MIN as f32 && tmp <= i32::MAX as f32 {
            Ok(out_zp.wrapping_add(tmp as i32))
        } else {
            Err(format!("activation bound {f} overflows at scale {out_scale}"))
        }
    };
    let (qmin, qmax) = (-128, 127);
    Ok(match act {
        FusedActivation::None => (qmin, qmax),
        FusedActivation::Relu => (qmin.max(quantize(0.0)?), qmax),
        FusedActivation::Relu6 => (qmin.max(quantize(0.0)?), qmax.min(quantize(6.0)?)),
        FusedActivation::ReluN1To1 => (qmin.max(quantize(-1.0)?), qmax.min(quantize(1.0)?)),
    })
}

/// Numpy broadcasting of two ND shapes (right-aligned; a dimension of 1
/// stretches), TFLite's `CalculateShapeForBroadcast`.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        *o = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!("shapes {a:?} and {b:?} do not broadcast"));
        };
    }
    Ok(out)
}

pub(crate) fn check_scale(what: &str, scale: f32) -> Result<(), String> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(format!("{what} scale {scale} is not a positive finite number"))
    }
}

pub(crate) fn check_zp(what: &str, zp: i32) -> Result<(), String> {
    if (-128..=127).contains(&zp) {
        Ok(())
    } else {
        Err(format!("{what} zero point {zp} is outside the int8 range"))
    }
}

/// Multipliers beyond 2^30 shift the int32 accumulator out of range, which
/// is undefined behaviour in TFLite's C++ (`x * (1 << shift)`); refused.
pub(crate) fn check_shift(op: &str, r: crate::fixedpoint::Requant) -> Result<(), String> {
    if r.shift > 30 {
        Err(format!("{op}: rescale multiplier {} is too large", r.to_real()))
    } else {
        Ok(())
    }
}

/// Splits `out` into chunks of `chunk` elements and runs `f(start, chunk)`
/// for each as pool tasks (inline with one thread). Every kernel computes
/// an element independently of where its chunk starts, so results never
/// depend on the thread count.
pub(crate) fn par_chunks_mut<T: Send>(exec: Exec, out: &mut [T], chunk: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
    let chunk = chunk.max(1);
    if out.len() <= chunk || exec.pool.num_threads() <= 1 {
        if !out.is_empty() {
            f(0, out);
        }
        return;
    }
    let parts: Vec<Mutex<&mut [T]>> = out.chunks_mut(chunk).map(Mutex::new).collect();
    exec.pool.run(parts.len(), &|i| {
        let mut part = parts[i].lock().unwrap_or_else(|e| e.into_inner());
        f(i * chunk, &mut part);
    });
}

/// Elements per task for cheap elementwise int8 work.
pub(crate) const ELEMENTWISE_CHUNK: usize = 1 << 16;

#[inline(always)]
pub(crate) fn clamp_i8(x: i32, lo: i32, hi: i32) -> i8 {
    x.max(lo).min(hi) as i8
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ranges() {
        assert_eq!(activation_range(FusedActivation::None, 0.1, 3).unwrap(), (-128, 127));
        assert_eq!(activation_range(FusedActivation::Relu, 0.1, 3).unwrap(), (3, 127));
        assert_eq!(activation_range(FusedActivation::Relu, 0.1, -128).unwrap(), (-128, 127));
        // 6 / 0.05 = 120 → -10 + 120 = 110
        assert_eq!(activation_range(FusedActivation::Relu6, 0.05, -10).unwrap(), (-10, 110));
        // RELU6 wider than the range clips to 127.
        assert_eq!(activation_range(FusedActivation::Relu6, 0.01, 0).unwrap(), (0, 127));
        // -1/0.25 = -4, 1/0.25 = 4.
        assert_eq!(activation_range(FusedActivation::ReluN1To1, 0.25, 1).unwrap(), (-3, 5));
        // Round half away from zero: 1 / 0.4 = 2.5 → 3.
        assert_eq!(activation_range(FusedActivation::ReluN1To1, 0.4, 0).unwrap(), (-3, 3));
        assert!(activation_range(FusedActivation::Relu, 0.0, 0).is_err());
        assert!(activation_range(FusedActivation::Relu6, 1e-38, 0).is_err());
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shape(&[2, 3, 4], &[4]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shape(&[], &[5]).unwrap(), vec![5]);
        assert_eq!(broadcast_shape(&[1], &[1, 1]).unwrap(), vec![1, 1]);
        assert!(broadcast_shape(&[2, 3], &[4, 3]).is_err());
    }
}
