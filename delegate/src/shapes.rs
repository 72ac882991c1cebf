//! Shape inference for every IR op, with TFLite's rules. Used when claiming
//! (the shapes armrest computes must equal the model's) and at every
//! prepare (inputs may have been resized).

use crate::ir::{Graph, Op, Padding, ReshapeRule};
use armrest_kernels::Window2d;

pub type Shape = Vec<usize>;

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

fn expect_rank(what: &str, s: &[usize], rank: usize) -> Result<(), String> {
    if s.len() == rank {
        Ok(())
    } else {
        Err(format!("{what} must have rank {rank}, has shape {s:?}"))
    }
}

/// Normalises an axis in `[-rank, rank)`.
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!("axis {axis} is out of range for rank {rank}"));
    }
    Ok(if axis < 0 { (axis + r) as usize } else { axis as usize })
}

/// TFLite's SAME/VALID geometry for one spatial dim: (out, pad_before, pad_after).
/// `Explicit` padding is per axis: this takes its height pair; use
/// [`resolve_axis`] for the width.
pub fn resolve_padding(padding: Padding, input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize, usize) {
    resolve_axis(padding, 0, input, kernel, stride, dilation)
}

/// The geometry of spatial axis `axis` (0: height, 1: width): (out, pad_before, pad_after).
pub fn resolve_axis(padding: Padding, axis: usize, input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize, usize) {
    let eff = (kernel - 1) * dilation + 1;
    match padding {
        Padding::Explicit(p) => {
            let (before, after) = (p[2 * axis], p[2 * axis + 1]);
            let padded = input + before + after;
            let out = if padded >= eff { (padded - eff) / stride + 1 } else { 0 };
            (out, before, after)
        }
        Padding::Valid => {
            let out = if input >= eff { (input - eff) / stride + 1 } else { 0 };
            (out, 0, 0)
        }
        Padding::Same => {
            let out = input.div_ceil(stride);
            let needed = (out.saturating_sub(1) * stride + eff).saturating_sub(input);
            (out, needed / 2, needed - needed / 2)
        }
    }
}

/// The explicit window of a conv/pool over an `[n,h,w,c]` input.
pub fn window(padding: Padding, in_hw: [usize; 2], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2]) -> Window2d {
    let (_, pt, pb) = resolve_axis(padding, 0, in_hw[0], kernel[0], stride[0], dilation[0]);
    let (_, pl, pr) = resolve_axis(padding, 1, in_hw[1], kernel[1], stride[1], dilation[1]);
    Window2d {
        kernel_h: kernel[0],
        kernel_w: kernel[1],
        stride_h: stride[0],
        stride_w: stride[1],
        dilation_h: dilation[0],
        dilation_w: dilation[1],
        pad_top: pt,
        pad_left: pl,
        pad_bottom: pb,
        pad_right: pr,
    }
}

/// Numpy broadcasting of two shapes (right-aligned).
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Shape, String> {
    let rank = a.len().max(b.len());
    let get = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        })
        .collect()
}

/// Left-pads a shape with 1s to `rank`.
pub fn pad_rank(s: &[usize], rank: usize) -> Shape {
    let mut out = vec![1; rank - s.len()];
    out.extend_from_slice(s);
    out
}

/// Every tensor's shape for these graph input shapes: writes the inputs'
/// shapes into `shapes` (indexed by tensor id), then each node's inferred
/// outputs in order. Both executors prepare with it.
pub fn infer_graph(graph: &Graph, shapes: &mut [Shape], input_shapes: &[Shape]) -> Result<(), String> {
    if input_shapes.len() != graph.inputs.len() {
        return Err(format!("{} inputs given, the graph has {}", input_shapes.len(), graph.inputs.len()));
    }
    for (&id, s) in graph.inputs.iter().zip(input_shapes) {
        shapes[id] = s.clone();
    }
    for node in &graph.nodes {
        let ins: Vec<&[usize]> = node.inputs.iter().map(|&i| shapes[i].as_slice()).collect();
        let outs = infer(&node.op, &ins).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?;
        for (&o, s) in node.outputs.iter().zip(outs) {
            shapes[o] = s;
        }
    }
    Ok(())
}

/// Output shapes of `op` given its input shapes (weights included, in IR order).
pub fn infer(op: &Op, inputs: &[&[usize]]) -> Result<Vec<Shape>, String> {
    let x = inputs.first().copied().ok_or("missing input")?;
    let out = match op {
        Op::Conv2d { padding, stride, dilation, .. } => {
            expect_rank("conv input", x, 4)?;
            let f = inputs.get(1).copied().ok_or("missing filter")?;
            expect_rank("conv filter", f, 4)?;
            if f[3] != x[3] {
                return Err(format!("filter has {} input channels, input has {}", f[3], x[3]));
            }
            let (oh, _, _) = resolve_padding(*padding, x[1], f[1], stride[0], dilation[0]);
            let (ow, _, _) = resolve_axis(*padding, 1, x[2], f[2], stride[1], dilation[1]);
            vec![x[0], oh, ow, f[0]]
        }
        Op::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, .. } => {
            expect_rank("depthwise input", x, 4)?;
            let f = inputs.get(1).copied().ok_or("missing filter")?;
            expect_rank("depthwise filter", f, 4)?;
            if f[3] != x[3] * depth_multiplier {
                return Err(format!("filter has {} channels, input {} x multiplier {}", f[3], x[3], depth_multiplier));
            }
            let (oh, _, _) = resolve_padding(*padding, x[1], f[1], stride[0], dilation[0]);
            let (ow, _, _) = resolve_axis(*padding, 1, x[2], f[2], stride[1], dilation[1]);
            vec![x[0], oh, ow, f[3]]
        }
        Op::FullyConnected { keep_num_dims, .. } => {
            let w = inputs.get(1).copied().ok_or("missing weights")?;
            expect_rank("weights", w, 2)?;
            let (n, k) = (w[0], w[1]);
            if k == 0 || !numel(x).is_multiple_of(k) {
                return Err(format!("input {x:?} is not a whole number of rows of {k}"));
            }
            if *keep_num_dims {
                if x.last() != Some(&k) {
                    return Err(format!("keep_num_dims needs the input's last dim {x:?} to be {k}"));
                }
                let mut s = x.to_vec();
                *s.last_mut().unwrap() = n;
                s
            } else {
                vec![numel(x) / k, n]
            }
        }
        Op::Binary { .. } => {
            let b = inputs.get(1).copied().ok_or("missing second operand")?;
            broadcast(x, b)?
        }
        Op::Prelu => {
            let a = inputs.get(1).copied().ok_or("missing alpha")?;
            let s = broadcast(x, a)?;
            if s != x {
                return Err(format!("alpha {a:?} does not broadcast to the input {x:?}"));
            }
            s
        }
        Op::Unary(_) => x.to_vec(),
        Op::Pool2d { padding, stride, filter, .. } => {
            expect_rank("pool input", x, 4)?;
            let (oh, _, _) = resolve_padding(*padding, x[1], filter[0], stride[0], 1);
            let (ow, _, _) = resolve_axis(*padding, 1, x[2], filter[1], stride[1], 1);
            vec![x[0], oh, ow, x[3]]
        }
        Op::Mean { axes, keep_dims } => {
            let axes = mean_axes(axes, x.len())?;
            let mut s = Vec::new();
            for (d, &size) in x.iter().enumerate() {
                if axes.contains(&d) {
                    if *keep_dims {
                        s.push(1);
                    }
                } else {
                    s.push(size);
                }
            }
            s
        }
        Op::Reshape(rule) => reshape(rule, x)?,
        Op::Concat { axis } => {
            let axis = norm_axis(*axis, x.len())?;
            let mut s = x.to_vec();
            s[axis] = 0;
            for other in inputs {
                if other.len() != x.len() || other.iter().zip(x).enumerate().any(|(d, (a, b))| d != axis && a != b) {
                    return Err(format!("cannot concatenate {other:?} with {x:?} on axis {axis}"));
                }
                s[axis] += other[axis];
            }
            s
        }
        Op::Pad { pads } => {
            if pads.len() != x.len() {
                return Err(format!("{} paddings for rank {}", pads.len(), x.len()));
            }
            x.iter().zip(pads).map(|(d, (a, b))| d + a + b).collect()
        }
        Op::Softmax { .. } => {
            if x.is_empty() {
                return Err("softmax needs rank >= 1".into());
            }
            x.to_vec()
        }
        Op::ResizeBilinear { size, .. } => {
            expect_rank("resize input", x, 4)?;
            vec![x[0], size[0], size[1], x[3]]
        }
        Op::DepthToSpace { .. } | Op::StridedSlice(_) | Op::TransposeConvBias { .. } | Op::TransformTensorBilinear { .. } | Op::TransformLandmarks | Op::LandmarksToTransformMatrix(_) => {
            crate::ops_extra::infer(op, inputs)?
        }
        Op::MaxPoolArgmax { .. } | Op::MaxUnpool { .. } => crate::ops_extra::infer(op, inputs)?,
        Op::Transpose { perm } => {
            let mut seen = vec![false; x.len()];
            if perm.len() != x.len() || perm.iter().any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true)) {
                return Err(format!("{perm:?} is not a permutation of the input's {} dims", x.len()));
            }
            perm.iter().map(|&p| x[p]).collect()
        }
        Op::BatchMatMul => {
            let b = inputs.get(1).copied().ok_or("missing second operand")?;
            let r = x.len();
            if r < 2 || b.len() != r || x[..r - 2] != b[..r - 2] || x[r - 1] != b[r - 2] {
                return Err(format!("cannot multiply {x:?} by {b:?}"));
            }
            let mut s = x.to_vec();
            s[r - 1] = b[r - 1];
            s
        }
        Op::Gelu { .. } => x.to_vec(),
        Op::GroupedConv2d { groups, padding, stride, dilation, .. } => {
            expect_rank("conv input", x, 4)?;
            let f = inputs.get(1).copied().ok_or("missing filter")?;
            expect_rank("conv filter", f, 4)?;
            if *groups == 0 || f[3] * groups != x[3] || !f[0].is_multiple_of(*groups) {
                return Err(format!("filter {f:?} with {groups} groups does not fit input channels {}", x[3]));
            }
            let (oh, _, _) = resolve_axis(*padding, 0, x[1], f[1], stride[0], dilation[0]);
            let (ow, _, _) = resolve_axis(*padding, 1, x[2], f[2], stride[1], dilation[1]);
            vec![x[0], oh, ow, f[0]]
        }
        Op::Fallback(f) => return f.infer(inputs),
        Op::Quant(q) => return q.infer(inputs),
    };
    Ok(vec![out])
}

/// MEAN's axes, normalised, sorted and unique.
pub fn mean_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let mut v = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

fn reshape(rule: &ReshapeRule, x: &[usize]) -> Result<Shape, String> {
    let total = numel(x);
    match rule {
        ReshapeRule::To(target) => {
            let mut unknown = None;
            let mut known = 1usize;
            for (i, &d) in target.iter().enumerate() {
                match d {
                    -1 if unknown.is_none() => unknown = Some(i),
                    d if d >= 0 => known *= d as usize,
                    _ => return Err(format!("bad reshape target {target:?}")),
                }
            }
            let mut s: Shape = target.iter().map(|&d| d.max(0) as usize).collect();
            if let Some(i) = unknown {
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(format!("cannot reshape {x:?} to {target:?}"));
                }
                s[i] = total / known;
            }
            if numel(&s) != total {
                return Err(format!("cannot reshape {x:?} to {target:?}"));
            }
            Ok(s)
        }
        ReshapeRule::Squeeze(dims) => {
            let drop = if dims.is_empty() {
                (0..x.len()).filter(|&d| x[d] == 1).collect::<Vec<_>>()
            } else {
                dims.iter().map(|&d| norm_axis(d, x.len())).collect::<Result<Vec<_>, _>>()?
            };
            for &d in &drop {
                if x[d] != 1 {
                    return Err(format!("cannot squeeze axis {d} of {x:?}"));
                }
            }
            Ok(x.iter().enumerate().filter(|(d, _)| !drop.contains(d)).map(|(_, &s)| s).collect())
        }
        ReshapeRule::ExpandDims(axis) => {
            let axis = norm_axis(*axis, x.len() + 1)?;
            let mut s = x.to_vec();
            s.insert(axis, 1);
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tflite() {
        // 224 input, 3x3 stride 2: out 112, total pad 1 → (0, 1).
        assert_eq!(resolve_padding(Padding::Same, 224, 3, 2, 1), (112, 0, 1));
        assert_eq!(resolve_padding(Padding::Same, 5, 3, 1, 2), (5, 2, 2));
        assert_eq!(resolve_padding(Padding::Valid, 7, 3, 2, 1), (3, 0, 0));
        assert_eq!(resolve_padding(Padding::Valid, 2, 3, 1, 1), (0, 0, 0));
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[2, 1, 3], &[4, 1]).unwrap(), vec![2, 4, 3]);
        assert!(broadcast(&[2, 3], &[4, 3]).is_err());
    }

    #[test]
    fn reshapes() {
        assert_eq!(reshape(&ReshapeRule::To(vec![-1, 6]), &[2, 3, 4]).unwrap(), vec![4, 6]);
        assert!(reshape(&ReshapeRule::To(vec![-1, 5]), &[2, 3, 4]).is_err());
        assert_eq!(reshape(&ReshapeRule::Squeeze(vec![]), &[1, 3, 1, 2]).unwrap(), vec![3, 2]);
        assert_eq!(reshape(&ReshapeRule::Squeeze(vec![-2]), &[1, 3, 1, 2]).unwrap(), vec![1, 3, 2]);
        assert_eq!(reshape(&ReshapeRule::ExpandDims(-1), &[3, 2]).unwrap(), vec![3, 2, 1]);
    }
}
