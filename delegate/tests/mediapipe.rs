//! The claim paths MediaPipe's models need, on in-memory graphs: sparse
//! weights (DENSIFY → DEQUANTIZE → CONV_2D folded into constants), the
//! builtins DEPTH_TO_SPACE and STRIDED_SLICE, and MediaPipe's custom ops.

mod common;

use armrest_delegate::tflite::{build_partition, claim_nodes, ops, BuiltinParams, TflDimMeta, TflSparsity};
use armrest_delegate::Executor;
use armrest_kernels::{Isa, ThreadPool};
use common::{values, MockModel};
use std::sync::Arc;

fn f16_bits(v: f32) -> u16 {
    // Exact for the small dyadic values these tests use.
    let b = v.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    if v == 0.0 {
        return sign;
    }
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    assert!((1..31).contains(&exp) && b & 0x1fff == 0, "{v} is not exact in fp16");
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

/// Runs the claimed graph on every available tier; returns the first tier's output.
fn run_all(m: &MockModel, inputs: &[i32], outputs: &[i32], feed: &[&[f32]], out_len: usize) -> Vec<f32> {
    let r = claim_nodes(m, &m.plan());
    assert_eq!(r.claimed.len(), m.nodes.len(), "{:?}", r.unclaimed);
    let mut first: Option<Vec<f32>> = None;
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let (g, gin) = build_partition(m, &r.folds, &r.claimed, inputs, outputs).unwrap();
        let shapes: Vec<Vec<usize>> = gin.iter().map(|&i| m.tensors[i as usize].dims.iter().map(|&d| d as usize).collect()).collect();
        let mut e = Executor::new(g, isa, Arc::new(ThreadPool::new(2))).unwrap();
        e.prepare(&shapes).unwrap();
        let mut out = vec![0.0; out_len];
        e.run(feed, &mut [&mut out]).unwrap();
        match &first {
            None => first = Some(out),
            Some(f) => assert_eq!(f, &out, "{isa:?} differs"),
        }
    }
    first.unwrap()
}

#[test]
fn densify_dequantize_conv_folds_into_constant_weights() {
    // A 1x1 conv with 3 filters over 4 channels; weights [3,1,1,4] stored sparse
    // (last dim CSR) in fp16, as MediaPipe's sparse models store them.
    let dense = [1.0f32, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.25, 4.0, 0.0, -1.0];
    let stored: Vec<u16> = dense.iter().filter(|v| **v != 0.0).map(|&v| f16_bits(v)).collect();
    let mut m = MockModel::default();
    let x = m.act(&[1, 2, 2, 4]);
    let sparse = m.constant_f16(&[3, 1, 1, 4], &stored);
    m.sparsity.insert(
        sparse,
        TflSparsity {
            traversal_order: vec![0, 1, 2, 3],
            block_map: vec![],
            dim_metadata: vec![
                TflDimMeta::Dense(3),
                TflDimMeta::Dense(1),
                TflDimMeta::Dense(1),
                TflDimMeta::SparseCsr { segments: vec![0, 2, 3, 6], indices: vec![0, 2, 3, 0, 1, 3] },
            ],
        },
    );
    let w16 = m.tensors.len() as i32;
    m.tensors.push(common::MockTensor { dtype: armrest_delegate::tflite::dtype::F16, dims: vec![3, 1, 1, 4], data: None, quantized: false });
    let w = m.act(&[3, 1, 1, 4]);
    let b = m.constant(&[3], &[0.5, -0.5, 1.0]);
    let y = m.act(&[1, 2, 2, 3]);
    m.node(ops::DENSIFY, &[sparse], &[w16], BuiltinParams::None);
    m.node(ops::DEQUANTIZE, &[w16], &[w], BuiltinParams::None);
    m.node(ops::CONV_2D, &[x, w, b], &[y], BuiltinParams::Conv { padding: 1, stride_w: 1, stride_h: 1, activation: 0, dilation_w: 1, dilation_h: 1 });
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0, 1, 2], "{:?}", r.unclaimed);
    assert_eq!(&*r.folds.values[&w], &dense);
    let xv = values(16, 3);
    let out = run_all(&m, &[x, sparse, b], &[y], &[&xv], 12);
    for p in 0..4 {
        for o in 0..3 {
            let want: f32 = (0..4).map(|c| xv[p * 4 + c] * dense[o * 4 + c]).sum::<f32>() + [0.5, -0.5, 1.0][o];
            assert!((out[p * 3 + o] - want).abs() < 1e-5, "{p} {o}: {} vs {want}", out[p * 3 + o]);
        }
    }

    // A broken encoding leaves all three nodes to the runtime, with reasons.
    m.sparsity.get_mut(&sparse).unwrap().dim_metadata[3] = TflDimMeta::SparseCsr { segments: vec![0, 2, 3, 7], indices: vec![0, 2, 3, 0, 1, 3] };
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    assert!(r.unclaimed[0].reason.contains("sparse"), "{:?}", r.unclaimed);
    // Without sparsity parameters there is nothing to fold.
    m.sparsity.clear();
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty());
    assert!(r.unclaimed[0].reason.contains("sparsity"), "{:?}", r.unclaimed);
}
