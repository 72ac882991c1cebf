"""Python side of armrest: load libarmrest.so as a TFLite/LiteRT external
delegate, build .tflite test models, compare against TFLite's own kernels."""

from __future__ import annotations

import os
from pathlib import Path

RUNTIMES = ("litert", "tflite_runtime")

#: The repository root (this package lives in <repo>/integrations/tflite/armrest_tflite).
REPO_ROOT = Path(__file__).resolve().parents[3]


def library_path() -> Path:
    """Where libarmrest.so is: $ARMREST_LIB, else <repo>/target/release/libarmrest.so."""
    env = os.environ.get("ARMREST_LIB")
    if env:
        return Path(env)
    return REPO_ROOT / "target" / "release" / "libarmrest.so"


def interpreter_module(runtime: str = "litert"):
    """The `interpreter` module of a runtime: ai_edge_litert or tflite_runtime."""
    if runtime == "litert":
        from ai_edge_litert import interpreter
    elif runtime == "tflite_runtime":
        from tflite_runtime import interpreter
    else:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    return interpreter


class LibraryMissing(FileNotFoundError):
    pass


def load_delegate(runtime: str = "litert", library: str | os.PathLike | None = None, **options):
    """armrest as an external delegate of `runtime`; options are passed as str(value)
    (num_threads, kernels, log, report). Raises ValueError on a bad option."""
    path = Path(library) if library is not None else library_path()
    if not path.is_file():
        raise LibraryMissing(
            f"libarmrest.so not found at {path}: build it with "
            "`cargo build --release -p armrest-ffi` or set ARMREST_LIB")
    return interpreter_module(runtime).load_delegate(
        str(path), {str(k): str(v) for k, v in options.items()})


__all__ = ["RUNTIMES", "REPO_ROOT", "library_path", "interpreter_module", "load_delegate",
           "LibraryMissing"]
