#!/usr/bin/env bash
# Cross-compiles and links the whole core for aarch64 (NEON kernel set), as a build check on
# x86 machines: needs Debian's g++-aarch64-linux-gnu. Nothing is run.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
command -v "$CXX" >/dev/null || { echo "no $CXX (apt-get install g++-aarch64-linux-gnu)"; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pyinc=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
pbinc=$(python -c "import pybind11; print(pybind11.get_include())")
flags=(-std=c++17 -O3 -fPIC -Wall -Wextra -Werror -Icsrc -I"$pyinc" -I"$pbinc" -DFMACONV_HAVE_NEON=1)
for src in csrc/bindings.cpp csrc/ops/*.cpp csrc/runtime/*.cpp csrc/kernels/scalar/kernels.cpp; do
  "$CXX" "${flags[@]}" -c "$src" -o "$out/$(echo "$src" | tr / _).o"
done
"$CXX" "${flags[@]}" -ffp-contract=fast -c csrc/kernels/neon/kernels.cpp -o "$out/neon.o"
"$CXX" -shared -o "$out/_core.so" "$out"/*.o -lpthread
echo "aarch64 build OK: $(aarch64-linux-gnu-objdump -d "$out/neon.o" | grep -c fmla) fmla instructions in the NEON kernels"
