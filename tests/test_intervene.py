"""Exactness of edits during generation (msma_lab.intervene), on every tiny generating family.

Each test states a property a steering library must keep and that an ordinary bug breaks: strength 0 is the
unedited model; the KV cache, left padding and batching change nothing; an edit at a band leaves every earlier
state alone; no hook survives an exception; the weights are never touched."""
import numpy as np
import pytest
import torch
from transformers import LogitsProcessor

from msma_lab.extract import encode_texts, forward_stacks, make_batch
from msma_lab.intervene import (POSITIONS, Edit, EditError, GenerationError, edit_layers, generate, hook_count,
                                random_direction, representation_shift, site_hooks, steer)
from msma_lab.models import tiny_model

PROMPTS = ["the cat sat on the", "once upon a time there was a very long road", "a", "stop here"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMA_CACHE", str(tmp_path))   # band norms land here, not in the user's cache


def _stack(lm):
    return "decoder" if lm.family == "encoder-decoder" else next(iter(lm.stacks))


def _edit(lm, strength=3.0, positions="all", op="add", scale="intermediate"):
    st = _stack(lm)
    return Edit(scale, op=op, direction=random_direction(lm, stack=st, seed=1), strength=strength,
                positions=positions, stack=st)


@pytest.mark.parametrize("family", ["gpt2", "llama", "t5"])
def test_strength_zero_is_the_unedited_model(family):
    lm = tiny_model(family)
    plain = generate(lm, PROMPTS, max_new_tokens=6, sample=True, seeds=(0, 1))
    for op in ("add", "scale", "noise", "project"):
        zero = generate(lm, PROMPTS, _edit(lm, 0.0, op=op), max_new_tokens=6, sample=True, seeds=(0, 1))
        assert zero.steps.token_id.tolist() == plain.steps.token_id.tolist()
        np.testing.assert_array_equal(zero.steps.logprob.values, plain.steps.logprob.values)
    edited = generate(lm, PROMPTS, _edit(lm, 3.0), max_new_tokens=6, sample=True, seeds=(0, 1))
    same = (edited.steps.token_id.tolist() == plain.steps.token_id.tolist()
            and np.array_equal(edited.steps.logprob.values, plain.steps.logprob.values))
    assert not same                                                     # and the edit itself does something


@pytest.mark.parametrize("family", ["gpt2", "llama", "t5"])
@pytest.mark.parametrize("positions", POSITIONS)
def test_cache_and_batching_change_nothing_under_an_edit(family, positions):
    lm = tiny_model(family)
    e = _edit(lm, 3.0, positions)
    runs = [generate(lm, PROMPTS, e, max_new_tokens=6, sample=True, seeds=(0, 2), **kw)
            for kw in ({}, dict(use_cache=False), dict(batch_size=1), dict(batch_size=3, use_cache=False))]
    for r in runs[1:]:
        assert r.steps.token_id.tolist() == runs[0].steps.token_id.tolist()
        np.testing.assert_allclose(r.steps.logprob.values, runs[0].steps.logprob.values, atol=1e-4)


def test_prompt_and_generated_edits_are_different_edits():
    lm = tiny_model("llama")
    g = {p: generate(lm, PROMPTS, _edit(lm, 4.0, p), max_new_tokens=6) for p in POSITIONS}
    plain = generate(lm, PROMPTS, max_new_tokens=6)
    first = lambda r: r.steps[r.steps.step == 0].logprob.values
    # the first new token is read at the last prompt position: a generated-only edit cannot change it
    np.testing.assert_array_equal(first(g["generated"]), first(plain))
    assert not np.array_equal(first(g["prompt"]), first(plain))
    np.testing.assert_array_equal(first(g["all"]), first(g["prompt"]))


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert", "t5"])
def test_no_state_before_the_band_changes(family):
    lm = tiny_model(family)
    st = next(iter(lm.stacks))
    e = Edit("global", op="add", direction=random_direction(lm, stack=st, seed=4), strength=1.0, stack=st)
    shift = representation_shift(lm, ["one two three four", "five"], e)
    first = edit_layers(lm, e)[0]
    assert (shift.relative_change.values[:first] == 0).all()
    assert (shift.relative_change.values[first:] > 0).all()


def test_pad_positions_are_never_edited():
    lm = tiny_model("gpt2")
    b = make_batch(lm, encode_texts(lm, ["one two three four five", "six"]), padding_side="left")
    e = _edit(lm, 5.0, scale="local")
    l0 = edit_layers(lm, e)[0]
    got = []
    for ctx in (None, e):
        grab = {}
        with (steer(lm, ctx) if ctx else torch.no_grad()), site_hooks(lm, lambda l, h: grab.__setitem__(l, h.clone()), [l0]):
            with torch.no_grad(): forward_stacks(lm, b)
        got.append(grab[l0])
    pad = ~b["attention_mask"].bool()
    assert pad.any()
    assert torch.equal(got[0][pad], got[1][pad]) and not torch.equal(got[0][~pad], got[1][~pad])


class _Interrupt(LogitsProcessor):
    def __init__(self, exc): self.exc, self.calls = exc, 0
    def __call__(self, ids, scores):
        self.calls += 1
        if self.calls == 3: raise self.exc
        return scores


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), RuntimeError("boom")])
def test_no_hook_survives_an_exception_mid_generation(exc, monkeypatch):
    lm = tiny_model("llama")
    before, w0 = hook_count(lm.model), {k: v.clone() for k, v in lm.model.state_dict().items()}
    proc = _Interrupt(exc)
    import msma_lab.intervene as iv
    monkeypatch.setattr(iv, "LogitsProcessorList", lambda procs: [*procs, proc])
    with pytest.raises(type(exc)):
        generate(lm, PROMPTS, [_edit(lm, 2.0), _edit(lm, 1.0, op="noise", scale="global")], max_new_tokens=8)
    assert proc.calls == 3
    assert hook_count(lm.model) == before
    after = lm.model.state_dict()
    assert all(torch.equal(w0[k], after[k]) for k in w0)                   # never modified in place


def test_refusals_name_the_problem():
    enc = tiny_model("bert")
    lm = tiny_model("gpt2"); before = hook_count(lm.model)
    with pytest.raises(GenerationError, match="cannot generate text"): generate(enc, "hello")
    with pytest.raises(EditError, match="out of range"): generate(lm, "a", Edit(layers=[99], op="scale"))
    with pytest.raises(EditError, match="needs a direction"): Edit("local", op="project")
    with pytest.raises(GenerationError, match="context"): generate(lm, "a " * 250, max_new_tokens=40)
    with pytest.raises(EditError, match="make it over the layers"):
        generate(lm, "a", Edit("global", op="add", direction=random_direction(lm, [1]), strength=1.0))
    assert hook_count(lm.model) == before
