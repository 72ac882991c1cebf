//! Regions: armrest's kernels take over maximal sets of supported nodes of a
//! typed tract model. Each region is convex (no path leaves it and
//! comes back), becomes an armrest IR graph run by an `Executor`, and
//! replaces its nodes in the tract model as one `RegionOp`; tract runs the
//! rest.

use crate::convert::{self, Ctx, Input};
use crate::region_op::{armrest_shape, Layout, RegionOp};
use armrest_delegate::ir::{Graph, Node, Op, TensorId};
use armrest_delegate::{shapes, Executor};
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::{Clamp, Isa, ThreadPool};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, MaxPool, SumPool};
use tract_core::ops::konst::Const;
use tract_core::ops::nn::DataFormat;
use tract_core::ops::source::TypedSource;

/// Where a node of the tract model runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    Input,
    Constant,
    /// In this armrest region, as these IR ops.
    Armrest { region: usize, ops: Vec<&'static str> },
    /// Left to tract, and why.
    Tract(String),
}

/// One node of the tract model and where it runs.
#[derive(Clone, Debug)]
pub struct NodeReport {
    pub id: usize,
    pub name: String,
    pub op: String,
    pub placement: Placement,
}

/// One region.
#[derive(Clone, Debug)]
pub struct RegionReport {
    pub nodes: Vec<usize>,
    pub inputs: usize,
    pub outputs: usize,
    /// Boundary tensors transposed NCHW ↔ NHWC.
    pub transposes: usize,
}

/// A model with its regions on armrest's kernels.
pub struct Hosted {
    /// The tract model with regions replaced by `RegionOp`s (not yet optimized).
    pub model: TypedModel,
    pub nodes: Vec<NodeReport>,
    pub regions: Vec<RegionReport>,
    pub nchw: bool,
}

impl Hosted {
    /// Compute nodes (not inputs or constants).
    pub fn compute_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| !matches!(n.placement, Placement::Input | Placement::Constant)).count()
    }

    pub fn armrest_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| matches!(n.placement, Placement::Armrest { .. })).count()
    }
}

/// Whether the model's convolutions and pools are NCHW.
pub fn is_nchw(model: &TypedModel) -> bool {
    model.nodes().iter().any(|n| {
        let format = if let Some(c) = n.op_as::<Conv>() {
            Some(c.pool_spec.data_format)
        } else if let Some(p) = n.op_as::<MaxPool>() {
            Some(p.pool_spec.data_format)
        } else {
            n.op_as::<SumPool>().map(|p| p.pool_spec.data_format)
        };
        format == Some(DataFormat::NCHW)
    })
}

/// Finds the regions of `model` (typed, concrete shapes), builds
/// their executors on `isa` with `pool`, and patches them into the model.
pub fn host(model: &TypedModel, isa: Isa, pool: Arc<ThreadPool>) -> Result<Hosted, String> {
    let nchw = is_nchw(model);
    let ctx = Ctx { model, nchw };
    let order = model.eval_order().map_err(|e| format!("{e}"))?;
    let mut placement: HashMap<usize, Placement> = HashMap::new();
    let mut translated: HashMap<usize, convert::Translated> = HashMap::new();
    let mut region_of: HashMap<usize, usize> = HashMap::new();
    let mut reach: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    let mut regions: Vec<Vec<usize>> = Vec::new();
    for &id in &order {
        let node = model.node(id);
        let mut r: BTreeSet<usize> = BTreeSet::new();
        for i in &node.inputs {
            r.extend(reach.get(&i.node).into_iter().flatten().copied());
            r.extend(region_of.get(&i.node).copied());
        }
        if node.op_is::<TypedSource>() {
            placement.insert(id, Placement::Input);
        } else if node.op_is::<Const>() {
            placement.insert(id, Placement::Constant);
        } else {
            match convert::translate(&ctx, node) {
                Err(reason) => {
                    placement.insert(id, Placement::Tract(reason));
                }
                Ok(t) => {
                    let wires: Vec<usize> = t.ops[0].1.iter().filter_map(|i| if let Input::Wire(o) = i { Some(o.node) } else { None }).collect();
                    let fits = |reg: usize| wires.iter().all(|p| region_of.get(p) == Some(&reg) || !reach.get(p).is_some_and(|s| s.contains(&reg)));
                    let mut candidates: Vec<usize> = wires.iter().filter_map(|p| region_of.get(p).copied()).collect();
                    candidates.sort_unstable_by(|a, b| b.cmp(a));
                    let region = match candidates.into_iter().find(|&reg| fits(reg)) {
                        Some(reg) => reg,
                        None => {
                            regions.push(Vec::new());
                            regions.len() - 1
                        }
                    };
                    regions[region].push(id);
                    region_of.insert(id, region);
                    translated.insert(id, t);
                }
            }
        }
        reach.insert(id, r);
    }
    // A region of reshapes only moves data through armrest for nothing.
    let mut kept = Vec::new();
    for nodes in regions {
        if nodes.iter().all(|n| model.node(*n).op_is::<AxisOp>()) {
            for n in nodes {
                region_of.remove(&n);
                placement.insert(n, Placement::Tract("a region of reshapes only stays on tract".into()));
            }
        } else {
            kept.push(nodes);
        }
    }
    // Build each region's executor; a region armrest fails to build stays on tract.
    let mut built = Vec::new();
    for nodes in kept {
        let index = built.len();
        match build_region(&ctx, index, &nodes, &translated, isa, pool.clone()) {
            Ok(b) => built.push((nodes, b)),
            Err(e) => {
                for n in nodes {
                    region_of.remove(&n);
                    placement.insert(n, Placement::Tract(format!("its region failed to build: {e}")));
                }
            }
        }
    }
    let mut ops = Vec::new();
    let mut reports = Vec::new();
    for (r, (nodes, (op, inputs, outputs))) in built.into_iter().enumerate() {
        for &n in &nodes {
            region_of.insert(n, r);
            let names = translated[&n].ops.iter().map(|(op, _)| op.name()).collect();
            placement.insert(n, Placement::Armrest { region: r, ops: names });
        }
        reports.push(RegionReport {
            transposes: op.inputs.iter().chain(&op.outputs).filter(|(_, l)| *l == Layout::NchwToNhwc).count(),
            nodes,
            inputs: inputs.len(),
            outputs: outputs.len(),
        });
        ops.push((op, inputs, outputs));
    }
    let patched = patch(model, &order, &region_of, ops)?;
    let nodes = order
        .iter()
        .map(|&id| {
            let node = model.node(id);
            NodeReport { id, name: node.name.clone(), op: node.op.name().to_string(), placement: placement.remove(&id).unwrap_or(Placement::Tract("unvisited".into())) }
        })
        .collect();
    Ok(Hosted { model: patched, nodes, regions: reports, nchw })
}

type Built = (RegionOp, Vec<OutletId>, Vec<OutletId>);

fn build_region(ctx: &Ctx, index: usize, nodes: &[usize], translated: &HashMap<usize, convert::Translated>, isa: Isa, pool: Arc<ThreadPool>) -> Result<Built, String> {
    let model = ctx.model;
    let inside: HashSet<usize> = nodes.iter().copied().collect();
    let mut g = Graph::default();
    let mut wires: HashMap<OutletId, TensorId> = HashMap::new();
    let mut shapes_of: Vec<Vec<usize>> = Vec::new();
    let mut in_outlets = Vec::new();
    let mut in_specs = Vec::new();
    for &n in nodes {
        let node = model.node(n);
        let t = &translated[&n];
        let mut prev: Option<TensorId> = None;
        for (k, (op, inputs)) in t.ops.iter().enumerate() {
            let mut ids = Vec::new();
            if let Some(p) = prev {
                ids.push(p);
            }
            for input in inputs {
                let id = match input {
                    Input::Wire(o) => match wires.get(o) {
                        Some(&id) => id,
                        None => {
                            let shape = ctx.shape(*o)?;
                            let layout = if ctx.permuted(*o) { Layout::NchwToNhwc } else { Layout::Same };
                            let id = g.add_tensor(format!("in{}", in_outlets.len()), armrest_shape(&shape, layout), None);
                            shapes_of.push(armrest_shape(&shape, layout));
                            g.inputs.push(id);
                            wires.insert(*o, id);
                            in_outlets.push(*o);
                            in_specs.push((shape, layout));
                            id
                        }
                    },
                    Input::Const(shape, values) => {
                        shapes_of.push(shape.clone());
                        g.add_tensor(format!("const{}", g.tensors.len()), shape.clone(), Some(values.clone()))
                    }
                };
                ids.push(id);
            }
            let refs: Vec<&[usize]> = ids.iter().map(|&i| shapes_of[i].as_slice()).collect();
            let out_shape = shapes::infer(op, &refs).map_err(|e| format!("node {} ({}): {e}", node.name, node.op.name()))?.remove(0);
            let out = g.add_tensor(format!("{}.{k}", node.name), out_shape.clone(), None);
            shapes_of.push(out_shape);
            g.nodes.push(Node { op: op.clone(), inputs: ids, outputs: vec![out], source: n });
            prev = Some(out);
        }
        let out = prev.ok_or("empty translation")?;
        let outlet = OutletId::new(n, 0);
        let want = armrest_shape(&ctx.shape(outlet)?, if ctx.permuted(outlet) { Layout::NchwToNhwc } else { Layout::Same });
        if shapes_of[out] != want {
            return Err(format!("node {} ({}): armrest computes shape {:?}, tract {:?}", node.name, node.op.name(), shapes_of[out], want));
        }
        wires.insert(outlet, out);
    }
    // Outputs: what nodes outside the region or the model's outputs read.
    let mut out_outlets = Vec::new();
    let mut out_specs = Vec::new();
    for &n in nodes {
        let outlet = OutletId::new(n, 0);
        let read_outside = model.node(n).outputs[0].successors.iter().any(|s| !inside.contains(&s.node)) || model.outputs.contains(&outlet);
        if read_outside {
            g.outputs.push(wires[&outlet]);
            out_outlets.push(outlet);
            let layout = if ctx.permuted(outlet) { Layout::NchwToNhwc } else { Layout::Same };
            out_specs.push((ctx.shape(outlet)?, layout));
        }
    }
    fuse_epilogues(&mut g);
    let count = nodes.len();
    let mut exec = Executor::new(g, isa, pool).map_err(|e| format!("region {index}: {e}"))?;
    let in_shapes: Vec<Vec<usize>> = in_specs.iter().map(|(s, l)| armrest_shape(s, *l)).collect();
    exec.prepare(&in_shapes).map_err(|e| format!("region {index}: {e}"))?;
    Ok((RegionOp::new(index, count, exec, in_specs, out_specs), in_outlets, out_outlets))
}

/// Folds per-channel epilogues into the op producing their input when
/// nothing else reads that op's output: a clamp (ReLU6) into a conv, FC,
/// pool or binary op; a multiplication or addition by a per-channel
/// constant (an unfolded batch norm, a bias add) into a conv's or FC's
/// weights and bias.
pub fn fuse_epilogues(g: &mut Graph) {
    let mut readers: HashMap<TensorId, usize> = HashMap::new();
    for node in &g.nodes {
        for &i in &node.inputs {
            *readers.entry(i).or_default() += 1;
        }
    }
    let mut producer: HashMap<TensorId, usize> = HashMap::new();
    let mut removed = Vec::with_capacity(g.nodes.len());
    let mut alias: HashMap<TensorId, TensorId> = HashMap::new();
    for k in 0..g.nodes.len() {
        removed.push(false);
        for i in 0..g.nodes[k].inputs.len() {
            let t = g.nodes[k].inputs[i];
            g.nodes[k].inputs[i] = alias.get(&t).copied().unwrap_or(t);
        }
        let fused = try_fuse(g, k, &readers, &producer);
        let out = g.nodes[k].outputs[0];
        match fused {
            Some(into) => {
                let input = g.nodes[into].outputs[0];
                alias.insert(out, input);
                removed[k] = true;
                let n = readers.get(&out).copied().unwrap_or(0);
                readers.insert(input, n);
            }
            None => {
                producer.insert(out, k);
            }
        }
    }
    for o in g.outputs.iter_mut() {
        *o = alias.get(o).copied().unwrap_or(*o);
    }
    let mut k = 0;
    g.nodes.retain(|_| {
        k += 1;
        !removed[k - 1]
    });
}

/// The constant's values when it holds one value per channel of a
/// `channels`-wide innermost axis (or one value for all).
fn per_channel(g: &Graph, t: TensorId, channels: usize) -> Option<Vec<f32>> {
    let tensor = &g.tensors[t];
    let c = tensor.constant.as_ref()?;
    let shape = &tensor.shape;
    if c.len() == 1 {
        return Some(vec![c[0]; channels]);
    }
    let inner = *shape.last()?;
    (inner == channels && c.len() == channels).then(|| c.to_vec())
}

/// Fuses node `k` into the producer of its input; returns the producer.
fn try_fuse(g: &mut Graph, k: usize, readers: &HashMap<TensorId, usize>, producer: &HashMap<TensorId, usize>) -> Option<usize> {
    let node = &g.nodes[k];
    let (kind, input, constant) = match node.op {
        Op::Unary(UnaryOp::Clamp(c)) => (Epilogue::Clamp(c), node.inputs[0], None),
        Op::Binary { op: op @ (BinaryOp::Mul | BinaryOp::Add), clamp } if clamp == Clamp::NONE => {
            let (a, b) = (node.inputs[0], node.inputs[1]);
            let (x, c) = if g.tensors[b].constant.is_some() { (a, b) } else if g.tensors[a].constant.is_some() { (b, a) } else { return None };
            (if op == BinaryOp::Mul { Epilogue::Scale } else { Epilogue::Shift }, x, Some(c))
        }
        _ => return None,
    };
    let &p = producer.get(&input)?;
    if readers.get(&input) != Some(&1) || g.outputs.contains(&input) {
        return None;
    }
    match kind {
        Epilogue::Clamp(c) => {
            let slot = match &mut g.nodes[p].op {
                Op::Conv2d { clamp, .. } | Op::DepthwiseConv2d { clamp, .. } | Op::GroupedConv2d { clamp, .. } | Op::FullyConnected { clamp, .. } | Op::Binary { clamp, .. } | Op::Pool2d { clamp, .. } => clamp,
                _ => return None,
            };
            let (lo, hi) = (slot.min.max(c.min), slot.max.min(c.max));
            if lo > hi {
                return None; // disjoint ranges: the composition is not one clamp
            }
            *slot = Clamp { min: lo, max: hi };
            Some(p)
        }
        Epilogue::Scale | Epilogue::Shift => {
            let out_shape = g.tensors[g.nodes[k].outputs[0]].shape.clone();
            if g.tensors[input].shape != out_shape {
                return None; // the constant broadcasts the output larger
            }
            let channels = *out_shape.last()?;
            let values = per_channel(g, constant?, channels)?;
            let producer_node = &g.nodes[p];
            let (filter, depthwise) = match producer_node.op {
                Op::Conv2d { clamp, .. } | Op::GroupedConv2d { clamp, .. } | Op::FullyConnected { clamp, .. } if clamp == Clamp::NONE => (producer_node.inputs[1], false),
                Op::DepthwiseConv2d { clamp, .. } if clamp == Clamp::NONE => (producer_node.inputs[1], true),
                _ => return None,
            };
            let rows = g.tensors[filter].shape[0];
            if (!depthwise && rows != channels) || g.tensors[filter].constant.is_none() {
                return None;
            }
            // The bias (added when absent).
            let bias = match producer_node.inputs.get(2) {
                Some(&b) if g.tensors[b].constant.as_ref().is_some_and(|c| c.len() == channels) => b,
                Some(_) => return None,
                None => {
                    let b = g.add_tensor(format!("bias{p}"), vec![channels], Some(vec![0f32; channels].into()));
                    g.nodes[p].inputs.push(b);
                    b
                }
            };
            let mut b: Vec<f32> = g.tensors[bias].constant.as_ref()?.to_vec();
            if matches!(kind, Epilogue::Scale) {
                let mut w: Vec<f32> = g.tensors[filter].constant.as_ref()?.to_vec();
                if depthwise {
                    for (i, v) in w.iter_mut().enumerate() {
                        *v *= values[i % channels];
                    }
                } else {
                    let per_row = w.len() / channels;
                    for (i, v) in w.iter_mut().enumerate() {
                        *v *= values[i / per_row];
                    }
                }
                for (v, s) in b.iter_mut().zip(&values) {
                    *v *= s;
                }
                g.tensors[filter].constant = Some(w.into());
            } else {
                for (v, s) in b.iter_mut().zip(&values) {
                    *v += s;
                }
            }
            g.tensors[bias].constant = Some(b.into());
            Some(p)
        }
    }
}

enum Epilogue {
    Clamp(Clamp),
    Scale,
    Shift,
}

/// The tract model with each region's nodes replaced by its op.
fn patch(model: &TypedModel, order: &[usize], region_of: &HashMap<usize, usize>, regions: Vec<Built>) -> Result<TypedModel, String> {
    let err = |e: TractError| format!("{e:#}");
    let mut new = TypedModel::default();
    let mut map: HashMap<OutletId, OutletId> = HashMap::new();
    for &i in model.inputs.iter() {
        let node = model.node(i.node);
        let w = new.add_source(node.name.clone(), node.outputs[0].fact.clone()).map_err(err)?;
        map.insert(i, w);
    }
    enum Item {
        Node(usize),
        Region(usize),
    }
    let mut pending: Vec<Item> = order.iter().filter(|&&n| !region_of.contains_key(&n) && !model.node(n).op_is::<TypedSource>()).map(|&n| Item::Node(n)).collect();
    pending.extend((0..regions.len()).map(Item::Region));
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for item in pending {
            let inputs: Vec<OutletId> = match &item {
                Item::Node(n) => model.node(*n).inputs.clone(),
                Item::Region(r) => regions[*r].1.clone(),
            };
            let Some(mapped) = inputs.iter().map(|i| map.get(i).copied()).collect::<Option<Vec<_>>>() else {
                rest.push(item);
                continue;
            };
            match item {
                Item::Node(n) => {
                    let node = model.node(n);
                    let outs = if let Some(c) = node.op_as::<Const>() {
                        tvec!(new.add_const(node.name.clone(), c.val().clone()).map_err(err)?)
                    } else {
                        new.wire_node(node.name.clone(), node.op.clone(), &mapped).map_err(err)?
                    };
                    for (k, o) in outs.into_iter().enumerate() {
                        map.insert(OutletId::new(n, k), o);
                    }
                }
                Item::Region(r) => {
                    let (op, _, outputs) = &regions[r];
                    let outs = new.wire_node(format!("armrest.region{r}"), op.clone(), &mapped).map_err(err)?;
                    for (o, w) in outputs.iter().zip(outs) {
                        map.insert(*o, w);
                    }
                }
            }
        }
        if rest.len() == before {
            return Err("regions form a cycle with tract nodes (internal error)".into());
        }
        pending = rest;
    }
    let outputs: Vec<OutletId> = model.outputs.iter().map(|o| map[o]).collect();
    new.select_output_outlets(&outputs).map_err(err)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use armrest_delegate::ir::Padding;

    fn run(g: Graph, x: &[f32], shape: &[usize]) -> Vec<f32> {
        let mut e = Executor::new(g, Isa::Scalar, Arc::new(ThreadPool::new(1))).unwrap();
        let outs = e.prepare(&[shape.to_vec()]).unwrap();
        let mut y = vec![0f32; outs[0].iter().product()];
        e.run(&[x], &mut [&mut y]).unwrap();
        y
    }

    /// conv → ×scale → +shift → relu6, and a depthwise conv → ×scale read twice.
    fn graph() -> Graph {
        let mut g = Graph::default();
        let c = 3;
        let x = g.add_tensor("x".into(), vec![1, 4, 4, 2], None);
        let w: Vec<f32> = (0..c * 3 * 3 * 2).map(|i| ((i * 7) % 5) as f32 * 0.3 - 0.6).collect();
        let w = g.add_tensor("w".into(), vec![c, 3, 3, 2], Some(w.into()));
        let y = g.add_tensor("y".into(), vec![1, 4, 4, c], None);
        let conv = Op::Conv2d { padding: Padding::Same, stride: [1, 1], dilation: [1, 1], clamp: Clamp::NONE };
        g.nodes.push(Node { op: conv, inputs: vec![x, w], outputs: vec![y], source: 0 });
        let mut last = y;
        for (k, (op, values)) in [(BinaryOp::Mul, vec![2.0, -1.0, 0.5]), (BinaryOp::Add, vec![0.25, 3.0, -0.5])].into_iter().enumerate() {
            let c_id = g.add_tensor(format!("c{k}"), vec![1, 1, 1, c], Some(values.into()));
            let out = g.add_tensor(format!("o{k}"), vec![1, 4, 4, c], None);
            g.nodes.push(Node { op: Op::Binary { op, clamp: Clamp::NONE }, inputs: vec![last, c_id], outputs: vec![out], source: k + 1 });
            last = out;
        }
        let r = g.add_tensor("r".into(), vec![1, 4, 4, c], None);
        g.nodes.push(Node { op: Op::Unary(UnaryOp::Clamp(Clamp::RELU6)), inputs: vec![last], outputs: vec![r], source: 3 });
        // A depthwise conv whose output two nodes read: the scale is not fused.
        let dw: Vec<f32> = (0..9 * c).map(|i| (i % 4) as f32 * 0.25 - 0.3).collect();
        let dw = g.add_tensor("dw".into(), vec![1, 3, 3, c], Some(dw.into()));
        let d = g.add_tensor("d".into(), vec![1, 4, 4, c], None);
        let dconv = Op::DepthwiseConv2d { padding: Padding::Same, stride: [1, 1], dilation: [1, 1], depth_multiplier: 1, clamp: Clamp::NONE };
        g.nodes.push(Node { op: dconv, inputs: vec![r, dw], outputs: vec![d], source: 4 });
        let s = g.add_tensor("s".into(), vec![c], Some(vec![1.5, -2.0, 0.75].into()));
        let m = g.add_tensor("m".into(), vec![1, 4, 4, c], None);
        g.nodes.push(Node { op: Op::Binary { op: BinaryOp::Mul, clamp: Clamp::NONE }, inputs: vec![s, d], outputs: vec![m], source: 5 });
        let z = g.add_tensor("z".into(), vec![1, 4, 4, c], None);
        g.nodes.push(Node { op: Op::Binary { op: BinaryOp::Add, clamp: Clamp::NONE }, inputs: vec![m, d], outputs: vec![z], source: 6 });
        g.inputs = vec![x];
        g.outputs = vec![z];
        g
    }

    #[test]
    fn fused_epilogues_compute_the_same() {
        let g = graph();
        let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
        let want = run(g.clone(), &x, &[1, 4, 4, 2]);
        let mut fused = g;
        fuse_epilogues(&mut fused);
        // mul, add and relu6 folded into the conv; the depthwise output is read twice.
        let names: Vec<&str> = fused.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(names, ["conv2d", "depthwise_conv2d", "binary", "binary"]);
        assert!(matches!(fused.nodes[0].op, Op::Conv2d { clamp, .. } if clamp == Clamp::RELU6));
        let got = run(fused, &x, &[1, 4, 4, 2]);
        assert!(want.iter().any(|&v| v != 0.0));
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
