//! TRANSPOSE (permute) of an n-d tensor, and the NCHW ↔ NHWC conversions
//! the ExecuTorch frontend inserts at partition boundaries.
//!
//! The permutation is first simplified: size-1 dims are dropped and runs of
//! dims that stay adjacent and in order are merged. What is left is either a
//! plain copy, a batch of 2-d transposes (done in cache-sized tiles), or a
//! general odometer walk whose innermost loop copies contiguous runs when the
//! last dim stays last.

use crate::{partition, Exec};
use std::sync::Mutex;

/// `out = x.permute(perm)`: output dim `d` is input dim `perm[d]`.
/// `shape` is the input's shape; `perm` is a permutation of `0..shape.len()`.
pub fn transpose(exec: Exec, x: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    assert_eq!(perm.len(), shape.len(), "transpose: perm and shape ranks differ");
    let mut seen = vec![false; perm.len()];
    for &p in perm {
        assert!(p < perm.len() && !seen[p], "transpose: {perm:?} is not a permutation");
        seen[p] = true;
    }
    let total: usize = shape.iter().product();
    assert_eq!(x.len(), total, "transpose: input length does not match its shape");
    assert_eq!(out.len(), total, "transpose: output length does not match");
    if total == 0 {
        return;
    }
    let (shape, perm) = simplify(shape, perm);
    match perm.as_slice() {
        [] | [0] => out.copy_from_slice(x),
        [1, 0] => batched_2d(exec, x, 1, shape[0], shape[1], out),
        [0, 2, 1] => batched_2d(exec, x, shape[0], shape[1], shape[2], out),
        _ => general(x, &shape, &perm, out),
    }
}

/// Drops size-1 dims and merges input dims that stay adjacent in order.
fn simplify(shape: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    // Keep only dims of size > 1, renumbered.
    let keep: Vec<usize> = (0..shape.len()).filter(|&d| shape[d] > 1).collect();
    let renum = |d: usize| keep.iter().position(|&k| k == d);
    let perm1: Vec<usize> = perm.iter().filter_map(|&p| renum(p)).collect();
    let shape1: Vec<usize> = keep.iter().map(|&d| shape[d]).collect();
    // Merge: output-consecutive dims p, p+1 of the input become one.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &p in &perm1 {
        match groups.last_mut() {
            Some(g) if *g.last().unwrap() + 1 == p => g.push(p),
            _ => groups.push(vec![p]),
        }
    }
    // Order groups by their first input dim to get the merged input shape.
    let mut by_input: Vec<usize> = (0..groups.len()).collect();
    by_input.sort_by_key(|&g| groups[g][0]);
    let shape2: Vec<usize> = by_input.iter().map(|&g| groups[g].iter().map(|&d| shape1[d]).product()).collect();
    let mut perm2 = vec![0; groups.len()];
    for (new_in, &g) in by_input.iter().enumerate() {
        perm2[g] = new_in;
    }
    (shape2, perm2)
}

const TILE: usize = 32;

/// A transpose of fewer values runs on the calling thread.
const MIN_PARALLEL_VALUES: usize = 1 << 14;

/// Whether a transpose of `values` values is worth the pool's threads.
fn worth_threads(exec: Exec, values: usize) -> bool {
    exec.pool.num_threads() > 1 && values >= MIN_PARALLEL_VALUES
}

/// At most this many rows (or columns) make a transpose an interleave of
/// whole rows (or its inverse) instead of a walk in square tiles.
const NARROW: usize = 8;
/// Values of the long side per task of a narrow transpose.
const NARROW_CHUNK: usize = 4096;

/// `batch` independent `rows x cols` → `cols x rows` transposes.
fn batched_2d(exec: Exec, x: &[f32], batch: usize, rows: usize, cols: usize, out: &mut [f32]) {
    if rows <= NARROW || cols <= NARROW {
        return narrow_2d(exec, x, batch, rows, cols, out);
    }
    let plane = rows * cols;
    // Tasks: (batch, tile row of the output) pairs.
    let col_tiles = cols.div_ceil(TILE);
    let tasks = batch * col_tiles;
    let parts: Vec<Mutex<&mut [f32]>> = out.chunks_mut(plane).map(Mutex::new).collect();
    let one = |t: usize| {
        let (b, ct) = (t / col_tiles, t % col_tiles);
        let src = &x[b * plane..(b + 1) * plane];
        let mut dst = parts[b].lock().unwrap_or_else(|e| e.into_inner());
        let c0 = ct * TILE;
        let c1 = (c0 + TILE).min(cols);
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            for c in c0..c1 {
                let drow = &mut dst[c * rows..(c + 1) * rows];
                for r in r0..r1 {
                    drow[r] = src[r * cols + c];
                }
            }
        }
    };
    partition::run(exec, tasks, worth_threads(exec, plane * batch), &one);
}

/// [`batched_2d`] with few rows or few columns: NCHW → NHWC of an image of
/// a few channels interleaves its planes, NHWC → NCHW spreads them (the tile
/// walk paid a slice and a loop for each output row of 2..8 values: about 4%
/// of an ExecuTorch MobileNetV2 invoke, at its input). Tasks take
/// `NARROW_CHUNK` values of the long side.
fn narrow_2d(exec: Exec, x: &[f32], batch: usize, rows: usize, cols: usize, out: &mut [f32]) {
    let plane = rows * cols;
    let long = rows.max(cols);
    let chunks = long.div_ceil(NARROW_CHUNK);
    let tasks = batch * chunks;
    // Interleave when the rows are few: task (b, ch) writes the contiguous output of
    // columns ch·NARROW_CHUNK.. of batch b. Spread otherwise: it writes rows
    // ch·NARROW_CHUNK.. of each of the `cols` output rows of batch b.
    let interleave = rows <= NARROW;
    let parts: Vec<Mutex<&mut [f32]>> = if interleave {
        out.chunks_mut(plane).flat_map(|p| p.chunks_mut(NARROW_CHUNK * rows)).map(Mutex::new).collect()
    } else {
        out.chunks_mut(rows).flat_map(|p| p.chunks_mut(NARROW_CHUNK)).map(Mutex::new).collect()
    };
    let one = |t: usize| {
        let (b, ch) = (t / chunks, t % chunks);
        let src = &x[b * plane..(b + 1) * plane];
        let l0 = ch * NARROW_CHUNK;
        let lock = |i: usize| parts[i].lock().unwrap_or_else(|e| e.into_inner());
        if interleave {
            let mut dst = lock(t);
            let n = dst.len() / rows;
            match rows {
                2 => interleave_rows::<2>(src, cols, l0, n, &mut dst),
                3 => interleave_rows::<3>(src, cols, l0, n, &mut dst),
                4 => interleave_rows::<4>(src, cols, l0, n, &mut dst),
                _ => {
                    for r in 0..rows {
                        for (o, &v) in dst[r..].iter_mut().step_by(rows).zip(&src[r * cols + l0..][..n]) {
                            *o = v;
                        }
                    }
                }
            }
        } else {
            // Output row c of batch b is part (b·cols + c)·chunks + ch.
            for c in 0..cols {
                let mut dst = lock((b * cols + c) * chunks + ch);
                for (o, &v) in dst.iter_mut().zip(src[l0 * cols + c..].iter().step_by(cols)) {
                    *o = v;
                }
            }
        }
    };
    partition::run(exec, tasks, worth_threads(exec, plane * batch), &one);
}

/// `dst[j·R + r] = src[r·cols + l0 + j]` for `j < n`: `R` rows interleaved.
fn interleave_rows<const R: usize>(src: &[f32], cols: usize, l0: usize, n: usize, dst: &mut [f32]) {
    let planes: [&[f32]; R] = std::array::from_fn(|r| &src[r * cols + l0..][..n]);
    for (j, o) in dst[..n * R].chunks_exact_mut(R).enumerate() {
        for (r, v) in o.iter_mut().enumerate() {
            *v = planes[r][j];
        }
    }
}

/// Any permutation: walk the output in order with an odometer over the
/// input strides.
fn general(x: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    let rank = shape.len();
    let mut in_stride = vec![1usize; rank];
    for d in (0..rank - 1).rev() {
        in_stride[d] = in_stride[d + 1] * shape[d + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let stride: Vec<usize> = perm.iter().map(|&p| in_stride[p]).collect();
    let inner = out_shape[rank - 1];
    let inner_stride = stride[rank - 1];
    let mut idx = vec![0usize; rank - 1];
    for row in out.chunks_exact_mut(inner) {
        let base: usize = idx.iter().zip(&stride).map(|(i, s)| i * s).sum();
        if inner_stride == 1 {
            row.copy_from_slice(&x[base..base + inner]);
        } else {
            for (j, o) in row.iter_mut().enumerate() {
                *o = x[base + j * inner_stride];
            }
        }
        for d in (0..rank - 1).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The output shape of `transpose(shape, perm)`.
pub fn permuted_shape(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&p| shape[p]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::{for_each_exec_same, Rng};
    use proptest::prelude::*;

    fn reference(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f32> {
        let rank = shape.len();
        let out_shape = permuted_shape(shape, perm);
        let total: usize = shape.iter().product();
        let mut out = vec![0.0; total];
        for (o, v) in out.iter_mut().enumerate() {
            // Unravel o in the output shape; input index i[perm[d]] = oi[d].
            let mut rem = o;
            let mut ii = vec![0; rank];
            for d in (0..rank).rev() {
                ii[perm[d]] = rem % out_shape[d];
                rem /= out_shape[d];
            }
            let mut flat = 0;
            for d in 0..rank {
                flat = flat * shape[d] + ii[d];
            }
            *v = x[flat];
        }
        out
    }

    fn check(shape: &[usize], perm: &[usize]) {
        let total: usize = shape.iter().product();
        let x = Rng(total as u64 + 7).vec(total, -1.0, 1.0);
        let want = reference(&x, shape, perm);
        for_each_exec_same(|exec| {
            let mut out = vec![f32::NAN; total];
            transpose(exec, &x, shape, perm, &mut out);
            assert_eq!(out, want, "shape {shape:?} perm {perm:?}");
            out
        });
    }

    #[test]
    fn nchw_nhwc_round_trips() {
        // Few channels (the narrow paths, with chunk remainders past NARROW_CHUNK values), many, one.
        for shape in [[1, 3, 7, 5], [2, 33, 9, 40], [1, 1, 1, 17], [3, 64, 1, 1], [1, 70, 35, 2], [2, 3, 61, 90], [1, 2, 64, 129], [1, 4, 65, 64], [2, 5, 90, 47], [1, 8, 33, 130], [1, 9, 70, 61]] {
            check(&shape, &[0, 2, 3, 1]);
            check(&shape, &[0, 3, 1, 2]);
        }
    }

    #[test]
    fn edge_permutations() {
        check(&[5], &[0]);
        check(&[0, 3], &[1, 0]);
        check(&[4, 5], &[1, 0]);
        check(&[2, 3, 4], &[2, 0, 1]);
        check(&[2, 3, 4, 5, 3], &[4, 2, 0, 3, 1]);
        check(&[2, 1, 4, 1, 3], &[3, 1, 4, 2, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_permutation(shape in proptest::collection::vec(1usize..6, 1..6), seed in any::<u64>()) {
            let mut perm: Vec<usize> = (0..shape.len()).collect();
            let mut rng = Rng(seed | 1);
            for i in (1..perm.len()).rev() {
                let j = rng.next_u32() as usize % (i + 1);
                perm.swap(i, j);
            }
            check(&shape, &perm);
        }
    }
}
