//! `i8_8x8_neon_dot`: the dotprod int8 GEMM micro-kernel, SDOT by element
//! (16 multiply-adds per instruction) in `asm!` (the intrinsic is unstable):
//! an 8x8 tile in 16 accumulators (v16–v31); per 16 reduction steps it loads
//! 8 left-hand rows (v0–v7) and 8 weight registers (v8–v15, 4-deep groups of
//! 4 columns) with 8 LDPs and issues 64 SDOTs.

use super::{QTier, QUkernel};
use std::arch::asm;

pub const UKERNEL: QUkernel = QUkernel { name: "i8_8x8_neon_dot", tier: QTier::NeonDot, mr: 8, nr: 8, kr: 4, ka: 16, kstep: 16, a_xor: 0, run };

/// See [`super::QRunFn`]: per 16 reduction steps, `a` holds 8 rows of 16
/// values and `b` 4 groups of (4 columns x 4 steps, 4 columns x 4 steps).
///
/// # Safety
/// The [`super::QRunFn`] contract for this kernel's layouts; dotprod is available.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn run(kp: usize, a: *const i8, b: *const i8, acc: *mut i32) {
    let iters = kp / 16;
    // SAFETY: the strip holds iters * 128 bytes and the block iters * 128 bytes (kp is a
    // multiple of 16, 8 rows / 8 columns); acc has 64 writable i32; dotprod is enabled.
    unsafe {
        asm!(
            "movi v16.4s, #0", "movi v17.4s, #0", "movi v18.4s, #0", "movi v19.4s, #0",
            "movi v20.4s, #0", "movi v21.4s, #0", "movi v22.4s, #0", "movi v23.4s, #0",
            "movi v24.4s, #0", "movi v25.4s, #0", "movi v26.4s, #0", "movi v27.4s, #0",
            "movi v28.4s, #0", "movi v29.4s, #0", "movi v30.4s, #0", "movi v31.4s, #0",
            "cbz {n}, 2f",
            "1:",
            "ldp q0, q1, [{a}], #32",
            "ldp q8, q9, [{b}], #32",
            "ldp q2, q3, [{a}], #32",
            "ldp q10, q11, [{b}], #32",
            "sdot v16.4s, v8.16b, v0.4b[0]", "sdot v17.4s, v9.16b, v0.4b[0]",
            "sdot v18.4s, v8.16b, v1.4b[0]", "sdot v19.4s, v9.16b, v1.4b[0]",
            "ldp q4, q5, [{a}], #32",
            "sdot v20.4s, v8.16b, v2.4b[0]", "sdot v21.4s, v9.16b, v2.4b[0]",
            "sdot v22.4s, v8.16b, v3.4b[0]", "sdot v23.4s, v9.16b, v3.4b[0]",
            "ldp q6, q7, [{a}], #32",
            "sdot v24.4s, v8.16b, v4.4b[0]", "sdot v25.4s, v9.16b, v4.4b[0]",
            "sdot v26.4s, v8.16b, v5.4b[0]", "sdot v27.4s, v9.16b, v5.4b[0]",
            "ldp q12, q13, [{b}], #32",
            "sdot v28.4s, v8.16b, v6.4b[0]", "sdot v29.4s, v9.16b, v6.4b[0]",
            "sdot v30.4s, v8.16b, v7.4b[0]", "sdot v31.4s, v9.16b, v7.4b[0]",
            "ldp q14, q15, [{b}], #32",
            "sdot v16.4s, v10.16b, v0.4b[1]", "sdot v17.4s, v11.16b, v0.4b[1]",
            "sdot v18.4s, v10.16b, v1.4b[1]", "sdot v19.4s, v11.16b, v1.4b[1]",
            "sdot v20.4s, v10.16b, v2.4b[1]", "sdot v21.4s, v11.16b, v2.4b[1]",
            "sdot v22.4s, v10.16b, v3.4b[1]", "sdot v23.4s, v11.16b, v3.4b[1]",
            "sdot v24.4s, v10.16b, v4.4b[1]", "sdot v25.4s, v11.16b, v4.4b[1]",
            "sdot v26.4s, v10.16b, v5.4b[1]", "sdot v27.4s, v11.16b, v5.4b[1]",
            "sdot v28.4s, v10.16b, v6.4b[1]", "sdot v29.4s, v11.16b, v6.4b[1]",
            "sdot v30.4s, v10.16b, v7.4b[1]", "sdot v31.4s, v11.16b, v7.4b[1]",
            "sdot v16.4s, v12.16b, v0.4b[2]", "sdot v17.4s, v13.16b, v0.4b[2]",
            "sdot v18.4s, v12.16b, v1.4b[2]", "sdot v19.4s, v13.16b, v1.4b[2]",
            "sdot v20.4s, v12.16b, v2.4b[2]", "sdot v21.4s, v13.16b, v2.4b[2]",
            "sdot v22.4s, v12.16b, v3.4b[2]", "sdot v23.4s, v13.16b, v3.4b[2]",
            "sdot v24.4s, v12.16b, v4.4b[2]", "sdot v25.4s, v13.16b, v4.4b[2]",
            "sdot v26.4s, v12.16b, v5.4b[2]", "sdot v27.4s, v13.16b, v5.4b[2]",
            "sdot v28.4s, v12.16b, v6.4b[2]", "sdot v29.4s, v13.16b, v6.4b[2]",
            "sdot v30.4s, v12.16b, v7.4b[2]", "sdot v31.4s, v13.16b, v7.4b[2]",
            "sdot v16.4s, v14.16b, v0.4b[3]", "sdot v17.4s, v15.16b, v0.4b[3]",
            "sdot v18.4s, v14.16b, v1.4b[3]", "sdot v19.4s, v15.16b, v1.4b[3]",
            "sdot v20.4s, v14.16b, v2.4b[3]", "sdot v21.4s, v15.16b, v2.4b[3]",
            "sdot v22.4s, v14.16b, v3.4b[3]", "sdot v23.4s, v15.16b, v3.4b[3]",
            "sdot v24.4s, v14.16b, v4.4b[3]", "sdot v25.4s, v15.16b, v4.4b[3]",
            "sdot v26.4s, v14.16b, v5.4b[3]", "sdot v27.4s, v15.16b, v5.4b[3]",
            "sdot v28.4s, v14.16b, v6.4b[3]", "sdot v29.4s, v15.16b, v6.4b[3]",
            "sdot v30.4s, v14.16b, v7.4b[3]", "sdot v31.4s, v15.16b, v7.4b[3]",
            "subs {n}, {n}, #1",
            "b.ne 1b",
            "2:",
            "stp q16, q17, [{c}]", "stp q18, q19, [{c}, #32]",
            "stp q20, q21, [{c}, #64]", "stp q22, q23, [{c}, #96]",
            "stp q24, q25, [{c}, #128]", "stp q26, q27, [{c}, #160]",
            "stp q28, q29, [{c}, #192]", "stp q30, q31, [{c}, #224]",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            n = inout(reg) iters => _,
            c = in(reg) acc,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
}
