//! int8 kernels against a plain reference (i64 accumulation of
//! `(a − a_zp)(w − w_zp) + bias`, then `Requant::apply`), for every tier
//! available at run time, with exact equality.

use super::*;
use crate::ThreadPool;
use proptest::prelude::*;

/// Deterministic xorshift.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn i8s(&mut self, len: usize) -> Vec<i8> {
        (0..len).map(|_| (self.next() >> 24) as i8).collect()
    }
    pub(crate) fn i32_in(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as u64) as i32
    }
}

pub(crate) fn tiers() -> Vec<QTier> {
    QTier::available()
}

/// One set of quantization parameters for a case.
#[derive(Clone, Debug)]
pub(crate) struct QParams {
    pub a_zp: i32,
    pub w_zp: i32,
    pub bias: Option<Vec<i32>>,
    pub q: QuantOut,
}

/// Zero points (extremes included), per-tensor or per-channel requantization
/// scaled so that outputs span the int8 range for reduction length `k`, and
/// sometimes a clamp. `variant` picks the combination deterministically.
pub(crate) fn params(rng: &mut Rng, variant: usize, n: usize, k: usize) -> QParams {
    let zps = [0, -128, 127, 5, -3, 100];
    let a_zp = zps[variant % zps.len()];
    let w_zp = match variant % 4 {
        0 | 1 => 0,
        2 => rng.i32_in(-128, 127),
        _ => [-128, 127][variant / 4 % 2],
    };
    let bias = (variant % 3 != 2).then(|| (0..n).map(|_| rng.i32_in(-40000, 40000)).collect());
    let span = 128.0 * 128.0 * (k as f64).sqrt() * if w_zp != 0 { 2.0 } else { 1.0 };
    let per_channel = variant % 2 == 1;
    let count = if per_channel { n } else { 1 };
    let requant = (0..count)
        .map(|_| {
            let r = (0.3 + rng.below(1000) as f64 / 300.0) * 128.0 / span * [1.0, 1.0, 0.01, 60.0][rng.below(4) as usize];
            Requant::from_real(r)
        })
        .collect();
    let (min, max) = match variant % 5 {
        0 => (0, 127),
        1 => (-20, 90),
        _ => (-128, 127),
    };
    let q = QuantOut { requant, zero_point: zps[(variant / 2) % zps.len()].clamp(-128, 127), min, max };
    QParams { a_zp, w_zp, bias, q }
}

/// The reference accumulators `Σ_k (a − a_zp)(w − w_zp) + bias` in i64.
pub(crate) fn gemm_ref_acc(m: usize, n: usize, k: usize, a: &[i8], lda: usize, w: &[i8], p: &QParams) -> Vec<i64> {
    let mut out = vec![0i64; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = p.bias.as_ref().map_or(0, |b| b[j] as i64);
            for kk in 0..k {
                s += (a[i * lda + kk] as i64 - p.a_zp as i64) * (w[j * k + kk] as i64 - p.w_zp as i64);
            }
            out[i * n + j] = s;
        }
    }
    out
}

/// The reference output stage over reference accumulators (columns `n`).
pub(crate) fn requant_ref(acc: &[i64], n: usize, q: &QuantOut) -> Vec<i8> {
    acc.iter()
        .enumerate()
        .map(|(idx, &v)| {
            let v = i32::try_from(v).expect("reference accumulator fits i32");
            let r = q.requant_for(idx % n);
            (q.zero_point as i64 + r.apply(v) as i64).clamp(q.min as i64, q.max as i64) as i8
        })
        .collect()
}

fn exec(pool: &ThreadPool, tier: QTier) -> Exec<'_> {
    Exec { isa: tier.isa(), pool }
}

fn check_eq<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!("{what}: element {i}: got {:?}, want {:?}", got[i], want[i]);
    }
}

fn run_gemm_case(tier: QTier, pool: &ThreadPool, m: usize, n: usize, k: usize, lda: usize, variant: usize, seed: u64) {
    for uk in qgemm_ukernels(tier) {
        run_gemm_case_with(uk, pool, m, n, k, lda, variant, seed);
    }
}

fn run_gemm_case_with(uk: &'static QUkernel, pool: &ThreadPool, m: usize, n: usize, k: usize, lda: usize, variant: usize, seed: u64) {
    let tier = uk.tier;
    let mut rng = Rng::new(seed);
    let a = rng.i8s((m.max(1) - 1) * lda + k);
    let w = rng.i8s(n * k);
    let p = params(&mut rng, variant, n, k);
    let packed = PackedQGemm::pack_ukernel(uk, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
    assert_eq!(packed.kernel_name(), uk.name);
    let acc = gemm_ref_acc(m, n, k, &a, lda, &w, &p);
    let want = requant_ref(&acc, n, &p.q);
    let ldo = n + variant % 3;
    let mut out = vec![0x55i8; (m.max(1) - 1) * ldo + n];
    qgemm(exec(pool, tier), m, &a, lda, &packed, &mut out, ldo, &p.q);
    let got: Vec<i8> = (0..m).flat_map(|i| out[i * ldo..i * ldo + n].to_vec()).collect();
    let what = format!("qgemm {} m={m} n={n} k={k} lda={lda} {p:?}", packed.kernel_name());
    check_eq(&got, &want, &what);
    // The gaps between output rows are untouched.
    for i in 0..m.saturating_sub(1) {
        assert!(out[i * ldo + n..(i + 1) * ldo].iter().all(|&v| v == 0x55), "{what}: wrote past a row");
    }
    // Raw accumulators: the same acc without the output stage.
    let mut raw = vec![0i32; m * n];
    qgemm_acc(exec(pool, tier), m, &a, lda, &packed, &mut raw, n);
    let want_raw: Vec<i32> = acc.iter().map(|&v| v as i32).collect();
    check_eq(&raw, &want_raw, &format!("qgemm_acc {what}"));
}

/// Every tier available here runs its own GEMM and depthwise kernels (no
/// silent fallback to scalar), so the sweeps below test each of them.
#[test]
fn every_available_tier_has_its_own_kernels() {
    for tier in tiers() {
        assert_eq!(qgemm_ukernel(tier).tier, tier, "{tier}");
        for uk in qgemm_ukernels(tier) {
            let tails = qgemm_row_tails(uk);
            assert_eq!(tails.last().unwrap().name, uk.name);
            for w in tails.windows(2) {
                assert!(w[0].mr < w[1].mr, "{}: tails by rows", uk.name);
            }
            for t in tails {
                assert_eq!((t.tier, t.nr, t.kr, t.kstep, t.a_xor), (uk.tier, uk.nr, uk.kr, uk.kstep, uk.a_xor), "{} / {}", uk.name, t.name);
            }
        }
        let dw = qdw_ukernel(tier);
        assert!(dw.tier == tier || (dw.tier == QTier::Neon && tier.isa() == Isa::Neon), "{tier}: {}", dw.name);
    }
}

#[test]
fn qgemm_matches_reference_over_shapes() {
    let pool = ThreadPool::new(1);
    for tier in tiers() {
        let mut case = 0;
        for m in [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 25] {
            for n in [1, 3, 4, 7, 8, 9, 16, 17, 31, 33] {
                for k in [1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 31, 33, 64, 100] {
                    case += 1;
                    if case % 3 != 0 && !(m == 4 || n == 8 || k == 16) {
                        continue; // a third of the grid plus every full-tile row/column
                    }
                    let lda = k + case % 4;
                    run_gemm_case(tier, &pool, m, n, k, lda, case, case as u64);
                }
            }
        }
    }
}

#[test]
fn qgemm_every_variant_on_tile_edges() {
    let pool = ThreadPool::new(1);
    for tier in tiers() {
        for variant in 0..60 {
            let (m, n, k) = [(9, 17, 35), (8, 32, 64), (1, 40, 300), (5, 5, 7)][variant % 4];
            run_gemm_case(tier, &pool, m, n, k, k, variant, 1000 + variant as u64);
        }
    }
}

#[test]
fn col_sums_and_folded_input_zero_point() {
    let mut rng = Rng::new(7);
    let (n, k) = (13, 29);
    let w = rng.i8s(n * k);
    for tier in tiers() {
        for w_zp in [0, -128, 127, 9] {
            let p = PackedQGemm::pack_tier(tier, n, k, &w, w_zp, None, 0);
            assert_eq!((p.n(), p.k()), (n, k));
            for j in 0..n {
                let want: i32 = w[j * k..(j + 1) * k].iter().map(|&v| v as i32 - w_zp).sum();
                assert_eq!(p.col_sums()[j], want, "{tier} col {j}");
            }
            // Hybrid use: pack with input zp 0, correct a row with zp z via col_sums.
            let a = rng.i8s(k);
            let z = -37;
            let mut raw = vec![0i32; n];
            let pool = ThreadPool::new(1);
            qgemm_acc(exec(&pool, tier), 1, &a, k, &p, &mut raw, n);
            let with_zp = PackedQGemm::pack_tier(tier, n, k, &w, w_zp, None, z);
            let mut direct = vec![0i32; n];
            qgemm_acc(exec(&pool, tier), 1, &a, k, &with_zp, &mut direct, n);
            let corrected: Vec<i32> = raw.iter().zip(p.col_sums()).map(|(&r, &s)| r - z * s).collect();
            check_eq(&corrected, &direct, &format!("{tier} hybrid correction w_zp={w_zp}"));
        }
    }
}

#[test]
fn fully_connected_is_gemm_over_rows() {
    let pool = ThreadPool::new(1);
    let mut rng = Rng::new(11);
    for tier in tiers() {
        let (rows, n, k) = (3, 10, 37);
        let a = rng.i8s(rows * k);
        let w = rng.i8s(n * k);
        let p = params(&mut rng, 3, n, k);
        let packed = PackedQGemm::pack_tier(tier, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
        let mut out = vec![0i8; rows * n];
        qfully_connected(exec(&pool, tier), rows, &a, &packed, &mut out, &p.q);
        check_eq(&out, &requant_ref(&gemm_ref_acc(rows, n, k, &a, k, &w, &p), n, &p.q), &format!("{tier} fc"));
    }
}

/// `clamp(zp + ((acc·M + 2^(30 − e)) >> (31 − e)))` per value (`n` columns), in i128.
fn single_rounding_ref(acc: &[i64], n: usize, q: &QuantOut) -> Vec<i8> {
    acc.iter()
        .enumerate()
        .map(|(i, &v)| {
            let r = q.requant_for(i % n);
            let total = 31 - r.shift as i128;
            let y = (v as i128 * r.multiplier as i128 + (1i128 << (total - 1))) >> total;
            (q.zero_point as i128 + y).clamp(q.min as i128, q.max as i128) as i8
        })
        .collect()
}

/// Single rounding (LiteRT 2.3.0's reference FULLY_CONNECTED): against
/// [`single_rounding_ref`].
#[test]
fn fully_connected_single_rounding_matches_reference() {
    let pool = ThreadPool::new(1);
    for tier in tiers() {
        for variant in 0..24 {
            let mut rng = Rng::new(300 + variant as u64);
            let (rows, n, k) = [(1, 33, 64), (2, 10, 20), (3, 64, 256), (5, 17, 9)][variant % 4];
            let a = rng.i8s(rows * k);
            let w = rng.i8s(n * k);
            let p = params(&mut rng, variant, n, k);
            let packed = PackedQGemm::pack_tier(tier, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
            let acc = gemm_ref_acc(rows, n, k, &a, k, &w, &p);
            let want = single_rounding_ref(&acc, n, &p.q);
            let mut out = vec![0i8; rows * n];
            qfully_connected_rounding(exec(&pool, tier), rows, &a, &packed, &mut out, &p.q, Rounding::Single);
            check_eq(&out, &want, &format!("{tier} fc single rounding {p:?}"));
            // The double-rounding entry point is unchanged.
            let mut dbl = vec![0i8; rows * n];
            qfully_connected(exec(&pool, tier), rows, &a, &packed, &mut dbl, &p.q);
            check_eq(&dbl, &requant_ref(&acc, n, &p.q), &format!("{tier} fc double rounding"));
        }
        // Ties (multiplier 2^30, right shifts 1 to 3): single rounding takes every tie up,
        // negative ones too; zero points and clamps above and below.
        let mut ties = 0;
        for (v, (zp, min, max)) in [(0, -128, 127), (-128, -128, 127), (5, -20, 100), (-7, -7, 127)].into_iter().enumerate() {
            let (rows, n, k) = [(1, 1000, 64), (9, 40, 48), (3, 16, 100), (13, 33, 20)][v];
            let mut rng = Rng::new(500 + v as u64);
            let (a, w) = (rng.i8s(rows * k), rng.i8s(n * k));
            let requant = (0..n).map(|j| Requant { multiplier: 1 << 30, shift: -1 - (j % 3) as i32 }).collect();
            let p = QParams { a_zp: 3, w_zp: 0, bias: Some((0..n).map(|j| j as i32 * 37 - 500).collect()), q: QuantOut { requant, zero_point: zp, min, max } };
            let packed = PackedQGemm::pack_tier(tier, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
            let acc = gemm_ref_acc(rows, n, k, &a, k, &w, &p);
            ties += acc
                .iter()
                .enumerate()
                .filter(|&(i, &v)| {
                    let total = 31 - p.q.requant_for(i % n).shift as i64;
                    let prod = v * (1 << 30);
                    prod < 0 && prod % (1 << total) == -(1 << (total - 1))
                })
                .count();
            let want = single_rounding_ref(&acc, n, &p.q);
            let mut out = vec![0i8; rows * n];
            qfully_connected_rounding(exec(&pool, tier), rows, &a, &packed, &mut out, &p.q, Rounding::Single);
            check_eq(&out, &want, &format!("{tier} fc single rounding, ties, zp {zp}, clamp {min}..{max}"));
        }
        assert!(ties > 100, "{tier}: only {ties} negative ties");
    }
}

pub(crate) fn window(kernel: (usize, usize), stride: (usize, usize), dilation: (usize, usize), pad: [usize; 4]) -> Window2d {
    Window2d {
        kernel_h: kernel.0,
        kernel_w: kernel.1,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        pad_top: pad[0],
        pad_left: pad[1],
        pad_bottom: pad[2],
        pad_right: pad[3],
    }
}

/// The input pixel tap (ky, kx) of output (oy, ox) reads, if not padding.
fn tap_source(win: &Window2d, s: Nhwc, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
    let iy = (oy * win.stride_h + ky * win.dilation_h) as isize - win.pad_top as isize;
    let ix = (ox * win.stride_w + kx * win.dilation_w) as isize - win.pad_left as isize;
    (iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w).then_some((iy as usize, ix as usize))
}

/// Reference CONV_2D accumulators: padding contributes 0 (it reads a_zp).
fn conv_ref_acc(win: &Window2d, s: Nhwc, x: &[i8], out_c: usize, w: &[i8], p: &QParams) -> Vec<i64> {
    let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let mut out = Vec::new();
    for b in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..out_c {
                    let mut v = p.bias.as_ref().map_or(0, |bb| bb[o] as i64);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((iy, ix)) = tap_source(win, s, oy, ox, ky, kx) {
                                for ci in 0..s.c {
                                    let xv = x[((b * s.h + iy) * s.w + ix) * s.c + ci] as i64 - p.a_zp as i64;
                                    v += xv * (w[((o * kh + ky) * kw + kx) * s.c + ci] as i64 - p.w_zp as i64);
                                }
                            }
                        }
                    }
                    out.push(v);
                }
            }
        }
    }
    out
}

fn dw_ref_acc(win: &Window2d, s: Nhwc, x: &[i8], dm: usize, w: &[i8], p: &QParams) -> Vec<i64> {
    let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let out_c = s.c * dm;
    let mut out = Vec::new();
    for b in 0..s.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..out_c {
                    let ci = oc / dm;
                    let mut v = p.bias.as_ref().map_or(0, |bb| bb[oc] as i64);
                    for ky in 0..kh {
                        for kx in 0..kw {
                            if let Some((iy, ix)) = tap_source(win, s, oy, ox, ky, kx) {
                                let xv = x[((b * s.h + iy) * s.w + ix) * s.c + ci] as i64 - p.a_zp as i64;
                                v += xv * (w[(ky * kw + kx) * out_c + oc] as i64 - p.w_zp as i64);
                            }
                        }
                    }
                    out.push(v);
                }
            }
        }
    }
    out
}

fn run_conv_case(tier: QTier, pool: &ThreadPool, s: Nhwc, out_c: usize, win: &Window2d, variant: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = rng.i8s(s.len());
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let w = rng.i8s(out_c * kh * kw * s.c);
    let p = params(&mut rng, variant, out_c, kh * kw * s.c);
    let packed = PackedQConv2d::pack_tier(tier, out_c, kh, kw, s.c, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
    let want = requant_ref(&conv_ref_acc(win, s, &x, out_c, &w, &p), out_c, &p.q);
    let mut out = vec![0i8; want.len()];
    qconv2d(exec(pool, tier), win, s, &x, &packed, &mut out, &p.q);
    check_eq(&out, &want, &format!("qconv2d {} {s:?} out_c={out_c} {win:?} {p:?}", packed.kernel_name()));
}

fn run_dw_case(tier: QTier, pool: &ThreadPool, s: Nhwc, dm: usize, win: &Window2d, variant: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let x = rng.i8s(s.len());
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let out_c = s.c * dm;
    let w = rng.i8s(kh * kw * out_c);
    let p = params(&mut rng, variant, out_c, kh * kw);
    let packed = PackedQDepthwise::pack_tier(tier, kh, kw, s.c, dm, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
    let want = requant_ref(&dw_ref_acc(win, s, &x, dm, &w, &p), out_c, &p.q);
    let mut out = vec![0i8; want.len()];
    qdepthwise_conv2d(exec(pool, tier), win, s, &x, &packed, &mut out, &p.q);
    check_eq(&out, &want, &format!("qdepthwise {} {s:?} dm={dm} {win:?} {p:?}", packed.kernel_name()));
}

/// The fused 8x32 VNNI tile's row splits: every row count from 1 to 50 and
/// 196 (7x7 and 14x14 layers) runs as tiles of at most 8 rows that cover
/// the rows once, as even as 6 to 8 rows allow (49 as 7 x 7), and the
/// output equals the reference for each, per-tensor and per-channel, with
/// one and two threads. The whole tiles the driver runs back to back
/// (`whole_tiles`) are the schedule's leading ones.
#[cfg(target_arch = "x86_64")]
#[test]
fn qgemm_fused_tile_row_splits() {
    let split = |m: usize| {
        let mut tiles = Vec::new();
        let mut left = m;
        while left > 0 {
            let r = even_rows(left, 8);
            assert!((1..=8).contains(&r) && r <= left, "m={m}: tile of {r} rows with {left} left");
            tiles.push(r);
            left -= r;
        }
        tiles
    };
    assert_eq!(split(49), vec![7; 7]);
    assert_eq!(split(25), vec![7, 6, 6, 6]);
    assert_eq!(split(17), vec![8, 8, 1]);
    assert_eq!(split(64), vec![8; 8]);
    for m in 1..=200 {
        assert_eq!(split(m).len(), m.div_ceil(8), "m={m}");
    }
    // The whole tiles the driver runs back to back are the schedule's leading 8-row tiles.
    for m in 0..=400 {
        let w = whole_tiles(m, 8, true);
        assert!(w * 8 <= m, "m={m}: {w} whole tiles");
        assert!(split(m).iter().take(w).all(|&r| r == 8), "m={m}: {w} whole tiles, schedule {:?}", split(m));
        assert_eq!(whole_tiles(m, 12, false), m / 12);
    }
    assert_eq!((whole_tiles(49, 8, true), whole_tiles(64, 8, true), whole_tiles(85, 8, true)), (0, 8, 8));
    let uk = &i8_8x32_avx512vnni::UKERNEL;
    if !uk.tier.is_available() {
        return;
    }
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads);
        for m in (1..=50).chain([196]) {
            run_gemm_case_with(uk, &pool, m, 72, 40, 40, m % 2, 3000 + m as u64);
            // One block, rows read in place (lda past k), and the 12x16 tile's blocks.
            run_gemm_case_with(uk, &pool, m, 24, 40, 44, m % 2, 4000 + m as u64);
            run_gemm_case_with(&i8_8x32_avx512vnni::UKERNEL_12X16, &pool, m, 12, 40, 40, m % 2, 5000 + m as u64);
        }
    }
}

/// Every tier's packed weights start on a 64-byte boundary (whole cache
/// lines per weight load), whatever the allocator returned, and hold what
/// the plain layout says.
#[test]
fn packed_weights_are_cache_line_aligned() {
    let mut rng = Rng::new(11);
    for tier in QTier::available() {
        for uk in qgemm_ukernels(tier) {
            for (n, k) in [(1, 1), (16, 32), (24, 144), (96, 576), (33, 7)] {
                let w = rng.i8s(n * k);
                let p = PackedQGemm::pack_ukernel(uk, n, k, &w, 0, None, 0);
                let packed = p.packed.as_slice();
                assert_eq!(packed.as_ptr() as usize % 64, 0, "{} n={n} k={k}", uk.name);
                assert_eq!(packed.len(), n.div_ceil(uk.nr) * uk.b_block_len(p.kp), "{} n={n} k={k}", uk.name);
                for j in 0..n {
                    for q in 0..k {
                        let at = (j / uk.nr) * uk.b_block_len(p.kp) + ((q / uk.kr) * uk.nr + j % uk.nr) * uk.kr + q % uk.kr;
                        assert_eq!(packed[at], w[j * k + q], "{} n={n} k={k} ({j}, {q})", uk.name);
                    }
                }
            }
        }
    }
}

/// The XOR copy (overlapping words below 32 values; on AVX-512, 64 bytes at
/// a time with a masked tail from 64 on) equals the plain loop for every
/// length, offset and XOR value, and writes nothing else.
#[test]
fn copy_xor_every_length() {
    let mut rng = Rng::new(7);
    let src = rng.i8s(220);
    for x in [0i8, -128, 0x55] {
        for len in 0..200 {
            for off in [0, 1, 5] {
                let mut dst = [0x11i8; 220];
                pack::copy_xor(&mut dst[off..off + len], &src[off..off + len], x);
                for (i, &d) in dst.iter().enumerate() {
                    let want = if (off..off + len).contains(&i) { src[i] ^ x } else { 0x11 };
                    assert_eq!(d, want, "len {len} off {off} x {x} at {i}");
                }
            }
        }
    }
}

/// A convolution window's taps merge into runs: whole window rows inside the
/// image (dilation 1), adjacent padding taps; dilated taps stay apart.
#[test]
fn tap_runs_merge_window_rows_and_padding() {
    let s = Nhwc { n: 1, h: 6, w: 7, c: 3 };
    let runs = |win: &Window2d, r: usize| Indirection::new(s, win, None).row(r).iter().map(|t| (t.off, t.len)).collect::<Vec<_>>();
    let same = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    // Pixel (0, 0): the top window row is padding, then pad + two taps per row.
    assert_eq!(runs(&same, 0), vec![(PAD, 12), (0, 6), (PAD, 3), (21, 6)]);
    // Pixel (2, 3), inside: three window rows of 3 taps x 3 channels.
    let row = |y: usize, x: usize| (y * 7 + x) * 3;
    assert_eq!(runs(&same, 2 * 7 + 3), vec![(row(1, 2), 9), (row(2, 2), 9), (row(3, 2), 9)]);
    // A window spanning the whole width reads whole image rows: they are contiguous too.
    let full = window((2, 7), (1, 1), (1, 1), [0, 0, 0, 0]);
    assert_eq!(runs(&full, 0), vec![(0, 42)]);
    // Dilation 2: no two taps of a row are adjacent.
    let dil = window((1, 3), (1, 1), (1, 2), [0, 0, 0, 0]);
    assert_eq!(runs(&dil, 0), vec![(0, 3), (6, 3), (12, 3)]);
    // Every pixel's runs cover k values, and gathering them equals the per-tap gather.
    let x = Rng::new(3).i8s(s.len());
    for win in [same, full, dil, window((3, 3), (2, 2), (1, 1), [0, 1, 0, 1])] {
        let ind = Indirection::new(s, &win, None);
        let (oh, ow) = (win.out_h(s.h), win.out_w(s.w));
        let k = win.kernel_h * win.kernel_w * s.c;
        let lhs = Lhs::Conv { input: &x, runs: &ind, pad: 9 };
        for r in 0..oh * ow {
            let mut got = vec![0i8; k];
            lhs.gather_row(r, &mut got, -128);
            let want: Vec<i8> = (0..win.kernel_h * win.kernel_w)
                .flat_map(|t| match tap_source(&win, s, r / ow, r % ow, t / win.kernel_w, t % win.kernel_w) {
                    Some((y, xx)) => x[(y * s.w + xx) * s.c..][..s.c].to_vec(),
                    None => vec![9; s.c],
                })
                .map(|v| v ^ -128)
                .collect();
            assert_eq!(got, want, "{win:?} pixel {r}");
        }
    }
}

/// Stems (up to 4 input channels, wider than one tap): on the VNNI tier the
/// window rows are padded to whole groups of 4 and interior pixels' rows are
/// read in place; against the reference over wide images (strips of interior
/// pixels, edges, row tails), kernels, strides, vertical dilation, paddings,
/// batches, output widths on and off the 32-column blocks (down to a few
/// columns, which also run on the 8x32 tile), and threads.
#[test]
fn qconv2d_stems_over_wide_images() {
    let geoms = [
        ((3, 3), (2, 2), (1, 1), [0, 0, 1, 1]),
        ((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ((2, 2), (2, 2), (1, 1), [0, 0, 0, 0]),
        ((5, 5), (2, 2), (1, 1), [2, 2, 2, 2]),
        ((3, 7), (1, 3), (2, 1), [1, 3, 2, 3]),
        ((1, 3), (1, 1), (1, 1), [0, 1, 0, 1]),
        // Even widths: output rows continue each other in memory (ow·stride_w = w,
        // stride_h 1), with edge pixels at both ends of every row between them.
        ((2, 4), (1, 2), (1, 1), [0, 1, 1, 1]),
    ];
    let before = STEM_DIRECT_STRIPS.load(std::sync::atomic::Ordering::Relaxed);
    for tier in tiers() {
        let mut v = 0;
        for threads in [1, 3] {
            let pool = ThreadPool::new(threads);
            for &(kernel, stride, dilation, pad) in &geoms {
                for c in [1, 3, 4] {
                    for out_c in [5, 16, 17, 32, 40] {
                        v += 1;
                        let s = Nhwc { n: 1 + v % 2, h: 7 + v % 5, w: 37 + 9 * (v % 4), c };
                        run_conv_case(tier, &pool, s, out_c, &window(kernel, stride, dilation, pad), v * 7 % 120, v as u64);
                    }
                }
            }
        }
    }
    if tiers().contains(&QTier::Avx512Vnni) {
        assert!(STEM_DIRECT_STRIPS.load(std::sync::atomic::Ordering::Relaxed) > before, "the in-place path never ran");
    }
}

/// The stem layout is taken where it applies (and only there).
#[test]
fn stem_layout_where_it_applies() {
    for tier in tiers() {
        let w = vec![1i8; 64 * 7 * 7 * 8];
        let row_k = |out_c, kh, kw, c, w_zp| PackedQConv2d::pack_tier(tier, out_c, kh, kw, c, &w[..out_c * kh * kw * c], w_zp, None, 0).row_k;
        let vnni = tier == QTier::Avx512Vnni;
        assert_eq!(row_k(32, 3, 3, 3, 0), vnni.then_some(12), "{tier}: RGB stem");
        assert_eq!(row_k(32, 3, 3, 4, 0), vnni.then_some(12), "{tier}: 4 channels");
        assert_eq!(row_k(32, 5, 5, 1, 0), vnni.then_some(8), "{tier}: one channel");
        assert_eq!(row_k(32, 3, 3, 5, 0), None, "{tier}: 5 channels");
        assert_eq!(row_k(32, 3, 1, 3, 0), None, "{tier}: one tap wide");
        assert_eq!(row_k(32, 3, 3, 3, 7), None, "{tier}: weight zero point");
        assert_eq!(row_k(8, 3, 3, 3, 0), vnni.then_some(12), "{tier}: 8 columns, still the 8x32 tile");
        assert_eq!(row_k(16, 3, 3, 3, 0), vnni.then_some(12), "{tier}: 16 columns, still the 8x32 tile");
    }
}

#[test]
fn qconv2d_matches_reference_over_geometries() {
    let pool = ThreadPool::new(1);
    let geoms = [
        ((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ((3, 3), (2, 2), (1, 1), [0, 0, 1, 1]),
        ((3, 3), (2, 2), (1, 1), [1, 1, 1, 1]),
        ((1, 1), (1, 1), (1, 1), [0, 0, 0, 0]),
        ((1, 1), (2, 2), (1, 1), [0, 0, 0, 0]),
        ((1, 1), (1, 1), (1, 1), [1, 0, 0, 1]),
        ((3, 3), (1, 1), (2, 2), [2, 2, 2, 2]),
        ((2, 3), (1, 2), (2, 1), [1, 0, 2, 1]),
        ((5, 5), (2, 1), (1, 1), [2, 2, 2, 2]),
        ((3, 1), (1, 1), (1, 3), [0, 3, 0, 0]),
    ];
    for tier in tiers() {
        for (gi, &(kernel, stride, dilation, pad)) in geoms.iter().enumerate() {
            for (ci, &(c, out_c)) in [(1, 1), (3, 8), (5, 17), (16, 9), (24, 33)].iter().enumerate() {
                let v = gi * 5 + ci;
                let s = Nhwc { n: 1 + v % 2, h: 5 + v % 3, w: 6 + v % 4, c };
                run_conv_case(tier, &pool, s, out_c, &window(kernel, stride, dilation, pad), v, v as u64);
            }
        }
    }
}

#[test]
fn qdepthwise_matches_reference_over_geometries() {
    let pool = ThreadPool::new(1);
    let geoms = [
        ((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ((3, 3), (2, 2), (1, 1), [0, 0, 1, 1]),
        ((3, 3), (2, 2), (1, 1), [1, 1, 1, 1]),
        ((5, 5), (1, 1), (1, 1), [2, 2, 2, 2]),
        ((3, 3), (1, 1), (2, 2), [2, 2, 2, 2]),
        ((2, 3), (1, 2), (2, 1), [1, 0, 2, 1]),
        ((1, 1), (1, 1), (1, 1), [0, 0, 0, 0]),
        ((3, 3), (3, 2), (1, 1), [0, 3, 0, 1]),
    ];
    for tier in tiers() {
        for (gi, &(kernel, stride, dilation, pad)) in geoms.iter().enumerate() {
            for (ci, &(c, dm)) in [(1, 1), (3, 1), (8, 1), (16, 1), (17, 1), (32, 1), (33, 1), (4, 2), (5, 3), (16, 2), (81, 1)].iter().enumerate() {
                let v = gi * 8 + ci;
                let s = Nhwc { n: 1 + v % 2, h: 4 + v % 4, w: 5 + v % 5, c };
                run_dw_case(tier, &pool, s, dm, &window(kernel, stride, dilation, pad), v, 100 + v as u64);
            }
        }
    }
}

/// Channel counts around the 32-channel blocks of the AVX-512 VNNI tap-pair
/// depthwise row kernel (multiplier 1; at most 16 channels run two pixels
/// per register, over odd and even output widths, up to 13 tap pairs),
/// even and odd tap counts, every
/// parameter variant (zero points, weight zero points ±128/127 giving
/// `|w − w_zp| = 255`, left and right shifts, clamps); every tier runs it.
#[test]
fn qdepthwise_multiplier_one_over_channel_blocks_and_taps() {
    let pool = ThreadPool::new(1);
    for tier in tiers() {
        let mut v = 0;
        for c in [1, 2, 15, 16, 17, 31, 48, 63, 64, 65, 96, 144] {
            for (kernel, stride) in [((1, 2), (1, 1)), ((3, 3), (1, 1)), ((3, 3), (2, 2)), ((2, 2), (1, 1)), ((5, 5), (1, 1)), ((1, 1), (1, 1)), ((5, 6), (1, 1))] {
                let s = Nhwc { n: 1, h: 3 + v % 3, w: 4 + v % 4, c };
                run_dw_case(tier, &pool, s, 1, &window(kernel, stride, (1, 1), [1, 1, 1, 1]), v, 700 + v as u64);
                v += 1;
            }
        }
    }
}

/// The AVX-512 VNNI tap-quad depthwise row kernel (multiplier 1, every
/// `w − w_zp` in int8): channel counts it takes (whole and partial 64-channel
/// blocks), 1 to 25
/// taps (whole and partial quads), extreme inputs and weights (-128 / 127:
/// the largest unsigned products), strides and padding; it is checked to be
/// the kernel that runs, and a weight zero point that pushes `w − w_zp` out
/// of int8 is checked to fall back to tap pairs.
#[test]
fn qdepthwise_tap_quads_over_blocks_taps_and_extremes() {
    let tier = QTier::Avx512Vnni;
    if !tier.is_available() {
        return;
    }
    let pool = ThreadPool::new(1);
    let mut v = 0usize;
    for c in [64, 100, 127, 128, 192, 320] {
        for (kernel, stride, pad) in [((1, 1), (1, 1), [0, 0, 0, 0]), ((1, 2), (1, 1), [0, 1, 0, 0]), ((1, 3), (1, 1), [0, 1, 0, 1]), ((2, 2), (2, 2), [1, 1, 0, 0]), ((3, 2), (1, 1), [1, 1, 1, 1]), ((2, 3), (2, 2), [0, 0, 1, 1]), ((5, 5), (1, 1), [2, 2, 2, 2])] {
            let s = Nhwc { n: 1 + v % 2, h: 3 + v % 4, w: 4 + v % 3, c };
            let win = window(kernel, stride, (1, 1), pad);
            let taps = kernel.0 * kernel.1;
            let mut rng = Rng::new(900 + v as u64);
            // Every third case: inputs and weights at the int8 extremes only.
            let ext = |rng: &mut Rng, n: usize| (0..n).map(|_| if rng.below(2) == 0 { -128 } else { 127 }).collect::<Vec<i8>>();
            let (x, w) = if v.is_multiple_of(3) { (ext(&mut rng, s.len()), ext(&mut rng, taps * c)) } else { (rng.i8s(s.len()), rng.i8s(taps * c)) };
            // Variants with weight zero point 0 (variant % 4 in {0, 1}).
            let variant = 4 * (v % 30) + v % 2;
            let p = params(&mut rng, variant, c, taps);
            assert_eq!(p.w_zp, 0);
            row_kernel_case(tier, &pool, s, &win, (&x, &w), &p, "quads");
            v += 1;
        }
    }
    // w − w_zp = -128 − 5 does not fit int8, and 96 channels would leave half a
    // 64-channel block idle: the pair kernel runs; 3x3 windows take the column pairs.
    let w = vec![-128i8; 10 * 96];
    let packed = PackedQDepthwise::pack_tier(tier, 2, 5, 64, 1, &w, 5, None, 0);
    assert_eq!(packed.row_kernel(), "pairs");
    let packed = PackedQDepthwise::pack_tier(tier, 2, 5, 96, 1, &w, 0, None, 0);
    assert_eq!(packed.row_kernel(), "pairs");
    let packed = PackedQDepthwise::pack_tier(tier, 3, 3, 64, 1, &w, 0, None, 0);
    assert_eq!(packed.row_kernel(), "columns");
}

/// The AVX-512 VNNI column-pair depthwise row kernel (3x3, multiplier 1,
/// more than 16 channels, horizontal stride 1 or 2, dilation 1): whole and
/// partial 32-channel blocks, input widths from 1 (every window column in
/// the padding but one) up, left and right padding of 0 to 2 columns, top
/// and bottom padding that leaves whole window rows in it, vertical strides
/// and dilations, batches, weight zero points (`|w − w_zp|` up to 255),
/// extreme inputs and weights, every parameter variant; it is checked to be
/// the kernel packed, and the other windows of the same weights (stride 3,
/// dilation 2) to take the tap pairs and agree too.
#[test]
fn qdepthwise_column_pairs_over_blocks_widths_and_padding() {
    let tier = QTier::Avx512Vnni;
    if !tier.is_available() {
        return;
    }
    column_kernel_cases(tier, &[17, 31, 32, 33, 64, 100, 144, 192], false, "columns");
}

/// The dotprod column-quad depthwise row kernel (3x3, multiplier 1, a
/// multiple of 16 channels, every `w − w_zp` in int8, horizontal stride 1
/// or 2, dilation 1), on the dotprod and i8mm tiers (qemu `-cpu
/// neoverse-n1` and `max`): the cases of the AVX-512 column test with
/// weight zero point 0, and a weight zero point that pushes `w − w_zp` out
/// of int8 falls back to the SMLAL kernels.
#[test]
fn qdepthwise_column_quads_over_blocks_widths_and_padding() {
    for tier in [QTier::NeonDot, QTier::NeonI8mm] {
        if !tier.is_available() {
            continue;
        }
        column_kernel_cases(tier, &[16, 32, 48, 144], true, "columns");
        let w = vec![-128i8; 9 * 16];
        assert_eq!(PackedQDepthwise::pack_tier(tier, 3, 3, 16, 1, &w, 5, None, 0).row_kernel(), "");
        assert_eq!(PackedQDepthwise::pack_tier(tier, 3, 3, 16, 1, &w, 0, None, 0).row_kernel(), "columns");
    }
    for tier in tiers() {
        if !matches!(tier, QTier::NeonDot | QTier::NeonI8mm) {
            assert_ne!(PackedQDepthwise::pack_tier(tier, 3, 3, 16, 1, &[0; 144], 0, None, 0).row_kernel(), "columns", "{tier}");
        }
    }
}

/// The dotprod quad-row depthwise row kernel (multiplier 1, a multiple of 16
/// channels, every `w − w_zp` in int8; the windows the 3x3 column kernel does
/// not take), on the dotprod and i8mm tiers (qemu `-cpu neoverse-n1` and
/// `max`): 5x5, 7x7, 1xN, Nx1 and 9x1 (three groups of window rows, the last
/// one partial) windows, 3x3 with stride 3 or dilation 2, strides 2,
/// asymmetric padding, input widths from 1 (every window column but one in
/// the padding) up, extreme inputs and weights, every parameter variant with
/// weight zero point 0; it is checked to be the kernel that runs.
#[test]
fn qdepthwise_quad_rows_over_windows_widths_and_extremes() {
    let pool = ThreadPool::new(1);
    for tier in [QTier::NeonDot, QTier::NeonI8mm] {
        if !tier.is_available() {
            continue;
        }
        let before = super::dw::QUAD_ROWS.with(|n| n.get());
        let mut v = 0usize;
        for c in [16, 48, 160] {
            for in_w in [1, 2, 5, 9] {
                for (kernel, stride, dilation, pad) in [
                    ((5, 5), (1, 1), (1, 1), [2, 2, 2, 2]),
                    ((5, 5), (2, 2), (1, 1), [1, 2, 1, 2]),
                    ((7, 7), (1, 1), (1, 1), [3, 3, 3, 3]),
                    ((1, 5), (1, 1), (1, 1), [0, 2, 0, 2]),
                    ((5, 1), (1, 1), (1, 1), [2, 0, 2, 0]),
                    ((9, 1), (2, 1), (1, 1), [4, 0, 4, 0]),
                    ((3, 3), (1, 3), (1, 1), [1, 1, 1, 1]),
                    ((3, 3), (1, 1), (2, 2), [2, 2, 2, 2]),
                    ((2, 2), (2, 2), (1, 1), [0, 0, 1, 1]),
                ] {
                    let s = Nhwc { n: 1 + v % 2, h: 2 + v % 6, w: in_w, c };
                    let win = window(kernel, stride, dilation, pad);
                    let taps = kernel.0 * kernel.1;
                    let mut rng = Rng::new(1700 + v as u64);
                    let ext = |rng: &mut Rng, n: usize| (0..n).map(|_| if rng.below(2) == 0 { -128 } else { 127 }).collect::<Vec<i8>>();
                    let (x, w) = if v.is_multiple_of(3) { (ext(&mut rng, s.len()), ext(&mut rng, taps * c)) } else { (rng.i8s(s.len()), rng.i8s(taps * c)) };
                    let mut p = params(&mut rng, v % 120, c, taps);
                    p.w_zp = 0;
                    row_kernel_case(tier, &pool, s, &win, (&x, &w), &p, "columns");
                    v += 1;
                }
            }
        }
        let ran = super::dw::QUAD_ROWS.with(|n| n.get()) - before;
        assert!(ran > 200, "{tier}: the quad-row kernel ran on {ran} rows");
    }
}

/// The plain Neon SMLAL column depthwise row kernel (3x3, multiplier 1, a
/// multiple of 16 channels, horizontal stride 1 or 2, dilation 1, on the
/// int16 plane): the same cases with every weight zero point (on the Neon
/// tier, qemu `-cpu cortex-a53`, and on the others, where `|w − w_zp|`
/// reaches 255 and the column quads are not packed).
#[cfg(target_arch = "aarch64")]
#[test]
fn qdepthwise_neon_columns_over_blocks_widths_and_padding() {
    column_kernel_cases(QTier::Neon, &[16, 32, 48, 144], false, "");
}

/// The column row kernel cases of `tier` over channel counts `cs` and every
/// parameter variant (with weight zero point 0 when `w_zp_0`); checks that
/// the weights were packed for `packed_as` (`row_kernel`) and that a column
/// kernel ran.
fn column_kernel_cases(tier: QTier, cs: &[usize], w_zp_0: bool, packed_as: &str) {
    let pool = ThreadPool::new(1);
    let before = super::dw::COLUMN_ROWS.with(|n| n.get());
    let mut v = 0usize;
    for &c in cs {
        for in_w in [1, 2, 3, 4, 7, 12] {
            for (stride, dilation, pad) in [((1, 1), (1, 1), [1, 1, 1, 1]), ((1, 2), (1, 1), [0, 0, 1, 1]), ((2, 1), (2, 1), [2, 0, 0, 2]), ((1, 1), (1, 1), [0, 2, 2, 0]), ((2, 2), (1, 1), [1, 1, 2, 1]), ((1, 3), (1, 1), [1, 1, 1, 1]), ((1, 1), (1, 2), [1, 2, 1, 2])] {
                let s = Nhwc { n: 1 + v % 2, h: 2 + v % 5, w: in_w, c };
                let win = window((3, 3), stride, dilation, pad);
                let mut rng = Rng::new(1300 + v as u64);
                let ext = |rng: &mut Rng, n: usize| (0..n).map(|_| if rng.below(2) == 0 { -128 } else { 127 }).collect::<Vec<i8>>();
                let (x, w) = if v.is_multiple_of(4) { (ext(&mut rng, s.len()), ext(&mut rng, 9 * c)) } else { (rng.i8s(s.len()), rng.i8s(9 * c)) };
                let mut p = params(&mut rng, v % 120, c, 9);
                if w_zp_0 {
                    p.w_zp = 0;
                }
                row_kernel_case(tier, &pool, s, &win, (&x, &w), &p, packed_as);
                v += 1;
            }
        }
    }
    let ran = super::dw::COLUMN_ROWS.with(|n| n.get()) - before;
    assert!(ran > 100, "{tier}: the column kernel ran on {ran} rows");
}

/// One depthwise convolution with multiplier 1 (input and weights `xw`,
/// parameters `p`) on `tier` against the reference, after checking that the
/// weights were packed for the row kernel `packed_as` (`row_kernel`).
fn row_kernel_case(tier: QTier, pool: &ThreadPool, s: Nhwc, win: &Window2d, (x, w): (&[i8], &[i8]), p: &QParams, packed_as: &str) {
    let c = s.c;
    let packed = PackedQDepthwise::pack_tier(tier, win.kernel_h, win.kernel_w, c, 1, w, p.w_zp, p.bias.as_deref(), p.a_zp);
    assert_eq!(packed.row_kernel(), packed_as, "{tier} c={c}");
    let want = requant_ref(&dw_ref_acc(win, s, x, 1, w, p), c, &p.q);
    let mut out = vec![0i8; want.len()];
    qdepthwise_conv2d(exec(pool, tier), win, s, x, &packed, &mut out, &p.q);
    check_eq(&out, &want, &format!("qdepthwise {packed_as} {tier} {s:?} {win:?} {p:?}"));
}

/// One GEMM (`uk`, `m x n x k`, inputs seeded from the shape) with
/// parameters `p` against the reference; returns the reference accumulators.
fn fused_gemm_case(uk: &'static QUkernel, pool: &ThreadPool, (m, n, k): (usize, usize, usize), p: &QParams, what: &str) -> Vec<i64> {
    let mut rng = Rng::new(m as u64 * 31 + n as u64);
    let (a, w) = (rng.i8s(m * k), rng.i8s(n * k));
    let packed = PackedQGemm::pack_ukernel(uk, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
    let acc = gemm_ref_acc(m, n, k, &a, k, &w, p);
    let mut out = vec![0i8; m * n];
    qgemm(exec(pool, uk.tier), m, &a, k, &packed, &mut out, n, &p.q);
    check_eq(&out, &requant_ref(&acc, n, &p.q), &format!("{what} qgemm {} m={m} n={n} k={k}", uk.name));
    acc
}

/// One 3x3 depthwise convolution (multiplier 1, padding 1, a 5x6 image of
/// `c` channels seeded from `c`) with parameters `p` against the reference;
/// returns the reference accumulators.
fn fused_dw_case(tier: QTier, pool: &ThreadPool, c: usize, p: &QParams, what: &str) -> Vec<i64> {
    let s = Nhwc { n: 1, h: 5, w: 6, c };
    let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    let mut rng = Rng::new(c as u64);
    let (x, w) = (rng.i8s(s.len()), rng.i8s(9 * c));
    let packed = PackedQDepthwise::pack_tier(tier, 3, 3, c, 1, &w, 0, p.bias.as_deref(), p.a_zp);
    let acc = dw_ref_acc(&win, s, &x, 1, &w, p);
    let mut out = vec![0i8; acc.len()];
    qdepthwise_conv2d(exec(pool, tier), &win, s, &x, &packed, &mut out, &p.q);
    check_eq(&out, &requant_ref(&acc, c, &p.q), &format!("{what} qdepthwise {} ({}) c={c}", packed.kernel_name(), packed.row_kernel()));
    acc
}

/// Layers with a column that shifts right by more than 22 make the AVX-512
/// stages add the zero point after the shift (`zp_late`, a constant of the
/// fused kernels): the fused GEMM tiles (8x32 and 12x16, with row tails) and
/// the depthwise pair and quad rows against the reference, on every tier.
#[test]
fn fused_stages_with_late_zero_point() {
    let pool = ThreadPool::new(1);
    let late = |n: usize, k: usize| {
        let requant = (0..n)
            .map(|j| match j % 3 {
                0 => Requant { multiplier: (1 << 30) + j as i32 * 4099, shift: -24 - (j % 5) as i32 },
                _ => Requant::from_real((0.5 + j as f64 / 50.0) / (128.0 * (k as f64).sqrt())),
            })
            .collect();
        let q = QuantOut { requant, zero_point: -7, min: -128, max: 127 };
        let bias = Some((0..n).map(|j| (j as i32 - 20) * 100_003).collect::<Vec<i32>>());
        QParams { a_zp: 3, w_zp: 0, bias, q }
    };
    for tier in tiers() {
        for uk in qgemm_ukernels(tier) {
            for (m, n, k) in [(13, 40, 300), (9, 17, 64), (25, 64, 33)] {
                fused_gemm_case(uk, &pool, (m, n, k), &late(n, k), "late-zp");
            }
        }
        for c in [32, 64, 96, 130] {
            fused_dw_case(tier, &pool, c, &late(c, 9), "late-zp");
        }
    }
}

/// The fused stages drop the negative-tie correction where the clamp's
/// minimum is at or above the zero point (`Stage16::neg_ties`): on
/// requantizations where the final rounding ties often (multiplier 2^30 or
/// just above, right shifts 1 to 3), with clamps at, above and just below the
/// zero point, the fused GEMM tiles (8x32 and 12x16, row tails), the stem
/// (window rows in place) and the depthwise pair and quad rows equal the
/// reference; and the cases do contain negative ties.
#[test]
fn fused_stages_on_negative_ties() {
    let pool = ThreadPool::new(1);
    let tie_params = |n: usize, zp: i32, (min, max): (i32, i32)| {
        let requant = (0..n).map(|j| Requant { multiplier: (1 << 30) + (j % 2) as i32, shift: -1 - (j % 3) as i32 }).collect();
        QParams { a_zp: 3, w_zp: 0, bias: Some((0..n).map(|j| j as i32 * 37 - 500).collect()), q: QuantOut { requant, zero_point: zp, min, max } }
    };
    // Negative ties of the final rounding in the reference accumulators.
    let neg_ties = |acc: &[i64], n: usize, q: &QuantOut| {
        acc.iter().enumerate().filter(|&(i, &v)| {
            let r = q.requant_for(i % n);
            let s = -r.shift;
            let r1 = (v * r.multiplier as i64 + (1 << 30)) >> 31;
            r1 < 0 && (r1 & ((1 << s) - 1)) == 1 << (s - 1)
        }).count()
    };
    let mut ties = 0;
    for tier in tiers() {
        for (zp, clamp) in [(0, (0, 127)), (-128, (-128, 127)), (5, (5, 127)), (5, (7, 90)), (5, (4, 127)), (-3, (-128, 127)), (127, (127, 127))] {
            let what = format!("{tier} zp={zp} clamp={clamp:?}");
            for uk in qgemm_ukernels(tier) {
                for (m, n, k) in [(13, 40, 30), (9, 16, 12), (25, 64, 7)] {
                    let p = tie_params(n, zp, clamp);
                    ties += neg_ties(&fused_gemm_case(uk, &pool, (m, n, k), &p, &what), n, &p.q);
                }
            }
            let s = Nhwc { n: 1, h: 6, w: 45, c: 3 };
            let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
            let mut rng = Rng::new(11);
            let (x, w) = (rng.i8s(s.len()), rng.i8s(32 * 27));
            let p = tie_params(32, zp, clamp);
            let packed = PackedQConv2d::pack_tier(tier, 32, 3, 3, 3, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
            let acc = conv_ref_acc(&win, s, &x, 32, &w, &p);
            ties += neg_ties(&acc, 32, &p.q);
            let mut out = vec![0i8; acc.len()];
            qconv2d(exec(&pool, tier), &win, s, &x, &packed, &mut out, &p.q);
            check_eq(&out, &requant_ref(&acc, 32, &p.q), &format!("stem {} {what}", packed.kernel_name()));
            for c in [64, 96] {
                let p = tie_params(c, zp, clamp);
                ties += neg_ties(&fused_dw_case(tier, &pool, c, &p, &what), c, &p.q);
            }
        }
    }
    assert!(ties > 1000, "only {ties} negative ties");
}

/// The Neon, dotprod and i8mm tiles with the output stage fused (whole tiles of
/// layers whose every column shifts right, no weight zero point) equal the
/// reference for each combination of the negative-tie correction and the
/// clamp, on requantizations that tie often and on realistic ones, next to
/// row tails and column chunks they leave to the unfused path; layers with a
/// left shift or a weight zero point (unfused) too; and the fused tiles run.
#[cfg(target_arch = "aarch64")]
#[test]
fn neon_fused_tiles_over_stages() {
    use std::sync::atomic::Ordering::Relaxed;
    let pool = ThreadPool::new(1);
    for tier in tiers().into_iter().filter(|t| matches!(t, QTier::Neon | QTier::NeonDot | QTier::NeonI8mm)) {
        let uk = qgemm_ukernel(tier);
        let before = neon_fused::STRIPS.load(Relaxed);
        // (zero point, clamp): no correction and no clamp, clamp only, correction only, both.
        for (zp, (min, max)) in [(-128, (-128, 127)), (-128, (-128, 90)), (5, (-128, 127)), (5, (-20, 90))] {
            for (m, n, k) in [(uk.mr, 8, 16), (2 * uk.mr + 3, 24, 40), (3 * uk.mr, 40, 100), (uk.mr + 1, 9, 7)] {
                let mut rng = Rng::new((m * n + k) as u64);
                for ties in [true, false] {
                    let requant = (0..n)
                        .map(|j| match ties {
                            true => Requant { multiplier: (1 << 30) + (j % 2) as i32, shift: -1 - (j % 3) as i32 },
                            false => Requant::from_real((0.3 + rng.below(1000) as f64 / 300.0) / (128.0 * (k as f64).sqrt())),
                        })
                        .collect();
                    let bias = Some((0..n).map(|j| j as i32 * 37 - 500 + rng.i32_in(-3000, 3000)).collect());
                    let mut p = QParams { a_zp: 3, w_zp: 0, bias, q: QuantOut { requant, zero_point: zp, min, max } };
                    let what = format!("{} zp={zp} clamp={min}..{max} ties={ties}", uk.name);
                    fused_gemm_case(uk, &pool, (m, n, k), &p, &what);
                    // The unfused path: a weight zero point, then a column that shifts left.
                    p.w_zp = 2;
                    fused_gemm_case(uk, &pool, (m, n, k), &p, &format!("{what} w_zp=2"));
                    p.w_zp = 0;
                    p.q.requant[n / 2] = Requant { multiplier: 1 << 30, shift: 1 };
                    fused_gemm_case(uk, &pool, (m, n, k), &p, &format!("{what} left shift"));
                }
            }
        }
        let ran = neon_fused::STRIPS.load(Relaxed) - before;
        assert!(ran >= 4 * 2 * (1 + 2 + 3), "{tier}: {ran} fused strips");
    }
}

/// Packed layers keep the output-stage parameters of their last call: calls
/// alternating between two output quantizations on the same packed weights
/// (GEMM, depthwise) each match the reference for their own, whether the
/// first is passed as the stage bound to the weights (`bind_output`, found by
/// address) or as an equal copy, and binding twice is refused.
#[test]
fn packed_layers_follow_a_changed_output_quantization() {
    let pool = ThreadPool::new(1);
    let mut rng = Rng::new(4242);
    for tier in tiers() {
        let (m, n, k) = (9, 40, 24);
        let a = rng.i8s(m * k);
        let w = rng.i8s(n * k);
        let p = params(&mut rng, 5, n, k);
        let mut q2 = p.q.clone();
        q2.zero_point = -q2.zero_point / 2 + 3;
        q2.min = -100;
        for r in q2.requant.iter_mut() {
            *r = Requant::from_real(r.to_real() * 1.7);
        }
        let packed = PackedQGemm::pack_tier(tier, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
        let acc = gemm_ref_acc(m, n, k, &a, k, &w, &p);
        let s = Nhwc { n: 1, h: 5, w: 6, c: 48 };
        let x = rng.i8s(s.len());
        let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
        let dwv = rng.i8s(9 * 48);
        let dp = params(&mut rng, 3, 48, 9);
        let mut dq2 = dp.q.clone();
        dq2.zero_point = 7 - dq2.zero_point / 3;
        for r in dq2.requant.iter_mut() {
            *r = Requant::from_real(r.to_real() * 0.6);
        }
        let dw = PackedQDepthwise::pack_tier(tier, 3, 3, 48, 1, &dwv, dp.w_zp, dp.bias.as_deref(), dp.a_zp);
        let dacc = dw_ref_acc(&win, s, &x, 1, &dwv, &dp);
        assert!(packed.bind_output(p.q.clone(), Rounding::Double) && dw.bind_output(dp.q.clone()));
        assert!(!packed.bind_output(q2.clone(), Rounding::Double) && !dw.bind_output(dq2.clone()));
        let (bound, dbound) = (packed.output().expect("bound"), dw.output().expect("bound"));
        let (copy, dcopy) = (p.q.clone(), dp.q.clone());
        for round in 0..6 {
            let (q, dq) = match round {
                0 | 4 => (bound, dbound),
                2 => (&copy, &dcopy),
                _ => (&q2, &dq2),
            };
            let mut out = vec![0i8; m * n];
            qgemm(exec(&pool, tier), m, &a, k, &packed, &mut out, n, q);
            check_eq(&out, &requant_ref(&acc, n, q), &format!("{tier} gemm round {round}"));
            let mut dout = vec![0i8; dacc.len()];
            qdepthwise_conv2d(exec(&pool, tier), &win, s, &x, &dw, &mut dout, dq);
            check_eq(&dout, &requant_ref(&dacc, 48, dq), &format!("{tier} dw round {round}"));
        }
    }
}

/// Results are identical for 1, 2 and 3 threads (and equal the reference).
#[test]
fn bit_identical_across_thread_counts() {
    let pools = [ThreadPool::new(1), ThreadPool::new(2), ThreadPool::new(3)];
    let mut rng = Rng::new(99);
    for tier in tiers() {
        let (m, n, k) = (67, 45, 130);
        let a = rng.i8s(m * k);
        let w = rng.i8s(n * k);
        let p = params(&mut rng, 7, n, k);
        let packed = PackedQGemm::pack_tier(tier, n, k, &w, p.w_zp, p.bias.as_deref(), p.a_zp);
        let want = requant_ref(&gemm_ref_acc(m, n, k, &a, k, &w, &p), n, &p.q);
        let s = Nhwc { n: 1, h: 23, w: 19, c: 12 };
        let x = rng.i8s(s.len());
        let win = window((3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
        let cw = rng.i8s(20 * 9 * 12);
        let cp = params(&mut rng, 9, 20, 9 * 12);
        let conv = PackedQConv2d::pack_tier(tier, 20, 3, 3, 12, &cw, cp.w_zp, cp.bias.as_deref(), cp.a_zp);
        let conv_want = requant_ref(&conv_ref_acc(&win, s, &x, 20, &cw, &cp), 20, &cp.q);
        let dwv = rng.i8s(9 * 24);
        let dp = params(&mut rng, 5, 24, 9);
        let dw = PackedQDepthwise::pack_tier(tier, 3, 3, 12, 2, &dwv, dp.w_zp, dp.bias.as_deref(), dp.a_zp);
        let dw_want = requant_ref(&dw_ref_acc(&win, s, &x, 2, &dwv, &dp), 24, &dp.q);
        for pool in &pools {
            let mut out = vec![0i8; m * n];
            qgemm(exec(pool, tier), m, &a, k, &packed, &mut out, n, &p.q);
            check_eq(&out, &want, &format!("{tier} gemm threads={}", pool.num_threads()));
            let mut co = vec![0i8; conv_want.len()];
            qconv2d(exec(pool, tier), &win, s, &x, &conv, &mut co, &cp.q);
            check_eq(&co, &conv_want, &format!("{tier} conv threads={}", pool.num_threads()));
            let mut dout = vec![0i8; dw_want.len()];
            qdepthwise_conv2d(exec(pool, tier), &win, s, &x, &dw, &mut dout, &dp.q);
            check_eq(&dout, &dw_want, &format!("{tier} dw threads={}", pool.num_threads()));
        }
    }
}

/// The vector output stages equal `Requant::apply` on rounding ties, the
/// extremes of the accumulator range and every shift.
#[test]
fn output_stage_is_exact_on_ties_and_extremes() {
    let mut rng = Rng::new(5);
    let n = 19;
    let mut accs: Vec<i32> = vec![0, 1, -1, i32::MAX, i32::MIN, i32::MIN + 1, 1 << 30, -(1 << 30), 3 << 20, -(3 << 20)];
    for e in 0..31 {
        accs.push(1 << e);
        accs.push(-(1 << e));
        accs.push((1 << e) + (1 << e.max(1)) / 2);
        accs.push(-(1 << e) - (1 << e.max(1)) / 2);
    }
    while !accs.len().is_multiple_of(16) {
        accs.push(rng.next() as i32 >> rng.below(31));
    }
    for tier in tiers() {
        for round in 0..40 {
            let requant: Vec<Requant> = (0..n)
                .map(|j| {
                    // Some rounds without left shifts (the stages skip that step then).
                    // and some with right shifts only (a cheaper rounding fixup then).
                    let shifts: &[i32] = match round % 5 {
                        4 => &[-31, -20, -8, -1, 0],
                        3 => &[-31, -20, -8, -1, -2, -13],
                        _ => &[-31, -20, -8, -1, 0, 1, 4, 12],
                    };
                    let shift = shifts[(j + round) % shifts.len()];
                    let mult = if round % 3 == 0 { 1 << 30 } else { (1 << 30) + (rng.below(1 << 30) as i32) };
                    Requant { multiplier: mult, shift }
                })
                .collect();
            let (min, max) = [(-128, 127), (0, 127), (-128, -1), (-5, 6)][round % 4];
            let q = QuantOut { requant, zero_point: [0, -128, 127, 3, 200, -256][round % 6], min, max };
            let params = output::OutParams::new(&q, n);
            assert!(params.vector_ok);
            let rows = accs.len() / 16;
            let mut acc = vec![0i32; rows * n];
            for (i, v) in acc.iter_mut().enumerate() {
                *v = accs[(i * 7 + round) % accs.len()];
            }
            let bias: Vec<i32> = (0..n).map(|j| if round % 2 == 0 { 0 } else { j as i32 * 1000 - 9000 }).collect();
            let corr: Vec<i32> = (0..rows).map(|i| i as i32 * 77 - 300).collect();
            let row_corr = (round % 4 >= 2).then_some(&corr[..]);
            let mut out = vec![0i8; rows * n];
            // SAFETY: `out` has rows x n values, acc rows x n, bias n, corr rows; columns 0..n exist in params.
            unsafe { output::store_tile(tier, &params, &acc, output::AccLayout::row_major(n), rows, n, &bias, row_corr, 0, out.as_mut_ptr(), n) };
            let want: Vec<i8> = acc
                .iter()
                .enumerate()
                .map(|(i, &v)| q.apply(i % n, v.wrapping_add(bias[i % n]).wrapping_add(row_corr.map_or(0, |c| c[i / n]))))
                .collect();
            check_eq(&out, &want, &format!("{tier} output stage round {round}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn qgemm_random_shapes(m in 1usize..20, n in 1usize..40, k in 1usize..80, variant in 0usize..120, seed in 0u64..1000) {
        let pool = ThreadPool::new(1);
        for tier in tiers() {
            run_gemm_case(tier, &pool, m, n, k, k, variant, seed);
        }
    }

    #[test]
    fn qconv_and_dw_random_geometry(
        kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..3, dh in 1usize..3, dw in 1usize..3,
        pad in 0usize..3, h in 3usize..9, w in 3usize..9, c in 1usize..12, out_c in 1usize..20, dm in 1usize..3,
        variant in 0usize..120, seed in 0u64..1000,
    ) {
        let pool = ThreadPool::new(1);
        let win = window((kh, kw), (sh, sw), (dh, dw), [pad, pad / 2, pad, pad.div_ceil(2)]);
        let s = Nhwc { n: 1, h, w, c };
        for tier in tiers() {
            run_conv_case(tier, &pool, s, out_c, &win, variant, seed);
            run_dw_case(tier, &pool, s, dm, &win, variant, seed);
        }
    }
}
