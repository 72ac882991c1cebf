//! The fused chain against the same convolutions run one after the other:
//! bit-identical over shapes, geometries, band sizes, thread counts and
//! every available tier.

use super::*;
use crate::conv::{conv2d, depthwise_conv2d};
use crate::gemm::tests::{tiers, Rng};
use crate::{Isa, ThreadPool};

struct Case {
    s: Nhwc,
    expand: Option<usize>,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pads: [usize; 4],
    dm: usize,
    project: Option<usize>,
}

fn pointwise_win() -> Window2d {
    Window2d { kernel_h: 1, kernel_w: 1, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0 }
}

/// Runs `case` layer by layer and fused (at several band budgets and thread
/// counts); asserts every fused result has the layer-by-layer bits.
fn check_case(isa: Isa, case: &Case, seed: u64) {
    let mut rng = Rng::new(seed);
    let s = case.s;
    let x = rng.vec(s.len());
    let ce = case.expand.unwrap_or(s.c);
    let cd = ce * case.dm;
    let ew = case.expand.map(|ce| PackedConv2d::pack(isa, ce, 1, 1, s.c, &rng.vec(ce * s.c), Some(&rng.vec(ce))));
    let dk = case.kernel;
    let dw_w = PackedDepthwise::pack(isa, dk, dk, ce, case.dm, &rng.vec(dk * dk * cd), Some(&rng.vec(cd)));
    let pw = case.project.map(|cf| {
        let (w, b) = (rng.vec(cf * cd), rng.vec(cf));
        PackedConv2d::pack(isa, cf, 1, 1, cd, &w, seed.is_multiple_of(2).then_some(&b[..]))
    });
    let win = Window2d {
        kernel_h: dk,
        kernel_w: dk,
        stride_h: case.stride,
        stride_w: case.stride,
        dilation_h: case.dilation,
        dilation_w: case.dilation,
        pad_top: case.pads[0],
        pad_left: case.pads[1],
        pad_bottom: case.pads[2],
        pad_right: case.pads[3],
    };
    let (e_clamp, d_clamp, p_clamp) = (Clamp::RELU6, Clamp { min: -0.5, max: 0.75 }, if seed.is_multiple_of(3) { Clamp::RELU } else { Clamp::NONE });

    let one = ThreadPool::new(1);
    let exec = Exec { isa, pool: &one };
    let expanded = match &ew {
        Some(w) => {
            let mut e = vec![0.0; s.n * s.h * s.w * w.out_c];
            conv2d(exec, &pointwise_win(), s, &x, w, &mut e, e_clamp);
            e
        }
        None => x.clone(),
    };
    let es = Nhwc { c: ce, ..s };
    let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
    let mut dwo = vec![0.0; s.n * oh * ow * cd];
    depthwise_conv2d(exec, &win, es, &expanded, &dw_w, &mut dwo, d_clamp);
    let want = match &pw {
        Some(w) => {
            let mut y = vec![0.0; s.n * oh * ow * w.out_c];
            conv2d(exec, &pointwise_win(), Nhwc { n: s.n, h: oh, w: ow, c: cd }, &dwo, w, &mut y, p_clamp);
            y
        }
        None => dwo,
    };

    let expand = ew.as_ref().map(|w| Pointwise { w, clamp: e_clamp });
    let project = pw.as_ref().map(|w| Pointwise { w, clamp: p_clamp });
    let dw = Depthwise { w: &dw_w, win, clamp: d_clamp };
    let os = output_shape(s, &dw, project);
    assert_eq!(os.len(), want.len());
    let what = format!("{isa:?} s={s:?} expand={:?} k={dk} stride={} dil={} pads={:?} dm={} project={:?}", case.expand, case.stride, case.dilation, case.pads, case.dm, case.project);
    let e_row = case.expand.map_or(0, |_| s.w * ce * 4);
    // Budgets: one output row per band, a few rows, everything in one band.
    for budget in [1, 3 * e_row + 2 * ow * cd * 4, usize::MAX / 8] {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let sentinel = 1234.5f32;
            let mut got = vec![sentinel; want.len() + 7];
            chain(Exec { isa, pool: &pool }, s, &x, expand, dw, project, &mut got, budget);
            assert!(got[want.len()..].iter().all(|&v| v == sentinel), "{what}: wrote past the output");
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(a.to_bits() == b.to_bits(), "{what} budget={budget} threads={threads}: element {i}: {a} vs {b}");
            }
        }
    }
}

#[test]
fn chain_matches_layer_by_layer_over_shapes_and_geometries() {
    let mut seed = 1;
    for isa in tiers() {
        for (h, w) in [(7, 9), (12, 5), (1, 6), (15, 15)] {
            for (kernel, stride, dilation, pads) in [(3, 1, 1, [1, 1, 1, 1]), (3, 2, 1, [0, 0, 1, 1]), (3, 2, 1, [1, 1, 1, 1]), (5, 1, 1, [2, 2, 2, 2]), (5, 2, 1, [1, 2, 2, 1]), (3, 1, 2, [2, 2, 2, 2]), (3, 1, 1, [0, 0, 0, 0])] {
                for (c, expand, dm, project) in [(5, Some(17), 1, Some(7)), (16, Some(96), 1, Some(24)), (3, None, 1, Some(33)), (8, Some(37), 1, None), (6, None, 2, Some(5)), (4, Some(9), 2, None)] {
                    if (h + pads[0] + pads[2]) < (kernel - 1) * dilation + 1 {
                        continue;
                    }
                    let case = Case { s: Nhwc { n: 1 + (seed as usize % 2), h, w, c }, expand, kernel, stride, dilation, pads, dm, project };
                    check_case(isa, &case, seed);
                    seed += 1;
                }
            }
        }
    }
}

#[test]
fn chain_keeps_odd_channel_counts_and_tall_images_exact() {
    // Many bands per image, odd channel counts around each tier's tile widths.
    let mut seed = 1000;
    for isa in tiers() {
        for (c, ce, cf) in [(1, 1, 1), (7, 33, 15), (24, 144, 24), (13, 47, 31)] {
            for stride in [1, 2] {
                let case = Case { s: Nhwc { n: 1, h: 29, w: 11, c }, expand: Some(ce), kernel: 3, stride, dilation: 1, pads: [1, 1, 1, 1], dm: 1, project: Some(cf) };
                check_case(isa, &case, seed);
                seed += 1;
            }
        }
    }
}

#[test]
#[should_panic(expected = "expand must be 1x1")]
fn chain_refuses_a_non_pointwise_expand() {
    let isa = Isa::Scalar;
    let e = PackedConv2d::pack(isa, 4, 3, 3, 2, &[0.5; 72], None);
    let d = PackedDepthwise::pack(isa, 3, 3, 4, 1, &[0.5; 36], None);
    let pool = ThreadPool::new(1);
    let win = Window2d { kernel_h: 3, kernel_w: 3, pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1, ..pointwise_win() };
    let mut out = vec![0.0; 64];
    pointwise_depthwise_chain(Exec { isa, pool: &pool }, Nhwc { n: 1, h: 4, w: 4, c: 2 }, &[0.0; 32], Some(Pointwise { w: &e, clamp: Clamp::NONE }), Depthwise { w: &d, win, clamp: Clamp::NONE }, None, &mut out);
}
