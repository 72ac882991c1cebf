"""armrest reads a model's fp32 weights where TFLite keeps them (read-only
tensors) instead of copying them at set-up. These runs check the cases that
lending depends on: a model file TFLite maps and owns, interpreters destroyed
and recreated (one delegate serving several, one after another and side by
side), and the caller dropping its reference to the model bytes; every run
must match the builtin kernels."""

from __future__ import annotations

import gc

import numpy as np

from armrest_tflite import harness as h
from armrest_tflite import interpreter_module, load_delegate
from armrest_tflite import models

from conftest import assert_all_claimed, assert_match, oracle_outputs


def _model() -> bytes:
    # Small but with every packed kind: conv, depthwise, pointwise, fully connected; fp16-free.
    return models.mobilenet_v2(input_size=32, width=0.35, num_classes=10).build()


def _armrest(mod, delegate, **source):
    it = mod.Interpreter(num_threads=1, experimental_delegates=[delegate],
                         experimental_op_resolver_type=mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, **source)
    it.allocate_tensors()
    return it


def test_model_file_tflite_owns(tmp_path, runtime, armrest):
    data = _model()
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    _, report = armrest(data, runtime)
    assert_all_claimed(report, report.total)
    mod = interpreter_module(runtime)
    it = _armrest(mod, load_delegate(runtime), model_path=str(path))
    inputs = h.random_inputs(it, 3)
    assert_match(h.run(it, inputs), oracle_outputs(data, runtime, inputs))


def test_interpreters_destroyed_and_recreated(runtime, lib):
    data = _model()
    mod = interpreter_module(runtime)
    ref_it = h.make_interpreter(data, runtime, h.BUILTIN)
    ref_it.allocate_tensors()
    inputs = h.random_inputs(ref_it, 4)
    refs = h.run(ref_it, inputs)
    delegate = load_delegate(runtime)
    first = _armrest(mod, delegate, model_content=bytes(data))
    out_first = h.run(first, inputs)
    assert_match(out_first, refs)
    # A second interpreter from its own copy of the model, alive beside the first.
    second = _armrest(mod, delegate, model_content=bytes(bytearray(data)))
    del first
    gc.collect()
    out_second = h.run(second, inputs)
    for a, b in zip(out_first, out_second):
        np.testing.assert_array_equal(a, b)
    # And a third after both are gone, with the caller's bytes dropped once it is built.
    del second
    gc.collect()
    content = bytes(bytearray(data))
    third = _armrest(mod, delegate, model_content=content)
    del content
    gc.collect()
    for _ in range(2):
        for a, b in zip(out_first, h.run(third, inputs)):
            np.testing.assert_array_equal(a, b)
