#!/usr/bin/env bash
# Builds gptlab for a GPU machine, on the development machine, ahead of the GPU run.
#
#   bench/gpu_build.sh            # → .gpu/gptlab, .gpu/gptlab-torch, .gpu/golden_parity (git-ignored)
#
# That machine has PyTorch 2.11.0+cu130 (Python 3.12) and no package registries, so the
# binary is built here against the same libtorch and copied there with .gpu/. tch 0.24 is the
# release that pairs with libtorch 2.11 (gptlab's own build uses tch 0.26 with torch 2.13):
# the script copies the checkout, pins tch 0.24 in the copy, and links against the libtorch
# inside PyPI's torch==2.11.0 wheel (downloaded once, no dependencies), with the `cuda` feature
# (which keeps libtorch_cuda.so linked: see crates/gptlab-train/build.rs). Then, on the GPU machine:
#
#   bench/gpu_check.sh            # parity on CUDA, CPU/CUDA agreement, speed vs PyTorch
#
# The checkout itself is not changed (except .gpu/). Needs ~2.5 GB in $GPTLAB_GPU_WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${GPTLAB_GPU_WORK:-/tmp/gptlab-gpu}
TORCH=2.11.0
TCH=0.24.0
mkdir -p "$WORK/wheel"
if [[ ! -f "$WORK/torch/version.py" ]] || ! grep -q "__version__ = '$TORCH" "$WORK/torch/version.py"; then
    echo "gpu_build: downloading torch==$TORCH (libtorch only is used)" >&2
    "$ROOT/.venv/bin/pip" download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 "torch==$TORCH" -d "$WORK/wheel"
    rm -rf "$WORK/torch"
    unzip -q -o "$WORK"/wheel/torch-"$TORCH"-*.whl 'torch/lib/*' 'torch/include/*' 'torch/version.py' -d "$WORK"
fi
echo "gpu_build: libtorch $(grep "^__version__" "$WORK/torch/version.py")" >&2
# the working tree as it is (tracked and untracked files git does not ignore)
rm -rf "$WORK/src" && mkdir -p "$WORK/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/src"
sed -i "s/^tch = \".*\"/tch = \"=$TCH\"/" "$WORK/src/Cargo.toml"
# torch-sys (named by gptlab-cli and gptlab-dist for its build metadata) must be tch's own
sed -i "s/^torch-sys = \".*\"/torch-sys = \"=$TCH\"/" "$WORK"/src/crates/*/Cargo.toml
# Data parallelism on CUDA (the `nccl` feature) compiles c10d's NCCL header, which includes
# CUDA's runtime, crt/ and nv/ headers, cuBLAS's, cuSOLVER's and cuSPARSE's (through
# ATen/cuda/CUDAContextLight.h) and NCCL's: a CUDA toolkit's (CUDA_HOME), else the header
# packages PyPI ships for the wheel's CUDA, unpacked beside libtorch (gptlab-dist's build.rs
# looks in <torch>/../nvidia/*/include), at the versions the wheel names: NCCL's directly,
# the others through the cuda-toolkit metapackage it pins (only their include/ is kept).
if [[ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/crt/host_config.h" ]]; then
    hdrs=(cu13/include/crt/host_config.h cu13/include/nv/target cu13/include/cublas_v2.h cu13/include/cusolverDn.h cu13/include/cusparse.h nccl/include/nccl.h)
    missing=0
    for h in "${hdrs[@]}"; do [[ -e "$WORK/nvidia/$h" ]] || missing=1; done
    if (( missing )); then
        meta=$(unzip -p "$WORK"/wheel/torch-"$TORCH"-*.whl "torch-$TORCH*.dist-info/METADATA")
        ctk=$(grep -o "^Requires-Dist: cuda-toolkit\[[^]]*\]==[0-9.]*" <<<"$meta" | sed 's/.*==//' || true)
        nccl=$(grep -o "^Requires-Dist: nvidia-nccl-cu13==[0-9.]*" <<<"$meta" | sed 's/^Requires-Dist: //' || true)
        [[ -n "$ctk" && -n "$nccl" ]] || { echo "gpu_build: torch==$TORCH is not a CUDA 13 build naming its cuda-toolkit and NCCL packages" >&2; exit 1; }
        rm -rf "$WORK/hdr" && mkdir -p "$WORK/hdr"
        "$ROOT/.venv/bin/pip" download --quiet --no-deps "cuda-toolkit==$ctk" -d "$WORK/hdr"
        mapfile -t pins < <(unzip -p "$WORK"/hdr/cuda_toolkit-*.whl '*.dist-info/METADATA' |
            sed -n "s/^Requires-Dist: \(nvidia-[a-z-]*==[0-9.*]*\);.* extra == '\(cudart\|crt\|cccl\|cublas\|cusolver\|cusparse\)'\$/\1/p" | sort -u)
        (( ${#pins[@]} == 6 )) || { echo "gpu_build: cuda-toolkit==$ctk does not pin the six header packages (got: ${pins[*]})" >&2; exit 1; }
        echo "gpu_build: downloading CUDA $ctk and NCCL headers (${pins[*]} $nccl)" >&2
        "$ROOT/.venv/bin/pip" install --quiet --no-deps --no-cache-dir --target "$WORK/hdr" "${pins[@]}" "$nccl"
        rm -rf "$WORK/nvidia" "$WORK"/hdr/nvidia/*/lib "$WORK"/hdr/nvidia/*/bin && mv "$WORK/hdr/nvidia" "$WORK/nvidia" && rm -rf "$WORK/hdr"
    fi
    export CUDA_HOME="$WORK/nvidia/cu13"
fi
FEATURES=cuda,nccl
cd "$WORK/src"
export LIBTORCH="$WORK/torch" LIBTORCH_CXX11_ABI=1 LD_LIBRARY_PATH="$WORK/torch/lib" CARGO_TARGET_DIR="$WORK/target"
unset LIBTORCH_USE_PYTORCH
cargo build --release --quiet -p gptlab-cli --features "$FEATURES"
test_bin=$(cargo test --release --quiet -p gptlab-train --features cuda --test golden_parity --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")][-1])')
mkdir -p "$ROOT/.gpu"
# (`gptlab` hands every command but `eval code` to `gptlab-torch` beside it)
cp "$WORK/target/release/gptlab" "$WORK/target/release/gptlab-torch" "$ROOT/.gpu/"
cp "$test_bin" "$ROOT/.gpu/golden_parity"
strip "$ROOT/.gpu/gptlab" "$ROOT/.gpu/gptlab-torch" "$ROOT/.gpu/golden_parity" 2>/dev/null || true
ls -la "$ROOT/.gpu" >&2
echo "gpu_build: done; on the device: bench/gpu_check.sh (carry .gpu)" >&2
