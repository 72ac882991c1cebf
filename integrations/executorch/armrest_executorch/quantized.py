"""PT2E int8 programs (static quantization: per-tensor int8 activations,
per-channel or per-tensor int8 weights, as `XNNPACKQuantizer` with
`get_symmetric_quantization_config(is_per_channel=True)` makes them).

After `convert_pt2e` and `to_edge`, a quantized op is a pattern

    dequantize_per_tensor(x_q) ─┐
    dequantize_per_channel(W_q) ─┼─ op ─ [relu | hardtanh | clamp] ─ quantize_per_tensor ─> y_q
    fp32 bias ──────────────────┘

armrest lowers such a pattern to one int8 op of the blob (version 2) when
its int8 kernels compute it: convolution (groups 1 or depthwise with any
multiplier), linear, add / sub / mul, max / average pooling, mean and
adaptive average pooling to 1x1, cat, view / reshape / flatten, clone,
relu / hardtanh / clamp (fused into the producer's int8 bounds when it is
the producer's only user, otherwise applied to the dequantized values).
The requantization is the kernels' (TFLite's fixed-point multiplier per
output channel; the bias is quantized ahead of time to int32 with scale
input scale x weight scale, as XNNPACK's lowering does).

What the int8 kernels do not express stays with ExecuTorch, with a reason:
grouped (non-depthwise) convolutions, transposed convolutions, average
pooling that counts padding, other ops between dequantize and quantize.
A lone `quantize_per_tensor` of a float value becomes QUANTIZE, a lone
`dequantize_per_tensor` DEQUANTIZE, so partitions take and give fp32.

Support is decided per node from the graph's structure only (never from
another node's support), so the partitioner and the lowering agree:
- `quantize_per_tensor` (Q): valid int8 parameters, an fp32 input, and
  only dequantize users (its input may be a node left to ExecuTorch: the
  fp32 value then enters the partition and is quantized there).
- `dequantize_per_tensor` (DQ): valid int8 parameters equal to its
  producer Q's, and that Q is supported.
- `dequantize_per_channel` of a constant (weights): every user is a
  supported op reading it as its weight.
- an op whose activations all come from supported DQs and whose only user
  (after at most one fused clamp) is a Q: an int8 pattern, checked against
  the int8 kernels; any other op: the fp32 rules, with dequantized weights
  folded into fp32 constants.
"""

from __future__ import annotations

import operator
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from . import blob as B

Q = "quantized_decomposed.quantize_per_tensor.default"
DQ = "quantized_decomposed.dequantize_per_tensor.default"
DQC = "quantized_decomposed.dequantize_per_channel.default"
QUANT_OPS = {Q, DQ, DQC}

CONV = "aten.convolution.default"
LINEAR = "aten.linear.default"
BINARY = {"aten.add.Tensor": "add", "aten.sub.Tensor": "sub", "aten.mul.Tensor": "mul"}
POOLS = {"aten.max_pool2d_with_indices.default", "aten.max_pool2d.default", "aten.avg_pool2d.default"}
MEANS = {"aten.mean.dim", "aten._adaptive_avg_pool2d.default"}
CAT = "aten.cat.default"
RESHAPES = {"aten.view_copy.default", "aten.view.default", "aten._unsafe_view.default", "aten.reshape.default",
            "aten.squeeze_copy.dims", "aten.squeeze_copy.dim", "aten.unsqueeze_copy.default", "aten.flatten.using_ints"}
IDENTITIES = {"aten.clone.default", "aten.alias_copy.default", "aten.dropout.default",
              "dim_order_ops._clone_dim_order.default"}
CLAMPS = {"aten.relu.default", "aten.hardtanh.default", "aten.clamp.default"}
# Ops that take a fused clamp into their int8 output bounds.
FUSES_CLAMP = {CONV, LINEAR, *BINARY, *POOLS}
INT8_OPS = {CONV, LINEAR, *BINARY, *POOLS, *MEANS, CAT, *RESHAPES, *IDENTITIES, *CLAMPS}

NOT_QUANTIZED = object()


def _name(node) -> str:
    from .lowering import op_name

    return op_name(node) if isinstance(node, torch.fx.Node) and node.op == "call_function" else ""


def qargs(node) -> Tuple[Optional[B.QParams], Optional[str]]:
    """(per-tensor parameters, None) of a Q / DQ node, or (None, reason)."""
    args = list(node.args) + [None] * 6
    x, scale, zp, qmin, qmax, dtype = args[:6]
    if dtype != torch.int8 or qmin != -128 or qmax != 127:
        return None, f"{_name(node)} to {dtype} [{qmin}, {qmax}] (armrest's int8 is torch.int8 [-128, 127])"
    if not isinstance(scale, (float, int)) or isinstance(scale, bool) or not (np.isfinite(scale) and scale > 0):
        return None, f"scale {scale!r} (a positive float expected)"
    if not isinstance(zp, int) or not -128 <= zp <= 127:
        return None, f"zero point {zp!r}"
    od = node.kwargs.get("out_dtype")
    if od not in (None, torch.float32):
        return None, f"dequantize to {od}"
    return B.QParams.per_tensor(float(np.float32(scale)), int(zp)), None


def activation_inputs(node) -> List:
    """The activation operands of an int8-pattern op (weights and bias excluded)."""
    name = _name(node)
    if name in (CONV, LINEAR):
        return [node.args[0]]
    if name in BINARY:
        return list(node.args[:2])
    if name == CAT:
        return list(node.args[0])
    return [node.args[0]]


def output_q(node) -> Optional[Tuple[Optional[torch.fx.Node], torch.fx.Node]]:
    """(fused clamp or None, Q) when `node`'s result is quantized by its only
    user (through at most one clamp for the ops that fuse one)."""
    name = _name(node)
    out = node
    if name == "aten.max_pool2d_with_indices.default":
        users = list(node.users)
        if len(users) != 1 or users[0].target is not operator.getitem or users[0].args[1] != 0:
            return None
        out = users[0]
    users = list(out.users)
    if len(users) != 1:
        return None
    u = users[0]
    clamp = None
    if _name(u) in CLAMPS and name in FUSES_CLAMP:
        clamp = u
        users = list(u.users)
        if len(users) != 1:
            return None
        u = users[0]
    if _name(u) != Q:
        return None
    return clamp, u


def is_dq(x) -> bool:
    return isinstance(x, torch.fx.Node) and _name(x) == DQ


def is_int8_pattern(node) -> bool:
    """The op's activations all come from DQs and its result goes to one Q."""
    name = _name(node)
    if name not in INT8_OPS:
        return False
    ins = activation_inputs(node)
    return len(ins) > 0 and all(is_dq(x) for x in ins) and output_q(node) is not None


def _clamp_of_int8_pattern(node) -> Optional[torch.fx.Node]:
    """The int8-pattern producer a clamp is fused into, if any."""
    src = node.args[0] if node.args else None
    if isinstance(src, torch.fx.Node) and _name(src) in FUSES_CLAMP and is_int8_pattern(src):
        c = output_q(src)
        if c is not None and c[0] is node:
            return src
    if isinstance(src, torch.fx.Node) and src.target is operator.getitem and is_int8_pattern(src.args[0]):
        c = output_q(src.args[0])
        if c is not None and c[0] is node:
            return src.args[0]
    return None


def dequantized_constant(ep, node) -> Optional[torch.Tensor]:
    """The fp32 value of `dequantize_per_channel` / `dequantize_per_tensor` of a constant."""
    from .lowering import constant_of

    name = _name(node)
    if name not in (DQ, DQC):
        return None
    q = constant_of(ep, node.args[0])
    if q is None:
        return None
    args = [constant_of(ep, a) if isinstance(a, torch.fx.Node) else a for a in node.args]
    if any(a is None for a in args):
        return None
    if any(_is_fake(a) for a in args):
        # The partitioner sees fake constants: only the shape is known.
        return torch.empty(q.shape, dtype=torch.float32, device="meta")
    op = torch.ops.quantized_decomposed.dequantize_per_channel.default if name == DQC else torch.ops.quantized_decomposed.dequantize_per_tensor.default
    return op(*args).float()


def _is_fake(t) -> bool:
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(t, FakeTensor) or (isinstance(t, torch.Tensor) and t.device.type == "meta")


def _int8_weights(ep, node):
    """(the int8 constant, None) that a DQC / DQ node dequantizes, or (None, reason)."""
    from .lowering import constant_of

    if _name(node) not in (DQC, DQ):
        return None, "weights are not dequantized int8 constants"
    w = constant_of(ep, node.args[0])
    if w is None or w.dtype != torch.int8:
        return None, "weights are not an int8 constant"
    return w, None


def _dqc_params(ep, node, w):
    """((scale tensor, zero-point tensor, axis), None) of a per-channel DQC of
    the int8 constant `w`, or (None, reason)."""
    from .lowering import constant_of

    _, scale, zp, axis, qmin, qmax, dtype = node.args[:7]
    s, z = constant_of(ep, scale), constant_of(ep, zp)
    if s is None or z is None or s.dim() != 1 or z.shape != s.shape:
        return None, "weight scales / zero points are not constant vectors"
    if dtype != torch.int8:
        return None, f"weights of {dtype}"
    return (s, z, axis % w.dim()), None


def weight_info(ep, node) -> Tuple[Optional[Tuple[Tuple[int, ...], int, int]], Optional[str]]:
    """((weight shape, scale count, axis), None) of int8 weights dequantized from
    constants, or (None, reason). Structure only (the partitioner's constants are fake)."""
    w, why = _int8_weights(ep, node)
    if w is None:
        return None, why
    if _name(node) == DQC:
        sza, why = _dqc_params(ep, node, w)
        if sza is None:
            return None, why
        return (tuple(w.shape), int(sza[0].shape[0]), sza[2]), None
    p, why = qargs(node)
    if p is None:
        return None, why
    if p.zero_point[0] != 0:
        return None, "weights with a non-zero zero point (the int8 kernels take symmetric weights)"
    return (tuple(w.shape), 1, 0), None


def weight_q(ep, node) -> Tuple[Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, int]], Optional[str]]:
    """((int8 weights, scales, zero points, axis), None) of a DQC / DQ of a constant, or (None, reason)."""
    w, why = _int8_weights(ep, node)
    if w is None:
        return None, why
    if _name(node) == DQC:
        sza, why = _dqc_params(ep, node, w)
        if sza is None:
            return None, why
        s, z, axis = sza
        s = s.detach().double().numpy().astype(np.float32)
        z = z.detach().numpy().astype(np.int64)
    else:
        p, why = qargs(node)
        if p is None:
            return None, why
        s, z, axis = np.array(p.scale, np.float32), np.array(p.zero_point, np.int64), 0
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        from .lowering import Unsupported

        raise Unsupported(f"{node.name}: weight scales are not positive")
    if np.any(z != 0):
        from .lowering import Unsupported

        raise Unsupported(f"{node.name}: weights with non-zero zero points (the int8 kernels take symmetric weights)")
    return (w.detach().numpy().astype(np.int8), s, z.astype(np.int32), axis), None


def _const_or_none(ep, node, what) -> Optional[str]:
    from .lowering import constant_of

    if node is None:
        return None
    c = constant_of(ep, node)
    if c is None or c.dtype != torch.float32:
        return f"{what} is not an fp32 constant"
    return None


def int8_check(node, ep) -> Optional[str]:
    """None when the int8 kernels compute this int8-pattern op, else why not."""
    from .lowering import fake, _pool_args

    name = _name(node)
    for x in activation_inputs(node):
        why = dq_check(x, ep)
        if why:
            return f"input {x.name}: {why}"
    clamp, q = output_q(node)
    p, why = qargs(q)
    if p is None:
        return f"output {q.name}: {why}"
    if clamp is not None:
        from .lowering import clamp_bounds

        b = clamp_bounds(clamp)
        if b is None or b[0] > b[1]:
            return "clamp with tensor bounds or an empty range"
    if name == CONV:
        x, w, b, stride, padding, dilation, transposed, _, groups = node.args[:9]
        if transposed:
            return "int8 transposed convolution (no int8 kernel)"
        if fake(x) is None or fake(x).dim() != 4:
            return "int8 convolution that is not 2-d"
        cin = fake(x).shape[1]
        cout = fake(w).shape[0]
        if groups != 1 and not (groups == cin and fake(w).shape[1] == 1 and cout % cin == 0):
            return f"int8 grouped convolution with {groups} groups (armrest's int8 kernels do groups=1 and depthwise)"
        wi, why = weight_info(ep, w)
        if wi is None:
            return why
        if wi[2] != 0 or (wi[1] != 1 and wi[1] != cout):
            return f"weights quantized along axis {wi[2]} (output channels expected)"
        return _const_or_none(ep, b, "bias")
    if name == LINEAR:
        x, w = node.args[:2]
        b = node.args[2] if len(node.args) > 2 else None
        wi, why = weight_info(ep, w)
        if wi is None:
            return why
        if len(wi[0]) != 2 or wi[2] != 0 or (wi[1] != 1 and wi[1] != wi[0][0]):
            return "linear weights not [out, in] quantized per output channel"
        return _const_or_none(ep, b, "bias")
    if name in BINARY:
        if node.kwargs.get("alpha", 1) != 1:
            return "alpha != 1"
        return None
    if name in POOLS:
        kernel, stride, padding, dilation, ceil, include_pad, divisor = _pool_args(node)
        if dilation != [1, 1] or ceil or divisor is not None:
            return "dilated, ceil_mode or divisor_override pooling"
        if name == "aten.avg_pool2d.default" and include_pad and padding != [0, 0]:
            return "int8 average pooling counting padding"
        if any(2 * pd > k for pd, k in zip(padding, kernel)):
            return "padding larger than half the window"
        return None
    if name == "aten._adaptive_avg_pool2d.default":
        if list(node.args[1]) != [1, 1]:
            return "int8 adaptive pooling to a size other than 1x1"
        return None
    if name == "aten.mean.dim":
        dims = node.args[1] if len(node.args) > 1 else None
        if not dims:
            return "mean over all dims"
        return None
    if name == CAT:
        if len(node.args[0]) > 255:
            return "too many operands"
        return None
    if name in RESHAPES:
        out = fake(node)
        if out is None or sum(not isinstance(d, int) for d in out.shape) > 1:
            return "more than one dynamic dim in a reshape"
        return None
    if name in CLAMPS:
        from .lowering import clamp_bounds

        b = clamp_bounds(node)
        if b is None or b[0] > b[1]:
            return "clamp with tensor bounds or an empty range"
        return None
    return None


def dq_check(node, ep) -> Optional[str]:
    p, why = qargs(node)
    if p is None:
        return why
    src = node.args[0]
    if _name(src) != Q:
        return "dequantizes a value armrest does not quantize (int8 partition input)"
    sp, why = qargs(src)
    if sp is None:
        return f"its quantize: {why}"
    if sp != p:
        return "dequantizes with parameters other than its quantize's"
    return q_check(src, ep)


def q_check(node, ep) -> Optional[str]:
    from .lowering import check_node, fake

    p, why = qargs(node)
    if p is None:
        return why
    src = node.args[0]
    f = fake(src)
    if f is None or f.dtype != torch.float32:
        return "quantizes a non-fp32 value"
    if not isinstance(src, torch.fx.Node):
        return "quantizes a non-tensor"
    for u in node.users:
        if _name(u) != DQ:
            return f"int8 value used by {u.name} (armrest's partitions take and give fp32)"
    if src.op == "placeholder":
        return None
    if _name(src) == DQ:
        return dq_check(src, ep)
    # A producer armrest does not take runs in ExecuTorch; its fp32 result
    # enters the partition and is quantized there (QUANTIZE).
    check_node(src, ep)
    return None


def check(node, ep):
    """NOT_QUANTIZED for nodes the fp32 rules decide; else None (supported) or the reason."""
    name = _name(node)
    if name == Q:
        return q_check(node, ep)
    if name == DQ:
        if dequantized_constant(ep, node) is not None:
            return dqc_check(node, ep)
        return dq_check(node, ep)
    if name == DQC:
        return dqc_check(node, ep)
    if name in QUANT_OPS or (name.startswith("quantized_decomposed.") and name):
        return f"{name} is not supported"
    if is_int8_pattern(node):
        return int8_check(node, ep)
    if name in CLAMPS:
        src = _clamp_of_int8_pattern(node)
        if src is not None:
            from .lowering import check_node

            why = check_node(src, ep)
            return None if why is None else f"fused into {src.name}, which armrest does not take ({why})"
    if node.target is operator.getitem and is_int8_pattern(node.args[0]):
        return int8_check(node.args[0], ep)
    return NOT_QUANTIZED


def dqc_check(node, ep) -> Optional[str]:
    """Dequantized weights: taken when every user is a supported op reading them as a weight."""
    from .lowering import check_node

    if dequantized_constant(ep, node) is None:
        return "dequantizes a non-constant"
    users = list(node.users)
    if not users:
        return "unused"
    for u in users:
        if u.op != "call_function" or node not in u.args[1:]:
            return f"dequantized weights used by {u.name} as an activation"
        why = check_node(u, ep)
        if why is not None:
            return f"used by {u.name}, which armrest does not take ({why})"
    return None


# --------------------------------------------------------------------------
# Lowering
# --------------------------------------------------------------------------

def _round_bounds(p: B.QParams, lo: float, hi: float) -> Tuple[int, int]:
    """A clamp [lo, hi] on real values as int8 bounds, quantized as PyTorch's quantize_per_tensor does."""
    f = torch.ops.quantized_decomposed.quantize_per_tensor.default
    t = torch.tensor([max(lo, -3e38), min(hi, 3e38)], dtype=torch.float32)
    q = f(t, p.scale[0], p.zero_point[0], -128, 127, torch.int8)
    return int(q[0]), int(q[1])


def _bounds(p: B.QParams, clamp) -> Tuple[int, int]:
    if clamp is None:
        return -128, 127
    from .lowering import clamp_bounds

    lo, hi = clamp_bounds(clamp)
    return _round_bounds(p, lo, hi)


class QLowering:
    """The int8 half of `Lowering` (one instance per lowering)."""

    def __init__(self, L):
        self.L = L
        # DQ node -> the int8 value it reads.
        self.dq_src: Dict[torch.fx.Node, object] = {}
        # int8 tensor id -> (fp32 Value it quantizes, params): re-quantized in another layout on demand.
        self.quantized_from: Dict[int, object] = {}
        # (fp32 tid, layout, params) -> int8 Value
        self.qcache: Dict[Tuple, object] = {}
        # int8 tid -> the blob node index writing it with adjustable bounds.
        self.bounded: Dict[int, int] = {}

    # values --------------------------------------------------------------
    def qvalue(self, node):
        """The int8 value behind a DQ node of the partition."""
        if node in self.dq_src:
            return self.dq_src[node]
        raise ValueError(f"{node.name} has no int8 value")

    def dequantize(self, v):
        """DEQUANTIZE of an int8 value, in its layout."""
        from .lowering import Value

        L = self.L
        t = L.w.node(B.DEQUANTIZE, [v.tid], L.phys_shape(v))
        return Value(t, v.layout, v.shape, v.dynamic)

    def quantize(self, v, p: B.QParams):
        """QUANTIZE of an fp32 value (cached per value, layout and parameters)."""
        from .lowering import Value

        L = self.L
        key = (v.tid, v.layout, p.scale, p.zero_point)
        if key in self.qcache:
            return self.qcache[key]
        t = L.w.qnode(B.QUANTIZE, [v.tid], L.phys_shape(v), p)
        out = Value(t, v.layout, v.shape, v.dynamic, p)
        self.quantized_from[t] = v
        self.qcache[key] = out
        return out

    def requantize(self, v, p: B.QParams):
        from .lowering import Value

        if v.q == p:
            return v
        L = self.L
        t = L.w.qnode(B.QUANTIZE, [v.tid], L.phys_shape(v), p)
        return Value(t, v.layout, v.shape, v.dynamic, p)

    def to_layout(self, v, layout: str):
        """An int8 value in another layout: a free reshape when the memory
        order does not change, else a re-quantization of the fp32 source in
        that layout, else dequantize → transpose → quantize (exact: each int8
        value round-trips through fp32 unchanged)."""
        from .lowering import Value, NCHW_TO_NHWC

        L = self.L
        if v.layout == layout:
            return v
        if layout == "nhwc" and len(v.shape) != 4:
            from .lowering import Unsupported

            raise Unsupported(f"NHWC wanted for rank {len(v.shape)}")
        phys = [v.shape[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else list(v.shape)
        if L.nhwc_is_plain(v):
            t = L.w.qnode(B.RESHAPE, [v.tid], phys, v.q, B.reshape_attrs([-1 if d else s for s, d in zip(phys, L.dyn_for(layout, v))]))
            return Value(t, layout, v.shape, v.dynamic, v.q)
        src = self.quantized_from.get(v.tid)
        if src is not None:
            return self.quantize(L.to_layout(src, layout), v.q)
        f = L.to_layout(self.dequantize(v), layout)
        return self.quantize(f, v.q)

    # nodes ---------------------------------------------------------------
    def lower(self, node) -> bool:
        """Lowers `node` if it is a quantized node or an int8 pattern; False otherwise."""
        L = self.L
        name = _name(node)
        if name == DQC or (name == DQ and dequantized_constant(L.ep, node) is not None):
            return True  # weights: read by their users
        if name == DQ:
            self.dq_src[node] = self.quantized_input(node)
            return True
        if name == Q:
            p, _ = qargs(node)
            src = node.args[0]
            if _name(src) == DQ and src in self.dq_src:
                L.set(node, self.requantize(self.dq_src[src], p))
            else:
                L.set(node, self.quantize(L.value(src), p))
            return True
        if is_int8_pattern(node) and all(x in self.dq_src for x in activation_inputs(node)):
            self.lower_int8(node)
            return True
        return False

    def quantized_input(self, dq):
        """The int8 value a DQ reads: its Q's value (lowered before it)."""
        L = self.L
        src = dq.args[0]
        if src in L.values and L.values[src].q is not None:
            return L.values[src]
        from .lowering import Unsupported

        raise Unsupported(f"{dq.name} reads {src.name}, which has no int8 value in this partition")

    def lower_int8(self, node):
        from .lowering import Value, NCHW_TO_NHWC, PHYS, fake, _pool_args, hint, is_static, mean_args, plan_mean

        L = self.L
        name = _name(node)
        clamp, q = output_q(node)
        p, _ = qargs(q)
        qmin, qmax = _bounds(p, clamp)
        L.consumed.add(q)
        if clamp is not None:
            L.consumed.add(clamp)
        ins = [self.dq_src[x] for x in activation_inputs(node)]

        def done(v):
            L.set(q, v)

        if name == CONV:
            x, w, b, stride, padding, dilation, _, _, groups = node.args[:9]
            v = self.to_layout(ins[0], "nhwc")
            W, ws, _, _ = weight_q(L.ep, w)[0]
            n, cin, h, wd = v.shape
            cout, cpg, kh, kw = W.shape
            bias_t = self.bias(b, x.args[1], ws, cout)
            pads = (padding[0], padding[0], padding[1], padding[1])
            dims = [n, cout, L.conv_out(h, kh, stride[0], padding[0], dilation[0]), L.conv_out(wd, kw, stride[1], padding[1], dilation[1])]
            phys = [dims[i] for i in NCHW_TO_NHWC]
            if groups == 1:
                wt = L.w.qconstant(W.transpose(0, 2, 3, 1), "i8", self.wparams(ws, 0))
                t = L.w.qnode(B.QCONV2D, [v.tid, wt, *bias_t], phys, p, B.qconv_attrs(pads, stride, dilation, qmin, qmax))
            else:
                wt = L.w.qconstant(W.transpose(1, 2, 3, 0), "i8", self.wparams(ws, 3))
                t = L.w.qnode(B.QDEPTHWISE_CONV2D, [v.tid, wt, *bias_t], phys, p, B.qconv_attrs(pads, stride, dilation, qmin, qmax, cout // cin))
            self.bounded[t] = len(L.w.nodes) - 1
            done(Value(t, "nhwc", tuple(dims), v.dynamic[:1] + (False, False, False), p))
        elif name == LINEAR:
            x, w = node.args[:2]
            b = node.args[2] if len(node.args) > 2 else None
            v = self.to_layout(ins[0], "plain")
            W, ws, _, _ = weight_q(L.ep, w)[0]
            nout = W.shape[0]
            wt = L.w.qconstant(W, "i8", self.wparams(ws, 0))
            bias_t = self.bias(b, x.args[1], ws, nout)
            shape = v.shape[:-1] + (nout,)
            t = L.w.qnode(B.QLINEAR, [v.tid, wt, *bias_t], shape, p, B.qlinear_attrs(qmin, qmax, len(v.shape) != 2))
            self.bounded[t] = len(L.w.nodes) - 1
            done(Value(t, "plain", shape, v.dynamic[:-1] + (False,), p))
        elif name in BINARY:
            va, vb = ins
            rank = max(len(va.shape), len(vb.shape))
            if rank == 4 and len(va.shape) == 4 and len(vb.shape) == 4 and "nhwc" in (va.layout, vb.layout):
                va, vb = self.to_layout(va, "nhwc"), self.to_layout(vb, "nhwc")
                layout = "nhwc"
            else:
                va, vb = self.to_layout(va, "plain"), self.to_layout(vb, "plain")
                layout = "plain"
            shape = tuple(np.broadcast_shapes(va.shape, vb.shape))
            phys = [shape[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else list(shape)
            dyn = tuple(a or c for a, c in zip((False,) * (rank - len(va.dynamic)) + va.dynamic, (False,) * (rank - len(vb.dynamic)) + vb.dynamic))
            t = L.w.qnode(B.QBINARY, [va.tid, vb.tid], phys, p, B.qbinary_attrs(BINARY[name], qmin, qmax))
            self.bounded[t] = len(L.w.nodes) - 1
            done(Value(t, layout, shape, dyn, p))
        elif name in POOLS:
            kernel, stride, padding, _, _, _, _ = _pool_args(node)
            v = self.to_layout(ins[0], "nhwc")
            n, c, h, w = v.shape
            oh = L.conv_out(h, kernel[0], stride[0], padding[0], 1)
            ow = L.conv_out(w, kernel[1], stride[1], padding[1], 1)
            kind = "avg" if name == "aten.avg_pool2d.default" else "max"
            pads = (padding[0], padding[0], padding[1], padding[1])
            if name == "aten.max_pool2d_with_indices.default":
                L.consumed.update(node.users)
            dims = (n, c, oh, ow)
            if v.q != p:
                # The int8 pooling kernels keep their input's parameters: pool, then requantize.
                lo, hi = _bounds(v.q, clamp)
                t = L.w.qnode(B.QPOOL2D, [v.tid], [n, oh, ow, c], v.q, B.qpool_attrs(kind, pads, stride, kernel, lo, hi))
                return done(self.requantize(Value(t, "nhwc", dims, v.dynamic[:1] + (False,) * 3, v.q), p))
            t = L.w.qnode(B.QPOOL2D, [v.tid], [n, oh, ow, c], p, B.qpool_attrs(kind, pads, stride, kernel, qmin, qmax))
            self.bounded[t] = len(L.w.nodes) - 1
            done(Value(t, "nhwc", dims, v.dynamic[:1] + (False,) * 3, p))
        elif name in MEANS:
            v = ins[0]
            m = plan_mean(L, v, *mean_args(node, len(v.shape)))
            v = self.to_layout(v, m.in_layout)
            t = L.w.qnode(B.QMEAN, [v.tid], m.node_shape, p, B.mean_attrs(m.axes, m.keep))
            done(Value(t, m.out_layout, m.out_shape, m.out_dyn, p))
        elif name == CAT:
            rank = len(ins[0].shape)
            dim = (node.args[1] if len(node.args) > 1 else 0) % rank
            layout = "nhwc" if rank == 4 and all(v.layout == "nhwc" for v in ins) else "plain"
            vals = [self.to_layout(v, layout) for v in ins]
            shape = list(vals[0].shape)
            shape[dim] = sum(v.shape[dim] for v in vals)
            axis = PHYS[dim] if layout == "nhwc" else dim
            phys = [shape[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else shape
            t = L.w.qnode(B.QCONCAT, [v.tid for v in vals], phys, p, np.int32(axis).tobytes())
            done(Value(t, layout, tuple(shape), vals[0].dynamic, p))
        elif name in RESHAPES:
            v = ins[0]
            if v.layout == "nhwc" and not L.nhwc_is_plain(v):
                v = self.to_layout(v, "plain")
            out = fake(node)
            target = [d if is_static(d) else -1 for d in out.shape]
            shape = tuple(hint(d) for d in out.shape)
            t = L.w.qnode(B.RESHAPE, [v.tid], shape, v.q, B.reshape_attrs(target))
            done(self.requantize(Value(t, "plain", shape, tuple(not is_static(d) for d in out.shape), v.q), p))
        elif name in IDENTITIES:
            done(self.requantize(ins[0], p))
        elif name in CLAMPS:
            from .lowering import clamp_bounds

            v = ins[0]
            lo, hi = clamp_bounds(node)
            k = self.bounded.get(v.tid)
            dq = node.args[0]
            srcq = dq.args[0]
            exclusive = len(dq.users) == 1 and len(srcq.users) == 1 and srcq not in L.outputs and dq not in L.outputs
            if v.q == p and k is not None and exclusive and self.sole_reader(v.tid):
                # Tighten the producer's int8 bounds: exact, since rounding is monotonic.
                self.tighten(k, *_round_bounds(p, lo, hi))
                return done(v)
            f = self.dequantize(v)
            t = L.w.node(B.CLAMP, [f.tid], L.phys_shape(f), B.clamp_attrs(lo, hi))
            done(self.quantize(Value(t, f.layout, f.shape, f.dynamic), p))
        else:  # pragma: no cover - is_int8_pattern admits only the ops above
            raise ValueError(name)

    def sole_reader(self, tid: int) -> bool:
        """No node of the blob reads `tid` yet and it is no output (then a clamp may narrow its writer)."""
        L = self.L
        return not any(tid in ins for _, ins, _, _ in L.w.nodes)

    def tighten(self, k: int, lo: int, hi: int):
        """Narrows the int8 bounds (the attrs' last two i32 before any trailing field) of node k."""
        import struct

        L = self.L
        opcode, ins, out, attrs = L.w.nodes[k]
        off = {B.QCONV2D: 32, B.QDEPTHWISE_CONV2D: 32, B.QLINEAR: 0, B.QBINARY: 1, B.QPOOL2D: 33}[opcode]
        a, b = struct.unpack_from("<2i", attrs, off)
        a, b = max(a, lo), min(b, hi)
        if a > b:
            a = b = min(max(lo, a), hi)
        attrs = attrs[:off] + struct.pack("<2i", a, b) + attrs[off + 8:]
        L.w.nodes[k] = (opcode, ins, out, attrs)

    def wparams(self, scales: np.ndarray, axis: int) -> B.QParams:
        s = tuple(float(v) for v in scales)
        return B.QParams(s, (0,) * len(s), axis if len(s) > 1 else 0)

    def bias(self, b, x_scale: float, w_scales: np.ndarray, n: int) -> List[int]:
        """The fp32 bias as int32 with scale x_scale × w_scale[c] (quantized as XNNPACK's lowering does)."""
        if b is None:
            return []
        bias = self.L.const_array(b).reshape(-1)
        scales = torch.from_numpy(np.broadcast_to(w_scales.astype(np.float32), (n,)).copy()) * float(x_scale)
        zps = torch.zeros(n, dtype=torch.int32)
        q = torch.ops.quantized_decomposed.quantize_per_channel.default(torch.from_numpy(bias.astype(np.float32)), scales, zps, 0, -(2**31), 2**31 - 1, torch.int32)
        s = tuple(float(v) for v in scales.numpy())
        return [self.L.w.qconstant(q.numpy(), "i32", B.QParams(s, (0,) * n, 0) if n > 1 else B.QParams(s, (0,), 0))]
