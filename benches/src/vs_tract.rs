//! armrest's fp32 GEMM against tract-linalg's matmul on the same shapes
//! (issue 3): both sides pack their weights once, outside anything timed, and
//! run `out[m x n] = x[m x k] * W^T + bias` into the same row-major buffer
//! layout. tract gets its natural orientation (the weights are its packed `A`,
//! output channels along its `m`; the activations are its `B`) and its own
//! kernel choice (`MmmDispatch::pick`), or a kernel named by the caller.
//! Both results are checked against each other and against an f64 reference
//! before anything is timed or counted.

use armrest_kernels::gemm::{self, GemmUkernel, PackedWeights};
use armrest_kernels::{Clamp, Exec, Isa, ThreadPool};
use tract_data::internal::{DatumType, Tensor, TractResult};
use tract_linalg::mmm::{AsInputValue, FusedSpec, MMMInputValue, MatMatMul, MmmDispatch, Query, ScratchSpace};
use tract_linalg::BinOp;

use crate::values;

/// One GEMM of the comparison: `m` rows (pixels), reduction `k`, `n` output
/// channels.
#[derive(Clone, Copy, Debug)]
pub struct GemmShape {
    pub name: &'static str,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl GemmShape {
    pub fn macs(&self) -> usize {
        self.m * self.k * self.n
    }
}

/// The compared shapes: two square GEMMs and MobileNetV2 1x1 convolutions
/// (expansion and projection layers, early and late).
pub fn gemm_shapes() -> Vec<GemmShape> {
    let s = |name, m, k, n| GemmShape { name, m, k, n };
    vec![
        s("gemm 512x512x512", 512, 512, 512),
        s("gemm 256x256x256", 256, 256, 256),
        s("pw 56x56 24->144", 56 * 56, 24, 144),
        s("pw 56x56 144->24", 56 * 56, 144, 24),
        s("pw 28x28 192->32", 28 * 28, 192, 32),
        s("pw 14x14 576->96", 14 * 14, 576, 96),
        s("pw 7x7 320->1280", 7 * 7, 320, 1280),
    ]
}

/// The operands of one shape, deterministic.
pub struct Operands {
    pub shape: GemmShape,
    /// `m x k`, row-major.
    pub x: Vec<f32>,
    /// `n x k`, output-major (TFLite's FULLY_CONNECTED / 1x1 CONV_2D layout).
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Operands {
    pub fn new(shape: GemmShape) -> Operands {
        Operands { shape, x: values(shape.m * shape.k, 1), w: values(shape.n * shape.k, 2), bias: values(shape.n, 3) }
    }

    /// Output row `r` in f64.
    fn reference_row(&self, r: usize) -> Vec<f64> {
        let GemmShape { k, n, .. } = self.shape;
        let xr = &self.x[r * k..(r + 1) * k];
        (0..n)
            .map(|o| self.bias[o] as f64 + xr.iter().zip(&self.w[o * k..(o + 1) * k]).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>())
            .collect()
    }
}

/// armrest's side: weights packed for `isa` (or for `ukernel`), one output buffer.
pub struct ArmrestGemm {
    isa: Isa,
    shape: GemmShape,
    x: Vec<f32>,
    w: PackedWeights,
    pub out: Vec<f32>,
}

impl ArmrestGemm {
    pub fn new(ops: &Operands, isa: Isa, ukernel: Option<&'static GemmUkernel>) -> ArmrestGemm {
        let GemmShape { m, k, n, .. } = ops.shape;
        let w = match ukernel {
            Some(uk) => PackedWeights::pack_with(uk, n, k, &ops.w, Some(&ops.bias)),
            None => PackedWeights::pack(isa, n, k, &ops.w, Some(&ops.bias)),
        };
        ArmrestGemm { isa, shape: ops.shape, x: ops.x.clone(), w, out: vec![0.0; m * n] }
    }

    pub fn ukernel(&self) -> &'static str {
        self.w.ukernel().name
    }

    /// One call on `pool`.
    pub fn run(&mut self, pool: &ThreadPool) {
        let GemmShape { m, k, n, .. } = self.shape;
        gemm::gemm(Exec { isa: self.isa, pool }, m, &self.x, k, &self.w, &mut self.out, n, Clamp::NONE);
    }
}

/// tract-linalg's side: its kernel, the weights packed as its `A`, the
/// activations both kept plain (for [`TractGemm::run_packing`]) and packed
/// once (for [`TractGemm::run`]), the bias fused per row of its `A`.
pub struct TractGemm {
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    shape: GemmShape,
    w: Box<dyn MMMInputValue>,
    x: Tensor,
    x_packed: Box<dyn MMMInputValue>,
    bias: Tensor,
    out: Tensor,
    scratch: Box<dyn ScratchSpace>,
}

/// Names of the fp32 matmul kernels (not matrix-vector) tract-linalg can run on this machine.
pub fn tract_f32_kernels() -> Vec<String> {
    MmmDispatch::native()
        .runnable()
        .iter()
        .filter(|k| k.internal_type() == DatumType::F32 && k.nr() > 1 && !k.emulated())
        .map(|k| k.name().to_string())
        .collect()
}

impl TractGemm {
    /// tract's own choice for the shape, or the runnable kernel called `kernel`.
    pub fn new(ops: &Operands, kernel: Option<&str>) -> TractResult<TractGemm> {
        let GemmShape { m, k, n, .. } = ops.shape;
        // tract's m is armrest's n (output channels), tract's n is armrest's m (pixels).
        let query = Query::plain(DatumType::F32, Some(n), Some(k), Some(m));
        let dispatch = MmmDispatch::native();
        let (mmm, packing, extractor) = match kernel {
            None => dispatch.pick(&query),
            Some(name) => dispatch.suitable(&query).into_iter().find(|(mmm, _, pe)| mmm.name() == name && pe.is_none()),
        }
        .ok_or_else(|| tract_data::internal::format_err!("no tract f32 kernel {kernel:?} for {:?}", ops.shape))?;
        if extractor.is_some() {
            tract_data::internal::bail!("{} needs a panel extractor for plain f32 weights", mmm.name());
        }
        let (fa, fb) = &mmm.packings()[packing];
        let w = fa.prepare_one(&Tensor::from_shape(&[n, k], &ops.w)?, 1, 0)?;
        let x = Tensor::from_shape(&[m, k], &ops.x)?;
        let x_packed = fb.prepare_one(&x, 1, 0)?;
        // SAFETY: tract's scratch space is only handed back to the kernel that made it.
        let scratch = unsafe { mmm.allocate_scratch_space() };
        Ok(TractGemm {
            packing,
            shape: ops.shape,
            w,
            x,
            x_packed,
            bias: Tensor::from_shape(&[n], &ops.bias)?,
            out: Tensor::zero::<f32>(&[m, n])?,
            scratch,
            mmm,
        })
    }

    pub fn kernel(&self) -> &str {
        self.mmm.name()
    }

    fn run_with(&mut self, x_packed: Option<&dyn MMMInputValue>) -> TractResult<()> {
        let GemmShape { m, n, .. } = self.shape;
        let b: &dyn MMMInputValue = x_packed.unwrap_or(&*self.x_packed);
        // SAFETY: `out` is an m x n f32 tensor that outlives the call; tract's
        // (row = output channel, column = pixel) element goes to out[pixel * n +
        // channel], inside it for every row < n and column < m.
        let store = unsafe { self.mmm.c_from_data_and_strides(4, 1, n as isize).wrap(&self.out.view_mut()) };
        let spec = [
            FusedSpec::AddMatMul { a: AsInputValue::Borrowed(&*self.w), b: AsInputValue::Borrowed(b), packing: self.packing },
            FusedSpec::BinPerRow(self.bias.view(), BinOp::Add),
            FusedSpec::Store(store),
        ];
        // SAFETY: both inputs were packed with this kernel's packing `self.packing`
        // for these dims, the bias has one value per row (n), the scratch space
        // was allocated by this kernel.
        unsafe { self.mmm.run_with_scratch_space(n, m, &mut *self.scratch, &spec) }
    }

    /// One call, both operands packed beforehand (the kernel and its loops only).
    pub fn run(&mut self) -> TractResult<()> {
        self.run_with(None)
    }

    /// One call that packs the activations first, as a model run would.
    pub fn run_packing(&mut self) -> TractResult<()> {
        let fb = &self.mmm.packings()[self.packing].1;
        let packed = fb.prepare_one(&self.x, 1, 0)?;
        self.run_with(Some(&*packed))
    }

    pub fn out(&self) -> TractResult<&[f32]> {
        self.out.try_as_plain_ram()?.as_slice::<f32>()
    }
}

/// Largest difference between `armrest` and `tract` over the whole output,
/// and of each against the f64 reference on up to 48 rows, relative to the
/// largest reference magnitude; an error when any exceeds `tol`.
pub fn check(ops: &Operands, armrest: &[f32], tract: &[f32], tol: f64) -> Result<f64, String> {
    let GemmShape { m, n, .. } = ops.shape;
    if armrest.len() != m * n || tract.len() != m * n {
        return Err(format!("output lengths {} / {} for {m}x{n}", armrest.len(), tract.len()));
    }
    let step = m.div_ceil(48).max(1);
    let (mut scale, mut err_ref) = (0.0f64, 0.0f64);
    for r in (0..m).step_by(step) {
        for (o, want) in ops.reference_row(r).into_iter().enumerate() {
            scale = scale.max(want.abs());
            let (a, t) = (armrest[r * n + o] as f64, tract[r * n + o] as f64);
            err_ref = err_ref.max((a - want).abs()).max((t - want).abs());
        }
    }
    let err_pair = armrest.iter().zip(tract).map(|(&a, &t)| (a as f64 - t as f64).abs()).fold(0.0, f64::max);
    let rel = err_ref.max(err_pair) / scale.max(1e-30);
    if rel.is_finite() && rel <= tol {
        Ok(rel)
    } else {
        Err(format!("{}: armrest vs tract vs f64 reference differ by {rel:.3e} (tolerance {tol:.0e})", ops.shape.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(shape: GemmShape, kernel: Option<&str>) {
        let ops = Operands::new(shape);
        let pool = ThreadPool::new(1);
        let mut a = ArmrestGemm::new(&ops, Isa::best(), None);
        a.run(&pool);
        let mut t = TractGemm::new(&ops, kernel).unwrap();
        t.run().unwrap();
        check(&ops, &a.out, t.out().unwrap(), 1e-5).unwrap();
        // Packing the activations per call gives the same numbers.
        t.run_packing().unwrap();
        check(&ops, &a.out, t.out().unwrap(), 1e-5).unwrap();
    }

    #[test]
    fn armrest_and_tract_agree_on_odd_shapes() {
        // Tails on every side of both tiles.
        compare(GemmShape { name: "odd", m: 37, k: 19, n: 45 }, None);
        compare(GemmShape { name: "tall", m: 101, k: 64, n: 7 }, None);
    }

    #[test]
    fn every_tract_f32_kernel_agrees() {
        let kernels = tract_f32_kernels();
        assert!(!kernels.is_empty());
        for name in kernels {
            compare(GemmShape { name: "small", m: 29, k: 33, n: 21 }, Some(&name));
        }
    }

    #[test]
    fn the_check_catches_a_wrong_result() {
        let ops = Operands::new(GemmShape { name: "x", m: 9, k: 5, n: 6 });
        let pool = ThreadPool::new(1);
        let mut a = ArmrestGemm::new(&ops, Isa::best(), None);
        a.run(&pool);
        let mut wrong = a.out.clone();
        wrong[17] += 0.01;
        assert!(check(&ops, &a.out, &a.out, 1e-5).is_ok());
        assert!(check(&ops, &a.out, &wrong, 1e-5).is_err());
        // A one-column shift (wrong layout) is caught too.
        wrong.copy_from_slice(&a.out);
        wrong.rotate_left(1);
        assert!(check(&ops, &a.out, &wrong, 1e-5).is_err());
    }

    #[test]
    fn unknown_tract_kernel_is_an_error() {
        let ops = Operands::new(GemmShape { name: "x", m: 4, k: 4, n: 4 });
        assert!(TractGemm::new(&ops, Some("no_such_kernel")).is_err());
    }
}
