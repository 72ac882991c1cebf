//! Dynamic-range (hybrid) FULLY_CONNECTED and CONV_2D: int8 weights, fp32
//! activations quantized at run time (per row for FULLY_CONNECTED, per image
//! for CONV_2D, as TFLite's hybrid kernels do), int8 compute through
//! `qgemm_acc`, and the result scaled back to fp32:
//! `out = bias + (acc − offset · col_sum) · (input_scale · weight_scale)`.

use armrest_kernels::quant::{self, PackedQGemm};
use armrest_kernels::{Clamp, Exec, Nhwc, Window2d};

/// TFLite's `SymmetricQuantizeFloats`: `q = round(x · 127 / max|x|)` in
/// [−127, 127]; returns the scaling factor (1 for an all-zero row).
pub fn quantize_symmetric(values: &[f32], out: &mut [i8]) -> f32 {
    let (min, max) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = if values.is_empty() { 0.0 } else { min.abs().max(max.abs()) };
    if range == 0.0 {
        out.fill(0);
        return 1.0;
    }
    let inv = 127.0 / range;
    for (q, &v) in out.iter_mut().zip(values) {
        *q = ((v * inv).round() as i32).clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// TFLite's `AsymmetricQuantizeFloats`: the range [min(0, min x), max(0, max x)]
/// over the 256 levels, the zero point nudged onto an integer; returns
/// (scaling factor, offset), (1, 0) for an all-zero row.
pub fn quantize_asymmetric(values: &[f32], out: &mut [i8]) -> (f32, i32) {
    let (min, max) = values.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (rmin, rmax) = (min as f64, max as f64);
    if rmin == rmax {
        out.fill(0);
        return (1.0, 0);
    }
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = (rmax - rmin) / (qmax - qmin);
    let from_min = qmin - rmin / scale;
    let from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp = if err_min < err_max { from_min } else { from_max };
    let offset = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        zp.round() as i32
    };
    let factor = scale as f32;
    let inv = 1.0f32 / factor;
    for (q, &v) in out.iter_mut().zip(values) {
        *q = ((offset as f32 + v * inv).round() as i32).clamp(-128, 127) as i8;
    }
    (factor, offset)
}

fn quantize(values: &[f32], out: &mut [i8], asymmetric: bool) -> (f32, i32) {
    if asymmetric {
        quantize_asymmetric(values, out)
    } else {
        (quantize_symmetric(values, out), 0)
    }
}

/// `out[r][j] = clamp(bias[j] + (acc[r][j] − offset · col_sum[j]) · (factor · scale[j]))`.
#[allow(clippy::too_many_arguments)]
fn scale_back(acc: &[i32], n: usize, col_sums: &[i32], offset: i32, factor: f32, scales: &[f32], bias: Option<&[f32]>, clamp: Clamp, out: &mut [f32]) {
    for (acc_row, out_row) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for j in 0..n {
            let dot = acc_row[j].wrapping_sub(offset.wrapping_mul(col_sums[j]));
            let s = factor * if scales.len() == 1 { scales[0] } else { scales[j] };
            let b = bias.map_or(0.0, |b| b[j]);
            out_row[j] = clamp.apply(b + dot as f32 * s);
        }
    }
}

/// Dynamic-range FULLY_CONNECTED over `rows` rows of `w.k()` values; each row
/// quantized on its own. `scales`: the weights' scale, per tensor or per output.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(exec: Exec, x: &[f32], rows: usize, w: &PackedQGemm, scales: &[f32], bias: Option<&[f32]>, clamp: Clamp, asymmetric: bool, out: &mut [f32]) {
    let (n, k) = (w.n(), w.k());
    let mut q = vec![0i8; rows * k];
    let mut params = Vec::with_capacity(rows);
    for (src, dst) in x.chunks_exact(k).zip(q.chunks_exact_mut(k)) {
        params.push(quantize(src, dst, asymmetric));
    }
    let mut acc = vec![0i32; rows * n];
    quant::qgemm_acc(exec, rows, &q, k, w, &mut acc, n);
    for (r, &(factor, offset)) in params.iter().enumerate() {
        scale_back(&acc[r * n..(r + 1) * n], n, w.col_sums(), offset, factor, scales, bias, clamp, &mut out[r * n..(r + 1) * n]);
    }
}

/// Dynamic-range CONV_2D (filter `[o, kh, kw, c]` packed as `[o, kh·kw·c]`):
/// each image quantized on its own, im2col with the image's offset in the
/// padding (so padding contributes nothing), then `qgemm_acc`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(exec: Exec, win: &Window2d, xs: Nhwc, x: &[f32], os: Nhwc, w: &PackedQGemm, scales: &[f32], bias: Option<&[f32]>, clamp: Clamp, asymmetric: bool, out: &mut [f32]) {
    let (n, k) = (w.n(), w.k());
    let image = xs.h * xs.w * xs.c;
    let pixels = os.h * os.w;
    let mut q = vec![0i8; image];
    let mut cols = vec![0i8; pixels * k];
    let mut acc = vec![0i32; pixels * n];
    for b in 0..xs.n {
        let (factor, offset) = quantize(&x[b * image..(b + 1) * image], &mut q, asymmetric);
        im2col(win, xs, &q, os, offset as i8, &mut cols);
        quant::qgemm_acc(exec, pixels, &cols, k, w, &mut acc, n);
        scale_back(&acc, n, w.col_sums(), offset, factor, scales, bias, clamp, &mut out[b * pixels * n..(b + 1) * pixels * n]);
    }
}

/// One image's patches: row `p` holds the `kh·kw·c` input values under output pixel `p`.
fn im2col(win: &Window2d, xs: Nhwc, img: &[i8], os: Nhwc, fill: i8, cols: &mut [i8]) {
    let c = xs.c;
    let k = win.kernel_h * win.kernel_w * c;
    for oy in 0..os.h {
        for ox in 0..os.w {
            let row = &mut cols[(oy * os.w + ox) * k..][..k];
            for ky in 0..win.kernel_h {
                let iy = (oy * win.stride_h + ky * win.dilation_h) as isize - win.pad_top as isize;
                for kx in 0..win.kernel_w {
                    let ix = (ox * win.stride_w + kx * win.dilation_w) as isize - win.pad_left as isize;
                    let dst = &mut row[(ky * win.kernel_w + kx) * c..][..c];
                    if iy >= 0 && (iy as usize) < xs.h && ix >= 0 && (ix as usize) < xs.w {
                        dst.copy_from_slice(&img[(iy as usize * xs.w + ix as usize) * c..][..c]);
                    } else {
                        dst.fill(fill);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_rows() {
        let mut q = [0i8; 4];
        let f = quantize_symmetric(&[0.5, -1.0, 0.25, 0.0], &mut q);
        assert_eq!(f, 1.0 / 127.0);
        assert_eq!(q, [64, -127, 32, 0]);
        assert_eq!(quantize_symmetric(&[0.0, 0.0], &mut q[..2]), 1.0);
        assert_eq!(&q[..2], &[0, 0]);
    }

    #[test]
    fn asymmetric_rows() {
        let mut q = [0i8; 3];
        // Only positive values: the range is [0, 2.55], zero point -128.
        let (f, off) = quantize_asymmetric(&[0.0, 2.55, 1.0], &mut q);
        assert!((f - 0.01).abs() < 1e-7);
        assert_eq!(off, -128);
        assert_eq!(q, [-128, 127, -28]);
        // Symmetric data: the zero point lands in the middle.
        let (f, off) = quantize_asymmetric(&[-1.0, 1.0, 0.0], &mut q);
        assert!((f - 2.0 / 255.0).abs() < 1e-7);
        // The zero point sits at -0.5 before nudging: it rounds to -1 or 0 depending on the last bit.
        assert!(off == 0 || off == -1, "offset {off}");
        assert_eq!(q[2] as i32, off);
        // Every value dequantizes back within half a step.
        let values: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin() * 3.0 - 0.5).collect();
        let mut q = vec![0i8; values.len()];
        let (f, off) = quantize_asymmetric(&values, &mut q);
        for (&v, &qv) in values.iter().zip(&q) {
            assert!((f * (qv as i32 - off) as f32 - v).abs() <= f * 0.5 + 1e-6);
        }
    }
}
