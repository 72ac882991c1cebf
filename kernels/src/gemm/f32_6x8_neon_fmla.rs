//! `f32_6x8_neon_fmla`: 6 rows by 8 columns, `kr = 1`, for aarch64 Neon.
//! Twelve q accumulators: the tile of the Cortex-A53/A55/A76/N1 class.
//! The code is [`super::f32_mx8_neon_fmla`] at `MR = 6`.

use super::f32_mx8_neon_fmla as mx8;
use super::GemmUkernel;
use crate::Isa;

pub const MR: usize = 6;
pub const NR: usize = mx8::NR;
pub const KR: usize = mx8::KR;

pub const UKERNEL: GemmUkernel = GemmUkernel {
    name: "f32_6x8_neon_fmla",
    isa: Isa::Neon,
    mr: MR,
    nr: NR,
    kr: KR,
    run: mx8::run::<MR>,
    run_indirect: mx8::run_indirect::<MR>,
};
