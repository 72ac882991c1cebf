//! QUANTIZE (f32 → int8 and int8 → int8 requantize) and DEQUANTIZE
//! (int8 → f32), TFLite's `quantize.cc` / `dequantize.cc` reference paths.

use super::lut::{qlut, Lut};
use super::{check_scale, check_zp, par_chunks_mut, ELEMENTWISE_CHUNK};
use crate::fixedpoint::Requant;
use crate::Exec;

/// f32 → int8 with one scale and zero point for the tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QuantizeParams {
    pub fn new(out_scale: f32, out_zp: i32) -> Result<QuantizeParams, String> {
        check_scale("QUANTIZE output", out_scale)?;
        check_zp("QUANTIZE output", out_zp)?;
        Ok(QuantizeParams { scale: out_scale, zero_point: out_zp })
    }

    /// One value, exactly as reference_ops::AffineQuantize.
    #[inline]
    pub fn quantize(&self, x: f32) -> i8 {
        // AffineQuantize: TfLiteRound(val / scale) with the division in f32 (the double scale cast back to float).
        let q = x / self.scale;
        // round() as trunc(q + copysign(0.5 - 2^-25, q)), exact for every float and free of a libm
        // call; the conversion truncates, and |q| ≥ 2^23 is unchanged by the addition.
        let r = q + f32::from_bits(0x3eff_ffff).copysign(q);
        let q = f32_to_i32_like_tflite(r).wrapping_add(self.zero_point);
        q.clamp(-128, 127) as i8
    }
}

/// `static_cast<int32_t>(float)` as the TFLite binary for this target
/// executes it: x86-64's cvttss2si gives i32::MIN for NaN and out-of-range
/// values, aarch64's fcvtzs saturates and maps NaN to 0 (Rust's `as`).
#[inline(always)]
pub(crate) fn f32_to_i32_like_tflite(r: f32) -> i32 {
    if cfg!(target_arch = "x86_64") && !(-2147483648.0..2147483648.0).contains(&r) {
        i32::MIN
    } else {
        r as i32
    }
}

pub fn qquantize(exec: Exec, p: &QuantizeParams, input: &[f32], output: &mut [i8]) {
    assert_eq!(input.len(), output.len(), "QUANTIZE: input and output lengths differ");
    par_chunks_mut(exec, output, ELEMENTWISE_CHUNK, &|start, out| {
        let src = &input[start..start + out.len()];
        let done = match exec.isa {
            #[cfg(target_arch = "x86_64")]
            crate::Isa::Avx512 if exec.isa.is_available() && super::vec512::available() => {
                // SAFETY: AVX-512 F/BW/VL were detected; src and out have the same length.
                unsafe { super::vec512::quantize(p.scale, p.zero_point, src, out) }
            }
            #[cfg(target_arch = "x86_64")]
            crate::Isa::Avx2 | crate::Isa::Avx512 if exec.isa.is_available() => {
                // SAFETY: AVX2 was detected; src and out have the same length.
                unsafe { super::vec::x86::quantize(p.scale, p.zero_point, src, out) }
            }
            #[cfg(target_arch = "aarch64")]
            crate::Isa::Neon if exec.isa.is_available() => {
                // SAFETY: Neon was detected; src and out have the same length.
                unsafe { super::vec::neon::quantize(p.scale, p.zero_point, src, out) }
            }
            _ => 0,
        };
        for (o, &x) in out[done..].iter_mut().zip(&src[done..]) {
            *o = p.quantize(x);
        }
    });
}

/// int8 → int8 with a different scale / zero point (uint8 ↔ int8 requantize
/// arrives here too, after the delegate's shift by 128).
#[derive(Clone, Debug)]
pub struct RequantizeParams {
    pub requant: Requant,
    pub in_zp: i32,
    pub out_zp: i32,
    pub lut: Lut,
}

impl RequantizeParams {
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<RequantizeParams, String> {
        check_scale("QUANTIZE input", in_scale)?;
        check_scale("QUANTIZE output", out_scale)?;
        check_zp("QUANTIZE input", in_zp)?;
        check_zp("QUANTIZE output", out_zp)?;
        // quantize.cc Prepare: effective scale = double(in_scale) / double(out_scale), QuantizeMultiplier.
        let requant = Requant::from_real(in_scale as f64 / out_scale as f64);
        super::check_shift("QUANTIZE", requant)?;
        // reference_ops::Requantize: MultiplyByQuantizedMultiplier(q - in_zp) + out_zp, clamped (the
        // int8↔uint8 xor-0x80 fast path it takes for scale 1 gives the same integers).
        let lut = Lut::from_fn(|q| requant.apply(q - in_zp).wrapping_add(out_zp).clamp(-128, 127) as i8);
        Ok(RequantizeParams { requant, in_zp, out_zp, lut })
    }
}

pub fn qrequantize(exec: Exec, p: &RequantizeParams, input: &[i8], output: &mut [i8]) {
    qlut(exec, &p.lut, input, output);
}

/// int8 → f32.
#[derive(Clone, Debug)]
pub struct DequantizeParams {
    pub scale: f32,
    pub zero_point: i32,
    table: Box<[f32; 256]>,
}

impl DequantizeParams {
    pub fn new(scale: f32, zp: i32) -> Result<DequantizeParams, String> {
        check_scale("DEQUANTIZE input", scale)?;
        check_zp("DEQUANTIZE input", zp)?;
        let mut table = Box::new([0f32; 256]);
        for q in -128i32..=127 {
            // reference_integer_ops::Dequantize: float(double(scale) * (q - zp)).
            table[(q as u8) as usize] = (scale as f64 * (q - zp) as f64) as f32;
        }
        Ok(DequantizeParams { scale, zero_point: zp, table })
    }

    #[inline]
    pub fn dequantize(&self, q: i8) -> f32 {
        self.table[q as u8 as usize]
    }
}

pub fn qdequantize(exec: Exec, p: &DequantizeParams, input: &[i8], output: &mut [f32]) {
    assert_eq!(input.len(), output.len(), "DEQUANTIZE: input and output lengths differ");
    par_chunks_mut(exec, output, ELEMENTWISE_CHUNK, &|start, out| {
        let src = &input[start..start + out.len()];
        for (o, &q) in out.iter_mut().zip(src) {
            *o = p.dequantize(q);
        }
    });
}

/// DEQUANTIZE with one scale and zero point per index of `axis`
/// (TFLite's PerChannelDequantize): `float(scale[c] * (q - zp[c]))`, the
/// f32 product of two exact values, i.e. the real product rounded once.
pub fn qdequantize_per_channel(exec: Exec, scales: &[f32], zps: &[i32], shape: &[usize], axis: usize, input: &[i8], output: &mut [f32]) -> Result<(), String> {
    let _ = exec;
    if axis >= shape.len() {
        return Err(format!("DEQUANTIZE: quantized dimension {axis} out of range for rank {}", shape.len()));
    }
    if scales.len() != shape[axis] || zps.len() != shape[axis] {
        return Err(format!("DEQUANTIZE: {} scales and {} zero points for {} channels", scales.len(), zps.len(), shape[axis]));
    }
    for (&s, &z) in scales.iter().zip(zps) {
        check_scale("DEQUANTIZE input", s)?;
        check_zp("DEQUANTIZE input", z)?;
    }
    assert_eq!(input.len(), shape.iter().product::<usize>(), "DEQUANTIZE: input length does not match its shape");
    assert_eq!(input.len(), output.len(), "DEQUANTIZE: input and output lengths differ");
    let inner: usize = shape[axis + 1..].iter().product();
    let channels = shape[axis];
    if inner == 0 {
        return Ok(());
    }
    for (i, (o, x)) in output.chunks_mut(inner).zip(input.chunks(inner)).enumerate() {
        let ch = i % channels;
        let (s, z) = (scales[ch], zps[ch]);
        for (o, &q) in o.iter_mut().zip(x) {
            *o = s * (q as i32 - z) as f32;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    #[test]
    fn quantize_matches_reference() {
        let mut rng = Rng(77);
        for _ in 0..50 {
            let scale = rng.scale(1e-3, 10.0);
            let zp = rng.zp();
            let p = QuantizeParams::new(scale, zp).unwrap();
            let mut xs: Vec<f32> = (0..1000).map(|_| ((rng.next() % 20001) as f32 - 10000.0) / 10000.0 * scale * 200.0).collect();
            // Exact ties and the extremes.
            xs.extend([0.5 * scale, -0.5 * scale, 1.5 * scale, -2.5 * scale, 1e6 * scale, -1e6 * scale, 0.0, -0.0]);
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; xs.len()];
                qquantize(exec, &p, &xs, &mut out);
                for (&x, &o) in xs.iter().zip(&out) {
                    // Reference: round half away from zero of the f32 quotient, plus zp, clamped (in f64 to avoid overflow).
                    let q = (x / scale) as f64;
                    let r = q.abs().floor() + if q.abs().fract() >= 0.5 { 1.0 } else { 0.0 };
                    let r = if q < 0.0 { -r } else { r };
                    let want = (r + zp as f64).clamp(-128.0, 127.0) as i8;
                    assert_eq!(o, want, "x={x} scale={scale} zp={zp}");
                }
            });
        }
        // Half away from zero, not to even.
        let p = QuantizeParams::new(1.0, 0).unwrap();
        assert_eq!([p.quantize(0.5), p.quantize(-0.5), p.quantize(2.5), p.quantize(-2.5)], [1, -1, 3, -3]);
        // Beyond i32 the conversion is the platform's: x86-64 gives i32::MIN, aarch64 saturates.
        let huge = p.quantize(1e30);
        assert_eq!(huge, if cfg!(target_arch = "x86_64") { -128 } else { 127 });
        assert_eq!(p.quantize(-1e30), -128);
        assert!(QuantizeParams::new(0.0, 0).is_err());
        assert!(QuantizeParams::new(1.0, 128).is_err());
    }

    /// Every tier against the scalar conversion on awkward floats: exact
    /// ties, neighbours of ties, huge values, infinities, NaN, subnormals.
    #[test]
    fn quantize_tiers_agree_on_special_values() {
        let mut xs = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-45, -1e-45, 0.0, -0.0, 3e9, -3e9, 2147483520.0, 2147483648.0, -2147483648.0];
        for k in -300..300 {
            let t = k as f32 + 0.5;
            xs.extend([t, f32::from_bits(t.to_bits() + 1), f32::from_bits(t.to_bits() - 1), k as f32]);
        }
        let mut rng = Rng(11);
        xs.extend((0..200_000).map(|_| f32::from_bits(rng.next() as u32)));
        xs.extend((0..100_000).map(|_| (rng.next() % 1_000_000) as f32 / 1000.0 - 500.0));
        for (scale, zp) in [(1.0f32, 0), (0.5, -128), (0.037, 127), (3.0, 5)] {
            let p = QuantizeParams::new(scale, zp).unwrap();
            // std's round (half away from zero), then the platform's conversion.
            let want: Vec<i8> = xs.iter().map(|&x| f32_to_i32_like_tflite((x / scale).round()).wrapping_add(zp).clamp(-128, 127) as i8).collect();
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; xs.len()];
                qquantize(exec, &p, &xs, &mut out);
                for i in 0..xs.len() {
                    assert_eq!(out[i], want[i], "x={} ({:#x}) scale={scale} zp={zp} {:?}", xs[i], xs[i].to_bits(), exec.isa);
                }
            });
        }
    }

    /// The AVX-512 path multiplies by the reciprocal and divides only near
    /// ties: values a few ulps around every half-integer quotient, at scales
    /// whose reciprocal is inexact, tiny and huge (subnormal reciprocal), must
    /// still give the scalar division's result.
    #[test]
    fn quantize_near_ties_at_awkward_scales() {
        let mut rng = Rng(5);
        let mut scales: Vec<f32> = (0..40).map(|_| rng.scale(1e-4, 50.0)).collect();
        scales.extend([1.0 / 127.5, 1.0 / 255.0, 0.1, 3.0, 1e-30, 1e38, 3e38]);
        for scale in scales {
            for zp in [0, -128, 37] {
                let p = QuantizeParams::new(scale, zp).unwrap();
                let mut xs = Vec::new();
                for k in -200..200 {
                    let x = (k as f32 + 0.5) * scale;
                    for d in -4i32..=4 {
                        xs.push(f32::from_bits((x.to_bits() as i32 + d) as u32));
                    }
                    xs.push(k as f32 * scale);
                }
                xs.extend((0..2000).map(|_| ((rng.next() % 400_001) as f32 - 200_000.0) / 1000.0 * scale));
                let want: Vec<i8> = xs.iter().map(|&x| p.quantize(x)).collect();
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; xs.len()];
                    qquantize(exec, &p, &xs, &mut out);
                    for i in 0..xs.len() {
                        assert_eq!(out[i], want[i], "x={} ({:#x}) scale={scale} zp={zp} {:?}", xs[i], xs[i].to_bits(), exec.isa);
                    }
                });
            }
        }
    }

    #[test]
    fn requantize_matches_reference() {
        let mut rng = Rng(99);
        let input: Vec<i8> = (-128..=127).map(|v| v as i8).collect();
        for i in 0..200 {
            // Multipliers below and above one.
            let (s_in, s_out) = (rng.scale(1e-3, 1.0), rng.scale(1e-3, 1.0));
            let (zi, zo) = (rng.zp(), rng.zp());
            let (s_in, s_out) = if i == 0 { (0.5, 0.5) } else { (s_in, s_out) };
            let p = RequantizeParams::new(s_in, zi, s_out, zo).unwrap();
            let (m, sh) = ref_quantize_multiplier(s_in as f64 / s_out as f64);
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; 256];
                qrequantize(exec, &p, &input, &mut out);
                for (&x, &o) in input.iter().zip(&out) {
                    let want = (ref_mbqm(x as i64 - zi as i64, m, sh) + zo as i64).clamp(-128, 127);
                    assert_eq!(o as i64, want, "x={x} {s_in}/{s_out} zp {zi}->{zo}");
                }
            });
        }
        // A multiplier beyond 2^30 would shift the accumulator out of int32 (undefined in TFLite).
        assert!(RequantizeParams::new(1e6, 0, 1e-6, 0).is_err());
        // uint8 → int8 with the same scale is exactly the xor-0x80 shift: after the delegate's
        // mapping the zero points coincide and requantize is the identity.
        let p = RequantizeParams::new(0.02, 5, 0.02, 5).unwrap();
        for x in -128..=127i32 {
            assert_eq!(p.lut.get(x as i8), x as i8);
        }
    }

    #[test]
    fn per_channel_dequantize() {
        let mut rng = Rng(21);
        let shape = [3usize, 4, 5];
        let input = rng.i8s(60);
        for axis in 0..3 {
            let scales: Vec<f32> = (0..shape[axis]).map(|_| rng.scale(1e-3, 1.0)).collect();
            let zps: Vec<i32> = (0..shape[axis]).map(|_| rng.zp()).collect();
            for_each_exec(&mut |exec| {
                let mut out = vec![0f32; 60];
                qdequantize_per_channel(exec, &scales, &zps, &shape, axis, &input, &mut out).unwrap();
                for i in 0..60 {
                    let c = [i / 20, i / 5 % 4, i % 5][axis];
                    // Double product cast to float, as PerChannelDequantize writes it.
                    assert_eq!(out[i], (scales[c] as f64 * (input[i] as i32 - zps[c]) as f64) as f32);
                }
            });
        }
        let pool = crate::ThreadPool::new(1);
        let exec = Exec { isa: crate::Isa::Scalar, pool: &pool };
        assert!(qdequantize_per_channel(exec, &[0.1; 3], &[0; 3], &shape, 1, &input, &mut [0.0; 60]).is_err());
        assert!(qdequantize_per_channel(exec, &[0.1; 3], &[0; 3], &shape, 3, &input, &mut [0.0; 60]).is_err());
    }

    #[test]
    fn dequantize_matches_reference() {
        let mut rng = Rng(5);
        let input: Vec<i8> = (-128..=127).map(|v| v as i8).collect();
        for _ in 0..50 {
            let (s, z) = (rng.scale(1e-4, 10.0), rng.zp());
            let p = DequantizeParams::new(s, z).unwrap();
            for_each_exec(&mut |exec| {
                let mut out = vec![0f32; 256];
                qdequantize(exec, &p, &input, &mut out);
                for (&x, &o) in input.iter().zip(&out) {
                    // The f32 product of two f32-exact values is the correctly rounded real product.
                    assert_eq!(o, s * (x as i32 - z) as f32, "x={x} s={s} z={z}");
                }
            });
        }
    }
}
