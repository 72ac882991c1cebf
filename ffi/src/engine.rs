//! A partition's engine: the fp32 [`Executor`] for plain fp32 graphs (the
//! path armrest always had), the typed [`QExecutor`] for graphs with int8
//! tensors or dynamic-range ops. Also the typed invoke: int8, uint8 (flipped
//! to int8 at the boundary: `q ^ 0x80`), int32 and fp32 tensor data.

use crate::abi::*;
use armrest_delegate::ir::Graph;
use armrest_delegate::qexec::{TensorData, TensorDataMut};
use armrest_delegate::qir::DType;
use armrest_delegate::tflite::dtype;
use armrest_delegate::{Executor, QExecutor};
use armrest_kernels::{Isa, ThreadPool};
use std::sync::Arc;

pub enum Engine {
    Float(Box<Executor>),
    Typed(Box<QExecutor>),
}

impl Engine {
    pub fn new(graph: Graph, isa: Isa, pool: Arc<ThreadPool>) -> Result<Engine, String> {
        if graph.is_quantized() {
            Ok(Engine::Typed(Box::new(QExecutor::new(graph, isa, pool)?)))
        } else {
            Ok(Engine::Float(Box::new(Executor::new(graph, isa, pool)?)))
        }
    }

    pub fn graph(&self) -> &Graph {
        match self {
            Engine::Float(e) => e.graph(),
            Engine::Typed(e) => e.graph(),
        }
    }

    pub fn prepare(&mut self, input_shapes: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, String> {
        match self {
            Engine::Float(e) => e.prepare(input_shapes),
            Engine::Typed(e) => e.prepare(input_shapes),
        }
    }

    pub fn output_shape(&self, k: usize) -> &[usize] {
        match self {
            Engine::Float(e) => e.output_shape(k),
            Engine::Typed(e) => e.output_shape(k),
        }
    }

    /// The int8 micro-kernels the partition uses (empty for fp32 partitions).
    pub fn int8_kernels(&self) -> Vec<&'static str> {
        match self {
            Engine::Float(_) => Vec::new(),
            Engine::Typed(e) => e.kernel_names(),
        }
    }
}

/// The report's int8 addition to `kernels=`: the tier and its GEMM and depthwise micro-kernels.
pub fn int8_kernels_label(isa: Isa) -> String {
    use armrest_kernels::quant::{best_qtier, qdw_ukernel, qgemm_ukernel};
    let tier = best_qtier(isa);
    format!(" int8={tier} ({}, {})", qgemm_ukernel(tier).name, qdw_ukernel(tier).name)
}

/// The TfLiteType the runtime must hold for an IR tensor.
pub fn runtime_type(graph: &Graph, id: usize) -> i32 {
    let t = &graph.tensors[id];
    match t.dtype {
        DType::F32 => dtype::F32,
        DType::I8 if t.uint8 => dtype::U8,
        DType::I8 => dtype::I8,
        DType::I32 => dtype::I32,
    }
}

fn element_size(t: DType) -> usize {
    match t {
        DType::F32 | DType::I32 => 4,
        DType::I8 => 1,
    }
}

/// Tensor `i`'s data pointer, checked: its type is `want_type` and it holds `len` elements of `size` bytes.
///
/// # Safety
/// `ctx` is live.
unsafe fn data_of(ctx: *mut TfLiteContext, i: i32, want_type: i32, len: usize, size: usize) -> Result<*mut u8, String> {
    // SAFETY: live context; index bounds-checked.
    unsafe {
        let ctx = &*ctx;
        let idx = usize::try_from(i).ok().filter(|&i| i < ctx.tensors_size).ok_or_else(|| format!("tensor {i} does not exist"))?;
        let t = &*ctx.tensors.add(idx);
        if t.type_ != want_type {
            return Err(format!("tensor {i} is {}, armrest planned {}", dtype::name(t.type_), dtype::name(want_type)));
        }
        if t.bytes < len * size || (len > 0 && t.data.is_null()) {
            return Err(format!("tensor {i} holds {} bytes, {} are needed", t.bytes, len * size));
        }
        if t.data.align_offset(size) != 0 {
            return Err(format!("tensor {i} is not aligned for its type"));
        }
        Ok(t.data.cast::<u8>())
    }
}

/// Runs a typed partition on the runtime's tensors.
///
/// # Safety
/// `ctx` is the live context of a kernel invoke; `inputs` and `outputs` are
/// the partition's boundary tensor indices (inputs distinct from outputs).
pub unsafe fn invoke_typed(ctx: *mut TfLiteContext, exec: &mut QExecutor, inputs: &[i32], outputs: &[i32]) -> Result<(), String> {
    let graph_inputs = exec.graph().inputs.clone();
    let graph_outputs = exec.graph().outputs.clone();
    // uint8 inputs are copied with the top bit flipped; the others are read in place.
    let mut flipped: Vec<Vec<i8>> = Vec::new();
    let mut plan: Vec<(usize, *mut u8, usize)> = Vec::with_capacity(inputs.len());
    for (k, &i) in inputs.iter().enumerate() {
        let id = graph_inputs[k];
        let t = &exec.graph().tensors[id];
        let len: usize = exec.tensor_shape(id).iter().product();
        // SAFETY: live context.
        let ptr = unsafe { data_of(ctx, i, runtime_type(exec.graph(), id), len, element_size(t.dtype))? };
        if t.uint8 {
            // SAFETY: `ptr` holds `len` bytes (checked by data_of).
            let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
            flipped.push(bytes.iter().map(|&b| (b ^ 0x80) as i8).collect());
        }
        plan.push((id, ptr, len));
    }
    let mut next_flipped = flipped.iter();
    let mut ins: Vec<TensorData> = Vec::with_capacity(plan.len());
    for &(id, ptr, len) in &plan {
        let t = &exec.graph().tensors[id];
        // SAFETY (each arm): `ptr` holds `len` aligned elements of the tensor's type (checked by
        // data_of); inputs are never written during this invoke.
        ins.push(match t.dtype {
            DType::I8 if t.uint8 => TensorData::I8(next_flipped.next().ok_or("uint8 input lost")?),
            DType::I8 => TensorData::I8(unsafe { std::slice::from_raw_parts(ptr.cast::<i8>(), len) }),
            DType::F32 => TensorData::F32(unsafe { std::slice::from_raw_parts(ptr.cast::<f32>(), len) }),
            DType::I32 => TensorData::I32(unsafe { std::slice::from_raw_parts(ptr.cast::<i32>(), len) }),
        });
    }
    let mut outs: Vec<TensorDataMut> = Vec::with_capacity(outputs.len());
    let mut to_flip: Vec<usize> = Vec::new();
    for (k, &o) in outputs.iter().enumerate() {
        let id = graph_outputs[k];
        let t = &exec.graph().tensors[id];
        let len: usize = exec.output_shape(k).iter().product();
        // SAFETY: live context.
        let ptr = unsafe { data_of(ctx, o, runtime_type(exec.graph(), id), len, element_size(t.dtype))? };
        if t.uint8 {
            to_flip.push(k);
        }
        // SAFETY (each arm): `ptr` holds `len` aligned elements; outputs are distinct tensors,
        // disjoint from each other and from the inputs, so no other slice of them exists.
        outs.push(match t.dtype {
            DType::I8 => TensorDataMut::I8(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<i8>(), len) }),
            DType::F32 => TensorDataMut::F32(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<f32>(), len) }),
            DType::I32 => TensorDataMut::I32(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<i32>(), len) }),
        });
    }
    exec.run(&ins, &mut outs)?;
    for k in to_flip {
        if let TensorDataMut::I8(v) = &mut outs[k] {
            for q in v.iter_mut() {
                *q = (*q as u8 ^ 0x80) as i8;
            }
        }
    }
    Ok(())
}
