"""Resident memory armrest adds, against XNNPACK on the same model. MediaPipe's
models keep their weights as fp16 behind DEQUANTIZE; armrest folds those into
fp32 constants, packs them and must then let the fp32 copies go (the
delegate once kept them for its whole life: hand_landmark_full took 1.48x
XNNPACK's memory, 1.09x without them). Each measurement runs in a fresh
process: create + allocate_tensors + one invoke, minus what the process held
before."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from armrest_tflite import mediapipe_models as mm

#: armrest's resident growth may be at most this many times XNNPACK's
#: (the issue's target is +10%; the slack covers allocator noise).
MAX_RATIO = 1.2

_CHILD = r"""
import json, sys
from armrest_tflite import harness as h
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
data = open(sys.argv[1], "rb").read()
before = rss_mb()
it = h.make_interpreter(data, "litert", sys.argv[2], 1)
it.allocate_tensors()
it.invoke()
print(json.dumps(rss_mb() - before))
"""


def _rss_added(path: str, kind: str) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", _CHILD, path, kind], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("name", ["hand_landmark_full", "face_landmark"])
def test_fp16_weights_do_not_outlive_packing(name):
    paths = [p for p in mm.find_models() if mm.model_id(p) == name]
    assert paths, f"{name} not found among mediapipe's models (bash scripts/setup.sh)"
    from armrest_tflite import harness as h
    arm = min(_rss_added(paths[0], h.ARMREST) for _ in range(2))
    xnn = min(_rss_added(paths[0], h.XNNPACK) for _ in range(2))
    assert arm <= MAX_RATIO * xnn, f"{name}: armrest adds {arm:.1f} MB, XNNPACK {xnn:.1f} MB"
