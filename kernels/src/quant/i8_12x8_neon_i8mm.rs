//! `i8_12x8_neon_i8mm`: the i8mm int8 GEMM micro-kernel, SMMLA (a 2x8 by
//! 8x2 int8 matrix product into a 2x2 int32 tile: 32 multiply-adds per
//! instruction) in `asm!` (the intrinsic is unstable): a 12x8 tile in 24
//! accumulators (v8–v31, one per pair of rows by pair of columns); per 8
//! reduction steps it loads 4 registers of column pairs (v0–v3) and streams 6
//! registers of row pairs (v4–v7) with 5 LDPs, and issues 24 SMMLAs. The 2x2
//! blocks are un-interleaved into rows with ZIP1/ZIP2 once per tile.

use super::{QTier, QUkernel};
use std::arch::asm;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_12x8_neon_i8mm", tier: QTier::NeonI8mm, mr: 12, nr: 8, kr: 8, ka: 8, kstep: 16, a_xor: 0, run };

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
