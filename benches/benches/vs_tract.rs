//! armrest's fp32 GEMM vs tract-linalg's matmul on the same shapes, in one
//! run (issue 3). Times armrest on its best tier and on AVX2, and tract on its
//! own kernel choice (both operands packed beforehand, and again packing the
//! activations in every call), as GFLOP/s and percent of the core's FMA peak
//! measured in the same run; every case's samples alternate with samples of
//! the peak loop and of the other side, and each keeps its fastest sample.
//! Both results are checked against each other and an f64 reference first.
//!
//!     cargo bench -p armrest-benches --bench vs_tract [-- --quick] [-- --filter <substring>]
//!
//! Instruction counting (aarch64 under qemu-icount): `--reps N --impl
//! armrest|tract|tract-pack` builds and checks both sides exactly as above, then runs
//! only the named one N times; run with two values of N and divide the
//! difference of the counts by the difference of N and the MACs.
//! `--ukernel <name>` packs armrest for that tile of its tier, `--tract-kernel
//! <name>` forces a tract kernel, `--list` prints tract's kernels and picks.

use armrest_benches::{calibrate, sample};
use armrest_benches::vs_tract::{check, gemm_shapes, tract_f32_kernels, ArmrestGemm, GemmShape, Operands, TractGemm};
use armrest_kernels::{gemm, peak, Isa, ThreadPool};

/// Agreement required of armrest vs tract vs f64, relative to the output's magnitude.
const TOL: f64 = 1e-5;

#[derive(Default)]
struct Args {
    quick: bool,
    list: bool,
    filter: Option<String>,
    reps: Option<usize>,
    imp: Option<String>,
    tier: Option<Isa>,
    ukernel: Option<String>,
    tract_kernel: Option<String>,
}

fn args() -> Args {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(s) = it.next() {
        match s.as_str() {
            "--quick" => a.quick = true,
            "--list" => a.list = true,
            "--filter" => a.filter = it.next(),
            "--reps" => a.reps = it.next().and_then(|v| v.parse().ok()),
            "--impl" => a.imp = it.next(),
            "--tier" => a.tier = it.next().and_then(|v| Isa::parse(&v)),
            "--ukernel" => a.ukernel = it.next(),
            "--tract-kernel" => a.tract_kernel = it.next(),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

fn fail(msg: String) -> ! {
    eprintln!("vs_tract: {msg}");
    std::process::exit(1)
}

/// Both sides built and checked against each other and the reference.
fn prepare(shape: GemmShape, isa: Isa, ukernel: Option<&'static gemm::GemmUkernel>, tract_kernel: Option<&str>, pool: &ThreadPool) -> (Operands, ArmrestGemm, TractGemm) {
    let ops = Operands::new(shape);
    let mut a = ArmrestGemm::new(&ops, isa, ukernel);
    a.run(pool);
    let mut t = TractGemm::new(&ops, tract_kernel).unwrap_or_else(|e| fail(format!("{}: {e}", shape.name)));
    t.run().unwrap_or_else(|e| fail(format!("{}: tract: {e}", shape.name)));
    let out = t.out().unwrap_or_else(|e| fail(e.to_string()));
    if let Err(e) = check(&ops, &a.out, out, TOL) {
        fail(e);
    }
    (ops, a, t)
}

fn main() {
    let a = args();
    let shapes: Vec<GemmShape> = gemm_shapes().into_iter().filter(|s| a.filter.as_ref().is_none_or(|f| s.name.contains(f.as_str()))).collect();
    let pool = ThreadPool::new(1);
    let best = a.tier.unwrap_or_else(Isa::best);
    let ukernel = a.ukernel.as_ref().map(|name| {
        gemm::gemm_ukernels(best).into_iter().find(|u| u.name == name).unwrap_or_else(|| fail(format!("no ukernel {name} on {best}")))
    });
    let tract_kernel = a.tract_kernel.as_deref();

    if a.list {
        println!("tract-linalg f32 kernels runnable here: {}", tract_f32_kernels().join(", "));
        for s in &shapes {
            let (_, arm, t) = prepare(*s, best, ukernel, tract_kernel, &pool);
            println!("{}: armrest {best} {}, tract {} (checked)", s.name, arm.ukernel(), t.kernel());
        }
        return;
    }

    if let Some(reps) = a.reps {
        // Instruction counting: both sides built and checked (identical set-up
        // whichever is counted), then only the named side runs, nothing timed.
        let imp = a.imp.as_deref().unwrap_or("armrest");
        for s in &shapes {
            let (_, mut arm, mut t) = prepare(*s, best, ukernel, tract_kernel, &pool);
            let kernel = match imp {
                "armrest" => {
                    for _ in 0..reps {
                        arm.run(&pool);
                    }
                    arm.ukernel().to_string()
                }
                "tract" => {
                    for _ in 0..reps {
                        t.run().unwrap_or_else(|e| fail(e.to_string()));
                    }
                    t.kernel().to_string()
                }
                "tract-pack" => {
                    for _ in 0..reps {
                        t.run_packing().unwrap_or_else(|e| fail(e.to_string()));
                    }
                    t.kernel().to_string()
                }
                other => fail(format!("--impl {other}: armrest, tract or tract-pack")),
            };
            println!("{imp} {kernel} {} macs={} reps={reps}", s.name, s.macs());
        }
        return;
    }

    let (samples, target) = if a.quick { (1, 0.002) } else { (40, 0.01) };
    let avx2 = (best != Isa::Avx2 && Isa::Avx2.is_available()).then_some(Isa::Avx2);
    let peak_iters = calibrate(target, &mut || {
        std::hint::black_box(peak::fma_loop(best, 1000));
    }) * 1000;
    let peak_macs = (peak_iters * peak::macs_per_iteration(best)) as f64;
    let mut peaks = Vec::new();
    println!(
        "| shape (m x k x n) | MACs | armrest {best} ukernel | armrest {best} GFLOP/s | % of peak |{} tract-linalg kernel | tract GFLOP/s | % of peak | tract + packing x GFLOP/s | time armrest / tract | time armrest / (tract + packing x) |",
        if avx2.is_some() { " armrest avx2 GFLOP/s | % of peak |" } else { "" }
    );
    println!("|---|---|---|---|---|{}---|---|---|---|---|---|", if avx2.is_some() { "---|---|" } else { "" });
    for s in &shapes {
        let (_, mut arm, mut t) = prepare(*s, best, None, tract_kernel, &pool);
        let mut arm2 = avx2.map(|isa| {
            let (_, arm2, _) = prepare(*s, isa, None, tract_kernel, &pool);
            arm2
        });
        let tract_name = t.kernel().to_string();
        let pool = &pool;
        // [armrest best, tract, tract + packing, armrest avx2]
        let mut runs: Vec<Box<dyn FnMut() + '_>> = Vec::new();
        runs.push(Box::new(|| arm.run(pool)));
        let t = std::cell::RefCell::new(&mut t);
        runs.push(Box::new(|| t.borrow_mut().run().unwrap_or_else(|e| fail(e.to_string()))));
        runs.push(Box::new(|| t.borrow_mut().run_packing().unwrap_or_else(|e| fail(e.to_string()))));
        if let Some(arm2) = arm2.as_mut() {
            runs.push(Box::new(|| arm2.run(pool)));
        }
        let inner: Vec<usize> = runs.iter_mut().map(|f| calibrate(target, &mut **f)).collect();
        let mut best_t = vec![f64::INFINITY; runs.len()];
        let mut best_peak = f64::INFINITY;
        for _ in 0..samples {
            best_peak = best_peak.min(sample(1, &mut || {
                std::hint::black_box(peak::fma_loop(best, peak_iters));
            }));
            for (i, f) in runs.iter_mut().enumerate() {
                best_t[i] = best_t[i].min(sample(inner[i], &mut **f));
            }
        }
        drop(runs);
        let peak_gflops = 2.0 * peak_macs / best_peak / 1e9;
        peaks.push(peak_gflops);
        let gf = |secs: f64| 2.0 * s.macs() as f64 / secs / 1e9;
        let pct = |secs: f64| 100.0 * gf(secs) / peak_gflops;
        let avx2_cols = if avx2.is_some() { format!(" {:.1} | {:.0}% |", gf(best_t[3]), pct(best_t[3])) } else { String::new() };
        println!(
            "| {} ({}x{}x{}) | {:.1}M | {} | {:.1} | {:.0}% |{avx2_cols} {tract_name} | {:.1} | {:.0}% | {:.1} | {:.2} | {:.2} |",
            s.name,
            s.m,
            s.k,
            s.n,
            s.macs() as f64 / 1e6,
            arm.ukernel(),
            gf(best_t[0]),
            pct(best_t[0]),
            gf(best_t[1]),
            pct(best_t[1]),
            gf(best_t[2]),
            best_t[0] / best_t[1],
            best_t[0] / best_t[2],
        );
    }
    peaks.sort_by(|a, b| a.total_cmp(b));
    if let Some(p) = peaks.get(peaks.len() / 2) {
        println!("\n1 thread; peak = {best} FMA loop sampled next to each case (fastest sample; median over cases {p:.1} GFLOP/s); outputs checked first (armrest vs tract vs f64, relative {TOL:.0e}).");
    }
}
