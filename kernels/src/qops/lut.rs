//! Unary int8 → int8 operators as one 256-entry table built at `new` from
//! the exact reference arithmetic of each operator on all 256 inputs, so the
//! table is bit-exact by construction; running the op is a table lookup.

use super::{par_chunks_mut, ELEMENTWISE_CHUNK};
use crate::Exec;

/// `table[q as u8]` is the output for input `q`.
#[derive(Clone, PartialEq, Eq)]
pub struct Lut {
    table: Box<[i8; 256]>,
}

impl std::fmt::Debug for Lut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lut").field("table", &&self.table[..]).finish()
    }
}

impl Lut {
    /// A table from the op's scalar definition `f(q)` for q in -128..=127.
    pub fn from_fn(f: impl Fn(i32) -> i8) -> Lut {
        let mut table = Box::new([0i8; 256]);
        for q in -128i32..=127 {
            table[(q as i8) as u8 as usize] = f(q);
        }
        Lut { table }
    }

    #[inline(always)]
    pub fn get(&self, q: i8) -> i8 {
        self.table[q as u8 as usize]
    }

    /// The 256 entries indexed by `q as u8`.
    pub fn table(&self) -> &[i8; 256] {
        &self.table
    }
}

/// `output[i] = lut(input[i])`.
pub fn qlut(exec: Exec, lut: &Lut, input: &[i8], output: &mut [i8]) {
    assert_eq!(input.len(), output.len(), "lookup table op: input and output lengths differ");
    par_chunks_mut(exec, output, ELEMENTWISE_CHUNK, &|start, out| {
        let src = &input[start..start + out.len()];
        let done = simd_lut(exec.isa, lut, src, out);
        let t: &[i8; 256] = &lut.table;
        for (o, &q) in out[done..].iter_mut().zip(&src[done..]) {
            *o = t[q as u8 as usize];
        }
    });
}

/// Neon: TBL over the four 64-byte quarters of the table. x86 keeps the
/// scalar lookup (one load per byte; AVX2 has no 256-entry byte shuffle).
fn simd_lut(isa: crate::Isa, lut: &Lut, input: &[i8], out: &mut [i8]) -> usize {
    match isa {
        #[cfg(target_arch = "aarch64")]
        crate::Isa::Neon if isa.is_available() => {
            // SAFETY: Neon was detected; input and out have the same length (qlut).
            unsafe { super::vec::neon::lut(&lut.table, input, out) }
        }
        _ => {
            let _ = (lut, input, out);
            0
        }
    }
}

// ---------------------------------------------------------------------------
// The table constructors, one per operator
// ---------------------------------------------------------------------------

use super::quantize::f32_to_i32_like_tflite;
use super::{check_scale, check_zp};
use crate::fixedpoint::{rounding_divide_by_pot, Requant};

/// TFLite's `LUTPopulateInt8` (common.h), which the reference LOGISTIC and
/// TANH kernels run for int8 and for uint8 (the uint8 table is the same one
/// shifted by 128: `q - zp` and the integer-valued float sums are exact).
fn lut_populate(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32, transform: impl Fn(f32) -> f32) -> Lut {
    // inverse_scale = 1 / output_scale in float.
    let inverse = 1.0f32 / out_scale;
    Lut::from_fn(|q| {
        // dequantized = input_scale * (val - zero_point) in float.
        let x = in_scale * (q - in_zp) as f32;
        // rescaled = TfLiteRound(transformed * inverse_scale); quantized = int32(rescaled + zero_point) in float.
        let rescaled = (transform(x) * inverse).round();
        f32_to_i32_like_tflite(rescaled + out_zp as f32).clamp(-128, 127) as i8
    })
}

fn check_unary(op: &str, in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<(), String> {
    check_scale(&format!("{op} input"), in_scale)?;
    check_scale(&format!("{op} output"), out_scale)?;
    check_zp(&format!("{op} input"), in_zp)?;
    check_zp(&format!("{op} output"), out_zp)
}

impl Lut {
    /// LOGISTIC (activations.cc SigmoidPrepare, kReference): the table of
    /// `1.0f / (1.0f + expf(-x))`; the output scale must be exactly 1/256.
    pub fn logistic(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<Lut, String> {
        check_unary("LOGISTIC", in_scale, in_zp, out_scale, out_zp)?;
        // SigmoidPrepare: TF_LITE_ENSURE(output->params.scale == 1. / 256) (the zero point is not checked).
        if out_scale as f64 != 1.0 / 256.0 {
            return Err(format!("LOGISTIC: output scale {out_scale} is not 1/256"));
        }
        Ok(lut_populate(in_scale, in_zp, out_scale, out_zp, |x| 1.0f32 / (1.0f32 + (-x).exp())))
    }

    /// TANH (activations.cc TanhPrepare, kReference): the table of `tanhf(x)`.
    pub fn tanh(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<Lut, String> {
        check_unary("TANH", in_scale, in_zp, out_scale, out_zp)?;
        Ok(lut_populate(in_scale, in_zp, out_scale, out_zp, f32::tanh))
    }

    /// LEAKY_RELU (activations.cc LeakyReluPrepare + reference_ops::QuantizeLeakyRelu).
    pub fn leaky_relu(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32, alpha: f32) -> Result<Lut, String> {
        check_unary("LEAKY_RELU", in_scale, in_zp, out_scale, out_zp)?;
        if !alpha.is_finite() {
            return Err(format!("LEAKY_RELU: alpha {alpha} is not finite"));
        }
        // alpha_multiplier = input_scale * alpha / output_scale in float, then double.
        let alpha_q = Requant::from_real((in_scale * alpha / out_scale) as f64);
        // identity_multiplier = input_scale / output_scale in float, then double.
        let ident_q = Requant::from_real((in_scale / out_scale) as f64);
        super::check_shift("LEAKY_RELU", alpha_q)?;
        super::check_shift("LEAKY_RELU", ident_q)?;
        Ok(Lut::from_fn(|q| {
            let x = q - in_zp;
            let y = if x >= 0 {
                ident_q.apply(x)
            } else {
                // Negative alpha: the kernel multiplies by |multiplier| and negates the product.
                let m = Requant { multiplier: alpha_q.multiplier.wrapping_abs(), shift: alpha_q.shift };
                let v = m.apply(x);
                if alpha_q.multiplier < 0 {
                    v.wrapping_neg()
                } else {
                    v
                }
            };
            out_zp.wrapping_add(y).clamp(-128, 127) as i8
        }))
    }

    /// HARD_SWISH (activations.cc HardSwishPrepare + reference_ops::HardSwish):
    /// 16-bit fixed-point `x * relu6(x + 3) / 6`.
    pub fn hard_swish(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<Lut, String> {
        check_unary("HARD_SWISH", in_scale, in_zp, out_scale, out_zp)?;
        // All in float as in HardSwishPrepare: hires = (1/128) * input_scale, reluish scale 3/32768.
        let hires_input_scale = (1.0f32 / 128.0f32) * in_scale;
        let reluish_scale = 3.0f32 / 32768.0f32;
        let out_q = Requant::from_real((hires_input_scale / out_scale) as f64);
        let out_m16 = downscale_to_i16(out_q.multiplier);
        let out_exp = out_q.shift;
        // HardSwishPrepare: TF_LITE_ENSURE(output_multiplier_exponent <= 0).
        if out_exp > 0 {
            return Err(format!("HARD_SWISH: output multiplier {} is above 1", hires_input_scale / out_scale));
        }
        let rel_q = Requant::from_real((hires_input_scale / reluish_scale) as f64);
        let rel_m16 = downscale_to_i16(rel_q.multiplier);
        let rel_exp = rel_q.shift;
        Ok(Lut::from_fn(|q| {
            let input_value = (q - in_zp) as i16;
            // input_value * (1 << 7), kept as int16.
            let hires = input_value.wrapping_mul(1 << 7);
            let preshift_out = srdhm16(hires, out_m16);
            let mut reluish = hires;
            if rel_exp > 0 {
                reluish = sat_left_shift16(reluish, rel_exp - 1);
            }
            reluish = srdhm16(reluish, rel_m16);
            if rel_exp > 0 {
                reluish = sat_left_shift16(reluish, 1);
            }
            if rel_exp < 0 {
                reluish = rdbp16(reluish, -rel_exp);
            }
            // (reluish + (1 << 15)) >> 1 in int: maps [-1, 1] to [0, 1].
            reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
            let pre = sdhm16(reluish, preshift_out);
            let out = rdbp16(pre, -out_exp).wrapping_add(out_zp as i16);
            (out as i32).clamp(-128, 127) as i8
        }))
    }
}

/// activations.cc DownScaleInt32ToInt16Multiplier: round to the high 16 bits, saturating.
fn downscale_to_i16(m: i32) -> i16 {
    const ROUND: i32 = 1 << 15;
    if m >= i32::MAX - ROUND {
        return i16::MAX;
    }
    ((m + ROUND) >> 16) as i16
}

/// gemmlowp's int16 SaturatingRoundingDoublingHighMul (nudge ±2^14, division truncating).
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// hard_swish.h SaturatingDoublingHighMul: as above but truncating (SQDMULH).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((a as i32 * b as i32) / (1 << 15)) as i16
}

/// hard_swish.h SaturatingLeftShift on int16.
fn sat_left_shift16(v: i16, amount: i32) -> i16 {
    (v as i64 * (1i64 << amount)).clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// gemmlowp's RoundingDivideByPOT on int16 (same rounding as the int32 one,
/// which computes it exactly on the widened value for exponents ≤ 15).
fn rdbp16(x: i16, e: i32) -> i16 {
    if e >= 16 {
        // The int16 mask wraps to -1 in gemmlowp's Dup<int16>: remainder = x, threshold = -1 + (x < 0).
        let threshold = -1 + i32::from(x < 0);
        return (((x as i32) >> e.min(31)) + i32::from(x as i32 > threshold)) as i16;
    }
    rounding_divide_by_pot(x as i32, e) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    fn all_inputs() -> Vec<i8> {
        (-128..=127).map(|v| v as i8).collect()
    }

    /// Runs the table through qlut on every tier and checks it against `want(q)`.
    fn check(lut: &Lut, want: &dyn Fn(i32) -> i8, what: &str) {
        let input = all_inputs();
        let long: Vec<i8> = (0..5000).map(|i| input[(i * 7 + i / 13) % 256]).collect();
        for_each_exec(&mut |exec| {
            let mut out = vec![0i8; long.len()];
            qlut(exec, lut, &long, &mut out);
            for (&q, &o) in long.iter().zip(&out) {
                assert_eq!(o, want(q as i32), "{what}: q={q} {:?}", exec.isa);
            }
        });
    }

    #[test]
    fn logistic_and_tanh() {
        let mut rng = Rng(0x10);
        for _ in 0..30 {
            let (si, zi) = (rng.scale(0.002, 0.3), rng.zp());
            let zo = rng.zp();
            let l = Lut::logistic(si, zi, 1.0 / 256.0, zo).unwrap();
            // Within one step of the exact function (the float pipeline rounds at most once off).
            let exact = |q: i32| -> f64 { (256.0 / (1.0 + (-(si as f64) * (q - zi) as f64).exp())).round() + zo as f64 };
            for q in -128..=127 {
                let want = exact(q).clamp(-128.0, 127.0);
                assert!((l.get(q as i8) as f64 - want).abs() <= 1.0, "logistic q={q}");
            }
            // And exactly the LUTPopulate float formula.
            check(&l, &|q| ((1.0f32 / (1.0 + (-(si * (q - zi) as f32)).exp()) * 256.0).round() as i32 + zo).clamp(-128, 127) as i8, "logistic");
            let so = rng.scale(0.003, 0.02);
            let t = Lut::tanh(si, zi, so, zo).unwrap();
            check(&t, &|q| (((si * (q - zi) as f32).tanh() * (1.0 / so)).round() as i32 + zo).clamp(-128, 127) as i8, "tanh");
            for q in -128..=127 {
                let want = (((si as f64) * (q - zi) as f64).tanh() / so as f64).round() + zo as f64;
                assert!((t.get(q as i8) as f64 - want.clamp(-128.0, 127.0)).abs() <= 1.0, "tanh q={q}");
            }
        }
        // Monotone, saturating.
        let l = Lut::logistic(0.1, 0, 1.0 / 256.0, -128).unwrap();
        assert_eq!(l.get(-128), -128);
        assert_eq!(l.get(0), 0);
        assert_eq!(l.get(127), 127);
        assert!(Lut::logistic(0.1, 0, 1.0 / 255.0, -128).is_err());
    }

    #[test]
    fn leaky_relu_matches_reference() {
        let mut rng = Rng(0x1eaf);
        for trial in 0..60 {
            let (si, zi, so, zo) = (rng.scale(0.005, 0.5), rng.zp(), rng.scale(0.005, 0.5), rng.zp());
            let alpha = match trial % 4 {
                0 => 0.2,
                1 => 0.01,
                2 => -0.3,
                _ => 1.7,
            };
            let l = Lut::leaky_relu(si, zi, so, zo, alpha).unwrap();
            let (mi, shi) = ref_quantize_multiplier((si / so) as f64);
            let (ma, sha) = ref_quantize_multiplier((si * alpha / so) as f64);
            check(
                &l,
                &|q| {
                    let x = (q - zi) as i64;
                    let y = if x >= 0 { ref_mbqm(x, mi, shi) } else if ma < 0 { -ref_mbqm(x, -ma, sha) } else { ref_mbqm(x, ma, sha) };
                    (y + zo as i64).clamp(-128, 127) as i8
                },
                "leaky_relu",
            );
        }
    }

    /// hard_swish against the float function: the 16-bit fixed-point
    /// pipeline stays within a couple of output steps; plus an i64
    /// transcription of the reference kernel for exactness.
    #[test]
    fn hard_swish_matches_reference() {
        let mut rng = Rng(0x5a15);
        for _ in 0..60 {
            let (si, zi) = (rng.scale(0.01, 0.1), rng.zp());
            let (so, zo) = (rng.scale(0.01, 0.1).max(si / 2.0), rng.zp());
            let l = Lut::hard_swish(si, zi, so, zo).unwrap();
            for q in -128..=127 {
                let x = si as f64 * (q - zi) as f64;
                let f = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
                let want = (f / so as f64).round() + zo as f64;
                assert!((l.get(q as i8) as f64 - want.clamp(-128.0, 127.0)).abs() <= 2.0, "q={q} si={si} so={so} got {} want {want}", l.get(q as i8));
            }
            // i64 transcription.
            let hires = (1.0f32 / 128.0) * si;
            let (om, oe) = ref_quantize_multiplier((hires / so) as f64);
            let (rm, re) = ref_quantize_multiplier((hires / (3.0f32 / 32768.0)) as f64);
            let down = |m: i32| -> i64 { if m as i64 >= i32::MAX as i64 - 32768 { 32767 } else { (m as i64 + 32768) >> 16 } };
            let (om16, rm16) = (down(om), down(rm));
            let srdhm16 = |a: i64, b: i64| -> i64 {
                if a == -32768 && b == -32768 {
                    return 32767;
                }
                // Ties toward +inf, as the 32-bit one.
                (a * b + (1 << 14)).div_euclid(1 << 15)
            };
            let sat16 = |v: i64| v.clamp(-32768, 32767);
            check(
                &l,
                &|q| {
                    let hi = (q - zi) as i64 * 128;
                    let pre = srdhm16(hi, om16);
                    let mut r = hi;
                    if re > 0 {
                        r = sat16(r << (re - 1));
                    }
                    r = srdhm16(r, rm16);
                    if re > 0 {
                        r = sat16(r * 2);
                    }
                    if re < 0 {
                        r = ref_rdbp(r, -re);
                    }
                    r = (r + 32768) >> 1;
                    let prod = r * pre;
                    // Truncating doubling high multiply.
                    let p16 = if prod >= 0 { prod >> 15 } else { -((-prod) >> 15) };
                    (ref_rdbp(p16, -oe) + zo as i64).clamp(-128, 127) as i8
                },
                "hard_swish",
            );
        }
        // Output multiplier above one is refused, as TFLite does.
        assert!(Lut::hard_swish(1.0, 0, 0.001, 0).is_err());
    }
}
