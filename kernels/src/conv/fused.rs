//! A depthwise convolution run together with the 1x1 convolutions around it
//! (MobileNetV2's inverted residual block: expand 1x1 -> depthwise -> project
//! 1x1, either 1x1 optional), in bands of output rows.
//!
//! Run layer by layer, the expanded tensor (112x112x96 floats, 4.8 MB, in
//! MobileNetV2 224) is written out past L2 by one GEMM and read back by the
//! depthwise. Here each band of depthwise output rows first computes the
//! expanded rows it needs into a small buffer (rows shared with the previous
//! band are moved, not recomputed), runs the depthwise on that buffer into a
//! second small buffer, and projects that straight into the output: neither
//! intermediate tensor is ever materialised.
//!
//! Every value is computed by the same micro-kernel code path and order as
//! the layer-by-layer run (the GEMM and depthwise drivers' results do not
//! depend on how rows are split), so the results are bit-identical to it and
//! to any thread count.

use std::cell::RefCell;

use super::{check_window, dw_rows, PackedConv2d, PackedDepthwise};
use crate::gemm::{gemm_serial, SharedMut};
use crate::{partition, Clamp, Exec, Nhwc, Window2d};

/// A 1x1, stride-1, unpadded convolution of the chain and its output clamp.
#[derive(Clone, Copy)]
pub struct Pointwise<'a> {
    pub w: &'a PackedConv2d,
    pub clamp: Clamp,
}

/// The chain's depthwise convolution: weights, geometry, output clamp.
#[derive(Clone, Copy)]
pub struct Depthwise<'a> {
    pub w: &'a PackedDepthwise,
    pub win: Window2d,
    pub clamp: Clamp,
}

/// Bytes of one band's expanded rows and depthwise output (well inside L2).
const BAND_BYTES: usize = 256 * 1024;
/// Work below which a task is not worth a thread hand-off (multiply-adds).
const MIN_TASK_MACS: usize = 1 << 17;
/// Bands' worth of expanded rows the buffer holds (see `e_rows`).
const SLIDE: usize = 4;

thread_local! {
    /// Band buffers, reused across calls on this thread.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The output shape of the chain for `in_shape`.
pub fn output_shape(in_shape: Nhwc, dw: &Depthwise, project: Option<Pointwise>) -> Nhwc {
    let c = project.map_or(dw.w.in_c * dw.w.depth_multiplier, |p| p.w.out_c);
    Nhwc { n: in_shape.n, h: dw.win.out_h(in_shape.h), w: dw.win.out_w(in_shape.w), c }
}

/// Whether `w` is a plain pointwise (1x1) convolution.
fn is_1x1(w: &PackedConv2d) -> bool {
    w.kernel_h == 1 && w.kernel_w == 1
}

/// `expand` (optional) -> depthwise -> `project` (optional) over `input`
/// (`in_shape`), into `output` (shape [`output_shape`]). Results are those of
/// running the three convolutions one after the other.
pub fn pointwise_depthwise_chain(exec: Exec, in_shape: Nhwc, input: &[f32], expand: Option<Pointwise>, dw: Depthwise, project: Option<Pointwise>, output: &mut [f32]) {
    chain(exec, in_shape, input, expand, dw, project, output, BAND_BYTES)
}

/// [`pointwise_depthwise_chain`] with bands sized for `band_bytes` of buffers
/// (at least one output row per band, whatever the budget).
#[allow(clippy::too_many_arguments)]
fn chain(exec: Exec, in_shape: Nhwc, input: &[f32], expand: Option<Pointwise>, dw: Depthwise, project: Option<Pointwise>, output: &mut [f32], band_bytes: usize) {
    let dww = dw.w;
    check_window(&dw.win, dww.kernel_h, dww.kernel_w);
    let ce = dww.in_c;
    let cd = ce * dww.depth_multiplier;
    if let Some(e) = expand {
        assert!(is_1x1(e.w) && e.w.in_c == in_shape.c && e.w.out_c == ce, "fused chain: expand must be 1x1 {} -> {ce}", in_shape.c);
    } else {
        assert_eq!(in_shape.c, ce, "fused chain: depthwise input channels");
    }
    if let Some(p) = project {
        assert!(is_1x1(p.w) && p.w.in_c == cd, "fused chain: project must be 1x1 from {cd} channels");
    }
    assert!(input.len() >= in_shape.len(), "fused chain: input has {} values for {in_shape:?}", input.len());
    let os = output_shape(in_shape, &dw, project);
    assert!(output.len() >= os.len(), "fused chain: output has {} values, needs {}", output.len(), os.len());
    let (oh, ow, cf) = (os.h, os.w, os.c);
    if os.is_empty() {
        return;
    }
    let (h, w, win) = (in_shape.h, in_shape.w, dw.win);
    let (s, d, kh) = (win.stride_h, win.dilation_h, dww.kernel_h);
    // Input rows a band of `r` output rows reads.
    let rows_in = |r: usize| (r - 1) * s + (kh - 1) * d + 1;
    let e_row = if expand.is_some() { w * ce } else { 0 };
    let d_row = if project.is_some() { ow * cd } else { 0 };
    let mut band = oh;
    while band > 1 && (rows_in(band).min(h) * e_row + band * d_row) * 4 > band_bytes {
        band -= 1;
    }
    // The expanded rows slide through a buffer of SLIDE bands' worth: rows the
    // next band shares with this one stay where they are, and are moved back
    // to the start only when the next band would run past the end.
    let e_rows = rows_in(band).min(h) + (SLIDE - 1) * band * s;
    let e_len = e_rows * e_row;
    let d_len = band * d_row;

    let macs = os.n * oh * ow * (cd * kh * dww.kernel_w + project.map_or(0, |_| cd * cf)) + expand.map_or(0, |_| in_shape.n * h * w * in_shape.c * ce);
    let rows = in_shape.n * oh;
    let tasks = partition::task_count(exec.pool.num_threads(), macs, MIN_TASK_MACS, 1).min(rows);
    let dst = SharedMut::new(output);
    partition::run(exec, tasks, tasks > 1, &|t| {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            // Both buffers start on cache lines: rows of channel counts that are multiples of
            // 16 then keep every pixel on a line for the depthwise's and the GEMMs' registers.
            let e_span = e_len.next_multiple_of(crate::layout::line_elems::<f32>());
            let (ebuf, dbuf) = crate::scratch::sized_on_line(&mut scratch, e_span + d_len).split_at_mut(e_span);
            let ebuf = &mut ebuf[..e_len];
            let piece = partition::piece(rows, tasks, t);
            let mut row = piece.start;
            while row < piece.end {
                let b = row / oh;
                let end = piece.end.min((b + 1) * oh);
                let image = &input[b * h * w * in_shape.c..(b + 1) * h * w * in_shape.c];
                // Expanded rows held in `ebuf` (from the previous bands of this image), from buffer row `at`.
                let (mut held, mut at) = (0..0, 0);
                let mut oy0 = row - b * oh;
                while oy0 < end - b * oh {
                    let oy1 = (oy0 + band).min(end - b * oh);
                    let e0 = (oy0 * s).saturating_sub(win.pad_top).min(h);
                    let e1 = ((oy1 - 1) * s + (kh - 1) * d + 1).saturating_sub(win.pad_top).clamp(e0, h);
                    let src: &[f32] = match expand {
                        Some(e) => {
                            let mut from = e0;
                            if held.start <= e0 && e0 < held.end {
                                at += e0 - held.start;
                                if at + (e1 - e0) > e_rows {
                                    ebuf.copy_within(at * e_row..(at + held.end - e0) * e_row, 0);
                                    at = 0;
                                }
                                from = held.end;
                            } else {
                                at = 0;
                            }
                            let band_rows = &mut ebuf[at * e_row..(at + e1 - e0) * e_row];
                            if from < e1 {
                                let out = band_rows[(from - e0) * e_row..].as_mut_ptr();
                                // SAFETY: input rows from..e1 of image b hold (e1-from)*w pixels of
                                // in_shape.c floats; band_rows holds rows e0..e1 of w*ce floats (the
                                // slice bounds checked that), of which this call writes from..e1.
                                unsafe { gemm_serial((e1 - from) * w, image[from * w * in_shape.c..].as_ptr(), in_shape.c, e.w.gemm_weights(), out, ce, e.clamp) }
                            }
                            held = e0..e1;
                            &*band_rows
                        }
                        None => &image[e0 * w * ce..e1 * w * ce],
                    };
                    // The band's depthwise over input rows e0..e1 as an image of its own:
                    // output row j reads rows (oy0 + j) * s - pad_top + ky * d - e0.
                    let vwin = Window2d { pad_top: win.pad_top + e0 - oy0 * s, ..win };
                    let vshape = Nhwc { n: 1, h: e1 - e0, w, c: ce };
                    let r = oy1 - oy0;
                    let out_at = (b * oh + oy0) * ow;
                    match project {
                        Some(p) => {
                            let dptr = SharedMut::new(&mut dbuf[..r * d_row]);
                            // SAFETY: dbuf holds r rows of ow * cd floats, this task's own;
                            // `src` holds vshape (e1 - e0 rows of w * ce floats).
                            unsafe { dw_rows(&vwin, vshape, src, dww, r, ow, 0..r, 0, ce, dptr, dw.clamp) };
                            // SAFETY: dbuf holds r * ow rows of cd floats; output rows
                            // out_at..out_at + r*ow (of cf floats) lie in `output`
                            // (asserted above) and belong to this task's rows alone.
                            unsafe { gemm_serial(r * ow, dbuf.as_ptr(), cd, p.w.gemm_weights(), dst.ptr().add(out_at * cf), cf, p.clamp) }
                        }
                        None => {
                            // SAFETY: output rows out_at.. (r rows of ow * cd floats) lie in
                            // `output` (asserted above) and belong to this task alone.
                            let dptr = unsafe { dst.add(out_at * cd) };
                            // SAFETY: as above; `src` holds vshape.
                            unsafe { dw_rows(&vwin, vshape, src, dww, r, ow, 0..r, 0, ce, dptr, dw.clamp) };
                        }
                    }
                    oy0 = oy1;
                }
                row = end;
            }
        })
    });
}

#[cfg(test)]
mod tests;
