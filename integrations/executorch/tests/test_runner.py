"""A C++ runner linked only against the wheel's libraries and libarmrest.so
(no torch) runs a .pte through ArmrestBackend."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from armrest_executorch import ArmrestPartitioner
from armrest_executorch.harness import export, lower, rel_error
from armrest_executorch.runtime import library_path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def et_root() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("executorch").submodule_search_locations[0])


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.fail("no C++ compiler")
    et = et_root()
    lib = Path(library_path()).resolve()
    out = tmp_path_factory.mktemp("runner") / "armrest_runner"
    cmd = [cxx, "-std=c++17", "-O1", "-DC10_USING_CUSTOM_GENERATED_MACROS", "-DET_EVENT_TRACER_ENABLED",
           f"-I{et / 'include'}", f"-I{et / 'include/executorch/runtime/core/portable_type/c10'}", f"-I{REPO / 'ffi/include'}",
           str(HERE.parent / "runner/armrest_runner.cpp"), "-o", str(out),
           f"-L{et / 'lib'}", f"-L{lib.parent}", "-Wl,--no-as-needed", "-l:" + lib.name, "-lexecutorch",
           f"-Wl,-rpath,{et / 'lib'}", f"-Wl,-rpath,{lib.parent}"]
    subprocess.run(cmd, check=True)
    return out


def test_runner_has_no_torch(runner):
    deps = subprocess.run(["ldd", str(runner)], capture_output=True, text=True, check=True).stdout
    assert "libexecutorch.so" in deps and "libarmrest.so" in deps
    libs = [line.split()[0] for line in deps.splitlines() if line.strip()]
    torch_libs = [lib for lib in libs if lib.startswith(("libtorch", "libc10", "libtorch_python", "libshm"))]
    assert not torch_libs, libs


def test_runner_runs_mobilenet_v2(runner, tmp_path, pte_cache):
    import torchvision

    torch.manual_seed(5)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    x = torch.randn(1, 3, 128, 128)
    pte, counts = lower(export(model, (x,)), [ArmrestPartitioner()])
    assert counts["undelegated"] == 0
    (tmp_path / "m.pte").write_bytes(pte)
    x.numpy().astype(np.float32).tofile(tmp_path / "x.f32")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_PRELOAD")}
    r = subprocess.run([str(runner), str(tmp_path / "m.pte"), str(tmp_path / "x.f32"), "1", "3", "128", "128", "--", str(tmp_path / "y.f32")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "output shape: 1 1000" in r.stdout
    got = torch.from_numpy(np.fromfile(tmp_path / "y.f32", np.float32).reshape(1, 1000))
    with torch.no_grad():
        want = model(x)
    assert rel_error(got, want) <= 1e-4
