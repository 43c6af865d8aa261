"Every error says what is wrong and what to do"
import errno, json, time
import numpy as np
import pytest
from msma_lab.config import SettingsError
import torch

from msma_lab.config import MsmaError, find_settings, load_settings
from msma_lab.corpus import CorpusError, CorpusNotFoundError, load_corpus
from msma_lab.extract import Activations, CacheError, ContextLengthError, NonFiniteActivations, encode_texts, extract
from msma_lab.metrics import effective_rank, linear_cka
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
    with pytest.raises(FileNotFoundError, match="does not exist") as e:      # still a FileNotFoundError, and a MsmaError
        load_corpus(tmp_path / "missing.jsonl")
    assert isinstance(e.value, MsmaError) and "\n" not in str(e.value)


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
    assert "unit `t1/s0`" in msg and "the limit is 256" in msg and "long_texts='split'" in msg
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
    with pytest.raises(ValueError, match="pooling = last is for decoder models"):
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
    with pytest.raises(MsmaError, match="settings file .* does not exist"):
        find_settings(tmp_path / "nope.ini")
    monkeypatch.setenv("MSMA_SETTINGS", str(p))
    assert find_settings() == p and load_settings().batch_size == 4


# ---------------------------------------------------------------- bad inputs: one line, a MsmaError, the fix named

def _write(p, data):
    "Write `data` (str or bytes) to `p`; return `p`"
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def _complete_cache(tmp):
    return extract(tiny_model("gpt2"), ["One text here.", "Two texts there.", "A third and longer one, with words."],
                   cache_root=tmp / "c", progress=False)


def _cut_units(tmp, keep_lines=None):
    "A complete cache whose units.jsonl is cut mid-line (or after `keep_lines` whole lines); opening it"
    acts = _complete_cache(tmp)
    u = acts.path / "units.jsonl"
    b = u.read_bytes()
    u.write_bytes(b[:len(b) // 2] if keep_lines is None else b"".join(b.splitlines(True)[:keep_lines]))
    return lambda: Activations(acts.path)


def _settings_cache_dir_is_file(tmp, monkeypatch):
    import msma_lab.config as C, msma_lab.extract as X
    monkeypatch.setattr(X, "cache_dir", C.cache_dir)          # undo conftest's redirect: nothing is written here
    f = _write(tmp / "afile", "x")
    return lambda: extract(tiny_model("gpt2"), ["Hi."], progress=False, settings=load_settings(cache_dir=str(f)))


LATIN1 = "Tea.\n\nCafé au lait.\n".encode("latin-1")             # é (0xe9) on line 3, byte offset 9
ZEROS, CONST = np.zeros((10, 4)), np.full((10, 4), 0.1)
NOISE = np.random.default_rng(0).normal(size=(10, 4))

BAD_INPUTS = {  # name: (make(tmp, monkeypatch) -> call, exception type, words the message must contain ({tmp}: the folder))
    "csv unterminated quote": (lambda t, m: lambda: load_corpus(_write(t / "q.csv",
                                   'text,topic\nStars are hot.,space\n"Cats purr.,animals\nDogs bark.,animals\n')),
                               CorpusError, ["{tmp}/q.csv:3:", "quoted field", "never closed", "close the quote"]),
    "csv quote closed early": (lambda t, m: lambda: load_corpus(_write(t / "q.csv",
                                   'text,topic\nA.,x\n"Cats purr.,y\nHe said "hi" there.,z\n')),
                               CorpusError, ["{tmp}/q.csv:3:", "not closed properly", "close the quote"]),
    "csv field too many": (lambda t, m: lambda: load_corpus(_write(t / "q.csv", 'text,topic\nA.,x\nCats purr, loudly.,y\n')),
                           CorpusError, ["{tmp}/q.csv:3:", "has 3 fields but the header has 2", "quote a field that contains a comma"]),
    "csv field missing": (lambda t, m: lambda: load_corpus(_write(t / "q.csv", 'doc_id,text,topic\nd1,A.,x\nd2,B.\n')),
                          CorpusError, ["{tmp}/q.csv:3:", "has 2 fields but the header has 3", "fix the row"]),
    "latin-1 txt": (lambda t, m: lambda: load_corpus(_write(t / "c.txt", LATIN1)),
                    CorpusError, ["{tmp}/c.txt:3:", "not UTF-8", "byte 0xe9", "byte offset 9", "re-save the file as UTF-8"]),
    "latin-1 jsonl": (lambda t, m: lambda: load_corpus(_write(t / "c.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}\n')),
                      CorpusError, ["{tmp}/c.jsonl:2:", "not UTF-8", "byte offset 28", "re-save the file as UTF-8"]),
    "latin-1 csv": (lambda t, m: lambda: load_corpus(_write(t / "c.csv", b"text\nok\ncaf\xe9\n")),
                    CorpusError, ["{tmp}/c.csv:3:", "not UTF-8", "byte offset 11", "re-save the file as UTF-8"]),
    "missing corpus file": (lambda t, m: lambda: load_corpus(t / "nope.csv"), CorpusNotFoundError,
                            ["corpus file {tmp}/nope.csv does not exist", "give the path of a .txt, .jsonl or .csv file"]),
    "take(-1)": (lambda t, m: lambda: load_corpus().take(-1), CorpusError, ["take(n)", "whole number >= 1", "not -1"]),
    "take(0)": (lambda t, m: lambda: load_corpus().take(0), CorpusError, ["whole number >= 1", "not 0"]),
    "take(2.5)": (lambda t, m: lambda: load_corpus().take(2.5), CorpusError, ["whole number", "not 2.5"]),
    "take('2')": (lambda t, m: lambda: load_corpus().take("2"), CorpusError, ["whole number", "not '2'"]),
    "effective_rank of zeros": (lambda t, m: lambda: effective_rank(ZEROS), ValueError, ["x is constant", "all zero", "no spectrum"]),
    "effective_rank of a constant": (lambda t, m: lambda: effective_rank(CONST), ValueError, ["all zero", "no spectrum"]),
    "linear_cka constant x": (lambda t, m: lambda: linear_cka(CONST, NOISE), ValueError, ["x is constant", "linear CKA is undefined"]),
    "linear_cka constant y": (lambda t, m: lambda: linear_cka(NOISE, ZEROS), ValueError, ["y is constant", "linear CKA is undefined"]),
    "units.jsonl cut mid-line": (lambda t, m: _cut_units(t), CacheError,
                                 ["damaged cache at {tmp}/c/", "units.jsonl", "re-run with overwrite=True (msma run --overwrite)"]),
    "units.jsonl cut at a line": (lambda t, m: _cut_units(t, 1), CacheError,
                                  ["units.jsonl has 1 units, the manifest says 3", "overwrite=True (msma run --overwrite)"]),
    "cache_root is a file": (lambda t, m: lambda: extract(tiny_model("gpt2"), ["Hi."], cache_root=_write(t / "afile", "x"), progress=False),
                             CacheError, ["cannot use {tmp}/afile/", "{tmp}/afile is a file, not a folder", "cache_root"]),
    "cache_root below a file": (lambda t, m: lambda: extract(tiny_model("gpt2"), ["Hi."], cache_root=_write(t / "afile", "x") / "sub",
                                                             progress=False),
                                CacheError, ["{tmp}/afile is a file, not a folder"]),
    "cache_dir setting is a file": (_settings_cache_dir_is_file, SettingsError,
                                    ["cache folder {tmp}/afile/activations cannot be made", "cache_dir"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_line(tmp_path, monkeypatch, case):
    make, exc, words = BAD_INPUTS[case]
    call = make(tmp_path, monkeypatch)
    with pytest.raises(exc) as e:
        call()
    msg = str(e.value)
    assert exc is ValueError or isinstance(e.value, MsmaError), type(e.value)
    assert "\n" not in msg
    for w in words: assert w.format(tmp=tmp_path) in msg, (w, msg)


@pytest.mark.parametrize("cls,old", [(CorpusError, ValueError), (CorpusNotFoundError, FileNotFoundError), (ModelLoadError, RuntimeError), (ContextLengthError, ValueError),
                                     (CacheError, RuntimeError), (NonFiniteActivations, FloatingPointError)])
def test_user_errors_are_msma_errors(cls, old):
    "The CLI prints a MsmaError in one line (exit 2); `except <old base>` keeps working"
    assert issubclass(cls, MsmaError) and issubclass(cls, old)


def test_csv_quotes_that_close_still_load(tmp_path):
    "Three documents in the file, three loaded: a closed quote may span lines, and lines are where rows start"
    p = _write(tmp_path / "c.csv", 'text,topic\nStars are hot.,space\n"Cats purr,\nloudly.",animals\n\nDogs bark.,animals\n')
    c = load_corpus(p)
    assert c.sentences.text.tolist() == ["Stars are hot.", "Cats purr,\nloudly.", "Dogs bark."]
    with pytest.raises(CorpusError, match=f"{p}:6: empty `text`"):
        load_corpus(_write(p, 'text,topic\n"Cats purr,\nloudly.",animals\n\nDogs bark.,animals\n,x\n'))


def test_utf8_bom_is_dropped(tmp_path):
    "Excel's 'CSV UTF-8' starts with a byte-order mark: it is not part of the first column's name"
    assert load_corpus(_write(tmp_path / "c.csv", b"\xef\xbb\xbftext,topic\nStars are hot.,space\n")).docs.topic.tolist() == ["space"]


# ---------------------------------------------------------------- full disk

def _fill_disk(monkeypatch, where, err, after=40):
    "Make the disk 'full' for the array writes after `after` pwrite calls, or for one small file (written half, then failing)"
    import os, pathlib
    if where == "array":
        real, n = os.pwrite, [0]
        def pwrite(fd, data, off):
            n[0] += 1
            if n[0] > after: raise OSError(err, os.strerror(err))
            return real(fd, data, off)
        monkeypatch.setattr(os, "pwrite", pwrite)
        return
    real = pathlib.Path.write_text
    def write_text(self, s, *a, **kw):
        if self.name == f"{where}.tmp" and (where != "manifest.json" or '"status": "complete"' in s):
            real(self, s[:len(s) // 2], *a, **kw)
            raise OSError(err, os.strerror(err), str(self))
        return real(self, s, *a, **kw)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)


@pytest.mark.parametrize("where,err,done,first", [
    ("array", errno.ENOSPC, 6, 9),           # 15 pwrites a batch (3 texts x 5 hidden states): the 3rd batch fails
    ("array", errno.EDQUOT, 6, 9),           # a quota is a full disk too
    ("manifest.json", errno.ENOSPC, None, None),   # every row written, marking it complete fails: nothing left to run
    ("units.jsonl", errno.ENOSPC, None, 3),  # laying out the cache fails: no cache there, the next run starts it
])
def test_disk_full_keeps_finished_batches_and_resumes(tmp_path, monkeypatch, texts, where, err, done, first):
    lm = tiny_model("gpt2")
    run = lambda root, **kw: extract(lm, texts, batch_size=3, cache_dtype="float32", cache_root=tmp_path / root, progress=False, **kw)
    fresh = run("fresh")
    _fill_disk(monkeypatch, where, err)
    with pytest.raises(CacheError) as e:
        run("part")
    monkeypatch.undo()
    path = next((tmp_path / "part").iterdir())
    file = path / ("decoder.npy" if where == "array" else where)
    assert str(e.value) == f"disk full while writing {file}: free space and re-run; finished batches are kept and resume"
    assert not list(path.glob("*.tmp")), "a failed write leaves no temporary file"
    for f in ("manifest.json", "progress.json"):                 # never half a file: absent, or whole
        if (path / f).exists(): json.loads((path / f).read_text())
    if (path / "units.jsonl").exists(): [json.loads(line) for line in (path / "units.jsonl").read_text().splitlines()]
    if where == "units.jsonl": assert not (path / "manifest.json").exists()
    else: assert json.loads((path / "manifest.json").read_text())["status"] == "running"
    if done is not None: assert json.loads((path / "progress.json").read_text())["texts_done"] == done
    calls = []
    acts = run("part", on_batch=lambda d, t: calls.append(d))
    assert (calls[0] if calls else None) == first
    np.testing.assert_array_equal(acts.stack(), fresh.stack())
    assert acts.units.equals(fresh.units)


def test_short_writes_are_completed(tmp_path, monkeypatch, texts):
    "A nearly full disk may write part of a buffer and return: the rest is written, not dropped"
    import os
    lm = tiny_model("gpt2")
    fresh = extract(lm, texts, cache_dtype="float32", cache_root=tmp_path / "a", progress=False)
    real = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, off: real(fd, bytes(data)[:max(1, len(data) // 2)], off))
    acts = extract(lm, texts, cache_dtype="float32", cache_root=tmp_path / "b", progress=False)
    np.testing.assert_array_equal(acts.stack(), fresh.stack())


def test_resume_repairs_a_damaged_units_file(tmp_path, texts):
    "An interrupted cache's units table is rewritten from the (identical) request: nothing computed is lost"
    lm = tiny_model("gpt2")
    fresh = extract(lm, texts, batch_size=3, cache_root=tmp_path / "a", progress=False)
    class Stop(Exception): pass
    def stop(d, t):
        if d >= 6: raise Stop()
    with pytest.raises(Stop):
        extract(lm, texts, batch_size=3, cache_root=tmp_path / "b", progress=False, on_batch=stop)
    u = next((tmp_path / "b").iterdir()) / "units.jsonl"
    u.write_bytes(u.read_bytes()[:100])
    calls = []
    acts = extract(lm, texts, batch_size=3, cache_root=tmp_path / "b", progress=False, on_batch=lambda d, t: calls.append(d))
    assert calls[0] == 9
    np.testing.assert_array_equal(acts.stack(), fresh.stack())
    assert acts.units.equals(fresh.units)
