//! PAD / PADV2 over int8 ND tensors: TFLite's `pad.cc` (`EvalInt`): the
//! input is copied unchanged and the border filled with the output zero
//! point (PAD), or with the constant operand (PADV2), which TFLite requires
//! to share the output's scale and zero point.

use super::{check_scale, check_zp};
use crate::Exec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PadParams {
    pub pad_value: i8,
}

impl PadParams {
    /// `constant`: PADV2's `(value, scale, zero_point)`.
    pub fn new(out_scale: f32, out_zp: i32, constant: Option<(i8, f32, i32)>) -> Result<PadParams, String> {
        check_scale("PAD output", out_scale)?;
        check_zp("PAD output", out_zp)?;
        let pad_value = match constant {
            None => out_zp as i8,
            Some((v, s, z)) => {
                if s != out_scale || z != out_zp {
                    return Err(format!("PADV2: constant quantization ({s}, {z}) differs from the output's ({out_scale}, {out_zp})"));
                }
                v
            }
        };
        Ok(PadParams { pad_value })
    }
}

/// Output shape `in_shape[d] + before + after` per dimension.
pub fn qpad(exec: Exec, p: &PadParams, in_shape: &[usize], input: &[i8], paddings: &[(usize, usize)], output: &mut [i8]) {
    let _ = exec;
    assert_eq!(in_shape.len(), paddings.len(), "PAD: one (before, after) pair per dimension");
    assert_eq!(input.len(), in_shape.iter().product::<usize>(), "PAD: input length does not match its shape");
    let out_shape: Vec<usize> = in_shape.iter().zip(paddings).map(|(&d, &(a, b))| d + a + b).collect();
    assert_eq!(output.len(), out_shape.iter().product::<usize>(), "PAD: output length does not match the padded shape");
    output.fill(p.pad_value);
    if input.is_empty() {
        return;
    }
    if in_shape.is_empty() {
        output[0] = input[0];
        return;
    }
    let nd = in_shape.len();
    let inner = in_shape[nd - 1];
    // Output strides.
    let mut ostride = vec![1usize; nd];
    for d in (0..nd - 1).rev() {
        ostride[d] = ostride[d + 1] * out_shape[d + 1];
    }
    let rows = input.len() / inner;
    for (r, src) in input.chunks_exact(inner).enumerate().take(rows) {
        // Coordinates of this input row, shifted by the leading padding.
        let (mut rem, mut off) = (r, paddings[nd - 1].0);
        for d in (0..nd - 1).rev() {
            let i = rem % in_shape[d];
            rem /= in_shape[d];
            off += (i + paddings[d].0) * ostride[d];
        }
        output[off..off + inner].copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    type Case<'a> = (&'a [usize], &'a [(usize, usize)]);

    #[test]
    fn pad_matches_reference() {
        let mut rng = Rng(31);
        let cases: &[Case] = &[
            (&[1, 3, 4, 5], &[(0, 0), (1, 2), (2, 1), (0, 0)]),
            (&[2, 3], &[(1, 1), (0, 3)]),
            (&[4], &[(2, 5)]),
            (&[1, 2, 2, 3], &[(1, 0), (0, 0), (0, 0), (2, 2)]),
            (&[2, 1, 3, 1, 2], &[(0, 1), (1, 1), (0, 0), (2, 0), (1, 1)]),
            (&[0, 2], &[(1, 1), (0, 0)]),
        ];
        for &(shape, pads) in cases {
            let input = rng.i8s(shape.iter().product());
            let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&d, &(a, b))| d + a + b).collect();
            let n: usize = out_shape.iter().product();
            for (zp, constant) in [(-128, None), (17, None), (3, Some((-77i8, 0.5f32, 3)))] {
                let p = PadParams::new(0.5, zp, constant).unwrap();
                // Reference: for each output coordinate, the input element or the pad value.
                let want: Vec<i8> = (0..n)
                    .map(|i| {
                        let mut rem = i;
                        let mut coords = vec![0; shape.len()];
                        for d in (0..shape.len()).rev() {
                            coords[d] = rem % out_shape[d];
                            rem /= out_shape[d];
                        }
                        let mut off = 0;
                        for d in 0..shape.len() {
                            let c = coords[d] as i64 - pads[d].0 as i64;
                            if c < 0 || c >= shape[d] as i64 {
                                return constant.map(|c| c.0).unwrap_or(zp as i8);
                            }
                            off = off * shape[d] + c as usize;
                        }
                        input[off]
                    })
                    .collect();
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; n];
                    qpad(exec, &p, shape, &input, pads, &mut out);
                    assert_eq!(out, want, "{shape:?} {pads:?} zp={zp}");
                });
            }
        }
        assert!(PadParams::new(0.5, 3, Some((1, 0.25, 3))).is_err());
    }
}
