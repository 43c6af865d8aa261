"Extraction must reproduce Hugging Face's hidden states exactly, whatever the batching"
import numpy as np
import pytest

from msma_lab.corpus import Corpus
from msma_lab.extract import ATTN_STATS, extract, reference_hidden, encode_texts, sentence_starts
from msma_lab.models import TINY_FAMILIES, tiny_model

from helpers import hf_token_states, content_tokens

TOL = 1e-5
N_STACKS = {"gpt2": 1, "llama": 1, "bert": 1, "roberta": 1, "t5": 2}


@pytest.fixture(scope="module")
def models():
    "One tiny model per family, read-only in this module"
    return {f: tiny_model(f) for f in TINY_FAMILIES}


@pytest.fixture(scope="module")
def refs(models, texts):
    return {f: reference_hidden(models[f], texts) for f in TINY_FAMILIES}


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_mean_parity_matrix(family, models, refs, texts, tmp_path):
    "Mean pooling equals the HF reference for every padding side and batch size (T5: both stacks)"
    lm, ref = models[family], refs[family]
    assert len(ref) == N_STACKS[family]
    for side in ("left", "right"):
        for bs in (1, 3, 16):
            acts = extract(lm, texts, padding_side=side, batch_size=bs, cache_dtype="float32",
                           cache_root=tmp_path / f"{side}{bs}", progress=False)
            assert acts.stacks == list(ref)
            for s in acts.stacks:
                x = np.asarray(acts.stack(s))
                assert x.dtype == np.float32
                assert x.shape == ref[s].shape == (lm.n_hidden[s], len(texts), lm.d_model)
                np.testing.assert_allclose(x, ref[s], atol=TOL, rtol=0, err_msg=f"{family} {s} {side} bs={bs}")
            assert acts.units.unit_id.tolist() == [f"t{i}/s0" for i in range(len(texts))]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_last_pooling_parity(family, models, texts, tmp_path):
    "pooling='last' = the state of the last non-special token, computed by hand from an HF forward"
    lm = models[family]
    hand = []
    for t in texts:
        h, keep = hf_token_states(lm, t)
        hand.append(h["decoder"][:, np.nonzero(keep)[0][-1]])
    hand = np.stack(hand, 1)
    np.testing.assert_allclose(reference_hidden(lm, texts, "last")["decoder"], hand, atol=TOL, rtol=0)
    for side in ("left", "right"):
        for bs in (1, 3, 16):
            acts = extract(lm, texts, pooling="last", padding_side=side, batch_size=bs, cache_dtype="float32",
                           cache_root=tmp_path / f"{side}{bs}", progress=False)
            np.testing.assert_allclose(acts.stack(), hand, atol=TOL, rtol=0, err_msg=f"{side} bs={bs}")
    # the last token is not the mean: the test above can tell the two poolings apart
    assert np.abs(hand[-1] - reference_hidden(lm, texts)["decoder"][-1]).max() > 1e-3


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_token_granularity(family, models, texts, tmp_path):
    "One row per content token, equal to HF's per-token states, in text order"
    lm = models[family]
    for side, bs in (("right", 4), ("left", 7)):
        acts = extract(lm, texts, granularity="token", padding_side=side, batch_size=bs, cache_dtype="float32",
                       cache_root=tmp_path / side, progress=False)
        n_content = [len(content_tokens(lm, t)) for t in texts]
        assert len(acts.units) == sum(n_content)
        assert acts.units.unit_id.is_unique
        assert acts.units.groupby("text_index").size().tolist() == n_content
        assert acts.units.text_index.is_monotonic_increasing
        for s in acts.stacks:
            hand = np.concatenate([hf_token_states(lm, t)[0][s][:, hf_token_states(lm, t)[1]] for t in texts], 1)
            assert acts.stack(s).shape == hand.shape
            np.testing.assert_allclose(acts.stack(s), hand, atol=TOL, rtol=0, err_msg=f"{family} {s} {side}")
        # the token column is the tokenizer's own tokens
        toks = sum((lm.tokenizer.convert_ids_to_tokens(content_tokens(lm, t)) for t in texts), [])
        assert acts.units.token.tolist() == toks


@pytest.mark.parametrize("family", ["gpt2", "bert", "t5"])
def test_document_granularity(family, models, corpus, tmp_path):
    "A document unit is the mean over the joined text of its sentences, labelled with the document's labels"
    first2 = corpus.sentences[corpus.sentences.position < 2]
    joined_all = first2.groupby("doc_id", sort=False).text.agg(" ".join)
    ok = joined_all[(joined_all.str.len() < 250) & (first2.groupby("doc_id", sort=False).size() == 2)]
    docs = corpus.docs[corpus.docs.doc_id.isin(ok.index[:3])].reset_index(drop=True)
    assert len(docs) == 3
    sents = first2[first2.doc_id.isin(docs.doc_id)].reset_index(drop=True)
    sub = Corpus(docs.assign(n_sentences=2), sents, corpus.words.head(0), "three-docs")
    lm = models[family]
    acts = extract(lm, sub, granularity="document", batch_size=2, padding_side="left", cache_dtype="float32",
                   cache_root=tmp_path, progress=False)
    assert acts.units.unit_id.tolist() == docs.doc_id.tolist()
    if "topic" in docs: assert acts.units.topic.tolist() == docs.topic.tolist()
    joined = [" ".join(sents[sents.doc_id == d].sort_values("position").text) for d in docs.doc_id]
    ref = reference_hidden(lm, joined)
    for s in acts.stacks: np.testing.assert_allclose(acts.stack(s), ref[s], atol=TOL, rtol=0)


def _three_docs(corpus):
    "Three shipped documents cut to their first four sentences (inside every tiny context)"
    sents = corpus.sentences[corpus.sentences.position < 4]
    docs = corpus.docs.iloc[[0, 9, 30]].reset_index(drop=True)
    sents = sents[sents.doc_id.isin(docs.doc_id)].reset_index(drop=True)
    return Corpus(docs.assign(n_sentences=4), sents, corpus.words[corpus.words.sent_id.isin(sents.sent_id)], "three-docs")


def _sentence_of_tokens(lm, corpus, doc_id, text):
    "Sentence of each token of a plain tokenization of the document's text, from the joined string (None for special tokens)"
    enc = lm.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    starts = sentence_starts(corpus)[doc_id]
    out = []
    for (a, e), sp in zip(enc["offset_mapping"], enc["special_tokens_mask"]):
        p = max(e - 1, a)
        if p + 1 in starts: p += 1                    # a bare joining space opens the next sentence
        out.append(None if sp else max(k for k, s0 in enumerate(starts) if s0 <= p))
    return out


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_document_context_parity(family, models, corpus, tmp_path):
    "context='document': each sentence's mean, last token and token rows equal a plain HF forward over its whole document"
    lm, sub = models[family], _three_docs(corpus)
    per_doc = [(d, " ".join(g.text), g) for d, g in sub.sentences.groupby("doc_id", sort=False)]
    hand = {"mean": [], "last": [], "token": []}
    for d, text, g in per_doc:
        h, keep = hf_token_states(lm, text)
        sid = _sentence_of_tokens(lm, sub, d, text)
        for k in range(len(g)):
            idx = [i for i, x in enumerate(sid) if x == k]
            hand["mean"].append({st: h[st][:, idx].mean(1) for st in h})
            hand["last"].append({st: h[st][:, idx[-1]] for st in h})
        hand["token"].append({st: h[st][:, keep] for st in h})
    for side, bs in (("right", 3), ("left", 1)):
        for pooling in ("mean", "last") if lm.family == "decoder" else ("mean",):
            acts = extract(lm, sub, "sentence", pooling=pooling, context="document", padding_side=side, batch_size=bs,
                           cache_dtype="float32", cache_root=tmp_path / f"{side}{pooling}", progress=False)
            assert acts.units.sent_id.tolist() == sub.sentences.sent_id.tolist()
            for st in acts.stacks:
                np.testing.assert_allclose(acts.stack(st), np.stack([x[st] for x in hand[pooling]], 1), atol=TOL, rtol=0,
                                           err_msg=f"{family} {st} {side} {pooling}")
        tok = extract(lm, sub, "token", context="document", padding_side=side, batch_size=bs, cache_dtype="float32",
                      cache_root=tmp_path / f"{side}tok", progress=False)
        for st in tok.stacks:
            np.testing.assert_allclose(tok.stack(st), np.concatenate([x[st] for x in hand["token"]], 1), atol=TOL, rtol=0)
        assert tok.units.sent_id.isin(sub.sentences.sent_id).all() and tok.units.pos.notna().mean() > 0.9
        assert tok.units.unit_id.is_unique and "form" in tok.units


@pytest.mark.parametrize("family", ["llama", "roberta", "t5"])
def test_fp16_cache(family, models, texts, tmp_path):
    "A float16 cache holds the float32 values to float16 precision; layer() hands back float32"
    lm = models[family]
    a32 = extract(lm, texts, cache_dtype="float32", cache_root=tmp_path / "32", progress=False)
    a16 = extract(lm, texts, cache_dtype="float16", cache_root=tmp_path / "16", progress=False)
    assert a16.path != a32.path
    for s in a16.stacks:
        assert a16.stack(s).dtype == np.float16
        assert a16.layer(-1, s).dtype == np.float32
        x16, x32 = np.asarray(a16.stack(s), dtype=np.float32), np.asarray(a32.stack(s))
        np.testing.assert_allclose(x16, x32, rtol=2 ** -10, atol=1e-6)
        np.testing.assert_array_equal(x16, x32.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("granularity", ["sentence", "token"])
def test_attention_summaries(family, granularity, models, texts, tmp_path):
    "Finite (blocks, units, heads, len(ATTN_STATS)) summaries, unchanged by the padding side; entropy in [0, log n]"
    lm = models[family]
    res = {side: extract(lm, texts, granularity=granularity, attentions=True, padding_side=side, batch_size=5,
                         cache_dtype="float32", cache_root=tmp_path / side, progress=False)
           for side in ("left", "right")}
    heads = lm.config.num_attention_heads
    n_tok = np.array([len(lm.tokenizer(t)["input_ids"]) for t in texts])
    for s in lm.stacks:
        a, b = np.asarray(res["left"].attention(s)), np.asarray(res["right"].attention(s))
        n_units = len(res["left"].units)
        assert a.shape == (len(lm.stacks[s].blocks), n_units, heads, len(ATTN_STATS))
        assert np.isfinite(a).all() and np.isfinite(b).all()
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
        ent, dist, share = a[..., 0], a[..., 1], a[..., 2]
        n = n_tok if granularity == "sentence" else n_tok[res["left"].units.text_index.to_numpy()]
        assert (ent >= -1e-6).all() and (ent <= np.log(n)[None, :, None] + 1e-5).all()
        assert (dist >= 0).all() and (dist <= (n - 1)[None, :, None] + 1e-5).all()
        assert (share >= 0).all() and (share <= 1 + 1e-6).all()
        assert ent.max() > 0.1   # not all zero
    # attentions also leave the hidden states untouched
    plain = extract(lm, texts, granularity=granularity, cache_dtype="float32", cache_root=tmp_path / "plain", progress=False)
    for s in lm.stacks: np.testing.assert_allclose(res["right"].stack(s), plain.stack(s), atol=TOL, rtol=0)
    with pytest.raises(KeyError, match="attentions=True"): plain.attention()


def test_attentions_restore_attn_implementation(tmp_path):
    "extract(attentions=True) switches to eager attention only for its own run"
    lm = tiny_model("gpt2")
    before = lm.config._attn_implementation
    extract(lm, ["One text.", "Another one."], attentions=True, cache_root=tmp_path, progress=False)
    assert lm.config._attn_implementation == before


def hf_token_states_ids(lm, ids):
    "Per-token states (hidden states, tokens, d) of one window of ids, plain HF forward"
    import torch
    x = torch.tensor([ids])
    with torch.no_grad(): r = lm.model(input_ids=x, attention_mask=torch.ones_like(x), output_hidden_states=True)
    return torch.stack([h[0] for h in r.hidden_states]).numpy(), None


LONG = " ".join(["Stars form inside cold clouds of gas and dust, then they burn for a very long time."] * 30)


@pytest.mark.parametrize("family", ["gpt2", "bert", "roberta"])
def test_long_texts_split(family, models, tmp_path):
    "A text longer than the context is encoded in windows: a finite mean, and every content token once"
    lm = models[family]
    content = content_tokens(lm, LONG)
    assert len(content) > lm.context_length
    texts = ["A short one.", LONG]
    acts = extract(lm, texts, long_texts="split", cache_dtype="float32", cache_root=tmp_path / "s", progress=False)
    x = np.asarray(acts.stack())
    assert x.shape[1] == 2 and np.isfinite(x).all()
    # windows: within the limit, special tokens repeated, content exactly partitioned
    segs = encode_texts(lm, [LONG], long_texts="split")
    assert len(segs) >= 2 and all(len(s.ids) <= lm.context_length for s in segs)
    assert sum(([i for i, k in zip(s.ids, s.keep) if k] for s in segs), []) == content
    # the unit's mean is the token-weighted mean over the windows, each window its own HF forward
    num, den = 0, 0
    for s in segs:
        h, _ = hf_token_states_ids(lm, s.ids)
        keep = np.array(s.keep, dtype=bool)
        num = num + h[:, keep].sum(1); den += keep.sum()
    np.testing.assert_allclose(x[:, 1], num / den, atol=TOL, rtol=0)
    # the short text is unaffected
    np.testing.assert_allclose(x[:, 0], reference_hidden(lm, texts[:1])[next(iter(lm.stacks))][:, 0], atol=TOL, rtol=0)
    # token granularity: every content token exactly once, in order
    tok = extract(lm, texts, granularity="token", long_texts="split", cache_root=tmp_path / "t", progress=False)
    u = tok.units[tok.units.text_index == 1]
    assert len(u) == len(content) and u.unit_id.is_unique
    assert u.token.tolist() == lm.tokenizer.convert_ids_to_tokens(content)
    assert (np.diff(u.start.to_numpy()) > 0).all()
    assert np.isfinite(np.asarray(tok.stack(), dtype=np.float32)).all()
    assert (np.abs(np.asarray(tok.stack(), dtype=np.float32)).sum(-1) > 0).all()


def test_split_last_pooling(models, tmp_path):
    "pooling='last' of a split text is the last content token of its last window"
    lm = models["gpt2"]
    acts = extract(lm, [LONG], long_texts="split", pooling="last", cache_dtype="float32", cache_root=tmp_path, progress=False)
    last = encode_texts(lm, [LONG], long_texts="split")[-1]
    h, _ = hf_token_states_ids(lm, last.ids)
    np.testing.assert_allclose(acts.stack()[:, 0], h[:, np.nonzero(last.keep)[0][-1]], atol=TOL, rtol=0)


def test_corpus_labels_and_token_pos(corpus, models, tmp_path):
    "Sentence units carry the corpus labels; token units of tagged sentences carry parts of speech"
    longest = corpus.sentences.groupby("doc_id", sort=False).text.agg(lambda t: t.str.len().max())
    doc = longest[longest < 200].index[0]                 # every sentence well inside the context
    sents = corpus.sentences[corpus.sentences.doc_id == doc].reset_index(drop=True)
    sub = Corpus(corpus.docs[corpus.docs.doc_id == doc], sents, corpus.words[corpus.words.sent_id.isin(sents.sent_id)], "one-doc")
    acts = extract(models["gpt2"], sub, cache_root=tmp_path / "s", progress=False)
    assert acts.units.unit_id.tolist() == sents.sent_id.tolist()
    for col in set(sents.columns) - {"text"}:
        assert acts.units[col].tolist() == sents[col].tolist(), col
    tok = extract(models["gpt2"], sub, granularity="token", cache_root=tmp_path / "t", progress=False)
    assert tok.stack().shape[1] == len(tok.units)
    if len(sub.words):
        assert tok.units.pos.notna().mean() > 0.9
        assert tok.units.first_subword.sum() <= len(sub.words)


def test_units_table_round_trip(tmp_path):
    "Labels that look like numbers, dates, booleans or nulls come back from the cache as written"
    from msma_lab.corpus import load_corpus
    from msma_lab.extract import unit_table
    p = tmp_path / "tricky.jsonl"
    p.write_text('{"doc_id":"007","topic":"null","date":"2020-01-01","score":"1e5","sentences":'
                 '[{"text":"The cat sat.","form":"NaN"},{"text":"It ran.","form":"True"}]}\n'
                 '{"doc_id":"10","topic":"animals","date":"2021-02-03","score":"2","sentences":["Dogs bark."]}\n')
    c = load_corpus(p)
    acts = extract(tiny_model("gpt2"), c, cache_root=tmp_path / "c", progress=False)
    want = unit_table(c)                            # units keep their text (hover text, probes, reports)
    assert acts.units.columns.tolist() == want.columns.tolist()
    assert acts.units.astype(object).where(acts.units.notna(), None).to_dict("records") == \
           want.astype(object).where(want.notna(), None).to_dict("records")
