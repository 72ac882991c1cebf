"""The real models MediaPipe 0.10.21 ships, run with armrest.

Claims: every node armrest leaves must be explained by the model (see
armrest_tflite.mediapipe_models: UNSUPPORTED_OPS and the expected reasons),
and every node the model says must stay with TFLite does.
Outputs: against the builtin kernels when they run the model; else (MediaPipe
custom ops only XNNPACK implements) against the default XNNPACK path with
armrest's leftovers also on the default path; else the comparison is skipped
with the reason recorded."""

from __future__ import annotations

import functools

import pytest

from armrest_tflite import harness as h
from armrest_tflite import mediapipe_models as mm
from conftest import assert_match

MODELS = mm.find_models()


def test_models_found():
    assert mm.mediapipe_root(), "mediapipe is not installed (bash scripts/setup.sh)"
    assert len(MODELS) >= 10, f"expected mediapipe 0.10.21's models, found {MODELS}"


@functools.lru_cache(maxsize=None)
def _model(path):
    with open(path, "rb") as f:
        data = f.read()
    return data, mm.analyse(data)


@functools.lru_cache(maxsize=None)
def _oracle_kind(path, runtime):
    """(kind, why-not-builtin): which path can serve as the oracle."""
    data = _model(path)[0]
    err = mm.runs_on(data, runtime, h.BUILTIN)
    if err is None:
        return h.BUILTIN, None
    err_x = mm.runs_on(data, runtime, h.XNNPACK)
    if err_x is None:
        return h.XNNPACK, err
    return None, f"builtin: {err}; XNNPACK: {err_x}"


@pytest.mark.parametrize("path", MODELS, ids=mm.model_id)
def test_mediapipe_model(path, runtime, armrest):
    data, analysis = _model(path)
    kind, why = _oracle_kind(path, runtime)
    leftovers = h.BUILTIN if kind == h.BUILTIN else h.XNNPACK
    interp, report = armrest(data, runtime, leftovers=leftovers)
    problems = mm.check_report(analysis, report)
    assert not problems, "claims differ from what the model explains:\n  " + "\n  ".join(problems)
    assert report.claimed > 0
    if kind is None:
        pytest.skip(f"no oracle can run {mm.model_id(path)} on {runtime} ({why}); claims checked only")
    interp.allocate_tensors()
    oracle = h.make_interpreter(data, runtime, kind)
    oracle.allocate_tensors()
    for seed in (0, 1):
        inputs = mm.inputs_for(oracle, seed)
        assert_match(h.run(interp, inputs), h.run(oracle, inputs),
                     f"armrest vs {kind}" + (f" (builtin cannot run it: {why})" if why else ""))


def test_expected_table_is_used():
    """The unsupported-op table names only ops that occur in the models (no stale rows),
    and the analysis finds the sparse models' DENSIFY-fed convolutions."""
    seen = set()
    non_const = 0
    for p in MODELS:
        a = _model(p)[1]
        seen |= {a.ops[i] for i in a.unsupported}
        non_const += sum(1 for e in a.expected.values() if e is mm.NON_CONST_WEIGHTS)
        assert not a.unknown, f"{mm.model_id(p)}: ops in neither table: {[a.ops[i] for i in a.unknown]}"
    assert seen == set(mm.UNSUPPORTED_OPS)
    assert non_const > 0
