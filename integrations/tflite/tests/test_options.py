"""Delegate options: bad ones make load_delegate raise ValueError naming the
key (and the accepted values); good ones are accepted; report toggles the
report."""

from __future__ import annotations

import numpy as np
import pytest

from armrest_tflite import harness as h
from armrest_tflite import load_delegate
from armrest_tflite.tflite_builder import ModelBuilder
from conftest import available_tiers, missing_tier

BAD = [
    ({"frobnicate": "1"}, ["frobnicate"]),
    ({"num_threads": "0"}, ["num_threads"]),
    ({"num_threads": "-1"}, ["num_threads"]),
    ({"num_threads": "abc"}, ["num_threads"]),
    ({"num_threads": ""}, ["num_threads"]),
    ({"kernels": "sse9"}, ["kernels", "scalar"]),
    ({"kernels": "AVX1024"}, ["kernels"]),
    ({"kernels": missing_tier()}, ["kernels", missing_tier()]),
    ({"log": "verbose"}, ["log", "debug"]),
    ({"report": "maybe"}, ["report", "true"]),
    ({"report": ""}, ["report"]),
    ({"report": "true", "kernels": "scalar", "threads": "2"}, ["threads"]),
]


@pytest.mark.parametrize("options,words", BAD, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items())
                         if isinstance(v, dict) else None)
def test_bad_option_raises_value_error(options, words, runtime, lib):
    with pytest.raises(ValueError) as exc:
        load_delegate(runtime, **options)
    text = str(exc.value)
    for w in words:
        assert w in text, f"error for {options} should mention {w!r}: {text!r}"


GOOD = [
    {},
    {"num_threads": "1"},
    {"num_threads": "4"},
    {"kernels": "auto"},
    *({"kernels": t} for t in available_tiers()),
    *({"log": lvl} for lvl in ("error", "warn", "info", "debug")),
    {"report": "false"},
    {"num_threads": 2, "kernels": "scalar", "log": "error", "report": False},
]


@pytest.mark.parametrize("options", GOOD, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "none")
def test_good_options_accepted(options, runtime, lib):
    b = ModelBuilder()
    x = b.input([1, 4, 4, 3])
    b.output(b.relu6(b.add(x, b.const(np.full(3, 0.5, np.float32)))))
    model = b.build()
    interp = h.make_interpreter(model, runtime, h.ARMREST, 1, options)
    interp.allocate_tensors()
    xv = np.random.default_rng(0).standard_normal((1, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(h.run(interp, [xv])[0], np.clip(xv + 0.5, 0, 6), rtol=0, atol=1e-6)


def _report_lines(capfd, runtime, value) -> str:
    b = ModelBuilder()
    b.output(b.relu(b.input([1, 8])))
    capfd.readouterr()
    h.make_interpreter(b.build(), runtime, h.ARMREST, 1, {"report": value})
    return capfd.readouterr().err


@pytest.mark.parametrize("value", ["true", "TRUE", "True", True, "1", 1, "on", "ON"])
def test_report_on(value, runtime, lib, capfd):
    err = _report_lines(capfd, runtime, value)
    rep = h.parse_report(err)
    assert (rep.claimed, rep.total, rep.partitions) == (1, 1, 1), err


@pytest.mark.parametrize("value", ["false", "False", False, "0", 0, "off", "OFF"])
def test_report_off(value, runtime, lib, capfd):
    err = _report_lines(capfd, runtime, value)
    assert "armrest: claimed" not in err and "not claimed" not in err, err
