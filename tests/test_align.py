"Cross-scale maps: planted answers, no test unit ever seen in fitting, exact seeds, divergence reported, save/load"
import numpy as np
import pytest
from scipy.stats import ortho_group
from msma_lab.align import (CrossScaleMap, ProcrustesMap, AlignmentDiverged, DivergedMap, fit_alignment,
                            save_alignment, load_alignment)
from msma_lab.corpus import load_corpus
from msma_lab.extract import extract
from msma_lab.models import tiny_model
from msma_lab.scales import scale_map, scale_representations


@pytest.fixture(scope="module")
def acts(tmp_path_factory):
    return extract(tiny_model("llama"), load_corpus().take(6), cache_root=tmp_path_factory.mktemp("acts"), progress=False)


def test_procrustes_recovers_a_planted_rotation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 12)).astype(np.float32)
    R = ortho_group.rvs(12, random_state=4)
    m = ProcrustesMap().fit(x, x @ R + 0.01 * rng.normal(size=x.shape))
    assert np.abs(m.R - R).max() < 0.01


class Spy(CrossScaleMap):
    "Records every row it is fitted on"
    name = "spy"
    def fit(self, x, y, x_val=None, y_val=None):
        self.seen = np.concatenate([x, x_val]); return self
    def predict(self, x): return x


def test_maps_never_see_test_units(acts):
    smap = scale_map(acts, "uniform")
    al = fit_alignment(acts, smap, maps=("identity", Spy()), seed=1, progress=False)
    test_rows = al.reps["global"][al.splits["test"]]
    seen = al.maps["GI", "spy"].seen
    assert not (seen[:, None, :] == test_rows[None, :, :]).all(-1).any()
    assert len(seen) == len(al.splits["train"]) + len(al.splits["val"])
    docs = acts.units.doc_id.to_numpy()
    assert not set(docs[al.splits["test"]]) & set(docs[np.concatenate([al.splits["train"], al.splits["val"]])])


def test_seeds_reproduce_exactly_on_cpu(acts):
    smap = scale_map(acts, "uniform")
    a = fit_alignment(acts, smap, seed=2, max_epochs=4, progress=False)
    b = fit_alignment(acts, smap, seed=2, max_epochs=4, progress=False)
    c = fit_alignment(acts, smap, seed=3, max_epochs=4, progress=False)
    for key in a.maps:
        np.testing.assert_array_equal(a.pairs(*key)[0], b.pairs(*key)[0])
    assert not np.array_equal(a.pairs("GI", "msma")[0], c.pairs("GI", "msma")[0])


def test_divergence_is_reported_with_step_and_term(acts):
    smap = scale_map(acts, "uniform")
    with pytest.raises(AlignmentDiverged, match="step"):
        fit_alignment(acts, smap, maps=("msma",), lr=1e6, max_epochs=3, progress=False, on_diverge="raise")
    al = fit_alignment(acts, smap, maps=("procrustes", "msma"), lr=1e6, max_epochs=3, progress=False)
    assert isinstance(al.maps["GI", "msma"], DivergedMap) and "step" in al.maps["GI", "msma"].message
    assert al.pairs("GI", "procrustes")[0].shape[0] == len(al.splits["test"])


def test_save_load_round_trip(acts, tmp_path):
    smap = scale_map(acts, "uniform")
    al = fit_alignment(acts, smap, ablations=True, max_epochs=3, progress=False)
    back = load_alignment(save_alignment(al, tmp_path/"al"), scale_representations(acts, smap))
    for key in al.maps:
        np.testing.assert_allclose(back.pairs(*key)[0], al.pairs(*key)[0], atol=1e-5)
    assert back.config == al.config


def test_too_few_units_and_bad_direction_are_clear_errors(acts):
    smap = scale_map(acts, "uniform")
    with pytest.raises(ValueError, match="unknown direction"):
        fit_alignment(acts, smap, directions=("GX",), progress=False)
    tiny_splits = {"train": np.arange(5), "val": np.arange(5, 8), "test": np.arange(8, 12)}
    with pytest.raises(ValueError, match="too few units"):
        fit_alignment(acts, smap, splits=tiny_splits, progress=False)


def test_shared_procrustes_start_and_fit_times(acts):
    smap = scale_map(acts, "uniform")
    al = fit_alignment(acts, smap, maps=("procrustes", "msma"), max_epochs=2, progress=False)
    x, y = al.reps["global"][al.splits["train"]], al.reps["intermediate"][al.splits["train"]]
    np.testing.assert_array_equal(al.maps["GI", "procrustes"].R, ProcrustesMap().fit(x, y).R)   # the shared start is the rung's own
    assert set(al.seconds) == set(al.maps) and all(v >= 0 for v in al.seconds.values())
