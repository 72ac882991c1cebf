//! SOFTMAX over the last axis of int8 rows: TFLite's `SoftmaxPrepare`
//! (kReference: `PreprocessSoftmaxScaling` with 5 integer bits) and the
//! fixed-point `reference_ops::Softmax` (gemmlowp `exp_on_negative_values`,
//! Q12 accumulation, `GetReciprocal`), for int8 and uint8 alike.
//!
//! Every exponential depends only on `q - max(row)` in `[-255, 0]`, so both
//! the exponentials and their Q12 rescaling are 256-entry tables built at
//! `new` with the reference arithmetic; the kernel is the row max, a table
//! sum, the reciprocal and one multiply-round per element.

use super::{check_scale, check_zp, par_chunks_mut};
use crate::fixedpoint::{rounding_divide_by_pot as rdbp, saturating_rounding_doubling_high_mul as srdhm, Requant};
use crate::Exec;

#[derive(Clone, Debug)]
pub struct SoftmaxParams {
    /// `PreprocessSoftmaxScaling`'s multiplier and left shift.
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// `-CalculateInputRadius(5, left_shift)`: differences below it give 0.
    pub diff_min: i32,
    /// `exp_on_negative_values` (Q0.31) of the rescaled difference `-d`, or
    /// `None` below `diff_min`, indexed by `d` in 0..=255.
    exp: Box<[Option<i32>; 256]>,
    /// The same rescaled to Q12 (`Rescale<12>`), 0 below `diff_min`.
    exp_q12: Box<[i32; 256]>,
}

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUM_INTEGER_BITS: i32 = 12;

impl SoftmaxParams {
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32, beta: f32, uint8: bool) -> Result<SoftmaxParams, String> {
        check_scale("SOFTMAX input", in_scale)?;
        check_scale("SOFTMAX output", out_scale)?;
        check_zp("SOFTMAX input", in_zp)?;
        check_zp("SOFTMAX output", out_zp)?;
        if !uint8 {
            // SoftmaxPrepare: int8 output zero point -128 and scale 1/256 within 0.001/256 (TF_LITE_ENSURE_NEAR).
            if out_zp != -128 {
                return Err(format!("SOFTMAX: int8 output zero point {out_zp} is not -128"));
            }
            if (out_scale - 1.0 / 256.0).abs() > 0.001 / 256.0 {
                return Err(format!("SOFTMAX: int8 output scale {out_scale} is not 1/256"));
            }
        }
        // The reference kernel writes outputs for scale 1/256 and zero point 0 (uint8) / -128 (int8)
        // whatever the output tensor says; the uint8 case after the shift by 128 is the int8 one.
        // PreprocessSoftmaxScaling: min(double(beta) * double(scale) * 2^26, 2^31 - 1), then
        // QuantizeMultiplierGreaterThanOne (CHECKs a real multiplier > 1).
        let real = (beta as f64 * in_scale as f64 * (1u64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min((1u64 << 31) as f64 - 1.0);
        if real.is_nan() || real <= 1.0 {
            return Err(format!("SOFTMAX: beta * input scale ({beta} * {in_scale}) is too small for TFLite's fixed-point softmax"));
        }
        let q = Requant::from_real(real);
        if q.shift < 0 || q.shift > 31 {
            return Err(format!("SOFTMAX: input multiplier {real} out of range"));
        }
        // CalculateInputRadius(5, left_shift): floor(31 * 2^26 / 2^left_shift) in double.
        let radius = (31.0 * (1u64 << 26) as f64 / (1u64 << q.shift) as f64).floor() as i32;
        let diff_min = -radius;
        let mut exp = Box::new([None; 256]);
        let mut exp_q12 = Box::new([0i32; 256]);
        for d in 0..256usize {
            let diff = -(d as i32);
            if diff >= diff_min {
                // MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(diff * 2^left_shift, multiplier).
                let rescaled = srdhm(diff.wrapping_mul(1i32.wrapping_shl(q.shift as u32)), q.multiplier);
                let e = exp_on_negative_values_5(rescaled);
                exp[d] = Some(e);
                // Rescale<12> from Q0.31: RoundingDivideByPOT by 12.
                exp_q12[d] = rdbp(e, ACCUM_INTEGER_BITS);
            }
        }
        Ok(SoftmaxParams { input_multiplier: q.multiplier, input_left_shift: q.shift, diff_min, exp, exp_q12 })
    }

    /// One row, exactly as the reference kernel.
    pub fn row(&self, input: &[i8], output: &mut [i8]) {
        let max = input.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let mut sum = 0i32;
        for &x in input {
            sum = sum.wrapping_add(self.exp_q12[(max - x as i32) as usize]);
        }
        let (scale, bits_over_unit) = reciprocal(sum, ACCUM_INTEGER_BITS);
        // exponent = num_bits_over_unit + 31 - 8 for 8-bit outputs; TFLITE_CHECK 0 ≤ exponent ≤ 31
        // holds as the sum is at least 1 (the maximum's own exp) and below 2^(31-12)·256.
        let exponent = bits_over_unit + 31 - 8;
        for (o, &x) in output.iter_mut().zip(input) {
            *o = match self.exp[(max - x as i32) as usize] {
                Some(e) => (rdbp(srdhm(scale, e), exponent) - 128).clamp(-128, 127) as i8,
                None => -128,
            };
        }
    }
}

/// `rows` rows of `depth` values, softmax along each row.
pub fn qsoftmax(exec: Exec, p: &SoftmaxParams, rows: usize, depth: usize, input: &[i8], output: &mut [i8]) {
    assert_eq!(input.len(), rows * depth, "SOFTMAX: input length is not rows * depth");
    assert_eq!(output.len(), rows * depth, "SOFTMAX: output length is not rows * depth");
    if depth == 0 {
        return;
    }
    let rows_per_task = (super::ELEMENTWISE_CHUNK / 4 / depth).max(1);
    par_chunks_mut(exec, output, rows_per_task * depth, &|start, part| {
        for (i, o) in part.chunks_mut(depth).enumerate() {
            let r = start / depth + i;
            p.row(&input[r * depth..(r + 1) * depth], o);
        }
    });
}

// ---------------------------------------------------------------------------
// gemmlowp fixed-point pieces (raw i32 values; Qm.n named by integer bits)
// ---------------------------------------------------------------------------

/// SaturatingRoundingMultiplyByPOT<e>: a saturating left shift for e > 0,
/// a rounding right shift for e < 0.
fn sat_rounding_mul_pot(x: i32, e: i32) -> i32 {
    if e > 0 {
        let threshold = (1i32 << (31 - e)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << e
        }
    } else if e < 0 {
        rdbp(x, -e)
    } else {
        x
    }
}

/// exp(a) for a in [-1/4, 0), Q0.31 in and out: the Taylor expansion around
/// -1/8 of gemmlowp's exp_on_interval_between_negative_one_quarter_and_0_excl.
fn exp_on_interval_neg_quarter(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = sat_rounding_mul_pot(x4, -2);
    let poly = sat_rounding_mul_pot(srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2), -1);
    EXP_MINUS_ONE_EIGHTH.wrapping_add(srdhm(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// gemmlowp's exp_on_negative_values for a Q5.26 input, Q0.31 result: the
/// remainder modulo 1/4 by the polynomial, then one constant factor
/// exp(-2^k) per set bit of the multiple of 1/4.
fn exp_on_negative_values_5(a: i32) -> i32 {
    const FRAC: i32 = 31 - SCALED_DIFF_INTEGER_BITS;
    let one_quarter = 1i32 << (FRAC - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    // Rescale<0> from 5 integer bits: saturating shift left by 5.
    let mut result = exp_on_interval_neg_quarter(sat_rounding_mul_pot(a_mod_quarter_minus_quarter, SCALED_DIFF_INTEGER_BITS));
    let remainder = a_mod_quarter_minus_quarter.wrapping_sub(a);
    // exp(-2^k) in Q0.31 for k = -2..=4 (gemmlowp's barrel shifter constants).
    const FACTORS: [(i32, i32); 7] = [(-2, 1_672_461_947), (-1, 1_302_514_674), (0, 790_015_084), (1, 290_630_308), (2, 39_332_535), (3, 720_401), (4, 242)];
    for (k, m) in FACTORS {
        if SCALED_DIFF_INTEGER_BITS > k && remainder & (1 << (FRAC + k)) != 0 {
            result = srdhm(result, m);
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// gemmlowp's one_over_one_plus_x_for_x_in_0_1: Newton-Raphson in Q2.29
/// from 48/17 - 32/17·d, three iterations, Q0.31 result.
fn one_over_one_plus_x(a: i32) -> i32 {
    let sum = a as i64 + i32::MAX as i64;
    // RoundingHalfSum(a, One): (a + b + sign) / 2 in 64 bits, truncating.
    let half_denominator = ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i32;
    const C48_17: i32 = 1_515_870_810;
    const CN32_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let mut x = C48_17.wrapping_add(srdhm(half_denominator, CN32_17));
    for _ in 0..3 {
        let hdx = srdhm(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(hdx);
        // x * one_minus is Q4; Rescale<2> shifts left by 2, saturating.
        x = x.wrapping_add(sat_rounding_mul_pot(srdhm(x, one_minus), 2));
    }
    // ExactMulByPot<-1> makes it Q1 with the same raw value; Rescale<0> shifts left by 1.
    sat_rounding_mul_pot(x, 1)
}

/// TFLite's GetReciprocal: 1/x for a positive Q(12) value as a Q0.31
/// mantissa and the number of bits above one.
fn reciprocal(x: i32, integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let bits_over_unit = integer_bits - headroom_plus_one;
    let shifted_minus_one = ((x as u32) << headroom_plus_one).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x(shifted_minus_one), bits_over_unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    #[test]
    fn fixed_point_pieces_are_accurate() {
        // exp on Q5.26 inputs against f64 (gemmlowp's documented accuracy is a few ulps of Q0.31).
        for i in 0..2000 {
            let a = -((i as i64 * 1_000_003) % (31i64 << 26)) as i32;
            let got = exp_on_negative_values_5(a) as f64 / 2f64.powi(31);
            let want = (a as f64 / 2f64.powi(26)).exp();
            assert!((got - want).abs() < 2e-8 + want * 1e-6, "a={a} got={got} want={want}");
        }
        for i in 0..2000 {
            let a = (i as i64 * 1_073_741 % (1i64 << 31)) as i32;
            let got = one_over_one_plus_x(a) as f64 / 2f64.powi(31);
            let want = 1.0 / (1.0 + a as f64 / 2f64.powi(31));
            assert!((got - want).abs() < 1e-8, "a={a} got={got} want={want}");
        }
    }

    /// A float softmax: the fixed-point result is within one step of 1/256 of it.
    #[test]
    fn softmax_is_close_to_float_and_has_tflite_properties() {
        let mut rng = Rng(777);
        for &(rows, depth) in &[(1usize, 1usize), (3, 10), (2, 1001), (5, 4), (1, 256)] {
            for trial in 0..4 {
                let in_scale = rng.scale(0.01, 0.5);
                let beta = if trial == 3 { 0.5 } else { 1.0 };
                let p = SoftmaxParams::new(in_scale, rng.zp(), 1.0 / 256.0, -128, beta, false).unwrap();
                let input = rng.i8s(rows * depth);
                let mut want = vec![0i8; rows * depth];
                for r in 0..rows {
                    p.row(&input[r * depth..(r + 1) * depth], &mut want[r * depth..(r + 1) * depth]);
                    let row = &input[r * depth..(r + 1) * depth];
                    let mx = *row.iter().max().unwrap() as f64;
                    let exps: Vec<f64> = row.iter().map(|&x| ((x as f64 - mx) * in_scale as f64 * beta as f64).exp()).collect();
                    let sum: f64 = exps.iter().sum();
                    for (c, e) in exps.iter().enumerate() {
                        let f = e / sum * 256.0 - 128.0;
                        let got = want[r * depth + c] as f64;
                        assert!((got - f.clamp(-128.0, 127.0)).abs() <= 1.0, "row {r} c {c}: {got} vs {f}");
                    }
                }
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; rows * depth];
                    qsoftmax(exec, &p, rows, depth, &input, &mut out);
                    assert_eq!(out, want);
                });
            }
        }
        // The tables against the per-element reference evaluation (no tables).
        for &ls_scale in &[0.003f32, 0.05, 0.3, 2.0] {
            let p = SoftmaxParams::new(ls_scale, 0, 1.0 / 256.0, -128, 1.0, false).unwrap();
            let input = rng.i8s(300);
            let mut got = vec![0i8; 300];
            p.row(&input, &mut got);
            let mx = *input.iter().max().unwrap() as i32;
            let scaled = |x: i8| {
                let d = x as i32 - mx;
                (d >= p.diff_min).then(|| exp_on_negative_values_5(ref_mbqm(d as i64, p.input_multiplier, p.input_left_shift) as i32))
            };
            let mut sum = 0i64;
            for &x in &input {
                if let Some(e) = scaled(x) {
                    sum += ref_rdbp(e as i64, 12);
                }
            }
            let (inv, nbo) = reciprocal(sum as i32, 12);
            for (&x, &g) in input.iter().zip(&got) {
                let want = match scaled(x) {
                    Some(e) => (ref_rdbp(ref_srdhm(inv as i64, e as i64), nbo + 23) - 128).clamp(-128, 127),
                    None => -128,
                };
                assert_eq!(g as i64, want, "x={x} scale={ls_scale}");
            }
        }
        // Shift invariance: adding a constant to a row does not change the output.
        let p = SoftmaxParams::new(0.1, 0, 1.0 / 256.0, -128, 1.0, false).unwrap();
        let a: Vec<i8> = (0..20).map(|i| (i * 5 - 60) as i8).collect();
        let b: Vec<i8> = a.iter().map(|&x| x + 7).collect();
        let (mut oa, mut ob) = (vec![0i8; 20], vec![0i8; 20]);
        p.row(&a, &mut oa);
        p.row(&b, &mut ob);
        assert_eq!(oa, ob);
        // Rejections.
        assert!(SoftmaxParams::new(0.1, 0, 1.0 / 256.0, 0, 1.0, false).is_err());
        assert!(SoftmaxParams::new(0.1, 0, 1.0 / 128.0, -128, 1.0, false).is_err());
        assert!(SoftmaxParams::new(0.1, 0, 1.0 / 256.0, -128, 1.0, true).is_ok());
    }
}
