//! The claim paths MediaPipe's models need, on in-memory graphs: sparse
//! weights (DENSIFY → DEQUANTIZE → CONV_2D folded into constants), the
//! builtins DEPTH_TO_SPACE and STRIDED_SLICE, and MediaPipe's custom ops.

mod common;

use armrest_delegate::tflite::{build_partition, claim_nodes, ops, BuiltinParams, TflDimMeta, TflSparsity};
use armrest_delegate::Executor;
use armrest_kernels::{mediapipe, Isa, ThreadPool};
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

#[test]
fn depth_to_space_then_strided_slice_run_as_defined() {
    // x[1,2,2,8] → DEPTH_TO_SPACE(2) → [1,4,4,2] → STRIDED_SLICE(begin [0,1,0,1], end [1,4,4,2], strides [1,2,3,1]) → [1,2,2,1]
    let mut m = MockModel::default();
    let x = m.act(&[1, 2, 2, 8]);
    let d = m.act(&[1, 4, 4, 2]);
    let (b, e, s) = (m.constant_i32(&[4], &[0, 1, 0, 1]), m.constant_i32(&[4], &[1, 4, 4, 2]), m.constant_i32(&[4], &[1, 2, 3, 1]));
    let y = m.act(&[1, 2, 2, 1]);
    m.node(ops::DEPTH_TO_SPACE, &[x], &[d], BuiltinParams::DepthToSpace { block_size: 2 });
    m.node(ops::STRIDED_SLICE, &[d, b, e, s], &[y], BuiltinParams::StridedSlice { begin_mask: 0, end_mask: 0, ellipsis_mask: 0, new_axis_mask: 0, shrink_axis_mask: 0 });
    let xv: Vec<f32> = (0..32).map(|i| i as f32).collect();
    let out = run_all(&m, &[x], &[y], &[&xv], 4);
    // d[0, oy, ox, k] = x[0, oy/2, ox/2, ((oy%2)*2 + ox%2)*2 + k]; y takes oy in {1, 3}, ox in {0, 3}, k = 1.
    let want: Vec<f32> = [(1, 0), (1, 3), (3, 0), (3, 3)].iter().map(|&(oy, ox): &(usize, usize)| xv[((oy / 2) * 2 + ox / 2) * 8 + ((oy % 2) * 2 + ox % 2) * 2 + 1]).collect();
    assert_eq!(out, want);

    // A model shape armrest disagrees with, and unsupported masks, stay with the runtime.
    m.nodes[1].params = BuiltinParams::StridedSlice { begin_mask: 0, end_mask: 0, ellipsis_mask: 1, new_axis_mask: 0, shrink_axis_mask: 0 };
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0]);
    assert!(r.unclaimed[0].reason.contains("ellipsis"), "{:?}", r.unclaimed);
}

#[test]
fn transpose_conv_bias_reads_raw_params_and_runs() {
    // x[1,2,2,3] → Convolution2DTransposeBias(2x2 filters, 2 outputs, stride 2, SAME) → [1,4,4,2].
    let mut m = MockModel::default();
    let x = m.act(&[1, 2, 2, 3]);
    let wv = values(2 * 2 * 2 * 3, 5);
    let w = m.constant(&[2, 2, 2, 3], &wv);
    let b = m.constant(&[2], &[0.25, -1.0]);
    let y = m.act(&[1, 4, 4, 2]);
    let opts: Vec<u8> = [1i32, 2, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    m.custom("Convolution2DTransposeBias", &[x, w, b], &[y], &opts);
    let xv = values(12, 6);
    let out = run_all(&m, &[x, w, b], &[y], &[&xv], 32);
    // Kernel = stride: each output pixel sees exactly one input pixel through one tap.
    for oy in 0..4 {
        for ox in 0..4 {
            for o in 0..2 {
                let (iy, ix, ky, kx) = (oy / 2, ox / 2, oy % 2, ox % 2);
                let want: f32 = (0..3).map(|c| xv[(iy * 2 + ix) * 3 + c] * wv[((o * 2 + ky) * 2 + kx) * 3 + c]).sum::<f32>() + [0.25, -1.0][o];
                assert!((out[(oy * 4 + ox) * 2 + o] - want).abs() < 1e-5);
            }
        }
    }
    // Short or bad options leave it to the runtime with a reason.
    for bad in [vec![1u8, 0, 0], [0i32, 2, 2].iter().flat_map(|v| v.to_le_bytes()).collect(), [1i32, 0, 2].iter().flat_map(|v| v.to_le_bytes()).collect()] {
        m.nodes[0].custom_options = bad;
        let r = claim_nodes(&m, &m.plan());
        assert!(r.claimed.is_empty(), "{:?}", r.unclaimed);
    }
}

#[test]
fn landmark_custom_ops_read_flexbuffer_options() {
    // landmarks[1,4,3] → Landmarks2TransformMatrix → m[1,4,4]; TransformLandmarks(landmarks, m).
    let mut m = MockModel::default();
    let lm = m.act(&[1, 4, 3]);
    let mat = m.act(&[1, 4, 4]);
    let out = m.act(&[1, 4, 3]);
    // FlexBuffers map {left_rotation_idx: 0, output_height: 8, output_width: 8, right_rotation_idx: 1,
    // scale_x: 1.0, scale_y: 1.0, subset_idxs: [0, 1, 2, 3], target_rotation_radians: 0.0},
    // as Python's flatbuffers.flexbuffers.Dumps writes it.
    let opts = hex(concat!(
        "6c6566745f726f746174696f6e5f696478006f75747075745f686569676874006f75747075745f77696474680072696768745f726f746174696f6e5f696478",
        "007363616c655f78007363616c655f79007375627365745f69647873000400010203040404047461726765745f726f746174696f6e5f72616469616e7300",
        "087e6d6054423b342000000a0000000100000008000000000000000800000008000000010000000000803f0000803f4f00000000000000060606060e0e280e282601"
    ));
    m.custom("Landmarks2TransformMatrix", &[lm], &[mat], &opts);
    m.custom("TransformLandmarks", &[lm, mat], &[out], &[]);
    let lv: Vec<f32> = vec![0.0, 0.0, 5.0, 4.0, 1.0, 6.0, 4.0, 3.0, 7.0, 0.5, 2.0, 8.0];
    let got = run_all(&m, &[lm], &[out], &[&lv], 12);
    // The same computation with the parameters the options spell out.
    let p = mediapipe::LandmarksToMatrix {
        subset: vec![[0, 1], [2, 3]],
        left_rotation_idx: 0,
        right_rotation_idx: 1,
        target_rotation_radians: 0.0,
        output_height: 8,
        output_width: 8,
        scale_x: 1.0,
        scale_y: 1.0,
    };
    let mut t = [0.0f32; 16];
    mediapipe::landmarks_to_transform_matrix(&p, &lv, &mut t);
    let mut want = vec![0.0; 12];
    mediapipe::transform_landmarks(&lv, 3, &t, &mut want);
    assert_eq!(got, want);
    assert_ne!(got, lv, "the transform is not the identity here");
    // Garbage options are a reason, never a panic.
    m.nodes[0].custom_options = vec![0xff; 9];
    let r = claim_nodes(&m, &m.plan());
    assert!(r.unclaimed.iter().any(|u| u.reason.contains("custom options")), "{:?}", r.unclaimed);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A `TfLitePoolParams` as MediaPipe's converter stores it in the custom
/// data: padding, stride w/h, filter w/h, activation, then the computed padding.
fn pool_params(padding: i32, stride: [i32; 2], filter: [i32; 2], activation: i32) -> Vec<u8> {
    [padding, stride[1], stride[0], filter[1], filter[0], activation, 0, 0, 0, 0].iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn argmax_pool_and_unpool_claim_and_run_as_mediapipe_defines() {
    // x[1,4,6,3] → MaxPoolingWithArgmax2D(2x2, stride 2, SAME) → (v, i)[1,2,3,3]
    // → MaxUnpooling2D(v, i) → u[1,4,6,3]. The graph returns i and u.
    let mut m = MockModel::default();
    let x = m.act(&[1, 4, 6, 3]);
    let (v, i) = (m.act(&[1, 2, 3, 3]), m.act(&[1, 2, 3, 3]));
    let u = m.act(&[1, 4, 6, 3]);
    m.custom("MaxPoolingWithArgmax2D", &[x], &[v, i], &pool_params(1, [2, 2], [2, 2], 0));
    m.custom("MaxUnpooling2D", &[v, i], &[u], &pool_params(1, [2, 2], [2, 2], 0));
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0, 1], "{:?}", r.unclaimed);
    let xv = values(72, 21);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let (g, gin) = build_partition(&m, &r.folds, &r.claimed, &[x], &[i, u]).unwrap();
        assert_eq!(gin, vec![x]);
        // The two-output node is two IR nodes reading the same input.
        let names: Vec<&str> = g.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(names, ["max_pool_argmax_values", "max_pool_argmax_indices", "max_unpool"]);
        let mut e = Executor::new(g, isa, Arc::new(ThreadPool::new(2))).unwrap();
        assert_eq!(e.prepare(&[vec![1, 4, 6, 3]]).unwrap(), vec![vec![1, 2, 3, 3], vec![1, 4, 6, 3]]);
        let (mut iv, mut uv) = (vec![0.0; 18], vec![0.0; 72]);
        e.run(&[&xv], &mut [&mut iv, &mut uv]).unwrap();
        for (oy, ox, c) in (0..2).flat_map(|oy| (0..3).flat_map(move |ox| (0..3).map(move |c| (oy, ox, c)))) {
            let at = |ky: usize, kx: usize| ((oy * 2 + ky) * 6 + ox * 2 + kx) * 3 + c;
            let k = (0..4).fold(0, |best, k| if xv[at(k / 2, k % 2)] > xv[at(best / 2, best % 2)] { k } else { best });
            assert_eq!(iv[(oy * 3 + ox) * 3 + c], k as f32 + 0.1, "argmax position in the window, +0.1");
            for kk in 0..4 {
                assert_eq!(uv[at(kk / 2, kk % 2)], if kk == k { xv[at(kk / 2, kk % 2)] } else { 0.0 }, "unpooled");
            }
        }
    }
}

#[test]
fn argmax_pool_and_unpool_refuse_what_they_cannot_run_with_reasons() {
    let build = |pool_opts: Vec<u8>, unpool_opts: Vec<u8>| {
        let mut m = MockModel::default();
        let x = m.act(&[1, 5, 5, 2]);
        let (v, i) = (m.act(&[1, 3, 3, 2]), m.act(&[1, 3, 3, 2]));
        let u = m.act(&[1, 6, 6, 2]);
        m.custom("MaxPoolingWithArgmax2D", &[x], &[v, i], &pool_opts);
        m.custom("MaxUnpooling2D", &[v, i], &[u], &unpool_opts);
        m
    };
    let good = pool_params(1, [2, 2], [2, 2], 3);
    let m = build(good.clone(), good.clone());
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0, 1], "odd sizes with SAME: {:?}", r.unclaimed);
    // (options of the pool, of the unpool, what the reason of the refused node says)
    let cases = [
        (good[..20].to_vec(), good.clone(), "24"),
        (pool_params(0, [2, 2], [2, 2], 0), good.clone(), "padding"),
        (pool_params(1, [0, 2], [2, 2], 0), good.clone(), "stride"),
        (pool_params(1, [2, 2], [2, -1], 0), good.clone(), "filter"),
        (pool_params(1, [2, 2], [2, 2], 7), good.clone(), "activation"),
        (pool_params(2, [2, 2], [2, 2], 0), good.clone(), "declares"), // VALID gives [1,2,2,2]
        (good.clone(), pool_params(1, [2, 2], [3, 2], 0), "declares"), // unpool output [1,9,6,2]
        (good.clone(), vec![0xff; 30], "padding"),
    ];
    for (p, q, why) in cases {
        let m = build(p, q);
        let r = claim_nodes(&m, &m.plan());
        assert_eq!(r.claimed.len(), 1, "{why}: {:?}", r.unclaimed);
        assert!(r.unclaimed[0].reason.contains(why), "{why}: {:?}", r.unclaimed);
    }
    // int32 indices (not MediaPipe's float32), and an unpool with indices of another shape.
    let mut m = build(good.clone(), good.clone());
    m.tensors[2].dtype = armrest_delegate::tflite::dtype::I32;
    let r = claim_nodes(&m, &m.plan());
    assert!(r.claimed.is_empty() && r.unclaimed[0].reason.contains("float32"), "{:?}", r.unclaimed);
    let mut m = build(good.clone(), good.clone());
    let other = m.act(&[1, 3, 2, 2]);
    m.nodes[1].inputs[1] = other;
    let r = claim_nodes(&m, &m.plan());
    assert_eq!(r.claimed, vec![0]);
    assert!(r.unclaimed[0].reason.contains("indices"), "{:?}", r.unclaimed);
    // A single-output MaxPoolingWithArgmax2D is not MediaPipe's op.
    let mut m = build(good.clone(), good);
    m.nodes[0].outputs.pop();
    let r = claim_nodes(&m, &m.plan());
    assert!(r.unclaimed.iter().any(|u| u.node == 0 && u.reason.contains("has 1 and 2")), "{:?}", r.unclaimed);
}
