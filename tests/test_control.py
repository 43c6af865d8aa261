"The control studies as the main job runs them: conditions in worker processes, the pipeline's control stage, its cache and report"
from dataclasses import replace
import pandas as pd
import pytest

import msma_lab.pipeline as pl
from msma_lab.config import load_settings, work_threads
from msma_lab.effects import amplify_conditions, run_effects
from msma_lab.models import tiny_model
from msma_lab.report import write_run_report
from msma_lab.results import Skipped

PROMPTS = ["the cat sat on the mat", "once upon a time there was", "we walked home"]


def test_conditions_in_worker_processes_give_what_one_process_gives():
    "Each condition in its own single-threaded worker (the model reloaded by name, checked by fingerprint): the same metrics, in order"
    lm = tiny_model("llama")
    conds = amplify_conditions((0.5,), scales=("global", "local"))
    kw = dict(seeds=(0, 1, 2, 3, 4), max_new_tokens=6, progress=False)
    with work_threads(1): one = run_effects(lm, PROMPTS, conds, **kw)
    with work_threads(2): two = run_effects(lm, PROMPTS, conds, **kw)
    assert list(one.metrics.condition.unique()) == [c.name for c in conds] and len(one.metrics) == len(conds) * 3 * 5
    pd.testing.assert_frame_equal(one.metrics, two.metrics)
    other = tiny_model("llama", seed=1)                 # weights no worker can reload by name: computed here instead, not wrongly
    with work_threads(2): mine = run_effects(other, PROMPTS, conds[:2], **kw)
    with work_threads(1): ref = run_effects(other, PROMPTS, conds[:2], **kw)
    pd.testing.assert_frame_equal(mine.metrics, ref.metrics)
    assert not mine.metrics.perplexity.equals(one.metrics[one.metrics.condition.isin(["none", conds[1].name])].perplexity.reset_index(drop=True))


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMA_CACHE", str(tmp_path/"cache"))
    return load_settings(None, report_dir=str(tmp_path/"rep"), model="tiny-gpt2", compare="none", docs_per_topic=4, seeds=(0, 1, 2, 3, 4),
                         views="none", max_new_tokens=8)


def test_control_stage_in_the_main_job(cfg, monkeypatch):
    "Four parts, each cached by its inputs; --full-control is a different input; the report renders each part"
    calls = []
    f = pl.control_stage
    monkeypatch.setattr(pl, "control_stage", lambda *a, **kw: calls.append(a[5]) or f(*a, **kw))
    run = pl.run_pipeline(cfg, only=["control"], progress=False, log=lambda s: None)
    t = run.table()
    assert t.part.tolist() == ["effects", "transfer", "bias", "robustness"] and set(t.status) == {"computed"}, t
    fx = run.results[("tiny-gpt2", "control", "effects")]
    assert set(fx.metrics.condition) == {"none", *[f"{k} {s} 0.5" for s in ("local", "intermediate", "global") for k in ("amplify", "random (matched)")]}
    assert fx.metrics.groupby("condition").prompt_id.nunique().unique().tolist() == [12]           # reduced: one prompt per genre
    page = write_run_report(run).read_text()
    for title in ("Effects of edits — tiny-gpt2", "Does the map predict the edit? — tiny-gpt2", "Bias — tiny-gpt2", "Robustness — tiny-gpt2"):
        assert title in page, title
    again = pl.run_pipeline(cfg, only=["control"], progress=False, log=lambda s: None)
    assert set(again.table().status) == {"cached"} and len(calls) == 4
    rob = again.results[("tiny-gpt2", "control", "robustness")]
    assert {"principal subspace", "learned map"} == set(rob.gains.correction)
    monkeypatch.setattr(pl, "control_stage", lambda *a, **kw: Skipped("control", "stub"))
    full = pl.run_pipeline(replace(cfg, full_control=True), only=["control"], progress=False, log=lambda s: None)
    assert set(full.table().status) == {"skipped"}                     # --full-control is another input: never the reduced run's cache


def test_an_encoder_main_model_gets_its_own_control(cfg, tmp_path):
    "MiniLM-like: no generation, so effects are band shifts and probe changes; bias and robustness say why they do not apply"
    enc = replace(cfg, model="tiny-bert")
    run = pl.run_pipeline(enc, only=["control"], progress=False, log=lambda s: None)
    st = run.table().set_index("part").status
    assert st["effects"] == "computed" and st["bias"] == "skipped" and st["robustness"] == "skipped"
    assert "is an encoder" in run.results[("tiny-bert", "control", "bias")].reason
    fx = run.results[("tiny-bert", "control", "effects")]
    assert type(fx).__name__ == "EncoderEffects" and set(fx.probes.summary.edited) == {"local", "intermediate", "global"}


def test_full_control_is_a_flag_of_msma_run(tmp_path, monkeypatch):
    "Declared once in Settings, so the CLI has it: --full-control turns the reduced plan into the chapters' full one"
    from msma_lab.cli import _parser, settings_from_args
    from msma_lab.control import control_plan
    monkeypatch.chdir(tmp_path)
    assert settings_from_args(_parser().parse_args(["run", "--full-control"])).full_control is True
    assert settings_from_args(_parser().parse_args(["run"])).full_control is False
    small, full = control_plan(False), control_plan(True)
    assert small["prompts_per_genre"] == 1 and full["prompts_per_genre"] is None and small["strengths"] == (0.5,)
