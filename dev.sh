#!/usr/bin/env bash
# gptlab's one entry point for a fresh checkout.
#
#   ./dev.sh demo            # build, then run `gptlab demo` (the whole toy pipeline on CPU)
#   ./dev.sh test            # build and run the whole test suite
#   ./dev.sh <args...>       # any other gptlab command, e.g. ./dev.sh pretrain --help
#   ./dev.sh setup           # only create the environment (.venv with PyTorch's libtorch)
#
# libtorch comes from PyPI's torch wheel in a project-local virtual environment (.venv);
# tch 0.26 pairs with torch 2.13.0. To use your own libtorch instead, export LIBTORCH
# (and LD_LIBRARY_PATH) yourself and set GPTLAB_NO_VENV=1; or build with tch's
# `download-libtorch` feature where the network allows it.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
TORCH_VERSION=2.13.0
PY_PKGS=(numpy==2.4.6 transformers==5.24.0 tiktoken==0.14.0 openai==3.57.0 playwright==1.65.2)

setup() {
    if [[ "${GPTLAB_NO_VENV:-}" == 1 ]]; then return; fi
    if [[ ! -x .venv/bin/python ]]; then
        echo "dev.sh: creating .venv (python3 -m venv)" >&2
        python3 -m venv .venv
    fi
    if ! .venv/bin/python -c "import torch, transformers, tiktoken, openai, playwright, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
        echo "dev.sh: installing torch==$TORCH_VERSION into .venv (libtorch for tch)" >&2
        .venv/bin/pip install --quiet "torch==$TORCH_VERSION" "${PY_PKGS[@]}"
    fi
    export PATH="$ROOT/.venv/bin:$PATH"
    export LIBTORCH_USE_PYTORCH=1
    local torch_lib
    torch_lib=$(.venv/bin/python -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))")
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# The chat page's test drives Debian's chromium (Playwright cannot download a browser here).
ensure_chromium() {
    if command -v chromium >/dev/null; then return; fi
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "dev.sh: installing Debian's chromium (for the chat page's browser test)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "dev.sh: chromium is missing; install it (apt-get install chromium) for the chat page's test" >&2
    fi
}

# Data parallelism on CUDA (gptlab-dist's `nccl` feature) compiles c10d's NCCL header. The torch
# wheel's nvidia-* dependencies ship CUDA's runtime and NCCL headers but not the two header sets
# that header also reaches (crt/ and nv/, from CUDA's compiler and CCCL packages): they go into
# .venv/cuda-headers (no GPU needed). The check builds the shim with NCCL and runs its tests,
# which on a host without a GPU include the refusal of a CUDA device.
nccl_check() {
    local torch_lib cuda_ver
    torch_lib=$(.venv/bin/python -c "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))" 2>/dev/null) || return 0
    if [[ ! -f "$torch_lib/libtorch_cuda.so" ]]; then
        echo "dev.sh: this libtorch has no CUDA; skipping the NCCL build check" >&2
        return 0
    fi
    cuda_ver=$(.venv/bin/python -c "import torch; print(torch.version.cuda)")
    if [[ ${cuda_ver%%.*} != 13 ]]; then
        echo "dev.sh: the NCCL build check knows CUDA 13's wheel layout, not CUDA $cuda_ver's; skipping it" >&2
        return 0
    fi
    local hdr="$ROOT/.venv/cuda-headers"
    if [[ ! -f "$hdr/nvidia/cu13/include/crt/host_config.h" || ! -d "$hdr/nvidia/cu13/include/nv" ]]; then
        echo "dev.sh: installing CUDA $cuda_ver's crt and CCCL headers into .venv/cuda-headers" >&2
        .venv/bin/pip install --quiet --no-deps --target "$hdr" "nvidia-cuda-crt==$cuda_ver.*" "nvidia-cuda-cccl==$cuda_ver.*"
    fi
    CUDA_HOME="$hdr/nvidia/cu13" cargo test --release -p gptlab-dist --features nccl --tests
}

setup
case "${1:-}" in
    setup) exit 0 ;;
    test)
        shift
        ensure_chromium
        cargo test --workspace --release --lib --bins --tests "$@"
        if [[ $# == 0 ]]; then nccl_check; fi
        ;;
    *)
        cargo build --release --quiet -p gptlab-cli
        exec "$ROOT/target/release/gptlab" "$@"
        ;;
esac
