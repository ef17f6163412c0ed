#!/usr/bin/env bash
# Conformance against the real TFLite runtime (LiteRT from npm): qtl's
# executor and LiteRT run the published int8 models in ../shared/models on
# the same inputs, whole model and operator by operator, and the counts are
# written to docs/conformance.md.
#   bash scripts/conformance.sh [BUILD_DIR]      (default build; needs tools/qtl-run built there)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
[ -x "$build/tools/qtl-run" ] || { echo "conformance: $build/tools/qtl-run not built (run scripts/test.sh first)" >&2; exit 1; }
bash scripts/setup-litert.sh "$build/litert"
summary="$build/conformance-shared-models.md"
QTL_LITERT_DIR="$PWD/$build/litert" node tests/conformance/compare_shared_models.mjs \
  --qtl-run "$build/tools/qtl-run" --samples "${QTL_CONFORMANCE_SAMPLES:-4}" --summary "$summary"
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
} > docs/conformance.md
echo "conformance: wrote docs/conformance.md"
