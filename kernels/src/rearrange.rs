//! Index rearrangements: DEPTH_TO_SPACE and STRIDED_SLICE. Both are
//! copies reduced to their longest contiguous runs.

use crate::Nhwc;

/// DEPTH_TO_SPACE (TFLite/TF "DCR" order): output `[n, h*b, w*b, c/(b*b)]`,
/// `out[n, y*b + dy, x*b + dx, k] = in[n, y, x, (dy*b + dx)*oc + k]`.
pub fn depth_to_space(in_shape: Nhwc, input: &[f32], block: usize, output: &mut [f32]) {
    assert!(block >= 1 && in_shape.c.is_multiple_of(block * block), "depth_to_space: channels not a multiple of block^2");
    assert_eq!(input.len(), in_shape.len(), "depth_to_space: input length does not match its shape");
    assert_eq!(output.len(), input.len(), "depth_to_space: output length does not match");
    let oc = in_shape.c / (block * block);
    let (ow, run) = (in_shape.w * block, oc * block); // one (y, x, dy) row of the input is b*oc contiguous outputs
    for n in 0..in_shape.n {
        for y in 0..in_shape.h {
            for x in 0..in_shape.w {
                let src = &input[((n * in_shape.h + y) * in_shape.w + x) * in_shape.c..][..in_shape.c];
                for dy in 0..block {
                    let dst = ((n * in_shape.h * block + y * block + dy) * ow + x * block) * oc;
                    output[dst..dst + run].copy_from_slice(&src[dy * run..(dy + 1) * run]);
                }
            }
        }
    }
}

/// One axis of a resolved strided slice: `count` elements from `start`, step `stride` (non-zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceAxis {
    pub start: usize,
    pub stride: isize,
    pub count: usize,
}

/// Gathers `out[i0, i1, ...] = in[start0 + i0*stride0, ...]` (row-major, same rank).
pub fn strided_slice(input: &[f32], shape: &[usize], axes: &[SliceAxis], output: &mut [f32]) {
    assert_eq!(axes.len(), shape.len(), "strided_slice: one axis per dimension");
    assert_eq!(input.len(), shape.iter().product::<usize>(), "strided_slice: input length does not match its shape");
    assert_eq!(output.len(), axes.iter().map(|a| a.count).product::<usize>(), "strided_slice: output length does not match");
    for (a, &s) in axes.iter().zip(shape) {
        if a.count > 0 {
            let last = a.start as isize + (a.count as isize - 1) * a.stride;
            assert!(a.start < s && (0..s as isize).contains(&last), "strided_slice: axis out of bounds");
        }
    }
    if output.is_empty() {
        return;
    }
    let mut strides = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let mut pos = 0;
    slice_dim(input, &strides, axes, 0, 0, output, &mut pos);
}

fn slice_dim(input: &[f32], strides: &[usize], axes: &[SliceAxis], d: usize, base: usize, out: &mut [f32], pos: &mut usize) {
    if d == axes.len() {
        out[*pos] = input[base];
        *pos += 1;
        return;
    }
    let a = axes[d];
    if d + 1 == axes.len() && a.stride == 1 {
        out[*pos..*pos + a.count].copy_from_slice(&input[base + a.start..base + a.start + a.count]);
        *pos += a.count;
        return;
    }
    for i in 0..a.count {
        let idx = (a.start as isize + i as isize * a.stride) as usize;
        slice_dim(input, strides, axes, d + 1, base + idx * strides[d], out, pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 * 0.5 - 7.0).collect()
    }

    #[test]
    fn depth_to_space_matches_the_definition() {
        for (n, h, w, b, oc) in [(1, 1, 1, 2, 1), (2, 3, 4, 2, 3), (1, 2, 5, 3, 2), (1, 4, 4, 1, 5)] {
            let s = Nhwc { n, h, w, c: b * b * oc };
            let x = seq(s.len());
            let mut out = vec![0.0; s.len()];
            depth_to_space(s, &x, b, &mut out);
            for (i, &v) in out.iter().enumerate() {
                let k = i % oc;
                let ox = (i / oc) % (w * b);
                let oy = (i / oc / (w * b)) % (h * b);
                let nn = i / oc / (w * b) / (h * b);
                let src = ((nn * h + oy / b) * w + ox / b) * s.c + ((oy % b) * b + ox % b) * oc + k;
                assert_eq!(v, x[src], "{n} {h} {w} {b} {oc} at {i}");
            }
        }
    }

    #[test]
    fn strided_slice_matches_the_definition() {
        let shape = [2usize, 3, 5, 4];
        let x = seq(120);
        let cases = [
            vec![(0, 1, 2), (0, 1, 3), (0, 1, 5), (0, 1, 4)],
            vec![(1, 1, 1), (2, -1, 3), (4, -2, 3), (1, 2, 2)],
            vec![(0, 1, 2), (1, 1, 2), (0, 3, 2), (0, 1, 2)],
            vec![(0, 1, 0), (0, 1, 3), (0, 1, 5), (0, 1, 4)],
        ];
        for case in cases {
            let axes: Vec<SliceAxis> = case.iter().map(|&(start, stride, count)| SliceAxis { start, stride, count }).collect();
            let n: usize = axes.iter().map(|a| a.count).product();
            let mut out = vec![0.0; n];
            strided_slice(&x, &shape, &axes, &mut out);
            let mut want = Vec::new();
            for i0 in 0..axes[0].count {
                for i1 in 0..axes[1].count {
                    for i2 in 0..axes[2].count {
                        for i3 in 0..axes[3].count {
                            let at = |d: usize, i: usize| (axes[d].start as isize + i as isize * axes[d].stride) as usize;
                            want.push(x[((at(0, i0) * 3 + at(1, i1)) * 5 + at(2, i2)) * 4 + at(3, i3)]);
                        }
                    }
                }
            }
            assert_eq!(out, want, "{case:?}");
        }
    }
}
