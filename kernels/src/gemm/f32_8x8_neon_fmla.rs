//! `f32_8x8_neon_fmla`: 8 rows by 8 columns, `kr = 1`, for aarch64 Neon.
//! Sixteen q accumulators (26 of the 32 vector registers in use): the Neon tile for
//! widths that 12- and 16-wide blocks would pad (n = 8, 40, ...); the default was
//! 8x8 until `f32_4x16_neon_fmla` (benches/README.md).
//! The code is [`super::f32_mx8_neon_fmla`] at `MR = 8`.

use super::f32_mx8_neon_fmla as mx8;
use super::GemmUkernel;
use crate::Isa;

pub const MR: usize = 8;
pub const NR: usize = mx8::NR;
pub const KR: usize = mx8::KR;

pub const UKERNEL: GemmUkernel = GemmUkernel {
    name: "f32_8x8_neon_fmla",
    isa: Isa::Neon,
    mr: MR,
    nr: NR,
    kr: KR,
    run: mx8::run::<MR>,
    run_indirect: mx8::run_indirect::<MR>,
};
