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
            $crate::gemm::tile_driver::tile_driver!(@tiles (m, n, rhs_packed, block, dst, dst_stride, clamp_min, clamp_max) |mi, last| {
                // SAFETY: rows mi..=mi+last are inside the m rows of lhs; later rows alias the last.
                let ar = unsafe { std::array::from_fn::<_, MR, _>(|r| lhs.add((mi + r.min(last)) * lhs_stride)) };
            } |acc, wp| {
                // SAFETY: lhs rows hold k floats (the GemmRunFn contract).
                unsafe { reduce(&mut acc, &ar, k, &mut wp) };
            });
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
            $crate::gemm::tile_driver::tile_driver!(@tiles (m, n, rhs_packed, block, dst, dst_stride, clamp_min, clamp_max) |mi, _last| {
                // SAFETY: this tile's indirection starts at mi*ks (the IgemmRunFn contract).
                let ind = unsafe { indirection.add(mi * ks) };
            } |acc, wp| {
                for s in 0..ks {
                    // SAFETY: every row pointer comes from the indirection buffer (kc floats at
                    // input+offset) or is the zero row (kc floats).
                    unsafe {
                        let ar: [*const f32; MR] = std::array::from_fn(|r| {
                            let off = *ind.add(s * MR + r);
                            if off == $crate::gemm::ZERO_ROW { zero } else { input.add(off) }
                        });
                        reduce(&mut acc, &ar, kc, &mut wp);
                    }
                }
            });
        }
    };

    // The loops both entry points share: every `MR`-row tile (`$setup` with its
    // first row `$mi` and its last valid row offset `$last`), every `NR`-column
    // block (the bias, `$reduce` on `$acc` and `$wp`, the clamped store).
    (@tiles ($m:ident, $n:ident, $rhs_packed:ident, $block:ident, $dst:ident, $dst_stride:ident, $min:ident, $max:ident)
        |$mi:ident, $last:ident| { $($setup:tt)* } |$acc:ident, $wp:ident| $reduce:block) => {
        let mut $mi = 0;
        while $mi < $m {
            let $last = ($m - $mi).min(MR) - 1;
            // SAFETY: rows mi..=mi+last are inside the m rows of dst; later rows alias the last.
            let dr = unsafe { std::array::from_fn::<_, MR, _>(|r| $dst.add(($mi + r.min($last)) * $dst_stride)) };
            $($setup)*
            let mut n0 = 0;
            while n0 < $n {
                let nt = ($n - n0).min(NR);
                // SAFETY: block n0/NR exists and holds the bias (NR floats) then the packed weights.
                let (mut $acc, mut $wp) = unsafe {
                    let w = $rhs_packed.add((n0 / NR) * $block);
                    (bias_tile(w), w.add(NR))
                };
                $reduce
                // SAFETY: dst rows hold n floats from column 0.
                unsafe { store_tile(&$acc, &dr.map(|d| d.add(n0)), nt, $min, $max) };
                n0 += NR;
            }
            $mi += MR;
        }
    };
}

pub(super) use tile_driver;

/// The body of a tile's `reduce` from its one-step function (x86-64 tiles):
/// `$step($acc, $ar, p, w)` for `p` in `0..$kc`, with `w` the packed weights of
/// step `p` (`$nr` floats apart from `*$wp` on), unrolled by four; leaves
/// `*$wp` past the `$kc * $nr` floats read. Expands inside an `unsafe` block.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_macros))]
macro_rules! reduce_by_steps {
    ($step:ident($acc:ident, $ar:ident), $kc:ident, $wp:ident, $nr:expr) => {{
        let nr = $nr;
        let mut w = *$wp;
        let mut p = 0;
        while p + 4 <= $kc {
            $step($acc, $ar, p, w);
            $step($acc, $ar, p + 1, w.add(nr));
            $step($acc, $ar, p + 2, w.add(2 * nr));
            $step($acc, $ar, p + 3, w.add(3 * nr));
            w = w.add(4 * nr);
            p += 4;
        }
        while p < $kc {
            $step($acc, $ar, p, w);
            w = w.add(nr);
            p += 1;
        }
        *$wp = w;
    }};
}

#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
pub(super) use reduce_by_steps;
