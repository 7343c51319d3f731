#!/usr/bin/env bash
# The CUDA proof of the ILGPU kernels (RwkvQuant.GpuCheck): packed dequantize x vector products and the RWKV-7 WKV
# against their CPU references, timed, beside a device copy (the memory bandwidth they should approach).
#   tools/gpu-check.sh publish        here, with the .NET SDK: a self-contained linux-x64 single file (~40 MB, no
#                                     TorchSharp) in artifacts/gpu-check/ (git-ignored), to copy to the GPU machine
#   tools/gpu-check.sh run [args]     on the GPU machine (no .NET needed): runs it; default --device cuda
# Exit code 0: every kernel matched its reference; 1: one did not; 2: no CUDA device or bad arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
app=artifacts/gpu-check/rwkvquant-gpucheck
case "${1:-run}" in
  publish)
    dotnet publish RwkvQuant.GpuCheck -c Release -r linux-x64 --self-contained \
      -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true -o artifacts/gpu-check
    ls -l "$app"
    ;;
  run)
    shift || true
    if [ ! -x "$app" ]; then
      echo "gpu-check: $app is missing; run 'tools/gpu-check.sh publish' on a machine with the .NET SDK first." >&2
      exit 2
    fi
    if [ "$#" -eq 0 ]; then set -- --device cuda; fi
    exec "$app" "$@"
    ;;
  *)
    echo "usage: tools/gpu-check.sh publish | run [--device cuda|cpu|auto] [--small]" >&2
    exit 2
    ;;
esac
