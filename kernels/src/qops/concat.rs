//! CONCATENATION of int8 tensors: TFLite's `concatenation.cc`. For int8,
//! Prepare requires every input to share the output's scale and zero point
//! (the kernel is a copy); for uint8 the reference kernel is
//! `ConcatenationWithScaling`, which requantizes each input whose scale or
//! zero point differs with float arithmetic (a per-input 256-entry table here).

use super::lut::Lut;
use super::{check_scale, check_zp};
use crate::Exec;

#[derive(Clone, Debug)]
pub struct ConcatParams {
    /// Per input: `None` to copy, or the table mapping its values to the output's.
    pub rescale: Vec<Option<Lut>>,
}

impl ConcatParams {
    pub fn new(in_scales: &[f32], in_zps: &[i32], out_scale: f32, out_zp: i32, uint8: bool) -> Result<ConcatParams, String> {
        if in_scales.len() != in_zps.len() || in_scales.is_empty() {
            return Err("CONCATENATION: one scale and zero point per input".into());
        }
        check_scale("CONCATENATION output", out_scale)?;
        check_zp("CONCATENATION output", out_zp)?;
        let mut rescale = Vec::with_capacity(in_scales.len());
        for (i, (&s, &z)) in in_scales.iter().zip(in_zps).enumerate() {
            check_scale("CONCATENATION input", s)?;
            check_zp("CONCATENATION input", z)?;
            if s == out_scale && z == out_zp {
                rescale.push(None);
            } else if !uint8 {
                // concatenation.cc Prepare: int8 inputs must match the output's scale and zero point.
                return Err(format!("CONCATENATION: int8 input {i} has quantization ({s}, {z}) but the output ({out_scale}, {out_zp}); TFLite requires them equal"));
            } else {
                // ConcatenationWithScaling on uint8: inverse = 1.f / out_scale, scale = in_scale * inverse,
                // bias = -in_zp * scale (all float), value = round(q * scale + bias) + out_zp, clamped to [0, 255].
                let inverse = 1.0f32 / out_scale;
                let scale = s * inverse;
                let (zu, ozu) = (z + 128, out_zp + 128);
                let bias = -(zu as f32) * scale;
                rescale.push(Some(Lut::from_fn(|q| {
                    let u = (q + 128) as f32;
                    let v = super::quantize::f32_to_i32_like_tflite((u * scale + bias).round()).wrapping_add(ozu);
                    (v.clamp(0, 255) - 128) as i8
                })));
            }
        }
        Ok(ConcatParams { rescale })
    }
}

/// Concatenates along `axis`; every input has the output's rank and dims
/// except along `axis`.
pub fn qconcat(exec: Exec, p: &ConcatParams, in_shapes: &[&[usize]], inputs: &[&[i8]], axis: usize, output: &mut [i8]) {
    let _ = exec;
    assert_eq!(in_shapes.len(), inputs.len(), "CONCATENATION: one shape per input");
    assert_eq!(inputs.len(), p.rescale.len(), "CONCATENATION: params were built for another input count");
    let rank = in_shapes[0].len();
    assert!(axis < rank, "CONCATENATION: axis out of range");
    for (s, x) in in_shapes.iter().zip(inputs) {
        assert_eq!(s.len(), rank, "CONCATENATION: inputs differ in rank");
        assert_eq!(x.len(), s.iter().product::<usize>(), "CONCATENATION: input length does not match its shape");
        for d in 0..rank {
            assert!(d == axis || s[d] == in_shapes[0][d], "CONCATENATION: inputs differ off the axis");
        }
    }
    let outer: usize = in_shapes[0][..axis].iter().product();
    let inner: usize = in_shapes[0][axis + 1..].iter().product();
    let total_axis: usize = in_shapes.iter().map(|s| s[axis]).sum();
    assert_eq!(output.len(), outer * total_axis * inner, "CONCATENATION: output length does not match");
    let mut off = 0;
    for k in 0..outer {
        for (i, (s, x)) in in_shapes.iter().zip(inputs).enumerate() {
            let n = s[axis] * inner;
            let src = &x[k * n..(k + 1) * n];
            let dst = &mut output[off..off + n];
            match &p.rescale[i] {
                None => dst.copy_from_slice(src),
                Some(lut) => {
                    for (o, &q) in dst.iter_mut().zip(src) {
                        *o = lut.get(q);
                    }
                }
            }
            off += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    #[test]
    fn concat_matches_reference() {
        let mut rng = Rng(4242);
        let cases: &[(&[&[usize]], usize)] = &[
            (&[&[1, 2, 2, 3], &[1, 2, 2, 5]], 3),
            (&[&[2, 3], &[2, 1], &[2, 4]], 1),
            (&[&[1, 4], &[3, 4]], 0),
            (&[&[2, 1, 3, 2], &[2, 4, 3, 2], &[2, 2, 3, 2]], 1),
            (&[&[5]], 0),
        ];
        for &(shapes, axis) in cases {
            let inputs: Vec<Vec<i8>> = shapes.iter().map(|s| rng.i8s(s.iter().product())).collect();
            let refs: Vec<&[i8]> = inputs.iter().map(|v| v.as_slice()).collect();
            let outer: usize = shapes[0][..axis].iter().product();
            let inner: usize = shapes[0][axis + 1..].iter().product();
            let total: usize = outer * inner * shapes.iter().map(|s| s[axis]).sum::<usize>();
            for uint8 in [false, true] {
                let (out_s, out_z) = (0.05f32, rng.zp());
                let (scales, zps): (Vec<f32>, Vec<i32>) = if uint8 {
                    shapes.iter().enumerate().map(|(i, _)| if i == 0 { (out_s, out_z) } else { (rng.scale(0.01, 0.2), rng.zp()) }).unzip()
                } else {
                    shapes.iter().map(|_| (out_s, out_z)).unzip()
                };
                let p = ConcatParams::new(&scales, &zps, out_s, out_z, uint8).unwrap();
                // Reference: walk the output and requantize with the uint8 formula in f32 where needed.
                let mut want = Vec::with_capacity(total);
                for k in 0..outer {
                    for (i, s) in shapes.iter().enumerate() {
                        let n = s[axis] * inner;
                        for &q in &inputs[i][k * n..(k + 1) * n] {
                            if scales[i] == out_s && zps[i] == out_z {
                                want.push(q);
                            } else {
                                let sc = scales[i] * (1.0f32 / out_s);
                                let bias = -((zps[i] + 128) as f32) * sc;
                                let v = (((q as i32 + 128) as f32 * sc + bias) as f64).round() as i64 + out_z as i64 + 128;
                                want.push((v.clamp(0, 255) - 128) as i8);
                            }
                        }
                    }
                }
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; total];
                    qconcat(exec, &p, shapes, &refs, axis, &mut out);
                    assert_eq!(out, want, "{shapes:?} axis {axis} uint8={uint8}");
                });
            }
        }
        // int8 with differing quantization: TFLite's Prepare refuses it.
        assert!(ConcatParams::new(&[0.1, 0.2], &[0, 0], 0.1, 0, false).is_err());
        assert!(ConcatParams::new(&[0.1, 0.2], &[0, 0], 0.1, 0, true).is_ok());
    }
}
