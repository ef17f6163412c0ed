#!/usr/bin/env bash
# Conformance against the real TFLite runtime (LiteRT from npm), written to
# docs/conformance.md:
#  1. qtl's executor and LiteRT run the published int8 models in
#     ../shared/models on the same inputs, whole model and operator by operator;
#  2. the converter matrix: qtl-make-conformance-models (tests/conformance/)
#     writes models with qtl::convert (every quantizable op x int8/16x8 x
#     weight formats x shapes, I/O variants, small nets) and LiteRT and
#     qtl-run run each of them (tests/conformance/compare_converted_models.mjs);
#  3. dynamic-range (hybrid) models from qtl::convert_dynamic_range
#     (tests/conformance/hybrid_models.mjs compiles make_hybrid_models.cpp with
#     $CXX, default c++): LiteRT and qtl-run on the same float inputs.
#   bash scripts/conformance.sh [BUILD_DIR]      (default build; needs tools/qtl-run built there,
#                                                 and a tree configured with tests and tools)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
[ -x "$build/tools/qtl-run" ] || { echo "conformance: $build/tools/qtl-run not built (run scripts/test.sh first)" >&2; exit 1; }
bash scripts/setup-litert.sh "$build/litert"
cmake --build "$build" --target qtl-make-conformance-models -j"$(nproc)" >/dev/null \
  || { echo "conformance: cannot build qtl-make-conformance-models in $build (configure it with -DQTL_BUILD_TESTS=ON -DQTL_BUILD_TOOLS=ON)" >&2; exit 1; }
summary="$build/conformance-shared-models.md"
QTL_LITERT_DIR="$PWD/$build/litert" node tests/conformance/compare_shared_models.mjs \
  --qtl-run "$build/tools/qtl-run" --samples "${QTL_CONFORMANCE_SAMPLES:-4}" --summary "$summary"
# The hybrid models (status kept, like the converter matrix's, so the page is written either way).
hybrid_summary="$build/conformance-hybrid-models.md"
hybrid_status=0
QTL_LITERT_DIR="$PWD/$build/litert" node tests/conformance/hybrid_models.mjs \
  --qtl-run "$build/tools/qtl-run" --summary "$hybrid_summary" || hybrid_status=$?

# The converter matrix (its exit status is kept so the page is written either way).
converted="$build/conformance-converted-models.md"
models="$build/conformance-models"
rm -rf "$models" "$converted"
start=$SECONDS
"$build/tests/conformance/qtl-make-conformance-models" "$models" --include-skipped
status=0
QTL_LITERT_DIR="$PWD/$build/litert" node tests/conformance/compare_converted_models.mjs \
  --models "$models" --qtl-run "$build/tools/qtl-run" --summary "$converted" --check-skipped || status=$?
echo "conformance: converter matrix took $((SECONDS - start)) s"
{
  echo "# Conformance with LiteRT"
  echo
  echo "Written by \`scripts/conformance.sh\` (do not edit by hand): qtl's integer executor"
  echo "(\`tools/qtl-run\`) against LiteRT $(node -p "require('./tests/conformance/litert/package.json').dependencies['@litertjs/core']") (npm \`@litertjs/core\`, WebAssembly, XNNPACK) on the"
  echo "int8 models of \`../shared/models\`, random int8 inputs from a fixed seed."
  echo "XNNPACK requantizes in fp32, so rare off-by-one elements are expected; the bar is"
  echo "no element off by more than 1 operator by operator, and at least 99% exact."
  echo
  cat "$summary"
  echo
  echo "## Models written by qtl's converter"
  echo
  echo "\`tests/conformance/make_conformance_models.cpp\` builds small float graphs with \`qtl::graph_builder\`"
  echo "(every op \`qtl::convert\` quantizes, CONV_2D/DEPTHWISE_CONV_2D window variants, an even and an odd"
  echo "shape each; float32 and uint8 model I/O; three small nets), calibrates each on 32 random samples"
  echo "and converts it with int8 or 16x8 activations and int8 per-channel, int8 per-tensor or int4"
  echo "per-channel weights. LiteRT and qtl-run run every model on one more sample from the same"
  echo "distribution; model outputs are compared element by element (a float32 output in LSBs of"
  echo "the tensor it is dequantized from). The bar: every model loads and runs in both, no element"
  echo "off by more than 1, at least 99% exact, and LiteRT's output within 10% of the output range"
  echo "of the float graph's. Rerun one case with \`qtl-make-conformance-models DIR --only NAME\`."
  echo
  cat "$converted" 2>/dev/null || echo "(compare_converted_models.mjs wrote no table; see the output of scripts/conformance.sh)"
  echo
  echo "## Dynamic-range (hybrid) models"
  echo
  echo "Float in, int8 weights (and int4 block-wise weights in the \`_bw\` models), float out, written by \`qtl::convert_dynamic_range()\` (docs/dynamic_range.md)"
  echo "from \`tests/conformance/make_hybrid_models.cpp\`. Both runtimes quantize each input row / image on"
  echo "the fly; the bar is every output within 1e-4 of the largest output (float rounding only)."
  echo
  cat "$hybrid_summary"
} > docs/conformance.md
echo "conformance: wrote docs/conformance.md"
[ "$status" -ne 0 ] && exit "$status"
exit "$hybrid_status"
