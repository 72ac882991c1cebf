//! Ops armrest's kernels do not cover, described in the IR's own terms so a
//! claimed partition can keep them (`Op::Fallback`): the executor runs each
//! run of consecutive fallback nodes as one tract island (feature `tract`).
//! Attributes are resolved at claim time (constant indices, axes, bounds);
//! shapes are inferred here, without tract, so claiming checks them exactly
//! like native ops.

use crate::ir::Padding;
use crate::shapes::{self, Shape};
use armrest_kernels::Clamp;

/// Elementwise functions of one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackUnary {
    Rsqrt,
    Sqrt,
    Exp,
    /// Natural logarithm (TFLite LOG).
    Log,
    Neg,
    Abs,
    Square,
    Sin,
    Cos,
    Floor,
    Ceil,
    /// Round half to even (TFLite ROUND).
    Round,
    Sign,
}

/// Reductions over constant axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Sum,
    Max,
    Min,
    Prod,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FallbackOp {
    /// `out.shape[i] = in.shape[perm[i]]`.
    Transpose { perm: Vec<usize> },
    /// Per axis `begin..end` by a positive `stride` (SLICE, STRIDED_SLICE);
    /// axes in `shrink` (size 1 after slicing) are removed.
    Slice { begin: Vec<usize>, end: Vec<usize>, stride: Vec<usize>, shrink: Vec<bool> },
    /// GATHER with constant, non-negative indices of shape `indices_shape` (batch_dims 0).
    Gather { axis: usize, indices: Vec<i64>, indices_shape: Vec<usize> },
    /// Inputs a `[..., m, k]`, b `[..., k, n]` (adjoints transpose the last two axes), batch axes broadcast.
    BatchMatMul { adj_x: bool, adj_y: bool },
    /// `(a - b)^2`, broadcast.
    SquaredDifference,
    /// `a^b`, broadcast.
    Pow,
    Unary(FallbackUnary),
    /// Axes as given (may be negative or repeated).
    Reduce { kind: Reduction, axes: Vec<i64>, keep_dims: bool },
    /// NHWC, TensorFlow's DCR order.
    DepthToSpace { block: usize },
    SpaceToDepth { block: usize },
    /// Inputs x `[n,h,w,i]`, weights `[o,kh,kw,i]` (constant), bias `[o]` (constant, optional);
    /// the output shape is the one the model states.
    TransposeConv { padding: Padding, stride: [usize; 2], output_shape: [usize; 4], clamp: Clamp },
    /// log(softmax(x)) over the last axis.
    LogSoftmax,
    Tile { multiples: Vec<usize> },
}

impl FallbackOp {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            FallbackOp::Transpose { .. } => "transpose",
            FallbackOp::Slice { .. } => "slice",
            FallbackOp::Gather { .. } => "gather",
            FallbackOp::BatchMatMul { .. } => "batch_matmul",
            FallbackOp::SquaredDifference => "squared_difference",
            FallbackOp::Pow => "pow",
            FallbackOp::Unary(_) => "unary",
            FallbackOp::Reduce { .. } => "reduce",
            FallbackOp::DepthToSpace { .. } => "depth_to_space",
            FallbackOp::SpaceToDepth { .. } => "space_to_depth",
            FallbackOp::TransposeConv { .. } => "transpose_conv",
            FallbackOp::LogSoftmax => "log_softmax",
            FallbackOp::Tile { .. } => "tile",
        }
    }

    /// The output shapes for these input shapes.
    pub fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<Shape>, String> {
        let x = inputs.first().copied().ok_or("missing input")?;
        let second = || inputs.get(1).copied().ok_or_else(|| "missing second input".to_string());
        let out = match self {
            FallbackOp::Transpose { perm } => {
                let mut seen = vec![false; x.len()];
                if perm.len() != x.len() || perm.iter().any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true)) {
                    return Err(format!("permutation {perm:?} does not fit shape {x:?}"));
                }
                perm.iter().map(|&p| x[p]).collect()
            }
            FallbackOp::Slice { begin, end, stride, shrink } => {
                let r = x.len();
                if begin.len() != r || end.len() != r || stride.len() != r || shrink.len() != r {
                    return Err(format!("slice bounds of rank {} for shape {x:?}", begin.len()));
                }
                let mut out = Vec::with_capacity(r);
                for d in 0..r {
                    if stride[d] == 0 || begin[d] > end[d] || end[d] > x[d] {
                        return Err(format!("slice {}..{} step {} on axis {d} of shape {x:?}", begin[d], end[d], stride[d]));
                    }
                    let len = (end[d] - begin[d]).div_ceil(stride[d]);
                    if shrink[d] {
                        if len != 1 {
                            return Err(format!("shrunk axis {d} keeps {len} values"));
                        }
                    } else {
                        out.push(len);
                    }
                }
                out
            }
            FallbackOp::Gather { axis, indices, indices_shape } => {
                if *axis >= x.len() || indices.len() != indices_shape.iter().product::<usize>() {
                    return Err(format!("gather axis {axis} of shape {x:?} with indices of shape {indices_shape:?}"));
                }
                if let Some(bad) = indices.iter().find(|&&i| i < 0 || i as usize >= x[*axis]) {
                    return Err(format!("index {bad} is out of range for axis {axis} of shape {x:?}"));
                }
                let mut out = x[..*axis].to_vec();
                out.extend_from_slice(indices_shape);
                out.extend_from_slice(&x[axis + 1..]);
                out
            }
            FallbackOp::BatchMatMul { adj_x, adj_y } => {
                let y = second()?;
                if x.len() < 2 || y.len() < 2 {
                    return Err(format!("batch matmul of {x:?} and {y:?} needs rank 2 or more"));
                }
                let (xb, xm) = x.split_at(x.len() - 2);
                let (yb, ym) = y.split_at(y.len() - 2);
                let (m, k) = if *adj_x { (xm[1], xm[0]) } else { (xm[0], xm[1]) };
                let (k2, n) = if *adj_y { (ym[1], ym[0]) } else { (ym[0], ym[1]) };
                if k != k2 {
                    return Err(format!("batch matmul of {x:?} and {y:?}: inner sizes {k} and {k2} differ"));
                }
                let mut out = shapes::broadcast(xb, yb)?;
                out.extend([m, n]);
                out
            }
            FallbackOp::SquaredDifference | FallbackOp::Pow => shapes::broadcast(x, second()?)?,
            FallbackOp::Unary(_) | FallbackOp::LogSoftmax => {
                if matches!(self, FallbackOp::LogSoftmax) && x.is_empty() {
                    return Err("log_softmax of a scalar".into());
                }
                x.to_vec()
            }
            FallbackOp::Reduce { axes, keep_dims, .. } => {
                let axes = shapes::mean_axes(axes, x.len())?;
                if *keep_dims {
                    x.iter().enumerate().map(|(d, &s)| if axes.contains(&d) { 1 } else { s }).collect()
                } else {
                    x.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &s)| s).collect()
                }
            }
            FallbackOp::DepthToSpace { block } => {
                let b = *block;
                if x.len() != 4 || b == 0 || x[3] % (b * b) != 0 {
                    return Err(format!("depth_to_space block {b} on shape {x:?}"));
                }
                vec![x[0], x[1] * b, x[2] * b, x[3] / (b * b)]
            }
            FallbackOp::SpaceToDepth { block } => {
                let b = *block;
                if x.len() != 4 || b == 0 || x[1] % b != 0 || x[2] % b != 0 {
                    return Err(format!("space_to_depth block {b} on shape {x:?}"));
                }
                vec![x[0], x[1] / b, x[2] / b, x[3] * b * b]
            }
            FallbackOp::TransposeConv { padding, stride, output_shape, .. } => {
                let w = second()?;
                if x.len() != 4 || w.len() != 4 || w[3] != x[3] || output_shape[0] != x[0] || output_shape[3] != w[0] {
                    return Err(format!("transpose conv of {x:?} by filter {w:?} into {output_shape:?}"));
                }
                for d in 0..2 {
                    // The output must be one the forward convolution maps back onto the input.
                    let (back, _, _) = shapes::resolve_padding(*padding, output_shape[1 + d], w[1 + d], stride[d], 1);
                    if back != x[1 + d] || stride[d] == 0 {
                        return Err(format!("transpose conv output {output_shape:?} does not map back to input {x:?}"));
                    }
                }
                output_shape.to_vec()
            }
            FallbackOp::Tile { multiples } => {
                if multiples.len() != x.len() {
                    return Err(format!("tile multiples {multiples:?} for shape {x:?}"));
                }
                x.iter().zip(multiples).map(|(a, b)| a * b).collect()
            }
        };
        Ok(vec![out])
    }
}

/// TransposeConv's explicit padding per spatial axis: (before, after) such that
/// the forward convolution of the output with this padding yields the input.
pub fn transpose_conv_padding(padding: Padding, output: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let (_, before, after) = shapes::resolve_padding(padding, output, kernel, stride, 1);
    (before, after)
}
