//! Graph rewrites the fp32 executor applies before it packs weights.
//!
//! [`fold_pads`]: a zero PAD of the spatial dimensions feeding a CONV_2D or
//! DEPTHWISE_CONV_2D with VALID or explicit padding becomes part of the
//! convolution's explicit padding (TensorFlow exports "SAME" strided
//! convolutions this way), so the padded copy of the activation is never
//! written: the convolution kernels read their padding from zeros already.
//!
//! [`fold_activations`]: a standalone RELU/RELU6/RELU_N1_TO_1 after a node
//! with an output clamp becomes that clamp (one pass over the data fewer).
//!
//! [`plan_chains`]: a DEPTHWISE_CONV_2D with the 1x1 CONV_2D before it
//! (expand) and/or after it (project), as in MobileNetV2's inverted residual
//! blocks, runs as one fused chain in bands of rows
//! ([`armrest_kernels::conv::fused`]): the intermediate tensors are never
//! written out. The graph keeps its nodes (verification and tract see the
//! plain graph); the executor runs the chain at its first node and skips the
//! rest. Bit-identical to running the nodes one by one.

use crate::exec::Packed;
use crate::ir::{Graph, Op, Padding, TensorId};
use crate::shapes;
use armrest_kernels::conv::fused::{self, Depthwise, Pointwise};
use armrest_kernels::elementwise::UnaryOp;
use armrest_kernels::{Clamp, Exec, Nhwc};

/// Folds every foldable PAD into the convolution reading it and drops the
/// PAD node; returns how many were folded. A PAD folds when it pads only H
/// and W of a rank-4 tensor, its output is read by that one convolution (as
/// the activation, nowhere else) and is not a graph output, and the
/// convolution's padding is VALID or explicit (SAME depends on the padded
/// size at run time and is left alone).
pub fn fold_pads(graph: &mut Graph) -> usize {
    let (reads, producer) = reads_and_producers(graph);
    let mut dropped = vec![false; graph.nodes.len()];
    for m in 0..graph.nodes.len() {
        let Some(&t) = graph.nodes[m].inputs.first() else { continue };
        let Some(p) = producer[t] else { continue };
        if reads[t] != 1 || dropped[p] || graph.nodes[p].outputs.len() != 1 {
            continue;
        }
        let Op::Pad { pads } = &graph.nodes[p].op else { continue };
        let [(0, 0), (top, bottom), (left, right), (0, 0)] = pads[..] else { continue };
        let x = graph.nodes[p].inputs[0];
        let (Op::Conv2d { padding, .. } | Op::DepthwiseConv2d { padding, .. }) = &mut graph.nodes[m].op else { continue };
        let base = match *padding {
            Padding::Valid => [0; 4],
            Padding::Explicit(e) => e,
            Padding::Same => continue,
        };
        *padding = Padding::Explicit([base[0] + top, base[1] + bottom, base[2] + left, base[3] + right]);
        graph.nodes[m].inputs[0] = x;
        dropped[p] = true;
    }
    drop_marked(graph, &dropped)
}

/// Folds every RELU / RELU6 / RELU_N1_TO_1 (a clamp) into the node producing
/// its input when that node applies an output clamp of its own (convolutions,
/// FULLY_CONNECTED, elementwise binary ops), has none yet, and its output is
/// read by the clamp alone and is not a graph output; drops the clamp node and
/// returns how many were folded. Exact: the kernels clamp the same values
/// with the same min/max the separate pass would.
pub fn fold_activations(graph: &mut Graph) -> usize {
    let (reads, mut producer) = reads_and_producers(graph);
    let mut dropped = vec![false; graph.nodes.len()];
    for m in 0..graph.nodes.len() {
        let Op::Unary(UnaryOp::Clamp(c)) = graph.nodes[m].op else { continue };
        let (Some(&t), Some(&y)) = (graph.nodes[m].inputs.first(), graph.nodes[m].outputs.first()) else { continue };
        let Some(p) = producer[t] else { continue };
        if reads[t] != 1 || dropped[p] || graph.nodes[p].outputs.len() != 1 {
            continue;
        }
        let (Op::Conv2d { clamp, .. } | Op::DepthwiseConv2d { clamp, .. } | Op::FullyConnected { clamp, .. } | Op::Binary { clamp, .. } | Op::GroupedConv2d { clamp, .. }) =
            &mut graph.nodes[p].op
        else {
            continue;
        };
        if *clamp != Clamp::NONE {
            continue;
        }
        *clamp = c;
        graph.nodes[p].outputs[0] = y;
        producer[y] = Some(p);
        dropped[m] = true;
    }
    drop_marked(graph, &dropped)
}

/// How the executor runs a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// On its own.
    Plain,
    /// As the first node of a fused chain, which it runs whole.
    Chain(Chain),
    /// Not at all: an earlier chain's head computes it.
    Skip,
}

/// A fused expand -> depthwise -> project chain (node indices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    pub expand: Option<usize>,
    pub dw: usize,
    pub project: Option<usize>,
    /// The chain's activation input and its output: all it reads and writes
    /// outside its packed weights.
    pub reads: [TensorId; 1],
    pub writes: [TensorId; 1],
}

/// Whether node `n` is a 1x1, stride-1, unpadded CONV_2D with one output.
fn chainable_pointwise(graph: &Graph, n: usize) -> bool {
    let node = &graph.nodes[n];
    let Op::Conv2d { padding, stride: [1, 1], .. } = node.op else { return false };
    let one_by_one = node.inputs.get(1).is_some_and(|&w| matches!(graph.tensors[w].shape[..], [_, 1, 1, _]));
    let unpadded = matches!(padding, Padding::Valid | Padding::Same | Padding::Explicit([0, 0, 0, 0]));
    one_by_one && unpadded && node.outputs.len() == 1
}

/// Finds the chains: a depthwise convolution whose input comes from the
/// node just before it, a chainable pointwise convolution whose output only
/// it reads (expand), and/or whose output is read only by the node just
/// after it, a chainable pointwise convolution reading it as its activation
/// (project); at least one of the two. Returns each node's role.
pub(crate) fn plan_chains(graph: &Graph) -> Vec<Role> {
    let (reads, _) = reads_and_producers(graph);
    let count = graph.nodes.len();
    let mut roles = vec![Role::Plain; count];
    let mut m = 0;
    while m < count {
        let node = &graph.nodes[m];
        let (Op::DepthwiseConv2d { .. }, [x, ..], [d]) = (&node.op, &node.inputs[..], &node.outputs[..]) else {
            m += 1;
            continue;
        };
        let expand = (m > 0 && roles[m - 1] == Role::Plain && chainable_pointwise(graph, m - 1))
            .then(|| m - 1)
            .filter(|&e| graph.nodes[e].outputs[0] == *x && reads[*x] == 1);
        let project = (m + 1 < count && chainable_pointwise(graph, m + 1))
            .then_some(m + 1)
            .filter(|&p| graph.nodes[p].inputs[0] == *d && reads[*d] == 1);
        if expand.is_none() && project.is_none() {
            m += 1;
            continue;
        }
        let head = expand.unwrap_or(m);
        let last = project.unwrap_or(m);
        let input = graph.nodes[head].inputs[0];
        let output = graph.nodes[last].outputs[0];
        roles[head] = Role::Chain(Chain { expand, dw: m, project, reads: [input], writes: [output] });
        for role in &mut roles[head + 1..=last] {
            *role = Role::Skip;
        }
        m = last + 1;
    }
    roles
}

/// Runs `chain` on `x` (shape `xs`) into `out`. Shapes were validated by
/// `prepare` (rank-4 NHWC through the chain).
pub(crate) fn run_chain(exec: Exec, chain: &Chain, graph: &Graph, packed: &[Packed], xs: &[usize], x: &[f32], out: &mut [f32]) {
    let pointwise = |n: usize| match (&graph.nodes[n].op, &packed[n]) {
        (Op::Conv2d { clamp, .. }, Packed::Conv(w)) => Pointwise { w, clamp: *clamp },
        _ => unreachable!("chains hold packed pointwise convolutions"),
    };
    let dw = match (&graph.nodes[chain.dw].op, &packed[chain.dw]) {
        (Op::DepthwiseConv2d { padding, stride, dilation, clamp, .. }, Packed::Depthwise(w)) => {
            Depthwise { w, win: shapes::window(*padding, [xs[1], xs[2]], [w.kernel_h, w.kernel_w], *stride, *dilation), clamp: *clamp }
        }
        _ => unreachable!("chains hold a packed depthwise convolution"),
    };
    let in_shape = Nhwc { n: xs[0], h: xs[1], w: xs[2], c: xs[3] };
    fused::pointwise_depthwise_chain(exec, in_shape, x, chain.expand.map(pointwise), dw, chain.project.map(pointwise), out);
}

/// How often each tensor is read (a graph output counts as a read) and which
/// node writes it.
fn reads_and_producers(graph: &Graph) -> (Vec<usize>, Vec<Option<usize>>) {
    let mut reads = vec![0usize; graph.tensors.len()];
    for &t in graph.nodes.iter().flat_map(|n| &n.inputs).chain(&graph.outputs) {
        reads[t] += 1;
    }
    let mut producer = vec![None; graph.tensors.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        for &t in &node.outputs {
            producer[t] = Some(n);
        }
    }
    (reads, producer)
}

/// Removes the nodes marked in `dropped`; returns how many.
fn drop_marked(graph: &mut Graph, dropped: &[bool]) -> usize {
    let mut n = 0;
    graph.nodes.retain(|_| {
        n += 1;
        !dropped[n - 1]
    });
    dropped.iter().filter(|&&d| d).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;
    use armrest_kernels::Clamp;
    use std::sync::Arc;

    fn dw(padding: Padding, x: usize, w: usize, y: usize) -> Node {
        Node { op: Op::DepthwiseConv2d { padding, stride: [2, 2], dilation: [1, 1], depth_multiplier: 1, clamp: Clamp::NONE }, inputs: vec![x, w], outputs: vec![y], source: 1 }
    }

    fn pad(pads: Vec<(usize, usize)>, x: usize, y: usize) -> Node {
        Node { op: Op::Pad { pads }, inputs: vec![x], outputs: vec![y], source: 0 }
    }

    /// x -> PAD -> p -> dw -> y, plus the filter.
    fn graph(pads: Vec<(usize, usize)>, padding: Padding) -> Graph {
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), vec![1, 6, 6, 3], None);
        let p = g.add_tensor("p".into(), vec![1, 7, 8, 3], None);
        let w = g.add_tensor("w".into(), vec![1, 3, 3, 3], Some(Arc::from(vec![0.5f32; 27])));
        let y = g.add_tensor("y".into(), vec![1, 3, 3, 3], None);
        g.nodes = vec![pad(pads, x, p), dw(padding, p, w, y)];
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    #[test]
    fn spatial_zero_pad_folds_into_valid_and_explicit_padding() {
        let mut g = graph(vec![(0, 0), (0, 1), (1, 2), (0, 0)], Padding::Valid);
        assert_eq!(fold_pads(&mut g), 1);
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].inputs[0], 0);
        assert!(matches!(g.nodes[0].op, Op::DepthwiseConv2d { padding: Padding::Explicit([0, 1, 1, 2]), .. }));

        let mut g = graph(vec![(0, 0), (0, 1), (1, 2), (0, 0)], Padding::Explicit([1, 0, 0, 3]));
        assert_eq!(fold_pads(&mut g), 1);
        assert!(matches!(g.nodes[0].op, Op::DepthwiseConv2d { padding: Padding::Explicit([1, 1, 1, 5]), .. }));
    }

    #[test]
    fn pads_that_cannot_fold_stay() {
        // Channel or batch padding, SAME convolutions, rank other than 4.
        for (pads, padding) in [
            (vec![(0, 0), (1, 1), (1, 1), (0, 2)], Padding::Valid),
            (vec![(1, 0), (1, 1), (1, 1), (0, 0)], Padding::Valid),
            (vec![(0, 0), (1, 1), (1, 1), (0, 0)], Padding::Same),
            (vec![(0, 0), (1, 1), (1, 1)], Padding::Valid),
        ] {
            let mut g = graph(pads, padding);
            assert_eq!(fold_pads(&mut g), 0);
            assert_eq!(g.nodes.len(), 2);
        }
        // The padded tensor is also a graph output, or read by a second node.
        let mut g = graph(vec![(0, 0), (1, 1), (1, 1), (0, 0)], Padding::Valid);
        g.outputs.push(1);
        assert_eq!(fold_pads(&mut g), 0);
        let mut g = graph(vec![(0, 0), (1, 1), (1, 1), (0, 0)], Padding::Valid);
        let z = g.add_tensor("z".into(), vec![1, 3, 3, 3], None);
        g.nodes.push(dw(Padding::Valid, 1, 2, z));
        g.outputs.push(z);
        assert_eq!(fold_pads(&mut g), 0);
        // Read as the filter, not the activation.
        let mut g = graph(vec![(0, 0), (1, 1), (1, 1), (0, 0)], Padding::Valid);
        g.nodes[1].inputs = vec![0, 1];
        assert_eq!(fold_pads(&mut g), 0);
    }
}

#[cfg(test)]
mod exec_tests {
    use super::*;
    use crate::ir::Node;
    use crate::Executor;
    use armrest_kernels::{Clamp, Isa, ThreadPool};
    use std::sync::Arc;

    pub(super) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn run(graph: Graph, input: &[f32], in_shape: &[usize]) -> (Vec<f32>, usize) {
        let mut exec = Executor::new(graph, Isa::best(), Arc::new(ThreadPool::new(1))).unwrap();
        let nodes = exec.graph().nodes.len();
        let out_shape = exec.prepare(&[in_shape.to_vec()]).unwrap().remove(0);
        let mut out = vec![0.0; out_shape.iter().product()];
        exec.run(&[input], &mut [&mut out]).unwrap();
        (out, nodes)
    }

    /// PAD then a convolution, run folded, against the PAD and the
    /// convolution run as two graphs (where nothing can fold).
    #[test]
    fn folded_pad_gives_the_results_of_pad_then_conv() {
        let x_shape = [1usize, 9, 10, 5];
        let x = values(x_shape.iter().product(), 1);
        for (depthwise, k, stride, pads, padding) in [
            (true, 3, 2, [(0, 0), (0, 1), (0, 1), (0, 0)], Padding::Valid),
            (true, 5, 1, [(0, 0), (2, 2), (2, 2), (0, 0)], Padding::Valid),
            (true, 3, 1, [(0, 0), (1, 0), (2, 1), (0, 0)], Padding::Explicit([0, 1, 1, 0])),
            (false, 3, 2, [(0, 0), (1, 1), (0, 1), (0, 0)], Padding::Valid),
        ] {
            let p_shape = vec![1, 9 + pads[1].0 + pads[1].1, 10 + pads[2].0 + pads[2].1, 5];
            let (w_shape, op) = if depthwise {
                (vec![1, k, k, 5], Op::DepthwiseConv2d { padding, stride: [stride, stride], dilation: [1, 1], depth_multiplier: 1, clamp: Clamp::RELU6 })
            } else {
                (vec![4, k, k, 5], Op::Conv2d { padding, stride: [stride, stride], dilation: [1, 1], clamp: Clamp::NONE })
            };
            let out_c = w_shape[0] * w_shape[3] / if depthwise { 1 } else { 5 };
            let w: Arc<[f32]> = Arc::from(values(w_shape.iter().product(), 2));
            let b: Arc<[f32]> = Arc::from(values(out_c, 3));
            let build = |with_pad: bool, with_conv: bool| {
                let mut g = Graph::default();
                let xi = g.add_tensor("x".into(), x_shape.to_vec(), None);
                let pi = g.add_tensor("p".into(), p_shape.clone(), None);
                let wi = g.add_tensor("w".into(), w_shape.clone(), Some(w.clone()));
                let bi = g.add_tensor("b".into(), vec![out_c], Some(b.clone()));
                let yi = g.add_tensor("y".into(), vec![], None);
                if with_pad {
                    g.nodes.push(Node { op: Op::Pad { pads: pads.to_vec() }, inputs: vec![xi], outputs: vec![pi], source: 0 });
                }
                if with_conv {
                    g.nodes.push(Node { op: op.clone(), inputs: vec![pi, wi, bi], outputs: vec![yi], source: 1 });
                }
                g.inputs = vec![if with_pad { xi } else { pi }];
                g.outputs = vec![if with_conv { yi } else { pi }];
                g
            };
            let (folded, nodes) = run(build(true, true), &x, &x_shape);
            assert_eq!(nodes, 1, "{op:?}: the PAD was not folded");
            let (padded, _) = run(build(true, false), &x, &x_shape);
            let (want, _) = run(build(false, true), &padded, &p_shape);
            assert_eq!(folded.len(), want.len(), "{op:?}");
            for (i, (a, b)) in folded.iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{op:?} {pads:?}: element {i}: {a} vs {b}");
            }
        }
    }
}

#[cfg(test)]
mod activation_tests {
    use super::*;
    use crate::ir::{Node, Padding};
    use crate::Executor;
    use armrest_kernels::elementwise::BinaryOp;
    use armrest_kernels::{Isa, ThreadPool};
    use std::sync::Arc;

    /// x -> producer (conv or add) -> t -> clamp -> y.
    fn graph(conv: bool, producer_clamp: Clamp, clamp: Clamp) -> Graph {
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), vec![1, 5, 6, 4], None);
        let t = g.add_tensor("t".into(), vec![], None);
        let y = g.add_tensor("y".into(), vec![], None);
        let w: Vec<f32> = (0..4 * 3 * 3 * 4).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
        let w = g.add_tensor("w".into(), vec![4, 3, 3, 4], Some(Arc::from(w)));
        let op = if conv {
            Op::Conv2d { padding: Padding::Same, stride: [1, 1], dilation: [1, 1], clamp: producer_clamp }
        } else {
            Op::Binary { op: BinaryOp::Add, clamp: producer_clamp }
        };
        let inputs = if conv { vec![x, w] } else { vec![x, x] };
        g.nodes = vec![
            Node { op, inputs, outputs: vec![t], source: 0 },
            Node { op: Op::Unary(UnaryOp::Clamp(clamp)), inputs: vec![t], outputs: vec![y], source: 1 },
        ];
        g.inputs = vec![x];
        g.outputs = vec![y];
        g
    }

    #[test]
    fn clamp_folds_into_an_unclamped_producer_only() {
        for conv in [true, false] {
            let mut g = graph(conv, Clamp::NONE, Clamp::RELU6);
            assert_eq!(fold_activations(&mut g), 1);
            assert_eq!(g.nodes.len(), 1);
            assert_eq!(g.nodes[0].outputs, vec![2]);
            assert!(matches!(g.nodes[0].op, Op::Conv2d { clamp: Clamp::RELU6, .. } | Op::Binary { clamp: Clamp::RELU6, .. }));
            // Already clamped, read elsewhere too, or a graph output: left alone.
            let mut g = graph(conv, Clamp::RELU, Clamp::RELU6);
            assert_eq!(fold_activations(&mut g), 0);
            let mut g = graph(conv, Clamp::NONE, Clamp::RELU);
            g.outputs.push(1);
            assert_eq!(fold_activations(&mut g), 0);
            let mut g = graph(conv, Clamp::NONE, Clamp::RELU);
            let z = g.add_tensor("z".into(), vec![], None);
            g.nodes.push(Node { op: Op::Unary(UnaryOp::Logistic), inputs: vec![1], outputs: vec![z], source: 2 });
            g.outputs.push(z);
            assert_eq!(fold_activations(&mut g), 0);
        }
        // Not a clamp: no fold.
        let mut g = graph(true, Clamp::NONE, Clamp::RELU);
        g.nodes[1].op = Op::Unary(UnaryOp::Tanh);
        assert_eq!(fold_activations(&mut g), 0);
    }

    #[test]
    fn folded_clamp_gives_the_same_bits_as_the_separate_pass() {
        let x: Vec<f32> = (0..120).map(|i| ((i * 53 % 41) as f32 - 20.0) / 3.0).collect();
        for conv in [true, false] {
            for clamp in [Clamp::RELU, Clamp::RELU6, Clamp::RELU_N1_TO_1] {
                let run = |g: Graph| {
                    let mut exec = Executor::new(g, Isa::best(), Arc::new(ThreadPool::new(1))).unwrap();
                    let nodes = exec.graph().nodes.len();
                    let shape = exec.prepare(&[vec![1, 5, 6, 4]]).unwrap().remove(0);
                    let mut out = vec![0.0; shape.iter().product()];
                    exec.run(&[&x], &mut [&mut out]).unwrap();
                    (out, nodes)
                };
                let (folded, nodes) = run(graph(conv, Clamp::NONE, clamp));
                assert_eq!(nodes, 1);
                // The same two nodes, the producer's output also a graph output: nothing folds.
                let mut g = graph(conv, Clamp::NONE, clamp);
                g.outputs = vec![1];
                let (unclamped, nodes) = run(g);
                assert_eq!(nodes, 2);
                let want: Vec<f32> = unclamped.iter().map(|&v| clamp.apply(v)).collect();
                assert!(folded.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "conv={conv} {clamp:?}");
                assert!(folded.contains(&clamp.min) && folded.iter().any(|&v| v > clamp.min), "conv={conv} {clamp:?}: the clamp was not exercised");
            }
        }
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;
    use crate::ir::Node;
    use crate::Executor;
    use armrest_kernels::elementwise::BinaryOp;
    use super::exec_tests::values;
    use armrest_kernels::{Isa, ThreadPool};
    use std::sync::Arc;

    struct Block {
        c: usize,
        expand: Option<usize>,
        kernel: usize,
        stride: usize,
        padding: Padding,
        dm: usize,
        project: Option<usize>,
        residual: bool,
    }

    /// x -> [1x1 expand, RELU6] -> depthwise (RELU6) -> [1x1 project] -> [+ x];
    /// `exposed` also makes every intermediate a graph output (nothing fuses).
    fn block(b: &Block, exposed: bool) -> Graph {
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), vec![], None);
        let mut nodes = Vec::new();
        let mut outs = Vec::new();
        let mut cur = x;
        let mut c = b.c;
        let mut seed = 10;
        let mut constant = |g: &mut Graph, shape: Vec<usize>| {
            seed += 1;
            g.add_tensor(format!("k{seed}"), shape.clone(), Some(Arc::from(values(shape.iter().product(), seed))))
        };
        if let Some(ce) = b.expand {
            let (w, bias, y) = (constant(&mut g, vec![ce, 1, 1, c]), constant(&mut g, vec![ce]), g.add_tensor("e".into(), vec![], None));
            nodes.push(Node { op: Op::Conv2d { padding: Padding::Same, stride: [1, 1], dilation: [1, 1], clamp: Clamp::RELU6 }, inputs: vec![cur, w, bias], outputs: vec![y], source: 0 });
            outs.push(y);
            (cur, c) = (y, ce);
        }
        let cd = c * b.dm;
        let (w, bias, y) = (constant(&mut g, vec![1, b.kernel, b.kernel, cd]), constant(&mut g, vec![cd]), g.add_tensor("d".into(), vec![], None));
        let op = Op::DepthwiseConv2d { padding: b.padding, stride: [b.stride, b.stride], dilation: [1, 1], depth_multiplier: b.dm, clamp: Clamp::RELU6 };
        nodes.push(Node { op, inputs: vec![cur, w, bias], outputs: vec![y], source: 1 });
        (cur, c) = (y, cd);
        if let Some(cf) = b.project {
            outs.push(cur);
            let (w, y) = (constant(&mut g, vec![cf, 1, 1, c]), g.add_tensor("p".into(), vec![], None));
            nodes.push(Node { op: Op::Conv2d { padding: Padding::Valid, stride: [1, 1], dilation: [1, 1], clamp: Clamp::NONE }, inputs: vec![cur, w], outputs: vec![y], source: 2 });
            cur = y;
        }
        if b.residual {
            outs.push(cur);
            let y = g.add_tensor("r".into(), vec![], None);
            nodes.push(Node { op: Op::Binary { op: BinaryOp::Add, clamp: Clamp::NONE }, inputs: vec![cur, x], outputs: vec![y], source: 3 });
            cur = y;
        }
        g.nodes = nodes;
        g.inputs = vec![x];
        g.outputs = vec![cur];
        if exposed {
            g.outputs.extend(outs);
        }
        g
    }

    fn run(g: Graph, x: &[f32], shape: &[usize], threads: usize) -> (Vec<f32>, usize) {
        let mut exec = Executor::new(g, Isa::best(), Arc::new(ThreadPool::new(threads))).unwrap();
        let shapes = exec.prepare(&[shape.to_vec()]).unwrap();
        let mut outs: Vec<Vec<f32>> = shapes.iter().map(|s| vec![0.0; s.iter().product()]).collect();
        let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| &mut o[..]).collect();
        exec.run(&[x], &mut refs).unwrap();
        (outs.swap_remove(0), exec.chains())
    }

    #[test]
    fn chains_run_bit_identical_to_the_nodes_one_by_one() {
        let same = Padding::Same;
        let blocks = [
            Block { c: 16, expand: Some(96), kernel: 3, stride: 2, padding: same, dm: 1, project: Some(24), residual: false },
            Block { c: 24, expand: Some(144), kernel: 3, stride: 1, padding: same, dm: 1, project: Some(24), residual: true },
            Block { c: 5, expand: Some(13), kernel: 5, stride: 1, padding: Padding::Explicit([2, 1, 2, 1]), dm: 1, project: Some(7), residual: false },
            Block { c: 32, expand: None, kernel: 3, stride: 1, padding: same, dm: 1, project: Some(17), residual: false },
            Block { c: 7, expand: Some(11), kernel: 3, stride: 2, padding: Padding::Valid, dm: 1, project: None, residual: false },
            Block { c: 3, expand: None, kernel: 3, stride: 1, padding: same, dm: 2, project: Some(3), residual: true },
        ];
        for b in &blocks {
            for (n, h, w) in [(1, 33, 31), (2, 8, 9), (1, 1, 4)] {
                let shape = [n, h, w, b.c];
                let x = values(shape.iter().product(), (h * w) as u32);
                let (want, none) = run(block(b, true), &x, &shape, 1);
                assert_eq!(none, 0, "an exposed intermediate must stop the fusion");
                for threads in [1, 2, 3] {
                    let (got, chains) = run(block(b, false), &x, &shape, threads);
                    assert_eq!(chains, 1);
                    assert_eq!(got.len(), want.len());
                    assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "c={} expand={:?} project={:?} {shape:?} threads={threads}", b.c, b.expand, b.project);
                }
            }
        }
    }

    #[test]
    fn chains_form_only_over_pointwise_convolutions_read_once() {
        let b = Block { c: 4, expand: Some(8), kernel: 3, stride: 1, padding: Padding::Same, dm: 1, project: Some(4), residual: false };
        let g = block(&b, false);
        assert_eq!(plan_chains(&g), vec![Role::Chain(Chain { expand: Some(0), dw: 1, project: Some(2), reads: [0], writes: [g.outputs[0]] }), Role::Skip, Role::Skip]);
        // A 3x3 or strided "expand" is not pointwise: the chain keeps only the projection.
        for op in [
            Op::Conv2d { padding: Padding::Same, stride: [2, 2], dilation: [1, 1], clamp: Clamp::NONE },
            Op::Conv2d { padding: Padding::Explicit([0, 1, 0, 0]), stride: [1, 1], dilation: [1, 1], clamp: Clamp::NONE },
        ] {
            let mut g = block(&b, false);
            g.nodes[0].op = op;
            assert_eq!(plan_chains(&g)[..2], [Role::Plain, Role::Chain(Chain { expand: None, dw: 1, project: Some(2), reads: [g.nodes[1].inputs[0]], writes: [g.outputs[0]] })]);
        }
        let mut g = block(&b, false);
        let w = g.nodes[0].inputs[1];
        g.tensors[w].shape = vec![8, 3, 3, 4];
        assert_eq!(plan_chains(&g)[0], Role::Plain);
        // The expanded tensor also read elsewhere, the depthwise output a graph output: no chain at all.
        let mut g = block(&b, false);
        let e = g.nodes[0].outputs[0];
        let d = g.nodes[1].outputs[0];
        g.outputs.push(e);
        g.outputs.push(d);
        assert_eq!(plan_chains(&g), vec![Role::Plain; 3]);
        // A lone depthwise.
        let b = Block { c: 4, expand: None, kernel: 3, stride: 1, padding: Padding::Same, dm: 1, project: None, residual: true };
        assert_eq!(plan_chains(&block(&b, false)), vec![Role::Plain; 2]);
    }
}
