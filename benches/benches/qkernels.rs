//! int8 kernel bench: GOP/s of armrest's int8 GEMM, CONV_2D and depthwise
//! kernels (`armrest_kernels::quant`) against the fp32 kernels of the same
//! tier family on the same shapes, measured interleaved in one run (1 thread).
//!
//!     cargo bench -p armrest-benches --bench qkernels [-- --quick] [-- --filter <substring>] [-- --tier <qtier>]
//!
//! `--reps N` only runs each int8 case N times with the given tier and
//! prints its multiply-adds, for counting instructions under qemu-icount
//! (`--reps 1` and `--reps 11`; see benches/README.md).

use armrest_benches::{calibrate, mobilenet_v2_layers, prefixed, same_window, sample, shapes, BenchArgs, Case, Kind};
use armrest_kernels::fixedpoint::Requant;
use armrest_kernels::quant::{self, best_qtier, PackedQConv2d, PackedQDepthwise, PackedQGemm, QTier, QUkernel, QuantOut};
use armrest_kernels::{Exec, Isa, Nhwc, ThreadPool};

fn i8s(len: usize, seed: u64) -> Vec<i8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as i8
        })
        .collect()
}

/// A realistic per-channel output stage for reduction length `k`, RELU6-like clamp.
fn quant_out(n: usize, k: usize) -> QuantOut {
    let requant = (0..n).map(|j| Requant::from_real(0.7 / (128.0 * (k as f64).sqrt()) * (1.0 + j as f64 / n as f64))).collect();
    QuantOut { requant, zero_point: -128, min: -128, max: 127 }
}

/// The name of the int8 kernel a tier runs the case with.
fn qkernel_name(case: &Case, tier: QTier) -> &'static str {
    match case.kind {
        Kind::Depthwise { .. } => quant::qdw_ukernel(tier).name,
        Kind::Gemm { n, k, .. } => quant::qgemm_ukernel_for(tier, n, k).name,
        Kind::Conv { s, out_c, kernel, .. } => quant::qgemm_ukernel_for(tier, out_c, kernel * kernel * s.c).name,
        Kind::Block { .. } => unreachable!("the int8 bench runs no fp32 blocks"),
    }
}

/// Packs the int8 weights of a case for `tier` (GEMM tile `uk` when given) and returns one call.
fn prepare_q(case: &Case, tier: QTier, uk: Option<&'static QUkernel>) -> Box<dyn FnMut(&ThreadPool)> {
    let isa = tier.isa();
    match case.kind {
        Kind::Gemm { m, n, k } => {
            let uk = uk.unwrap_or_else(|| quant::qgemm_ukernel_for(tier, n, k));
            let a = i8s(m * k, 1);
            let bias: Vec<i32> = i8s(n, 3).iter().map(|&v| v as i32 * 50).collect();
            let w = PackedQGemm::pack_ukernel(uk, n, k, &i8s(n * k, 2), 0, Some(&bias), 3);
            let q = quant_out(n, k);
            let mut out = vec![0i8; m * n];
            Box::new(move |pool| quant::qgemm(Exec { isa, pool }, m, &a, k, &w, &mut out, n, &q))
        }
        Kind::Conv { s, out_c, kernel, stride } => {
            let win = same_window(kernel, stride, s);
            let x = i8s(s.len(), 1);
            let kk = kernel * kernel * s.c;
            let bias: Vec<i32> = i8s(out_c, 3).iter().map(|&v| v as i32 * 50).collect();
            let w = PackedQConv2d::pack_tier(tier, out_c, kernel, kernel, s.c, &i8s(out_c * kk, 2), 0, Some(&bias), 3);
            let q = quant_out(out_c, kk);
            let mut out = vec![0i8; s.n * win.out_h(s.h) * win.out_w(s.w) * out_c];
            Box::new(move |pool| quant::qconv2d(Exec { isa, pool }, &win, s, &x, &w, &mut out, &q))
        }
        Kind::Depthwise { s, kernel, stride } => {
            let win = same_window(kernel, stride, s);
            let x = i8s(s.len(), 1);
            let bias: Vec<i32> = i8s(s.c, 3).iter().map(|&v| v as i32 * 50).collect();
            let w = PackedQDepthwise::pack_tier(tier, kernel, kernel, s.c, 1, &i8s(kernel * kernel * s.c, 2), 0, Some(&bias), 3);
            let q = quant_out(s.c, kernel * kernel);
            let mut out = vec![0i8; s.n * win.out_h(s.h) * win.out_w(s.w) * s.c];
            Box::new(move |pool| quant::qdepthwise_conv2d(Exec { isa, pool }, &win, s, &x, &w, &mut out, &q))
        }
        Kind::Block { .. } => unreachable!("the int8 bench runs no fp32 blocks"),
    }
}

fn main() {
    let a = BenchArgs::parse(QTier::parse);
    // The shared shapes, plus GEMMs with a long reduction (where the output
    // stage weighs least per multiply-add).
    let extra = [
        Case::new("gemm 128x128x1024", Kind::Gemm { m: 128, n: 128, k: 1024 }, false),
        Case::new("gemm 64x64x4096", Kind::Gemm { m: 64, n: 64, k: 4096 }, false),
        Case::new("gemm 96x64x4096", Kind::Gemm { m: 96, n: 64, k: 4096 }, false),
        // MobileNetV3-large's 5x5 depthwise layers over a multiple of 16 channels.
        Case::new("dw5x5s2 14x14x672", Kind::Depthwise { s: Nhwc { n: 1, h: 14, w: 14, c: 672 }, kernel: 5, stride: 2 }, false),
        Case::new("dw5x5s1 7x7x960", Kind::Depthwise { s: Nhwc { n: 1, h: 7, w: 7, c: 960 }, kernel: 5, stride: 1 }, false),
    ];
    // `--filter mnv2` selects MobileNetV2 224's convolution layers instead (in
    // execution order, repeats included, named `mnv2 <layer>`): their
    // instruction count over all their multiply-adds is the model's per-MAC figure.
    let model = prefixed("mnv2", mobilenet_v2_layers());
    let cases: Vec<Case> = if a.filter.as_deref().is_some_and(|f| f.starts_with("mnv2")) { model } else { shapes().into_iter().chain(extra).collect() }
        .into_iter()
        .filter(|c| !c.name.starts_with("gemm 512"))
        .filter(|c| a.selects(&c.name))
        .collect();
    let pool = ThreadPool::new(1);

    if let Some(reps) = a.reps {
        // Instruction counting: a fixed number of calls per case, nothing timed.
        let tier = a.tier.unwrap_or_else(|| best_qtier(Isa::best()));
        assert!(tier.is_available(), "tier {tier} is not available here");
        let uk = a.ukernel.as_ref().map(|name| {
            *quant::qgemm_ukernels(tier).iter().find(|u| u.name == name).unwrap_or_else(|| panic!("no ukernel {name} in tier {tier}"))
        });
        for case in &cases {
            let mut run = prepare_q(case, tier, uk);
            for _ in 0..reps {
                run(&pool);
            }
            let name = match (case.kind, uk) {
                (Kind::Gemm { .. }, Some(u)) => u.name,
                _ => qkernel_name(case, tier),
            };
            println!("{tier} {name} {} macs={} reps={reps}", case.name, case.macs);
        }
        return;
    }

    // Each tier against the fp32 kernels of its family, samples interleaved, fastest kept.
    let tiers: Vec<QTier> = match a.tier {
        Some(t) => vec![t],
        None => QTier::available().into_iter().filter(|t| *t != QTier::Scalar).collect(),
    };
    let (samples, target) = if a.quick { (1, 0.002) } else { (11, 0.02) };
    println!("| case | MACs | int8 tier | int8 kernel | int8 µs | int8 GOP/s | fp32 tier | fp32 kernel | fp32 µs | fp32 GFLOP/s | int8 / fp32 speed |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &tier in &tiers {
        let isa = tier.isa();
        for case in &cases {
            let mut q = prepare_q(case, tier, None);
            let mut f = case.prepare(isa);
            let mut qf = || q(&pool);
            let mut ff = || f(&pool);
            let (qi, fi) = (calibrate(target, &mut qf), calibrate(target, &mut ff));
            let (mut qt, mut ft) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..samples {
                qt = qt.min(sample(qi, &mut qf));
                ft = ft.min(sample(fi, &mut ff));
            }
            let ops = 2.0 * case.macs as f64;
            println!(
                "| {} | {:.1}M | {tier} | {} | {:.1} | {:.1} | {isa} | {} | {:.1} | {:.1} | {:.2}x |",
                case.name,
                case.macs as f64 / 1e6,
                qkernel_name(case, tier),
                qt * 1e6,
                ops / qt / 1e9,
                case.ukernel(isa),
                ft * 1e6,
                ops / ft / 1e9,
                ft / qt
            );
        }
    }
}
