//! The claiming rules, on in-memory graphs: what is claimed, what is left
//! to the runtime and why, and that claimed nodes always build.

mod common;

use armrest_delegate::tflite::{build_partition, claim_nodes, ops, BuiltinParams};
use common::{values, MockModel};

fn conv_params(activation: i32) -> BuiltinParams {
    BuiltinParams::Conv { padding: 1, stride_w: 1, stride_h: 1, activation, dilation_w: 1, dilation_h: 1 }
}

/// x[1,5,5,3] → CONV(3x3, 4 filters) → y[1,5,5,4]
fn conv_model(weights_constant: bool, activation: i32) -> MockModel {
    let mut m = MockModel::default();
    let x = m.act(&[1, 5, 5, 3]);
    let w = if weights_constant { m.constant(&[4, 3, 3, 3], &values(108, 1)) } else { m.act(&[4, 3, 3, 3]) };
    let b = m.constant(&[4], &values(4, 2));
    let y = m.act(&[1, 5, 5, 4]);
    m.node(ops::CONV_2D, &[x, w, b], &[y], conv_params(activation));
    m
}

#[test]
fn conv_with_constant_weights_is_claimed_and_builds() {
    let m = conv_model(true, 3);
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0]);
    assert!(r.unclaimed.is_empty());
    let (g, inputs) = build_partition(&m, &r.folds, &[0], &[0, 1, 2], &[3]).unwrap();
    assert_eq!(inputs, vec![0], "only the activation is a runtime input");
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.tensors.iter().filter(|t| t.constant.is_some()).count(), 2);
}

#[test]
fn unsupported_variants_are_left_with_a_reason() {
    let m = conv_model(false, 0);
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    assert!(r.unclaimed[0].reason.contains("not a constant"), "{:?}", r.unclaimed);
    assert_eq!(r.unclaimed[0].op, "CONV_2D");

    let m = conv_model(true, 4);
    let r = claim_nodes(&m, &m.plan());
    assert!(r.unclaimed[0].reason.contains("TANH"), "{:?}", r.unclaimed);
}

#[test]
fn a_shape_armrest_disagrees_with_is_not_claimed() {
    let mut m = conv_model(true, 0);
    m.tensors[3].dims = vec![1, 3, 3, 4]; // VALID's shape under a SAME node
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    assert!(r.unclaimed[0].reason.contains("output shape"), "{:?}", r.unclaimed);
}

#[test]
fn static_fp16_dequantize_is_folded_into_its_consumer() {
    let mut m = MockModel::default();
    let x = m.act(&[2, 3]);
    // 1.0, -2.0, 0.5, 0.0, 65504, 2^-24 (smallest subnormal)
    let w16 = m.constant_f16(&[2, 3], &[0x3c00, 0xc000, 0x3800, 0x0000, 0x7bff, 0x0001]);
    let w = m.act(&[2, 3]);
    let y = m.act(&[2, 2]);
    m.node(ops::DEQUANTIZE, &[w16], &[w], BuiltinParams::None);
    m.node(ops::FULLY_CONNECTED, &[x, w, -1], &[y], BuiltinParams::FullyConnected { activation: 0, weights_format: 0, keep_num_dims: false, asymmetric_quantize_inputs: false });
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0, 1]);
    assert_eq!(&*r.folds.values[&w], &[1.0, -2.0, 0.5, 0.0, 65504.0, 2f32.powi(-24)]);
    let (g, inputs) = build_partition(&m, &r.folds, &[0, 1], &[x, w16], &[y]).unwrap();
    assert_eq!(inputs, vec![x]);
    assert_eq!(g.nodes.len(), 1, "the DEQUANTIZE became a constant");

    // With its only consumer unsupported, the DEQUANTIZE stays with the runtime too.
    m.nodes[1].params = BuiltinParams::FullyConnected { activation: 5, weights_format: 0, keep_num_dims: false, asymmetric_quantize_inputs: false };
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    assert_eq!(r.unclaimed.len(), 2);
}

#[test]
fn custom_and_unknown_ops_are_named_in_the_reason() {
    let mut m = MockModel::default();
    let x = m.act(&[1, 4]);
    let y = m.act(&[1, 4]);
    let n = m.node(ops::CUSTOM, &[x], &[y], BuiltinParams::None);
    m.nodes[n].custom_name = Some("MaxPoolingWithArgmax2D".into());
    m.node(ops::BUILTIN_NAMES.iter().position(|&s| s == "GATHER").unwrap() as i32, &[x, x], &[y], BuiltinParams::None);
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.unclaimed[0].op, "MaxPoolingWithArgmax2D");
    assert!(r.unclaimed[0].reason.contains("custom op"));
    assert_eq!(r.unclaimed[1].op, "GATHER");
}

#[test]
fn non_float_tensors_are_not_claimed() {
    let mut m = MockModel::default();
    let a = m.act(&[4]);
    let b = m.act(&[4]);
    m.tensors[b as usize].dtype = 9; // int8
    let y = m.act(&[4]);
    m.node(ops::ADD, &[a, b], &[y], BuiltinParams::Activation { activation: 0 });
    let r = claim_nodes(&m, &m.plan());
    assert!(r.unclaimed[0].reason.contains("int8"), "{:?}", r.unclaimed);
}

#[test]
fn a_partition_reading_a_tensor_it_does_not_receive_is_refused() {
    let mut m = MockModel::default();
    let a = m.act(&[4]);
    let b = m.act(&[4]);
    let y = m.act(&[4]);
    m.node(ops::ADD, &[a, b], &[y], BuiltinParams::Activation { activation: 0 });
    let r = claim_nodes(&m, &m.plan());
    let err = build_partition(&m, &r.folds, &[0], &[a], &[y]).unwrap_err();
    assert!(err.contains("neither receives nor computes"), "{err}");
}
