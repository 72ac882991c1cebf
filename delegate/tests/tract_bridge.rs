//! The IR → tract bridge, op by op: every native op runs on armrest's
//! kernels and on tract and the two agree; every fallback op runs on tract
//! (alone and inside an executor's island) and matches a plain reference.
#![cfg(feature = "tract")]

use armrest_delegate::fallback::{FallbackOp, FallbackUnary, Reduction};
use armrest_delegate::ir::{Graph, Node, Op, Padding, PoolKind, ReshapeRule};
use armrest_delegate::ops_extra::StridedSliceSpec;
use armrest_delegate::tract_bridge::{has_tract_equivalent, plan, run_plan, to_tract, untranslatable, OutputError, Verifier};
use armrest_kernels::mediapipe::{ArgmaxPool, LandmarksToMatrix};
use armrest_delegate::Executor;
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::{Clamp, Isa, ThreadPool};
use std::sync::Arc;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 20000) as f32 / 10000.0 - 1.0
        })
        .collect()
}

/// One-node graph: activations `acts` (shapes), constants `consts` (shape, values), op.
fn one_node(op: Op, acts: &[&[usize]], consts: &[(&[usize], Vec<f32>)]) -> Graph {
    let mut g = Graph::default();
    let mut ins = Vec::new();
    for (k, s) in acts.iter().enumerate() {
        let id = g.add_tensor(format!("x{k}"), s.to_vec(), None);
        g.inputs.push(id);
        ins.push(id);
    }
    for (k, (s, v)) in consts.iter().enumerate() {
        ins.push(g.add_tensor(format!("c{k}"), s.to_vec(), Some(v.clone().into())));
    }
    let refs: Vec<&[usize]> = ins.iter().map(|&i| g.tensors[i].shape.as_slice()).collect();
    let out_shape = armrest_delegate::shapes::infer(&op, &refs).unwrap().remove(0);
    let y = g.add_tensor("y".into(), out_shape, None);
    g.nodes.push(Node { op, inputs: ins, outputs: vec![y], source: 0 });
    g.outputs.push(y);
    g
}

fn input_data(g: &Graph, positive: bool) -> Vec<Vec<f32>> {
    g.inputs
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let v = values(g.tensors[i].shape.iter().product(), k as u32 + 1);
            if positive {
                v.into_iter().map(|x| x.abs() + 0.1).collect()
            } else {
                v
            }
        })
        .collect()
}

fn on_tract(g: &Graph, inputs: &[Vec<f32>]) -> (Vec<usize>, Vec<f32>) {
    let shapes: Vec<Vec<usize>> = g.inputs.iter().map(|&i| g.tensors[i].shape.clone()).collect();
    let p = plan(to_tract(g, &shapes).unwrap()).unwrap();
    let ins: Vec<(&[usize], &[f32])> = shapes.iter().map(Vec::as_slice).zip(inputs.iter().map(Vec::as_slice)).collect();
    run_plan(&p, &ins).unwrap().remove(0)
}

fn on_armrest(g: &Graph, inputs: &[Vec<f32>]) -> Vec<f32> {
    let mut e = Executor::new(g.clone(), Isa::best(), Arc::new(ThreadPool::new(1))).unwrap();
    let shapes: Vec<Vec<usize>> = g.inputs.iter().map(|&i| g.tensors[i].shape.clone()).collect();
    let out = e.prepare(&shapes).unwrap().remove(0);
    let mut y = vec![f32::NAN; out.iter().product()];
    let ins: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    e.run(&ins, &mut [&mut y]).unwrap();
    y
}

/// Native op: armrest's kernels and tract agree within 1e-4 relative.
fn agree(op: Op, acts: &[&[usize]], consts: &[(&[usize], Vec<f32>)]) {
    let g = one_node(op.clone(), acts, consts);
    let inputs = input_data(&g, false);
    let (shape, want) = on_tract(&g, &inputs);
    assert_eq!(shape, g.tensors[g.outputs[0]].shape, "{op:?}");
    let got = on_armrest(&g, &inputs);
    let e = OutputError::between(&got, &want);
    assert!(e.within(1e-4), "{op:?}: {e:?}");
}

/// Fallback op: tract (alone, and inside an executor island) equals `reference`.
fn matches(op: FallbackOp, acts: &[&[usize]], consts: &[(&[usize], Vec<f32>)], positive: bool, reference: impl Fn(&[Vec<f32>], &[Vec<usize>]) -> Vec<f32>) {
    let g = one_node(Op::Fallback(op.clone()), acts, consts);
    let inputs = input_data(&g, positive);
    let mut all = inputs.clone();
    all.extend(consts.iter().map(|(_, v)| v.clone()));
    let mut shapes: Vec<Vec<usize>> = acts.iter().map(|s| s.to_vec()).collect();
    shapes.extend(consts.iter().map(|(s, _)| s.to_vec()));
    let want = reference(&all, &shapes);
    let (shape, got) = on_tract(&g, &inputs);
    assert_eq!(shape, g.tensors[g.outputs[0]].shape, "{op:?}");
    let e = OutputError::between(&got, &want);
    assert!(e.within(1e-5), "{op:?}: {e:?}\n got {got:?}\nwant {want:?}");
    assert_eq!(on_armrest(&g, &inputs), got, "{op:?} in an island");
}

fn strides(s: &[usize]) -> Vec<usize> {
    let mut st = vec![1; s.len()];
    for d in (0..s.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * s[d + 1];
    }
    st
}

/// Multi-index of flat position `i` in shape `s`.
fn unravel(mut i: usize, s: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; s.len()];
    for d in (0..s.len()).rev() {
        idx[d] = i % s[d];
        i /= s[d];
    }
    idx
}

fn ravel(idx: &[usize], s: &[usize]) -> usize {
    idx.iter().zip(strides(s)).map(|(a, b)| a * b).sum()
}

fn conv_weights(o: usize, kh: usize, kw: usize, c: usize) -> (Vec<usize>, Vec<f32>) {
    (vec![o, kh, kw, c], values(o * kh * kw * c, 99))
}

#[test]
fn native_ops_agree_with_tract() {
    let c4 = [1usize, 7, 6, 5];
    for (padding, stride, dilation) in [(Padding::Same, [1, 1], [1, 1]), (Padding::Valid, [2, 1], [1, 2]), (Padding::Same, [2, 2], [1, 1])] {
        let (ws, w) = conv_weights(4, 3, 2, 5);
        agree(Op::Conv2d { padding, stride, dilation, clamp: Clamp::RELU6 }, &[&c4], &[(&ws, w.clone()), (&[4], values(4, 3))]);
        agree(Op::Conv2d { padding, stride, dilation, clamp: Clamp::NONE }, &[&c4], &[(&ws, w)]);
        for m in [1, 2] {
            let dw = values(3 * 3 * 5 * m, 7);
            agree(Op::DepthwiseConv2d { padding, stride, dilation, depth_multiplier: m, clamp: Clamp::RELU }, &[&c4], &[(&[1, 3, 3, 5 * m], dw), (&[5 * m], values(5 * m, 8))]);
        }
        for kind in [PoolKind::Average, PoolKind::Max] {
            agree(Op::Pool2d { kind, padding, stride, filter: [3, 2], clamp: Clamp::RELU_N1_TO_1 }, &[&c4], &[]);
        }
    }
    for keep_num_dims in [false, true] {
        agree(Op::FullyConnected { keep_num_dims, clamp: Clamp::NONE }, &[&[2, 3, 6]], &[(&[4, 6], values(24, 5)), (&[4], values(4, 6))]);
    }
    agree(Op::FullyConnected { keep_num_dims: false, clamp: Clamp::RELU }, &[&[3, 6]], &[(&[4, 6], values(24, 5))]);
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Maximum, BinaryOp::Minimum] {
        agree(Op::Binary { op, clamp: Clamp::NONE }, &[&[2, 3, 4], &[3, 1]], &[]);
        agree(Op::Binary { op, clamp: Clamp::RELU6 }, &[&[2, 3, 4]], &[(&[4], values(4, 9))]);
    }
    agree(Op::Binary { op: BinaryOp::Div, clamp: Clamp::NONE }, &[&[2, 3, 4]], &[(&[4], vec![0.5, -2.0, 3.0, 1.5])]);
    for u in [UnaryOp::Clamp(Clamp::RELU), UnaryOp::Clamp(Clamp::RELU6), UnaryOp::Clamp(Clamp::RELU_N1_TO_1), UnaryOp::Logistic, UnaryOp::Tanh, UnaryOp::HardSwish, UnaryOp::LeakyRelu(0.2)] {
        agree(Op::Unary(u), &[&[3, 17]], &[]);
    }
    agree(Op::Prelu, &[&[1, 4, 4, 3]], &[(&[3], vec![0.1, -0.5, 2.0])]);
    agree(Op::Mean { axes: vec![1, 2], keep_dims: true }, &[&c4], &[]);
    agree(Op::Mean { axes: vec![-1, 1, -1], keep_dims: false }, &[&c4], &[]);
    agree(Op::Reshape(ReshapeRule::To(vec![7, -1])), &[&c4], &[]);
    agree(Op::Reshape(ReshapeRule::Squeeze(vec![0])), &[&c4], &[]);
    agree(Op::Reshape(ReshapeRule::ExpandDims(-1)), &[&c4], &[]);
    agree(Op::Concat { axis: -1 }, &[&[1, 2, 3], &[1, 2, 4]], &[(&[1, 2, 1], vec![5.0, 6.0])]);
    agree(Op::Concat { axis: 1 }, &[&[2, 1, 3], &[2, 2, 3]], &[]);
    agree(Op::Pad { pads: vec![(0, 0), (1, 2), (0, 3), (2, 0)] }, &[&c4], &[]);
    agree(Op::Softmax { beta: 1.0 }, &[&[3, 10]], &[]);
    agree(Op::Softmax { beta: 0.5 }, &[&[2, 2, 7]], &[]);
    for (align_corners, half_pixel_centers) in [(false, false), (true, false), (false, true)] {
        for size in [[14, 12], [3, 4], [1, 1]] {
            agree(Op::ResizeBilinear { size, align_corners, half_pixel_centers }, &[&c4], &[]);
        }
    }
}

fn slice_spec(begin: &[i64], end: &[i64], strides: &[i64], masks: [u32; 3]) -> StridedSliceSpec {
    StridedSliceSpec { begin: begin.into(), end: end.into(), strides: strides.into(), begin_mask: masks[0], end_mask: masks[1], shrink_axis_mask: masks[2] }
}

/// The IR ops MediaPipe's and ExecuTorch's models add (depth-to-space,
/// strided slice, transposed convolution with bias, transpose, batch matmul,
/// GELU, grouped convolution) and explicit padding: armrest and tract agree.
#[test]
fn mediapipe_and_executorch_ops_agree_with_tract() {
    let x = [2usize, 3, 4, 8];
    for block in [1, 2] {
        agree(Op::DepthToSpace { block }, &[&x], &[]);
    }
    agree(Op::DepthToSpace { block: 3 }, &[&[1, 2, 2, 18]], &[]);
    let slices = [
        slice_spec(&[0, 0, 0, 0], &[1, 3, 4, 4], &[1, 1, 1, 1], [0, 0, 0]),
        slice_spec(&[1, 1, 0, 1], &[2, 3, 4, 8], &[1, 1, 2, 3], [0, 0b0100, 0b0001]),
        // Negative strides (reversal), negative indices, masks, clamping.
        slice_spec(&[0, -1, 3, 100], &[2, 0, 0, -100], &[1, -1, -2, -3], [0, 0b0100, 0]),
        slice_spec(&[0, 2, -1, 0], &[2, 0, 0, 8], &[1, -1, 1, 2], [0b0001, 0, 0b0100]),
        // Fewer begin/end entries than axes: the rest is whole.
        slice_spec(&[1, 2], &[2, 3], &[1, 1], [0, 0, 0b10]),
    ];
    for spec in slices {
        agree(Op::StridedSlice(spec), &[&x], &[]);
    }
    for (padding, stride, f) in [(Padding::Same, [2, 2], [2, 2]), (Padding::Same, [2, 1], [3, 3]), (Padding::Valid, [1, 2], [3, 2]), (Padding::Same, [3, 2], [4, 4]), (Padding::Valid, [2, 3], [1, 2])] {
        let fs = [3, f[0], f[1], 8];
        agree(Op::TransposeConvBias { padding, stride }, &[&x], &[(&fs, values(fs.iter().product(), 11)), (&[3], values(3, 12))]);
    }
    agree(Op::Transpose { perm: vec![3, 0, 2, 1] }, &[&x], &[]);
    agree(Op::Transpose { perm: vec![1, 0] }, &[&[5, 7]], &[]);
    agree(Op::Transpose { perm: vec![0, 1, 2, 3] }, &[&x], &[]);
    agree(Op::BatchMatMul, &[&[2, 3, 5, 4], &[2, 3, 4, 6]], &[]);
    agree(Op::BatchMatMul, &[&[7, 9], &[9, 2]], &[]);
    for tanh_approx in [false, true] {
        // Wider than [-1, 1): the tails of erf and tanh matter too.
        let g = one_node(Op::Gelu { tanh_approx }, &[&[3, 40]], &[]);
        let inputs: Vec<Vec<f32>> = input_data(&g, false).into_iter().map(|v| v.into_iter().map(|x| 6.0 * x).collect()).collect();
        let (_, want) = on_tract(&g, &inputs);
        let e = OutputError::between(&on_armrest(&g, &inputs), &want);
        assert!(e.within(1e-5), "gelu tanh_approx={tanh_approx}: {e:?}");
    }
    for (groups, padding, stride, dilation, clamp, bias) in [
        (2, Padding::Same, [1, 1], [1, 1], Clamp::NONE, true),
        (4, Padding::Valid, [2, 1], [1, 2], Clamp::RELU6, false),
        (2, Padding::Explicit([1, 0, 2, 1]), [1, 2], [1, 1], Clamp::RELU, true),
        (8, Padding::Same, [2, 2], [1, 1], Clamp::NONE, true),
    ] {
        let (o, kh, kw) = (groups * 3, 3, 2);
        let fs = [o, kh, kw, 8 / groups];
        let mut consts: Vec<(&[usize], Vec<f32>)> = vec![(&fs, values(fs.iter().product(), 13))];
        let bs = [o];
        if bias {
            consts.push((&bs, values(o, 14)));
        }
        agree(Op::GroupedConv2d { groups, padding, stride, dilation, clamp }, &[&[1, 5, 6, 8]], &consts);
    }
    // Explicit (asymmetric) padding on both spatial axes of a plain convolution.
    let (ws, w) = conv_weights(4, 3, 3, 5);
    agree(Op::Conv2d { padding: Padding::Explicit([0, 2, 1, 0]), stride: [1, 2], dilation: [1, 1], clamp: Clamp::NONE }, &[&[1, 6, 7, 5]], &[(&ws, w)]);
    agree(Op::Conv2d { padding: Padding::Explicit([2, 1, 0, 3]), stride: [2, 1], dilation: [2, 1], clamp: Clamp::NONE }, &[&[1, 6, 7, 5]], &[(&ws, values(180, 15))]);
}

/// MediaPipe's tensor warp and landmark ops have no tract counterpart: the
/// bridge says so (by node and op), and a verifier of a graph holding one is
/// not verifiable instead of failing to build.
#[test]
fn custom_ops_without_tract_equivalent_are_named() {
    let landmarks = LandmarksToMatrix {
        subset: vec![[0, 1], [1, 2]],
        left_rotation_idx: 0,
        right_rotation_idx: 2,
        target_rotation_radians: 0.0,
        output_height: 4,
        output_width: 4,
        scale_x: 1.0,
        scale_y: 1.0,
    };
    let cases: [(Op, &[&[usize]], &str); 3] = [
        (Op::TransformTensorBilinear { size: [3, 4] }, &[&[1, 5, 6, 2], &[1, 4, 4]], "transform_tensor_bilinear"),
        (Op::TransformLandmarks, &[&[1, 5, 3], &[1, 4, 4]], "transform_landmarks"),
        (Op::LandmarksToTransformMatrix(landmarks), &[&[1, 3, 3]], "landmarks_to_transform_matrix"),
    ];
    for (op, acts, name) in cases {
        assert!(!has_tract_equivalent(&op));
        let g = one_node(op, acts, &[]);
        let why = format!("node 0 ({name}) has no tract equivalent");
        assert_eq!(untranslatable(&g).as_deref(), Some(why.as_str()));
        let shapes: Vec<Vec<usize>> = acts.iter().map(|s| s.to_vec()).collect();
        let e = to_tract(&g, &shapes).err().unwrap();
        assert!(e.contains(&format!("{name} has no tract equivalent")), "{e}");
        let mut v = Verifier::new(g);
        assert_eq!(v.unverifiable(), Some(why.as_str()));
        assert_eq!(v.prepare(&shapes), Err(format!("not verifiable: {why}")));
    }
    let g = one_node(Op::Gelu { tanh_approx: false }, &[&[4]], &[]);
    assert_eq!((untranslatable(&g), Verifier::new(g).unverifiable()), (None, None));
}

/// Which IR op a case covers; exhaustive, so a new op fails to compile here until it has a case.
fn variant(op: &Op) -> usize {
    match op {
        Op::Conv2d { .. } => 0,
        Op::DepthwiseConv2d { .. } => 1,
        Op::FullyConnected { .. } => 2,
        Op::Binary { .. } => 3,
        Op::Unary(_) => 4,
        Op::Prelu => 5,
        Op::Pool2d { .. } => 6,
        Op::Mean { .. } => 7,
        Op::Reshape(_) => 8,
        Op::Concat { .. } => 9,
        Op::Pad { .. } => 10,
        Op::Softmax { .. } => 11,
        Op::ResizeBilinear { .. } => 12,
        Op::DepthToSpace { .. } => 13,
        Op::StridedSlice(_) => 14,
        Op::TransposeConvBias { .. } => 15,
        Op::TransformTensorBilinear { .. } => 16,
        Op::TransformLandmarks => 17,
        Op::LandmarksToTransformMatrix(_) => 18,
        Op::Transpose { .. } => 19,
        Op::BatchMatMul => 20,
        Op::Gelu { .. } => 21,
        Op::GroupedConv2d { .. } => 22,
        Op::Fallback(_) => 23,
        Op::Quant(_) => 24,
        Op::MaxPoolArgmax { .. } => 25,
        Op::MaxUnpool { .. } => 26,
    }
}

/// One case of every IR op through the bridge: native ops agree with
/// armrest's kernels, fallback ops run, the ops tract lacks are refused by name.
#[test]
fn every_ir_op_is_covered_by_the_bridge() {
    let x = [1usize, 4, 6, 4];
    let w = |s: &[usize], seed| (s.to_vec(), values(s.iter().product(), seed));
    /// (op, activation shapes, constants as (shape, values)).
    type OpCase = (Op, Vec<Vec<usize>>, Vec<(Vec<usize>, Vec<f32>)>);
    let cases: Vec<OpCase> = vec![
        (Op::Conv2d { padding: Padding::Same, stride: [1, 1], dilation: [1, 1], clamp: Clamp::NONE }, vec![x.to_vec()], vec![w(&[3, 3, 3, 4], 1)]),
        (Op::DepthwiseConv2d { padding: Padding::Valid, stride: [1, 1], dilation: [1, 1], depth_multiplier: 1, clamp: Clamp::NONE }, vec![x.to_vec()], vec![w(&[1, 3, 3, 4], 2)]),
        (Op::FullyConnected { keep_num_dims: false, clamp: Clamp::NONE }, vec![vec![2, 4]], vec![w(&[3, 4], 3)]),
        (Op::Binary { op: BinaryOp::Add, clamp: Clamp::NONE }, vec![x.to_vec(), vec![4]], vec![]),
        (Op::Unary(UnaryOp::Tanh), vec![x.to_vec()], vec![]),
        (Op::Prelu, vec![x.to_vec()], vec![w(&[4], 4)]),
        (Op::Pool2d { kind: PoolKind::Max, padding: Padding::Same, stride: [2, 2], filter: [2, 2], clamp: Clamp::NONE }, vec![x.to_vec()], vec![]),
        (Op::Mean { axes: vec![1, 2], keep_dims: false }, vec![x.to_vec()], vec![]),
        (Op::Reshape(ReshapeRule::To(vec![-1, 8])), vec![x.to_vec()], vec![]),
        (Op::Concat { axis: 3 }, vec![x.to_vec(), x.to_vec()], vec![]),
        (Op::Pad { pads: vec![(0, 0), (1, 0), (0, 1), (0, 0)] }, vec![x.to_vec()], vec![]),
        (Op::Softmax { beta: 1.0 }, vec![x.to_vec()], vec![]),
        (Op::ResizeBilinear { size: [5, 3], align_corners: false, half_pixel_centers: true }, vec![x.to_vec()], vec![]),
        (Op::DepthToSpace { block: 2 }, vec![x.to_vec()], vec![]),
        (Op::StridedSlice(slice_spec(&[0, 3], &[1, 0], &[1, -2], [0, 0, 0])), vec![x.to_vec()], vec![]),
        (Op::TransposeConvBias { padding: Padding::Same, stride: [2, 2] }, vec![x.to_vec()], vec![w(&[2, 2, 2, 4], 5), w(&[2], 6)]),
        (Op::TransformTensorBilinear { size: [2, 2] }, vec![x.to_vec(), vec![1, 4, 4]], vec![]),
        (Op::TransformLandmarks, vec![vec![1, 6, 2], vec![1, 4, 4]], vec![]),
        (
            Op::LandmarksToTransformMatrix(LandmarksToMatrix {
                subset: vec![[0, 1]],
                left_rotation_idx: 0,
                right_rotation_idx: 1,
                target_rotation_radians: 0.5,
                output_height: 2,
                output_width: 2,
                scale_x: 1.0,
                scale_y: 1.0,
            }),
            vec![vec![1, 2, 3]],
            vec![],
        ),
        (Op::Transpose { perm: vec![0, 3, 1, 2] }, vec![x.to_vec()], vec![]),
        (Op::BatchMatMul, vec![vec![3, 2, 4], vec![3, 4, 5]], vec![]),
        (Op::Gelu { tanh_approx: true }, vec![x.to_vec()], vec![]),
        (Op::GroupedConv2d { groups: 2, padding: Padding::Same, stride: [1, 1], dilation: [1, 1], clamp: Clamp::NONE }, vec![x.to_vec()], vec![w(&[4, 1, 3, 2], 7)]),
        (Op::Fallback(FallbackOp::Unary(FallbackUnary::Exp)), vec![x.to_vec()], vec![]),
        // int8 partitions have no tract twin yet: refused by name.
        (Op::Quant(armrest_delegate::qir::QOp::Dequantize { input: armrest_delegate::qir::Affine { scale: 0.5, zero_point: 3 } }), vec![x.to_vec()], vec![]),
        // MediaPipe's argmax pooling and unpooling: no tract twin.
        (Op::MaxPoolArgmax { pool: ArgmaxPool { filter: [2, 2], stride: [2, 2], same: true, clamp: Clamp::NONE }, indices: true }, vec![x.to_vec()], vec![]),
        (Op::MaxUnpool { pool: ArgmaxPool { filter: [2, 2], stride: [2, 2], same: true, clamp: Clamp::NONE } }, vec![x.to_vec(), x.to_vec()], vec![]),
    ];
    let mut covered = [false; 27];
    for (op, acts, consts) in &cases {
        covered[variant(op)] = true;
        let acts: Vec<&[usize]> = acts.iter().map(Vec::as_slice).collect();
        let consts: Vec<(&[usize], Vec<f32>)> = consts.iter().map(|(s, v)| (s.as_slice(), v.clone())).collect();
        if has_tract_equivalent(op) {
            agree(op.clone(), &acts, &consts);
        } else {
            let g = one_node(op.clone(), &acts, &consts);
            assert!(untranslatable(&g).is_some_and(|e| e.contains(op.name())), "{op:?}");
        }
    }
    assert!(covered.iter().all(|&c| c), "IR ops without a case: {:?}", covered.iter().enumerate().filter(|(_, c)| !**c).map(|(i, _)| i).collect::<Vec<_>>());
}

#[test]
fn fallback_elementwise_and_reductions() {
    let s: &[usize] = &[2, 3, 5];
    type Case = (FallbackUnary, fn(f32) -> f32, bool);
    let unary: [Case; 13] = [
        (FallbackUnary::Rsqrt, |x| 1.0 / x.sqrt(), true),
        (FallbackUnary::Sqrt, f32::sqrt, true),
        (FallbackUnary::Exp, f32::exp, false),
        (FallbackUnary::Log, f32::ln, true),
        (FallbackUnary::Neg, |x| -x, false),
        (FallbackUnary::Abs, f32::abs, false),
        (FallbackUnary::Square, |x| x * x, false),
        (FallbackUnary::Sin, f32::sin, false),
        (FallbackUnary::Cos, f32::cos, false),
        (FallbackUnary::Floor, |x| (4.0 * x).floor(), false),
        (FallbackUnary::Ceil, |x| (4.0 * x).ceil(), false),
        (FallbackUnary::Round, |x| (4.0 * x).round_ties_even(), false),
        (FallbackUnary::Sign, |x| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { 0.0 }, false),
    ];
    for (u, f, positive) in unary {
        // Rounding ops see 4x so that the values cross integers.
        let scaled = matches!(u, FallbackUnary::Floor | FallbackUnary::Ceil | FallbackUnary::Round);
        let g = one_node(Op::Fallback(FallbackOp::Unary(u)), &[s], &[]);
        let mut inputs = input_data(&g, positive);
        if scaled {
            inputs[0].iter_mut().for_each(|x| *x *= 4.0);
        }
        let want: Vec<f32> = inputs[0].iter().map(|&x| if scaled { f(x / 4.0) } else { f(x) }).collect();
        let (_, got) = on_tract(&g, &inputs);
        assert!(OutputError::between(&got, &want).within(1e-5), "{u:?}: {got:?} vs {want:?}");
    }
    matches(FallbackOp::SquaredDifference, &[s, &[3, 1]], &[], false, |v, sh| {
        (0..30).map(|i| {
            let idx = unravel(i, &sh[0]);
            let d = v[0][i] - v[1][idx[1]];
            d * d
        })
        .collect()
    });
    matches(FallbackOp::Pow, &[s], &[(&[1], vec![2.5])], true, |v, _| v[0].iter().map(|x| x.powf(2.5)).collect());
    for (kind, keep_dims) in [(Reduction::Sum, false), (Reduction::Max, true), (Reduction::Min, false), (Reduction::Prod, true)] {
        matches(FallbackOp::Reduce { kind, axes: vec![-1, 0], keep_dims }, &[s], &[], false, |v, sh| {
            (0..3)
                .map(|j| {
                    let it = (0..2).flat_map(|a| (0..5).map(move |c| (a, c))).map(|(a, c)| v[0][ravel(&[a, j, c], &sh[0])]);
                    match kind {
                        Reduction::Sum => it.sum(),
                        Reduction::Max => it.fold(f32::MIN, f32::max),
                        Reduction::Min => it.fold(f32::MAX, f32::min),
                        Reduction::Prod => it.product(),
                    }
                })
                .collect()
        });
    }
    matches(FallbackOp::LogSoftmax, &[s], &[], false, |v, _| {
        v[0].chunks(5)
            .flat_map(|r| {
                let m = r.iter().fold(f32::MIN, |a, &b| a.max(b));
                let lse = r.iter().map(|x| (x - m).exp()).sum::<f32>().ln() + m;
                r.iter().map(move |x| x - lse)
            })
            .collect()
    });
}

#[test]
fn fallback_layout_ops() {
    let s = [2usize, 3, 4, 5];
    matches(FallbackOp::Transpose { perm: vec![3, 0, 2, 1] }, &[&s], &[], false, |v, sh| {
        let out = [5, 2, 4, 3];
        (0..120).map(|i| {
            let o = unravel(i, &out);
            v[0][ravel(&[o[1], o[3], o[2], o[0]], &sh[0])]
        })
        .collect()
    });
    let slice = FallbackOp::Slice { begin: vec![1, 0, 1, 0], end: vec![2, 3, 4, 5], stride: vec![1, 2, 1, 3], shrink: vec![true, false, false, false] };
    matches(slice, &[&s], &[], false, |v, sh| {
        let mut out = Vec::new();
        for b in [0, 2] {
            for c in 1..4 {
                for d in [0, 3] {
                    out.push(v[0][ravel(&[1, b, c, d], &sh[0])]);
                }
            }
        }
        out
    });
    let indices = vec![2i64, 0, 2, 1, 3, 3];
    matches(FallbackOp::Gather { axis: 2, indices: indices.clone(), indices_shape: vec![3, 2] }, &[&s], &[], false, |v, sh| {
        let out = [2, 3, 3, 2, 5];
        (0..180).map(|i| {
            let o = unravel(i, &out);
            v[0][ravel(&[o[0], o[1], indices[o[2] * 2 + o[3]] as usize, o[4]], &sh[0])]
        })
        .collect()
    });
    matches(FallbackOp::Tile { multiples: vec![1, 2, 1, 3] }, &[&s], &[], false, |v, sh| {
        let out = [2, 6, 4, 15];
        (0..720).map(|i| {
            let o = unravel(i, &out);
            v[0][ravel(&[o[0], o[1] % 3, o[2], o[3] % 5], &sh[0])]
        })
        .collect()
    });
    let x = [1usize, 2, 3, 8];
    matches(FallbackOp::DepthToSpace { block: 2 }, &[&x], &[], false, |v, sh| {
        let out = [1, 4, 6, 2];
        (0..48).map(|i| {
            let o = unravel(i, &out);
            let (by, bx) = (o[1] % 2, o[2] % 2);
            v[0][ravel(&[0, o[1] / 2, o[2] / 2, (by * 2 + bx) * 2 + o[3]], &sh[0])]
        })
        .collect()
    });
    let x = [1usize, 4, 6, 3];
    matches(FallbackOp::SpaceToDepth { block: 2 }, &[&x], &[], false, |v, sh| {
        let out = [1, 2, 3, 12];
        (0..72).map(|i| {
            let o = unravel(i, &out);
            let (by, bx, c) = (o[3] / 6, (o[3] / 3) % 2, o[3] % 3);
            v[0][ravel(&[0, o[1] * 2 + by, o[2] * 2 + bx, c], &sh[0])]
        })
        .collect()
    });
}

#[test]
fn fallback_batch_matmul_and_transpose_conv() {
    for (adj_x, adj_y) in [(false, false), (true, false), (false, true), (true, true)] {
        let a: Vec<usize> = if adj_x { vec![2, 1, 4, 3] } else { vec![2, 1, 3, 4] };
        let b: Vec<usize> = if adj_y { vec![3, 5, 4] } else { vec![3, 4, 5] };
        matches(FallbackOp::BatchMatMul { adj_x, adj_y }, &[&a, &b], &[], false, |v, sh| {
            let mut out = Vec::new();
            for p in 0..2 {
                for q in 0..3 {
                    for m in 0..3 {
                        for n in 0..5 {
                            let s: f32 = (0..4)
                                .map(|k| {
                                    let ai = if adj_x { [p, 0, k, m] } else { [p, 0, m, k] };
                                    let bi = if adj_y { [q, n, k] } else { [q, k, n] };
                                    v[0][ravel(&ai, &sh[0])] * v[1][ravel(&bi, &sh[1])]
                                })
                                .sum();
                            out.push(s);
                        }
                    }
                }
            }
            out
        });
    }
    for (padding, stride, out_hw) in [(Padding::Same, [2, 2], [6, 8]), (Padding::Valid, [2, 1], [7, 6]), (Padding::Same, [1, 1], [3, 4]), (Padding::Valid, [3, 2], [9, 9])] {
        let x = [1usize, 3, 4, 2];
        let (kh, kw, o) = (3usize, 3usize, 4usize);
        let output_shape = [1, out_hw[0], out_hw[1], o];
        let op = FallbackOp::TransposeConv { padding, stride, output_shape, clamp: Clamp::NONE };
        if op.infer(&[&x, &[o, kh, kw, 2]]).is_err() {
            continue; // not an output that maps back onto this input
        }
        matches(op, &[&x], &[(&[o, kh, kw, 2], values(o * kh * kw * 2, 4)), (&[o], values(o, 5))], false, |v, sh| {
            let (pt, _) = armrest_delegate::fallback::transpose_conv_padding(padding, out_hw[0], kh, stride[0]);
            let (pl, _) = armrest_delegate::fallback::transpose_conv_padding(padding, out_hw[1], kw, stride[1]);
            let mut out = vec![0f32; out_hw[0] * out_hw[1] * o];
            for (i, val) in out.iter_mut().enumerate() {
                *val = v[2][i % o];
            }
            for iy in 0..x[1] {
                for ix in 0..x[2] {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let (oy, ox) = ((iy * stride[0] + ky) as isize - pt as isize, (ix * stride[1] + kx) as isize - pl as isize);
                            if oy < 0 || ox < 0 || oy as usize >= out_hw[0] || ox as usize >= out_hw[1] {
                                continue;
                            }
                            for oc in 0..o {
                                for ic in 0..2 {
                                    out[(oy as usize * out_hw[1] + ox as usize) * o + oc] += v[0][ravel(&[0, iy, ix, ic], &sh[0])] * v[1][ravel(&[oc, ky, kx, ic], &sh[1])];
                                }
                            }
                        }
                    }
                }
            }
            out
        });
    }
}

#[test]
fn islands_group_consecutive_fallback_nodes_between_native_ones() {
    // x → relu → transpose → exp → sum(axis 1) → add c: one island of three nodes.
    let mut g = Graph::default();
    let x = g.add_tensor("x".into(), vec![2, 3, 4], None);
    g.inputs.push(x);
    let t: Vec<usize> = [vec![2, 3, 4], vec![2, 4, 3], vec![2, 4, 3], vec![2, 4], vec![2, 4]].into_iter().enumerate().map(|(k, s)| g.add_tensor(format!("t{k}"), s, None)).collect();
    let c = g.add_tensor("c".into(), vec![4], Some(vec![1.0, 2.0, 3.0, 4.0].into()));
    let ops = [
        (Op::Unary(UnaryOp::Clamp(Clamp::RELU)), vec![x], t[0]),
        (Op::Fallback(FallbackOp::Transpose { perm: vec![0, 2, 1] }), vec![t[0]], t[1]),
        (Op::Fallback(FallbackOp::Unary(FallbackUnary::Exp)), vec![t[1]], t[2]),
        (Op::Fallback(FallbackOp::Reduce { kind: Reduction::Sum, axes: vec![2], keep_dims: false }), vec![t[2]], t[3]),
        (Op::Binary { op: BinaryOp::Add, clamp: Clamp::NONE }, vec![t[3], c], t[4]),
    ];
    for (n, (op, ins, out)) in ops.into_iter().enumerate() {
        g.nodes.push(Node { op, inputs: ins, outputs: vec![out], source: n });
    }
    g.outputs = vec![t[4], t[1]]; // an island tensor is also a partition output
    let islands = armrest_delegate::tract_bridge::Island::find(&g);
    assert_eq!(islands.len(), 1);
    assert_eq!(islands[0].nodes, [1, 2, 3]);
    assert_eq!(islands[0].inputs, [t[0]]);
    assert_eq!(islands[0].outputs, [t[1], t[3]]);
    let xv = values(24, 3);
    let mut e = Executor::new(g.clone(), Isa::best(), Arc::new(ThreadPool::new(2))).unwrap();
    for batch in [2, 1] {
        e.prepare(&[vec![batch, 3, 4]]).unwrap();
        let n = batch * 4;
        let (mut y, mut tr) = (vec![0.0; n], vec![0.0; n * 3]);
        e.run(&[&xv[..n * 3]], &mut [&mut y, &mut tr]).unwrap();
        for b in 0..batch {
            for j in 0..4 {
                let want: f32 = (0..3).map(|i| xv[b * 12 + i * 4 + j].max(0.0).exp()).sum::<f32>() + (j + 1) as f32;
                assert!((y[b * 4 + j] - want).abs() < 1e-5 * want, "{} vs {want}", y[b * 4 + j]);
                for i in 0..3 {
                    assert_eq!(tr[b * 12 + j * 3 + i], xv[b * 12 + i * 4 + j].max(0.0));
                }
            }
        }
    }
    // The verifier's twin of the whole graph agrees with the executor.
    let mut v = Verifier::new(g);
    v.prepare(&[vec![2, 3, 4]]).unwrap();
    e.prepare(&[vec![2, 3, 4]]).unwrap();
    let (mut y, mut tr) = (vec![0.0; 8], vec![0.0; 24]);
    e.run(&[&xv], &mut [&mut y, &mut tr]).unwrap();
    let errors = v.check(&[&xv], &[&y, &tr]).unwrap();
    assert!(errors.iter().all(|e| e.within(1e-5)), "{errors:?}");
    // A wrong answer is seen.
    y[3] += 0.5;
    let errors = v.check(&[&xv], &[&y, &tr]).unwrap();
    assert!(!errors[0].within(1e-3) && errors[1].within(1e-5), "{errors:?}");
}

#[test]
fn output_error_measure() {
    let e = OutputError::between(&[1.0, 2.0, 3.0], &[1.0, 2.5, -4.0]);
    assert_eq!(e.max_abs, 7.0);
    assert_eq!(e.max_rel, 7.0 / 4.0);
    assert_eq!(OutputError::between(&[0.0], &[0.0]), OutputError { max_abs: 0.0, max_rel: 0.0 });
    let small = OutputError::between(&[1e-6, 0.25], &[2e-6, 0.5]);
    assert_eq!((small.max_abs, small.max_rel), (0.25, 0.25), "below 1 the error is absolute");
    assert!(!OutputError::between(&[f32::NAN], &[1.0]).within(1.0));
    assert!(!OutputError::between(&[1.0], &[1.0, 2.0]).within(1.0));
}

/// A small PRNG for the graph generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// A random chain of native ops over an NHWC tensor, with random shapes,
/// options and weights; every shape is valid by construction.
fn random_graph(seed: u64) -> Graph {
    let mut r = Rng(seed | 1);
    let mut g = Graph::default();
    let mut shape = vec![r.below(2) + 1, r.below(7) + 3, r.below(7) + 3, r.below(6) + 1];
    let x = g.add_tensor("x".into(), shape.clone(), None);
    g.inputs.push(x);
    let mut cur = x;
    let clamps = [Clamp::NONE, Clamp::RELU, Clamp::RELU6, Clamp::RELU_N1_TO_1];
    let n_ops = r.below(5) + 1;
    for n in 0..n_ops {
        let c = shape[3];
        let konst = |g: &mut Graph, s: Vec<usize>, seed: u32| {
            let v = values(s.iter().product(), seed);
            g.add_tensor(format!("w{n}.{seed}"), s, Some(v.into()))
        };
        let padding = r.pick(&[Padding::Same, Padding::Valid]);
        let (op, mut ins) = match r.below(10) {
            0 => {
                let (o, kh, kw) = (r.below(6) + 1, r.below(3) + 1, r.below(3) + 1);
                let op = Op::Conv2d { padding, stride: [r.below(2) + 1, r.below(2) + 1], dilation: [r.below(2) + 1, 1], clamp: r.pick(&clamps) };
                (op, vec![cur, konst(&mut g, vec![o, kh, kw, c], 1), konst(&mut g, vec![o], 2)])
            }
            1 => {
                let m = r.below(2) + 1;
                let op = Op::DepthwiseConv2d { padding, stride: [r.below(2) + 1, r.below(2) + 1], dilation: [1, r.below(2) + 1], depth_multiplier: m, clamp: r.pick(&clamps) };
                (op, vec![cur, konst(&mut g, vec![1, 3, 3, c * m], 3), konst(&mut g, vec![c * m], 4)])
            }
            2 => {
                let op = r.pick(&[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Maximum, BinaryOp::Minimum]);
                let b = if r.below(2) == 0 { vec![c] } else { vec![1, shape[1], 1, c] };
                (Op::Binary { op, clamp: r.pick(&clamps) }, vec![cur, konst(&mut g, b, 5)])
            }
            3 => {
                let u = r.pick(&[UnaryOp::Logistic, UnaryOp::Tanh, UnaryOp::HardSwish, UnaryOp::LeakyRelu(0.1), UnaryOp::Clamp(Clamp::RELU6)]);
                (Op::Unary(u), vec![cur])
            }
            4 => {
                let kind = r.pick(&[PoolKind::Average, PoolKind::Max]);
                (Op::Pool2d { kind, padding: Padding::Same, stride: [r.below(2) + 1, r.below(2) + 1], filter: [r.below(3) + 1, r.below(3) + 1], clamp: r.pick(&clamps) }, vec![cur])
            }
            5 => (Op::Pad { pads: (0..4).map(|_| (r.below(2), r.below(2))).collect() }, vec![cur]),
            6 => (Op::Concat { axis: r.pick(&[1i64, 2, 3, -1]) }, vec![cur, cur]),
            7 => (Op::Prelu, vec![cur, konst(&mut g, vec![c], 6)]),
            8 => (Op::ResizeBilinear { size: [r.below(6) + 1, r.below(6) + 1], align_corners: r.below(2) == 0, half_pixel_centers: false }, vec![cur]),
            _ => (Op::Softmax { beta: r.pick(&[1.0, 0.5]) }, vec![cur]),
        };
        let refs: Vec<&[usize]> = ins.iter().map(|&i| g.tensors[i].shape.as_slice()).collect();
        let Ok(mut out) = armrest_delegate::shapes::infer(&op, &refs) else { continue };
        let out = out.remove(0);
        if out.contains(&0) {
            continue;
        }
        let y = g.add_tensor(format!("t{n}"), out.clone(), None);
        g.nodes.push(Node { op, inputs: std::mem::take(&mut ins), outputs: vec![y], source: n });
        cur = y;
        shape = out;
    }
    if cur == x {
        let y = g.add_tensor("y".into(), shape, None);
        g.nodes.push(Node { op: Op::Unary(UnaryOp::Tanh), inputs: vec![x], outputs: vec![y], source: 0 });
        cur = y;
    }
    g.outputs.push(cur);
    g
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 48, ..Default::default() })]

    /// Random small graphs: armrest's kernels (every available tier) and tract agree.
    #[test]
    fn random_graphs_agree_with_tract(seed in proptest::prelude::any::<u64>()) {
        let g = random_graph(seed);
        let inputs = input_data(&g, false);
        let (_, want) = on_tract(&g, &inputs);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
            let mut e = Executor::new(g.clone(), isa, Arc::new(ThreadPool::new(2))).unwrap();
            let shapes: Vec<Vec<usize>> = g.inputs.iter().map(|&i| g.tensors[i].shape.clone()).collect();
            let out = e.prepare(&shapes).unwrap().remove(0);
            let mut y = vec![f32::NAN; out.iter().product()];
            e.run(&[&inputs[0]], &mut [&mut y]).unwrap();
            let err = OutputError::between(&y, &want);
            proptest::prop_assert!(err.within(1e-4), "{isa}: {err:?} on {:?}", g.nodes.iter().map(|n| &n.op).collect::<Vec<_>>());
        }
    }
}
