//! MEAN of int8 tensors over any set of axes: TFLite's `reduce.cc`
//! (PrepareMeanOrSum's multiplier, then the kReference path
//! `reference_ops::QuantizedMeanOrSum` with `compute_sum = false`), for int8
//! and uint8 alike (the uint8 sum minus zp·n is the shifted int8 one).

use super::{check_scale, check_shift, check_zp};
use crate::fixedpoint::Requant;
use crate::Exec;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeanParams {
    /// QuantizeMultiplier(double(in_scale) / double(out_scale)).
    pub requant: Requant,
    pub in_zp: i32,
    pub out_zp: i32,
}

impl MeanParams {
    pub fn new(in_scale: f32, in_zp: i32, out_scale: f32, out_zp: i32) -> Result<MeanParams, String> {
        check_scale("MEAN input", in_scale)?;
        check_scale("MEAN output", out_scale)?;
        check_zp("MEAN input", in_zp)?;
        check_zp("MEAN output", out_zp)?;
        // PrepareMeanOrSum: real_multiplier = double(input scale) / double(output scale).
        let requant = Requant::from_real(in_scale as f64 / out_scale as f64);
        check_shift("MEAN", requant)?;
        Ok(MeanParams { requant, in_zp, out_zp })
    }

    /// The output stage for a sum of `n` raw values, exactly as QuantizedMeanOrSum.
    pub fn finish(&self, sum: i32, n: usize) -> i8 {
        let (m, s) = self.mean_multiplier(n);
        self.finish_with(Requant { multiplier: m, shift: s }, sum, n)
    }

    /// [`MeanParams::finish`] with `mean_multiplier(n)` computed once by the caller.
    fn finish_with(&self, r: Requant, sum: i32, n: usize) -> i8 {
        // temp_sum - input_zero_point * num_elements_in_axis in 64 bits, cast back to int32.
        let shifted = (sum as i64 - self.in_zp as i64 * n as i64) as i32;
        // + output_zero_point wraps like the C int addition on the targets TFLite runs on.
        r.apply(shifted).wrapping_add(self.out_zp).clamp(-128, 127) as i8
    }

    /// The multiplier with 1/n folded in: shift = min(floor(log2 n), 32, 31 + output_shift),
    /// multiplier = (multiplier << shift) / n in int64 (truncating), exponent reduced by shift.
    pub fn mean_multiplier(&self, n: usize) -> (i32, i32) {
        let n = n as u64;
        let shift = (63 - n.leading_zeros() as i32).min(32).min(31 + self.requant.shift);
        let m = (((self.requant.multiplier as i64) << shift) / n as i64) as i32;
        (m, self.requant.shift - shift)
    }
}

/// The input shape split into runs of reduced / kept dims.
fn output_shape(in_shape: &[usize], axes: &[i32]) -> Result<(Vec<bool>, Vec<usize>), String> {
    let nd = in_shape.len() as i32;
    let mut reduced = vec![false; in_shape.len()];
    for &a in axes {
        // ResolveAxis: negative axes count from the end; duplicates are reduced once.
        let r = if a < 0 { a + nd } else { a };
        if r < 0 || r >= nd {
            return Err(format!("MEAN: axis {a} out of range for rank {nd}"));
        }
        reduced[r as usize] = true;
    }
    let out = in_shape.iter().zip(&reduced).filter(|(_, &r)| !r).map(|(&d, _)| d).collect();
    Ok((reduced, out))
}

/// MEAN over `axes` (negative allowed, duplicates ignored). The output holds
/// the kept dimensions in order (keep_dims changes only the shape, not the data).
pub fn qmean(exec: Exec, p: &MeanParams, in_shape: &[usize], input: &[i8], axes: &[i32], output: &mut [i8]) -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    let avx512 = exec.isa == crate::Isa::Avx512 && exec.isa.is_available() && super::vec512::available();
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = {
        let _ = exec;
        false
    };
    let (reduced, out_shape) = output_shape(in_shape, axes)?;
    assert_eq!(input.len(), in_shape.iter().product::<usize>(), "MEAN: input length does not match its shape");
    assert_eq!(output.len(), out_shape.iter().product::<usize>(), "MEAN: output length does not match the reduced shape");
    let n: usize = in_shape.iter().zip(&reduced).filter(|(_, &r)| r).map(|(&d, _)| d).product();
    if input.is_empty() || n == 0 {
        // An empty input leaves the zero-initialised output.
        output.fill(0);
        return Ok(());
    }
    // Merge neighbouring dims of the same kind; then walk the input once,
    // adding contiguous runs into the sums of the outputs they map to.
    let mut dims: Vec<(usize, bool)> = Vec::new();
    for (&d, &r) in in_shape.iter().zip(&reduced) {
        if d == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(last) if last.1 == r => last.0 *= d,
            _ => dims.push((d, r)),
        }
    }
    let mut sums = vec![0i32; output.len()];
    if dims.is_empty() {
        sums[0] = input[0] as i32;
    } else {
        // Output stride of each merged dim (0 for reduced ones).
        let mut ostride = vec![0usize; dims.len()];
        let mut acc = 1;
        for i in (0..dims.len()).rev() {
            if !dims[i].1 {
                ostride[i] = acc;
                acc *= dims[i].0;
            }
        }
        let (inner, inner_reduced) = *dims.last().unwrap();
        let outer = &dims[..dims.len() - 1];
        for (r, run) in input.chunks_exact(inner).enumerate() {
            let (mut rem, mut off) = (r, 0);
            for i in (0..outer.len()).rev() {
                off += (rem % outer[i].0) * ostride[i];
                rem /= outer[i].0;
            }
            if inner_reduced {
                // AddTensorValuesWithExpectedOverflow: int32 wrap-around.
                sums[off] = sums[off].wrapping_add(sum_run(avx512, run));
            } else {
                accumulate(avx512, &mut sums[off..off + inner], run);
            }
        }
    }
    // The multiplier with 1/n folded in is the same for every output.
    let (m, s) = p.mean_multiplier(n);
    let r = Requant { multiplier: m, shift: s };
    #[cfg(target_arch = "x86_64")]
    if avx512 && m >= 0 && (-31..32).contains(&s) {
        let zpn = (p.in_zp as i64 * n as i64) as i32;
        // SAFETY: AVX-512 F/BW/VL were detected; output has one value per sum; the
        // multiplier and shift were just checked.
        unsafe { super::vec512::mean_finish(&sums, zpn, r, p.out_zp, output) };
        return Ok(());
    }
    for (o, &s) in output.iter_mut().zip(&sums) {
        *o = p.finish_with(r, s, n);
    }
    Ok(())
}

/// The sum of a run with int32 wrap-around (`avx512`: AVX-512 F/BW/VL were detected).
fn sum_run(avx512: bool, run: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        // SAFETY: AVX-512 F/BW/VL were detected (qmean's `avx512`).
        return unsafe { super::vec512::sum_run(run) };
    }
    let _ = avx512;
    run.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32))
}

/// `sums[j] += run[j]` with int32 wrap-around (`avx512`: AVX-512 F/BW/VL were detected).
fn accumulate(avx512: bool, sums: &mut [i32], run: &[i8]) {
    #[cfg(target_arch = "x86_64")]
    if avx512 {
        // SAFETY: AVX-512 F/BW/VL were detected (qmean's `avx512`); the run is as long as the sums.
        return unsafe { super::vec512::accumulate(sums, run) };
    }
    let _ = avx512;
    for (s, &v) in sums.iter_mut().zip(run) {
        *s = s.wrapping_add(v as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    /// Which dimensions `axes` reduce (negative axes count from the end).
    fn reduced(nd: usize, axes: &[i32]) -> Vec<bool> {
        (0..nd).map(|d| axes.iter().any(|&a| (if a < 0 { a + nd as i32 } else { a }) as usize == d)).collect()
    }

    fn out_len(shape: &[usize], axes: &[i32]) -> usize {
        let red = reduced(shape.len(), axes);
        (0..shape.len()).filter(|&d| !red[d]).map(|d| shape[d]).product()
    }

    /// The reference: for every output coordinate its inputs summed in i64,
    /// then TFLite reduce.h's output stage written out in i64, with the
    /// reference's int32 wrap-arounds (the shifted sum and the left shift).
    fn ref_qmean(shape: &[usize], axes: &[i32], input: &[i8], si: f32, so: f32, p: &MeanParams) -> Vec<i8> {
        let nd = shape.len();
        let red = reduced(nd, axes);
        let n: usize = (0..nd).filter(|&d| red[d]).map(|d| shape[d]).product();
        let mut sums = vec![0i64; out_len(shape, axes)];
        for (i, &v) in input.iter().enumerate() {
            let (mut rem, mut off, mut stride) = (i, 0, 1);
            for d in (0..nd).rev() {
                let c = rem % shape[d];
                rem /= shape[d];
                if !red[d] {
                    off += c * stride;
                    stride *= shape[d];
                }
            }
            sums[off] += v as i64;
        }
        let (m0, s0) = ref_quantize_multiplier(si as f64 / so as f64);
        let shift = ((n as f64).log2().floor() as i32).min(32).min(31 + s0);
        let m = (((m0 as i64) << shift) / n as i64) as i32;
        let e = s0 - shift;
        sums.iter()
            .map(|&s| {
                let x = (s - p.in_zp as i64 * n as i64) as i32;
                let v = ref_mbqm(x.wrapping_shl(e.max(0) as u32) as i64, m, e.min(0)) as i32;
                v.wrapping_add(p.out_zp).clamp(-128, 127) as i8
            })
            .collect()
    }

    #[test]
    fn mean_matches_reference() {
        let mut rng = Rng(0x3ea);
        let cases: &[(&[usize], &[i32])] = &[
            (&[1, 7, 7, 32], &[1, 2]),
            (&[2, 5, 3, 17], &[-3, 2]),
            (&[2, 3, 4], &[0]),
            (&[2, 3, 4], &[2]),
            (&[2, 3, 4], &[0, 2]),
            (&[2, 3, 4], &[0, 1, 2]),
            (&[4, 1, 6], &[1]),
            (&[3, 5], &[1, 1, -1]),
            (&[1, 1, 300, 2], &[2]),
            (&[1, 13, 13, 3], &[1, 2]),
        ];
        for &(shape, axes) in cases {
            for trial in 0..6 {
                // Multipliers below and above one.
                let (si, so) = if trial == 0 { (0.1, 0.1) } else { (rng.scale(0.005, 0.5), rng.scale(0.005, 0.5)) };
                let (zi, zo) = (rng.zp(), rng.zp());
                let p = MeanParams::new(si, zi, so, zo).unwrap();
                let input = if trial == 5 { vec![-128i8; shape.iter().product()] } else { rng.i8s(shape.iter().product()) };
                let olen: usize = out_len(shape, axes);
                let want = ref_qmean(shape, axes, &input, si, so, &p);
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; olen];
                    qmean(exec, &p, shape, &input, axes, &mut out).unwrap();
                    assert_eq!(out, want, "{shape:?} {axes:?} {si}/{so} zp {zi}->{zo}");
                });
            }
        }
        let p = MeanParams::new(0.1, 0, 0.1, 0).unwrap();
        let pool = crate::ThreadPool::new(1);
        assert!(qmean(Exec { isa: crate::Isa::Scalar, pool: &pool }, &p, &[2, 2], &[0; 4], &[2], &mut [0; 2]).is_err());
    }

    /// Kept runs of every length around the 16/32-lane steps, reduced runs
    /// around 64 bytes, odd channel counts, extreme zero points and scale
    /// ratios (left shifts up to the limit, long right shifts), against the
    /// same i64 reference as above.
    #[test]
    fn mean_lengths_and_extreme_scales() {
        let mut rng = Rng(0x3eb);
        let cases: Vec<(Vec<usize>, Vec<i32>)> = (1..=70)
            .map(|c| (vec![1, 3, 2, c], vec![1, 2]))
            .chain([1, 2, 63, 64, 65, 127, 129, 300].iter().map(|&k| (vec![3, k], vec![1])))
            .chain([(vec![7, 7, 1280], vec![0, 1]), (vec![2, 5, 3, 17], vec![0, 3]), (vec![1, 257, 3], vec![1])])
            .collect();
        let scales = [(0.1f32, 0.1f32), (1.0, 1.0e-9), (0.5, 2.0e-9), (1.0e-6, 1.0), (0.02, 0.0199), (3.0, 0.001)];
        for (ci, (shape, axes)) in cases.iter().enumerate() {
            let (si, so) = scales[ci % scales.len()];
            let Ok(p) = MeanParams::new(si, [-128, 127, 0, 37][ci % 4], so, [127, -128, -5][ci % 3]) else {
                continue;
            };
            let input = if ci % 5 == 4 { vec![[-128i8, 127][ci % 2]; shape.iter().product()] } else { rng.i8s(shape.iter().product()) };
            let olen = out_len(shape, axes);
            let want = ref_qmean(shape, axes, &input, si, so, &p);
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; olen];
                qmean(exec, &p, shape, &input, axes, &mut out).unwrap();
                assert_eq!(out, want, "{shape:?} {axes:?} {si}/{so} {:?}", exec.isa);
            });
        }
    }
}
