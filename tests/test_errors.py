"Every error says what is wrong and what to do"
import json, time
import numpy as np
import pytest
import torch

from msma_lab.config import find_settings, load_settings
from msma_lab.corpus import CorpusError, load_corpus
from msma_lab.extract import ContextLengthError, NonFiniteActivations, encode_texts, extract
from msma_lab.models import ModelLoadError, load_model, tiny_model

LONG = " ".join(["Stars form inside cold clouds of gas and dust, then they burn for a very long time."] * 30)


# ---------------------------------------------------------------- models

@pytest.mark.parametrize("spec", ["not-a-model", "gpt2", "someone/some-model"])
def test_unknown_or_offline_model(spec):
    t = time.time()
    with pytest.raises(ModelLoadError) as e:
        load_model(spec)
    assert time.time() - t < 10
    msg = str(e.value)
    assert "\n" not in msg
    assert f"`{spec}`" in msg and "offline" in msg
    assert "smollm2-135m, minilm-l6" in msg and "tiny-gpt2" in msg


def test_local_folder_without_model(tmp_path):
    (tmp_path / "README.md").write_text("not a model")
    with pytest.raises(ModelLoadError, match=f"could not load the model in {tmp_path}"):
        load_model(str(tmp_path))


def test_unknown_tiny_family():
    with pytest.raises(ValueError, match="unknown tiny family `gpt3`; choose from gpt2, llama, bert, roberta, t5"):
        load_model("tiny-gpt3")
    with pytest.raises(ValueError, match="unknown tiny family"):
        tiny_model("mamba")


def test_unknown_dtype():
    with pytest.raises(ValueError, match="unknown dtype `float8`"):
        load_model("tiny-gpt2", dtype="float8")


# ---------------------------------------------------------------- corpora

@pytest.mark.parametrize("name,content", [("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n"), ("empty.txt", ""),
                                          ("blank.txt", "\n   \n\n"), ("header.csv", "text,topic\n")])
def test_empty_corpus(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(CorpusError, match="empty") as e:
        load_corpus(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("suffix,text,expect", [
    ("jsonl", '{"text": "One sentence."}\n\n{"text": "Two", \n', ":3: invalid JSON"),
    ("jsonl", '{"text": "One sentence."}\n["a list"]\n', ":2: expected a JSON object, got list"),
    ("jsonl", '{"text": "One sentence."}\n{"title": "no text"}\n', ':2: a document needs a non-empty "text"'),
    ("jsonl", '{"doc_id": "a", "text": "One."}\n{"doc_id": "a", "text": "Two."}\n', ":2: duplicate doc_id `a`"),
    ("jsonl", '{"doc_id": "a", "sentences": ["One.", "  "]}\n', ":1: sentence 1 of document `a` is empty"),
    ("csv", "sentence,topic\nHello there.,x\n", r":1: no `text` column.*sentence"),
    ("csv", "text,topic\nHello there.,x\n,y\n", ":3: empty `text`"),
])
def test_bad_corpus_file_names_file_and_line(tmp_path, suffix, text, expect):
    p = tmp_path / f"c.{suffix}"
    p.write_text(text)
    with pytest.raises(CorpusError, match=f"{p}{expect}"):
        load_corpus(p)


def test_unsupported_suffix_and_missing_file(tmp_path):
    p = tmp_path / "c.parquet"
    p.write_text("x")
    with pytest.raises(CorpusError, match=r"unsupported corpus format `.parquet`; use one of .txt, .jsonl, .csv"):
        load_corpus(p)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_corpus(tmp_path / "missing.jsonl")


def test_txt_and_csv_corpora_load(tmp_path):
    "The three formats give the same sentences"
    (tmp_path / "c.txt").write_text("The cat sat. The dog ran.\n\nStars are hot.\n")
    (tmp_path / "c.jsonl").write_text('{"text": "The cat sat. The dog ran."}\n{"text": "Stars are hot."}\n')
    (tmp_path / "c.csv").write_text("doc_id,text\nd0,The cat sat.\nd0,The dog ran.\nd1,Stars are hot.\n")
    for suf in ("txt", "jsonl", "csv"):
        c = load_corpus(tmp_path / f"c.{suf}")
        assert c.sentences.text.tolist() == ["The cat sat.", "The dog ran.", "Stars are hot."], suf
        assert len(c.docs) == 2


def test_csv_without_doc_id_extracts(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("text,topic\nThe cat sat. The dog ran.,animals\nStars are hot.,space\n")
    c = load_corpus(p)
    assert "text" not in c.docs.columns
    acts = extract(tiny_model("gpt2"), c, cache_root=tmp_path / "cache", progress=False)
    assert len(acts) == 3 and acts.units.topic.tolist() == ["animals", "animals", "space"]


# ---------------------------------------------------------------- context length

def test_text_longer_than_context(tmp_path):
    lm = tiny_model("gpt2")
    with pytest.raises(ContextLengthError) as e:
        extract(lm, ["Short.", LONG], long_texts="error", cache_root=tmp_path, progress=False)
    msg = str(e.value)
    assert "unit `t1/s0`" in msg and "the limit is 128" in msg and "long_texts='split'" in msg
    assert not any(tmp_path.iterdir()), "nothing is written for a refused corpus"
    with pytest.raises(ContextLengthError, match=r"unit `t0/s0` has \d+ tokens but the limit is 5"):
        extract(lm, ["A sentence of more than five tokens, surely."], max_length=5, cache_root=tmp_path, progress=False)
    with pytest.raises(ContextLengthError, match="max_length 2 leaves no room for content tokens"):
        encode_texts(tiny_model("bert"), ["A sentence of several tokens."], max_length=2, long_texts="split")
    with pytest.raises(ValueError, match="long_texts must be 'error' or 'split', not 'cut'"):
        extract(lm, ["x"], long_texts="cut", cache_root=tmp_path, progress=False)


# ---------------------------------------------------------------- Activations access

def test_layer_and_stack_errors(tmp_path):
    acts = extract(tiny_model("t5"), ["One text.", "Two texts."], cache_root=tmp_path, progress=False)
    with pytest.raises(IndexError, match="layer 4 out of range: encoder has hidden states 0..3"):
        acts.layer(4)
    with pytest.raises(IndexError, match="layer -5 out of range: decoder has hidden states 0..3"):
        acts.layer(-5, "decoder")
    np.testing.assert_array_equal(acts.layer(-1, "decoder"), acts.layer(3, "decoder"))
    np.testing.assert_array_equal(acts[2, "decoder"], acts.layer(2, "decoder"))
    with pytest.raises(KeyError, match="no stack `middle`; this model has encoder, decoder"):
        acts.stack("middle")


# ---------------------------------------------------------------- argument validation

def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="pooling='last' is for decoder models"):
        extract(tiny_model("bert"), ["x y"], pooling="last", cache_root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        extract(tiny_model("gpt2"), ["x y"], padding_side="middle", cache_root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown granularity `paragraph`; use one of sentence, document, token"):
        extract(tiny_model("gpt2"), ["x y"], granularity="paragraph", cache_root=tmp_path, progress=False)
    with pytest.raises(TypeError, match="give a Corpus, a path, or a list of strings"):
        extract(tiny_model("gpt2"), ["ok", 3], cache_root=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kw", [dict(pooling="max"), dict(cache_dtype="int8"), dict(cache_dtype="bogus")])
def test_bad_arguments_rejected_up_front(tmp_path, kw):
    with pytest.raises((ValueError, TypeError)):
        extract(tiny_model("gpt2"), ["Some text.", "More text here."], cache_root=tmp_path, progress=False, **kw)
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------- non-finite activations

def test_nan_names_hidden_state_and_unit_and_keeps_progress(tmp_path, texts):
    lm = tiny_model("llama")
    full = extract(lm, texts, batch_size=3, cache_dtype="float32", cache_root=tmp_path / "full", progress=False)
    saved = {k: v.clone() for k, v in lm.stacks["decoder"].blocks[2].state_dict().items()}
    k = 6

    def poison(done, total):
        if done == k:
            with torch.no_grad():
                for p in lm.stacks["decoder"].blocks[2].parameters(): p.fill_(float("nan"))

    with pytest.raises(NonFiniteActivations) as e:
        extract(lm, texts, batch_size=3, cache_dtype="float32", cache_root=tmp_path / "part", progress=False, on_batch=poison)
    msg = str(e.value)
    # block 2 is the third block: its output is hidden state 3 (0 = embeddings)
    assert msg.startswith("hidden state 3 of the decoder produced NaN or inf for unit `t")
    unit = msg.split("`")[1]
    order = _processing_order(lm, texts)
    assert unit in [f"t{i}/s0" for i in order[k:k + 3]]   # a unit of the poisoned batch
    path = next((tmp_path / "part").iterdir())
    assert json.loads((path / "progress.json").read_text())["texts_done"] == k   # earlier batches kept
    # nothing computed is lost: with the weights repaired, the run resumes to the exact full result
    lm.stacks["decoder"].blocks[2].load_state_dict(saved)
    calls = []
    acts = extract(lm, texts, batch_size=3, cache_dtype="float32", cache_root=tmp_path / "part", progress=False,
                   on_batch=lambda d, t: calls.append(d))
    assert calls[0] == k + 3
    np.testing.assert_array_equal(acts.stack(), full.stack())


def _processing_order(lm, texts):
    from msma_lab.extract import as_corpus, plan_extraction
    return plan_extraction(lm, as_corpus(texts)).order


def test_nan_in_every_text(tmp_path):
    lm = tiny_model("bert")
    with torch.no_grad(): lm.stacks["encoder"].blocks[0].output.dense.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteActivations, match=r"hidden state 1 of the encoder .* unit `t\d/s0`"):
        extract(lm, ["One.", "Two more.", "And three."], cache_root=tmp_path, progress=False)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_fp16_overflow(tmp_path, texts):
    lm = tiny_model("llama")
    with torch.no_grad(): lm.model.get_input_embeddings().weight.mul_(1e7)
    with pytest.raises(NonFiniteActivations) as e:
        extract(lm, texts, cache_dtype="float16", cache_root=tmp_path / "16", progress=False)
    msg = str(e.value)
    assert "cached (float16) value of hidden state 0 of the decoder" in msg and "float32" in msg
    acts = extract(lm, texts, cache_dtype="float32", cache_root=tmp_path / "32", progress=False)
    x = np.asarray(acts.stack())
    assert np.isfinite(x).all() and np.abs(x).max() > 65504   # float32 holds them


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("line,match", [
    ("batch_size = many", r"`batch_size = many` is not a valid int; e.g. `batch_size = 16`"),
    ("lambda_geo = big", r"`lambda_geo = big` is not a valid float; e.g. `lambda_geo = 0.1`"),
    ("seeds = 0, one, 2", r"`seeds = 0, one, 2` is not a valid tuple; e.g. `seeds = 0, 1, 2, 3, 4`"),
    ("colour = blue", r"unknown setting `colour`; known: model, corpus"),
])
def test_invalid_settings_name_key_and_file(tmp_path, line, match):
    p = tmp_path / "settings.ini"
    p.write_text(f"[msma]\nmodel = tiny-gpt2\n{line}\n")
    with pytest.raises(ValueError, match=match) as e:
        load_settings(p)
    assert str(e.value).startswith(f"{p}: ")


def test_settings_overrides_and_missing_file(tmp_path, monkeypatch):
    p = tmp_path / "settings.ini"
    p.write_text("[msma]\nbatch_size = 4\nseeds = 7 8\n")
    s = load_settings(p, pooling="last", model=None)
    assert (s.batch_size, s.seeds, s.pooling, s.model) == (4, (7, 8), "last", "smollm2-135m")
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['colour'\]"):
        load_settings(p, colour="blue")
    with pytest.raises(FileNotFoundError, match="settings file .* does not exist"):
        find_settings(tmp_path / "nope.ini")
    monkeypatch.setenv("MSMA_SETTINGS", str(p))
    assert find_settings() == p and load_settings().batch_size == 4
