"""ProxySPEX against oracles: planted spectra (known truth), exhaustive enumeration, and SPEX.

Faithfulness is always measured against the true function (its clean values on fresh masks, or all
2^n masks), never against the algorithm's own output.
"""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.algorithms.proxyspex import design_masks, proxyspex
from spex_mech.synthetic import random_sparse_function
from spex_mech.transforms import all_masks
from spex_mech.valuefn import uniform_masks

HAS_LGB = importlib.util.find_spec("lightgbm") is not None
HAS_XGB = importlib.util.find_spec("xgboost") is not None


def held_out_r2(result, f, n_samples=2000, seed=99):
    masks = uniform_masks(f.n, n_samples, seed)
    return result.faithfulness(f.clean, masks=masks, values=f.clean(masks))


def dense_fourier(result) -> np.ndarray:
    table = np.zeros(1 << result.n)
    for units, value in result.fourier.items():
        table[sum(1 << u for u in units)] += value
    return table


def table_game(values: np.ndarray, labels=None):
    """A value function that looks up a full table of f (bit j of the row index = unit j)."""
    n = values.shape[0].bit_length() - 1

    def game(masks):
        return values[(np.asarray(masks, dtype=np.int64) << np.arange(n)).sum(axis=1)]

    game.n = n
    if labels is not None:
        game.labels = labels
    return game


# ------------------------------------------------------------------------------- hierarchical spectra


def test_hierarchical_spectrum_matches_spex_with_a_fifth_of_its_evaluations():
    f = random_sparse_function(64, 15, orders=(1, 2, 3), basis="mobius", seed=4)
    reference = sm.spex(f, max_order=3, b=5, seed=0)
    budget = reference.n_evaluations // 5
    result = proxyspex(f, budget=budget, max_order=3, seed=0)
    assert result.n_evaluations <= reference.n_evaluations / 5
    r2_spex, r2_proxy = held_out_r2(reference, f), held_out_r2(result, f)
    assert r2_spex > 0.99
    assert r2_proxy >= r2_spex - 0.05
    # the largest planted Möbius terms are the largest found, with their values (to the refit's accuracy)
    planted = sorted(f.truth.mobius().items(), key=lambda kv: -abs(kv[1]))[:5]
    found = result.mobius()
    assert {u for u, _ in planted} == {t.units for t in result.top(5, basis="mobius")}
    for units, value in planted:
        assert found[units] == pytest.approx(value, rel=0.15)


def test_agrees_with_exhaustive_on_14_units():
    f = random_sparse_function(14, 10, orders=(1, 2, 3, 4), basis="mobius", seed=7)
    exact = sm.exhaustive(f)
    result = proxyspex(f, budget=1500, seed=1)
    truth = dense_fourier(exact)
    got = dense_fourier(result)
    assert np.max(np.abs(got - truth)) <= 1e-3 * np.max(np.abs(truth))
    masks = all_masks(14)
    assert result.faithfulness(f, masks=masks, values=exact.values_table) > 0.9999
    assert result.params["validation_r2"] > 0.999


@pytest.fixture(scope="module")
def induction_game():
    from spex_mech.zoo import induction

    return induction.game()


@pytest.fixture(scope="module")
def induction_exact(induction_game):
    return sm.exhaustive(induction_game)


def test_induction_model_against_exhaustive_and_spex(induction_game, induction_exact):
    """The demo model's 8-head game. SPEX's design covers all 256 masks at n = 8; ProxySPEX gets within
    0.05 of it with half of that, run on the real game (its values = the exhaustive table's)."""
    values = induction_exact.values_table
    masks = all_masks(8)
    lookup = table_game(values, labels=induction_game.labels)  # same function as the game, cheaper
    reference = sm.spex(lookup, max_order=5, seed=0)
    budget = reference.n_evaluations // 2
    result = proxyspex(induction_game, budget=budget, seed=0)
    assert result.n_evaluations == budget
    r2_spex = reference.faithfulness(lookup, masks=masks, values=values)
    r2_proxy = result.faithfulness(lookup, masks=masks, values=values)
    assert r2_proxy >= r2_spex - 0.05
    assert result.labels == list(induction_game.labels)
    # the strongest pairwise interactions agree with the exact Möbius transform
    exact_top = {t.units for t in induction_exact.top(2, basis="mobius", order=2)}
    found_top = {t.units for t in result.top(2, basis="mobius", order=2)}
    assert exact_top == found_top


def test_induction_token_game_matches_spex_with_a_fifth_of_its_evaluations():
    """The demo induction model under the feature lens: one prompt's 32 tokens (zeroed at the embedding).

    The 8-head game is too small for the 1/5 check (SPEX needs 207 of its 256 masks; 41 masks cannot
    pin down the ~24 Möbius terms that carry 94 % of its variance), so the check runs on this game
    of the same model, against held-out evaluations of the real model.
    """
    from spex_mech.engine import AblationGame
    from spex_mech.units.tokens import TokenUnits
    from spex_mech.zoo import induction

    model = induction.load()
    toks, reads = induction.prompts(1, 100)
    game = AblationGame(model, TokenUnits(model, toks, mask="embed_zero"), toks, induction.metric(reads))
    test = uniform_masks(game.n, 1000, seed=5)
    values = game(test)
    reference = sm.spex(game, max_order=4, b=5, seed=0)
    result = proxyspex(game, budget=reference.n_evaluations // 5, seed=0)
    assert result.n_evaluations <= reference.n_evaluations / 5
    r2_spex = reference.faithfulness(game, masks=test, values=values)
    r2_proxy = result.faithfulness(game, masks=test, values=values)
    assert r2_spex > 0.85
    assert r2_proxy >= r2_spex - 0.05


# ------------------------------------------------------------------- small budgets: honest selection


def test_validation_r2_is_honest_with_few_masks():
    """With few masks the support is chosen by cross-validation; each fold's candidates must come from
    a proxy that did not see the fold (else the reported R² was 0.82 where the truth was 0.47)."""
    f = random_sparse_function(1024, 40, orders=(1, 2, 3, 4), basis="mobius", seed=2)
    result = proxyspex(f, budget=500, seed=2)
    r2 = held_out_r2(result, f)
    assert result.params["validation_r2"] <= r2 + 0.05
    assert r2 > 0.6


BACKENDS = [
    "sklearn",
    pytest.param("lightgbm", marks=pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")),
    pytest.param("xgboost", marks=pytest.mark.skipif(not HAS_XGB, reason="xgboost not installed")),
]


@pytest.mark.parametrize("proxy", BACKENDS)
def test_the_early_stopped_proxy_is_the_first_folds_proxy(proxy):
    """Cross-validation reuses the early-stopped fit as the proxy of its first fold (held out: the
    validation split): it must be the same trees as refitting that configuration on the training masks."""
    from spex_mech.algorithms import trees
    from spex_mech.algorithms.proxy_models import fit_proxy, refit_proxy

    f = random_sparse_function(20, 8, orders=(1, 2, 3), basis="mobius", seed=4)
    masks = uniform_masks(20, 400, seed=0)
    values = f.clean(masks)
    train, val = np.arange(80, 400), np.arange(80)
    test = all_masks(20)[::37]
    for fit in fit_proxy(proxy, masks[train], values[train], masks[val], values[val], depths=(3, 5), seed=3):
        again = refit_proxy(fit, masks[train], values[train], seed=3)
        early, refit = trees.tree_table(fit.model, 20), trees.tree_table(again, 20)
        assert early.n_trees == refit.n_trees == fit.n_trees
        np.testing.assert_allclose(early.predict(test), refit.predict(test), rtol=0, atol=1e-9)


def test_cross_validation_is_skipped_only_when_one_split_already_explains_nearly_everything():
    easy = random_sparse_function(16, 6, orders=(1, 2, 3), basis="mobius", seed=5)
    hard = random_sparse_function(256, 30, orders=(1, 2, 3, 4), basis="mobius", seed=0)
    quick = proxyspex(easy, budget=300, seed=0)
    assert quick.params["cv_folds"] == 1 and quick.params["split_validation_r2"] >= 0.99
    assert held_out_r2(quick, easy) > 0.99
    forced = proxyspex(easy, budget=300, seed=0, cross_validation=True)
    assert forced.params["cv_folds"] == 5 and forced.params["split_validation_r2"] is None
    assert held_out_r2(forced, easy) > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        noisy = proxyspex(hard, budget=200, seed=0)  # one split explains far less: cross-validate
    assert noisy.params["cv_folds"] == 5 and noisy.params["split_validation_r2"] < 0.99
    single = proxyspex(easy, budget=300, seed=0, cross_validation=False)
    assert single.params["cv_folds"] == 1
    with pytest.raises(ValueError, match="cross_validation must be"):
        proxyspex(easy, budget=300, cross_validation="yes")


def test_mobius_basis_recovers_exact_and_terms():
    """A Möbius-sparse function is refitted in the AND basis: exact coefficients, Fourier output."""
    f = random_sparse_function(20, 8, orders=(1, 2, 3, 4), basis="mobius", seed=11)
    result = proxyspex(f, budget=1500, seed=0, basis="mobius", grow=False)
    assert result.params["basis"] == "mobius"
    truth = {t: v for t, v in f.truth.mobius().items() if abs(v) > 1e-9 and t}
    found = {t: v for t, v in result.mobius().items() if abs(v) > 1e-3}  # smallest planted: 0.018
    assert set(found) == set(truth)
    for term, value in truth.items():
        assert found[term] == pytest.approx(value, abs=1e-4)
    masks = all_masks(20)[::97]
    np.testing.assert_allclose(result.predict(masks), f.clean(masks), atol=1e-4)


def test_auto_basis_beats_the_fourier_read_out_on_hierarchical_spectra():
    f = random_sparse_function(64, 20, orders=(1, 2, 3, 4), basis="mobius", seed=1)
    fourier = proxyspex(f, budget=250, seed=1, basis="fourier")
    auto = proxyspex(f, budget=250, seed=1)
    assert auto.params["basis"] == "mobius"
    assert held_out_r2(auto, f) > held_out_r2(fourier, f) + 0.05


def test_greedy_order_puts_the_planted_terms_first():
    """Orthogonal least squares over a candidate pool of planted terms, their subsets and decoys."""
    from spex_mech.algorithms.proxyspex import Ranking, greedy_order
    from spex_mech.results import spectrum as spec

    n = 30
    planted = {(0, 1, 2): 1.0, (3, 4): -0.7, (5,): 0.4, (6, 7, 8, 9): 0.9}
    masks = uniform_masks(n, 400, seed=3)
    y = spec.evaluate_mobius(spec.canonical_keys(list(planted)), np.array(list(planted.values())), masks, n)
    decoys = [(0, 1), (1, 2), (0,), (3,), (6, 7, 8), (7, 8, 9), (10, 11), (12,), (13, 14, 15), (6, 7)]
    pool = decoys + list(planted)  # the planted terms last: the proxy's order would rank them low
    keys = spec.canonical_keys(pool, width=4)
    ranking = Ranking(keys[:0], np.zeros(0), keys, np.zeros(len(pool)), 0.0, "mobius")
    ordered = greedy_order(ranking, masks, y, np.arange(400), n, steps=len(pool))
    first = {tuple(int(u) for u in row if u >= 0) for row in ordered.ranked[: len(planted)]}
    assert first == set(planted)


def test_greedy_order_projects_out_the_base_terms():
    """Base terms (always kept) enter first: a candidate that only copies a base term is not taken,
    and a base wider than the sample (more columns than masks) leaves nothing to order, without error."""
    from spex_mech.algorithms.proxyspex import Ranking, greedy_order
    from spex_mech.results import spectrum as spec

    n = 30
    planted = {(0, 1, 2): 1.0, (3, 4): -0.7, (5,): 2.0, (6, 7, 8, 9): 0.9}
    masks = uniform_masks(n, 400, seed=4)
    y = spec.evaluate_mobius(spec.canonical_keys(list(planted)), np.array(list(planted.values())), masks, n)
    base = spec.canonical_keys([(5,), (11,)], width=4)
    pool = [(10, 12), (5,), (0, 1), (13, 14), (0, 1, 2), (3, 4), (6, 7, 8, 9)]
    keys = spec.canonical_keys(pool, width=4)
    ranking = Ranking(base, np.zeros(2), keys, np.zeros(len(pool)), 0.0, "mobius")
    ordered = greedy_order(ranking, masks, y, np.arange(400), n, steps=len(pool))
    first = {tuple(int(u) for u in row if u >= 0) for row in ordered.ranked[:3]}
    assert first == {(0, 1, 2), (3, 4), (6, 7, 8, 9)}
    wide = Ranking(
        spec.canonical_keys([(i,) for i in range(n)], width=4), np.zeros(n), keys, np.zeros(len(pool)), 0.0, "mobius"
    )
    few = np.arange(20)  # 30 base columns, 20 masks: the base alone fits every row
    np.testing.assert_array_equal(greedy_order(wide, masks, y, few, n, steps=5).ranked, keys)
    with warnings.catch_warnings():  # 60 kept singletons on 40 masks: a poor (and flagged) fit, but no error
        warnings.simplefilter("ignore", UserWarning)
        result = proxyspex(
            random_sparse_function(60, 6, orders=(1, 2), basis="mobius", seed=0), budget=40, seed=0, singletons="all"
        )
    assert result.params["singletons"] == "all" and np.isfinite(result.params["validation_r2"])


def test_greedy_order_grows_only_when_the_support_needs_more_terms(monkeypatch):
    """The greedy order starts with 48 steps and is redone with 4× more only when the chosen prefix
    reaches past 3/4 of them: a function with 90 interactions triggers it, one with 8 does not."""
    import spex_mech.algorithms.proxyspex.support as module

    calls = []
    original = module.greedy_order

    def recording(ranking, masks, values, rows, n, steps):
        calls.append(steps)
        return original(ranking, masks, values, rows, n, steps)

    monkeypatch.setattr(module, "greedy_order", recording)
    many = random_sparse_function(100, 90, orders=(2, 3), basis="mobius", seed=5)
    result = proxyspex(many, budget=2500, seed=0, basis="mobius", grow=False, depths=(5,))
    assert calls[0] == 48 and max(calls) == 192
    assert result.params["n_interactions"] > 48 and held_out_r2(result, many) > 0.99
    calls.clear()
    few = random_sparse_function(100, 8, orders=(2, 3), basis="mobius", seed=5)
    proxyspex(few, budget=2500, seed=0, basis="mobius", grow=False, depths=(5,))
    assert set(calls) == {48}


def test_unique_rows_matches_numpy_unique():
    from spex_mech.results.spectrum import _unique_rows

    rng = np.random.default_rng(0)
    keys = np.sort(rng.integers(-1, 50, size=(5000, 4)), axis=1)
    uniq, inverse = _unique_rows(keys)
    ref, ref_inv = np.unique(keys, axis=0, return_inverse=True)
    np.testing.assert_array_equal(uniq, ref)
    np.testing.assert_array_equal(inverse, ref_inv.reshape(-1))
    wide = rng.integers(-1, 1 << 20, size=(300, 4))  # too wide for one int64 code: the row-wise path
    u2, i2 = _unique_rows(wide)
    r2, ri2 = np.unique(wide, axis=0, return_inverse=True)
    np.testing.assert_array_equal(u2, r2)
    np.testing.assert_array_equal(i2, ri2.reshape(-1))


# ------------------------------------------------------------------------- the known failure mode


def test_non_hierarchical_spectrum_does_not_claim_success():
    """Sparse parities of order 4–5 with no subsets (ProxySPEX paper App. B.4): trees see nothing.

    The result must say so: a UserWarning, a low validation R² in params, and the held-out
    faithfulness (against the true function) shows the same shortfall.
    """
    f = random_sparse_function(32, 8, orders=(4, 5), basis="fourier", seed=3)
    with pytest.warns(UserWarning, match="not a faithful summary"):
        result = proxyspex(f, budget=1500, seed=0)
    r2 = held_out_r2(result, f)
    assert r2 < 0.3
    assert result.params["validation_r2"] < 0.3
    assert abs(result.params["validation_r2"] - r2) < 0.15


# ---------------------------------------------------------------------------------- confirmation


def test_confirmation_checks_top_interactions_against_f():
    f = random_sparse_function(20, 8, orders=(2, 3), basis="mobius", seed=11)
    result = proxyspex(f, budget=800, seed=0, confirm=3, confirm_bases=2)
    rows = result.params["confirmation"]
    assert len(rows) == 3
    assert result.n_evaluations == 800 + sum(r["evaluations"] for r in rows)
    truth = f.truth.mobius()
    for row in rows:
        units = tuple(row["units"])
        assert row["evaluations"] == 2 * 2 ** len(units)
        # base 0 is the clean model: Δ_S f(1) = Σ_{A ⊇ S} a(A) from the planted truth
        expected = sum(v for a, v in truth.items() if set(units) <= set(a))
        assert row["measured"][0] == pytest.approx(expected, abs=1e-9)
        assert row["confirmed"]
    assert result.params["confirmed"] == 3


def test_confirmation_flags_a_wrong_claim():
    """A surrogate that is wrong about an interaction is not confirmed by the real f."""
    from spex_mech.algorithms.proxyspex import confirm_interactions

    f = random_sparse_function(10, 3, orders=(2,), basis="mobius", seed=2)
    wrong = sm.Interactions.from_mobius({(0, 1): 5.0, (2, 3): -4.0}, 10)
    rows = confirm_interactions(f, wrong, 2)
    truth = f.truth.mobius()
    for row in rows:
        if tuple(row["units"]) not in truth:
            assert not row["confirmed"]


# ---------------------------------------------------------------------------------- proxies and API


@pytest.mark.parametrize(
    "proxy",
    [
        "sklearn",
        pytest.param("lightgbm", marks=pytest.mark.skipif(not HAS_LGB, reason="lightgbm not installed")),
        pytest.param("xgboost", marks=pytest.mark.skipif(not HAS_XGB, reason="xgboost not installed")),
    ],
)
def test_each_proxy_backend_recovers_a_planted_function(proxy):
    f = random_sparse_function(24, 6, orders=(1, 2, 3), basis="mobius", seed=5)
    result = proxyspex(f, budget=1200, proxy=proxy, max_order=3, seed=0)
    assert result.params["proxy"] == proxy
    assert result.max_order <= 3
    assert held_out_r2(result, f) > 0.99


def test_an_estimator_can_be_the_proxy_and_max_order_caps_the_kept_orders():
    from sklearn.ensemble import GradientBoostingRegressor

    f = random_sparse_function(16, 6, orders=(1, 2, 3), basis="mobius", seed=8)
    est = GradientBoostingRegressor(n_estimators=150, max_depth=4, random_state=0)
    result = proxyspex(f, budget=600, proxy=est, max_order=2, seed=0)
    assert result.max_order <= 2
    assert result.params["proxy"] == "GradientBoostingRegressor"
    assert held_out_r2(result, f) > 0.5


def test_many_units_few_masks_ranks_the_singletons():
    """n = 300 units, 400 masks: the trees touch far more units than the sample can refit, so the
    singletons compete on |F| instead of all being kept (held-out R² against the truth)."""
    f = random_sparse_function(300, 10, orders=(1, 2, 3), basis="mobius", seed=3)
    result = proxyspex(f, budget=400, seed=0)
    assert result.params["singletons"] == "ranked"
    assert held_out_r2(result, f) > 0.95


def test_refine_off_keeps_the_proxy_coefficients_and_a_fixed_count():
    f = random_sparse_function(16, 6, orders=(1, 2), basis="mobius", seed=9)
    result = proxyspex(f, budget=600, seed=0, refine=False, n_coefficients=4, singletons="all")
    orders = [len(u) for u in result.supports]
    assert orders.count(0) == 1 and orders.count(1) == 16 and sum(o >= 2 for o in orders) == 4
    assert held_out_r2(result, f) > 0.5


def test_errors_and_metadata():
    f = random_sparse_function(12, 4, orders=(1, 2), basis="mobius", seed=1)
    with pytest.raises(ValueError, match="budget"):
        proxyspex(f, budget=5)
    with pytest.raises(ValueError, match="unknown proxy"):
        proxyspex(f, budget=100, proxy="catboost")
    with pytest.raises(ValueError, match="exceed max_order"):
        proxyspex(f, budget=100, max_order=2, depths=(3,))
    with pytest.raises(ValueError, match="basis must be 'auto', 'fourier' or 'mobius', got 'walsh'"):
        proxyspex(f, budget=100, basis="walsh")
    result = proxyspex(f, budget=300, seed=2)
    assert result.algorithm == "proxyspex"
    assert result.n_evaluations == 300
    assert result.labels == f.labels
    assert result.params["basis"] in ("fourier", "mobius")
    for key in ("proxy_validation_r2", "validation_r2", "n_interactions", "fit_seconds", "extract_seconds"):
        assert key in result.params
    result.to_json()  # params stay JSON-serialisable


def test_missing_backend_is_a_clear_error(monkeypatch):
    import spex_mech.algorithms.proxyspex.proxy as pm

    real = importlib.util.find_spec
    monkeypatch.setattr(pm.importlib.util, "find_spec", lambda name, *a: None if name == "lightgbm" else real(name, *a))
    f = random_sparse_function(8, 2, orders=(1,), basis="mobius", seed=0)
    with pytest.raises(ImportError, match="pip install lightgbm"):
        proxyspex(f, budget=50, proxy="lightgbm")


def test_small_n_design_has_no_repeats():
    masks = design_masks(8, 300, 0)
    assert masks.shape == (256, 8)
    codes = (masks.astype(np.int64) << np.arange(8)).sum(axis=1)
    assert np.unique(codes).shape[0] == 256
    wide = design_masks(40, 500, 0)
    assert wide.shape == (500, 40)
    assert abs(wide.mean() - 0.5) < 0.02
    # ProxySPEX on it then never pays for a repeated mask
    calls = []

    def f(m):
        calls.append(m.copy())
        return m.sum(axis=1).astype(float) + m[:, 0] * m[:, 1]

    f.n = 8
    result = proxyspex(f, budget=100, seed=0)
    seen = np.concatenate(calls)
    assert np.unique((seen.astype(np.int64) << np.arange(8)).sum(axis=1)).shape[0] == seen.shape[0] == 100
    assert result.faithfulness(f, masks=all_masks(8)) > 0.99
