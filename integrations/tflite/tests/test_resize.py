"""resize_tensor_input on a dynamic-batch model with armrest: re-allocate and
invoke without the delegate being rebuilt (its report is printed once, at
creation), outputs resized and equal to the builtin kernels'."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite import models
from conftest import assert_all_claimed, assert_match, oracle_outputs


def _oracle(model, runtime, x):
    ref = h.make_interpreter(model, runtime, h.BUILTIN)
    ref.resize_tensor_input(0, list(x.shape))
    ref.allocate_tensors()
    return h.run(ref, [x])


@pytest.mark.parametrize("threads", [1, 2])
def test_resize_batch(runtime, threads, armrest, capfd):
    b = models.mobilenet_v2(input_size=32, width=0.35, num_classes=7, seed=9, dynamic_batch=True)
    model = b.build()
    interp, report = armrest(model, runtime, threads=threads)
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 32, 32, 3)).astype(np.float32)
    assert_match(h.run(interp, [x1]), oracle_outputs(model, runtime, [x1]), "batch 1")
    for batch in (3, 2, 1):
        interp.resize_tensor_input(0, [batch, 32, 32, 3])
        interp.allocate_tensors()
        x = rng.standard_normal((batch, 32, 32, 3)).astype(np.float32)
        out = h.run(interp, [x])
        assert out[0].shape == (batch, 7), f"output not resized: {out[0].shape}"
        assert_match(out, _oracle(model, runtime, x), f"after resize to batch {batch}")
    err = capfd.readouterr().err
    assert h.count_summaries(err) == 0, \
        f"armrest reported again after resize: the delegate was rebuilt:\n{err}"


def test_resize_before_first_allocate(runtime, armrest, capfd):
    """Batch resize right after creation, before any allocate_tensors."""
    b = models.mobilenet_v2(input_size=32, width=0.35, num_classes=5, seed=4, dynamic_batch=True)
    model = b.build()
    interp, report = armrest(model, runtime)
    assert_all_claimed(report, b.num_operators)
    interp.resize_tensor_input(0, [4, 32, 32, 3])
    interp.allocate_tensors()
    x = np.random.default_rng(1).standard_normal((4, 32, 32, 3)).astype(np.float32)
    out = h.run(interp, [x])
    assert out[0].shape == (4, 5)
    assert_match(out, _oracle(model, runtime, x))
    assert h.count_summaries(capfd.readouterr().err) == 0
