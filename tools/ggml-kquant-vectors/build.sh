#!/usr/bin/env bash
# Regenerates RwkvQuant.Tests/Scalar/KQuants/Data/kquants-ggml.bin from ggml's own quantizers.
# Usage: tools/ggml-kquant-vectors/build.sh /path/to/ggml   (a checkout of github.com/ggml-org/ggml; the committed file
# came from commit d99724f2). gen.c is ours; it links ggml's src/ggml-quants.c, compiled without FMA contraction
# (-ffp-contract=off, and no -march=native) so that the bytes are ggml's portable reference results.
set -euo pipefail
ggml=${1:?path to a ggml checkout}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
flags="-O2 -ffp-contract=off -I$ggml/include -I$ggml/src -I$ggml/src/ggml-cpu"
gcc $flags -std=gnu11 -c "$ggml/src/ggml-quants.c" -o "$out/quants.o"
gcc $flags -c "$here/stubs.c" -o "$out/stubs.o"
gcc $flags -c "$here/gen.c" -o "$out/gen.o"
gcc "$out/gen.o" "$out/quants.o" "$out/stubs.o" -lm -o "$out/gen"
(cd "$out" && ./gen)
cp "$out/kquants-ggml.bin" "$here/../../RwkvQuant.Tests/Scalar/KQuants/Data/kquants-ggml.bin"
echo "wrote RwkvQuant.Tests/Scalar/KQuants/Data/kquants-ggml.bin"
