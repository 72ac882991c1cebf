"""Shared fixtures: the two runtimes, libarmrest.so, and creating armrest with
report=true while pytest's capfd captures what native code writes to fd 2."""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path

import pytest

from armrest_tflite import RUNTIMES, library_path
from armrest_tflite import harness as h


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def available_tiers() -> list[str]:
    """Kernel tiers this CPU runs (what kernels=auto may pick from), from /proc/cpuinfo."""
    flags = _cpu_flags()
    tiers = ["scalar"]
    if platform.machine() in ("aarch64", "arm64"):
        tiers.append("neon")
    if platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma"} <= flags:
        tiers.append("avx2")
        if {"avx512f", "avx512vl"} <= flags:
            tiers.append("avx512")
    return tiers


def missing_tier() -> str:
    """A tier this CPU lacks."""
    return "avx2" if platform.machine() in ("aarch64", "arm64") else "neon"


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    return request.param


@pytest.fixture(scope="session")
def lib():
    path = library_path()
    if not path.is_file():
        pytest.fail(f"libarmrest.so not found at {path}: build it with "
                    "`cargo build --release -p armrest-ffi` (or set ARMREST_LIB)", pytrace=False)
    try:
        ctypes.CDLL(str(path)).tflite_plugin_create_delegate
    except (OSError, AttributeError) as e:
        pytest.fail(f"{path} is not a TFLite external delegate yet ({e})", pytrace=False)
    return path


@pytest.fixture
def armrest(lib, capfd):
    """armrest(model_bytes, runtime, threads=1, leftovers="builtin", **options)
    -> (interpreter, Report): creates armrest with report=true and parses what it
    printed on fd 2 during creation. `threads` is the interpreter's num_threads;
    `options` are armrest's (num_threads among them)."""

    def make(model: bytes, runtime: str, threads: int = 1, leftovers: str = h.BUILTIN, **options):
        capfd.readouterr()
        interp = h.make_interpreter(model, runtime, h.ARMREST, threads,
                                    dict(options, report="true"), leftovers)
        err = capfd.readouterr().err
        report = h.parse_report(err)
        report.check_consistent()
        return interp, report

    return make


def oracle_outputs(model: bytes, runtime: str, inputs, num_threads: int = 1, kind: str = h.BUILTIN):
    ref = h.make_interpreter(model, runtime, kind, num_threads)
    ref.allocate_tensors()
    return h.run(ref, inputs)


def assert_all_claimed(report: h.Report, total: int) -> None:
    assert report.total == total, f"armrest counted {report.total} nodes, the model has {total}:\n{report.text}"
    assert not report.unclaimed and report.claimed == total, \
        f"armrest left nodes to TFLite:\n" + "\n".join(
            f"  node {u.index} {u.op}: {u.reason}" for u in report.unclaimed)
    assert report.partitions == 1, f"all {total} nodes claimed in {report.partitions} partitions"


def assert_match(outs, refs, what: str = "armrest vs builtin kernels") -> None:
    bad = h.mismatches(outs, refs)
    assert not bad, f"{what}:\n  " + "\n  ".join(bad)


#: (case, runtime, threads, vs BUILTIN_REF, vs builtin) of each quantized run,
#: filled by test_quantized.py; written to target/test-reports/int8-bitexact.txt
#: at the end of the session, with a short summary in the terminal.
QUANT_RESULTS: list[tuple] = []

#: Where the per-run int8 table goes (the repository's target/test-reports).
REPORT_DIR = Path(__file__).resolve().parents[3] / "target" / "test-reports"


def pytest_terminal_summary(terminalreporter):
    if not QUANT_RESULTS:
        return
    rows = [f"{case} [{runtime}, {threads}T]: vs BUILTIN_REF {ref}" + (f"; vs builtin {opt}" if opt else "")
            for case, runtime, threads, ref, opt in QUANT_RESULTS]
    exact = [r for r in QUANT_RESULTS if r[3].startswith("100.000% ")]
    ranged = [r for r in QUANT_RESULTS if "of the output range" in r[3]]
    others = [row for r, row in zip(QUANT_RESULTS, rows) if r not in exact and r not in ranged]
    path = REPORT_DIR / "int8-bitexact.txt"
    try:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(rows) + "\n")
        where = f"every run's line: {path}"
    except OSError as e:
        where = f"(could not write {path}: {e})"
    tr = terminalreporter
    tr.section("armrest int8 bit-exactness (armrest vs TFLite)")
    tr.write_line(f"{len(exact)} of {len(QUANT_RESULTS)} quantized runs 100% equal to LiteRT BUILTIN_REF; "
                  f"{len(ranged)} dynamic-range runs within tolerance of the output range; {where}")
    for row in others:
        tr.write_line(row)
