"The pipeline as a user leans on it: stages reused from the cache, a failing stage isolated, damaged caches recomputed, threads bounded"
import json, os
from pathlib import Path
import pytest
import torch
from threadpoolctl import threadpool_info

import msma_lab.pipeline as pl
from msma_lab.cli import main
from msma_lab.config import load_settings, usable_cores, work_threads, planned_workers
from msma_lab.corpus import load_corpus
from msma_lab.evaluate import alignment_runs
from msma_lab.extract import extract
from msma_lab.models import tiny_model
from msma_lab.scales import scale_map, scale_views
from msma_lab.information import layer_information
import numpy as np
from msma_lab.report import write_run_report

ARGS = dict(model="tiny-gpt2", compare="tiny-bert", docs_per_topic=3, seeds=(0, 1), views="pca")
NO_CONTROL = ["control"]      # the control stage has its own tests (tests/test_control.py): here it would only add minutes
STAGE_FNS = ("summary_stage", "scales_stage", "crossfit_stage", "alignment_stage", "calibration_stage", "attention_stage", "probes_stage",
             "information_stage", "views_stage", "control_stage", "comparison_stage")


@pytest.fixture
def counted(monkeypatch):
    "Count the calls of every stage function (the pipeline looks them up in its module at run time)"
    calls = {n: 0 for n in STAGE_FNS}
    for n in STAGE_FNS:
        f = getattr(pl, n)
        def wrap(*a, _f=f, _n=n, **kw):
            calls[_n] += 1
            return _f(*a, **kw)
        monkeypatch.setattr(pl, n, wrap)
    return calls


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMA_CACHE", str(tmp_path/"cache"))
    return load_settings(None, report_dir=str(tmp_path/"rep"), **ARGS)


def quiet(said=None): return (lambda s: said.append(s)) if said is not None else (lambda s: None)


def test_second_run_reuses_every_stage(cfg, counted):
    first = pl.run_pipeline(cfg, skip=NO_CONTROL, progress=False, log=quiet())
    n_first = sum(counted.values())
    assert first.failed == [] and n_first == len(first.records) > 12
    assert {"computed"} == set(first.table().status) - {"skipped"}
    assert counted["probes_stage"] == 2 and counted["alignment_stage"] == 1 and counted["comparison_stage"] == 1
    second = pl.run_pipeline(cfg, skip=NO_CONTROL, progress=False, log=quiet())
    assert sum(counted.values()) == n_first                          # not one stage function ran again
    assert set(second.table().status) - {"skipped"} == {"cached"} and len(second.records) == len(first.records)
    page = write_run_report(second).read_text()
    assert "Layerwise probes — tiny-gpt2 (decoder)" in page and "Architectures side by side" in page
    third = pl.run_pipeline(cfg, skip=NO_CONTROL, fresh=True, progress=False, log=quiet())   # --fresh: everything again
    assert sum(counted.values()) == 2 * n_first and set(third.table().status) - {"skipped"} == {"computed"}


def test_a_failing_stage_leaves_the_rest_of_the_report(cfg, monkeypatch, tmp_path, capsys):
    def broken(*a, **kw): raise RuntimeError("planted bug in the information stage")
    monkeypatch.setattr(pl, "information_stage", broken)
    rc = main(["run", "--model", "tiny-gpt2", "--compare", "tiny-bert", "--docs-per-topic", "3", "--seeds", "0", "1",
               "--views", "pca", "--out", str(tmp_path/"rep"), "--no-progress", "--skip", *NO_CONTROL])
    assert rc == 3
    err = capsys.readouterr().err
    assert "2 stage(s) failed (tiny-gpt2 information, tiny-bert information)" in err and "Traceback" not in err
    page = (tmp_path/"rep"/"report.html").read_text()
    assert page.count("This stage failed: RuntimeError: planted bug in the information stage") == 2
    for title in ("Layer summary", "Scales (decoder)", "Attention — tiny-gpt2", "Layerwise probes — tiny-gpt2 (decoder)",
                  "Manifold views — tiny-gpt2 (decoder)", "Architectures side by side", "Beside it: tiny-bert (encoder)",
                  "Layerwise probes — tiny-bert (encoder)"):
        assert title in page, title
    log = (tmp_path/"rep"/"run.log").read_text()
    assert "Traceback" in log and "planted bug" in log                 # the traceback is in the log, not on the page
    monkeypatch.undo()
    monkeypatch.setenv("MSMA_CACHE", str(tmp_path/"cache"))
    said = []
    again = pl.run_pipeline(load_settings(None, report_dir=str(tmp_path/"rep"), **ARGS), skip=NO_CONTROL, progress=False, log=quiet(said))
    assert again.failed == []
    st = again.table().set_index(["model", "stage", "part"]).status
    assert st[("tiny-gpt2", "information", "decoder")] == "computed" and st[("tiny-gpt2", "summary", "")] == "cached"


def test_a_damaged_stage_cache_is_found_and_recomputed(cfg, counted, tmp_path):
    pl.run_pipeline(cfg, only=["summary", "probes"], progress=False, log=quiet())
    n = dict(counted)
    folders = sorted((tmp_path/"cache"/"stages"/"tiny-gpt2").glob("probes-*"))
    assert len(folders) == 1
    f = next(p for p in (folders[0]/"result").rglob("arrays.safetensors"))
    f.write_bytes(f.read_bytes()[:-16])                            # truncated, as by a full disk or a crash
    said = []
    run = pl.run_pipeline(cfg, only=["summary", "probes"], progress=False, log=quiet(said))
    assert any("is damaged" in s and "recomputing" in s for s in said)
    assert counted["probes_stage"] == n["probes_stage"] + 1 and counted["summary_stage"] == n["summary_stage"]
    assert run.failed == [] and {r.stage for r in run.records} == {"summary", "probes"}


def test_threads_never_exceed_the_cores(cfg, monkeypatch):
    seen, workers = [], []
    f = pl.summary_stage
    def spy(*a, **kw):
        seen.append((torch.get_num_threads(), [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]))
        workers.append(planned_workers())
        return f(*a, **kw)
    monkeypatch.setattr(pl, "summary_stage", spy)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)            # as a user runs it: no variables set
    before = torch.get_num_threads()
    pl.run_pipeline(cfg, only=["summary"], fresh=True, progress=False, log=quiet())
    assert len(seen) == 2
    for n_torch, blas in seen:
        assert n_torch == max(1, usable_cores() - 1) and set(blas) <= {1}           # one core left free
        assert n_torch + sum(b - 1 for b in blas) <= usable_cores() <= os.cpu_count()
    assert set(workers) == {usable_cores()}                            # single-threaded worker processes: one per core
    assert torch.get_num_threads() == before                           # restored after the run
    monkeypatch.setenv("OMP_NUM_THREADS", "1")                         # a test runner's bound is honoured
    seen.clear(); workers.clear()
    pl.run_pipeline(cfg, only=["summary"], fresh=True, progress=False, log=quiet())
    assert {s[0] for s in seen} == {1} and set(workers) == {1}


def test_worker_processes_compute_what_one_process_computes(tmp_path):
    "Alignment seeds, information layers and view scales in 2 single-threaded workers: exactly the results of one process, in order"
    acts = extract(tiny_model("llama"), load_corpus().take(6), cache_root=tmp_path, progress=False)
    smap = scale_map(acts, "uniform")
    kw = dict(seeds=(2, 0, 1), maps=("identity", "procrustes", "ridge", "msma"), ablations=False, progress=False, max_epochs=3)
    with work_threads(1): one = alignment_runs(acts, smap, **kw)
    with work_threads(2): two = alignment_runs(acts, smap, **kw)
    timing = ["fit_s", "metric_s"]
    assert list(one.seed.unique()) == [2, 0, 1] and len(one) == 3 * 2 * 4
    assert one.drop(columns=timing).equals(two.drop(columns=timing))
    with work_threads(1): info1, views1 = layer_information(acts, smap), scale_views(acts, smap, method="umap")
    with work_threads(2): info2, views2 = layer_information(acts, smap), scale_views(acts, smap, method="umap")
    assert info1.equals(info2) and len(info1) > 3
    assert views1.used == views2.used and all(np.array_equal(views1.coords[s], views2.coords[s]) for s in views1.coords)


def test_ctrl_c_is_one_line_and_keeps_the_caches(cfg, monkeypatch, tmp_path, capsys):
    def interrupted(*a, **kw): raise KeyboardInterrupt
    monkeypatch.setattr(pl, "scales_stage", interrupted)
    rc = main(["run", "--model", "tiny-gpt2", "--compare", "none", "--docs-per-topic", "1", "--out", str(tmp_path/"rep"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 130 and len(err) == 1 and "interrupted" in err[0] and "resume" in err[0]
    assert list((tmp_path/"cache"/"stages"/"tiny-gpt2").glob("summary-*/manifest.json"))      # finished before the interrupt


@pytest.mark.parametrize("argv,expect", [
    (["--batch-size", "0"], "batch_size = 0 must be a whole number ≥ 1"),
    (["--docs-per-topic", "-1"], "docs_per_topic = -1 must be a whole number ≥ 0"),
    (["--device", "cuda:7"], "device = 'cuda:7'"),
    (["--device", "gpu"], "device = 'gpu' is not a device"),
    (["--threads", "lots"], "threads = 'lots' must be auto or a whole number"),
    (["--only", "sumary"], "unknown stage(s) sumary; the stages are summary, scales"),
    (["--out", "afile/rep"], "afile is a file, not a folder"),
    (["--out", "afile"], "afile is a file, not a folder"),
    (["--settings", "nothere.ini"], "settings file nothere.ini does not exist"),
    (["--settings", "noheader.ini"], "needs a `[msma]` header"),
    (["--settings", "noseeds.ini"], "seeds is empty"),
    (["--model", "tiny-bert", "--pooling", "last"], "pooling = last is for decoder models and tiny-bert is an encoder"),
    (["--corpus", "latin1.txt"], "latin1.txt:1: not UTF-8 (byte 0xe9"),
])
def test_bad_run_inputs_are_one_line_before_any_work(tmp_path, monkeypatch, capsys, argv, expect):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MSMA_CACHE", str(tmp_path/"cache"))
    (tmp_path/"afile").write_text("not a folder")
    (tmp_path/"noheader.ini").write_text("model = tiny-gpt2\n")
    (tmp_path/"noseeds.ini").write_text("[msma]\nseeds =\n")
    (tmp_path/"latin1.txt").write_bytes("Café au lait.\n".encode("latin-1"))
    rc = main(["run", "--model", "tiny-gpt2", "--compare", "none", "--no-progress", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("msma: error:") and expect in err[0], err
    assert not (tmp_path/"cache"/"activations").exists()             # nothing ran
