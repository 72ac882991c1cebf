//! The executor's plumbing on small graphs with hand-computed answers:
//! re-preparing for new input shapes, an output also read inside the
//! partition, a folded constant as an output, and refused misuse.

mod common;

use armrest_delegate::tflite::{build_partition, claim_nodes, ops, BuiltinParams};
use armrest_delegate::Executor;
use armrest_kernels::{Isa, ThreadPool};
use common::MockModel;
use std::sync::Arc;

fn executors(m: &MockModel, inputs: &[i32], outputs: &[i32]) -> Vec<Executor> {
    let r = claim_nodes(m, &m.plan());
    assert_eq!(r.claimed.len(), m.nodes.len(), "{:?}", r.unclaimed);
    Isa::ALL
        .into_iter()
        .filter(|i| i.is_available())
        .flat_map(|isa| [1, 2].map(move |t| (isa, t)))
        .map(|(isa, threads)| {
            let (g, _) = build_partition(m, &r.folds, &r.claimed, inputs, outputs).unwrap();
            Executor::new(g, isa, Arc::new(ThreadPool::new(threads))).unwrap()
        })
        .collect()
}

#[test]
fn outputs_read_inside_and_resized_inputs() {
    // y = relu(x + c); z = concat([y, x], axis 1); outputs y and z.
    let mut m = MockModel::default();
    let x = m.act(&[1, 2]);
    let c = m.constant(&[2], &[1.0, -10.0]);
    let y = m.act(&[1, 2]);
    let z = m.act(&[1, 4]);
    m.node(ops::ADD, &[x, c], &[y], BuiltinParams::Activation { activation: 1 });
    m.node(ops::CONCATENATION, &[y, x], &[z], BuiltinParams::Concatenation { axis: 1, activation: 0 });
    for mut e in executors(&m, &[x, c], &[y, z]) {
        assert_eq!(e.prepare(&[vec![1, 2]]).unwrap(), vec![vec![1, 2], vec![1, 4]]);
        let (mut oy, mut oz) = (vec![0.0; 2], vec![0.0; 4]);
        e.run(&[&[2.0, 3.0]], &mut [&mut oy, &mut oz]).unwrap();
        assert_eq!(oy, [3.0, 0.0]);
        assert_eq!(oz, [3.0, 0.0, 2.0, 3.0]);
        // Batch 3: the same graph, re-planned.
        assert_eq!(e.prepare(&[vec![3, 2]]).unwrap(), vec![vec![3, 2], vec![3, 4]]);
        let (mut oy, mut oz) = (vec![0.0; 6], vec![0.0; 12]);
        e.run(&[&[0.0, 20.0, -1.0, 5.0, 4.0, 9.0]], &mut [&mut oy, &mut oz]).unwrap();
        assert_eq!(oy, [1.0, 10.0, 0.0, 0.0, 5.0, 0.0]);
        assert_eq!(oz, [1.0, 10.0, 0.0, 20.0, 0.0, 0.0, -1.0, 5.0, 5.0, 0.0, 4.0, 9.0]);
        // Misuse is refused, not run.
        assert!(e.run(&[&[0.0; 5]], &mut [&mut oy, &mut oz]).is_err());
        assert!(e.prepare(&[vec![3, 5]]).is_err(), "ADD of [3,5] and [2] does not broadcast");
        assert!(e.run(&[&[0.0; 15]], &mut [&mut [0.0; 15], &mut [0.0; 20]]).is_err(), "not prepared");
    }
}

#[test]
fn a_folded_constant_can_be_an_output() {
    let mut m = MockModel::default();
    let x = m.act(&[1, 2]);
    let w16 = m.constant_f16(&[1, 2], &[0x3c00, 0x4000]); // 1.0, 2.0
    let w = m.act(&[1, 2]);
    let y = m.act(&[1, 2]);
    m.node(ops::DEQUANTIZE, &[w16], &[w], BuiltinParams::None);
    m.node(ops::MUL, &[x, w], &[y], BuiltinParams::Activation { activation: 0 });
    for mut e in executors(&m, &[x, w16], &[y, w]) {
        e.prepare(&[vec![1, 2]]).unwrap();
        let (mut oy, mut ow) = (vec![0.0; 2], vec![0.0; 2]);
        e.run(&[&[3.0, 4.0]], &mut [&mut oy, &mut ow]).unwrap();
        assert_eq!(oy, [3.0, 8.0]);
        assert_eq!(ow, [1.0, 2.0]);
    }
}

#[test]
fn reshape_family_and_mean() {
    // x[1,2,2,3] → MEAN over (1,2) keep → [1,1,1,3] → SQUEEZE → [3]... via RESHAPE to [1,3].
    let mut m = MockModel::default();
    let x = m.act(&[1, 2, 2, 3]);
    let axes = m.constant_i32(&[2], &[1, 2]);
    let mean = m.act(&[1, 1, 1, 3]);
    let sq = m.act(&[1, 3]);
    let ax = m.constant_i32(&[], &[0]);
    let ex = m.act(&[1, 1, 3]);
    m.node(ops::MEAN, &[x, axes], &[mean], BuiltinParams::Reducer { keep_dims: true });
    m.node(ops::SQUEEZE, &[mean], &[sq], BuiltinParams::Squeeze { dims: vec![1, 2] });
    m.node(ops::EXPAND_DIMS, &[sq, ax], &[ex], BuiltinParams::None);
    for mut e in executors(&m, &[x], &[ex]) {
        assert_eq!(e.prepare(&[vec![1, 2, 2, 3]]).unwrap(), vec![vec![1, 1, 3]]);
        let input: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut out = vec![0.0; 3];
        e.run(&[&input], &mut [&mut out]).unwrap();
        assert_eq!(out, [4.5, 5.5, 6.5]);
    }
}

/// The arena: a chain with a skip connection, x → a → b → … (8 ADDs of a
/// constant) and out = last + a, holds at most three tensors' worth of
/// internals at once (a stays alive across the chain), not all eight, and
/// still computes the right values; a second `prepare` at a larger size
/// grows the slots.
#[test]
fn arena_shares_slots_between_dead_tensors() {
    let mut m = MockModel::default();
    let x = m.act(&[1, 64]);
    let one = m.constant(&[1], &[1.0]);
    let a = m.act(&[1, 64]);
    m.node(ops::ADD, &[x, one], &[a], BuiltinParams::Activation { activation: 0 });
    let mut prev = a;
    for _ in 0..7 {
        let t = m.act(&[1, 64]);
        m.node(ops::ADD, &[prev, one], &[t], BuiltinParams::Activation { activation: 0 });
        prev = t;
    }
    let y = m.act(&[1, 64]);
    m.node(ops::ADD, &[prev, a], &[y], BuiltinParams::Activation { activation: 0 });
    for mut e in executors(&m, &[x], &[y]) {
        for n in [64usize, 96] {
            e.prepare(&[vec![1, n]]).unwrap();
            // Plus at most one cache line (16 floats) that puts the first tensor on a line.
            assert!(e.arena_len() <= 3 * n + 15, "arena {} for 8 internal tensors of {n}", e.arena_len());
            assert!(e.arena_len() >= 2 * n, "a and the chain's head are alive together");
            let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let mut out = vec![0.0; n];
            e.run(&[&xs], &mut [&mut out]).unwrap();
            // a = x + 1; last = x + 8; y = 2x + 9.
            assert_eq!(out, xs.iter().map(|v| 2.0 * v + 9.0).collect::<Vec<_>>());
        }
    }
}
