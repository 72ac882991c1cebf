//! Data movement: PAD, CONCATENATION, fp16 → fp32, and where buffers start.
//!
//! The copies are memory-bound: each is reduced to its longest contiguous
//! runs (`copy_from_slice` / `fill`, which the standard library vectorises),
//! with no per-element index arithmetic.

/// Bytes of the line that activations, scratch buffers and packed weights
/// start on: a cache line, an AVX-512 register. A whole-register load or
/// store at a pixel off the line splits across two lines; the depthwise ran
/// 30-40% slower on them.
pub const LINE_BYTES: usize = 64;

/// Elements of `T` in one [`LINE_BYTES`] line.
pub const fn line_elems<T>() -> usize {
    let size = if std::mem::size_of::<T>() == 0 { 1 } else { std::mem::size_of::<T>() };
    if LINE_BYTES / size == 0 { 1 } else { LINE_BYTES / size }
}

/// Elements of `T` from `p` to the first [`LINE_BYTES`] boundary at or after
/// it (`p` aligned to `T`, as every allocation of `T` is).
pub fn to_line<T>(p: *const T) -> usize {
    let line = line_elems::<T>();
    (line - (p as usize / std::mem::size_of::<T>().max(1)) % line) % line
}

/// A zeroed vector with room for `len` elements from a line, and the index
/// of the first of them (on a [`LINE_BYTES`] boundary); empty for `len` 0.
pub fn zeroed_on_line<T: Copy + Default>(len: usize) -> (Vec<T>, usize) {
    if len == 0 {
        return (Vec::new(), 0);
    }
    let v = vec![T::default(); len + line_elems::<T>() - 1];
    let at = to_line(v.as_ptr());
    (v, at)
}

/// Constant padding: `pads[d] = (before, after)` for each dimension of `shape`.
pub fn pad(input: &[f32], shape: &[usize], pads: &[(usize, usize)], value: f32, output: &mut [f32]) {
    assert_eq!(pads.len(), shape.len(), "pad: one (before, after) pair per dimension");
    assert_eq!(input.len(), shape.iter().product::<usize>(), "pad: input length does not match its shape");
    let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
    assert_eq!(output.len(), out_shape.iter().product::<usize>(), "pad: output length does not match the padded shape");
    if output.is_empty() {
        return;
    }
    if input.is_empty() || shape.is_empty() {
        if shape.is_empty() {
            output.copy_from_slice(input);
        } else {
            output.fill(value);
        }
        return;
    }
    // out_stride[d]: elements of one index step of dimension d in the output.
    let mut out_stride = vec![1usize; shape.len()];
    for d in (0..shape.len() - 1).rev() {
        out_stride[d] = out_stride[d + 1] * out_shape[d + 1];
    }
    pad_dim(input, shape, pads, &out_stride, value, output, 0);
}

/// Writes the whole output block of dimension `d` (`output` is exactly
/// `out_shape[d] * out_stride[d]` long; `input` the matching input block).
fn pad_dim(input: &[f32], shape: &[usize], pads: &[(usize, usize)], out_stride: &[usize], value: f32, output: &mut [f32], d: usize) {
    let (before, after) = pads[d];
    let step = out_stride[d];
    let (head, rest) = output.split_at_mut(before * step);
    head.fill(value);
    let (body, tail) = rest.split_at_mut(shape[d] * step);
    tail.fill(value);
    debug_assert_eq!(tail.len(), after * step);
    if d + 1 == shape.len() {
        body.copy_from_slice(input);
        return;
    }
    let in_step = input.len() / shape[d];
    for (i, o) in input.chunks_exact(in_step).zip(body.chunks_exact_mut(step)) {
        pad_dim(i, shape, pads, out_stride, value, o, d + 1);
    }
}

/// Concatenation along `axis`; every input has the output's rank and equal
/// dimensions except along `axis`.
pub fn concat(inputs: &[(&[f32], &[usize])], axis: usize, output: &mut [f32]) {
    let Some(&(_, first)) = inputs.first() else {
        assert!(output.is_empty(), "concat: no inputs for a non-empty output");
        return;
    };
    let rank = first.len();
    assert!(axis < rank, "concat: axis out of range");
    for &(data, shape) in inputs {
        assert_eq!(shape.len(), rank, "concat: ranks differ");
        assert!(shape.iter().zip(first).enumerate().all(|(d, (a, b))| d == axis || a == b), "concat: {shape:?} and {first:?} differ off the axis");
        assert_eq!(data.len(), shape.iter().product::<usize>(), "concat: input length does not match its shape");
    }
    let outer: usize = first[..axis].iter().product();
    let inner: usize = first[axis + 1..].iter().product();
    let total_axis: usize = inputs.iter().map(|(_, s)| s[axis]).sum();
    assert_eq!(output.len(), outer * total_axis * inner, "concat: output length does not match");
    if output.is_empty() {
        return;
    }
    let out_run = total_axis * inner;
    let mut col = 0;
    for &(data, shape) in inputs {
        let run = shape[axis] * inner;
        if run == 0 {
            continue;
        }
        for (o, src) in data.chunks_exact(run).enumerate() {
            output[o * out_run + col..o * out_run + col + run].copy_from_slice(src);
        }
        col += run;
    }
}

/// IEEE half-precision bits → f32 (exact, including subnormals, inf, NaN).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits & 0x8000) as u32) << 16;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let man = (bits & 0x3ff) as u32;
    let magnitude = match (exp, man) {
        (0, 0) => 0,
        // Subnormal: man * 2^-24, exactly representable; normalise it.
        (0, m) => {
            let shift = m.leading_zeros() - 21; // bring the top set bit to bit 10
            let e = 127 - 15 + 1 - shift;
            (e << 23) | (((m << shift) & 0x3ff) << 13)
        }
        // Infinity, or NaN with its payload (quiet bit included) kept.
        (0x1f, m) => 0x7f80_0000 | (m << 13),
        (e, m) => ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// Converts a slice of half-precision values.
pub fn f16_slice_to_f32(bits: &[u16], out: &mut [f32]) {
    assert_eq!(bits.len(), out.len(), "f16_slice_to_f32: lengths differ");
    for (o, &b) in out.iter_mut().zip(bits) {
        *o = f16_to_f32(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::test_util::Rng;
    use proptest::prelude::*;

    #[test]
    fn to_line_is_the_distance_to_the_next_line() {
        for addr in (4096..4096 + 2 * LINE_BYTES).step_by(4) {
            let n = to_line(addr as *const f32);
            assert!(n < LINE_BYTES / 4 && (addr + 4 * n).is_multiple_of(LINE_BYTES), "f32 at {addr}: {n}");
        }
        for addr in 4096..4096 + 2 * LINE_BYTES {
            let n = to_line(addr as *const i8);
            assert!(n < LINE_BYTES && (addr + n).is_multiple_of(LINE_BYTES), "i8 at {addr}: {n}");
        }
        assert_eq!((line_elems::<f32>(), line_elems::<i8>(), line_elems::<i32>()), (16, 64, 16));
        assert_eq!(zeroed_on_line::<f32>(0), (Vec::new(), 0), "nothing to hold, nothing allocated");
        for len in [1, 17, 1000] {
            let (v, at) = zeroed_on_line::<f32>(len);
            assert!(at + len <= v.len() && (v[at..].as_ptr() as usize).is_multiple_of(LINE_BYTES) && v.iter().all(|&x| x == 0.0), "len {len}");
        }
    }

    fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            idx[d] = i % shape[d];
            i /= shape[d];
        }
        idx
    }

    /// Direct definition: each output element looks up its source.
    fn pad_ref(x: &[f32], shape: &[usize], pads: &[(usize, usize)], value: f32) -> Vec<f32> {
        let out_shape: Vec<usize> = shape.iter().zip(pads).map(|(&s, &(b, a))| s + b + a).collect();
        let n: usize = out_shape.iter().product();
        (0..n)
            .map(|i| {
                let idx = unravel(i, &out_shape);
                let mut off = 0;
                for d in 0..shape.len() {
                    let Some(j) = idx[d].checked_sub(pads[d].0).filter(|&j| j < shape[d]) else {
                        return value;
                    };
                    off = off * shape[d] + j;
                }
                x[off]
            })
            .collect()
    }

    fn check_pad(shape: &[usize], pads: &[(usize, usize)]) {
        let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| i as f32 + 1.0).collect();
        let want = pad_ref(&x, shape, pads, -7.5);
        let mut out = vec![f32::NAN; want.len()];
        pad(&x, shape, pads, -7.5, &mut out);
        assert_eq!(out, want, "pad {shape:?} {pads:?}");
    }

    #[test]
    fn pad_ranks_1_to_6() {
        check_pad(&[5], &[(2, 3)]);
        check_pad(&[5], &[(0, 0)]);
        check_pad(&[3, 4], &[(1, 0), (0, 2)]);
        check_pad(&[1, 4, 5, 3], &[(0, 0), (1, 1), (2, 1), (0, 0)]);
        check_pad(&[2, 3, 4, 5], &[(1, 2), (0, 1), (3, 0), (1, 1)]);
        check_pad(&[2, 1, 3, 2, 2], &[(1, 0), (1, 1), (0, 2), (1, 0), (0, 1)]);
        check_pad(&[2, 2, 2, 2, 2, 3], &[(1, 1), (0, 1), (1, 0), (0, 0), (2, 1), (1, 2)]);
        check_pad(&[0, 3], &[(1, 1), (1, 0)]);
        check_pad(&[], &[]);
    }

    fn check_concat(shapes: &[Vec<usize>], axis: usize) {
        let datas: Vec<Vec<f32>> = shapes.iter().enumerate().map(|(k, s)| (0..s.iter().product::<usize>()).map(|i| (k * 1000 + i) as f32).collect()).collect();
        let mut out_shape = shapes[0].clone();
        out_shape[axis] = shapes.iter().map(|s| s[axis]).sum();
        let n: usize = out_shape.iter().product();
        // Reference: element by element, find the input along the axis.
        let want: Vec<f32> = (0..n)
            .map(|i| {
                let mut idx = unravel(i, &out_shape);
                let mut k = 0;
                while idx[axis] >= shapes[k][axis] {
                    idx[axis] -= shapes[k][axis];
                    k += 1;
                }
                let off = idx.iter().zip(&shapes[k]).fold(0, |acc, (&j, &s)| acc * s + j);
                datas[k][off]
            })
            .collect();
        let inputs: Vec<(&[f32], &[usize])> = datas.iter().zip(shapes).map(|(d, s)| (d.as_slice(), s.as_slice())).collect();
        let mut out = vec![f32::NAN; n];
        concat(&inputs, axis, &mut out);
        assert_eq!(out, want, "concat {shapes:?} axis {axis}");
    }

    #[test]
    fn concat_every_axis() {
        let base = [2, 3, 4, 5];
        for axis in 0..4 {
            let shapes: Vec<Vec<usize>> = [1, 3, 2]
                .iter()
                .map(|&k| {
                    let mut s = base.to_vec();
                    s[axis] = k;
                    s
                })
                .collect();
            check_concat(&shapes, axis);
        }
        check_concat(&[vec![2, 0, 3], vec![2, 4, 3], vec![2, 1, 3]], 1);
        check_concat(&[vec![7]], 0);
        check_concat(&[vec![1, 1, 1, 1, 2, 3], vec![1, 1, 1, 1, 2, 5]], 5);
    }

    /// Reference by the formula value = (-1)^s * 2^(e-15) * (1 + m/1024),
    /// subnormals 2^-14 * m/1024, in f64.
    fn f16_ref(bits: u16) -> f64 {
        let s = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = ((bits >> 10) & 0x1f) as i32;
        let m = (bits & 0x3ff) as f64;
        match e {
            0 => s * m / 1024.0 * 2f64.powi(-14),
            31 if m == 0.0 => s * f64::INFINITY,
            31 => f64::NAN,
            _ => s * (1.0 + m / 1024.0) * 2f64.powi(e - 15),
        }
    }

    #[test]
    fn f16_exhaustive() {
        for bits in 0..=u16::MAX {
            let got = f16_to_f32(bits);
            let want = f16_ref(bits);
            if want.is_nan() {
                assert!(got.is_nan(), "{bits:#06x}");
                // Sign and payload survive (shifted into the f32 mantissa).
                assert_eq!(got.to_bits() >> 31, (bits >> 15) as u32, "{bits:#06x} sign");
                assert_eq!((got.to_bits() >> 13) & 0x3ff, (bits & 0x3ff) as u32, "{bits:#06x} payload");
            } else {
                assert_eq!(got as f64, want, "{bits:#06x}");
                assert_eq!(got.is_sign_negative(), bits & 0x8000 != 0, "{bits:#06x} sign");
            }
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        let mut out = [0.0; 3];
        f16_slice_to_f32(&[0x3c00, 0xc000, 0x3555], &mut out);
        assert_eq!(out[..2], [1.0, -2.0]);
        assert!((out[2] - 1.0 / 3.0).abs() < 1e-3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn pad_random(shape in proptest::collection::vec(1usize..5, 1..7), seed in any::<u64>()) {
            let mut rng = Rng(seed | 1);
            let pads: Vec<(usize, usize)> = shape.iter().map(|_| ((rng.next_u32() % 3) as usize, (rng.next_u32() % 3) as usize)).collect();
            check_pad(&shape, &pads);
        }
    }
}
