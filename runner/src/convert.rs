//! Translation of single tract nodes (of a typed `TypedModel`) into
//! armrest IR ops, or the reason a node stays on tract.
//!
//! Layout: armrest's IR is NHWC. In a model whose convolutions are NCHW
//! (ONNX), every rank-4 tensor inside an armrest region is held as NHWC, so
//! the translation maps axes, permutes constants and rejects what would need
//! a transpose in the middle of a region (a reshape that mixes channels and
//! pixels); the region op transposes at its boundary only.

use armrest_delegate::ir::{Op, Padding, PoolKind, ReshapeRule};
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::Clamp;
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::array::{Pad, PadMode, TypedConcat};
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::cnn::{Conv, MaxPool, PoolSpec, SumPool};
use tract_core::ops::einsum::EinSum;
use tract_core::ops::element_wise::ElementWiseOp;
use tract_core::ops::math;
use tract_core::ops::nn::{self as tnn, DataFormat, Reduce, Reducer, Softmax, SoftmaxKind};

/// One input of a translated op.
#[derive(Clone, Debug)]
pub enum Input {
    /// A tensor computed at run time (in the region or fed to it).
    Wire(OutletId),
    /// A constant, already in armrest's layout, with its armrest shape.
    Const(Vec<usize>, Arc<[f32]>),
}

/// A tract node as a short chain of IR ops: the first takes `inputs`, each
/// next one takes the previous output as its first input plus its own
/// constants.
#[derive(Clone, Debug)]
pub struct Translated {
    pub ops: Vec<(Op, Vec<Input>)>,
}

impl Translated {
    fn one(op: Op, inputs: Vec<Input>) -> Translated {
        Translated { ops: vec![(op, inputs)] }
    }
}

/// What the translation needs to know about the model.
pub struct Ctx<'a> {
    pub model: &'a TypedModel,
    /// The model's convolutions are NCHW: rank-4 tensors are NHWC in regions.
    pub nchw: bool,
}

/// NCHW axis → NHWC axis.
const NCHW_TO_NHWC_AXIS: [usize; 4] = [0, 3, 1, 2];

impl Ctx<'_> {
    fn fact(&self, o: OutletId) -> Result<&TypedFact, String> {
        self.model.outlet_fact(o).map_err(|e| format!("{e}"))
    }

    /// The concrete tract shape of `o`.
    pub fn shape(&self, o: OutletId) -> Result<Vec<usize>, String> {
        let f = self.fact(o)?;
        f.shape.as_concrete().map(|s| s.to_vec()).ok_or_else(|| format!("symbolic shape {:?}", f.shape))
    }

    /// Whether armrest holds `o` in a different layout from tract's.
    pub fn permuted(&self, o: OutletId) -> bool {
        self.nchw && self.fact(o).map(|f| f.rank() == 4).unwrap_or(false)
    }

    /// Maps a tract axis of a tensor of rank `rank` to armrest's axis.
    fn axis(&self, rank: usize, axis: usize) -> usize {
        if self.nchw && rank == 4 {
            NCHW_TO_NHWC_AXIS[axis]
        } else {
            axis
        }
    }

    fn konst(&self, o: OutletId) -> Option<Arc<Tensor>> {
        self.fact(o).ok().and_then(|f| f.konst.clone())
    }

    /// A constant input in armrest's layout.
    fn const_input(&self, t: &Tensor) -> Result<Input, String> {
        let shape = t.shape().to_vec();
        let values = f32_values(t)?;
        if self.nchw && shape.len() == 4 {
            let mut dst = vec![0f32; values.len()];
            crate::region_op::nchw_to_nhwc(&shape, &values, &mut dst);
            Ok(Input::Const(vec![shape[0], shape[2], shape[3], shape[1]], dst.into()))
        } else {
            Ok(Input::Const(shape, values.into()))
        }
    }

    /// A wire or, when tract knows its value, a constant.
    fn input(&self, o: OutletId) -> Result<Input, String> {
        match self.konst(o) {
            Some(t) => self.const_input(&t),
            None => Ok(Input::Wire(o)),
        }
    }
}

fn f32_values(t: &Tensor) -> Result<Vec<f32>, String> {
    if t.datum_type() != f32::datum_type() {
        return Err(format!("constant of type {:?}, not f32", t.datum_type()));
    }
    t.try_as_plain_ram().and_then(|p| p.as_slice::<f32>().map(<[f32]>::to_vec)).map_err(|e| format!("{e}"))
}

/// The value of a constant holding one value repeated, if it is one.
fn uniform(t: &Tensor) -> Option<f32> {
    let v = f32_values(t).ok()?;
    let first = *v.first()?;
    v.iter().all(|&x| x == first).then_some(first)
}

/// Translates `node`, or says why armrest's kernels do not run it.
pub fn translate(ctx: &Ctx, node: &TypedNode) -> Result<Translated, String> {
    for o in &node.outputs {
        if o.fact.datum_type != f32::datum_type() {
            return Err(format!("output type {:?} (armrest runs f32)", o.fact.datum_type));
        }
        if o.fact.shape.as_concrete().is_none() {
            return Err(format!("symbolic output shape {:?}", o.fact.shape));
        }
    }
    if node.outputs.len() != 1 {
        return Err(format!("{} outputs", node.outputs.len()));
    }
    if let Some(conv) = node.op_as::<Conv>() {
        return conv_op(ctx, node, conv);
    }
    if let Some(bin) = node.op_as::<TypedBinOp>() {
        return binary(ctx, node, bin);
    }
    if let Some(ew) = node.op_as::<ElementWiseOp>() {
        let x = Input::Wire(node.inputs[0]);
        let mini = ew.0.as_ref();
        let u = if mini.is::<tnn::Sigmoid>() {
            UnaryOp::Logistic
        } else if mini.is::<math::Tanh>() {
            UnaryOp::Tanh
        } else if mini.is::<tnn::HardSwish>() {
            UnaryOp::HardSwish
        } else if let Some(l) = mini.downcast_ref::<tnn::LeakyRelu>() {
            UnaryOp::LeakyRelu(l.alpha)
        } else {
            return Err(format!("element-wise {} has no armrest kernel", mini.name()));
        };
        return Ok(Translated::one(Op::Unary(u), vec![x]));
    }
    if let Some(pool) = node.op_as::<MaxPool>() {
        if pool.with_index_outputs.is_some() {
            return Err("max pool with index outputs".into());
        }
        return pool_op(ctx, node, &pool.pool_spec, PoolKind::Max);
    }
    if let Some(pool) = node.op_as::<SumPool>() {
        if !pool.normalize {
            return Err("sum pool without normalization".into());
        }
        let t = pool_op(ctx, node, &pool.pool_spec, PoolKind::Average)?;
        let padded = matches!(t.ops[0].0, Op::Pool2d { padding: Padding::Explicit(p), .. } if p.iter().any(|&x| x > 0));
        if pool.count_include_pad && padded {
            return Err("average pool counting the padding".into());
        }
        return Ok(t);
    }
    if let Some(r) = node.op_as::<Reduce>() {
        return reduce(ctx, node, r);
    }
    if let Some(a) = node.op_as::<AxisOp>() {
        return axis_op(ctx, node, a);
    }
    if let Some(e) = node.op_as::<EinSum>() {
        return einsum(ctx, node, e);
    }
    if let Some(s) = node.op_as::<Softmax>() {
        let rank = ctx.fact(node.inputs[0])?.rank();
        if s.kind != SoftmaxKind::Softmax || s.axes.len() != 1 || ctx.axis(rank, s.axes[0]) != rank - 1 {
            return Err(format!("softmax over axes {:?} (armrest's runs over the innermost)", s.axes));
        }
        return Ok(Translated::one(Op::Softmax { beta: 1.0 }, vec![Input::Wire(node.inputs[0])]));
    }
    if let Some(c) = node.op_as::<TypedConcat>() {
        let rank = ctx.fact(node.inputs[0])?.rank();
        let inputs = node.inputs.iter().map(|&i| ctx.input(i)).collect::<Result<Vec<_>, _>>()?;
        return Ok(Translated::one(Op::Concat { axis: ctx.axis(rank, c.axis) as i64 }, inputs));
    }
    if let Some(p) = node.op_as::<Pad>() {
        match &p.mode {
            PadMode::Constant(v) if uniform(v) == Some(0.0) => {}
            _ => return Err("pad other than with zeros".into()),
        }
        let rank = p.pads.len();
        let mut pads = p.pads.clone();
        if ctx.nchw && rank == 4 {
            for (axis, &pad) in p.pads.iter().enumerate() {
                pads[ctx.axis(rank, axis)] = pad;
            }
        }
        return Ok(Translated::one(Op::Pad { pads }, vec![Input::Wire(node.inputs[0])]));
    }
    Err(format!("armrest's kernels have no {}", node.op.name()))
}

fn explicit_padding(spec: &PoolSpec, hw: [usize; 2]) -> Padding {
    let p = spec.computed_padding(&hw);
    Padding::Explicit([p[0].pad_before, p[0].pad_after, p[1].pad_before, p[1].pad_after])
}

/// Checks the pool spec's layout against the model's; returns `[h, w]`.
fn spatial(ctx: &Ctx, spec: &PoolSpec, x: &[usize]) -> Result<[usize; 2], String> {
    if spec.kernel_shape.len() != 2 || x.len() != 4 {
        return Err(format!("{}-D window on a rank-{} input (armrest runs 2-D)", spec.kernel_shape.len(), x.len()));
    }
    match (spec.data_format, ctx.nchw) {
        (DataFormat::NCHW, true) => Ok([x[2], x[3]]),
        (DataFormat::NHWC, false) => Ok([x[1], x[2]]),
        (f, _) => Err(format!("data format {f:?} in a model armrest holds as {}", if ctx.nchw { "NCHW" } else { "NHWC" })),
    }
}

fn pool_op(ctx: &Ctx, node: &TypedNode, spec: &PoolSpec, kind: PoolKind) -> Result<Translated, String> {
    let x = ctx.shape(node.inputs[0])?;
    let hw = spatial(ctx, spec, &x)?;
    if spec.dilations().iter().any(|&d| d != 1) {
        return Err("dilated pooling".into());
    }
    let s = spec.strides();
    let op = Op::Pool2d {
        kind,
        padding: explicit_padding(spec, hw),
        stride: [s[0], s[1]],
        filter: [spec.kernel_shape[0], spec.kernel_shape[1]],
        clamp: Clamp::NONE,
    };
    Ok(Translated::one(op, vec![Input::Wire(node.inputs[0])]))
}

fn conv_op(ctx: &Ctx, node: &TypedNode, conv: &Conv) -> Result<Translated, String> {
    if conv.q_params.is_some() {
        return Err("quantized convolution".into());
    }
    let spec = &conv.pool_spec;
    let x = ctx.shape(node.inputs[0])?;
    let hw = spatial(ctx, spec, &x)?;
    let kernel = ctx.konst(node.inputs[1]).ok_or("the kernel is not a constant")?;
    let (group, ci) = (conv.group, spec.input_channels);
    let co = spec.output_channels;
    let [kh, kw] = [spec.kernel_shape[0], spec.kernel_shape[1]];
    if group == 0 || !ci.is_multiple_of(group) || !co.is_multiple_of(group) {
        return Err(format!("{ci}→{co} channels in {group} groups"));
    }
    let (cig, cog) = (ci / group, co / group);
    // tract's reading of the kernel, whatever its format: [group, o/group, i/group, kh*kw].
    let goihw = conv.kernel_fmt.kernel_as_group_o_i_hw(&kernel, group).map_err(|e| format!("kernel: {e}"))?;
    if goihw.shape() != [group, cog, cig, kh * kw] {
        return Err(format!("kernel shape {:?} for {ci}→{co} channels, group {group}", kernel.shape()));
    }
    let k = f32_values(&goihw)?;
    // To OHWI: [co, kh, kw, ci/group], output channel o = g * co/group + j.
    let mut ohwi = vec![0f32; k.len()];
    for o in 0..co {
        for i in 0..cig {
            for p in 0..kh * kw {
                ohwi[(o * kh * kw + p) * cig + i] = k[(o * cig + i) * kh * kw + p];
            }
        }
    }
    let mut inputs = vec![Input::Wire(node.inputs[0])];
    let bias = match node.inputs.get(2) {
        Some(&b) => {
            let t = ctx.konst(b).ok_or("the bias is not a constant")?;
            let v = f32_values(&t)?;
            match v.len() {
                1 => vec![v[0]; co],
                n if n == co => v,
                n => return Err(format!("bias of {n} values for {co} channels")),
            }
        }
        None => vec![0.0; co],
    };
    let s = spec.strides();
    let d = spec.dilations();
    let (padding, stride, dilation, clamp) = (explicit_padding(spec, hw), [s[0], s[1]], [d[0], d[1]], Clamp::NONE);
    let op = if group == 1 {
        inputs.push(Input::Const(vec![co, kh, kw, ci], ohwi.into()));
        Op::Conv2d { padding, stride, dilation, clamp }
    } else if group == ci && co.is_multiple_of(ci) {
        // Depthwise: output channel o reads input channel o / m; filter [1,kh,kw,co].
        let mut f = vec![0f32; co * kh * kw];
        for o in 0..co {
            for p in 0..kh * kw {
                f[p * co + o] = ohwi[o * kh * kw + p];
            }
        }
        inputs.push(Input::Const(vec![1, kh, kw, co], f.into()));
        Op::DepthwiseConv2d { padding, stride, dilation, depth_multiplier: co / ci, clamp }
    } else {
        inputs.push(Input::Const(vec![co, kh, kw, cig], ohwi.into()));
        Op::GroupedConv2d { groups: group, padding, stride, dilation, clamp }
    };
    inputs.push(Input::Const(vec![co], bias.into()));
    Ok(Translated::one(op, inputs))
}

fn binary(ctx: &Ctx, node: &TypedNode, bin: &TypedBinOp) -> Result<Translated, String> {
    let mini = bin.0.as_ref();
    let op = if mini.is::<math::Add>() {
        BinaryOp::Add
    } else if mini.is::<math::Sub>() {
        BinaryOp::Sub
    } else if mini.is::<math::Mul>() {
        BinaryOp::Mul
    } else if mini.is::<math::Div>() {
        BinaryOp::Div
    } else if mini.is::<math::Max>() {
        BinaryOp::Maximum
    } else if mini.is::<math::Min>() {
        BinaryOp::Minimum
    } else {
        return Err(format!("binary {} has no armrest kernel", mini.name()));
    };
    let (a, b) = (node.inputs[0], node.inputs[1]);
    for &i in &[a, b] {
        if ctx.fact(i)?.datum_type != f32::datum_type() {
            return Err(format!("input type {:?}", ctx.fact(i)?.datum_type));
        }
    }
    let out = node.outputs[0].fact.shape.as_concrete().map(|s| s.to_vec());
    // max/min against one repeated value: a clamp.
    if matches!(op, BinaryOp::Maximum | BinaryOp::Minimum) {
        for (x, c) in [(a, b), (b, a)] {
            if let (None, Some(v)) = (ctx.konst(x), ctx.konst(c).and_then(|t| uniform(&t))) {
                if ctx.shape(x).ok() == out {
                    let clamp = if op == BinaryOp::Maximum { Clamp { min: v, max: f32::INFINITY } } else { Clamp { min: f32::NEG_INFINITY, max: v } };
                    return Ok(Translated::one(Op::Unary(UnaryOp::Clamp(clamp)), vec![Input::Wire(x)]));
                }
            }
        }
    }
    let (ra, rb) = (ctx.fact(a)?.rank(), ctx.fact(b)?.rank());
    if ctx.nchw && ra != rb && (ra == 4 || rb == 4) {
        return Err("rank broadcast against an NCHW tensor".into());
    }
    Ok(Translated::one(Op::Binary { op, clamp: Clamp::NONE }, vec![ctx.input(a)?, ctx.input(b)?]))
}

fn reduce(ctx: &Ctx, node: &TypedNode, r: &Reduce) -> Result<Translated, String> {
    if r.reducer != Reducer::Sum {
        return Err(format!("reduction {:?} has no armrest kernel", r.reducer));
    }
    let x = ctx.shape(node.inputs[0])?;
    let axes: Vec<i64> = r.axes.iter().map(|&a| ctx.axis(x.len(), a) as i64).collect();
    let count: usize = r.axes.iter().map(|&a| x[a]).product();
    // Sum = mean × count (tract's reduce keeps the reduced axes).
    let mut ops = vec![(Op::Mean { axes, keep_dims: true }, vec![Input::Wire(node.inputs[0])])];
    if count != 1 {
        ops.push((Op::Binary { op: BinaryOp::Mul, clamp: Clamp::NONE }, vec![Input::Const(vec![], vec![count as f32].into())]));
    }
    Ok(Translated { ops })
}

/// Whether a tract rank-4 NCHW shape has the same data order in NHWC.
fn nhwc_is_nchw(s: &[usize]) -> bool {
    s.len() == 4 && (s[2] * s[3] == 1 || s[1] == 1)
}

fn axis_op(ctx: &Ctx, node: &TypedNode, a: &AxisOp) -> Result<Translated, String> {
    let from = ctx.shape(node.inputs[0])?;
    let to = ctx.shape(OutletId::new(node.id, 0))?;
    if let AxisOp::Move(..) = a {
        if !(ctx.nchw && from.len() == 4) {
            let perm = move_perm(a, from.len());
            return Ok(Translated::one(Op::Transpose { perm }, vec![Input::Wire(node.inputs[0])]));
        }
        return Err("axis move on an NCHW tensor".into());
    }
    // A reshape keeps the data order: armrest's layout must match tract's
    // on both sides, or the two orders must coincide.
    let ok = |s: &[usize]| !(ctx.nchw && s.len() == 4) || nhwc_is_nchw(s);
    if !ok(&from) || !ok(&to) {
        return Err(format!("reshape {from:?} → {to:?} of a tensor armrest holds as NHWC would need a transpose"));
    }
    let target = if ctx.nchw && to.len() == 4 { crate::region_op::armrest_shape(&to, crate::region_op::Layout::NchwToNhwc) } else { to };
    Ok(Translated::one(Op::Reshape(ReshapeRule::To(target.iter().map(|&d| d as i64).collect())), vec![Input::Wire(node.inputs[0])]))
}

fn move_perm(a: &AxisOp, rank: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..rank).collect();
    if let AxisOp::Move(from, to) = *a {
        let x = perm.remove(from);
        perm.insert(to, x);
    }
    perm
}

/// A matrix product `x · Wᵀ` with constant W: FULLY_CONNECTED.
fn einsum(ctx: &Ctx, node: &TypedNode, e: &EinSum) -> Result<Translated, String> {
    if e.q_params.is_some() || node.inputs.len() != 2 {
        return Err("quantized or multi-input einsum".into());
    }
    let expr = format!("{}", e.axes);
    let (ins, out) = expr.split_once("->").ok_or("einsum without output")?;
    let ins: Vec<&str> = ins.split(',').collect();
    let (x, w) = (node.inputs[0], node.inputs[1]);
    let weights = ctx.konst(w).ok_or_else(|| format!("matrix product {expr} of two computed tensors"))?;
    if ctx.konst(x).is_some() || ins.len() != 2 || ins[0].len() != 2 || ins[1].len() != 2 || out.len() != 2 {
        return Err(format!("matrix product {expr} (armrest runs x[m,k]·W[k,n] with W constant)"));
    }
    let (xa, wa, oa): (Vec<char>, Vec<char>, Vec<char>) = (ins[0].chars().collect(), ins[1].chars().collect(), out.chars().collect());
    let (m, n) = (oa[0], oa[1]);
    let k = xa.iter().copied().find(|c| !oa.contains(c)).ok_or("no reduced axis")?;
    if xa != [m, k] || !(wa == [n, k] || wa == [k, n]) {
        return Err(format!("matrix product {expr} (armrest runs x[m,k]·W[k,n] with W constant)"));
    }
    let v = f32_values(&weights)?;
    let s = weights.shape();
    let values: Vec<f32> = if wa == [n, k] {
        v
    } else {
        let (kk, nn) = (s[0], s[1]);
        (0..nn).flat_map(|j| (0..kk).map(move |i| (i, j))).map(|(i, j)| v[i * nn + j]).collect()
    };
    let (rows, cols) = if wa == [n, k] { (s[0], s[1]) } else { (s[1], s[0]) };
    let op = Op::FullyConnected { keep_num_dims: true, clamp: Clamp::NONE };
    Ok(Translated::one(op, vec![Input::Wire(x), Input::Const(vec![rows, cols], values.into())]))
}
