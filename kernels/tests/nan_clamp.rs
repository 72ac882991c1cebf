//! A NaN stays NaN through every fused clamp (bias + activation epilogues,
//! elementwise and pooling clamps), on every available tier, as in TFLite's
//! reference kernels (`std::min(std::max(x, lo), hi)` keeps NaN). x86
//! `max_ps` returns its second operand when either is NaN, so a clamp
//! written `max(x, lo)` would turn NaN into `lo`.

use armrest_kernels::conv::{depthwise_conv2d, PackedDepthwise};
use armrest_kernels::elementwise::{binary, BinaryOp};
use armrest_kernels::gemm::{gemm, PackedWeights};
use armrest_kernels::pool::avg_pool2d;
use armrest_kernels::{Clamp, Exec, Isa, Nhwc, ThreadPool, Window2d};

const CLAMPS: [Clamp; 4] = [Clamp::NONE, Clamp::RELU, Clamp::RELU6, Clamp::RELU_N1_TO_1];

fn tiers() -> impl Iterator<Item = Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_available())
}

/// Checks `out[i]` is NaN exactly where `nan[i]`, and finite and within the clamp elsewhere.
fn check(out: &[f32], nan: impl Fn(usize) -> bool, clamp: Clamp, what: &str) {
    for (i, &v) in out.iter().enumerate() {
        if nan(i) {
            assert!(v.is_nan(), "{what}: element {i} is {v}, expected NaN ({clamp:?})");
        } else {
            assert!(v >= clamp.min && v <= clamp.max, "{what}: element {i} is {v} ({clamp:?})");
        }
    }
}

#[test]
fn scalar_clamp_keeps_nan() {
    for c in CLAMPS {
        assert!(c.apply(f32::NAN).is_nan());
        assert_eq!(c.apply(7.0), 7.0f32.clamp(c.min, c.max));
    }
}

#[test]
fn elementwise_keeps_nan() {
    let pool = ThreadPool::new(1);
    let n = 37;
    let a: Vec<f32> = (0..n).map(|i| if i % 5 == 2 { f32::NAN } else { i as f32 * 0.3 - 4.0 }).collect();
    for isa in tiers() {
        for c in CLAMPS {
            let mut out = vec![0.0; n];
            binary(Exec { isa, pool: &pool }, BinaryOp::Mul, &a, &[n], &[1.5], &[1], &mut out, &[n], c);
            check(&out, |i| i % 5 == 2, c, &format!("mul {isa:?}"));
        }
    }
}

#[test]
fn gemm_epilogue_keeps_nan() {
    let pool = ThreadPool::new(1);
    let (m, n, k) = (13, 35, 9);
    let w: Vec<f32> = (0..n * k).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.1).collect();
    let a: Vec<f32> = (0..m * k).map(|i| if i / k == 4 { f32::NAN } else { ((i * 3 % 7) as f32 - 3.0) * 0.2 }).collect();
    for isa in tiers() {
        let packed = PackedWeights::pack(isa, n, k, &w, None);
        for c in CLAMPS {
            let mut out = vec![0.0; m * n];
            gemm(Exec { isa, pool: &pool }, m, &a, k, &packed, &mut out, n, c);
            check(&out, |i| i / n == 4, c, &format!("gemm {isa:?}"));
        }
    }
}

fn window(k: usize) -> Window2d {
    Window2d { kernel_h: k, kernel_w: k, stride_h: 1, stride_w: 1, dilation_h: 1, dilation_w: 1, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0 }
}

#[test]
fn depthwise_and_pool_epilogues_keep_nan() {
    let pool = ThreadPool::new(1);
    let (h, w, c) = (5, 5, 37);
    let shape = Nhwc { n: 1, h, w, c };
    // Channel 3 of the input is NaN everywhere.
    let x: Vec<f32> = (0..h * w * c).map(|i| if i % c == 3 { f32::NAN } else { ((i * 5 % 13) as f32 - 6.0) * 0.1 }).collect();
    let filt: Vec<f32> = (0..9 * c).map(|i| ((i * 3 % 5) as f32 - 2.0) * 0.25).collect();
    let out_len = 3 * 3 * c;
    for isa in tiers() {
        let packed = PackedDepthwise::pack(isa, 3, 3, c, 1, &filt, None);
        for cl in CLAMPS {
            let mut out = vec![0.0; out_len];
            depthwise_conv2d(Exec { isa, pool: &pool }, &window(3), shape, &x, &packed, &mut out, cl);
            check(&out, |i| i % c == 3, cl, &format!("depthwise {isa:?}"));
            let mut avg = vec![0.0; out_len];
            avg_pool2d(Exec { isa, pool: &pool }, &window(3), shape, &x, &mut avg, cl);
            check(&avg, |i| i % c == 3, cl, &format!("avg pool {isa:?}"));
        }
    }
}
