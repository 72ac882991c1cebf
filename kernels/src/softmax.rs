//! SOFTMAX over the last axis.
//!
//! Per row: the maximum (vector max), then `e = exp(beta * (x - max))`
//! written to the output while summing it, then `out = e / sum`. Tasks are
//! groups of whole rows, so results never depend on the thread count.

use crate::simd::{dispatch, exp, par_chunks, Simd, SimdFn, TASK_WORK};
use crate::Exec;

/// `rows` rows of `len` values: `out = exp(beta*(x - max)) / sum`.
pub fn softmax(exec: Exec, rows: usize, len: usize, beta: f32, input: &[f32], output: &mut [f32]) {
    assert_eq!(input.len(), rows * len, "softmax: input length is not rows * len");
    assert_eq!(output.len(), rows * len, "softmax: output length is not rows * len");
    if output.is_empty() {
        return;
    }
    // exp costs ~20 element-operations.
    let rows_per_task = (TASK_WORK / (20 * len)).max(1);
    par_chunks(exec, output, rows_per_task * len, &|start, part| {
        dispatch(exec.isa, SoftmaxKernel { len, beta, input: &input[start..start + part.len()], out: part });
    });
}

struct SoftmaxKernel<'a> {
    len: usize,
    beta: f32,
    input: &'a [f32],
    out: &'a mut [f32],
}

impl SimdFn for SoftmaxKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        for (x, out) in self.input.chunks(self.len).zip(self.out.chunks_mut(self.len)) {
            softmax_row(s, self.beta, x, out);
        }
    }
}

#[inline(always)]
fn softmax_row<S: Simd>(s: S, beta: f32, x: &[f32], out: &mut [f32]) {
    let n = x.len();
    let w = S::WIDTH;
    // Row maximum.
    let mut m = [s.splat(f32::NEG_INFINITY); 2];
    let mut i = 0;
    while i + 2 * w <= n {
        m[0] = s.max(m[0], s.load(&x[i..]));
        m[1] = s.max(m[1], s.load(&x[i + w..]));
        i += 2 * w;
    }
    while i + w <= n {
        m[0] = s.max(m[0], s.load(&x[i..]));
        i += w;
    }
    if i < n {
        m[1] = s.max(m[1], s.load_partial(&x[i..], f32::NEG_INFINITY));
    }
    let max = s.splat(s.reduce_max(s.max(m[0], m[1])));
    let beta = s.splat(beta);
    // exp(beta * (x - max)), stored and summed.
    let mut sum = [s.splat(0.0); 2];
    let mut i = 0;
    while i + 2 * w <= n {
        let e0 = exp(s, s.mul(s.sub(s.load(&x[i..]), max), beta));
        let e1 = exp(s, s.mul(s.sub(s.load(&x[i + w..]), max), beta));
        s.store(&mut out[i..], e0);
        s.store(&mut out[i + w..], e1);
        sum[0] = s.add(sum[0], e0);
        sum[1] = s.add(sum[1], e1);
        i += 2 * w;
    }
    while i + w <= n {
        let e = exp(s, s.mul(s.sub(s.load(&x[i..]), max), beta));
        s.store(&mut out[i..], e);
        sum[0] = s.add(sum[0], e);
        i += w;
    }
    if i < n {
        let e = exp(s, s.mul(s.sub(s.load_partial(&x[i..], 0.0), max), beta));
        s.store_partial(&mut out[i..], e);
        // Re-read what was stored so the unused lanes add 0.
        sum[1] = s.add(sum[1], s.load_partial(&out[i..], 0.0));
    }
    let sum = s.splat(s.reduce_add(s.add(sum[0], sum[1])));
    let mut i = 0;
    while i + w <= n {
        let v = s.div(s.load(&out[i..]), sum);
        s.store(&mut out[i..], v);
        i += w;
    }
    if i < n {
        let v = s.div(s.load_partial(&out[i..], 0.0), sum);
        s.store_partial(&mut out[i..], v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::*;
    use proptest::prelude::*;

    /// Direct definition in f64.
    fn reference(rows: usize, len: usize, beta: f32, x: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * len);
        if len == 0 {
            return out;
        }
        for r in x.chunks(len).take(rows) {
            let max = r.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let e: Vec<f64> = r.iter().map(|&v| ((v as f64 - max) * beta as f64).exp()).collect();
            let sum: f64 = e.iter().sum();
            out.extend(e.iter().map(|&v| (v / sum) as f32));
        }
        out
    }

    fn check(rows: usize, len: usize, beta: f32, x: &[f32]) {
        let want = reference(rows, len, beta, x);
        for_each_exec_same(|exec| {
            let mut out = vec![f32::NAN; rows * len];
            softmax(exec, rows, len, beta, x, &mut out);
            // Relative to each value (probabilities are small): ~1e-6 plus the sum's rounding,
            // plus the f32 rounding of the exponent's argument (x - max) * beta, whose absolute
            // error (a few ulps of |arg|) becomes a relative error of exp(arg).
            for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                let row = &x[i / len * len..][..len];
                let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let arg = ((x[i] - max) * beta).abs();
                let arg_err = if arg.is_finite() { 3.0 * arg * f32::EPSILON } else { 0.0 };
                let tol = (2e-6 * (1.0 + (len as f32).sqrt()) + arg_err) * w.abs() + 1e-37;
                assert!((g - w).abs() <= tol, "softmax rows={rows} len={len} beta={beta} {}: [{i}] got {g}, want {w}", exec.isa);
            }
            out
        });
    }

    #[test]
    fn lengths_0_to_40_and_large() {
        let mut rng = Rng(3);
        for len in (0..=40).chain([1000, 1001]) {
            let rows = 3;
            check(rows, len, 1.0, &rng.vec(rows * len, -5.0, 5.0));
        }
        check(200, 1000, 1.0, &rng.vec(200_000, -8.0, 8.0));
        check(0, 7, 1.0, &[]);
    }

    #[test]
    fn extremes_and_beta() {
        let mut rng = Rng(4);
        for beta in [0.5, 1.0, 2.5, 0.01] {
            check(4, 19, beta, &rng.vec(4 * 19, -30.0, 30.0));
        }
        // Huge values: the max subtraction keeps exp finite.
        check(2, 10, 1.0, &rng.vec(20, 1e4, 1e4 + 50.0));
        check(1, 5, 1.0, &[1e30, 1e30, -1e30, 0.0, 1e30]);
        check(1, 9, 1.0, &[-1e30; 9]);
        // A dominant entry; the others underflow towards subnormals.
        check(1, 12, 1.0, &[0.0, -90.0, -100.0, -110.0, -200.0, 5.0, -50.0, -87.0, -1.0, -2.0, -3.0, -4.0]);
        // Large negative exponent arguments (~ -68): the f32 argument's rounding dominates.
        check(1, 4, 3.8604772, &[20.0, 2.4377, -19.9, 5.0]);
        check(3, 33, 3.99, &rng.vec(99, -20.0, 20.0));
        // Single element rows are exactly 1.
        let mut out = [0.0; 3];
        for_each_exec(|exec| {
            softmax(exec, 3, 1, 1.7, &[-1e20, 0.0, 3.0], &mut out);
            assert_eq!(out, [1.0; 3]);
        });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_rows(rows in 1usize..5, len in 1usize..70, beta in 0.05f32..4.0, seed in any::<u64>()) {
            let x = Rng(seed | 1).vec(rows * len, -20.0, 20.0);
            check(rows, len, beta, &x);
        }
    }
}
