//! ADD, SUB and MUL over int8 with numpy broadcasting and a fused
//! activation range: TFLite's `add.cc` / `sub.cc` / `mul.cc` Prepare and the
//! reference kernels they run (`reference_integer_ops::Add` /
//! `BroadcastAdd6DSlow`, `reference_ops::SubWithActivation`-style
//! `BroadcastQuantSubSlow`, `reference_integer_ops::Mul` /
//! `BroadcastMul6DSlow`; the uint8 versions compute the same integers on the
//! shifted values).
//!
//! ADD/SUB rescale each input to a common scale with 20 bits of headroom;
//! as that step depends on one int8 input only, it is a 256-entry i32 table
//! per input built at `new`, and the kernel is two lookups, one add and the
//! output requantization per element.

use super::{broadcast_shape, check_scale, check_zp, clamp_i8, par_chunks_mut};
use crate::fixedpoint::Requant;
use super::vec::{AddSubVec, MulVec, Src};
use crate::{Exec, Isa};

/// ADD and SUB share their Prepare: the inputs' rescaling tables and the
/// output stage.
#[derive(Clone, Debug)]
pub struct AddSubCore {
    /// `MultiplyByQuantizedMultiplierSmallerThanOneExp((q - zp_a) << 20, m_a, s_a)` by `q as u8`.
    pub a_table: Box<[i32; 256]>,
    pub b_table: Box<[i32; 256]>,
    /// The same tables as byte planes, `planes[side][p][i]` byte `p` of
    /// `side`'s entry `i` (the vector kernels look up each byte).
    pub planes: Box<[[[u8; 256]; 4]; 2]>,
    pub a_requant: Requant,
    pub b_requant: Requant,
    pub out_requant: Requant,
    pub out_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub a_zp: i32,
    pub b_zp: i32,
}

/// The shift TFLite applies to 8-bit inputs before rescaling them (add.cc, sub.cc).
const LEFT_SHIFT: i32 = 20;

impl AddSubCore {
    fn new(op: &str, a_scale: f32, a_zp: i32, b_scale: f32, b_zp: i32, out_scale: f32, out_zp: i32, act_min: i32, act_max: i32) -> Result<AddSubCore, String> {
        check_scale(&format!("{op} input 1"), a_scale)?;
        check_scale(&format!("{op} input 2"), b_scale)?;
        check_scale(&format!("{op} output"), out_scale)?;
        check_zp(&format!("{op} input 1"), a_zp)?;
        check_zp(&format!("{op} input 2"), b_zp)?;
        check_zp(&format!("{op} output"), out_zp)?;
        check_act(op, act_min, act_max)?;
        // add.cc/sub.cc Prepare: twice_max_input_scale = 2 * max(float, float), held as double.
        let twice_max = (2.0 * a_scale.max(b_scale)) as f64;
        // real_input_multiplier = float scale / double.
        let real_a = a_scale as f64 / twice_max;
        let real_b = b_scale as f64 / twice_max;
        // real_output_multiplier = double / ((1 << 20) * float), the denominator a float product.
        let real_out = twice_max / (((1 << LEFT_SHIFT) as f32 * out_scale) as f64);
        let a_requant = smaller_than_one(op, "input 1", real_a)?;
        let b_requant = smaller_than_one(op, "input 2", real_b)?;
        // add.cc aborts (QuantizeMultiplierSmallerThanOneExp's CHECK) when the output multiplier
        // reaches 1; sub.cc then takes QuantizeMultiplierGreaterThanOne but its kernel right-shifts
        // by a negative amount (undefined in C++): both are refused here.
        let out_requant = smaller_than_one(op, "output", real_out)?;
        let table = |zp: i32, r: Requant| {
            let mut t = Box::new([0i32; 256]);
            for q in -128i32..=127 {
                // (q + input_offset) * (1 << left_shift), then MultiplyByQuantizedMultiplierSmallerThanOneExp.
                t[(q as i8) as u8 as usize] = r.apply((q - zp) * (1 << LEFT_SHIFT));
            }
            t
        };
        let (a_table, b_table) = (table(a_zp, a_requant), table(b_zp, b_requant));
        let mut planes = Box::new([[[0u8; 256]; 4]; 2]);
        for (side, t) in planes.iter_mut().zip([&a_table, &b_table]) {
            for (p, plane) in side.iter_mut().enumerate() {
                for (byte, &v) in plane.iter_mut().zip(t.iter()) {
                    *byte = (v >> (8 * p)) as u8;
                }
            }
        }
        Ok(AddSubCore { a_table, b_table, planes, a_requant, b_requant, out_requant, out_zp, act_min, act_max, a_zp, b_zp })
    }

    fn vec(&self, sub: bool) -> AddSubVec<'_> {
        AddSubVec { planes: &self.planes, a: self.a_requant.into(), b: self.b_requant.into(), out: self.out_requant.into(), a_zp: self.a_zp, b_zp: self.b_zp, out_zp: self.out_zp, min: self.act_min, max: self.act_max, sub }
    }

    #[inline(always)]
    fn finish(&self, raw: i32) -> i8 {
        clamp_i8(self.out_requant.apply(raw) + self.out_zp, self.act_min, self.act_max)
    }
}

/// TFLite's QuantizeMultiplierSmallerThanOneExp: QuantizeMultiplier with its
/// CHECKs that the real value is in (0, 1) and the exponent is ≤ 0.
fn smaller_than_one(op: &str, what: &str, real: f64) -> Result<Requant, String> {
    let r = Requant::from_real(real);
    if !(real > 0.0 && real < 1.0) || r.shift > 0 {
        return Err(format!("{op}: {what} rescale multiplier {real} is not below 1 (TFLite rejects these scales)"));
    }
    Ok(r)
}

fn check_act(op: &str, act_min: i32, act_max: i32) -> Result<(), String> {
    if -128 <= act_min && act_min <= act_max && act_max <= 127 {
        Ok(())
    } else {
        Err(format!("{op}: activation range [{act_min}, {act_max}] is not an int8 range"))
    }
}

/// ADD: `out = clamp(zp_o + R_o(R_a((a - zp_a) << 20) + R_b((b - zp_b) << 20)))`.
#[derive(Clone, Debug)]
pub struct AddParams {
    pub core: AddSubCore,
}

impl AddParams {
    pub fn new(a_scale: f32, a_zp: i32, b_scale: f32, b_zp: i32, out_scale: f32, out_zp: i32, act_min: i32, act_max: i32) -> Result<AddParams, String> {
        Ok(AddParams { core: AddSubCore::new("ADD", a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, act_min, act_max)? })
    }
}

/// SUB: as ADD with the rescaled second input subtracted.
#[derive(Clone, Debug)]
pub struct SubParams {
    pub core: AddSubCore,
}

impl SubParams {
    pub fn new(a_scale: f32, a_zp: i32, b_scale: f32, b_zp: i32, out_scale: f32, out_zp: i32, act_min: i32, act_max: i32) -> Result<SubParams, String> {
        Ok(SubParams { core: AddSubCore::new("SUB", a_scale, a_zp, b_scale, b_zp, out_scale, out_zp, act_min, act_max)? })
    }
}

/// MUL: `out = clamp(zp_o + MultiplyByQuantizedMultiplier((a - zp_a)(b - zp_b), M))`.
#[derive(Clone, Debug)]
pub struct MulParams {
    pub requant: Requant,
    pub a_zp: i32,
    pub b_zp: i32,
    pub out_zp: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl MulParams {
    pub fn new(a_scale: f32, a_zp: i32, b_scale: f32, b_zp: i32, out_scale: f32, out_zp: i32, act_min: i32, act_max: i32) -> Result<MulParams, String> {
        check_scale("MUL input 1", a_scale)?;
        check_scale("MUL input 2", b_scale)?;
        check_scale("MUL output", out_scale)?;
        check_zp("MUL input 1", a_zp)?;
        check_zp("MUL input 2", b_zp)?;
        check_zp("MUL output", out_zp)?;
        check_act("MUL", act_min, act_max)?;
        // mul.cc Prepare: input1_scale * input2_scale / output_scale evaluated in float, then widened to double.
        let real = (a_scale * b_scale / out_scale) as f64;
        let requant = Requant::from_real(real);
        if requant.shift > 15 {
            return Err(format!("MUL: multiplier {real} is too large"));
        }
        Ok(MulParams { requant, a_zp, b_zp, out_zp, act_min, act_max })
    }

    #[inline(always)]
    pub fn one(&self, a: i8, b: i8) -> i8 {
        let prod = (a as i32 - self.a_zp) * (b as i32 - self.b_zp);
        clamp_i8(self.out_zp + self.requant.apply(prod), self.act_min, self.act_max)
    }
}

/// One element-wise binary op over contiguous runs: `a` and `b` are either
/// runs as long as `out` or a single broadcast value.
pub(crate) trait BinaryOp: Sync {
    fn one(&self, a: i8, b: i8) -> i8;
    /// The vector prefix for this tier (returns how many outputs it wrote).
    fn simd(&self, isa: Isa, a: Src, b: Src, out: &mut [i8]) -> usize {
        let _ = (isa, a, b, out);
        0
    }
    fn run(&self, isa: Isa, a: Src, b: Src, out: &mut [i8]) {
        let done = self.simd(isa, a, b, out);
        let out = &mut out[done..];
        match (a, b) {
            (Src::Run(x), Src::Run(y)) => {
                for ((o, &x), &y) in out.iter_mut().zip(&x[done..]).zip(&y[done..]) {
                    *o = self.one(x, y);
                }
            }
            (Src::Splat(x), Src::Run(y)) => {
                for (o, &y) in out.iter_mut().zip(&y[done..]) {
                    *o = self.one(x, y);
                }
            }
            (Src::Run(x), Src::Splat(y)) => {
                for (o, &x) in out.iter_mut().zip(&x[done..]) {
                    *o = self.one(x, y);
                }
            }
            (Src::Splat(x), Src::Splat(y)) => out.fill(self.one(x, y)),
        }
    }
}

struct AddOp<'a>(&'a AddSubCore);
struct SubOp<'a>(&'a AddSubCore);

/// The AVX2 tier when this is an x86-64 CPU that has it, the Neon tier on
/// aarch64; anything else runs the scalar code.
fn simd_addsub(isa: Isa, p: &AddSubVec, a: Src, b: Src, out: &mut [i8]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() && super::vec512::available() && addsub_in_range(p) => {
            // SAFETY: AVX-512 F/BW/VL were detected; runs are as long as `out` (run_broadcast);
            // the multipliers come from AddSubCore::new.
            unsafe { super::vec512::addsub(p, a, b, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 if isa.is_available() => {
            // SAFETY: AVX2 was detected (is_available); runs are as long as `out` (run_broadcast).
            unsafe { super::vec::x86::addsub(p, a, b, out) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon if isa.is_available() => {
            // SAFETY: Neon was detected; runs are as long as `out` (run_broadcast).
            unsafe { super::vec::neon::addsub(p, a, b, out) }
        }
        _ => 0,
    }
}

/// The input multipliers the AVX-512 ADD/SUB path assumes: normalized (≥ 2^30),
/// no left shift (AddSubCore's are, unless a ratio below 2^-32 made one zero).
#[cfg(target_arch = "x86_64")]
fn addsub_in_range(p: &AddSubVec) -> bool {
    [p.a, p.b].iter().all(|r| r.multiplier >= 1 << 30 && r.left == 0 && (0..=31).contains(&r.right))
}

fn simd_mul(isa: Isa, p: &MulVec, a: Src, b: Src, out: &mut [i8]) -> usize {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() && super::vec512::available() && p.out.multiplier >= 0 => {
            // SAFETY: AVX-512 F/BW/VL were detected; runs are as long as `out` (run_broadcast);
            // MulParams::new keeps the left shift at most 15.
            unsafe { super::vec512::mul(p, a, b, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 if isa.is_available() => {
            // SAFETY: AVX2 was detected (is_available); runs are as long as `out` (run_broadcast).
            unsafe { super::vec::x86::mul(p, a, b, out) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon if isa.is_available() => {
            // SAFETY: Neon was detected; runs are as long as `out` (run_broadcast).
            unsafe { super::vec::neon::mul(p, a, b, out) }
        }
        _ => 0,
    }
}

impl BinaryOp for AddOp<'_> {
    #[inline(always)]
    fn one(&self, a: i8, b: i8) -> i8 {
        let c = self.0;
        c.finish(c.a_table[a as u8 as usize] + c.b_table[b as u8 as usize])
    }
    fn simd(&self, isa: Isa, a: Src, b: Src, out: &mut [i8]) -> usize {
        simd_addsub(isa, &self.0.vec(false), a, b, out)
    }
}

impl BinaryOp for SubOp<'_> {
    #[inline(always)]
    fn one(&self, a: i8, b: i8) -> i8 {
        let c = self.0;
        c.finish(c.a_table[a as u8 as usize] - c.b_table[b as u8 as usize])
    }
    fn simd(&self, isa: Isa, a: Src, b: Src, out: &mut [i8]) -> usize {
        simd_addsub(isa, &self.0.vec(true), a, b, out)
    }
}

impl BinaryOp for MulParams {
    #[inline(always)]
    fn one(&self, a: i8, b: i8) -> i8 {
        MulParams::one(self, a, b)
    }
    fn simd(&self, isa: Isa, a: Src, b: Src, out: &mut [i8]) -> usize {
        let v = MulVec { out: self.requant.into(), a_zp: self.a_zp, b_zp: self.b_zp, out_zp: self.out_zp, min: self.act_min, max: self.act_max };
        simd_mul(isa, &v, a, b, out)
    }
}

pub fn qadd(exec: Exec, p: &AddParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8]) {
    run_broadcast(exec, &AddOp(&p.core), a_shape, a, b_shape, b, out);
}

pub fn qsub(exec: Exec, p: &SubParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8]) {
    run_broadcast(exec, &SubOp(&p.core), a_shape, a, b_shape, b, out);
}

pub fn qmul(exec: Exec, p: &MulParams, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8]) {
    run_broadcast(exec, p, a_shape, a, b_shape, b, out);
}

/// The broadcast iteration, with the output shape reduced to as few
/// dimensions as possible: size-1 output dimensions dropped and neighbours
/// merged when both inputs broadcast (or not) along both.
pub(crate) struct BroadcastPlan {
    /// Merged output dims, outermost first.
    pub dims: Vec<usize>,
    /// Element strides of a and b per merged dim (0 where broadcast).
    pub a_strides: Vec<usize>,
    pub b_strides: Vec<usize>,
}

pub(crate) fn broadcast_plan(a_shape: &[usize], b_shape: &[usize]) -> Result<BroadcastPlan, String> {
    let out = broadcast_shape(a_shape, b_shape)?;
    let n = out.len();
    let dim_of = |s: &[usize], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
    // (size, a broadcasts, b broadcasts), merged.
    let mut merged: Vec<(usize, bool, bool)> = Vec::new();
    for (i, &d) in out.iter().enumerate() {
        if d == 1 {
            continue;
        }
        let (ab, bb) = (dim_of(a_shape, i) == 1, dim_of(b_shape, i) == 1);
        match merged.last_mut() {
            Some(last) if last.1 == ab && last.2 == bb => last.0 *= d,
            _ => merged.push((d, ab, bb)),
        }
    }
    if merged.is_empty() {
        merged.push((1, false, false));
    }
    let strides = |bcast: &dyn Fn(&(usize, bool, bool)) -> bool| {
        let mut s = vec![0; merged.len()];
        let mut acc = 1;
        for (i, m) in merged.iter().enumerate().rev() {
            if !bcast(m) {
                s[i] = acc;
                acc *= m.0;
            }
        }
        s
    };
    let a_strides = strides(&|m| m.1);
    let b_strides = strides(&|m| m.2);
    Ok(BroadcastPlan { dims: merged.iter().map(|m| m.0).collect(), a_strides, b_strides })
}

pub(crate) fn run_broadcast(exec: Exec, op: &dyn BinaryOp, a_shape: &[usize], a: &[i8], b_shape: &[usize], b: &[i8], out: &mut [i8]) {
    assert_eq!(a.len(), a_shape.iter().product::<usize>(), "binary op: input 1 length does not match its shape");
    assert_eq!(b.len(), b_shape.iter().product::<usize>(), "binary op: input 2 length does not match its shape");
    if a_shape == b_shape {
        // No broadcast: one run over the flat values (the plan's three vectors were most
        // of a small ADD's time), split into chunks for the pool.
        assert_eq!(out.len(), a.len(), "binary op: output length does not match the broadcast shape");
        par_chunks_mut(exec, out, super::ELEMENTWISE_CHUNK, &|start, part| {
            let end = start + part.len();
            op.run(exec.isa, Src::Run(&a[start..end]), Src::Run(&b[start..end]), part)
        });
        return;
    }
    let plan = broadcast_plan(a_shape, b_shape).expect("binary op: shapes do not broadcast");
    let total: usize = plan.dims.iter().product();
    assert_eq!(out.len(), total, "binary op: output length does not match the broadcast shape");
    if total == 0 {
        return;
    }
    let inner = *plan.dims.last().unwrap();
    let (sa, sb) = (*plan.a_strides.last().unwrap(), *plan.b_strides.last().unwrap());
    let rows_per_task = (super::ELEMENTWISE_CHUNK / inner).max(1);
    let outer_dims = &plan.dims[..plan.dims.len() - 1];
    par_chunks_mut(exec, out, rows_per_task * inner, &|start, part| {
        for (row, o) in (start / inner..).zip(part.chunks_mut(inner)) {
            // Offsets of this output row in a and b.
            let (mut oa, mut ob, mut rem) = (0, 0, row);
            for d in (0..outer_dims.len()).rev() {
                let i = rem % outer_dims[d];
                rem /= outer_dims[d];
                oa += i * plan.a_strides[d];
                ob += i * plan.b_strides[d];
            }
            let va = if sa == 1 { Src::Run(&a[oa..oa + inner]) } else { Src::Splat(a[oa]) };
            let vb = if sb == 1 { Src::Run(&b[ob..ob + inner]) } else { Src::Splat(b[ob]) };
            match (va, vb) {
                (Src::Splat(x), Src::Splat(y)) => o.fill(op.one(x, y)),
                _ => op.run(exec.isa, va, vb, o),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qops::testutil::*;

    /// Straight from the reference kernels, in i64 (no tables).
    fn ref_addsub(sub: bool, x: i8, y: i8, s: [f32; 3], z: [i32; 3], act: (i32, i32)) -> i8 {
        let twice_max = (2.0 * s[0].max(s[1])) as f64;
        let (ma, sa) = ref_quantize_multiplier(s[0] as f64 / twice_max);
        let (mb, sb) = ref_quantize_multiplier(s[1] as f64 / twice_max);
        let (mo, so) = ref_quantize_multiplier(twice_max / ((1048576.0f32 * s[2]) as f64));
        let va = ref_mbqm((x as i64 - z[0] as i64) << 20, ma, sa);
        let vb = ref_mbqm((y as i64 - z[1] as i64) << 20, mb, sb);
        let raw = if sub { va - vb } else { va + vb };
        (ref_mbqm(raw, mo, so) + z[2] as i64).clamp(act.0 as i64, act.1 as i64) as i8
    }

    fn ref_mul(x: i8, y: i8, s: [f32; 3], z: [i32; 3], act: (i32, i32)) -> i8 {
        let (m, sh) = ref_quantize_multiplier((s[0] * s[1] / s[2]) as f64);
        let p = (x as i64 - z[0] as i64) * (y as i64 - z[1] as i64);
        (ref_mbqm(p, m, sh) + z[2] as i64).clamp(act.0 as i64, act.1 as i64) as i8
    }

    /// Reference broadcasting: the input element of output index `idx`.
    fn bcast_index(out_shape: &[usize], in_shape: &[usize], idx: usize) -> usize {
        let n = out_shape.len();
        let mut rem = idx;
        let mut coords = vec![0; n];
        for d in (0..n).rev() {
            coords[d] = rem % out_shape[d];
            rem /= out_shape[d];
        }
        let mut off = 0;
        for (k, &dim) in in_shape.iter().enumerate() {
            let c = coords[n - in_shape.len() + k];
            off = off * dim + if dim == 1 { 0 } else { c };
        }
        off
    }

    const SHAPES: &[(&[usize], &[usize])] = &[
        (&[2, 3, 5, 7], &[2, 3, 5, 7]),
        (&[2, 3, 5, 7], &[7]),
        (&[7], &[2, 3, 5, 7]),
        (&[2, 3, 5, 7], &[1]),
        (&[], &[4, 3]),
        (&[1, 5, 1, 3], &[2, 1, 4, 1]),
        (&[2, 1, 1, 33], &[1, 6, 5, 1]),
        (&[3, 1, 17], &[3, 9, 17]),
        (&[1, 1, 1, 1], &[1, 1, 1, 1]),
        (&[1, 4, 4, 19], &[1, 1, 1, 19]),
        (&[0, 3], &[1, 3]),
        (&[2, 1, 3, 1, 2, 3], &[1, 2, 1, 2, 1, 3]),
        (&[1, 40], &[3, 40]),
        (&[3, 1], &[3, 50]),
        (&[64], &[64]),
        (&[2, 47], &[1]),
    ];

    fn sweep(which: usize) {
        let mut rng = Rng(0xadd + which as u64);
        for (case, &(sa, sb)) in SHAPES.iter().enumerate() {
            for trial in 0..6 {
                // Scales giving rescale multipliers below and above one, extreme zero points.
                let s = [rng.scale(0.002, 0.5), rng.scale(0.002, 0.5), rng.scale(0.002, 0.5)];
                let s = if trial == 0 { [0.05, 0.05, 0.05] } else { s };
                let z = [rng.zp(), rng.zp(), rng.zp()];
                let act = if trial % 3 == 2 { (-100 + trial, 90) } else { (-128, 127) };
                let a = rng.i8s(sa.iter().product());
                let b = rng.i8s(sb.iter().product());
                let out_shape = broadcast_shape(sa, sb).unwrap();
                let n: usize = out_shape.iter().product();
                let want: Vec<i8> = (0..n)
                    .map(|i| {
                        let (x, y) = (a[bcast_index(&out_shape, sa, i)], b[bcast_index(&out_shape, sb, i)]);
                        match which {
                            0 => ref_addsub(false, x, y, s, z, act),
                            1 => ref_addsub(true, x, y, s, z, act),
                            _ => ref_mul(x, y, s, z, act),
                        }
                    })
                    .collect();
                for_each_exec(&mut |exec| {
                    let mut out = vec![0i8; n];
                    match which {
                        0 => qadd(exec, &AddParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
                        1 => qsub(exec, &SubParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
                        _ => qmul(exec, &MulParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
                    }
                    assert_eq!(out, want, "op {which} case {case} {sa:?}x{sb:?} s={s:?} z={z:?} act={act:?} {:?}", exec.isa);
                });
            }
        }
    }

    #[test]
    fn add_matches_reference() {
        sweep(0);
    }

    #[test]
    fn sub_matches_reference() {
        sweep(1);
    }

    #[test]
    fn mul_matches_reference() {
        sweep(2);
    }

    #[test]
    fn all_input_pairs_exhaustive() {
        // Every (a, b) pair, for scale sets giving equal inputs, very unequal inputs (a tiny
        // rescale multiplier with a long right shift), and MUL multipliers above and below one.
        let a: Vec<i8> = (0..65536).map(|i| (i >> 8) as i8).collect();
        let b: Vec<i8> = (0..65536).map(|i| i as i8).collect();
        let configs: [([f32; 3], [i32; 3]); 4] = [
            ([0.1, 0.07, 0.3], [-3, 100, -128]),
            ([0.05, 0.05, 0.05], [0, 0, 0]),
            ([0.5, 0.0007, 0.9], [127, -128, 5]),
            ([0.0123, 0.456, 0.0031], [-128, 127, 127]),
        ];
        for (s, z) in configs {
            let want_add: Vec<i8> = (0..65536).map(|i| ref_addsub(false, a[i], b[i], s, z, (-128, 127))).collect();
            let want_sub: Vec<i8> = (0..65536).map(|i| ref_addsub(true, a[i], b[i], s, z, (-128, 127))).collect();
            let want_mul: Vec<i8> = (0..65536).map(|i| ref_mul(a[i], b[i], s, z, (-128, 127))).collect();
            for_each_exec(&mut |exec| {
                let mut out = vec![0i8; 65536];
                qadd(exec, &AddParams::new(s[0], z[0], s[1], z[1], s[2], z[2], -128, 127).unwrap(), &[65536], &a, &[65536], &b, &mut out);
                assert!(out == want_add, "add {s:?} {z:?} {:?}", exec.isa);
                qsub(exec, &SubParams::new(s[0], z[0], s[1], z[1], s[2], z[2], -128, 127).unwrap(), &[65536], &a, &[65536], &b, &mut out);
                assert!(out == want_sub, "sub {s:?} {z:?} {:?}", exec.isa);
                qmul(exec, &MulParams::new(s[0], z[0], s[1], z[1], s[2], z[2], -128, 127).unwrap(), &[65536], &a, &[65536], &b, &mut out);
                assert!(out == want_mul, "mul {s:?} {z:?} {:?}", exec.isa);
            });
        }
    }

    fn check_case(which: usize, sa: &[usize], sb: &[usize], s: [f32; 3], z: [i32; 3], act: (i32, i32), seed: u64) {
        let mut rng = Rng(seed | 1);
        let a = rng.i8s(sa.iter().product());
        let b = rng.i8s(sb.iter().product());
        let out_shape = broadcast_shape(sa, sb).unwrap();
        let n: usize = out_shape.iter().product();
        let want: Vec<i8> = (0..n)
            .map(|i| {
                let (x, y) = (a[bcast_index(&out_shape, sa, i)], b[bcast_index(&out_shape, sb, i)]);
                match which {
                    0 => ref_addsub(false, x, y, s, z, act),
                    1 => ref_addsub(true, x, y, s, z, act),
                    _ => ref_mul(x, y, s, z, act),
                }
            })
            .collect();
        for_each_exec(&mut |exec| {
            let mut out = vec![0i8; n];
            match which {
                0 => qadd(exec, &AddParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
                1 => qsub(exec, &SubParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
                _ => qmul(exec, &MulParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).unwrap(), sa, &a, sb, &b, &mut out),
            }
            assert_eq!(out, want, "op {which} {sa:?}x{sb:?} s={s:?} z={z:?} act={act:?} {:?}", exec.isa);
        });
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn random_broadcasts_and_quantization(
            dims in proptest::collection::vec((1usize..7, 0u8..3), 0..5),
            extra in 0usize..40,
            which in 0usize..3,
            s in proptest::array::uniform3(0.002f32..0.6),
            z in proptest::array::uniform3(-128i32..128),
            lo in -128i32..0, hi in 0i32..128,
            seed in any::<u64>(),
        ) {
            // 0: both full, 1: a broadcast, 2: b broadcast; a trailing run long enough for the vector code.
            let mut a_shape: Vec<usize> = dims.iter().map(|&(d, k)| if k == 1 { 1 } else { d }).collect();
            let mut b_shape: Vec<usize> = dims.iter().map(|&(d, k)| if k == 2 { 1 } else { d }).collect();
            if extra > 0 {
                a_shape.push(extra);
                b_shape.push(if seed % 3 == 0 { 1 } else { extra });
            }
            check_case(which, &a_shape, &b_shape, s, z, (lo, hi), seed);
        }
    }

    /// Every length 0..70 (whole 16-lane steps and every tail), runs and
    /// broadcast values on either side, extreme scale ratios (input rescale
    /// shifts up to 31, output multipliers near 1 and tiny) and zero points.
    #[test]
    fn lengths_splats_and_extreme_scales() {
        let scales: [[f32; 3]; 6] = [
            [0.05, 0.05, 0.05],
            [0.5, 1e-9, 0.9],
            [1e-9, 0.3, 0.0000004],
            [0.02, 0.021, 2.0e-7],
            [0.9, 0.0011, 0.0009],
            [0.0123, 0.456, 100.0],
        ];
        let mut rng = Rng(0x1e6);
        for (si, s) in scales.iter().enumerate() {
            for len in 0..70usize {
                let z = [rng.zp(), rng.zp(), rng.zp()];
                let act = if len % 4 == 1 { (-77, 33) } else { (-128, 127) };
                let which = len % 3;
                if which == 2 && MulParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).is_err() {
                    continue;
                }
                if which < 2 && AddParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).is_err() {
                    continue;
                }
                for (sa, sb) in [(vec![len], vec![len]), (vec![len], vec![1]), (vec![1], vec![len])] {
                    check_case(which, &sa, &sb, *s, z, act, (si * 100 + len) as u64);
                }
            }
        }
    }

    /// ADD/SUB runs long enough for the AVX-512 tables of the input sides
    /// (whole 64-output steps and every tail width past them), at the
    /// extreme scales and zero points above, against the reference.
    #[test]
    fn long_runs_through_side_tables() {
        let scales: [[f32; 3]; 5] = [[0.05, 0.05, 0.05], [0.5, 1e-9, 0.9], [1e-9, 0.3, 0.0000004], [0.02, 0.021, 2.0e-7], [0.0123, 0.456, 100.0]];
        let mut rng = Rng(0x10b);
        for (si, s) in scales.iter().enumerate() {
            for len in (1024..1024 + 66).chain([2048, 4097, 5000]) {
                let z = [rng.zp(), rng.zp(), rng.zp()];
                let act = if len % 4 == 1 { (-77, 33) } else { (-128, 127) };
                let which = len % 2;
                if AddParams::new(s[0], z[0], s[1], z[1], s[2], z[2], act.0, act.1).is_err() {
                    continue;
                }
                check_case(which, &[len], &[len], *s, z, act, (si * 10_000 + len) as u64);
            }
        }
    }

    #[test]
    fn rejects_what_tflite_rejects() {
        // Output multiplier ≥ 1: 2 * 1.0 / (2^20 * 1e-7) ≈ 19.
        assert!(AddParams::new(1.0, 0, 1.0, 0, 1e-7, 0, -128, 127).is_err());
        assert!(SubParams::new(1.0, 0, 1.0, 0, 1e-7, 0, -128, 127).is_err());
        assert!(AddParams::new(1.0, 0, 1.0, 200, 1.0, 0, -128, 127).is_err());
        assert!(MulParams::new(1.0, 0, 1.0, 0, 1.0, 0, 5, 4).is_err());
        assert!(MulParams::new(0.0, 0, 1.0, 0, 1.0, 0, -128, 127).is_err());
    }
}
