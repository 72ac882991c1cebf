//! The driver shared by the GEMM tiles whose row tail repeats the last row
//! (`f32_4x4_scalar`, `f32_6x16_avx2_fma`, the Neon tiles): [`tile_driver`]
//! expands, in the tile's module, to `run` ([`super::GemmRunFn`]) and
//! `run_indirect` ([`super::IgemmRunFn`]), compiled with the tile's
//! attributes (its `#[target_feature]`; such an `unsafe fn` coerces to the
//! entry-point types, so no wrapper is needed).
//!
//! The tile module provides `MR`, `NR`, `KR` and three functions:
//! - `bias_tile(wp) -> acc`: the `NR` bias values at `wp` in every row's
//!   accumulators;
//! - `reduce(&mut acc, &ar, kc, &mut wp)`: `kc` reduction steps, row `r`
//!   reading `ar[r][0..kc]`, the packed weights from `wp` on (advanced past
//!   the `kc * NR` it read);
//! - `store_tile(&acc, &dr, nt, min, max)`: clamps and stores the first `nt`
//!   columns of every row at `dr[r]`.
//!
//! Rows past `m` in the last `MR` tile alias the last valid row; every output
//! element gets bias first, then `k` ascending, whatever its tile position.

/// `tile_driver!([attributes of both entry points] [generic params])`,
/// e.g. `tile_driver!([#[target_feature(enable = "neon")]] [])` or
/// `tile_driver!([#[target_feature(enable = "neon")]] [const MR: usize])`.
macro_rules! tile_driver {
    ([$(#[$attr:meta])*] [$($gp:tt)*]) => {
        /// See [`super::GemmRunFn`].
        ///
        /// # Safety
        /// The [`super::GemmRunFn`] contract, and this tile's CPU features
        /// available (they were detected before the tile was selected).
        #[allow(clippy::too_many_arguments)]
        $(#[$attr])*
        pub unsafe fn run<$($gp)*>(
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
            let block = $crate::gemm::rhs_block_len(NR, KR, k);
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
        /// The [`super::IgemmRunFn`] contract, and this tile's CPU features
        /// available (they were detected before the tile was selected).
        #[allow(clippy::too_many_arguments)]
        $(#[$attr])*
        pub unsafe fn run_indirect<$($gp)*>(
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
            let block = $crate::gemm::rhs_block_len(NR, KR, ks * kc);
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
                    // SAFETY: as in `run`, every row pointer coming from the indirection
                    // buffer (kc floats at input+offset) or the zero row (kc floats).
                    unsafe {
                        let mut wp = rhs_packed.add((n0 / NR) * block);
                        let mut acc = bias_tile(wp);
                        wp = wp.add(NR);
                        for s in 0..ks {
                            let ar: [*const f32; MR] = std::array::from_fn(|r| {
                                let off = *ind.add(s * MR + r);
                                if off == $crate::gemm::ZERO_ROW { zero } else { input.add(off) }
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

pub(super) use tile_driver;
