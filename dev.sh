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

setup
case "${1:-}" in
    setup) exit 0 ;;
    test)
        shift
        ensure_chromium
        exec cargo test --workspace --release --lib --bins --tests "$@"
        ;;
    *)
        cargo build --release --quiet -p gptlab-cli
        exec "$ROOT/target/release/gptlab" "$@"
        ;;
esac
