#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu x86-64 machine: apt packages for
# the aarch64 cross build and qemu, the Rust aarch64 target, and a Python venv
# at <repo>/.venv with the pinned runtimes. Re-runs skip what is already there.
# Run it (`bash scripts/setup.sh`) or source it (then the venv is on PATH).

_armrest_setup() (
    set -euo pipefail
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cd "$repo"
    say() { printf '[setup] %s\n' "$*"; }

    # --- apt
    local pkgs=(qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross libclang-dev clang)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        say "installing apt packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi

    # --- Rust
    if ! command -v cargo >/dev/null; then
        [ -x "$HOME/.cargo/bin/cargo" ] || { echo "[setup] cargo not found: install Rust (rustup) first" >&2; exit 1; }
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        say "adding Rust target aarch64-unknown-linux-gnu"
        rustup target add aarch64-unknown-linux-gnu
    fi

    _armrest_setup_tflite_venv
    _armrest_setup_executorch_venv
)

# pip's flags. On CI (a fresh machine, CI=true) pip keeps no download cache:
# the ExecuTorch wheels alone would leave ~2.5 GB in ~/.cache/pip for nothing.
_armrest_pip_flags() {
    local flags="-q --disable-pip-version-check"
    [ "${CI:-}" = true ] && flags="$flags --no-cache-dir"
    echo "$flags"
}

# --- Python venv for TFLite (tflite-runtime 2.14 has wheels up to CPython 3.11)
_armrest_setup_tflite_venv() {
    local reqs="ai-edge-litert==2.3.0 tflite-runtime==2.14.0 mediapipe==0.10.21 numpy==1.26.4 pytest==8.3.4 matplotlib==3.11.2 onnx==1.17.0"
    local stamp=".venv/.armrest-setup"
    local want
    want="$reqs $(sha1sum integrations/tflite/pyproject.toml | cut -c1-12)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/python ]; then
        say "venv up to date (.venv)"
        return 0
    fi
    if [ ! -x .venv/bin/python ]; then
        local py=""
        for cand in python3.11 python3.10 python3.9 python3; do
            if command -v "$cand" >/dev/null &&
               "$cand" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null; then
                py=$cand; break
            fi
        done
        [ -n "$py" ] || { echo "[setup] need CPython 3.9-3.11 (tflite-runtime 2.14 wheels)" >&2; exit 1; }
        if ! "$py" -m venv --help >/dev/null 2>&1 || ! "$py" -c 'import ensurepip' 2>/dev/null; then
            say "installing python3-venv"
            local sudo=""
            [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        fi
        say "creating .venv with $py ($("$py" --version))"
        "$py" -m venv .venv
    fi
    say "installing pinned Python packages into .venv"
    .venv/bin/python -m pip install $(_armrest_pip_flags) $reqs
    .venv/bin/python -m pip install $(_armrest_pip_flags) --no-deps -e integrations/tflite
    echo "$want" > "$stamp"
}

# --- A second venv, .venv-et, for ExecuTorch: executorch 1.5.1 needs numpy 2,
# tflite-runtime 2.14 needs numpy 1. executorch's Python side imports torch,
# and the registry's torch is the CUDA build: about 2.2 GB of downloads on the
# first run (off CI, pip's cache makes re-runs quick). ARMREST_SKIP_EXECUTORCH=1 skips it.
_armrest_setup_executorch_venv() {
    if [ "${ARMREST_SKIP_EXECUTORCH:-0}" = 1 ]; then
        say "skipping the ExecuTorch venv (ARMREST_SKIP_EXECUTORCH=1)"
        return 0
    fi
    local reqs="executorch==1.5.1 torch==2.15.0 torchvision==0.29.2 pytest==8.3.4"
    local stamp=".venv-et/.armrest-setup"
    local want
    want="$reqs $(sha1sum integrations/executorch/pyproject.toml | cut -c1-12)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv-et/bin/python ]; then
        say "ExecuTorch venv up to date (.venv-et)"
        return 0
    fi
    if [ ! -x .venv-et/bin/python ]; then
        say "creating .venv-et with $(.venv/bin/python --version)"
        "$(readlink -f .venv/bin/python)" -m venv .venv-et
    fi
    say "installing executorch 1.5.1, torch 2.15.0, torchvision 0.29.2 into .venv-et (first run: ~2.2 GB download)"
    .venv-et/bin/python -m pip install $(_armrest_pip_flags) $reqs
    # torch pulls in triton (1 GB unpacked), which only torch.compile's GPU
    # back end uses; export, lowering and the runtime never import it.
    .venv-et/bin/python -m pip uninstall -q -y triton
    .venv-et/bin/python -m pip install $(_armrest_pip_flags) --no-deps -e integrations/executorch
    echo "$want" > "$stamp"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _armrest_setup
else
    _armrest_setup || return 1
    # sourced: put the venv and cargo on PATH for the caller
    ARMREST_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    export ARMREST_REPO
    export PATH="$ARMREST_REPO/.venv/bin:$HOME/.cargo/bin:$PATH"
    export VIRTUAL_ENV="$ARMREST_REPO/.venv"
fi
