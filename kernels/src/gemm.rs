//! GEMM: the micro-kernel contract, weight packing, the driver, FULLY_CONNECTED.
//! SCAFFOLD: signatures fixed by the design; bodies are being written.

use crate::{Clamp, Exec, Isa};

/// Weights (the GEMM's right-hand side, `k x n`) packed once at prepare for
/// one tier's micro-kernel, with the bias fused into each NR block.
pub struct PackedWeights {
    pub isa: Isa,
    pub n: usize,
    pub k: usize,
}

impl PackedWeights {
    /// Packs weights stored output-major, `w[o * k + i]` (TFLite's
    /// FULLY_CONNECTED `[n, k]` and CONV_2D `[n, kh, kw, c]` layouts), with an
    /// optional bias of `n` values (zero when absent).
    pub fn pack(isa: Isa, n: usize, k: usize, w_nk: &[f32], bias: Option<&[f32]>) -> PackedWeights {
        let _ = (w_nk, bias);
        unimplemented!("scaffold {isa} {n} {k}")
    }
}

/// `out[m x n] = clamp(a[m x k] (row stride lda) * W + bias)`; `out` has row stride `ldo`.
pub fn gemm(exec: Exec, m: usize, a: &[f32], lda: usize, w: &PackedWeights, out: &mut [f32], ldo: usize, clamp: Clamp) {
    let _ = (exec, m, a, lda, w, out, ldo, clamp);
    unimplemented!("scaffold")
}

/// FULLY_CONNECTED: `rows` input rows of `w.k` values each → `rows` rows of `w.n`.
pub fn fully_connected(exec: Exec, rows: usize, input: &[f32], w: &PackedWeights, out: &mut [f32], clamp: Clamp) {
    gemm(exec, rows, input, w.k, w, out, w.n, clamp)
}
