//! The arena the executors keep internal tensors in: one allocation, each
//! tensor at an offset that no tensor alive at the same time overlaps.
//! Lifetimes come from the node order (a tensor lives from the node that
//! writes it to the last node that reads it, so a node's output never shares
//! bytes with its inputs); the largest tensors are placed first, each at the
//! lowest offset clear of those already placed that live with it. Memory
//! follows the widest point of the graph, not the sum of its tensors, and the
//! same few regions are written over and over, so they stay in cache.

use crate::ir::TensorId;
use armrest_kernels::layout::{line_elems, zeroed_on_line};

/// The offset of a tensor that has no place in an arena.
pub(crate) const NO_SLOT: usize = usize::MAX;

/// Each tensor's lifetime as (first, last) node indices: `first` the node
/// that writes it, `last` the last node that reads or writes it. `uses(n)`
/// gives node n's (read, written) tensors. Tensors no node writes keep
/// `first == usize::MAX`.
pub(crate) fn lifetimes<'g>(tensors: usize, nodes: usize, uses: impl Fn(usize) -> (&'g [TensorId], &'g [TensorId])) -> (Vec<usize>, Vec<usize>) {
    let (mut first, mut last) = (vec![usize::MAX; tensors], vec![0usize; tensors]);
    for n in 0..nodes {
        let (reads, writes) = uses(n);
        for &t in writes {
            first[t] = first[t].min(n);
        }
        for &t in reads.iter().chain(writes) {
            last[t] = last[t].max(n);
        }
    }
    (first, last)
}

/// What node `n` reads and writes as an executor runs it when it is a
/// fallback node: a tract island's first node reads the island's inputs and
/// writes its outputs, the island's other nodes nothing; `None` for other nodes.
#[cfg(feature = "tract")]
pub(crate) fn fallback_uses<'a>(node: &crate::ir::Node, islands: &'a [crate::tract_bridge::Island], n: usize) -> Option<(&'a [TensorId], &'a [TensorId])> {
    if !matches!(node.op, crate::ir::Op::Fallback(_)) {
        return None;
    }
    Some(match islands.iter().find(|i| i.first() == n) {
        Some(island) => (&island.inputs, &island.outputs),
        None => (&[], &[]),
    })
}

/// Places `members` (tensor ids; `lens[t]` elements each) in one arena:
/// writes their offsets into `offset_of` (other entries are left as they
/// are) and returns the arena's length. Each tensor starts on a multiple of `align` elements.
pub(crate) fn place(members: &[TensorId], lens: &[usize], first: &[usize], last: &[usize], align: usize, offset_of: &mut [usize]) -> usize {
    let span = |t: TensorId| lens[t].next_multiple_of(align);
    let mut order = members.to_vec();
    order.sort_by_key(|&t| (std::cmp::Reverse(span(t)), t));
    let mut placed: Vec<TensorId> = Vec::with_capacity(order.len());
    let mut total = 0;
    for t in order {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| first[p] <= last[t] && first[t] <= last[p])
            .map(|&p| (offset_of[p], offset_of[p] + span(p)))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if start >= offset + span(t) {
                break;
            }
            offset = offset.max(end);
        }
        offset_of[t] = offset;
        total = total.max(offset + lens[t]);
        placed.push(t);
    }
    total
}

/// Places `members` with [`place`], each on a multiple of a line's worth
/// of elements, in a fresh zeroed arena, the old one dropped first (so the
/// two are never held at once), with the arena's offset 0 moved to the first
/// element on a [`LINE_BYTES`](armrest_kernels::layout::LINE_BYTES) boundary in memory: every tensor starts on a
/// line. A fresh allocation rather than `resize`: the allocator hands large
/// ones out as untouched zero pages, so prepare does not write (and fault
/// in) the whole arena; run touches it as it goes.
pub(crate) fn lay_out<T: Copy + Default>(arena: &mut Vec<T>, members: &[TensorId], lens: &[usize], first: &[usize], last: &[usize], offset_of: &mut [usize]) {
    let total = place(members, lens, first, last, line_elems::<T>(), offset_of);
    *arena = Vec::new();
    let (fresh, base) = zeroed_on_line(total);
    *arena = fresh;
    for &t in members {
        offset_of[t] += base;
    }
}

/// An arena readable on either side of the range a node is writing: `lo`
/// from offset 0, `hi` from offset `hi_start`.
#[derive(Debug)]
pub(crate) struct ArenaView<'a, T> {
    lo: &'a [T],
    hi: &'a [T],
    hi_start: usize,
}

impl<T> Clone for ArenaView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ArenaView<'_, T> {}

impl<'a, T> ArenaView<'a, T> {
    /// The whole arena, readable.
    pub(crate) fn whole(arena: &'a [T]) -> ArenaView<'a, T> {
        ArenaView { lo: arena, hi: &[], hi_start: 0 }
    }

    /// Splits `arena` around `at..at + len`: that range writable, the rest readable.
    pub(crate) fn around(arena: &'a mut [T], at: usize, len: usize) -> (&'a mut [T], ArenaView<'a, T>) {
        let (lo, rest) = arena.split_at_mut(at);
        let (out, hi) = rest.split_at_mut(len);
        (out, ArenaView { lo, hi, hi_start: at + len })
    }

    /// `len` elements from `offset`, a range that lies on one side of the
    /// written one (panics otherwise: the plan never overlaps them).
    pub(crate) fn get(self, offset: usize, len: usize) -> &'a [T] {
        if offset + len <= self.lo.len() {
            &self.lo[offset..offset + len]
        } else {
            &self.hi[offset - self.hi_start..offset - self.hi_start + len]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use armrest_kernels::layout::LINE_BYTES;

    /// A chain a -> b -> c -> d: neighbours live together, a and c do not.
    #[test]
    fn chain_reuses_space_and_never_overlaps_live_tensors() {
        let reads: Vec<Vec<TensorId>> = vec![vec![], vec![0], vec![1], vec![2]];
        let writes: Vec<Vec<TensorId>> = vec![vec![0], vec![1], vec![2], vec![3]];
        let (first, last) = lifetimes(4, 4, |n| (&reads[n][..], &writes[n][..]));
        assert_eq!((first.clone(), last.clone()), (vec![0, 1, 2, 3], vec![1, 2, 3, 3]));
        let lens = [100, 60, 100, 10];
        let mut off = vec![NO_SLOT; 4];
        let total = place(&[0, 1, 2, 3], &lens, &first, &last, 64, &mut off);
        for a in 0..4 {
            for b in 0..a {
                let live = first[a] <= last[b] && first[b] <= last[a];
                let apart = off[a] + lens[a] <= off[b] || off[b] + lens[b] <= off[a];
                assert!(!live || apart, "{a} and {b} overlap: {off:?}");
            }
            assert_eq!(off[a] % 64, 0);
        }
        assert!(total <= 128 + 100, "arena {total}: a and c should share space");
    }

    /// Every tensor lands on a cache line in memory, inside the arena, for
    /// each element type and however the allocator aligned the block.
    #[test]
    fn lay_out_puts_every_tensor_on_a_cache_line() {
        fn check<T: Copy + Default>() {
            let reads: Vec<Vec<TensorId>> = vec![vec![], vec![0], vec![1], vec![0, 2]];
            let writes: Vec<Vec<TensorId>> = vec![vec![0], vec![1], vec![2], vec![3]];
            let (first, last) = lifetimes(4, 4, |n| (&reads[n][..], &writes[n][..]));
            let lens = [1000, 37, 513, 5];
            // Arenas and odd-sized blocks kept alive, so that each arena lands at a new address.
            let mut held: Vec<(Vec<T>, Vec<u8>)> = Vec::new();
            for i in 0..8 {
                let mut arena: Vec<T> = Vec::new();
                let mut off = vec![NO_SLOT; 4];
                lay_out(&mut arena, &[0, 1, 2, 3], &lens, &first, &last, &mut off);
                for t in 0..4 {
                    assert!(off[t] + lens[t] <= arena.len(), "tensor {t} at {} runs past {}", off[t], arena.len());
                    assert_eq!(arena[off[t]..].as_ptr() as usize % LINE_BYTES, 0, "tensor {t} of {}", std::any::type_name::<T>());
                }
                held.push((arena, vec![0u8; 8 * i + 4]));
            }
        }
        check::<f32>();
        check::<i8>();
        check::<i32>();
    }

    #[test]
    fn view_reads_both_sides() {
        let mut arena: Vec<i8> = (0..10).collect();
        let (out, view) = ArenaView::around(&mut arena, 3, 4);
        out.fill(-1);
        assert_eq!(view.get(0, 3), &[0, 1, 2]);
        assert_eq!(view.get(7, 3), &[7, 8, 9]);
        assert_eq!(arena[3..7], [-1; 4]);
    }
}
