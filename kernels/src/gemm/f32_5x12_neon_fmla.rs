//! `f32_5x12_neon_fmla`: 5 rows by 12 columns, `kr = 1`, for aarch64 Neon.
//! Fifteen q accumulators, for widths where 16-wide blocks would pad (n = 24,
//! 40, ...); per 480 multiply-adds in the assembly loop: 120 FMLA + 5 + 8
//! loads + 2 loop instructions, 0.281 instructions per MAC.
//! Driver: [`super::f32_neon_ldp`].

use super::f32_neon_ldp::neon_ldp_driver;
use super::GemmUkernel;
use crate::Isa;
use std::arch::aarch64::*;

pub const MR: usize = 5;
/// q registers per row of the tile.
const NB: usize = 3;
pub const NR: usize = 4 * NB;
pub const KR: usize = 1;

pub const UKERNEL: GemmUkernel = GemmUkernel {
    name: "f32_5x12_neon_fmla",
    isa: Isa::Neon,
    mr: MR,
    nr: NR,
    kr: KR,
    run,
    run_indirect,
};

neon_ldp_driver!();

/// `n8` blocks of 8 reduction steps: per block one `ldp` of 8 floats from each
/// row (v16-v25), then per step one `ld1` of the 12 packed weights
/// (v26-v28) and 15 FMLA by element into v0-v14.
///
/// # Safety
/// `n8 > 0`; every `a[r]` points at `8 * n8` readable floats, `w` at `96 * n8`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn reduce8(acc: &mut Acc, a: &mut [*const f32; MR], w: &mut *const f32, n8: usize) {
    let [[c0, c1, c2], [c3, c4, c5], [c6, c7, c8], [c9, c10, c11], [c12, c13, c14]] = acc;
    let [a0, a1, a2, a3, a4] = a;
    // SAFETY: the loop reads 8 * n8 floats from each row pointer and 96 * n8
    // from w (the caller's contract), advances them past what it read, writes
    // no memory and changes only the accumulators and the declared scratch registers.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldp q16, q17, [{a0}], #32",
            "ldp q18, q19, [{a1}], #32",
            "ldp q20, q21, [{a2}], #32",
            "ldp q22, q23, [{a3}], #32",
            "ldp q24, q25, [{a4}], #32",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v16.s[0]",
            "fmla v1.4s, v27.4s, v16.s[0]",
            "fmla v2.4s, v28.4s, v16.s[0]",
            "fmla v3.4s, v26.4s, v18.s[0]",
            "fmla v4.4s, v27.4s, v18.s[0]",
            "fmla v5.4s, v28.4s, v18.s[0]",
            "fmla v6.4s, v26.4s, v20.s[0]",
            "fmla v7.4s, v27.4s, v20.s[0]",
            "fmla v8.4s, v28.4s, v20.s[0]",
            "fmla v9.4s, v26.4s, v22.s[0]",
            "fmla v10.4s, v27.4s, v22.s[0]",
            "fmla v11.4s, v28.4s, v22.s[0]",
            "fmla v12.4s, v26.4s, v24.s[0]",
            "fmla v13.4s, v27.4s, v24.s[0]",
            "fmla v14.4s, v28.4s, v24.s[0]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v16.s[1]",
            "fmla v1.4s, v27.4s, v16.s[1]",
            "fmla v2.4s, v28.4s, v16.s[1]",
            "fmla v3.4s, v26.4s, v18.s[1]",
            "fmla v4.4s, v27.4s, v18.s[1]",
            "fmla v5.4s, v28.4s, v18.s[1]",
            "fmla v6.4s, v26.4s, v20.s[1]",
            "fmla v7.4s, v27.4s, v20.s[1]",
            "fmla v8.4s, v28.4s, v20.s[1]",
            "fmla v9.4s, v26.4s, v22.s[1]",
            "fmla v10.4s, v27.4s, v22.s[1]",
            "fmla v11.4s, v28.4s, v22.s[1]",
            "fmla v12.4s, v26.4s, v24.s[1]",
            "fmla v13.4s, v27.4s, v24.s[1]",
            "fmla v14.4s, v28.4s, v24.s[1]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v16.s[2]",
            "fmla v1.4s, v27.4s, v16.s[2]",
            "fmla v2.4s, v28.4s, v16.s[2]",
            "fmla v3.4s, v26.4s, v18.s[2]",
            "fmla v4.4s, v27.4s, v18.s[2]",
            "fmla v5.4s, v28.4s, v18.s[2]",
            "fmla v6.4s, v26.4s, v20.s[2]",
            "fmla v7.4s, v27.4s, v20.s[2]",
            "fmla v8.4s, v28.4s, v20.s[2]",
            "fmla v9.4s, v26.4s, v22.s[2]",
            "fmla v10.4s, v27.4s, v22.s[2]",
            "fmla v11.4s, v28.4s, v22.s[2]",
            "fmla v12.4s, v26.4s, v24.s[2]",
            "fmla v13.4s, v27.4s, v24.s[2]",
            "fmla v14.4s, v28.4s, v24.s[2]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v16.s[3]",
            "fmla v1.4s, v27.4s, v16.s[3]",
            "fmla v2.4s, v28.4s, v16.s[3]",
            "fmla v3.4s, v26.4s, v18.s[3]",
            "fmla v4.4s, v27.4s, v18.s[3]",
            "fmla v5.4s, v28.4s, v18.s[3]",
            "fmla v6.4s, v26.4s, v20.s[3]",
            "fmla v7.4s, v27.4s, v20.s[3]",
            "fmla v8.4s, v28.4s, v20.s[3]",
            "fmla v9.4s, v26.4s, v22.s[3]",
            "fmla v10.4s, v27.4s, v22.s[3]",
            "fmla v11.4s, v28.4s, v22.s[3]",
            "fmla v12.4s, v26.4s, v24.s[3]",
            "fmla v13.4s, v27.4s, v24.s[3]",
            "fmla v14.4s, v28.4s, v24.s[3]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v17.s[0]",
            "fmla v1.4s, v27.4s, v17.s[0]",
            "fmla v2.4s, v28.4s, v17.s[0]",
            "fmla v3.4s, v26.4s, v19.s[0]",
            "fmla v4.4s, v27.4s, v19.s[0]",
            "fmla v5.4s, v28.4s, v19.s[0]",
            "fmla v6.4s, v26.4s, v21.s[0]",
            "fmla v7.4s, v27.4s, v21.s[0]",
            "fmla v8.4s, v28.4s, v21.s[0]",
            "fmla v9.4s, v26.4s, v23.s[0]",
            "fmla v10.4s, v27.4s, v23.s[0]",
            "fmla v11.4s, v28.4s, v23.s[0]",
            "fmla v12.4s, v26.4s, v25.s[0]",
            "fmla v13.4s, v27.4s, v25.s[0]",
            "fmla v14.4s, v28.4s, v25.s[0]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v17.s[1]",
            "fmla v1.4s, v27.4s, v17.s[1]",
            "fmla v2.4s, v28.4s, v17.s[1]",
            "fmla v3.4s, v26.4s, v19.s[1]",
            "fmla v4.4s, v27.4s, v19.s[1]",
            "fmla v5.4s, v28.4s, v19.s[1]",
            "fmla v6.4s, v26.4s, v21.s[1]",
            "fmla v7.4s, v27.4s, v21.s[1]",
            "fmla v8.4s, v28.4s, v21.s[1]",
            "fmla v9.4s, v26.4s, v23.s[1]",
            "fmla v10.4s, v27.4s, v23.s[1]",
            "fmla v11.4s, v28.4s, v23.s[1]",
            "fmla v12.4s, v26.4s, v25.s[1]",
            "fmla v13.4s, v27.4s, v25.s[1]",
            "fmla v14.4s, v28.4s, v25.s[1]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v17.s[2]",
            "fmla v1.4s, v27.4s, v17.s[2]",
            "fmla v2.4s, v28.4s, v17.s[2]",
            "fmla v3.4s, v26.4s, v19.s[2]",
            "fmla v4.4s, v27.4s, v19.s[2]",
            "fmla v5.4s, v28.4s, v19.s[2]",
            "fmla v6.4s, v26.4s, v21.s[2]",
            "fmla v7.4s, v27.4s, v21.s[2]",
            "fmla v8.4s, v28.4s, v21.s[2]",
            "fmla v9.4s, v26.4s, v23.s[2]",
            "fmla v10.4s, v27.4s, v23.s[2]",
            "fmla v11.4s, v28.4s, v23.s[2]",
            "fmla v12.4s, v26.4s, v25.s[2]",
            "fmla v13.4s, v27.4s, v25.s[2]",
            "fmla v14.4s, v28.4s, v25.s[2]",
            "ld1 {{v26.4s, v27.4s, v28.4s}}, [{w}], #48",
            "fmla v0.4s, v26.4s, v17.s[3]",
            "fmla v1.4s, v27.4s, v17.s[3]",
            "fmla v2.4s, v28.4s, v17.s[3]",
            "fmla v3.4s, v26.4s, v19.s[3]",
            "fmla v4.4s, v27.4s, v19.s[3]",
            "fmla v5.4s, v28.4s, v19.s[3]",
            "fmla v6.4s, v26.4s, v21.s[3]",
            "fmla v7.4s, v27.4s, v21.s[3]",
            "fmla v8.4s, v28.4s, v21.s[3]",
            "fmla v9.4s, v26.4s, v23.s[3]",
            "fmla v10.4s, v27.4s, v23.s[3]",
            "fmla v11.4s, v28.4s, v23.s[3]",
            "fmla v12.4s, v26.4s, v25.s[3]",
            "fmla v13.4s, v27.4s, v25.s[3]",
            "fmla v14.4s, v28.4s, v25.s[3]",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            a0 = inout(reg) *a0,
            a1 = inout(reg) *a1,
            a2 = inout(reg) *a2,
            a3 = inout(reg) *a3,
            a4 = inout(reg) *a4,
            w = inout(reg) *w,
            n = inout(reg) n8 => _,
            inout("v0") *c0, inout("v1") *c1, inout("v2") *c2, inout("v3") *c3,
            inout("v4") *c4, inout("v5") *c5, inout("v6") *c6, inout("v7") *c7,
            inout("v8") *c8, inout("v9") *c9, inout("v10") *c10, inout("v11") *c11,
            inout("v12") *c12, inout("v13") *c13, inout("v14") *c14,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _, out("v27") _,
            out("v28") _,
            options(nostack, readonly),
        );
    }
}
