//! The visitor's fallback branch: a TFLite node armrest's kernels lack but
//! tract computes becomes an `Op::Fallback`, so it stays in the partition.
//! Called by `claim::visit` only for nodes with no armrest kernel, and only
//! when the `fallback` option is `tract`.

use super::claim::{Folds, Visited};
use super::{dtype, padding, BuiltinParams, TflModel, TflNode};
use crate::fallback::{FallbackOp, FallbackUnary, Reduction};
use crate::ir::{Op, Padding};
use armrest_kernels::Clamp;

/// Builtin codes of the ops the fallback covers.
pub mod codes {
    pub const DEPTH_TO_SPACE: i32 = 5;
    pub const FLOOR: i32 = 8;
    pub const SPACE_TO_DEPTH: i32 = 26;
    pub const GATHER: i32 = 36;
    pub const TRANSPOSE: i32 = 39;
    pub const STRIDED_SLICE: i32 = 45;
    pub const EXP: i32 = 47;
    pub const LOG_SOFTMAX: i32 = 50;
    pub const NEG: i32 = 59;
    pub const SLICE: i32 = 65;
    pub const SIN: i32 = 66;
    pub const TRANSPOSE_CONV: i32 = 67;
    pub const TILE: i32 = 69;
    pub const LOG: i32 = 73;
    pub const SUM: i32 = 74;
    pub const SQRT: i32 = 75;
    pub const RSQRT: i32 = 76;
    pub const POW: i32 = 78;
    pub const REDUCE_PROD: i32 = 81;
    pub const REDUCE_MAX: i32 = 82;
    pub const REDUCE_MIN: i32 = 89;
    pub const SQUARE: i32 = 92;
    pub const SQUARED_DIFFERENCE: i32 = 99;
    pub const ABS: i32 = 101;
    pub const CEIL: i32 = 104;
    pub const COS: i32 = 108;
    pub const ROUND: i32 = 116;
    pub const BATCH_MATMUL: i32 = 126;
    pub const SIGN: i32 = 158;
    /// Several outputs: `visit_split`, one slice node per output.
    pub const SPLIT: i32 = 49;
    pub const SPLIT_V: i32 = 102;

    /// Every code above: what the fallback can claim.
    pub const ALL: [i32; 29] = [
        DEPTH_TO_SPACE, FLOOR, SPACE_TO_DEPTH, GATHER, TRANSPOSE, STRIDED_SLICE, EXP, LOG_SOFTMAX, NEG, SLICE, SIN, TRANSPOSE_CONV, TILE, LOG, SUM, SQRT, RSQRT, POW, REDUCE_PROD,
        REDUCE_MAX, REDUCE_MIN, SQUARE, SQUARED_DIFFERENCE, ABS, CEIL, COS, ROUND, BATCH_MATMUL, SIGN,
    ];
}

fn ints(model: &dyn TflModel, index: i32) -> Result<Vec<i64>, String> {
    let t = model.tensor(index).ok_or_else(|| format!("tensor {index} does not exist"))?;
    let bytes = t.constant_data.ok_or_else(|| format!("'{}' is computed at run time (tract fallback needs it constant)", t.name))?;
    match t.dtype {
        dtype::I32 => Ok(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect()),
        dtype::I64 => Ok(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()),
        other => Err(format!("'{}' has type {}, expected int32 or int64", t.name, dtype::name(other))),
    }
}

fn shape(model: &dyn TflModel, index: i32) -> Result<Vec<usize>, String> {
    let t = model.tensor(index).ok_or_else(|| format!("tensor {index} does not exist"))?;
    t.shape().ok_or_else(|| format!("tensor '{}' has an unknown shape {:?}", t.name, t.dims))
}

fn f32_input(model: &dyn TflModel, node: &TflNode, i: usize) -> Result<i32, String> {
    let index = node.inputs.get(i).copied().filter(|&t| t >= 0).ok_or_else(|| format!("input {i} is missing"))?;
    let t = model.tensor(index).ok_or_else(|| format!("tensor {index} does not exist"))?;
    if t.dtype != dtype::F32 || t.quantized {
        return Err(format!("tensor '{}' is {}{}, armrest runs float32 only", t.name, dtype::name(t.dtype), if t.quantized { " (quantized)" } else { "" }));
    }
    Ok(index)
}

fn int_input(node: &TflNode, i: usize) -> Result<i32, String> {
    node.inputs.get(i).copied().filter(|&t| t >= 0).ok_or_else(|| format!("input {i} is missing"))
}

fn axis(a: i64, rank: usize) -> Result<usize, String> {
    crate::shapes::norm_axis(a, rank)
}

/// SPLIT and SPLIT_V: one slice of the input per output, each its own
/// fallback node, so the node stays inside the partition.
pub fn visit_split(model: &dyn TflModel, node: &TflNode, folds: &Folds) -> Result<Visited, String> {
    let no_kernel = format!("{} has no armrest kernel", node.op_name());
    if !folds.fallback {
        return Err(no_kernel);
    }
    split_parts(model, node).map_err(|e| format!("{no_kernel}; tract fallback: {e}"))
}

fn split_parts(model: &dyn TflModel, node: &TflNode) -> Result<Visited, String> {
    // SPLIT: (axis, x); SPLIT_V: (x, size_splits, axis).
    let split_v = node.builtin_code == codes::SPLIT_V;
    let x = f32_input(model, node, if split_v { 0 } else { 1 })?;
    let xs = shape(model, x)?;
    let a = ints(model, int_input(node, if split_v { 2 } else { 0 })?)?;
    let [a] = a[..] else { return Err(format!("axis {a:?} is not one value")) };
    let axis = axis(a, xs.len())?;
    let (n, dim) = (node.outputs.len(), xs[axis]);
    let sizes: Vec<usize> = if split_v {
        let s = ints(model, int_input(node, 1)?)?;
        let known: i64 = s.iter().filter(|&&v| v >= 0).sum();
        let unknown = s.iter().filter(|&&v| v == -1).count();
        if s.len() != n || s.iter().any(|&v| v < -1) || unknown > 1 || known > dim as i64 || (unknown == 0 && known != dim as i64) {
            return Err(format!("split sizes {s:?} into {n} outputs of {dim} values"));
        }
        s.iter().map(|&v| if v == -1 { dim - known as usize } else { v as usize }).collect()
    } else {
        if n == 0 || !dim.is_multiple_of(n) {
            return Err(format!("{dim} values on axis {axis} do not split in {n} equal parts"));
        }
        vec![dim / n; n]
    };
    if sizes.contains(&0) {
        return Err(format!("an empty part in sizes {sizes:?}"));
    }
    let r = xs.len();
    let mut parts = Vec::with_capacity(n);
    let mut begin = 0;
    for (&out, &size) in node.outputs.iter().zip(&sizes) {
        let t = model.tensor(out).ok_or_else(|| format!("tensor {out} does not exist"))?;
        if t.dtype != dtype::F32 || t.quantized {
            return Err(format!("output '{}' is {}, armrest runs float32 only", t.name, dtype::name(t.dtype)));
        }
        let (mut b, mut e) = (vec![0; r], xs.clone());
        (b[axis], e[axis]) = (begin, begin + size);
        let op = FallbackOp::Slice { begin: b, end: e, stride: vec![1; r], shrink: vec![false; r] };
        let computed = op.infer(&[&xs])?.remove(0);
        let declared = shape(model, out)?;
        if computed != declared {
            return Err(format!("armrest computes output shape {computed:?}, the model declares {declared:?}"));
        }
        parts.push((Op::Fallback(op), out));
        begin += size;
    }
    Ok(Visited::Parts { inputs: vec![x], parts })
}

/// The fallback op for `node` with its IR inputs, or why there is none.
/// `no_kernel` is the reason the native visitor gave.
pub fn visit(model: &dyn TflModel, node: &TflNode, folds: &Folds, no_kernel: String) -> Result<(Op, Vec<i32>), String> {
    if !folds.fallback {
        return Err(no_kernel);
    }
    if !codes::ALL.contains(&node.builtin_code) {
        return Err(format!("{no_kernel}, nor a tract fallback in armrest"));
    }
    visit_op(model, node, folds).map(|(op, ins)| (Op::Fallback(op), ins)).map_err(|e| format!("{no_kernel}; tract fallback: {e}"))
}

fn visit_op(model: &dyn TflModel, node: &TflNode, folds: &Folds) -> Result<(FallbackOp, Vec<i32>), String> {
    use codes::*;
    let p = &node.params;
    let unary = |u: FallbackUnary| -> Result<(FallbackOp, Vec<i32>), String> { Ok((FallbackOp::Unary(u), vec![f32_input(model, node, 0)?])) };
    let reduce = |kind: Reduction| -> Result<(FallbackOp, Vec<i32>), String> {
        let x = f32_input(model, node, 0)?;
        let axes = ints(model, int_input(node, 1)?)?;
        let BuiltinParams::Reducer { keep_dims } = *p else { return Err("missing parameters".into()) };
        Ok((FallbackOp::Reduce { kind, axes, keep_dims }, vec![x]))
    };
    match node.builtin_code {
        RSQRT => unary(FallbackUnary::Rsqrt),
        SQRT => unary(FallbackUnary::Sqrt),
        EXP => unary(FallbackUnary::Exp),
        LOG => unary(FallbackUnary::Log),
        NEG => unary(FallbackUnary::Neg),
        ABS => unary(FallbackUnary::Abs),
        SQUARE => unary(FallbackUnary::Square),
        SIN => unary(FallbackUnary::Sin),
        COS => unary(FallbackUnary::Cos),
        FLOOR => unary(FallbackUnary::Floor),
        CEIL => unary(FallbackUnary::Ceil),
        ROUND => unary(FallbackUnary::Round),
        SIGN => unary(FallbackUnary::Sign),
        SUM => reduce(Reduction::Sum),
        REDUCE_MAX => reduce(Reduction::Max),
        REDUCE_MIN => reduce(Reduction::Min),
        REDUCE_PROD => reduce(Reduction::Prod),
        SQUARED_DIFFERENCE | POW => {
            let op = if node.builtin_code == POW { FallbackOp::Pow } else { FallbackOp::SquaredDifference };
            Ok((op, vec![f32_input(model, node, 0)?, f32_input(model, node, 1)?]))
        }
        LOG_SOFTMAX => Ok((FallbackOp::LogSoftmax, vec![f32_input(model, node, 0)?])),
        TRANSPOSE => {
            let x = f32_input(model, node, 0)?;
            let rank = shape(model, x)?.len();
            let perm = ints(model, int_input(node, 1)?)?.into_iter().map(|a| axis(a, rank)).collect::<Result<_, _>>()?;
            Ok((FallbackOp::Transpose { perm }, vec![x]))
        }
        TILE => {
            let x = f32_input(model, node, 0)?;
            let m = ints(model, int_input(node, 1)?)?;
            if m.iter().any(|&v| v < 0) {
                return Err(format!("negative multiples {m:?}"));
            }
            Ok((FallbackOp::Tile { multiples: m.into_iter().map(|v| v as usize).collect() }, vec![x]))
        }
        SLICE => {
            let x = f32_input(model, node, 0)?;
            let xs = shape(model, x)?;
            let (b, s) = (ints(model, int_input(node, 1)?)?, ints(model, int_input(node, 2)?)?);
            if b.len() != xs.len() || s.len() != xs.len() {
                return Err(format!("begin {b:?} and size {s:?} for shape {xs:?}"));
            }
            let mut begin = Vec::new();
            let mut end = Vec::new();
            for d in 0..xs.len() {
                let dim = xs[d] as i64;
                let e = if s[d] == -1 { dim } else { b[d] + s[d] };
                if b[d] < 0 || s[d] < -1 || e > dim {
                    return Err(format!("slice begin {} size {} on axis {d} of shape {xs:?}", b[d], s[d]));
                }
                begin.push(b[d] as usize);
                end.push(e as usize);
            }
            let r = xs.len();
            Ok((FallbackOp::Slice { begin, end, stride: vec![1; r], shrink: vec![false; r] }, vec![x]))
        }
        STRIDED_SLICE => {
            let BuiltinParams::StridedSlice { begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask } = *p else {
                return Err("missing parameters".into());
            };
            if ellipsis_mask != 0 || new_axis_mask != 0 {
                return Err("ellipsis and new-axis masks are not supported".into());
            }
            let x = f32_input(model, node, 0)?;
            let xs = shape(model, x)?;
            let b = ints(model, int_input(node, 1)?)?;
            let e = ints(model, int_input(node, 2)?)?;
            let s = ints(model, int_input(node, 3)?)?;
            if b.len() != e.len() || b.len() != s.len() || b.len() > xs.len() {
                return Err(format!("begin {b:?}, end {e:?}, strides {s:?} for shape {xs:?}"));
            }
            let r = xs.len();
            let (mut begin, mut end, mut stride, mut shrink) = (vec![0; r], xs.clone(), vec![1; r], vec![false; r]);
            for d in 0..b.len() {
                let dim = xs[d] as i64;
                if s[d] <= 0 {
                    return Err(format!("stride {} on axis {d} (only positive strides)", s[d]));
                }
                let norm = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim);
                let bd = if begin_mask >> d & 1 == 1 { 0 } else { norm(b[d]) };
                let mut ed = if end_mask >> d & 1 == 1 { dim } else { norm(e[d]) };
                if shrink_axis_mask >> d & 1 == 1 {
                    let at = if b[d] < 0 { b[d] + dim } else { b[d] };
                    if at < 0 || at >= dim {
                        return Err(format!("shrunk index {} out of range on axis {d}", b[d]));
                    }
                    begin[d] = at as usize;
                    end[d] = at as usize + 1;
                    shrink[d] = true;
                    continue;
                }
                ed = ed.max(bd);
                begin[d] = bd as usize;
                end[d] = ed as usize;
                stride[d] = s[d] as usize;
            }
            Ok((FallbackOp::Slice { begin, end, stride, shrink }, vec![x]))
        }
        GATHER => {
            let BuiltinParams::Gather { axis: a, batch_dims } = *p else { return Err("missing parameters".into()) };
            if batch_dims != 0 {
                return Err(format!("batch_dims {batch_dims}"));
            }
            let x = f32_input(model, node, 0)?;
            let xs = shape(model, x)?;
            let idx = int_input(node, 1)?;
            let indices = ints(model, idx)?;
            let indices_shape = shape(model, idx)?;
            Ok((FallbackOp::Gather { axis: axis(a as i64, xs.len())?, indices, indices_shape }, vec![x]))
        }
        BATCH_MATMUL => {
            let BuiltinParams::BatchMatMul { adj_x, adj_y } = *p else { return Err("missing parameters".into()) };
            Ok((FallbackOp::BatchMatMul { adj_x, adj_y }, vec![f32_input(model, node, 0)?, f32_input(model, node, 1)?]))
        }
        DEPTH_TO_SPACE | SPACE_TO_DEPTH => {
            let BuiltinParams::BlockSize { block_size } = *p else { return Err("missing parameters".into()) };
            if block_size < 1 {
                return Err(format!("block size {block_size}"));
            }
            let block = block_size as usize;
            let op = if node.builtin_code == DEPTH_TO_SPACE { FallbackOp::DepthToSpace { block } } else { FallbackOp::SpaceToDepth { block } };
            Ok((op, vec![f32_input(model, node, 0)?]))
        }
        TRANSPOSE_CONV => {
            let BuiltinParams::TransposeConv { padding: pad, stride_w, stride_h, activation } = *p else {
                return Err("missing parameters".into());
            };
            let out = ints(model, int_input(node, 0)?)?;
            let [n, h, w, c] = out[..] else { return Err(format!("output shape {out:?} is not 4-d")) };
            if [n, h, w, c].iter().any(|&v| v < 1) || stride_w < 1 || stride_h < 1 {
                return Err(format!("output shape {out:?}, strides {stride_h}x{stride_w}"));
            }
            let wt = int_input(node, 1)?;
            if !super::claim::is_constant_f32(model, folds, wt) {
                return Err("the filter is not a constant float32 tensor".into());
            }
            let x = f32_input(model, node, 2)?;
            let mut ins = vec![x, wt];
            if let Some(b) = node.inputs.get(3).copied().filter(|&b| b >= 0) {
                if !super::claim::is_constant_f32(model, folds, b) {
                    return Err("the bias is not a constant float32 tensor".into());
                }
                ins.push(b);
            }
            let padding = match pad {
                padding::SAME => Padding::Same,
                padding::VALID => Padding::Valid,
                other => return Err(format!("padding #{other}")),
            };
            let clamp = match activation {
                0 => Clamp::NONE,
                1 => Clamp::RELU,
                2 => Clamp::RELU_N1_TO_1,
                3 => Clamp::RELU6,
                other => return Err(format!("fused activation #{other}")),
            };
            let op = FallbackOp::TransposeConv { padding, stride: [stride_h as usize, stride_w as usize], output_shape: [n as usize, h as usize, w as usize, c as usize], clamp };
            Ok((op, ins))
        }
        other => Err(format!("builtin #{other} is listed but not mapped")),
    }
}
