//! The pool `num_threads` sizes. Work is split into independent tasks; the
//! split never depends on timing, so results never depend on thread count.
//!
//! Two implementations behind one type, chosen at construction
//! ([`PoolKind`]; `ThreadPool::new` reads `ARMREST_POOL=spin|rayon`):
//!
//! - `spin` (the default): persistent workers waiting on an epoch counter.
//!   A `run` publishes the job (a pointer to a descriptor on the caller's
//!   stack), bumps the epoch and wakes parked workers; workers and the
//!   caller then take task indices from one atomic counter. A worker spins
//!   on the epoch for a bounded time after its last job (at most
//!   `ARMREST_POOL_SPIN_US`, default [`DEFAULT_SPIN_US`] µs; less, down to
//!   none, while spinning threads find themselves preempted), then parks (a
//!   futex wait on Linux), so an idle pool uses no CPU. The caller
//!   retires the job pointer and waits until every worker that entered the
//!   job has left it before returning, which is what makes handing out a
//!   pointer to its stack sound.
//! - `rayon`: a rayon pool (`install` + a parallel for-each), kept for
//!   comparison.
//!
//! A panic in a task is caught where it happens, the remaining tasks are
//! skipped, and `run` re-raises it on the calling thread after all workers
//! have left the job. `run` called from inside a task (nested use) runs its
//! tasks inline; concurrent `run` calls from several threads take turns.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// Which implementation a [`ThreadPool`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// armrest's own pool: spinning-then-parking workers, the caller takes part.
    Spin,
    /// A rayon thread pool.
    Rayon,
}

impl PoolKind {
    pub const NAMES: [&'static str; 2] = ["spin", "rayon"];

    pub fn parse(s: &str) -> Option<PoolKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "spin" => Some(PoolKind::Spin),
            "rayon" => Some(PoolKind::Rayon),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// `ARMREST_POOL` when it names a kind, [`PoolKind::Spin`] otherwise.
    pub fn from_env() -> PoolKind {
        std::env::var("ARMREST_POOL").ok().and_then(|v| PoolKind::parse(&v)).unwrap_or(PoolKind::Spin)
    }
}

/// The longest an idle `spin` worker (or a caller waiting for a worker)
/// polls before it parks, unless `ARMREST_POOL_SPIN_US` says otherwise; the
/// actual spin adapts below this (see `Shared::spin_until`) and drops to
/// none while the workers keep missing jobs (see [`Attendance`]). With 0 a
/// thread polls ~64 times (about a microsecond) and parks. On an idle
/// machine, spinning between operators is what lets two threads scale
/// (benches/README.md, "Threads").
pub const DEFAULT_SPIN_US: u64 = 100;

/// A fixed-size pool. `run(n, f)` calls `f(i)` once for every `i < n` and
/// returns when all calls have finished; the calling thread takes part.
pub struct ThreadPool {
    threads: usize,
    inner: Inner,
}

enum Inner {
    Inline,
    Spin(SpinPool),
    Rayon(rayon::ThreadPool),
}

impl ThreadPool {
    /// A pool of `threads` threads in all (the caller included); 0 or 1 runs
    /// inline. The implementation is [`PoolKind::from_env`].
    pub fn new(threads: usize) -> ThreadPool {
        ThreadPool::with_kind(threads, PoolKind::from_env())
    }

    /// As [`ThreadPool::new`], with the implementation given.
    pub fn with_kind(threads: usize, kind: PoolKind) -> ThreadPool {
        let threads = threads.max(1);
        if threads == 1 {
            return ThreadPool { threads: 1, inner: Inner::Inline };
        }
        let inner = match kind {
            PoolKind::Spin => {
                let spin = std::env::var("ARMREST_POOL_SPIN_US").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_SPIN_US);
                SpinPool::new(threads - 1, Duration::from_micros(spin)).map(Inner::Spin)
            }
            PoolKind::Rayon => rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("armrest-{i}"))
                .build()
                .ok()
                .map(Inner::Rayon),
        };
        match inner {
            Some(Inner::Spin(p)) => ThreadPool { threads: p.workers.len() + 1, inner: Inner::Spin(p) },
            Some(inner) => ThreadPool { threads, inner },
            None => ThreadPool { threads: 1, inner: Inner::Inline },
        }
    }

    /// A `spin` pool whose threads spin for at most `spin_us` µs before they
    /// park (whatever `ARMREST_POOL_SPIN_US` says).
    pub fn with_spin(threads: usize, spin_us: u64) -> ThreadPool {
        match SpinPool::new(threads.max(1) - 1, Duration::from_micros(spin_us)) {
            Some(p) if threads > 1 => ThreadPool { threads: p.workers.len() + 1, inner: Inner::Spin(p) },
            _ => ThreadPool { threads: 1, inner: Inner::Inline },
        }
    }

    pub fn num_threads(&self) -> usize {
        self.threads
    }

    /// The implementation in use (`None` for a one-thread pool, which runs inline).
    pub fn kind(&self) -> Option<PoolKind> {
        match self.inner {
            Inner::Inline => None,
            Inner::Spin(_) => Some(PoolKind::Spin),
            Inner::Rayon(_) => Some(PoolKind::Rayon),
        }
    }

    /// Runs `f(0) .. f(n-1)`, in parallel when the pool has threads.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        match &self.inner {
            Inner::Spin(pool) if n > 1 && !IN_TASK.get() => pool.run(n, f),
            Inner::Rayon(pool) if n > 1 => pool.install(|| {
                use rayon::prelude::*;
                (0..n).into_par_iter().for_each(f);
            }),
            _ => (0..n).for_each(f),
        }
    }
}

thread_local! {
    /// Set on pool workers and on a caller while it runs its share of a job:
    /// a `run` from there executes inline.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
}

/// One `run`: lives on the caller's stack for the duration of the call.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    /// Set by the first worker to enter the job, whether or not a task was left for it.
    joined: AtomicBool,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Takes task indices until none are left; a panic stops the job.
    fn work(&self) {
        let result = panic::catch_unwind(AssertUnwindSafe(|| loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                break;
            }
            (self.f)(i);
        }));
        if let Err(payload) = result {
            self.next.store(self.n, Ordering::Relaxed);
            self.panic.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(payload);
        }
    }
}

/// Tells an oversubscribed machine from an idle one by whether the workers
/// turn up, so that the pool spins only where spinning pays.
///
/// Spinning between operators is what makes two threads scale on an idle
/// machine. Where more threads are runnable than there are CPUs, though, a
/// spinning thread takes CPU time from the very thread it waits for, and a
/// worker woken from a park gets a CPU sooner than one that spun its share
/// away (MobileNetV2, 2 threads next to busy processes on 2 cores: parking
/// at once was up to 1.4x faster). The sign is a worker that, spinning,
/// still misses jobs: it had not entered a job by the time the caller had
/// run every task itself. (Entering is what counts, not running a task: a
/// worker that is on a CPU enters within a fraction of a microsecond, but
/// the caller may finish a job of two small tasks before the worker has
/// taken one.) On an idle machine that happens only to the first operators
/// after another pool (XNNPACK's, say) kept the CPUs. When more than [`Attendance::MAX_MISSED`] of
/// [`Attendance::WINDOW`] jobs in a row are missed, the pool stops spinning
/// for [`Attendance::HOLD`], then spins and counts again.
#[derive(Default)]
struct Attendance {
    jobs: u32,
    missed: u32,
    /// While set, the pool is not spinning, until then.
    hold_until: Option<Instant>,
}

impl Attendance {
    const WINDOW: u32 = 64;
    /// A quarter of the window.
    const MAX_MISSED: u32 = Self::WINDOW / 4;
    const HOLD: Duration = Duration::from_millis(250);

    /// Counts one job (`missed`: no worker entered it).
    fn record(&mut self, missed: bool, contended: &AtomicBool) {
        if let Some(until) = self.hold_until {
            if Instant::now() >= until {
                self.hold_until = None;
                contended.store(false, Ordering::Relaxed);
            }
            return;
        }
        self.jobs += 1;
        self.missed += u32::from(missed);
        if self.jobs == Self::WINDOW {
            if self.missed > Self::MAX_MISSED {
                self.hold_until = Some(Instant::now() + Self::HOLD);
                contended.store(true, Ordering::Relaxed);
            }
            (self.jobs, self.missed) = (0, 0);
        }
    }
}

struct Sleeper {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

/// What the caller and the workers share.
struct Shared {
    /// Bumped once per job (and at shutdown).
    epoch: AtomicUsize,
    /// The current job, null between jobs.
    job: AtomicPtr<Job<'static>>,
    /// Workers between "entered" and "left" a job.
    active: AtomicUsize,
    shutdown: AtomicBool,
    sleepers: Vec<Sleeper>,
    /// The caller parked waiting for `active` to reach 0.
    caller_waiting: AtomicBool,
    caller: Mutex<Option<Thread>>,
    /// The longest a thread spins before it parks.
    spin_max: Duration,
    /// The current spin budget in ns, adapted between 0 and `spin_max`.
    spin_ns: AtomicU64,
    /// Set while [`Attendance`] finds the machine oversubscribed: no spinning then.
    contended: AtomicBool,
}

struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time; the lock holds the record of who took part.
    submit: Mutex<Attendance>,
}

impl SpinPool {
    fn new(workers: usize, spin: Duration) -> Option<SpinPool> {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            active: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            sleepers: (0..workers).map(|_| Sleeper { sleeping: AtomicBool::new(false), thread: OnceLock::new() }).collect(),
            caller_waiting: AtomicBool::new(false),
            caller: Mutex::new(None),
            spin_max: spin,
            spin_ns: AtomicU64::new(spin.as_nanos().min(u64::MAX as u128) as u64),
            contended: AtomicBool::new(false),
        });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let sh = shared.clone();
            match thread::Builder::new().name(format!("armrest-{}", i + 1)).spawn(move || worker(&sh, i)) {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        if handles.is_empty() {
            return None;
        }
        // Slots of workers that failed to start are never marked sleeping.
        Some(SpinPool { shared, workers: handles, submit: Mutex::new(Attendance::default()) })
    }

    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        let mut attendance = self.submit.lock().unwrap_or_else(|e| e.into_inner());
        let sh = &*self.shared;
        let job = Job { f, n, next: AtomicUsize::new(0), joined: AtomicBool::new(false), panic: Mutex::new(None) };
        // The pointer is retired (nulled) and every worker that may hold it has left
        // (`active` back to 0) before `job` goes out of scope below.
        sh.job.store(&job as *const Job<'_> as *mut Job<'static>, Ordering::SeqCst);
        sh.epoch.fetch_add(1, Ordering::SeqCst);
        for s in sh.sleepers.iter().take(n - 1) {
            if s.sleeping.swap(false, Ordering::SeqCst) {
                if let Some(t) = s.thread.get() {
                    t.unpark();
                }
            }
        }
        IN_TASK.set(true);
        job.work();
        IN_TASK.set(false);
        sh.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        sh.wait_idle();
        if !sh.spin_max.is_zero() {
            attendance.record(!job.joined.load(Ordering::Relaxed), &sh.contended);
        }
        if let Some(payload) = job.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
            panic::resume_unwind(payload);
        }
    }
}

/// A gap this long between two polls of a spin loop (normally ~1 µs apart)
/// means the spinning thread lost its core: the machine is oversubscribed.
const PREEMPTED: Duration = Duration::from_micros(30);

impl Shared {
    /// Polls `done` for up to the current spin budget; true if it turned true.
    ///
    /// The budget adapts: a spin that succeeds doubles it (up to `spin_max`),
    /// a spin that finds itself preempted quarters it and gives up at once.
    /// On an oversubscribed machine a spinning thread only takes CPU time
    /// from the thread it waits for (the scheduler shares a session's time
    /// among its runnable threads), so there the pool soon parks at once;
    /// on a quiet one it spins between back-to-back operators.
    fn spin_until(&self, done: impl Fn() -> bool) -> bool {
        let budget = if self.contended.load(Ordering::Relaxed) { 0 } else { self.spin_ns.load(Ordering::Relaxed) };
        let start = Instant::now();
        let mut last = start;
        let mut polls = 0u32;
        loop {
            if done() {
                let max = self.spin_max.as_nanos().min(u64::MAX as u128) as u64;
                if budget < max {
                    self.spin_ns.store(max.min(budget * 2 + 1000), Ordering::Relaxed);
                }
                return true;
            }
            polls = polls.wrapping_add(1);
            if polls & 63 != 0 {
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            if now - last > PREEMPTED {
                self.spin_ns.store(budget / 4, Ordering::Relaxed);
                return false;
            }
            if (now - start).as_nanos() >= u128::from(budget) {
                return false;
            }
            last = now;
        }
    }

    /// Waits until no worker is inside a job: spins, then parks.
    fn wait_idle(&self) {
        if self.spin_until(|| self.active.load(Ordering::SeqCst) == 0) {
            return;
        }
        *self.caller.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread::current());
        loop {
            self.caller_waiting.store(true, Ordering::SeqCst);
            if self.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            thread::park();
        }
        self.caller_waiting.store(false, Ordering::SeqCst);
    }

    /// Waits for the epoch to move past `seen`: spins, then parks.
    fn wait_epoch(&self, seen: usize, me: usize) -> usize {
        let moved = || self.epoch.load(Ordering::SeqCst) != seen;
        if !self.spin_until(moved) {
            let s = &self.sleepers[me].sleeping;
            while !moved() {
                s.store(true, Ordering::SeqCst);
                if !moved() {
                    thread::park();
                }
                s.store(false, Ordering::SeqCst);
            }
        }
        self.epoch.load(Ordering::SeqCst)
    }
}

fn worker(sh: &Shared, me: usize) {
    IN_TASK.set(true);
    let _ = sh.sleepers[me].thread.set(thread::current());
    let mut seen = 0;
    loop {
        seen = sh.wait_epoch(seen, me);
        if sh.shutdown.load(Ordering::SeqCst) {
            return;
        }
        sh.active.fetch_add(1, Ordering::SeqCst);
        let job = sh.job.load(Ordering::SeqCst);
        if !job.is_null() {
            // SAFETY: a non-null job read after incrementing `active` stays alive until `active` drops back (SpinPool::run).
            let job = unsafe { &*job };
            job.joined.store(true, Ordering::Relaxed);
            job.work();
        }
        if sh.active.fetch_sub(1, Ordering::SeqCst) == 1 && sh.caller_waiting.swap(false, Ordering::SeqCst) {
            if let Some(t) = &*sh.caller.lock().unwrap_or_else(|e| e.into_inner()) {
                t.unpark();
            }
        }
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        let sh = &*self.shared;
        sh.shutdown.store(true, Ordering::SeqCst);
        sh.epoch.fetch_add(1, Ordering::SeqCst);
        for s in &sh.sleepers {
            if let Some(t) = s.thread.get() {
                t.unpark();
            }
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests;
