//! Fallback islands: each maximal run of consecutive `Op::Fallback` nodes of
//! a graph runs as one tract model, planned for the shapes of each prepare.

use super::{plan, run_plan, sub_model, Plan};
use crate::ir::{Graph, Op, TensorId};
use crate::shapes::Shape;

/// One run of consecutive fallback nodes.
pub struct Island {
    /// The graph's node positions in the island, in order.
    pub nodes: Vec<usize>,
    /// Tensors the island reads from outside (non-constant), in tract input order.
    pub inputs: Vec<TensorId>,
    /// Tensors the island computes that the rest of the graph (or its outputs) reads.
    pub outputs: Vec<TensorId>,
    plan: Option<(Vec<Shape>, Plan)>,
}

impl Island {
    /// The islands of `graph`, in execution order.
    pub fn find(graph: &Graph) -> Vec<Island> {
        let mut islands: Vec<Vec<usize>> = Vec::new();
        let mut previous_fallback = false;
        for (n, node) in graph.nodes.iter().enumerate() {
            let fallback = matches!(node.op, Op::Fallback(_));
            if fallback {
                match islands.last_mut() {
                    Some(run) if previous_fallback => run.push(n),
                    _ => islands.push(vec![n]),
                }
            }
            previous_fallback = fallback;
        }
        islands.into_iter().map(|nodes| Island::new(graph, nodes)).collect()
    }

    fn new(graph: &Graph, nodes: Vec<usize>) -> Island {
        let produced: Vec<TensorId> = nodes.iter().flat_map(|&n| graph.nodes[n].outputs.iter().copied()).collect();
        let mut inputs = Vec::new();
        for &n in &nodes {
            for &i in &graph.nodes[n].inputs {
                if !produced.contains(&i) && graph.tensors[i].constant.is_none() && !inputs.contains(&i) {
                    inputs.push(i);
                }
            }
        }
        let read_outside = |t: TensorId| {
            graph.outputs.contains(&t) || graph.nodes.iter().enumerate().any(|(m, node)| !nodes.contains(&m) && node.inputs.contains(&t))
        };
        let outputs = produced.iter().copied().filter(|&t| read_outside(t)).collect();
        Island { nodes, inputs, outputs, plan: None }
    }

    /// The node position where the island runs (its first node).
    pub fn first(&self) -> usize {
        self.nodes[0]
    }

    /// Plans the island for the tensor shapes `shapes` (indexed by tensor id);
    /// a no-op when its input shapes did not change.
    pub fn prepare(&mut self, graph: &Graph, shapes: &[Shape]) -> Result<(), String> {
        let input_shapes: Vec<Shape> = self.inputs.iter().map(|&i| shapes[i].clone()).collect();
        if self.plan.as_ref().is_some_and(|(s, _)| *s == input_shapes) {
            return Ok(());
        }
        self.plan = None;
        let model = sub_model(graph, &self.nodes, &self.inputs, &self.outputs, &input_shapes)?;
        self.plan = Some((input_shapes, plan(model)?));
        Ok(())
    }

    /// Runs the island on its inputs' data; returns its outputs' data.
    pub fn run(&self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, String> {
        let (shapes, plan) = self.plan.as_ref().ok_or("island run before prepare")?;
        let ins: Vec<(&[usize], &[f32])> = shapes.iter().map(Vec::as_slice).zip(inputs.iter().copied()).collect();
        Ok(run_plan(plan, &ins)?.into_iter().map(|(_, v)| v).collect())
    }
}
