//! CONV_2D / DEPTHWISE_CONV_2D tests against a plain nested-loop reference,
//! for every available tier.

use super::*;
use crate::gemm::tests::{check, tiers, RefVal, Rng};
use crate::ThreadPool;
use proptest::prelude::*;

fn window(kernel: (usize, usize), stride: (usize, usize), dilation: (usize, usize), pad: [usize; 4]) -> Window2d {
    Window2d {
        kernel_h: kernel.0,
        kernel_w: kernel.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        pad_top: pad[0],
        pad_left: pad[1],
        pad_bottom: pad[2],
        pad_right: pad[3],
    }
}

/// The input pixel tap (ky, kx) of output (oy, ox) reads, if not padding.
fn tap_source(win: &Window2d, s: Nhwc, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * win.stride_h + ky * win.dilation_h) as isize - win.pad_top as isize;
    let ix = (ox * win.stride_w + kx * win.dilation_w) as isize - win.pad_left as isize;
    (iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w).then_some((iy as usize, ix as usize))
}

fn conv_ref(win: &Window2d, s: Nhwc, x: &[f32], out_c: usize, w: &[f32], bias: Option<&[f32]>) -> Vec<RefVal> {
    let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let mut out = Vec::new();
    for b in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..out_c {
                    let mut v = RefVal::default();
                    v.add(bias.map_or(0.0, |bb| bb[o] as f64));
                    for ky in 0..kh {
                        for kx in 0..kw {
                            for ci in 0..s.c {
                                let xv = tap_source(win, s, oy, ox, ky, kx).map_or(0.0, |(iy, ix)| x[((b * s.h + iy) * s.w + ix) * s.c + ci]);
                                v.add(xv as f64 * w[((o * kh + ky) * kw + kx) * s.c + ci] as f64);
                            }
                        }
                    }
                    out.push(v);
                }
            }
        }
    }
    out
}

fn dw_ref(win: &Window2d, s: Nhwc, x: &[f32], dm: usize, w: &[f32], bias: Option<&[f32]>) -> Vec<RefVal> {
    let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let out_c = s.c * dm;
    let mut out = Vec::new();
    for b in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..out_c {
                    let ci = oc / dm;
                    let mut v = RefVal::default();
                    v.add(bias.map_or(0.0, |bb| bb[oc] as f64));
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let xv = tap_source(win, s, oy, ox, ky, kx).map_or(0.0, |(iy, ix)| x[((b * s.h + iy) * s.w + ix) * s.c + ci]);
                            v.add(xv as f64 * w[(ky * kw + kx) * out_c + oc] as f64);
                        }
                    }
                    out.push(v);
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn run_conv(isa: Isa, pool: &ThreadPool, win: &Window2d, s: Nhwc, out_c: usize, bias: bool, clamp: Clamp, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let x = rng.vec(s.len());
    let w = rng.vec(out_c * win.kernel_h * win.kernel_w * s.c);
    let b = rng.vec(out_c);
    let bias = bias.then_some(&b[..]);
    let packed = PackedConv2d::pack(isa, out_c, win.kernel_h, win.kernel_w, s.c, &w, bias);
    assert_eq!(packed.isa, isa);
    let len = s.n * win.out_h(s.h) * win.out_w(s.w) * out_c;
    let sentinel = 1234.5f32;
    let mut out = vec![sentinel; len + 5];
    let exec = Exec { isa, pool };
    conv2d(exec, win, s, &x, &packed, &mut out, clamp);
    let what = format!("{} {win:?} {s:?} out_c={out_c} bias={} {clamp:?}", packed.ukernel().name, bias.is_some());
    assert!(out[len..].iter().all(|&v| v == sentinel), "{what}: wrote past the output");
    out.truncate(len);
    check(&out, &conv_ref(win, s, &x, out_c, &w, bias), clamp, &what);
    // A second call reuses the cached indirection buffer and must agree exactly.
    let mut again = vec![0.0; len];
    conv2d(exec, win, s, &x, &packed, &mut again, clamp);
    assert!(again.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}: second call differs");
    out
}

#[allow(clippy::too_many_arguments)]
fn run_dw(isa: Isa, pool: &ThreadPool, win: &Window2d, s: Nhwc, dm: usize, bias: bool, clamp: Clamp, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let out_c = s.c * dm;
    let x = rng.vec(s.len());
    let w = rng.vec(win.kernel_h * win.kernel_w * out_c);
    let b = rng.vec(out_c);
    let bias = bias.then_some(&b[..]);
    let packed = PackedDepthwise::pack(isa, win.kernel_h, win.kernel_w, s.c, dm, &w, bias);
    assert_eq!(packed.isa, isa);
    let len = s.n * win.out_h(s.h) * win.out_w(s.w) * out_c;
    let sentinel = 1234.5f32;
    let mut out = vec![sentinel; len + 5];
    depthwise_conv2d(Exec { isa, pool }, win, s, &x, &packed, &mut out, clamp);
    let what = format!("{} {win:?} {s:?} dm={dm} bias={} {clamp:?}", packed.ukernel().name, bias.is_some());
    assert!(out[len..].iter().all(|&v| v == sentinel), "{what}: wrote past the output");
    out.truncate(len);
    check(&out, &dw_ref(win, s, &x, dm, &w, bias), clamp, &what);
    out
}

const KERNELS: [(usize, usize); 4] = [(1, 1), (3, 3), (5, 5), (1, 7)];
const PADS: [[usize; 4]; 3] = [[0, 0, 0, 0], [1, 1, 1, 1], [0, 2, 1, 0]];

#[test]
fn conv2d_matches_reference_over_geometries() {
    let pool = ThreadPool::new(1);
    let s = Nhwc { n: 2, h: 7, w: 9, c: 3 };
    for isa in tiers() {
        let mut seed = 0;
        for kernel in KERNELS {
            for stride in 1..=3 {
                for dilation in 1..=2 {
                    for pad in PADS {
                        seed += 1;
                        let win = window(kernel, (stride, 4 - stride), (dilation, 3 - dilation), pad);
                        if win.out_h(s.h) == 0 || win.out_w(s.w) == 0 {
                            continue;
                        }
                        run_conv(isa, &pool, &win, s, 19, seed % 2 == 0, Clamp::NONE, seed);
                    }
                }
            }
        }
    }
}

#[test]
fn conv2d_channel_counts_clamps_and_pointwise() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        // 48 and 144 take the AVX-512 48-wide tile (direct and indirect).
        for (in_c, out_c) in [(1, 1), (2, 5), (5, 17), (8, 16), (17, 33), (3, 48), (24, 144)] {
            let s = Nhwc { n: 2, h: 5, w: 6, c: in_c };
            for clamp in [Clamp::NONE, Clamp::RELU6, Clamp::RELU_N1_TO_1] {
                // 1x1 stride 1 unpadded (plain GEMM), 1x1 strided, 3x3 padded (indirect).
                run_conv(isa, &pool, &window((1, 1), (1, 1), (1, 1), [0; 4]), s, out_c, true, clamp, 1);
                run_conv(isa, &pool, &window((1, 1), (2, 2), (1, 1), [0; 4]), s, out_c, false, clamp, 2);
                run_conv(isa, &pool, &window((3, 3), (1, 2), (1, 1), [1, 0, 2, 1]), s, out_c, true, clamp, 3);
            }
        }
        // Kernel larger than the input, everything through padding.
        run_conv(isa, &pool, &window((5, 5), (1, 1), (1, 1), [2, 2, 2, 2]), Nhwc { n: 1, h: 2, w: 3, c: 4 }, 6, true, Clamp::NONE, 4);
    }
}

#[test]
fn conv2d_cache_follows_input_shape() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
        let mut rng = Rng::new(5);
        let w = rng.vec(7 * 9 * 3);
        let packed = PackedConv2d::pack(isa, 7, 3, 3, 3, &w, None);
        for s in [Nhwc { n: 1, h: 4, w: 4, c: 3 }, Nhwc { n: 2, h: 6, w: 3, c: 3 }, Nhwc { n: 1, h: 4, w: 4, c: 3 }] {
            let x = rng.vec(s.len());
            let mut out = vec![0.0; s.n * s.h * s.w * 7];
            conv2d(Exec { isa, pool: &pool }, &win, s, &x, &packed, &mut out, Clamp::NONE);
            check(&out, &conv_ref(&win, s, &x, 7, &w, None), Clamp::NONE, "shape change");
        }
    }
}

#[test]
fn depthwise_matches_reference_over_geometries() {
    let pool = ThreadPool::new(1);
    let s = Nhwc { n: 2, h: 7, w: 8, c: 5 };
    for isa in tiers() {
        let mut seed = 100;
        for kernel in KERNELS {
            for stride in 1..=3 {
                for dilation in 1..=2 {
                    for pad in PADS {
                        seed += 1;
                        let win = window(kernel, (stride, 4 - stride), (3 - dilation, dilation), pad);
                        if win.out_h(s.h) == 0 || win.out_w(s.w) == 0 {
                            continue;
                        }
                        run_dw(isa, &pool, &win, s, 1 + seed as usize % 3, seed % 2 == 1, Clamp::NONE, seed);
                    }
                }
            }
        }
    }
}

#[test]
fn depthwise_channel_tiles_multipliers_and_clamps() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        let cr = dw_ukernel(isa).cr;
        for c in [1, 2, 3, cr - 1, cr, cr + 1, 2 * cr + 3] {
            for dm in 1..=3 {
                let s = Nhwc { n: 1, h: 5, w: 4, c };
                for clamp in [Clamp::NONE, Clamp::RELU6] {
                    run_dw(isa, &pool, &window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]), s, dm, true, clamp, c as u64 * 10 + dm as u64);
                    run_dw(isa, &pool, &window((2, 1), (2, 1), (1, 2), [0, 1, 1, 0]), s, dm, false, clamp, 7);
                }
            }
        }
    }
}

#[test]
fn results_are_identical_for_any_thread_count() {
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for isa in tiers() {
        let s = Nhwc { n: 2, h: 15, w: 13, c: 24 };
        let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
        let pw = window((1, 1), (1, 1), (1, 1), [0; 4]);
        let convs: Vec<Vec<f32>> = pools.iter().map(|p| run_conv(isa, p, &win, s, 40, true, Clamp::RELU, 9)).collect();
        let pointwise: Vec<Vec<f32>> = pools.iter().map(|p| run_conv(isa, p, &pw, s, 70, true, Clamp::NONE, 10)).collect();
        let dws: Vec<Vec<f32>> = pools.iter().map(|p| run_dw(isa, p, &win, Nhwc { c: 70, ..s }, 2, true, Clamp::NONE, 11)).collect();
        for outs in [convs, pointwise, dws] {
            for out in &outs[1..] {
                assert!(out.iter().zip(&outs[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa}: thread count changed a result");
            }
        }
    }
}

#[test]
fn depthwise_with_few_rows_splits_channels_identically() {
    // Late MobileNet-like layers: 7 and 5 output rows, many channels (cut by channel
    // blocks on 2 and 3 threads), odd channel counts for the tails, multiplier 1 and 2.
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for isa in tiers() {
        for (s, stride, dm) in [
            (Nhwc { n: 1, h: 7, w: 7, c: 480 }, 1, 1),
            (Nhwc { n: 1, h: 14, w: 14, c: 227 }, 2, 1),
            (Nhwc { n: 1, h: 5, w: 6, c: 301 }, 1, 2),
        ] {
            let win = window((3, 3), (stride, stride), (1, 1), [1, 1, 1, 1]);
            let outs: Vec<Vec<f32>> = pools.iter().map(|p| run_dw(isa, p, &win, s, dm, true, Clamp::RELU6, 5)).collect();
            for out in &outs[1..] {
                assert!(out.iter().zip(&outs[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} {s:?}: thread count changed a result");
            }
        }
    }
}

#[test]
fn depthwise_plan_covers_output_exactly_once_and_balances() {
    for threads in [1, 2, 3, 4] {
        for (rows, channels, cr, macs) in [(7, 960, 32, 7 * 7 * 960 * 9), (14, 576, 16, 14 * 14 * 576 * 9), (56, 144, 32, 56 * 56 * 144 * 9), (1, 5, 4, 1 << 20), (3, 1, 8, 1 << 20), (112, 32, 8, 1000)] {
            let plan = DwPlan::new(threads, macs, rows, channels, cr);
            let mut hits = vec![0u8; rows * channels];
            let mut units = vec![];
            for t in 0..plan.tasks() {
                let (r, c0, cc) = plan.task(t);
                assert!(!r.is_empty() && cc > 0 && c0 % cr == 0, "{plan:?} task {t}");
                units.push(r.len() * cc.div_ceil(cr));
                for row in r {
                    for c in c0..c0 + cc {
                        hits[row * channels + c] += 1;
                    }
                }
            }
            assert!(hits.iter().all(|&h| h == 1), "{plan:?}");
            assert_eq!(plan.parallel, threads > 1 && macs >= 2 * DW_MIN_TASK_MACS, "{plan:?}");
            if plan.parallel && rows * channels.div_ceil(cr) % threads == 0 {
                // Dynamic hand-out in task order: the busiest thread gets exactly its share.
                let mut finish = vec![0; threads];
                for u in &units {
                    *finish.iter_mut().min().unwrap() += u;
                }
                let total: usize = units.iter().sum();
                assert_eq!(*finish.iter().max().unwrap() * threads, total, "{plan:?}: {units:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn random_conv_geometries(
        n in 1usize..3, h in 1usize..9, w in 1usize..9, c in 1usize..7, out_c in 1usize..20,
        kh in 1usize..4, kw in 1usize..4, sh in 1usize..4, sw in 1usize..4, dh in 1usize..3, dw in 1usize..3,
        pad in proptest::array::uniform4(0usize..3), dm in 1usize..4, threads in 1usize..4, seed: u64,
    ) {
        let win = window((kh, kw), (sh, sw), (dh, dw), pad);
        prop_assume!(win.out_h(h) > 0 && win.out_w(w) > 0);
        let pool = ThreadPool::new(threads);
        let s = Nhwc { n, h, w, c };
        for isa in tiers() {
            run_conv(isa, &pool, &win, s, out_c, seed % 2 == 0, Clamp::NONE, seed);
            run_dw(isa, &pool, &win, s, dm, seed % 3 == 0, Clamp::RELU, seed);
        }
    }
}

/// The AVX-512 row kernels' shapes (3x3 and 5x5, horizontal stride 1 and 2,
/// multiplier 1) on every tier: widths from 1 to past two 8-pixel groups (all
/// interior remainders, rows with no interior column at all), channel counts
/// around the 16-lane slices and 32-channel blocks, symmetric, asymmetric and
/// wider-than-the-window padding, vertical stride and dilation.
#[test]
fn depthwise_row_kernel_shapes_over_widths_channels_and_pads() {
    let pool = ThreadPool::new(1);
    let pads: [[usize; 4]; 5] = [[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [0, 2, 1, 0], [3, 1, 0, 6]];
    for isa in tiers() {
        let mut seed = 500;
        for k in [3, 5] {
            for (stride, dilation_h) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
                for w in 1..=21 {
                    let channels: &[usize] = if [1, 7, 12, 13, 21].contains(&w) { &[1, 5, 16, 17, 32, 33, 70] } else { &[3, 40] };
                    for &c in channels {
                        for pad in pads {
                            seed += 1;
                            let win = window((k, k), (stride, stride), (dilation_h, 1), pad);
                            let s = Nhwc { n: 1 + seed as usize % 2, h: k + 1, w, c };
                            if win.out_h(s.h) == 0 || win.out_w(s.w) == 0 {
                                continue;
                            }
                            let clamp = if seed % 3 == 0 { Clamp::RELU6 } else { Clamp::NONE };
                            run_dw(isa, &pool, &win, s, 1, seed % 2 == 0, clamp, seed);
                        }
                    }
                }
            }
        }
    }
}

/// The AVX-512 row kernels compute each output as one FMA chain (bias, then
/// the in-image taps in window order), whichever path the pixel takes (groups
/// of 8, 4 or 1, or edge pixels): bit-equal to that chain done in scalar
/// `mul_add`, over widths, channel counts with whole and masked 16-channel
/// slices, several channel chunks per row, paddings and strides (the other
/// tests allow a tolerance).
#[cfg(target_arch = "x86_64")]
#[test]
fn depthwise_row_kernels_are_exactly_the_window_order_fma_chain() {
    if !Isa::Avx512.is_available() {
        return;
    }
    let pool = ThreadPool::new(1);
    let mut seed = 9000;
    for k in [3, 5] {
        for stride in [1, 2] {
            for w in [1, 2, 5, 7, 9, 14, 17, 28] {
                // 200 and 400: more channels than one chunk of the row walk holds at 3x3 stride 1.
                for c in [16, 40, 64, 100, 144, 200, 400] {
                    for pad in [[1, 1, 1, 1], [0, 1, 0, 1], [2, 2, 2, 2]] {
                        seed += 1;
                        let win = window((k, k), (stride, stride), (1, 1), pad);
                        let s = Nhwc { n: 1, h: k + 1, w, c };
                        if win.out_h(s.h) == 0 || win.out_w(s.w) == 0 {
                            continue;
                        }
                        let mut rng = Rng::new(seed);
                        let (x, wt, b) = (rng.vec(s.len()), rng.vec(k * k * c), rng.vec(c));
                        let packed = PackedDepthwise::pack(Isa::Avx512, k, k, c, 1, &wt, Some(&b));
                        let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
                        let mut out = vec![0.0; oh * ow * c];
                        depthwise_conv2d(Exec { isa: Isa::Avx512, pool: &pool }, &win, s, &x, &packed, &mut out, Clamp::NONE);
                        for oy in 0..oh {
                            for ox in 0..ow {
                                for ch in 0..c {
                                    let mut v = b[ch];
                                    for ky in 0..k {
                                        for kx in 0..k {
                                            if let Some((iy, ix)) = tap_source(&win, s, oy, ox, ky, kx) {
                                                v = x[(iy * w + ix) * c + ch].mul_add(wt[(ky * k + kx) * c + ch], v);
                                            }
                                        }
                                    }
                                    let got = out[(oy * ow + ox) * c + ch];
                                    assert_eq!(got.to_bits(), v.to_bits(), "k={k} s={stride} w={w} c={c} pad={pad:?} at ({oy},{ox},{ch})");
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn depthwise_row_kernel_results_are_identical_for_any_thread_count() {
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for isa in tiers() {
        for (s, k, stride) in [
            (Nhwc { n: 1, h: 20, w: 23, c: 70 }, 3, 1),
            (Nhwc { n: 2, h: 17, w: 19, c: 48 }, 5, 2),
            (Nhwc { n: 1, h: 7, w: 7, c: 300 }, 3, 1),
        ] {
            let win = window((k, k), (stride, stride), (1, 1), [k / 2; 4]);
            let outs: Vec<Vec<f32>> = pools.iter().map(|p| run_dw(isa, p, &win, s, 1, true, Clamp::RELU6, 6)).collect();
            for out in &outs[1..] {
                assert!(out.iter().zip(&outs[0]).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} {s:?}: thread count changed a result");
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn depthwise_row_interior_is_exactly_the_unpadded_columns() {
    for k in [3, 5] {
        for s in [1, 2] {
            for in_w in 1..12 {
                for pad_left in 0..7 {
                    for ow in 0..12 {
                        let (lo, hi) = f32_dw_32c_avx512_rows::interior(ow, in_w, pad_left, k, s);
                        let inside = |ox: usize| (0..k).all(|kx| (ox * s + kx).checked_sub(pad_left).is_some_and(|ix| ix < in_w));
                        let want: Vec<usize> = (0..ow).filter(|&ox| inside(ox)).collect();
                        let got: Vec<usize> = (lo..hi).collect();
                        assert_eq!(got, want, "k={k} s={s} in_w={in_w} pad_left={pad_left} ow={ow}");
                    }
                }
            }
        }
    }
}

/// A [`conv2d`] path: the indirect one or the window-row one.
type ConvPath = fn(Exec, &Window2d, Nhwc, &[f32], &PackedConv2d, &mut [f32], Clamp);

/// Runs `conv` on packed weights `w`.
#[allow(clippy::too_many_arguments)]
fn run_path(conv: ConvPath, isa: Isa, pool: &ThreadPool, win: &Window2d, s: Nhwc, x: &[f32], w: &PackedConv2d, clamp: Clamp) -> Vec<f32> {
    let mut out = vec![0.0; s.n * win.out_h(s.h) * win.out_w(s.w) * w.out_c];
    conv(Exec { isa, pool }, win, s, x, w, &mut out, clamp);
    out
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The window-row path computes every output with the indirect path's
/// multiply-adds in the same order: bit-identical over kernel sizes, strides,
/// vertical dilation, paddings (rows with no interior column, all-edge
/// images), channel counts, tile column tails and thread counts, and its
/// cache follows the thread count and the input shape.
#[test]
fn window_rows_are_bit_identical_to_the_indirect_path() {
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for isa in tiers() {
        let mut seed = 100;
        for (kh, kw) in [(3, 3), (5, 5), (1, 3), (3, 2), (7, 7)] {
            for (sh, sw) in [(1, 1), (2, 2), (1, 3), (3, 2)] {
                for dh in 1..=2 {
                    for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [0, 2, 1, 0], [2, 3, 1, 2]] {
                        for c in [1, 3, 4] {
                            for width in [2, 9, 40] {
                                seed += 1;
                                let win = window((kh, kw), (sh, sw), (dh, 1), pad);
                                let s = Nhwc { n: 2, h: 6, w: width, c };
                                if win.out_h(s.h) == 0 || win.out_w(s.w) == 0 {
                                    continue;
                                }
                                let mut rng = Rng::new(seed);
                                let out_c = [1, 19, 33][seed as usize % 3];
                                let x = rng.vec(s.len());
                                let packed = PackedConv2d::pack(isa, out_c, kh, kw, c, &rng.vec(out_c * kh * kw * c), Some(&rng.vec(out_c)));
                                let clamp = [Clamp::NONE, Clamp::RELU6][seed as usize % 2];
                                let want = run_path(conv2d_indirect, isa, &pools[0], &win, s, &x, &packed, clamp);
                                for pool in pools.iter().chain(&pools[..1]) {
                                    let got = run_path(conv2d_window_rows, isa, pool, &win, s, &x, &packed, clamp);
                                    assert!(same_bits(&got, &want), "{isa} {win:?} {s:?} out_c={out_c} threads={}: window rows differ", pool.num_threads());
                                }
                            }
                        }
                    }
                }
            }
        }
        // One packed convolution, the input shape changing between calls.
        let win = window((3, 3), (2, 2), (1, 1), [1, 1, 1, 1]);
        let mut rng = Rng::new(7);
        let packed = PackedConv2d::pack(isa, 12, 3, 3, 3, &rng.vec(12 * 27), None);
        for s in [Nhwc { n: 1, h: 5, w: 30, c: 3 }, Nhwc { n: 2, h: 3, w: 11, c: 3 }, Nhwc { n: 1, h: 5, w: 30, c: 3 }] {
            let x = rng.vec(s.len());
            let want = run_path(conv2d_indirect, isa, &pools[1], &win, s, &x, &packed, Clamp::NONE);
            assert!(same_bits(&run_path(conv2d_window_rows, isa, &pools[1], &win, s, &x, &packed, Clamp::NONE), &want), "{isa} {s:?}: after a shape change");
        }
    }
}

/// RGB stems wide enough for the window-row path go through it from
/// `conv2d`, and match the reference.
#[test]
fn wide_rgb_stems_take_the_window_row_path() {
    let pool = ThreadPool::new(2);
    for isa in tiers() {
        for (win, s, out_c) in [
            (window((3, 3), (2, 2), (1, 1), [0, 0, 1, 1]), Nhwc { n: 1, h: 5, w: 230, c: 3 }, 16),
            (window((5, 5), (1, 1), (2, 1), [2, 2, 2, 2]), Nhwc { n: 2, h: 4, w: 120, c: 4 }, 24),
            (window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]), Nhwc { n: 1, h: 3, w: 100, c: 1 }, 5),
        ] {
            let packed = PackedConv2d::pack(isa, out_c, win.kernel_h, win.kernel_w, s.c, &vec![0.0; out_c * win.kernel_h * win.kernel_w * s.c], None);
            assert!(reads_window_rows(&packed, &win, s), "{win:?} {s:?}");
            run_conv(isa, &pool, &win, s, out_c, true, Clamp::RELU6, 3);
        }
        // Narrow outputs and wider inputs keep the indirect path.
        let packed = PackedConv2d::pack(isa, 8, 3, 3, 3, &[0.0; 8 * 27], None);
        assert!(!reads_window_rows(&packed, &window((3, 3), (2, 2), (1, 1), [1, 1, 1, 1]), Nhwc { n: 1, h: 64, w: 64, c: 3 }));
        let packed = PackedConv2d::pack(isa, 8, 3, 3, 8, &[0.0; 8 * 72], None);
        assert!(!reads_window_rows(&packed, &window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]), Nhwc { n: 1, h: 4, w: 224, c: 8 }));
    }
}
