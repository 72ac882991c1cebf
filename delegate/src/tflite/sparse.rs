//! Densifying a sparse constant tensor (TFLite's sparsity encoding, as read
//! by DENSIFY) at claim time, so DENSIFY and the DEQUANTIZE behind it fold
//! into constant weights. The decoder is strict: any inconsistency in the
//! encoding is an error (the node then stays with the runtime), never a panic.

use super::{TflDimMeta, TflSparsity};

/// For each stored value of a sparse tensor of dense shape `shape`, its flat
/// (row-major) index in the dense tensor. `stored` is the number of values
/// the tensor holds.
///
/// The encoding: the dense shape is first split into `n` outer dims (dim `d`
/// divided by its block size when `d` is blocked) and `k` block dims (block
/// `j` belongs to dim `block_map[j]`). Traversal level `l` walks expanded dim
/// `traversal_order[l]` as `dim_metadata[l]` says: dense (all coordinates)
/// or CSR (the coordinates listed for the position reached at level `l - 1`).
pub fn dense_positions(shape: &[usize], sp: &TflSparsity, stored: usize) -> Result<Vec<usize>, String> {
    let n = shape.len();
    let k = sp.block_map.len();
    let levels = n + k;
    if sp.traversal_order.len() != levels || sp.dim_metadata.len() != levels {
        return Err(format!(
            "sparsity has {} traversal dims and {} levels for rank {n} with {k} block dims",
            sp.traversal_order.len(),
            sp.dim_metadata.len()
        ));
    }
    let order: Vec<usize> = sp.traversal_order.iter().map(|&d| usize::try_from(d).ok().filter(|&d| d < levels)).collect::<Option<_>>().ok_or("traversal order out of range")?;
    let mut seen = vec![false; levels];
    for &d in &order {
        if std::mem::replace(&mut seen[d], true) {
            return Err(format!("traversal order {:?} is not a permutation", sp.traversal_order));
        }
    }
    // Block sizes come from the (dense) level that walks each block dim.
    let mut block_of = vec![None; n]; // dim -> (block index, block size)
    for (j, &d) in sp.block_map.iter().enumerate() {
        let d = usize::try_from(d).ok().filter(|&d| d < n).ok_or_else(|| format!("block map {:?} out of range", sp.block_map))?;
        if block_of[d].is_some() {
            return Err(format!("dim {d} is blocked twice"));
        }
        let level = order.iter().position(|&e| e == n + j).ok_or("block dim not traversed")?;
        let TflDimMeta::Dense(size) = sp.dim_metadata[level] else {
            return Err("a block dim is stored sparse".into());
        };
        let size = usize::try_from(size).ok().filter(|&s| s > 0 && shape[d].is_multiple_of(s)).ok_or_else(|| format!("block size {size} does not divide dim {d} ({})", shape[d]))?;
        block_of[d] = Some((j, size));
    }
    let mut extent = vec![0usize; levels];
    for d in 0..n {
        match block_of[d] {
            Some((j, size)) => {
                extent[d] = shape[d] / size;
                extent[n + j] = size;
            }
            None => extent[d] = shape[d],
        }
    }
    for (l, meta) in sp.dim_metadata.iter().enumerate() {
        if let TflDimMeta::Dense(size) = *meta {
            if usize::try_from(size).ok() != Some(extent[order[l]]) {
                return Err(format!("level {l} is dense of size {size}, its dim has {}", extent[order[l]]));
            }
        }
    }
    let total: usize = shape.iter().product();
    let mut walk = Walk { shape, order: &order, meta: &sp.dim_metadata, extent: &extent, block_of: &block_of, coords: vec![0; levels], out: Vec::with_capacity(stored), filled: vec![false; total] };
    walk.level(0, 0)?;
    if walk.out.len() != stored {
        return Err(format!("the encoding lists {} values, the tensor stores {stored}", walk.out.len()));
    }
    Ok(walk.out)
}

struct Walk<'a> {
    shape: &'a [usize],
    order: &'a [usize],
    meta: &'a [TflDimMeta],
    extent: &'a [usize],
    block_of: &'a [Option<(usize, usize)>],
    coords: Vec<usize>,
    out: Vec<usize>,
    filled: Vec<bool>,
}

impl Walk<'_> {
    /// Visits level `l` from position `pos` of the previous level.
    fn level(&mut self, l: usize, pos: usize) -> Result<(), String> {
        if l == self.order.len() {
            let flat = self.flat_index();
            if std::mem::replace(&mut self.filled[flat], true) {
                return Err("the encoding lists an element twice".into());
            }
            self.out.push(flat);
            return Ok(());
        }
        let dim = self.order[l];
        match &self.meta[l] {
            TflDimMeta::Dense(_) => {
                for c in 0..self.extent[dim] {
                    self.coords[dim] = c;
                    self.level(l + 1, pos * self.extent[dim] + c)?;
                }
            }
            TflDimMeta::SparseCsr { segments, indices } => {
                let bound = |i: usize| segments.get(i).and_then(|&s| usize::try_from(s).ok()).ok_or_else(|| format!("level {l}: segment {i} missing or negative"));
                let (start, end) = (bound(pos)?, bound(pos + 1)?);
                if start > end || end > indices.len() {
                    return Err(format!("level {l}: segment [{start}, {end}) is outside {} indices", indices.len()));
                }
                for (p, &c) in indices.iter().enumerate().take(end).skip(start) {
                    let c = usize::try_from(c).ok().filter(|&c| c < self.extent[dim]).ok_or_else(|| format!("level {l}: index {c} outside 0..{}", self.extent[dim]))?;
                    self.coords[dim] = c;
                    self.level(l + 1, p)?;
                }
            }
        }
        Ok(())
    }

    fn flat_index(&self) -> usize {
        let n = self.shape.len();
        let mut flat = 0;
        for d in 0..n {
            let c = match self.block_of[d] {
                Some((j, size)) => self.coords[d] * size + self.coords[n + j],
                None => self.coords[d],
            };
            flat = flat * self.shape[d] + c;
        }
        flat
    }
}

/// The dense values of a sparse tensor whose stored values are `values`.
pub fn densify(shape: &[usize], sp: &TflSparsity, values: &[f32]) -> Result<Vec<f32>, String> {
    let positions = dense_positions(shape, sp, values.len())?;
    let mut dense = vec![0.0; shape.iter().product()];
    for (&p, &v) in positions.iter().zip(values) {
        dense[p] = v;
    }
    Ok(dense)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a dense row-major tensor with the last dim CSR (the layout
    /// MediaPipe's sparse models use), the plain way.
    fn encode_last_csr(shape: &[usize], dense: &[f32]) -> (TflSparsity, Vec<f32>) {
        let last = *shape.last().unwrap();
        let rows = dense.len() / last;
        let (mut segments, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
        for r in 0..rows {
            for c in 0..last {
                let v = dense[r * last + c];
                if v != 0.0 {
                    indices.push(c as i32);
                    values.push(v);
                }
            }
            segments.push(indices.len() as i32);
        }
        let mut meta: Vec<TflDimMeta> = shape[..shape.len() - 1].iter().map(|&s| TflDimMeta::Dense(s as i32)).collect();
        meta.push(TflDimMeta::SparseCsr { segments, indices });
        (TflSparsity { traversal_order: (0..shape.len() as i32).collect(), block_map: vec![], dim_metadata: meta }, values)
    }

    fn pattern(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| if (i * 7 + seed).is_multiple_of(3) { (i as f32) * 0.5 - 3.0 } else { 0.0 }).collect()
    }

    #[test]
    fn last_dim_csr_round_trips() {
        for shape in [vec![8, 1, 1, 32], vec![3, 2, 5], vec![4], vec![2, 3, 3, 7]] {
            let dense = pattern(shape.iter().product(), shape.len());
            let (sp, values) = encode_last_csr(&shape, &dense);
            assert_eq!(densify(&shape, &sp, &values).unwrap(), dense, "{shape:?}");
        }
    }

    #[test]
    fn blocked_and_reordered_traversal() {
        // A 4x6 matrix in 2x3 blocks, traversed column-block-major: levels
        // (dim1 blocks dense, dim0 blocks CSR, block rows dense, block cols dense).
        let shape = [4usize, 6];
        let dense: Vec<f32> = (0..24).map(|i| if (i / 6) / 2 == 1 && (i % 6) / 3 == 0 { 0.0 } else { i as f32 + 1.0 }).collect();
        // Block grid 2x2; block (1,0) is all zero. Column-block-major: (0,0),(1,0)x,(0,1),(1,1).
        let sp = TflSparsity {
            traversal_order: vec![1, 0, 2, 3],
            block_map: vec![0, 1],
            dim_metadata: vec![TflDimMeta::Dense(2), TflDimMeta::SparseCsr { segments: vec![0, 1, 3], indices: vec![0, 0, 1] }, TflDimMeta::Dense(2), TflDimMeta::Dense(3)],
        };
        let mut values = Vec::new();
        for (bc, br) in [(0, 0), (1, 0), (1, 1)] {
            for r in 0..2 {
                for c in 0..3 {
                    values.push(dense[(br * 2 + r) * 6 + bc * 3 + c]);
                }
            }
        }
        assert_eq!(densify(&shape, &sp, &values).unwrap(), dense);
    }

    #[test]
    fn bad_encodings_are_errors() {
        let shape = [2usize, 4];
        let dense = [1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0];
        let (sp, values) = encode_last_csr(&shape, &dense);
        assert!(densify(&shape, &sp, &values[..2]).is_err(), "count mismatch");
        let mut bad = sp.clone();
        bad.dim_metadata[1] = TflDimMeta::SparseCsr { segments: vec![0, 2, 9], indices: vec![0, 2, 3] };
        assert!(densify(&shape, &bad, &values).is_err(), "segment past the indices");
        bad.dim_metadata[1] = TflDimMeta::SparseCsr { segments: vec![0, 2, 3], indices: vec![0, 4, 3] };
        assert!(densify(&shape, &bad, &values).is_err(), "index out of range");
        bad.dim_metadata[1] = TflDimMeta::SparseCsr { segments: vec![0, 2, 3], indices: vec![2, 2, 3] };
        assert!(densify(&shape, &bad, &values).is_err(), "duplicate element");
        bad.dim_metadata[1] = TflDimMeta::SparseCsr { segments: vec![0, 2], indices: vec![0, 2, 3] };
        assert!(densify(&shape, &bad, &values).is_err(), "missing segment");
        bad.dim_metadata[1] = TflDimMeta::SparseCsr { segments: vec![2, 0, 3], indices: vec![0, 2, 3] };
        assert!(densify(&shape, &bad, &values).is_err(), "decreasing segments");
        let mut bad = sp.clone();
        bad.dim_metadata[0] = TflDimMeta::Dense(3);
        assert!(densify(&shape, &bad, &values).is_err(), "dense size mismatch");
        let mut bad = sp.clone();
        bad.traversal_order = vec![0, 0];
        assert!(densify(&shape, &bad, &values).is_err(), "not a permutation");
        let mut bad = sp;
        bad.block_map = vec![1];
        assert!(densify(&shape, &bad, &values).is_err(), "block dims without levels");
    }
}
