//! Reader tests: a small writer builds version-1 and version-2 blobs; valid
//! blobs parse and run; truncated, corrupted, malformed-int8 and
//! wrong-version blobs are refused without panicking.

use super::blob::*;
use crate::qexec::{TensorData, TensorDataMut};
use crate::{Executor, QExecutor};
use armrest_kernels::{Isa, ThreadPool};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Test-side writer mirroring `FORMAT.md` (the Python writer is the real one).
#[derive(Default)]
struct Writer {
    tensors: Vec<u8>,
    tensor_count: u32,
    nodes: Vec<u8>,
    node_count: u32,
    inputs: Vec<u32>,
    outputs: Vec<u32>,
    data: Vec<u8>,
    named: HashMap<String, Vec<u8>>,
    /// Write version 2 (tensor records carry a quantization record).
    v2: bool,
}

impl Writer {
    fn tensor_head(&mut self, kind: u8, shape: &[u32]) -> u32 {
        self.typed_head(kind, 0, shape, None)
    }
    /// dtype 0 fp32, 1 int8, 2 int32; `quant` = (axis, scales, zero points), version 2 only.
    fn typed_head(&mut self, kind: u8, dtype: u8, shape: &[u32], quant: Option<(u32, &[f32], &[i32])>) -> u32 {
        self.tensors.extend_from_slice(&[kind, dtype, shape.len() as u8, 0]);
        for d in shape {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        if self.v2 {
            match quant {
                None => self.tensors.extend_from_slice(&0u32.to_le_bytes()),
                Some((axis, s, z)) => {
                    self.tensors.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    self.tensors.extend_from_slice(&axis.to_le_bytes());
                    for v in s {
                        self.tensors.extend_from_slice(&v.to_le_bytes());
                    }
                    for v in z {
                        self.tensors.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        self.tensor_count += 1;
        self.tensor_count - 1
    }
    fn qvalue(&mut self, shape: &[u32], scale: f32, zp: i32) -> u32 {
        self.typed_head(0, 1, shape, Some((0, &[scale], &[zp])))
    }
    /// An inline constant of raw bytes with a type and quantization.
    fn qconstant(&mut self, dtype: u8, shape: &[u32], bytes: &[u8], quant: (u32, &[f32], &[i32])) -> u32 {
        let id = self.typed_head(1, dtype, shape, Some(quant));
        while !self.data.len().is_multiple_of(16) {
            self.data.push(0);
        }
        self.tensors.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.tensors.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.data.extend_from_slice(bytes);
        id
    }
    fn value(&mut self, shape: &[u32]) -> u32 {
        self.tensor_head(0, shape)
    }
    fn constant(&mut self, shape: &[u32], v: &[f32]) -> u32 {
        let id = self.tensor_head(1, shape);
        while !self.data.len().is_multiple_of(16) {
            self.data.push(0);
        }
        self.tensors.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.tensors.extend_from_slice(&((v.len() * 4) as u64).to_le_bytes());
        for x in v {
            self.data.extend_from_slice(&x.to_le_bytes());
        }
        id
    }
    fn named(&mut self, key: &str, shape: &[u32], v: &[f32]) -> u32 {
        let id = self.tensor_head(2, shape);
        self.tensors.extend_from_slice(&(key.len() as u32).to_le_bytes());
        self.tensors.extend_from_slice(key.as_bytes());
        self.tensors.extend_from_slice(&((v.len() * 4) as u64).to_le_bytes());
        self.named.insert(key.into(), v.iter().flat_map(|x| x.to_le_bytes()).collect());
        id
    }
    fn node(&mut self, opcode: u16, ins: &[u32], out: u32, attrs: &[u8]) {
        self.nodes.extend_from_slice(&opcode.to_le_bytes());
        self.nodes.extend_from_slice(&[ins.len() as u8, 1]);
        for i in ins {
            self.nodes.extend_from_slice(&i.to_le_bytes());
        }
        self.nodes.extend_from_slice(&out.to_le_bytes());
        self.nodes.extend_from_slice(&(attrs.len() as u16).to_le_bytes());
        self.nodes.extend_from_slice(attrs);
        self.node_count += 1;
    }
    fn finish(&self) -> Vec<u8> {
        let mut g = Vec::new();
        for c in [self.tensor_count, self.node_count, self.inputs.len() as u32, self.outputs.len() as u32] {
            g.extend_from_slice(&c.to_le_bytes());
        }
        g.extend_from_slice(&self.tensors);
        for i in self.inputs.iter().chain(&self.outputs) {
            g.extend_from_slice(&i.to_le_bytes());
        }
        g.extend_from_slice(&self.nodes);
        let graph_off = HEADER_SIZE;
        let data_off = (graph_off + g.len()).div_ceil(16) * 16;
        let total = data_off + self.data.len();
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&(if self.v2 { 2u32 } else { 1u32 }).to_le_bytes());
        b.extend_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        for v in [total, graph_off, g.len(), data_off, self.data.len()] {
            b.extend_from_slice(&(v as u64).to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&fnv1a(&g).to_le_bytes());
        b.extend_from_slice(&g);
        b.resize(data_off, 0);
        b.extend_from_slice(&self.data);
        b
    }
}

fn le(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn clamp_bytes(min: f32, max: f32) -> Vec<u8> {
    [min.to_le_bytes(), max.to_le_bytes()].concat()
}

/// x NCHW [1,2,3,3] → transpose to NHWC → 3x3 conv (pad 1) → relu6 → mean(H,W) → linear(2→3).
fn sample() -> (Writer, Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut w = Writer::default();
    let x = w.value(&[1, 2, 3, 3]);
    let xt = w.value(&[1, 3, 3, 2]);
    let filt: Vec<f32> = (0..2 * 3 * 3 * 2).map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0).collect();
    let f = w.named("conv.w", &[2, 3, 3, 2], &filt);
    let bias = w.constant(&[2], &[0.5, -0.25]);
    let c = w.value(&[1, 3, 3, 2]);
    let r = w.value(&[1, 3, 3, 2]);
    let m = w.value(&[1, 2]);
    let fc: Vec<f32> = vec![1.0, 2.0, -1.0, 0.5, 0.0, 3.0];
    let fw = w.constant(&[3, 2], &fc);
    let y = w.value(&[1, 3]);
    w.inputs.push(x);
    w.outputs.push(y);
    w.node(14, &[x], xt, &[4, 0, 2, 3, 1]);
    let mut conv = le(&[1, 1, 1, 1, 1, 1, 1, 1]);
    conv.extend(clamp_bytes(f32::NEG_INFINITY, f32::INFINITY));
    w.node(1, &[xt, f, bias], c, &conv);
    w.node(6, &[c], r, &clamp_bytes(0.0, 6.0));
    let mut mean = vec![0u8, 2];
    mean.extend(le(&[1, 2]));
    w.node(12, &[r], m, &mean);
    let mut lin = clamp_bytes(f32::NEG_INFINITY, f32::INFINITY);
    lin.push(0);
    w.node(4, &[m, fw], y, &lin);
    let input: Vec<f32> = (0..18).map(|i| (i as f32 - 9.0) / 4.0).collect();
    (w, input, filt, fc)
}

/// The sample's output computed directly in NCHW.
fn sample_reference(input: &[f32], filt: &[f32], fc: &[f32]) -> Vec<f32> {
    let bias = [0.5f32, -0.25];
    let mut pooled = [0.0f32; 2];
    for (o, p) in pooled.iter_mut().enumerate() {
        for y in 0..3i32 {
            for x in 0..3i32 {
                let mut s = bias[o];
                for ky in 0..3i32 {
                    for kx in 0..3i32 {
                        let (iy, ix) = (y + ky - 1, x + kx - 1);
                        if !(0..3).contains(&iy) || !(0..3).contains(&ix) {
                            continue;
                        }
                        for c in 0..2usize {
                            let wv = filt[((o * 3 + ky as usize) * 3 + kx as usize) * 2 + c];
                            s += wv * input[c * 9 + iy as usize * 3 + ix as usize];
                        }
                    }
                }
                *p += s.clamp(0.0, 6.0) / 9.0;
            }
        }
    }
    (0..3).map(|j| fc[j * 2] * pooled[0] + fc[j * 2 + 1] * pooled[1]).collect()
}

fn parse_with(w: &Writer, blob: &[u8]) -> Result<Blob, BlobError> {
    parse(blob, &mut |k| w.named.get(k).cloned())
}

#[test]
fn valid_blob_parses_and_runs() {
    let (w, input, filt, fc) = sample();
    let blob = w.finish();
    let parsed = parse_with(&w, &blob).expect("valid blob");
    assert_eq!(parsed.graph.nodes.len(), 5);
    assert_eq!(parsed.named_bytes, filt.len() * 4);
    let want = sample_reference(&input, &filt, &fc);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let mut exec = Executor::new(parsed.graph.clone(), isa, Arc::new(ThreadPool::new(1))).unwrap();
        exec.prepare(&[vec![1, 2, 3, 3]]).unwrap();
        let mut out = vec![0.0; 3];
        exec.run(&[&input], &mut [&mut out]).unwrap();
        for (g, e) in out.iter().zip(&want) {
            assert!((g - e).abs() <= 1e-5 * e.abs().max(1.0), "{isa}: got {out:?}, want {want:?}");
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let (w, ..) = sample();
    let blob = w.finish();
    for len in 0..blob.len() {
        let mut cut = blob[..len].to_vec();
        assert!(parse_with(&w, &cut).is_err(), "a blob cut to {len} bytes was accepted");
        // Also with the size field patched to match, so the section checks are reached.
        if len >= HEADER_SIZE {
            cut[16..24].copy_from_slice(&(len as u64).to_le_bytes());
            assert!(parse_with(&w, &cut).is_err(), "a patched blob cut to {len} bytes was accepted");
        }
    }
}

#[test]
fn wrong_magic_version_and_checksum_are_refused() {
    let (w, ..) = sample();
    let blob = w.finish();
    let mut b = blob.clone();
    b[0] = b'X';
    assert!(matches!(parse_with(&w, &b), Err(BlobError::NotABlob(_))));
    let mut b = blob.clone();
    b[8..12].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(parse_with(&w, &b).unwrap_err(), BlobError::Version(3));
    let mut b = blob.clone();
    b[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(parse_with(&w, &b).unwrap_err(), BlobError::Version(0));
    assert_eq!(BlobError::Version(2).code(), 2);
    let mut b = blob.clone();
    b[HEADER_SIZE + 20] ^= 1;
    assert!(matches!(parse_with(&w, &b), Err(BlobError::Invalid(m)) if m.contains("checksum")));
    assert!(matches!(parse(&blob, &mut |_| None), Err(BlobError::MissingData(_))));
    assert!(matches!(parse(&blob, &mut |_| Some(vec![0; 8])), Err(BlobError::MissingData(_))));
}

#[test]
fn semantic_errors_are_refused() {
    // A conv whose recorded output shape is wrong.
    let mut w = Writer::default();
    let x = w.value(&[1, 4, 4, 1]);
    let f = w.constant(&[1, 3, 3, 1], &[1.0; 9]);
    let y = w.value(&[1, 4, 4, 1]);
    w.inputs.push(x);
    w.outputs.push(y);
    let mut conv = le(&[0, 0, 0, 0, 1, 1, 1, 1]);
    conv.extend(clamp_bytes(f32::NEG_INFINITY, f32::INFINITY));
    w.node(1, &[x, f], y, &conv);
    let err = parse_with(&w, &w.finish()).unwrap_err();
    assert!(matches!(&err, BlobError::Invalid(m) if m.contains("records")), "{err}");
    // A node reading a tensor before it is written, and an unknown opcode.
    let mut w = Writer::default();
    let x = w.value(&[2]);
    let t = w.value(&[2]);
    let y = w.value(&[2]);
    w.inputs.push(x);
    w.outputs.push(y);
    w.node(7, &[t], y, &[]);
    assert!(parse_with(&w, &w.finish()).is_err());
    let w2 = one_node(99, &[]);
    assert!(matches!(parse_with(&w2, &w2.finish()), Err(BlobError::Invalid(m)) if m.contains("unknown opcode")));
    // Trailing attribute bytes.
    let w3 = one_node(7, &[0]);
    assert!(parse_with(&w3, &w3.finish()).is_err());
}

// ---------------------------------------------------------------- version 2

const XS: f32 = 0.05; // input scale
const XZ: i32 = 3; // input zero point
const YS: f32 = 0.1;
const YZ: i32 = -20;

/// fp32 x NHWC [1,3,3,2] → QUANTIZE → 3x3 int8 conv (pad 1, per-channel weights, int32 bias,
/// relu as int8 bounds) → QMEAN(H,W) → DEQUANTIZE → [1,2]. Returns the writer, the filter, the
/// bias and the weight scales.
fn qsample() -> (Writer, Vec<i8>, Vec<i32>, [f32; 2]) {
    let mut w = Writer { v2: true, ..Writer::default() };
    let x = w.value(&[1, 3, 3, 2]);
    let xq = w.qvalue(&[1, 3, 3, 2], XS, XZ);
    let filt: Vec<i8> = (0..2 * 3 * 3 * 2).map(|i: i32| (i * 37 % 255 - 127) as i8).collect();
    let ws = [0.01f32, 0.02];
    let f = w.qconstant(1, &[2, 3, 3, 2], &filt.iter().map(|&v| v as u8).collect::<Vec<_>>(), (0, &ws, &[0, 0]));
    let bias = vec![100i32, -250];
    let bs = [XS * ws[0], XS * ws[1]];
    let b = w.qconstant(2, &[2], &bias.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(), (0, &bs, &[0, 0]));
    let c = w.qvalue(&[1, 3, 3, 2], YS, YZ);
    let m = w.qvalue(&[1, 2], YS, YZ);
    let y = w.value(&[1, 2]);
    w.inputs.push(x);
    w.outputs.push(y);
    w.node(32, &[x], xq, &[]);
    let mut conv = le(&[1, 1, 1, 1, 1, 1, 1, 1]);
    conv.extend(YZ.to_le_bytes());
    conv.extend(127i32.to_le_bytes());
    w.node(34, &[xq, f, b], c, &conv);
    let mut mean = vec![0u8, 2];
    mean.extend(le(&[1, 2]));
    w.node(39, &[c], m, &mean);
    w.node(33, &[m], y, &[]);
    (w, filt, bias, ws)
}

/// The int8 sample's output in real arithmetic (quantize, conv, relu, mean, all exact in f64).
fn qsample_reference(input: &[f32], filt: &[i8], bias: &[i32], ws: [f32; 2]) -> Vec<f64> {
    let xq: Vec<i32> = input.iter().map(|&v| ((v / XS).round() as i32 + XZ).clamp(-128, 127)).collect();
    (0..2usize)
        .map(|o| {
            let mut total = 0.0f64;
            for y in 0..3i32 {
                for x in 0..3i32 {
                    let mut acc = bias[o] as i64;
                    for ky in 0..3i32 {
                        for kx in 0..3i32 {
                            let (iy, ix) = (y + ky - 1, x + kx - 1);
                            if !(0..3).contains(&iy) || !(0..3).contains(&ix) {
                                continue;
                            }
                            for c in 0..2usize {
                                let wv = filt[((o * 3 + ky as usize) * 3 + kx as usize) * 2 + c] as i64;
                                acc += wv * (xq[(iy as usize * 3 + ix as usize) * 2 + c] - XZ) as i64;
                            }
                        }
                    }
                    let real = acc as f64 * XS as f64 * ws[o] as f64;
                    // relu, and the int8 output's saturation.
                    total += real.clamp(0.0, (127 - YZ) as f64 * YS as f64);
                }
            }
            total / 9.0
        })
        .collect()
}

fn run_typed(graph: &crate::ir::Graph, isa: Isa, input: &[f32], out_len: usize) -> Result<Vec<f32>, String> {
    let mut exec = QExecutor::new(graph.clone(), isa, Arc::new(ThreadPool::new(1)))?;
    let shapes: Vec<Vec<usize>> = graph.inputs.iter().map(|&i| graph.tensors[i].shape.clone()).collect();
    exec.prepare(&shapes)?;
    let mut out = vec![0.0; out_len];
    exec.run(&[TensorData::F32(input)], &mut [TensorDataMut::F32(&mut out)])?;
    Ok(out)
}

#[test]
fn int8_blob_parses_and_runs_within_one_step() {
    let (w, filt, bias, ws) = qsample();
    let parsed = parse_with(&w, &w.finish()).expect("valid version-2 blob");
    assert!(parsed.graph.is_quantized());
    let input: Vec<f32> = (0..18).map(|i| ((i * 5 % 17) as f32 - 6.0) / 4.0).collect();
    let want = qsample_reference(&input, &filt, &bias, ws);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let got = run_typed(&parsed.graph, isa, &input, 2).unwrap();
        for (g, e) in got.iter().zip(&want) {
            // Two requantizations (conv, mean), each within one output step of the real value.
            assert!((*g as f64 - e).abs() <= 2.0 * YS as f64 + 1e-6, "{isa}: got {got:?}, want {want:?}");
        }
    }
}

/// A blob of one node `opcode` (with `attrs`) from input x to output y, both of shape [2].
fn one_node(opcode: u16, attrs: &[u8]) -> Writer {
    let mut w = Writer::default();
    let x = w.value(&[2]);
    let y = w.value(&[2]);
    w.inputs.push(x);
    w.outputs.push(y);
    w.node(opcode, &[x], y, attrs);
    w
}

#[test]
fn version_1_blobs_are_still_read_and_cannot_hold_int8() {
    let (w, ..) = sample();
    assert!(parse_with(&w, &w.finish()).is_ok());
    // An int8 opcode in a version-1 blob.
    let w1 = one_node(32, &[]);
    assert!(matches!(parse_with(&w1, &w1.finish()), Err(BlobError::Invalid(m)) if m.contains("needs version 2")));
}

/// Builds the int8 sample with one piece changed by `edit` and expects a refusal naming `want`.
fn refused(want: &str, edit: impl Fn(&mut Writer)) {
    let (mut w, ..) = qsample();
    edit(&mut w);
    let err = parse_with(&w, &w.finish()).expect_err(want);
    assert!(matches!(&err, BlobError::Invalid(m) if m.contains(want)), "expected '{want}', got: {err}");
}

#[test]
fn malformed_int8_pieces_are_refused() {
    // Each case writes a fresh blob from scratch with one defect.
    let conv_attrs = |lo: i32, hi: i32| {
        let mut a = le(&[1, 1, 1, 1, 1, 1, 1, 1]);
        a.extend(lo.to_le_bytes());
        a.extend(hi.to_le_bytes());
        a
    };
    let build = |zp: i32, wscales: &[f32], wzp: &[i32], bscale: f32, bounds: (i32, i32), out_f32: bool| {
        let mut w = Writer { v2: true, ..Writer::default() };
        let x = w.value(&[1, 3, 3, 2]);
        let xq = w.qvalue(&[1, 3, 3, 2], XS, zp);
        let f = w.qconstant(1, &[2, 3, 3, 2], &[1u8; 36], (0, wscales, wzp));
        let b = w.qconstant(2, &[2], &[0u8; 8], (0, &[bscale, bscale], &[0, 0]));
        let c = w.qvalue(&[1, 3, 3, 2], YS, YZ);
        let y = if out_f32 { w.value(&[1, 3, 3, 2]) } else { w.qvalue(&[1, 3, 3, 2], YS, YZ) };
        w.inputs.push(x);
        w.outputs.push(y);
        w.node(32, &[x], xq, &[]);
        w.node(34, &[xq, f, b], c, &conv_attrs(bounds.0, bounds.1));
        w.node(if out_f32 { 33 } else { 32 }, &[c], y, &[]);
        parse_with(&w, &w.finish())
    };
    let ok = build(3, &[0.01, 0.01], &[0, 0], XS * 0.01, (-128, 127), true);
    assert!(ok.is_ok(), "{ok:?}");
    let expect = |r: Result<Blob, BlobError>, want: &str| {
        let err = r.expect_err(want);
        assert!(matches!(&err, BlobError::Invalid(m) if m.contains(want)), "expected '{want}', got: {err}");
    };
    expect(build(300, &[0.01, 0.01], &[0, 0], XS * 0.01, (-128, 127), true), "zero point 300");
    expect(build(3, &[0.01, 0.01, 0.01], &[0, 0, 0], XS * 0.01, (-128, 127), true), "3 scales along axis 0");
    expect(build(3, &[0.01, -0.01], &[0, 0], XS * 0.01, (-128, 127), true), "scale -0.01");
    expect(build(3, &[0.01, 0.01], &[0, 5], XS * 0.01, (-128, 127), true), "zero points differ");
    expect(build(3, &[0.01, 0.01], &[0, 0], XS * 0.02, (-128, 127), true), "input × weight scale");
    expect(build(3, &[0.01, 0.01], &[0, 0], XS * 0.01, (10, -10), true), "int8 bounds");
    expect(build(3, &[0.01, 0.01], &[0, 0], XS * 0.01, (-128, 200), true), "int8 bounds");
    expect(build(3, &[0.01, 0.01], &[0, 0], XS * 0.01, (-128, 127), false), "boundary tensor");
    // An int8 tensor without quantization, an fp32 tensor with it, an int32 activation.
    refused("without quantization", |w| {
        w.typed_head(0, 1, &[2], None);
    });
    refused("float32 with quantization", |w| {
        w.typed_head(0, 0, &[2], Some((0, &[1.0], &[0])));
    });
    refused("int32 value", |w| {
        w.typed_head(0, 2, &[2], Some((0, &[1.0], &[0])));
    });
    refused("per-channel quantized activation", |w| {
        w.typed_head(0, 1, &[2], Some((0, &[1.0, 1.0], &[0, 0])));
    });
    // An fp32 op reading an int8 tensor; an int8 op reading fp32; a dtype-mismatched reshape.
    let mut w = Writer { v2: true, ..Writer::default() };
    let x = w.value(&[1, 2]);
    let xq = w.qvalue(&[1, 2], XS, 0);
    let s = w.value(&[1, 2]);
    w.inputs.push(x);
    w.outputs.push(s);
    w.node(32, &[x], xq, &[]);
    w.node(7, &[xq], s, &[]);
    expect(parse_with(&w, &w.finish()), "the op takes float32");
    let mut w = Writer { v2: true, ..Writer::default() };
    let x = w.value(&[1, 2]);
    let m = w.qvalue(&[1, 2], XS, 0);
    let y = w.value(&[1, 2]);
    w.inputs.push(x);
    w.outputs.push(y);
    let mut mean = vec![1u8, 1];
    mean.extend(le(&[1]));
    w.node(39, &[x], m, &mean);
    w.node(33, &[m], y, &[]);
    expect(parse_with(&w, &w.finish()), "not an int8 activation");
    let mut w = Writer { v2: true, ..Writer::default() };
    let x = w.value(&[1, 2]);
    let xq = w.qvalue(&[1, 2], XS, 0);
    let r = w.value(&[2]);
    w.inputs.push(x);
    w.outputs.push(r);
    w.node(32, &[x], xq, &[]);
    let mut rs = vec![1u8];
    rs.extend(2i64.to_le_bytes());
    w.node(13, &[xq], r, &rs);
    expect(parse_with(&w, &w.finish()), "reshape");
    // An int8 pool whose output is quantized differently from its input (the kernels keep the input's).
    let mut w = Writer { v2: true, ..Writer::default() };
    let x = w.value(&[1, 2, 2, 1]);
    let xq = w.qvalue(&[1, 2, 2, 1], XS, 0);
    let pq = w.qvalue(&[1, 1, 1, 1], XS * 2.0, 0);
    let y = w.value(&[1, 1, 1, 1]);
    w.inputs.push(x);
    w.outputs.push(y);
    w.node(32, &[x], xq, &[]);
    let mut pool = vec![1u8];
    pool.extend(le(&[0, 0, 0, 0, 2, 2, 2, 2]));
    pool.extend((-128i32).to_le_bytes());
    pool.extend(127i32.to_le_bytes());
    w.node(38, &[xq], pq, &pool);
    w.node(33, &[pq], y, &[]);
    expect(parse_with(&w, &w.finish()), "quantized differently");
}

/// Re-seals a corrupted graph section's checksum so the parser goes past it.
fn reseal(b: &mut [u8]) {
    if b.len() < HEADER_SIZE {
        return;
    }
    let glen = u64::from_le_bytes(b[32..40].try_into().unwrap()) as usize;
    if let Some(g) = b.get(HEADER_SIZE..HEADER_SIZE.saturating_add(glen)) {
        let c = fnv1a(g);
        b[60..64].copy_from_slice(&c.to_le_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any corruption of the bytes (with the checksum re-sealed so the
    /// structure checks are exercised) is an error or a graph that prepares;
    /// never a panic.
    #[test]
    fn corrupted_blobs_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let (w, input, ..) = sample();
        let mut b = w.finish();
        for (i, v) in &flips {
            let i = i.index(b.len());
            b[i] = *v;
        }
        reseal(&mut b);
        if let Ok(parsed) = parse_with(&w, &b) {
            // Whatever parsed must also plan and run without panicking on its recorded shapes.
            let shapes: Vec<Vec<usize>> = parsed.graph.inputs.iter().map(|&i| parsed.graph.tensors[i].shape.clone()).collect();
            let result = std::panic::catch_unwind(|| {
                let mut exec = Executor::new(parsed.graph.clone(), Isa::Scalar, Arc::new(ThreadPool::new(1)))?;
                let outs = exec.prepare(&shapes)?;
                let ins: Vec<Vec<f32>> = shapes.iter().map(|s| vec![0.5; s.iter().product()]).collect();
                let in_refs: Vec<&[f32]> = ins.iter().map(|v| v.as_slice()).collect();
                let mut out_bufs: Vec<Vec<f32>> = outs.iter().map(|s| vec![0.0; s.iter().product()]).collect();
                let mut out_refs: Vec<&mut [f32]> = out_bufs.iter_mut().map(|v| v.as_mut_slice()).collect();
                exec.run(&in_refs, &mut out_refs)
            });
            prop_assert!(result.is_ok(), "a parsed blob panicked when run");
            let _ = input.len();
        }
    }

    /// The same for the int8 sample, run through the typed executor.
    #[test]
    fn corrupted_int8_blobs_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let (w, ..) = qsample();
        let mut b = w.finish();
        for (i, v) in &flips {
            let i = i.index(b.len());
            b[i] = *v;
        }
        reseal(&mut b);
        if let Ok(parsed) = parse_with(&w, &b) {
            let result = std::panic::catch_unwind(|| {
                let n: usize = parsed.graph.inputs.first().map_or(0, |&i| parsed.graph.tensors[i].shape.iter().product());
                let outs: usize = parsed.graph.outputs.first().map_or(0, |&o| parsed.graph.tensors[o].shape.iter().product());
                if parsed.graph.inputs.len() != 1 || parsed.graph.outputs.len() != 1 {
                    return Ok(Vec::new());
                }
                run_typed(&parsed.graph, Isa::Scalar, &vec![0.5; n], outs)
            });
            prop_assert!(result.is_ok(), "a parsed int8 blob panicked when run");
        }
    }

    #[test]
    fn random_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(parse(&bytes, &mut |_| None).is_err());
    }
}
