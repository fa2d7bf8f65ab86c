"""Baselines (pairwise ablation, lasso, sampled Shapley/Banzhaf) against oracles only.

Oracles: exhaustive enumeration (``sm.exhaustive``), the value function itself, and the planted truth of
synthetic functions. Never the code's own output.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.algorithms import baselines
from spex_mech.synthetic import SparseFunction, random_sparse_function
from spex_mech.transforms import all_masks


class Recorder:
    """Wraps a value function; records each call's batch size, and carries labels/ids."""

    def __init__(self, f, n, labels=None, ids=None):
        self.f, self.n = f, n
        self.calls: list[int] = []
        if labels is not None:
            self.labels = labels
        if ids is not None:
            self.ids = ids

    def __call__(self, masks):
        self.calls.append(len(masks))
        return self.f(masks)


def pairwise_game(n=10, seed=1):
    """A game whose Möbius terms all have order ≤ 2 (so does its ablation expansion)."""
    n_terms = min(25, n + comb(n, 2) - 2)
    return random_sparse_function(
        n, n_terms, orders=(1, 2), basis="mobius", amplitudes=(0.1, 1.0), constant=0.7, seed=seed
    )


def higher_order_game(n=8, seed=3):
    return random_sparse_function(n, 20, orders=(1, 2, 3, 4), basis="mobius", amplitudes=(0.1, 1.0), seed=seed)


def table_function(n, seed):
    """An arbitrary set function (random table, every order present)."""
    values = np.random.default_rng(seed).normal(size=1 << n)

    def f(masks):
        idx = (np.asarray(masks, dtype=np.int64) << np.arange(n)).sum(axis=1)
        return values[idx]

    f.n = n
    return f


def dict_close(a: dict, b: dict, atol: float) -> float:
    keys = set(a) | set(b)
    worst = max(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys)
    assert worst <= atol, worst
    return worst


def ablated(n, units):
    mask = np.ones(n, dtype=bool)
    mask[list(units)] = False
    return mask


def loglog_slope(budgets, errors):
    return float(np.polyfit(np.log(budgets), np.log(errors), 1)[0])


# ---------------------------------------------------------------- exports
def test_lazy_exports_point_at_the_baselines():
    assert sm.pairwise is baselines.pairwise
    assert sm.lasso is baselines.lasso
    assert sm.shapley_sampling is baselines.shapley_sampling
    assert sm.banzhaf_sampling is baselines.banzhaf_sampling


# ---------------------------------------------------------------- pairwise
def test_pairwise_equals_exhaustive_on_a_pairwise_game():
    f = pairwise_game()
    exact = sm.exhaustive(f)
    result = sm.pairwise(f)
    assert result.n_evaluations == 1 + f.n + comb(f.n, 2)
    assert result.algorithm == "pairwise"
    dict_close(result.mobius(), exact.mobius(), 1e-10)
    dict_close(result.fourier, exact.fourier, 1e-10)
    np.testing.assert_allclose(result.shapley_values(), exact.shapley_values(), atol=1e-10)
    np.testing.assert_allclose(result.predict(all_masks(f.n)), f.clean(all_masks(f.n)), atol=1e-10)


def test_pairwise_reproduces_any_function_with_at_most_two_units_ablated():
    n = 8
    f = table_function(n, seed=0)
    result = sm.pairwise(f)
    rows = [ablated(n, ())] + [ablated(n, (i,)) for i in range(n)] + [ablated(n, p) for p in combinations(range(n), 2)]
    masks = np.array(rows)
    np.testing.assert_allclose(result.predict(masks), f(masks), atol=1e-12)
    # the raw scores are the textbook definitions, computed here from f directly
    clean = f(ablated(n, ())[None])[0]
    for (i, j), score in zip(result.pairs.tolist(), result.pair_scores):
        d_ij = f(ablated(n, (i, j))[None])[0] - clean
        d_i = f(ablated(n, (i,))[None])[0] - clean
        d_j = f(ablated(n, (j,))[None])[0] - clean
        assert score == pytest.approx(d_ij - d_i - d_j, abs=1e-12)
        assert result.mobius().get((i, j), 0.0) == pytest.approx(score, abs=1e-12)


def test_pairwise_screening_keeps_the_largest_single_effects():
    n = 10
    # units 0..3 matter alone and in pairs; 4..9 have no single effect but do interact (which screening misses)
    terms = {(0,): -2.0, (1,): 1.5, (2,): -1.0, (3,): 0.8, (0, 1): 0.6, (2, 3): -0.4, (1, 3): 0.3}
    g = SparseFunction(n, terms, basis="mobius")
    oracle = sm.exhaustive(g).mobius()
    f = Recorder(g, n)
    result = sm.pairwise(f, screen=4)
    assert result.n_evaluations == 1 + n + comb(4, 2) == sum(f.calls)
    assert result.params["candidates"] == [0, 1, 2, 3]
    pair_terms = {k: v for k, v in result.mobius().items() if len(k) == 2}
    assert set(pair_terms) <= {p for p in combinations(range(4), 2)}
    for pair in combinations(range(4), 2):
        assert pair_terms.get(pair, 0.0) == pytest.approx(oracle.get(pair, 0.0), abs=1e-12)
    masks = np.array(
        [ablated(n, ())] + [ablated(n, (i,)) for i in range(n)] + [ablated(n, p) for p in combinations(range(4), 2)]
    )
    np.testing.assert_allclose(result.predict(masks), g(masks), atol=1e-12)


def test_pairwise_screen_at_least_n_is_no_screening_and_bad_screens_fail():
    f = pairwise_game(n=6)
    assert sm.pairwise(f, screen=6).n_evaluations == sm.pairwise(f).n_evaluations == 1 + 6 + 15
    for bad in (1, 0, -3, 2.5, "3"):
        with pytest.raises(ValueError, match="screen"):
            sm.pairwise(f, screen=bad)


def test_pairwise_batches_and_carries_labels_and_ids():
    n = 7
    g = pairwise_game(n)
    labels = [f"L0H{i}" for i in range(n)]
    ids = [f"blocks.0.attn.hook_z[{i}]" for i in range(n)]
    f = Recorder(g, n, labels=labels, ids=ids)
    result = sm.pairwise(f)
    assert f.calls == [n + 1, comb(n, 2)]  # two large batches: singles, then pairs
    assert result.labels == labels and result.ids == ids
    f.calls.clear()
    sm.pairwise(f, batch_size=5)
    assert max(f.calls) <= 5 and sum(f.calls) == 1 + n + comb(n, 2)


# ---------------------------------------------------------------- lasso
@pytest.mark.parametrize("basis", ["fourier", "mobius"])
def test_lasso_recovers_a_pairwise_game(basis):
    f = pairwise_game()
    exact = sm.exhaustive(f)
    result = sm.lasso(f, budget=1500, max_order=2, basis=basis, seed=0)
    assert result.n_evaluations == 1500
    assert result.params["basis"] == basis and result.params["n_features"] == 10 + 45
    dict_close(result.mobius(), exact.mobius(), 1e-6)
    assert result.faithfulness(f.clean, n_samples=500, seed=9) > 1 - 1e-10


def test_lasso_is_sparse_and_faithful_on_a_larger_game():
    f = random_sparse_function(24, 12, orders=(1, 2), basis="fourier", amplitudes=(0.2, 1.0), seed=5)
    result = sm.lasso(f, budget=800, max_order=2, seed=1)
    truth = f.truth.fourier
    dict_close({k: v for k, v in result.fourier.items() if k}, {k: v for k, v in truth.items() if k}, 1e-6)


def test_lasso_refuses_a_design_that_does_not_fit_before_evaluating():
    f = Recorder(pairwise_game(), 10)
    with pytest.raises(ValueError, match=r"55 monomial features.*GiB"):
        sm.lasso(f, budget=1000, max_order=2, max_memory=1000)
    big = Recorder(lambda m: np.zeros(len(m)), 5000)
    features = comb(5000, 1) + comb(5000, 2) + comb(5000, 3)
    with pytest.raises(ValueError, match=f"{features:,} monomial features"):
        sm.lasso(big, budget=1000, max_order=3)  # ≈ 0.5 PB: refused on any machine
    assert f.calls == [] and big.calls == []


def test_lasso_rejects_bad_arguments_before_evaluating():
    f = Recorder(pairwise_game(), 10)
    with pytest.raises(ValueError, match="too small"):
        sm.lasso(f, budget=9, cv=5)
    with pytest.raises(ValueError, match="max_order"):
        sm.lasso(f, budget=100, max_order=11)
    with pytest.raises(ValueError, match="basis"):
        sm.lasso(f, budget=100, basis="haar")
    with pytest.raises(ValueError, match="budget"):
        sm.lasso(f, budget=0)
    assert f.calls == []


# ---------------------------------------------------------------- Shapley sampling
def test_shapley_sampling_converges_like_one_over_sqrt_m():
    f = higher_order_game()
    exact = sm.exhaustive(f).shapley_values()
    n = f.n
    perms = [16, 64, 256, 1024]
    budgets, rmse, z2 = [], [], []
    for p in perms:
        budget = 2 + p * (n - 1)
        errs = []
        for seed in range(12):
            r = sm.shapley_sampling(f, budget=budget, seed=seed, antithetic=False)
            assert r.n_evaluations == budget
            err = r.shapley_values() - exact
            errs.append(err)
            z2.extend((err / r.standard_errors) ** 2)
        budgets.append(budget)
        rmse.append(float(np.sqrt(np.mean(np.square(errs)))))
    slope = loglog_slope(budgets, rmse)
    assert -0.65 < slope < -0.35, (slope, rmse)
    assert 0.6 < float(np.mean(z2)) < 1.6  # standard errors are calibrated


def test_antithetic_shapley_is_exact_on_pairwise_games_and_converges_otherwise():
    f = pairwise_game(n=9)
    r = sm.shapley_sampling(f, budget=2 + 4 * 8, seed=0)
    np.testing.assert_allclose(r.shapley_values(), sm.exhaustive(f).shapley_values(), atol=1e-12)
    g = higher_order_game()
    exact = sm.exhaustive(g).shapley_values()
    errors = [
        np.abs(sm.shapley_sampling(g, budget=b, seed=1).shapley_values() - exact).max()
        for b in (2 + 7 * 32, 2 + 7 * 2048)
    ]
    assert errors[1] < errors[0] / 3


def test_shapley_surrogate_is_additive_and_efficient():
    n = 7
    f = table_function(n, seed=2)
    r = sm.shapley_sampling(f, budget=2 + 6 * 10, seed=4)
    empty, full = f(np.zeros((1, n), bool))[0], f(np.ones((1, n), bool))[0]
    np.testing.assert_allclose(r.shapley_values(), r.estimates)
    np.testing.assert_allclose(r.banzhaf_values(), r.estimates)  # first-order surrogate: SV = BV
    np.testing.assert_allclose(r.params["estimates"], r.estimates)
    assert len(r.params["standard_errors"]) == n
    assert float(np.sum(r.estimates)) == pytest.approx(full - empty, abs=1e-12)
    assert r.predict(np.zeros((1, n), bool))[0] == pytest.approx(empty, abs=1e-12)
    assert r.predict(np.ones((1, n), bool))[0] == pytest.approx(full, abs=1e-12)
    mobius = r.mobius()
    assert max(len(k) for k in mobius) == 1
    assert all(mobius[(i,)] == pytest.approx(r.estimates[i], abs=1e-12) for i in range(n))


def test_shapley_sampling_rejects_a_too_small_budget_before_evaluating():
    f = Recorder(pairwise_game(n=6), 6)
    with pytest.raises(ValueError, match="too small"):
        sm.shapley_sampling(f, budget=2 + 3 * 5)  # three permutations: not two antithetic pairs
    with pytest.raises(ValueError, match="too small"):
        sm.shapley_sampling(f, budget=2 + 5, antithetic=False)
    assert f.calls == []


# ---------------------------------------------------------------- Banzhaf MSR
def test_banzhaf_msr_converges_like_one_over_sqrt_m():
    f = higher_order_game(n=8, seed=4)
    exact = sm.exhaustive(f).banzhaf_values()
    budgets = [100, 400, 1600, 6400]
    rmse, z2 = [], []
    for budget in budgets:
        errs = []
        for seed in range(12):
            r = sm.banzhaf_sampling(f, budget=budget, seed=seed)
            assert r.n_evaluations == budget
            err = r.banzhaf_values() - exact
            errs.append(err)
            z2.extend((err / r.standard_errors) ** 2)
        rmse.append(float(np.sqrt(np.mean(np.square(errs)))))
    slope = loglog_slope(budgets, rmse)
    assert -0.65 < slope < -0.35, (slope, rmse)
    assert 0.6 < float(np.mean(z2)) < 1.6


def test_antithetic_banzhaf_converges_and_its_surrogate_is_the_order_one_fit():
    f = higher_order_game(n=8, seed=4)
    exact = sm.exhaustive(f)
    r = sm.banzhaf_sampling(f, budget=20000, seed=0, antithetic=True)
    assert r.n_evaluations == 20000
    np.testing.assert_allclose(r.banzhaf_values(), exact.banzhaf_values(), atol=6 * r.standard_errors.max())
    np.testing.assert_allclose(r.shapley_values(), r.estimates)
    # constant = sample mean of f, close to the exact mean F(∅)
    assert r.fourier[()] == pytest.approx(exact.fourier[()], abs=0.05)
    assert max(len(k) for k in r.fourier) == 1


def test_banzhaf_sampling_rejects_a_too_small_budget_before_evaluating():
    f = Recorder(pairwise_game(n=10), 10)
    with pytest.raises(ValueError, match="too small"):
        sm.banzhaf_sampling(f, budget=3)
    with pytest.raises(ValueError, match="too small"):
        sm.banzhaf_sampling(f, budget=3, antithetic=True)
    assert f.calls == []
