//! Packing the left-hand strip (`mr` rows) into a micro-kernel's layout
//! (see [`QUkernel`]): whole rows (`ka == 0`), or groups of `ka` values of
//! every row in turn; Neon packers for the SDOT (`ka = 16`) and SMMLA
//! (`ka = 8`, row pairs interleaved by ZIP1/ZIP2) layouts.

use super::QUkernel;

/// Packs rows `m0 .. m0 + rows` of `a`, `lda` apart (the strip's remaining
/// rows repeat the last one), `k` values each, into the first `k` values of
/// every row of `strip` (the padding up to `kp` is left as it is). One
/// bounds check for all the rows: the narrow layers pack a strip for a few
/// hundred instructions of tiles, and building and checking the rows one by
/// one cost as much as the copy. Inlined into its two callers (plain rows,
/// gathered windows) for the same reason.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn pack_rows(uk: &QUkernel, a: &[i8], lda: usize, m0: usize, rows: usize, k: usize, kp: usize, strip: &mut [i8]) {
    assert!((1..=uk.mr).contains(&rows) && (m0 + rows - 1) * lda + k <= a.len(), "rows {m0}+{rows} of {k} values, {lda} apart, past {}", a.len());
    assert!(strip.len() == uk.a_strip_len(kp) && k <= kp);
    let row = |i: usize| (m0 + i.min(rows - 1)) * lda;
    #[cfg(target_arch = "aarch64")]
    if let Some(whole) = neon::whole(uk, k) {
        // Rows past `rows` repeat the last one (past mr they are not read).
        let (base, last) = (a.as_ptr().wrapping_add(m0 * lda), rows - 1);
        let ptrs: [*const i8; super::MAX_MR] = std::array::from_fn(|i| base.wrapping_add(i.min(last) * lda));
        // SAFETY: each of the first mr pointers starts a row of k >= whole values inside
        // `a` (asserted above); the strip holds kp >= whole values of mr rows.
        unsafe { neon::pack(uk, &ptrs, whole, strip.as_mut_ptr()) };
        if whole < k {
            for i in 0..uk.mr {
                put_row(uk, strip, kp, i, whole, &a[row(i) + whole..row(i) + k]);
            }
        }
        return;
    }
    for i in 0..uk.mr {
        put_row(uk, strip, kp, i, 0, &a[row(i)..row(i) + k]);
    }
}

/// Writes values `p0 .. p0 + src.len()` of row `i`.
fn put_row(uk: &QUkernel, strip: &mut [i8], kp: usize, i: usize, p0: usize, src: &[i8]) {
    let x = uk.a_xor as i8;
    if uk.ka == 0 {
        copy_xor(&mut strip[i * kp + p0..][..src.len()], src, x);
        return;
    }
    let ka = uk.ka;
    let (mut p, mut rest) = (p0, src);
    while !rest.is_empty() {
        // The values up to the end of p's group land contiguously.
        let len = (ka - p % ka).min(rest.len());
        copy_xor(&mut strip[(p / ka * uk.mr + i) * ka + p % ka..][..len], &rest[..len], x);
        p += len;
        rest = &rest[len..];
    }
}

/// `dst[i] = src[i] ^ x`; below 32 values as (possibly overlapping) 8-, 4-,
/// 2- or 1-byte words (convolution windows of a few channels); from 64 on,
/// where AVX-512 is detected, 64 bytes at a time.
#[inline(always)]
pub(super) fn copy_xor(dst: &mut [i8], src: &[i8], x: i8) {
    let n = dst.len();
    assert_eq!(n, src.len());
    if x == 0 {
        copy_short(dst, src);
        return;
    }
    macro_rules! word {
        ($t:ty, $w:literal, $at:expr) => {{
            let at = $at;
            let s: [i8; $w] = src[at..at + $w].try_into().expect("in bounds");
            let v = <$t>::from_ne_bytes(s.map(|b| b as u8)) ^ <$t>::from_ne_bytes([x as u8; $w]);
            dst[at..at + $w].copy_from_slice(&v.to_ne_bytes().map(|b| b as i8));
        }};
    }
    #[cfg(target_arch = "x86_64")]
    if n >= 64 && crate::qops::vec512::available() {
        // SAFETY: AVX-512 F/BW/VL were detected; dst and src hold n values each (asserted above).
        unsafe { avx512::copy_xor(dst.as_mut_ptr(), src.as_ptr(), n, x) };
        return;
    }
    match n {
        32.. => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s ^ x;
            }
        }
        8.. => {
            for at in (0..n - 8).step_by(8) {
                word!(u64, 8, at);
            }
            word!(u64, 8, n - 8);
        }
        4.. => {
            word!(u32, 4, 0);
            word!(u32, 4, n - 4);
        }
        2 | 3 => {
            word!(u16, 2, 0);
            word!(u16, 2, n - 2);
        }
        1 => dst[0] = src[0] ^ x,
        _ => {}
    }
}

/// The long runs of [`copy_xor`] 64 bytes at a time: the packed strips of
/// the AVX-512 VNNI tiles are rows of hundreds of values, which the generic
/// loop copied 16 bytes at a time (with the per-row gathers, 2.4% of the
/// samples of an int8 MobileNetV2 profile).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// `dst[i] = src[i] ^ x` for `i < n`, the last `n % 64` through a mask.
    ///
    /// # Safety
    /// AVX-512 F/BW are available; `src` has `n` readable and `dst` `n`
    /// writable bytes that do not overlap them.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn copy_xor(dst: *mut i8, src: *const i8, n: usize, x: i8) {
        let xv = _mm512_set1_epi8(x);
        let mut i = 0;
        while i + 64 <= n {
            // SAFETY: bytes i .. i + 64 ≤ n of both (the caller's contract).
            unsafe { _mm512_storeu_si512(dst.add(i) as *mut _, _mm512_xor_si512(_mm512_loadu_si512(src.add(i) as *const _), xv)) };
            i += 64;
        }
        if i < n {
            let m: __mmask64 = (1u64 << (n - i)) - 1;
            // SAFETY: the mask keeps the load and store to the n − i < 64 bytes left.
            unsafe { _mm512_mask_storeu_epi8(dst.add(i), m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src.add(i)), xv)) };
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::super::MAX_MR;
    use super::QUkernel;
    use std::arch::aarch64::*;

    /// The values of each row the Neon packers take for `uk` (whole groups
    /// of 16 of the `k`), if they pack its layout (SDOT's or SMMLA's, an
    /// even number of rows, no XOR).
    #[inline]
    pub(super) fn whole(uk: &QUkernel, k: usize) -> Option<usize> {
        (uk.a_xor == 0 && uk.mr.is_multiple_of(2) && (uk.ka == 16 || uk.ka == 8)).then_some(k / 16 * 16)
    }

    /// The first `whole` values of rows `ptrs[..uk.mr]` into `strip` in
    /// `uk`'s layout (for which [`whole`] gave `whole`).
    ///
    /// # Safety
    /// As [`pack_ka16`] with `mr = uk.mr`.
    #[inline]
    pub(super) unsafe fn pack(uk: &QUkernel, ptrs: &[*const i8; MAX_MR], whole: usize, strip: *mut i8) {
        // SAFETY: the caller's contract.
        unsafe {
            match (uk.ka, uk.mr) {
                (16, 8) => pack_ka16::<8>(ptrs, 8, whole, strip),
                (16, mr) => pack_ka16::<0>(ptrs, mr, whole, strip),
                (8, 8) => pack_ka8::<8>(ptrs, 8, whole, strip),
                (8, 12) => pack_ka8::<12>(ptrs, 12, whole, strip),
                (_, mr) => pack_ka8::<0>(ptrs, mr, whole, strip),
            }
        }
    }

    /// SDOT layout: per 16 values, every row's 16.
    ///
    /// # Safety
    /// `rows[..mr]` (`mr` even, at most 12) point to at least `whole` readable
    /// values each (a multiple of 16); `strip` has `mr * whole` writable bytes.
    /// `MR` is `mr` when non-zero (a fully unrolled copy).
    #[inline(always)]
    pub(super) unsafe fn pack_ka16<const MR: usize>(rows: &[*const i8; MAX_MR], mr: usize, whole: usize, strip: *mut i8) {
        let mr = if MR > 0 { MR } else { mr };
        for g in 0..whole / 16 {
            // SAFETY: 16 values of each row from 16g < whole; group g of the strip.
            unsafe {
                let d = strip.add(g * 16 * mr);
                for (i, row) in rows.iter().enumerate().take(mr) {
                    vst1q_s8(d.add(16 * i), vld1q_s8(row.add(16 * g)));
                }
            }
        }
    }

    /// SMMLA layout: per 8 values, every row's 8 (row pairs = 16 bytes).
    ///
    /// # Safety
    /// As [`pack_ka16`].
    #[inline(always)]
    pub(super) unsafe fn pack_ka8<const MR: usize>(rows: &[*const i8; MAX_MR], mr: usize, whole: usize, strip: *mut i8) {
        let mr = if MR > 0 { MR } else { mr };
        for c in 0..whole / 16 {
            // SAFETY: 16 values of each row from 16c < whole; groups 2c and 2c + 1 of the
            // strip (8 * mr bytes each).
            unsafe {
                let d = strip.add(c * 16 * mr);
                for q in 0..mr / 2 {
                    let a = vreinterpretq_s64_s8(vld1q_s8(rows[2 * q].add(16 * c)));
                    let b = vreinterpretq_s64_s8(vld1q_s8(rows[2 * q + 1].add(16 * c)));
                    vst1q_s8(d.add(16 * q), vreinterpretq_s8_s64(vzip1q_s64(a, b)));
                    vst1q_s8(d.add(8 * mr + 16 * q), vreinterpretq_s8_s64(vzip2q_s64(a, b)));
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` with fixed-size (possibly overlapping) moves
/// below 16 values instead of a `memcpy` call (strip tails, few channels).
#[inline(always)]
pub(super) fn copy_short(dst: &mut [i8], src: &[i8]) {
    let n = dst.len();
    assert_eq!(n, src.len());
    match n {
        16.. => dst.copy_from_slice(src),
        8.. => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4.. => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        2 | 3 => {
            dst[..2].copy_from_slice(&src[..2]);
            dst[n - 2..].copy_from_slice(&src[n - 2..]);
        }
        1 => dst[0] = src[0],
        _ => {}
    }
}

/// Zeroed bytes starting on a 64-byte boundary: packed int8 weights, so
/// that no 64-byte load of a weight block straddles two cache lines.
pub(crate) struct AlignedBytes {
    data: Vec<i8>,
    start: usize,
    len: usize,
}

impl AlignedBytes {
    const ALIGN: usize = 64;

    pub(crate) fn zeroed(len: usize) -> AlignedBytes {
        let data = vec![0i8; len + Self::ALIGN];
        let start = (Self::ALIGN - data.as_ptr() as usize % Self::ALIGN) % Self::ALIGN;
        AlignedBytes { data, start, len }
    }
    pub(crate) fn as_slice(&self) -> &[i8] {
        &self.data[self.start..self.start + self.len]
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [i8] {
        &mut self.data[self.start..self.start + self.len]
    }
}
