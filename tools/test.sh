#!/usr/bin/env bash
# msma_lab's whole test run, in order: notebooks clean, library and README in sync with the notebooks,
# nbdev-test (every notebook, slow cells included), nbdev-proc-nbs (what the docs build executes),
# and pytest last. Run after `bash tools/setup.sh --dev`; this is README.md's test command and CI's.
set -uo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
fail() { echo "FAILED: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

# Each check compares the files before and after the tool, so it works on uncommitted work too (a fresh clone in CI
# is the committed state, so there it checks what was committed).
sums() { find "$@" -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha256sum; }
step "notebooks clean (nbdev-clean)"
before=$(sums nbs); nbdev-clean || fail "nbdev-clean"
[ "$before" = "$(sums nbs)" ] || fail "notebooks were not clean (nbdev-clean changed them): review and commit the cleaned notebooks"
step "library in sync with notebooks (nbdev-export)"
before=$(sums msma_lab); nbdev-export || fail "nbdev-export"
[ "$before" = "$(sums msma_lab)" ] || fail "msma_lab/ differed from what the notebooks export (nbdev-export changed it): commit the exported modules"
python tools/readme.py --check || fail "README.md out of date"
step "nbdev-test"
nbdev-test --flags slow --n-workers 2 || fail "nbdev-test"
step "nbdev-proc-nbs"
# (nbdev tries to install Quarto first and cannot here; the notebooks are processed all the same)
rm -rf _proc
nbdev-proc-nbs > /tmp/msma-proc-nbs.log 2>&1 && [ -f _proc/index.ipynb ] || { cat /tmp/msma-proc-nbs.log; fail "nbdev-proc-nbs"; }
! grep -q "Found cells containing imports and other code" /tmp/msma-proc-nbs.log || { cat /tmp/msma-proc-nbs.log; fail "a cell mixes imports with other code"; }
echo ok
step "pytest"
python -m pytest tests -p no:cacheprovider -q -n 2; rc=$?
[ $rc = 5 ] && { echo "pytest collected no tests"; exit 0; }
exit $rc
