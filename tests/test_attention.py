"Attention profiles (msma_lab.attention): hand-checked statistics, padding invariance, T5's three attentions"
import numpy as np
import pandas as pd
import pytest
import torch

from msma_lab.attention import attention_summaries, attention_table, head_heatmap, layer_profile, profile_figure, sink_heads
from msma_lab.corpus import corpus_from_records
from msma_lab.extract import ATTN_STATS, attention_stats, encode_texts, extract
from msma_lab.models import tiny_model
from msma_lab.scales import scale_map, scale_maps

DOCS = [["The cat sat on the mat.", "A dog ran past it.", "Then both slept."],
        ["Stars form in clouds.", "They shine for years."],
        ["Why?", "Because water boils at one hundred degrees, and steam rises."],
        ["One sentence only, but a longer one, so that batches need padding."]]


@pytest.fixture(scope="module")
def docs():
    return corpus_from_records(((f"doc {i}", {"doc_id": f"d{i}", "sentences": s}) for i, s in enumerate(DOCS)), "docs")


@pytest.fixture(scope="module")
def models():
    return {f: tiny_model(f, attentions=True) for f in ("gpt2", "llama", "bert", "t5")}


def run(lm, corpus, root, granularity="document", **kw):
    return extract(lm, corpus, granularity, attentions=True, cache_dtype="float32", cache_root=root, progress=False, **kw)


def hand_stats(a, special, key_sent, q_sent):
    "Numpy ATTN_STATS per head and query of one unpadded attention (heads, q, k)"
    q, k = np.arange(a.shape[1])[:, None], np.arange(a.shape[2])[None]
    ent = -np.where(a > 0, a * np.log(np.where(a > 0, a, 1)), 0).sum(-1)
    other = (q_sent[:, None] != key_sent[None]) & (q_sent[:, None] >= 0) & (key_sent[None] >= 0)
    return np.stack([ent, (a * np.abs(q - k)).sum(-1), a[..., 0], (a * special).sum(-1), 1 - (a * other).sum(-1)], -1)


def test_known_matrix_by_hand():
    "Entropy, distance, first/special/same-sentence shares of a known causal head, and the same with padding"
    A = torch.tensor([[1., 0, 0, 0], [.5, .5, 0, 0], [.2, .3, .5, 0], [.1, .2, .3, .4]])
    sp, se = torch.tensor([[1, 0, 0, 0]]), torch.tensor([[-1, 0, 0, 1]])     # BOS, sentence 0, 0, 1
    st = attention_stats(A[None, None], torch.ones(1, 4, dtype=torch.long), sp, se)[0, :, 0].numpy()
    H = lambda *p: -sum(x * np.log(x) for x in p)
    np.testing.assert_allclose(st[:, 0], [0, H(.5, .5), H(.2, .3, .5), H(.1, .2, .3, .4)], atol=1e-6)
    np.testing.assert_allclose(st[:, 1], [0, .5, .2 * 2 + .3, .1 * 3 + .2 * 2 + .3], atol=1e-6)
    np.testing.assert_allclose(st[:, 2], [1, .5, .2, .1], atol=1e-7)
    np.testing.assert_allclose(st[:, 3], [1, .5, .2, .1], atol=1e-7)
    np.testing.assert_allclose(st[:, 4], [1, 1, 1, .5], atol=1e-7)
    pad = torch.nn.functional.pad
    for left in (1, 3):
        st_l = attention_stats(pad(A, (left, 0, left, 0))[None, None], torch.tensor([[0] * left + [1] * 4]),
                               pad(sp, (left, 0)), pad(se, (left, 0), value=-1))[0, left:, 0].numpy()
        np.testing.assert_allclose(st_l, st, atol=1e-7)
    st_r = attention_stats(pad(A, (0, 2, 0, 2))[None, None], torch.tensor([[1] * 4 + [0] * 2]),
                           pad(sp, (0, 2)), pad(se, (0, 2), value=-1))[0, :4, 0].numpy()
    np.testing.assert_allclose(st_r, st, atol=1e-7)


@pytest.mark.parametrize("family", ["gpt2", "bert", "t5"])
def test_cache_matches_hf_attentions(family, models, docs, tmp_path):
    "Cached unit summaries = the statistics worked out from Hugging Face's own attention weights, text by text"
    lm = models[family]
    acts = run(lm, docs, tmp_path, batch_size=3, padding_side="left")
    for i, (text, sents) in enumerate(zip(acts.units.text, DOCS)):
        seg = encode_texts(lm, [text])[0]
        spans, pos = [], 0
        for s in sents: spans.append((pos, pos + len(s) + 1)); pos += len(s) + 1    # + the joining space
        def last(a, e):             # the token's last character; a bare joining space belongs to the sentence it opens
            p = max(e - 1, a)
            return p + 1 if text[p] == " " and any(p == s1 - 1 for _, s1 in spans[:-1]) else p
        sid = np.array([next(j for j, (s0, s1) in enumerate(spans) if s0 <= last(a, e) < s1) if k else -1
                        for (a, e), k in zip(seg.offsets, seg.keep)])
        sp, keep, ids = 1 - np.array(seg.keep), np.array(seg.keep, bool), torch.tensor([seg.ids])
        with torch.no_grad():
            if family == "t5":
                r = lm.model(input_ids=ids, decoder_input_ids=torch.tensor([[lm.config.decoder_start_token_id] + seg.ids[:-1]]),
                             output_attentions=True)
                dsp, dsid = np.r_[1, sp[:-1]], np.r_[-1, sid[:-1]]                  # decoder reads the text shifted by one
                parts = {"encoder": (r.encoder_attentions, sp, sid, sid), "decoder": (r.decoder_attentions, dsp, dsid, dsid),
                         "cross": (r.cross_attentions, sp, sid, dsid)}
            else:
                r = lm.model(input_ids=ids, output_attentions=True)
                parts = {acts.stacks[0]: (r.attentions, sp, sid, sid)}
        for kind, (att, s_, ks, qs) in parts.items():
            want = np.stack([hand_stats(a[0].double().numpy(), s_, ks, qs)[:, keep].mean(1) for a in att])  # (blocks, heads, 5)
            np.testing.assert_allclose(acts.attention(kind)[:, i], want, atol=1e-5, err_msg=f"{family} {kind} unit {i}")
    assert acts.attention(acts.stacks[0])[..., 4].min() < 0.99          # documents do attend across sentences


@pytest.mark.parametrize("family", ["gpt2", "llama", "bert", "t5"])
def test_padding_and_batch_size_never_change_a_profile(family, models, docs, tmp_path):
    lm = models[family]
    runs = [run(lm, docs, tmp_path / f"{side}{bs}", padding_side=side, batch_size=bs)
            for side, bs in [("right", 1), ("left", 1), ("left", 3), ("right", 8)]]
    ref = attention_table(runs[0])
    for acts in runs[1:]:
        t = attention_table(acts)
        pd.testing.assert_frame_equal(t[["stack", "layer", "head", "stat"]], ref[["stack", "layer", "head", "stat"]])
        np.testing.assert_allclose(t[["mean", "sd"]].to_numpy(), ref[["mean", "sd"]].to_numpy(), atol=1e-5)
        for k in acts.attention_kinds: np.testing.assert_allclose(acts.attention(k), runs[0].attention(k), atol=1e-5)


def test_sentence_units_stay_in_their_sentence(models, docs, tmp_path):
    "Sentence (and token) units encoded alone have one sentence: same_sentence_share is exactly 1; read in their document they look across"
    same = ATTN_STATS.index("same_sentence_share")
    for g in ("sentence", "token"):
        a = run(models["llama"], docs, tmp_path / g, g, context="unit").attention()
        np.testing.assert_allclose(a[..., same], 1, atol=1e-6)
        d = run(models["llama"], docs, tmp_path / f"{g}-doc", g, context="document")
        first = d.units.position.to_numpy() == 0 if g == "sentence" else d.units.sent_id.str.endswith("/s0").to_numpy()
        x = d.attention()[..., same]
        np.testing.assert_allclose(x[:, first], 1, atol=1e-6)   # causal: a document's first sentence has nothing before it
        assert x[:, ~first].max() < 0.99                        # every later one attends to what came before


def test_t5_encoder_decoder_and_cross(models, docs, tmp_path):
    acts = run(models["t5"], docs, tmp_path)
    assert acts.attention_kinds == ["encoder", "decoder", "cross"]
    prof = layer_profile(acts)
    assert prof["stack"].unique().tolist() == ["encoder", "decoder", "cross"]
    assert len(prof) == 3 * 3 * len(ATTN_STATS) and np.isfinite(prof[["mean", "head_sd"]].to_numpy()).all()
    cross = attention_summaries(acts, "cross")
    assert not np.allclose(cross, attention_summaries(acts, "decoder"))
    maps = scale_maps(acts)
    fig = profile_figure(acts, maps, stats=["entropy", "distance"])
    assert len(fig.data) == 2 * 3 * 2 + 2 * 3                                # + a legend entry per band of each map
    assert [a.text for a in fig.layout.annotations][:6] == [f"{k} · {s}" for k in ("encoder", "decoder", "cross")
                                                              for s in ("entropy", "distance")]
    h = head_heatmap(acts, "entropy", "cross", maps)                            # cross takes the decoder's bands
    assert h.data[0].z.shape == (3, 4) and len(h.layout.shapes) == 3     # decoder: local 0–1 · intermediate 2 · global 3
    with pytest.raises(ValueError, match="no ScaleMap for the cross"): head_heatmap(acts, "entropy", "cross", maps["encoder"])


def test_figures_and_sinks(models, docs, tmp_path):
    acts = run(models["gpt2"], docs, tmp_path)
    sm = scale_map(acts, "uniform")                                             # local 0–1 · intermediate 2 · global 3–4
    fig = profile_figure(acts, sm)
    assert len(fig.data) == 2 * len(ATTN_STATS) + 3 and len(fig.layout.shapes) == 3 * len(ATTN_STATS)
    assert [d.name for d in fig.data[-3:]] == ["local 0–1", "intermediate 2", "global 3–4"]
    assert [(s.x0, s.x1) for s in fig.layout.shapes[:3]] == [(0.5, 1.5), (1.5, 2.5), (2.5, 4.5)]
    assert len(profile_figure(run(models["gpt2"], docs, tmp_path / "s", "sentence")).data) == 2 * (len(ATTN_STATS) - 1)
    h = head_heatmap(acts, "distance", smap=sm)
    assert h.data[0].z.shape == (4, 4) and [s.y0 for s in h.layout.shapes] == [0.5, 1.5, 2.5]
    with pytest.raises(ValueError, match="unknown stat"): head_heatmap(acts, "spread")
    with pytest.raises(ValueError, match="unknown stats"): profile_figure(acts, sm, stats=["entropy", "spread"])
    s = sink_heads(acts, threshold=0)
    assert len(s) == 16 and s["mean"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="first_share"): sink_heads(acts, stat="entropy")


def test_cache_without_attentions_says_what_to_do(models, docs, tmp_path):
    plain = extract(models["bert"], docs, "document", cache_root=tmp_path, progress=False)
    for f in (attention_table, layer_profile, sink_heads, head_heatmap, profile_figure, attention_summaries):
        with pytest.raises(ValueError, match=r"extract with attentions=True"): f(plain)


def test_old_three_statistic_cache_is_refused(models, docs, tmp_path, monkeypatch):
    acts = run(models["gpt2"], docs, tmp_path)
    old = np.asarray(acts.attention())[..., :3]
    monkeypatch.setattr(acts, "attention", lambda stack=None: old)
    with pytest.raises(ValueError, match="overwrite=True"): attention_table(acts)


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_attention_budget_cuts_batches_not_numbers(family, models, docs, tmp_path, monkeypatch):
    "A budget too small for two texts per forward: every batch holds one text, and every array is unchanged"
    import msma_lab.extract as X
    lm = models[family]
    ref = run(lm, docs, tmp_path/"ref", batch_size=8)
    seen = []
    monkeypatch.setattr(X, "ATTENTION_BUDGET", 1)
    small = run(lm, docs, tmp_path/"small", batch_size=8, on_batch=lambda done, total: seen.append(done))
    assert seen == [1, 2, 3, 4]                                   # one text per forward pass
    for k in ref.attention_kinds: np.testing.assert_allclose(small.attention(k), ref.attention(k), atol=1e-5)
    for s in ref.stacks: np.testing.assert_allclose(small.stack(s), ref.stack(s), atol=1e-5)
