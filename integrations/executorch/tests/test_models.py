"""Programs lowered with ArmrestPartitioner run through ExecuTorch's Python
runtime with libarmrest.so loaded, against the same program lowered to
XNNPACK and to the portable kernels (norm-wise relative error ≤ 1e-4)."""

import os
import sys

import pytest
import torch

from armrest_executorch import ArmrestPartitioner
from armrest_executorch.harness import Program, export, lower, rel_error

sys.path.insert(0, os.path.dirname(__file__))
import models as M  # noqa: E402

TOL = 1e-4


def xnnpack():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner()


def lowered(cache, key, model_fn, example, partitioners, dynamic_shapes=None):
    """(.pte, counts), exported and lowered once per run."""
    k = (key, tuple(type(p).__name__ for p in partitioners), dynamic_shapes is not None)
    if k not in cache:
        torch.manual_seed(0)
        ep = export(model_fn(), example, dynamic_shapes)
        cache[k] = lower(ep, partitioners)
    return cache[k]


def run_all(cache, key, model_fn, example, check_xnnpack=True, portable=True, dynamic_shapes=None, extra_inputs=()):
    torch.manual_seed(0)
    ref_model = model_fn().eval()
    pte, counts = lowered(cache, key, model_fn, example, [ArmrestPartitioner()], dynamic_shapes)
    assert counts["undelegated"] == 0, f"left to the portable kernels: {counts['undelegated_ops']}"
    assert counts.get("ArmrestBackend", 0) >= 1
    arm = Program(pte)
    others = {}
    if check_xnnpack:
        others["xnnpack"] = Program(lowered(cache, key, model_fn, example, [xnnpack()], dynamic_shapes)[0])
    if portable:
        others["portable"] = Program(lowered(cache, key, model_fn, example, [], dynamic_shapes)[0])
    errors = {}
    for inputs in [example, *extra_inputs]:
        with torch.no_grad():
            want = ref_model(*inputs)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        got = arm(*inputs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            e = rel_error(g, w)
            errors.setdefault("eager", []).append(e)
            assert e <= TOL, f"armrest vs eager: {e:.2e}"
        for name, prog in others.items():
            for g, o in zip(got, prog(*inputs)):
                e = rel_error(g, o)
                errors.setdefault(name, []).append(e)
                assert e <= TOL, f"armrest vs {name}: {e:.2e}"
    return counts, {k: max(v) for k, v in errors.items()}


SYNTHETIC = {
    "conv3x3_bn_relu6": (lambda: M.ConvBlock(), lambda: (torch.randn(1, 6, 9, 11),)),
    "conv_stride2_dil2_hswish": (lambda: M.ConvBlock(6, 7, 3, stride=2, padding=2, dilation=2, act="hardswish"), lambda: (torch.randn(2, 6, 13, 10),)),
    "depthwise_bn_relu": (lambda: M.ConvBlock(8, 8, 3, stride=2, padding=1, groups=8, act="relu"), lambda: (torch.randn(1, 8, 15, 15),)),
    "conv1x1_bias": (lambda: M.ConvBlock(6, 16, 1, padding=0, bn=False, act="none"), lambda: (torch.randn(1, 6, 7, 7),)),
    "grouped_dw_mult_asym": (M.GroupedConv, lambda: (torch.randn(1, 8, 11, 9),)),
    "elementwise": (M.Elementwise, lambda: (torch.randn(2, 3, 5), torch.randn(3, 5))),
    "pools": (M.Pools, lambda: (torch.randn(2, 5, 9, 8),)),
    "layout": (M.Layout, lambda: (torch.randn(1, 4, 5, 6),)),
    "matmuls": (M.Matmuls, lambda: (torch.randn(6, 12), torch.randn(2, 12, 4))),
}


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic(armrest, pte_cache, name):
    model_fn, ex = SYNTHETIC[name]
    torch.manual_seed(1)
    run_all(pte_cache, name, model_fn, ex(), check_xnnpack=name not in ("grouped_dw_mult_asym",))


def _tv(name):
    import torchvision

    return lambda: getattr(torchvision.models, name)(weights=None)


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "resnet18"])
def test_torchvision(armrest, pte_cache, name):
    torch.manual_seed(2)
    x = torch.randn(1, 3, 224, 224)
    counts, errors = run_all(pte_cache, name, _tv(name), (x,))
    print(f"\n{name}: ArmrestBackend partitions={counts['ArmrestBackend']} undelegated={counts['undelegated']} errors={errors}")


def test_dynamic_batch(armrest, pte_cache):
    batch = torch.export.Dim("batch", min=1, max=8)
    x = torch.randn(2, 3, 96, 96)
    torch.manual_seed(3)
    counts, errors = run_all(pte_cache, "mobilenet_v2_dyn", _tv("mobilenet_v2"), (x,), portable=False,
                             dynamic_shapes=({0: batch},), extra_inputs=[(torch.randn(1, 3, 96, 96),), (torch.randn(5, 3, 96, 96),)])
    print(f"\nmobilenet_v2 dynamic batch: {counts['ArmrestBackend']} partitions, errors {errors}")


def test_dynamic_batch_synthetic(armrest, pte_cache):
    batch = torch.export.Dim("batch", min=1, max=16)
    run_all(pte_cache, "pools_dyn", M.Pools, (torch.randn(2, 5, 9, 8),), check_xnnpack=False,
            dynamic_shapes=({0: batch},), extra_inputs=[(torch.randn(7, 5, 9, 8),), (torch.randn(1, 5, 9, 8),)])


def test_both_partitioners_in_one_program(armrest, pte_cache):
    """armrest takes the convolutions, XNNPACK the rest, in one .pte."""
    torch.manual_seed(4)
    model = _tv("mobilenet_v2")().eval()
    x = torch.randn(1, 3, 96, 96)
    ep = export(model, (x,))
    arm = ArmrestPartitioner(exclude={"aten.linear.default", "aten.mean.dim", "aten.view_copy.default", "aten.add.Tensor"})
    pte, counts = lower(ep, [arm, xnnpack()])
    assert counts.get("ArmrestBackend", 0) >= 1 and counts.get("XnnpackBackend", 0) >= 1, counts
    assert counts["undelegated"] == 0, counts["undelegated_ops"]
    with torch.no_grad():
        want = model(x)
    got = Program(pte)(x)[0]
    assert rel_error(got, want) <= TOL
    print(f"\nmixed program: {counts['ArmrestBackend']} armrest + {counts['XnnpackBackend']} XNNPACK partitions")
