"""Builds the ONNX test and benchmark models of armrest's standalone runner
(`armrest run|bench|report MODEL.onnx`, crate runner/): random weights, fixed
seeds, nothing downloaded.

    python integrations/onnx/build_models.py OUT_DIR [--only NAME ...]

writes OUT_DIR/NAME.onnx for every model in MODELS:

- mobilenet_v2: a MobileNetV2 (width 1.0, 224x224): conv 3x3/2, inverted
  residual blocks (1x1 expand, 3x3 depthwise, 1x1 project, residual Add),
  BatchNormalization kept as separate nodes, ReLU6 as Clip, 1x1 conv to 1280,
  GlobalAveragePool, Flatten, Gemm to 1000 classes. The benchmark model.
- mobilenet_v2_small: the same structure at width 0.35 on 64x64, with the
  BatchNormalization folded into the convs. The test model.
- mixed: ops armrest's kernels run (Conv, Relu, MaxPool, Add, Sigmoid,
  AveragePool, GlobalAveragePool, Gemm, Softmax) around ones they lack (Sin,
  Exp, Transpose), so the model runs as several armrest regions with tract
  in between.
- tract_only: nothing armrest's kernels run (Sin, Exp, Cos).
- two_inputs: two image inputs added then convolved (several inputs, NCHW).

and, with --tflite, .tflite models from armrest_tflite (integrations/tflite):
- mobilenet_v2_small.tflite: armrest_tflite.models.mobilenet_v2 at width 0.35
  on 64x64 (NHWC, fused RELU6, MEAN, FULLY_CONNECTED, SOFTMAX).
- mean.tflite: one MEAN over H and W (tract-tflite's float MEAN, fixed by
  the runner's loader).
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base="w"):
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k=1, stride=1, group=1, bias=True, pad=None):
        fan_in = (cin // group) * k * k
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (cout, cin // group, k, k)).astype(np.float32)
        ins = [x, self.const(w)]
        if bias:
            ins.append(self.const(self.rng.normal(0.0, 0.1, cout).astype(np.float32), "b"))
        p = k // 2 if pad is None else pad
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], group=group)

    def bn(self, x, c):
        scale = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        shift = self.rng.normal(0.0, 0.1, c).astype(np.float32)
        mean = self.rng.normal(0.0, 0.1, c).astype(np.float32)
        var = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        return self.node("BatchNormalization", [x, self.const(scale), self.const(shift), self.const(mean), self.const(var)], epsilon=1e-5)

    def relu6(self, x):
        return self.node("Clip", [x, self.const(np.float32(0.0), "lo"), self.const(np.float32(6.0), "hi")])

    def conv_bn(self, x, cin, cout, k=1, stride=1, group=1, fold_bn=True, act=True):
        y = self.conv(x, cin, cout, k, stride, group, bias=fold_bn)
        if not fold_bn:
            y = self.bn(y, cout)
        return self.relu6(y) if act else y

    def model(self, inputs, outputs, name):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="armrest build_models.py")
        m.ir_version = 8
        # Output shapes from ONNX's own shape inference.
        probe = onnx.ModelProto()
        probe.CopyFrom(m)
        del probe.graph.output[:]
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(probe, strict_mode=True).graph.value_info}
        for out in m.graph.output:
            out.type.CopyFrom(inferred[out.name].type)
        onnx.checker.check_model(m, full_check=True)
        return m


def image(name, c, h, w):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, h, w])


def output(name):
    """An output whose shape `Graph.model` fills in."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [])


def mobilenet_v2(width=1.0, size=224, classes=1000, fold_bn=False, seed=0):
    def ch(c):
        return max(8, int(c * width + 4) // 8 * 8)

    g = Graph(seed)
    c = ch(32)
    x = g.conv_bn("input", 3, c, k=3, stride=2, fold_bn=fold_bn)
    for t, cout, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        cout = ch(cout)
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            y = x
            if t != 1:
                y = g.conv_bn(y, c, hidden, fold_bn=fold_bn)
            y = g.conv_bn(y, hidden, hidden, k=3, stride=stride, group=hidden, fold_bn=fold_bn)
            y = g.conv_bn(y, hidden, cout, fold_bn=fold_bn, act=False)
            if stride == 1 and c == cout:
                y = g.node("Add", [x, y])
            x, c = y, cout
    last = 1280 if width <= 1.0 else ch(1280)
    x = g.conv_bn(x, c, last, fold_bn=fold_bn)
    x = g.node("GlobalAveragePool", [x])
    x = g.node("Flatten", [x], axis=1)
    w = g.rng.normal(0.0, np.sqrt(1.0 / last), (classes, last)).astype(np.float32)
    b = g.rng.normal(0.0, 0.1, classes).astype(np.float32)
    x = g.node("Gemm", [x, g.const(w), g.const(b, "b")], transB=1)
    return g.model([image("input", 3, size, size)], [output(x)], "mobilenet_v2")


def mixed(seed=1):
    g = Graph(seed)
    x = g.conv("input", 3, 8, k=3)
    x = g.node("Relu", [x])
    x = g.node("Sin", [x])  # tract only
    y = g.conv_bn(x, 8, 16, k=3, stride=2)
    y = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    z = g.conv(y, 16, 16, k=3, group=16)
    z = g.node("Add", [y, z])
    z = g.node("Sigmoid", [z])
    z = g.node("Exp", [z])  # tract only
    z = g.node("Transpose", [z], perm=[0, 1, 3, 2])  # tract only
    z = g.node("AveragePool", [z], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    z = g.conv(z, 16, 24, k=1)
    z = g.node("GlobalAveragePool", [z])
    z = g.node("Flatten", [z], axis=1)
    w = g.rng.normal(0.0, 0.3, (10, 24)).astype(np.float32)
    z = g.node("Gemm", [z, g.const(w), g.const(np.zeros(10, np.float32), "b")], transB=1)
    z = g.node("Softmax", [z], axis=1)
    return g.model([image("input", 3, 32, 32)], [output(z), output(x)], "mixed")


def tract_only(seed=2):
    g = Graph(seed)
    x = g.node("Sin", ["input"])
    x = g.node("Exp", [x])
    x = g.node("Cos", [x])
    return g.model([image("input", 2, 5, 7)], [output(x)], "tract_only")


def two_inputs(seed=3):
    g = Graph(seed)
    x = g.node("Add", ["a", "b"])
    x = g.conv_bn(x, 4, 8, k=3, stride=2)
    x = g.conv(x, 8, 8, k=3, group=8, bias=False)
    return g.model([image("a", 4, 17, 13), image("b", 4, 17, 13)], [output(x)], "two_inputs")


MODELS = {
    "mobilenet_v2": lambda: mobilenet_v2(),
    "mobilenet_v2_small": lambda: mobilenet_v2(width=0.35, size=64, classes=100, fold_bn=True, seed=5),
    "mixed": mixed,
    "tract_only": tract_only,
    "two_inputs": two_inputs,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--only", nargs="*", choices=sorted(MODELS), help="build only these models")
    parser.add_argument("--tflite", action="store_true", help="also build the .tflite models")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name in MODELS if args.only is None else args.only:
        path = os.path.join(args.out_dir, f"{name}.onnx")
        tmp = f"{path}.tmp{os.getpid()}"
        onnx.save(MODELS[name](), tmp)
        os.replace(tmp, path)
        print(path)
    if args.tflite:
        for name, data in tflite_models().items():
            path = os.path.join(args.out_dir, f"{name}.tflite")
            tmp = f"{path}.tmp{os.getpid()}"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            print(path)
    return 0


def tflite_models():
    from armrest_tflite import models

    from armrest_tflite.tflite_builder import ModelBuilder

    mean = ModelBuilder("mean")
    x = mean.input([1, 16, 16, 8], name="x")
    mean.output(mean.mean(x, [1, 2], keep_dims=False))
    return {
        "mobilenet_v2_small": models.mobilenet_v2(input_size=64, width=0.35, num_classes=100, seed=5).build(),
        "mean": mean.build(),
    }


if __name__ == "__main__":
    sys.exit(main())
