//! Test helpers: an independent, plainly written model of TFLite's integer
//! rounding primitives in i64 (no wrap-around, no shared code with the
//! kernels), random data and every available tier.

use crate::{Exec, Isa, ThreadPool};

/// gemmlowp's SaturatingRoundingDoublingHighMul: `floor((a·b + 2^30) / 2^31)`
/// (ties toward +inf), saturating the one overflowing case.
pub fn ref_srdhm(a: i64, b: i64) -> i64 {
    if a == i32::MIN as i64 && b == i32::MIN as i64 {
        return i32::MAX as i64;
    }
    (a * b + (1 << 30)).div_euclid(1 << 31)
}

/// gemmlowp's RoundingDivideByPOT: `x / 2^e` rounded half away from zero.
pub fn ref_rdbp(x: i64, e: i32) -> i64 {
    if e == 0 {
        return x;
    }
    let mag = (x.abs() + (1i64 << (e - 1))) >> e;
    if x < 0 {
        -mag
    } else {
        mag
    }
}

/// TFLite's MultiplyByQuantizedMultiplier (double rounding) in i64.
pub fn ref_mbqm(x: i64, multiplier: i32, shift: i32) -> i64 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    ref_rdbp(ref_srdhm(x << left, multiplier as i64), right)
}

/// TFLite's QuantizeMultiplier written from its definition: the mantissa of
/// `real` in [0.5, 1) rounded half away from zero to 31 bits.
pub fn ref_quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let mut shift = real.abs().log2().floor() as i32 + 1;
    let mut m = real / 2f64.powi(shift);
    if m.abs() >= 1.0 {
        shift += 1;
        m /= 2.0;
    }
    if m.abs() < 0.5 {
        shift -= 1;
        m *= 2.0;
    }
    let mut q = (m * 2f64.powi(31)).round() as i64;
    if q == 1i64 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (q as i32, shift)
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn i8(&mut self) -> i8 {
        self.next() as i8
    }
    pub fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
    /// A zero point, biased towards the extremes.
    pub fn zp(&mut self) -> i32 {
        match self.below(5) {
            0 => -128,
            1 => 127,
            2 => 0,
            _ => self.i8() as i32,
        }
    }
    /// A scale between `lo` and `hi` (log-uniform).
    pub fn scale(&mut self, lo: f32, hi: f32) -> f32 {
        let t = (self.next() % 1_000_000) as f32 / 1_000_000.0;
        (lo.ln() + t * (hi.ln() - lo.ln())).exp()
    }
}

/// Every available tier, with a single- and a two-thread pool.
pub fn for_each_exec(f: &mut dyn FnMut(Exec)) {
    let pools = [ThreadPool::new(1), ThreadPool::new(2)];
    for isa in Isa::ALL.iter().copied().filter(|i| i.is_available()) {
        for pool in &pools {
            f(Exec { isa, pool });
        }
    }
}

#[test]
fn reference_primitives_agree_with_fixedpoint() {
    use crate::fixedpoint::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul, Requant};
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20000 {
        let a = (rng.next() as i32) >> rng.below(31);
        let b = (rng.next() as i32) >> rng.below(3);
        assert_eq!(saturating_rounding_doubling_high_mul(a, b) as i64, ref_srdhm(a as i64, b as i64), "{a} {b}");
        let e = rng.below(32) as i32;
        assert_eq!(rounding_divide_by_pot(a, e) as i64, ref_rdbp(a as i64, e), "{a} {e}");
        let real = 2f64.powf(rng.below(40) as f64 - 30.0) * (1.0 + (rng.next() % 1000) as f64 / 1000.0);
        let q = Requant::from_real(real);
        assert_eq!((q.multiplier, q.shift), ref_quantize_multiplier(real), "{real}");
    }
}
