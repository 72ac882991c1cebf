//! Claiming with the tract fallback: nodes armrest's kernels lack become
//! `Op::Fallback` nodes of the same partition when `fallback=tract`, and are
//! left to the runtime with the native reason otherwise.

mod common;

use armrest_delegate::fallback::{FallbackOp, FallbackUnary};
use armrest_delegate::ir::Op;
use armrest_delegate::options::Fallback;
use armrest_delegate::tflite::fallback::codes;
use armrest_delegate::tflite::{build_partition, claim_nodes, claim_nodes_with, ops, BuiltinParams};
use common::MockModel;

/// x → relu → TRANSPOSE(perm) → RSQRT → add c.
fn model() -> (MockModel, [i32; 3]) {
    let mut m = MockModel::default();
    let x = m.act(&[1, 2, 3]);
    let r = m.act(&[1, 2, 3]);
    let perm = m.constant_i32(&[3], &[0, -1, 1]);
    let t = m.act(&[1, 3, 2]);
    let s = m.act(&[1, 3, 2]);
    let c = m.constant(&[2], &[1.0, 2.0]);
    let y = m.act(&[1, 3, 2]);
    m.node(ops::RELU, &[x], &[r], BuiltinParams::None);
    m.node(codes::TRANSPOSE, &[r, perm], &[t], BuiltinParams::None);
    m.node(codes::RSQRT, &[t], &[s], BuiltinParams::None);
    m.node(ops::ADD, &[s, c], &[y], BuiltinParams::Activation { activation: 0 });
    (m, [x, c, y])
}

#[test]
fn fallback_tract_claims_and_builds_fallback_nodes() {
    let (m, [x, c, y]) = model();
    let r = claim_nodes_with(&m, &m.plan(), Fallback::Tract);
    assert_eq!(r.claimed, [0, 1, 2, 3], "{:?}", r.unclaimed);
    assert_eq!(r.on_tract, [1, 2]);
    let (g, _) = build_partition(&m, &r.folds, &r.claimed, &[x, c], &[y]).unwrap();
    assert_eq!(g.nodes[1].op, Op::Fallback(FallbackOp::Transpose { perm: vec![0, 2, 1] }));
    assert_eq!(g.nodes[2].op, Op::Fallback(FallbackOp::Unary(FallbackUnary::Rsqrt)));
}

#[test]
fn without_fallback_the_native_reason_stays() {
    let (m, _) = model();
    for r in [claim_nodes(&m, &m.plan()), claim_nodes_with(&m, &m.plan(), Fallback::None)] {
        assert_eq!(r.claimed, [0, 3]);
        assert!(r.on_tract.is_empty());
        assert_eq!(r.unclaimed.iter().map(|u| u.reason.as_str()).collect::<Vec<_>>(), ["TRANSPOSE has no armrest kernel", "RSQRT has no armrest kernel"]);
    }
}

#[test]
fn what_tract_cannot_take_says_why() {
    let mut m = MockModel::default();
    let x = m.act(&[4, 6]);
    let begin = m.act(&[2]); // computed at run time
    m.tensors[begin as usize].dtype = 2;
    let size = m.constant_i32(&[2], &[2, 3]);
    let y = m.act(&[2, 3]);
    m.node(codes::SLICE, &[x, begin, size], &[y], BuiltinParams::None);
    let z = m.act(&[2, 6]);
    m.node(ops::BUILTIN_NAMES.iter().position(|n| *n == "UNPACK").unwrap() as i32, &[x], &[z, z], BuiltinParams::None);
    let s = m.act(&[4, 6]);
    m.node(codes::STRIDED_SLICE, &[x, size, size, size], &[s], BuiltinParams::None);
    let r = claim_nodes_with(&m, &m.plan(), Fallback::Tract);
    assert!(r.claimed.is_empty());
    let reasons: Vec<&str> = r.unclaimed.iter().map(|u| u.reason.as_str()).collect();
    assert!(reasons[0].starts_with("SLICE has no armrest kernel; tract fallback: ") && reasons[0].contains("run time"), "{reasons:?}");
    assert!(reasons[1].contains("2 outputs"), "{reasons:?}");
    assert!(reasons[2].contains("missing parameters"), "{reasons:?}");
}

/// x [2,6,4] → SPLIT(axis -1, 2 parts) → add the halves → y;
/// x → SPLIT_V(sizes [1,-1,2] on axis 1) → three outputs of the partition.
fn split_model() -> (MockModel, i32, Vec<i32>) {
    let mut m = MockModel::default();
    let x = m.act(&[2, 6, 4]);
    let axis = m.constant_i32(&[], &[-1]);
    let (h0, h1, y) = (m.act(&[2, 6, 2]), m.act(&[2, 6, 2]), m.act(&[2, 6, 2]));
    m.node(codes::SPLIT, &[axis, x], &[h0, h1], BuiltinParams::None);
    m.node(ops::ADD, &[h0, h1], &[y], BuiltinParams::Activation { activation: 0 });
    let sizes = m.constant_i32(&[3], &[1, -1, 2]);
    let axis1 = m.constant_i32(&[1], &[1]);
    let parts = [m.act(&[2, 1, 4]), m.act(&[2, 3, 4]), m.act(&[2, 2, 4])];
    m.node(codes::SPLIT_V, &[x, sizes, axis1], &parts, BuiltinParams::None);
    (m, x, [vec![y], parts.to_vec()].concat())
}

#[test]
fn split_and_split_v_become_one_slice_node_per_output() {
    use armrest_delegate::Executor;
    use armrest_kernels::{Isa, ThreadPool};
    let (m, x, outs) = split_model();
    let r = claim_nodes_with(&m, &m.plan(), Fallback::Tract);
    assert_eq!((r.claimed.as_slice(), r.on_tract.as_slice()), (&[0, 1, 2][..], &[0, 2][..]), "{:?}", r.unclaimed);
    let (g, _) = build_partition(&m, &r.folds, &r.claimed, &[x], &outs).unwrap();
    let slices: Vec<(Vec<usize>, Vec<usize>)> = g
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Fallback(FallbackOp::Slice { begin, end, .. }) => Some((begin.clone(), end.clone())),
            _ => None,
        })
        .collect();
    let want = [(vec![0, 0, 0], vec![2, 6, 2]), (vec![0, 0, 2], vec![2, 6, 4]), (vec![0, 0, 0], vec![2, 1, 4]), (vec![0, 1, 0], vec![2, 4, 4]), (vec![0, 4, 0], vec![2, 6, 4])];
    assert_eq!(slices, want);
    // Run it: tract's slices and armrest's add.
    let xv = common::values(48, 3);
    let mut e = Executor::new(g, Isa::best(), std::sync::Arc::new(ThreadPool::new(1))).unwrap();
    let shapes = e.prepare(&[vec![2, 6, 4]]).unwrap();
    let mut bufs: Vec<Vec<f32>> = shapes.iter().map(|s| vec![f32::NAN; s.iter().product()]).collect();
    let mut views: Vec<&mut [f32]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
    e.run(&[&xv], &mut views).unwrap();
    let at = |i: usize, j: usize, k: usize| xv[(i * 6 + j) * 4 + k];
    for i in 0..2 {
        for j in 0..6 {
            for k in 0..2 {
                assert_eq!(bufs[0][(i * 6 + j) * 2 + k], at(i, j, k) + at(i, j, k + 2));
            }
            let (part, row) = match j {
                0 => (1, 0),
                1..=3 => (2, j - 1),
                _ => (3, j - 4),
            };
            let rows = [1, 3, 2][part - 1];
            for k in 0..4 {
                assert_eq!(bufs[part][(i * rows + row) * 4 + k], at(i, j, k));
            }
        }
    }
    // Without the fallback both stay with the runtime; bad sizes say why.
    let r = claim_nodes_with(&m, &m.plan(), Fallback::None);
    assert_eq!(r.claimed, [1]);
    assert_eq!(r.unclaimed[0].reason, "SPLIT has no armrest kernel");
    let mut bad = split_model().0;
    bad.tensors[5].data = Some([1i32, 1, 1].iter().flat_map(|v| v.to_le_bytes()).collect());
    let r = claim_nodes_with(&bad, &bad.plan(), Fallback::Tract);
    assert!(r.unclaimed.iter().any(|u| u.reason.contains("split sizes [1, 1, 1] into 3 outputs of 6 values")), "{:?}", r.unclaimed);
}

#[test]
fn strided_slice_is_native_even_with_fallback_on() {
    let mut m = MockModel::default();
    let x = m.act(&[4, 6, 5]);
    let b = m.constant_i32(&[3], &[1, -5, 2]);
    let e = m.constant_i32(&[3], &[3, 100, 0]);
    let s = m.constant_i32(&[3], &[1, 2, 1]);
    let y = m.act(&[3, 3]);
    let params = BuiltinParams::StridedSlice { begin_mask: 0b001, end_mask: 0, ellipsis_mask: 0, new_axis_mask: 0, shrink_axis_mask: 0b100 };
    m.node(codes::STRIDED_SLICE, &[x, b, e, s], &[y], params);
    let r = claim_nodes_with(&m, &m.plan(), Fallback::Tract);
    assert_eq!(r.claimed, [0], "{:?}", r.unclaimed);
    let (g, _) = build_partition(&m, &r.folds, &r.claimed, &[x], &[y]).unwrap();
    // armrest's own kernel comes first; the tract fallback only takes what it cannot run.
    assert!(matches!(g.nodes[0].op, Op::StridedSlice(_)), "{:?}", g.nodes[0].op);
}
