//! `f32_dw_32c_avx512_rows`: depthwise convolution of one output row for
//! x86-64 AVX-512, square 3x3 and 5x5 windows at horizontal stride 1 or 2
//! and horizontal dilation 1, on the packed weights of
//! [`super::f32_dw_32c_avx512`] (blocks of 32 channels, bias first).
//!
//! No indirection buffer: the caller passes one pointer per window row (null
//! where the row lies in the padding) and the kernel walks the output row.
//! Output pixels whose whole window lies inside the input row are computed
//! 8 (then 4, then 1) at a time, 16 channels per zmm register: each input
//! column of the group's window rows is loaded once and multiplied into
//! every pixel of the group that reads it (with stride 1, 8 + k - 1 loads per
//! window row instead of 8 k), so the loop runs on FMAs rather than loads.
//! The row is walked in chunks of channels whose group window fits half of
//! L1 ([`GROUP_WINDOW_BYTES`]), every slice of a chunk in turn per group.
//! The few pixels near the left and right edges skip the taps that fall in
//! the padding. Every output value is one FMA chain from its bias over the
//! taps in window order (padding taps skipped, as TFLite's reference kernel
//! does), whatever group it falls in, so results do not depend on the width,
//! the thread count or the channel split. Bias, clamp and the store are fused.

use super::f32_dw_32c_avx512::CR;
use std::arch::x86_64::*;

/// One output row: `run(rows, in_w, in_pixel_stride, pad_left, ow, channels, weights, out, out_pixel_stride, clamp_min, clamp_max)`.
///
/// For every output column `ox < ow` and channel `c < channels`:
/// `out[ox * out_pixel_stride + c] = clamp(bias[c] + sum over taps (ky, kx)
/// in window order of rows[ky][ix * in_pixel_stride + c] * w[ky][kx][c])`,
/// `ix = ox * stride + kx - pad_left`, taps with a null row or `ix` outside
/// `0..in_w` left out.
///
/// # Safety
/// - AVX-512 F with AVX2+FMA is available on this CPU;
/// - `rows` holds `k` pointers (the window's height), each null or pointing at
///   an input row with `in_w` pixels of `in_pixel_stride` floats, of which the
///   first `channels` are readable;
/// - `weights` holds `ceil(channels / 32)` packed blocks for `k * k` taps;
/// - `out + ox * out_pixel_stride + c` is writable for `ox < ow`, `c < channels`,
///   and nothing else accesses those floats during the call.
pub type DwRowFn = unsafe fn(
    rows: *const *const f32,
    in_w: usize,
    in_pixel_stride: usize,
    pad_left: usize,
    ow: usize,
    channels: usize,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
);

/// The row kernel for a `kh x kw` window at this horizontal stride and
/// dilation, if there is one.
pub fn row_kernel(kh: usize, kw: usize, stride_w: usize, dilation_w: usize) -> Option<DwRowFn> {
    match (kh, kw, stride_w, dilation_w) {
        (3, 3, 1, 1) => Some(run::<3, 1>),
        (3, 3, 2, 1) => Some(run::<3, 2>),
        (5, 5, 1, 1) => Some(run::<5, 1>),
        (5, 5, 2, 1) => Some(run::<5, 2>),
        _ => None,
    }
}

/// The output columns `lo..hi` whose `k` input columns `ox * s - pad_left + kx` all lie in `0..in_w`.
pub(crate) fn interior(ow: usize, in_w: usize, pad_left: usize, k: usize, s: usize) -> (usize, usize) {
    let lo = pad_left.div_ceil(s).min(ow);
    // ox * s + k - 1 - pad_left < in_w  <=>  ox * s < in_w + pad_left + 1 - k
    let hi = match (in_w + pad_left + 1).checked_sub(k) {
        Some(limit) => limit.div_ceil(s).min(ow),
        None => 0,
    };
    (lo, hi.max(lo))
}

/// The shared arguments of one 16-channel slice of a row.
#[derive(Clone, Copy)]
struct Slice {
    rows: *const *const f32,
    in_w: usize,
    cs: usize,
    pad_left: usize,
    /// Offset of the slice's first channel in every input pixel.
    ch: usize,
    /// The slice's bias; tap `t`'s 16 weights at `w + 32 * (t + 1)`.
    w: *const f32,
    /// Output pixel 0 of the slice, and the distance between output pixels.
    out: *mut f32,
    os: usize,
    mask: __mmask16,
    vmin: __m512,
    vmax: __m512,
}

/// See [`DwRowFn`]; `K`: window size, `S`: horizontal stride.
///
/// # Safety
/// The [`DwRowFn`] contract.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run<const K: usize, const S: usize>(
    rows: *const *const f32,
    in_w: usize,
    in_pixel_stride: usize,
    pad_left: usize,
    ow: usize,
    channels: usize,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block_len = CR * (K * K + 1);
    let (lo, hi) = interior(ow, in_w, pad_left, K, S);
    let (vmin, vmax) = (_mm512_set1_ps(clamp_min), _mm512_set1_ps(clamp_max));
    let slice_at = |ch: usize| {
        let ct = (channels - ch).min(16);
        Slice {
            rows,
            in_w,
            cs: in_pixel_stride,
            pad_left,
            ch,
            w: weights.wrapping_add(ch / CR * block_len + ch % CR),
            out: out.wrapping_add(ch),
            os: out_pixel_stride,
            mask: ((1u32 << ct) - 1) as __mmask16,
            vmin,
            vmax,
        }
    };
    // Channels per chunk: as many 16-channel slices as keep a group's window in GROUP_WINDOW_BYTES.
    let slice_window = (S * 7 + K) * K * 64;
    let chunk = (GROUP_WINDOW_BYTES / slice_window).max(1) * 16;
    let mut c0 = 0;
    while c0 < channels {
        let c1 = (c0 + chunk).min(channels);
        let c = Chunk { c0, full: c0 + (c1 - c0) / 16 * 16, c1 };
        // SAFETY: the DwRowFn contract covers every read and write: columns below lo and
        // from hi on go through the checked edge path, lo..hi are interior (groups stay
        // inside it); every slice's weights lie in block ch/32 (ch < channels, ch % 32 + 16 <= 32).
        unsafe {
            for ox in (0..lo).chain(hi..ow) {
                c.edges::<K, S>(&slice_at, ox);
            }
            let mut ox = lo;
            while ox + 8 <= hi {
                c.groups::<K, S, 8>(&slice_at, ox);
                ox += 8;
            }
            if ox + 4 <= hi {
                c.groups::<K, S, 4>(&slice_at, ox);
                ox += 4;
            }
            while ox < hi {
                c.groups::<K, S, 1>(&slice_at, ox);
                ox += 1;
            }
        }
        c0 = c.c1;
    }
}

/// A group's window (its input columns in all window rows) for the channels
/// of one chunk, in bytes. The row is walked chunk by chunk, and within a
/// chunk every slice of a group of columns runs before the next group: the
/// loads run over whole runs of contiguous lines, which the prefetchers
/// follow, rather than one line in every `channels / 16`, and the bound
/// keeps the window, with the columns the next group shares, in half of a
/// 48 KB L1 (the rest for outputs and weights). Same run: 112x112x96 stride
/// 2 ran 264 -> 192 µs, 112x112x32 145 -> 104, 14x14x576 25 -> 21, 5x5
/// 14x14x480 53 -> 48 (one slice at a time across the row -> chunks); all
/// channels at once made 5x5 14x14x480 and the 14x14 blocks 5-25% slower.
const GROUP_WINDOW_BYTES: usize = 24 * 1024;

/// Channels `c0..c1` of the row, the slices from `full` on masked (fewer
/// than 16 channels: only the last slice of the row).
struct Chunk {
    c0: usize,
    full: usize,
    c1: usize,
}

impl Chunk {
    /// Edge column `ox` for every slice of the chunk.
    ///
    /// # Safety
    /// As [`run`]; `ox < ow`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn edges<const K: usize, const S: usize>(&self, slice_at: &impl Fn(usize) -> Slice, ox: usize) {
        // SAFETY: forwarded.
        unsafe {
            for ch in (self.c0..self.full).step_by(16) {
                edge::<K, S, false>(slice_at(ch), ox);
            }
            if self.full < self.c1 {
                edge::<K, S, true>(slice_at(self.full), ox);
            }
        }
    }

    /// Interior columns `ox..ox + P` for every slice of the chunk.
    ///
    /// # Safety
    /// As [`run`]; `ox..ox + P` are interior columns.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn groups<const K: usize, const S: usize, const P: usize>(&self, slice_at: &impl Fn(usize) -> Slice, ox: usize) {
        // SAFETY: forwarded.
        unsafe {
            for ch in (self.c0..self.full).step_by(16) {
                group::<K, S, P, false>(slice_at(ch), ox);
            }
            if self.full < self.c1 {
                group::<K, S, P, true>(slice_at(self.full), ox);
            }
        }
    }
}

/// Loads the slice's channels of one input pixel.
///
/// # Safety
/// `p` has 16 readable floats, or as many as `mask` enables when `MASKED`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn load<const MASKED: bool>(p: *const f32, mask: __mmask16) -> __m512 {
    // SAFETY: the caller's guarantee.
    unsafe {
        if MASKED {
            _mm512_maskz_loadu_ps(mask, p)
        } else {
            _mm512_loadu_ps(p)
        }
    }
}

/// Clamps and stores one output pixel of the slice.
///
/// # Safety
/// `p` has 16 writable floats, or as many as `mask` enables when `MASKED`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn store<const MASKED: bool>(sl: Slice, p: *mut f32, v: __m512) {
    let v = _mm512_min_ps(sl.vmax, _mm512_max_ps(sl.vmin, v));
    // SAFETY: the caller's guarantee.
    unsafe {
        if MASKED {
            _mm512_mask_storeu_ps(p, sl.mask, v)
        } else {
            _mm512_storeu_ps(p, v)
        }
    }
}

/// `P` interior output pixels from column `ox` on: the group's window covers
/// input columns `ox * S - pad_left ..` `+ S * (P - 1) + K`, each loaded once
/// per window row and used by every pixel that reads it, in tap order.
///
/// # Safety
/// As [`run`]; `ox..ox + P` are interior columns.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn group<const K: usize, const S: usize, const P: usize, const MASKED: bool>(sl: Slice, ox: usize) {
    // SAFETY: interior columns read input columns inside 0..in_w of non-null rows; the
    // weights are inside the slice's block; the P outputs are the caller's.
    unsafe {
        let bias = _mm512_loadu_ps(sl.w);
        let mut acc = [bias; P];
        let col0 = ox * S - sl.pad_left;
        for ky in 0..K {
            let r = *sl.rows.add(ky);
            if r.is_null() {
                continue;
            }
            let base = r.add(col0 * sl.cs + sl.ch);
            for j in 0..S * (P - 1) + K {
                let x = load::<MASKED>(base.add(j * sl.cs), sl.mask);
                for (p, a) in acc.iter_mut().enumerate() {
                    if j >= S * p && j - S * p < K {
                        let kx = j - S * p;
                        *a = _mm512_fmadd_ps(x, _mm512_loadu_ps(sl.w.add(CR * (1 + ky * K + kx))), *a);
                    }
                }
            }
        }
        for (p, &a) in acc.iter().enumerate() {
            store::<MASKED>(sl, sl.out.add((ox + p) * sl.os), a);
        }
    }
}

/// One output pixel near an edge: taps outside the input row are skipped,
/// branch-free: their load and FMA run under an all-zero write mask (no
/// memory access, the accumulator kept as it is).
///
/// # Safety
/// As [`run`]; `ox < ow`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn edge<const K: usize, const S: usize, const MASKED: bool>(sl: Slice, ox: usize) {
    let lanes = if MASKED { sl.mask } else { 0xFFFF };
    // SAFETY: only columns inside 0..in_w of non-null rows are read (other taps are fully
    // masked: a masked-off lane is not accessed, so their wrapped address is never used);
    // weights and output as in `group`.
    unsafe {
        let mut acc = _mm512_loadu_ps(sl.w);
        for ky in 0..K {
            let r = *sl.rows.add(ky);
            if r.is_null() {
                continue;
            }
            for kx in 0..K {
                let ix = (ox * S + kx).wrapping_sub(sl.pad_left);
                let k = if ix < sl.in_w { lanes } else { 0 };
                let x = _mm512_maskz_loadu_ps(k, r.wrapping_add(ix.wrapping_mul(sl.cs).wrapping_add(sl.ch)));
                acc = _mm512_mask3_fmadd_ps(x, _mm512_loadu_ps(sl.w.add(CR * (1 + ky * K + kx))), acc, k);
            }
        }
        store::<MASKED>(sl, sl.out.add(ox * sl.os), acc);
    }
}
