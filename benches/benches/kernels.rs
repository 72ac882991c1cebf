//! Kernel bench: GFLOP/s of armrest's GEMM, convolution and depthwise
//! kernels on MobileNetV2-class shapes and a large square GEMM, per tier, as
//! a percentage of the core's fp32 FMA peak measured by an FMA loop in the
//! same run (1 thread, plus 2 threads for the GEMMs).
//!
//!     cargo bench -p armrest-benches --bench kernels [-- --quick] [-- --filter <substring>]
//!
//! `--quick` takes one short sample per case; `--reps N` only runs each
//! case N times and prints its multiply-adds (for counting
//! instructions under qemu-icount: run with `--reps 1` and `--reps 11`).
//! `--ukernel <name>` packs the GEMM cases for that tile of the tier (timed
//! or counted), to compare tiles in one binary. `--filter mnv2` runs
//! MobileNetV2 224's 17 inverted residual blocks instead, each fused in bands
//! of rows as the fp32 model runs it (their 1-thread µs add up to most of
//! an invoke).

use std::time::Instant;

use armrest_benches::{calibrate, mobilenet_v2_blocks, prefixed, shapes, BenchArgs, Case};
use armrest_kernels::{gemm, peak, Isa, ThreadPool};

/// Median seconds per call of `f` over `samples` samples of `inner` calls.
fn time(samples: usize, inner: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..inner {
                f();
            }
            t0.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() {
    let a = BenchArgs::parse(Isa::parse);
    let tiers: Vec<Isa> = match a.tier {
        Some(t) => vec![t],
        None => Isa::ALL.into_iter().filter(|i| i.is_available() && *i != Isa::Scalar).collect(),
    };
    // `--filter mnv2` selects MobileNetV2 224's 17 fused inverted residual blocks
    // instead (named `mnv2 block ...`), as the fp32 model runs them.
    let cases: Vec<Case> = if a.filter.as_deref().is_some_and(|f| f.starts_with("mnv2")) { prefixed("mnv2", mobilenet_v2_blocks()) } else { shapes() }
        .into_iter()
        .filter(|c| a.selects(&c.name))
        .collect();
    // The GEMM tile `--ukernel` names, on a tier that has it.
    let tile = |isa: Isa| a.ukernel.as_ref().and_then(|name| gemm::gemm_ukernels(isa).into_iter().find(|u| u.name == name));
    let pools = [ThreadPool::new(1), ThreadPool::new(2)];

    if let Some(reps) = a.reps {
        // Instruction counting: a fixed number of calls per case, nothing timed.
        for isa in &tiers {
            let uk = tile(*isa);
            for case in &cases {
                let mut run = case.prepare_with(*isa, uk);
                for _ in 0..reps {
                    run(&pools[0]);
                }
                println!("{isa} {} {} macs={} reps={reps}", uk.map_or(case.ukernel(*isa), |u| u.name), case.name, case.macs);
            }
        }
        return;
    }

    // The machine is shared: every case's samples alternate with samples of the FMA
    // peak loop, and both keep their fastest sample (the least disturbed), so the
    // percentage compares two measurements taken under the same conditions.
    let (samples, target) = if a.quick { (1, 0.002) } else { (15, 0.02) };
    println!("| case | MACs | tier | ukernel | threads | µs | GFLOP/s | peak GFLOP/s (same run) | % of 1-thread peak |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for isa in &tiers {
        let peak_iters = calibrate(target, &mut || {
            std::hint::black_box(peak::fma_loop(*isa, 1000));
        }) * 1000;
        let uk = tile(*isa);
        for case in &cases {
            let mut run = case.prepare_with(*isa, uk);
            for (pi, pool) in pools.iter().enumerate() {
                if pi == 1 && !case.threaded {
                    continue;
                }
                let inner = calibrate(target, &mut || run(pool));
                let (mut best, mut best_peak) = (f64::INFINITY, f64::INFINITY);
                for _ in 0..samples {
                    best_peak = best_peak.min(time(1, 1, || {
                        std::hint::black_box(peak::fma_loop(*isa, peak_iters));
                    }));
                    best = best.min(time(1, inner, || run(pool)));
                }
                let peak_gflops = 2.0 * (peak_iters * peak::macs_per_iteration(*isa)) as f64 / best_peak / 1e9;
                let gflops = 2.0 * case.macs as f64 / best / 1e9;
                println!(
                    "| {} | {:.1}M | {isa} | {} | {} | {:.1} | {gflops:.1} | {peak_gflops:.1} | {:.0}% |",
                    case.name,
                    case.macs as f64 / 1e6,
                    uk.map_or(case.ukernel(*isa), |u| u.name),
                    pool.num_threads(),
                    best * 1e6,
                    100.0 * gflops / peak_gflops
                );
            }
        }
    }
}
