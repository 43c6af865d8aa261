"Known answers, nulls, reproducibility and input errors for msma_lab.metrics (and the calibration helpers)"
import math
import numpy as np
import pytest
import torch

from msma_lab.metrics import (MI_METHODS, MINE, Critic, InfoNCE, distance_correlation, dv_bound, fit_critic,
                              gaussian_kl, gaussian_mi, infonce_bound, kl_normal, knn_kl, ksg_mi, linear_cka,
                              mutual_information, procrustes_distance, shuffled_null)
from msma_lab.calibration import calibrated_range, calibration_figure, correlated_gaussians, gaussian_pair, kl_params, rho_for_mi


def corr(n, d, rho, seed=0):
    x, y, true = correlated_gaussians(n, d, rho, seed)
    return x, y, true


def rotation(d, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))[0]


# ---------------------------------------------------------------- KL: closed forms

def test_kl_normal_textbook():
    assert kl_normal([0.], [1.], [1.], [4.]) == pytest.approx(math.log(2) + 2 / 8 - 0.5)
    full = kl_normal(np.zeros(3), np.diag([1., 2, 3]), np.ones(3), np.diag([2., 2, 2]))
    assert full == pytest.approx(kl_normal(np.zeros(3), [1., 2, 3], np.ones(3), [2., 2, 2]))
    assert kl_normal(np.ones(4), np.eye(4), np.ones(4), np.eye(4)) == pytest.approx(0)


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_gaussian_kl_recovers_closed_form(kind):
    x, y, true = gaussian_pair(20000, 4, seed=0, shift=1.0, scale=1.3)
    assert gaussian_kl(x, y, kind) == pytest.approx(true, abs=0.05)
    assert gaussian_kl(x, x + 0.0, kind) == pytest.approx(0, abs=1e-9)


def test_gaussian_kl_diag_ignores_correlation():
    rng = np.random.default_rng(0)
    a = np.linalg.cholesky(np.array([[1, .9], [.9, 1]]))
    x, y = rng.normal(size=(20000, 2)) @ a.T, rng.normal(size=(20000, 2))
    assert gaussian_kl(x, y) == pytest.approx(-0.5 * math.log(1 - 0.81), abs=0.05)
    assert gaussian_kl(x, y, "diag") == pytest.approx(0, abs=0.01)


def test_knn_kl_known_answer_and_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 2))
    assert knn_kl(x, rng.normal(size=(4000, 2)) + [1, 0]) == pytest.approx(0.5, abs=0.1)
    assert knn_kl(x, rng.normal(size=(3000, 2))) == pytest.approx(0, abs=0.05)      # n may differ


# ---------------------------------------------------------------- MI: known answers and nulls

def test_ksg_on_correlated_gaussians():
    x, y, true = corr(2000, 2, 0.6)
    assert ksg_mi(x, y) == pytest.approx(true, abs=0.05)
    assert ksg_mi(x, corr(2000, 2, 0.6, seed=1)[1]) == pytest.approx(0, abs=0.03)


@pytest.mark.parametrize("method", MI_METHODS)
def test_mutual_information_known_answer(method):
    x, y, true = corr(2000, 2, 0.8)                                  # I = 1.02 nats
    est = mutual_information(x, y, method, k_pca=2)
    assert true - 0.3 < est < true + 0.1, (method, est, true)       # neural ones are lower bounds
    indep = mutual_information(x, np.random.default_rng(5).normal(size=(2000, 2)), method, k_pca=2)
    assert indep == pytest.approx(0, abs=0.05)


def test_estimated_mi_is_monotone_in_the_truth_at_16_dims():
    ests = [mutual_information(*corr(1000, 16, rho_for_mi(16, mi))[:2], "ksg") for mi in (0, 1, 4)]
    assert ests[0] < ests[1] < ests[2]


@pytest.mark.parametrize("method", ["ksg", "mine"])
def test_shuffled_null_below_real_pairs(method):
    x, y, _ = corr(1000, 4, 0.6)
    real = mutual_information(x, y, method)
    null = shuffled_null(x, y, method, n_perm=3 if method == "ksg" else 2)
    assert null.shape == (3 if method == "ksg" else 2,)
    assert null.max() < 0.1 < real


def test_optimal_critic_makes_bounds_tight_and_authors_mine_is_never_positive():
    g = torch.Generator().manual_seed(0)
    rho, n = 0.8, 2000
    x = torch.randn(n, 1, generator=g)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, 1, generator=g)
    opt = lambda a, b: (-0.5 * math.log(1 - rho**2) - (rho**2 * (a**2 + b**2) - 2 * rho * a * b) / (2 * (1 - rho**2))).sum(-1)
    true = gaussian_mi(1, rho)
    assert dv_bound(opt, x, y).item() == pytest.approx(true, abs=0.1)                    # all i≠j marginal pairs
    assert dv_bound(opt, x, y, torch.randperm(n, generator=g)).item() == pytest.approx(true, abs=0.2)
    assert infonce_bound(opt, x[:500], y[:500]).item() == pytest.approx(true, abs=0.1)
    for seed in range(3):                                            # pairs compared with themselves
        torch.manual_seed(seed)
        assert dv_bound(Critic(1, 1), x, y, torch.arange(n)).item() <= 1e-6


def test_infonce_is_capped_at_log_n():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    big = lambda a, b: 50 * (a * b).sum(-1) - 25 * (b * b).sum(-1)   # a very confident critic
    assert infonce_bound(big, x, x).item() <= math.log(64) + 1e-5


# ---------------------------------------------------------------- similarity metrics

def test_linear_cka_unbiased():
    rng = np.random.default_rng(0)
    x, noise = rng.normal(size=(300, 50)), rng.normal(size=(300, 50))
    assert linear_cka(x, x) == pytest.approx(1)
    assert linear_cka(x, 2 * x @ rotation(50)) == pytest.approx(1)
    assert linear_cka(x, noise) == pytest.approx(0, abs=0.02)


def test_distance_correlation():
    rng = np.random.default_rng(0)
    x, noise = rng.normal(size=(300, 64)), rng.normal(size=(300, 64))
    threads = torch.get_num_threads()
    assert distance_correlation(x, 3 * x @ rotation(64) + 1) == pytest.approx(1)
    assert torch.get_num_threads() == threads                       # numba's import must not change torch's threads
    assert distance_correlation(x, x, unbiased=False) == pytest.approx(1)
    assert distance_correlation(x, noise) == pytest.approx(0, abs=0.01)
    assert distance_correlation(x, noise, unbiased=False) > 0.5        # the plain estimator's bias


def test_procrustes_distance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 20))
    assert procrustes_distance(x, 3 * x @ rotation(20) + 5) == pytest.approx(0, abs=1e-6)
    assert procrustes_distance(x, x @ rotation(30)[:20]) == pytest.approx(0, abs=1e-6)   # zero-padded width
    far = procrustes_distance(x, rng.normal(size=(500, 20)))
    assert 1.2 < far <= math.sqrt(2)
    assert procrustes_distance(x, rng.normal(size=(500, 20))) == pytest.approx(procrustes_distance(rng.normal(size=(500, 20)), x), abs=0.1)


# ---------------------------------------------------------------- reproducibility

@pytest.mark.parametrize("method", ["mine", "infonce"])
def test_same_seed_same_number(method):
    x, y, _ = corr(400, 4, 0.6)
    a, b = mutual_information(x, y, method, seed=7), mutual_information(x, y, method, seed=7)
    assert a == b
    assert mutual_information(x, y, method, seed=8) != a


def test_mine_steps_are_reproducible_and_leave_global_rng_alone():
    x, y, _ = corr(512, 3, 0.7)
    torch.manual_seed(123); before = torch.rand(1)
    torch.manual_seed(123)
    m1, m2 = MINE(3, 3, seed=4, device="cpu"), MINE(3, 3, seed=4, device="cpu")
    assert torch.rand(1) == before                                   # construction used its own RNG
    v1 = [m1.step(x[:256], y[:256]) for _ in range(5)]
    v2 = [m2.step(x[:256], y[:256]) for _ in range(5)]
    assert v1 == v2
    assert m1.estimate(x, y, seed=0) == m2.estimate(x, y, seed=0)
    assert isinstance(fit_critic("infonce", x, y, steps=30), InfoNCE)


# ---------------------------------------------------------------- bad inputs

PAIRED = [linear_cka, mutual_information, distance_correlation, procrustes_distance, ksg_mi, shuffled_null]


@pytest.mark.parametrize("f", PAIRED, ids=lambda f: f.__name__)
def test_paired_estimators_reject_bad_input(f):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    with pytest.raises(ValueError, match="100 vs 99 rows"): f(x, y[:99])
    bad = x.copy(); bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"): f(bad, y)
    with pytest.raises(ValueError, match="d = 0"): f(x, np.ones((100, 0)))
    with pytest.raises(ValueError, match="needs at least"): f(x[:1], y[:1])


@pytest.mark.parametrize("f", [gaussian_kl, knn_kl], ids=lambda f: f.__name__)
def test_kl_estimators_reject_bad_input(f):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    with pytest.raises(ValueError, match="d = 3 vs 2"): f(x, x[:, :2])
    with pytest.raises(ValueError, match="inf"): f(x, np.full((100, 3), np.inf))
    with pytest.raises(ValueError, match="d = 0"): f(np.ones((100, 0)), x)
    with pytest.raises(ValueError, match="needs at least"): f(x[:1], x)


def test_unknown_options_and_degenerate_data():
    x = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(ValueError, match="use one of ksg, mine, infonce"): mutual_information(x, x, "histogram")
    with pytest.raises(ValueError, match="'full' or 'diag'"): gaussian_kl(x, x, "spherical")
    with pytest.raises(ValueError, match="constant"): gaussian_kl(x, np.ones((100, 3)), "diag")
    with pytest.raises(ValueError, match="constant"): procrustes_distance(np.ones((100, 3)), x)
    with pytest.raises(ValueError, match="duplicate"): knn_kl(np.ones((10, 2)), x[:10, :2])
    with pytest.raises(ValueError, match="duplicate"): ksg_mi(np.ones((10, 2)), np.ones((10, 2)))


# ---------------------------------------------------------------- calibration helpers

def test_calibration_problems_and_range():
    assert correlated_gaussians(10, 16, rho_for_mi(16, 2.5))[2] == pytest.approx(2.5)
    for d, kl in [(384, 1.0), (576, 100.0), (16, 0.3)]:
        assert gaussian_pair(5, d, 0, *kl_params(d, kl))[2] == pytest.approx(kl)
    import pandas as pd
    df = pd.DataFrame(dict(estimator="e", n=1, d=1, true=[0, 1, 2, 4], estimate=[0.0, 0.5, 2.1, 4.2], sd=0.1,
                           bias=[0.0, -0.5, 0.1, 0.2]))
    r = calibrated_range(df)
    assert (r.lo[0], r.hi[0], r.points[0]) == (2, 4, 2)
    fig = calibration_figure(df)
    assert [t.name for t in fig.data] == ["identity", "e"]
