//! Execution of an IR graph on armrest's kernels: weights are packed once
//! when the executor is built, shapes and buffers are planned at every
//! `prepare` (inputs may be resized), and `run` calls one kernel per node.
//!
//! Internal tensors share one arena ([`crate::arena`]): `prepare` gives each
//! an offset that no tensor alive at the same time overlaps, so memory
//! follows the widest point of the graph, not the sum of its tensors.

use crate::arena::{ArenaView, NO_SLOT};
use crate::ir::{Graph, Op, PoolKind, ReshapeRule, TensorId};
use crate::shapes::{self, Shape};
use armrest_kernels::conv::{self, PackedConv2d, PackedDepthwise};
use armrest_kernels::gemm::{self, PackedWeights};
use armrest_kernels::{elementwise, gelu, layout, matmul, pool, reduce, resize, softmax, transpose, Exec, Isa, Nhwc, ThreadPool};
use std::sync::Arc;

/// Per-node state built once: packed weights.
pub(crate) enum Packed {
    None,
    Conv(PackedConv2d),
    Depthwise(PackedDepthwise),
    Dense(PackedWeights),
    /// One packed convolution per group.
    Grouped(Vec<PackedConv2d>),
}

/// Where a tensor's data lives while the graph runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    Input(usize),
    Output(usize),
    Constant,
    Internal,
}

/// A graph ready to run on one kernel tier.
pub struct Executor {
    graph: Graph,
    packed: Vec<Packed>,
    storage: Vec<Storage>,
    shapes: Vec<Shape>,
    /// The arena: every internal tensor at its offset (tensors whose lifetimes do not overlap share space).
    arena: Vec<f32>,
    /// Each tensor's offset in the arena (internal tensors the executor materialises; `NO_SLOT` otherwise).
    offset_of: Vec<usize>,
    /// Each tensor's element count after the last `prepare`.
    lens: Vec<usize>,
    isa: Isa,
    pool: Arc<ThreadPool>,
    prepared: bool,
    /// How each node runs: alone, as the head of a fused chain, or skipped (see [`crate::fuse::plan_chains`]).
    roles: Vec<crate::fuse::Role>,
    /// Runs of fallback nodes, run by tract.
    #[cfg(feature = "tract")]
    islands: Vec<crate::tract_bridge::Island>,
}

impl Executor {
    /// Packs every weight for `isa`. `isa` must be available on this CPU.
    pub fn new(mut graph: Graph, isa: Isa, pool: Arc<ThreadPool>) -> Result<Executor, String> {
        crate::fuse::fold_pads(&mut graph);
        crate::fuse::fold_activations(&mut graph);
        let mut storage = vec![Storage::Internal; graph.tensors.len()];
        for (id, t) in graph.tensors.iter().enumerate() {
            if t.constant.is_some() {
                storage[id] = Storage::Constant;
            }
        }
        for (k, &id) in graph.inputs.iter().enumerate() {
            storage[id] = Storage::Input(k);
        }
        for (k, &id) in graph.outputs.iter().enumerate() {
            match storage[id] {
                Storage::Internal => storage[id] = Storage::Output(k),
                Storage::Constant => {} // copied out by `run`
                Storage::Input(_) | Storage::Output(_) => return Err(format!("tensor '{}' is listed twice at the boundary", graph.tensors[id].name)),
            }
        }
        // One huge-page region for all packed weights: a page fault per 2 MiB, not per 4 KiB.
        let weight_bytes: usize = graph.tensors.iter().filter_map(|t| t.constant.as_ref()).map(|c| 4 * c.len()).sum();
        let packed = armrest_kernels::huge_pages::packing_in_huge_pages(weight_bytes, || {
            graph.nodes.iter().map(|node| pack(&graph, node, isa)).collect::<Result<Vec<_>, _>>()
        })?;
        let shapes = graph.tensors.iter().map(|t| t.shape.clone()).collect();
        let offset_of = vec![NO_SLOT; graph.tensors.len()];
        let lens = vec![0; graph.tensors.len()];
        if graph.is_quantized() {
            return Err("the graph has quantized tensors: run it with QExecutor".into());
        }
        #[cfg(not(feature = "tract"))]
        if let Some(node) = graph.nodes.iter().find(|n| matches!(n.op, Op::Fallback(_))) {
            return Err(format!("node {} ({}) needs tract, which this build of armrest leaves out", node.source, node.op.name()));
        }
        Ok(Executor {
            #[cfg(feature = "tract")]
            islands: crate::tract_bridge::Island::find(&graph),
            roles: crate::fuse::plan_chains(&graph),
            graph,
            packed,
            storage,
            shapes,
            arena: Vec::new(),
            offset_of,
            lens,
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

    /// Plans shapes and buffers for these input shapes; returns the output shapes.
    pub fn prepare(&mut self, input_shapes: &[Shape]) -> Result<Vec<Shape>, String> {
        self.prepared = false;
        shapes::infer_graph(&self.graph, &mut self.shapes, input_shapes)?;
        for (len, shape) in self.lens.iter_mut().zip(&self.shapes) {
            *len = shape.iter().product();
        }
        self.plan_arena();
        #[cfg(feature = "tract")]
        for island in &mut self.islands {
            island.prepare(&self.graph, &self.shapes)?;
        }
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
        match &self.roles[n] {
            crate::fuse::Role::Chain(chain) => (&chain.reads, &chain.writes),
            crate::fuse::Role::Skip => (&[], &[]),
            crate::fuse::Role::Plain => (&node.inputs, &node.outputs),
        }
    }

    /// How many fused chains the executor runs.
    #[cfg(test)]
    pub(crate) fn chains(&self) -> usize {
        self.roles.iter().filter(|r| matches!(r, crate::fuse::Role::Chain(_))).count()
    }

    /// Gives every internal tensor its place in the arena (see [`crate::arena`]).
    fn plan_arena(&mut self) {
        let (first, last) = crate::arena::lifetimes(self.graph.tensors.len(), self.graph.nodes.len(), |n| self.node_uses(n));
        let members: Vec<TensorId> = (0..self.graph.tensors.len()).filter(|&t| self.storage[t] == Storage::Internal && first[t] != usize::MAX).collect();
        self.offset_of.fill(NO_SLOT);
        // Every tensor starts on a cache line (16 floats).
        crate::arena::lay_out(&mut self.arena, &members, &self.lens, &first, &last, &mut self.offset_of);
    }

    /// Drops the graph's own copies of weights that live on only in packed
    /// form: constants read solely as the filter or bias of a packed conv,
    /// depthwise, grouped conv or fully-connected node (never a graph output,
    /// nor read by any other node or tract island). Call it once whatever
    /// needs the full graph (verify's tract twin) has taken its copy.
    /// Returns the number of floats freed.
    pub fn release_packed_weights(&mut self) -> usize {
        let packed_only = packed_only(&self.graph, |n| !matches!(self.packed[n], Packed::None));
        let mut freed = 0;
        for (t, tensor) in self.graph.tensors.iter_mut().enumerate() {
            if packed_only[t] && self.storage[t] == Storage::Constant {
                freed += tensor.constant.take().map_or(0, |c| c.len());
            }
        }
        freed
    }

    /// Elements the arena holds after the last `prepare` (for memory reports).
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }

    /// Shape of any tensor after the last `prepare` (its recorded shape before).
    pub fn tensor_shape(&self, id: TensorId) -> &[usize] {
        &self.shapes[id]
    }

    /// Shape of a graph output after the last `prepare`.
    pub fn output_shape(&self, k: usize) -> &[usize] {
        &self.shapes[self.graph.outputs[k]]
    }

    /// Runs the graph. Slices must have the lengths of the prepared shapes.
    pub fn run(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) -> Result<(), String> {
        if !self.prepared {
            return Err("run before a successful prepare".into());
        }
        if inputs.len() != self.graph.inputs.len() || outputs.len() != self.graph.outputs.len() {
            return Err("wrong number of inputs or outputs".into());
        }
        for (k, &id) in self.graph.inputs.iter().enumerate() {
            let want: usize = self.shapes[id].iter().product();
            if inputs[k].len() != want {
                return Err(format!("input {k} holds {} values, its shape {:?} needs {want}", inputs[k].len(), self.shapes[id]));
            }
        }
        for (k, &id) in self.graph.outputs.iter().enumerate() {
            let want: usize = self.shapes[id].iter().product();
            if outputs[k].len() != want {
                return Err(format!("output {k} holds {} values, its shape {:?} needs {want}", outputs[k].len(), self.shapes[id]));
            }
            if let Some(c) = &self.graph.tensors[id].constant {
                outputs[k].copy_from_slice(c);
            }
        }
        let exec = Exec { isa: self.isa, pool: &self.pool };
        for (n, node) in self.graph.nodes.iter().enumerate() {
            #[cfg(feature = "tract")]
            if let Op::Fallback(_) = node.op {
                if let Some(island) = self.islands.iter().find(|i| i.first() == n) {
                    let results = {
                        let arena = ArenaView::whole(&self.arena);
                        let ins = gather(&island.inputs, &self.storage, &self.graph, arena, &self.offset_of, &self.lens, inputs, outputs);
                        island.run(&ins).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?
                    };
                    for (&id, values) in island.outputs.iter().zip(results) {
                        match self.storage[id] {
                            Storage::Internal if self.offset_of[id] != NO_SLOT && self.lens[id] == values.len() => {
                                let at = self.offset_of[id];
                                self.arena[at..at + values.len()].copy_from_slice(&values)
                            }
                            Storage::Output(k) if outputs[k].len() == values.len() => outputs[k].copy_from_slice(&values),
                            _ => return Err(format!("node {}: tract island output '{}' has no room", node.source, self.graph.tensors[id].name)),
                        }
                    }
                }
                continue;
            }
            let (in_ids, out_id) = match &self.roles[n] {
                crate::fuse::Role::Skip => continue,
                crate::fuse::Role::Chain(chain) => (&chain.reads[..], chain.writes[0]),
                crate::fuse::Role::Plain => (&node.inputs[..], node.outputs[0]),
            };
            let packed = &self.packed[n];
            let in_shapes: Vec<&[usize]> = in_ids.iter().map(|&i| self.shapes[i].as_slice()).collect();
            let out_shape = self.shapes[out_id].as_slice();
            let (role, graph, all_packed) = (&self.roles[n], &self.graph, &self.packed);
            let run_one = |exec: Exec, op: &Op, packed: &Packed, ins: &[&[f32]], in_shapes: &[&[usize]], out_shape: &[usize], out: &mut [f32]| match role {
                crate::fuse::Role::Chain(chain) => crate::fuse::run_chain(exec, chain, graph, all_packed, in_shapes[0], ins[0], out),
                _ => run_node(exec, op, packed, ins, in_shapes, out_shape, out),
            };
            // Detach the output buffer so the inputs can be borrowed alongside it.
            match self.storage[out_id] {
                Storage::Internal => {
                    // The output's range overlaps none of the inputs' (see `plan_arena`):
                    // split the arena around it and read the inputs from either side.
                    let (at, len) = (self.offset_of[out_id], self.lens[out_id]);
                    let (out, arena) = ArenaView::around(&mut self.arena, at, len);
                    let ins = gather(in_ids, &self.storage, &self.graph, arena, &self.offset_of, &self.lens, inputs, outputs);
                    run_one(exec, &node.op, packed, &ins, &in_shapes, out_shape, out);
                }
                Storage::Output(k) => {
                    let out = std::mem::take(&mut outputs[k]);
                    let arena = ArenaView::whole(&self.arena);
                    let ins = gather(in_ids, &self.storage, &self.graph, arena, &self.offset_of, &self.lens, inputs, outputs);
                    run_one(exec, &node.op, packed, &ins, &in_shapes, out_shape, out);
                    outputs[k] = out;
                }
                Storage::Input(_) | Storage::Constant => return Err(format!("node {} writes a read-only tensor", node.source)),
            }
        }
        Ok(())
    }
}

/// Per tensor, whether it is read only as the filter or bias (inputs 1
/// and 2) of nodes for which `packs(n)`: never a graph output, nor read by
/// any other node (tract islands' fallback nodes included).
pub(crate) fn packed_only(graph: &Graph, packs: impl Fn(usize) -> bool) -> Vec<bool> {
    let mut only = vec![true; graph.tensors.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        let packs = packs(n) && !matches!(node.op, Op::Fallback(_));
        for (pos, &t) in node.inputs.iter().enumerate() {
            if !(packs && (pos == 1 || pos == 2)) {
                only[t] = false;
            }
        }
    }
    for &t in &graph.outputs {
        only[t] = false;
    }
    only
}

/// The data of each tensor in `ids`, wherever it lives.
#[allow(clippy::too_many_arguments)]
fn gather<'a>(ids: &[TensorId], storage: &[Storage], graph: &'a Graph, arena: ArenaView<'a, f32>, offset_of: &[usize], lens: &[usize], inputs: &[&'a [f32]], outputs: &'a [&mut [f32]]) -> Vec<&'a [f32]> {
    ids.iter()
        .map(|&id| match storage[id] {
            Storage::Input(k) => inputs[k],
            Storage::Output(k) => &*outputs[k],
            Storage::Constant => graph.tensors[id].constant.as_deref().unwrap_or(&[]),
            Storage::Internal if offset_of[id] == NO_SLOT => &[],
            Storage::Internal => arena.get(offset_of[id], lens[id]),
        })
        .collect()
}

pub(crate) fn pack(graph: &Graph, node: &crate::ir::Node, isa: Isa) -> Result<Packed, String> {
    let constant = |pos: usize| -> Result<&[f32], String> {
        let id = node.inputs[pos];
        graph.tensors[id].constant.as_deref().ok_or_else(|| format!("node {}: input {pos} is not constant", node.source))
    };
    let bias = |pos: usize| -> Result<Option<&[f32]>, String> { if node.inputs.len() > pos { constant(pos).map(Some) } else { Ok(None) } };
    let shape = |pos: usize| graph.tensors[node.inputs[pos]].shape.as_slice();
    let check_bias = |b: Option<&[f32]>, n: usize| match b {
        Some(b) if b.len() != n => Err(format!("node {}: bias has {} values for {n} outputs", node.source, b.len())),
        _ => Ok(()),
    };
    Ok(match &node.op {
        Op::Conv2d { .. } => {
            let s = shape(1);
            let b = bias(2)?;
            check_bias(b, s[0])?;
            Packed::Conv(PackedConv2d::pack(isa, s[0], s[1], s[2], s[3], constant(1)?, b))
        }
        Op::DepthwiseConv2d { depth_multiplier, .. } => {
            let s = shape(1);
            let b = bias(2)?;
            check_bias(b, s[3])?;
            Packed::Depthwise(PackedDepthwise::pack(isa, s[1], s[2], s[3] / depth_multiplier, *depth_multiplier, constant(1)?, b))
        }
        Op::FullyConnected { .. } => {
            let s = shape(1);
            let b = bias(2)?;
            check_bias(b, s[0])?;
            Packed::Dense(PackedWeights::pack(isa, s[0], s[1], constant(1)?, b))
        }
        Op::GroupedConv2d { groups, .. } => {
            let s = shape(1);
            let b = bias(2)?;
            check_bias(b, s[0])?;
            let w = constant(1)?;
            if *groups == 0 || !s[0].is_multiple_of(*groups) || w.len() != s.iter().product::<usize>() {
                return Err(format!("node {}: {groups} groups do not divide filter {s:?}", node.source));
            }
            let og = s[0] / groups;
            let per = og * s[1] * s[2] * s[3];
            Packed::Grouped((0..*groups).map(|g| PackedConv2d::pack(isa, og, s[1], s[2], s[3], &w[g * per..(g + 1) * per], b.map(|b| &b[g * og..(g + 1) * og]))).collect())
        }
        _ => Packed::None,
    })
}

fn nhwc(s: &[usize]) -> Nhwc {
    Nhwc { n: s[0], h: s[1], w: s[2], c: s[3] }
}

/// Runs one node. Shapes were validated by `prepare`.
pub(crate) fn run_node(exec: Exec, op: &Op, packed: &Packed, ins: &[&[f32]], in_shapes: &[&[usize]], out_shape: &[usize], out: &mut [f32]) {
    let x = ins[0];
    let xs = in_shapes[0];
    match (op, packed) {
        (Op::Conv2d { padding, stride, dilation, clamp }, Packed::Conv(w)) => {
            let win = shapes::window(*padding, [xs[1], xs[2]], [w.kernel_h, w.kernel_w], *stride, *dilation);
            conv::conv2d(exec, &win, nhwc(xs), x, w, out, *clamp);
        }
        (Op::DepthwiseConv2d { padding, stride, dilation, clamp, .. }, Packed::Depthwise(w)) => {
            let win = shapes::window(*padding, [xs[1], xs[2]], [w.kernel_h, w.kernel_w], *stride, *dilation);
            conv::depthwise_conv2d(exec, &win, nhwc(xs), x, w, out, *clamp);
        }
        (Op::FullyConnected { clamp, .. }, Packed::Dense(w)) => {
            let rows = x.len() / w.k;
            gemm::fully_connected(exec, rows, x, w, out, *clamp);
        }
        (Op::Binary { op, clamp }, _) => {
            let rank = out_shape.len();
            let (a, b) = (shapes::pad_rank(xs, rank), shapes::pad_rank(in_shapes[1], rank));
            elementwise::binary(exec, *op, x, &a, ins[1], &b, out, out_shape, *clamp);
        }
        (Op::Unary(u), _) => elementwise::unary(exec, *u, x, out),
        (Op::Prelu, _) => {
            let a = shapes::pad_rank(in_shapes[1], xs.len());
            elementwise::prelu(exec, x, xs, ins[1], &a, out);
        }
        (Op::Pool2d { kind, padding, stride, filter, clamp }, _) => {
            let win = shapes::window(*padding, [xs[1], xs[2]], *filter, *stride, [1, 1]);
            match kind {
                PoolKind::Average => pool::avg_pool2d(exec, &win, nhwc(xs), x, out, *clamp),
                PoolKind::Max => pool::max_pool2d(exec, &win, nhwc(xs), x, out, *clamp),
            }
        }
        (Op::Mean { axes, .. }, _) => {
            let axes = shapes::mean_axes(axes, xs.len()).expect("validated at prepare");
            reduce::mean(exec, x, xs, &axes, out);
        }
        (Op::Reshape(ReshapeRule::To(_) | ReshapeRule::Squeeze(_) | ReshapeRule::ExpandDims(_)), _) => out.copy_from_slice(x),
        (Op::Concat { axis }, _) => {
            let axis = shapes::norm_axis(*axis, xs.len()).expect("validated at prepare");
            let parts: Vec<(&[f32], &[usize])> = ins.iter().copied().zip(in_shapes.iter().copied()).collect();
            layout::concat(&parts, axis, out);
        }
        (Op::Pad { pads }, _) => layout::pad(x, xs, pads, 0.0, out),
        (Op::Softmax { beta }, _) => {
            let len = *xs.last().unwrap();
            let rows = x.len().checked_div(len).unwrap_or(0);
            softmax::softmax(exec, rows, len, *beta, x, out);
        }
        (Op::ResizeBilinear { size, align_corners, half_pixel_centers }, _) => {
            resize::resize_bilinear(exec, nhwc(xs), x, size[0], size[1], *align_corners, *half_pixel_centers, out);
        }
        (Op::DepthToSpace { .. } | Op::StridedSlice(_) | Op::TransposeConvBias { .. } | Op::TransformTensorBilinear { .. } | Op::TransformLandmarks | Op::LandmarksToTransformMatrix(_), _) => {
            crate::ops_extra::run(exec, op, ins, in_shapes, out_shape, out)
        }
        (Op::MaxPoolArgmax { .. } | Op::MaxUnpool { .. }, _) => crate::ops_extra::run(exec, op, ins, in_shapes, out_shape, out),
        (Op::Transpose { perm }, _) => transpose::transpose(exec, x, xs, perm, out),
        (Op::BatchMatMul, _) => {
            let r = xs.len();
            let (m, k, n) = (xs[r - 2], xs[r - 1], in_shapes[1][r - 1]);
            let batch = xs[..r - 2].iter().product();
            matmul::batch_matmul(exec, batch, m, k, n, x, ins[1], out);
        }
        (Op::Gelu { tanh_approx }, _) => gelu::gelu(exec, *tanh_approx, x, out),
        (Op::GroupedConv2d { padding, stride, dilation, clamp, .. }, Packed::Grouped(ws)) => {
            let w0 = &ws[0];
            let win = shapes::window(*padding, [xs[1], xs[2]], [w0.kernel_h, w0.kernel_w], *stride, *dilation);
            grouped_conv2d(exec, &win, nhwc(xs), x, ws, nhwc(out_shape), out, *clamp);
        }
        (Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. } | Op::GroupedConv2d { .. }, _) => unreachable!("weights are packed for every conv and dense node"),
        (Op::Fallback(_), _) => unreachable!("fallback nodes run in tract islands; Executor::new refuses them without tract"),
        (Op::Quant(_), _) => unreachable!("quantized nodes run in the QExecutor; Executor::new refuses them"),
    }
}

/// A grouped convolution as one convolution per group over that group's
/// input channels, gathered into a contiguous NHWC buffer.
fn grouped_conv2d(exec: Exec, win: &armrest_kernels::Window2d, xs: Nhwc, x: &[f32], ws: &[PackedConv2d], os: Nhwc, out: &mut [f32], clamp: armrest_kernels::Clamp) {
    let groups = ws.len();
    let (cg, og) = (xs.c / groups, os.c / groups);
    let pixels_in = xs.n * xs.h * xs.w;
    let pixels_out = os.n * os.h * os.w;
    let mut xg = vec![0.0f32; pixels_in * cg];
    let mut yg = vec![0.0f32; pixels_out * og];
    for (g, w) in ws.iter().enumerate() {
        for (dst, src) in xg.chunks_exact_mut(cg).zip(x.chunks_exact(xs.c)) {
            dst.copy_from_slice(&src[g * cg..(g + 1) * cg]);
        }
        conv::conv2d(exec, win, Nhwc { c: cg, ..xs }, &xg, w, &mut yg, clamp);
        for (dst, src) in out.chunks_exact_mut(os.c).zip(yg.chunks_exact(og)) {
            dst[g * og..(g + 1) * og].copy_from_slice(src);
        }
    }
}
