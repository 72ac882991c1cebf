//! The claiming visitor: one function decides whether a TFLite node is
//! supported and, if so, how it maps to an IR op. `claim_nodes` runs it as
//! the support check; the partition builder runs it again to build.

use super::{activation, dtype, ops, padding, BuiltinParams, TflModel, TflNode, TflTensor, ALLOCATION_MMAP_RO};
use crate::ir::{Op, Padding, PoolKind, ReshapeRule};
use crate::shapes;
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::layout::f16_to_f32;
use armrest_kernels::Clamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Tensors whose values are known when the delegate is applied although
/// they are not stored constants: outputs of DEQUANTIZE nodes fed by
/// constant fp16 weights, folded into their consumers.
#[derive(Clone, Debug, Default)]
pub struct Folds {
    pub values: HashMap<i32, Arc<[f32]>>,
    /// Output tensor → the DEQUANTIZE node that produces it.
    pub producers: HashMap<i32, usize>,
    /// Whether nodes armrest's kernels lack may be claimed for tract (`fallback=tract`).
    pub fallback: bool,
}

/// How a node maps to the IR.
#[derive(Clone, Debug, PartialEq)]
pub enum Visited {
    /// An op computing `output` from the tensors `inputs` (TFLite indices, IR order).
    Compute { op: Op, inputs: Vec<i32>, output: i32 },
    /// A static DEQUANTIZE: its output is the folded constant.
    Folded { output: i32 },
    /// A node with several outputs, each computed by its own IR op from
    /// `inputs` (SPLIT, SPLIT_V: one slice per output).
    Parts { inputs: Vec<i32>, parts: Vec<(Op, i32)> },
}

impl Visited {
    /// The tensors the node computes.
    pub fn outputs(&self) -> Vec<i32> {
        match self {
            Visited::Compute { output, .. } | Visited::Folded { output } => vec![*output],
            Visited::Parts { parts, .. } => parts.iter().map(|(_, o)| *o).collect(),
        }
    }

    /// Whether tract runs (some of) the node: the fallback.
    pub fn on_tract(&self) -> bool {
        match self {
            Visited::Compute { op, .. } => matches!(op, Op::Fallback(_)),
            Visited::Folded { .. } => false,
            Visited::Parts { parts, .. } => parts.iter().any(|(op, _)| matches!(op, Op::Fallback(_))),
        }
    }
}

/// A node left to the runtime, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unclaimed {
    pub node: usize,
    pub op: String,
    pub reason: String,
}

/// The outcome of the support check over an execution plan.
#[derive(Clone, Debug, Default)]
pub struct ClaimReport {
    pub total: usize,
    /// Claimed node indices, in plan order.
    pub claimed: Vec<usize>,
    pub unclaimed: Vec<Unclaimed>,
    pub folds: Folds,
    /// The claimed nodes tract runs (fallback), in plan order.
    pub on_tract: Vec<usize>,
}

/// Runs the support check over `plan` (node indices in execution order).
pub fn claim_nodes(model: &dyn TflModel, plan: &[usize]) -> ClaimReport {
    claim_nodes_with(model, plan, crate::options::Fallback::None)
}

/// The support check with the `fallback` option: `Tract` also claims the
/// nodes tract runs for armrest (listed in `on_tract`).
pub fn claim_nodes_with(model: &dyn TflModel, plan: &[usize], fallback: crate::options::Fallback) -> ClaimReport {
    let mut report = ClaimReport { total: plan.len(), ..Default::default() };
    report.folds.fallback = fallback == crate::options::Fallback::Tract;
    let nodes: Vec<(usize, Option<TflNode>)> = plan.iter().map(|&i| (i, model.node(i))).collect();
    // Pass 1: fold static fp16 DEQUANTIZE nodes.
    // DENSIFY of constant sparse weights folds first (the plan is in order),
    // so the DEQUANTIZE behind it folds too.
    for (index, node) in &nodes {
        if let Some(node) = node {
            let folded = match node.builtin_code {
                ops::DEQUANTIZE => fold_dequantize(model, node, &report.folds),
                ops::DENSIFY => super::claim_sparse::fold_densify(model, node),
                _ => continue,
            };
            if let Ok((output, values)) = folded {
                report.folds.values.insert(output, values);
                report.folds.producers.insert(output, *index);
            }
        }
    }
    // Pass 2: everything else, through the same visitor the builder uses.
    let mut claimed = vec![false; nodes.len()];
    for (pos, (index, node)) in nodes.iter().enumerate() {
        let Some(node) = node else {
            report.unclaimed.push(Unclaimed { node: *index, op: "?".into(), reason: "the runtime returned no node".into() });
            continue;
        };
        if report.folds.producers.values().any(|p| p == index) {
            continue; // decided below, once its consumers are known
        }
        match visit(model, node, &report.folds) {
            Ok(v) => {
                claimed[pos] = true;
                if v.on_tract() {
                    report.on_tract.push(*index);
                }
            }
            Err(reason) => report.unclaimed.push(Unclaimed { node: *index, op: node.op_name(), reason }),
        }
    }
    // Pass 3: a folded node is claimed when a claimed node consumes it
    // (in reverse plan order, so a DENSIFY sees its DEQUANTIZE decided).
    for (pos, (index, node)) in nodes.iter().enumerate().rev() {
        let Some(node) = node else { continue };
        if !report.folds.producers.values().any(|p| p == index) {
            continue;
        }
        let output = node.outputs[0];
        let used = nodes.iter().enumerate().any(|(p, (_, n))| claimed[p] && n.as_ref().is_some_and(|n| n.inputs.contains(&output)));
        if used {
            claimed[pos] = true;
        } else {
            report.unclaimed.push(Unclaimed {
                node: *index,
                op: node.op_name(),
                reason: format!("static {} whose consumers armrest does not claim (folded into them)", if node.builtin_code == ops::DENSIFY { "DENSIFY" } else { "fp16 DEQUANTIZE" }),
            });
        }
    }
    report.claimed = nodes.iter().zip(&claimed).filter(|(_, &c)| c).map(|((i, _), _)| *i).collect();
    report.unclaimed.sort_by_key(|u| u.node);
    report
}

fn fold_dequantize(model: &dyn TflModel, node: &TflNode, folds: &Folds) -> Result<(i32, Arc<[f32]>), String> {
    let (&input, &output) = (node.inputs.first().ok_or("no input")?, node.outputs.first().ok_or("no output")?);
    let src = model.tensor(input).ok_or("bad input")?;
    let dst = model.tensor(output).ok_or("bad output")?;
    if src.dtype != dtype::F16 || dst.dtype != dtype::F32 {
        return Err(format!("DEQUANTIZE from {} to {} (only constant float16 → float32 is folded)", dtype::name(src.dtype), dtype::name(dst.dtype)));
    }
    if let Some(values) = folds.values.get(&input) {
        // Densified fp16 weights: their values are already exact in f32.
        return Ok((output, values.clone()));
    }
    let bytes = src.constant_data.ok_or("DEQUANTIZE of a non-constant tensor")?;
    let n: usize = src.shape().ok_or("unknown shape")?.iter().product();
    if bytes.len() != 2 * n {
        return Err(format!("float16 tensor holds {} bytes for {n} values", bytes.len()));
    }
    let values: Arc<[f32]> = bytes.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect();
    Ok((output, values))
}

/// Whether `index` holds values known at claim time (stored fp32 constant or folded).
pub fn is_constant_f32(model: &dyn TflModel, folds: &Folds, index: i32) -> bool {
    folds.values.contains_key(&index) && model.tensor(index).is_some_and(|t| t.dtype == dtype::F32)
        || model.tensor(index).is_some_and(|t| t.dtype == dtype::F32 && t.allocation_type == ALLOCATION_MMAP_RO && t.is_constant())
}

/// The bytes of a stored fp32 constant whose size matches its shape.
fn stored_f32_bytes(model: &dyn TflModel, index: i32) -> Option<&[u8]> {
    let t = model.tensor(index)?;
    let bytes = t.constant_data?;
    (t.dtype == dtype::F32 && bytes.len() == 4 * t.shape()?.iter().product::<usize>()).then_some(bytes)
}

/// The values of a constant fp32 tensor (stored or folded).
pub fn constant_f32(model: &dyn TflModel, folds: &Folds, index: i32) -> Option<Arc<[f32]>> {
    if let Some(v) = folds.values.get(&index) {
        return Some(v.clone());
    }
    let bytes = stored_f32_bytes(model, index)?;
    // Straight into the Arc's one allocation: the iterator's exact length lets
    // `collect` size it once (no zeroed Vec to fault in, copy and free).
    Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// [`constant_f32`]'s values, lent by the runtime when it can
/// ([`TflModel::lent_f32`], stored constants only), copied otherwise.
pub fn constant_data(model: &dyn TflModel, folds: &Folds, index: i32) -> Option<crate::constant::ConstData> {
    if !folds.values.contains_key(&index) {
        if let Some(bytes) = stored_f32_bytes(model, index) {
            if let Some(lent) = model.lent_f32(index).filter(|l| 4 * l.len() == bytes.len()) {
                return Some(lent);
            }
        }
    }
    constant_f32(model, folds, index).map(crate::constant::ConstData::Owned)
}

/// Whether [`constant_f32`] has values for `index`, without copying them.
pub fn has_constant_f32(model: &dyn TflModel, folds: &Folds, index: i32) -> bool {
    folds.values.contains_key(&index) || stored_f32_bytes(model, index).is_some()
}

pub(crate) fn constant_ints(t: &TflTensor) -> Result<Vec<i64>, String> {
    let bytes = t.constant_data.ok_or_else(|| format!("'{}' is not a constant tensor", t.name))?;
    match t.dtype {
        dtype::I32 => Ok(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
        dtype::I64 => Ok(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
        other => Err(format!("'{}' has type {}, expected int32 or int64", t.name, dtype::name(other))),
    }
}

pub(crate) fn clamp_of(act: i32) -> Result<Clamp, String> {
    match act {
        activation::NONE => Ok(Clamp::NONE),
        activation::RELU => Ok(Clamp::RELU),
        activation::RELU_N1_TO_1 => Ok(Clamp::RELU_N1_TO_1),
        activation::RELU6 => Ok(Clamp::RELU6),
        other => Err(format!("fused activation {} is not supported", activation_name(other))),
    }
}

fn activation_name(a: i32) -> String {
    match a {
        4 => "TANH".into(),
        5 => "SIGN_BIT".into(),
        6 => "SIGMOID".into(),
        other => format!("#{other}"),
    }
}

pub(crate) fn padding_of(p: i32) -> Result<Padding, String> {
    match p {
        padding::SAME => Ok(Padding::Same),
        padding::VALID => Ok(Padding::Valid),
        other => Err(format!("padding #{other} is not SAME or VALID")),
    }
}

pub(crate) fn positive(what: &str, v: i32) -> Result<usize, String> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(format!("{what} {v} must be at least 1"))
    }
}

/// Reads the node's i-th input, requiring it to exist.
pub(crate) fn input(node: &TflNode, i: usize) -> Result<i32, String> {
    match node.inputs.get(i) {
        Some(&t) if t >= 0 => Ok(t),
        _ => Err(format!("input {i} is missing")),
    }
}

pub(crate) fn optional_input(node: &TflNode, i: usize) -> Option<i32> {
    node.inputs.get(i).copied().filter(|&t| t >= 0)
}

/// Decides whether `node` is supported and how it maps to the IR.
pub fn visit(model: &dyn TflModel, node: &TflNode, folds: &Folds) -> Result<Visited, String> {
    if node.builtin_code == ops::CAST {
        return super::claim_cast::visit(model, node);
    }
    if super::claim_quant::is_quantized_node(model, node) && !node.outputs.first().is_some_and(|o| folds.values.contains_key(o)) {
        return super::claim_quant::visit(model, node);
    }
    if node.builtin_code == ops::DEQUANTIZE {
        let output = *node.outputs.first().ok_or("no output")?;
        return if folds.values.contains_key(&output) {
            Ok(Visited::Folded { output })
        } else {
            Err(fold_dequantize(model, node, folds).err().unwrap_or_else(|| "DEQUANTIZE was not folded".into()))
        };
    }
    if node.builtin_code == ops::DENSIFY {
        let output = *node.outputs.first().ok_or("no output")?;
        return if folds.values.contains_key(&output) {
            Ok(Visited::Folded { output })
        } else {
            Err(super::claim_sparse::fold_densify(model, node).err().unwrap_or_else(|| "DENSIFY was not folded".into()))
        };
    }
    if matches!(node.builtin_code, super::fallback::codes::SPLIT | super::fallback::codes::SPLIT_V) {
        return super::fallback::visit_split(model, node, folds);
    }
    if node.builtin_code == ops::CUSTOM && node.custom_name.as_deref() == Some("MaxPoolingWithArgmax2D") {
        return super::claim_custom::visit_argmax_pool(model, node);
    }
    if node.outputs.len() != 1 {
        return Err(format!("{} outputs (armrest's ops have one)", node.outputs.len()));
    }
    let output = node.outputs[0];
    let tensor = |i: i32| model.tensor(i).ok_or_else(|| format!("tensor {i} does not exist"));
    let shape_of = |i: i32| -> Result<Vec<usize>, String> {
        let t = tensor(i)?;
        t.shape().ok_or_else(|| format!("tensor '{}' has an unknown shape {:?}", t.name, t.dims))
    };
    let f32_tensor = |i: i32| -> Result<(), String> {
        let t = tensor(i)?;
        if t.dtype != dtype::F32 {
            return Err(format!("tensor '{}' is {}, armrest runs float32 only", t.name, dtype::name(t.dtype)));
        }
        if t.quantized {
            return Err(format!("tensor '{}' is float32 with quantization parameters", t.name));
        }
        Ok(())
    };
    let const_weight = |i: i32, what: &str| -> Result<(), String> {
        if is_constant_f32(model, folds, i) {
            Ok(())
        } else {
            Err(format!("{what} '{}' is not a constant float32 tensor", tensor(i)?.name))
        }
    };
    f32_tensor(output)?;

    let p = &node.params;
    let (op, inputs): (Op, Vec<i32>) = match node.builtin_code {
        ops::CONV_2D => {
            let BuiltinParams::Conv { padding, stride_w, stride_h, activation, dilation_w, dilation_h } = *p else {
                return Err("missing parameters".into());
            };
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            f32_tensor(x)?;
            const_weight(w, "filter")?;
            let mut ins = vec![x, w];
            if let Some(b) = optional_input(node, 2) {
                const_weight(b, "bias")?;
                ins.push(b);
            }
            let op = Op::Conv2d {
                padding: padding_of(padding)?,
                stride: [positive("stride", stride_h)?, positive("stride", stride_w)?],
                dilation: [positive("dilation", dilation_h)?, positive("dilation", dilation_w)?],
                clamp: clamp_of(activation)?,
            };
            (op, ins)
        }
        ops::DEPTHWISE_CONV_2D => {
            let BuiltinParams::DepthwiseConv { padding, stride_w, stride_h, depth_multiplier: _, activation, dilation_w, dilation_h } = *p else {
                return Err("missing parameters".into());
            };
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            f32_tensor(x)?;
            const_weight(w, "filter")?;
            let (xs, ws) = (shape_of(x)?, shape_of(w)?);
            if xs.len() != 4 || ws.len() != 4 || ws[0] != 1 || xs[3] == 0 || ws[3] % xs[3] != 0 {
                return Err(format!("depthwise filter {ws:?} does not fit input {xs:?}"));
            }
            let mut ins = vec![x, w];
            if let Some(b) = optional_input(node, 2) {
                const_weight(b, "bias")?;
                ins.push(b);
            }
            let op = Op::DepthwiseConv2d {
                padding: padding_of(padding)?,
                stride: [positive("stride", stride_h)?, positive("stride", stride_w)?],
                dilation: [positive("dilation", dilation_h)?, positive("dilation", dilation_w)?],
                // TFLite derives the multiplier from the shapes, not the (often stale) parameter.
                depth_multiplier: ws[3] / xs[3],
                clamp: clamp_of(activation)?,
            };
            (op, ins)
        }
        ops::FULLY_CONNECTED => {
            let BuiltinParams::FullyConnected { activation, weights_format, keep_num_dims, .. } = *p else {
                return Err("missing parameters".into());
            };
            if weights_format != 0 {
                return Err(format!("weights format #{weights_format} (only the default is supported)"));
            }
            let (x, w) = (input(node, 0)?, input(node, 1)?);
            f32_tensor(x)?;
            const_weight(w, "weights")?;
            let mut ins = vec![x, w];
            if let Some(b) = optional_input(node, 2) {
                const_weight(b, "bias")?;
                ins.push(b);
            }
            (Op::FullyConnected { keep_num_dims, clamp: clamp_of(activation)? }, ins)
        }
        ops::ADD | ops::SUB | ops::MUL | ops::DIV | ops::MAXIMUM | ops::MINIMUM => {
            let clamp = match *p {
                BuiltinParams::Activation { activation } => clamp_of(activation)?,
                _ if matches!(node.builtin_code, ops::MAXIMUM | ops::MINIMUM) => Clamp::NONE,
                _ => return Err("missing parameters".into()),
            };
            let op = match node.builtin_code {
                ops::ADD => BinaryOp::Add,
                ops::SUB => BinaryOp::Sub,
                ops::MUL => BinaryOp::Mul,
                ops::DIV => BinaryOp::Div,
                ops::MAXIMUM => BinaryOp::Maximum,
                _ => BinaryOp::Minimum,
            };
            let (a, b) = (input(node, 0)?, input(node, 1)?);
            f32_tensor(a)?;
            f32_tensor(b)?;
            (Op::Binary { op, clamp }, vec![a, b])
        }
        ops::RELU | ops::RELU6 | ops::RELU_N1_TO_1 | ops::LOGISTIC | ops::TANH | ops::HARD_SWISH | ops::LEAKY_RELU => {
            let op = match node.builtin_code {
                ops::RELU => UnaryOp::Clamp(Clamp::RELU),
                ops::RELU6 => UnaryOp::Clamp(Clamp::RELU6),
                ops::RELU_N1_TO_1 => UnaryOp::Clamp(Clamp::RELU_N1_TO_1),
                ops::LOGISTIC => UnaryOp::Logistic,
                ops::TANH => UnaryOp::Tanh,
                ops::HARD_SWISH => UnaryOp::HardSwish,
                _ => match *p {
                    BuiltinParams::LeakyRelu { alpha } => UnaryOp::LeakyRelu(alpha),
                    _ => return Err("missing parameters".into()),
                },
            };
            let x = input(node, 0)?;
            f32_tensor(x)?;
            (Op::Unary(op), vec![x])
        }
        ops::PRELU => {
            let (x, a) = (input(node, 0)?, input(node, 1)?);
            f32_tensor(x)?;
            f32_tensor(a)?;
            (Op::Prelu, vec![x, a])
        }
        ops::AVERAGE_POOL_2D | ops::MAX_POOL_2D => {
            let BuiltinParams::Pool { padding, stride_w, stride_h, filter_w, filter_h, activation } = *p else {
                return Err("missing parameters".into());
            };
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let op = Op::Pool2d {
                kind: if node.builtin_code == ops::MAX_POOL_2D { PoolKind::Max } else { PoolKind::Average },
                padding: padding_of(padding)?,
                stride: [positive("stride", stride_h)?, positive("stride", stride_w)?],
                filter: [positive("filter", filter_h)?, positive("filter", filter_w)?],
                clamp: clamp_of(activation)?,
            };
            (op, vec![x])
        }
        ops::MEAN => {
            let keep_dims = match *p {
                BuiltinParams::Reducer { keep_dims } => keep_dims,
                _ => return Err("missing parameters".into()),
            };
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let axes = constant_ints(&tensor(input(node, 1)?)?).map_err(|e| format!("axes: {e}"))?;
            (Op::Mean { axes, keep_dims }, vec![x])
        }
        ops::RESHAPE => {
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let target = match optional_input(node, 1) {
                Some(s) => {
                    let t = tensor(s)?;
                    if !t.is_constant() {
                        return Err("the target shape is computed at run time".into());
                    }
                    constant_ints(&t)?
                }
                None => match p {
                    BuiltinParams::Reshape { shape } => shape.iter().map(|&d| d as i64).collect(),
                    _ => return Err("no target shape".into()),
                },
            };
            // TFLite accepts a scalar-shaped [] target and a shape tensor of [0] to mean a scalar.
            (Op::Reshape(ReshapeRule::To(target)), vec![x])
        }
        ops::SQUEEZE => {
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let dims = match p {
                BuiltinParams::Squeeze { dims } => dims.iter().map(|&d| d as i64).collect(),
                _ => Vec::new(),
            };
            (Op::Reshape(ReshapeRule::Squeeze(dims)), vec![x])
        }
        ops::EXPAND_DIMS => {
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let axis = constant_ints(&tensor(input(node, 1)?)?)?;
            let [axis] = axis[..] else { return Err(format!("axis {axis:?} is not one value")) };
            (Op::Reshape(ReshapeRule::ExpandDims(axis)), vec![x])
        }
        ops::CONCATENATION => {
            let BuiltinParams::Concatenation { axis, activation } = *p else {
                return Err("missing parameters".into());
            };
            if activation != activation::NONE {
                return Err(format!("fused activation #{activation} on CONCATENATION"));
            }
            for &i in &node.inputs {
                f32_tensor(i)?;
            }
            (Op::Concat { axis: axis as i64 }, node.inputs.clone())
        }
        ops::PAD => {
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let v = constant_ints(&tensor(input(node, 1)?)?).map_err(|e| format!("paddings: {e}"))?;
            if v.len() % 2 != 0 || v.iter().any(|&p| p < 0) {
                return Err(format!("paddings {v:?} are not non-negative pairs"));
            }
            let pads = v.chunks_exact(2).map(|c| (c[0] as usize, c[1] as usize)).collect();
            (Op::Pad { pads }, vec![x])
        }
        ops::SOFTMAX => {
            let BuiltinParams::Softmax { beta } = *p else { return Err("missing parameters".into()) };
            let x = input(node, 0)?;
            f32_tensor(x)?;
            (Op::Softmax { beta }, vec![x])
        }
        ops::RESIZE_BILINEAR => {
            let BuiltinParams::ResizeBilinear { align_corners, half_pixel_centers } = *p else {
                return Err("missing parameters".into());
            };
            if align_corners && half_pixel_centers {
                return Err("align_corners and half_pixel_centers together".into());
            }
            let x = input(node, 0)?;
            f32_tensor(x)?;
            let size = constant_ints(&tensor(input(node, 1)?)?).map_err(|e| format!("size: {e}"))?;
            let [h, w] = size[..] else { return Err(format!("size {size:?} is not [h, w]")) };
            if h < 1 || w < 1 {
                return Err(format!("size {size:?} must be positive"));
            }
            (Op::ResizeBilinear { size: [h as usize, w as usize], align_corners, half_pixel_centers }, vec![x])
        }
        ops::DEPTH_TO_SPACE | ops::STRIDED_SLICE => super::claim_custom::visit_builtin(model, node)?,
        ops::CUSTOM => super::claim_custom::visit_custom(model, folds, node)?,
        _ => super::fallback::visit(model, node, folds, format!("{} has no armrest kernel", node.op_name()))?,
    };

    // The shapes armrest computes must be the model's: a disagreement means
    // armrest would misread the node, so it stays with the runtime.
    let in_shapes = inputs.iter().map(|&i| shape_of(i)).collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&[usize]> = in_shapes.iter().map(Vec::as_slice).collect();
    let inferred = shapes::infer(&op, &refs)?;
    let declared = shape_of(output)?;
    if inferred[0] != declared {
        return Err(format!("armrest computes output shape {:?}, the model declares {declared:?}", inferred[0]));
    }
    Ok(Visited::Compute { op, inputs, output })
}
