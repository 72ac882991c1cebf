//! Execution of graphs with typed tensors: int8 activations (quantized
//! ops on `armrest_kernels::quant` and `armrest_kernels::qops`), fp32
//! activations (the fp32 kernels, through the same node runner as
//! [`crate::Executor`]), int32 constants, and the dynamic-range ops that
//! quantize fp32 activations at run time.
//!
//! Weights are packed once in `new`; `prepare` plans shapes and places the
//! internal tensors in three arenas, one per element type ([`crate::arena`]);
//! `run` reads the inputs where the caller holds them, runs one kernel per
//! node and copies the outputs out. uint8 boundary tensors are the caller's business: this
//! executor sees them as int8 (`q ^ 0x80`).

use crate::arena::{self, ArenaView, NO_SLOT};
use crate::exec::{self, Packed};
use crate::ir::{Graph, Node, Op, ReshapeRule, TensorId};
use crate::qir::{DType, QConst, QOp, QOut};
use crate::shapes::{self, Shape};
use armrest_kernels::quant::{self, PackedQConv2d, PackedQDepthwise, PackedQGemm, QuantOut};
use armrest_kernels::{Exec, Isa, Nhwc, ThreadPool};
use std::sync::Arc;
use smallvec::SmallVec;

/// Read-only data of one tensor.
#[derive(Clone, Copy, Debug)]
pub enum TensorData<'a> {
    F32(&'a [f32]),
    I8(&'a [i8]),
    I32(&'a [i32]),
}

/// Writable data of one tensor.
#[derive(Debug)]
pub enum TensorDataMut<'a> {
    F32(&'a mut [f32]),
    I8(&'a mut [i8]),
    I32(&'a mut [i32]),
}

impl TensorData<'_> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::I8(_) => DType::I8,
            TensorData::I32(_) => DType::I32,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I32(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TensorDataMut<'_> {
    pub fn dtype(&self) -> DType {
        match self {
            TensorDataMut::F32(_) => DType::F32,
            TensorDataMut::I8(_) => DType::I8,
            TensorDataMut::I32(_) => DType::I32,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            TensorDataMut::F32(v) => v.len(),
            TensorDataMut::I8(v) => v.len(),
            TensorDataMut::I32(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The internal tensors, one arena per element type.
#[derive(Default)]
struct Arenas {
    f32: Vec<f32>,
    i8: Vec<i8>,
    i32: Vec<i32>,
}

/// Each arena readable (but for the range a node is writing).
#[derive(Clone, Copy)]
struct Readable<'a> {
    f32: ArenaView<'a, f32>,
    i8: ArenaView<'a, i8>,
    i32: ArenaView<'a, i32>,
}

impl Arenas {
    fn readable(&self) -> Readable<'_> {
        Readable { f32: ArenaView::whole(&self.f32), i8: ArenaView::whole(&self.i8), i32: ArenaView::whole(&self.i32) }
    }

    /// `len` elements of `dtype` from `at` writable, everything else readable.
    fn split(&mut self, dtype: DType, at: usize, len: usize) -> (TensorDataMut<'_>, Readable<'_>) {
        let Arenas { f32, i8, i32 } = self;
        match dtype {
            DType::F32 => {
                let (out, f32) = ArenaView::around(f32, at, len);
                (TensorDataMut::F32(out), Readable { f32, i8: ArenaView::whole(i8), i32: ArenaView::whole(i32) })
            }
            DType::I8 => {
                let (out, i8) = ArenaView::around(i8, at, len);
                (TensorDataMut::I8(out), Readable { f32: ArenaView::whole(f32), i8, i32: ArenaView::whole(i32) })
            }
            DType::I32 => {
                let (out, i32) = ArenaView::around(i32, at, len);
                (TensorDataMut::I32(out), Readable { f32: ArenaView::whole(f32), i8: ArenaView::whole(i8), i32 })
            }
        }
    }
}

/// A tensor's data while a node runs.
#[derive(Clone, Copy)]
enum View<'a> {
    F32(&'a [f32]),
    I8(&'a [i8]),
    I32(&'a [i32]),
}

impl<'a> View<'a> {
    fn f32(self) -> Result<&'a [f32], String> {
        match self {
            View::F32(v) => Ok(v),
            _ => Err("expected float32 data".into()),
        }
    }
    fn i8(self) -> Result<&'a [i8], String> {
        match self {
            View::I8(v) => Ok(v),
            _ => Err("expected int8 data".into()),
        }
    }
}

/// Per-node state built once.
enum QPacked {
    None,
    F32(Packed),
    /// Weights with the layer's output stage bound (`bind_output`).
    Conv(PackedQConv2d),
    Depthwise(PackedQDepthwise),
    Dense(PackedQGemm),
    /// Dynamic-range FULLY_CONNECTED / CONV_2D: int8 weights packed with a
    /// zero input zero point; per-output-channel weight scales (1 or n); fp32 bias.
    Hybrid { w: PackedQGemm, scales: Vec<f32>, bias: Option<Vec<f32>>, kernel: [usize; 2] },
    /// The other quantized ops (`armrest_kernels::qops`).
    Ops(crate::qops_bind::QopsParams),
}

/// A typed graph ready to run on one kernel tier.
pub struct QExecutor {
    graph: Graph,
    packed: Vec<QPacked>,
    shapes: Vec<Shape>,
    /// Whether the executor keeps the tensor (not a constant nor a partition input).
    internal: Vec<bool>,
    arenas: Arenas,
    /// Each internal tensor's offset in its element type's arena after the last `prepare`.
    offset_of: Vec<usize>,
    /// Each tensor's element count after the last `prepare`.
    lens: Vec<usize>,
    isa: Isa,
    pool: Arc<ThreadPool>,
    prepared: bool,
    #[cfg(feature = "tract")]
    islands: Vec<crate::tract_bridge::Island>,
}

fn to_quant_out(q: &QOut) -> QuantOut {
    QuantOut { requant: q.requant.clone(), zero_point: q.zero_point, min: q.min, max: q.max }
}

fn const_i8<'a>(graph: &'a Graph, node: &Node, pos: usize) -> Result<&'a [i8], String> {
    match graph.tensors.get(*node.inputs.get(pos).ok_or("missing input")?).and_then(|t| t.qconstant.as_ref()) {
        Some(QConst::I8(v)) => Ok(v),
        _ => Err(format!("node {}: input {pos} is not a constant int8 tensor", node.source)),
    }
}

fn const_bias_i32<'a>(graph: &'a Graph, node: &Node, n: usize) -> Result<Option<&'a [i32]>, String> {
    let Some(&id) = node.inputs.get(2) else { return Ok(None) };
    match graph.tensors[id].qconstant.as_ref() {
        Some(QConst::I32(v)) if v.len() == n => Ok(Some(v)),
        _ => Err(format!("node {}: bias is not {n} constant int32 values", node.source)),
    }
}

fn const_bias_f32(graph: &Graph, node: &Node, n: usize) -> Result<Option<Vec<f32>>, String> {
    let Some(&id) = node.inputs.get(2) else { return Ok(None) };
    match graph.tensors[id].constant.as_deref() {
        Some(v) if v.len() == n => Ok(Some(v.to_vec())),
        _ => Err(format!("node {}: bias is not {n} constant float32 values", node.source)),
    }
}

/// The weight tensor's (single) zero point and its scales.
fn weight_quant(graph: &Graph, node: &Node) -> Result<(i32, Vec<f32>), String> {
    let q = graph.tensors[node.inputs[1]].quant.as_ref().ok_or_else(|| format!("node {}: weights without quantization parameters", node.source))?;
    Ok((q.zero_point.first().copied().unwrap_or(0), q.scale.clone()))
}

fn input_zero_point(graph: &Graph, node: &Node) -> Result<i32, String> {
    let q = graph.tensors[node.inputs[0]].quant.as_ref().ok_or_else(|| format!("node {}: int8 input without quantization parameters", node.source))?;
    Ok(q.zero_point.first().copied().unwrap_or(0))
}

fn pack(graph: &Graph, node: &Node, isa: Isa) -> Result<QPacked, String> {
    let shape = |pos: usize| graph.tensors[node.inputs[pos]].shape.as_slice();
    let Op::Quant(q) = &node.op else {
        return Ok(QPacked::F32(exec::pack(graph, node, isa)?));
    };
    Ok(match q {
        QOp::Conv2d { out, .. } => {
            let s = shape(1);
            let (wzp, _) = weight_quant(graph, node)?;
            let w = PackedQConv2d::pack(isa, s[0], s[1], s[2], s[3], const_i8(graph, node, 1)?, wzp, const_bias_i32(graph, node, s[0])?, input_zero_point(graph, node)?);
            w.bind_output(to_quant_out(out));
            QPacked::Conv(w)
        }
        QOp::DepthwiseConv2d { depth_multiplier, out, .. } => {
            let s = shape(1);
            let (wzp, _) = weight_quant(graph, node)?;
            let w = PackedQDepthwise::pack(isa, s[1], s[2], s[3] / depth_multiplier, *depth_multiplier, const_i8(graph, node, 1)?, wzp, const_bias_i32(graph, node, s[3])?, input_zero_point(graph, node)?);
            w.bind_output(to_quant_out(out));
            QPacked::Depthwise(w)
        }
        QOp::FullyConnected { out, .. } => {
            let s = shape(1);
            let (wzp, _) = weight_quant(graph, node)?;
            let w = PackedQGemm::pack(isa, s[0], s[1], const_i8(graph, node, 1)?, wzp, const_bias_i32(graph, node, s[0])?, input_zero_point(graph, node)?);
            // LiteRT 2.3.0's reference FULLY_CONNECTED rounds once (findings 01:55); conv / depthwise round twice.
            w.bind_output(to_quant_out(out), quant::Rounding::Single);
            QPacked::Dense(w)
        }
        QOp::HybridFullyConnected { .. } | QOp::HybridConv2d { .. } => {
            let s = shape(1);
            let n = s[0];
            let k: usize = s[1..].iter().product();
            let (wzp, scales) = weight_quant(graph, node)?;
            if scales.len() != 1 && scales.len() != n {
                return Err(format!("node {}: {} weight scales for {n} outputs", node.source, scales.len()));
            }
            let w = PackedQGemm::pack(isa, n, k, const_i8(graph, node, 1)?, wzp, None, 0);
            let kernel = if s.len() == 4 { [s[1], s[2]] } else { [1, 1] };
            QPacked::Hybrid { w, scales, bias: const_bias_f32(graph, node, n)?, kernel }
        }
        other => match crate::qops_bind::params(other)? {
            Some(p) => QPacked::Ops(p),
            None => QPacked::None,
        },
    })
}

impl QExecutor {
    /// Packs every weight for `isa`. `isa` must be available on this CPU.
    pub fn new(graph: Graph, isa: Isa, pool: Arc<ThreadPool>) -> Result<QExecutor, String> {
        for (k, &id) in graph.outputs.iter().enumerate() {
            if graph.outputs[..k].contains(&id) {
                return Err(format!("tensor '{}' is listed twice at the boundary", graph.tensors[id].name));
            }
        }
        for node in &graph.nodes {
            if node.outputs.len() != 1 {
                return Err(format!("node {} has {} outputs", node.source, node.outputs.len()));
            }
            let want = match &node.op {
                Op::Quant(q) => q.output_dtype(),
                Op::Reshape(_) => graph.tensors[node.inputs[0]].dtype,
                _ => DType::F32,
            };
            let got = graph.tensors[node.outputs[0]].dtype;
            if got != want {
                return Err(format!("node {} ({}) writes {} into the {} tensor '{}'", node.source, node.op.name(), want.name(), got.name(), graph.tensors[node.outputs[0]].name));
            }
        }
        #[cfg(not(feature = "tract"))]
        if let Some(node) = graph.nodes.iter().find(|n| matches!(n.op, Op::Fallback(_))) {
            return Err(format!("node {} ({}) needs tract, which this build of armrest leaves out", node.source, node.op.name()));
        }
        let packed = graph.nodes.iter().map(|node| pack(&graph, node, isa)).collect::<Result<Vec<_>, _>>()?;
        let shapes = graph.tensors.iter().map(|t| t.shape.clone()).collect();
        let internal: Vec<bool> = graph.tensors.iter().enumerate().map(|(id, t)| !t.is_constant() && !graph.inputs.contains(&id)).collect();
        for node in &graph.nodes {
            if let Some(&id) = node.outputs.iter().find(|&&o| !internal[o]) {
                return Err(format!("node {} writes the read-only tensor '{}'", node.source, graph.tensors[id].name));
            }
        }
        let count = graph.tensors.len();
        Ok(QExecutor {
            #[cfg(feature = "tract")]
            islands: crate::tract_bridge::Island::find(&graph),
            graph,
            packed,
            shapes,
            internal,
            arenas: Arenas::default(),
            offset_of: vec![NO_SLOT; count],
            lens: vec![0; count],
            isa,
            pool,
            prepared: false,
        })
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// The names of the int8 micro-kernels the packed nodes use (sorted, unique).
    pub fn kernel_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .packed
            .iter()
            .filter_map(|p| match p {
                QPacked::Conv(w) => Some(w.kernel_name()),
                QPacked::Depthwise(w) => Some(w.kernel_name()),
                QPacked::Dense(w) | QPacked::Hybrid { w, .. } => Some(w.kernel_name()),
                QPacked::None | QPacked::F32(_) | QPacked::Ops(_) => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Plans shapes and buffers for these input shapes; returns the output shapes.
    pub fn prepare(&mut self, input_shapes: &[Shape]) -> Result<Vec<Shape>, String> {
        self.prepared = false;
        shapes::infer_graph(&self.graph, &mut self.shapes, input_shapes)?;
        for (len, shape) in self.lens.iter_mut().zip(&self.shapes) {
            *len = shape.iter().product();
        }
        #[cfg(feature = "tract")]
        for island in &mut self.islands {
            island.prepare(&self.graph, &self.shapes)?;
        }
        self.plan_arenas();
        self.prepared = true;
        Ok(self.graph.outputs.iter().map(|&o| self.shapes[o].clone()).collect())
    }

    /// What each node reads and writes as the executor runs it: a fallback
    /// island's first node reads the island's inputs and writes its outputs,
    /// the island's other nodes nothing.
    fn node_uses(&self, n: usize) -> (&[TensorId], &[TensorId]) {
        let node = &self.graph.nodes[n];
        #[cfg(feature = "tract")]
        if let Some(uses) = crate::arena::fallback_uses(node, &self.islands, n) {
            return uses;
        }
        (&node.inputs, &node.outputs)
    }

    /// Places the internal tensors of each element type in its arena. The
    /// graph's outputs live to the end: `run` copies them out last.
    fn plan_arenas(&mut self) {
        let nodes = self.graph.nodes.len();
        let (first, mut last) = arena::lifetimes(self.graph.tensors.len(), nodes, |n| self.node_uses(n));
        for &o in &self.graph.outputs {
            last[o] = nodes;
        }
        let members = |dtype: DType| -> Vec<TensorId> {
            (0..self.graph.tensors.len()).filter(|&t| self.internal[t] && first[t] != usize::MAX && self.graph.tensors[t].dtype == dtype).collect()
        };
        let (f32s, i8s, i32s) = (members(DType::F32), members(DType::I8), members(DType::I32));
        self.offset_of.fill(NO_SLOT);
        // Every tensor starts on a cache line (64 bytes).
        arena::lay_out(&mut self.arenas.f32, &f32s, &self.lens, &first, &last, &mut self.offset_of);
        arena::lay_out(&mut self.arenas.i8, &i8s, &self.lens, &first, &last, &mut self.offset_of);
        arena::lay_out(&mut self.arenas.i32, &i32s, &self.lens, &first, &last, &mut self.offset_of);
    }

    /// Drops the graph's own copies of weights that live on only in packed
    /// form (int8 filters, int32 and fp32 biases, the filters of fp32 nodes;
    /// see [`exec::packed_only`]). Returns the bytes freed.
    pub fn release_packed_weights(&mut self) -> usize {
        let packed_only = exec::packed_only(&self.graph, |n| match &self.packed[n] {
            QPacked::Conv(_) | QPacked::Depthwise(_) | QPacked::Dense(_) | QPacked::Hybrid { .. } => true,
            QPacked::F32(p) => !matches!(p, Packed::None),
            QPacked::None | QPacked::Ops(_) => false,
        });
        let mut freed = 0;
        for (t, tensor) in self.graph.tensors.iter_mut().enumerate() {
            if packed_only[t] && !self.graph.inputs.contains(&t) {
                freed += tensor.constant.take().map_or(0, |c| 4 * c.len());
                freed += match tensor.qconstant.take() {
                    Some(QConst::I8(v)) => v.len(),
                    Some(QConst::I32(v)) => 4 * v.len(),
                    None => 0,
                };
            }
        }
        freed
    }

    /// Bytes the arenas hold after the last `prepare` (for memory reports).
    pub fn arena_bytes(&self) -> usize {
        4 * self.arenas.f32.len() + self.arenas.i8.len() + 4 * self.arenas.i32.len()
    }

    /// Shape of any tensor after the last `prepare` (its recorded shape before).
    pub fn tensor_shape(&self, id: TensorId) -> &[usize] {
        &self.shapes[id]
    }

    /// Shape of a graph output after the last `prepare`.
    pub fn output_shape(&self, k: usize) -> &[usize] {
        &self.shapes[self.graph.outputs[k]]
    }

    /// Runs the graph. Each slice must have its tensor's element type and the prepared length.
    pub fn run(&mut self, inputs: &[TensorData], outputs: &mut [TensorDataMut]) -> Result<(), String> {
        if !self.prepared {
            return Err("run before a successful prepare".into());
        }
        if inputs.len() != self.graph.inputs.len() || outputs.len() != self.graph.outputs.len() {
            return Err("wrong number of inputs or outputs".into());
        }
        for (k, &id) in self.graph.inputs.iter().enumerate() {
            let want: usize = self.shapes[id].iter().product();
            let t = &self.graph.tensors[id];
            if inputs[k].dtype() != t.dtype || inputs[k].len() != want {
                return Err(format!("input {k} holds {} {} values, its shape {:?} needs {want} {}", inputs[k].len(), inputs[k].dtype().name(), self.shapes[id], t.dtype.name()));
            }
        }
        // The nodes read the partition's inputs where the runtime holds them (no copy into
        // the buffers: that was the 602 KB float image of an int8 MobileNetV2, ~1% of an invoke).
        for (k, &id) in self.graph.outputs.iter().enumerate() {
            let want: usize = self.shapes[id].iter().product();
            let t = &self.graph.tensors[id];
            if outputs[k].dtype() != t.dtype || outputs[k].len() != want {
                return Err(format!("output {k} holds {} {} values, its shape {:?} needs {want} {}", outputs[k].len(), outputs[k].dtype().name(), self.shapes[id], t.dtype.name()));
            }
        }
        let exec = Exec { isa: self.isa, pool: &self.pool };
        let at = |id: TensorId| Place { offset: self.offset_of[id], len: self.lens[id] };
        for (n, node) in self.graph.nodes.iter().enumerate() {
            #[cfg(feature = "tract")]
            if let Op::Fallback(_) = node.op {
                if let Some(island) = self.islands.iter().find(|i| i.first() == n) {
                    let results = {
                        let arenas = self.arenas.readable();
                        let ins = island.inputs.iter().map(|&i| view(&self.graph, arenas, at(i), inputs, i).f32()).collect::<Result<Vec<_>, _>>()?;
                        island.run(&ins).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?
                    };
                    for (&id, values) in island.outputs.iter().zip(results) {
                        let Place { offset, len } = at(id);
                        if offset == NO_SLOT || len != values.len() || self.graph.tensors[id].dtype != DType::F32 {
                            return Err(format!("node {}: tract island output '{}' has no room", node.source, self.graph.tensors[id].name));
                        }
                        self.arenas.f32[offset..offset + len].copy_from_slice(&values);
                    }
                }
                continue;
            }
            let out_id = node.outputs[0];
            let Place { offset, len } = at(out_id);
            if offset == NO_SLOT {
                return Err(format!("node {}: its output '{}' has no place", node.source, self.graph.tensors[out_id].name));
            }
            // The output's range overlaps none of the inputs' (arena::place):
            // the arena is split around it and the inputs read from either side.
            let (mut out, arenas) = self.arenas.split(self.graph.tensors[out_id].dtype, offset, len);
            // On the stack for up to four inputs: two allocations per node were a tenth of a small layer's run.
            let ins: SmallVec<[View; 4]> = node.inputs.iter().map(|&i| view(&self.graph, arenas, at(i), inputs, i)).collect();
            let in_shapes: SmallVec<[&[usize]; 4]> = node.inputs.iter().map(|&i| self.shapes[i].as_slice()).collect();
            run_node(exec, &node.op, &self.packed[n], &ins, &in_shapes, &self.shapes[out_id], &mut out).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?;
        }
        let arenas = self.arenas.readable();
        for (k, &id) in self.graph.outputs.iter().enumerate() {
            match (view(&self.graph, arenas, at(id), inputs, id), &mut outputs[k]) {
                (View::F32(v), TensorDataMut::F32(o)) => o.copy_from_slice(v),
                (View::I8(v), TensorDataMut::I8(o)) => o.copy_from_slice(v),
                (View::I32(v), TensorDataMut::I32(o)) => o.copy_from_slice(v),
                _ => return Err(format!("output {k} has the wrong type")),
            }
        }
        Ok(())
    }
}

/// An internal tensor's place in its arena.
#[derive(Clone, Copy)]
struct Place {
    offset: usize,
    len: usize,
}

/// Tensor `id`'s data: a constant, a partition input (`inputs`, in the
/// graph's input order) or its range of the arena of its element type.
fn view<'a>(graph: &'a Graph, arenas: Readable<'a>, at: Place, inputs: &[TensorData<'a>], id: TensorId) -> View<'a> {
    let t = &graph.tensors[id];
    if let Some(c) = &t.constant {
        return View::F32(c);
    }
    if let Some(k) = graph.inputs.iter().position(|&g| g == id) {
        return match inputs[k] {
            TensorData::F32(v) => View::F32(v),
            TensorData::I8(v) => View::I8(v),
            TensorData::I32(v) => View::I32(v),
        };
    }
    match &t.qconstant {
        Some(QConst::I8(v)) => View::I8(v),
        Some(QConst::I32(v)) => View::I32(v),
        None if at.offset == NO_SLOT => match t.dtype {
            DType::F32 => View::F32(&[]),
            DType::I8 => View::I8(&[]),
            DType::I32 => View::I32(&[]),
        },
        None => match t.dtype {
            DType::F32 => View::F32(arenas.f32.get(at.offset, at.len)),
            DType::I8 => View::I8(arenas.i8.get(at.offset, at.len)),
            DType::I32 => View::I32(arenas.i32.get(at.offset, at.len)),
        },
    }
}

fn nhwc(s: &[usize]) -> Nhwc {
    Nhwc { n: s[0], h: s[1], w: s[2], c: s[3] }
}

fn out_i8<'o>(out: &'o mut TensorDataMut) -> Result<&'o mut [i8], String> {
    match out {
        TensorDataMut::I8(v) => Ok(v),
        _ => Err("the output is not int8".into()),
    }
}

fn out_f32<'o>(out: &'o mut TensorDataMut) -> Result<&'o mut [f32], String> {
    match out {
        TensorDataMut::F32(v) => Ok(v),
        _ => Err("the output is not float32".into()),
    }
}

/// Runs one node. Shapes were validated by `prepare`.
fn run_node(exec: Exec, op: &Op, packed: &QPacked, ins: &[View], in_shapes: &[&[usize]], out_shape: &[usize], out: &mut TensorDataMut) -> Result<(), String> {
    match (op, packed) {
        (Op::Reshape(ReshapeRule::To(_) | ReshapeRule::Squeeze(_) | ReshapeRule::ExpandDims(_)), _) => {
            match (ins[0], out) {
                (View::F32(x), TensorDataMut::F32(o)) => o.copy_from_slice(x),
                (View::I8(x), TensorDataMut::I8(o)) => o.copy_from_slice(x),
                (View::I32(x), TensorDataMut::I32(o)) => o.copy_from_slice(x),
                _ => return Err("reshape between different element types".into()),
            }
            Ok(())
        }
        (Op::Quant(q), _) => run_quant(exec, q, packed, ins, in_shapes, out_shape, out),
        (_, QPacked::F32(p)) => {
            let xs32 = ins.iter().map(|v| v.f32()).collect::<Result<Vec<_>, _>>()?;
            exec::run_node(exec, op, p, &xs32, in_shapes, out_shape, out_f32(out)?);
            Ok(())
        }
        _ => Err("node was not packed".into()),
    }
}

/// A layer's output stage, bound to its weights by `pack`.
fn bound(q: Option<&QuantOut>) -> Result<&QuantOut, String> {
    q.ok_or_else(|| "the layer's output stage was not bound to its weights".to_string())
}

fn run_quant(exec: Exec, q: &QOp, packed: &QPacked, ins: &[View], in_shapes: &[&[usize]], out_shape: &[usize], out: &mut TensorDataMut) -> Result<(), String> {
    let xs = in_shapes[0];
    match (q, packed) {
        (QOp::Conv2d { padding, stride, dilation, .. }, QPacked::Conv(w)) => {
            let ws = in_shapes[1];
            let win = shapes::window(*padding, [xs[1], xs[2]], [ws[1], ws[2]], *stride, *dilation);
            quant::qconv2d(exec, &win, nhwc(xs), ins[0].i8()?, w, out_i8(out)?, bound(w.output())?);
        }
        (QOp::DepthwiseConv2d { padding, stride, dilation, .. }, QPacked::Depthwise(w)) => {
            let ws = in_shapes[1];
            let win = shapes::window(*padding, [xs[1], xs[2]], [ws[1], ws[2]], *stride, *dilation);
            quant::qdepthwise_conv2d(exec, &win, nhwc(xs), ins[0].i8()?, w, out_i8(out)?, bound(w.output())?);
        }
        (QOp::FullyConnected { .. }, QPacked::Dense(w)) => {
            let x = ins[0].i8()?;
            let rows = x.len().checked_div(w.k()).unwrap_or(0);
            // The bound stage rounds once, as LiteRT 2.3.0's reference FULLY_CONNECTED (see `pack`).
            quant::qfully_connected_rounding(exec, rows, x, w, out_i8(out)?, bound(w.output())?, quant::Rounding::Single);
        }
        (QOp::HybridFullyConnected { clamp, asymmetric, .. }, QPacked::Hybrid { w, scales, bias, .. }) => {
            let x = ins[0].f32()?;
            let rows = x.len().checked_div(w.k()).unwrap_or(0);
            crate::hybrid::fully_connected(exec, x, rows, w, scales, bias.as_deref(), *clamp, *asymmetric, out_f32(out)?);
        }
        (QOp::HybridConv2d { padding, stride, clamp, asymmetric }, QPacked::Hybrid { w, scales, bias, kernel }) => {
            let win = shapes::window(*padding, [xs[1], xs[2]], *kernel, *stride, [1, 1]);
            crate::hybrid::conv2d(exec, &win, nhwc(xs), ins[0].f32()?, nhwc(out_shape), w, scales, bias.as_deref(), *clamp, *asymmetric, out_f32(out)?);
        }
        (QOp::Cast { from, to }, _) => {
            let x = match ins[0] {
                View::F32(x) => TensorData::F32(x),
                View::I8(x) => TensorData::I8(x),
                View::I32(x) => TensorData::I32(x),
            };
            let y = match out {
                TensorDataMut::F32(y) => TensorDataMut::F32(y),
                TensorDataMut::I8(y) => TensorDataMut::I8(y),
                TensorDataMut::I32(y) => TensorDataMut::I32(y),
            };
            crate::cast::cast(*from, x, *to, y)?;
        }
        (_, QPacked::Ops(p)) => {
            use crate::qops_bind::{In, Out};
            let ins = ins
                .iter()
                .map(|v| match *v {
                    View::F32(x) => Ok(In::F32(x)),
                    View::I8(x) => Ok(In::I8(x)),
                    View::I32(_) => Err(format!("{}: int32 input", q.name())),
                })
                .collect::<Result<SmallVec<[_; 4]>, _>>()?;
            let out = match out {
                TensorDataMut::F32(o) => Out::F32(o),
                TensorDataMut::I8(o) => Out::I8(o),
                TensorDataMut::I32(_) => return Err(format!("{}: int32 output", q.name())),
            };
            crate::qops_bind::run(exec, q, p, &ins, in_shapes, out_shape, out)?;
        }
        _ => return Err(format!("{} has no int8 kernel", q.name())),
    }
    Ok(())
}
