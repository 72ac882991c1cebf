//! Constants lent by the runtime ([`TflModel::lent_f32`]) against copied
//! ones: the same graphs, the same results (bit for bit), the lent values
//! kept alive by the graph that holds them, and copies wherever lending does
//! not apply (folded fp16 weights, a lent slice of the wrong length).

mod common;

use armrest_delegate::constant::{ConstData, LentF32};
use armrest_delegate::tflite::{build_partition, claim_nodes, ops, BuiltinParams, TflModel, TflNode, TflQuant, TflSparsity, TflTensor};
use armrest_delegate::Executor;
use armrest_kernels::{Isa, ThreadPool};
use common::{values, MockModel};
use std::sync::Arc;

/// Values shared with the graph, as a runtime's model buffer would be.
struct Shared(Arc<Vec<f32>>);

impl LentF32 for Shared {
    fn values(&self) -> &[f32] {
        &self.0
    }
}

/// `MockModel` that lends its stored fp32 constants (each from one shared
/// buffer) instead of letting armrest copy them; `short` lends one value too
/// few for every tensor, which armrest must refuse (and copy instead).
struct Lending {
    model: MockModel,
    buffers: Vec<Option<Arc<Vec<f32>>>>,
    short: bool,
}

impl Lending {
    fn new(model: MockModel, short: bool) -> Lending {
        let buffers = model
            .tensors
            .iter()
            .map(|t| match (&t.data, t.dtype) {
                (Some(bytes), armrest_delegate::tflite::dtype::F32) => Some(Arc::new(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())),
                _ => None,
            })
            .collect();
        Lending { model, buffers, short }
    }
}

impl TflModel for Lending {
    fn tensor(&self, index: i32) -> Option<TflTensor<'_>> {
        self.model.tensor(index)
    }
    fn node(&self, index: usize) -> Option<TflNode> {
        self.model.node(index)
    }
    fn sparsity(&self, index: i32) -> Option<TflSparsity> {
        self.model.sparsity(index)
    }
    fn quantization(&self, index: i32) -> Option<TflQuant> {
        self.model.quantization(index)
    }
    fn lent_f32(&self, index: i32) -> Option<ConstData> {
        let b = self.buffers.get(usize::try_from(index).ok()?)?.clone()?;
        let b = if self.short { Arc::new(b[..b.len() - 1].to_vec()) } else { b };
        Some(ConstData::Lent(Arc::new(Shared(b))))
    }
}

/// x [1,5,5,3] → conv 3x3 (4 outputs, bias, relu) → + c (a constant) →
/// fully connected (2 outputs, no bias) from a [1,100] reshape; outputs the
/// sum and the fully-connected result, and `w16`, an fp16 constant folded
/// through DEQUANTIZE, multiplies the fully-connected result.
fn model() -> (MockModel, i32, [i32; 2]) {
    let mut m = MockModel::default();
    let x = m.act(&[1, 5, 5, 3]);
    let w = m.constant(&[4, 3, 3, 3], &values(108, 1));
    let b = m.constant(&[4], &values(4, 2));
    let y = m.act(&[1, 5, 5, 4]);
    MockModel::node(&mut m, ops::CONV_2D, &[x, w, b], &[y], BuiltinParams::Conv { padding: 1, stride_w: 1, stride_h: 1, activation: 1, dilation_w: 1, dilation_h: 1 });
    let c = m.constant(&[4], &values(4, 3));
    let s = m.act(&[1, 5, 5, 4]);
    MockModel::node(&mut m, ops::ADD, &[y, c], &[s], BuiltinParams::Activation { activation: 0 });
    let shape = m.constant_i32(&[2], &[1, 100]);
    let r = m.act(&[1, 100]);
    MockModel::node(&mut m, ops::RESHAPE, &[s, shape], &[r], BuiltinParams::Reshape { shape: vec![1, 100] });
    let fw = m.constant(&[2, 100], &values(200, 4));
    let f = m.act(&[1, 2]);
    MockModel::node(&mut m, ops::FULLY_CONNECTED, &[r, fw, -1], &[f], BuiltinParams::FullyConnected { activation: 0, weights_format: 0, keep_num_dims: false, asymmetric_quantize_inputs: false });
    let w16 = m.constant_f16(&[2], &[0x3c00, 0xc000]); // 1.0, -2.0
    let d = m.act(&[2]);
    MockModel::node(&mut m, ops::DEQUANTIZE, &[w16], &[d], BuiltinParams::None);
    let z = m.act(&[1, 2]);
    MockModel::node(&mut m, ops::MUL, &[f, d], &[z], BuiltinParams::Activation { activation: 0 });
    (m, x, [s, z])
}

/// Runs `m` on every available tier; returns the outputs and, per graph
/// tensor holding fp32 constant data, whether it is lent.
fn run(m: &dyn TflModel, x: i32, outputs: &[i32], release: bool) -> (Vec<Vec<f32>>, Vec<bool>) {
    let plan: Vec<usize> = (0..6).collect();
    let r = claim_nodes(m, &plan);
    assert_eq!(r.claimed.len(), 6, "{:?}", r.unclaimed);
    let input = values(75, 5);
    let mut results: Vec<(Vec<Vec<f32>>, Vec<bool>)> = Vec::new();
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let (g, _) = build_partition(m, &r.folds, &r.claimed, &[x], outputs).unwrap();
        let lent = g.tensors.iter().filter_map(|t| t.constant.as_ref().map(ConstData::is_lent)).collect();
        let mut e = Executor::new(g, isa, Arc::new(ThreadPool::new(1))).unwrap();
        if release {
            assert!(e.release_packed_weights() > 0);
        }
        e.prepare(&[vec![1, 5, 5, 3]]).unwrap();
        let (mut s, mut z) = (vec![0.0; 100], vec![0.0; 2]);
        e.run(&[&input], &mut [&mut s, &mut z]).unwrap();
        // Each tier against itself: lent and copied weights must agree exactly on it.
        results.push((vec![s, z], lent));
    }
    let first = results[0].1.clone();
    (results.into_iter().flat_map(|(o, _)| o).collect(), first)
}

#[test]
fn lent_constants_give_the_copied_results_bit_for_bit() {
    let (m, x, outs) = model();
    let (copied, copied_lent) = run(&m, x, &outs, false);
    assert!(copied_lent.iter().all(|&l| !l), "MockModel lends nothing");
    let lending = Lending::new(model().0, false);
    let (lent, lent_flags) = run(&lending, x, &outs, false);
    assert_eq!(lent, copied);
    // Stored fp32 constants (conv filter and bias, c, fc weights) are lent; the folded fp16 one is copied.
    assert_eq!(lent_flags.iter().filter(|&&l| l).count(), 4, "{lent_flags:?}");
    assert_eq!(lent_flags.iter().filter(|&&l| !l).count(), 1, "{lent_flags:?}");
    // Dropping the graph's view of the packed-only weights changes nothing either.
    let (released, _) = run(&lending, x, &outs, true);
    assert_eq!(released, copied);
}

#[test]
fn a_lent_slice_of_the_wrong_length_is_copied_instead() {
    let (m, x, outs) = model();
    let (copied, _) = run(&m, x, &outs, false);
    let short = Lending::new(model().0, true);
    let (out, flags) = run(&short, x, &outs, false);
    assert!(flags.iter().all(|&l| !l), "{flags:?}");
    assert_eq!(out, copied);
}

#[test]
fn the_graph_keeps_lent_values_alive_after_the_model_is_gone() {
    let (m, x, outs) = model();
    let (copied, _) = run(&m, x, &outs, false);
    let lending = Lending::new(model().0, false);
    let r = claim_nodes(&lending, &(0..6).collect::<Vec<_>>());
    let (g, _) = build_partition(&lending, &r.folds, &r.claimed, &[x], &outs).unwrap();
    drop(r);
    drop(lending);
    let mut e = Executor::new(g.clone(), Isa::Scalar, Arc::new(ThreadPool::new(1))).unwrap();
    drop(g);
    e.prepare(&[vec![1, 5, 5, 3]]).unwrap();
    let (mut s, mut z) = (vec![0.0; 100], vec![0.0; 2]);
    e.run(&[&values(75, 5)], &mut [&mut s, &mut z]).unwrap();
    // Scalar is always available and listed first in Isa::ALL.
    assert_eq!(Isa::ALL[0], Isa::Scalar);
    assert_eq!([s, z], [copied[0].clone(), copied[1].clone()]);
}
