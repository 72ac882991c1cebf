//! Packing the left-hand strip (`mr` rows) into a micro-kernel's layout
//! (see [`QUkernel`]): whole rows (`ka == 0`), or groups of `ka` values of
//! every row in turn; Neon packers for the SDOT (`ka = 16`) and SMMLA
//! (`ka = 8`, row pairs interleaved by ZIP1/ZIP2) layouts.

use super::QUkernel;

/// Packs `src` (`mr` rows of `k` values) into the first `k` values of every
/// row of `strip` (the padding up to `kp` is left as it is).
pub(super) fn pack_rows(uk: &QUkernel, src: &[&[i8]], k: usize, kp: usize, strip: &mut [i8]) {
    assert_eq!(src.len(), uk.mr);
    assert!(src.iter().all(|r| r.len() == k) && strip.len() == uk.a_strip_len(kp) && k <= kp);
    #[cfg(target_arch = "aarch64")]
    if uk.a_xor == 0 && uk.mr == 8 && (uk.ka == 16 || uk.ka == 8) {
        let whole = k / 16 * 16;
        // SAFETY: every row has k >= whole values; the strip holds kp >= whole values
        // of 8 rows in the ka-grouped layout, which the packers write for groups below whole.
        unsafe {
            if uk.ka == 16 {
                neon::pack_ka16(src, whole, strip.as_mut_ptr());
            } else {
                neon::pack_ka8(src, whole, strip.as_mut_ptr());
            }
        }
        for (i, row) in src.iter().enumerate() {
            put_row(uk, strip, kp, i, whole, &row[whole..]);
        }
        return;
    }
    for (i, row) in src.iter().enumerate() {
        put_row(uk, strip, kp, i, 0, row);
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

/// `dst[i] = src[i] ^ x`.
#[inline(always)]
fn copy_xor(dst: &mut [i8], src: &[i8], x: i8) {
    if x == 0 {
        dst.copy_from_slice(src);
    } else {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s ^ x;
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// SDOT layout: per 16 values, 8 rows of 16.
    ///
    /// # Safety
    /// `src` has 8 rows of at least `whole` values (a multiple of 16); `strip`
    /// has `8 * whole` writable bytes.
    pub(super) unsafe fn pack_ka16(src: &[&[i8]], whole: usize, strip: *mut i8) {
        let r: [*const i8; 8] = std::array::from_fn(|i| src[i].as_ptr());
        for g in 0..whole / 16 {
            // SAFETY: 16 values of each row from 16g < whole; group g of the strip.
            unsafe {
                let d = strip.add(g * 128);
                for (i, &row) in r.iter().enumerate() {
                    vst1q_s8(d.add(16 * i), vld1q_s8(row.add(16 * g)));
                }
            }
        }
    }

    /// SMMLA layout: per 8 values, 8 rows of 8 (row pairs = 16 bytes).
    ///
    /// # Safety
    /// As [`pack_ka16`].
    pub(super) unsafe fn pack_ka8(src: &[&[i8]], whole: usize, strip: *mut i8) {
        let r: [*const i8; 8] = std::array::from_fn(|i| src[i].as_ptr());
        for c in 0..whole / 16 {
            // SAFETY: 16 values of each row from 16c < whole; groups 2c and 2c + 1 of the
            // strip (64 bytes each).
            unsafe {
                let d = strip.add(c * 128);
                for q in 0..4 {
                    let a = vreinterpretq_s64_s8(vld1q_s8(r[2 * q].add(16 * c)));
                    let b = vreinterpretq_s64_s8(vld1q_s8(r[2 * q + 1].add(16 * c)));
                    vst1q_s8(d.add(16 * q), vreinterpretq_s8_s64(vzip1q_s64(a, b)));
                    vst1q_s8(d.add(64 + 16 * q), vreinterpretq_s8_s64(vzip2q_s64(a, b)));
                }
            }
        }
    }
}
