"The activation cache: hits, exact resume after interruption (in-process and SIGKILL), corruption, lock"
import fcntl, json, os, random, signal, subprocess, sys, textwrap, time
from pathlib import Path
import numpy as np
import pytest

from msma_lab.extract import Activations, CacheError, extract
from msma_lab.models import tiny_model


class Stop(Exception): pass


def stop_after(n):
    def f(done, total):
        if done >= n: raise Stop(done)
    return f


def never(done, total):
    raise AssertionError("the model ran, but the cache should have been used")


def progress(path): return json.loads((Path(path) / "progress.json").read_text())["texts_done"]
def manifest(path): return json.loads((Path(path) / "manifest.json").read_text())
def only_cache(root):
    (p,) = [d for d in Path(root).iterdir() if d.is_dir()]
    return p
def snapshot(path): return {f.name: f.read_bytes() for f in Path(path).iterdir() if f.name != "lock"}


@pytest.fixture(scope="module")
def lm(): return tiny_model("llama")


@pytest.fixture(scope="module")
def many(corpus):
    "60 texts"
    s = corpus.sentences.text[corpus.sentences.text.str.len() < 200].tolist()
    return [f"{s[i % len(s)]} ({i})" for i in range(60)]


# ---------------------------------------------------------------- hits

def test_cache_hit_runs_no_model(lm, texts, tmp_path):
    a = extract(lm, texts, cache_root=tmp_path, progress=False)
    mtimes = {f.name: f.stat().st_mtime_ns for f in a.path.iterdir() if f.name != "lock"}
    time.sleep(0.01)
    # batch size and padding side are not part of the key: still a hit
    b = extract(lm, texts, cache_root=tmp_path, progress=False, on_batch=never, batch_size=2, padding_side="left")
    assert b.path == a.path
    assert {f.name: f.stat().st_mtime_ns for f in b.path.iterdir() if f.name != "lock"} == mtimes
    np.testing.assert_array_equal(b.stack(), a.stack())
    assert len(list(tmp_path.iterdir())) == 1


def test_cache_miss_on_changed_request(lm, texts, tmp_path):
    "Anything that changes the numbers gives a new cache folder"
    base = extract(lm, texts, cache_root=tmp_path, progress=False).path
    others = [extract(lm, texts[:-1], cache_root=tmp_path, progress=False).path,
              extract(lm, texts, pooling="last", cache_root=tmp_path, progress=False).path,
              extract(lm, texts, cache_dtype="float32", cache_root=tmp_path, progress=False).path,
              extract(lm, texts, granularity="token", cache_root=tmp_path, progress=False).path,
              extract(tiny_model("llama", seed=1), texts, cache_root=tmp_path, progress=False).path]
    assert len({base, *others}) == 6


def test_cache_key_includes_tokenizer(texts, tmp_path):
    from msma_lab.models import tiny_tokenizer
    from msma_lab.extract import reference_hidden
    a = tiny_model("gpt2")
    extract(a, texts, cache_dtype="float32", cache_root=tmp_path, progress=False)
    b = tiny_model("gpt2")
    assert b.fingerprint == a.fingerprint          # the same weights and config
    tok = tiny_tokenizer("gpt2", vocab_size=500)   # a different vocabulary/merges, same model weights
    tok.pad_token = tok.eos_token
    b.tokenizer = tok
    acts = extract(b, texts, cache_dtype="float32", cache_root=tmp_path, progress=False)
    np.testing.assert_allclose(acts.stack(), reference_hidden(b, texts)["decoder"], atol=1e-5, rtol=0)


# ---------------------------------------------------------------- resume

def test_resume_in_process(lm, many, tmp_path):
    full = extract(lm, many, batch_size=4, cache_root=tmp_path / "full", progress=False)
    seen = []
    with pytest.raises(Stop):
        extract(lm, many, batch_size=4, cache_root=tmp_path / "part", progress=False,
                on_batch=lambda d, t: (seen.append((d, t)), stop_after(12)(d, t)))
    assert seen[-1] == (12, len(many)) and [d for d, _ in seen] == [4, 8, 12]
    path = only_cache(tmp_path / "part")
    assert progress(path) == 12
    assert manifest(path)["status"] == "running"
    with pytest.raises(CacheError, match="incomplete cache.*run the same extract"): Activations(path)
    calls = []
    resumed = extract(lm, many, batch_size=4, cache_root=tmp_path / "part", progress=False,
                      on_batch=lambda d, t: calls.append(d))
    assert calls[0] == 16 and calls[-1] == len(many)   # started after the 12 done texts
    assert resumed.path == path and progress(path) == len(many)
    assert manifest(path)["status"] == "complete"
    np.testing.assert_array_equal(resumed.stack(), full.stack())
    assert resumed.units.equals(full.units)


LONG = " ".join(["Stars form inside cold clouds of gas and dust, then they burn for a very long time."] * 30)


@pytest.mark.parametrize("granularity", ["sentence", "token"])
@pytest.mark.parametrize("stop_batch", [1, 2, 3, 4, 6])
def test_resume_with_split_texts(tmp_path, granularity, stop_batch):
    "Interrupted while a split text is half done: it is redone whole, nothing lost or doubled"
    lm = tiny_model("bert")
    texts = [f"Short one {i}." for i in range(7)] + [f"{LONG} A{i}" for i in range(3)]
    kw = dict(granularity=granularity, long_texts="split", batch_size=3, progress=False)
    full = extract(lm, texts, cache_root=tmp_path / "full", **kw)
    n = []
    def cb(d, t):
        n.append(d)
        if len(n) == stop_batch: raise Stop()
    with pytest.raises(Stop): extract(lm, texts, cache_root=tmp_path / "part", on_batch=cb, **kw)
    assert progress(only_cache(tmp_path / "part")) == n[-1]
    resumed = extract(lm, texts, cache_root=tmp_path / "part", **kw)
    assert resumed.units.equals(full.units)
    # batches after a resume hold other windows, so other padded lengths: the forward's rounding may differ by an ulp of
    # the float16 cache; a window lost or doubled would move whole rows
    np.testing.assert_allclose(resumed.stack().astype(np.float32), full.stack().astype(np.float32), rtol=0, atol=1e-4)


KILL_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import torch; torch.set_num_threads(1)
    from transformers import PreTrainedTokenizerFast
    import msma_lab.models as M
    from msma_lab.extract import extract
    tmp = sys.argv[1]
    tok = PreTrainedTokenizerFast.from_pretrained(tmp + "/tok")   # the parent's tokenizer, byte for byte
    M.tiny_tokenizer = lambda family, vocab_size=600: tok
    lm = M.tiny_model("llama")
    texts = json.load(open(tmp + "/texts.json"))
    print(lm.fingerprint, flush=True)
    extract(lm, texts, batch_size=2, cache_root=tmp + "/part", progress=False, on_batch=lambda d, t: time.sleep(0.01))
    print("finished", flush=True)
""")


def test_resume_after_sigkill(lm, corpus, tmp_path):
    "A process SIGKILLed mid-extraction leaves a cache that resumes to exactly the uninterrupted result"
    s = corpus.sentences.text[corpus.sentences.text.str.len() < 200].tolist()
    texts = [f"{s[i % len(s)]} [{i}]" for i in range(300)]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    lm.tokenizer.save_pretrained(tmp_path / "tok")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, done = time.time() + 120, 0
        while time.time() < deadline and proc.poll() is None:
            try: done = progress(only_cache(tmp_path / "part"))
            except (ValueError, FileNotFoundError, json.JSONDecodeError): done = 0
            if done > 0: break
            time.sleep(0.005)
        assert proc.poll() is None, f"child ended before it could be killed: {proc.communicate()}"
        assert done > 0, "child never made progress"
        time.sleep(random.uniform(0, 0.3))   # land the kill anywhere in the middle of the run
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert "finished" not in out
    assert out.split()[0] == lm.fingerprint
    path = only_cache(tmp_path / "part")
    killed_at = progress(path)
    assert 0 < killed_at < len(texts), killed_at
    assert manifest(path)["status"] == "running"

    calls = []
    resumed = extract(lm, texts, batch_size=2, cache_root=tmp_path / "part", progress=False,
                      on_batch=lambda d, t: calls.append(d))
    assert calls and calls[0] > killed_at           # it resumed, it did not start over
    full = extract(lm, texts, batch_size=2, cache_root=tmp_path / "full", progress=False)
    assert resumed.units.equals(full.units) and resumed.units.unit_id.is_unique
    assert len(resumed.units) == len(texts)
    x = np.asarray(resumed.stack())
    np.testing.assert_array_equal(x, full.stack())
    assert (np.abs(x.astype(np.float32)).sum(-1) > 0).all()   # no row left unwritten


# ---------------------------------------------------------------- corruption

@pytest.fixture
def complete(tmp_path, texts):
    "A complete bert cache, and a function that calls the same extract again"
    lm = tiny_model("bert")
    call = lambda **kw: extract(lm, texts, cache_root=tmp_path, progress=False, **kw)
    acts = call()
    return acts, call


def _assert_reported_and_kept(call, path, match):
    before = snapshot(path)
    with pytest.raises(CacheError, match=match) as e:
        call()
    assert "overwrite=True" in str(e.value) and str(path) in str(e.value)
    assert snapshot(path) == before, "a cache that fails a check must not be modified or deleted"
    with pytest.raises(CacheError, match=match):
        Activations(path)                               # opening it directly is refused too
    assert snapshot(path) == before
    return e.value


def _assert_overwrite_recomputes(call, reference):
    fixed = call(overwrite=True)
    np.testing.assert_array_equal(fixed.stack(), reference)
    assert call(on_batch=never).path == fixed.path


def test_flipped_bytes_checksum(complete):
    acts, call = complete
    ref = np.array(acts.stack())
    with open(acts.path / "encoder.npy", "r+b") as f:
        f.seek(-8, 2); b = f.read(8); f.seek(-8, 2); f.write(bytes(x ^ 0xFF for x in b))
    _assert_reported_and_kept(call, acts.path, "encoder.npy does not match its checksum")
    _assert_overwrite_recomputes(call, ref)


def test_truncated_array(complete):
    acts, call = complete
    ref = np.array(acts.stack())
    f = acts.path / "encoder.npy"
    os.truncate(f, f.stat().st_size - 100)
    _assert_reported_and_kept(call, acts.path, "corrupt cache.*encoder.npy")
    _assert_overwrite_recomputes(call, ref)


def test_manifest_not_json(complete):
    acts, call = complete
    ref = np.array(acts.stack())
    (acts.path / "manifest.json").write_text('{"model": {"name": "tiny-bert", ')
    _assert_reported_and_kept(call, acts.path, "manifest.json is not valid JSON")
    _assert_overwrite_recomputes(call, ref)


def test_units_deleted(complete):
    acts, call = complete
    ref = np.array(acts.stack())
    (acts.path / "units.jsonl").unlink()
    _assert_reported_and_kept(call, acts.path, "units.jsonl is missing")
    _assert_overwrite_recomputes(call, ref)


@pytest.mark.parametrize("edit", ["pooling", "fingerprint", "cache_dtype"])
def test_manifest_edited_mismatch(complete, edit):
    acts, call = complete
    ref = np.array(acts.stack())
    m = manifest(acts.path)
    if edit == "pooling": m["pooling"] = "last"
    elif edit == "fingerprint": m["model"]["fingerprint"] = "0123456789abcdef"
    else: m["cache_dtype"] = "float32"
    (acts.path / "manifest.json").write_text(json.dumps(m))
    before = snapshot(acts.path)
    with pytest.raises(CacheError, match="does not match this request") as e:
        call()
    msg = str(e.value)
    assert ("model" if edit == "fingerprint" else edit) in msg.split("differs in:")[1]
    assert "overwrite=True" in msg
    assert snapshot(acts.path) == before
    _assert_overwrite_recomputes(call, ref)
    assert manifest(acts.path)["pooling"] == "mean"


def test_damaged_interrupted_cache_reported(tmp_path, texts):
    "An interrupted cache whose manifest is damaged is reported, not silently restarted"
    lm = tiny_model("gpt2")
    with pytest.raises(Stop):
        extract(lm, texts, batch_size=3, cache_root=tmp_path, progress=False, on_batch=stop_after(3))
    path = only_cache(tmp_path)
    (path / "manifest.json").write_text("not json")
    with pytest.raises(CacheError, match="not valid JSON.*overwrite=True"):
        extract(lm, texts, batch_size=3, cache_root=tmp_path, progress=False)
    assert (path / "manifest.json").read_text() == "not json"


@pytest.mark.parametrize("damage", ["truncate", "append", "progress_missing", "progress_garbage", "array_missing"])
def test_damaged_interrupted_cache_arrays(tmp_path, texts, damage):
    lm = tiny_model("gpt2")
    full = extract(lm, texts, batch_size=3, cache_root=tmp_path / "full", progress=False)
    with pytest.raises(Stop):
        extract(lm, texts, batch_size=3, cache_root=tmp_path / "part", progress=False, on_batch=stop_after(6))
    path = only_cache(tmp_path / "part")
    f = path / "decoder.npy"
    if damage == "truncate": os.truncate(f, f.stat().st_size // 2)
    elif damage == "append":
        with open(f, "ab") as fh: fh.write(b"\0" * 64)
    elif damage == "progress_missing": (path / "progress.json").unlink()
    elif damage == "progress_garbage": (path / "progress.json").write_text("{")
    else: f.unlink()
    try:
        acts = extract(lm, texts, batch_size=3, cache_root=tmp_path / "part", progress=False)
    except CacheError as e:                      # reported: fine, if it says how to fix it
        assert "overwrite=True" in str(e)
    else:                                        # or repaired: fine, if the result is right
        np.testing.assert_array_equal(acts.stack(), full.stack())


# ---------------------------------------------------------------- lock

LOCK_SCRIPT = textwrap.dedent("""
    import fcntl, sys
    f = open(sys.argv[1], "w"); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("locked", flush=True); sys.stdin.read()
""")


def test_lock_held_by_another_process(tmp_path, texts):
    lm = tiny_model("gpt2")
    acts = extract(lm, texts, cache_root=tmp_path, progress=False)
    proc = subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(acts.path / "lock")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(CacheError, match="another process is extracting into"):
            extract(lm, texts, cache_root=tmp_path, progress=False)
        with pytest.raises(CacheError, match="another process"):
            extract(lm, texts, cache_root=tmp_path, progress=False, overwrite=True)
    finally:
        proc.stdin.close(); proc.wait(timeout=30)
    # once the other process is gone the cache is usable again, untouched
    again = extract(lm, texts, cache_root=tmp_path, progress=False, on_batch=never)
    np.testing.assert_array_equal(again.stack(), acts.stack())


def test_lock_released_after_error(tmp_path, texts):
    "An extraction that fails releases its lock"
    lm = tiny_model("gpt2")
    with pytest.raises(Stop):
        extract(lm, texts, batch_size=3, cache_root=tmp_path, progress=False, on_batch=stop_after(3))
    with open(only_cache(tmp_path) / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)   # would raise BlockingIOError if still held


def test_weights_edited_through_data_get_their_own_key(tmp_path):
    "No cheap key sees an edit through `.data`; the weights' hash, taken at every extraction, does"
    texts = [f"Sentence number {i} is here." for i in range(12)]
    lm = tiny_model("gpt2")
    a = extract(lm, texts, cache_root=tmp_path/"a", progress=False)
    w = lm.model.transformer.h[0].mlp.c_fc.weight
    w.data.mul_(3)                                        # no version bump: lm.remembered_fingerprint misses it
    hit = extract(lm, texts, cache_root=tmp_path/"a", progress=False)       # the old key's complete cache is not served
    assert hit.path != a.path and not np.array_equal(hit.layer(2), a.layer(2))
    w.data.mul_(2)
    ref = tiny_model("gpt2"); ref.model.transformer.h[0].mlp.c_fc.weight.data.mul_(6)
    assert lm.remembered_fingerprint != ref.fingerprint                     # the memo says x3; the weights are x6
    new = extract(lm, texts, cache_root=tmp_path/"b", progress=False)
    assert [p.name for p in (tmp_path/"b").iterdir()] == [new.path.name]   # nothing under the memo's stale key
    assert new.manifest["model"]["fingerprint"] == ref.fingerprint
    np.testing.assert_array_equal(new.stack(), extract(ref, texts, cache_root=tmp_path/"ref", progress=False).stack())

