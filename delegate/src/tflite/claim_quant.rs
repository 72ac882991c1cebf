//! The claiming visitor's quantized branch: nodes touching int8 / uint8 /
//! int16 tensors, and the dynamic-range (hybrid) CONV_2D / FULLY_CONNECTED
//! with int8 weights and fp32 activations. Like `claim::visit`, the same
//! function is the support check and the partition builder's mapping, so
//! a claimed node always builds; every refusal says why.
//!
//! uint8 tensors become int8 (`q ^ 0x80`, zero point − 128); TFLite's
//! arithmetic is unchanged by that shift except where noted on the ops.

use super::claim::{clamp_of, constant_ints, input, optional_input, padding_of, positive, Visited};
use super::{dtype, ops, BuiltinParams, TflModel, TflNode, TflTensor, ALLOCATION_MMAP_RO};
use crate::ir::{Op, Padding, PoolKind, ReshapeRule, Tensor};
use crate::qir::{activation_range, conv_requant, Affine, DType, QBinary, QConst, QOp, QOut, QParams, QUnary, ScaleProduct};
use crate::shapes;

fn is_q_dtype(t: i32) -> bool {
    matches!(t, dtype::I8 | dtype::U8 | dtype::I16)
}

/// Whether the node belongs to this branch: any of its tensors is int8,
/// uint8 or int16 (hybrid ops have int8 weights).
pub fn is_quantized_node(model: &dyn TflModel, node: &TflNode) -> bool {
    node.inputs.iter().chain(&node.outputs).filter(|&&i| i >= 0).any(|&i| model.tensor(i).is_some_and(|t| is_q_dtype(t.dtype)))
}

fn tensor(model: &dyn TflModel, i: i32) -> Result<TflTensor<'_>, String> {
    model.tensor(i).ok_or_else(|| format!("tensor {i} does not exist"))
}

fn shape_of(model: &dyn TflModel, i: i32) -> Result<Vec<usize>, String> {
    let t = tensor(model, i)?;
    t.shape().ok_or_else(|| format!("tensor '{}' has an unknown shape {:?}", t.name, t.dims))
}

/// A quantized activation: its int8-domain scale and zero point, and whether the model stores uint8.
#[derive(Clone, Copy, Debug)]
struct QAct {
    affine: Affine,
    uint8: bool,
}

/// The quantization parameters of tensor `index`, zero points shifted to the
/// int8 domain for uint8, checked (positive finite scales, zero points in range).
fn qparams(model: &dyn TflModel, index: i32) -> Result<(QParams, bool), String> {
    let t = tensor(model, index)?;
    let uint8 = match t.dtype {
        dtype::I8 => false,
        dtype::U8 => true,
        dtype::I16 => return Err(format!("int16 tensor '{}' (int16 quantization is not supported)", t.name)),
        other => return Err(format!("tensor '{}' is {}, expected int8 or uint8", t.name, dtype::name(other))),
    };
    let q = model.quantization(index).ok_or_else(|| format!("{} tensor '{}' has no affine quantization parameters", dtype::name(t.dtype), t.name))?;
    if q.scale.is_empty() {
        return Err(format!("tensor '{}' has an empty scale array", t.name));
    }
    if let Some(s) = q.scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(format!("tensor '{}' has scale {s} (scales must be positive)", t.name));
    }
    let zero_point: Vec<i32> = match q.zero_point.len() {
        n if n == q.scale.len() => q.zero_point.clone(),
        1 => vec![q.zero_point[0]; q.scale.len()],
        n => return Err(format!("tensor '{}' has {} scales and {n} zero points", t.name, q.scale.len())),
    };
    let (lo, hi) = if uint8 { (0, 255) } else { (-128, 127) };
    if let Some(z) = zero_point.iter().find(|&&z| z < lo || z > hi) {
        return Err(format!("tensor '{}' has zero point {z} outside [{lo}, {hi}]", t.name));
    }
    let shift = if uint8 { 128 } else { 0 };
    let axis = usize::try_from(q.quantized_dimension).map_err(|_| format!("tensor '{}' has quantized_dimension {}", t.name, q.quantized_dimension))?;
    Ok((QParams { scale: q.scale.clone(), zero_point: zero_point.iter().map(|z| z - shift).collect(), axis }, uint8))
}

/// A quantized activation, per-tensor.
fn qact(model: &dyn TflModel, index: i32) -> Result<QAct, String> {
    let (q, uint8) = qparams(model, index)?;
    let t = tensor(model, index)?;
    if q.scale.len() != 1 {
        return Err(format!("activation '{}' has {} scales (per-channel activations are not supported)", t.name, q.scale.len()));
    }
    Ok(QAct { affine: q.affine(), uint8 })
}

/// Quantized constant weights whose scales are per tensor or per `axis`
/// (one per channel of that axis, as TFLite checks); all zero points equal.
fn weights(model: &dyn TflModel, index: i32, what: &str, axis: usize) -> Result<(QParams, bool), String> {
    let t = tensor(model, index)?;
    if !(t.is_constant() && t.allocation_type == ALLOCATION_MMAP_RO) {
        return Err(format!("{what} '{}' is not a constant tensor", t.name));
    }
    let (q, uint8) = qparams(model, index)?;
    let shape = shape_of(model, index)?;
    if q.scale.len() > 1 {
        if uint8 {
            return Err(format!("{what} '{}' is uint8 with per-channel scales", t.name));
        }
        if q.axis != axis {
            return Err(format!("{what} '{}' is quantized along dimension {}, armrest needs {axis}", t.name, q.axis));
        }
        let channels = shape.get(axis).copied().unwrap_or(0);
        if q.scale.len() != channels {
            return Err(format!("{what} '{}' has {} per-channel scales for {channels} channels", t.name, q.scale.len()));
        }
    }
    if q.zero_point.iter().any(|&z| z != q.zero_point[0]) {
        return Err(format!("{what} '{}' has differing per-channel zero points", t.name));
    }
    let bytes = t.constant_data.unwrap_or(&[]);
    if bytes.len() != shape.iter().product::<usize>() {
        return Err(format!("{what} '{}' holds {} bytes for shape {shape:?}", t.name, bytes.len()));
    }
    Ok((q, uint8))
}

/// A constant int32 bias of `n` values.
fn bias_i32(model: &dyn TflModel, index: i32, n: usize) -> Result<(), String> {
    constant_bias(model, index, n, dtype::I32, "output channels")
}

/// A constant fp32 bias of `n` values (hybrid ops).
fn bias_f32(model: &dyn TflModel, index: i32, n: usize) -> Result<(), String> {
    constant_bias(model, index, n, dtype::F32, "outputs")
}

/// A constant, unquantized bias of `n` values of type `want`.
fn constant_bias(model: &dyn TflModel, index: i32, n: usize, want: i32, per: &str) -> Result<(), String> {
    let t = tensor(model, index)?;
    if t.dtype != want || (want == dtype::F32 && t.quantized) {
        return Err(format!("bias '{}' is {}, expected {}", t.name, dtype::name(t.dtype), dtype::name(want)));
    }
    if !(t.is_constant() && t.allocation_type == ALLOCATION_MMAP_RO) {
        return Err(format!("bias '{}' is not a constant tensor", t.name));
    }
    let count: usize = shape_of(model, index)?.iter().product();
    if count != n || t.constant_data.map(<[u8]>::len) != Some(4 * n) {
        return Err(format!("bias '{}' has {count} values for {n} {per}", t.name));
    }
    Ok(())
}

fn f32_act(model: &dyn TflModel, index: i32) -> Result<(), String> {
    let t = tensor(model, index)?;
    if t.dtype != dtype::F32 || t.quantized {
        return Err(format!("tensor '{}' is {}, expected float32", t.name, dtype::name(t.dtype)));
    }
    Ok(())
}

fn same_type(model: &dyn TflModel, a: i32, b: i32) -> Result<(), String> {
    let (ta, tb) = (tensor(model, a)?, tensor(model, b)?);
    if ta.dtype != tb.dtype {
        return Err(format!("'{}' is {} and '{}' is {} (TFLite needs the same type)", ta.name, dtype::name(ta.dtype), tb.name, dtype::name(tb.dtype)));
    }
    Ok(())
}

/// The output stage of a conv / depthwise / fc.
fn out_stage(x: QAct, w: &QParams, y: QAct, channels: usize, activation: i32, product: ScaleProduct) -> Result<QOut, String> {
    let requant = conv_requant(x.affine.scale, &w.scale, y.affine.scale, channels, product)?;
    let (min, max) = activation_range(activation, y.affine)?;
    Ok(QOut { requant, zero_point: y.affine.zero_point, min, max })
}

/// The quantized branch of the visitor.
pub fn visit(model: &dyn TflModel, node: &TflNode) -> Result<Visited, String> {
    if node.outputs.len() != 1 {
        return Err(format!("{} outputs (armrest's ops have one)", node.outputs.len()));
    }
    let output = node.outputs[0];
    let p = &node.params;
    let (op, inputs): (QOp, Vec<i32>) = match node.builtin_code {
        ops::CONV_2D => {
            let BuiltinParams::Conv { padding, stride_w, stride_h, activation, dilation_w, dilation_h } = *p else {
                return Err("missing parameters".into());
            };
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            let o = shape_of(model, w)?.first().copied().unwrap_or(0);
            let stride = [positive("stride", stride_h)?, positive("stride", stride_w)?];
            let dilation = [positive("dilation", dilation_h)?, positive("dilation", dilation_w)?];
            let padding = padding_of(padding)?;
            if tensor(model, x)?.dtype == dtype::F32 {
                return hybrid_conv(model, node, x, w, o, padding, stride, dilation, activation);
            }
            let xq = qact(model, x)?;
            let (wq, w_u8) = weights(model, w, "filter", 0)?;
            if xq.uint8 != w_u8 {
                return Err("the input and the filter are not both int8 or both uint8".into());
            }
            same_type(model, x, output)?;
            let yq = qact(model, output)?;
            let mut ins = vec![x, w];
            if let Some(b) = optional_input(node, 2) {
                bias_i32(model, b, o)?;
                ins.push(b);
            }
            let product = if xq.uint8 { ScaleProduct::Float } else { ScaleProduct::Double };
            (QOp::Conv2d { padding, stride, dilation, out: out_stage(xq, &wq, yq, o, activation, product)? }, ins)
        }
        ops::DEPTHWISE_CONV_2D => {
            let BuiltinParams::DepthwiseConv { padding, stride_w, stride_h, depth_multiplier: _, activation, dilation_w, dilation_h } = *p else {
                return Err("missing parameters".into());
            };
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            if tensor(model, x)?.dtype == dtype::F32 {
                return Err("dynamic-range DEPTHWISE_CONV_2D (float32 input, int8 filter) is not supported".into());
            }
            let (xs, ws) = (shape_of(model, x)?, shape_of(model, w)?);
            if xs.len() != 4 || ws.len() != 4 || ws[0] != 1 || xs[3] == 0 || ws[3] % xs[3] != 0 {
                return Err(format!("depthwise filter {ws:?} does not fit input {xs:?}"));
            }
            let xq = qact(model, x)?;
            let (wq, w_u8) = weights(model, w, "filter", 3)?;
            if xq.uint8 != w_u8 {
                return Err("the input and the filter are not both int8 or both uint8".into());
            }
            same_type(model, x, output)?;
            let yq = qact(model, output)?;
            let mut ins = vec![x, w];
            if let Some(b) = optional_input(node, 2) {
                bias_i32(model, b, ws[3])?;
                ins.push(b);
            }
            let product = if xq.uint8 { ScaleProduct::Float } else { ScaleProduct::Double };
            let op = QOp::DepthwiseConv2d {
                padding: padding_of(padding)?,
                stride: [positive("stride", stride_h)?, positive("stride", stride_w)?],
                dilation: [positive("dilation", dilation_h)?, positive("dilation", dilation_w)?],
                depth_multiplier: ws[3] / xs[3],
                out: out_stage(xq, &wq, yq, ws[3], activation, product)?,
            };
            (op, ins)
        }
        ops::FULLY_CONNECTED => {
            let BuiltinParams::FullyConnected { activation, weights_format, keep_num_dims, asymmetric_quantize_inputs } = *p else {
                return Err("missing parameters".into());
            };
            if weights_format != 0 {
                return Err(format!("weights format #{weights_format} (only the default is supported)"));
            }
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            let ws = shape_of(model, w)?;
            if ws.len() != 2 {
                return Err(format!("weights of shape {ws:?} (rank 2 expected)"));
            }
            let (wq, w_u8) = weights(model, w, "weights", 0)?;
            if tensor(model, x)?.dtype == dtype::F32 {
                if w_u8 {
                    return Err("dynamic-range FULLY_CONNECTED with uint8 weights is not supported".into());
                }
                if wq.zero_point[0] != 0 {
                    return Err(format!("dynamic-range weights with zero point {} (TFLite's hybrid kernels need 0)", wq.zero_point[0]));
                }
                f32_act(model, x)?;
                f32_act(model, output)?;
                let mut ins = vec![x, w];
                if let Some(b) = optional_input(node, 2) {
                    bias_f32(model, b, ws[0])?;
                    ins.push(b);
                }
                (QOp::HybridFullyConnected { keep_num_dims, clamp: clamp_of(activation)?, asymmetric: asymmetric_quantize_inputs }, ins)
            } else {
                let xq = qact(model, x)?;
                if xq.uint8 != w_u8 {
                    return Err("the input and the weights are not both int8 or both uint8".into());
                }
                same_type(model, x, output)?;
                let yq = qact(model, output)?;
                let mut ins = vec![x, w];
                if let Some(b) = optional_input(node, 2) {
                    bias_i32(model, b, ws[0])?;
                    ins.push(b);
                }
                // Per-tensor: GetQuantizedConvolutionMultipler (float product); per-channel: double.
                let product = if wq.is_per_channel() { ScaleProduct::Double } else { ScaleProduct::Float };
                (QOp::FullyConnected { keep_num_dims, out: out_stage(xq, &wq, yq, ws[0], activation, product)? }, ins)
            }
        }
        ops::QUANTIZE => {
            let x = input(node, 0)?;
            let yq = qact(model, output)?;
            let xt = tensor(model, x)?;
            if xt.dtype == dtype::F32 {
                f32_act(model, x)?;
                (QOp::Quantize { input: None, output: yq.affine }, vec![x])
            } else {
                let xq = qact(model, x)?;
                (QOp::Quantize { input: Some(xq.affine), output: yq.affine }, vec![x])
            }
        }
        ops::DEQUANTIZE => {
            let x = input(node, 0)?;
            let xt = tensor(model, x)?;
            if xt.is_constant() {
                return Err(format!("DEQUANTIZE of the constant '{}' (armrest folds only float16 constants)", xt.name));
            }
            let xq = qact(model, x)?;
            f32_act(model, output)?;
            (QOp::Dequantize { input: xq.affine }, vec![x])
        }
        ops::RESHAPE | ops::SQUEEZE | ops::EXPAND_DIMS => return reshape(model, node),
        ops::ADD | ops::SUB | ops::MUL => {
            let BuiltinParams::Activation { activation } = *p else { return Err("missing parameters".into()) };
            let (a, b) = (input(node, 0)?, input(node, 1)?);
            let (aq, bq, yq) = (qact(model, a)?, qact(model, b)?, qact(model, output)?);
            same_type(model, a, output)?;
            same_type(model, b, output)?;
            let (min, max) = activation_range(activation, yq.affine)?;
            let op = match node.builtin_code {
                ops::ADD => QBinary::Add,
                ops::SUB => QBinary::Sub,
                _ => QBinary::Mul,
            };
            (QOp::Binary { op, a: aq.affine, b: bq.affine, output: yq.affine, min, max }, vec![a, b])
        }
        ops::AVERAGE_POOL_2D | ops::MAX_POOL_2D => {
            let BuiltinParams::Pool { padding, stride_w, stride_h, filter_w, filter_h, activation } = *p else {
                return Err("missing parameters".into());
            };
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            let (min, max) = activation_range(activation, yq.affine)?;
            let op = QOp::Pool2d {
                kind: if node.builtin_code == ops::MAX_POOL_2D { PoolKind::Max } else { PoolKind::Average },
                padding: padding_of(padding)?,
                stride: [positive("stride", stride_h)?, positive("stride", stride_w)?],
                filter: [positive("filter", filter_h)?, positive("filter", filter_w)?],
                input: xq.affine,
                output: yq.affine,
                min,
                max,
                uint8: xq.uint8,
            };
            (op, vec![x])
        }
        ops::MEAN => {
            let BuiltinParams::Reducer { keep_dims } = *p else { return Err("missing parameters".into()) };
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            let axes = constant_ints(&tensor(model, input(node, 1)?)?).map_err(|e| format!("axes: {e}"))?;
            (QOp::Mean { axes, keep_dims, input: xq.affine, output: yq.affine }, vec![x])
        }
        ops::CONCATENATION => {
            let BuiltinParams::Concatenation { axis, activation } = *p else { return Err("missing parameters".into()) };
            if activation != 0 {
                return Err(format!("fused activation #{activation} on a quantized CONCATENATION"));
            }
            let yq = qact(model, output)?;
            let mut qs = Vec::with_capacity(node.inputs.len());
            for &i in &node.inputs {
                qs.push(qact(model, i)?.affine);
                same_type(model, i, output)?;
            }
            (QOp::Concat { axis: axis as i64, inputs: qs, output: yq.affine, uint8: yq.uint8 }, node.inputs.clone())
        }
        ops::PAD => {
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            if xq.affine != yq.affine {
                return Err("PAD with different input and output quantization (TFLite requires them equal)".into());
            }
            let v = constant_ints(&tensor(model, input(node, 1)?)?).map_err(|e| format!("paddings: {e}"))?;
            if v.len() % 2 != 0 || v.iter().any(|&p| p < 0) {
                return Err(format!("paddings {v:?} are not non-negative pairs"));
            }
            let pads = v.chunks_exact(2).map(|c| (c[0] as usize, c[1] as usize)).collect();
            (QOp::Pad { pads, output: yq.affine }, vec![x])
        }
        ops::SOFTMAX => {
            let BuiltinParams::Softmax { beta } = *p else { return Err("missing parameters".into()) };
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            (QOp::Softmax { beta, input: xq.affine, output: yq.affine, uint8: xq.uint8 }, vec![x])
        }
        ops::LOGISTIC | ops::TANH | ops::HARD_SWISH | ops::LEAKY_RELU => {
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            let op = match node.builtin_code {
                ops::LOGISTIC => QUnary::Logistic,
                ops::TANH => QUnary::Tanh,
                ops::HARD_SWISH => QUnary::HardSwish,
                _ => match *p {
                    BuiltinParams::LeakyRelu { alpha } => QUnary::LeakyRelu(alpha),
                    _ => return Err("missing parameters".into()),
                },
            };
            (QOp::Unary { op, input: xq.affine, output: yq.affine }, vec![x])
        }
        ops::RESIZE_BILINEAR => {
            let BuiltinParams::ResizeBilinear { align_corners, half_pixel_centers } = *p else {
                return Err("missing parameters".into());
            };
            if align_corners && half_pixel_centers {
                return Err("align_corners and half_pixel_centers together".into());
            }
            let x = input(node, 0)?;
            let (xq, yq) = (qact(model, x)?, qact(model, output)?);
            same_type(model, x, output)?;
            let size = constant_ints(&tensor(model, input(node, 1)?)?).map_err(|e| format!("size: {e}"))?;
            let [h, w] = size[..] else { return Err(format!("size {size:?} is not [h, w]")) };
            if h < 1 || w < 1 {
                return Err(format!("size {size:?} must be positive"));
            }
            let op = QOp::ResizeBilinear { size: [h as usize, w as usize], align_corners, half_pixel_centers, input: xq.affine, output: yq.affine, uint8: xq.uint8 };
            (op, vec![x])
        }
        _ => return Err(format!("{} has no int8 kernel in armrest", node.op_name())),
    };
    // The kernels' own Prepare arithmetic decides (and refuses what TFLite refuses).
    crate::qops_bind::params(&op)?;
    finish(model, Op::Quant(op), inputs, output)
}

/// The shapes armrest computes must be the model's.
fn finish(model: &dyn TflModel, op: Op, inputs: Vec<i32>, output: i32) -> Result<Visited, String> {
    let in_shapes = inputs.iter().map(|&i| shape_of(model, i)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&[usize]> = in_shapes.iter().map(Vec::as_slice).collect();
    let inferred = shapes::infer(&op, &refs)?;
    let declared = shape_of(model, output)?;
    if inferred[0] != declared {
        return Err(format!("armrest computes output shape {:?}, the model declares {declared:?}", inferred[0]));
    }
    Ok(Visited::Compute { op, inputs, output })
}

#[allow(clippy::too_many_arguments)]
fn hybrid_conv(model: &dyn TflModel, node: &TflNode, x: i32, w: i32, o: usize, padding: Padding, stride: [usize; 2], dilation: [usize; 2], activation: i32) -> Result<Visited, String> {
    let output = node.outputs[0];
    f32_act(model, x)?;
    f32_act(model, output)?;
    if dilation != [1, 1] {
        return Err(format!("dynamic-range CONV_2D with dilation {dilation:?} (TFLite's hybrid kernels ignore dilation)"));
    }
    let (wq, w_u8) = weights(model, w, "filter", 0)?;
    if w_u8 {
        return Err("dynamic-range CONV_2D with a uint8 filter is not supported".into());
    }
    if wq.zero_point[0] != 0 {
        return Err(format!("dynamic-range filter with zero point {} (TFLite's hybrid kernels need 0)", wq.zero_point[0]));
    }
    let (xs, fs) = (shape_of(model, x)?, shape_of(model, w)?);
    if xs.len() == 4 && fs.len() == 4 && fs[3] != xs[3] {
        return Err(format!("grouped dynamic-range CONV_2D (filter {fs:?}, input {xs:?}) is not supported"));
    }
    let mut ins = vec![x, w];
    if let Some(b) = optional_input(node, 2) {
        bias_f32(model, b, o)?;
        ins.push(b);
    }
    // TFLite runs the per-channel hybrid kernel (inputs quantized asymmetrically)
    // only when the filter's scales differ; otherwise the symmetric one.
    let asymmetric = wq.scale.iter().any(|&s| s != wq.scale[0]);
    finish(model, Op::Quant(QOp::HybridConv2d { padding, stride, clamp: clamp_of(activation)?, asymmetric }), ins, output)
}

/// RESHAPE / SQUEEZE / EXPAND_DIMS of a quantized tensor: a copy of the bytes, as TFLite does.
fn reshape(model: &dyn TflModel, node: &TflNode) -> Result<Visited, String> {
    let output = node.outputs[0];
    let x = input(node, 0)?;
    qact(model, x)?;
    qact(model, output)?;
    same_type(model, x, output)?;
    let rule = match node.builtin_code {
        ops::RESHAPE => ReshapeRule::To(match optional_input(node, 1) {
            Some(s) => {
                let t = tensor(model, s)?;
                if !t.is_constant() {
                    return Err("the target shape is computed at run time".into());
                }
                constant_ints(&t)?
            }
            None => match &node.params {
                BuiltinParams::Reshape { shape } => shape.iter().map(|&d| d as i64).collect(),
                _ => return Err("no target shape".into()),
            },
        }),
        ops::SQUEEZE => ReshapeRule::Squeeze(match &node.params {
            BuiltinParams::Squeeze { dims } => dims.iter().map(|&d| d as i64).collect(),
            _ => Vec::new(),
        }),
        _ => {
            let axis = constant_ints(&tensor(model, input(node, 1)?)?)?;
            let [axis] = axis[..] else { return Err(format!("axis {axis:?} is not one value")) };
            ReshapeRule::ExpandDims(axis)
        }
    };
    finish(model, Op::Reshape(rule), vec![x], output)
}

/// Sets the element type, quantization and quantized constant of an IR
/// tensor made from the model's tensor `index` (the partition builder calls
/// this for every tensor; fp32 tensors are left as they are).
pub fn annotate(model: &dyn TflModel, index: i32, t: &mut Tensor) -> Result<(), String> {
    let Some(src) = model.tensor(index) else { return Ok(()) };
    match src.dtype {
        dtype::I8 | dtype::U8 => {
            // Only CAST reads int8 / uint8 tensors without (valid) quantization
            // parameters: the quantized ops check them when claiming.
            let uint8 = src.dtype == dtype::U8;
            t.dtype = DType::I8;
            t.uint8 = uint8;
            if let Some(bytes) = src.constant_data {
                let flip = if uint8 { 0x80 } else { 0 };
                t.qconstant = Some(QConst::I8(bytes.iter().map(|&b| (b ^ flip) as i8).collect()));
            }
            t.quant = qparams(model, index).ok().map(|(q, _)| std::sync::Arc::new(q));
        }
        dtype::I32 => {
            t.dtype = DType::I32;
            if let Some(bytes) = src.constant_data {
                t.qconstant = Some(QConst::I32(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The int8 kernel family a claimed quantized op uses (for reports).
pub fn uses_int8_kernels(op: &Op) -> bool {
    matches!(op, Op::Quant(q) if !matches!(q, QOp::Quantize { input: None, .. } | QOp::Dequantize { .. }))
}
