//! armrest's IR as a tract-core model: the oracle of verify mode and the
//! engine of fallback islands. Every IR op, native or fallback, maps to
//! tract-core ops with the same shapes, constants and TFLite semantics
//! (explicit SAME/VALID padding, fused clamps, DCR depth-to-space, ...).

mod island;
mod verify;

pub use island::Island;
pub use crate::accuracy::OutputError;
pub use verify::Verifier;

use crate::fallback::{FallbackOp, FallbackUnary, Reduction};
use crate::ir::{Graph, Op, Padding, PoolKind, TensorId};
use crate::shapes::{self, Shape};
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::Clamp;
use tract_core::internal::*;
use tract_core::ops::array::{Gather, MultiBroadcastTo, Pad, PadMode, Slice, Tile, TypedConcat};
use tract_core::ops::cnn::{Conv, Deconv, KernelFormat, MaxPool, PaddingSpec, PoolSpec, SumPool};
use tract_core::ops::downsample::Downsample;
use tract_core::ops::einsum::EinSum;
use tract_core::ops::math;
use tract_core::ops::nn::{self as tnn, DataFormat, Reduce, Reducer, Softmax, SoftmaxKind};

/// A tract plan ready to run.
pub type Plan = Arc<TypedRunnableModel>;

fn err(e: impl std::fmt::Display) -> String {
    format!("tract: {e:#}")
}

/// Whether tract-core has an equivalent of `op`: every IR op but MediaPipe's
/// tensor warp, landmark and argmax pool / unpool ops (custom ops with no
/// counterpart in tract).
pub fn has_tract_equivalent(op: &Op) -> bool {
    !matches!(op, Op::TransformTensorBilinear { .. } | Op::TransformLandmarks | Op::LandmarksToTransformMatrix(_) | Op::Quant(_)) && !matches!(op, Op::MaxPoolArgmax { .. } | Op::MaxUnpool { .. })
}

/// Why `graph` cannot be built as a tract model whatever the shapes: its
/// first node with no tract equivalent, as "node N (op) has no tract equivalent".
pub fn untranslatable(graph: &Graph) -> Option<String> {
    graph.nodes.iter().find(|n| !has_tract_equivalent(&n.op)).map(|n| match n.op {
        Op::Quant(_) => format!("node {} ({}) works on int8 / int32 tensors, which verify mode does not cover (float32 partitions only)", n.source, n.op.name()),
        _ => format!("node {} ({}) has no tract equivalent", n.source, n.op.name()),
    })
}

/// Builds `graph` as a tract model for these input shapes: its inputs are
/// the graph's inputs, its outputs the graph's outputs.
pub fn to_tract(graph: &Graph, input_shapes: &[Shape]) -> Result<TypedModel, String> {
    let nodes: Vec<usize> = (0..graph.nodes.len()).collect();
    sub_model(graph, &nodes, &graph.inputs, &graph.outputs, input_shapes)
}

/// Builds the nodes `nodes` (execution order) of `graph` as a tract model
/// whose inputs are `inputs` (shapes `input_shapes`) and outputs `outputs`.
/// Constant tensors become tract constants.
pub fn sub_model(graph: &Graph, nodes: &[usize], inputs: &[TensorId], outputs: &[TensorId], input_shapes: &[Shape]) -> Result<TypedModel, String> {
    if inputs.len() != input_shapes.len() {
        return Err(format!("{} input shapes for {} inputs", input_shapes.len(), inputs.len()));
    }
    let mut model = TypedModel::default();
    let mut wires: HashMap<TensorId, OutletId> = HashMap::new();
    let mut shape_of: HashMap<TensorId, Shape> = HashMap::new();
    for (&id, s) in inputs.iter().zip(input_shapes) {
        let w = model.add_source(format!("in{id}"), f32::fact(s.as_slice())).map_err(err)?;
        wires.insert(id, w);
        shape_of.insert(id, s.clone());
    }
    for &n in nodes {
        let node = &graph.nodes[n];
        let mut ins = Vec::with_capacity(node.inputs.len());
        let mut in_shapes = Vec::with_capacity(node.inputs.len());
        for &i in &node.inputs {
            let t = &graph.tensors[i];
            if let (None, Some(c)) = (wires.get(&i), &t.constant) {
                let w = model.add_const(format!("const{i}"), const_tensor(&t.shape, c)?).map_err(err)?;
                wires.insert(i, w);
                shape_of.insert(i, t.shape.clone());
            }
            ins.push(*wires.get(&i).ok_or_else(|| format!("node {}: tensor '{}' is neither an input nor computed before", node.source, t.name))?);
            in_shapes.push(shape_of[&i].clone());
        }
        let refs: Vec<&[usize]> = in_shapes.iter().map(Vec::as_slice).collect();
        let out_shape = shapes::infer(&node.op, &refs).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?.remove(0);
        let mut b = Builder { model: &mut model, prefix: format!("n{n}"), count: 0 };
        let out = b.wire_op(graph, node, &ins, &refs, &out_shape).map_err(|e| format!("node {} ({}): {e}", node.source, node.op.name()))?;
        let got = model.outlet_fact(out).map_err(err)?.shape.as_concrete().map(|s| s.to_vec());
        if got.as_deref() != Some(out_shape.as_slice()) {
            return Err(format!("node {} ({}): tract computes shape {got:?}, armrest {out_shape:?}", node.source, node.op.name()));
        }
        wires.insert(node.outputs[0], out);
        shape_of.insert(node.outputs[0], out_shape);
    }
    let mut outs = Vec::with_capacity(outputs.len());
    for &o in outputs {
        let w = match (wires.get(&o), &graph.tensors[o].constant) {
            (Some(&w), _) => w,
            (None, Some(c)) => model.add_const(format!("const{o}"), const_tensor(&graph.tensors[o].shape, c)?).map_err(err)?,
            (None, None) => return Err(format!("output '{}' is not computed", graph.tensors[o].name)),
        };
        outs.push(w);
    }
    model.select_output_outlets(&outs).map_err(err)?;
    Ok(model)
}

/// Optimizes a model and makes it runnable.
pub fn plan(model: TypedModel) -> Result<Plan, String> {
    model.into_optimized().and_then(|m| m.into_runnable()).map_err(err)
}

/// Runs a plan on fp32 inputs; returns each output's shape and values.
pub fn run_plan(plan: &Plan, inputs: &[(&[usize], &[f32])]) -> Result<Vec<(Shape, Vec<f32>)>, String> {
    let tensors = inputs
        .iter()
        .map(|(s, v)| Tensor::from_shape(s, v).map(|t| t.into_tvalue()))
        .collect::<TractResult<TVec<_>>>()
        .map_err(err)?;
    let outs = plan.run(tensors).map_err(err)?;
    outs.iter()
        .map(|t| {
            let t = t.cast_to::<f32>().map_err(err)?;
            let v = t.try_as_plain_ram().and_then(|p| p.as_slice::<f32>().map(<[f32]>::to_vec)).map_err(err)?;
            Ok((t.shape().to_vec(), v))
        })
        .collect()
}

fn const_tensor(shape: &[usize], values: &[f32]) -> Result<Tensor, String> {
    Tensor::from_shape(shape, values).map_err(err)
}

struct Builder<'a> {
    model: &'a mut TypedModel,
    prefix: String,
    count: usize,
}

fn to_dims(s: &[usize]) -> TVec<TDim> {
    s.iter().map(|&d| d.to_dim()).collect()
}

impl Builder<'_> {
    fn name(&mut self) -> String {
        self.count += 1;
        format!("{}.{}", self.prefix, self.count)
    }

    fn wire(&mut self, op: impl Into<Box<dyn TypedOp>>, inputs: &[OutletId]) -> TractResult<OutletId> {
        let name = self.name();
        Ok(self.model.wire_node(name, op, inputs)?[0])
    }

    /// A binary op after numpy rank broadcasting.
    fn binary(&mut self, op: impl Into<Box<dyn TypedOp>>, a: OutletId, b: OutletId) -> TractResult<OutletId> {
        let name = self.name();
        Ok(tract_core::ops::change_axes::wire_with_rank_broadcast(name, self.model, op, &[a, b])?[0])
    }

    fn scalar(&mut self, v: f32) -> TractResult<OutletId> {
        let name = self.name();
        self.model.add_const(name, tensor0(v))
    }

    fn konst(&mut self, t: Tensor) -> TractResult<OutletId> {
        let name = self.name();
        self.model.add_const(name, t)
    }

    fn clamp(&mut self, x: OutletId, c: Clamp) -> TractResult<OutletId> {
        let mut x = x;
        if c.min.is_finite() {
            let lo = self.scalar(c.min)?;
            x = self.binary(math::max(), x, lo)?;
        }
        if c.max.is_finite() {
            let hi = self.scalar(c.max)?;
            x = self.binary(math::min(), x, hi)?;
        }
        Ok(x)
    }

    fn reshape(&mut self, x: OutletId, from: &[usize], to: &[usize]) -> TractResult<OutletId> {
        if from == to {
            return Ok(x);
        }
        self.wire(AxisOp::Reshape(0, to_dims(from), to_dims(to)), &[x])
    }

    /// Removes the (sorted, unique) `axes`.
    fn remove_axes(&mut self, x: OutletId, axes: &[usize]) -> TractResult<OutletId> {
        let mut x = x;
        for &a in axes.iter().rev() {
            x = self.wire(AxisOp::Rm(a), &[x])?;
        }
        Ok(x)
    }

    fn reduce(&mut self, x: OutletId, axes: &[usize], reducer: Reducer, keep_dims: bool) -> TractResult<OutletId> {
        let y = self.wire(Reduce::new(axes.iter().copied().collect(), reducer), &[x])?;
        if keep_dims {
            Ok(y)
        } else {
            self.remove_axes(y, axes)
        }
    }

    fn pool_spec(padding: Padding, xs: &[usize], kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], ci: usize, co: usize) -> PoolSpec {
        let (_, pt, pb) = shapes::resolve_padding(padding, xs[1], kernel[0], stride[0], dilation[0]);
        let (_, pl, pr) = shapes::resolve_axis(padding, 1, xs[2], kernel[1], stride[1], dilation[1]);
        PoolSpec {
            data_format: DataFormat::NHWC,
            kernel_shape: tvec!(kernel[0], kernel[1]),
            padding: PaddingSpec::Explicit(tvec!(pt, pl), tvec!(pb, pr)),
            dilations: Some(tvec!(dilation[0], dilation[1])),
            strides: Some(tvec!(stride[0], stride[1])),
            input_channels: ci,
            output_channels: co,
        }
    }

    fn bias_or_zero(&mut self, graph: &Graph, node: &crate::ir::Node, ins: &[OutletId], pos: usize, n: usize) -> TractResult<OutletId> {
        let _ = graph;
        match (node.inputs.get(pos), ins.get(pos)) {
            (Some(_), Some(&b)) => Ok(b),
            _ => self.konst(Tensor::zero::<f32>(&[n])?),
        }
    }

    /// Moves axes so that output axis i is input axis perm[i].
    fn transpose(&mut self, x: OutletId, perm: &[usize]) -> TractResult<OutletId> {
        let mut current: Vec<usize> = (0..perm.len()).collect();
        let mut x = x;
        for (i, &want) in perm.iter().enumerate() {
            let p = current.iter().position(|&a| a == want).context("permutation")?;
            if p != i {
                x = self.wire(AxisOp::Move(p, i), &[x])?;
                let a = current.remove(p);
                current.insert(i, a);
            }
        }
        Ok(x)
    }

    fn wire_op(&mut self, graph: &Graph, node: &crate::ir::Node, ins: &[OutletId], in_shapes: &[&[usize]], out_shape: &[usize]) -> TractResult<OutletId> {
        let x = ins[0];
        let xs = in_shapes[0];
        Ok(match &node.op {
            Op::Conv2d { padding, stride, dilation, clamp } => {
                let f = in_shapes[1];
                let spec = Self::pool_spec(*padding, xs, [f[1], f[2]], *stride, *dilation, f[3], f[0]);
                let b = self.bias_or_zero(graph, node, ins, 2, f[0])?;
                let y = self.wire(Conv { pool_spec: spec, kernel_fmt: KernelFormat::OHWI, group: 1, q_params: None }, &[x, ins[1], b])?;
                self.clamp(y, *clamp)?
            }
            Op::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, clamp } => {
                let f = in_shapes[1];
                let (c, co) = (xs[3], f[3]);
                // tract's grouped OHWI kernel has O = outputs per group and
                // I = all input channels: [1,kh,kw,c*m] → [m,kh,kw,c], where
                // output channel ic*m + j (TFLite's order) is group ic, row j.
                let w = graph.tensors[node.inputs[1]].constant.as_deref().context("depthwise filter is not constant")?;
                let (kh, kw, m) = (f[1], f[2], *depth_multiplier);
                let mut t = vec![0f32; w.len()];
                for j in 0..m {
                    for k in 0..kh * kw {
                        for ic in 0..c {
                            t[(j * kh * kw + k) * c + ic] = w[k * co + ic * m + j];
                        }
                    }
                }
                let k = self.konst(Tensor::from_shape(&[m, kh, kw, c], &t)?)?;
                let spec = Self::pool_spec(*padding, xs, [kh, kw], *stride, *dilation, c, co);
                let b = self.bias_or_zero(graph, node, ins, 2, co)?;
                let y = self.wire(Conv { pool_spec: spec, kernel_fmt: KernelFormat::OHWI, group: c, q_params: None }, &[x, k, b])?;
                self.clamp(y, *clamp)?
            }
            Op::FullyConnected { clamp, .. } => {
                let w = in_shapes[1];
                let (n, k) = (w[0], w[1]);
                let rows = xs.iter().product::<usize>() / k.max(1);
                let x2 = self.reshape(x, xs, &[rows, k])?;
                let mm = EinSum::new("BI,OI->BO".parse()?, f32::datum_type());
                let mut y = self.wire(mm, &[x2, ins[1]])?;
                if ins.len() > 2 {
                    y = self.binary(math::add(), y, ins[2])?;
                }
                let y = self.clamp(y, *clamp)?;
                self.reshape(y, &[rows, n], out_shape)?
            }
            Op::Binary { op, clamp } => {
                let y = match op {
                    BinaryOp::Add => self.binary(math::add(), x, ins[1])?,
                    BinaryOp::Sub => self.binary(math::sub(), x, ins[1])?,
                    BinaryOp::Mul => self.binary(math::mul(), x, ins[1])?,
                    BinaryOp::Div => self.binary(math::div(), x, ins[1])?,
                    BinaryOp::Maximum => self.binary(math::max(), x, ins[1])?,
                    BinaryOp::Minimum => self.binary(math::min(), x, ins[1])?,
                };
                self.clamp(y, *clamp)?
            }
            Op::Unary(u) => match u {
                UnaryOp::Clamp(c) => self.clamp(x, *c)?,
                UnaryOp::Logistic => self.wire(tnn::sigmoid(), &[x])?,
                UnaryOp::Tanh => self.wire(math::tanh(), &[x])?,
                UnaryOp::HardSwish => self.wire(tnn::hard_swish(), &[x])?,
                UnaryOp::LeakyRelu(alpha) => self.wire(tnn::leaky_relu(*alpha), &[x])?,
            },
            Op::Prelu => {
                let zero = self.scalar(0.0)?;
                let pos = self.binary(math::max(), x, zero)?;
                let neg = self.binary(math::min(), x, zero)?;
                let scaled = self.binary(math::mul(), neg, ins[1])?;
                self.binary(math::add(), pos, scaled)?
            }
            Op::Pool2d { kind, padding, stride, filter, clamp } => {
                let spec = Self::pool_spec(*padding, xs, *filter, *stride, [1, 1], xs[3], xs[3]);
                let y = match kind {
                    PoolKind::Max => self.wire(MaxPool { pool_spec: spec, with_index_outputs: None }, &[x])?,
                    PoolKind::Average => self.wire(SumPool { pool_spec: spec, normalize: true, count_include_pad: false }, &[x])?,
                };
                self.clamp(y, *clamp)?
            }
            Op::Mean { axes, keep_dims } => {
                let axes = shapes::mean_axes(axes, xs.len()).map_err(|e| anyhow!(e))?;
                let count: usize = axes.iter().map(|&a| xs[a]).product();
                let sum = self.reduce(x, &axes, Reducer::Sum, *keep_dims)?;
                let inv = self.scalar(1.0 / count as f32)?;
                self.binary(math::mul(), sum, inv)?
            }
            Op::Reshape(_) => self.reshape(x, xs, out_shape)?,
            Op::Concat { axis } => {
                let axis = shapes::norm_axis(*axis, xs.len()).map_err(|e| anyhow!(e))?;
                let name = self.name();
                self.model.wire_node(name, TypedConcat::new(axis), ins)?[0]
            }
            Op::Pad { pads } => self.wire(Pad::new(pads.clone(), PadMode::Constant(Arc::new(tensor0(0f32)))), &[x])?,
            Op::Softmax { beta } => {
                let scaled = if *beta == 1.0 {
                    x
                } else {
                    let b = self.scalar(*beta)?;
                    self.binary(math::mul(), x, b)?
                };
                self.wire(Softmax::new(tvec!(xs.len() - 1), None, SoftmaxKind::Softmax), &[scaled])?
            }
            Op::ResizeBilinear { size, align_corners, half_pixel_centers } => {
                let coord = if *align_corners {
                    tnn::CoordTransformer::AlignCorners
                } else if *half_pixel_centers {
                    tnn::CoordTransformer::HalfPixel
                } else {
                    tnn::CoordTransformer::Asymmetric
                };
                let sizes = self.konst(tensor1(&[xs[0] as i64, size[0] as i64, size[1] as i64, xs[3] as i64]))?;
                let op = tnn::Resize { coord_transformer: coord, interpolator: tnn::Interpolator::Linear, nearest: tnn::Nearest::Floor, optional_scales_input: None, optional_sizes_input: Some(1) };
                self.wire(op, &[x, sizes])?
            }
            Op::Fallback(f) => self.wire_fallback(f, ins, in_shapes, out_shape)?,
            Op::DepthToSpace { block } => self.wire_fallback(&FallbackOp::DepthToSpace { block: *block }, ins, in_shapes, out_shape)?,
            Op::StridedSlice(spec) => {
                let (axes, _) = spec.resolve(xs).map_err(|e| anyhow!(e))?;
                let mut y = x;
                for (d, a) in axes.iter().enumerate() {
                    // The input range the slice reads, then every |stride|-th
                    // value of it: from its first (positive stride) or last
                    // (negative stride, tract's Downsample reverses) value.
                    let step = a.stride.unsigned_abs();
                    let span = if a.count == 0 { 0 } else { (a.count - 1) * step + 1 };
                    let (lo, hi) = match (a.count, a.stride > 0) {
                        (0, _) => (0, 0),
                        (_, true) => (a.start, a.start + span),
                        (_, false) => (a.start + 1 - span, a.start + 1),
                    };
                    if (lo, hi) != (0, xs[d]) {
                        y = self.wire(Slice::new(d, lo, hi), &[y])?;
                    }
                    if a.count > 1 && a.stride != 1 {
                        y = self.wire(Downsample::new(d, a.stride, 0), &[y])?;
                    }
                }
                let shrunk: Vec<usize> = (0..spec.begin.len()).filter(|&d| spec.shrink_axis_mask >> d & 1 == 1).collect();
                self.remove_axes(y, &shrunk)?
            }
            Op::TransposeConvBias { padding, stride } => {
                // MediaPipe's geometry: the output is the full transposed
                // convolution less `total` rows, `total / 2` of them before.
                let f = in_shapes[1];
                let same = *padding == Padding::Same;
                let mut before = tvec!();
                let mut after = tvec!();
                for d in 0..2 {
                    let (out, pad) = armrest_kernels::mediapipe::transpose_conv_geometry(xs[1 + d], f[1 + d], stride[d], same);
                    let total = ((xs[1 + d].max(1) - 1) * stride[d] + f[1 + d]).saturating_sub(out);
                    before.push(pad);
                    after.push(total - pad);
                }
                let spec = PoolSpec {
                    data_format: DataFormat::NHWC,
                    kernel_shape: tvec!(f[1], f[2]),
                    padding: PaddingSpec::Explicit(before, after),
                    dilations: None,
                    strides: Some(tvec!(stride[0], stride[1])),
                    input_channels: f[3],
                    output_channels: f[0],
                };
                let b = self.bias_or_zero(graph, node, ins, 2, f[0])?;
                self.wire(Deconv { pool_spec: spec, kernel_format: KernelFormat::OHWI, adjustments: tvec!(0, 0), group: 1 }, &[x, ins[1], b])?
            }
            Op::Transpose { perm } => self.transpose(x, perm)?,
            Op::BatchMatMul => self.wire_fallback(&FallbackOp::BatchMatMul { adj_x: false, adj_y: false }, ins, in_shapes, out_shape)?,
            Op::Gelu { tanh_approx: false } => self.wire(tnn::gelu_exact::gelu_exact(), &[x])?,
            // fast_impl false: the x^3 form (torch's tanh approximation).
            Op::Gelu { tanh_approx: true } => self.wire(tnn::gelu_approximate::gelu_approximate(false), &[x])?,
            Op::GroupedConv2d { groups, padding, stride, dilation, clamp } => {
                // armrest's filter is [o, kh, kw, c/g] with output channel
                // g*(o/g) + j in group g; tract's grouped OIHW is the same
                // grouping on O, with I the channels of one group.
                let f = in_shapes[1];
                let (o, kh, kw, ig) = (f[0], f[1], f[2], f[3]);
                let w = graph.tensors[node.inputs[1]].constant.as_deref().context("grouped conv filter is not constant")?;
                let mut t = vec![0f32; w.len()];
                for oc in 0..o {
                    for k in 0..kh * kw {
                        for i in 0..ig {
                            t[(oc * ig + i) * kh * kw + k] = w[(oc * kh * kw + k) * ig + i];
                        }
                    }
                }
                let k = self.konst(Tensor::from_shape(&[o, ig, kh, kw], &t)?)?;
                let spec = Self::pool_spec(*padding, xs, [kh, kw], *stride, *dilation, xs[3], o);
                let b = self.bias_or_zero(graph, node, ins, 2, o)?;
                let y = self.wire(Conv { pool_spec: spec, kernel_fmt: KernelFormat::OIHW, group: *groups, q_params: None }, &[x, k, b])?;
                self.clamp(y, *clamp)?
            }
            Op::TransformTensorBilinear { .. } | Op::TransformLandmarks | Op::LandmarksToTransformMatrix(_) => {
                bail!("{} has no tract equivalent", node.op.name())
            }
            Op::Quant(_) => bail!("not verifiable: int8 ({} has no tract twin)", node.op.name()),
            Op::MaxPoolArgmax { .. } | Op::MaxUnpool { .. } => bail!("{} has no tract equivalent", node.op.name()),
        })
    }

    fn wire_fallback(&mut self, op: &FallbackOp, ins: &[OutletId], in_shapes: &[&[usize]], out_shape: &[usize]) -> TractResult<OutletId> {
        let x = ins[0];
        let xs = in_shapes[0];
        Ok(match op {
            FallbackOp::Transpose { perm } => self.transpose(x, perm)?,
            FallbackOp::Slice { begin, end, stride, shrink } => {
                let mut y = x;
                for d in 0..xs.len() {
                    if begin[d] != 0 || end[d] != xs[d] {
                        y = self.wire(Slice::new(d, begin[d], end[d]), &[y])?;
                    }
                    if stride[d] > 1 {
                        y = self.wire(Downsample::new(d, stride[d] as isize, 0), &[y])?;
                    }
                }
                let shrunk: Vec<usize> = (0..xs.len()).filter(|&d| shrink[d]).collect();
                self.remove_axes(y, &shrunk)?
            }
            FallbackOp::Gather { axis, indices, indices_shape } => {
                let idx = self.konst(Tensor::from_shape(indices_shape, indices)?)?;
                self.wire(Gather::new(*axis), &[x, idx])?
            }
            FallbackOp::BatchMatMul { adj_x, adj_y } => {
                let ys = in_shapes[1];
                let rank = out_shape.len();
                let batch = &out_shape[..rank - 2];
                let mut operands = [x, ins[1]];
                for (w, s) in operands.iter_mut().zip([xs, ys]) {
                    let mut full = batch.to_vec();
                    full.extend_from_slice(&s[s.len() - 2..]);
                    let padded = shapes::pad_rank(s, rank);
                    *w = self.reshape(*w, s, &padded)?;
                    if padded != full {
                        *w = self.wire(MultiBroadcastTo { shape: full.into() }, &[*w])?;
                    }
                }
                let letters: String = ('a'..='z').filter(|c| !"mkn".contains(*c)).take(rank - 2).collect();
                let a = format!("{letters}{}", if *adj_x { "km" } else { "mk" });
                let b = format!("{letters}{}", if *adj_y { "nk" } else { "kn" });
                let expr = format!("{a},{b}->{letters}mn");
                self.wire(EinSum::new(expr.parse()?, f32::datum_type()), &operands)?
            }
            FallbackOp::SquaredDifference => {
                let d = self.binary(math::sub(), x, ins[1])?;
                self.wire(math::square(), &[d])?
            }
            FallbackOp::Pow => self.binary(math::pow(), x, ins[1])?,
            FallbackOp::Unary(u) => match u {
                FallbackUnary::Rsqrt => self.wire(math::rsqrt(), &[x])?,
                FallbackUnary::Sqrt => self.wire(math::sqrt(), &[x])?,
                FallbackUnary::Exp => self.wire(math::exp(), &[x])?,
                FallbackUnary::Log => self.wire(math::ln(), &[x])?,
                FallbackUnary::Neg => self.wire(math::neg(), &[x])?,
                FallbackUnary::Abs => self.wire(math::abs(), &[x])?,
                FallbackUnary::Square => self.wire(math::square(), &[x])?,
                FallbackUnary::Sin => self.wire(math::sin(), &[x])?,
                FallbackUnary::Cos => self.wire(math::cos(), &[x])?,
                FallbackUnary::Floor => self.wire(math::floor(), &[x])?,
                FallbackUnary::Ceil => self.wire(math::ceil(), &[x])?,
                FallbackUnary::Round => self.wire(math::round_half_to_even(), &[x])?,
                FallbackUnary::Sign => self.wire(math::sign(), &[x])?,
            },
            FallbackOp::Reduce { kind, axes, keep_dims } => {
                let axes = shapes::mean_axes(axes, xs.len()).map_err(|e| anyhow!(e))?;
                let reducer = match kind {
                    Reduction::Sum => Reducer::Sum,
                    Reduction::Max => Reducer::Max,
                    Reduction::Min => Reducer::Min,
                    Reduction::Prod => Reducer::Prod,
                };
                self.reduce(x, &axes, reducer, *keep_dims)?
            }
            FallbackOp::DepthToSpace { block } => {
                let b = *block;
                let c = xs[3] / (b * b);
                let y = self.reshape(x, xs, &[xs[0], xs[1], xs[2], b, b, c])?;
                let y = self.wire(AxisOp::Move(3, 2), &[y])?;
                self.reshape(y, &[xs[0], xs[1], b, xs[2], b, c], out_shape)?
            }
            FallbackOp::SpaceToDepth { block } => {
                let b = *block;
                let (h, w) = (xs[1] / b, xs[2] / b);
                let y = self.reshape(x, xs, &[xs[0], h, b, w, b, xs[3]])?;
                let y = self.wire(AxisOp::Move(2, 3), &[y])?;
                self.reshape(y, &[xs[0], h, w, b, b, xs[3]], out_shape)?
            }
            FallbackOp::TransposeConv { padding, stride, output_shape, clamp } => {
                let f = in_shapes[1];
                let (kh, kw) = (f[1], f[2]);
                let (pt, pb) = crate::fallback::transpose_conv_padding(*padding, output_shape[1], kh, stride[0]);
                let (pl, pr) = crate::fallback::transpose_conv_padding(*padding, output_shape[2], kw, stride[1]);
                let adj = |d: usize, k: usize, before: usize, after: usize| -> usize {
                    let natural = (xs[1 + d] - 1) * stride[d] + k;
                    (output_shape[1 + d] + before + after).saturating_sub(natural)
                };
                let spec = PoolSpec {
                    data_format: DataFormat::NHWC,
                    kernel_shape: tvec!(kh, kw),
                    padding: PaddingSpec::Explicit(tvec!(pt, pl), tvec!(pb, pr)),
                    dilations: None,
                    strides: Some(tvec!(stride[0], stride[1])),
                    input_channels: f[3],
                    output_channels: f[0],
                };
                let b = match ins.get(2) {
                    Some(&b) => b,
                    None => self.konst(Tensor::zero::<f32>(&[f[0]])?)?,
                };
                let op = Deconv { pool_spec: spec, kernel_format: KernelFormat::OHWI, adjustments: tvec!(adj(0, kh, pt, pb), adj(1, kw, pl, pr)), group: 1 };
                let y = self.wire(op, &[x, ins[1], b])?;
                self.clamp(y, *clamp)?
            }
            FallbackOp::LogSoftmax => self.wire(Softmax::new(tvec!(xs.len() - 1), None, SoftmaxKind::LogSoftmax), &[x])?,
            FallbackOp::Tile { multiples } => self.wire(Tile { multipliers: to_dims(multiples) }, &[x])?,
        })
    }
}
