//! The quantized side of the IR: element types, affine quantization
//! parameters, quantized constants and the int8 / dynamic-range ops, plus
//! the parts of TFLite's `Prepare` arithmetic the delegate owns (effective
//! conv/fc multipliers, fused activations as int8 bounds).
//!
//! Representation: every quantized activation is int8. A uint8 tensor of the
//! model is held as `q ^ 0x80` with zero point `zp − 128` (real values are
//! unchanged); the ffi flips the bit at the partition boundary.

use crate::ir::{Op, Padding, PoolKind};
use armrest_kernels::elementwise::BinaryOp;
use armrest_kernels::fixedpoint::Requant;
use armrest_kernels::Clamp;
use std::sync::Arc;

/// Element type of a tensor as armrest holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DType {
    #[default]
    F32,
    I8,
    I32,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I8 => "int8",
            DType::I32 => "int32",
        }
    }
}

/// The element types CAST converts between, as the model stores them
/// (a uint8 tensor is held as int8 `q ^ 0x80`, see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastType {
    F32,
    I32,
    I8,
    U8,
}

impl CastType {
    /// How armrest holds a tensor of this type.
    pub fn dtype(self) -> DType {
        match self {
            CastType::F32 => DType::F32,
            CastType::I32 => DType::I32,
            CastType::I8 | CastType::U8 => DType::I8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            CastType::F32 => "float32",
            CastType::I32 => "int32",
            CastType::I8 => "int8",
            CastType::U8 => "uint8",
        }
    }
}

/// Affine quantization: `real = scale[c] · (q − zero_point[c])`, `c` the index
/// along `axis` when there is more than one scale (per-channel).
#[derive(Clone, Debug, PartialEq)]
pub struct QParams {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub axis: usize,
}

impl QParams {
    pub fn per_tensor(scale: f32, zero_point: i32) -> QParams {
        QParams { scale: vec![scale], zero_point: vec![zero_point], axis: 0 }
    }
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }
    /// The first (per-tensor) scale and zero point.
    pub fn affine(&self) -> Affine {
        Affine { scale: self.scale.first().copied().unwrap_or(0.0), zero_point: self.zero_point.first().copied().unwrap_or(0) }
    }
}

/// One scale and zero point (the int8 domain: uint8 zero points already shifted by −128).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub scale: f32,
    pub zero_point: i32,
}

/// Constant quantized data.
#[derive(Clone, Debug)]
pub enum QConst {
    I8(Arc<[i8]>),
    I32(Arc<[i32]>),
}

/// The int8 output stage of a conv / fc: `clamp(zero_point + requant[c].apply(acc), min, max)`.
#[derive(Clone, Debug, PartialEq)]
pub struct QOut {
    /// One entry (per-tensor) or one per output channel.
    pub requant: Vec<Requant>,
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

/// Quantized element-wise binary ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QBinary {
    Add,
    Sub,
    Mul,
}

/// Quantized unary ops (lookup tables in the kernels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QUnary {
    Logistic,
    Tanh,
    HardSwish,
    LeakyRelu(f32),
}

/// A quantized op. Activations are int8 unless the variant says otherwise;
/// weights are constant int8 tensors with [`QParams`], biases constant int32.
#[derive(Clone, Debug, PartialEq)]
pub enum QOp {
    /// Inputs: x `[n,h,w,c]`, filter `[o,kh,kw,c]`, bias `[o]` (optional).
    Conv2d { padding: Padding, stride: [usize; 2], dilation: [usize; 2], out: QOut },
    /// Inputs: x `[n,h,w,c]`, filter `[1,kh,kw,c*m]`, bias `[c*m]` (optional).
    DepthwiseConv2d { padding: Padding, stride: [usize; 2], dilation: [usize; 2], depth_multiplier: usize, out: QOut },
    /// Inputs: x `[..., k]`, weights `[n, k]`, bias `[n]` (optional).
    FullyConnected { keep_num_dims: bool, out: QOut },
    /// fp32 → int8 (`input` None) or int8 → int8 requantization.
    Quantize { input: Option<Affine>, output: Affine },
    /// int8 → fp32.
    Dequantize { input: Affine },
    /// Inputs: a, b (broadcast). `min`/`max`: the fused activation in the output's int8 domain.
    Binary { op: QBinary, a: Affine, b: Affine, output: Affine, min: i32, max: i32 },
    /// `min`/`max`: the fused activation in the output's int8 domain.
    Pool2d { kind: PoolKind, padding: Padding, stride: [usize; 2], filter: [usize; 2], input: Affine, output: Affine, min: i32, max: i32, uint8: bool },
    Mean { axes: Vec<i64>, keep_dims: bool, input: Affine, output: Affine },
    /// Inputs of differing scales / zero points.
    Concat { axis: i64, inputs: Vec<Affine>, output: Affine, uint8: bool },
    /// Fills with the output's zero point.
    Pad { pads: Vec<(usize, usize)>, output: Affine },
    Softmax { beta: f32, input: Affine, output: Affine, uint8: bool },
    Unary { op: QUnary, input: Affine, output: Affine },
    ResizeBilinear { size: [usize; 2], align_corners: bool, half_pixel_centers: bool, input: Affine, output: Affine, uint8: bool },
    /// Dynamic range: x fp32 `[..., k]`, weights int8 `[n, k]` (scales per tensor or per row),
    /// bias fp32 `[n]` (optional) → fp32. Each row of x is quantized at run time.
    HybridFullyConnected { keep_num_dims: bool, clamp: Clamp, asymmetric: bool },
    /// Dynamic range: x fp32 `[n,h,w,c]`, filter int8 `[o,kh,kw,c]`, bias fp32 → fp32. Each
    /// image is quantized at run time (asymmetric when the filter is per-channel, as TFLite).
    HybridConv2d { padding: Padding, stride: [usize; 2], clamp: Clamp, asymmetric: bool },
    /// TFLite CAST: a value conversion that ignores quantization parameters
    /// (float → integer truncates toward zero and saturates; integer → narrower integer wraps).
    Cast { from: CastType, to: CastType },
}

impl QOp {
    pub fn name(&self) -> &'static str {
        match self {
            QOp::Conv2d { .. } => "qconv2d",
            QOp::DepthwiseConv2d { .. } => "qdepthwise_conv2d",
            QOp::FullyConnected { .. } => "qfully_connected",
            QOp::Quantize { input: None, .. } => "quantize",
            QOp::Quantize { input: Some(_), .. } => "requantize",
            QOp::Dequantize { .. } => "dequantize",
            QOp::Binary { .. } => "qbinary",
            QOp::Pool2d { .. } => "qpool2d",
            QOp::Mean { .. } => "qmean",
            QOp::Concat { .. } => "qconcat",
            QOp::Pad { .. } => "qpad",
            QOp::Softmax { .. } => "qsoftmax",
            QOp::Unary { .. } => "qunary",
            QOp::ResizeBilinear { .. } => "qresize_bilinear",
            QOp::HybridFullyConnected { .. } => "hybrid_fully_connected",
            QOp::HybridConv2d { .. } => "hybrid_conv2d",
            QOp::Cast { .. } => "cast",
        }
    }

    /// The element type of the op's output.
    pub fn output_dtype(&self) -> DType {
        match self {
            QOp::Dequantize { .. } | QOp::HybridFullyConnected { .. } | QOp::HybridConv2d { .. } => DType::F32,
            QOp::Cast { to, .. } => to.dtype(),
            _ => DType::I8,
        }
    }

    /// Output shapes, by the rules of the fp32 op each one mirrors.
    pub fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<Vec<usize>>, String> {
        let x = inputs.first().copied().ok_or("missing input")?;
        let mirror = match self {
            QOp::Conv2d { padding, stride, dilation, .. } => Op::Conv2d { padding: *padding, stride: *stride, dilation: *dilation, clamp: Clamp::NONE },
            QOp::HybridConv2d { padding, stride, .. } => Op::Conv2d { padding: *padding, stride: *stride, dilation: [1, 1], clamp: Clamp::NONE },
            QOp::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, .. } => {
                Op::DepthwiseConv2d { padding: *padding, stride: *stride, dilation: *dilation, depth_multiplier: *depth_multiplier, clamp: Clamp::NONE }
            }
            QOp::FullyConnected { keep_num_dims, .. } | QOp::HybridFullyConnected { keep_num_dims, .. } => Op::FullyConnected { keep_num_dims: *keep_num_dims, clamp: Clamp::NONE },
            QOp::Binary { .. } => Op::Binary { op: BinaryOp::Add, clamp: Clamp::NONE },
            QOp::Pool2d { kind, padding, stride, filter, .. } => Op::Pool2d { kind: *kind, padding: *padding, stride: *stride, filter: *filter, clamp: Clamp::NONE },
            QOp::Mean { axes, keep_dims, .. } => Op::Mean { axes: axes.clone(), keep_dims: *keep_dims },
            QOp::Concat { axis, inputs: qs, .. } => {
                if qs.len() != inputs.len() {
                    return Err(format!("{} inputs, {} quantization parameters", inputs.len(), qs.len()));
                }
                Op::Concat { axis: *axis }
            }
            QOp::Pad { pads, .. } => Op::Pad { pads: pads.clone() },
            QOp::Softmax { beta, .. } => Op::Softmax { beta: *beta },
            QOp::ResizeBilinear { size, align_corners, half_pixel_centers, .. } => Op::ResizeBilinear { size: *size, align_corners: *align_corners, half_pixel_centers: *half_pixel_centers },
            QOp::Quantize { .. } | QOp::Dequantize { .. } | QOp::Unary { .. } | QOp::Cast { .. } => return Ok(vec![x.to_vec()]),
        };
        crate::shapes::infer(&mirror, inputs)
    }
}

/// TFLite's `CalculateActivationRangeQuantized` for an int8 output (uint8
/// outputs give the same bounds shifted by −128): codes 0 none, 1 relu,
/// 2 relu_n1_to_1, 3 relu6. Other fused activations are rejected, as TFLite does.
pub fn activation_range(activation: i32, output: Affine) -> Result<(i32, i32), String> {
    let (qmin, qmax) = (-128, 127);
    // f / scale in float, rounded half away from zero (TfLiteRound).
    let quantize = |f: f32| output.zero_point.saturating_add((f / output.scale).round() as i32);
    Ok(match activation {
        0 => (qmin, qmax),
        1 => (qmin.max(quantize(0.0)), qmax),
        2 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
        3 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        other => return Err(format!("fused activation #{other} on a quantized op (TFLite supports none, RELU, RELU_N1_TO_1, RELU6)")),
    })
}

/// How TFLite's `Prepare` forms an effective output multiplier
/// `input_scale · filter_scale / output_scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleProduct {
    /// `(double)input_scale * (double)filter_scale / (double)output_scale`: the
    /// per-channel arrays of `PopulateConvolutionQuantizationParams` (int8 CONV_2D and
    /// DEPTHWISE_CONV_2D, per-tensor too) and per-channel int8 FULLY_CONNECTED.
    Double,
    /// `(double)(input_scale * filter_scale) / (double)output_scale`, the product in
    /// float (`GetQuantizedConvolutionMultipler`): uint8 conv / depthwise and per-tensor
    /// FULLY_CONNECTED.
    Float,
}

/// The effective multipliers of a conv / depthwise / fc, one per output channel
/// (`filter_scales` has 1 entry, broadcast, or `channels`).
pub fn conv_requant(input_scale: f32, filter_scales: &[f32], output_scale: f32, channels: usize, product: ScaleProduct) -> Result<Vec<Requant>, String> {
    if filter_scales.len() != 1 && filter_scales.len() != channels {
        return Err(format!("{} filter scales for {channels} output channels", filter_scales.len()));
    }
    let real = |fs: f32| match product {
        ScaleProduct::Double => input_scale as f64 * fs as f64 / output_scale as f64,
        ScaleProduct::Float => (input_scale * fs) as f64 / output_scale as f64,
    };
    let n = if filter_scales.len() == 1 { 1 } else { channels };
    (0..n)
        .map(|c| {
            let r = real(filter_scales[c]);
            if !(r > 0.0 && r.is_finite()) {
                return Err(format!("effective scale {r} of channel {c} is not positive"));
            }
            Ok(Requant::from_real(r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_bounds_follow_tflite_rounding() {
        let out = Affine { scale: 0.05, zero_point: -10 };
        assert_eq!(activation_range(0, out).unwrap(), (-128, 127));
        assert_eq!(activation_range(1, out).unwrap(), (-10, 127));
        // 6 / 0.05 = 120 → -10 + 120 = 110.
        assert_eq!(activation_range(3, out).unwrap(), (-10, 110));
        assert_eq!(activation_range(2, out).unwrap(), (-30, 10));
        // Bounds past the int8 range are clipped.
        let wide = Affine { scale: 0.01, zero_point: 100 };
        assert_eq!(activation_range(3, wide).unwrap(), (100, 127));
        assert!(activation_range(6, out).is_err());
        // Half-way values round away from zero: 1 / 0.4 = 2.5 → 3.
        assert_eq!(activation_range(2, Affine { scale: 0.4, zero_point: 0 }).unwrap(), (-3, 3));
    }

    #[test]
    fn float_and_double_products_differ_where_tflite_does() {
        // Find scales where the float product rounds differently from the double one.
        let (i, o) = (0.023_529_412_f32, 0.047_058_824_f32);
        let mut seen_difference = false;
        for k in 1..2000 {
            let f = 0.0001f32 * k as f32 + 1e-7;
            let d = conv_requant(i, &[f], o, 1, ScaleProduct::Double).unwrap()[0];
            let s = conv_requant(i, &[f], o, 1, ScaleProduct::Float).unwrap()[0];
            assert_eq!(d, Requant::from_real(i as f64 * f as f64 / o as f64));
            assert_eq!(s, Requant::from_real((i * f) as f64 / o as f64));
            seen_difference |= d != s;
        }
        assert!(seen_difference, "the two products should differ for some scales");
        assert!(conv_requant(i, &[0.1, 0.2], o, 3, ScaleProduct::Double).is_err());
        assert_eq!(conv_requant(i, &[0.1, 0.2, 0.3], o, 3, ScaleProduct::Double).unwrap().len(), 3);
        assert!(conv_requant(i, &[0.0], o, 1, ScaleProduct::Double).is_err());
    }
}
