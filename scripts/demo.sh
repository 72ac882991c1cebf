#!/usr/bin/env bash
# Set up (idempotent), build libarmrest.so, and run the demo: a MobileNetV2 on
# armrest vs LiteRT's XNNPACK and builtin kernels. Extra arguments go to demo.py
# (e.g. --size 160 --threads 2).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
cargo build --release -p armrest-ffi
python integrations/tflite/demo.py "$@"
