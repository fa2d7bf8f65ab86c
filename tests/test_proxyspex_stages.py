"""ProxySPEX's stages called directly, each against an oracle that does not use the stage itself.

Oracles: exhaustive enumeration of every mask (n ≤ 12), planted sparse spectra with known
coefficients, least squares solved independently (an augmented system), and the model's own
predictions on every mask.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from spex_mech.algorithms import ridge
from spex_mech.algorithms.hierarchy import _ridge as hierarchy_ridge
from spex_mech.algorithms.proxyspex import (
    Design,
    ProxyConfig,
    ProxyFit,
    ProxySpectrum,
    ProxySpexParams,
    Ranking,
    Readout,
    Settings,
    evaluate,
    grow_support,
    proxyspex,
    rank_spectrum,
    read_spectrum,
    refit_support,
    search_readouts,
    select_support,
    split_design,
)
from spex_mech.algorithms.proxyspex.selection import Candidate
from spex_mech.results import spectrum as spec
from spex_mech.synthetic import SparseFunction, random_sparse_function
from spex_mech.transforms import all_masks, fourier_transform
from spex_mech.valuefn import ValueFunction


def ridge_oracle(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Ridge with an unpenalised intercept as one least-squares problem: [1 X; 0 √(αm)·I] [b; β] ≈ [y; 0]."""
    m, k = X.shape
    A = np.vstack([np.hstack([np.ones((m, 1)), X]), np.hstack([np.zeros((k, 1)), np.sqrt(alpha * m) * np.eye(k)])])
    sol = np.linalg.lstsq(A, np.concatenate([y, np.zeros(k)]), rcond=None)[0]
    return float(sol[0]), sol[1:]


# ------------------------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("solver", ["cholesky", "lu"])
def test_ridge_fit_matches_the_augmented_least_squares_oracle(solver):
    rng = np.random.default_rng(0)
    X = rng.random((60, 7))
    y = X @ rng.standard_normal(7) + 0.3 + 0.05 * rng.standard_normal(60)
    for alpha in (1e-6, 1e-2, 1.0):
        intercept, beta = ridge.ridge_fit(X, y, alpha, solver=solver)
        ref_b, ref_beta = ridge_oracle(X, y, alpha)
        assert intercept == pytest.approx(ref_b, abs=1e-9)
        np.testing.assert_allclose(beta, ref_beta, atol=1e-9)
    assert ridge.ridge_fit(X[:, :0], y, 0.1) == (pytest.approx(y.mean()), pytest.approx(np.zeros(0)))
    with pytest.raises(ValueError, match="solver must be"):
        ridge.ridge_fit(X, y, 0.1, solver="qr")


def test_hierarchy_ridge_is_the_shared_solver_with_its_intercept_column():
    rng = np.random.default_rng(1)
    A = np.hstack([np.ones((50, 1)), (rng.random((50, 5)) < 0.5).astype(float)])
    y = rng.standard_normal(50)
    out = hierarchy_ridge(A, y, 1e-3)
    ref_b, ref_beta = ridge_oracle(A[:, 1:], y, 1e-3)
    np.testing.assert_allclose(out, np.concatenate([[ref_b], ref_beta]), atol=1e-9)
    dup = np.hstack([A, A[:, 1:2]])  # duplicate AND columns, no penalty: singular, minimum-norm fallback
    fitted = dup @ hierarchy_ridge(dup, y, 0.0)
    np.testing.assert_allclose(fitted, A @ hierarchy_ridge(A, y, 0.0), atol=1e-8)


def test_ridge_path_scores_every_prefix_like_separate_fits():
    rng = np.random.default_rng(2)
    X, Xv = rng.random((80, 6)), rng.random((30, 6))
    beta = rng.standard_normal(6)
    y, yv = X @ beta + 0.1 * rng.standard_normal(80), Xv @ beta + 0.1 * rng.standard_normal(30)
    alphas = np.array([1e-4, 0.1])
    s2, s4 = ridge.ridge_path(X, y, Xv, yv, alphas)
    for a, alpha in enumerate(alphas):
        for c in range(7):
            b, coef = ridge_oracle(X[:, :c], y, alpha)
            err = yv - (b + Xv[:, :c] @ coef)
            assert s2[a, c] == pytest.approx(np.sum(err**2), rel=1e-8)
            assert s4[a, c] == pytest.approx(np.sum(err**4), rel=1e-8)


# ------------------------------------------------------------------------------------------ design


def test_evaluate_batches_and_split_partitions_the_rows():
    calls = []

    def f(masks):
        calls.append(masks.shape[0])
        return masks.sum(axis=1) * 1.5

    f.n = 9
    masks = all_masks(9)[::3]
    design = evaluate(ValueFunction(f, 9), masks, batch_size=50)
    assert max(calls) <= 50 and sum(calls) == masks.shape[0]
    np.testing.assert_array_equal(design.values, masks.sum(axis=1) * 1.5)
    rng = np.random.default_rng(0)
    cv = split_design(design.m, rng, True, 0.2)
    held = np.concatenate([h for _, h in cv.cv_folds()])
    assert np.array_equal(np.sort(held), np.arange(design.m))  # every row held out exactly once
    for train, h in cv.cv_folds():
        assert np.intersect1d(train, h).size == 0 and train.size + h.size == design.m
    plain = split_design(design.m, rng, False, 0.25)
    assert not plain.may_cross_validate and plain.val.size == round(0.25 * design.m)
    assert np.array_equal(np.sort(np.concatenate([plain.train, plain.val])), np.arange(design.m))


# --------------------------------------------------------------------------------- proxy and read-out


@pytest.fixture(scope="module")
def exhaustive_proxy():
    """A depth-3 proxy fitted on every mask of a planted 10-unit function."""
    f = random_sparse_function(10, 6, orders=(1, 2, 3), basis="mobius", seed=3)
    masks = all_masks(10)
    values = f.clean(masks)
    config = ProxyConfig.from_arguments("sklearn", max_order=3)
    fits = config.fit(masks[200:], values[200:], masks[:200], values[:200], seed=0)
    return f, masks, values, config, fits


def test_read_spectrum_is_exactly_the_proxy_on_every_mask(exhaustive_proxy):
    _, masks, _, config, fits = exhaustive_proxy
    assert config.depths == (3,) and len(fits) == 1
    model = fits[0].model
    sp = read_spectrum(model, 10, ("fourier", "mobius"))
    predicted = model.predict(masks.astype(np.float32))
    np.testing.assert_allclose(spec.evaluate_fourier(*sp.fourier, masks, 10), predicted, atol=1e-9)
    np.testing.assert_allclose(spec.evaluate_mobius(*sp.mobius, masks, 10), predicted, atol=1e-9)
    # the dense transform of the model's predictions (bit j of the row index = unit j) is the same spectrum
    order = np.argsort((masks.astype(np.int64) << np.arange(10)).sum(axis=1))
    dense = fourier_transform(predicted[order])
    codes = (np.where(sp.fourier[0] >= 0, 1 << np.maximum(sp.fourier[0], 0), 0)).sum(axis=1)
    np.testing.assert_allclose(dense[codes], sp.fourier[1], atol=1e-9)
    assert spec.key_orders(sp.fourier[0]).max() <= 3
    with pytest.raises(ValueError, match="without the mobius basis"):
        read_spectrum(model, 10, ("fourier",)).basis("mobius")


def _spectrum(fourier: dict, mobius: dict | None = None) -> ProxySpectrum:
    def arrays(terms):
        return spec.canonical_keys(list(terms), width=4), np.array(list(terms.values()), dtype=float)

    return ProxySpectrum(arrays(fourier), None if mobius is None else arrays(mobius), 0.0)


def test_rank_spectrum_singleton_modes_order_and_order_cap():
    sp = _spectrum({(): 2.0, (0,): 0.1, (3,): -0.4, (0, 1): 0.3, (1, 2, 3): -0.9, (2, 4): 0.05})
    ranking, mode = rank_spectrum(sp, "fourier", "all", 6, None, 100)
    assert mode == "all" and ranking.const == 2.0 and ranking.basis == "fourier"
    assert spec.keys_to_tuples(ranking.base_keys) == [(0,), (3,), (1,), (2,), (4,), (5,)]  # missing units added
    np.testing.assert_array_equal(ranking.base_vals, [0.1, -0.4, 0, 0, 0, 0])
    assert spec.keys_to_tuples(ranking.ranked) == [(1, 2, 3), (0, 1), (2, 4)]  # by |F|
    proxy_only, _ = rank_spectrum(sp, "fourier", "proxy", 6, 2, 100)
    assert spec.keys_to_tuples(proxy_only.base_keys) == [(0,), (3,)]
    assert spec.keys_to_tuples(proxy_only.ranked) == [(0, 1), (2, 4)]  # order 3 dropped
    ranked, _ = rank_spectrum(sp, "fourier", "ranked", 6, None, 100)
    assert ranked.base_keys.shape[0] == 0
    assert spec.keys_to_tuples(ranked.ranked) == [(1, 2, 3), (3,), (0, 1), (0,), (2, 4)]
    # auto: "all" with ≥ 4 training masks per unit, "proxy" with ≥ 4 per proxy singleton, else "ranked"
    assert [rank_spectrum(sp, "fourier", "auto", 6, None, t)[1] for t in (24, 23, 8, 7)] == [
        "all",
        "proxy",
        "proxy",
        "ranked",
    ]
    # Möbius terms rank by the variance each explains alone, |a(S)|·sd(AND_S): a pair of 1.0 (sd √3/4)
    # beats a triple of 1.2 (sd √7/8)
    mob = _spectrum({(): 0.0}, {(): 1.0, (0, 1): 1.0, (2, 3, 4): 1.2})
    ranking, _ = rank_spectrum(mob, "mobius", "proxy", 6, None, 100)
    assert spec.keys_to_tuples(ranking.ranked) == [(0, 1), (2, 3, 4)] and ranking.const == 1.0


# ------------------------------------------------------------------------------- support and search


PLANTED = {(): 0.7, (0,): 0.5, (1,): -0.3, (0, 1): 0.8, (2, 3): -0.6, (4, 5, 6): 0.4}


@pytest.fixture(scope="module")
def planted_design():
    f = SparseFunction(12, PLANTED, basis="fourier")
    masks = all_masks(12)
    return Design(masks, f.clean(masks))


def _planted_ranking(decoys: int) -> Ranking:
    """The planted interactions first (with their true coefficients), then decoys the function lacks."""
    inter = [t for t in PLANTED if len(t) >= 2]
    noise = [(7, 8), (9, 10), (8, 11), (7, 9, 10), (5, 11)][:decoys]
    keys = spec.canonical_keys(inter + noise, width=3)
    return Ranking(
        spec.canonical_keys([(0,), (1,)], width=3),
        np.array([0.5, -0.3]),
        keys,
        np.array([PLANTED[t] for t in inter] + [0.0] * len(noise)),
        0.7,
        "fourier",
    )


def test_select_support_keeps_exactly_the_planted_interactions(planted_design):
    d = planted_design
    folds = split_design(d.m, np.random.default_rng(0), True, 0.2).cv_folds()
    ranking = _planted_ranking(decoys=5)
    choice = select_support(ranking, [ranking] * len(folds), d.masks, d.values, folds, np.arange(d.m), 12, True, None)
    assert choice.n_interactions == 3
    assert spec.keys_to_tuples(choice.keys) == [(0,), (1,), (0, 1), (2, 3), (4, 5, 6)]
    assert choice.validation_r2 == pytest.approx(1.0, abs=1e-9)
    fixed = select_support(ranking, [ranking], d.masks, d.values, folds[:1], folds[0][0], 12, False, 2)
    assert fixed.n_interactions == 2 and fixed.alpha == 0.0
    np.testing.assert_array_equal(fixed.values, [0.5, -0.3, 0.8, -0.6])  # the proxy's own coefficients
    # without the third planted term the proxy's own truncated spectrum misses exactly its variance
    share = 0.4**2 / sum(v**2 for t, v in PLANTED.items() if t)
    assert fixed.validation_r2 == pytest.approx(1.0 - share, abs=0.05)


def test_search_readouts_keeps_the_read_out_that_validates_best_and_refit_is_exact(planted_design):
    d = planted_design
    folds = [split_design(d.m, np.random.default_rng(1), False, 0.2)]
    folds = [(folds[0].train, folds[0].val)]
    good = _spectrum(PLANTED)
    bad = _spectrum({(): 0.7, (0,): 0.5, (9, 10): 0.8, (7, 8): -0.6})
    fit = ProxyFit(None, "sklearn", 3, 10, 0.5, 0.1)
    settings = Settings(bases=("fourier",), singletons="proxy")
    cands = [Candidate(fit, bad, None), Candidate(fit, good, None)]
    best, searched = search_readouts(cands, d, folds, folds[0][0], settings)
    assert [r["basis"] for r in searched] == ["fourier", "fourier"]
    assert searched[0]["validation_r2"] < 0.6 and searched[1]["validation_r2"] == pytest.approx(1.0, abs=1e-9)
    assert best.support.validation_r2 == searched[1]["validation_r2"] and best.proxy_coefficients == len(PLANTED)
    surrogate = refit_support(best, d, refine=True)
    found = dict(zip(spec.keys_to_tuples(surrogate.keys), surrogate.values))
    assert set(found) == set(PLANTED)
    for term, value in PLANTED.items():  # exact up to the chosen ridge penalty
        assert found[term] == pytest.approx(value, abs=1e-3)


def test_grow_support_adds_the_and_term_the_read_out_missed():
    """Oracle: every mask of a 10-unit function x0·x1·x2 + 0.5·x3; the start knows only x0·x1 and x3."""
    truth = {(0, 1, 2): 1.0, (3,): 0.5}
    f = SparseFunction(10, truth, basis="mobius")
    masks = all_masks(10)
    d = Design(masks, f.clean(masks))
    split = split_design(d.m, np.random.default_rng(0), False, 0.2)
    folds = [(split.train, split.val)]
    start = {(): 0.0, (0, 1): 0.5, (3,): 0.5}
    ranking = Ranking(
        np.zeros((0, 2), np.int64), np.zeros(0), spec.canonical_keys(list(start)[1:], 2), np.zeros(2), 0.0, "mobius"
    )
    keys = spec.canonical_keys(list(start)[1:], width=2)
    from spex_mech.algorithms.proxyspex.support import SupportChoice

    support = SupportChoice(keys, np.zeros(2), 2, 2, 1e-6, 0.8, [])
    readout = Readout(ProxyFit(None, "sklearn", 3, 1, 0.5, 0.1), ranking, support, "ranked", 3)
    surrogate = refit_support(readout, d, refine=True)
    grown = grow_support(surrogate, d, folds, max_order=3, seed=0)
    assert (0, 1, 2) in grown.grown_terms and grown.support_search == "proxy"
    predicted = spec.evaluate_fourier(grown.keys, grown.values, masks, 10)
    np.testing.assert_allclose(predicted, d.values, atol=1e-4)
    assert grown.validation_r2 > surrogate.validation_r2


# ------------------------------------------------------------------------- configuration and params


def test_proxy_config_maps_the_old_keywords_and_rejects_contradictions():
    assert ProxyConfig.from_arguments("auto").depths == (3, 5)
    assert ProxyConfig.from_arguments("auto", max_order=2).depths == (2,)
    old = ProxyConfig.from_arguments("sklearn", depths=[4], learning_rate=0.2, max_trees=50, patience=5, n_jobs=2)
    assert old == ProxyConfig("sklearn", (4,), 0.2, 50, 5, 2, None)
    with pytest.raises(ValueError, match="depths given both in the ProxyConfig and as keywords"):
        ProxyConfig.from_arguments(ProxyConfig(), depths=(3,))
    from sklearn.tree import DecisionTreeRegressor

    with pytest.raises(ValueError, match="learning_rate do nothing when proxy is an estimator"):
        ProxyConfig.from_arguments(DecisionTreeRegressor(), learning_rate=0.3)
    with pytest.raises(ValueError, match=r"depths \(3, 5\) exceed max_order=2"):
        ProxyConfig.from_arguments(ProxyConfig(), max_order=2)


def test_a_proxy_config_gives_the_same_result_as_the_old_keywords():
    f = random_sparse_function(16, 5, orders=(1, 2), basis="mobius", seed=6)
    old = proxyspex(f, budget=200, seed=1, depths=(4,), learning_rate=0.2, max_trees=300, patience=10)
    new = proxyspex(f, budget=200, seed=1, proxy=ProxyConfig("sklearn", (4,), 0.2, 300, 10))
    np.testing.assert_array_equal(old.keys, new.keys)
    np.testing.assert_array_equal(old.coefficients, new.coefficients)
    assert isinstance(new.params, ProxySpexParams)
    a, b = old.params.to_dict(), new.params.to_dict()
    for key in ("evaluate_seconds", "fit_seconds", "extract_seconds", "select_seconds", "refit_seconds"):
        a.pop(key), b.pop(key)
    assert a == b
    data = json.loads(new.to_json())["params"]
    assert data["proxy_search"][0]["depth"] == 4 and data["confirmation"] is None
    assert set(data) == set(new.params)  # one field per key, no duplicates
