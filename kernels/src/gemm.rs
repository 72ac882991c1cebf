//! GEMM: the micro-kernel contract, weight packing, the driver, FULLY_CONNECTED.
//!
//! # The micro-kernel contract
//!
//! Every GEMM micro-kernel is described by a [`GemmUkernel`]: its tile
//! (`mr` rows of the left-hand side by `nr` columns of the packed right-hand
//! side, `kr` reduction steps per packed group), the offset getters the
//! drivers use to address the operands, and two entry points:
//!
//! - [`GemmRunFn`]: the plain kernel, `dst = clamp(lhs * rhs_packed + bias)`
//!   over any `m x n` region, the left-hand side given as rows with a stride;
//! - [`IgemmRunFn`]: the indirect variant used by CONV_2D, where every group
//!   of `mr` output rows reads, for each kernel tap, one input row per output
//!   row through an indirection buffer (no im2col copy).
//!
//! Neither allocates nor spawns threads. Rows past `m` in the last `mr` tile
//! alias the last valid row (no branches in the inner loop); columns past `n`
//! read zero-padded packed weights and are not stored.
//!
//! The packed right-hand side is a sequence of `nr`-column blocks; each block
//! holds its `nr` bias values followed by `k` groups of `nr` weights
//! (`kr == 1`), so bias and clamp are fused into the kernel's epilogue.
//!
//! Every output element is computed by one code path with one accumulation
//! order (bias first, then `k` ascending), whatever the tile position, so the
//! way the driver splits the work over threads never changes a result.

use crate::{partition, Clamp, Exec, Isa};

pub mod f32_4x4_scalar;
#[cfg(target_arch = "aarch64")]
pub mod f32_4x16_neon_fmla;
#[cfg(target_arch = "aarch64")]
pub mod f32_5x12_neon_fmla;
#[cfg(target_arch = "aarch64")]
pub mod f32_6x8_neon_fmla;
#[cfg(target_arch = "aarch64")]
pub mod f32_8x8_neon_fmla;
#[cfg(target_arch = "aarch64")]
pub mod f32_mx8_neon_fmla;
#[cfg(target_arch = "aarch64")]
mod f32_neon_ldp;
#[cfg(target_arch = "x86_64")]
pub mod f32_6x16_avx2_fma;
#[cfg(target_arch = "x86_64")]
pub mod f32_avx512;
mod tile_driver;

/// The indirection-buffer entry meaning "this tap reads the zero row" (padding).
pub const ZERO_ROW: usize = usize::MAX;

/// Plain GEMM micro-kernel entry point:
/// `run(m, n, k, lhs, lhs_stride, rhs_packed, dst, dst_stride, clamp_min, clamp_max)`.
///
/// Computes `dst[i][j] = clamp(bias[j] + sum_p lhs[i][p] * rhs[p][j])` for
/// `i < m`, `j < n`, looping over `mr` row tiles and `nr` column blocks.
///
/// # Safety
/// - `lhs` points at `m` rows of `k` readable floats, rows `lhs_stride` apart;
/// - `rhs_packed` points at `ceil(n / nr)` packed blocks of this kernel's
///   layout for this `k` (see [`GemmUkernel::rhs_packed_offset`]);
/// - `dst` points at `m` rows of `n` writable floats, rows `dst_stride` apart,
///   that nothing else reads or writes during the call.
pub type GemmRunFn = unsafe fn(
    m: usize,
    n: usize,
    k: usize,
    lhs: *const f32,
    lhs_stride: usize,
    rhs_packed: *const f32,
    dst: *mut f32,
    dst_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
);

/// Indirect GEMM micro-kernel entry point:
/// `run_indirect(m, n, kc, ks, indirection, input, zero, rhs_packed, dst, dst_stride, clamp_min, clamp_max)`.
///
/// The reduction runs over `ks` taps of `kc` channels (`k = ks * kc`, packed
/// tap-major). For the `t`-th group of `mr` rows, tap `s` and row `r` of the
/// group, `indirection[(t * ks + s) * mr + r]` is the offset in `input` of the
/// `kc` channels that row reads for that tap, or [`ZERO_ROW`] for `zero`.
///
/// # Safety
/// - `indirection` holds `ceil(m / mr) * ks * mr` entries; every entry other
///   than [`ZERO_ROW`] is an offset with `kc` readable floats at `input + offset`;
/// - `zero` points at `kc` readable floats (zeros, for padding);
/// - `rhs_packed` and `dst` as for [`GemmRunFn`] with `k = ks * kc`.
pub type IgemmRunFn = unsafe fn(
    m: usize,
    n: usize,
    kc: usize,
    ks: usize,
    indirection: *const usize,
    input: *const f32,
    zero: *const f32,
    rhs_packed: *const f32,
    dst: *mut f32,
    dst_stride: usize,
    clamp_min: f32,
    clamp_max: f32,
);

/// Floats in one packed `nr`-column block for reduction length `k`: the
/// bias row, then `k` rounded up to `kr` rows of `nr` weights.
pub const fn rhs_block_len(nr: usize, kr: usize, k: usize) -> usize {
    nr * (k.div_ceil(kr) * kr + 1)
}

/// One GEMM micro-kernel: its tile, tier and entry points.
#[derive(Clone, Copy, Debug)]
pub struct GemmUkernel {
    /// `f32_<mr>x<nr>_<isa>`.
    pub name: &'static str,
    pub isa: Isa,
    pub mr: usize,
    pub nr: usize,
    pub kr: usize,
    pub run: GemmRunFn,
    pub run_indirect: IgemmRunFn,
}

impl GemmUkernel {
    /// Floats in one packed `nr` block for reduction length `k` (bias included).
    pub fn rhs_packed_block_len(&self, k: usize) -> usize {
        rhs_block_len(self.nr, self.kr, k)
    }
    /// Offset of column `n_idx` (a multiple of `nr`) in the packed right-hand side.
    pub fn rhs_packed_offset(&self, n_idx: usize, k: usize) -> usize {
        debug_assert_eq!(n_idx % self.nr, 0);
        (n_idx / self.nr) * self.rhs_packed_block_len(k)
    }
    /// Floats in the whole packed right-hand side.
    pub fn rhs_packed_size(&self, n: usize, k: usize) -> usize {
        n.div_ceil(self.nr) * self.rhs_packed_block_len(k)
    }
    /// Offset of row `m_idx` of a left-hand side with row stride `lhs_stride`.
    pub fn lhs_offset(&self, m_idx: usize, lhs_stride: usize) -> usize {
        m_idx * lhs_stride
    }
    /// Offset of the indirection entries of row `m_idx` (a multiple of `mr`).
    pub fn indirection_offset(&self, m_idx: usize, ks: usize) -> usize {
        debug_assert_eq!(m_idx % self.mr, 0);
        m_idx * ks
    }
    /// Offset of output element (`m_idx`, `n_idx`) with row stride `dst_stride`.
    pub fn dst_offset(&self, m_idx: usize, n_idx: usize, dst_stride: usize) -> usize {
        m_idx * dst_stride + n_idx
    }
}

/// The GEMM micro-kernel for a tier; tiers not built for (or not detected
/// on) this machine fall back to the scalar kernel.
pub fn gemm_ukernel(isa: Isa) -> &'static GemmUkernel {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => &f32_6x16_avx2_fma::UKERNEL,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => &f32_avx512::UKERNEL_8X32,
        #[cfg(target_arch = "aarch64")]
        // 4x16 (assembly reduction loop) over 8x8 and 6x8: fewest instructions per
        // multiply-add where n is a multiple of 16 (qemu-icount, neoverse-n1 and
        // max; see benches/README.md "GEMM vs tract-linalg").
        Isa::Neon if isa.is_available() => &f32_4x16_neon_fmla::UKERNEL,
        _ => &f32_4x4_scalar::UKERNEL,
    }
}

/// The GEMM micro-kernel a tier packs `n x k` weights for: the tier's
/// default tile, or a narrower one where the default would spend too many
/// multiply-adds on zero-padded columns (see [`f32_avx512::ukernel_for`]).
pub fn gemm_ukernel_for(isa: Isa, n: usize, _k: usize) -> &'static GemmUkernel {
    let _ = n; // only the x86-64 tiers choose by width
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => f32_avx512::ukernel_for(n),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon if isa.is_available() => neon_ukernel_for(n),
        _ => gemm_ukernel(isa),
    }
}

/// The Neon tile for `n` columns: the least padded columns weighted by each
/// tile's instructions per multiply-add under qemu-icount (4x16 0.28, 5x12
/// 0.285, 8x8 0.32; ties to the wider tile), e.g. n = 24 -> 5x12, n = 8 or
/// 40 -> 8x8, multiples of 16 -> 4x16.
#[cfg(target_arch = "aarch64")]
fn neon_ukernel_for(n: usize) -> &'static GemmUkernel {
    let cost = |nr: usize, per_mac: usize| n.div_ceil(nr) * nr * per_mac;
    let tiles = [(&f32_4x16_neon_fmla::UKERNEL, 280), (&f32_5x12_neon_fmla::UKERNEL, 285), (&f32_8x8_neon_fmla::UKERNEL, 320)];
    tiles.into_iter().min_by_key(|&(uk, per_mac)| cost(uk.nr, per_mac)).map_or(&f32_4x16_neon_fmla::UKERNEL, |(uk, _)| uk)
}

/// Every GEMM micro-kernel a tier may pack for (its default first).
pub fn gemm_ukernels(isa: Isa) -> Vec<&'static GemmUkernel> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => vec![&f32_avx512::UKERNEL_8X32, &f32_avx512::UKERNEL_8X48, &f32_avx512::UKERNEL_12X16],
        #[cfg(target_arch = "aarch64")]
        Isa::Neon if isa.is_available() => vec![
            gemm_ukernel(isa),
            &f32_5x12_neon_fmla::UKERNEL,
            &f32_8x8_neon_fmla::UKERNEL,
            &f32_6x8_neon_fmla::UKERNEL,
        ],
        _ => vec![gemm_ukernel(isa)],
    }
}

/// A zero-initialised buffer of floats starting on a 64-byte boundary:
/// from the heap, or carved from a huge-page region inside
/// [`crate::huge_pages::packing_in_huge_pages`].
pub(crate) struct AlignedBuf {
    storage: Storage,
}

enum Storage {
    /// A vector and the offset of the aligned contents in it.
    Heap { data: Vec<f32>, start: usize, len: usize },
    Huge(crate::huge_pages::HugeSlice),
}

impl AlignedBuf {
    pub(crate) fn zeroed(len: usize) -> AlignedBuf {
        if let Some(slice) = crate::huge_pages::carve(len) {
            return AlignedBuf { storage: Storage::Huge(slice) };
        }
        let (data, start) = crate::layout::zeroed_on_line(len);
        AlignedBuf { storage: Storage::Heap { data, start, len } }
    }
    pub(crate) fn as_slice(&self) -> &[f32] {
        match &self.storage {
            Storage::Heap { data, start, len } => &data[*start..start + len],
            Storage::Huge(s) => s.as_slice(),
        }
    }
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        match &mut self.storage {
            Storage::Heap { data, start, len } => &mut data[*start..*start + *len],
            Storage::Huge(s) => s.as_mut_slice(),
        }
    }
    #[cfg(test)]
    pub(crate) fn in_huge_pages(&self) -> bool {
        matches!(self.storage, Storage::Huge(_))
    }
}

/// Packs output-major weights `w_nk[o * k + i]` (`n` outputs, `k` inputs)
/// and an optional bias into `uk`'s packed right-hand-side layout.
pub(crate) fn pack_rhs(uk: &GemmUkernel, n: usize, k: usize, w_nk: &[f32], bias: Option<&[f32]>) -> AlignedBuf {
    assert!(w_nk.len() >= n * k, "weights: {} values for n={n} k={k}", w_nk.len());
    if let Some(b) = bias {
        assert!(b.len() >= n, "bias: {} values for n={n}", b.len());
    }
    let nr = uk.nr;
    let mut buf = AlignedBuf::zeroed(uk.rhs_packed_size(n, k));
    let packed = buf.as_mut_slice();
    for (blk, block) in packed.chunks_exact_mut(uk.rhs_packed_block_len(k)).enumerate() {
        let n0 = blk * nr;
        let cols = (n - n0).min(nr);
        let (head, body) = block.split_at_mut(nr);
        if let Some(b) = bias {
            head[..cols].copy_from_slice(&b[n0..n0 + cols]);
        }
        // Row by row: each weight row is read once, front to back (the padded
        // k steps and columns stay zero).
        for j in 0..cols {
            let row = &w_nk[(n0 + j) * k..(n0 + j + 1) * k];
            for (v, &w) in body.iter_mut().skip(j).step_by(nr).zip(row) {
                *v = w;
            }
        }
    }
    buf
}

/// Weights (the GEMM's right-hand side, `k x n`) packed once at prepare for
/// one tier's micro-kernel, with the bias fused into each NR block.
pub struct PackedWeights {
    /// The tier the weights were packed for (the requested tier, or `Scalar`
    /// when that tier is not available here). The drivers always run this
    /// tier's kernel, whatever `Exec::isa` says, since the layout is its own.
    pub isa: Isa,
    pub n: usize,
    pub k: usize,
    ukernel: &'static GemmUkernel,
    packed: AlignedBuf,
}

impl PackedWeights {
    /// Packs weights stored output-major, `w[o * k + i]` (TFLite's
    /// FULLY_CONNECTED `[n, k]` and CONV_2D `[n, kh, kw, c]` layouts), with an
    /// optional bias of `n` values (zero when absent).
    pub fn pack(isa: Isa, n: usize, k: usize, w_nk: &[f32], bias: Option<&[f32]>) -> PackedWeights {
        PackedWeights::pack_with(gemm_ukernel_for(isa, n, k), n, k, w_nk, bias)
    }

    /// As [`PackedWeights::pack`], for a given micro-kernel (one of
    /// [`gemm_ukernels`] of an available tier).
    pub fn pack_with(ukernel: &'static GemmUkernel, n: usize, k: usize, w_nk: &[f32], bias: Option<&[f32]>) -> PackedWeights {
        assert!(ukernel.isa.is_available(), "{}: tier not available here", ukernel.name);
        let packed = pack_rhs(ukernel, n, k, w_nk, bias);
        PackedWeights { isa: ukernel.isa, n, k, ukernel, packed }
    }

    #[cfg(test)]
    pub(crate) fn is_in_huge_pages(&self) -> bool {
        self.packed.in_huge_pages()
    }

    /// The micro-kernel these weights are packed for.
    pub fn ukernel(&self) -> &'static GemmUkernel {
        self.ukernel
    }

    /// The packed right-hand side (see the module docs for the layout).
    pub fn packed(&self) -> &[f32] {
        self.packed.as_slice()
    }
}

/// A raw output pointer shared by tasks that write disjoint regions of it.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(*mut f32);
// SAFETY: the drivers hand each task a region of the output no other task touches.
unsafe impl Send for SharedMut {}
// SAFETY: as above; the pointer itself is never written through concurrently at one place.
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub(crate) fn new(out: &mut [f32]) -> SharedMut {
        SharedMut(out.as_mut_ptr())
    }
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
    /// The pointer `count` floats on.
    ///
    /// # Safety
    /// As for `pointer::add`: the result stays inside the same output.
    pub(crate) unsafe fn add(self, count: usize) -> SharedMut {
        // SAFETY: the caller keeps the offset inside the output.
        SharedMut(unsafe { self.0.add(count) })
    }
}

/// Work below which a task is not worth a thread hand-off (multiply-adds).
const MIN_TASK_MACS: usize = 1 << 17;
/// Packed right-hand-side bytes one task keeps hot while it sweeps its rows.
const RHS_TASK_BYTES: usize = 192 * 1024;

/// How an `m x n` output is cut into tasks: `m_tasks` near-equal runs of
/// whole `mr`-row tiles by `n_tasks` near-equal runs of whole `nr`-column
/// blocks (see [`crate::partition`]); tasks are numbered column-chunk major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TilePlan {
    pub(crate) mr: usize,
    pub(crate) nr: usize,
    pub(crate) m_tiles: usize,
    pub(crate) n_blocks: usize,
    pub(crate) m_tasks: usize,
    pub(crate) n_tasks: usize,
    /// Worth running on the pool (else inline: too small to wake a thread).
    pub(crate) parallel: bool,
}

impl TilePlan {
    pub(crate) fn new(threads: usize, m: usize, n: usize, k: usize, mr: usize, nr: usize) -> TilePlan {
        let m_tiles = m.div_ceil(mr).max(1);
        let n_blocks = n.div_ceil(nr).max(1);
        // Cache blocking: keep one task's packed weights within RHS_TASK_BYTES.
        let block_bytes = (k + 1) * nr * std::mem::size_of::<f32>();
        let n_min = n_blocks.div_ceil((RHS_TASK_BYTES / block_bytes).clamp(1, n_blocks));
        let macs = m.saturating_mul(n).saturating_mul(k.max(1));
        let want = partition::task_count(threads, macs, MIN_TASK_MACS, 3);
        let (m_tasks, n_tasks) = partition::grid(threads, want, m_tiles, n_blocks, n_min);
        TilePlan { mr, nr, m_tiles, n_blocks, m_tasks, n_tasks, parallel: want > 1 }
    }

    pub(crate) fn tasks(&self) -> usize {
        self.m_tasks * self.n_tasks
    }

    /// The widest task's column count (a multiple of `nr`).
    pub(crate) fn max_task_cols(&self) -> usize {
        self.n_blocks.div_ceil(self.n_tasks) * self.nr
    }

    /// Task `t`'s `(m_start, m_len, n_start, n_len)`, clipped to `m x n`;
    /// `m_start` is a multiple of `mr` and `n_start` of `nr`.
    pub(crate) fn task(&self, t: usize, m: usize, n: usize) -> (usize, usize, usize, usize) {
        let (tn, tm) = (t / self.m_tasks, t % self.m_tasks);
        let rows = partition::piece(self.m_tiles, self.m_tasks, tm);
        let cols = partition::piece(self.n_blocks, self.n_tasks, tn);
        let (m0, n0) = (rows.start * self.mr, cols.start * self.nr);
        (m0, (rows.end * self.mr).min(m) - m0, n0, (cols.end * self.nr).min(n) - n0)
    }

    /// Runs `f(t)` for every task, on the pool when the plan is parallel.
    pub(crate) fn run(&self, exec: Exec, f: &(dyn Fn(usize) + Sync)) {
        partition::run(exec, self.tasks(), self.parallel, f)
    }
}

/// `out[m x n] = clamp(a[m x k] (row stride lda) * W + bias)`; `out` has row stride `ldo`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(exec: Exec, m: usize, a: &[f32], lda: usize, w: &PackedWeights, out: &mut [f32], ldo: usize, clamp: Clamp) {
    let (n, k) = (w.n, w.k);
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldo >= n, "gemm: lda={lda} < k={k} or ldo={ldo} < n={n}");
    assert!(a.len() >= (m - 1) * lda + k, "gemm: lhs has {} values, needs {}", a.len(), (m - 1) * lda + k);
    assert!(out.len() >= (m - 1) * ldo + n, "gemm: out has {} values, needs {}", out.len(), (m - 1) * ldo + n);
    let uk = w.ukernel;
    let plan = TilePlan::new(exec.pool.num_threads(), m, n, k, uk.mr, uk.nr);
    let packed = w.packed();
    let dst = SharedMut::new(out);
    plan.run(exec, &|t| {
        let (m0, mt, n0, nt) = plan.task(t, m, n);
        // SAFETY: rows m0..m0+mt of `a` hold k values each (asserted above), the packed
        // blocks from n0 cover nt columns, and this task alone writes the mt x nt
        // region of `out` at (m0, n0), which lies inside `out` (asserted above).
        unsafe {
            (uk.run)(
                mt,
                nt,
                k,
                a.as_ptr().add(uk.lhs_offset(m0, lda)),
                lda,
                packed.as_ptr().add(uk.rhs_packed_offset(n0, k)),
                dst.ptr().add(uk.dst_offset(m0, n0, ldo)),
                ldo,
                clamp.min,
                clamp.max,
            )
        }
    });
}

/// [`gemm`] on the calling thread, over raw operands: the same tiles (and so
/// the same results) as [`gemm`] on one thread, for drivers that run it on
/// pieces of a layer inside their own tasks.
///
/// # Safety
/// `a` points at `m` rows of `w.k` readable floats, rows `lda` apart; `out`
/// at `m` rows of `w.n` writable floats, rows `ldo` apart, that nothing else
/// accesses during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_serial(m: usize, a: *const f32, lda: usize, w: &PackedWeights, out: *mut f32, ldo: usize, clamp: Clamp) {
    let (n, k) = (w.n, w.k);
    if m == 0 || n == 0 {
        return;
    }
    let uk = w.ukernel;
    let plan = TilePlan::new(1, m, n, k, uk.mr, uk.nr);
    let packed = w.packed();
    for t in 0..plan.tasks() {
        let (m0, mt, n0, nt) = plan.task(t, m, n);
        // SAFETY: the task's rows and columns lie inside the m x n operands the caller
        // vouches for, and the packed blocks from n0 cover nt columns.
        unsafe {
            (uk.run)(mt, nt, k, a.add(uk.lhs_offset(m0, lda)), lda, packed.as_ptr().add(uk.rhs_packed_offset(n0, k)), out.add(uk.dst_offset(m0, n0, ldo)), ldo, clamp.min, clamp.max)
        }
    }
}

/// FULLY_CONNECTED: `rows` input rows of `w.k` values each → `rows` rows of `w.n`.
pub fn fully_connected(exec: Exec, rows: usize, input: &[f32], w: &PackedWeights, out: &mut [f32], clamp: Clamp) {
    gemm(exec, rows, input, w.k, w, out, w.n, clamp)
}

#[cfg(test)]
pub(crate) mod tests;
