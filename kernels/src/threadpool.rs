//! The pool `num_threads` sizes. Work is split into independent tasks; the
//! split never depends on timing, so results never depend on thread count.

/// A fixed-size pool. `run(n, f)` calls `f(i)` once for every `i < n` and
/// returns when all calls have finished; the calling thread takes part.
pub struct ThreadPool {
    threads: usize,
    inner: Option<rayon::ThreadPool>,
}

impl ThreadPool {
    /// A pool of `threads` threads in all (the caller included); 0 or 1 runs inline.
    pub fn new(threads: usize) -> ThreadPool {
        let threads = threads.max(1);
        let inner = if threads > 1 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("armrest-{i}"))
                .build()
                .ok()
        } else {
            None
        };
        let threads = if inner.is_some() { threads } else { 1 };
        ThreadPool { threads, inner }
    }

    pub fn num_threads(&self) -> usize {
        self.threads
    }

    /// Runs `f(0) .. f(n-1)`, in parallel when the pool has threads.
    pub fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        match &self.inner {
            Some(pool) if n > 1 => pool.install(|| {
                use rayon::prelude::*;
                (0..n).into_par_iter().for_each(f);
            }),
            _ => (0..n).for_each(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_task_once() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
            pool.run(hits.len(), &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }
}
