"""A small .tflite model builder on top of the flatbuffers schema module that
LiteRT's wheel carries (`ai_edge_litert.schema_py_generated`, object API).

It writes every op armrest claims, with all of its builtin options, plus a few
it does not (to test what armrest leaves to TFLite). Every op computes its
output shape (the delegate sees the flatbuffer's shapes at interpreter
creation, before TFLite's own shape propagation), and a dynamic batch (`-1`
in `shape_signature`) propagates through ops that keep the batch dimension.

    b = ModelBuilder()
    x = b.input([1, 16, 16, 3], signature=[-1, 16, 16, 3])
    y = b.conv_2d(x, b.const(w), b.const(bias), stride=2, padding="SAME", activation="RELU6")
    b.output(b.mean(y, axes=[1, 2]))
    model_bytes = b.build()

Weights: `const()` stores an array as is (float32, float16, int32, ...);
`weights(array, fp16=True)` stores it as float16 behind a DEQUANTIZE node, the
way the converter ships fp16 models. Buffers are 16-byte aligned in the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as S

_TENSOR_TYPES = {
    np.dtype(np.float32): S.TensorType.FLOAT32,
    np.dtype(np.float16): S.TensorType.FLOAT16,
    np.dtype(np.int32): S.TensorType.INT32,
    np.dtype(np.int64): S.TensorType.INT64,
    np.dtype(np.int8): S.TensorType.INT8,
    np.dtype(np.uint8): S.TensorType.UINT8,
    np.dtype(np.bool_): S.TensorType.BOOL,
}

ACTIVATIONS = {
    None: S.ActivationFunctionType.NONE,
    "NONE": S.ActivationFunctionType.NONE,
    "RELU": S.ActivationFunctionType.RELU,
    "RELU_N1_TO_1": S.ActivationFunctionType.RELU_N1_TO_1,
    "RELU6": S.ActivationFunctionType.RELU6,
    "TANH": S.ActivationFunctionType.TANH,
    "SIGN_BIT": S.ActivationFunctionType.SIGN_BIT,
}

PADDINGS = {"SAME": S.Padding.SAME, "VALID": S.Padding.VALID}

BUILTIN_NAMES = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def op_name(model: S.ModelT, op: S.OperatorT) -> str:
    """The TFLite name of an operator: the builtin name, or the custom op's name."""
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == S.BuiltinOperator.CUSTOM:
        name = code.customCode
        return name.decode() if isinstance(name, bytes) else name
    return BUILTIN_NAMES[builtin]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    h, w = v
    return (int(h), int(w))


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Spatial output size of a convolution/pool (TFLite's rule)."""
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        return (size - effective + stride) // stride
    raise ValueError(f"padding must be SAME or VALID, got {padding!r}")


def broadcast_shape(a: Sequence[int], b: Sequence[int]) -> list[int]:
    return list(np.broadcast_shapes(tuple(a), tuple(b)))


class _AlignedBuilder(flatbuffers.Builder):
    """Aligns every byte vector (the buffers' data) to 16 bytes, as the
    converter does, so constant weights can be read in place as f32."""

    def StartVector(self, elemSize, numElems, alignment):  # noqa: N802 (flatbuffers API)
        if elemSize == 1 and numElems > 0:
            alignment = max(alignment, 16)
        return super().StartVector(elemSize, numElems, alignment)


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a tensor: real = scale * (q - zero_point).
    Per-tensor: one scale and one zero point; per-channel: one of each per
    slice along `quantized_dimension`."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    quantized_dimension: int = 0

    @staticmethod
    def of(scale, zero_point=0, quantized_dimension: int = 0) -> "QuantParams":
        sc = tuple(float(v) for v in np.atleast_1d(np.asarray(scale, dtype=np.float32)))
        zp = np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
        if zp.size == 1 and len(sc) > 1:
            zp = np.repeat(zp, len(sc))
        return QuantParams(sc, tuple(int(v) for v in zp), int(quantized_dimension))

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_flatbuffer(self) -> S.QuantizationParametersT:
        q = S.QuantizationParametersT()
        q.scale = [float(v) for v in self.scale]
        q.zeroPoint = [int(v) for v in self.zero_point]
        q.quantizedDimension = self.quantized_dimension
        return q


@dataclass(frozen=True)
class Tensor:
    """A handle to a tensor of the model being built."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    signature: tuple[int, ...]
    quant: QuantParams | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)


class ModelBuilder:
    def __init__(self, description: str = "armrest test model"):
        self._description = description
        self._tensors: list[S.TensorT] = []
        self._handles: list[Tensor] = []
        self._buffers: list[S.BufferT] = [S.BufferT()]  # buffer 0: the empty buffer
        self._opcodes: dict[tuple[int, str | None, int], int] = {}
        self._opcode_list: list[S.OperatorCodeT] = []
        self._operators: list[S.OperatorT] = []
        self._op_names: list[str] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    # ------------------------------------------------------------------ tensors
    def _tensor(self, shape, dtype, name=None, signature=None, data: np.ndarray | None = None,
                quant: QuantParams | None = None) -> Tensor:
        shape = tuple(int(d) for d in shape)
        signature = tuple(int(d) for d in (signature if signature is not None else shape))
        if len(signature) != len(shape):
            raise ValueError(f"signature {signature} has another rank than shape {shape}")
        dtype = np.dtype(dtype)
        t = S.TensorT()
        t.shape = list(shape)
        t.type = _TENSOR_TYPES[dtype]
        t.name = name or f"t{len(self._tensors)}"
        t.hasRank = True
        if quant is not None:
            t.quantization = quant.to_flatbuffer()
        if signature != shape:
            t.shapeSignature = list(signature)
        if data is not None:
            buf = S.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self._buffers.append(buf)
            t.buffer = len(self._buffers) - 1
        else:
            t.buffer = 0
        self._tensors.append(t)
        handle = Tensor(len(self._tensors) - 1, shape, dtype, signature, quant)
        self._handles.append(handle)
        return handle

    def input(self, shape, dtype=np.float32, name=None, signature=None, quant: QuantParams | None = None) -> Tensor:
        """A model input; `signature` may hold -1 for dynamic dimensions; `quant`
        for an int8/uint8 input."""
        t = self._tensor(shape, dtype, name or f"input{len(self._inputs)}", signature, quant=quant)
        self._inputs.append(t.index)
        return t

    def const(self, array, dtype=None, name=None, quant: QuantParams | None = None) -> Tensor:
        """A constant tensor holding `array` (its dtype unless `dtype` is given),
        with quantization parameters `quant` for quantized weights and biases."""
        array = np.asarray(array, dtype=dtype)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        return self._tensor(array.shape, array.dtype, name, data=array, quant=quant)

    def weights(self, array, fp16: bool = False, name=None) -> Tensor:
        """Float weights: fp32 constants, or fp16 constants behind a DEQUANTIZE node."""
        array = np.asarray(array, dtype=np.float32)
        if not fp16:
            return self.const(array, name=name)
        half = self.const(array.astype(np.float16), name=(name + "_fp16") if name else None)
        return self.dequantize(half)

    def _int32(self, values) -> Tensor:
        return self.const(np.asarray(values, dtype=np.int32))

    def output(self, *tensors: Tensor) -> None:
        for t in tensors:
            self._outputs.append(t.index)

    @property
    def num_operators(self) -> int:
        return len(self._operators)

    @property
    def operator_names(self) -> list[str]:
        return list(self._op_names)

    # ---------------------------------------------------------------- operators
    def _opcode(self, builtin: int, custom: str | None, version: int) -> int:
        key = (builtin, custom, version)
        if key not in self._opcodes:
            code = S.OperatorCodeT()
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, S.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
            code.version = version
            if custom is not None:
                code.customCode = custom
            self._opcode_list.append(code)
            self._opcodes[key] = len(self._opcode_list) - 1
        return self._opcodes[key]

    def op(self, name: str, inputs: Sequence[Tensor | None], out_shapes, out_dtypes=None,
           options=None, options_type: int | None = None, version: int = 1,
           out_signatures=None, custom_options: bytes | None = None,
           out_quants: Sequence[QuantParams | None] | None = None) -> list[Tensor]:
        """Appends any operator; `name` is a BuiltinOperator name or `custom:NAME`.
        Inputs may be None for an absent optional input (index -1); `out_quants`
        gives quantized outputs their parameters."""
        if name.startswith("custom:"):
            builtin, custom = S.BuiltinOperator.CUSTOM, name[len("custom:"):]
        else:
            builtin, custom = getattr(S.BuiltinOperator, name), None
        out_dtypes = out_dtypes or [np.float32] * len(out_shapes)
        out_signatures = out_signatures or [None] * len(out_shapes)
        out_quants = out_quants or [None] * len(out_shapes)
        outs = [self._tensor(s, d, signature=g, quant=q)
                for s, d, g, q in zip(out_shapes, out_dtypes, out_signatures, out_quants)]
        o = S.OperatorT()
        o.opcodeIndex = self._opcode(builtin, custom, version)
        o.inputs = [-1 if t is None else t.index for t in inputs]
        o.outputs = [t.index for t in outs]
        if options is not None:
            o.builtinOptionsType = options_type if options_type is not None else getattr(
                S.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        if custom_options is not None:
            o.customOptions = list(custom_options)
        self._operators.append(o)
        self._op_names.append(custom if custom is not None else name)
        return outs

    def _single(self, name, inputs, shape, signature, options=None, version=1) -> Tensor:
        return self.op(name, inputs, [shape], options=options, version=version,
                       out_signatures=[signature])[0]

    @staticmethod
    def _batch_sig(shape, *sources: Tensor) -> tuple[int, ...]:
        """Output signature: dynamic batch if any source has a dynamic batch."""
        sig = list(shape)
        if sig and any(s.rank and s.signature[0] == -1 for s in sources):
            sig[0] = -1
        return tuple(sig)

    # --- convolutions / dense
    def _bias(self, bias: Tensor | None, n: int) -> Tensor:
        """TFLite's float CONV_2D / DEPTHWISE_CONV_2D need a bias tensor: zeros when none is given."""
        return bias if bias is not None else self.const(np.zeros(n, np.float32))

    def conv_2d(self, x: Tensor, filt: Tensor, bias: Tensor | None = None, stride=1, dilation=1,
                padding="SAME", activation=None) -> Tensor:
        o_ch, kh, kw, i_ch = filt.shape
        if x.shape[3] != i_ch:
            raise ValueError(f"conv_2d: input has {x.shape[3]} channels, filter wants {i_ch}")
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        opts = S.Conv2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = PADDINGS[padding], sh, sw
        opts.dilationHFactor, opts.dilationWFactor = dh, dw
        opts.fusedActivationFunction = ACTIVATIONS[activation]
        shape = (x.shape[0], conv_output_size(x.shape[1], kh, sh, dh, padding),
                 conv_output_size(x.shape[2], kw, sw, dw, padding), o_ch)
        return self._single("CONV_2D", [x, filt, self._bias(bias, o_ch)], shape, self._batch_sig(shape, x), opts)

    def depthwise_conv_2d(self, x: Tensor, filt: Tensor, bias: Tensor | None = None, stride=1,
                          dilation=1, padding="SAME", depth_multiplier=1, activation=None) -> Tensor:
        _, kh, kw, out_ch = filt.shape
        if out_ch != x.shape[3] * depth_multiplier:
            raise ValueError(f"depthwise_conv_2d: filter has {out_ch} channels, "
                             f"want {x.shape[3]} x {depth_multiplier}")
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        opts = S.DepthwiseConv2DOptionsT()
        opts.padding, opts.strideH, opts.strideW = PADDINGS[padding], sh, sw
        opts.dilationHFactor, opts.dilationWFactor = dh, dw
        opts.depthMultiplier = depth_multiplier
        opts.fusedActivationFunction = ACTIVATIONS[activation]
        shape = (x.shape[0], conv_output_size(x.shape[1], kh, sh, dh, padding),
                 conv_output_size(x.shape[2], kw, sw, dw, padding), out_ch)
        version = 2 if (dh, dw) != (1, 1) else 1
        return self._single("DEPTHWISE_CONV_2D", [x, filt, self._bias(bias, out_ch)], shape, self._batch_sig(shape, x),
                            opts, version)

    def fully_connected(self, x: Tensor, weights: Tensor, bias: Tensor | None = None,
                        keep_num_dims=False, activation=None) -> Tensor:
        units, depth = weights.shape
        if x.shape[-1] != depth:
            raise ValueError(f"fully_connected: input depth {x.shape[-1]} != weights depth {depth}")
        opts = S.FullyConnectedOptionsT()
        opts.fusedActivationFunction = ACTIVATIONS[activation]
        opts.keepNumDims = bool(keep_num_dims)
        if keep_num_dims:
            shape = tuple(x.shape[:-1]) + (units,)
            sig = tuple(x.signature[:-1]) + (units,)
        else:
            shape = (int(np.prod(x.shape)) // depth, units)
            sig = (-1 if -1 in x.signature[:-1] else shape[0], units)
        # an absent FC bias is the optional input -1, as the converter writes it
        return self._single("FULLY_CONNECTED", [x, weights, bias], shape, sig, opts,
                            5 if keep_num_dims else 1)

    # --- elementwise
    def _binary(self, name, a: Tensor, b: Tensor, options) -> Tensor:
        shape = tuple(broadcast_shape(a.shape, b.shape))
        sig = list(shape)
        rank = len(shape)
        for t in (a, b):  # a dynamic dim of a tensor that is not broadcast stays dynamic
            for i, d in enumerate(t.signature):
                j = rank - t.rank + i
                if d == -1 and shape[j] == t.shape[i]:
                    sig[j] = -1
        return self._single(name, [a, b], shape, tuple(sig), options)

    def add(self, a, b, activation=None):
        o = S.AddOptionsT()
        o.fusedActivationFunction = ACTIVATIONS[activation]
        return self._binary("ADD", a, b, o)

    def sub(self, a, b, activation=None):
        o = S.SubOptionsT()
        o.fusedActivationFunction = ACTIVATIONS[activation]
        return self._binary("SUB", a, b, o)

    def mul(self, a, b, activation=None):
        o = S.MulOptionsT()
        o.fusedActivationFunction = ACTIVATIONS[activation]
        return self._binary("MUL", a, b, o)

    def div(self, a, b, activation=None):
        o = S.DivOptionsT()
        o.fusedActivationFunction = ACTIVATIONS[activation]
        return self._binary("DIV", a, b, o)

    def maximum(self, a, b):
        return self._binary("MAXIMUM", a, b, S.MaximumMinimumOptionsT())

    def minimum(self, a, b):
        return self._binary("MINIMUM", a, b, S.MaximumMinimumOptionsT())

    def _unary(self, name, x: Tensor, options=None) -> Tensor:
        return self._single(name, [x], x.shape, x.signature, options)

    def relu(self, x):
        return self._unary("RELU", x)

    def relu6(self, x):
        return self._unary("RELU6", x)

    def relu_n1_to_1(self, x):
        return self._unary("RELU_N1_TO_1", x)

    def logistic(self, x):
        return self._unary("LOGISTIC", x)

    def tanh(self, x):
        return self._unary("TANH", x)

    def hard_swish(self, x):
        return self._unary("HARD_SWISH", x, S.HardSwishOptionsT())

    def leaky_relu(self, x, alpha: float):
        o = S.LeakyReluOptionsT()
        o.alpha = float(alpha)
        return self._unary("LEAKY_RELU", x, o)

    def prelu(self, x: Tensor, alpha: Tensor) -> Tensor:
        shape = tuple(broadcast_shape(x.shape, alpha.shape))
        if shape != x.shape:
            raise ValueError(f"prelu: alpha {alpha.shape} must broadcast into input {x.shape}")
        return self._single("PRELU", [x, alpha], x.shape, x.signature)

    def dequantize(self, x: Tensor) -> Tensor:
        version = 3 if x.dtype == np.float16 else 1
        return self._single("DEQUANTIZE", [x], x.shape, x.signature, version=version)

    # --- pooling / reductions
    def _pool(self, name, x: Tensor, filter_size, stride, padding, activation) -> Tensor:
        fh, fw = _pair(filter_size)
        sh, sw = _pair(stride)
        o = S.Pool2DOptionsT()
        o.padding, o.strideH, o.strideW = PADDINGS[padding], sh, sw
        o.filterHeight, o.filterWidth = fh, fw
        o.fusedActivationFunction = ACTIVATIONS[activation]
        shape = (x.shape[0], conv_output_size(x.shape[1], fh, sh, 1, padding),
                 conv_output_size(x.shape[2], fw, sw, 1, padding), x.shape[3])
        return self._single(name, [x], shape, self._batch_sig(shape, x), o)

    def average_pool_2d(self, x, filter_size, stride=1, padding="VALID", activation=None):
        return self._pool("AVERAGE_POOL_2D", x, filter_size, stride, padding, activation)

    def max_pool_2d(self, x, filter_size, stride=1, padding="VALID", activation=None):
        return self._pool("MAX_POOL_2D", x, filter_size, stride, padding, activation)

    def mean(self, x: Tensor, axes: Iterable[int], keep_dims=False) -> Tensor:
        axes = [int(a) for a in axes]
        norm = {a % x.rank for a in axes}
        o = S.ReducerOptionsT()
        o.keepDims = bool(keep_dims)
        if keep_dims:
            shape = tuple(1 if i in norm else d for i, d in enumerate(x.shape))
            sig = tuple(1 if i in norm else d for i, d in enumerate(x.signature))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in norm)
            sig = tuple(d for i, d in enumerate(x.signature) if i not in norm)
        return self._single("MEAN", [x, self._int32(axes)], shape, sig, o)

    def softmax(self, x: Tensor, beta: float = 1.0) -> Tensor:
        o = S.SoftmaxOptionsT()
        o.beta = float(beta)
        return self._unary("SOFTMAX", x, o)

    # --- shape ops
    def reshape(self, x: Tensor, new_shape: Sequence[int], shape_input=True, shape_option=True) -> Tensor:
        """RESHAPE with the new shape as a constant int32 input and/or as the
        builtin option (the converter writes both); one -1 is inferred."""
        new_shape = [int(d) for d in new_shape]
        total = int(np.prod(x.shape))
        if new_shape.count(-1) > 1:
            raise ValueError("reshape: at most one -1")
        shape = list(new_shape)
        if -1 in shape:
            known = int(np.prod([d for d in shape if d != -1]))
            shape[shape.index(-1)] = total // known
        if int(np.prod(shape)) != total:
            raise ValueError(f"reshape: {x.shape} cannot become {new_shape}")
        o = None
        if shape_option:
            o = S.ReshapeOptionsT()
            o.newShape = new_shape
        inputs = [x, self._int32(new_shape)] if shape_input else [x]
        return self._single("RESHAPE", inputs, tuple(shape), tuple(new_shape), o)

    def squeeze(self, x: Tensor, dims: Sequence[int] = ()) -> Tensor:
        norm = {int(d) % x.rank for d in dims} if dims else {i for i, d in enumerate(x.shape) if d == 1}
        for d in norm:
            if x.shape[d] != 1:
                raise ValueError(f"squeeze: dim {d} of {x.shape} is not 1")
        o = S.SqueezeOptionsT()
        o.squeezeDims = [int(d) for d in dims]
        shape = tuple(d for i, d in enumerate(x.shape) if i not in norm)
        sig = tuple(d for i, d in enumerate(x.signature) if i not in norm)
        return self._single("SQUEEZE", [x], shape, sig, o)

    def expand_dims(self, x: Tensor, axis: int) -> Tensor:
        a = axis if axis >= 0 else axis + x.rank + 1
        shape = x.shape[:a] + (1,) + x.shape[a:]
        sig = x.signature[:a] + (1,) + x.signature[a:]
        return self._single("EXPAND_DIMS", [x, self._int32([axis])], shape, sig, S.ExpandDimsOptionsT())

    def concatenation(self, tensors: Sequence[Tensor], axis: int, activation=None) -> Tensor:
        rank = tensors[0].rank
        a = axis % rank
        shape = list(tensors[0].shape)
        shape[a] = sum(t.shape[a] for t in tensors)
        for t in tensors:
            if t.rank != rank or any(t.shape[i] != shape[i] for i in range(rank) if i != a):
                raise ValueError(f"concatenation: {t.shape} does not fit {shape} on axis {axis}")
        o = S.ConcatenationOptionsT()
        o.axis = int(axis)
        o.fusedActivationFunction = ACTIVATIONS[activation]
        sig = list(shape)
        if a != 0 and any(t.signature[0] == -1 for t in tensors):
            sig[0] = -1
        return self._single("CONCATENATION", list(tensors), tuple(shape), tuple(sig), o)

    def pad(self, x: Tensor, paddings: Sequence[Sequence[int]]) -> Tensor:
        paddings = np.asarray(paddings, dtype=np.int32).reshape(x.rank, 2)
        shape = tuple(int(d + p[0] + p[1]) for d, p in zip(x.shape, paddings))
        sig = tuple(-1 if s == -1 else d for s, d in zip(x.signature, shape))
        return self._single("PAD", [x, self.const(paddings)], shape, sig, S.PadOptionsT())

    def resize_bilinear(self, x: Tensor, size: Sequence[int], align_corners=False,
                        half_pixel_centers=False) -> Tensor:
        oh, ow = (int(s) for s in size)
        o = S.ResizeBilinearOptionsT()
        o.alignCorners, o.halfPixelCenters = bool(align_corners), bool(half_pixel_centers)
        shape = (x.shape[0], oh, ow, x.shape[3])
        return self._single("RESIZE_BILINEAR", [x, self._int32([oh, ow])], shape,
                            self._batch_sig(shape, x), o, 3 if half_pixel_centers else 1)

    # ------------------------------------------------------------------ output
    def model(self) -> S.ModelT:
        if not self._inputs or not self._outputs:
            raise ValueError("the model needs at least one input and one output")
        sg = S.SubGraphT()
        sg.tensors, sg.inputs, sg.outputs = self._tensors, self._inputs, self._outputs
        sg.operators, sg.name = self._operators, "main"
        sig = S.SignatureDefT()
        sig.signatureKey, sig.subgraphIndex = "serving_default", 0
        sig.inputs = [self._tensor_map(i) for i in self._inputs]
        sig.outputs = [self._tensor_map(i) for i in self._outputs]
        m = S.ModelT()
        m.version = 3
        m.description = self._description
        m.operatorCodes, m.subgraphs, m.buffers = self._opcode_list, [sg], self._buffers
        m.signatureDefs = [sig]
        return m

    def _tensor_map(self, index: int) -> S.TensorMapT:
        tm = S.TensorMapT()
        tm.name, tm.tensorIndex = self._tensors[index].name, index
        return tm

    def build(self) -> bytes:
        return serialize(self.model())


def serialize(model: S.ModelT) -> bytes:
    """Packs a ModelT into .tflite bytes (identifier TFL3, 16-byte aligned buffers)."""
    b = _AlignedBuilder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def load_model(data: bytes) -> S.ModelT:
    """Unpacks .tflite bytes into the object API."""
    return S.ModelT.InitFromPackedBuf(bytearray(data), 0)


def he_init(rng: np.random.Generator, shape, fan_in: int) -> np.ndarray:
    """Fixed-seed weights with unit-ish activations (keeps deep models in range)."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)
