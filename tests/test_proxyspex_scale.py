"""ProxySPEX's large-n regime (:mod:`spex_mech.algorithms.proxyspex.screen`) at moderate n.

Oracles: a one-shot uniform draw for the block-drawn masks, per-unit means computed directly for the
screening z-scores, planted sparse spectra (known units and coefficients, the clean function on
fresh masks) for the screen and the whole run, and ``screen=False`` for the unchanged small-n path.
"""

from __future__ import annotations

import importlib.util
import tracemalloc

import numpy as np
import pytest

import spex_mech.algorithms.proxyspex as package
from spex_mech import valuefn
from spex_mech.algorithms import ridge
from spex_mech.algorithms.proxyspex import LARGE_N, PostConfig, Ranking, proxyspex, screen_units
from spex_mech.algorithms.proxyspex import screen as screen_mod
from spex_mech.algorithms.proxyspex import support as support_mod
from spex_mech.algorithms.proxyspex.screen import large_n_proxy
from spex_mech.algorithms.proxyspex.support import column_cap
from spex_mech.synthetic import SparseFunction, random_sparse_function


def test_block_drawn_masks_equal_one_draw_and_leave_the_generator_alike(monkeypatch):
    """Masks drawn in row blocks equal one draw, and the generator ends in the same state."""
    monkeypatch.setattr(valuefn, "MASK_BLOCK_CELLS", 1000)  # many blocks, one of them partial
    for n, m in [(1, 7), (333, 50), (1500, 13), (4, 0)]:
        got_rng, want_rng = np.random.default_rng(5), np.random.default_rng(5)
        got = valuefn.uniform_masks(n, m, got_rng)
        want = want_rng.random((m, n)) < 0.5
        assert got.dtype == bool and got.shape == (m, n)
        assert np.array_equal(got, want)
        assert got_rng.random() == want_rng.random()


def test_marginal_z_matches_per_unit_means(monkeypatch):
    """The screen's z-scores equal the per-unit difference of means computed directly."""
    monkeypatch.setattr(screen_mod, "BLOCK_CELLS", 500)  # several row blocks
    rng = np.random.default_rng(1)
    masks = rng.random((300, 40)) < 0.5
    masks[:, 7] = True  # never removed: no contrast, z = 0
    values = 2.0 * masks[:, 3] - masks[:, 5] * masks[:, 9] + rng.standard_normal(300)
    rows = rng.permutation(300)[:240]
    z = screen_mod.marginal_z(masks, values[rows], rows)
    y = values[rows]
    sd = y.std(ddof=1)
    for i in range(40):
        if i == 7:
            assert z[i] == 0.0
            continue
        on = masks[rows, i]
        want = (y[on].mean() - y[~on].mean()) / (sd * np.sqrt(1 / on.sum() + 1 / (~on).sum()))
        assert z[i] == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_screen_keeps_planted_units_and_finds_a_hidden_one_on_the_residual():
    """The marginal pass keeps the planted units; the residual pass finds one hidden by stronger ones."""
    n, m = 3000, 2000
    # unit 11 moves the value by 0.3, hidden under unit 0's ±10: only the residual pass can see it
    f = SparseFunction(n, {(0,): 10.0, (11,): 0.3, (20, 21): 1.0, (30, 31, 32): 2.0}, basis="mobius")
    masks = valuefn.uniform_masks(n, m, np.random.default_rng(0))
    values = f.clean(masks)
    rows = np.arange(1600)
    kept = screen_units(masks, values, rows)
    planted = {0, 11, 20, 21, 30, 31, 32}
    assert planted <= set(kept.units.tolist())
    assert 11 not in set(np.nonzero(np.abs(screen_mod.marginal_z(masks, values[rows], rows)) >= 3.5)[0].tolist())
    assert kept.second_pass >= 1
    assert kept.units.shape[0] <= len(planted) + 10  # ~1.4 noise units expected per pass at |z| ≥ 3.5
    assert np.all(np.diff(kept.units) > 0)
    lifted = kept.lift_keys(np.array([[0, 1], [2, -1], [-1, -1]]))
    assert lifted.tolist() == [
        [kept.units[0], kept.units[1]],
        [kept.units[2], -1],
        [-1, -1],
    ]


def test_the_pair_residual_pass_finds_a_unit_hidden_under_an_interaction():
    """The pair-residual pass finds a weak unit hidden under a strong interaction."""
    n, m = 2000, 2000
    # the AND of units 0 and 1 leaves unit-variance on the singletons' residual; unit 9 moves the value by 0.1
    f = SparseFunction(n, {(0, 1): 4.0, (9,): 0.1}, basis="mobius")
    masks = valuefn.uniform_masks(n, m, np.random.default_rng(3))
    values = f.clean(masks)
    rows = np.arange(1600)
    kept = screen_units(masks, values, rows)
    on_singletons = screen_mod._singleton_residual(masks, values[rows], rows, np.array([0, 1]))
    assert abs(screen_mod.marginal_z(masks, on_singletons, rows)[9]) < 3.5  # the second pass cannot see it
    assert {0, 1, 9} <= set(kept.units.tolist())
    assert kept.third_pass >= 1


def test_the_pair_pass_shrinks_to_fit_few_masks(monkeypatch):
    """With few masks the pair pass fits fewer strong units, never more columns than half the rows."""
    n, m = 2000, 400
    # 30 strong units pass the first passes: 64 strong units' pairs would exceed half the 320 rows
    terms = {(i,): 1.0 for i in range(30)}
    terms[(100, 101)] = 6.0
    f = SparseFunction(n, terms, basis="mobius")
    masks = valuefn.uniform_masks(n, m, np.random.default_rng(4))
    values = f.clean(masks)
    rows = np.arange(320)
    fitted = []
    real = screen_mod._pair_residual

    def spy(masks_, values_, rows_, units, strong):
        fitted.append((units.shape[0], strong.shape[0]))
        return real(masks_, values_, rows_, units, strong)

    monkeypatch.setattr(screen_mod, "_pair_residual", spy)
    screen_units(masks, values, rows)
    assert len(fitted) == 1
    units, strong = fitted[0]
    assert strong >= 2 and 2 * (units + strong * (strong - 1) // 2 + 1) <= rows.shape[0]


def _planted_terms(n: int) -> dict:
    return {
        (5,): 1.0,
        (n - 3,): -0.8,
        (100, 2000): 1.5,
        (7, 3000, n - 1): 2.0,
        (4242,): 0.4,
        (50, 60): -0.7,
    }


def _planted(n: int) -> SparseFunction:
    return SparseFunction(n, _planted_terms(n), basis="mobius")


def test_large_n_regime_recovers_a_planted_spectrum():
    """Above LARGE_N the screened run recovers every planted term and the clean function."""
    n, m = LARGE_N + 904, 1500  # "auto" screens above LARGE_N
    f = _planted(n)
    result = proxyspex(f, budget=m, seed=0)
    params = result.params
    assert params["screened_units"] is not None and params["screened_units"] < 100
    assert result.n == n and result.n_evaluations == m
    mobius = {t.units: t.value for t in result.top(20, basis="mobius")}
    for units, value in _planted_terms(n).items():
        assert mobius.get(tuple(units), 0.0) == pytest.approx(value, abs=0.05), units
    test = valuefn.uniform_masks(n, 1000, np.random.default_rng(99))
    truth = f.clean(test)
    r2 = 1.0 - np.mean((result.predict(test) - truth) ** 2) / np.var(truth)
    assert r2 > 0.99
    assert params["validation_r2"] > 0.99


def _column_game(masks: np.ndarray) -> np.ndarray:
    """Return a planted game read off a few mask columns (no copy of the masks)."""
    return 1.0 * masks[:, 5] + 1.5 * (masks[:, 100] & masks[:, 2000]) - 0.7 * (masks[:, 50] & masks[:, 60])


_column_game.n = 30_000


def test_large_n_regime_makes_no_float_copy_of_the_design(monkeypatch):
    """The screened run's peak traced memory stays below one float32 copy of the bool design."""
    n, m = _column_game.n, 600
    monkeypatch.setattr(valuefn, "MASK_BLOCK_CELLS", 1 << 20)  # the draws' float64 blocks: 8 MB
    monkeypatch.setattr(screen_mod, "BLOCK_CELLS", 1 << 20)  # the screen's float32 blocks: 4 MB
    tracemalloc.start()
    result = proxyspex(_column_game, budget=m, seed=0, basis="mobius")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the bool design is m·n bytes; one float32 copy of it would be 4× that, a float64 one 8×
    assert peak < 3.0 * m * n, f"peak {peak / 1e6:.0f} MB for a {m * n / 1e6:.0f} MB bool design"
    assert result.params["screened_units"] is not None
    top = {t.units for t in result.top(3, basis="mobius", min_order=1)}
    assert top == {(5,), (100, 2000), (50, 60)}


def test_screen_auto_leaves_small_n_bit_identical_and_checks_its_argument():
    """screen='auto' is screen=False at small n, bit for bit; a bad value is refused."""
    f = _planted(4300)
    small = SparseFunction(64, {(1, 2): 1.0, (3,): 0.5, (4, 5, 6): -0.7}, basis="mobius")
    auto = proxyspex(small, budget=300, seed=1)
    off = proxyspex(small, budget=300, seed=1, screen=False)
    assert np.array_equal(auto.keys, off.keys)
    assert np.array_equal(auto.coefficients.view(np.int64), off.coefficients.view(np.int64))
    assert auto.params["screened_units"] is None
    forced = proxyspex(small, budget=300, seed=1, screen=True)
    assert forced.params["screened_units"] <= 64
    assert set(forced.top(3, basis="mobius", min_order=1)[0].units) <= {
        1,
        2,
        3,
        4,
        5,
        6,
    }
    with pytest.raises(ValueError, match="screen"):
        proxyspex(f, budget=100, screen="yes")


def test_auto_proxy_is_lightgbm_only_when_screening():
    """proxy='auto' becomes LightGBM only in the screened regime."""
    has_lgb = importlib.util.find_spec("lightgbm") is not None
    assert large_n_proxy("auto", True) == ("lightgbm" if has_lgb else "auto")
    assert large_n_proxy("auto", False) == "auto"
    assert large_n_proxy("sklearn", True) == "sklearn"


def test_column_cap_keeps_the_general_caps_and_adds_a_ranked_one():
    """Cap the prefix search at min(ranked, 4000 − base, half the training rows − base with a refit, max_ranked)."""
    ranking = Ranking(
        base_keys=np.zeros((5, 1), dtype=np.int64),
        base_vals=np.zeros(5),
        ranked=np.zeros((50, 2), dtype=np.int64),
        ranked_vals=np.zeros(50),
        const=0.0,
        basis="fourier",
    )
    assert column_cap(ranking, 1000, 800, True, None) == 50
    assert column_cap(ranking, 1000, 800, True, None, max_ranked=20) == 20  # the base terms do not count
    assert column_cap(ranking, 1000, 60, True, None) == 25  # 60 // 2 − 5
    assert column_cap(ranking, 1000, 60, True, None, max_ranked=40) == 25
    assert column_cap(ranking, 1000, 60, False, None, max_ranked=3) == 3
    assert column_cap(ranking, 1000, 60, True, 7, max_ranked=3) == 7  # a fixed size is kept as asked


def _recording(monkeypatch) -> list:
    """Record the columns of every ridge path the support search scores."""
    seen = []

    def recording_path(X, y, X_val, y_val, alphas):
        seen.append(X.shape[1])
        return ridge.ridge_path(X, y, X_val, y_val, alphas)

    monkeypatch.setattr(support_mod, "ridge_path", recording_path)
    return seen


def test_large_n_regime_caps_the_ranked_columns_of_the_support_search(monkeypatch):
    """Screened, every ridge path scores at most the base terms + LARGE_N_RANKED; unscreened, wider prefixes."""
    seen = _recording(monkeypatch)
    monkeypatch.setattr(package, "LARGE_N_RANKED", 40)
    f = random_sparse_function(64, 30, orders=(1, 2, 3), basis="mobius", seed=3)
    capped = proxyspex(f, budget=1200, seed=0, screen=True)
    kept = capped.params["screened_units"]
    assert seen and max(seen) <= kept + 1 + 40  # ∅, the kept singletons, 40 ranked
    seen.clear()
    free = proxyspex(f, budget=1200, seed=0, screen=False)
    assert max(seen) > 64 + 1 + 40  # the same problem unscreened scores wider prefixes
    assert free.params["screened_units"] is None


def test_the_ranked_cap_leaves_room_for_interactions_beside_many_kept_singletons(monkeypatch):
    """With more kept units than the cap, planted pairs are still found (the base terms do not use up the cap)."""
    monkeypatch.setattr(package, "LARGE_N_RANKED", 8)
    terms = {(i,): 0.3 + 0.01 * i for i in range(24)}
    terms.update({(30, 31): 1.0, (32, 33): -0.8})
    f = SparseFunction(40, terms, basis="mobius")
    result = proxyspex(f, budget=1500, seed=0, screen=True, post=PostConfig(refit="ridge"))
    assert result.params["screened_units"] >= 24 > 8
    mobius = result.mobius()
    assert mobius.get((30, 31), 0.0) == pytest.approx(1.0, abs=0.05)
    assert mobius.get((32, 33), 0.0) == pytest.approx(-0.8, abs=0.05)
