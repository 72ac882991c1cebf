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
    m.node(ops::BUILTIN_NAMES.iter().position(|n| *n == "SPLIT").unwrap() as i32, &[x], &[z, z], BuiltinParams::None);
    let s = m.act(&[4, 6]);
    m.node(codes::STRIDED_SLICE, &[x, size, size, size], &[s], BuiltinParams::None);
    let r = claim_nodes_with(&m, &m.plan(), Fallback::Tract);
    assert!(r.claimed.is_empty());
    let reasons: Vec<&str> = r.unclaimed.iter().map(|u| u.reason.as_str()).collect();
    assert!(reasons[0].starts_with("SLICE has no armrest kernel; tract fallback: ") && reasons[0].contains("run time"), "{reasons:?}");
    assert!(reasons[1].contains("2 outputs"), "{reasons:?}");
    assert!(reasons[2].contains("missing parameters"), "{reasons:?}");
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
