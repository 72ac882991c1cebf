//! Batched matrix multiply of two activations (torch `mm`/`bmm`/`matmul`
//! with no constant operand): the right-hand side is packed per call into
//! the GEMM micro-kernel's layout, then each batch runs the GEMM driver.

use crate::gemm::{gemm, PackedWeights};
use crate::{Clamp, Exec};

/// `out[b] = a[b] (m x k) * bm[b] (k x n)` for `b` in `0..batch`; every
/// operand is contiguous and row-major.
pub fn batch_matmul(exec: Exec, batch: usize, m: usize, k: usize, n: usize, a: &[f32], bm: &[f32], out: &mut [f32]) {
    assert_eq!(a.len(), batch * m * k, "batch_matmul: lhs length");
    assert_eq!(bm.len(), batch * k * n, "batch_matmul: rhs length");
    assert_eq!(out.len(), batch * m * n, "batch_matmul: output length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(0.0);
        return;
    }
    let mut bt = vec![0.0f32; n * k];
    for b in 0..batch {
        let rhs = &bm[b * k * n..(b + 1) * k * n];
        // The packer takes the weights as n rows of k.
        for (kk, row) in rhs.chunks_exact(n).enumerate() {
            for (j, &v) in row.iter().enumerate() {
                bt[j * k + kk] = v;
            }
        }
        let w = PackedWeights::pack(exec.isa, n, k, &bt, None);
        gemm(exec, m, &a[b * m * k..(b + 1) * m * k], k, &w, &mut out[b * m * n..(b + 1) * m * n], n, Clamp::NONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::{assert_close, for_each_exec, Rng};

    #[test]
    fn matches_reference() {
        let mut rng = Rng(11);
        for &(batch, m, k, n) in &[(1, 1, 1, 1), (2, 7, 5, 3), (3, 13, 17, 33), (1, 6, 64, 16), (2, 25, 9, 31), (1, 4, 0, 3)] {
            let a = rng.vec(batch * m * k, -1.0, 1.0);
            let bm = rng.vec(batch * k * n, -1.0, 1.0);
            let mut want = vec![0.0f32; batch * m * n];
            for b in 0..batch {
                for i in 0..m {
                    for j in 0..n {
                        let mut s = 0.0f64;
                        for kk in 0..k {
                            s += a[(b * m + i) * k + kk] as f64 * bm[(b * k + kk) * n + j] as f64;
                        }
                        want[(b * m + i) * n + j] = s as f32;
                    }
                }
            }
            for_each_exec(|exec| {
                let mut out = vec![f32::NAN; batch * m * n];
                batch_matmul(exec, batch, m, k, n, &a, &bm, &mut out);
                assert_close(&out, &want, 1e-5 * (k.max(1) as f32).sqrt(), &format!("bmm {batch}x{m}x{k}x{n} {}", exec.isa));
            });
        }
    }
}
