"""Post-training quantization of the float models the builder writes, the way
TFLite's converter does it, so that the project has fully quantized (int8 or
uint8) and dynamic-range models with realistic scales.

    q = quantize_model(float_model_bytes, calibration_samples, dtype=np.int8, per_channel=True, io="float")

Calibration runs the float model on TFLite's builtin float kernels over the
samples and records every activation tensor's min/max; each activation gets
the affine parameters a converter would pick from that range (zero inside the
range, 255 steps). Weights of CONV_2D / FULLY_CONNECTED (per output channel,
quantized_dimension 0) and DEPTHWISE_CONV_2D (quantized_dimension 3) are
symmetric int8 from their max-abs, or asymmetric uint8 per-tensor for uint8
models; biases are int32 with scale input_scale * weight_scale. Ops that do not
requantize (pooling, reshape, squeeze, pad, resize) keep their input's
parameters on the output; SOFTMAX / LOGISTIC / TANH get TFLite's fixed output
parameters. `io="float"` wraps the model in QUANTIZE / DEQUANTIZE (float in and
out), `io="quantized"` makes the inputs and outputs int8/uint8 themselves.

`assign_versions` sets each operator's version to what TFLite's converter
writes for its types and options (the interpreter checks it against the
kernel's registered range)."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .tflite_builder import QuantParams, S, _TENSOR_TYPES, load_model, op_name, serialize

_NP_OF_TYPE = {v: k for k, v in _TENSOR_TYPES.items()}

QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}

#: Ops whose quantized kernels do not requantize: the output keeps the input's parameters.
SAME_PARAMS = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "PAD", "RESIZE_BILINEAR",
               "EXPAND_DIMS"}


def fixed_output_params(op: str, dtype) -> QuantParams | None:
    """TFLite's fixed output parameters of SOFTMAX / LOGISTIC (1/256) and TANH (1/128)."""
    dtype = np.dtype(dtype)
    if op in ("SOFTMAX", "LOGISTIC"):
        return QuantParams.of(1.0 / 256, -128 if dtype == np.int8 else 0)
    if op == "TANH":
        return QuantParams.of(1.0 / 128, 0 if dtype == np.int8 else 128)
    return None


def params_from_range(lo: float, hi: float, dtype) -> QuantParams:
    """Asymmetric parameters for values in [lo, hi] (widened to hold 0)."""
    qmin, qmax = QRANGE[np.dtype(dtype)]
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-6:
        hi = lo + 1e-3
    scale = (hi - lo) / (qmax - qmin)
    zp = int(np.clip(round(qmin - lo / scale), qmin, qmax))
    return QuantParams.of(np.float32(scale), zp)


def quantize_array(x: np.ndarray, q: QuantParams, dtype) -> np.ndarray:
    """Rounds real values to the quantized type (per-tensor or per-channel)."""
    qmin, qmax = QRANGE[np.dtype(dtype)]
    x = np.asarray(x, dtype=np.float64)
    scale = np.asarray(q.scale, dtype=np.float64)
    zp = np.asarray(q.zero_point, dtype=np.float64)
    if q.per_channel:
        shape = [1] * x.ndim
        shape[q.quantized_dimension] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return np.clip(np.round(x / scale) + zp, qmin, qmax).astype(dtype)


def dequantize_array(q_values: np.ndarray, q: QuantParams) -> np.ndarray:
    scale = np.asarray(q.scale, dtype=np.float64)
    zp = np.asarray(q.zero_point, dtype=np.float64)
    if q.per_channel:
        shape = [1] * q_values.ndim
        shape[q.quantized_dimension] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return scale * (q_values.astype(np.float64) - zp)


def weight_params(w: np.ndarray, dtype, channel_dim: int | None) -> QuantParams:
    """int8: symmetric (zero point 0, ±127) from max-abs, per channel along
    `channel_dim` or per tensor; uint8: asymmetric per-tensor from min/max."""
    if np.dtype(dtype) == np.uint8:
        return params_from_range(float(w.min()), float(w.max()), np.uint8)
    if channel_dim is None:
        m = max(float(np.abs(w).max()), 1e-8)
        return QuantParams.of(np.float32(m / 127.0), 0)
    axes = tuple(i for i in range(w.ndim) if i != channel_dim)
    m = np.maximum(np.abs(w).max(axis=axes), 1e-8)
    return QuantParams.of((m / 127.0).astype(np.float32), np.zeros(m.size, np.int64), channel_dim)


def bias_params(input_q: QuantParams, weight_q: QuantParams) -> QuantParams:
    """int32 bias: scale input_scale * weight_scale (per channel), zero point 0."""
    s = np.float32(input_q.scale[0]) * np.asarray(weight_q.scale, dtype=np.float32)
    return QuantParams.of(s.astype(np.float32), np.zeros(s.size, np.int64), 0)


# ----------------------------------------------------------------- model access
def _buffer_array(m: S.ModelT, t: S.TensorT) -> np.ndarray | None:
    if t.buffer <= 0 or t.buffer >= len(m.buffers):
        return None
    data = m.buffers[t.buffer].data
    if data is None or len(data) == 0:
        return None
    raw = bytes(bytearray(np.asarray(data, dtype=np.uint8)))
    return np.frombuffer(raw, dtype=_NP_OF_TYPE[t.type]).reshape(t.shape)


def _set_buffer(m: S.ModelT, t: S.TensorT, array: np.ndarray) -> None:
    buf = S.BufferT()
    buf.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
    m.buffers.append(buf)
    t.buffer = len(m.buffers) - 1
    t.type = _TENSOR_TYPES[np.dtype(array.dtype)]


def tensor_quant(t: S.TensorT) -> QuantParams | None:
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    zp = q.zeroPoint if q.zeroPoint is not None and len(q.zeroPoint) else [0] * len(q.scale)
    return QuantParams.of(np.asarray(q.scale, np.float32), np.asarray(zp, np.int64), q.quantizedDimension)


def calibrate(model: bytes, samples: Sequence[Sequence[np.ndarray]]) -> dict[int, tuple[float, float]]:
    """min/max of every float tensor over the samples, on TFLite's builtin float kernels."""
    from ai_edge_litert import interpreter
    it = interpreter.Interpreter(
        model_content=model, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    floats = [d["index"] for d in it.get_tensor_details() if d["dtype"] == np.float32]
    ranges: dict[int, tuple[float, float]] = {}
    for inputs in samples:
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], np.asarray(x, dtype=np.float32))
        it.invoke()
        for i in floats:
            try:
                v = it.get_tensor(i)
            except ValueError:
                continue
            if v.size == 0:
                continue
            lo, hi = float(v.min()), float(v.max())
            if i in ranges:
                lo, hi = min(lo, ranges[i][0]), max(hi, ranges[i][1])
            ranges[i] = (lo, hi)
    return ranges


# ---------------------------------------------------------------- quantization
WEIGHT_DIM = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}


def quantize_model(model: bytes, samples: Sequence[Sequence[np.ndarray]], dtype=np.int8,
                   per_channel: bool = True, io: str = "float",
                   override: Callable[[str, int, S.TensorT], QuantParams | None] | None = None) -> bytes:
    """The fully quantized model of a float `model`, calibrated on `samples`
    (a list of input lists). dtype int8 or uint8 (uint8 weights are per-tensor
    asymmetric). io="float": float inputs/outputs through QUANTIZE/DEQUANTIZE;
    io="quantized": quantized inputs/outputs. `override(op, output_slot, tensor)`
    may return parameters to use for an op's output instead of the calibrated ones."""
    dtype = np.dtype(dtype)
    if io not in ("float", "quantized"):
        raise ValueError(f"io must be 'float' or 'quantized', got {io!r}")
    if dtype == np.uint8:
        per_channel = False
    ranges = calibrate(model, samples)
    m = load_model(model)
    sg = m.subgraphs[0]
    tensors = sg.tensors
    qp: dict[int, QuantParams] = {}

    def activation(i: int) -> QuantParams:
        if i not in qp:
            if i not in ranges:
                raise ValueError(f"tensor {i} ({tensors[i].name}) was not calibrated")
            qp[i] = params_from_range(*ranges[i], dtype)
        return qp[i]

    def set_quant(i: int, q: QuantParams, tdtype) -> None:
        t = tensors[i]
        t.type = _TENSOR_TYPES[np.dtype(tdtype)]
        t.quantization = q.to_flatbuffer()

    done_consts: set[int] = set()
    consumed: set[int] = set()
    ordered: list[S.OperatorT] = []
    for i in sg.inputs:
        activation(i)
    for op in list(sg.operators):
        name = op_name(m, op)
        ins = list(op.inputs)
        if name == "DEQUANTIZE" or name == "QUANTIZE":
            raise ValueError(f"the float model already has {name}: build it with fp32 weights")
        x = ins[0]
        xq = activation(x) if _buffer_array(m, tensors[x]) is None else None
        if name in WEIGHT_DIM:
            wi = ins[1]
            w = _buffer_array(m, tensors[wi]).astype(np.float32)
            wq = weight_params(w, dtype, WEIGHT_DIM[name] if per_channel else None)
            _set_buffer(m, tensors[wi], quantize_array(w, wq, dtype))
            set_quant(wi, wq, dtype)
            done_consts.add(wi)
            if len(ins) > 2 and ins[2] >= 0:
                bi = ins[2]
                b = _buffer_array(m, tensors[bi]).astype(np.float64)
                bq = bias_params(xq, wq)
                scale = np.asarray(bq.scale, dtype=np.float64)
                _set_buffer(m, tensors[bi], np.round(b / scale).astype(np.int32))
                set_quant(bi, bq, np.int32)
                done_consts.add(bi)
        else:
            for j in ins:
                if j < 0 or j in done_consts:
                    continue
                t = tensors[j]
                arr = _buffer_array(m, t)
                if arr is not None and arr.dtype == np.float32:
                    cq = params_from_range(float(arr.min()), float(arr.max()), dtype)
                    _set_buffer(m, t, quantize_array(arr, cq, dtype))
                    set_quant(j, cq, dtype)
                    qp[j] = cq
                    done_consts.add(j)
                elif arr is None and _NP_OF_TYPE[t.type] == np.float32:
                    activation(j)
        if name == "CONCATENATION" and dtype == np.int8:
            # TFLite's int8 CONCATENATION wants one scale and zero point for all
            # inputs and the output, as the converter arranges: the output range
            # covers every input; model inputs take it, other inputs are
            # requantized to it by an inserted QUANTIZE.
            lo = min(min(ranges[j][0] for j in ins), ranges[op.outputs[0]][0])
            hi = max(max(ranges[j][1] for j in ins), ranges[op.outputs[0]][1])
            shared = params_from_range(lo, hi, dtype)
            qp[op.outputs[0]] = shared
            new_ins = []
            for j in ins:
                if j in sg.inputs and j not in consumed:
                    qp[j] = shared
                elif qp[j] != shared:
                    r = _new_tensor(sg, tensors[j], _name(tensors[j]) + "_requant")
                    qp[r] = shared
                    rq = S.OperatorT()
                    rq.opcodeIndex = _opcode_index(m, S.BuiltinOperator.QUANTIZE)
                    rq.inputs, rq.outputs = [j], [r]
                    ordered.append(rq)
                    j = r
                new_ins.append(j)
            op.inputs = new_ins
        consumed.update(j for j in op.inputs if j >= 0)
        ordered.append(op)
        for slot, o in enumerate(op.outputs):
            if o in qp:
                continue
            q = override(name, slot, tensors[o]) if override else None
            if q is None:
                q = fixed_output_params(name, dtype)
            if q is None and name in SAME_PARAMS:
                q = qp[x]
            if q is None:
                q = activation(o)
            qp[o] = q
    sg.operators = ordered
    for i, q in qp.items():
        if i not in done_consts:
            set_quant(i, q, dtype)

    if io == "float":
        _wrap_float_io(m, dtype, qp)
    assign_versions(m)
    return serialize(m)


def _name(t: S.TensorT) -> str:
    return t.name.decode() if isinstance(t.name, bytes) else str(t.name)


def _new_tensor(sg: S.SubGraphT, like: S.TensorT, name: str) -> int:
    t = S.TensorT()
    t.shape = list(like.shape)
    t.shapeSignature = list(like.shapeSignature) if like.shapeSignature is not None else None
    t.hasRank = True
    t.name = name
    t.buffer = 0
    sg.tensors.append(t)
    return len(sg.tensors) - 1


def _opcode_index(m: S.ModelT, builtin: int) -> int:
    for k, c in enumerate(m.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == builtin:
            return k
    c = S.OperatorCodeT()
    c.builtinCode = builtin
    c.deprecatedBuiltinCode = min(builtin, S.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    c.version = 1
    m.operatorCodes.append(c)
    return len(m.operatorCodes) - 1


def _wrap_float_io(m: S.ModelT, dtype, qp: dict[int, QuantParams]) -> None:
    """Float model inputs -> QUANTIZE -> quantized body -> DEQUANTIZE -> float outputs."""
    sg = m.subgraphs[0]
    front, back = [], []
    for k, i in enumerate(list(sg.inputs)):
        qi = _new_tensor(sg, sg.tensors[i], _name(sg.tensors[i]) + "_q")
        sg.tensors[qi].type = _TENSOR_TYPES[np.dtype(dtype)]
        sg.tensors[qi].quantization = qp[i].to_flatbuffer()
        sg.tensors[i].type = S.TensorType.FLOAT32
        sg.tensors[i].quantization = None
        for op in sg.operators:
            op.inputs = [qi if j == i else j for j in op.inputs]
        sg.outputs = [qi if j == i else j for j in sg.outputs]
        o = S.OperatorT()
        o.opcodeIndex = _opcode_index(m, S.BuiltinOperator.QUANTIZE)
        o.inputs, o.outputs = [i], [qi]
        front.append(o)
    for k, i in enumerate(list(sg.outputs)):
        fi = _new_tensor(sg, sg.tensors[i], _name(sg.tensors[i]) + "_f")
        sg.tensors[fi].type = S.TensorType.FLOAT32
        o = S.OperatorT()
        o.opcodeIndex = _opcode_index(m, S.BuiltinOperator.DEQUANTIZE)
        o.inputs, o.outputs = [i], [fi]
        back.append(o)
        sg.outputs[k] = fi
        for sig in m.signatureDefs or []:
            for tm in sig.outputs:
                if tm.tensorIndex == i:
                    tm.tensorIndex = fi
                    sg.tensors[i].name, sg.tensors[fi].name = sg.tensors[fi].name, sg.tensors[i].name
    sg.operators = front + list(sg.operators) + back


# --------------------------------------------------------------------- versions
def _types(m: S.ModelT, op: S.OperatorT, which: str) -> list:
    sg = m.subgraphs[0]
    idx = op.inputs if which == "in" else op.outputs
    return [None if i < 0 else _NP_OF_TYPE.get(sg.tensors[i].type) for i in idx]


def op_version(m: S.ModelT, op: S.OperatorT) -> int:
    """The version TFLite's converter writes for this operator's types and options."""
    name = op_name(m, op)
    sg = m.subgraphs[0]
    ins, outs = _types(m, op, "in"), _types(m, op, "out")
    i0 = ins[0] if ins else None
    int8 = i0 == np.int8
    opts = op.builtinOptions
    if name == "CONV_2D":
        if i0 == np.float32 and ins[1] == np.int8:
            q = tensor_quant(sg.tensors[op.inputs[1]])
            return 5 if q is not None and q.per_channel else 2
        return 3 if int8 else 1
    if name == "DEPTHWISE_CONV_2D":
        if i0 == np.float32 and ins[1] == np.int8:
            return 6
        if int8:
            return 3
        return 2 if (opts.dilationHFactor, opts.dilationWFactor) != (1, 1) else 1
    if name == "FULLY_CONNECTED":
        if i0 == np.float32 and ins[1] == np.int8:
            return 9 if opts.asymmetricQuantizeInputs else 3
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            if int8 or opts.keepNumDims:
                return 6 if not opts.keepNumDims else 5
        if opts.keepNumDims:
            return 5
        return 4 if int8 else 1
    if name in ("ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "CONCATENATION", "PAD",
                "SOFTMAX", "LOGISTIC", "TANH", "LEAKY_RELU"):
        return 2 if (int8 or (name == "LEAKY_RELU" and i0 == np.uint8)) else 1
    if name == "RESIZE_BILINEAR":
        if opts is not None and opts.halfPixelCenters:
            return 3
        return 2 if int8 else 1
    if name == "QUANTIZE":
        return 2 if (outs[0] == np.int8 or i0 in (np.int8, np.uint8)) else 1
    if name == "DEQUANTIZE":
        if i0 == np.float16:
            return 3
        return 2 if int8 else 1
    return 1


def assign_versions(m: S.ModelT) -> None:
    """Gives every operator the version its types call for (one opcode per builtin and version)."""
    codes: dict[tuple, int] = {}
    new_codes: list[S.OperatorCodeT] = []
    for op in m.subgraphs[0].operators:
        old = m.operatorCodes[op.opcodeIndex]
        builtin = max(old.builtinCode, old.deprecatedBuiltinCode)
        custom = old.customCode
        version = old.version if builtin == S.BuiltinOperator.CUSTOM else op_version(m, op)
        key = (builtin, custom, version)
        if key not in codes:
            c = S.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode = builtin, old.deprecatedBuiltinCode
            c.customCode, c.version = custom, version
            new_codes.append(c)
            codes[key] = len(new_codes) - 1
        op.opcodeIndex = codes[key]
    m.operatorCodes = new_codes


def with_versions(model: bytes) -> bytes:
    """`model` with `assign_versions` applied (for models built with quantized tensors directly)."""
    m = load_model(model)
    assign_versions(m)
    return serialize(m)


# ------------------------------------------------------------------ inspection
def io_params(model: bytes) -> tuple[list[QuantParams | None], list[QuantParams | None]]:
    """Quantization of each model input and output (None for float)."""
    m = load_model(model)
    sg = m.subgraphs[0]
    return ([tensor_quant(sg.tensors[i]) for i in sg.inputs],
            [tensor_quant(sg.tensors[i]) for i in sg.outputs])


def output_lsb(model: bytes) -> list[float | None]:
    """Per output: the step in which it can differ: 1 for an int output, the
    scale of the DEQUANTIZE input for a float output behind DEQUANTIZE, else None."""
    m = load_model(model)
    sg = m.subgraphs[0]
    producer = {o: op for op in sg.operators for o in op.outputs}
    out = []
    for i in sg.outputs:
        t = sg.tensors[i]
        if t.type != S.TensorType.FLOAT32:
            out.append(1.0)
            continue
        op = producer.get(i)
        if op is not None and op_name(m, op) == "DEQUANTIZE":
            q = tensor_quant(sg.tensors[op.inputs[0]])
            out.append(q.scale[0] if q is not None else None)
        else:
            out.append(None)
    return out
