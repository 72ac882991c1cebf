//! Builds the IR graph of one partition the runtime hands back, by running
//! the claiming visitor again over its nodes.

use super::claim::{constant_data, has_constant_f32, visit, Folds, Visited};
use super::TflModel;
use crate::ir::{Graph, Node, TensorId};
use std::collections::HashMap;

/// Builds the IR for the partition made of `nodes`, whose boundary tensors
/// the runtime lists as `inputs` (constants included) and `outputs`.
///
/// The IR's inputs are the non-constant boundary inputs in the runtime's
/// order; its outputs are `outputs` in order.
pub fn build_partition(model: &dyn TflModel, folds: &Folds, nodes: &[usize], inputs: &[i32], outputs: &[i32]) -> Result<(Graph, Vec<i32>), String> {
    let mut graph = Graph::default();
    let mut ids: HashMap<i32, TensorId> = HashMap::new();
    let mut graph_inputs = Vec::new();

    let mut tensor_id = |graph: &mut Graph, index: i32| -> Result<TensorId, String> {
        if let Some(&id) = ids.get(&index) {
            return Ok(id);
        }
        let t = model.tensor(index).ok_or_else(|| format!("tensor {index} does not exist"))?;
        let shape = t.shape().ok_or_else(|| format!("tensor '{}' has an unknown shape", t.name))?;
        let constant = constant_data(model, folds, index);
        let id = graph.add_tensor_data(t.name.clone(), shape, constant);
        super::claim_quant::annotate(model, index, &mut graph.tensors[id])?;
        ids.insert(index, id);
        Ok(id)
    };

    // Boundary inputs first, so the IR input order is the runtime's.
    for &i in inputs {
        // Absent optionals, and stored constants the IR does not use as
        // tensors (fp16 weights behind a folded DEQUANTIZE, int32 shapes).
        if i < 0 || model.tensor(i).is_some_and(|t| t.is_constant()) && !has_constant_f32(model, folds, i) {
            continue;
        }
        let id = tensor_id(&mut graph, i)?;
        if !graph.tensors[id].is_constant() {
            graph.inputs.push(id);
            graph_inputs.push(i);
        }
    }

    let mut visited = Vec::with_capacity(nodes.len());
    for &n in nodes {
        let node = model.node(n).ok_or_else(|| format!("node {n} does not exist"))?;
        let v = visit(model, &node, folds).map_err(|e| format!("node {n} ({}): {e}", node.op_name()))?;
        visited.push((n, v));
    }
    for (n, v) in order(visited)? {
        match v {
            Visited::Folded { output } => {
                let id = tensor_id(&mut graph, output)?;
                if graph.tensors[id].constant.is_none() {
                    return Err(format!("node {n}: folded DEQUANTIZE output has no value"));
                }
            }
            Visited::Compute { op, inputs, output } => {
                let ins = inputs.iter().map(|&i| tensor_id(&mut graph, i)).collect::<Result<Vec<_>, _>>()?;
                let out = tensor_id(&mut graph, output)?;
                graph.nodes.push(Node { op, inputs: ins, outputs: vec![out], source: n });
            }
            Visited::Parts { inputs, parts } => {
                let ins = inputs.iter().map(|&i| tensor_id(&mut graph, i)).collect::<Result<Vec<_>, _>>()?;
                for (op, output) in parts {
                    let out = tensor_id(&mut graph, output)?;
                    graph.nodes.push(Node { op, inputs: ins.clone(), outputs: vec![out], source: n });
                }
            }
        }
    }
    for &o in outputs {
        let id = *ids.get(&o).ok_or_else(|| format!("partition output {o} is not produced by the partition"))?;
        graph.outputs.push(id);
    }
    // Every tensor a node reads must be an input, a constant or produced earlier.
    let mut ready: Vec<bool> = graph.tensors.iter().map(|t| t.is_constant()).collect();
    for &i in &graph.inputs {
        ready[i] = true;
    }
    for node in &graph.nodes {
        if let Some(&missing) = node.inputs.iter().find(|&&i| !ready[i]) {
            return Err(format!("node {} reads '{}', which the partition neither receives nor computes", node.source, graph.tensors[missing].name));
        }
        for &o in &node.outputs {
            ready[o] = true;
        }
    }
    Ok((graph, graph_inputs))
}

/// Orders visited nodes so every producer precedes its consumers (the
/// runtime's list is normally in that order already; this makes it certain).
fn order(visited: Vec<(usize, Visited)>) -> Result<Vec<(usize, Visited)>, String> {
    let produced: HashMap<i32, usize> = visited.iter().enumerate().flat_map(|(pos, (_, v))| v.outputs().into_iter().map(move |o| (o, pos))).collect();
    let deps: Vec<Vec<usize>> = visited
        .iter()
        .map(|(_, v)| match v {
            Visited::Compute { inputs, .. } | Visited::Parts { inputs, .. } => inputs.iter().filter_map(|i| produced.get(i).copied()).collect(),
            Visited::Folded { .. } => Vec::new(),
        })
        .collect();
    let mut done = vec![false; visited.len()];
    let mut sequence = Vec::with_capacity(visited.len());
    while sequence.len() < visited.len() {
        let before = sequence.len();
        for pos in 0..visited.len() {
            if !done[pos] && deps[pos].iter().all(|&d| done[d]) {
                done[pos] = true;
                sequence.push(pos);
            }
        }
        if sequence.len() == before {
            return Err("the partition's nodes form a cycle".into());
        }
    }
    let mut slots: Vec<Option<(usize, Visited)>> = visited.into_iter().map(Some).collect();
    Ok(sequence.into_iter().map(|p| slots[p].take().unwrap()).collect())
}
