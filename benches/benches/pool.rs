//! Thread-pool hand-off latency: armrest's pool (rayon-backed) against the
//! alternative that needs no persistent pool, `std::thread::scope` spawning
//! per call. One `run` of `tasks` near-empty tasks on 2 threads, median and
//! fastest over many calls, interleaved.
//!
//!     cargo bench -p armrest-benches --bench pool [-- --quick]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

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

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let calls = if quick { 50 } else { 5000 };
    let pool = ThreadPool::new(2);
    println!("| tasks | rayon pool median µs | rayon fastest µs | scoped spawn median µs | scoped fastest µs |");
    println!("|---|---|---|---|---|");
    for tasks in [2, 6] {
        let sink = AtomicUsize::new(0);
        let task = |i: usize| {
            // ~1 µs of work per task.
            let mut x = i;
            for j in 0..300 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(j));
            }
            sink.fetch_add(x & 1, Ordering::Relaxed);
        };
        let (mut a, mut b) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
        for _ in 0..calls {
            let t0 = Instant::now();
            pool.run(tasks, &task);
            a.push(t0.elapsed().as_secs_f64() * 1e6);
            let t0 = Instant::now();
            scoped_run(2, tasks, &task);
            b.push(t0.elapsed().as_secs_f64() * 1e6);
            // A gap like the one between two operators.
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        println!("| {tasks} | {:.1} | {:.1} | {:.1} | {:.1} |", a[a.len() / 2], a[0], b[b.len() / 2], b[0]);
    }
}
