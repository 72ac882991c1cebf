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
use std::arch::aarch64::int32x4_t;
use std::arch::asm;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_12x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 12, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run };

/// The tile's loop over the 24 accumulators (v8–v31), to the label `2:`
/// after the last 16-step body; `{a}`, `{b}` advance, `{n}` is the count of
/// 16-step bodies and `{n2}` a scratch register. Shared by [`run`] (which
/// zeroes the accumulators first) and [`acc`] (which starts them at the bias).
macro_rules! tile_loop {
    () => {
        concat!(
            // Two 16-step bodies per iteration, then one more when the count is odd.
            "lsr {n2}, {n}, #1\n",
            "cbz {n2}, 3f\n",
            "1:\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "subs {n2}, {n2}, #1\n",
            "b.ne 1b\n",
            "3:\n",
            "tbz {n}, #0, 2f\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "ldp q0, q1, [{b}], #32\n",
            "ldp q2, q3, [{b}], #32\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v8.4s, v4.16b, v0.16b\n", "smmla v9.4s, v4.16b, v1.16b\n", "smmla v10.4s, v4.16b, v2.16b\n", "smmla v11.4s, v4.16b, v3.16b\n",
            "ldp q6, q7, [{a}], #32\n",
            "smmla v12.4s, v5.16b, v0.16b\n", "smmla v13.4s, v5.16b, v1.16b\n", "smmla v14.4s, v5.16b, v2.16b\n", "smmla v15.4s, v5.16b, v3.16b\n",
            "smmla v16.4s, v6.16b, v0.16b\n", "smmla v17.4s, v6.16b, v1.16b\n", "smmla v18.4s, v6.16b, v2.16b\n", "smmla v19.4s, v6.16b, v3.16b\n",
            "ldp q4, q5, [{a}], #32\n",
            "smmla v20.4s, v7.16b, v0.16b\n", "smmla v21.4s, v7.16b, v1.16b\n", "smmla v22.4s, v7.16b, v2.16b\n", "smmla v23.4s, v7.16b, v3.16b\n",
            "smmla v24.4s, v4.16b, v0.16b\n", "smmla v25.4s, v4.16b, v1.16b\n", "smmla v26.4s, v4.16b, v2.16b\n", "smmla v27.4s, v4.16b, v3.16b\n",
            "smmla v28.4s, v5.16b, v0.16b\n", "smmla v29.4s, v5.16b, v1.16b\n", "smmla v30.4s, v5.16b, v2.16b\n", "smmla v31.4s, v5.16b, v3.16b\n",
            "2:\n",
        )
    };
}

/// See [`super::QRunFn`]: per 8 reduction steps, `a` holds rows 0..12 of 8
/// values each (row pairs = SMMLA's left operand) and `b` columns 0..8 of 8
/// values each (column pairs = its right operand).
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; i8mm is available.
#[target_feature(enable = "neon,i8mm")]
pub unsafe fn run(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    let iters = kp / 16;
    // SAFETY: the strip holds iters * 192 bytes and the block iters * 128 bytes (kp is a
    // multiple of 16, 12 rows / 8 columns); acc has 96 writable i32; i8mm is enabled.
    unsafe {
        asm!(
            "movi v8.4s, #0", "movi v9.4s, #0", "movi v10.4s, #0", "movi v11.4s, #0",
            "movi v12.4s, #0", "movi v13.4s, #0", "movi v14.4s, #0", "movi v15.4s, #0",
            "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
            "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0",
            "movi v24.4s, #0", "movi v25.4s, #0", "movi v26.4s, #0", "movi v27.4s, #0",
            "movi v28.4s, #0", "movi v29.4s, #0", "movi v30.4s, #0", "movi v31.4s, #0",
            tile_loop!(),
            "zip1 v0.2d, v8.2d, v9.2d", "zip1 v1.2d, v10.2d, v11.2d", "zip2 v2.2d, v8.2d, v9.2d", "zip2 v3.2d, v10.2d, v11.2d",
            "stp q0, q1, [{c}, #0]", "stp q2, q3, [{c}, #32]",
            "zip1 v0.2d, v12.2d, v13.2d", "zip1 v1.2d, v14.2d, v15.2d", "zip2 v2.2d, v12.2d, v13.2d", "zip2 v3.2d, v14.2d, v15.2d",
            "stp q0, q1, [{c}, #64]", "stp q2, q3, [{c}, #96]",
            "zip1 v0.2d, v16.2d, v17.2d", "zip1 v1.2d, v18.2d, v19.2d", "zip2 v2.2d, v16.2d, v17.2d", "zip2 v3.2d, v18.2d, v19.2d",
            "stp q0, q1, [{c}, #128]", "stp q2, q3, [{c}, #160]",
            "zip1 v0.2d, v20.2d, v21.2d", "zip1 v1.2d, v22.2d, v23.2d", "zip2 v2.2d, v20.2d, v21.2d", "zip2 v3.2d, v22.2d, v23.2d",
            "stp q0, q1, [{c}, #192]", "stp q2, q3, [{c}, #224]",
            "zip1 v0.2d, v24.2d, v25.2d", "zip1 v1.2d, v26.2d, v27.2d", "zip2 v2.2d, v24.2d, v25.2d", "zip2 v3.2d, v26.2d, v27.2d",
            "stp q0, q1, [{c}, #256]", "stp q2, q3, [{c}, #288]",
            "zip1 v0.2d, v28.2d, v29.2d", "zip1 v1.2d, v30.2d, v31.2d", "zip2 v2.2d, v28.2d, v29.2d", "zip2 v3.2d, v30.2d, v31.2d",
            "stp q0, q1, [{c}, #320]", "stp q2, q3, [{c}, #352]",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = in(reg) iters,
            n2 = out(reg) _,
            c = in(reg) acc,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
}

/// The tile of [`run`] left in registers, as SMMLA's 2x2 blocks: accumulator
/// `4·p + q` holds rows `2p, 2p + 1` by columns `2q, 2q + 1` as
/// `[r0c0, r0c1, r1c0, r1c1]`, and starts at `init[q]` (the bias of those
/// columns, in that layout) instead of zero. For an output stage fused after
/// the loop (`super::neon_fused`).
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
            tile_loop!(),
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
