//! CONV_2D and DEPTHWISE_CONV_2D over NHWC.
//!
//! CONV_2D is an indirect GEMM: an indirection buffer holds, for every group
//! of `mr` output pixels, every kernel tap and every pixel of the group, the
//! offset of the input pixel that tap reads (or [`ZERO_ROW`] where it falls in
//! the padding), and the GEMM micro-kernel's indirect variant reads the input
//! through it: no im2col copy. The buffer depends only on the input shape and
//! the geometry, so it is built once per shape and cached in the packed
//! weights. 1x1 stride-1 unpadded convolutions are a plain GEMM.
//!
//! DEPTHWISE_CONV_2D runs a [`DwUkernel`] per output pixel: vectorised over
//! channels, weights packed tap-major per channel block with the bias first,
//! padding read from a zero row (no per-element branches).

use std::sync::{Arc, Mutex};

use crate::gemm::{self, GemmUkernel, PackedWeights, SharedMut, TilePlan, ZERO_ROW};
use crate::{partition, Clamp, Exec, Isa, Nhwc, Window2d};

pub mod f32_dw_4c_scalar;
#[cfg(target_arch = "aarch64")]
pub mod f32_dw_8c_neon_fmla;
#[cfg(target_arch = "x86_64")]
pub mod f32_dw_16c_avx2_fma;
#[cfg(target_arch = "x86_64")]
pub mod f32_dw_32c_avx512;
#[cfg(target_arch = "x86_64")]
pub mod f32_dw_32c_avx512_rows;
pub mod fused;

/// The window-row path's indirection (see [`reads_window_rows`]) for one
/// input shape, geometry and thread count: each task's runs of interior or
/// edge pixels, and every run's indirection groups.
struct WindowRows {
    in_shape: Nhwc,
    win: Window2d,
    threads: usize,
    task_runs: Vec<Vec<RowRun>>,
    offsets: Vec<usize>,
}

/// Output pixels `first..first + count`, all interior (one pointer per window
/// row) or all edge (one per tap), whose indirection starts at `offsets[at]`.
#[derive(Clone, Copy)]
struct RowRun {
    first: usize,
    count: usize,
    interior: bool,
    at: usize,
}

/// An indirection buffer for one input shape and geometry (see [`gemm::IgemmRunFn`]).
struct Indirection {
    in_shape: Nhwc,
    win: Window2d,
    offsets: Vec<usize>,
}

/// Calls `put(s, offset)` for each of the `kh * kw` taps of output pixel
/// (`b`, `oy`, `ox`) in order (`offset` of the tap's input pixel, or
/// [`ZERO_ROW`] in the padding), or, with `whole_rows`, for each of its `kh`
/// window rows (the offset of the row's first pixel; only for pixels whose
/// window rows lie wholly inside the image horizontally, `dilation_w == 1`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn window_offsets(in_shape: Nhwc, win: &Window2d, b: usize, oy: usize, ox: usize, whole_rows: bool, mut put: impl FnMut(usize, usize)) {
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    for ky in 0..kh {
        let iy = (oy * win.stride_h + ky * win.dilation_h).checked_sub(win.pad_top).filter(|&y| y < in_shape.h);
        let line = iy.map(|iy| (b * in_shape.h + iy) * in_shape.w);
        if whole_rows {
            put(ky, line.map_or(ZERO_ROW, |l| (l + ox * win.stride_w - win.pad_left) * in_shape.c));
            continue;
        }
        for kx in 0..kw {
            let ix = (ox * win.stride_w + kx * win.dilation_w).checked_sub(win.pad_left).filter(|&x| x < in_shape.w);
            let offset = match (line, ix) {
                (Some(l), Some(ix)) => (l + ix) * in_shape.c,
                _ => ZERO_ROW,
            };
            put(ky * kw + kx, offset);
        }
    }
}

/// Builds the indirection buffer: `ceil(m / mr)` groups of `taps x mr`
/// offsets, output pixels past `m` in the last group aliasing pixel `m - 1`.
fn build_indirection(mr: usize, in_shape: Nhwc, win: &Window2d) -> Vec<usize> {
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let taps = win.kernel_h * win.kernel_w;
    let m = in_shape.n * oh * ow;
    let groups = m.div_ceil(mr);
    let mut offsets = vec![ZERO_ROW; groups * taps * mr];
    for g in 0..groups {
        for r in 0..mr {
            let pixel = (g * mr + r).min(m - 1);
            let (b, oy, ox) = (pixel / (oh * ow), pixel / ow % oh, pixel % ow);
            window_offsets(in_shape, win, b, oy, ox, false, |s, offset| offsets[(g * taps + s) * mr + r] = offset);
        }
    }
    offsets
}

/// A CONV_2D's weights (`[out_c, kh, kw, in_c]`, TFLite's OHWI) packed once.
pub struct PackedConv2d {
    pub isa: Isa,
    pub out_c: usize,
    pub in_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    /// The GEMM right-hand side: `n = out_c`, `k = kh * kw * in_c`, tap-major.
    weights: PackedWeights,
    /// `kernel_w * in_c` zeros, what taps (or whole window rows) in the padding read.
    zero: Vec<f32>,
    /// The indirection buffer of the last input shape seen.
    indirection: Mutex<Option<Arc<Indirection>>>,
    /// The window-row indirection of the last input shape and thread count seen.
    window_rows: Mutex<Option<Arc<WindowRows>>>,
}

impl PackedConv2d {
    pub fn pack(isa: Isa, out_c: usize, kernel_h: usize, kernel_w: usize, in_c: usize, w_ohwi: &[f32], bias: Option<&[f32]>) -> PackedConv2d {
        let weights = PackedWeights::pack(isa, out_c, kernel_h * kernel_w * in_c, w_ohwi, bias);
        PackedConv2d {
            isa: weights.isa,
            out_c,
            in_c,
            kernel_h,
            kernel_w,
            weights,
            zero: vec![0.0; kernel_w * in_c],
            indirection: Mutex::new(None),
            window_rows: Mutex::new(None),
        }
    }

    /// The GEMM micro-kernel these weights are packed for.
    pub fn ukernel(&self) -> &'static GemmUkernel {
        self.weights.ukernel()
    }

    /// The packed weights as a GEMM right-hand side (`k = kh * kw * in_c`).
    pub fn gemm_weights(&self) -> &PackedWeights {
        &self.weights
    }

    /// The window-row runs for `in_shape`, `win` and the task split `plan` of a
    /// `threads`-thread pool, built on first use and cached.
    fn window_rows_for(&self, in_shape: Nhwc, win: &Window2d, plan: &TilePlan, threads: usize) -> Arc<WindowRows> {
        let mut cached = self.window_rows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*cached {
            Some(rows) if rows.in_shape == in_shape && rows.win == *win && rows.threads == threads => rows.clone(),
            _ => {
                let rows = Arc::new(build_window_rows(self.ukernel().mr, in_shape, win, plan, threads, self.out_c));
                *cached = Some(rows.clone());
                rows
            }
        }
    }

    fn indirection_for(&self, in_shape: Nhwc, win: &Window2d) -> Arc<Indirection> {
        let mut cached = self.indirection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*cached {
            Some(ind) if ind.in_shape == in_shape && ind.win == *win => ind.clone(),
            _ => {
                let offsets = build_indirection(self.ukernel().mr, in_shape, win);
                let ind = Arc::new(Indirection { in_shape, win: *win, offsets });
                *cached = Some(ind.clone());
                ind
            }
        }
    }
}

/// Splits each task's output pixels into runs and builds their indirection
/// (see [`conv2d_window_rows`]).
fn build_window_rows(mr: usize, in_shape: Nhwc, win: &Window2d, plan: &TilePlan, threads: usize, n: usize) -> WindowRows {
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let (m, kw) = (in_shape.n * oh * ow, win.kernel_w);
    let (x0, x1) = interior_columns(in_shape, win);
    let mut offsets = Vec::new();
    let task_runs = (0..plan.tasks())
        .map(|t| {
            let (m0, mt, _, _) = plan.task(t, m, n);
            let mut runs = Vec::new();
            let mut p = m0;
            while p < m0 + mt {
                let ox = p % ow;
                let interior = x0 <= ox && ox < x1;
                let run_end = if interior { x1 } else if ox < x0 { x0 } else { ow };
                let count = (run_end - ox).min(m0 + mt - p);
                // The run's pixels share image b and output row oy.
                let (b, oy) = (p / (oh * ow), p / ow % oh);
                let taps = if interior { win.kernel_h } else { win.kernel_h * kw };
                let at = offsets.len();
                let groups = count.div_ceil(mr);
                offsets.resize(at + groups * taps * mr, ZERO_ROW);
                for g in 0..groups {
                    for r in 0..mr {
                        let x = ox + (g * mr + r).min(count - 1);
                        window_offsets(in_shape, win, b, oy, x, interior, |s, offset| offsets[at + (g * taps + s) * mr + r] = offset);
                    }
                }
                runs.push(RowRun { first: p, count, interior, at });
                p += count;
            }
            runs
        })
        .collect();
    WindowRows { in_shape, win: *win, threads, task_runs, offsets }
}

fn check_window(win: &Window2d, kernel_h: usize, kernel_w: usize) {
    assert!(
        win.kernel_h == kernel_h && win.kernel_w == kernel_w,
        "window kernel {}x{} differs from the weights' {kernel_h}x{kernel_w}",
        win.kernel_h,
        win.kernel_w
    );
    assert!(
        win.stride_h > 0 && win.stride_w > 0 && win.dilation_h > 0 && win.dilation_w > 0,
        "strides and dilations must be positive: {win:?}"
    );
}

/// Convolution of `input` (shape `in_shape`, `in_shape.c == w.in_c`) into
/// `output` of shape `[n, win.out_h(h), win.out_w(w), w.out_c]`; zero padding.
pub fn conv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedConv2d, output: &mut [f32], clamp: Clamp) {
    check_window(win, w.kernel_h, w.kernel_w);
    assert_eq!(in_shape.c, w.in_c, "conv2d: input channels");
    assert!(input.len() >= in_shape.len(), "conv2d: input has {} values for {in_shape:?}", input.len());
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let m = in_shape.n * oh * ow;
    let n = w.out_c;
    assert!(output.len() >= m * n, "conv2d: output has {} values, needs {}", output.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    let pointwise = win.kernel_h == 1
        && win.kernel_w == 1
        && win.stride_h == 1
        && win.stride_w == 1
        && win.pad_top + win.pad_left + win.pad_bottom + win.pad_right == 0;
    if pointwise {
        // Every output pixel is one input pixel: a plain GEMM over the NHWC rows.
        gemm::gemm(exec, m, input, w.in_c, &w.weights, output, n, clamp);
        return;
    }
    if reads_window_rows(w, win, in_shape) {
        conv2d_window_rows(exec, win, in_shape, input, w, output, clamp);
    } else {
        conv2d_indirect(exec, win, in_shape, input, w, output, clamp);
    }
}

/// [`conv2d`] through the layer's indirection buffer (one pointer per tap).
fn conv2d_indirect(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedConv2d, output: &mut [f32], clamp: Clamp) {
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let (m, n) = (in_shape.n * oh * ow, w.out_c);
    let ind = w.indirection_for(in_shape, win);
    let uk = w.ukernel();
    let (kc, ks) = (w.in_c, w.kernel_h * w.kernel_w);
    let plan = TilePlan::new(exec.pool.num_threads(), m, n, kc * ks, uk.mr, uk.nr);
    let packed = w.weights.packed();
    let dst = SharedMut::new(output);
    plan.run(exec, &|t| {
        let (m0, mt, n0, nt) = plan.task(t, m, n);
        // SAFETY: m0 is a multiple of mr (TilePlan), so the task's indirection groups start
        // at m0*ks and cover mt rows; every offset was built for this input shape, whose
        // values `input` holds (asserted above), and `zero` holds kc zeros; the packed
        // blocks from n0 cover nt columns; this task alone writes the mt x nt region of
        // `output` at (m0, n0), inside `output` (asserted above).
        unsafe {
            (uk.run_indirect)(
                mt,
                nt,
                kc,
                ks,
                ind.offsets.as_ptr().add(uk.indirection_offset(m0, ks)),
                input.as_ptr(),
                w.zero.as_ptr(),
                packed.as_ptr().add(uk.rhs_packed_offset(n0, kc * ks)),
                dst.ptr().add(uk.dst_offset(m0, n0, n)),
                n,
                clamp.min,
                clamp.max,
            )
        }
    });
}

/// Input channels up to which a convolution reads whole window rows (below).
const WINDOW_ROWS_MAX_CHANNELS: usize = 4;
/// Interior output columns per row below which it does not (see [`reads_window_rows`]).
const WINDOW_ROWS_MIN_INTERIOR: usize = 96;

/// Whether a (non-pointwise) convolution reads whole window rows. With a
/// handful of input channels (an RGB stem) each tap of the indirect GEMM
/// reads only `in_c` floats, so resolving one row pointer per tap costs more
/// than the tap's multiply-adds. A window row of `kw` horizontally adjacent
/// taps (`dilation_w == 1`) is `kw * in_c` contiguous floats of NHWC, and the
/// packed weights are tap-major, so the same indirect micro-kernel can read
/// `kh` such rows (`kc = kw * in_c`) instead of `kh * kw` taps: the same
/// multiply-adds in the same order, bit-identical, with `kw` times fewer
/// pointers. Pixels whose window crosses the left or right padding keep one
/// pointer per tap.
///
/// Edge pixels run as separate calls of one or two rows each, which are
/// latency-bound, so narrow outputs lose more there than they save:
/// measured 1 thread, MobileNetV3-like's stem (112 interior columns) and
/// hand_recrop's (128) made the models 4-7% faster, face_detection_short_range's
/// (62) and iris_landmark's (30) 2-4% slower. Hence the width threshold.
fn reads_window_rows(w: &PackedConv2d, win: &Window2d, in_shape: Nhwc) -> bool {
    let (x0, x1) = interior_columns(in_shape, win);
    w.in_c <= WINDOW_ROWS_MAX_CHANNELS && w.kernel_w > 1 && win.dilation_w == 1 && w.ukernel().kr == 1 && x1 >= x0 + WINDOW_ROWS_MIN_INTERIOR
}

/// The output columns `x0..x1` whose window rows lie wholly inside the
/// image horizontally (`x1 <= x0` when there are none).
fn interior_columns(in_shape: Nhwc, win: &Window2d) -> (usize, usize) {
    let ow = win.out_w(in_shape.w);
    let kw_span = (win.kernel_w - 1) * win.dilation_w + 1;
    let x0 = win.pad_left.div_ceil(win.stride_w).min(ow);
    let x1 = if in_shape.w + win.pad_left >= kw_span { ((in_shape.w + win.pad_left - kw_span) / win.stride_w + 1).min(ow) } else { 0 };
    (x0, x1)
}

/// [`conv2d`] on the window-row path (see [`reads_window_rows`]): each task
/// calls the indirect micro-kernel once per run of its output pixels that
/// are all interior (whole window rows inside the image) or all edge; the
/// runs and their indirection are built once per shape and thread count.
fn conv2d_window_rows(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedConv2d, output: &mut [f32], clamp: Clamp) {
    let uk = w.ukernel();
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let (m, n, c, kw) = (in_shape.n * oh * ow, w.out_c, w.in_c, w.kernel_w);
    let k = w.kernel_h * kw * c;
    let plan = TilePlan::new(exec.pool.num_threads(), m, n, k, uk.mr, uk.nr);
    let rows = w.window_rows_for(in_shape, win, &plan, exec.pool.num_threads());
    let packed = w.weights.packed();
    let dst = SharedMut::new(output);
    plan.run(exec, &|t| {
        let (_, _, n0, nt) = plan.task(t, m, n);
        for run in &rows.task_runs[t] {
            let (kc, ks) = if run.interior { (kw * c, w.kernel_h) } else { (c, w.kernel_h * kw) };
            // SAFETY: from offsets[run.at] the run has ceil(count / mr) groups of ks x mr
            // entries (build_window_rows, for this shape and plan), each ZERO_ROW or the
            // offset of kc floats inside `input` (a tap's pixel, or an interior pixel's
            // window row of kw pixels), whose values `input` holds (asserted by conv2d);
            // `zero` holds kw * c >= kc zeros; the packed blocks from n0 (a multiple of nr,
            // TilePlan) cover nt columns of this k = ks * kc; this task alone writes the
            // count x nt region of `output` at (first, n0), inside `output` (m x n).
            unsafe {
                (uk.run_indirect)(
                    run.count,
                    nt,
                    kc,
                    ks,
                    rows.offsets.as_ptr().add(run.at),
                    input.as_ptr(),
                    w.zero.as_ptr(),
                    packed.as_ptr().add(uk.rhs_packed_offset(n0, k)),
                    dst.ptr().add(uk.dst_offset(run.first, n0, n)),
                    n,
                    clamp.min,
                    clamp.max,
                )
            }
        }
    });
}

/// Depthwise micro-kernel entry point:
/// `run(pixels, channels, taps, inputs, weights, out, out_pixel_stride, out_channel_stride, clamp_min, clamp_max)`.
///
/// For every output pixel `p < pixels` and channel `c < channels`:
/// `out[p * out_pixel_stride + c * out_channel_stride] =
/// clamp(bias[c] + sum_t inputs[p * taps + t][c] * w[t][c])`, taps in a
/// fixed order that does not depend on `pixels` or the channel position.
///
/// # Safety
/// - `inputs` holds `pixels * taps` pointers, each to `channels` readable floats;
/// - `weights` holds `ceil(channels / cr)` packed blocks for this `taps`
///   (see [`DwUkernel::weights_offset`]);
/// - every `out` element named above is writable, and nothing else accesses
///   those floats during the call.
pub type DwRunFn = unsafe fn(
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
);

/// One depthwise micro-kernel: `cr` channels per step. Its packed weights are
/// blocks of `cr` channels: `cr` biases, then `taps` groups of `cr` weights.
#[derive(Clone, Copy, Debug)]
pub struct DwUkernel {
    /// `f32_dw_<cr>c_<isa>`.
    pub name: &'static str,
    pub isa: Isa,
    pub cr: usize,
    pub run: DwRunFn,
}

impl DwUkernel {
    /// Floats in one packed channel block (bias included).
    pub fn weights_block_len(&self, taps: usize) -> usize {
        self.cr * (taps + 1)
    }
    /// Offset of channel `c_idx` (a multiple of `cr`) in the packed weights.
    pub fn weights_offset(&self, c_idx: usize, taps: usize) -> usize {
        debug_assert_eq!(c_idx % self.cr, 0);
        c_idx / self.cr * self.weights_block_len(taps)
    }
    /// Floats in the packed weights of `channels` channels.
    pub fn weights_size(&self, channels: usize, taps: usize) -> usize {
        channels.div_ceil(self.cr) * self.weights_block_len(taps)
    }
}

/// The depthwise micro-kernel for a tier; tiers not built for (or not
/// detected on) this machine fall back to the scalar kernel.
pub fn dw_ukernel(isa: Isa) -> &'static DwUkernel {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => &f32_dw_16c_avx2_fma::UKERNEL,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => &f32_dw_32c_avx512::UKERNEL,
        #[cfg(target_arch = "aarch64")]
        Isa::Neon if isa.is_available() => &f32_dw_8c_neon_fmla::UKERNEL,
        _ => &f32_dw_4c_scalar::UKERNEL,
    }
}

/// DEPTHWISE_CONV_2D weights (`[1, kh, kw, in_c * depth_multiplier]`) packed once.
pub struct PackedDepthwise {
    pub isa: Isa,
    pub in_c: usize,
    pub depth_multiplier: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    ukernel: &'static DwUkernel,
    /// One plane per multiplier index `j`: the packed weights of output
    /// channels `c * depth_multiplier + j`, `c < in_c`.
    packed: gemm::AlignedBuf,
    /// `in_c` zeros, the pixel padding taps read.
    zero: Vec<f32>,
}

impl PackedDepthwise {
    pub fn pack(isa: Isa, kernel_h: usize, kernel_w: usize, in_c: usize, depth_multiplier: usize, w_1hwc: &[f32], bias: Option<&[f32]>) -> PackedDepthwise {
        let ukernel = dw_ukernel(isa);
        let (taps, dm, cr) = (kernel_h * kernel_w, depth_multiplier, ukernel.cr);
        let out_c = in_c * dm;
        assert!(w_1hwc.len() >= taps * out_c, "depthwise weights: {} values, need {}", w_1hwc.len(), taps * out_c);
        if let Some(b) = bias {
            assert!(b.len() >= out_c, "depthwise bias: {} values, need {out_c}", b.len());
        }
        let plane = ukernel.weights_size(in_c, taps);
        let mut packed = gemm::AlignedBuf::zeroed(plane * dm);
        let data = packed.as_mut_slice();
        for j in 0..dm {
            for (blk, block) in data[j * plane..(j + 1) * plane].chunks_exact_mut(ukernel.weights_block_len(taps)).enumerate() {
                let c0 = blk * cr;
                for (i, c) in (c0..in_c.min(c0 + cr)).enumerate() {
                    let oc = c * dm + j;
                    block[i] = bias.map_or(0.0, |b| b[oc]);
                    for t in 0..taps {
                        block[cr * (t + 1) + i] = w_1hwc[t * out_c + oc];
                    }
                }
            }
        }
        PackedDepthwise {
            isa: ukernel.isa,
            in_c,
            depth_multiplier,
            kernel_h,
            kernel_w,
            ukernel,
            packed,
            zero: vec![0.0; in_c],
        }
    }

    /// The micro-kernel these weights are packed for.
    pub fn ukernel(&self) -> &'static DwUkernel {
        self.ukernel
    }
}

/// The output columns `lo..hi` (of `ow`) whose input column
/// `ox * stride + offset - pad` lies inside `0..in_w`.
fn tap_columns(ow: usize, offset: usize, pad: usize, stride: usize, in_w: usize) -> (usize, usize) {
    // ox * stride + offset >= pad  and  ox * stride + offset < pad + in_w
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(ow);
    let hi = (pad + in_w).saturating_sub(offset).div_ceil(stride).min(ow);
    (lo, hi.max(lo))
}

/// Work below which a depthwise task is not worth a thread hand-off (multiply-adds).
const DW_MIN_TASK_MACS: usize = 1 << 16;

/// Depthwise convolution; output channel `c * depth_multiplier + m` reads input channel `c`.
pub fn depthwise_conv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedDepthwise, output: &mut [f32], clamp: Clamp) {
    check_window(win, w.kernel_h, w.kernel_w);
    assert_eq!(in_shape.c, w.in_c, "depthwise_conv2d: input channels");
    assert!(input.len() >= in_shape.len(), "depthwise_conv2d: input has {} values for {in_shape:?}", input.len());
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let (c, dm) = (w.in_c, w.depth_multiplier);
    let out_c = c * dm;
    let rows = in_shape.n * oh;
    assert!(output.len() >= rows * ow * out_c, "depthwise_conv2d: output has {} values, needs {}", output.len(), rows * ow * out_c);
    if rows == 0 || ow == 0 || out_c == 0 {
        return;
    }
    let taps = w.kernel_h * w.kernel_w;
    let uk = w.ukernel;
    let macs = rows * ow * out_c * taps;
    let plan = DwPlan::new(exec.pool.num_threads(), macs, rows, c, uk.cr);
    let dst = SharedMut::new(output);
    partition::run(exec, plan.tasks(), plan.parallel, &|t| {
        let (row_range, c0, cc) = plan.task(t);
        // SAFETY: `output` holds rows * ow * out_c values (asserted above), the plan's tasks
        // cover disjoint (row, channel block) pieces, and this task alone writes its own.
        unsafe { dw_rows(win, in_shape, input, w, oh, ow, row_range, c0, cc, dst, clamp) }
    });
}

/// Depthwise output rows `row_range` (row = image * `oh` + output row) for
/// channels `c0..c0 + cc` (`c0` a multiple of the micro-kernel's `cr`),
/// written at `dst + row * ow * out_c`. Each output is the same fixed-order
/// sum whatever the rows, channels or `oh` a call covers.
///
/// # Safety
/// `input` holds `in_shape` (checked by the caller against `w` and `win`),
/// `ow == win.out_w(in_shape.w)`, and channels `c0 * dm..(c0 + cc) * dm` of
/// every output row in `row_range` are writable at `dst` and accessed by
/// nothing else during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dw_rows(win: &Window2d, in_shape: Nhwc, input: &[f32], w: &PackedDepthwise, oh: usize, ow: usize, row_range: std::ops::Range<usize>, c0: usize, cc: usize, dst: SharedMut, clamp: Clamp) {
    let (c, dm) = (w.in_c, w.depth_multiplier);
    let out_c = c * dm;
    let (kh, kw) = (w.kernel_h, w.kernel_w);
    let taps = kh * kw;
    let uk = w.ukernel;
    let plane = uk.weights_size(c, taps);
    let packed = w.packed.as_slice();
    #[cfg(target_arch = "x86_64")]
    let row_kernel = match uk.isa {
        Isa::Avx512 if dm == 1 => f32_dw_32c_avx512_rows::row_kernel(kh, kw, win.stride_w, win.dilation_w),
        _ => None,
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(run_row) = row_kernel {
        // Window rows as pointers (null in the padding), no per-pixel indirection.
        let image_c0 = &input[c0..];
        let mut row_ptrs = [std::ptr::null::<f32>(); 5];
        for row in row_range {
            let (b, oy) = (row / oh, row % oh);
            let image = &image_c0[b * in_shape.h * in_shape.w * c..];
            for (ky, p) in row_ptrs.iter_mut().enumerate().take(kh) {
                let iy = (oy * win.stride_h + ky * win.dilation_h).checked_sub(win.pad_top).filter(|&y| y < in_shape.h);
                *p = iy.map_or(std::ptr::null(), |iy| image[iy * in_shape.w * c..].as_ptr());
            }
            // SAFETY: row_kernel is only chosen on the AVX-512 tier (detected when the weights
            // were packed) for kh == kw <= 5 and multiplier 1; every non-null row pointer starts
            // an input row of in_shape.w pixels of c floats seen from channel c0, of which the
            // cc from c0 are readable; the packed blocks from c0/32 cover cc channels for kh*kw
            // taps; this task alone writes channels c0..c0+cc of output row `row`.
            unsafe {
                run_row(
                    row_ptrs.as_ptr(),
                    in_shape.w,
                    c,
                    win.pad_left,
                    ow,
                    cc,
                    packed.as_ptr().add(uk.weights_offset(c0, taps)),
                    dst.ptr().add(row * ow * out_c + c0),
                    out_c,
                    clamp.min,
                    clamp.max,
                )
            }
        }
        return;
    }
    // Input pixels and the zero row, seen from channel c0 on (c0 < c).
    let (image_c0, zero) = (&input[c0..], w.zero[c0..].as_ptr());
    // One output row's indirection: `ow` pixels of `taps` input pixel pointers.
    let mut ptrs: Vec<*const f32> = vec![zero; ow * taps];
    for row in row_range {
        let (b, oy) = (row / oh, row % oh);
        let image = &image_c0[b * in_shape.h * in_shape.w * c..];
        for ky in 0..kh {
            let iy = (oy * win.stride_h + ky * win.dilation_h).checked_sub(win.pad_top).filter(|&y| y < in_shape.h);
            for kx in 0..kw {
                let t = ky * kw + kx;
                // Output columns whose tap lands inside the row: one contiguous range.
                let (lo, hi) = match iy {
                    Some(_) => tap_columns(ow, kx * win.dilation_w, win.pad_left, win.stride_w, in_shape.w),
                    None => (0, 0),
                };
                let (head, rest) = ptrs.split_at_mut(lo * taps);
                for pixel_ptrs in head.chunks_exact_mut(taps).chain(rest[(hi - lo) * taps..].chunks_exact_mut(taps)) {
                    pixel_ptrs[t] = zero;
                }
                if let Some(iy) = iy.filter(|_| lo < hi) {
                    let first = (iy * in_shape.w + lo * win.stride_w + kx * win.dilation_w - win.pad_left) * c;
                    let row = &image[first..];
                    for (i, pixel_ptrs) in ptrs.chunks_exact_mut(taps).skip(lo).take(hi - lo).enumerate() {
                        pixel_ptrs[t] = row[i * win.stride_w * c..].as_ptr();
                    }
                }
            }
        }
        for j in 0..dm {
            // SAFETY: every pointer is an in-bounds input pixel seen from channel c0 (c - c0
            // >= cc values) or the zeros from c0 (c - c0 values); c0 is a multiple of cr, so
            // plane j from block c0/cr holds ceil(cc/cr) blocks for `taps`; this task alone
            // writes channels c0..c0+cc of output row `row` (ow pixels of out_c values),
            // whose channels (c0+i)*dm+j lie inside `output` (asserted above).
            unsafe {
                (uk.run)(
                    ow,
                    cc,
                    taps,
                    ptrs.as_ptr(),
                    packed.as_ptr().add(j * plane + uk.weights_offset(c0, taps)),
                    dst.ptr().add(row * ow * out_c + c0 * dm + j),
                    out_c,
                    dm,
                    clamp.min,
                    clamp.max,
                )
            }
        }
    }
}

/// How a depthwise convolution is cut into tasks: near-equal runs of output
/// rows by near-equal runs of whole `cr`-channel blocks (the channels are cut
/// only when there are too few rows to balance the threads, as in the late
/// 7x7 layers); tasks are numbered channel-chunk major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DwPlan {
    rows: usize,
    channels: usize,
    cr: usize,
    c_blocks: usize,
    row_tasks: usize,
    c_tasks: usize,
    parallel: bool,
}

impl DwPlan {
    fn new(threads: usize, macs: usize, rows: usize, channels: usize, cr: usize) -> DwPlan {
        let c_blocks = channels.div_ceil(cr).max(1);
        let want = partition::task_count(threads, macs, DW_MIN_TASK_MACS, 3);
        let (row_tasks, c_tasks) = partition::grid(threads, want, rows, c_blocks, 1);
        DwPlan { rows, channels, cr, c_blocks, row_tasks, c_tasks, parallel: want > 1 }
    }

    fn tasks(&self) -> usize {
        self.row_tasks * self.c_tasks
    }

    /// Task `t`'s output rows, first channel (a multiple of `cr`) and channel count.
    fn task(&self, t: usize) -> (std::ops::Range<usize>, usize, usize) {
        let (tc, tr) = (t / self.row_tasks, t % self.row_tasks);
        let blocks = partition::piece(self.c_blocks, self.c_tasks, tc);
        let c0 = blocks.start * self.cr;
        (partition::piece(self.rows, self.row_tasks, tr), c0, (blocks.end * self.cr).min(self.channels) - c0)
    }
}

#[cfg(test)]
mod tests;
