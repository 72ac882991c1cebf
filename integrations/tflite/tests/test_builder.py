"""The model builder itself, checked without armrest: models it writes load in
both runtimes, declare the shapes TFLite computes, and compute on TFLite's
builtin kernels what numpy says the op means."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite import models
from armrest_tflite.tflite_builder import ModelBuilder, S, load_model, op_name
from op_cases import CASES
from conftest import assert_match


def _declared_vs_computed(b: ModelBuilder, interp) -> list[str]:
    details = {d["index"]: d for d in interp.get_tensor_details()}
    bad = []
    for t in b._handles:
        got = tuple(int(v) for v in details[t.index]["shape"])
        if got != t.shape:
            bad.append(f"tensor {t.index}: builder says {t.shape}, TFLite computed {got}")
    return bad


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_matches_numpy(case, runtime):
    b, ref = case.build()
    model = b.build()
    interp = h.make_interpreter(model, runtime, h.BUILTIN)
    interp.allocate_tensors()
    assert not _declared_vs_computed(b, interp)
    inputs = case.inputs([tuple(d["shape"]) for d in interp.get_input_details()])
    outs = h.run(interp, inputs)
    expected = [np.asarray(r, dtype=np.float64) for r in ref(inputs)]
    assert_match(outs, expected, f"builtin kernels vs numpy ({case.id})")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_xnnpack_agrees_with_builtin(case, runtime):
    """A second implementation meets the tolerance the tests hold armrest to."""
    model = case.build()[0].build()
    ref = h.make_interpreter(model, runtime, h.BUILTIN)
    ref.allocate_tensors()
    inputs = case.inputs([tuple(d["shape"]) for d in ref.get_input_details()])
    xnn = h.make_interpreter(model, runtime, h.XNNPACK)
    xnn.allocate_tensors()
    assert_match(h.run(xnn, inputs), h.run(ref, inputs), "XNNPACK vs builtin kernels")


@pytest.mark.parametrize("name", sorted(models.COMPOSITES))
def test_composite_shapes_and_peer(name, runtime):
    b = models.COMPOSITES[name]()
    model = b.build()
    ref = h.make_interpreter(model, runtime, h.BUILTIN)
    ref.allocate_tensors()
    assert not _declared_vs_computed(b, ref)
    inputs = h.random_inputs(ref, seed=1)
    outs = h.run(ref, inputs)
    assert all(np.isfinite(o).all() for o in outs)
    assert all(float(np.std(o)) > 1e-3 for o in outs), "outputs are (nearly) constant: a weak test model"
    xnn = h.make_interpreter(model, runtime, h.XNNPACK)
    xnn.allocate_tensors()
    assert_match(h.run(xnn, inputs), outs, "XNNPACK vs builtin kernels")


def test_file_structure():
    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.input([1, 8, 8, 3], signature=[-1, 8, 8, 3])
    y = b.conv_2d(x, b.weights(rng.standard_normal((4, 3, 3, 3)), fp16=True),
                  b.const(rng.standard_normal(4)), activation="RELU6")
    y2 = b.fully_connected(b.mean(y, [1, 2]), b.const(rng.standard_normal((5, 4))), None)
    b.output(y, y2)
    data = b.build()
    assert data[4:8] == b"TFL3"
    m = load_model(data)
    sg = m.subgraphs[0]
    assert [op_name(m, op) for op in sg.operators] == b.operator_names == \
        ["DEQUANTIZE", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    assert list(sg.tensors[sg.inputs[0]].shapeSignature) == [-1, 8, 8, 3]
    assert list(sg.tensors[sg.outputs[0]].shapeSignature) == [-1, 8, 8, 4]
    assert list(sg.tensors[sg.outputs[1]].shapeSignature) == [-1, 5]
    assert sg.tensors[sg.operators[0].inputs[0]].type == S.TensorType.FLOAT16
    assert sg.operators[3].inputs[2] == -1                 # absent optional bias
    assert m.signatureDefs[0].signatureKey == b"serving_default"
    # every non-empty buffer is 16-byte aligned within the file
    root = S.Model.GetRootAs(data, 0)
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0


def test_dynamic_batch_resizes_on_builtin(runtime):
    """The dynamic-batch model used by the resize tests works on TFLite alone."""
    model = models.mobilenet_v2(input_size=32, width=0.35, num_classes=7, dynamic_batch=True).build()
    interp = h.make_interpreter(model, runtime, h.BUILTIN)
    assert list(interp.get_input_details()[0]["shape_signature"]) == [-1, 32, 32, 3]
    interp.resize_tensor_input(0, [3, 32, 32, 3])
    interp.allocate_tensors()
    x = np.random.default_rng(0).standard_normal((3, 32, 32, 3)).astype(np.float32)
    out = h.run(interp, [x])[0]
    assert out.shape == (3, 7)
    single = h.make_interpreter(model, runtime, h.BUILTIN)
    single.allocate_tensors()
    assert_match([out[1:2]], h.run(single, [x[1:2]]), "batch row vs batch of one")
