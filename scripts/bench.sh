#!/usr/bin/env bash
# qtl's benchmark suite, one command: builds bench/ for this machine (Release,
# -march=native), runs every benchmark binary pinned to one core (one thread
# each), times the whole models in LiteRT, merges everything into one Google
# Benchmark JSON file, and regenerates docs/benchmarks.md and
# docs/benchmarks.svg from it.
#
#   bash scripts/bench.sh                                 # the whole suite
#   bash scripts/bench.sh --benchmark_repetitions=3       # medians of 3 (the published run)
#   bash scripts/bench.sh --benchmark_filter='conv' --no-litert --no-report
#   bash scripts/bench.sh --report-only                   # docs from the last results
#   bash scripts/bench.sh --docs docs/benchmarks-avx2     # an AVX2-only machine's page
#
# Options (the others go to every benchmark binary: any Google Benchmark flag;
# --benchmark_repetitions and --benchmark_filter also reach the LiteRT timing):
#   --out FILE      merged results (default <build>/results.json)
#   --no-litert     skip LiteRT (npm @litertjs/core, installed by setup-litert.sh)
#   --no-report     leave docs/benchmarks.md and .svg alone
#   --report-only   only regenerate the docs from the existing results file
#   --docs PREFIX   the page and plot to write, PREFIX.md and PREFIX.svg (default
#                   docs/benchmarks; docs/benchmarks-avx2 holds an AVX2-only machine's run)
# Environment: QTL_BENCH_BUILD_DIR (default build-bench), QTL_BENCH_CPU (the
# core to pin to, default the last one), QTL_SHARED_DIR (models; default
# ../shared).  See docs/benchmarks.md for what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${QTL_BENCH_BUILD_DIR:-build-bench}"
out=""
litert=1
report=1
report_only=0
docs=docs/benchmarks
bench_args=()
repetitions=1
filter=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --no-litert) litert=0; shift ;;
    --no-report) report=0; shift ;;
    --report-only) report_only=1; shift ;;
    --docs) docs="$2"; shift 2 ;;
    --docs=*) docs="${1#--docs=}"; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *)
      case "$1" in
        --benchmark_repetitions=*) repetitions="${1#--benchmark_repetitions=}" ;;
        --benchmark_filter=*) filter="${1#--benchmark_filter=}" ;;
      esac
      bench_args+=("$1"); shift ;;
  esac
done
out="${out:-$build/results.json}"
python=/usr/bin/python3

report_docs() {
  if ! command -v gnuplot >/dev/null 2>&1; then
    # The plot needs gnuplot (Debian gnuplot-nox: no X11), installed like install-deps.sh does.
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bench: installing gnuplot-nox for the plot"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox
  fi
  "$python" scripts/bench-report.py report "$out" --md "$docs.md" --svg "$docs.svg" \
    --template bench/benchmarks.md.in
}

if [ "$report_only" -eq 1 ]; then
  report_docs
  exit 0
fi

bash scripts/install-deps.sh

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DQTL_ARCH=native \
      -DQTL_BUILD_BENCH=ON -DQTL_BUILD_TESTS=OFF -DQTL_BUILD_EXAMPLES=OFF -DQTL_BUILD_TOOLS=OFF
cmake --build "$build" --target bench_fc bench_conv bench_models

pin=()
if command -v taskset >/dev/null 2>&1; then
  cpu="${QTL_BENCH_CPU:-$(( $(nproc) - 1 ))}"
  pin=(taskset -c "$cpu")
fi
parts=()
for b in bench_fc bench_conv; do
  echo "bench: running $b"
  # OMP_NUM_THREADS: oneDNN's OpenMP runtime, one thread like the others.
  # Random interleaving: the repetitions of every layer and backend run in a
  # shuffled order, not one backend's all in a row, so that a burst of load
  # on a shared machine spreads over qtl and the anchors alike (a later
  # --benchmark_enable_random_interleaving=false turns it off).
  OMP_NUM_THREADS=1 "${pin[@]}" "$build/bench/$b" --benchmark_out="$build/$b.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=true --benchmark_enable_random_interleaving=true "${bench_args[@]}"
  parts+=("$build/$b.json")
done

# Whole models: qtl and LiteRT take turns, one repetition each per round, so
# that both sides of the ratio meet the same moments of a shared machine; the
# report takes the median over the rounds.
model_args=()
for a in "${bench_args[@]}"; do
  case "$a" in --benchmark_repetitions=*) ;; *) model_args+=("$a") ;; esac
done
[ "$litert" -eq 1 ] && bash scripts/setup-litert.sh "$build/litert"
for round in $(seq 1 "$repetitions"); do
  echo "bench: whole models, round $round of $repetitions"
  "${pin[@]}" "$build/bench/bench_models" --benchmark_out="$build/bench_models_$round.json" \
    --benchmark_out_format=json --benchmark_counters_tabular=true "${model_args[@]}"
  parts+=("$build/bench_models_$round.json")
  if [ "$litert" -eq 1 ]; then
    for variant in compat relaxed-simd; do
      echo "bench: LiteRT ($variant)"
      lit_args=(--out "$build/litert_${variant}_$round.json" --litert "$build/litert" --build "$variant"
                --repetitions 1)
      [ -n "$filter" ] && lit_args+=(--filter "$filter")
      "${pin[@]}" node bench/litert_latency.mjs "${lit_args[@]}"
      parts+=("$build/litert_${variant}_$round.json")
    done
  fi
done

"$python" scripts/bench-report.py merge "$out" "${parts[@]}"
echo "bench: results in $out"
[ "$report" -eq 1 ] && report_docs
exit 0
