#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: install dependencies, build the
# examples, and run the quantization demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build="${QTL_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQTL_BUILD_EXAMPLES=ON > /dev/null
cmake --build "$build" -j"$(nproc)" --target example_calibrate
"$build/examples/example_calibrate"
