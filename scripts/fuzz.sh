#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz/ with clang and runs each for a
# bounded time (QTL_FUZZ_SECONDS, default 60), seeded from ../shared/models.
# A crash, leak, sanitizer report or non-qtl::error exception fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${QTL_FUZZ_SECONDS:-60}"
out="${QTL_FUZZ_DIR:-build-fuzz}"
cxx="$(command -v clang++-14 || command -v clang++)"
mkdir -p "$out"
shopt -s nullglob
targets=(tests/fuzz/*.cpp)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets"; exit 0; }
for src in "${targets[@]}"; do
  name="$(basename "$src" .cpp)"
  echo "fuzz: building $name"
  "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Iinclude "$src" -o "$out/$name" -lz
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  seeds=()
  case "$name" in
    tflite*) seeds=(../shared/models/*.tflite ../shared/models/seanet/*.tflite) ;;
    npy*) # a few small arrays written by qtl itself (the tests write them too)
      seeds=()
      if command -v /usr/bin/python3 >/dev/null; then
        /usr/bin/python3 - "$out/npy-seeds" <<'PY'
import sys, os, numpy as np
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
np.save(d + '/a.npy', np.arange(12, dtype='f4').reshape(3, 4))
np.save(d + '/b.npy', np.asfortranarray(np.arange(6, dtype='>i2').reshape(2, 3)))
np.savez(d + '/c.npz', x=np.ones(3, 'i1'), y=np.zeros((2, 2), 'f8'))
np.savez_compressed(d + '/d.npz', x=np.arange(100, dtype='u1'))
PY
        seeds=("$out"/npy-seeds/*)
      fi ;;
  esac
  # Seeds are read in place (never copied into the repo); new inputs go to the build tree.
  seed_dir="$out/seeds-$name"
  rm -rf "$seed_dir"; mkdir -p "$seed_dir"
  for s in "${seeds[@]}"; do [ -f "$s" ] && ln -sf "$(realpath "$s")" "$seed_dir/"; done
  echo "fuzz: running $name for ${seconds}s"
  status=0
  "$out/$name" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$out/$name-" "$corpus" "$seed_dir" > "$out/$name.log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus|#[0-9]+ +DONE)|ERROR|SUMMARY" "$out/$name.log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $status); last lines of $out/$name.log:"; tail -40 "$out/$name.log"; exit 1
  fi
done
