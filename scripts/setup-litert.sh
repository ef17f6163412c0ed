#!/usr/bin/env bash
# Installs LiteRT.js (npm @litertjs/core 2.5.3: Google's TFLite runtime built
# for WebAssembly) into a build-tree folder and patches its JS dtype table so
# int8/int16/int64 tensors work (tests/conformance/litert/patch_dtypes.mjs).
#
#   bash scripts/setup-litert.sh [DIR]        DIR defaults to build/litert
#
# Uses npm's lock file (tests/conformance/litert/package-lock.json): exact
# versions, integrity-checked. Idempotent; a second run only re-checks the
# patch. Never installs into the source tree (only build*/ folders or
# folders outside the checkout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tests/conformance/litert"
dir="${1:-$root/build/litert}"

die() { echo "setup-litert: $*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || die "node not found (Node.js >= 18 needed; scripts/install-deps.sh installs it)"
command -v npm >/dev/null 2>&1 || die "npm not found (scripts/install-deps.sh installs it)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old; LiteRT.js needs Node.js >= 18"

dir="$(realpath -m "$dir")"
case "$dir/" in
  "$root"/build*/*) ;;
  "$root"/*) die "$dir is inside the source tree; install into a build*/ folder (e.g. build/litert)" ;;
esac
mkdir -p "$dir"

# The lock must only name packages (npm resolves them from the registry it is
# configured for) or npm registry tarballs; anything else is refused.
if grep -o '"resolved": *"[^"]*"' "$src/package-lock.json" | grep -v '"https://registry.npmjs.org/' >/dev/null; then
  die "$src/package-lock.json resolves a package outside registry.npmjs.org"
fi

stamp="$dir/.qtl-litert-stamp"
want="$(cat "$src/package.json" "$src/package-lock.json" "$src/patch_dtypes.mjs" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dir/node_modules/@litertjs/core/package.json" ]; then
  node "$src/patch_dtypes.mjs" "$dir" >/dev/null
  echo "setup-litert: @litertjs/core 2.5.3 already installed and patched in $dir"
  exit 0
fi

rm -f "$stamp"
cp "$src/package.json" "$src/package-lock.json" "$dir/"
echo "setup-litert: installing @litertjs/core 2.5.3 into $dir"
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
node "$src/patch_dtypes.mjs" "$dir"
echo "$want" > "$stamp"
echo "setup-litert: done ($(du -sh "$dir/node_modules" | cut -f1) in $dir/node_modules)"
