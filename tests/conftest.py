"""Shared setup for the msma_lab test-suite.

Environment decisions (made here, before torch / transformers are imported by any test module):

* ``OMP_NUM_THREADS=1`` and ``torch.set_num_threads(1)``: the suite runs on small machines, and a
  fixed thread count makes CPU kernels deterministic, which the exact (``array_equal``) resume
  tests rely on -- including across the subprocess started by the SIGKILL test.
* ``HF_HUB_OFFLINE=1`` is forced, not defaulted: no test may ever reach the network.
* ``MSMA_CACHE`` is deliberately *not* redirected.  The only thing the suite writes through
  ``msma_lab.config.cache_dir`` is the converted SmolLM2-135M model (~500 MB, ~15 s to convert
  from the packaged GGUF), which must be shared with the user's normal cache
  (``~/.cache/msma_lab/models`` unless the user set ``MSMA_CACHE`` / ``cache_dir``) so it is
  converted once, not once per test session.  Conversion is race-safe (temp folder + rename), so
  parallel sessions are fine.  Every activation cache, on the other hand, is written under
  pytest's ``tmp_path`` via ``extract(..., cache_root=...)``: every test in this suite passes
  ``cache_root`` explicitly, so nothing else lands in the user's cache.
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import time
import pytest
import torch

torch.set_num_threads(1)

from msma_lab.corpus import CorpusError, load_corpus  # noqa: E402
from msma_lab.models import TINY_FAMILIES, tiny_tokenizer  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: uses a real (pretrained) model; quick enough for CI")


def _retry(fn, tries=20, wait=0.5):
    "data/corpus.jsonl may be rewritten while the suite runs: retry a read that caught it half-written"
    for i in range(tries):
        try: return fn()
        except (CorpusError, ValueError, OSError):
            if i == tries - 1: raise
            time.sleep(wait)


@pytest.fixture(scope="session", autouse=True)
def _tiny_tokenizers():
    "Train (and lru-cache) every tiny tokenizer once, up front: they are trained on the shipped corpus"
    for fam in TINY_FAMILIES: _retry(lambda: tiny_tokenizer(fam))


@pytest.fixture(scope="session", autouse=True)
def _activations_never_in_user_cache(tmp_path_factory):
    """Safety net: should a test forget `cache_root`, its activations land in a session tmp dir, not in
    ~/.cache/msma_lab/activations.  Models (the converted SmolLM2) still use the user's cache."""
    import msma_lab.extract as X
    orig, tmp = X.cache_dir, tmp_path_factory.mktemp("msma_cache")
    def redirected(sub="", settings=None):
        if sub == "activations":
            p = tmp / sub; p.mkdir(parents=True, exist_ok=True); return p
        return orig(sub, settings)
    X.cache_dir = redirected
    yield
    X.cache_dir = orig


@pytest.fixture(scope="session")
def corpus():
    "The shipped corpus, read once per session (its exact size is not relied on)"
    return _retry(load_corpus)


FIXED_TEXTS = [
    "Hi.",
    "The cat sat on the mat.",
    "Stars form inside cold clouds of gas and dust, and they shine for billions of years.",
    "Why?",
    "A much longer sentence, with commas, clauses and more words in it, keeps going for a while "
    "so that batches need real padding on one side or the other.",
    "Water boils at one hundred degrees.",
]


@pytest.fixture(scope="session")
def texts(corpus):
    "About 20 texts of very different lengths, all well inside every tiny model's context"
    s = corpus.sentences.text
    s = s[s.str.len() < 200]
    step = max(1, len(s) // 14)
    return FIXED_TEXTS + s.iloc[::step].head(14).tolist()
