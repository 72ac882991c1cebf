//! How kernels cut an operator into pool tasks.
//!
//! An operator too small to be worth waking a thread runs inline, serially.
//! Otherwise it gets a number of tasks that is a multiple of the thread count
//! (a few per thread, none below a minimum amount of work), and the tasks are
//! near-equal pieces of a grid of whole micro-kernel tiles (sizes differ by
//! at most one tile per dimension), so every thread ends up with the same
//! share. The cut depends only on the shapes and the thread count, never on
//! timing, and every output element is computed by the same micro-kernel
//! call sequence whatever the cut: results never depend on thread count.

use std::ops::Range;

use crate::Exec;

/// The `i`-th of `parts` near-equal consecutive pieces of `0..total`.
pub(crate) fn piece(total: usize, parts: usize, i: usize) -> Range<usize> {
    debug_assert!(i < parts && parts > 0);
    i * total / parts..(i + 1) * total / parts
}

/// Tasks for an operator of `work` units on `threads` threads: 1 (run
/// inline) when `threads` is 1 or the work is under two `min_task`s;
/// otherwise a multiple of `threads`, at most `per_thread` per thread, and
/// no task under `min_task` unless that makes fewer tasks than threads.
pub(crate) fn task_count(threads: usize, work: usize, min_task: usize, per_thread: usize) -> usize {
    if threads <= 1 || work < 2 * min_task.max(1) {
        return 1;
    }
    threads * (work / (min_task.max(1) * threads)).clamp(1, per_thread.max(1))
}

/// Cuts a grid of `a_max` x `b_max` units (e.g. row tiles by column
/// blocks) into `a` x `b` near-equal pieces, `b` at least `b_min` (cache
/// blocking), for tasks numbered `b`-major (`t = j * a + i`) and taken in
/// order by whichever of `threads` threads is free. Picks the cut with the
/// shortest schedule (the busiest thread's units), then the one closest to
/// `want` pieces, then the one with more pieces along `a`; at most
/// `max(want, b_min + threads - 1)` pieces. `want == 1` gives `(1, b_min)`.
pub(crate) fn grid(threads: usize, want: usize, a_max: usize, b_max: usize, b_min: usize) -> (usize, usize) {
    let (a_max, b_max) = (a_max.max(1), b_max.max(1));
    let b_min = b_min.clamp(1, b_max);
    if want <= 1 || threads <= 1 {
        return (1, b_min);
    }
    let cap = want.max(b_min + threads - 1);
    let mut best = ((usize::MAX, usize::MAX, std::cmp::Reverse(0)), (1, b_min));
    for b in b_min..=b_max.min(cap) {
        for a in 1..=a_max.min(cap / b) {
            let key = (makespan(threads, a_max, a, b_max, b), (a * b).abs_diff(want), std::cmp::Reverse(a));
            if key < best.0 {
                best = (key, (a, b));
            }
        }
    }
    best.1
}

/// Units done by the busiest thread when `threads` threads take the pieces
/// of an `a` x `b` cut of an `a_max` x `b_max` grid in task order.
fn makespan(threads: usize, a_max: usize, a: usize, b_max: usize, b: usize) -> usize {
    const MAX_THREADS: usize = 64;
    let mut finish = [0usize; MAX_THREADS];
    let finish = &mut finish[..threads.min(MAX_THREADS)];
    for j in 0..b {
        let cols = piece(b_max, b, j).len();
        for i in 0..a {
            let units = piece(a_max, a, i).len() * cols;
            let free = finish.iter_mut().min().expect("at least one thread");
            *free += units;
        }
    }
    finish.iter().copied().max().unwrap_or(0)
}

/// Runs `f(0) .. f(tasks - 1)`: on the pool when `parallel`, inline otherwise.
pub(crate) fn run(exec: Exec, tasks: usize, parallel: bool, f: &(dyn Fn(usize) + Sync)) {
    if parallel && tasks > 1 {
        exec.pool.run(tasks, f);
    } else {
        (0..tasks).for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_tile_the_range_evenly() {
        for total in [0, 1, 5, 24, 25, 97] {
            for parts in 1..9 {
                let mut next = 0;
                for i in 0..parts {
                    let r = piece(total, parts, i);
                    assert_eq!(r.start, next);
                    assert!(r.len() == total / parts || r.len() == total / parts + 1, "{total}/{parts}");
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn task_counts() {
        assert_eq!(task_count(1, 1 << 30, 100, 3), 1);
        assert_eq!(task_count(2, 199, 100, 3), 1, "too small: inline");
        assert_eq!(task_count(2, 200, 100, 3), 2);
        assert_eq!(task_count(2, 450, 100, 3), 4);
        assert_eq!(task_count(2, 1 << 30, 100, 3), 6);
        assert_eq!(task_count(3, 250, 100, 3), 3, "never fewer tasks than threads once parallel");
    }

    #[test]
    fn grids_balance_the_threads() {
        for threads in 1..5 {
            for want in [1, threads, 2 * threads, 3 * threads] {
                for a_max in [1, 2, 3, 7, 13, 25, 100] {
                    for b_max in [1, 2, 3, 5, 30] {
                        for b_min in [1, 2, b_max] {
                            let (a, b) = grid(threads, want, a_max, b_max, b_min);
                            let ctx = format!("t{threads} want{want} {a_max}x{b_max} bmin{b_min} -> {a}x{b}");
                            assert!((1..=a_max).contains(&a) && (b_min.min(b_max)..=b_max).contains(&b), "{ctx}");
                            if want == 1 || threads == 1 {
                                assert_eq!((a, b), (1, b_min.min(b_max)), "{ctx}");
                                continue;
                            }
                            let cap = want.max(b_min.min(b_max) + threads - 1);
                            assert!(a * b <= cap, "{ctx}");
                            // No cut within the cap schedules better (brute force).
                            let span = makespan(threads, a_max, a, b_max, b);
                            for bb in b_min.min(b_max)..=b_max {
                                for aa in 1..=a_max {
                                    if aa * bb <= cap {
                                        assert!(makespan(threads, a_max, aa, b_max, bb) >= span, "{ctx}: {aa}x{bb} is better");
                                    }
                                }
                            }
                            // Perfect balance whenever the grid divides evenly among the threads.
                            if a_max % threads == 0 && want >= threads && b_min == 1 {
                                assert_eq!(span * threads, a_max * b_max, "{ctx}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn late_mobilenet_layers_balance_on_two_threads() {
        // 7 rows x 30 channel blocks (7x7x960 depthwise): rows alone cut 4/3.
        let (a, b) = grid(2, 6, 7, 30, 1);
        assert_eq!(makespan(2, 7, a, 30, b) * 2, 7 * 30, "{a}x{b}");
        // 14 rows (14x14 depthwise): 7 rows each, where 5 pieces of 3 rows gave 8/6.
        let (a, b) = grid(2, 6, 14, 18, 1);
        assert_eq!(makespan(2, 14, a, 18, b) * 2, 14 * 18, "{a}x{b}");
        // 25 row tiles by 12 column blocks (14x14 pointwise to 384): 5 pieces of 5 row
        // tiles gave 15/10 tiles; cutting the columns too gives 150/150.
        let (a, b) = grid(2, 6, 25, 12, 1);
        assert_eq!(makespan(2, 25, a, 12, b) * 2, 25 * 12, "{a}x{b}");
    }
}
