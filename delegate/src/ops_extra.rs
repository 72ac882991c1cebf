//! Shape rules and execution of the ops MediaPipe's models add to the IR:
//! DEPTH_TO_SPACE, STRIDED_SLICE and MediaPipe's custom ops (transposed
//! convolution with bias, tensor warp, landmark transform, landmarks →
//! matrix, max pooling with argmax and unpooling). Kept apart from the core op set so each concern stays small.

use crate::ir::{Op, Padding};
use crate::shapes::Shape;
use armrest_kernels::mediapipe as mp;
use armrest_kernels::rearrange::{self, SliceAxis};
use armrest_kernels::{Exec, Nhwc};

/// STRIDED_SLICE as the model gives it (no ellipsis or new-axis masks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StridedSliceSpec {
    pub begin: Vec<i64>,
    pub end: Vec<i64>,
    pub strides: Vec<i64>,
    pub begin_mask: u32,
    pub end_mask: u32,
    pub shrink_axis_mask: u32,
}

impl StridedSliceSpec {
    /// The slice of every input axis, and the output shape (shrunk axes removed),
    /// with TFLite's rules: negative indices count from the end, then clamp to
    /// `[0, dim]` (positive stride) or `[-1, dim - 1]` (negative stride).
    pub fn resolve(&self, shape: &[usize]) -> Result<(Vec<SliceAxis>, Shape), String> {
        let n = self.begin.len();
        if self.end.len() != n || self.strides.len() != n || n > shape.len() || n > 32 {
            return Err(format!("begin/end/strides of lengths {}/{}/{} for rank {}", n, self.end.len(), self.strides.len(), shape.len()));
        }
        let mut axes = Vec::with_capacity(shape.len());
        let mut out = Vec::new();
        for (d, &dim) in shape.iter().enumerate() {
            let size = dim as i64;
            if d >= n {
                axes.push(SliceAxis { start: 0, stride: 1, count: dim });
                out.push(dim);
                continue;
            }
            let bit = 1u32 << d;
            let s = self.strides[d];
            if s == 0 {
                return Err("stride 0".into());
            }
            let norm = |v: i64| if v < 0 { v + size } else { v };
            if self.shrink_axis_mask & bit != 0 {
                let b = norm(self.begin[d]);
                if !(0..size).contains(&b) {
                    return Err(format!("shrunk axis {d} index {} out of range {dim}", self.begin[d]));
                }
                axes.push(SliceAxis { start: b as usize, stride: 1, count: 1 });
                continue;
            }
            let (lo, hi) = if s > 0 { (0, size) } else { (-1, size - 1) };
            let start = if self.begin_mask & bit != 0 { if s > 0 { 0 } else { size - 1 } } else { norm(self.begin[d]).clamp(lo, hi) };
            let stop = if self.end_mask & bit != 0 { if s > 0 { size } else { -1 } } else { norm(self.end[d]).clamp(lo, hi) };
            let span = if s > 0 { stop - start } else { start - stop };
            let count = if span <= 0 { 0 } else { (span + s.abs() - 1) / s.abs() } as usize;
            let start = if count == 0 { 0 } else { start as usize };
            axes.push(SliceAxis { start, stride: s as isize, count });
            out.push(count);
        }
        Ok((axes, out))
    }
}

fn expect_rank(what: &str, s: &[usize], rank: usize) -> Result<(), String> {
    if s.len() == rank {
        Ok(())
    } else {
        Err(format!("{what} must have rank {rank}, has shape {s:?}"))
    }
}

fn matrix_shape(inputs: &[&[usize]]) -> Result<(), String> {
    let m = inputs.get(1).copied().ok_or("missing matrix")?;
    if m.iter().product::<usize>() != 16 || m.last() != Some(&4) {
        return Err(format!("the transform matrix {m:?} is not 4x4"));
    }
    Ok(())
}

/// Output shapes of the ops of this module.
pub fn infer(op: &Op, inputs: &[&[usize]]) -> Result<Shape, String> {
    let x = inputs.first().copied().ok_or("missing input")?;
    Ok(match op {
        Op::DepthToSpace { block } => {
            expect_rank("depth_to_space input", x, 4)?;
            if *block < 1 || !x[3].is_multiple_of(block * block) {
                return Err(format!("{} channels are not a multiple of block {block} squared", x[3]));
            }
            vec![x[0], x[1] * block, x[2] * block, x[3] / (block * block)]
        }
        Op::StridedSlice(spec) => spec.resolve(x)?.1,
        Op::TransposeConvBias { padding, stride } => {
            expect_rank("transpose conv input", x, 4)?;
            let f = inputs.get(1).copied().ok_or("missing filter")?;
            expect_rank("transpose conv filter", f, 4)?;
            let b = inputs.get(2).copied().ok_or("missing bias")?;
            if f[3] != x[3] || b != [f[0]] {
                return Err(format!("filter {f:?} and bias {b:?} do not fit input {x:?}"));
            }
            let same = *padding == Padding::Same;
            let (oh, _) = mp::transpose_conv_geometry(x[1], f[1], stride[0], same);
            let (ow, _) = mp::transpose_conv_geometry(x[2], f[2], stride[1], same);
            vec![x[0], oh, ow, f[0]]
        }
        Op::TransformTensorBilinear { size } => {
            expect_rank("warp input", x, 4)?;
            if x[0] != 1 {
                return Err(format!("warp input {x:?} must have batch 1"));
            }
            matrix_shape(inputs)?;
            vec![1, size[0], size[1], x[3]]
        }
        Op::TransformLandmarks => {
            expect_rank("landmarks", x, 3)?;
            if x[0] != 1 || !(x[2] == 2 || x[2] == 3) {
                return Err(format!("landmarks {x:?} are not [1, n, 2|3]"));
            }
            matrix_shape(inputs)?;
            x.to_vec()
        }
        Op::LandmarksToTransformMatrix(p) => {
            expect_rank("landmarks", x, 3)?;
            if x[0] != 1 || x[2] != 3 {
                return Err(format!("landmarks {x:?} are not [1, n, 3]"));
            }
            let max = p.subset.iter().flatten().chain([&p.left_rotation_idx, &p.right_rotation_idx]).copied().max().unwrap_or(0);
            if max >= x[1] {
                return Err(format!("landmark index {max} out of range for {} landmarks", x[1]));
            }
            vec![1, 4, 4]
        }
        Op::MaxPoolArgmax { pool, .. } => {
            expect_rank("argmax pool input", x, 4)?;
            let axis = |d: usize| mp::argmax_pool_geometry(x[1 + d], pool.filter[d], pool.stride[d], pool.same).map(|g| g.0);
            let (Some(oh), Some(ow)) = (axis(0), axis(1)) else {
                return Err(format!("filter {:?} stride {:?} {} do not fit input {x:?}", pool.filter, pool.stride, if pool.same { "SAME" } else { "VALID" }));
            };
            vec![x[0], oh, ow, x[3]]
        }
        Op::MaxUnpool { pool } => {
            expect_rank("unpool values", x, 4)?;
            let idx = inputs.get(1).copied().ok_or("missing indices")?;
            if idx != x {
                return Err(format!("indices {idx:?} do not match values {x:?}"));
            }
            let (Some(oh), Some(ow)) = (x[1].checked_mul(pool.filter[0]), x[2].checked_mul(pool.filter[1])) else {
                return Err(format!("filter {:?} overflows the output of {x:?}", pool.filter));
            };
            vec![x[0], oh, ow, x[3]]
        }
        _ => return Err(format!("{} is not an op of ops_extra", op.name())),
    })
}

fn nhwc(s: &[usize]) -> Nhwc {
    Nhwc { n: s[0], h: s[1], w: s[2], c: s[3] }
}

/// Runs one node of this module's ops. Shapes were validated by `infer` at prepare.
pub fn run(exec: Exec, op: &Op, ins: &[&[f32]], in_shapes: &[&[usize]], out_shape: &[usize], out: &mut [f32]) {
    let (x, xs) = (ins[0], in_shapes[0]);
    match op {
        Op::DepthToSpace { block } => rearrange::depth_to_space(nhwc(xs), x, *block, out),
        Op::StridedSlice(spec) => {
            let (axes, _) = spec.resolve(xs).expect("validated at prepare");
            rearrange::strided_slice(x, xs, &axes, out);
        }
        Op::TransposeConvBias { padding, stride } => {
            let f = in_shapes[1];
            let same = *padding == Padding::Same;
            let (_, pt) = mp::transpose_conv_geometry(xs[1], f[1], stride[0], same);
            let (_, pl) = mp::transpose_conv_geometry(xs[2], f[2], stride[1], same);
            mp::transpose_conv_bias(exec, nhwc(xs), x, ins[1], [f[1], f[2]], ins[2], *stride, [pt, pl], [out_shape[1], out_shape[2]], out);
        }
        Op::TransformTensorBilinear { size } => mp::transform_tensor_bilinear(exec, nhwc(xs), x, ins[1], *size, out),
        Op::TransformLandmarks => mp::transform_landmarks(x, xs[2], ins[1], out),
        Op::LandmarksToTransformMatrix(p) => mp::landmarks_to_transform_matrix(p, x, out),
        Op::MaxPoolArgmax { pool, indices } => {
            let (_, pt) = mp::argmax_pool_geometry(xs[1], pool.filter[0], pool.stride[0], pool.same).expect("validated at prepare");
            let (_, pl) = mp::argmax_pool_geometry(xs[2], pool.filter[1], pool.stride[1], pool.same).expect("validated at prepare");
            mp::max_pool_with_argmax(exec, pool, nhwc(xs), x, [out_shape[1], out_shape[2]], [pt, pl], *indices, out);
        }
        Op::MaxUnpool { pool } => {
            let (_, pt) = mp::unpool_geometry(xs[1], pool.filter[0], pool.stride[0]);
            let (_, pl) = mp::unpool_geometry(xs[2], pool.filter[1], pool.stride[1]);
            mp::max_unpool(exec, pool, nhwc(xs), x, ins[1], [out_shape[1], out_shape[2]], [pt, pl], out);
        }
        _ => unreachable!("ops_extra::run called for {}", op.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(begin: &[i64], end: &[i64], strides: &[i64], masks: [u32; 3]) -> StridedSliceSpec {
        StridedSliceSpec { begin: begin.into(), end: end.into(), strides: strides.into(), begin_mask: masks[0], end_mask: masks[1], shrink_axis_mask: masks[2] }
    }

    #[test]
    fn strided_slice_resolution_follows_tflite() {
        let shape = [1usize, 4, 4, 64];
        let (axes, out) = spec(&[0, 0, 0, 0], &[1, 4, 4, 32], &[1, 1, 1, 1], [0, 0, 0]).resolve(&shape).unwrap();
        assert_eq!(out, vec![1, 4, 4, 32]);
        assert_eq!(axes[3], SliceAxis { start: 0, stride: 1, count: 32 });
        // Negative indices, masks, a negative stride, clamping past the end.
        let (axes, out) = spec(&[0, -1, 1, 100], &[1, 0, 0, -100], &[1, -1, 1, -2], [0b0100, 0b0100, 0]).resolve(&shape).unwrap();
        assert_eq!(out, vec![1, 3, 4, 32]);
        assert_eq!(axes[1], SliceAxis { start: 3, stride: -1, count: 3 });
        assert_eq!(axes[3], SliceAxis { start: 63, stride: -2, count: 32 });
        // Shrink removes the axis; an empty range gives 0.
        let (_, out) = spec(&[0, 2, 3, 0], &[1, 3, 1, 64], &[1, 1, 1, 1], [0, 0, 0b0010]).resolve(&shape).unwrap();
        assert_eq!(out, vec![1, 0, 64]);
        assert!(spec(&[0], &[1], &[0], [0, 0, 0]).resolve(&shape).is_err());
        assert!(spec(&[0, 9], &[1, 1], &[1, 1], [0, 0, 2]).resolve(&shape).is_err());
    }
}
