#!/usr/bin/env bash
# Everything CI checks: clippy and tests natively, clippy and the kernel tests
# for aarch64 under qemu-user (three -cpu models), the release build of
# libarmrest.so, and the Python/TFLite suite against it. Runs every step even
# when one fails, prints a summary, exits non-zero on any failure.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh || { echo "[test] set-up failed" >&2; exit 1; }

export CARGO_TERM_COLOR=never
# CI builds each tree once: incremental state would only take disk (~0.6 GB).
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0
dir_size() { if [[ -d $1 ]]; then du -sh "$1" | cut -f1; else echo none; fi; }
disk_report() {  # disk_report <when>: free space, and what target/ and the venvs take
    printf '[disk] %s: %s free on %s; target %s, .venv %s, .venv-et %s\n' "$1" \
        "$(df -h --output=avail . | tail -1 | tr -d ' ')" "$(df --output=target . | tail -1)" \
        "$(dir_size target)" "$(dir_size .venv)" "$(dir_size .venv-et)"
}
disk_report "after set-up"
export PYTHONDONTWRITEBYTECODE=1
AARCH64=aarch64-unknown-linux-gnu
QEMU_LIB=/usr/aarch64-linux-gnu
results=()
failed_logs=()
failed=0
# Every step's output also goes to target/ci-logs/NN-step.log; the tail of each
# failed step's log is printed again before the summary, so the end of the CI
# output always shows what failed. Python writes unbuffered and dumps every
# thread's traceback on a fatal signal, so a crash loses no output.
export PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
logdir="$repo/target/ci-logs"
rm -rf "$logdir" && mkdir -p "$logdir"

step() {  # step "name" command...
    local name=$1; shift
    local t0=$SECONDS rc
    local log
    log="$logdir/$(printf '%02d' $((${#results[@]} + 1)))-${name//[^A-Za-z0-9]/_}.log"
    printf '\n===== %s\n$ %s\n' "$name" "$*"
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if ((rc == 0)); then
        results+=("PASS  $(printf '%5ss' $((SECONDS - t0)))  $name")
    else
        local why="exit $rc"
        ((rc > 128)) && why="killed by signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
        results+=("FAIL  $(printf '%5ss' $((SECONDS - t0)))  $name  [$why; log: ${log#"$repo"/}]")
        failed_logs+=("$log")
        failed=1
    fi
}

qemu_kernel_tests() {  # qemu_kernel_tests <cpu> <expected best int8 tier>
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $1 -L $QEMU_LIB" \
    ARMREST_EXPECT_BEST_ISA=neon ARMREST_EXPECT_BEST_QTIER=$2 \
        cargo test -p armrest-kernels --target "$AARCH64"
}

# libarmrest.so with the `executorch` feature (registers ArmrestBackend with the
# wheel's libexecutorch.so), kept at target/executorch/ for the ExecuTorch suite.
export PYTHON="$repo/.venv-et/bin/python"
ET_LIB="$repo/target/executorch/libarmrest.so"
build_executorch_lib() {
    cargo build --release -p armrest-ffi --features executorch &&
        mkdir -p target/executorch && cp target/release/libarmrest.so "$ET_LIB"
}
step "release build libarmrest.so (executorch feature)" build_executorch_lib
step "clippy (executorch feature)" cargo clippy -p armrest-ffi --features executorch --all-targets -- -D warnings

# The library every runtime test loads (the Rust header tests and pytest).
export ARMREST_LIB="$repo/target/release/libarmrest.so"
step "release build libarmrest.so" cargo build --release -p armrest-ffi
step "clippy (x86-64)"            cargo clippy --workspace --all-targets -- -D warnings
# The standalone runner's test models (ONNX and .tflite, random weights),
# built where its tests look for them (target/runner-models).
step "runner test models" python integrations/onnx/build_models.py target/runner-models --tflite \
    --only mobilenet_v2_small mixed tract_only two_inputs
step "cargo test (x86-64)"        cargo test --workspace
# Without tract on aarch64: the tract-gated code has no target-specific parts
# (linted above on x86-64), and this saves a fourth compile of tract-core. The
# runner needs tract by design; it is host tooling, linted on x86-64.
step "clippy (aarch64)"           cargo clippy --workspace --exclude armrest-runner --all-targets --target "$AARCH64" --no-default-features -- -D warnings
step "kernel tests, qemu cortex-a53" qemu_kernel_tests cortex-a53 neon
step "kernel tests, qemu max"        qemu_kernel_tests max neon_i8mm
step "kernel tests, qemu neoverse-n1" qemu_kernel_tests neoverse-n1 neon_dot
step "pytest integrations/tflite" python -m pytest -p no:cacheprovider -q -rfEs \
    --durations=10 integrations/tflite/tests
step "pytest integrations/executorch" env ARMREST_LIB="$ET_LIB" .venv-et/bin/python -m pytest \
    -p no:cacheprovider -q -rfEs --durations=10 integrations/executorch/tests

for log in "${failed_logs[@]}"; do
    printf '\n===== the last 60 lines of %s\n' "${log#"$repo"/}"
    tail -n 60 "$log"
done
printf '\n===== summary\n'
disk_report "at the end"
printf '%s\n' "${results[@]}"
if ((failed)); then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all passed"
