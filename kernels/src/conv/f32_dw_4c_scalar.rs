//! `f32_dw_4c_scalar`: the portable depthwise micro-kernel, 4 channels per
//! step, plain Rust (multiply, then add); the reference and the fallback.

use super::DwUkernel;
use crate::Isa;

pub const CR: usize = 4;

pub const UKERNEL: DwUkernel = DwUkernel { name: "f32_dw_4c_scalar", isa: Isa::Scalar, cr: CR, run };

/// See [`super::DwRunFn`].
///
/// # Safety
/// The [`super::DwRunFn`] contract.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run(
    pixels: usize,
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_pixel_stride: usize,
    out_channel_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    for px in 0..pixels {
        // SAFETY: the DwRunFn contract: pixel px's taps pointers and output channels.
        unsafe {
            run_pixel(
                channels,
                taps,
                inputs.add(px * taps),
                weights,
                out.add(px * out_pixel_stride),
                out_channel_stride,
                clamp_min,
                clamp_max,
            )
        }
    }
}

/// One output pixel.
///
/// # Safety
/// `inputs` holds `taps` pointers to `channels` readable floats; `weights`
/// holds ceil(channels/4) packed blocks; `out + c * out_stride` is writable
/// for `c < channels`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn run_pixel(
    channels: usize,
    taps: usize,
    inputs: *const *const f32,
    weights: *const f32,
    out: *mut f32,
    out_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
) {
    let block = UKERNEL.weights_block_len(taps);
    let mut c0 = 0;
    while c0 < channels {
        let ct = (channels - c0).min(CR);
        // SAFETY: block c0/CR exists (bias then taps groups of CR weights); every input
        // pointer has `channels` floats so c0+i < channels is readable; out + (c0+i)*out_stride
        // is writable for c0+i < channels.
        unsafe {
            let wb = weights.add(c0 / CR * block);
            let mut acc: [f32; CR] = std::ptr::read_unaligned(wb as *const [f32; CR]);
            for t in 0..taps {
                let x = (*inputs.add(t)).add(c0);
                let wt = wb.add(CR * (t + 1));
                for (i, a) in acc.iter_mut().enumerate().take(ct) {
                    *a += *x.add(i) * *wt.add(i);
                }
            }
            for (i, &a) in acc.iter().enumerate().take(ct) {
                *out.add((c0 + i) * out_stride) = crate::Clamp { min: clamp_min, max: clamp_max }.apply(a);
            }
        }
        c0 += CR;
    }
}
