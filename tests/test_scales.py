"Scale maps, scale representations, document splits and manifold diagnostics (msma_lab.scales)"
import numpy as np
import plotly.graph_objects as go
import pytest

from msma_lab.extract import extract, unit_table
from msma_lab.models import tiny_model
from msma_lab.scales import (SCALES, ScaleMap, paper_bands, uniform_bands, segment_layers, cka_matrix,
                             scale_map, scale_maps, scale_representations, split_units, intrinsic_dimension,
                             local_curvature, manifold_diagnostics, attention_profile, view_2d, cka_heatmap)

GOOD = {"local": [0, 1, 2], "intermediate": [3, 4, 5], "global": [6, 7, 8]}


@pytest.fixture(scope="module")
def gpt2_att(texts, tmp_path_factory):
    "Tiny GPT-2 (4 blocks, 5 hidden states) over ~20 texts, with attention summaries"
    return extract(tiny_model("gpt2", attentions=True), texts, attentions=True,
                   cache_root=tmp_path_factory.mktemp("att"), progress=False)


@pytest.fixture(scope="module")
def bert(texts, tmp_path_factory):
    return extract(tiny_model("bert"), texts, cache_root=tmp_path_factory.mktemp("bert"), progress=False)


@pytest.fixture(scope="module")
def t5(texts, tmp_path_factory):
    return extract(tiny_model("t5"), texts, cache_root=tmp_path_factory.mktemp("t5"), progress=False)


@pytest.mark.parametrize("bands, msg", [
    ({**GOOD, "intermediate": [3, 5]}, "not contiguous (missing [4])"),
    ({**GOOD, "global": []}, "`global` is empty"),
    ({**GOOD, "global": [6, 7, 8, 9]}, "outside 0..8"),
    ({**GOOD, "local": [-1, 0]}, "outside 0..8"),
    ({**GOOD, "intermediate": [2, 3, 4, 5]}, "overlap at hidden state(s) [2]"),
    ({"local": [6, 7], "intermediate": [3, 4], "global": [8]}, "out of order"),
    ({"low": [0], "intermediate": [1], "global": [2]}, "missing ['local']; unknown ['low']"),
    ({"local": [0], "intermediate": [1]}, "missing ['global']"),
    ({**GOOD, "local": [0, 0, 1]}, "twice"),
    ({**GOOD, "local": [0.5, 1]}, "integer hidden-state indices"),
    ({**GOOD, "local": 2}, "integer hidden-state indices"),
])
def test_scalemap_validation(bands, msg):
    with pytest.raises(ValueError) as e: ScaleMap(bands, 9)
    assert msg in str(e.value)


def test_scalemap_basics():
    sm = ScaleMap({"local": range(3), "intermediate": (3, 4, 5), "global": np.arange(6, 9)}, 9, "encoder", "x")
    assert sm.bands == GOOD and sm.ranges == {"local": (0, 2), "intermediate": (3, 5), "global": (6, 8)}
    assert [sm.band_of(l) for l in (0, 5, -1)] == ["local", "intermediate", "global"]
    assert sm.skipped == [] and "skips" not in repr(sm) and "local 0–2" in sm._repr_markdown_()
    with pytest.raises(IndexError): sm.band_of(9)
    user = ScaleMap({"local": [1, 2], "intermediate": [3], "global": [5, 6]}, 7)
    assert user.skipped == [0, 4] and user.band_of(4) is None and "skips [0, 4]" in repr(user)
    with pytest.raises(ValueError, match="at least 3 hidden states"): ScaleMap({"local": [0], "intermediate": [1], "global": [1]}, 2)


def _ranges(b): return tuple((v[0], v[-1]) for v in b.values())


def test_paper_partition_by_depth():
    assert _ranges(paper_bands("decoder", 13)) == ((0, 2), (3, 8), (9, 12))          # GPT-2, exactly the table
    assert _ranges(paper_bands("encoder", 13)) == ((0, 4), (5, 8), (9, 12))          # BERT / RoBERTa
    assert _ranges(paper_bands("encoder-decoder", 7)) == ((0, 2), (3, 4), (5, 6))    # T5-small stacks
    assert _ranges(paper_bands("decoder", 31)) == ((0, 7), (8, 22), (23, 30))        # SmolLM2-135M, 30 blocks
    assert _ranges(paper_bands("encoder", 7)) == ((0, 2), (3, 4), (5, 6))            # MiniLM-L6, 6 blocks
    assert _ranges(paper_bands("decoder", 7)) == ((0, 1), (2, 4), (5, 6))
    for fam in ("decoder", "encoder", "encoder-decoder"):                            # every depth: a valid cover
        for n in range(3, 50):
            sm = ScaleMap(paper_bands(fam, n), n)
            assert sm.skipped == []
    with pytest.raises(ValueError, match="no paper partition"): paper_bands("mamba", 13)
    assert _ranges(uniform_bands(13)) == ((0, 3), (4, 8), (9, 12))


def test_segment_layers_recovers_planted_blocks():
    rng = np.random.default_rng(1)
    for sizes in ([4, 6, 3], [1, 10, 2], [8, 8, 8]):
        lab = np.repeat(range(3), sizes)
        S = np.where(lab[:, None] == lab[None], 0.85, 0.2) + rng.normal(0, 0.05, (len(lab), len(lab)))
        got = segment_layers(S)
        assert [len(b) for b in got] == sizes and sum(got, []) == list(range(len(lab)))
    d = np.array([0, 0.1, 3, 3.1, 3, 7, 7.2])                # least-squares kernel: step profile
    assert segment_layers(-(d[:, None] - d[None]) ** 2) == [[0, 1], [2, 3, 4], [5, 6]]
    assert segment_layers(np.eye(5), k=5) == [[0], [1], [2], [3], [4]]
    with pytest.raises(ValueError, match="NaN"): segment_layers(np.full((4, 4), np.nan))


def test_split_by_document(corpus):
    units = unit_table(corpus)
    sp = split_units(units, seed=3)
    docs = {k: set(units.doc_id.iloc[v]) for k, v in sp.items()}
    assert not (docs["train"] & docs["val"]) and not (docs["train"] & docs["test"]) and not (docs["val"] & docs["test"])
    allidx = np.concatenate(list(sp.values()))
    assert len(allidx) == len(units) == len(set(allidx))
    for k, frac in zip(("train", "val", "test"), (0.6, 0.2, 0.2)):              # stratified: every topic everywhere
        assert units.iloc[sp[k]].topic.nunique() == units.topic.nunique()
        assert abs(len(docs[k]) / units.doc_id.nunique() - frac) < 0.05
    again = split_units(units, seed=3)
    assert all(np.array_equal(again[k], sp[k]) for k in sp)
    assert not np.array_equal(split_units(units, seed=4)["train"], sp["train"])
    flat = split_units(units.drop(columns=["topic"]), seed=0, frac=(0.5, 0.25, 0.25))   # no topic column: plain split
    assert sum(len(v) for v in flat.values()) == len(units)
    with pytest.raises(ValueError, match="summing to 1"): split_units(units, frac=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="no column `book`"): split_units(units, by="book")


def test_scale_representations_shapes(gpt2_att):
    acts, sm = gpt2_att, scale_map(gpt2_att)
    n, d = len(acts), acts.d
    mean = scale_representations(acts, sm)
    assert list(mean) == list(SCALES) and all(x.shape == (n, d) and x.dtype == np.float32 for x in mean.values())
    np.testing.assert_allclose(mean["intermediate"], (acts.layer(1) + acts.layer(2)) / 2, atol=1e-5)
    cat = scale_representations(acts, sm, "concat")
    assert {s: x.shape for s, x in cat.items()} == {s: (n, d * len(b)) for s, b in sm.bands.items()}
    last = scale_representations(acts, sm, "last")
    assert all(np.array_equal(last[s], acts.layer(b[-1])) for s, b in sm.bands.items())
    with pytest.raises(ValueError, match="unknown how"): scale_representations(acts, sm, "max")
    with pytest.raises(ValueError, match="this ScaleMap is for 9"): scale_representations(acts, ScaleMap(GOOD, 9))


def test_intrinsic_dimension_known():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(50, 50)))[0]
    x3 = rng.normal(size=(1000, 3)) @ Q[:3]
    assert abs(intrinsic_dimension(x3) - 3) < 0.3 and abs(intrinsic_dimension(x3, "mle") - 3) < 0.3
    x6 = rng.uniform(size=(2000, 6)) @ Q[:6] + 5
    assert abs(intrinsic_dimension(x6) - 6) < 0.8
    with pytest.raises(ValueError, match="unknown method"): intrinsic_dimension(x3, "pca")
    plane = rng.normal(size=(500, 2)) @ Q[:2]
    assert local_curvature(plane) < 1e-8
    circle = np.c_[np.cos(t := rng.uniform(0, 2 * np.pi, 500)), np.sin(t)] @ Q[:2]
    assert local_curvature(circle, dim=1) > 1e-4


def test_attention_method(gpt2_att, bert):
    with pytest.raises(ValueError, match="attentions=True"): scale_map(bert, "attention")
    prof = attention_profile(gpt2_att)
    assert prof.shape == (gpt2_att.n_hidden() - 1,) and np.isfinite(prof).all() and (prof >= 0).all()
    sm = scale_map(gpt2_att, "attention")
    assert sm.method == "attention" and sm.skipped == [] and sm.band_of(0) == "local"


def test_methods_and_entry_point(gpt2_att, bert):
    for m in ("paper", "uniform", "cka"):
        sm = scale_map(gpt2_att, m)
        assert sm.method == m and sm.skipped == [] and sm.n_hidden == 5
    assert scale_map(bert).bands == paper_bands("encoder", 5)
    C = cka_matrix(gpt2_att, max_units=15)
    assert C.shape == (5, 5) and np.allclose(C, C.T) and np.allclose(np.diag(C), 1)
    assert scale_map(gpt2_att, bands={"local": [1], "intermediate": [2, 3], "global": [4]}).method == "user"
    with pytest.raises(ValueError, match="not both"): scale_map(gpt2_att, "paper", bands=GOOD)
    with pytest.raises(ValueError, match="unknown method"): scale_map(gpt2_att, "thirds")
    with pytest.raises(KeyError): scale_map(gpt2_att, stack="encoder")


def test_t5_one_map_per_stack(t5):
    maps = scale_maps(t5, "paper")
    assert list(maps) == ["encoder", "decoder"]
    assert {s: m.stack for s, m in maps.items()} == {"encoder": "encoder", "decoder": "decoder"}
    assert all(m.n_hidden == t5.n_hidden(s) and m.skipped == [] for s, m in maps.items())
    reps = scale_representations(t5, maps["decoder"])
    assert all(x.shape == (len(t5), t5.d) for x in reps.values())
    assert set(scale_maps(t5, "cka")) == {"encoder", "decoder"}


def test_diagnostics_and_figures(gpt2_att):
    sm = scale_map(gpt2_att, "uniform")
    reps = scale_representations(gpt2_att, sm)
    diag = manifold_diagnostics(reps)
    assert list(diag.index) == list(SCALES) and {"id_twonn", "id_mle", "effective_rank", "curvature"} <= set(diag.columns)
    fig = view_2d(reps["global"], gpt2_att.units.doc_id, method="pca")
    assert isinstance(fig, go.Figure) and sum(len(t.x) for t in fig.data) == len(gpt2_att)
    heat = cka_heatmap(cka_matrix(gpt2_att), sm)
    assert isinstance(heat, go.Figure) and len(heat.layout.shapes) == 3
