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
# Ninja (when there, and for a new build tree) keeps both cores busy across
# target boundaries, e.g. while the one executors file compiles.
generator=()
if [ ! -f "$build/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2" \
      -DQTL_BUILD_TESTS=ON -DQTL_BUILD_EXAMPLES=ON "$@"
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
