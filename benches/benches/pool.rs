//! Thread-pool bench: armrest's `spin` pool (default spin time, and 200 µs)
//! against the `rayon` one (and, for reference, `std::thread::scope`
//! spawning per call), all on 2 threads,
//! samples interleaved so load drifts hit all alike; medians.
//!
//! - dispatch: one `run` of 2 empty tasks, back to back (hot workers), after
//!   a 50 µs gap (a 200 µs spinner still spins) and after a 2 ms gap
//!   (parked: this is the wake-up latency);
//! - small-op loop: 60 "operators" of 6 tasks of ~1.5 µs each, back to back,
//!   as in a small model; the speed-up over one thread inline is the figure
//!   that matters.
//!
//!     cargo bench -p armrest-benches --bench pool [-- --quick]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use armrest_kernels::threadpool::PoolKind;
use armrest_kernels::ThreadPool;

fn scoped_run(threads: usize, n: usize, f: &(dyn Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        f(i);
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
}

/// A way to run `n` tasks.
type Runner<'a> = Box<dyn Fn(usize, &(dyn Fn(usize) + Sync)) + 'a>;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn busy(units: usize, seed: usize) -> usize {
    let mut x = seed;
    for j in 0..units {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(j));
    }
    x
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let spin = ThreadPool::with_kind(2, PoolKind::Spin);
    let spin200 = ThreadPool::with_spin(2, 200);
    let rayon = ThreadPool::with_kind(2, PoolKind::Rayon);
    let inline = ThreadPool::with_kind(1, PoolKind::Spin);
    let runners: Vec<(&str, Runner)> = vec![
        ("spin", Box::new(|n, f| spin.run(n, f))),
        ("spin 200 µs", Box::new(|n, f| spin200.run(n, f))),
        ("rayon", Box::new(|n, f| rayon.run(n, f))),
        ("scoped spawn", Box::new(|n, f| scoped_run(2, n, f))),
        ("1 thread inline", Box::new(|n, f| inline.run(n, f))),
    ];
    let sink = AtomicUsize::new(0);

    // Calibrate ~1.5 µs of work per task.
    let t0 = Instant::now();
    sink.fetch_add(busy(100_000, 1), Ordering::Relaxed);
    let units = ((1.5e-6 / (t0.elapsed().as_secs_f64() / 100_000.0)) as usize).max(10);

    println!("load: {}; spin pool default spin {} µs", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(), armrest_kernels::threadpool::DEFAULT_SPIN_US);
    let samples = if quick { 30 } else { 2000 };
    let empty = |_i: usize| {};
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    for (label, gap) in [("dispatch, back to back", None), ("dispatch after 50 µs idle", Some(50)), ("dispatch after 2 ms idle (parked)", Some(2000))] {
        let mut t = vec![Vec::with_capacity(samples); runners.len() - 1];
        let batch = if gap.is_none() { 50 } else { 1 };
        for s in 0..samples / if gap == Some(2000) { 4 } else { 1 } {
            let kinds = t.len();
            for r in 0..kinds {
                let (_, run) = &runners[(r + s) % kinds];
                if let Some(us) = gap {
                    std::thread::sleep(Duration::from_micros(us));
                }
                let c = Instant::now();
                for _ in 0..batch {
                    run(2, &empty);
                }
                t[(r + s) % kinds].push(c.elapsed().as_secs_f64() * 1e6 / batch as f64);
            }
        }
        rows.push((label.to_string(), t.into_iter().map(median).collect()));
    }

    println!();
    println!("Dispatch latency of one `run` of 2 empty tasks on 2 threads, median µs:");
    println!();
    println!("| case | spin | spin 200 µs | rayon | scoped spawn | rayon / spin | rayon / spin 200 µs |");
    println!("|---|---|---|---|---|---|---|");
    for (label, m) in &rows {
        println!("| {label} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1}x | {:.1}x |", m[0], m[1], m[2], m[3], m[2] / m[0], m[2] / m[1]);
    }

    // Small-op loop.
    let ops = 60;
    let task = |i: usize| {
        sink.fetch_add(busy(units, i) & 1, Ordering::Relaxed);
    };
    let loops = if quick { 10 } else { 300 };
    let mut t = vec![Vec::with_capacity(loops); runners.len()];
    for s in 0..loops {
        for r in 0..runners.len() {
            let k = (r + s) % runners.len();
            let c = Instant::now();
            for _ in 0..ops {
                (runners[k].1)(6, &task);
            }
            t[k].push(c.elapsed().as_secs_f64() * 1e6);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let m: Vec<f64> = t.into_iter().map(median).collect();
    println!();
    println!("Small-op loop: {ops} runs of 6 tasks x ~1.5 µs, back to back; median µs per loop and speed-up over 1 thread:");
    println!();
    println!("| pool | µs | speed-up vs 1 thread |");
    println!("|---|---|---|");
    for (i, (name, _)) in runners.iter().enumerate() {
        println!("| {name} | {:.1} | {:.2}x |", m[i], m[4] / m[i]);
    }
    println!("uptime: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());
}
