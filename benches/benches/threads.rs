//! Thread scaling of armrest's kernels on MobileNetV2's convolutions (no
//! runtime in the way): the 53 layers back to back on 1 thread inline, on 2
//! threads with the `spin` pool and on 2 threads with the `rayon` pool,
//! samples interleaved; then each layer alone (`--layers`), to see which
//! ones scale badly. Medians, and the fastest sample (the one least
//! disturbed by other load), with the 1-thread / 2-thread ratios of each.
//!
//!     cargo bench -p armrest-benches --bench threads [-- --quick] [-- --layers] [-- --tier avx2]

use std::time::Instant;

use armrest_benches::mobilenet_v2_layers;
use armrest_kernels::{Isa, PoolKind, ThreadPool};

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let per_layer = args.iter().any(|a| a == "--layers");
    let isa = args.iter().position(|a| a == "--tier").and_then(|i| args.get(i + 1)).and_then(|t| Isa::parse(t)).unwrap_or_else(Isa::best);
    let pools = [
        ("1 thread", ThreadPool::with_kind(1, PoolKind::Spin)),
        ("spin 2T", ThreadPool::with_kind(2, PoolKind::Spin)),
        ("rayon 2T", ThreadPool::with_kind(2, PoolKind::Rayon)),
    ];
    let layers = mobilenet_v2_layers();
    let mut runs: Vec<_> = layers.iter().map(|c| c.prepare(isa)).collect();
    let macs: usize = layers.iter().map(|c| c.macs).sum();
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    println!("tier {isa}; {} layers, {:.0}M MACs; load average {}", layers.len(), macs as f64 / 1e6, load());

    let samples = if quick { 5 } else { 200 };
    let mut t = vec![Vec::new(); pools.len()];
    for s in 0..samples + 2 {
        for r in 0..pools.len() {
            let p = (r + s) % pools.len();
            let c = Instant::now();
            for run in runs.iter_mut() {
                run(&pools[p].1);
            }
            if s >= 2 {
                t[p].push(c.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let st: Vec<(f64, f64)> = t.into_iter().map(stats).collect();
    println!();
    println!("All layers back to back, {samples} interleaved samples:");
    println!();
    println!("| pool | median ms | fastest ms | 1T/2T (median) | 1T/2T (fastest) |");
    println!("|---|---|---|---|---|");
    for (i, (name, _)) in pools.iter().enumerate() {
        println!("| {name} | {:.3} | {:.3} | {:.2}x | {:.2}x |", st[i].0, st[i].1, st[0].0 / st[i].0, st[0].1 / st[i].1);
    }
    println!("load average after: {}", load());

    if per_layer {
        let samples = if quick { 5 } else { 60 };
        println!();
        println!("Each layer alone, {samples} interleaved samples; medians (fastest in brackets):");
        println!();
        println!("| layer | MACs | 1T µs | spin 2T µs | rayon 2T µs | 1T/spin 2T | 1T/rayon 2T |");
        println!("|---|---|---|---|---|---|---|");
        for (case, run) in layers.iter().zip(runs.iter_mut()) {
            let mut t = vec![Vec::new(); pools.len()];
            for s in 0..samples + 2 {
                for r in 0..pools.len() {
                    let p = (r + s) % pools.len();
                    let c = Instant::now();
                    run(&pools[p].1);
                    if s >= 2 {
                        t[p].push(c.elapsed().as_secs_f64() * 1e6);
                    }
                }
            }
            let m: Vec<(f64, f64)> = t.into_iter().map(stats).collect();
            println!(
                "| {} | {:.2}M | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.2}x ({:.2}x) | {:.2}x ({:.2}x) |",
                case.name,
                case.macs as f64 / 1e6,
                m[0].0,
                m[0].1,
                m[1].0,
                m[1].1,
                m[2].0,
                m[2].1,
                m[0].0 / m[1].0,
                m[0].1 / m[1].1,
                m[0].0 / m[2].0,
                m[0].1 / m[2].1
            );
        }
    }
}
