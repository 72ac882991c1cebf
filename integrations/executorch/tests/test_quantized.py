"""PT2E int8 programs (XNNPACKQuantizer, symmetric per-channel config)
lowered with ArmrestPartitioner, XnnpackPartitioner and to the portable
kernels, run through ExecuTorch's runtime.

Outputs are compared in quantized steps of the program's output (the scale
of its last dequantize): against XNNPACK's int8 result and against the
converted model run in eager PyTorch (the "dequantized float reference":
every quantize / dequantize simulated in fp32).

Tolerances. armrest requantizes with TFLite's fixed-point multipliers
(rounding half away from zero, twice for convolutions); XNNPACK with fp32
scales (round half to even); PyTorch's reference rounds fp32 arithmetic
half to even. Each requantization can therefore land one step apart where
the exact value is within rounding error of a half step, and a one-step
difference in a feature map moves the next layer's accumulators by up to
|weights| · scale ratio, so differences grow with depth. We assert: the
small model (≤ 8 requantizations on a path) within 2 steps of XNNPACK and
of the reference; MobileNetV2 (≈ 60 requantizations on a path): XNNPACK
itself ends up to ~23 steps (mean ~4.6) from the reference there, so armrest
must be as close to the reference as XNNPACK is (mean ≤ 1.5x XNNPACK's + 0.5,
max ≤ 1.5x XNNPACK's + 2), within 2x XNNPACK's mean distance (+1) of XNNPACK,
and within 15% of the output's range everywhere; the numbers measured are
printed.
"""

import ctypes
import os
import struct
import sys

import numpy as np
import pytest
import torch

from armrest_executorch import ArmrestPartitioner
from armrest_executorch import blob as B
from armrest_executorch.harness import Program, delegation_counts

sys.path.insert(0, os.path.dirname(__file__))


class QSynth(torch.nn.Module):
    """conv+relu, depthwise (multiplier 2)+relu6, 1x1 conv, residual add, max and
    average pooling, cat, mean, flatten, linear, linear+relu, add."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.dw = torch.nn.Conv2d(8, 16, 3, padding=1, stride=2, groups=8)
        self.pw = torch.nn.Conv2d(16, 16, 1)
        self.c2 = torch.nn.Conv2d(16, 8, 1)
        self.fc1 = torch.nn.Linear(24, 10)
        self.fc2 = torch.nn.Linear(24 * 4 * 4, 10)

    def forward(self, x):
        y = torch.relu(self.c1(x))
        y = torch.nn.functional.hardtanh(self.dw(y), 0.0, 6.0)
        y = y + self.pw(y)
        a = torch.nn.functional.max_pool2d(y, 2)
        b = torch.nn.functional.avg_pool2d(self.c2(y), 2)
        z = torch.cat([a, b], 1)
        return self.fc1(z.mean((2, 3))) + torch.relu(self.fc2(torch.flatten(z, 1)))


def quantize(model, example, calibration):
    """(exported converted program, converted module, output scale)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    ep = torch.export.export(model.eval(), example)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    m = prepare_pt2e(ep.module(), quantizer)
    for c in calibration:
        m(*c)
    m = convert_pt2e(m)
    out = next(n for n in m.graph.nodes if n.op == "output").args[0]
    out = out[0] if isinstance(out, (list, tuple)) else out
    assert "dequantize_per_tensor" in str(out.target), out.target
    return m, float(out.args[1])


def lower_q(m, example, partitioners):
    import executorch.kernels.quantized  # noqa: F401 - the out variants of quantize / dequantize (portable program)
    from executorch.exir import to_edge_transform_and_lower

    ep = torch.export.export(m, example)
    edge = to_edge_transform_and_lower(ep, partitioner=list(partitioners))
    counts = delegation_counts(edge.exported_program().graph_module)
    return edge.to_executorch().buffer, counts


def xnnpack():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner()


def steps(a: torch.Tensor, b: torch.Tensor, scale: float):
    d = (a.double() - b.double()).abs() / scale
    return float(d.max()), float(d.mean())


_programs = {}


def programs(name, model_fn, shape, seed, portable=True):
    """Quantized and lowered with armrest, XNNPACK and (unless `portable` is
    False, to keep CI short for big models) the portable kernels, once per run."""
    if name not in _programs:
        torch.manual_seed(seed)
        model = model_fn()
        example = (torch.randn(*shape),)
        calibration = [(torch.randn(*shape),) for _ in range(4)]
        m, scale = quantize(model, example, calibration)
        arm = ArmrestPartitioner()
        lowered = {
            "armrest": lower_q(m, example, [arm]),
            "xnnpack": lower_q(m, example, [xnnpack()]),
        }
        if portable:
            lowered["portable"] = lower_q(m, example, [])
        _programs[name] = (m, scale, lowered, arm.last_report)
    return _programs[name]


def compare(armrest, name, model_fn, shape, seed, max_steps, mean_steps=None, portable=True):
    m, scale, lowered, report = programs(name, model_fn, shape, seed, portable)
    counts = {k: (c.get("ArmrestBackend", 0) + c.get("XnnpackBackend", 0), c["undelegated"]) for k, (_, c) in lowered.items()}
    torch.manual_seed(seed + 100)
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = m(x)
    outs = {k: Program(pte)(x)[0] for k, (pte, _) in lowered.items()}
    result = {
        "vs_xnnpack": steps(outs["armrest"], outs["xnnpack"], scale),
        "vs_reference": steps(outs["armrest"], ref, scale),
        "xnnpack_vs_reference": steps(outs["xnnpack"], ref, scale),
    }
    if "portable" in outs:
        result["vs_portable"] = steps(outs["armrest"], outs["portable"], scale)
    # The output must not be degenerate (a constant output would make every comparison pass).
    assert len(torch.unique(ref)) > 4, f"{name}: degenerate reference output"
    print(f"\n{name}: partitions (delegates, undelegated ops) {counts}; output scale {scale:.3g}; "
          + "; ".join(f"{k} max {a:.0f} mean {b:.3f} steps" for k, (a, b) in result.items()))
    left = {n: why for n, why in report[2].items() if not n.startswith(("p_", "b_", "_"))}
    if left:
        print(f"{name}: not taken by armrest: {left}")
    assert counts["armrest"][0] >= 1
    assert lowered["armrest"][1]["undelegated"] == 0, lowered["armrest"][1]["undelegated_ops"]
    for k in ("vs_xnnpack", "vs_reference"):
        assert result[k][0] <= max_steps, f"{name} {k}: {result[k]}"
        if mean_steps is not None:
            assert result[k][1] <= mean_steps, f"{name} {k}: {result[k]}"
    return counts, result


def test_synthetic_int8(armrest):
    compare(armrest, "qsynth", QSynth, (2, 3, 16, 16), seed=5, max_steps=2)


def mobilenet_v2_random():
    """torchvision's mobilenet_v2 with random weights and batch-norm statistics
    measured on random inputs: with the default statistics (mean 0, var 1) a
    random network's activations shrink layer by layer to logits of about
    1e-9, which quantize to a single value and would make any comparison vacuous."""
    import torchvision

    model = torchvision.models.mobilenet_v2(weights=None)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 224, 224))
    return model.eval()


def test_mobilenet_v2_int8(armrest):
    shape = (1, 3, 224, 224)
    m, scale, lowered, _ = programs("mobilenet_v2_int8", mobilenet_v2_random, shape, 6, portable=False)
    # The logits' range in steps bounds what "close" can mean for a random-weight network.
    torch.manual_seed(106)
    x = torch.randn(*shape)
    with torch.no_grad():
        span = float((m(x).max() - m(x).min()) / scale)
    counts, result = compare(armrest, "mobilenet_v2_int8", None, shape, 6, max_steps=0.15 * span, portable=False)
    print(f"mobilenet_v2_int8: output range {span:.0f} steps")
    # Through ~60 requantizations armrest must stay as close to the reference as XNNPACK does.
    (arm_max, arm_mean), (xnn_max, xnn_mean) = result["vs_reference"], result["xnnpack_vs_reference"]
    assert arm_mean <= 1.5 * xnn_mean + 0.5, result
    assert arm_max <= 1.5 * xnn_max + 2, result
    assert result["vs_xnnpack"][1] <= 2 * xnn_mean + 1, result
    assert lowered["armrest"][1]["ArmrestBackend"] == 1


class QGrouped(torch.nn.Module):
    """A grouped (non-depthwise) convolution between two convolutions."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.g = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.c2 = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.c2(torch.relu(self.g(torch.relu(self.c1(x)))))


def test_int8_ops_without_kernel_stay_with_executorch(armrest):
    """The int8 grouped convolution has no armrest kernel: it and its quantize /
    dequantize stay with ExecuTorch (with the reason), the rest is armrest's."""
    torch.manual_seed(7)
    shape = (1, 3, 8, 8)
    example = (torch.randn(*shape),)
    m, scale = quantize(QGrouped(), example, [(torch.randn(*shape),) for _ in range(2)])
    arm = ArmrestPartitioner()
    pte, counts = lower_q(m, example, [arm])
    reasons = arm.last_report[2]
    grouped = [why for n, why in reasons.items() if "grouped convolution with 2 groups" in why]
    assert grouped, reasons
    assert counts["ArmrestBackend"] == 2, counts
    assert counts["undelegated"] >= 1, counts
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = m(x)
    got = Program(pte)(x)[0]
    mx, mean = steps(got, ref, scale)
    print(f"\ngrouped int8 conv left to ExecuTorch: {counts['ArmrestBackend']} armrest partitions, "
          f"{counts['undelegated']} ops left over ({grouped[0]}); vs reference max {mx:.0f} mean {mean:.3f} steps")
    assert mx <= 2


# ---------------------------------------------------------------- malformed int8 blobs

def init(lib, data: bytes) -> int:
    lib.armrest_et_init.restype = ctypes.c_int32
    h = ctypes.c_void_p()
    buf = (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")
    rc = lib.armrest_et_init(buf, ctypes.c_size_t(len(data)), None, None, ctypes.byref(h))
    if rc == 0:
        lib.armrest_et_destroy(h)
    return rc


def int8_blob(zp=3, wscales=(0.01, 0.02), wzp=(0, 0), bias_scale=None, bounds=(-128, 127), out_int8=False):
    w = B.BlobWriter()
    x = w.value([1, 3, 3, 2])
    w.inputs.append(x)
    xq = w.qnode(B.QUANTIZE, [x], [1, 3, 3, 2], B.QParams.per_tensor(0.05, zp))
    f = w.qconstant(np.ones((2, 3, 3, 2), np.int8), "i8", B.QParams(tuple(wscales), tuple(wzp), 0))
    bs = bias_scale or tuple(np.float32(0.05) * np.float32(s) for s in wscales)
    b = w.qconstant(np.array([5, -5], np.int32), "i32", B.QParams(tuple(float(s) for s in bs), (0, 0), 0))
    yp = B.QParams.per_tensor(0.1, -20)
    c = w.qnode(B.QCONV2D, [xq, f, b], [1, 3, 3, 2], yp, B.qconv_attrs((1, 1, 1, 1), (1, 1), (1, 1), *bounds))
    y = w.qnode(B.QUANTIZE, [c], [1, 3, 3, 2], yp) if out_int8 else w.node(B.DEQUANTIZE, [c], [1, 3, 3, 2])
    w.outputs.append(y)
    return w.finish()


def test_malformed_int8_blobs_are_refused(armrest):
    assert init(armrest, int8_blob()) == 0
    assert init(armrest, int8_blob(zp=200)) == 4
    assert init(armrest, int8_blob(wscales=(0.01, -0.02))) == 4
    assert init(armrest, int8_blob(wzp=(0, 3))) == 4
    assert init(armrest, int8_blob(bias_scale=(1.0, 1.0))) == 4
    assert init(armrest, int8_blob(bounds=(5, -5))) == 4
    assert init(armrest, int8_blob(out_int8=True)) == 4
    good = int8_blob()
    # A version-2 blob relabelled version 1 is refused (its records do not parse as version 1).
    assert init(armrest, good[:8] + struct.pack("<I", 1) + good[12:]) in (3, 4)
    assert init(armrest, good[:8] + struct.pack("<I", 3) + good[12:]) == 2
    for n in range(0, len(good), 5):
        assert init(armrest, good[:n]) != 0, n
    rng = np.random.default_rng(1)
    for _ in range(300):
        b = bytearray(good)
        for i in rng.integers(0, len(b), size=3):
            b[i] = int(rng.integers(0, 256))
        assert init(armrest, bytes(b)) in (0, 1, 2, 3, 4, 5)
