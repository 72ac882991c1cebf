//! TFLite's fixed-point requantization arithmetic, reimplemented from its
//! documented semantics so that armrest's int8 kernels produce the same
//! integers as LiteRT's reference kernels.
//!
//! A real multiplier `r > 0` is stored as `(multiplier, shift)` with
//! `r ≈ multiplier / 2^31 * 2^shift`, `multiplier` in `[2^30, 2^31)`.
//! Applying it to an `i32` accumulator is a rounding doubling high multiply
//! (round half away from zero) followed by a rounding right shift (round half
//! away from zero as well), the "double rounding" TFLite uses by default.

/// A real multiplier in TFLite's fixed-point form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Requant {
    /// Q0.31 mantissa in `[2^30, 2^31)`, or 0 for a zero multiplier.
    pub multiplier: i32,
    /// Power of two applied after the mantissa: positive shifts left.
    pub shift: i32,
}

impl Requant {
    /// TFLite's `QuantizeMultiplier`: `real` split as mantissa × 2^shift,
    /// the mantissa rounded half away from zero to 31 fractional bits.
    pub fn from_real(real: f64) -> Requant {
        if real == 0.0 || !real.is_finite() {
            return Requant::default();
        }
        let (mantissa, mut shift) = frexp(real);
        let mut q = (mantissa * (1u64 << 31) as f64).round() as i64;
        if q == 1i64 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Requant::default();
        }
        Requant { multiplier: q as i32, shift }
    }

    /// TFLite's `MultiplyByQuantizedMultiplier` (double rounding).
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32.wrapping_shl(left as u32)), self.multiplier), right)
    }

    /// The real multiplier this pair stands for (for tests and reports).
    pub fn to_real(self) -> f64 {
        self.multiplier as f64 / (1u64 << 31) as f64 * 2f64.powi(self.shift)
    }
}

/// `x = mantissa * 2^exp` with `|mantissa|` in `[0.5, 1)` (C's `frexp`), for
/// finite non-zero `x`.
pub fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let exp = biased - 1022;
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exp)
}

/// High 32 bits of `2·a·b`, rounded half away from zero; the one overflowing
/// case (`a == b == i32::MIN`) saturates to `i32::MAX`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    // Division truncates toward zero, as in C.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent` rounded half away from zero (`exponent` in `0..=31`).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1.0, 0.5, 0.75, 3.0, 1e-9, 123456.789, f64::from_bits(1 << 40), 0.999_999_999] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m), "{x}: {m}");
            assert_eq!(m * 2f64.powi(e / 2) * 2f64.powi(e - e / 2), x, "{x}");
        }
    }

    #[test]
    fn quantize_multiplier_round_trips() {
        for &r in &[1.0, 0.5, 0.25, 0.0078125, 0.3, 1.7, 123.4, 1e-6, 0.999_999_999_9] {
            let q = Requant::from_real(r);
            assert!(q.multiplier >= 1 << 30, "{r}: {q:?}");
            assert!((q.to_real() - r).abs() <= r * 2f64.powi(-30), "{r}: {q:?}");
        }
        // A mantissa that rounds up to 1.0 moves to the next power of two.
        assert_eq!(Requant::from_real(0.999_999_999_9), Requant { multiplier: 1 << 30, shift: 1 });
        assert_eq!(Requant::from_real(0.0), Requant::default());
        assert_eq!(Requant::from_real(1e-12), Requant::default());
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
    }

    /// Against an exact rational computation: the result is the real product
    /// rounded half away from zero, except that double rounding may land one
    /// away from it on exact-tie boundaries; never further.
    #[test]
    fn apply_is_within_one_of_exact() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20000 {
            let x = (next() as i32) >> (3 + next() % 20);
            let real = f64::from_bits(0x3f00_0000_0000_0000 + (next() % (0x4010_0000_0000_0000 - 0x3f00_0000_0000_0000)));
            let q = Requant::from_real(real);
            let exact = x as f64 * q.to_real();
            let got = q.apply(x);
            assert!((got as f64 - exact).abs() <= 1.0, "x={x} real={real} q={q:?} got={got} exact={exact}");
        }
    }
}
