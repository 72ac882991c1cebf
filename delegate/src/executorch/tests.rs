//! Reader tests: a small writer builds version-1 blobs; valid blobs parse
//! and run; truncated, corrupted and wrong-version blobs are refused
//! without panicking.

use super::blob::*;
use crate::Executor;
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
}

impl Writer {
    fn tensor_head(&mut self, kind: u8, shape: &[u32]) -> u32 {
        self.tensors.extend_from_slice(&[kind, 0, shape.len() as u8, 0]);
        for d in shape {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        self.tensor_count += 1;
        self.tensor_count - 1
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
        b.extend_from_slice(&VERSION.to_le_bytes());
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
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(parse_with(&w, &b).unwrap_err(), BlobError::Version(2));
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
    let mut w2 = Writer::default();
    let x = w2.value(&[2]);
    let y = w2.value(&[2]);
    w2.inputs.push(x);
    w2.outputs.push(y);
    w2.node(99, &[x], y, &[]);
    assert!(matches!(parse_with(&w2, &w2.finish()), Err(BlobError::Invalid(m)) if m.contains("unknown opcode")));
    // Trailing attribute bytes.
    let mut w3 = Writer::default();
    let x = w3.value(&[2]);
    let y = w3.value(&[2]);
    w3.inputs.push(x);
    w3.outputs.push(y);
    w3.node(7, &[x], y, &[0]);
    assert!(parse_with(&w3, &w3.finish()).is_err());
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

    #[test]
    fn random_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(parse(&bytes, &mut |_| None).is_err());
    }
}
