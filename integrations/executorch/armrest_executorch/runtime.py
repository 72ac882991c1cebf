"""Loading libarmrest.so into the process so that `ArmrestBackend` is
registered with ExecuTorch's runtime before a program is loaded, and
setting armrest's runtime knobs (ExecuTorch's Python API passes none)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Optional

_REPO = Path(__file__).resolve().parents[3]
_lib: Optional[ctypes.CDLL] = None


def library_path() -> str:
    """$ARMREST_LIB, else the repository's feature build
    (target/executorch/libarmrest.so), else target/release/libarmrest.so."""
    env = os.environ.get("ARMREST_LIB")
    if env:
        return env
    for cand in (_REPO / "target/executorch/libarmrest.so", _REPO / "target/release/libarmrest.so"):
        if cand.exists():
            return str(cand)
    raise FileNotFoundError("libarmrest.so not found: build it with `cargo build --release -p armrest-ffi --features executorch` "
                            "or set ARMREST_LIB")


def _executorch_runtime():
    # libexecutorch.so must be in the process first (the library links to
    # the same file by rpath, so both resolve to one copy and one registry).
    from executorch.extension.pybindings import portable_lib  # noqa: F401

    return portable_lib


def load_backend(path: Optional[str] = None, **options) -> ctypes.CDLL:
    """Loads libarmrest.so (once; it is never unloaded), checks that
    `ArmrestBackend` is registered, and sets `options` (num_threads, kernels,
    log, report, verify) for partitions initialised afterwards."""
    global _lib
    portable_lib = _executorch_runtime()
    if _lib is None:
        p = path or library_path()
        lib = ctypes.CDLL(p, mode=ctypes.RTLD_GLOBAL)
        if not hasattr(lib, "armrest_executorch_backend_status"):
            raise RuntimeError(f"{p} was built without the `executorch` cargo feature")
        lib.armrest_executorch_backend_status.restype = ctypes.c_int32
        lib.armrest_executorch_set_option.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.armrest_executorch_set_option.restype = ctypes.c_int32
        lib.armrest_last_error.restype = ctypes.c_char_p
        lib.armrest_executorch_config.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_int32)]
        status = lib.armrest_executorch_backend_status()
        if status != 0:
            raise RuntimeError(f"ArmrestBackend registration failed with ExecuTorch error {status:#x}")
        if "ArmrestBackend" not in portable_lib._get_registered_backend_names():
            raise RuntimeError("ArmrestBackend registered in a different copy of libexecutorch.so than the Python runtime's")
        _lib = lib
    set_options(**options)
    return _lib


def set_options(**options) -> None:
    if _lib is None:
        raise RuntimeError("call load_backend() first")
    for k, v in options.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        if _lib.armrest_executorch_set_option(k.encode(), str(v).encode()) != 0:
            raise ValueError(_lib.armrest_last_error().decode())


def config():
    """(kernel tier, threads) the next initialised partition gets."""
    if _lib is None:
        raise RuntimeError("call load_backend() first")
    k, t = ctypes.c_char_p(), ctypes.c_int32()
    _lib.armrest_executorch_config(ctypes.byref(k), ctypes.byref(t))
    return k.value.decode(), t.value
