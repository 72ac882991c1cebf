"""Lowering an edge-dialect partition to armrest's IR, and the support
check the partitioner uses. Both go through one table (`OPS`): an op is
tagged for armrest exactly when its `check` passes, and `lower` then handles
every variant `check` accepted.

Layout: PyTorch's rank-4 activations are NCHW; armrest's convolutions,
pools and resizes take NHWC. Each lowered value carries its layout: `plain`
(memory order = PyTorch's logical order) or `nhwc` (a logical NCHW tensor
stored NHWC). Ops ask for the layout they need and `Lowering.to_layout`
inserts a TRANSPOSE only where the layout actually changes in memory; graph
inputs arrive plain and outputs leave plain.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import blob as B
from . import quantized as QZ

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)
# Logical NCHW dim → physical NHWC dim.
PHYS = (0, 3, 1, 2)


def op_name(node: torch.fx.Node) -> str:
    """'aten.convolution.default' for edge and aten targets alike."""
    t = node.target
    if not isinstance(t, torch._ops.OpOverload):
        # An edge op wraps the aten overload in `_op`.
        inner = getattr(t, "_op", None)
        if isinstance(inner, torch._ops.OpOverload):
            t = inner
    return str(t)


def fake(node) -> Optional[torch.Tensor]:
    if not isinstance(node, torch.fx.Node):
        return None
    v = node.meta.get("val")
    return v if isinstance(v, torch.Tensor) else None


def hint(d) -> int:
    if isinstance(d, int):
        return d
    try:
        return int(d.node.hint)
    except Exception:  # noqa: BLE001 - any unbacked or odd symbol
        raise Unsupported(f"dimension {d} has no concrete hint")


def is_static(d) -> bool:
    return isinstance(d, int)


class Unsupported(Exception):
    pass


@dataclass
class Value:
    tid: int
    layout: str  # "plain" or "nhwc"
    shape: Tuple[int, ...]  # logical (PyTorch) shape, hints for symbolic dims
    dynamic: Tuple[bool, ...]  # per logical dim: symbolic at export
    q: Optional[B.QParams] = None  # int8 (with these parameters) when set, else fp32


# --------------------------------------------------------------------------
# Constant access (parameters, buffers, lifted constants of the program)
# --------------------------------------------------------------------------

def constant_of(ep, node) -> Optional[torch.Tensor]:
    """The tensor behind a placeholder that is a parameter, buffer or lifted
    constant, or the fp32 value of a dequantized constant (PT2E weights)."""
    if isinstance(node, torch.fx.Node) and node.op == "call_function" and ep is not None:
        return QZ.dequantized_constant(ep, node)
    if not isinstance(node, torch.fx.Node) or node.op != "placeholder" or ep is None:
        return None
    from torch._export.utils import get_buffer, get_lifted_tensor_constant, get_param

    for get in (get_param, get_buffer, get_lifted_tensor_constant):
        try:
            t = get(ep, node)
        except Exception:  # noqa: BLE001
            t = None
        if t is not None:
            return t
    return None


# --------------------------------------------------------------------------
# The op table
# --------------------------------------------------------------------------

@dataclass
class OpRule:
    check: Callable  # (node, ep) -> Optional[str] (None: supported, else the reason)
    lower: Callable  # (Lowering, node) -> None


OPS: Dict[str, OpRule] = {}


def rule(*names):
    def deco(cls):
        r = OpRule(cls.check, cls.lower)
        for n in names:
            OPS[n] = r
        return cls

    return deco


def _float_tensors(node) -> Optional[str]:
    for a in list(node.args) + [node]:
        items = a if isinstance(a, (list, tuple)) else [a]
        for x in items:
            f = fake(x)
            if f is not None and f.dtype != torch.float32:
                return f"dtype {f.dtype} (armrest runs fp32)"
    return None


# Support results are memoised per node within one session (a partitioning
# or a lowering): the PT2E rules look at a node's producers.
_session = [0]


def new_session() -> None:
    _session[0] += 1


def check_node(node: torch.fx.Node, ep=None) -> Optional[str]:
    """None if armrest supports this node, else the reason it does not."""
    key = (_session[0], id(ep))
    memo = node.meta.get("armrest_check")
    if memo is not None and memo[0] == key:
        return memo[1]
    why = _check_node(node, ep)
    node.meta["armrest_check"] = (key, why)
    return why


def _check_node(node: torch.fx.Node, ep=None) -> Optional[str]:
    if node.op != "call_function":
        return "not a call"
    name = op_name(node)
    if name == str(operator.getitem) or node.target is operator.getitem:
        src = node.args[0]
        if isinstance(src, torch.fx.Node) and op_name(src) in MULTI_OUTPUT and node.args[1] == 0:
            return check_node(src, ep)
        return "getitem of an unsupported producer"
    qwhy = QZ.check(node, ep)
    if qwhy is not QZ.NOT_QUANTIZED:
        return qwhy
    r = OPS.get(name)
    if r is None:
        return f"{name} is not supported"
    why = _float_tensors(node)
    if why:
        return why
    for x in node.all_input_nodes:
        f = fake(x)
        if f is not None and f.dim() > 6:
            return "rank > 6"
    return r.check(node, ep)


MULTI_OUTPUT = {"aten._native_batch_norm_legit_no_training.default", "aten.max_pool2d_with_indices.default"}


def _const(ep, node, what) -> Optional[str]:
    if node is None:
        return None
    if constant_of(ep, node) is None:
        return f"{what} is not a constant"
    return None


@rule("aten.convolution.default")
class Conv:
    @staticmethod
    def check(node, ep):
        x, w, b, stride, padding, dilation, transposed, out_pad, groups = node.args[:9]
        if transposed:
            return "transposed convolution"
        if fake(x) is None or fake(x).dim() != 4:
            return "not a 2-d convolution"
        return _const(ep, w, "weight") or _const(ep, b, "bias")

    @staticmethod
    def lower(L: "Lowering", node):
        x, w, b, stride, padding, dilation, _, _, groups = node.args[:9]
        W = L.const_array(w)
        bias = L.const_array(b) if b is not None else None
        out = node
        clamp = (B.INF * -1, B.INF)
        # Fold a following inference batch norm, then a following clamp.
        bn = L.sole_user(out, "aten._native_batch_norm_legit_no_training.default")
        if bn is not None:
            g = L.getitem_of(bn, 0)
            if g is not None and all(L.getitem_index(u) == 0 for u in bn.users):
                _, gamma, beta, mean, var, _, eps = bn.args[:7]
                scale = L.const_array(gamma) / np.sqrt(L.const_array(var) + eps)
                W = W * scale.reshape(-1, 1, 1, 1)
                bias = (bias if bias is not None else 0.0) - L.const_array(mean)
                bias = bias * scale + L.const_array(beta)
                L.consumed.update({bn, *bn.users})
                out = g
        c = L.fusable_clamp(out)
        if c is not None:
            clamp, act = c
            L.consumed.add(act)
            out = act
        v = L.to_layout(L.value(x), "nhwc")
        n, cin, h, wd = v.shape
        cout, cpg, kh, kw = W.shape
        pads = (padding[0], padding[0], padding[1], padding[1])
        dims = [n, cout, L.conv_out(h, kh, stride[0], padding[0], dilation[0]), L.conv_out(wd, kw, stride[1], padding[1], dilation[1])]
        phys = [dims[i] for i in NCHW_TO_NHWC]
        bias_t = [L.w.constant(bias)] if bias is not None else []
        if groups == 1:
            t = L.w.node(B.CONV2D, [v.tid, L.w.constant(W.transpose(0, 2, 3, 1)), *bias_t], phys, B.conv_attrs(pads, stride, dilation, clamp))
        elif groups == cin and cpg == 1:
            t = L.w.node(B.DEPTHWISE_CONV2D, [v.tid, L.w.constant(W.transpose(1, 2, 3, 0)), *bias_t], phys, B.conv_attrs(pads, stride, dilation, clamp, cout // cin))
        else:
            t = L.w.node(B.GROUPED_CONV2D, [v.tid, L.w.constant(W.transpose(0, 2, 3, 1)), *bias_t], phys, B.conv_attrs(pads, stride, dilation, clamp, groups))
        L.set(out, Value(t, "nhwc", tuple(dims), v.dynamic[:1] + (False, False, False)))


@rule("aten._native_batch_norm_legit_no_training.default")
class BatchNorm:
    """A batch norm not folded into a convolution: x * scale + shift per channel."""

    @staticmethod
    def check(node, ep):
        x, gamma, beta, mean, var = node.args[:5]
        if fake(x) is None or fake(x).dim() < 2:
            return "batch norm of rank < 2"
        return _const(ep, gamma, "weight") or _const(ep, beta, "bias") or _const(ep, mean, "mean") or _const(ep, var, "var")

    @staticmethod
    def lower(L, node):
        x, gamma, beta, mean, var, _, eps = node.args[:7]
        scale = L.const_array(gamma) / np.sqrt(L.const_array(var) + eps)
        shift = L.const_array(beta) - L.const_array(mean) * scale
        v = L.value(x)
        shape = [1] * len(v.shape)
        shape[1] = -1
        y = L.binary("mul", v, L.const_value(scale.reshape(shape)))
        y = L.binary("add", y, L.const_value(shift.reshape(shape)))
        g = L.getitem_of(node, 0)
        L.set(g if g is not None else node, y)


@rule("aten.linear.default")
class Linear:
    @staticmethod
    def check(node, ep):
        x, w = node.args[:2]
        b = node.args[2] if len(node.args) > 2 else None
        return _const(ep, w, "weight") or _const(ep, b, "bias")

    @staticmethod
    def lower(L, node):
        x, w = node.args[:2]
        b = node.args[2] if len(node.args) > 2 else None
        L.linear(node, x, L.const_array(w), L.const_array(b) if b is not None else None)


@rule("aten.addmm.default")
class Addmm:
    @staticmethod
    def check(node, ep):
        bias, a, m2 = node.args[:3]
        if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
            return "addmm with alpha/beta"
        if Addmm.weight(node, ep) is None:
            return "addmm with a non-constant matrix"
        if constant_of(ep, bias) is None:
            return "addmm with a non-constant bias"
        return None

    @staticmethod
    def weight(node, ep):
        """The [n, k] weight of `a @ m2` when m2 is a constant or a permuted constant."""
        m2 = node.args[2]
        c = constant_of(ep, m2)
        if c is not None and c.dim() == 2:
            return c.detach().t()
        if isinstance(m2, torch.fx.Node) and op_name(m2) in ("aten.permute_copy.default", "aten.t_copy.default"):
            c = constant_of(ep, m2.args[0])
            if c is not None and c.dim() == 2:
                return c.detach()
        return None

    @staticmethod
    def lower(L, node):
        bias, a, m2 = node.args[:3]
        W = Addmm.weight(node, L.ep)
        bias = np.broadcast_to(L.const_array(bias), (W.shape[0],))
        L.consumed.discard(m2)
        L.linear(node, a, W.float().contiguous().numpy().astype(np.float32), bias)


@rule("aten.mm.default", "aten.bmm.default")
class Matmul:
    @staticmethod
    def check(node, ep):
        return None

    @staticmethod
    def lower(L, node):
        a, b = node.args[:2]
        if constant_of(L.ep, b) is not None and fake(b).dim() == 2:
            L.linear(node, a, L.const_array(b).T.copy(), None)
            return
        va, vb = L.to_layout(L.value(a), "plain"), L.to_layout(L.value(b), "plain")
        shape = va.shape[:-1] + (vb.shape[-1],)
        t = L.w.node(B.BATCH_MATMUL, [va.tid, vb.tid], shape)
        L.set(node, Value(t, "plain", shape, va.dynamic[:-1] + (False,)))


BINARY = {
    "aten.add.Tensor": "add",
    "aten.sub.Tensor": "sub",
    "aten.mul.Tensor": "mul",
    "aten.div.Tensor": "div",
    "aten.maximum.default": "max",
    "aten.minimum.default": "min",
    "aten.add.Scalar": "add",
    "aten.sub.Scalar": "sub",
    "aten.mul.Scalar": "mul",
    "aten.div.Scalar": "div",
}


@rule(*BINARY)
class Binary:
    @staticmethod
    def check(node, ep):
        if node.kwargs.get("alpha", 1) != 1 or (len(node.args) > 2 and node.args[2] != 1):
            return "alpha != 1"
        if node.kwargs.get("rounding_mode") is not None:
            return "rounding division"
        a, b = node.args[:2]
        for x in (a, b):
            if isinstance(x, torch.fx.Node) and fake(x) is None:
                return "operand is not a tensor"
            if not isinstance(x, (torch.fx.Node, int, float)):
                return f"operand {x!r}"
        return None

    @staticmethod
    def lower(L, node):
        a, b = node.args[:2]
        va, vb = L.operand(a), L.operand(b)
        out = node
        clamp = (-B.INF, B.INF)
        c = L.fusable_clamp(out)
        if c is not None:
            clamp, act = c
            L.consumed.add(act)
            out = act
        L.set(out, L.binary(BINARY[op_name(node)], va, vb, clamp))


CLAMPS = {"aten.relu.default", "aten.hardtanh.default", "aten.clamp.default"}


def clamp_bounds(node) -> Optional[Tuple[float, float]]:
    name = op_name(node)
    if name == "aten.relu.default":
        return (0.0, B.INF)
    if name == "aten.hardtanh.default":
        lo = node.args[1] if len(node.args) > 1 else node.kwargs.get("min_val", -1.0)
        hi = node.args[2] if len(node.args) > 2 else node.kwargs.get("max_val", 1.0)
        return (float(lo), float(hi))
    if name == "aten.clamp.default":
        lo = node.args[1] if len(node.args) > 1 else node.kwargs.get("min")
        hi = node.args[2] if len(node.args) > 2 else node.kwargs.get("max")
        if isinstance(lo, torch.fx.Node) or isinstance(hi, torch.fx.Node):
            return None
        return (-B.INF if lo is None else float(lo), B.INF if hi is None else float(hi))
    return None


@rule(*CLAMPS)
class ClampRule:
    @staticmethod
    def check(node, ep):
        c = clamp_bounds(node)
        if c is None:
            return "clamp with tensor bounds"
        if c[0] > c[1]:
            return "empty clamp range"
        return None

    @staticmethod
    def lower(L, node):
        lo, hi = clamp_bounds(node)
        L.unary(node, B.CLAMP, B.clamp_attrs(lo, hi))


@rule("aten.sigmoid.default", "aten.tanh.default", "aten.hardswish.default", "aten.gelu.default", "aten.leaky_relu.default", "aten.hardsigmoid.default")
class Unary:
    @staticmethod
    def check(node, ep):
        if op_name(node) == "aten.gelu.default" and node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none") not in ("none", "tanh"):
            return "gelu approximation"
        return None

    @staticmethod
    def lower(L, node):
        name = op_name(node)
        if name == "aten.sigmoid.default":
            L.unary(node, B.SIGMOID)
        elif name == "aten.tanh.default":
            L.unary(node, B.TANH)
        elif name == "aten.hardswish.default":
            L.unary(node, B.HARDSWISH)
        elif name == "aten.gelu.default":
            approx = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
            L.unary(node, B.GELU, bytes([int(approx == "tanh")]))
        elif name == "aten.leaky_relu.default":
            alpha = node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
            L.unary(node, B.LEAKY_RELU, np.float32(alpha).tobytes())
        else:  # hardsigmoid = clamp(x / 6 + 1/2, 0, 1)
            v = L.value(node.args[0])
            y = L.binary("mul", v, L.const_value(np.array([1.0 / 6.0], np.float32)))
            y = L.binary("add", y, L.const_value(np.array([0.5], np.float32)), (0.0, 1.0))
            L.set(node, y)


def _pool_args(node):
    name = op_name(node)
    args = list(node.args)
    kernel = list(args[1])
    stride = list(args[2]) if len(args) > 2 and args[2] else kernel
    padding = list(args[3]) if len(args) > 3 else [0, 0]
    if name == "aten.avg_pool2d.default":
        ceil = args[4] if len(args) > 4 else False
        include_pad = args[5] if len(args) > 5 else True
        divisor = args[6] if len(args) > 6 else None
        dilation = [1, 1]
    else:
        dilation = list(args[4]) if len(args) > 4 else [1, 1]
        ceil = args[5] if len(args) > 5 else False
        include_pad, divisor = False, None
    pad2 = lambda v: v * 2 if len(v) == 1 else v  # noqa: E731
    return pad2(kernel), pad2(stride), pad2(padding), pad2(dilation), ceil, include_pad, divisor


@rule("aten.avg_pool2d.default", "aten.max_pool2d_with_indices.default", "aten.max_pool2d.default")
class Pool:
    @staticmethod
    def check(node, ep):
        if fake(node.args[0]).dim() != 4:
            return "pooling of a non-4-d tensor"
        kernel, stride, padding, dilation, ceil, include_pad, divisor = _pool_args(node)
        if dilation != [1, 1]:
            return "dilated pooling"
        if ceil:
            return "ceil_mode"
        if divisor is not None:
            return "divisor_override"
        if op_name(node) == "aten.avg_pool2d.default" and include_pad and padding != [0, 0]:
            return "average pooling counting padding"
        if any(p >= k for p, k in zip(padding, kernel)) or any(2 * p > k for p, k in zip(padding, kernel)):
            return "padding larger than half the window"
        if op_name(node) == "aten.max_pool2d_with_indices.default":
            if any(L_idx(u) != 0 for u in node.users):
                return "max pool indices are used"
        return None

    @staticmethod
    def lower(L, node):
        kernel, stride, padding, _, _, _, _ = _pool_args(node)
        v = L.to_layout(L.value(node.args[0]), "nhwc")
        n, c, h, w = v.shape
        oh = L.conv_out(h, kernel[0], stride[0], padding[0], 1)
        ow = L.conv_out(w, kernel[1], stride[1], padding[1], 1)
        kind = "avg" if op_name(node) == "aten.avg_pool2d.default" else "max"
        pads = (padding[0], padding[0], padding[1], padding[1])
        t = L.w.node(B.POOL2D, [v.tid], [n, oh, ow, c], B.pool_attrs(kind, pads, stride, kernel))
        out = node
        if op_name(node) == "aten.max_pool2d_with_indices.default":
            out = L.getitem_of(node, 0)
            L.consumed.update(node.users)
        L.set(out, Value(t, "nhwc", (n, c, oh, ow), v.dynamic[:1] + (False,) * 3))


def L_idx(u):
    return u.args[1] if u.target is operator.getitem else None


@rule("aten._adaptive_avg_pool2d.default")
class AdaptiveAvg:
    @staticmethod
    def check(node, ep):
        x, size = node.args[:2]
        s = fake(x).shape
        if not all(is_static(d) for d in s[2:]):
            return "dynamic spatial size"
        if list(size) != [1, 1] and (s[2] % size[0] or s[3] % size[1]):
            return "adaptive pooling with uneven windows"
        return None

    @staticmethod
    def lower(L, node):
        x, size = node.args[:2]
        v = L.to_layout(L.value(x), "nhwc")
        n, c, h, w = v.shape
        if list(size) == [1, 1]:
            t = L.w.node(B.MEAN, [v.tid], [n, 1, 1, c], B.mean_attrs([1, 2], True))
            L.set(node, Value(t, "nhwc", (n, c, 1, 1), v.dynamic[:1] + (False,) * 3))
            return
        k = [h // size[0], w // size[1]]
        t = L.w.node(B.POOL2D, [v.tid], [n, size[0], size[1], c], B.pool_attrs("avg", (0, 0, 0, 0), k, k))
        L.set(node, Value(t, "nhwc", (n, c, size[0], size[1]), v.dynamic[:1] + (False,) * 3))


@rule("aten.mean.dim")
class Mean:
    @staticmethod
    def check(node, ep):
        dims = node.args[1] if len(node.args) > 1 else None
        if dims is None or len(dims) == 0:
            return "mean over all dims"
        if node.kwargs.get("dtype") not in (None, torch.float32):
            return "mean with a dtype"
        return None

    @staticmethod
    def lower(L, node):
        v = L.value(node.args[0])
        axes, keep = mean_args(node, len(v.shape))
        m = plan_mean(L, v, axes, keep)
        v = L.to_layout(v, m.in_layout)
        t = L.w.node(B.MEAN, [v.tid], m.node_shape, B.mean_attrs(m.axes, m.keep))
        L.set(node, Value(t, m.out_layout, m.out_shape, m.out_dyn))


def mean_args(node, rank: int) -> Tuple[List[int], bool]:
    """The logical axes (sorted, non-negative) and keepdim of an aten.mean.dim
    or 1x1 adaptive average pooling node."""
    if op_name(node) == "aten._adaptive_avg_pool2d.default":
        return [2, 3], True
    keep = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
    return sorted({d % rank for d in node.args[1]}), keep


@dataclass
class MeanPlan:
    """How a mean over logical axes runs on armrest's MEAN (fp32 or int8):
    the layout its input must be in, the node's physical shape, the kernel's
    axes and keepdim, and the logical result."""

    in_layout: str
    node_shape: List[int]
    axes: List[int]
    keep: bool
    out_layout: str
    out_shape: Tuple[int, ...]
    out_dyn: Tuple[bool, ...]


def plan_mean(L, v, axes: List[int], keep: bool) -> MeanPlan:
    """An NHWC input is reduced in place when the result's memory order is
    the logical one (keepdim, or the remaining axes keep their order);
    otherwise it is made plain first."""
    out_shape = tuple(1 if d in axes else s for d, s in enumerate(v.shape) if keep or d not in axes)
    out_dyn = tuple(False if d in axes else s for d, s in enumerate(v.dynamic) if keep or d not in axes)
    if v.layout == "nhwc":
        phys_axes = sorted(PHYS[d] for d in axes)
        remaining_phys = [PHYS.index(p) for p in range(4) if p not in phys_axes]
        remaining_logical = [d for d in range(4) if d not in axes]
        if keep:
            phys_shape = [1 if d in phys_axes else s for d, s in enumerate(L.phys_shape(v))]
            return MeanPlan("nhwc", phys_shape, phys_axes, True, "nhwc", out_shape, out_dyn)
        if remaining_phys == remaining_logical:
            return MeanPlan("nhwc", list(out_shape), phys_axes, False, "plain", out_shape, out_dyn)
    return MeanPlan("plain", list(out_shape), list(axes), keep, "plain", out_shape, out_dyn)


@rule("aten.view_copy.default", "aten.view.default", "aten._unsafe_view.default", "aten.reshape.default",
      "aten.squeeze_copy.dims", "aten.squeeze_copy.dim", "aten.unsqueeze_copy.default", "aten.flatten.using_ints")
class Reshape:
    @staticmethod
    def check(node, ep):
        out = fake(node)
        if out is None:
            return "no shape"
        if sum(not is_static(d) for d in out.shape) > 1:
            return "more than one dynamic dim in a reshape"
        return None

    @staticmethod
    def lower(L, node):
        v = L.value(node.args[0])
        out = fake(node)
        target = [d if is_static(d) else -1 for d in out.shape]
        if v.layout == "nhwc" and not L.nhwc_is_plain(v):
            v = L.to_layout(v, "plain")
        shape = tuple(hint(d) for d in out.shape)
        t = L.w.node(B.RESHAPE, [v.tid], shape, B.reshape_attrs(target))
        L.set(node, Value(t, "plain", shape, tuple(not is_static(d) for d in out.shape)))


@rule("aten.permute_copy.default", "aten.permute.default", "aten.t_copy.default", "aten.transpose_copy.int")
class Permute:
    @staticmethod
    def check(node, ep):
        return None

    @staticmethod
    def lower(L, node):
        name = op_name(node)
        v = L.value(node.args[0])
        rank = len(v.shape)
        if name == "aten.t_copy.default":
            perm = list(range(rank))[::-1]
        elif name == "aten.transpose_copy.int":
            perm = list(range(rank))
            a, b = node.args[1] % rank, node.args[2] % rank
            perm[a], perm[b] = perm[b], perm[a]
        else:
            perm = [d % rank for d in node.args[1]]
        shape = tuple(v.shape[p] for p in perm)
        dyn = tuple(v.dynamic[p] for p in perm)
        if v.layout == "nhwc" and tuple(perm) == NCHW_TO_NHWC:
            # The data already sits in this order: relabel, no copy.
            t = L.w.node(B.RESHAPE, [v.tid], shape, B.reshape_attrs([-1 if d else s for s, d in zip(shape, dyn)]))
            L.set(node, Value(t, "plain", shape, dyn))
            return
        v = L.to_layout(v, "plain")
        t = L.w.node(B.TRANSPOSE, [v.tid], shape, B.transpose_attrs(perm))
        L.set(node, Value(t, "plain", shape, dyn))


@rule("aten._softmax.default", "aten.softmax.int")
class Softmax:
    @staticmethod
    def check(node, ep):
        if len(node.args) > 2 and node.args[2] is True and op_name(node) == "aten._softmax.default":
            return "half_to_float"
        return None

    @staticmethod
    def lower(L, node):
        v = L.value(node.args[0])
        rank = len(v.shape)
        dim = node.args[1] % rank
        if v.layout == "nhwc" and dim == 1:
            t = L.w.node(B.SOFTMAX, [v.tid], L.phys_shape(v), np.float32(1.0).tobytes())
            L.set(node, Value(t, "nhwc", v.shape, v.dynamic))
            return
        v = L.to_layout(v, "plain")
        if dim == rank - 1:
            t = L.w.node(B.SOFTMAX, [v.tid], v.shape, np.float32(1.0).tobytes())
            L.set(node, Value(t, "plain", v.shape, v.dynamic))
            return
        perm = list(range(rank))
        perm[dim], perm[-1] = perm[-1], perm[dim]
        s1 = tuple(v.shape[p] for p in perm)
        t1 = L.w.node(B.TRANSPOSE, [v.tid], s1, B.transpose_attrs(perm))
        t2 = L.w.node(B.SOFTMAX, [t1], s1, np.float32(1.0).tobytes())
        t3 = L.w.node(B.TRANSPOSE, [t2], v.shape, B.transpose_attrs(perm))
        L.set(node, Value(t3, "plain", v.shape, v.dynamic))


@rule("aten.cat.default")
class Cat:
    @staticmethod
    def check(node, ep):
        if any(fake(x) is None for x in node.args[0]):
            return "non-tensor operand"
        if len(node.args[0]) > 255:
            return "too many operands"
        return None

    @staticmethod
    def lower(L, node):
        vals = [L.operand(x) for x in node.args[0]]
        rank = len(vals[0].shape)
        dim = (node.args[1] if len(node.args) > 1 else 0) % rank
        layout = "nhwc" if rank == 4 and all(v.layout == "nhwc" for v in vals) else "plain"
        vals = [L.to_layout(v, layout) for v in vals]
        shape = list(vals[0].shape)
        shape[dim] = sum(v.shape[dim] for v in vals)
        axis = PHYS[dim] if layout == "nhwc" else dim
        phys = [shape[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else shape
        t = L.w.node(B.CONCAT, [v.tid for v in vals], phys, np.int32(axis).tobytes())
        L.set(node, Value(t, layout, tuple(shape), vals[0].dynamic))


@rule("aten.constant_pad_nd.default")
class Pad:
    @staticmethod
    def check(node, ep):
        pad = node.args[1]
        value = node.args[2] if len(node.args) > 2 else 0.0
        if value != 0:
            return "non-zero pad value"
        if any(p < 0 for p in pad):
            return "negative padding (cropping)"
        return None

    @staticmethod
    def lower(L, node):
        v = L.value(node.args[0])
        pad = list(node.args[1])
        rank = len(v.shape)
        pads = [(0, 0)] * rank
        for i in range(len(pad) // 2):
            pads[rank - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        shape = tuple(s + a + b for s, (a, b) in zip(v.shape, pads))
        if v.layout == "nhwc":
            ppads = [pads[i] for i in NCHW_TO_NHWC]
            t = L.w.node(B.PAD, [v.tid], [shape[i] for i in NCHW_TO_NHWC], B.pad_attrs(ppads))
        else:
            t = L.w.node(B.PAD, [v.tid], shape, B.pad_attrs(pads))
        L.set(node, Value(t, v.layout, shape, v.dynamic))


@rule("aten.upsample_bilinear2d.vec", "aten.upsample_bilinear2d.default")
class Upsample:
    @staticmethod
    def check(node, ep):
        out = fake(node)
        if out is None or out.dim() != 4 or not all(is_static(d) for d in out.shape[2:]):
            return "dynamic output size"
        return None

    @staticmethod
    def lower(L, node):
        v = L.to_layout(L.value(node.args[0]), "nhwc")
        out = fake(node)
        align = bool(node.args[2]) if len(node.args) > 2 else False
        oh, ow = int(out.shape[2]), int(out.shape[3])
        n, c = v.shape[0], v.shape[1]
        attrs = np.array([oh, ow], "<u4").tobytes() + bytes([int(align), int(not align)])
        t = L.w.node(B.RESIZE_BILINEAR, [v.tid], [n, oh, ow, c], attrs)
        L.set(node, Value(t, "nhwc", (n, c, oh, ow), v.dynamic))


IDENTITY = {"aten.clone.default", "aten.alias_copy.default", "aten.dropout.default", "aten._to_copy.default",
            "dim_order_ops._clone_dim_order.default", "dim_order_ops._to_dim_order_copy.default"}


@rule(*IDENTITY)
class Identity:
    @staticmethod
    def check(node, ep):
        f, x = fake(node), fake(node.args[0])
        if f is None or x is None or f.dtype != x.dtype:
            return "dtype conversion"
        mf = node.kwargs.get("memory_format")
        if mf not in (None, torch.contiguous_format, torch.preserve_format):
            return f"memory format {mf}"
        do = node.kwargs.get("dim_order")
        if do is not None and list(do) != list(range(len(do))):
            return "non-contiguous dim order"
        return None

    @staticmethod
    def lower(L, node):
        L.set(node, L.value(node.args[0]))


# --------------------------------------------------------------------------
# The lowering of one partition
# --------------------------------------------------------------------------

class Lowering:
    def __init__(self, ep):
        self.ep = ep
        self.gm = ep.graph_module
        self.w = B.BlobWriter()
        self.values: Dict[torch.fx.Node, Value] = {}
        self.consumed = set()
        self.q = QZ.QLowering(self)
        new_session()

    # values ---------------------------------------------------------------
    def set(self, node, v: Value):
        self.values[node] = v

    def value(self, node) -> Value:
        if node in self.values:
            return self.values[node]
        if node in self.q.dq_src:
            # A dequantized int8 value read as fp32.
            v = self.q.dequantize(self.q.dq_src[node])
            self.values[node] = v
            return v
        c = constant_of(self.ep, node)
        if c is not None:
            return self.const_value(c.detach().float().numpy())
        raise Unsupported(f"no value for {node}")

    def operand(self, x) -> Value:
        if isinstance(x, torch.fx.Node):
            return self.value(x)
        return self.const_value(np.array([float(x)], np.float32))

    def const_value(self, a) -> Value:
        a = np.asarray(a, np.float32)
        return Value(self.w.constant(a), "plain", tuple(a.shape), (False,) * a.ndim)

    def const_array(self, node) -> np.ndarray:
        c = constant_of(self.ep, node)
        if c is None:
            raise Unsupported(f"{node} is not a constant")
        return c.detach().float().numpy().astype(np.float32)

    def phys_shape(self, v: Value):
        return [v.shape[i] for i in NCHW_TO_NHWC] if v.layout == "nhwc" else list(v.shape)

    def nhwc_is_plain(self, v: Value) -> bool:
        """An NHWC tensor whose memory equals its NCHW form (C == 1 or H*W == 1)."""
        n, c, h, w = v.shape
        return (c == 1 or h * w == 1) and not any(v.dynamic[1:])

    def to_layout(self, v: Value, layout: str) -> Value:
        if v.layout == layout:
            return v
        if v.q is not None:
            return self.q.to_layout(v, layout)
        if layout == "nhwc":
            if len(v.shape) != 4:
                raise Unsupported(f"NHWC wanted for rank {len(v.shape)}")
            if self.w.is_constant(v.tid):
                return Value(self.w.constant(self.w.data(v.tid).transpose(NCHW_TO_NHWC)), "nhwc", v.shape, v.dynamic)
            perm, phys = NCHW_TO_NHWC, [v.shape[i] for i in NCHW_TO_NHWC]
        else:
            perm, phys = NHWC_TO_NCHW, list(v.shape)
        if self.nhwc_is_plain(v):
            t = self.w.node(B.RESHAPE, [v.tid], phys, B.reshape_attrs([-1 if d else s for s, d in zip(self.phys_for(layout, v), self.dyn_for(layout, v))]))
        else:
            t = self.w.node(B.TRANSPOSE, [v.tid], phys, B.transpose_attrs(perm))
        return Value(t, layout, v.shape, v.dynamic)

    def phys_for(self, layout, v):
        return [v.shape[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else list(v.shape)

    def dyn_for(self, layout, v):
        return [v.dynamic[i] for i in NCHW_TO_NHWC] if layout == "nhwc" else list(v.dynamic)

    # graph helpers --------------------------------------------------------
    def sole_user(self, node, name) -> Optional[torch.fx.Node]:
        users = list(node.users)
        if len(users) == 1 and op_name(users[0]) == name and users[0] in self.partition:
            return users[0]
        return None

    def getitem_of(self, node, i) -> Optional[torch.fx.Node]:
        for u in node.users:
            if u.target is operator.getitem and u.args[1] == i:
                return u
        return None

    @staticmethod
    def getitem_index(u):
        return u.args[1] if u.target is operator.getitem else None

    def fusable_clamp(self, node):
        """(bounds, act) when `node`'s only user is a clamp-like op in this partition."""
        users = list(node.users)
        if len(users) != 1 or users[0] not in self.partition or node in self.outputs:
            return None
        u = users[0]
        if op_name(u) in CLAMPS:
            b = clamp_bounds(u)
            if b is not None and b[0] <= b[1]:
                return b, u
        return None

    @staticmethod
    def conv_out(size, k, s, p, d):
        return (size + 2 * p - d * (k - 1) - 1) // s + 1

    # emitters -------------------------------------------------------------
    def binary(self, op, va: Value, vb: Value, clamp=(-B.INF, B.INF)) -> Value:
        rank = max(len(va.shape), len(vb.shape))
        layouts = {va.layout, vb.layout}
        if "nhwc" in layouts and rank == 4:
            va = self._nhwc_operand(va)
            vb = self._nhwc_operand(vb)
            layout = "nhwc"
        else:
            va, vb = self.to_layout(va, "plain"), self.to_layout(vb, "plain")
            layout = "plain"
        shape = tuple(np.broadcast_shapes(va.shape, vb.shape))
        pa = self.phys_for(layout, Value(0, layout, shape, (False,) * len(shape)))
        dyn = tuple(a or b for a, b in zip((False,) * (rank - len(va.dynamic)) + va.dynamic, (False,) * (rank - len(vb.dynamic)) + vb.dynamic))
        t = self.w.node(B.BINARY, [va.tid, vb.tid], pa, B.binary_attrs(op, clamp))
        return Value(t, layout, shape, dyn)

    def _nhwc_operand(self, v: Value) -> Value:
        if v.layout == "nhwc":
            return v
        if len(v.shape) < 4 and self.w.is_constant(v.tid):
            a = self.w.data(v.tid).reshape((1,) * (4 - len(v.shape)) + v.shape)
            return Value(self.w.constant(a.transpose(NCHW_TO_NHWC)), "nhwc", a.shape, (False,) * 4)
        if len(v.shape) < 4:
            # Broadcast a lower-rank activation: lift to rank 4, then NHWC.
            s4 = (1,) * (4 - len(v.shape)) + v.shape
            d4 = (False,) * (4 - len(v.shape)) + v.dynamic
            t = self.w.node(B.RESHAPE, [v.tid], s4, B.reshape_attrs([-1 if d else s for s, d in zip(s4, d4)]))
            v = Value(t, "plain", s4, d4)
        return self.to_layout(v, "nhwc")

    def unary(self, node, opcode, attrs=b""):
        v = self.value(node.args[0])
        t = self.w.node(opcode, [v.tid], self.phys_shape(v), attrs)
        self.set(node, Value(t, v.layout, v.shape, v.dynamic))

    def linear(self, node, x, W, bias):
        v = self.to_layout(self.value(x), "plain")
        n, k = W.shape
        out = node
        clamp = (-B.INF, B.INF)
        c = self.fusable_clamp(out)
        if c is not None:
            clamp, act = c
            self.consumed.add(act)
            out = act
        keep = len(v.shape) != 2
        shape = v.shape[:-1] + (n,)
        ins = [v.tid, self.w.constant(W)] + ([self.w.constant(np.asarray(bias, np.float32))] if bias is not None else [])
        t = self.w.node(B.LINEAR, ins, shape, B.linear_attrs(keep, clamp))
        self.set(out, Value(t, "plain", shape, v.dynamic[:-1] + (False,)))

    # driver ---------------------------------------------------------------
    def run(self):
        g = self.gm.graph
        user_inputs = set(self.ep.graph_signature.user_inputs)
        output_node = next(n for n in g.nodes if n.op == "output")
        outs = output_node.args[0]
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        self.outputs = set(outs)
        self.partition = {n for n in g.nodes if n.op == "call_function"}
        for n in g.nodes:
            if n.op == "placeholder" and n.name in user_inputs:
                f = fake(n)
                if f is None:
                    # A symbolic size passed in as a scalar: armrest derives shapes itself.
                    if isinstance(n.meta.get("val"), torch.SymInt):
                        continue
                    raise Unsupported(f"input {n.name} is not a tensor")
                if f.dtype != torch.float32:
                    raise Unsupported(f"input {n.name} has dtype {f.dtype}")
                shape = tuple(hint(d) for d in f.shape)
                t = self.w.value(shape)
                self.w.inputs.append(t)
                self.set(n, Value(t, "plain", shape, tuple(not is_static(d) for d in f.shape)))
        for n in g.nodes:
            if n.op != "call_function" or n in self.consumed:
                continue
            if n.target is operator.getitem:
                if n not in self.values:
                    raise Unsupported(f"getitem {n.name} of an unlowered tuple")
                continue
            why = check_node(n, self.ep)
            if why is not None:
                raise Unsupported(f"{n.name}: {why}")
            if self.q.lower(n):
                continue
            OPS[op_name(n)].lower(self, n)
        for o in outs:
            v = self.to_layout(self.value(o), "plain")
            if v.tid in self.w.inputs or v.tid in self.w.outputs or self.w.is_constant(v.tid):
                # An output must be written by a node of its own.
                t = self.w.node(B.RESHAPE, [v.tid], v.shape, B.reshape_attrs([-1 if d else s for s, d in zip(v.shape, v.dynamic)]))
                v = Value(t, "plain", v.shape, v.dynamic)
            self.w.outputs.append(v.tid)
        self.w.prune()
        return self.w
