#!/usr/bin/env bash
# Builds bench/ for this machine (Release, -march=native) and runs it, one
# thread, pinned to one core, writing Google Benchmark's JSON.
#
#   bash scripts/bench.sh                      # -> build-bench/bench_fc.json
#   bash scripts/bench.sh out.json             # another output file
#   bash scripts/bench.sh out.json --benchmark_filter='fc_1x' --benchmark_repetitions=5
#
# Environment: QTL_BENCH_BUILD_DIR (default build-bench), QTL_BENCH_CPU (the
# core to pin to, default the last one).  Arguments after the output file go
# to the benchmark binary.  See docs/benchmarks.md for what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build="${QTL_BENCH_BUILD_DIR:-build-bench}"
out="${1:-$build/bench_fc.json}"
[ $# -gt 0 ] && shift

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQTL_ARCH=native \
      -DQTL_BUILD_BENCH=ON -DQTL_BUILD_TESTS=OFF -DQTL_BUILD_EXAMPLES=OFF
cmake --build "$build" --target bench_fc

pin=()
if command -v taskset >/dev/null 2>&1; then
  cpu="${QTL_BENCH_CPU:-$(( $(nproc) - 1 ))}"
  pin=(taskset -c "$cpu")
fi
mkdir -p "$(dirname "$out")"
# OMP_NUM_THREADS: oneDNN's OpenMP runtime, one thread like the others.
OMP_NUM_THREADS=1 "${pin[@]}" "$build/bench/bench_fc" \
  --benchmark_out="$out" --benchmark_out_format=json --benchmark_counters_tabular=true "$@"
echo "bench: results in $out"
