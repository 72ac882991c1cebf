//! An in-memory TFLite graph for testing the frontend without a runtime.
#![allow(dead_code)] // each test binary uses a subset of these helpers

use armrest_delegate::tflite::{dtype, BuiltinParams, TflModel, TflNode, TflQuant, TflSparsity, TflTensor, ALLOCATION_MMAP_RO};
use std::collections::HashMap;

/// Claims every node of `m` (asserting all are claimed), builds the partition
/// and a typed executor for each available tier and each of `threads`.
pub fn typed_executors(m: &MockModel, inputs: &[i32], outputs: &[i32], threads: &[usize]) -> Vec<armrest_delegate::QExecutor> {
    use armrest_delegate::tflite::{build_partition, claim_nodes};
    let r = claim_nodes(m, &m.plan());
    assert_eq!(r.claimed.len(), m.nodes.len(), "{:?}", r.unclaimed);
    let mut out = Vec::new();
    for isa in armrest_kernels::Isa::ALL.into_iter().filter(|i| i.is_available()) {
        for &t in threads {
            let (g, _) = build_partition(m, &r.folds, &r.claimed, inputs, outputs).unwrap();
            assert!(g.is_quantized());
            out.push(armrest_delegate::QExecutor::new(g, isa, std::sync::Arc::new(armrest_kernels::ThreadPool::new(t))).unwrap());
        }
    }
    out
}

pub struct MockTensor {
    pub dtype: i32,
    pub dims: Vec<i32>,
    pub data: Option<Vec<u8>>,
    pub quantized: bool,
}

#[derive(Default)]
pub struct MockModel {
    pub tensors: Vec<MockTensor>,
    pub nodes: Vec<TflNode>,
    /// Sparse encodings of constant tensors (their data holds the stored values).
    pub sparsity: HashMap<i32, TflSparsity>,
    /// Affine quantization of tensors (int8 / uint8 / int16 ones, and hybrid weights).
    pub quant: HashMap<i32, TflQuant>,
}

impl MockModel {
    /// An fp32 activation tensor.
    pub fn act(&mut self, dims: &[i32]) -> i32 {
        self.tensors.push(MockTensor { dtype: dtype::F32, dims: dims.to_vec(), data: None, quantized: false });
        self.tensors.len() as i32 - 1
    }
    /// A constant fp32 tensor.
    pub fn constant(&mut self, dims: &[i32], values: &[f32]) -> i32 {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push(MockTensor { dtype: dtype::F32, dims: dims.to_vec(), data: Some(data), quantized: false });
        self.tensors.len() as i32 - 1
    }
    pub fn constant_i32(&mut self, dims: &[i32], values: &[i32]) -> i32 {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push(MockTensor { dtype: dtype::I32, dims: dims.to_vec(), data: Some(data), quantized: false });
        self.tensors.len() as i32 - 1
    }
    pub fn constant_f16(&mut self, dims: &[i32], bits: &[u16]) -> i32 {
        let data = bits.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push(MockTensor { dtype: dtype::F16, dims: dims.to_vec(), data: Some(data), quantized: false });
        self.tensors.len() as i32 - 1
    }
    /// A quantized activation (`dtype::I8`, `U8` or `I16`), per-tensor.
    pub fn qact(&mut self, dt: i32, dims: &[i32], scale: f32, zero_point: i32) -> i32 {
        self.tensors.push(MockTensor { dtype: dt, dims: dims.to_vec(), data: None, quantized: true });
        let i = self.tensors.len() as i32 - 1;
        self.quant.insert(i, TflQuant { scale: vec![scale], zero_point: vec![zero_point], quantized_dimension: 0 });
        i
    }
    /// A constant int8 tensor with per-tensor (one scale) or per-channel scales along `axis`.
    pub fn qconst_i8(&mut self, dims: &[i32], values: &[i8], scales: &[f32], zero_points: &[i32], axis: i32) -> i32 {
        let data = values.iter().map(|&v| v as u8).collect();
        self.tensors.push(MockTensor { dtype: dtype::I8, dims: dims.to_vec(), data: Some(data), quantized: true });
        let i = self.tensors.len() as i32 - 1;
        self.quant.insert(i, TflQuant { scale: scales.to_vec(), zero_point: zero_points.to_vec(), quantized_dimension: axis });
        i
    }
    /// A constant uint8 tensor, per-tensor.
    pub fn qconst_u8(&mut self, dims: &[i32], values: &[u8], scale: f32, zero_point: i32) -> i32 {
        self.tensors.push(MockTensor { dtype: dtype::U8, dims: dims.to_vec(), data: Some(values.to_vec()), quantized: true });
        let i = self.tensors.len() as i32 - 1;
        self.quant.insert(i, TflQuant { scale: vec![scale], zero_point: vec![zero_point], quantized_dimension: 0 });
        i
    }
    pub fn node(&mut self, code: i32, inputs: &[i32], outputs: &[i32], params: BuiltinParams) -> usize {
        self.nodes.push(TflNode { builtin_code: code, custom_name: None, version: 1, inputs: inputs.to_vec(), outputs: outputs.to_vec(), params, custom_options: Vec::new() });
        self.nodes.len() - 1
    }
    /// A MediaPipe-style custom op node with its options blob.
    pub fn custom(&mut self, name: &str, inputs: &[i32], outputs: &[i32], options: &[u8]) -> usize {
        self.nodes.push(TflNode {
            builtin_code: armrest_delegate::tflite::ops::CUSTOM,
            custom_name: Some(name.into()),
            version: 1,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            params: BuiltinParams::None,
            custom_options: options.to_vec(),
        });
        self.nodes.len() - 1
    }
    pub fn plan(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }
}

impl TflModel for MockModel {
    fn tensor(&self, index: i32) -> Option<TflTensor<'_>> {
        let t = self.tensors.get(usize::try_from(index).ok()?)?;
        Some(TflTensor {
            dtype: t.dtype,
            dims: t.dims.clone(),
            allocation_type: if t.data.is_some() { ALLOCATION_MMAP_RO } else { 2 },
            constant_data: t.data.as_deref(),
            name: format!("t{index}"),
            quantized: t.quantized,
        })
    }
    fn node(&self, index: usize) -> Option<TflNode> {
        self.nodes.get(index).cloned()
    }
    fn sparsity(&self, index: i32) -> Option<TflSparsity> {
        self.sparsity.get(&index).cloned()
    }
    fn quantization(&self, index: i32) -> Option<TflQuant> {
        self.quant.get(&index).cloned()
    }
}

/// Deterministic pseudo-random integers in `[lo, hi]`.
pub fn ints(n: usize, seed: u64, lo: i32, hi: i32) -> Vec<i32> {
    values(n, seed).into_iter().map(|v| (lo + ((v + 1.0) * 0.5 * (hi - lo + 1) as f32) as i32).min(hi)).collect()
}

/// A deterministic pseudo-random sequence in [-1, 1).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
