//! GEMM tests against a plain nested-loop reference, for every available tier.

use super::*;
use crate::ThreadPool;
use proptest::prelude::*;

/// Deterministic xorshift values in [-1, 1).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub(crate) fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.next_f32()).collect()
    }
}

pub(crate) fn tiers() -> impl Iterator<Item = Isa> {
    Isa::ALL.into_iter().filter(|isa| isa.is_available())
}

/// A reference value: the exact-ish sum and the sum of magnitudes of its terms.
#[derive(Clone, Copy, Default)]
pub(crate) struct RefVal {
    pub(crate) sum: f64,
    pub(crate) mag: f64,
    pub(crate) terms: usize,
}

impl RefVal {
    pub(crate) fn add(&mut self, x: f64) {
        self.sum += x;
        self.mag += x.abs();
        self.terms += 1;
    }
}

/// Checks `got` against the clamped reference: relative 1e-6 of the term
/// magnitudes per reduction step (fp32 round-off grows with the length).
pub(crate) fn check(got: &[f32], want: &[RefVal], clamp: Clamp, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, w)) in got.iter().zip(want).enumerate() {
        let expect = (w.sum as f32).max(clamp.min).min(clamp.max) as f64;
        let tol = 1e-6 * (w.terms as f64 + 1.0) * (w.mag + 1e-3);
        assert!(
            (g as f64 - expect).abs() <= tol,
            "{what}: element {i}: got {g}, want {expect} (tol {tol})"
        );
    }
}

pub(crate) fn gemm_ref(m: usize, n: usize, k: usize, a: &[f32], lda: usize, w: &[f32], bias: Option<&[f32]>) -> Vec<RefVal> {
    let mut out = vec![RefVal::default(); m * n];
    for i in 0..m {
        for j in 0..n {
            let o = &mut out[i * n + j];
            o.add(bias.map_or(0.0, |b| b[j] as f64));
            for p in 0..k {
                o.add(a[i * lda + p] as f64 * w[j * k + p] as f64);
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn run_case(isa: Isa, pool: &ThreadPool, m: usize, n: usize, k: usize, lda: usize, bias: bool, clamp: Clamp, seed: u64) {
    run_case_with(None, isa, pool, m, n, k, lda, bias, clamp, seed)
}

/// As `run_case`, packing for `uk` when given (else the tier's choice for `n`).
#[allow(clippy::too_many_arguments)]
fn run_case_with(uk: Option<&'static GemmUkernel>, isa: Isa, pool: &ThreadPool, m: usize, n: usize, k: usize, lda: usize, bias: bool, clamp: Clamp, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = rng.vec(m.saturating_sub(1) * lda + k);
    let w = rng.vec(n * k);
    let b = rng.vec(n);
    let bias = bias.then_some(&b[..]);
    let packed = match uk {
        Some(uk) => PackedWeights::pack_with(uk, n, k, &w, bias),
        None => PackedWeights::pack(isa, n, k, &w, bias),
    };
    assert_eq!(packed.isa, isa);
    let ldo = n + 3;
    let sentinel = 1234.5f32;
    let mut out = vec![sentinel; m * ldo];
    gemm(Exec { isa, pool }, m, &a, lda, &packed, &mut out, ldo, clamp);
    let got: Vec<f32> = out.chunks(ldo).flat_map(|row| row[..n].iter().copied()).collect();
    let what = format!("{} m={m} n={n} k={k} lda={lda} bias={} clamp={clamp:?}", packed.ukernel().name, bias.is_some());
    check(&got, &gemm_ref(m, n, k, &a, lda, &w, bias), clamp, &what);
    for row in out.chunks(ldo) {
        assert!(row[n..].iter().all(|&v| v == sentinel), "{what}: wrote past n");
    }
}

#[test]
fn ukernels_match_reference_over_tile_remainders() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        assert_eq!(gemm_ukernel(isa).isa, isa);
        assert_eq!(gemm_ukernels(isa)[0].name, gemm_ukernel(isa).name);
        for uk in gemm_ukernels(isa) {
            assert_eq!(uk.isa, isa);
            for m in 1..=2 * uk.mr + 1 {
                for n in 1..=2 * uk.nr + 1 {
                    for (i, k) in [1, 2, 3, 7, 17, 64].into_iter().enumerate() {
                        let seed = (m * 1000 + n * 10 + i) as u64;
                        run_case_with(Some(uk), isa, &pool, m, n, k, k, (m + n) % 2 == 0, Clamp::NONE, seed);
                    }
                }
            }
        }
    }
}

#[test]
fn tier_picks_an_own_ukernel_for_every_width() {
    for isa in tiers() {
        for n in 1..200 {
            let uk = gemm_ukernel_for(isa, n, 64);
            assert!(gemm_ukernels(isa).iter().any(|u| u.name == uk.name), "{isa} n={n}: {}", uk.name);
            // No choice pads more than the default tile would.
            let pad = |nr: usize| n.div_ceil(nr) * nr;
            assert!(pad(uk.nr) <= pad(gemm_ukernel(isa).nr), "{isa} n={n}");
        }
    }
}

#[test]
fn strided_lhs_bias_and_fused_clamps() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        for clamp in [Clamp::NONE, Clamp::RELU, Clamp::RELU6, Clamp::RELU_N1_TO_1, Clamp { min: -0.3, max: 0.2 }] {
            for bias in [false, true] {
                run_case(isa, &pool, 13, 37, 29, 33, bias, clamp, 7);
                run_case(isa, &pool, 1, 5, 300, 300, bias, clamp, 8);
            }
        }
    }
}

#[test]
fn empty_reduction_is_bias_only() {
    let pool = ThreadPool::new(1);
    for isa in tiers() {
        let packed = PackedWeights::pack(isa, 5, 0, &[], Some(&[1.0, -2.0, 3.0, 7.0, -8.0]));
        let mut out = vec![0.0; 10];
        fully_connected(Exec { isa, pool: &pool }, 2, &[], &packed, &mut out, Clamp::RELU6);
        assert_eq!(out, [1.0, 0.0, 3.0, 6.0, 0.0, 1.0, 0.0, 3.0, 6.0, 0.0]);
    }
}

#[test]
fn packed_layout_matches_offset_getters() {
    for isa in tiers() {
        let (n, k) = (2 * gemm_ukernel(isa).nr + 3, 5);
        let w: Vec<f32> = (0..n * k).map(|v| v as f32).collect();
        let bias: Vec<f32> = (0..n).map(|v| -(v as f32) - 1.0).collect();
        let packed = PackedWeights::pack(isa, n, k, &w, Some(&bias));
        let uk = packed.ukernel();
        let data = packed.packed();
        assert_eq!(data.len(), uk.rhs_packed_size(n, k));
        assert_eq!(data.as_ptr() as usize % 64, 0, "packed weights are 64-byte aligned");
        for o in 0..n.div_ceil(uk.nr) * uk.nr {
            let base = uk.rhs_packed_offset(o / uk.nr * uk.nr, k);
            let j = o % uk.nr;
            let want_bias = if o < n { bias[o] } else { 0.0 };
            assert_eq!(data[base + j], want_bias);
            for p in 0..k {
                let want = if o < n { w[o * k + p] } else { 0.0 };
                assert_eq!(data[base + uk.nr * (1 + p) + j], want);
            }
        }
    }
}

#[test]
fn results_are_identical_for_any_thread_count() {
    let pools: Vec<ThreadPool> = [1, 2, 3].into_iter().map(ThreadPool::new).collect();
    for isa in tiers() {
        // A square-ish GEMM (split over M) and a one-row FULLY_CONNECTED (split over N).
        for (m, n, k) in [(97, 75, 301), (1, 2051, 257), (3, 600, 700)] {
            let mut rng = Rng::new((m * n * k) as u64);
            let a = rng.vec(m * k);
            let w = rng.vec(n * k);
            let b = rng.vec(n);
            let packed = PackedWeights::pack(isa, n, k, &w, Some(&b));
            let outs: Vec<Vec<f32>> = pools
                .iter()
                .map(|pool| {
                    let plan = TilePlan::new(pool.num_threads(), m, n, k, packed.ukernel().mr, packed.ukernel().nr);
                    assert!(pool.num_threads() == 1 || plan.tasks() > 1, "{m}x{n}x{k} should split: {plan:?}");
                    let mut out = vec![0.0; m * n];
                    fully_connected(Exec { isa, pool }, m, &a, &packed, &mut out, Clamp::NONE);
                    out
                })
                .collect();
            check(&outs[0], &gemm_ref(m, n, k, &a, k, &w, Some(&b)), Clamp::NONE, "threads");
            for out in &outs[1..] {
                assert!(out.iter().zip(&outs[0]).all(|(x, y)| x.to_bits() == y.to_bits()), "{isa} {m}x{n}x{k}");
            }
        }
    }
}

#[test]
fn tile_plan_covers_output_exactly_once() {
    for threads in [1, 2, 3, 8] {
        for (m, n, k, mr, nr) in [(1, 1, 1, 4, 4), (97, 75, 301, 6, 16), (1, 5000, 4096, 6, 8), (1000, 3, 2, 6, 16), (64, 4096, 4096, 6, 16), (196, 384, 64, 8, 32), (49, 960, 160, 8, 32)] {
            let plan = TilePlan::new(threads, m, n, k, mr, nr);
            let mut hits = vec![0u8; m * n];
            let (mut row_tiles, mut col_blocks) = (Vec::new(), Vec::new());
            for t in 0..plan.tasks() {
                let (m0, mt, n0, nt) = plan.task(t, m, n);
                assert!(mt > 0 && nt > 0, "{plan:?} task {t} is empty");
                assert!(m0 % mr == 0 && n0 % nr == 0, "{plan:?} task {t} is not tile-aligned");
                row_tiles.push(mt.div_ceil(mr));
                col_blocks.push(nt.div_ceil(nr));
                for i in m0..m0 + mt {
                    for j in n0..n0 + nt {
                        hits[i * n + j] += 1;
                    }
                }
            }
            assert!(hits.iter().all(|&h| h == 1), "{plan:?} for {m}x{n}");
            // Near-equal pieces: whole tiles, at most one tile apart (the last may be partial).
            let spread = |v: &[usize]| v.iter().max().unwrap() - v.iter().min().unwrap();
            assert!(spread(&row_tiles) <= 1 && spread(&col_blocks) <= 1, "{plan:?}: {row_tiles:?} {col_blocks:?}");
            assert_eq!(plan.parallel, threads > 1 && m * n * k >= 2 * MIN_TASK_MACS, "{plan:?}");
            if plan.parallel && plan.m_tiles * plan.n_blocks >= threads {
                assert!(plan.tasks() >= threads, "{plan:?}: fewer tasks than threads");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_gemm_shapes(m in 1usize..40, n in 1usize..70, k in 1usize..90, extra in 0usize..5, bias: bool, relu: bool, threads in 1usize..4, seed: u64) {
        let pool = ThreadPool::new(threads);
        let clamp = if relu { Clamp::RELU } else { Clamp::NONE };
        for isa in tiers() {
            run_case(isa, &pool, m, n, k, k + extra, bias, clamp, seed);
        }
    }
}
