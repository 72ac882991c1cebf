use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

const KINDS: [PoolKind; 2] = [PoolKind::Spin, PoolKind::Rayon];

fn pools() -> Vec<ThreadPool> {
    let mut out = vec![ThreadPool::with_kind(1, PoolKind::Spin)];
    for kind in KINDS {
        for threads in [2, 3, 4] {
            out.push(ThreadPool::with_kind(threads, kind));
        }
    }
    out
}

fn name(p: &ThreadPool) -> String {
    format!("{:?} x{}", p.kind(), p.num_threads())
}

#[test]
fn runs_every_task_once() {
    for pool in pools() {
        for n in [0, 1, 2, 3, 5, 37, 1000] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.run(n, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "{} n={n}", name(&pool));
        }
    }
}

#[test]
fn sizes_and_kinds() {
    assert_eq!(ThreadPool::with_kind(0, PoolKind::Spin).num_threads(), 1);
    assert_eq!(ThreadPool::with_kind(1, PoolKind::Rayon).kind(), None);
    for kind in KINDS {
        let p = ThreadPool::with_kind(3, kind);
        assert_eq!((p.num_threads(), p.kind()), (3, Some(kind)));
    }
    assert_eq!(PoolKind::parse(" Spin "), Some(PoolKind::Spin));
    assert_eq!(PoolKind::parse("rayon"), Some(PoolKind::Rayon));
    assert_eq!(PoolKind::parse("openmp"), None);
    for k in KINDS {
        assert_eq!(PoolKind::parse(k.name()), Some(k));
    }
}

#[test]
fn many_tiny_jobs() {
    for kind in KINDS {
        let pool = ThreadPool::with_kind(2, kind);
        let sum = AtomicUsize::new(0);
        let mut want = 0;
        for round in 0..20_000 {
            let n = 2 + round % 7;
            pool.run(n, &|i| {
                sum.fetch_add(i + 1, Ordering::Relaxed);
            });
            want += n * (n + 1) / 2;
        }
        assert_eq!(sum.load(Ordering::Relaxed), want, "{kind:?}");
    }
}

#[test]
fn jobs_after_the_workers_parked() {
    // Workers go to sleep between these jobs; every job must still complete.
    let pool = ThreadPool::with_kind(3, PoolKind::Spin);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_micros(3 * DEFAULT_SPIN_US).max(Duration::from_millis(2)));
        let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        pool.run(hits.len(), &|i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }
}

#[test]
fn nested_and_concurrent_use() {
    for kind in KINDS {
        let pool = Arc::new(ThreadPool::with_kind(2, kind));
        let total = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..4)
            .map(|c| {
                let (pool, total) = (pool.clone(), total.clone());
                std::thread::spawn(move || {
                    for _ in 0..300 {
                        pool.run(3 + c, &|i| {
                            // A task that itself splits work over the same pool.
                            pool.run(4, &|j| {
                                total.fetch_add(i * 4 + j + 1, Ordering::Relaxed);
                            });
                        });
                    }
                })
            })
            .collect();
        for h in callers {
            h.join().unwrap();
        }
        let per_call = |n: usize| (1..=n * 4).sum::<usize>();
        let want: usize = (0..4).map(|c| 300 * per_call(3 + c)).sum();
        assert_eq!(total.load(Ordering::Relaxed), want, "{kind:?}");
    }
}

/// Runs `f` on another thread and fails if it does not finish in time.
fn finishes_within(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("did not finish in time (deadlock?)");
}

#[test]
fn drop_while_idle_or_fresh() {
    finishes_within(20, || {
        for threads in [2, 3, 5] {
            // Dropped before the workers may even have started.
            drop(ThreadPool::with_kind(threads, PoolKind::Spin));
            // Dropped while the workers spin right after a job.
            let p = ThreadPool::with_kind(threads, PoolKind::Spin);
            p.run(8, &|_| {});
            drop(p);
            // Dropped while the workers are parked.
            let p = ThreadPool::with_kind(threads, PoolKind::Spin);
            p.run(8, &|_| {});
            std::thread::sleep(Duration::from_millis(5));
            drop(p);
        }
    });
}

#[test]
fn a_panic_in_a_task_reaches_the_caller() {
    for pool in pools() {
        for n in [2, 3, 9, 40] {
            for bad in [0, 1, n / 2, n - 1] {
                let ran = AtomicUsize::new(0);
                let r = panic::catch_unwind(AssertUnwindSafe(|| {
                    pool.run(n, &|i| {
                        if i == bad {
                            panic!("task {i} failed");
                        }
                        ran.fetch_add(1, Ordering::Relaxed);
                    })
                }));
                let payload = r.expect_err("the panic must propagate");
                let msg = payload.downcast_ref::<String>().map(String::as_str).unwrap_or("");
                assert_eq!(msg, format!("task {bad} failed"), "{} n={n}", name(&pool));
                assert!(ran.load(Ordering::Relaxed) < n);
            }
            // The pool still works afterwards.
            let count = AtomicUsize::new(0);
            pool.run(n, &|_| {
                count.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(count.load(Ordering::Relaxed), n, "{}", name(&pool));
        }
    }
}

/// CPU time (user + system) in clock ticks of the thread whose /proc path is `task`.
#[cfg(target_os = "linux")]
fn cpu_ticks(task: &std::path::Path) -> Option<u64> {
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_pool_sleeps() {
    let pool = ThreadPool::with_kind(2, PoolKind::Spin);
    let me = std::fs::read_link("/proc/thread-self").ok();
    // Find the worker thread: a task that ran on a thread other than this one.
    let worker = Mutex::new(None);
    for _ in 0..200 {
        pool.run(8, &|_| {
            let here = std::fs::read_link("/proc/thread-self").ok();
            if here != me {
                *worker.lock().unwrap() = here;
            }
            std::thread::sleep(Duration::from_micros(200));
        });
        if worker.lock().unwrap().is_some() {
            break;
        }
    }
    let Some(task) = worker.into_inner().unwrap() else { return }; // no /proc (e.g. an emulator)
    let task = std::path::Path::new("/proc").join(task);
    std::thread::sleep(Duration::from_millis(50));
    let (Some(t0), clock) = (cpu_ticks(&task), Instant::now()) else { return };
    std::thread::sleep(Duration::from_millis(500));
    let (t1, wall) = (cpu_ticks(&task).unwrap_or(t0), clock.elapsed());
    // Spinning, the worker would use its whole time slice: ~50 ticks at 100 Hz.
    let full_core = wall.as_secs_f64() * 100.0;
    assert!(((t1 - t0) as f64) < 0.1 * full_core, "the idle worker used {} ticks in {wall:?}", t1 - t0);
}

#[test]
fn the_spin_budget_adapts_within_its_bound() {
    let pool = SpinPool::new(1, Duration::from_micros(50)).expect("a worker thread");
    let sh = &*pool.shared;
    sh.spin_ns.store(0, Ordering::Relaxed);
    // Success grows the budget (doubling plus 1 µs) up to the bound, never past it.
    assert!(sh.spin_until(|| true));
    assert_eq!(sh.spin_ns.load(Ordering::Relaxed), 1000);
    for _ in 0..20 {
        assert!(sh.spin_until(|| true));
    }
    assert_eq!(sh.spin_ns.load(Ordering::Relaxed), 50_000);
    // A condition that never holds: gives up (after at most the budget, unless preempted).
    let t = Instant::now();
    assert!(!sh.spin_until(|| false));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(sh.spin_ns.load(Ordering::Relaxed) <= 50_000);
}

#[test]
fn missed_jobs_stop_the_spinning_for_a_while() {
    let contended = AtomicBool::new(false);
    let mut a = Attendance::default();
    // A window with a quarter missed (the bound itself): still spinning.
    for j in 0..Attendance::WINDOW {
        a.record(j < Attendance::MAX_MISSED, &contended);
    }
    assert!(!contended.load(Ordering::Relaxed));
    // One more missed in the next window than the bound allows: the pool stops spinning...
    for j in 0..Attendance::WINDOW {
        a.record(j <= Attendance::MAX_MISSED, &contended);
    }
    assert!(contended.load(Ordering::Relaxed));
    // ...and no job counts during the hold, attended or not...
    for _ in 0..10 * Attendance::WINDOW {
        a.record(false, &contended);
    }
    assert!(contended.load(Ordering::Relaxed));
    // ...until it has passed: then spinning resumes, on probation.
    std::thread::sleep(Attendance::HOLD + Duration::from_millis(10));
    a.record(true, &contended);
    assert!(!contended.load(Ordering::Relaxed));
    assert_eq!((a.jobs, a.missed), (0, 0));
}

#[test]
fn a_contended_pool_parks_at_once() {
    let pool = SpinPool::new(1, Duration::from_secs(10)).expect("a worker thread");
    let sh = &*pool.shared;
    sh.contended.store(true, Ordering::Relaxed);
    // With a 10 s budget, only the contended flag makes this return promptly.
    let t = Instant::now();
    assert!(!sh.spin_until(|| false));
    assert!(t.elapsed() < Duration::from_secs(1), "spun {:?}", t.elapsed());
    // Jobs still run, and every task once, while the pool is not spinning.
    let hits: Vec<AtomicUsize> = (0..100).map(|_| AtomicUsize::new(0)).collect();
    pool.run(100, &|i| {
        hits[i].fetch_add(1, Ordering::Relaxed);
    });
    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
}
