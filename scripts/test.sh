#!/usr/bin/env bash
# Builds qtl's tests, examples and tools and runs every test with CTest.
#   bash scripts/test.sh                 # plain x86-64, -O2 (the README's test command)
#   QTL_BUILD_DIR=build-native bash scripts/test.sh -DQTL_ARCH=native
# Extra arguments go to CMake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build="${QTL_BUILD_DIR:-build}"
jobs="$(nproc)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2" \
      -DQTL_BUILD_TESTS=ON -DQTL_BUILD_EXAMPLES=ON "$@"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
