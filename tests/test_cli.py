"The `msma` console script as a user runs it: a real subprocess, real settings files, real exit codes"
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest

MSMA = str(Path(sys.executable).parent/"msma")
NO_CONTROL = ("--skip", "control")      # the control stage has its own tests (tests/test_control.py); here it would only add minutes


@pytest.fixture
def env(tmp_path):
    "Environment whose msma_lab cache is under tmp_path; the converted SmolLM2 (15 s to build) is shared"
    from msma_lab.models import _smollm2_folder
    models = tmp_path/"cache"/"models"
    models.mkdir(parents=True)
    (models/"smollm2-135m").symlink_to(_smollm2_folder())
    return {**os.environ, "MSMA_CACHE": str(tmp_path/"cache"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def msma(*args, cwd, env):
    return subprocess.run([MSMA, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_run_tiny_model_writes_a_report(tmp_path, env):
    r = msma("run", "--model", "tiny-gpt2", "--docs-per-topic", "1", "--out", "rep", "--no-progress", "--compare", "none",
             *NO_CONTROL, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rep = tmp_path/"rep"
    man = json.loads((rep/"manifest.json").read_text())
    assert man["model"]["name"] == "tiny-gpt2" and man["status"] == "complete" and man["n_units"] > 8
    summ = pd.read_csv(rep/"layer_summary.csv")
    assert summ.layer.tolist() == list(range(5))
    assert "tiny-gpt2" in (rep/"report.html").read_text()
    assert len(list((tmp_path/"cache"/"activations").glob("tiny-gpt2-sentence-*"))) == 1   # nothing outside tmp


def test_settings_file_then_flags_override(tmp_path, env):
    (tmp_path/"settings.ini").write_text("[msma]\nmodel = tiny-bert\ngranularity = document\nreport_dir = from_ini\n"
                                         "long_texts = split\n")   # (splitting is harmless: every document fits tiny-bert's 258 tokens)
    r = msma("run", "--docs-per-topic", "1", "--no-progress", "--compare", "none", *NO_CONTROL, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    man = json.loads((tmp_path/"from_ini"/"manifest.json").read_text())
    assert (man["model"]["name"], man["granularity"], man["n_units"]) == ("tiny-bert", "document", 8)
    r = msma("run", "--model", "tiny-llama", "--granularity", "sentence", "--docs-per-topic", "1", "--no-progress",
             "--compare", "none", "--no-attentions", *NO_CONTROL, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    man = json.loads((tmp_path/"from_ini"/"manifest.json").read_text())
    assert (man["model"]["name"], man["granularity"], man["attentions"]) == ("tiny-llama", "sentence", False)
    assert "No attention summaries in this extraction" in (tmp_path/"from_ini"/"report.html").read_text()


def test_second_run_is_served_from_the_cache(tmp_path, env):
    args = ("run", "--model", "tiny-t5", "--docs-per-topic", "1", "--out", "rep", "--no-progress", "--compare", "none", *NO_CONTROL)
    assert msma(*args, cwd=tmp_path, env=env).returncode == 0
    arrays = sorted((tmp_path/"cache"/"activations").glob("*/*.npy"))
    before = [p.stat().st_mtime_ns for p in arrays]
    assert msma(*args, cwd=tmp_path, env=env).returncode == 0
    assert [p.stat().st_mtime_ns for p in arrays] == before
    caches = {p.parent.name.split("-")[2] for p in arrays}                       # tiny-t5-<granularity>-<key>
    assert caches == {"sentence", "token"}                                       # units, and tokens for the POS probe
    assert sorted(p.name for p in arrays if "-sentence-" in p.parent.name) == [
        "attn_cross.npy", "attn_decoder.npy", "attn_encoder.npy", "decoder.npy", "encoder.npy"]


@pytest.mark.parametrize("args,settings,expect", [
    (("--model", "no-such-model"), None, "is not a built-in model (smollm2-135m, minilm-l6"),
    (("--model", "tiny-gpt2", "--corpus", "bad.jsonl"), None, "bad.jsonl:2: invalid JSON"),
    (("--model", "tiny-gpt2", "--corpus", "empty.txt"), None, "the corpus is empty"),
    (("--model", "tiny-gpt2", "--corpus", "missing.csv"), None, "missing.csv does not exist"),
    ((), "[msma]\nbatch_size = many\n", "`batch_size = many` is not a valid int"),
    ((), "[msma]\nviews = tsne\n", "views = 'tsne' is not one of umap, pca, none"),
    (("--model", "tiny-gpt2", "--compare", "tiny-bert", "no-such-model"), None, "`no-such-model` is not a built-in model"),
])
def test_user_errors_are_one_line_with_exit_2(tmp_path, env, args, settings, expect):
    (tmp_path/"bad.jsonl").write_text('{"text": "Fine."}\n{"text": \n')
    (tmp_path/"empty.txt").write_text("\n\n")
    if settings: (tmp_path/"settings.ini").write_text(settings)
    r = msma("run", "--out", "rep", "--no-progress", *args, cwd=tmp_path, env=env)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith("msma: error:") and expect in err[-1], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path/"cache"/"activations").exists() or not any((tmp_path/"cache"/"activations").iterdir())   # failed before any work


def test_default_main_job_on_the_embedded_model(tmp_path, env):
    """No settings file and no flags but a small slice: the built-in defaults, i.e. SmolLM2-135M with MiniLM-L6 beside it
    (the control stage is left out: its reduced studies take minutes on a real model; tests/test_control.py runs it on a tiny one)"""
    r = msma("run", "--docs-per-topic", "1", "--no-progress", *NO_CONTROL, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rep = tmp_path/"msma_report"
    man = json.loads((rep/"manifest.json").read_text())
    assert (man["model"]["name"], man["stacks"], man["cache_dtype"], man["attentions"]) == ("smollm2-135m", {"decoder": 31}, "float16", True)
    summ = pd.read_csv(rep/"layer_summary.csv")
    assert len(summ) == 31 and summ.mean_norm.notna().all()
    assert len(pd.read_csv(rep/"minilm-l6_layer_summary.csv")) == 7
    prof = pd.read_csv(rep/"attention_profile.csv")
    assert prof.layer.max() == 30 and prof["mean"].notna().all()
    page = (rep/"report.html").read_text()
    for text in ("msma_lab report: smollm2-135m on builtin[1/topic], beside minilm-l6", "Attention — smollm2-135m",
                 "Attention — minilm-l6", "Beside it: minilm-l6 (encoder)", "Manifold views — minilm-l6 (encoder)", "(umap)"):
        assert text in page, text


def test_text_longer_than_the_context_is_refused_then_split_on_request(tmp_path, env):
    args = ("run", "--model", "tiny-bert", "--granularity", "document", "--docs-per-topic", "1", "--out", "rep", "--no-progress",
            "--compare", "none", "--max-length", "100", *NO_CONTROL)
    r = msma(*args, cwd=tmp_path, env=env)
    assert r.returncode == 2 and "limit is 100" in r.stderr and "--long-texts split" in r.stderr
    assert msma(*args, "--long-texts", "split", cwd=tmp_path, env=env).returncode == 0


def test_run_with_alignment_on_enough_documents(tmp_path, env):
    "A slice big enough to align and probe: partitions, alignment over seeds, calibration, probes, beside a second model"
    r = msma("run", "--model", "tiny-gpt2", "--docs-per-topic", "8", "--seeds", "0", "1", "--out", "rep", "--no-progress",
             "--compare", "tiny-bert", "--views", "pca", *NO_CONTROL, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    rep = tmp_path/"rep"
    runs = pd.read_csv(rep/"alignment_runs.csv")
    assert set(runs.seed) == {0, 1} and {"identity", "procrustes", "ridge", "msma", "msma-no-geo"} <= set(runs["map"])
    assert (runs.n_test >= 40).all()
    page = (rep/"report.html").read_text()
    for text in ("Scales (decoder)", "Cross-scale alignment", "Estimator calibration", "KL (diag) of full MSMA vs procrustes", "Held-out R² (primary endpoint)",
                 "Information retained", "secondary_endpoints"):
        assert text in page
    assert set(pd.read_csv(rep/"partitions.csv").method) == {"paper", "uniform", "cka"}
    peaks = pd.read_csv(rep/"comparison_peaks.csv")
    assert sorted(zip(peaks.model, peaks.probe)) == sorted((m, p) for m in ("tiny-gpt2", "tiny-bert") for p in ("pos", "form", "topic"))
    assert peaks.depth.between(0, 1).all() and (pd.read_csv(rep/"probe_layers.csv").n_seeds == 2).all()
    for text in ("Layerwise probes — tiny-gpt2 (decoder)", "Architectures side by side", "Beside it: tiny-bert (encoder)"):
        assert text in page
