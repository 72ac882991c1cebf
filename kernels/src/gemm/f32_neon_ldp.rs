//! The driver shared by the Neon FMLA-by-element tiles whose main reduction
//! loop is hand-scheduled assembly (`f32_4x16_neon_fmla`, `f32_5x12_neon_fmla`):
//! `MR` rows by `NR = 4 * NB` columns, `kr = 1`, `MR * NB` q accumulators.
//! The tile module provides `MR`, `NB`, `NR`, `KR` and
//! `reduce8(acc, rows, w, n8)`, which runs `n8` blocks of 8 reduction steps:
//! per block one `ldp` (8 floats) of each left-hand row, then per step one
//! multi-register `ld1` of the `NR` packed weights and `MR * NB` FMLA by
//! element. Fewer than 8 leftover steps broadcast single values here; both
//! compute `acc + a * b` fused, in ascending `k`. [`neon_ldp_driver`] expands
//! to the rest: tile stores, the remainder steps and both entry points.

macro_rules! neon_ldp_driver {
    () => {
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

        /// See [`super::GemmRunFn`].
        ///
        /// # Safety
        /// The [`super::GemmRunFn`] contract.
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn run(
            m: usize,
            n: usize,
            k: usize,
            lhs: *const f32,
            lhs_stride: usize,
            rhs_packed: *const f32,
            dst: *mut f32,
            dst_stride: usize,
            clamp_min: f32,
            clamp_max: f32,
        ) {
            // SAFETY: forwarded contract; Neon is part of every aarch64 target.
            unsafe { run_neon(m, n, k, lhs, lhs_stride, rhs_packed, dst, dst_stride, clamp_min, clamp_max) }
        }

        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "neon")]
        unsafe fn run_neon(
            m: usize,
            n: usize,
            k: usize,
            lhs: *const f32,
            lhs_stride: usize,
            rhs_packed: *const f32,
            dst: *mut f32,
            dst_stride: usize,
            clamp_min: f32,
            clamp_max: f32,
        ) {
            let block = super::rhs_block_len(NR, KR, k);
            let mut mi = 0;
            while mi < m {
                let last = (m - mi).min(MR) - 1;
                // SAFETY: rows mi..=mi+last are inside the m rows of lhs and dst; later rows alias the last.
                let (ar, dr) = unsafe {
                    (
                        std::array::from_fn::<_, MR, _>(|r| lhs.add((mi + r.min(last)) * lhs_stride)),
                        std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
                    )
                };
                let mut n0 = 0;
                while n0 < n {
                    let nt = (n - n0).min(NR);
                    // SAFETY: block n0/NR exists and holds the bias then k groups of NR weights;
                    // lhs rows hold k floats; dst rows hold n floats from column 0.
                    unsafe {
                        let mut wp = rhs_packed.add((n0 / NR) * block);
                        let mut acc = bias_tile(wp);
                        wp = wp.add(NR);
                        reduce(&mut acc, &ar, k, &mut wp);
                        store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
                    }
                    n0 += NR;
                }
                mi += MR;
            }
        }

        /// See [`super::IgemmRunFn`].
        ///
        /// # Safety
        /// The [`super::IgemmRunFn`] contract.
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn run_indirect(
            m: usize,
            n: usize,
            kc: usize,
            ks: usize,
            indirection: *const usize,
            input: *const f32,
            zero: *const f32,
            rhs_packed: *const f32,
            dst: *mut f32,
            dst_stride: usize,
            clamp_min: f32,
            clamp_max: f32,
        ) {
            // SAFETY: forwarded contract; Neon is part of every aarch64 target.
            unsafe {
                run_indirect_neon(m, n, kc, ks, indirection, input, zero, rhs_packed, dst, dst_stride, clamp_min, clamp_max)
            }
        }

        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "neon")]
        unsafe fn run_indirect_neon(
            m: usize,
            n: usize,
            kc: usize,
            ks: usize,
            indirection: *const usize,
            input: *const f32,
            zero: *const f32,
            rhs_packed: *const f32,
            dst: *mut f32,
            dst_stride: usize,
            clamp_min: f32,
            clamp_max: f32,
        ) {
            let block = super::rhs_block_len(NR, KR, ks * kc);
            let mut mi = 0;
            while mi < m {
                let last = (m - mi).min(MR) - 1;
                // SAFETY: rows mi..=mi+last are inside dst; this tile's indirection starts at mi*ks.
                let (dr, ind) = unsafe {
                    (
                        std::array::from_fn::<_, MR, _>(|r| dst.add((mi + r.min(last)) * dst_stride)),
                        indirection.add(mi * ks),
                    )
                };
                let mut n0 = 0;
                while n0 < n {
                    let nt = (n - n0).min(NR);
                    // SAFETY: as in `run`, every row pointer coming from the indirection buffer
                    // (kc floats at input+offset) or the zero row (kc floats).
                    unsafe {
                        let mut wp = rhs_packed.add((n0 / NR) * block);
                        let mut acc = bias_tile(wp);
                        wp = wp.add(NR);
                        for s in 0..ks {
                            let ar: [*const f32; MR] = std::array::from_fn(|r| {
                                let off = *ind.add(s * MR + r);
                                if off == ZERO_ROW { zero } else { input.add(off) }
                            });
                            reduce(&mut acc, &ar, kc, &mut wp);
                        }
                        store_tile(&acc, &dr.map(|d| d.add(n0)), nt, clamp_min, clamp_max);
                    }
                    n0 += NR;
                }
                mi += MR;
            }
        }
    };
}

pub(super) use neon_ldp_driver;
