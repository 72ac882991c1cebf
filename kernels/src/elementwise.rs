//! Broadcasting binary ops, unary activations and PRELU.
//!
//! Binary ops (and PRELU, a binary op of x and alpha) first *compress* the
//! broadcast: output dimensions of size 1 are dropped and neighbouring
//! dimensions that broadcast the same way in both inputs are merged. The
//! result is a few outer dimensions plus one contiguous inner row in which
//! each input is either a full vector or a single broadcast value, so the
//! common cases (same shape, scalar operand, per-channel vector against
//! NHWC) run one long vector loop per row with no index arithmetic inside.
//! Work is split into contiguous output ranges; every element's value is
//! independent of the split.

use crate::simd::{chunk_for, dispatch, par_chunks, Simd, SimdFn, TASK_WORK};
use crate::{Clamp, Exec};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
}

impl BinaryOp {
    /// The op on one pair of values (the reference the kernels are tested against).
    pub fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
        }
    }
}

/// `out = clamp(a op b)` with numpy/TFLite broadcasting. All three shapes
/// have the same rank (the caller left-pads with 1s); each input dimension
/// is either the output's or 1.
#[allow(clippy::too_many_arguments)]
pub fn binary(exec: Exec, op: BinaryOp, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out: &mut [f32], out_shape: &[usize], clamp: Clamp) {
    let op = match op {
        BinaryOp::Add => Op2::Add,
        BinaryOp::Sub => Op2::Sub,
        BinaryOp::Mul => Op2::Mul,
        BinaryOp::Div => Op2::Div,
        BinaryOp::Maximum => Op2::Max,
        BinaryOp::Minimum => Op2::Min,
    };
    broadcast(exec, op, a, a_shape, b, b_shape, out, out_shape, clamp);
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// RELU, RELU6, RELU_N1_TO_1.
    Clamp(Clamp),
    /// LOGISTIC: 1 / (1 + exp(-x)).
    Logistic,
    Tanh,
    /// x * relu6(x + 3) / 6.
    HardSwish,
    /// x >= 0 ? x : alpha * x.
    LeakyRelu(f32),
}

/// `out[i] = op(x[i])`; `x` and `out` have the same length.
pub fn unary(exec: Exec, op: UnaryOp, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "unary: input and output lengths differ");
    // The transcendental ops cost ~20 element-operations each.
    let cost = match op {
        UnaryOp::Logistic | UnaryOp::Tanh => 20,
        _ => 1,
    };
    par_chunks(exec, out, chunk_for(cost, TASK_WORK), &|start, part| {
        let x = &x[start..start + part.len()];
        dispatch(exec.isa, UnaryKernel { op, x, out: part });
    });
}

/// PRELU: `out = x >= 0 ? x : alpha * x`, alpha broadcast to x's shape
/// (same rank, each alpha dim equal or 1).
pub fn prelu(exec: Exec, x: &[f32], x_shape: &[usize], alpha: &[f32], alpha_shape: &[usize], out: &mut [f32]) {
    broadcast(exec, Op2::Prelu, x, x_shape, alpha, alpha_shape, out, x_shape, Clamp::NONE);
}

// ---------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------

struct UnaryKernel<'a> {
    op: UnaryOp,
    x: &'a [f32],
    out: &'a mut [f32],
}

trait UnaryFn: Copy {
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V;
}

#[derive(Clone, Copy)]
struct ClampFn(Clamp);
impl UnaryFn for ClampFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        s.min(s.splat(self.0.max), s.max(s.splat(self.0.min), x))
    }
}
#[derive(Clone, Copy)]
struct LogisticFn;
impl UnaryFn for LogisticFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        crate::simd::logistic(s, x)
    }
}
#[derive(Clone, Copy)]
struct TanhFn;
impl UnaryFn for TanhFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        crate::simd::tanh(s, x)
    }
}
#[derive(Clone, Copy)]
struct HardSwishFn;
impl UnaryFn for HardSwishFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        let r = s.min(s.max(s.add(x, s.splat(3.0)), s.splat(0.0)), s.splat(6.0));
        s.div(s.mul(x, r), s.splat(6.0))
    }
}
#[derive(Clone, Copy)]
struct LeakyFn(f32);
impl UnaryFn for LeakyFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::V) -> S::V {
        s.select(s.lt(x, s.splat(0.0)), s.mul(x, s.splat(self.0)), x)
    }
}

#[inline(always)]
fn map_unary<S: Simd, F: UnaryFn>(s: S, f: F, x: &[f32], out: &mut [f32]) {
    let n = out.len();
    let w = S::WIDTH;
    let mut i = 0;
    while i + 2 * w <= n {
        let v0 = f.apply(s, s.load(&x[i..]));
        let v1 = f.apply(s, s.load(&x[i + w..]));
        s.store(&mut out[i..], v0);
        s.store(&mut out[i + w..], v1);
        i += 2 * w;
    }
    while i + w <= n {
        let v = f.apply(s, s.load(&x[i..]));
        s.store(&mut out[i..], v);
        i += w;
    }
    if i < n {
        let v = f.apply(s, s.load_partial(&x[i..n], 0.0));
        s.store_partial(&mut out[i..n], v);
    }
}

impl SimdFn for UnaryKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        match self.op {
            UnaryOp::Clamp(c) => map_unary(s, ClampFn(c), self.x, self.out),
            UnaryOp::Logistic => map_unary(s, LogisticFn, self.x, self.out),
            UnaryOp::Tanh => map_unary(s, TanhFn, self.x, self.out),
            UnaryOp::HardSwish => map_unary(s, HardSwishFn, self.x, self.out),
            UnaryOp::LeakyRelu(alpha) => map_unary(s, LeakyFn(alpha), self.x, self.out),
        }
    }
}

// ---------------------------------------------------------------------------
// Broadcasting binary ops
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op2 {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    /// `a >= 0 ? a : a * b` (b is alpha).
    Prelu,
}

trait BinaryFn: Copy {
    fn apply<S: Simd>(self, s: S, a: S::V, b: S::V) -> S::V;
}

macro_rules! binary_fn {
    ($name:ident, |$s:ident, $a:ident, $b:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        struct $name;
        impl BinaryFn for $name {
            #[inline(always)]
            fn apply<S: Simd>(self, $s: S, $a: S::V, $b: S::V) -> S::V {
                $body
            }
        }
    };
}
binary_fn!(AddFn, |s, a, b| s.add(a, b));
binary_fn!(SubFn, |s, a, b| s.sub(a, b));
binary_fn!(MulFn, |s, a, b| s.mul(a, b));
binary_fn!(DivFn, |s, a, b| s.div(a, b));
binary_fn!(MaxFn, |s, a, b| s.max(a, b));
binary_fn!(MinFn, |s, a, b| s.min(a, b));
binary_fn!(PreluFn, |s, a, b| s.select(s.lt(a, s.splat(0.0)), s.mul(a, b), a));

/// Maximum rank after compression (inputs have at most this many
/// alternations of broadcast patterns; TFLite tensors have rank <= 6).
const MAX_RANK: usize = 8;

/// A broadcast reduced to `outer` dimensions plus one contiguous inner row.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Outer dimensions (outermost first) and each input's stride in them (0 = broadcast).
    outer: [usize; MAX_RANK],
    a_stride: [usize; MAX_RANK],
    b_stride: [usize; MAX_RANK],
    rank: usize,
    /// Inner row length and whether each input is a full row (else one broadcast value).
    inner: usize,
    a_full: bool,
    b_full: bool,
}

impl Geometry {
    fn new(a_shape: &[usize], b_shape: &[usize], out_shape: &[usize]) -> Geometry {
        assert!(a_shape.len() == out_shape.len() && b_shape.len() == out_shape.len(), "broadcast: ranks differ");
        // (size, a_full, b_full) of every non-unit output dimension, merged.
        let mut dims: Vec<(usize, bool, bool)> = Vec::with_capacity(out_shape.len());
        for ((&ad, &bd), &od) in a_shape.iter().zip(b_shape).zip(out_shape) {
            assert!((ad == od || ad == 1) && (bd == od || bd == 1), "broadcast: {a_shape:?} and {b_shape:?} do not broadcast to {out_shape:?}");
            if od == 1 {
                continue;
            }
            let (af, bf) = (ad == od, bd == od);
            match dims.last_mut() {
                Some(last) if last.1 == af && last.2 == bf => last.0 *= od,
                _ => dims.push((od, af, bf)),
            }
        }
        let (inner, a_full, b_full) = dims.pop().unwrap_or((1, true, true));
        assert!(dims.len() <= MAX_RANK, "broadcast: too many alternating broadcast dimensions");
        let mut g = Geometry { outer: [1; MAX_RANK], a_stride: [0; MAX_RANK], b_stride: [0; MAX_RANK], rank: dims.len(), inner, a_full, b_full };
        let mut a_acc = if a_full { inner } else { 1 };
        let mut b_acc = if b_full { inner } else { 1 };
        for (d, &(size, af, bf)) in dims.iter().enumerate().rev() {
            g.outer[d] = size;
            if af {
                g.a_stride[d] = a_acc;
                a_acc *= size;
            }
            if bf {
                g.b_stride[d] = b_acc;
                b_acc *= size;
            }
        }
        g
    }

    /// Row `row`'s index in the outer dimensions (into `idx`) and the offsets
    /// of its start in a and b.
    #[inline(always)]
    fn row_index(&self, mut row: usize, idx: &mut [usize; MAX_RANK]) -> (usize, usize) {
        let (mut ao, mut bo) = (0, 0);
        for d in (0..self.rank).rev() {
            let i = row % self.outer[d];
            row /= self.outer[d];
            idx[d] = i;
            ao += i * self.a_stride[d];
            bo += i * self.b_stride[d];
        }
        (ao, bo)
    }

    /// Steps `idx` and the offsets from one row to the next (past the last
    /// row they wrap to row 0, which nobody reads).
    #[inline(always)]
    fn next_row(&self, idx: &mut [usize; MAX_RANK], ao: &mut usize, bo: &mut usize) {
        for d in (0..self.rank).rev() {
            idx[d] += 1;
            *ao += self.a_stride[d];
            *bo += self.b_stride[d];
            if idx[d] < self.outer[d] {
                return;
            }
            *ao -= self.outer[d] * self.a_stride[d];
            *bo -= self.outer[d] * self.b_stride[d];
            idx[d] = 0;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn broadcast(exec: Exec, op: Op2, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out: &mut [f32], out_shape: &[usize], clamp: Clamp) {
    let n: usize = out_shape.iter().product();
    assert_eq!(out.len(), n, "broadcast: output length does not match its shape");
    assert_eq!(a.len(), a_shape.iter().product::<usize>(), "broadcast: a's length does not match its shape");
    assert_eq!(b.len(), b_shape.iter().product::<usize>(), "broadcast: b's length does not match its shape");
    if n == 0 {
        return;
    }
    let geo = Geometry::new(a_shape, b_shape, out_shape);
    par_chunks(exec, out, chunk_for(1, TASK_WORK), &|start, part| {
        dispatch(exec.isa, BroadcastKernel { op, geo: &geo, a, b, start, out: part, clamp });
    });
}

struct BroadcastKernel<'a> {
    op: Op2,
    geo: &'a Geometry,
    a: &'a [f32],
    b: &'a [f32],
    /// Index of `out[0]` in the whole output.
    start: usize,
    out: &'a mut [f32],
    clamp: Clamp,
}

impl SimdFn for BroadcastKernel<'_> {
    type Output = ();
    #[inline(always)]
    fn call<S: Simd>(self, s: S) {
        match self.op {
            Op2::Add => walk(s, AddFn, self),
            Op2::Sub => walk(s, SubFn, self),
            Op2::Mul => walk(s, MulFn, self),
            Op2::Div => walk(s, DivFn, self),
            Op2::Max => walk(s, MaxFn, self),
            Op2::Min => walk(s, MinFn, self),
            Op2::Prelu => walk(s, PreluFn, self),
        }
    }
}

/// Walks the task's output range row segment by row segment.
#[inline(always)]
fn walk<S: Simd, F: BinaryFn>(s: S, f: F, k: BroadcastKernel) {
    let g = k.geo;
    let lo = s.splat(k.clamp.min);
    let hi = s.splat(k.clamp.max);
    let end = k.start + k.out.len();
    let mut p = k.start;
    // The row's index in the outer dimensions and its offsets in a and b, kept
    // up to date row by row (an odometer): no division per row.
    let (row, mut col) = (p / g.inner, p % g.inner);
    let mut idx = [0usize; MAX_RANK];
    let (mut ao, mut bo) = g.row_index(row, &mut idx);
    while p < end {
        let len = (g.inner - col).min(end - p);
        let out = &mut k.out[p - k.start..p - k.start + len];
        match (g.a_full, g.b_full) {
            (true, true) => row_vv(s, f, &k.a[ao + col..ao + col + len], &k.b[bo + col..bo + col + len], out, lo, hi),
            (true, false) => row_vs(s, f, &k.a[ao + col..ao + col + len], k.b[bo], out, lo, hi),
            (false, true) => row_sv(s, f, k.a[ao], &k.b[bo + col..bo + col + len], out, lo, hi),
            (false, false) => {
                let v = f.apply(s, s.splat(k.a[ao]), s.splat(k.b[bo]));
                let v = s.min(hi, s.max(lo, v));
                row_fill(s, v, out)
            }
        }
        p += len;
        col = 0;
        g.next_row(&mut idx, &mut ao, &mut bo);
    }
}

#[inline(always)]
fn row_vv<S: Simd, F: BinaryFn>(s: S, f: F, a: &[f32], b: &[f32], out: &mut [f32], lo: S::V, hi: S::V) {
    let n = out.len();
    let w = S::WIDTH;
    let mut i = 0;
    while i + w <= n {
        let v = f.apply(s, s.load(&a[i..]), s.load(&b[i..]));
        s.store(&mut out[i..], s.min(hi, s.max(lo, v)));
        i += w;
    }
    if i < n {
        let v = f.apply(s, s.load_partial(&a[i..n], 0.0), s.load_partial(&b[i..n], 1.0));
        s.store_partial(&mut out[i..n], s.min(hi, s.max(lo, v)));
    }
}

#[inline(always)]
fn row_vs<S: Simd, F: BinaryFn>(s: S, f: F, a: &[f32], b: f32, out: &mut [f32], lo: S::V, hi: S::V) {
    let n = out.len();
    let w = S::WIDTH;
    let bv = s.splat(b);
    let mut i = 0;
    while i + w <= n {
        let v = f.apply(s, s.load(&a[i..]), bv);
        s.store(&mut out[i..], s.min(hi, s.max(lo, v)));
        i += w;
    }
    if i < n {
        let v = f.apply(s, s.load_partial(&a[i..n], 0.0), bv);
        s.store_partial(&mut out[i..n], s.min(hi, s.max(lo, v)));
    }
}

#[inline(always)]
fn row_sv<S: Simd, F: BinaryFn>(s: S, f: F, a: f32, b: &[f32], out: &mut [f32], lo: S::V, hi: S::V) {
    let n = out.len();
    let w = S::WIDTH;
    let av = s.splat(a);
    let mut i = 0;
    while i + w <= n {
        let v = f.apply(s, av, s.load(&b[i..]));
        s.store(&mut out[i..], s.min(hi, s.max(lo, v)));
        i += w;
    }
    if i < n {
        let v = f.apply(s, av, s.load_partial(&b[i..n], 1.0));
        s.store_partial(&mut out[i..n], s.min(hi, s.max(lo, v)));
    }
}

#[inline(always)]
fn row_fill<S: Simd>(s: S, v: S::V, out: &mut [f32]) {
    let n = out.len();
    let w = S::WIDTH;
    let mut i = 0;
    while i + w <= n {
        s.store(&mut out[i..], v);
        i += w;
    }
    if i < n {
        s.store_partial(&mut out[i..n], v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::*;
    use proptest::prelude::*;

    const OPS: [BinaryOp; 6] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum, BinaryOp::Minimum];

    /// Plain N-d broadcasting reference.
    fn ref_broadcast(f: impl Fn(f32, f32) -> f32, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize], out_shape: &[usize]) -> Vec<f32> {
        let n: usize = out_shape.iter().product();
        let rank = out_shape.len();
        (0..n)
            .map(|mut i| {
                let mut idx = vec![0; rank];
                for d in (0..rank).rev() {
                    idx[d] = i % out_shape[d];
                    i /= out_shape[d];
                }
                let off = |shape: &[usize]| idx.iter().zip(shape).fold(0, |acc, (&i, &s)| acc * s + if s == 1 { 0 } else { i });
                f(a[off(a_shape)], b[off(b_shape)])
            })
            .collect()
    }

    fn check_binary(a_shape: &[usize], b_shape: &[usize], seed: u64) {
        check_binary_with(a_shape, b_shape, seed, &OPS, &[Clamp::NONE, Clamp::RELU6, Clamp::RELU_N1_TO_1]);
    }

    fn check_binary_with(a_shape: &[usize], b_shape: &[usize], seed: u64, ops: &[BinaryOp], clamps: &[Clamp]) {
        let out_shape: Vec<usize> = a_shape.iter().zip(b_shape).map(|(&x, &y)| if x == 1 { y } else { x }).collect();
        let mut rng = Rng(seed);
        let a = rng.vec(a_shape.iter().product(), -4.0, 4.0);
        // Keep divisors away from 0.
        let b: Vec<f32> = rng.vec(b_shape.iter().product(), 0.5, 4.0).into_iter().enumerate().map(|(i, v)| if i % 3 == 0 { -v } else { v }).collect();
        let n: usize = out_shape.iter().product();
        for &op in ops {
            for &clamp in clamps {
                let want: Vec<f32> = ref_broadcast(|x, y| clamp.apply(op.apply(x, y)), &a, a_shape, &b, b_shape, &out_shape);
                for_each_exec_same(|exec| {
                    let mut out = vec![f32::NAN; n];
                    binary(exec, op, &a, a_shape, &b, b_shape, &mut out, &out_shape, clamp);
                    assert_close(&out, &want, 1e-6, &format!("{op:?} {a_shape:?} {b_shape:?} {} t{}", exec.isa, exec.pool.num_threads()));
                    out
                });
            }
        }
    }

    #[test]
    fn binary_same_shape_lengths_0_to_40() {
        for n in 0..=40 {
            check_binary(&[n], &[n], n as u64 + 1);
        }
    }

    #[test]
    fn binary_scalar_operands() {
        for n in [1, 3, 8, 17, 33] {
            check_binary(&[n], &[1], 7);
            check_binary(&[1], &[n], 8);
            check_binary(&[2, n], &[1, 1], 9);
        }
    }

    #[test]
    fn binary_broadcast_each_axis() {
        let full = [2, 3, 5, 7];
        for mask in 1..16u32 {
            let small: Vec<usize> = full.iter().enumerate().map(|(d, &s)| if mask & (1 << d) != 0 { 1 } else { s }).collect();
            check_binary(&full, &small, mask as u64);
            check_binary(&small, &full, mask as u64 + 100);
        }
        // Both sides broadcasting in different axes.
        check_binary(&[2, 1, 5, 1], &[1, 3, 1, 7], 11);
        check_binary(&[1, 3, 1, 9], &[4, 1, 6, 1], 12);
        // Per-channel vector against NHWC, odd channel counts.
        for c in [1, 3, 5, 9, 16, 19] {
            check_binary(&[1, 4, 5, c], &[1, 1, 1, c], c as u64);
            check_binary(&[1, 4, 5, 1], &[1, 4, 5, c], c as u64);
        }
    }

    #[test]
    fn binary_large_multi_task() {
        let ops = [BinaryOp::Sub, BinaryOp::Minimum];
        check_binary_with(&[3, 97, 211], &[3, 97, 211], 1, &ops, &[Clamp::RELU6]);
        check_binary_with(&[1, 60, 70, 19], &[1, 1, 1, 19], 2, &ops, &[Clamp::NONE]);
        check_binary_with(&[70_001], &[1], 3, &ops, &[Clamp::RELU]);
        // Alternating broadcast dimensions on both sides, tasks starting mid-row:
        // the row odometer carries through every outer dimension.
        check_binary_with(&[3, 1, 20, 1, 13], &[1, 25, 1, 7, 13], 4, &[BinaryOp::Sub], &[Clamp::NONE]);
        check_binary_with(&[3, 25, 1, 7, 1], &[1, 25, 20, 1, 13], 5, &[BinaryOp::Div], &[Clamp::RELU6]);
    }

    #[test]
    fn binary_empty_output() {
        check_binary(&[0, 3], &[1, 3], 1);
    }

    fn unary_ref(op: UnaryOp, x: f32) -> f32 {
        match op {
            UnaryOp::Clamp(c) => c.apply(x),
            UnaryOp::Logistic => (1.0 / (1.0 + (-(x as f64)).exp())) as f32,
            UnaryOp::Tanh => (x as f64).tanh() as f32,
            UnaryOp::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            UnaryOp::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
        }
    }

    const UNARY: [UnaryOp; 8] = [
        UnaryOp::Clamp(Clamp::RELU),
        UnaryOp::Clamp(Clamp::RELU6),
        UnaryOp::Clamp(Clamp::RELU_N1_TO_1),
        UnaryOp::Logistic,
        UnaryOp::Tanh,
        UnaryOp::HardSwish,
        UnaryOp::LeakyRelu(0.2),
        UnaryOp::LeakyRelu(-1.5),
    ];

    fn check_unary(x: &[f32]) {
        for op in UNARY {
            let want: Vec<f32> = x.iter().map(|&v| unary_ref(op, v)).collect();
            for_each_exec_same(|exec| {
                let mut out = vec![f32::NAN; x.len()];
                unary(exec, op, x, &mut out);
                assert_close(&out, &want, 2e-6, &format!("{op:?} n={} {}", x.len(), exec.isa));
                out
            });
        }
    }

    #[test]
    fn unary_lengths_0_to_40_and_large() {
        let mut rng = Rng(5);
        for n in (0..=40).chain([1000, 100_003]) {
            check_unary(&rng.vec(n, -10.0, 10.0));
        }
        check_unary(&[-1e30, -100.0, -20.0, -3.0, -1e-30, -0.0, 0.0, 1e-30, 3.0, 20.0, 100.0, 1e30, f32::INFINITY, f32::NEG_INFINITY]);
    }

    #[test]
    fn prelu_broadcast_alpha() {
        let mut rng = Rng(21);
        let cases: [(&[usize], &[usize]); 6] = [
            (&[1, 5, 6, 7], &[1, 1, 1, 7]),
            (&[2, 5, 6, 16], &[1, 1, 16]),
            (&[2, 3, 4, 5], &[2, 3, 4, 5]),
            (&[2, 3, 4, 5], &[1, 3, 1, 1]),
            (&[40], &[1]),
            (&[3, 33], &[3, 1]),
        ];
        for (xs, al) in cases {
            // Left-pad alpha's shape as the caller does.
            let mut al_shape = vec![1; xs.len() - al.len()];
            al_shape.extend_from_slice(al);
            let x = rng.vec(xs.iter().product(), -3.0, 3.0);
            let alpha = rng.vec(al.iter().product(), -1.0, 1.0);
            let want = ref_broadcast(|v, a| if v >= 0.0 { v } else { a * v }, &x, xs, &alpha, &al_shape, xs);
            for_each_exec_same(|exec| {
                let mut out = vec![f32::NAN; x.len()];
                prelu(exec, &x, xs, &alpha, &al_shape, &mut out);
                assert_close(&out, &want, 1e-6, &format!("prelu {xs:?} {al:?}"));
                out
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn binary_random_broadcasts(dims in proptest::collection::vec((1usize..6, 0u8..3), 1..5), seed in any::<u64>()) {
            // 0: both full, 1: a broadcast, 2: b broadcast.
            let a_shape: Vec<usize> = dims.iter().map(|&(d, k)| if k == 1 { 1 } else { d }).collect();
            let b_shape: Vec<usize> = dims.iter().map(|&(d, k)| if k == 2 { 1 } else { d }).collect();
            check_binary(&a_shape, &b_shape, seed | 1);
        }
    }
}
