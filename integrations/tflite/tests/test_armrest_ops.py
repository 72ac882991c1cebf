"""armrest on every claimed op and option set, and on composite models: every
node claimed (from the report=true summary) and outputs matching TFLite's
builtin kernels, on both runtimes, with 1 and 2 threads."""

from __future__ import annotations

import pytest

from armrest_tflite import harness as h
from armrest_tflite import models
from conftest import assert_all_claimed, assert_match, available_tiers, oracle_outputs
from op_cases import CASES


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op(case, runtime, threads, armrest):
    b = case.build()[0]
    model = b.build()
    interp, report = armrest(model, runtime, threads=threads)
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    inputs = case.inputs([tuple(d["shape"]) for d in interp.get_input_details()])
    outs = h.run(interp, inputs)
    assert_match(outs, oracle_outputs(model, runtime, inputs))
    # a second invoke on new data (no state carried over from the first)
    inputs2 = case.inputs([x.shape for x in inputs], seed=1)
    assert_match(h.run(interp, inputs2), oracle_outputs(model, runtime, inputs2), "second invoke")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(models.COMPOSITES))
def test_composite(name, runtime, threads, armrest):
    b = models.COMPOSITES[name]()
    model = b.build()
    interp, report = armrest(model, runtime, threads=threads)
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    inputs = h.random_inputs(interp, seed=3)
    assert_match(h.run(interp, inputs), oracle_outputs(model, runtime, inputs))


@pytest.mark.parametrize("tier", available_tiers())
def test_each_kernel_tier(tier, runtime, armrest):
    """kernels=<tier> forces one tier; each available one computes the same model right."""
    b = models.COMPOSITES["blaze_like"]()
    model = b.build()
    interp, report = armrest(model, runtime, kernels=tier)
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    inputs = h.random_inputs(interp, seed=4)
    assert_match(h.run(interp, inputs), oracle_outputs(model, runtime, inputs), f"kernels={tier}")


@pytest.mark.parametrize("delegate_threads", [1, 2, 3])
def test_num_threads_option_overrides_interpreter(delegate_threads, runtime, armrest):
    b = models.COMPOSITES["mobilenet_v3_like"]()
    model = b.build()
    interp, report = armrest(model, runtime, threads=1, num_threads=delegate_threads)
    assert_all_claimed(report, b.num_operators)
    interp.allocate_tensors()
    inputs = h.random_inputs(interp, seed=5)
    assert_match(h.run(interp, inputs), oracle_outputs(model, runtime, inputs))
