//! DEPTHWISE_CONV_2D, int8: per output pixel, every channel accumulates
//! `Σ_t a[t][c] · (w[t][c] − w_zp)` over the taps' input pointers (padding
//! taps point at a row of input zero points), then the shared output stage
//! adds `bias'[c] = bias[c] − a_zp·Σ_t (w[t][c] − w_zp)` and requantizes.

use crate::scratch;
use smallvec::SmallVec;
use super::{best_qtier, check_window, output, QTier, QuantOut, SharedMutI8};
use crate::{Exec, Isa, Nhwc, Window2d};

/// Depthwise micro-kernel entry point: `run(channels, taps, inputs, weights, acc)`:
/// `acc[c] = Σ_{t < taps} inputs[t][c] · w(t, c)` for `c < channels`.
///
/// # Safety
/// `inputs` holds `taps` pointers, each to `channels` readable bytes;
/// `weights` is one packed plane for `channels` and `taps`
/// ([`QDwUkernel::plane_len`] values: per block of `cr` channels, `taps` rows
/// of `cr` values, zero past `channels`; the Neon kernel stores them as int16,
/// two per slot); `acc` has `channels` writable values.
pub type QDwRunFn = unsafe fn(channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32);

/// One int8 depthwise micro-kernel.
#[derive(Clone, Copy, Debug)]
pub struct QDwUkernel {
    /// `i8_dw_<cr>c_<technique>`.
    pub name: &'static str,
    pub tier: QTier,
    pub cr: usize,
    pub run: QDwRunFn,
}

impl QDwUkernel {
    /// Values in one packed plane of `channels` channels.
    pub fn plane_len(&self, channels: usize, taps: usize) -> usize {
        channels.div_ceil(self.cr) * self.cr * taps
    }
}

pub const SCALAR: QDwUkernel = QDwUkernel { name: "i8_dw_4c_scalar", tier: QTier::Scalar, cr: 4, run: run_scalar };

/// See [`QDwRunFn`] (`cr = 4`).
///
/// # Safety
/// The [`QDwRunFn`] contract.
unsafe fn run_scalar(channels: usize, taps: usize, inputs: *const *const i8, weights: *const i32, acc: *mut i32) {
    // SAFETY: the QDwRunFn contract: taps pointers, a plane of ceil(channels/4)*4*taps
    // weights, channels accumulators.
    let (inputs, weights, acc) = unsafe {
        (
            std::slice::from_raw_parts(inputs, taps),
            std::slice::from_raw_parts(weights, channels.div_ceil(4) * 4 * taps),
            std::slice::from_raw_parts_mut(acc, channels),
        )
    };
    for (c, a) in acc.iter_mut().enumerate() {
        let block = &weights[c / 4 * 4 * taps..];
        let mut s = 0i32;
        for (t, &p) in inputs.iter().enumerate() {
            // SAFETY: every input pointer has `channels` readable bytes.
            let x = unsafe { *p.add(c) } as i32;
            s = s.wrapping_add(x.wrapping_mul(block[t * 4 + c % 4]));
        }
        *a = s;
    }
}

/// The depthwise micro-kernel of a tier (the scalar one when the tier is not
/// built for or not detected on this machine).
pub fn qdw_ukernel(tier: QTier) -> &'static QDwUkernel {
    match tier {
        #[cfg(target_arch = "aarch64")]
        QTier::Neon | QTier::NeonDot | QTier::NeonI8mm if tier.is_available() => &super::i8_dw_neon::UKERNEL,
        #[cfg(target_arch = "x86_64")]
        QTier::Avx2 if tier.is_available() => &super::i8_dw_x86::UKERNEL_AVX2,
        #[cfg(target_arch = "x86_64")]
        QTier::Avx512Vnni if tier.is_available() => &super::i8_dw_x86::UKERNEL_AVX512,
        _ => &SCALAR,
    }
}

/// DEPTHWISE_CONV_2D weights (`[1, kh, kw, in_c * depth_multiplier]`) packed once.
pub struct PackedQDepthwise {
    pub in_c: usize,
    pub depth_multiplier: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    ukernel: &'static QDwUkernel,
    input_zero_point: i32,
    /// One plane per multiplier index `j` (output channels `c * dm + j`).
    planes: Vec<i32>,
    /// `bias'` per output channel.
    bias: Vec<i32>,
    /// With multiplier 1 on the AVX-512 VNNI tier: `w − w_zp` as int16 tap
    /// pairs for `output::dw_row_pairs_avx512vnni` (empty otherwise).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pairs: Vec<i16>,
    /// With `pairs`, for 3x3 windows over more than 16 channels: the same
    /// weights paired down the window's columns for
    /// `output::dw_row_columns_avx512vnni` (empty otherwise).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    column_pairs: Vec<i16>,
    /// On the dotprod and i8mm tiers, with multiplier 1 over a multiple of 16
    /// channels with every `w − w_zp` in int8: the weights as column quads
    /// (`pack_dw_column_quads`) for `output::dw_row_columns_neon_dot` (3x3
    /// windows, horizontal stride 1 or 2, dilation 1) and
    /// `output::dw_row_quad_rows_neon_dot` (the other windows); empty otherwise.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    column_quads: Vec<i8>,
    /// Instead of `pairs` where every `w − w_zp` fits int8 and the channel
    /// count suits 64-channel blocks: `w − w_zp` as int8 tap quads for
    /// `output::dw_row_quads_avx512vnni` (empty otherwise).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    quads: Vec<i8>,
    /// `bias' − 128·Σ_t (w − w_zp)` per channel, with `quads` (empty otherwise).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    quad_bias: Vec<i32>,
    /// The output-stage parameters of the last call, and (for the pair kernel) the same in
    /// its lane order with the bias.
    params: output::ParamsCache<DwParams>,
}

/// A depthwise layer's output-stage parameters and, for the AVX-512 VNNI
/// pair or quad row kernel, the same in its lane order with their stages
/// (built once per layer: building them per call was ~1 % of an int8
/// MobileNetV2 invoke).
struct DwParams {
    params: output::OutParams,
    #[cfg(target_arch = "x86_64")]
    rows: Option<(output::OutParams, Vec<output::Stage16>)>,
}

/// The int16 tap-pair plane of the AVX-512 VNNI depthwise row kernel for
/// multiplier 1: per block of 32 channels, per pair `p` of taps `2p, 2p + 1`,
/// 64 values: 16 lanes of the low accumulator then 16 of the high one, each
/// lane `(w[2p][ch], w[2p + 1][ch])` for its channel (`output::dw_pair_channel`),
/// zero for a missing tap or channel.
#[cfg(target_arch = "x86_64")]
fn pack_dw_pairs(taps: usize, c: usize, w_1hwc: &[i8], w_zero_point: i32) -> Vec<i16> {
    let order: Vec<Option<usize>> = (0..taps).map(Some).collect();
    // |w − w_zp| ≤ 255 fits int16.
    pack_dw_groups(&order, c, w_1hwc, w_zero_point, 2, 32, output::dw_pair_channel, |v| v as i16)
}

/// The 3x3 window's taps in the order of the column-pair row kernel
/// (`output::dw_row_columns_avx512vnni`): per window column `kx`, rows 0 and 1
/// (`kx`, `3 + kx`), then per column row 2 alone (`6 + kx`, its partner's
/// weight zero).
#[cfg(target_arch = "x86_64")]
const COLUMN_PAIR_TAPS: [Option<usize>; 12] = [Some(0), Some(3), Some(1), Some(4), Some(2), Some(5), Some(6), None, Some(7), None, Some(8), None];

/// The int16 column-pair plane of the 3x3 row kernel: as [`pack_dw_pairs`]
/// (the same lanes) over the taps of [`COLUMN_PAIR_TAPS`], six pairs per
/// block of 32 channels.
#[cfg(target_arch = "x86_64")]
fn pack_dw_column_pairs(c: usize, w_1hwc: &[i8], w_zero_point: i32) -> Vec<i16> {
    pack_dw_groups(&COLUMN_PAIR_TAPS, c, w_1hwc, w_zero_point, 2, 32, output::dw_pair_channel, |v| v as i16)
}

/// The int8 tap-quad plane of the AVX-512 VNNI depthwise row kernel for
/// multiplier 1: per block of 64 channels, per quad `g` of taps `4g .. 4g + 4`,
/// 256 bytes: four accumulators of 16 lanes, each lane the 4 taps' `w − w_zp`
/// of its channel (`output::dw_quad_channel`), zero for a missing tap or
/// channel. The caller checked that every `w − w_zp` fits int8.
#[cfg(target_arch = "x86_64")]
fn pack_dw_quads(taps: usize, c: usize, w_1hwc: &[i8], w_zero_point: i32) -> Vec<i8> {
    let order: Vec<Option<usize>> = (0..taps).map(Some).collect();
    pack_dw_groups(&order, c, w_1hwc, w_zero_point, 4, 64, output::dw_quad_channel, |v| v as i8)
}

/// Depthwise weights `w − w_zp` in groups of `group` consecutive entries of
/// `order` (the taps in kernel order, `None` for a slot of weight zero): per
/// block of `lanes` channels, per group, `lanes * group` values, lane `i`
/// holding the group's taps of channel `block * lanes + lane_channel(i)`; zero
/// for a missing tap or channel.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
fn pack_dw_groups<T: Copy + Default>(
    order: &[Option<usize>],
    c: usize,
    w_1hwc: &[i8],
    w_zero_point: i32,
    group: usize,
    lanes: usize,
    lane_channel: fn(usize) -> usize,
    narrow: fn(i32) -> T,
) -> Vec<T> {
    let ng = order.len().div_ceil(group);
    let blocks = c.div_ceil(lanes);
    let mut out = vec![T::default(); blocks * ng * lanes * group];
    for b in 0..blocks {
        for g in 0..ng {
            for i in 0..lanes {
                let ch = b * lanes + lane_channel(i);
                for s in 0..group {
                    if let (Some(&Some(t)), true) = (order.get(group * g + s), ch < c) {
                        out[((b * ng + g) * lanes + i) * group + s] = narrow(w_1hwc[t * c + ch] as i32 - w_zero_point);
                    }
                }
            }
        }
    }
    out
}

/// A window's taps in the order of the dotprod column-quad planes: per group
/// `g` of four window rows (`4g .. 4g + 4`), per window column `kx`, the
/// four rows' taps of that column (`None`, a slot of weight zero, past the
/// last row). For 3x3: per column `kx`, rows 0, 1, 2 (`kx`, `3 + kx`,
/// `6 + kx`) and a slot of weight zero.
#[cfg(target_arch = "aarch64")]
fn column_quad_taps(kh: usize, kw: usize) -> Vec<Option<usize>> {
    let mut order = Vec::with_capacity(kh.div_ceil(4) * kw * 4);
    for g in 0..kh.div_ceil(4) {
        for kx in 0..kw {
            order.extend((4 * g..4 * g + 4).map(|ky| (ky < kh).then_some(ky * kw + kx)));
        }
    }
    order
}

/// The int8 column-quad plane of the dotprod row kernels: the taps of
/// [`column_quad_taps`] in groups of four, per block of 16 channels in
/// channel order (the layout the kernels' byte and halfword zips give four
/// window rows of an input column: 64 bytes per group of rows and window
/// column). The caller checked that every `w − w_zp` fits int8 and that `c`
/// is a multiple of 16.
#[cfg(target_arch = "aarch64")]
fn pack_dw_column_quads(kh: usize, kw: usize, c: usize, w_1hwc: &[i8], w_zero_point: i32) -> Vec<i8> {
    pack_dw_groups(&column_quad_taps(kh, kw), c, w_1hwc, w_zero_point, 4, 16, |i| i, |v| v as i8)
}

/// Whether the tap-quad kernel runs `c` channels faster than the tap-pair
/// one: per 64 channels and pixel (9 taps) it takes ~115 instructions to the
/// pair kernel's ~140, but a partly used 64-channel block costs as much as a
/// whole one, so it pays only where it needs no more 32-channel halves than
/// the pairs do (measured on 3x3 windows, which now take the column pairs:
/// 28x28x192 and 14x14x576 faster, 96 and 144 channels not).
#[cfg(target_arch = "x86_64")]
fn quads_pay(c: usize) -> bool {
    c >= 64 && c.div_ceil(64) * 2 == c.div_ceil(32)
}

impl PackedQDepthwise {
    pub fn pack(isa: Isa, kernel_h: usize, kernel_w: usize, in_c: usize, depth_multiplier: usize, w_1hwc: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQDepthwise {
        PackedQDepthwise::pack_tier(best_qtier(isa), kernel_h, kernel_w, in_c, depth_multiplier, w_1hwc, w_zero_point, bias, input_zero_point)
    }

    /// As [`PackedQDepthwise::pack`] for a given tier.
    pub fn pack_tier(tier: QTier, kernel_h: usize, kernel_w: usize, in_c: usize, depth_multiplier: usize, w_1hwc: &[i8], w_zero_point: i32, bias: Option<&[i32]>, input_zero_point: i32) -> PackedQDepthwise {
        let uk = qdw_ukernel(tier);
        let (taps, dm, cr) = (kernel_h * kernel_w, depth_multiplier, uk.cr);
        let out_c = in_c * dm;
        assert!(w_1hwc.len() >= taps * out_c, "qdepthwise weights: {} values, need {}", w_1hwc.len(), taps * out_c);
        if let Some(b) = bias {
            assert!(b.len() >= out_c, "qdepthwise bias: {} values, need {out_c}", b.len());
        }
        let plane = uk.plane_len(in_c, taps);
        let mut planes = vec![0i32; plane * dm];
        let mut bias_f = vec![0i32; out_c];
        for j in 0..dm {
            for c in 0..in_c {
                let oc = c * dm + j;
                let mut sum = 0i32;
                for t in 0..taps {
                    let w = w_1hwc[t * out_c + oc] as i32 - w_zero_point;
                    planes[j * plane + c / cr * cr * taps + t * cr + c % cr] = w;
                    sum = sum.wrapping_add(w);
                }
                bias_f[oc] = bias.map_or(0, |b| b[oc]).wrapping_sub(input_zero_point.wrapping_mul(sum));
            }
        }
        #[cfg(target_arch = "aarch64")]
        if uk.name == super::i8_dw_neon::UKERNEL.name {
            for p in planes.chunks_mut(plane.max(1)) {
                super::i8_dw_neon::pack_plane_i16(p);
            }
        }
        #[cfg(target_arch = "x86_64")]
        let vnni_row = dm == 1 && uk.name == super::i8_dw_x86::UKERNEL_AVX512.name && (-128..=127).contains(&w_zero_point);
        #[cfg(target_arch = "x86_64")]
        let (quads, quad_bias) = if vnni_row && quads_pay(in_c) && (kernel_h, kernel_w) != (3, 3) && w_1hwc[..taps * in_c].iter().all(|&v| (-128..=127).contains(&(v as i32 - w_zero_point))) {
            // The quad kernel reads `a + 128`: its bias also carries `− 128·Σ_t (w − w_zp)`.
            let quad_bias = (0..in_c)
                .map(|oc| {
                    let sum = (0..taps).fold(0i32, |s, t| s.wrapping_add(w_1hwc[t * in_c + oc] as i32 - w_zero_point));
                    bias_f[oc].wrapping_sub(sum.wrapping_mul(128))
                })
                .collect();
            (pack_dw_quads(taps, in_c, w_1hwc, w_zero_point), quad_bias)
        } else {
            (Vec::new(), Vec::new())
        };
        #[cfg(target_arch = "x86_64")]
        let pairs = if vnni_row && quads.is_empty() { pack_dw_pairs(taps, in_c, w_1hwc, w_zero_point) } else { Vec::new() };
        // Windows of 3x3 over more than 16 channels (at most 16 run two pixels per register) also get
        // the column-pair plane; the row kernel taking it needs horizontal stride 1 or 2 and dilation 1,
        // which the call's window tells.
        #[cfg(target_arch = "x86_64")]
        let column_pairs = if !pairs.is_empty() && (kernel_h, kernel_w) == (3, 3) && in_c > 16 { pack_dw_column_pairs(in_c, w_1hwc, w_zero_point) } else { Vec::new() };
        #[cfg(not(target_arch = "x86_64"))]
        let (pairs, column_pairs, quads, quad_bias) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        #[cfg(target_arch = "aarch64")]
        let column_quads = if matches!(tier, QTier::NeonDot | QTier::NeonI8mm)
            && tier.is_available()
            && dm == 1
            && in_c.is_multiple_of(16)
            && w_1hwc[..taps * in_c].iter().all(|&v| (-128..=127).contains(&(v as i32 - w_zero_point)))
        {
            pack_dw_column_quads(kernel_h, kernel_w, in_c, w_1hwc, w_zero_point)
        } else {
            Vec::new()
        };
        #[cfg(not(target_arch = "aarch64"))]
        let column_quads = Vec::new();
        PackedQDepthwise { in_c, depth_multiplier, kernel_h, kernel_w, ukernel: uk, input_zero_point, planes, bias: bias_f, pairs, column_pairs, column_quads, quads, quad_bias, params: Default::default() }
    }

    /// Binds the layer's output stage to these weights (once; false when one
    /// is bound already): calls that pass [`PackedQDepthwise::output`] reuse
    /// what was derived from it without comparing it column by column.
    pub fn bind_output(&self, q: QuantOut) -> bool {
        self.params.bind(q, super::Rounding::Double)
    }
    /// The output stage bound by [`PackedQDepthwise::bind_output`].
    pub fn output(&self) -> Option<&QuantOut> {
        self.params.bound()
    }
    pub fn kernel_name(&self) -> &'static str {
        self.ukernel.name
    }
    /// The fused row kernel multiplier-1 layers run on the AVX-512 VNNI tier
    /// when their output stage is vector-exact ("quads", "pairs", or
    /// "columns": column pairs for windows with horizontal stride 1 or 2 and
    /// dilation 1, tap pairs for others), or on the dotprod and i8mm tiers
    /// ("columns": column quads, for the same windows), or "" (tests).
    #[cfg(test)]
    pub(crate) fn row_kernel(&self) -> &'static str {
        match (self.quads.is_empty(), self.pairs.is_empty(), self.column_pairs.is_empty() && self.column_quads.is_empty()) {
            (false, _, _) => "quads",
            (true, false, true) => "pairs",
            (true, _, false) => "columns",
            _ => "",
        }
    }
    /// The tier these weights are packed for.
    pub fn tier(&self) -> QTier {
        self.ukernel.tier
    }
}

/// The output columns `lo..hi` (of `ow`) whose input column
/// `ox * stride + offset - pad` lies inside `0..in_w`.
fn tap_columns(ow: usize, offset: usize, pad: usize, stride: usize, in_w: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(ow);
    let hi = (pad + in_w).saturating_sub(offset).div_ceil(stride).min(ow);
    (lo, hi.max(lo))
}

#[cfg(test)]
thread_local! {
    /// Output rows the column row kernels ran on this thread (tests: the path was taken).
    pub(crate) static COLUMN_ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Output rows the dotprod quad-row kernel ran on this thread.
    pub(crate) static QUAD_ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Work below which a depthwise task is not worth a thread hand-off (multiply-adds).
const DW_MIN_TASK_MACS: usize = 1 << 16;

/// `dst[i] = first + i * step` (bytes; in bounds when the caller's columns
/// are), as plain integer arithmetic that vectorises: the pointer-offset loop
/// stayed scalar and was 4–5 % of an int8 MobileNetV2 invoke.
#[inline]
fn fill_strided(dst: &mut [*const i8], first: *const i8, step: usize) {
    let mut at = first as usize;
    for p in dst {
        *p = at as *const i8;
        at = at.wrapping_add(step);
    }
}

/// DEPTHWISE_CONV_2D; output channel `c * depth_multiplier + m` reads input
/// channel `c`; padding reads the input zero point (so it contributes 0).
pub fn qdepthwise_conv2d(exec: Exec, win: &Window2d, in_shape: Nhwc, input: &[i8], w: &PackedQDepthwise, output: &mut [i8], q: &QuantOut) {
    check_window("qdepthwise_conv2d", win, w.kernel_h, w.kernel_w);
    assert_eq!(in_shape.c, w.in_c, "qdepthwise_conv2d: input channels");
    assert!(input.len() >= in_shape.len(), "qdepthwise_conv2d: input has {} values for {in_shape:?}", input.len());
    let (oh, ow) = (win.out_h(in_shape.h), win.out_w(in_shape.w));
    let (c, dm) = (w.in_c, w.depth_multiplier);
    let out_c = c * dm;
    let rows = in_shape.n * oh;
    assert!(output.len() >= rows * ow * out_c, "qdepthwise_conv2d: output has {} values, needs {}", output.len(), rows * ow * out_c);
    if rows == 0 || ow == 0 || out_c == 0 {
        return;
    }
    q.check(out_c, "qdepthwise_conv2d");
    let zp = w.input_zero_point;
    assert!((-128..=127).contains(&zp), "qdepthwise_conv2d: input zero point {zp} outside int8");
    let cached = w.params.get(q, super::Rounding::Double, || {
        let params = output::OutParams::new(q, out_c);
        // The row kernels' stage parameters and bias in their lane order, and their stages.
        #[cfg(target_arch = "x86_64")]
        let rows = if !params.vector_ok {
            None
        } else if !w.quads.is_empty() {
            Some(params.dw_quad_order(c, &w.quad_bias))
        } else {
            (dm == 1 && !w.pairs.is_empty()).then(|| params.dw_pair_order(c, &w.bias))
        }
        .map(|(pq, pbias)| {
            // SAFETY: pairs and quads exist only for the AVX-512 VNNI tier, which was detected (its kernel
            // was chosen); the parameters are in pair or quad order, whole blocks (dw_pair_order, dw_quad_order).
            let stages = unsafe { output::dw_block_stages_avx512(&pq, &pbias) };
            (pq, stages)
        });
        DwParams {
            params,
            #[cfg(target_arch = "x86_64")]
            rows,
        }
    });
    let params = &cached.params;
    #[cfg(target_arch = "x86_64")]
    let pair_params = &cached.rows;
    let (kh, kw) = (w.kernel_h, w.kernel_w);
    let taps = kh * kw;
    let uk = w.ukernel;
    let plane = uk.plane_len(c, taps);
    // The c zero-point bytes that taps in the padding read (on the stack for up to 2048 channels).
    let zero: SmallVec<[i8; 2048]> = SmallVec::from_elem(zp as i8, c);

    let macs = rows * ow * out_c * taps;
    let threads = exec.pool.num_threads();
    let want = if threads <= 1 { 1 } else { (threads * 3).min((macs / DW_MIN_TASK_MACS).max(1)) };
    let rows_per_task = rows.div_ceil(want.min(rows));
    let tasks = rows.div_ceil(rows_per_task);
    let dst = SharedMutI8(output.as_mut_ptr());
    // 3x3 windows over more than 16 channels with horizontal stride 1 or 2 and dilation 1 take the
    // column-pair row kernel (packed only where the pair kernel runs), which reads rows, not pointers.
    #[cfg(target_arch = "x86_64")]
    let columns = !w.column_pairs.is_empty() && pair_params.is_some() && win.dilation_w == 1 && matches!(win.stride_w, 1 | 2);
    // The same windows take the dotprod column-quad kernel where its output stage (that of
    // dw_row_neon) applies.
    #[cfg(target_arch = "aarch64")]
    let column_window = (kh, kw) == (3, 3) && win.dilation_w == 1 && matches!(win.stride_w, 1 | 2) && params.right_shifts_in_registers();
    #[cfg(target_arch = "aarch64")]
    let columns = column_window && !w.column_quads.is_empty();
    // The other windows with column quads take the dotprod quad-row kernel where the same
    // output stage applies.
    #[cfg(target_arch = "aarch64")]
    let quad_rows = !columns && !w.column_quads.is_empty() && params.right_shifts_in_registers();
    // Otherwise (plain Neon, or weights that do not fit int8 quads) the SMLAL column kernel on the
    // int16 plane, where dw_row_neon's conditions hold.
    #[cfg(target_arch = "aarch64")]
    let columns_smlal = column_window && !columns && dm == 1 && c.is_multiple_of(16) && uk.name == super::i8_dw_neon::UKERNEL.name;
    exec.pool.run(tasks, &|t| scratch::with(|scratch| {
        let ptrs = &mut scratch.ptrs;
        ptrs.clear();
        ptrs.resize(ow * taps, zero.as_ptr());
        // The accumulator rows of the unfused path (sized on its rows only) and one pixel's planes.
        let [acc, acc_plane] = &mut scratch.i32s;
        let acc_plane = scratch::sized(acc_plane, if dm > 1 { c } else { 0 }, 0);
        #[cfg(target_arch = "x86_64")]
        let pair_stages = pair_params.as_ref().map(|(_, stages)| stages);
        // Each window column's output columns inside the image, the same for every row
        // (computed once: two divisions per tap and row were ~1 % of a small model's invoke).
        let cols: SmallVec<[(usize, usize); 8]> = (0..kw).map(|kx| tap_columns(ow, kx * win.dilation_w, win.pad_left, win.stride_w, in_shape.w)).collect();
        // Where window row `ky` of output row `row` reads its input, for the column and quad-row
        // kernels: its input row (column step c), or for a row in the padding the c zero-point
        // bytes at every column (step 0).
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        let window_row = |row: usize, ky: usize| {
            let (b, oy) = (row / oh, row % oh);
            (oy * win.stride_h + ky * win.dilation_h)
                .checked_sub(win.pad_top)
                .filter(|&y| y < in_shape.h)
                .map_or((zero.as_ptr(), 0), |y| (input[((b * in_shape.h + y) * in_shape.w) * c..].as_ptr(), c))
        };
        // The three of a 3x3 window, for its column row kernels.
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        let column_row = |row: usize| {
            let rows = [window_row(row, 0), window_row(row, 1), window_row(row, 2)];
            output::ColumnRow { rows: rows.map(|r| r.0), steps: rows.map(|r| r.1), in_w: in_shape.w, x0: -(win.pad_left as isize), stride: win.stride_w, zp: zp as i8 }
        };
        for row in t * rows_per_task..rows.min((t + 1) * rows_per_task) {
            #[cfg(all(test, target_arch = "aarch64"))]
            if columns || columns_smlal {
                COLUMN_ROWS.with(|n| n.set(n.get() + 1));
            }
            #[cfg(all(test, not(target_arch = "aarch64")))]
            if columns {
                COLUMN_ROWS.with(|n| n.set(n.get() + 1));
            }
            #[cfg(target_arch = "aarch64")]
            if columns {
                // SAFETY: the column quads exist only where dotprod was detected (NeonDot or
                // NeonI8mm), with multiplier 1, a 3x3 window and c a multiple of 16; `columns`
                // checked the output stage (no left shifts, every right shift >= 1) and stride 1
                // or 2 with dilation 1; each row starts an input row of in_w pixels of c values
                // (step c) or is the c zero-point bytes (step 0); output row `row` (ow pixels of c
                // values) lies inside `output` (asserted above) and belongs to this task alone.
                unsafe { output::dw_row_columns_neon_dot(params, c, ow, &column_row(row), w.column_quads.as_ptr(), &w.bias, dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            #[cfg(target_arch = "aarch64")]
            if quad_rows {
                #[cfg(test)]
                QUAD_ROWS.with(|n| n.set(n.get() + 1));
                let rows: SmallVec<[(*const i8, usize); 8]> = (0..kh).map(|ky| window_row(row, ky)).collect();
                let g = output::QuadRows { rows: &rows, zp: zp as i8, in_w: in_shape.w, pad_left: win.pad_left, kw, stride: win.stride_w, dilation: win.dilation_w };
                // SAFETY: the column quads exist only where dotprod was detected (NeonDot or
                // NeonI8mm), with multiplier 1 and c a multiple of 16, in the layout of
                // pack_dw_column_quads for this window (kh rows of g, kw); quad_rows checked the
                // output stage; each row of g starts an input row of in_w pixels of c values
                // (step c) or is the c zero-point bytes (step 0); output row
                // `row` (ow pixels of c values) lies inside `output` (asserted above) and
                // belongs to this task alone.
                unsafe { output::dw_row_quad_rows_neon_dot(params, c, ow, &g, w.column_quads.as_ptr(), &w.bias, &mut scratch.i8s[0], dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            #[cfg(target_arch = "aarch64")]
            if columns_smlal {
                // SAFETY: `columns_smlal` checked multiplier 1, a 3x3 window, c a multiple of 16,
                // the Neon kernel's plane (9 taps of int16 per 16 channels), the output stage and
                // the stride and dilation; rows and output as for the dotprod kernel above.
                unsafe { output::dw_row_columns_neon(params, c, ow, &column_row(row), w.planes.as_ptr(), &w.bias, dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            #[cfg(target_arch = "x86_64")]
            if let (true, Some(stages), Some((pq, _))) = (columns, &pair_stages, pair_params) {
                let g = column_row(row);
                // SAFETY: the column pairs exist only for the AVX-512 VNNI tier, which was detected
                // (its kernel was chosen), with multiplier 1, a 3x3 window and more than 16
                // channels; `columns` checked stride 1 or 2 and dilation 1; the stages were built
                // from the pair-order parameters (vector_ok) for c; each row starts an input row of
                // in_w pixels of c values (step c) or is the c zero-point bytes (step 0); output row `row` (ow pixels of c values)
                // lies inside `output` (asserted above) and belongs to this task alone.
                unsafe { output::dw_row_columns_avx512vnni(stages, pq.any_lsh, c, ow, &g, w.column_pairs.as_ptr(), dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            // The pair and quad row kernels read the pointers tap-major (`t * ow + px`: each
            // tap's row is filled contiguously), the others pixel-major (`px * taps + t`).
            #[cfg(target_arch = "x86_64")]
            let tap_major = pair_stages.is_some();
            #[cfg(not(target_arch = "x86_64"))]
            let tap_major = false;
            let (b, oy) = (row / oh, row % oh);
            let image = &input[b * in_shape.h * in_shape.w * c..(b + 1) * in_shape.h * in_shape.w * c];
            for ky in 0..kh {
                let iy = (oy * win.stride_h + ky * win.dilation_h).checked_sub(win.pad_top).filter(|&y| y < in_shape.h);
                for kx in 0..kw {
                    let t = ky * kw + kx;
                    let (lo, hi) = if iy.is_some() { cols[kx] } else { (0, 0) };
                    if tap_major {
                        let tap_row = &mut ptrs[t * ow..(t + 1) * ow];
                        tap_row[..lo].fill(zero.as_ptr());
                        tap_row[hi..].fill(zero.as_ptr());
                    } else {
                        for px in (0..lo).chain(hi..ow) {
                            ptrs[px * taps + t] = zero.as_ptr();
                        }
                    }
                    if let Some(iy) = iy.filter(|_| lo < hi) {
                        // Input column of pixel lo; each next pixel is `stride_w` columns on.
                        let first = &image[(iy * in_shape.w + lo * win.stride_w + kx * win.dilation_w - win.pad_left) * c..];
                        let step = win.stride_w * c;
                        if tap_major {
                            fill_strided(&mut ptrs[t * ow + lo..t * ow + hi], first.as_ptr(), step);
                        } else {
                            for (i, px) in (lo..hi).enumerate() {
                                // In bounds: tap_columns keeps every column of lo..hi inside the row.
                                ptrs[px * taps + t] = first.as_ptr().wrapping_add(i * step);
                            }
                        }
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let (Some(stages), Some((pq, _))) = (&pair_stages, pair_params) {
                // SAFETY: the pairs exist only for the AVX-512 VNNI tier, which was detected (its
                // kernel was chosen), so AVX-512 F/BW/VL/VNNI are; the stages were built from the
                // pair-order parameters (vector_ok) for c; every pointer (tap-major here) is an
                // in-bounds input pixel (c values) or the c zero-point bytes; the pair plane is this layer's for c and
                // taps; output row `row` (ow pixels of c values) lies inside `output` (asserted
                // above) and belongs to this task alone.
                unsafe {
                    if w.quads.is_empty() {
                        output::dw_row_pairs_avx512vnni(stages, pq.any_lsh, c, taps, ow, ptrs.as_ptr(), w.pairs.as_ptr(), dst.ptr().add(row * ow * out_c))
                    } else {
                        // As above, with the quad plane and quad-order stages (the quads exist
                        // only on the same tier, with multiplier 1).
                        output::dw_row_quads_avx512vnni(stages, pq.any_lsh, c, taps, ow, ptrs.as_ptr(), w.quads.as_ptr(), dst.ptr().add(row * ow * out_c))
                    }
                };
                continue;
            }
            #[cfg(target_arch = "x86_64")]
            if dm == 1 && params.vector_ok && uk.name == super::i8_dw_x86::UKERNEL_AVX512.name {
                // SAFETY: the tier is available (its kernel was chosen), so AVX-512 F/BW/VL are;
                // every pointer is an in-bounds input pixel (c values) or the c zero-point bytes;
                // the plane is this kernel's for c and taps; output row `row` (ow pixels of c
                // values) lies inside `output` (asserted above) and belongs to this task alone.
                unsafe { output::dw_row_avx512(params, c, taps, ow, ptrs.as_ptr(), w.planes.as_ptr(), &w.bias, dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            #[cfg(target_arch = "aarch64")]
            if dm == 1 && c.is_multiple_of(16) && params.right_shifts_in_registers() && uk.name == super::i8_dw_neon::UKERNEL.name {
                // SAFETY: every pointer is an in-bounds input pixel (c values) or the c
                // zero-point bytes; the plane is this kernel's for c and taps; c % 16 == 0 and the
                // shifts are as dw_row needs; output row `row` (ow pixels of c values) lies inside
                // `output` (asserted above) and belongs to this task alone.
                unsafe { output::dw_row_neon(params, c, taps, ow, ptrs.as_ptr(), w.planes.as_ptr(), &w.bias, dst.ptr().add(row * ow * out_c)) };
                continue;
            }
            let acc = scratch::sized(acc, ow * out_c, 0);
            for px in 0..ow {
                let inputs = ptrs[px * taps..].as_ptr();
                for j in 0..dm {
                    let target = if dm > 1 { acc_plane.as_mut_ptr() } else { acc[px * out_c..].as_mut_ptr() };
                    // SAFETY: every pointer is an in-bounds input pixel (c values) or the c
                    // zero-point bytes; plane j holds plane_len(c, taps) values; `target` has c
                    // writable values (acc_plane, or pixel px's out_c == c accumulators).
                    unsafe { (uk.run)(c, taps, inputs, w.planes[j * plane..].as_ptr(), target) };
                    if dm > 1 {
                        for (ci, &v) in acc_plane.iter().enumerate() {
                            acc[px * out_c + ci * dm + j] = v;
                        }
                    }
                }
            }
            // SAFETY: output row `row` (ow pixels of out_c values) lies inside `output`
            // (asserted above) and belongs to this task alone; acc holds ow rows of out_c.
            unsafe { output::store_tile(uk.tier, params, acc, output::AccLayout::row_major(out_c), ow, out_c, &w.bias, None, 0, dst.ptr().add(row * ow * out_c), out_c) };
        }
    }));
}
