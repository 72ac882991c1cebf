"""The real models MediaPipe 0.10.21 ships (mediapipe/modules/**/*.tflite), and
what armrest is expected to leave to TFLite in them, worked out from the
model itself (not from armrest's output).

Rules, from armrest's contract:
  * ops armrest does not implement (UNSUPPORTED_OPS, an explicit table, empty
    for mediapipe 0.10.21) are never claimed;
  * an op armrest does implement (CLAIMED_OPS) must be claimed unless the model
    gives a reason: a fused TANH/SIGN_BIT activation, conv/FC weights that are
    not constant (e.g. produced at run time by DENSIFY), a tensor that is not
    fp32 (other than the constant int32 parameters: shapes, axes, paddings,
    sizes), or a DEQUANTIZE whose input is not a constant fp16 tensor;
  * a DEQUANTIZE of constant fp16 weights, and a DENSIFY of constant sparse
    weights, are folded into their consumers, so they may stay with TFLite
    when one of their consumers does.
Each expected reason carries a pattern the reason armrest prints must match.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .tflite_builder import S, load_model, op_name

CLAIMED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "DIV", "MAXIMUM",
    "MINIMUM", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "PRELU",
    "LEAKY_RELU", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "RESHAPE", "SQUEEZE", "EXPAND_DIMS",
    "CONCATENATION", "PAD", "SOFTMAX", "RESIZE_BILINEAR", "DEQUANTIZE",
    # folded at claim time: constant sparse weights made dense (face_detection_full_range_sparse, pose_detection)
    "DENSIFY",
    "DEPTH_TO_SPACE", "STRIDED_SLICE",
    # MediaPipe's custom ops (selfie_segmentation*, face_landmark_with_attention)
    "Convolution2DTransposeBias", "Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks",
})

#: Ops in the MediaPipe models that armrest does not implement, with why. Every
#: node of these ops must be reported not claimed. (Empty since armrest runs
#: every op of mediapipe 0.10.21's models; kept so a new model's op is explained.)
UNSUPPORTED_OPS: dict[str, str] = {}


@dataclass(frozen=True)
class Expected:
    """Why a node of a claimed op should stay with TFLite."""
    why: str
    pattern: str          # the reason armrest prints must match this (case-insensitive)
    must: bool = True     # False: armrest may claim it or leave it

    def matches(self, reason: str) -> bool:
        return re.search(self.pattern, reason, re.I) is not None


FUSED_ACTIVATION = Expected("fused TANH/SIGN_BIT activation", r"activation|tanh|sign")
NON_CONST_WEIGHTS = Expected("weights are not constant", r"constant|weight|filter|dynamic")
NON_FP32 = Expected("a tensor is not fp32", r"type|float|fp32|f32|int|fp16|f16")
DEQUANT_NON_CONST = Expected("DEQUANTIZE of a non-constant or non-fp16 tensor", r"constant|fp16|f16|type|dynamic|input")
DEQUANT_CONSUMER = Expected(
    "DEQUANTIZE feeding a node armrest leaves", r"consumer|fold|claim|used|feed|user|dequant", must=False)

_INT_PARAM_INPUTS = {  # (op, input position) holding int32 constant parameters
    ("RESHAPE", 1), ("MEAN", 1), ("PAD", 1), ("EXPAND_DIMS", 1), ("RESIZE_BILINEAR", 1),
    ("STRIDED_SLICE", 1), ("STRIDED_SLICE", 2), ("STRIDED_SLICE", 3),
}
_WEIGHTED = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2)}


@dataclass
class Analysis:
    ops: list[str]
    expected: dict[int, Expected] = field(default_factory=dict)   # node index -> why (claimed ops)
    unsupported: list[int] = field(default_factory=list)          # nodes of UNSUPPORTED_OPS
    unknown: list[int] = field(default_factory=list)              # ops in neither table

    @property
    def must_unclaimed(self) -> set[int]:
        return set(self.unsupported) | {i for i, e in self.expected.items() if e.must}


def analyse(model_bytes: bytes) -> Analysis:
    m = load_model(model_bytes)
    if len(m.subgraphs) != 1:
        raise ValueError("only single-subgraph models are analysed")
    sg = m.subgraphs[0]
    ops = [op_name(m, op) for op in sg.operators]
    producer = {t: i for i, op in enumerate(sg.operators) for t in op.outputs}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(sg.operators):
        for t in op.inputs:
            consumers.setdefault(t, []).append(i)

    def is_const(t: int) -> bool:
        tensor = sg.tensors[t]
        return tensor.buffer > 0 and m.buffers[tensor.buffer].data is not None

    def densified(t: int) -> bool:
        """Produced by a DENSIFY of a constant sparse tensor (folded at claim time)."""
        p = producer.get(t)
        return p is not None and ops[p] == "DENSIFY" and is_const(sg.operators[p].inputs[0]) \
            and sg.tensors[sg.operators[p].inputs[0]].sparsity is not None

    def static_fp16(t: int) -> bool:
        return (is_const(t) or densified(t)) and sg.tensors[t].type == S.TensorType.FLOAT16

    def const_weight(t: int) -> bool:
        if is_const(t) or densified(t):
            return True
        p = producer.get(t)
        return p is not None and ops[p] == "DEQUANTIZE" and static_fp16(sg.operators[p].inputs[0])

    a = Analysis(ops)
    for i, (name, op) in enumerate(zip(ops, sg.operators)):
        if name in UNSUPPORTED_OPS:
            a.unsupported.append(i)
            continue
        if name not in CLAIMED_OPS:
            a.unknown.append(i)
            continue
        if name == "DEQUANTIZE":
            if not static_fp16(op.inputs[0]):
                a.expected[i] = DEQUANT_NON_CONST
            continue
        if name == "DENSIFY":
            if not densified(op.outputs[0]):
                a.expected[i] = DEQUANT_NON_CONST
            continue
        act = getattr(op.builtinOptions, "fusedActivationFunction", 0) if op.builtinOptions else 0
        if act in (S.ActivationFunctionType.TANH, S.ActivationFunctionType.SIGN_BIT):
            a.expected[i] = FUSED_ACTIVATION
            continue
        if name in _WEIGHTED and not const_weight(op.inputs[1]):
            a.expected[i] = NON_CONST_WEIGHTS
            continue
        tensors = [t for pos, t in enumerate(op.inputs) if t >= 0 and (name, pos) not in _INT_PARAM_INPUTS]
        if any(sg.tensors[t].type != S.TensorType.FLOAT32 for t in tensors + list(op.outputs)):
            a.expected[i] = NON_FP32
    # A folded DEQUANTIZE/DENSIFY may stay with TFLite when a consumer does
    # (reverse order: a DENSIFY sees the DEQUANTIZE behind it decided).
    for i in reversed(range(len(ops))):
        if ops[i] in ("DEQUANTIZE", "DENSIFY") and i not in a.expected:
            leaves = a.must_unclaimed | {j for j, e in a.expected.items() if e is DEQUANT_CONSUMER}
            users = consumers.get(sg.operators[i].outputs[0], [])
            if any(u in leaves for u in users):
                a.expected[i] = DEQUANT_CONSUMER
    return a


def mediapipe_root() -> str | None:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def find_models() -> list[str]:
    """Paths of mediapipe/modules/**/*.tflite in the installed mediapipe package."""
    root = mediapipe_root()
    if root is None:
        return []
    return sorted(glob.glob(os.path.join(root, "modules", "**", "*.tflite"), recursive=True))


def model_id(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def check_report(analysis: Analysis, report) -> list[str]:
    """Problems with armrest's report for a model (empty when it is as expected)."""
    problems = []
    if report.total != len(analysis.ops):
        problems.append(f"report counts {report.total} nodes, the model has {len(analysis.ops)}")
    unclaimed = {u.index: u for u in report.unclaimed}
    for idx, u in sorted(unclaimed.items()):
        if idx >= len(analysis.ops):
            continue
        if u.op != analysis.ops[idx]:
            problems.append(f"node {idx}: report names {u.op}, the model has {analysis.ops[idx]}")
        if analysis.ops[idx] in UNSUPPORTED_OPS:
            continue
        exp = analysis.expected.get(idx)
        if exp is None:
            problems.append(f"node {idx} {u.op} not claimed ({u.reason!r}) but armrest claims "
                            f"{u.op} and the model gives no reason not to")
        elif not exp.matches(u.reason):
            problems.append(f"node {idx} {u.op} not claimed with reason {u.reason!r}; expected a reason "
                            f"about: {exp.why} (/{exp.pattern}/)")
    for idx in sorted(analysis.must_unclaimed - set(unclaimed)):
        why = analysis.expected[idx].why if idx in analysis.expected else UNSUPPORTED_OPS[analysis.ops[idx]]
        problems.append(f"node {idx} {analysis.ops[idx]} was claimed, expected left to TFLite: {why}")
    for idx in analysis.unknown:
        problems.append(f"node {idx} {analysis.ops[idx]}: op in neither CLAIMED_OPS nor UNSUPPORTED_OPS; "
                        "add it to the table")
    return problems


def runs_on(model_bytes: bytes, runtime: str, kind: str) -> str | None:
    """None if the model allocates and invokes on that path, else the error text."""
    from .harness import make_interpreter, random_inputs, run
    try:
        interp = make_interpreter(model_bytes, runtime, kind)
        interp.allocate_tensors()
        run(interp, random_inputs(interp))
        return None
    except (RuntimeError, ValueError) as e:
        return str(e).strip().splitlines()[0]


def inputs_for(interp, seed: int = 0) -> list[np.ndarray]:
    """Image-like inputs in [0, 1) (MediaPipe models take normalised images)."""
    rng = np.random.default_rng(seed)
    return [rng.random(tuple(d["shape"])).astype(d["dtype"]) for d in interp.get_input_details()]
