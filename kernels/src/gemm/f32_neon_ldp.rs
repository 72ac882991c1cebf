//! The driver shared by the Neon FMLA-by-element tiles whose main reduction
//! loop is hand-scheduled assembly (`f32_4x16_neon_fmla`, `f32_5x12_neon_fmla`):
//! `MR` rows by `NR = 4 * NB` columns, `kr = 1`, `MR * NB` q accumulators.
//! The tile module invokes `neon_ldp_driver!("<name>", MR = <rows>, NB = <q per row>)`,
//! which defines `MR`, `NB`, `NR`, `KR` and `UKERNEL`, and provides
//! `reduce8(acc, rows, w, n8)`, which runs `n8` blocks of 8 reduction steps:
//! per block one `ldp` (8 floats) of each left-hand row, then per step one
//! multi-register `ld1` of the `NR` packed weights and `MR * NB` FMLA by
//! element. Fewer than 8 leftover steps broadcast single values here; both
//! compute `acc + a * b` fused, in ascending `k`. [`neon_ldp_driver`] also
//! expands to the rest: tile stores, the remainder steps, and both entry points
//! through [`super::tile_driver`].

macro_rules! neon_ldp_driver {
    ($name:literal, MR = $mr:literal, NB = $nb:literal) => {
        pub const MR: usize = $mr;
        /// q registers per row of the tile.
        const NB: usize = $nb;
        pub const NR: usize = 4 * NB;
        pub const KR: usize = 1;

        pub const UKERNEL: $crate::gemm::GemmUkernel = $crate::gemm::GemmUkernel {
            name: $name,
            isa: $crate::Isa::Neon,
            mr: MR,
            nr: NR,
            kr: KR,
            run,
            run_indirect,
        };

        type Acc = [[float32x4_t; NB]; MR];

        /// Clamps and stores the tile: all `NR` columns, or the first `nt` via a spill.
        ///
        /// # Safety
        /// Every `dr[r]` points at `nt` writable floats.
        #[inline]
        #[target_feature(enable = "neon")]
        unsafe fn store_tile(acc: &Acc, dr: &[*mut f32; MR], nt: usize, min: f32, max: f32) {
            let (vmin, vmax) = (vdupq_n_f32(min), vdupq_n_f32(max));
            let clamp = |v| vminq_f32(vmaxq_f32(v, vmin), vmax);
            for (row, &d) in acc.iter().zip(dr) {
                let mut spill = [0.0f32; NR];
                let full = nt == NR;
                let to = if full { d } else { spill.as_mut_ptr() };
                for (q, &v) in row.iter().enumerate() {
                    // SAFETY: `to` has NR writable floats (d when nt == NR, else spill).
                    unsafe { vst1q_f32(to.add(4 * q), clamp(v)) };
                }
                if !full {
                    // SAFETY: nt < NR writable floats at d, disjoint from spill.
                    unsafe { std::ptr::copy_nonoverlapping(spill.as_ptr(), d, nt) };
                }
            }
        }

        /// Runs `kc` reduction steps reading `ar[r][0..kc]`, advancing `wp`.
        ///
        /// # Safety
        /// Every `ar[r]` points at `kc` readable floats; `*wp` at `kc * NR`.
        #[inline]
        #[target_feature(enable = "neon")]
        unsafe fn reduce(acc: &mut Acc, ar: &[*const f32; MR], kc: usize, wp: &mut *const f32) {
            // SAFETY: all reads stay within the kc floats of each row and kc*NR packed weights.
            unsafe {
                let mut a = *ar;
                let mut w = *wp;
                let n8 = kc / 8;
                if n8 > 0 {
                    reduce8(acc, &mut a, &mut w, n8);
                }
                for _ in n8 * 8..kc {
                    let b: [float32x4_t; NB] = std::array::from_fn(|q| vld1q_f32(w.add(4 * q)));
                    w = w.add(NR);
                    for (row, p) in acc.iter_mut().zip(a.iter_mut()) {
                        let va = vld1q_dup_f32(*p);
                        *p = p.add(1);
                        for (c, &bq) in row.iter_mut().zip(&b) {
                            *c = vfmaq_f32(*c, bq, va);
                        }
                    }
                }
                *wp = w;
            }
        }

        /// The bias row of a packed block, in every row's accumulators.
        ///
        /// # Safety
        /// `wp` points at `NR` readable floats.
        #[inline]
        #[target_feature(enable = "neon")]
        unsafe fn bias_tile(wp: *const f32) -> Acc {
            // SAFETY: forwarded.
            let b: [float32x4_t; NB] = std::array::from_fn(|q| unsafe { vld1q_f32(wp.add(4 * q)) });
            [b; MR]
        }

        $crate::gemm::tile_driver::tile_driver!([#[target_feature(enable = "neon")]] []);
    };
}

pub(super) use neon_ldp_driver;
