//! A strict, bounds-checked reader of the delegate blob, versions 1 (fp32)
//! and 2 (adds int8 / int32 tensors with quantization parameters and the
//! int8 ops, `FORMAT.md`). Every read goes through [`Reader`], which refuses to step
//! past its slice; every id, count and attribute is validated; and after
//! parsing, shape inference must reproduce every recorded shape. A
//! malformed, truncated or wrong-version blob is an `Err`, never a panic.

use crate::ir::{Graph, Node, Op, Padding, PoolKind, ReshapeRule, TensorId};
use crate::qir::{conv_requant, Affine, DType, QBinary, QConst, QOp, QOut, QParams, ScaleProduct};
use crate::shapes;
use armrest_kernels::elementwise::{BinaryOp, UnaryOp};
use armrest_kernels::Clamp;
use std::fmt;
use std::sync::Arc;

pub const MAGIC: &[u8; 8] = b"ARMRSTET";
/// The version this reader writes about; it reads every version from [`MIN_VERSION`].
pub const VERSION: u32 = 2;
pub const MIN_VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 64;
const MAX_COUNT: usize = 1_000_000;
const MAX_RANK: usize = 6;
const MAX_KEY: usize = 256;

/// Why a blob was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Not an armrest blob (bad magic, or shorter than the header).
    NotABlob(String),
    /// An armrest blob of a version this reader does not know.
    Version(u32),
    /// The blob is truncated or a section does not fit.
    Truncated(String),
    /// Structurally invalid content.
    Invalid(String),
    /// A named constant could not be found in the program's data.
    MissingData(String),
}

impl BlobError {
    /// A stable numeric code for the C ABI.
    pub fn code(&self) -> i32 {
        match self {
            BlobError::NotABlob(_) => 1,
            BlobError::Version(_) => 2,
            BlobError::Truncated(_) => 3,
            BlobError::Invalid(_) => 4,
            BlobError::MissingData(_) => 5,
        }
    }
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobError::NotABlob(m) => write!(f, "not an armrest blob: {m}"),
            BlobError::Version(v) => write!(f, "blob version {v} is not supported (this reader reads versions {MIN_VERSION} to {VERSION})"),
            BlobError::Truncated(m) => write!(f, "truncated blob: {m}"),
            BlobError::Invalid(m) => write!(f, "invalid blob: {m}"),
            BlobError::MissingData(m) => write!(f, "missing named data: {m}"),
        }
    }
}

impl std::error::Error for BlobError {}

fn invalid(m: impl Into<String>) -> BlobError {
    BlobError::Invalid(m.into())
}

/// A parsed blob: the graph, ready for [`crate::Executor::new`].
#[derive(Clone, Debug)]
pub struct Blob {
    pub graph: Graph,
    /// Bytes of constant data loaded from the named data store.
    pub named_bytes: usize,
}

/// A cursor over a byte slice that never reads past its end.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], BlobError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(BlobError::Truncated(format!("{} needs {n} more bytes at offset {}, has {}", self.what, self.pos, self.buf.len() - self.pos))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BlobError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, BlobError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, BlobError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, BlobError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, BlobError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, BlobError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, BlobError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32, BlobError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    /// A u32 used as a size or count, bounded by `max`.
    fn count(&mut self, max: usize, what: &str) -> Result<usize, BlobError> {
        let v = self.u32()? as usize;
        if v > max {
            return Err(invalid(format!("{what} = {v} exceeds the limit {max}")));
        }
        Ok(v)
    }
    fn done(&self) -> Result<(), BlobError> {
        if self.pos != self.buf.len() {
            return Err(invalid(format!("{}: {} trailing bytes", self.what, self.buf.len() - self.pos)));
        }
        Ok(())
    }
}

/// FNV-1a, 32-bit.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn to_usize(v: u64, what: &str) -> Result<usize, BlobError> {
    usize::try_from(v).map_err(|_| invalid(format!("{what} = {v} does not fit in memory")))
}

fn f32s(bytes: &[u8]) -> Arc<[f32]> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Reads a blob. `named` returns the bytes of a named constant (ExecuTorch's
/// named data store), or `None` when the program has no such key.
pub fn parse(blob: &[u8], named: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Result<Blob, BlobError> {
    if blob.len() < 8 || &blob[..8] != MAGIC {
        return Err(BlobError::NotABlob(format!("{} bytes without the magic {:?}", blob.len(), std::str::from_utf8(MAGIC).unwrap_or(""))));
    }
    let mut h = Reader::new(blob, "header");
    h.bytes(8)?;
    let version = h.u32()?;
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(BlobError::Version(version));
    }
    if blob.len() < HEADER_SIZE {
        return Err(BlobError::Truncated(format!("{} bytes, the header alone is {HEADER_SIZE}", blob.len())));
    }
    let header_size = h.u32()? as usize;
    if header_size != HEADER_SIZE {
        return Err(invalid(format!("header size {header_size}, version {version} has {HEADER_SIZE}")));
    }
    let blob_size = to_usize(h.u64()?, "blob size")?;
    if blob_size != blob.len() {
        return Err(BlobError::Truncated(format!("the header says {blob_size} bytes, the buffer has {}", blob.len())));
    }
    let (graph_off, graph_len) = (to_usize(h.u64()?, "graph offset")?, to_usize(h.u64()?, "graph size")?);
    let (data_off, data_len) = (to_usize(h.u64()?, "data offset")?, to_usize(h.u64()?, "data size")?);
    let flags = h.u32()?;
    let checksum = h.u32()?;
    if flags != 0 {
        return Err(invalid(format!("flags {flags:#x} are not defined in version {version}")));
    }
    let graph_end = graph_off.checked_add(graph_len).ok_or_else(|| invalid("graph section overflows"))?;
    let data_end = data_off.checked_add(data_len).ok_or_else(|| invalid("data section overflows"))?;
    if graph_off != HEADER_SIZE || data_off < graph_end || !data_off.is_multiple_of(16) || data_end != blob.len() {
        return Err(invalid(format!("sections graph {graph_off}+{graph_len}, data {data_off}+{data_len} do not tile a {}-byte blob", blob.len())));
    }
    let graph_bytes = &blob[graph_off..graph_end];
    if fnv1a(graph_bytes) != checksum {
        return Err(invalid("the graph section's checksum does not match (corrupted)"));
    }
    let data = &blob[data_off..data_end];
    let mut r = Reader::new(graph_bytes, "graph section");
    let tensor_count = r.count(MAX_COUNT, "tensor count")?;
    let node_count = r.count(MAX_COUNT, "node count")?;
    let input_count = r.count(MAX_COUNT, "input count")?;
    let output_count = r.count(MAX_COUNT, "output count")?;
    // Each tensor record is at least 4 bytes: refuse counts the section cannot hold before allocating.
    if tensor_count.saturating_mul(4) > graph_len || node_count.saturating_mul(8) > graph_len {
        return Err(BlobError::Truncated(format!("{tensor_count} tensors and {node_count} nodes cannot fit in {graph_len} bytes")));
    }

    let mut graph = Graph::default();
    let mut is_value = Vec::with_capacity(tensor_count);
    let mut named_bytes = 0usize;
    for t in 0..tensor_count {
        let kind = r.u8()?;
        let dtype = match (r.u8()?, version) {
            (0, _) => DType::F32,
            (1, 2..) => DType::I8,
            (2, 2..) => DType::I32,
            (d, _) => return Err(invalid(format!("tensor {t}: dtype {d} (version {version} has {})", if version == 1 { "fp32 = 0 only" } else { "fp32 = 0, int8 = 1, int32 = 2" }))),
        };
        let rank = r.u8()? as usize;
        let reserved = r.u8()?;
        if rank > MAX_RANK || reserved != 0 {
            return Err(invalid(format!("tensor {t}: rank {rank} (max {MAX_RANK}) or reserved byte {reserved}")));
        }
        let esize = match dtype {
            DType::F32 | DType::I32 => 4,
            DType::I8 => 1,
        };
        let mut shape = Vec::with_capacity(rank);
        let mut numel = 1usize;
        for _ in 0..rank {
            let d = r.u32()? as usize;
            if d > i32::MAX as usize {
                return Err(invalid(format!("tensor {t}: dim {d} is too large")));
            }
            numel = numel.checked_mul(d).filter(|&n| n <= isize::MAX as usize / 4).ok_or_else(|| invalid(format!("tensor {t}: element count overflows")))?;
            shape.push(d);
        }
        let quant = if version >= 2 { read_quant(&mut r, t, dtype, &shape, kind == 0)? } else { None };
        let bytes: Option<&[u8]>;
        let named_data;
        match kind {
            0 => bytes = None,
            1 => {
                let off = to_usize(r.u64()?, "constant offset")?;
                let len = to_usize(r.u64()?, "constant length")?;
                if len != numel * esize || !off.is_multiple_of(4) {
                    return Err(invalid(format!("tensor {t}: {len} bytes at {off} for shape {shape:?}")));
                }
                let end = off.checked_add(len).filter(|&e| e <= data.len()).ok_or_else(|| BlobError::Truncated(format!("tensor {t}: {len} bytes at {off} past the {}-byte data section", data.len())))?;
                bytes = Some(&data[off..end]);
            }
            2 => {
                let key_len = r.count(MAX_KEY, "key length")?;
                if key_len == 0 {
                    return Err(invalid(format!("tensor {t}: empty key")));
                }
                let key = std::str::from_utf8(r.bytes(key_len)?).map_err(|_| invalid(format!("tensor {t}: key is not UTF-8")))?.to_string();
                let len = to_usize(r.u64()?, "constant length")?;
                if len != numel * esize {
                    return Err(invalid(format!("tensor {t}: {len} bytes for shape {shape:?}")));
                }
                named_data = named(&key).ok_or_else(|| BlobError::MissingData(format!("tensor {t}: key '{key}'")))?;
                if named_data.len() != len {
                    return Err(BlobError::MissingData(format!("tensor {t}: key '{key}' holds {} bytes, expected {len}", named_data.len())));
                }
                named_bytes += len;
                bytes = Some(&named_data);
            }
            k => return Err(invalid(format!("tensor {t}: kind {k}"))),
        }
        is_value.push(bytes.is_none());
        match (dtype, bytes) {
            (DType::F32, b) => {
                graph.add_tensor(format!("t{t}"), shape, b.map(f32s));
            }
            (DType::I8, b) => {
                let c = b.map(|b| QConst::I8(b.iter().map(|&v| v as i8).collect()));
                graph.add_qtensor(format!("t{t}"), shape, DType::I8, quant, c);
            }
            (DType::I32, b) => {
                let c = b.map(|b| QConst::I32(b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()));
                graph.add_qtensor(format!("t{t}"), shape, DType::I32, quant, c);
            }
        }
    }
    let id = |r: &mut Reader, what: &str| -> Result<TensorId, BlobError> {
        let v = r.u32()? as usize;
        if v >= tensor_count {
            return Err(invalid(format!("{what} refers to tensor {v} of {tensor_count}")));
        }
        Ok(v)
    };
    // defined[t]: the tensor has a value before the next node runs.
    let mut defined: Vec<bool> = is_value.iter().map(|v| !v).collect();
    for _ in 0..input_count {
        let t = id(&mut r, "an input")?;
        if !is_value[t] || defined[t] {
            return Err(invalid(format!("input tensor {t} is a constant or listed twice")));
        }
        defined[t] = true;
        graph.inputs.push(t);
    }
    for _ in 0..output_count {
        let t = id(&mut r, "an output")?;
        if !is_value[t] || graph.outputs.contains(&t) || graph.inputs.contains(&t) {
            return Err(invalid(format!("output tensor {t} is a constant, an input or listed twice")));
        }
        graph.outputs.push(t);
    }
    for n in 0..node_count {
        let opcode = r.u16()?;
        let n_in = r.u8()? as usize;
        let n_out = r.u8()? as usize;
        if n_in == 0 || n_out != 1 {
            return Err(invalid(format!("node {n}: {n_in} inputs and {n_out} outputs")));
        }
        let mut inputs = Vec::with_capacity(n_in);
        for _ in 0..n_in {
            let t = id(&mut r, "a node input")?;
            if !defined[t] {
                return Err(invalid(format!("node {n} reads tensor {t} before it is written")));
            }
            inputs.push(t);
        }
        let out = id(&mut r, "a node output")?;
        if !is_value[out] || defined[out] {
            return Err(invalid(format!("node {n} writes tensor {out}, a constant, an input or already written")));
        }
        defined[out] = true;
        let attr_len = r.u16()? as usize;
        let mut a = Reader::new(r.bytes(attr_len)?, "node attributes");
        let op = if (FIRST_QOPCODE..=LAST_QOPCODE).contains(&opcode) {
            if version < 2 {
                Err(invalid(format!("opcode {opcode} needs version 2")))
            } else {
                read_qop(opcode, &mut a, &graph, &inputs, out).map(Op::Quant)
            }
        } else {
            read_op(opcode, &mut a, n_in)
        };
        let op = op.map_err(|e| match e {
            BlobError::Invalid(m) | BlobError::Truncated(m) => invalid(format!("node {n} (opcode {opcode}): {m}")),
            e => e,
        })?;
        a.done().map_err(|e| invalid(format!("node {n}: {e}")))?;
        graph.nodes.push(Node { op, inputs, outputs: vec![out], source: n });
    }
    r.done()?;
    for &o in &graph.outputs {
        if !defined[o] {
            return Err(invalid(format!("output tensor {o} is never written")));
        }
    }
    check(&graph)?;
    Ok(Blob { graph, named_bytes })
}

/// Version 2's quantization record of tensor `t`: `u32 count` (0: none), then
/// `u32 axis, f32 scale[count], i32 zero_point[count]`. Every int8 and int32
/// tensor has one, fp32 tensors none; int8 values are per-tensor; int32
/// tensors (biases) have zero points 0; per-channel counts match the axis.
fn read_quant(r: &mut Reader, t: usize, dtype: DType, shape: &[usize], value: bool) -> Result<Option<QParams>, BlobError> {
    let count = r.count(MAX_COUNT, "quantization count")?;
    if count == 0 {
        if dtype != DType::F32 {
            return Err(invalid(format!("tensor {t}: {} without quantization parameters", dtype.name())));
        }
        return Ok(None);
    }
    if dtype == DType::F32 {
        return Err(invalid(format!("tensor {t}: float32 with quantization parameters")));
    }
    let axis = r.u32()? as usize;
    let scale = (0..count).map(|_| r.f32()).collect::<Result<Vec<_>, _>>()?;
    let zero_point = (0..count).map(|_| r.i32()).collect::<Result<Vec<_>, _>>()?;
    if count > 1 && (axis >= shape.len() || shape[axis] != count) {
        return Err(invalid(format!("tensor {t}: {count} scales along axis {axis} of shape {shape:?}")));
    }
    if count == 1 && axis != 0 {
        return Err(invalid(format!("tensor {t}: per-tensor quantization with axis {axis}")));
    }
    if count > 1 && value {
        return Err(invalid(format!("tensor {t}: a per-channel quantized activation")));
    }
    if let Some(s) = scale.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(invalid(format!("tensor {t}: scale {s}")));
    }
    let zp_ok = |z: &i32| match dtype {
        DType::I8 => (-128..=127).contains(z),
        _ => *z == 0,
    };
    if let Some(z) = zero_point.iter().find(|z| !zp_ok(z)) {
        return Err(invalid(format!("tensor {t}: zero point {z} for {}", dtype.name())));
    }
    if dtype == DType::I32 && value {
        return Err(invalid(format!("tensor {t}: an int32 value (int32 tensors are constant biases)")));
    }
    Ok(Some(QParams { scale, zero_point, axis }))
}

/// The first opcode of the int8 ops (version 2).
const FIRST_QOPCODE: u16 = 32;
const LAST_QOPCODE: u16 = 40;

/// The per-tensor quantization of an int8 activation.
fn q_act(graph: &Graph, t: TensorId, what: &str) -> Result<Affine, BlobError> {
    let x = &graph.tensors[t];
    match (&x.dtype, x.quant.as_deref()) {
        (DType::I8, Some(q)) if !q.is_per_channel() && x.qconstant.is_none() => Ok(q.affine()),
        _ => Err(invalid(format!("{what} (tensor {t}) is not an int8 activation"))),
    }
}

fn q_f32(graph: &Graph, t: TensorId, what: &str) -> Result<(), BlobError> {
    let x = &graph.tensors[t];
    if x.dtype != DType::F32 || x.is_constant() {
        return Err(invalid(format!("{what} (tensor {t}) is not a float32 activation")));
    }
    Ok(())
}

/// An int8 weight constant quantized along `axis` (per-tensor or per-channel
/// with `channels` scales), one zero point for all channels: its scales.
fn q_weights(graph: &Graph, t: TensorId, axis: usize, channels: usize) -> Result<Vec<f32>, BlobError> {
    let w = &graph.tensors[t];
    let q = match (&w.dtype, &w.qconstant, w.quant.as_deref()) {
        (DType::I8, Some(QConst::I8(_)), Some(q)) => q,
        _ => return Err(invalid(format!("weights (tensor {t}) are not an int8 constant"))),
    };
    if q.is_per_channel() && (q.axis != axis || q.scale.len() != channels) {
        return Err(invalid(format!("weights (tensor {t}): {} scales along axis {}, expected {channels} along axis {axis}", q.scale.len(), q.axis)));
    }
    if q.zero_point.iter().any(|&z| z != q.zero_point[0]) {
        return Err(invalid(format!("weights (tensor {t}): zero points differ between channels")));
    }
    Ok(q.scale.clone())
}

/// An optional int32 bias `[channels]` whose scales are input scale × weight scales.
fn q_bias(graph: &Graph, inputs: &[TensorId], x_scale: f32, w_scales: &[f32], channels: usize) -> Result<(), BlobError> {
    let Some(&t) = inputs.get(2) else { return Ok(()) };
    let b = &graph.tensors[t];
    let q = match (&b.dtype, &b.qconstant, b.quant.as_deref()) {
        (DType::I32, Some(QConst::I32(v)), Some(q)) if v.len() == channels && b.shape.len() == 1 => q,
        _ => return Err(invalid(format!("bias (tensor {t}) is not {channels} constant int32 values"))),
    };
    for c in 0..channels {
        let want = x_scale as f64 * w_scales[if w_scales.len() == 1 { 0 } else { c }] as f64;
        let got = q.scale[if q.scale.len() == 1 { 0 } else { c }] as f64;
        if (got - want).abs() > 1e-5 * want {
            return Err(invalid(format!("bias (tensor {t}) channel {c}: scale {got:e}, input × weight scale is {want:e}")));
        }
    }
    Ok(())
}

/// The fused activation as int8 bounds in the output's domain.
fn q_bounds(a: &mut Reader) -> Result<(i32, i32), BlobError> {
    let (min, max) = (a.i32()?, a.i32()?);
    if !(-128 <= min && min <= max && max <= 127) {
        return Err(invalid(format!("int8 bounds [{min}, {max}]")));
    }
    Ok((min, max))
}

/// Decodes an int8 op (version 2): quantization parameters come from the
/// tensors, attributes from the record; the kernels' own parameter checks
/// (`qops_bind::params`) must accept the result.
fn read_qop(opcode: u16, a: &mut Reader, graph: &Graph, inputs: &[TensorId], out: TensorId) -> Result<QOp, BlobError> {
    let n_in = inputs.len();
    let count = |lo: usize, hi: usize| if (lo..=hi).contains(&n_in) { Ok(()) } else { Err(invalid(format!("{n_in} inputs, expected {lo} to {hi}"))) };
    let shape = |t: TensorId| graph.tensors[t].shape.as_slice();
    let op = match opcode {
        32 => {
            count(1, 1)?;
            let output = q_act(graph, out, "the output")?;
            let input = if graph.tensors[inputs[0]].dtype == DType::F32 {
                q_f32(graph, inputs[0], "the input")?;
                None
            } else {
                Some(q_act(graph, inputs[0], "the input")?)
            };
            QOp::Quantize { input, output }
        }
        33 => {
            count(1, 1)?;
            q_f32(graph, out, "the output")?;
            QOp::Dequantize { input: q_act(graph, inputs[0], "the input")? }
        }
        34 | 35 => {
            count(2, 3)?;
            let x = q_act(graph, inputs[0], "the input")?;
            let y = q_act(graph, out, "the output")?;
            let ws = shape(inputs[1]);
            if ws.len() != 4 {
                return Err(invalid(format!("filter of shape {ws:?}")));
            }
            let padding = pads(a)?;
            let stride = pair(a, "stride", 1)?;
            let dilation = pair(a, "dilation", 1)?;
            let (min, max) = q_bounds(a)?;
            let (axis, channels) = if opcode == 34 { (0, ws[0]) } else { (3, ws[3]) };
            let w_scales = q_weights(graph, inputs[1], axis, channels)?;
            q_bias(graph, inputs, x.scale, &w_scales, channels)?;
            let requant = conv_requant(x.scale, &w_scales, y.scale, channels, ScaleProduct::Double).map_err(invalid)?;
            let out = QOut { requant, zero_point: y.zero_point, min, max };
            if opcode == 34 {
                QOp::Conv2d { padding, stride, dilation, out }
            } else {
                let depth_multiplier = a.u32()? as usize;
                if depth_multiplier == 0 {
                    return Err(invalid("depth multiplier 0"));
                }
                QOp::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, out }
            }
        }
        36 => {
            count(2, 3)?;
            let x = q_act(graph, inputs[0], "the input")?;
            let y = q_act(graph, out, "the output")?;
            let ws = shape(inputs[1]);
            if ws.len() != 2 {
                return Err(invalid(format!("weights of shape {ws:?}")));
            }
            let (min, max) = q_bounds(a)?;
            let keep_num_dims = bool_(a)?;
            let w_scales = q_weights(graph, inputs[1], 0, ws[0])?;
            q_bias(graph, inputs, x.scale, &w_scales, ws[0])?;
            let requant = conv_requant(x.scale, &w_scales, y.scale, ws[0], ScaleProduct::Double).map_err(invalid)?;
            QOp::FullyConnected { keep_num_dims, out: QOut { requant, zero_point: y.zero_point, min, max } }
        }
        37 => {
            count(2, 2)?;
            let op = match a.u8()? {
                0 => QBinary::Add,
                1 => QBinary::Sub,
                2 => QBinary::Mul,
                k => return Err(invalid(format!("int8 binary op {k}"))),
            };
            let (min, max) = q_bounds(a)?;
            QOp::Binary { op, a: q_act(graph, inputs[0], "operand a")?, b: q_act(graph, inputs[1], "operand b")?, output: q_act(graph, out, "the output")?, min, max }
        }
        38 => {
            count(1, 1)?;
            let (kind, padding, stride, filter) = pool_geometry(a)?;
            let (min, max) = q_bounds(a)?;
            let (input, output) = (q_act(graph, inputs[0], "the input")?, q_act(graph, out, "the output")?);
            if input != output {
                return Err(invalid("pool input and output quantized differently (the int8 pooling kernels keep their input's parameters)"));
            }
            QOp::Pool2d { kind, padding, stride, filter, input, output, min, max, uint8: false }
        }
        39 => {
            count(1, 1)?;
            let keep_dims = bool_(a)?;
            let n = a.u8()? as usize;
            let axes = (0..n).map(|_| a.i32().map(i64::from)).collect::<Result<Vec<_>, _>>()?;
            QOp::Mean { axes, keep_dims, input: q_act(graph, inputs[0], "the input")?, output: q_act(graph, out, "the output")? }
        }
        40 => {
            let axis = a.i32()? as i64;
            let qs = inputs.iter().map(|&t| q_act(graph, t, "an input")).collect::<Result<Vec<_>, _>>()?;
            QOp::Concat { axis, inputs: qs, output: q_act(graph, out, "the output")?, uint8: false }
        }
        k => return Err(invalid(format!("unknown opcode {k}"))),
    };
    // The kernels' Prepare arithmetic refuses what they cannot run.
    crate::qops_bind::params(&op).map_err(|e| invalid(format!("{}: {e}", op.name())))?;
    Ok(op)
}

fn clamp(a: &mut Reader) -> Result<Clamp, BlobError> {
    let (min, max) = (a.f32()?, a.f32()?);
    if min.is_nan() || max.is_nan() || min > max {
        return Err(invalid(format!("clamp [{min}, {max}]")));
    }
    Ok(Clamp { min, max })
}

fn pair(a: &mut Reader, what: &str, min: usize) -> Result<[usize; 2], BlobError> {
    let v = [a.u32()? as usize, a.u32()? as usize];
    if v.iter().any(|&x| x < min || x > 1 << 16) {
        return Err(invalid(format!("{what} {v:?}")));
    }
    Ok(v)
}

/// A pooling node's kind, padding, stride and filter (fp32 and int8 alike).
fn pool_geometry(a: &mut Reader) -> Result<(PoolKind, Padding, [usize; 2], [usize; 2]), BlobError> {
    let kind = match a.u8()? {
        0 => PoolKind::Average,
        1 => PoolKind::Max,
        k => return Err(invalid(format!("pool kind {k}"))),
    };
    let padding = pads(a)?;
    let stride = pair(a, "stride", 1)?;
    let filter = pair(a, "filter", 1)?;
    Ok((kind, padding, stride, filter))
}

fn pads(a: &mut Reader) -> Result<Padding, BlobError> {
    let mut p = [0usize; 4];
    for x in &mut p {
        *x = a.u32()? as usize;
        if *x > 1 << 16 {
            return Err(invalid(format!("padding {x}")));
        }
    }
    Ok(Padding::Explicit(p))
}

/// Decodes one node's attributes into an IR op; `n_in` is its input count.
fn read_op(opcode: u16, a: &mut Reader, n_in: usize) -> Result<Op, BlobError> {
    let inputs = |lo: usize, hi: usize| if (lo..=hi).contains(&n_in) { Ok(()) } else { Err(invalid(format!("{n_in} inputs, expected {lo} to {hi}"))) };
    let op = match opcode {
        1..=3 => {
            inputs(2, 3)?;
            let padding = pads(a)?;
            let stride = pair(a, "stride", 1)?;
            let dilation = pair(a, "dilation", 1)?;
            let clamp = clamp(a)?;
            match opcode {
                1 => Op::Conv2d { padding, stride, dilation, clamp },
                2 => {
                    let depth_multiplier = a.u32()? as usize;
                    if depth_multiplier == 0 {
                        return Err(invalid("depth multiplier 0"));
                    }
                    Op::DepthwiseConv2d { padding, stride, dilation, depth_multiplier, clamp }
                }
                _ => {
                    let groups = a.u32()? as usize;
                    if groups < 2 {
                        return Err(invalid(format!("{groups} groups")));
                    }
                    Op::GroupedConv2d { groups, padding, stride, dilation, clamp }
                }
            }
        }
        4 => {
            inputs(2, 3)?;
            let clamp = clamp(a)?;
            Op::FullyConnected { clamp, keep_num_dims: bool_(a)? }
        }
        5 => {
            inputs(2, 2)?;
            let op = match a.u8()? {
                0 => BinaryOp::Add,
                1 => BinaryOp::Sub,
                2 => BinaryOp::Mul,
                3 => BinaryOp::Div,
                4 => BinaryOp::Maximum,
                5 => BinaryOp::Minimum,
                k => return Err(invalid(format!("binary op {k}"))),
            };
            Op::Binary { op, clamp: clamp(a)? }
        }
        6 => {
            inputs(1, 1)?;
            Op::Unary(UnaryOp::Clamp(clamp(a)?))
        }
        7 => unary(n_in, UnaryOp::Logistic)?,
        8 => unary(n_in, UnaryOp::Tanh)?,
        9 => unary(n_in, UnaryOp::HardSwish)?,
        10 => {
            inputs(1, 1)?;
            Op::Gelu { tanh_approx: bool_(a)? }
        }
        11 => {
            inputs(1, 1)?;
            let (kind, padding, stride, filter) = pool_geometry(a)?;
            Op::Pool2d { kind, padding, stride, filter, clamp: Clamp::NONE }
        }
        12 => {
            inputs(1, 1)?;
            let keep_dims = bool_(a)?;
            let n = a.u8()? as usize;
            let axes = (0..n).map(|_| a.i32().map(i64::from)).collect::<Result<Vec<_>, _>>()?;
            Op::Mean { axes, keep_dims }
        }
        13 => {
            inputs(1, 1)?;
            let rank = a.u8()? as usize;
            let target = (0..rank).map(|_| a.i64()).collect::<Result<Vec<_>, _>>()?;
            if rank > MAX_RANK || target.iter().filter(|&&d| d == -1).count() > 1 || target.iter().any(|&d| !(-1..=i32::MAX as i64).contains(&d)) {
                return Err(invalid(format!("reshape target {target:?}")));
            }
            Op::Reshape(ReshapeRule::To(target))
        }
        14 => {
            inputs(1, 1)?;
            let rank = a.u8()? as usize;
            let perm = (0..rank).map(|_| a.u8().map(usize::from)).collect::<Result<Vec<_>, _>>()?;
            Op::Transpose { perm }
        }
        15 => Op::Concat { axis: a.i32()? as i64 },
        16 => {
            inputs(1, 1)?;
            let rank = a.u8()? as usize;
            let pads = (0..rank)
                .map(|_| {
                    let (b, e) = (a.u32()? as usize, a.u32()? as usize);
                    if b > 1 << 20 || e > 1 << 20 {
                        return Err(invalid(format!("pad ({b}, {e})")));
                    }
                    Ok((b, e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Op::Pad { pads }
        }
        17 => {
            inputs(1, 1)?;
            let beta = a.f32()?;
            if !beta.is_finite() {
                return Err(invalid(format!("softmax beta {beta}")));
            }
            Op::Softmax { beta }
        }
        18 => {
            inputs(1, 1)?;
            let size = pair(a, "output size", 1)?;
            Op::ResizeBilinear { size, align_corners: bool_(a)?, half_pixel_centers: bool_(a)? }
        }
        19 => {
            inputs(2, 2)?;
            Op::BatchMatMul
        }
        20 => {
            inputs(1, 1)?;
            let alpha = a.f32()?;
            if !alpha.is_finite() {
                return Err(invalid(format!("leaky relu alpha {alpha}")));
            }
            Op::Unary(UnaryOp::LeakyRelu(alpha))
        }
        k => return Err(invalid(format!("unknown opcode {k}"))),
    };
    Ok(op)
}

fn unary(n_in: usize, u: UnaryOp) -> Result<Op, BlobError> {
    if n_in != 1 {
        return Err(invalid(format!("{n_in} inputs, expected 1")));
    }
    Ok(Op::Unary(u))
}

fn bool_(a: &mut Reader) -> Result<bool, BlobError> {
    match a.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(invalid(format!("boolean {v}"))),
    }
}

/// Semantic checks: weights are constants of the right shape, and shape
/// inference reproduces every recorded shape.
fn check(graph: &Graph) -> Result<(), BlobError> {
    for &t in graph.inputs.iter().chain(&graph.outputs) {
        if graph.tensors[t].dtype != DType::F32 {
            return Err(invalid(format!("boundary tensor {t} is {} (a partition takes and gives float32)", graph.tensors[t].dtype.name())));
        }
    }
    for node in &graph.nodes {
        let n = node.source;
        let out_dtype = graph.tensors[node.outputs[0]].dtype;
        match &node.op {
            Op::Quant(q) => {
                if out_dtype != q.output_dtype() {
                    return Err(invalid(format!("node {n} ({}): writes {} into a {} tensor", q.name(), q.output_dtype().name(), out_dtype.name())));
                }
            }
            Op::Reshape(_) => {
                let in_dtype = graph.tensors[node.inputs[0]].dtype;
                if in_dtype != out_dtype || in_dtype == DType::I32 {
                    return Err(invalid(format!("node {n} (reshape): {} to {}", in_dtype.name(), out_dtype.name())));
                }
                if in_dtype == DType::I8 && graph.tensors[node.inputs[0]].quant != graph.tensors[node.outputs[0]].quant {
                    return Err(invalid(format!("node {n} (reshape): int8 input and output quantized differently")));
                }
            }
            op => {
                if let Some(&t) = node.inputs.iter().chain(&node.outputs).find(|&&t| graph.tensors[t].dtype != DType::F32) {
                    return Err(invalid(format!("node {n} ({}): tensor {t} is {}, the op takes float32", op.name(), graph.tensors[t].dtype.name())));
                }
            }
        }
        let weights = matches!(node.op, Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::GroupedConv2d { .. } | Op::FullyConnected { .. });
        if weights {
            for &w in &node.inputs[1..] {
                if graph.tensors[w].constant.is_none() {
                    return Err(invalid(format!("node {n} ({}): weight tensor {w} is not a constant", node.op.name())));
                }
            }
            if let Some(&b) = node.inputs.get(2) {
                let rank = graph.tensors[b].shape.len();
                if rank != 1 {
                    return Err(invalid(format!("node {n}: bias of rank {rank}")));
                }
            }
        }
        if let Op::Pool2d { filter, padding: Padding::Explicit(p), .. } = &node.op {
            if p[0] >= filter[0] || p[1] >= filter[0] || p[2] >= filter[1] || p[3] >= filter[1] {
                return Err(invalid(format!("node {n}: pool padding {p:?} as large as the window {filter:?}")));
            }
        }
        let ins: Vec<&[usize]> = node.inputs.iter().map(|&i| graph.tensors[i].shape.as_slice()).collect();
        let outs = shapes::infer(&node.op, &ins).map_err(|e| invalid(format!("node {n} ({}): {e}", node.op.name())))?;
        let want = &graph.tensors[node.outputs[0]].shape;
        if &outs[0] != want {
            return Err(invalid(format!("node {n} ({}): armrest computes shape {:?}, the blob records {want:?}", node.op.name(), outs[0])));
        }
        if let Op::Concat { .. } | Op::Binary { .. } = node.op {
            // Shape inference checked the operands; nothing more.
        }
    }
    Ok(())
}

