//! Per-thread scratch buffers for the drivers' tasks (packed row strips,
//! gathered windows, accumulator rows, input pointers), reused from one
//! call to the next instead of allocated per task: the allocator calls were
//! about 40 % of the time of a chain of small int8 layers (0.4 µs per
//! layer, against XNNPACK's 0.05 µs).
//!
//! A buffer keeps its values from the last use; callers size it with
//! [`sized`] and write before they read, as they did with fresh buffers,
//! except where a value is only ever multiplied by zero (the padding of a
//! packed strip). Buffers above [`KEEP_BYTES`] are freed after the task.

use std::cell::RefCell;

/// The buffers one task borrows.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) i8s: [Vec<i8>; 2],
    pub(crate) i32s: [Vec<i32>; 2],
    pub(crate) ptrs: Vec<*const i8>,
}

/// The most a thread keeps between tasks, per buffer.
const KEEP_BYTES: usize = 1 << 20;

impl Scratch {
    fn trim(&mut self) {
        fn trim<T>(v: &mut Vec<T>) {
            if v.capacity() * std::mem::size_of::<T>() > KEEP_BYTES {
                *v = Vec::new();
            }
        }
        self.i8s.iter_mut().for_each(trim);
        self.i32s.iter_mut().for_each(trim);
        trim(&mut self.ptrs);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are in
/// use further up the stack).
pub(crate) fn with<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let r = f(&mut s);
            s.trim();
            r
        }
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The first `len` values of `v`, growing it with `fill` if it is shorter
/// (the values it had are kept).
pub(crate) fn sized<T: Copy>(v: &mut Vec<T>, len: usize, fill: T) -> &mut [T] {
    if v.len() < len {
        v.resize(len, fill);
    }
    &mut v[..len]
}

/// `len` values of `v` from its first element on a 64-byte line (a cache
/// line, an AVX-512 register), growing `v` if needed: whole-register loads
/// and stores of pixels whose channels are a multiple of the line then
/// never straddle two lines. What the values are is left unspecified
/// (callers write before they read).
pub(crate) fn sized_on_line<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    let room = len + crate::layout::line_elems::<T>() - 1;
    if v.len() < room {
        v.resize(room, T::default());
    }
    let base = crate::layout::to_line(v.as_ptr());
    &mut v[base..base + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_on_line_starts_on_a_line() {
        let (mut f, mut b) = (Vec::<f32>::new(), Vec::<i8>::new());
        for len in [1, 15, 16, 17, 1000, 4097] {
            let s = sized_on_line(&mut f, len);
            assert_eq!((s.len(), s.as_ptr() as usize % 64), (len, 0));
            let s = sized_on_line(&mut b, len);
            assert_eq!((s.len(), s.as_ptr() as usize % 64), (len, 0));
        }
    }

    #[test]
    fn buffers_are_reused_nested_calls_get_their_own_and_big_ones_are_freed() {
        let first = with(|s| sized(&mut s.i8s[0], 100, 7).as_ptr() as usize);
        with(|s| {
            let b = sized(&mut s.i8s[0], 50, 0);
            assert_eq!(b.as_ptr() as usize, first, "the same buffer");
            assert!(b.iter().all(|&v| v == 7), "values kept");
            with(|inner| assert!(inner.i8s[0].is_empty(), "a nested call gets fresh buffers"));
        });
        with(|s| {
            sized(&mut s.i32s[1], KEEP_BYTES, 0);
        });
        with(|s| assert_eq!(s.i32s[1].capacity(), 0, "freed after the task"));
    }
}
