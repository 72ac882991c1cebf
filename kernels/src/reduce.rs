//! MEAN over any set of axes.
//!
//! The shape is first canonicalised: dimensions of size 1 are dropped and
//! neighbouring dimensions that are both reduced or both kept are merged, so
//! e.g. a spatial mean of NHWC becomes `[N kept, H*W reduced, C kept]`.
//! Two kernels then cover every case:
//! - innermost dimension kept (spatial mean, any "channels stay" mean): the
//!   kept inner row is the vector dimension; each output vector accumulates
//!   over all reduced positions in registers;
//! - innermost dimension reduced: each output is a sum of contiguous runs,
//!   vectorised along the run with several accumulators.
//!
//! Accumulation is in f32 like TFLite, with one improvement: the kept-inner
//! kernel sums blocks of 256 reduced positions separately before adding them
//! to the running total, and the reduced-inner kernel sums each run in
//! independent vector lanes; both have smaller rounding error than TFLite's
//! sequential sum. The sum is then divided by the number of reduced elements.
//! Each output element is computed entirely within one task, in an order that
//! does not depend on the split, so results never depend on the thread count.

use crate::simd::{chunk_for, dispatch, par_chunks, Simd, SimdFn, TASK_WORK};
use crate::Exec;

/// Mean of `input` (shape `shape`) over `axes` (sorted, unique, each < rank);
/// `output` holds the product of the kept dimensions, in order.
pub fn mean(exec: Exec, input: &[f32], shape: &[usize], axes: &[usize], output: &mut [f32]) {
    assert!(axes.windows(2).all(|p| p[0] < p[1]), "mean: axes must be sorted and unique");
    assert!(axes.iter().all(|&a| a < shape.len()), "mean: axis out of range");
    assert_eq!(input.len(), shape.iter().product::<usize>(), "mean: input length does not match its shape");
    let kept: usize = shape.iter().enumerate().filter(|(d, _)| !axes.contains(d)).map(|(_, &s)| s).product();
    assert_eq!(output.len(), kept, "mean: output length is not the product of the kept dimensions");
    if output.is_empty() {
        return;
    }
    let plan = Plan::new(shape, axes);
    par_chunks(exec, output, chunk_for(plan.count, TASK_WORK), &|start, part| {
        dispatch(exec.isa, MeanKernel { plan: &plan, input, start, out: part });
    });
}

const MAX_DIMS: usize = 8;

/// A list of dimensions (outermost first) with their input strides.
#[derive(Clone, Copy, Debug, Default)]
struct Dims {
    size: [usize; MAX_DIMS],
    stride: [usize; MAX_DIMS],
    len: usize,
}

impl Dims {
    fn push(&mut self, size: usize, stride: usize) {
        assert!(self.len < MAX_DIMS, "mean: too many dimensions");
        self.size[self.len] = size;
        self.stride[self.len] = stride;
        self.len += 1;
    }
    /// Input offset of the `i`-th index (row-major over these dims).
    #[inline(always)]
    fn offset(&self, mut i: usize) -> usize {
        let mut off = 0;
        for d in (0..self.len).rev() {
            off += (i % self.size[d]) * self.stride[d];
            i /= self.size[d];
        }
        off
    }
}

/// Walks the input offsets of every index of a [`Dims`] in row-major order.
struct Odometer<'a> {
    dims: &'a Dims,
    idx: [usize; MAX_DIMS],
    off: usize,
}

impl<'a> Odometer<'a> {
    #[inline(always)]
    fn new(dims: &'a Dims) -> Self {
        Odometer { dims, idx: [0; MAX_DIMS], off: 0 }
    }
    #[inline(always)]
    fn advance(&mut self) {
        let d = self.dims;
        for k in (0..d.len).rev() {
            self.idx[k] += 1;
            self.off += d.stride[k];
            if self.idx[k] < d.size[k] {
                return;
            }
            self.off -= d.stride[k] * d.size[k];
            self.idx[k] = 0;
        }
    }
}

#[derive(Debug)]
struct Plan {
    /// Kept dimensions except the innermost when it is kept.
    kept_outer: Dims,
    /// Reduced dimensions except the innermost when it is reduced.
    reduced: Dims,
    /// Innermost dimension: its size and whether it is reduced.
    inner: usize,
    inner_reduced: bool,
    /// Number of reduced elements per output.
    count: usize,
}

impl Plan {
    fn new(shape: &[usize], axes: &[usize]) -> Plan {
        // Canonical (size, reduced) dims, size-1 dims dropped, like neighbours merged.
        let mut dims: Vec<(usize, bool)> = Vec::with_capacity(shape.len());
        for (d, &size) in shape.iter().enumerate() {
            let red = axes.contains(&d);
            if size == 1 {
                continue;
            }
            match dims.last_mut() {
                Some(last) if last.1 == red => last.0 *= size,
                _ => dims.push((size, red)),
            }
        }
        let count: usize = dims.iter().filter(|d| d.1).map(|d| d.0).product();
        let (inner, inner_reduced) = dims.pop().unwrap_or((1, false));
        let mut kept_outer = Dims::default();
        let mut reduced = Dims::default();
        let mut stride = inner;
        for &(size, red) in dims.iter().rev() {
            if red {
                reduced.push(size, stride);
            } else {
                kept_outer.push(size, stride);
            }
            stride *= size;
        }
        for d in [&mut kept_outer, &mut reduced] {
            d.size[..d.len].reverse();
            d.stride[..d.len].reverse();
        }
        Plan { kept_outer, reduced, inner, inner_reduced, count }
    }
}

struct MeanKernel<'a> {
    plan: &'a Plan,
    input: &'a [f32],
    /// Index of `out[0]` in the whole output.
    start: usize,
    out: &'a mut [f32],
}

impl SimdFn for MeanKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        if self.plan.inner_reduced {
            mean_inner_reduced(s, self)
        } else {
            mean_inner_kept(s, self)
        }
    }
}

/// Reduced positions summed into a block before joining the running total.
const BLOCK: usize = 256;

/// Innermost dimension kept: output rows of `inner` values, vectorised along the row.
#[inline(always)]
fn mean_inner_kept<S: Simd>(s: S, k: MeanKernel) {
    let p = k.plan;
    let w = S::WIDTH;
    let row_len = p.inner;
    let count_v = s.splat(p.count as f32);
    let end = k.start + k.out.len();
    let mut pos = k.start;
    while pos < end {
        let (row, col) = (pos / row_len, pos % row_len);
        let len = (row_len - col).min(end - pos);
        let base = p.kept_outer.offset(row) + col;
        let out = &mut k.out[pos - k.start..pos - k.start + len];
        let mut c0 = 0;
        // Up to four vectors of the row at a time, all reduced positions.
        while c0 < len {
            let nv = ((len - c0) / w).clamp(1, 4);
            let lanes = if len - c0 < w { len - c0 } else { nv * w };
            let mut total = [s.splat(0.0); 4];
            let mut block = [s.splat(0.0); 4];
            let mut odo = Odometer::new(&p.reduced);
            for r in 0..p.count {
                let src = &k.input[base + odo.off + c0..];
                if lanes < w {
                    block[0] = s.add(block[0], s.load_partial(&src[..lanes], 0.0));
                } else {
                    for (j, b) in block.iter_mut().enumerate().take(nv) {
                        *b = s.add(*b, s.load(&src[j * w..]));
                    }
                }
                if (r + 1) % BLOCK == 0 {
                    for j in 0..nv {
                        total[j] = s.add(total[j], block[j]);
                        block[j] = s.splat(0.0);
                    }
                }
                odo.advance();
            }
            for j in 0..nv {
                let v = s.div(s.add(total[j], block[j]), count_v);
                if lanes < w {
                    s.store_partial(&mut out[c0..c0 + lanes], v);
                } else {
                    s.store(&mut out[c0 + j * w..], v);
                }
            }
            c0 += lanes;
        }
        pos += len;
    }
}

/// Innermost dimension reduced: each output sums contiguous runs of `inner`.
#[inline(always)]
fn mean_inner_reduced<S: Simd>(s: S, k: MeanKernel) {
    let p = k.plan;
    let w = S::WIDTH;
    let run = p.inner;
    let runs = p.count / run.max(1);
    for (i, o) in k.out.iter_mut().enumerate() {
        let base = p.kept_outer.offset(k.start + i);
        let mut odo = Odometer::new(&p.reduced);
        let mut total = 0.0f32;
        for _ in 0..runs {
            let x = &k.input[base + odo.off..base + odo.off + run];
            let mut acc = [s.splat(0.0); 4];
            let mut j = 0;
            while j + 4 * w <= run {
                for (q, a) in acc.iter_mut().enumerate() {
                    *a = s.add(*a, s.load(&x[j + q * w..]));
                }
                j += 4 * w;
            }
            while j + w <= run {
                acc[0] = s.add(acc[0], s.load(&x[j..]));
                j += w;
            }
            if j < run {
                acc[1] = s.add(acc[1], s.load_partial(&x[j..], 0.0));
            }
            let v = s.add(s.add(acc[0], acc[1]), s.add(acc[2], acc[3]));
            total += s.reduce_add(v);
            odo.advance();
        }
        *o = total / p.count as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::*;
    use proptest::prelude::*;

    /// Direct definition in f64.
    fn reference(x: &[f32], shape: &[usize], axes: &[usize]) -> Vec<f32> {
        let rank = shape.len();
        let out_dims: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).map(|d| shape[d]).collect();
        let n_out: usize = out_dims.iter().product();
        let mut sum = vec![0.0f64; n_out];
        let mut cnt = vec![0usize; n_out];
        for (i, &v) in x.iter().enumerate() {
            let mut rem = i;
            let mut idx = vec![0; rank];
            for d in (0..rank).rev() {
                idx[d] = rem % shape[d];
                rem /= shape[d];
            }
            let o = (0..rank).filter(|d| !axes.contains(d)).fold(0, |acc, d| acc * shape[d] + idx[d]);
            sum[o] += v as f64;
            cnt[o] += 1;
        }
        sum.iter().zip(&cnt).map(|(&s, &c)| (s / c as f64) as f32).collect()
    }

    fn check(shape: &[usize], axes: &[usize], seed: u64) {
        let x = Rng(seed).vec(shape.iter().product(), -2.0, 3.0);
        let want = reference(&x, shape, axes);
        let count: usize = axes.iter().map(|&a| shape[a]).product();
        let tol = 1e-6 * (count as f32).sqrt().max(1.0) * 4.0;
        for_each_exec_same(|exec| {
            let mut out = vec![f32::NAN; want.len()];
            mean(exec, &x, shape, axes, &mut out);
            assert_close(&out, &want, tol, &format!("mean {shape:?} axes {axes:?} {}", exec.isa));
            out
        });
    }

    #[test]
    fn every_axis_subset_of_rank_4() {
        let shape = [2, 3, 5, 7];
        for mask in 0..16u32 {
            let axes: Vec<usize> = (0..4).filter(|d| mask & (1 << d) != 0).collect();
            check(&shape, &axes, mask as u64 + 1);
            check(&[3, 1, 4, 9], &axes, mask as u64 + 50);
        }
    }

    #[test]
    fn spatial_mean_odd_channels() {
        for c in (1..=40).chain([64, 1280]) {
            check(&[2, 4, 5, c], &[1, 2], c as u64);
        }
        // Long reductions and many outputs (several tasks).
        check(&[1, 56, 56, 24], &[1, 2], 1);
        check(&[1, 7, 7, 1280], &[1, 2], 2);
    }

    #[test]
    fn inner_axis_lengths() {
        for n in 1..=40 {
            check(&[3, n], &[1], n as u64);
            check(&[n, 2, 3], &[0, 2], n as u64 + 100);
        }
        check(&[4, 10_001], &[1], 7);
        check(&[300, 300], &[1], 8);
    }

    #[test]
    fn rank_1_5_and_6() {
        check(&[17], &[0], 1);
        check(&[17], &[], 2);
        check(&[2, 3, 2, 3, 2], &[0, 2, 4], 3);
        check(&[2, 2, 3, 2, 3, 2], &[1, 3], 4);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_shapes_and_axes(shape in proptest::collection::vec(1usize..7, 1..6), mask in any::<u8>(), seed in any::<u64>()) {
            let axes: Vec<usize> = (0..shape.len()).filter(|d| mask & (1 << d) != 0).collect();
            check(&shape, &axes, seed | 1);
        }
    }
}
