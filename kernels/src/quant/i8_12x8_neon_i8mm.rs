//! `i8_12x8_neon_i8mm`: the i8mm int8 GEMM micro-kernel, SMMLA (a 2x8 by
//! 8x2 int8 matrix product into a 2x2 int32 tile: 32 multiply-adds per
//! instruction) in `asm!` (the intrinsic is unstable): a 12x8 tile in 24
//! accumulators (v8–v31, one per pair of rows by pair of columns); per 8
//! reduction steps it loads 4 registers of column pairs (v0–v3) and streams 6
//! registers of row pairs (v4–v7) with 5 LDPs, and issues 24 SMMLAs. The 2x2
//! blocks are un-interleaved into rows with ZIP1/ZIP2 once per tile; `acc`
//! starts them at the bias and leaves them in registers for an output stage
//! fused after the loop.

use super::{QTier, QUkernel};
use std::arch::aarch64::*;
use std::arch::asm;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_12x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 12, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run };

/// See [`super::QRunFn`]: per 8 reduction steps, `a` holds rows 0..12 of 8
/// values each (row pairs = SMMLA's left operand) and `b` columns 0..8 of 8
/// values each (column pairs = its right operand). The tile of [`acc`] from
/// zero, its 2x2 blocks un-interleaved into rows (ZIP1/ZIP2) and stored.
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; i8mm is available.
#[target_feature(enable = "neon,i8mm")]
pub unsafe fn run(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    // SAFETY: the caller's contract; acc has 96 writable i32 (row i's 8 at 8·i).
    unsafe {
        let c = self::acc(kp, a, b, [vdupq_n_s32(0); 4]);
        let zip = |x: int32x4_t, y: int32x4_t| {
            let (x, y) = (vreinterpretq_s64_s32(x), vreinterpretq_s64_s32(y));
            (vreinterpretq_s32_s64(vzip1q_s64(x, y)), vreinterpretq_s32_s64(vzip2q_s64(x, y)))
        };
        for p in 0..6 {
            let ((r0a, r1a), (r0b, r1b)) = (zip(c[4 * p], c[4 * p + 1]), zip(c[4 * p + 2], c[4 * p + 3]));
            let row = acc.add(16 * p);
            vst1q_s32(row, r0a);
            vst1q_s32(row.add(4), r0b);
            vst1q_s32(row.add(8), r1a);
            vst1q_s32(row.add(12), r1b);
        }
    }
}

/// The tile of [`run`] left in registers, as SMMLA's 2x2 blocks: accumulator
/// `4·p + q` holds rows `2p, 2p + 1` by columns `2q, 2q + 1` as
/// `[r0c0, r0c1, r1c0, r1c1]`, and starts at `init[q]` (the bias of those
/// columns in that layout, for an output stage fused after the loop:
/// `super::neon_fused`; or zero, for [`run`]). Per 8 reduction steps it
/// loads 4 registers of column pairs and streams 6 of row pairs.
///
/// # Safety
/// As [`run`], without `acc`.
#[target_feature(enable = "neon,i8mm")]
#[inline]
pub unsafe fn acc(kp: usize, a: *const i8, b: *const i8, init: [int32x4_t; 4]) -> [int32x4_t; 24] {
    let iters = kp / 16;
    let [i0, i1, i2, i3] = init;
    let c: [int32x4_t; 24];
    // SAFETY: the strip holds iters * 192 bytes and the block iters * 128 bytes (kp is a
    // multiple of 16, 12 rows / 8 columns); i8mm is enabled.
    unsafe {
        let (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11);
        let (c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23);
        asm!(
            // Two 16-step bodies per iteration, then one more when the count is odd.
            "lsr {n2}, {n}, #1",
            "cbz {n2}, 3f",
            "1:",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "subs {n2}, {n2}, #1",
            "b.ne 1b",
            "3:",
            "tbz {n}, #0, 2f",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "ldp q0, q1, [{b}], #32",
            "ldp q2, q3, [{b}], #32",
            "ldp q4, q5, [{a}], #32",
            "smmla v8.4s, v4.16b, v0.16b", "smmla v9.4s, v4.16b, v1.16b", "smmla v10.4s, v4.16b, v2.16b", "smmla v11.4s, v4.16b, v3.16b",
            "ldp q6, q7, [{a}], #32",
            "smmla v12.4s, v5.16b, v0.16b", "smmla v13.4s, v5.16b, v1.16b", "smmla v14.4s, v5.16b, v2.16b", "smmla v15.4s, v5.16b, v3.16b",
            "smmla v16.4s, v6.16b, v0.16b", "smmla v17.4s, v6.16b, v1.16b", "smmla v18.4s, v6.16b, v2.16b", "smmla v19.4s, v6.16b, v3.16b",
            "ldp q4, q5, [{a}], #32",
            "smmla v20.4s, v7.16b, v0.16b", "smmla v21.4s, v7.16b, v1.16b", "smmla v22.4s, v7.16b, v2.16b", "smmla v23.4s, v7.16b, v3.16b",
            "smmla v24.4s, v4.16b, v0.16b", "smmla v25.4s, v4.16b, v1.16b", "smmla v26.4s, v4.16b, v2.16b", "smmla v27.4s, v4.16b, v3.16b",
            "smmla v28.4s, v5.16b, v0.16b", "smmla v29.4s, v5.16b, v1.16b", "smmla v30.4s, v5.16b, v2.16b", "smmla v31.4s, v5.16b, v3.16b",
            "2:",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = in(reg) iters,
            n2 = out(reg) _,
            inout("v8") i0 => c0, inout("v9") i1 => c1, inout("v10") i2 => c2, inout("v11") i3 => c3,
            inout("v12") i0 => c4, inout("v13") i1 => c5, inout("v14") i2 => c6, inout("v15") i3 => c7,
            inout("v16") i0 => c8, inout("v17") i1 => c9, inout("v18") i2 => c10, inout("v19") i3 => c11,
            inout("v20") i0 => c12, inout("v21") i1 => c13, inout("v22") i2 => c14, inout("v23") i3 => c15,
            inout("v24") i0 => c16, inout("v25") i1 => c17, inout("v26") i2 => c18, inout("v27") i3 => c19,
            inout("v28") i0 => c20, inout("v29") i1 => c21, inout("v30") i2 => c22, inout("v31") i3 => c23,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            options(nostack),
        );
        c = [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23];
    }
    c
}
