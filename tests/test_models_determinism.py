"tiny_model(family, seed) must be the same model every time it is called"
import subprocess, sys, textwrap
import pytest

from msma_lab.models import TINY_FAMILIES

SCRIPT = textwrap.dedent("""
    import sys
    from msma_lab.models import tiny_model
    for fam in sys.argv[1:]:
        a, b = tiny_model(fam), tiny_model(fam)
        print(fam, a.fingerprint, b.fingerprint, a.config.pad_token_id, b.config.pad_token_id)
""")


@pytest.fixture(scope="module")
def fresh():
    "Per family: fingerprints and pad ids of the first and second tiny_model(fam) of a fresh interpreter"
    r = subprocess.run([sys.executable, "-c", SCRIPT, *TINY_FAMILIES], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}


def _fresh_process(fresh, fam): return fresh[fam]


@pytest.mark.parametrize("family", ["bert", "roberta", "t5"])
def test_tiny_model_deterministic(family, fresh):
    fa, fb, *_ = _fresh_process(fresh, family)
    assert fa == fb


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_tiny_decoder_deterministic(family, fresh):
    fa, fb, pa, pb = _fresh_process(fresh, family)
    assert (fa, pa) == (fb, pb)


def test_same_seed_same_weights_in_process():
    "Within the steady state (after the first call) the same seed gives identical weights, another seed not"
    import torch
    from msma_lab.models import tiny_model
    for fam in TINY_FAMILIES:
        a, b, c = tiny_model(fam), tiny_model(fam), tiny_model(fam, seed=1)
        sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert a.fingerprint == b.fingerprint != c.fingerprint
        assert not all(torch.equal(sa[k], sc[k]) for k in sa)
