"""Writer of the armrest delegate blob (version 2: version 1's fp32 graph
plus int8 / int32 tensors with quantization parameters and int8 ops).

The format is specified in ``delegate/src/executorch/FORMAT.md`` (and
summarised in this package's README); the strict reader is
``delegate/src/executorch/blob.rs``. The graph is armrest's IR: NHWC fp32
activations inside the partition, explicit TRANSPOSE nodes at NCHW
boundaries, convolution weights pre-permuted.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

MAGIC = b"ARMRSTET"
VERSION = 2
HEADER_SIZE = 64
# Constants of at least this many bytes go to ExecuTorch's named data store.
NAMED_THRESHOLD = 1024

# Opcodes (FORMAT.md).
CONV2D = 1
DEPTHWISE_CONV2D = 2
GROUPED_CONV2D = 3
LINEAR = 4
BINARY = 5
CLAMP = 6
SIGMOID = 7
TANH = 8
HARDSWISH = 9
GELU = 10
POOL2D = 11
MEAN = 12
RESHAPE = 13
TRANSPOSE = 14
CONCAT = 15
PAD = 16
SOFTMAX = 17
RESIZE_BILINEAR = 18
BATCH_MATMUL = 19
LEAKY_RELU = 20
# Version 2: int8 ops (quantization parameters come from the tensors).
QUANTIZE = 32
DEQUANTIZE = 33
QCONV2D = 34
QDEPTHWISE_CONV2D = 35
QLINEAR = 36
QBINARY = 37
QPOOL2D = 38
QMEAN = 39
QCONCAT = 40

DTYPES = {"f32": 0, "i8": 1, "i32": 2}
NP_DTYPES = {"f32": "<f4", "i8": "i1", "i32": "<i4"}
QBINARY_OPS = {"add": 0, "sub": 1, "mul": 2}

BINARY_OPS = {"add": 0, "sub": 1, "mul": 2, "div": 3, "max": 4, "min": 5}
INF = float("inf")


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


@dataclass
class QParams:
    """Affine quantization: real = scale[c] * (q - zero_point[c]), c along `axis`."""

    scale: Tuple[float, ...]
    zero_point: Tuple[int, ...]
    axis: int = 0

    @staticmethod
    def per_tensor(scale: float, zero_point: int) -> "QParams":
        return QParams((float(scale),), (int(zero_point),), 0)


@dataclass
class _Tensor:
    shape: Tuple[int, ...]
    data: Optional[np.ndarray] = None  # constants only
    dtype: str = "f32"  # "f32", "i8" or "i32"
    quant: Optional[QParams] = None  # every i8 / i32 tensor has one


@dataclass
class BlobWriter:
    """Collects tensors and nodes, then serialises them with `finish`."""

    tensors: List[_Tensor] = field(default_factory=list)
    nodes: List[Tuple[int, List[int], int, bytes]] = field(default_factory=list)
    inputs: List[int] = field(default_factory=list)
    outputs: List[int] = field(default_factory=list)

    def value(self, shape: Sequence[int]) -> int:
        self.tensors.append(_Tensor(tuple(int(d) for d in shape)))
        return len(self.tensors) - 1

    def constant(self, array) -> int:
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        self.tensors.append(_Tensor(tuple(int(d) for d in a.shape), a))
        return len(self.tensors) - 1

    def qvalue(self, shape: Sequence[int], quant: QParams) -> int:
        """An int8 activation (per-tensor quantization)."""
        self.tensors.append(_Tensor(tuple(int(d) for d in shape), None, "i8", quant))
        return len(self.tensors) - 1

    def qconstant(self, array, dtype: str, quant: QParams) -> int:
        """An int8 (weights) or int32 (bias) constant."""
        a = np.ascontiguousarray(np.asarray(array, dtype={"i8": np.int8, "i32": np.int32}[dtype]))
        self.tensors.append(_Tensor(tuple(int(d) for d in a.shape), a, dtype, quant))
        return len(self.tensors) - 1

    def dtype(self, t: int) -> str:
        return self.tensors[t].dtype

    def quant(self, t: int) -> Optional[QParams]:
        return self.tensors[t].quant

    def qnode(self, opcode: int, inputs: Sequence[int], out_shape: Sequence[int], quant: QParams, attrs: bytes = b"") -> int:
        """A node writing an int8 tensor."""
        out = self.qvalue(out_shape, quant)
        self.nodes.append((opcode, list(inputs), out, attrs))
        return out

    def shape(self, t: int) -> Tuple[int, ...]:
        return self.tensors[t].shape

    def is_constant(self, t: int) -> bool:
        return self.tensors[t].data is not None

    def data(self, t: int) -> Optional[np.ndarray]:
        return self.tensors[t].data

    def node(self, opcode: int, inputs: Sequence[int], out_shape: Sequence[int], attrs: bytes = b"") -> int:
        out = self.value(out_shape)
        self.nodes.append((opcode, list(inputs), out, attrs))
        return out

    def prune(self) -> None:
        """Drops nodes whose results nothing uses (e.g. a weight transpose
        the lowering folded into a linear) and tensors no node or boundary
        refers to, renumbering what is left."""
        live = set(self.outputs)
        kept = []
        for node in reversed(self.nodes):
            if node[2] in live:
                kept.append(node)
                live.update(node[1])
        kept.reverse()
        used = set(self.inputs) | set(self.outputs)
        for _, ins, out, _ in kept:
            used.update(ins)
            used.add(out)
        order = sorted(used)
        remap = {old: new for new, old in enumerate(order)}
        self.tensors = [self.tensors[t] for t in order]
        self.nodes = [(op, [remap[i] for i in ins], remap[out], attrs) for op, ins, out, attrs in kept]
        self.inputs = [remap[t] for t in self.inputs]
        self.outputs = [remap[t] for t in self.outputs]

    def finish(self, named_store=None, key_prefix: str = "") -> bytes:
        """Serialises; constants ≥ NAMED_THRESHOLD bytes go to `named_store`
        (an ExecuTorch NamedDataStore) when one is given."""
        data = bytearray()
        recs = bytearray()
        for t in self.tensors:
            kind = 0 if t.data is None else 1
            raw = None
            if t.data is not None:
                raw = t.data.astype(NP_DTYPES[t.dtype]).tobytes()
                if named_store is not None and len(raw) >= NAMED_THRESHOLD:
                    kind = 2
            if len(t.shape) > 6:
                raise ValueError(f"rank {len(t.shape)} > 6")
            recs += struct.pack("<BBBB", kind, DTYPES[t.dtype], len(t.shape), 0)
            recs += struct.pack(f"<{len(t.shape)}I", *t.shape)
            recs += quant_record(t.quant)
            if kind == 1:
                while len(data) % 16:
                    data.append(0)
                recs += struct.pack("<QQ", len(data), len(raw))
                data += raw
            elif kind == 2:
                key = (key_prefix + hashlib.sha256(raw).hexdigest()).encode()
                named_store.add_named_data(key.decode(), raw, alignment=16)
                recs += struct.pack("<I", len(key)) + key + struct.pack("<Q", len(raw))
        graph = bytearray(struct.pack("<IIII", len(self.tensors), len(self.nodes), len(self.inputs), len(self.outputs)))
        graph += recs
        graph += struct.pack(f"<{len(self.inputs)}I", *self.inputs)
        graph += struct.pack(f"<{len(self.outputs)}I", *self.outputs)
        for opcode, ins, out, attrs in self.nodes:
            graph += struct.pack("<HBB", opcode, len(ins), 1)
            graph += struct.pack(f"<{len(ins)}I", *ins)
            graph += struct.pack("<I", out)
            graph += struct.pack("<H", len(attrs)) + attrs
        data_off = -(-(HEADER_SIZE + len(graph)) // 16) * 16
        total = data_off + len(data)
        header = MAGIC + struct.pack("<II", VERSION, HEADER_SIZE)
        header += struct.pack("<QQQQQ", total, HEADER_SIZE, len(graph), data_off, len(data))
        header += struct.pack("<II", 0, fnv1a(bytes(graph)))
        assert len(header) == HEADER_SIZE
        out = bytearray(header) + graph
        out += b"\0" * (data_off - len(out))
        out += data
        return bytes(out)


def quant_record(q: Optional[QParams]) -> bytes:
    """Version 2: u32 count (0: none), then u32 axis, f32 scale[count], i32 zero_point[count]."""
    if q is None:
        return struct.pack("<I", 0)
    n = len(q.scale)
    return struct.pack(f"<II{n}f{n}i", n, q.axis, *q.scale, *q.zero_point)


# Attribute encoders -------------------------------------------------------

def conv_attrs(pads, stride, dilation, clamp=(-INF, INF), extra: Optional[int] = None) -> bytes:
    b = struct.pack("<4I2I2I2f", *pads, *stride, *dilation, *clamp)
    if extra is not None:
        b += struct.pack("<I", extra)
    return b


def clamp_attrs(lo: float, hi: float) -> bytes:
    return struct.pack("<2f", lo, hi)


def linear_attrs(keep_num_dims: bool, clamp=(-INF, INF)) -> bytes:
    return struct.pack("<2fB", *clamp, int(keep_num_dims))


def binary_attrs(op: str, clamp=(-INF, INF)) -> bytes:
    return struct.pack("<B2f", BINARY_OPS[op], *clamp)


def pool_attrs(kind: str, pads, stride, kernel) -> bytes:
    return struct.pack("<B4I2I2I", {"avg": 0, "max": 1}[kind], *pads, *stride, *kernel)


def mean_attrs(axes: Sequence[int], keep_dims: bool) -> bytes:
    return struct.pack(f"<BB{len(axes)}i", int(keep_dims), len(axes), *axes)


def reshape_attrs(target: Sequence[int]) -> bytes:
    return struct.pack(f"<B{len(target)}q", len(target), *target)


def transpose_attrs(perm: Sequence[int]) -> bytes:
    return struct.pack(f"<B{len(perm)}B", len(perm), *perm)


def pad_attrs(pads: Sequence[Tuple[int, int]]) -> bytes:
    flat = [v for p in pads for v in p]
    return struct.pack(f"<B{len(flat)}I", len(pads), *flat)


# Version 2 (int8 ops): the fused activation is an int8 range [qmin, qmax] in the output's domain.

def qconv_attrs(pads, stride, dilation, qmin: int, qmax: int, depth_multiplier: Optional[int] = None) -> bytes:
    b = struct.pack("<4I2I2I2i", *pads, *stride, *dilation, qmin, qmax)
    if depth_multiplier is not None:
        b += struct.pack("<I", depth_multiplier)
    return b


def qlinear_attrs(qmin: int, qmax: int, keep_num_dims: bool) -> bytes:
    return struct.pack("<2iB", qmin, qmax, int(keep_num_dims))


def qbinary_attrs(op: str, qmin: int, qmax: int) -> bytes:
    return struct.pack("<B2i", QBINARY_OPS[op], qmin, qmax)


def qpool_attrs(kind: str, pads, stride, kernel, qmin: int, qmax: int) -> bytes:
    return pool_attrs(kind, pads, stride, kernel) + struct.pack("<2i", qmin, qmax)
