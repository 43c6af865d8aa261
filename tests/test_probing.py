"Layerwise linear probes, control tasks and the crossover verdict (msma_lab.probing)"
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from msma_lab.corpus import load_corpus
from msma_lab.extract import extract
from msma_lab.models import tiny_model
from msma_lab.config import work_threads
from msma_lab.results import Result
from msma_lab.scales import ScaleMap
import msma_lab.probing as probing
from msma_lab.probing import (planted_layers, subsample_units, probe_splits, control_labels, fit_probe, probe_layers,
                              probe_bands, probe_rows, probe, mean_ci, crossover_table, crossover_verdict,
                              probe_figure)

SEEDS = (0, 1, 2)
SMAP9 = ScaleMap({"local": range(3), "intermediate": range(3, 6), "global": range(6, 9)}, 9)


@pytest.fixture(scope="module")
def planted():
    H, y, docs = planted_layers(6, 600, 16, layer=3, seed=0)
    return H, y, docs, probe_layers(H, y, docs, seeds=SEEDS)


@pytest.fixture(scope="module")
def crossover():
    "One planted label in each third of nine layers"
    out = {}
    for name, layer in (("pos", 1), ("form", 4), ("topic", 7)):
        H, y, d = planted_layers(9, 400, 16, layer, seed=layer)
        out[name] = probe_layers(H, y, d, seeds=SEEDS, label=name)
    return out


@pytest.fixture(scope="module")
def tiny_acts(tmp_path_factory):
    root, lm = tmp_path_factory.mktemp("probing"), tiny_model("gpt2")
    return (extract(lm, load_corpus().take(2), "sentence", cache_root=root, progress=False),
            extract(lm, load_corpus().take(2), "token", cache_root=root, progress=False))


def test_planted_label_found_where_planted_and_nowhere_else(planted):
    H, y, docs, res = planted
    t = res.table()
    assert res.peak().layer == 3 and res.peak().layer_low == res.peak().layer_high == 3
    assert t.accuracy[3] > 0.9
    others = t.drop(3)
    assert (others.accuracy < t.accuracy[3] - 0.3).all()
    assert (others.accuracy - others.majority).abs().max() < 0.1          # noise layers sit on the majority baseline


def test_control_below_real_and_selectivity(planted):
    *_, res = planted
    r = res.runs
    np.testing.assert_allclose(r.selectivity, r.accuracy - r.control)
    planted_layer = r[r.layer == 3]
    assert (planted_layer.control < planted_layer.accuracy - 0.3).all()
    assert res.table().selectivity.idxmax() == 3


def test_no_document_in_two_splits():
    _, _, docs = planted_layers(seed=1)
    strata = docs % 4                                                    # a per-document label
    for seed in range(5):
        sp = probe_splits(docs, seed, strata)
        sets = [set(docs[sp[s]]) for s in ("train", "val", "test")]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
        assert sum(map(len, sp.values())) == len(docs)
        assert {s: set(strata[sp[s]]) for s in sp} == {s: set(range(4)) for s in sp}   # every stratum in every split
    with pytest.raises(ValueError, match="has no units"): probe_splits([0, 0, 1], 0)


def test_seeds_reproduce(planted):
    H, y, docs, res = planted
    again = probe_layers(H, y, docs, seeds=SEEDS)
    pd.testing.assert_frame_equal(again.runs, res.runs)
    other = probe_layers(H, y, docs, seeds=(7,))
    assert not other.runs.accuracy.equals(res.runs[res.runs.seed == 0].accuracy.reset_index(drop=True))


def test_majority_is_most_common_test_class(planted):
    H, y, docs, res = planted
    for seed in SEEDS:
        te = probe_splits(docs, seed)["test"]
        expect = np.bincount(y[te]).max() / len(te)
        got = res.runs[res.runs.seed == seed].majority
        np.testing.assert_allclose(got, expect)


def test_subsample_stratified():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    sub = subsample_units(y, 100, seed=3)
    assert len(sub) == 100 and list(np.bincount(y[sub])) == [50, 30, 20]
    assert (subsample_units(y, 5000) == np.arange(1000)).all()
    H, yy, d = planted_layers(2, 600, 8, layer=1)
    r = probe_layers(H, yy, d, seeds=(0,), max_units=300)
    assert (r.runs[["n_train", "n_val", "n_test"]].sum(axis=1) == 300).all()


def test_control_labels_per_type_and_per_unit():
    y = np.array(list("aabbbcccc"))
    assert sorted(control_labels(y, seed=0)) == sorted(y)                  # per unit: a permutation
    words = np.array(["x", "y", "x", "z", "y", "x", "z", "w", "w"])
    c = control_labels(y, words, seed=0)
    for w in set(words): assert len(set(c[words == w])) == 1
    assert (control_labels(y, words, seed=0) == c).all()


def test_type_control_is_memorisable():
    rng = np.random.default_rng(1)
    _, y, docs = planted_layers()
    wtype = rng.integers(0, 20, 600)
    H = (3 * rng.normal(size=(20, 16))[wtype] + rng.normal(size=(600, 16)))[None].astype(np.float32)
    by_type = probe_layers(H, y, docs, seeds=SEEDS, types=wtype).table().control[0]
    by_unit = probe_layers(H, y, docs, seeds=SEEDS).table().control[0]
    assert by_type > by_unit + 0.2


def test_fit_probe_single_class_and_inputs(planted):
    H, y, docs, _ = planted
    r = fit_probe(H[0][:300], np.zeros(300), H[0][300:400], y[300:400], H[0][400:], y[400:])
    assert np.isnan(r["C"]) and r["test"] == np.mean(y[400:] == 0)
    with pytest.raises(ValueError, match="one entry per unit"): probe_layers(H, y[:10], docs)
    with pytest.raises(ValueError, match="at least two classes"): probe_layers(H, np.zeros(600), docs)


def test_probe_bands(planted):
    H, y, docs, _ = planted
    r = probe_bands({"local": H[:2].mean(0), "intermediate": H[2:4].mean(0), "global": H[4:].mean(0)}, y, docs, seeds=SEEDS)
    assert r.layers == ["local", "intermediate", "global"] and r.peak().layer == "intermediate"


def test_mean_ci_nan_safe():
    assert np.isnan(mean_ci([np.nan, 1.0])[0])
    assert mean_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)
    lo, hi = mean_ci([0.1, 0.2, 0.3, 0.4, np.nan])
    assert 0.1 <= lo < hi <= 0.4


def test_probe_errors_name_the_fix(tiny_acts):
    sent, tok = tiny_acts
    with pytest.raises(ValueError, match='extract with granularity="token"'): probe(sent, "pos")
    with pytest.raises(ValueError, match="sentence label"): probe(tok, "form")
    with pytest.raises(ValueError, match="document label"): probe(tok, "topic")
    with pytest.raises(ValueError, match="no column `mood`"): probe(sent, "mood")


def test_probe_on_activations(tiny_acts):
    sent, tok = tiny_acts
    rows = probe_rows(tok, "pos")
    assert len(rows) == tok.units.first_subword.sum() and tok.units.pos.iloc[rows].notna().all()
    r = probe(tok, "pos", seeds=(0, 1))
    assert r.layers == list(range(tok.n_hidden())) and r.label == "pos" and r.model == "tiny-gpt2"
    assert (r.runs[["n_train", "n_val", "n_test"]].sum(axis=1) == len(rows)).all()
    assert (r.table().accuracy > r.table().majority).all()
    f = probe(sent, "form", seeds=(0, 1), control=False)
    assert "control" not in f.runs and "**ProbeResult** `form`" in f._repr_markdown_()


def test_crossover_found_and_refused(crossover):
    ct = crossover_table(crossover, SMAP9)
    assert ct.layer.tolist() == [1, 4, 7] and ct.band.tolist() == ["local", "intermediate", "global"]
    assert ct.in_expected.all() and (ct.p_expected == 1).all()
    assert ct.call.tolist() == ["yes"] * 3 and (ct.band_gain > 0.3).all() and (ct.excess > 0.3).all()
    assert "This model shows the crossover: every probe is called in its own band." in crossover_verdict(crossover, SMAP9)
    swapped = {"pos": crossover["topic"], "form": crossover["form"], "topic": crossover["pos"]}
    st = crossover_table(swapped, SMAP9)
    assert st.call.tolist() == ["no", "yes", "no"] and (st.band_gain[["pos", "topic"]] < 0).all()
    v = crossover_verdict(swapped, SMAP9, "Swapped", table=st)
    assert "Swapped does not show the crossover: `pos` is not called in the local band (validation peak: layer 7, global)" in v
    assert "`topic` is not called in the global band (validation peak: layer 1, local)" in v


def test_probe_figure(crossover):
    fig = probe_figure(crossover, SMAP9)
    assert isinstance(fig, go.Figure) and len(fig.layout.shapes) == 3 and len(fig.data) == 9
    assert {a.text for a in fig.layout.annotations} == {"local", "intermediate", "global"}
    dashes = [t.line.dash for t in fig.data]
    assert dashes.count("dash") == 3 and dashes.count("dot") == 3


def test_worker_processes_give_the_same_rows(planted, monkeypatch):
    H, y, docs, res = planted
    monkeypatch.setattr(probing, "PARALLEL_UNITS", 0)                   # this small job too goes to worker processes
    with work_threads(2):
        assert probing._workers(1) == 2
        par = probe_layers(H, y, docs, seeds=SEEDS)
    pd.testing.assert_frame_equal(par.runs, res.runs)
    with work_threads(1): assert probing._workers(10**9) == 1


def test_probe_result_table_figure_and_exact_round_trip(planted, tmp_path):
    *_, res = planted
    assert res.table().index.name == "layer" and isinstance(res.figure(), go.Figure)
    assert len(res.figure(SMAP9).layout.shapes) == 3
    back = Result.load(res.save(tmp_path/"probe"))
    assert type(back) is type(res) and back.label == res.label and back.layers == res.layers
    pd.testing.assert_frame_equal(back.runs, res.runs)
    pd.testing.assert_frame_equal(back.table(), res.table())
