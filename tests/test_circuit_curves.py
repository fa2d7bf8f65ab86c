"""Faithfulness curves, CPR/CMD and the minimal faithful circuit (issue 19), checked against oracles:
an independent per-circuit loop, hand-computed areas, exhaustive truth on planted functions and models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.circuits import (
    MIB_PERCENTAGES,
    FaithfulnessWarning,
    area_metrics,
    faithfulness_curve,
    faithfulness_curves,
    minimal_circuit,
    ranking,
    size_grid,
    unit_scores,
)
from spex_mech.synthetic import SparseFunction, random_sparse_function
from spex_mech.zoo import planted

# f = 2·AB + 1.5·(C ∨ D) − EFG over 10 units: the planted model's spectrum, as a plain function
PLANTED = {(0, 1): 2.0, (2,): 1.5, (3,): 1.5, (2, 3): -1.5, (4, 5, 6): -1.0}


class _Counting:
    def __init__(self, f):
        self.f, self.n, self.calls = f, f.n, 0

    def __call__(self, masks):
        self.calls += 1
        return self.f(masks)


def test_curves_equal_an_independent_loop_over_circuits():
    f = random_sparse_function(9, 14, orders=(1, 2, 3), seed=4, basis="mobius")
    truth = f.truth
    rankings = {kind: ranking(unit_scores(truth, kind)) for kind in ("mobius", "fourier", "shapley", "banzhaf")}
    counted = _Counting(f)
    curves = faithfulness_curves(counted, rankings, warn=False)
    assert counted.calls == 1  # every mask of every curve in one batch
    one = np.ones((1, 9), bool)
    clean = f.clean(one)[0]
    empty = f.clean(~one)[0]
    for name, curve in curves.items():
        assert curve.sizes == tuple(range(1, 10)) and curve.fractions == pytest.approx([k / 9 for k in range(1, 10)])
        for j, k in enumerate(curve.sizes):
            mask = np.zeros(9, bool)
            for unit in rankings[name][:k]:
                mask[unit] = True
            kept = f.clean(mask[None])[0]
            removed = f.clean(~mask[None])[0]
            assert curve.keep[j] == pytest.approx((kept - empty) / (clean - empty), abs=1e-12), (name, k)
            assert curve.ablate[j] == pytest.approx((removed - empty) / (clean - empty), abs=1e-12), (name, k)
        assert curve.keep[-1] == pytest.approx(1.0) and curve.ablate[-1] == pytest.approx(0.0)


def test_cpr_and_cmd_by_hand():
    # singles 0.2, 0.4, 0.6, −0.2 in ranking order: keep curve 0.2, 0.6, 1.2, 1.0 at x = ¼, ½, ¾, 1
    f = SparseFunction(4, {(0,): 0.2, (1,): 0.4, (2,): 0.6, (3,): -0.2}, basis="mobius")
    with pytest.warns(FaithfulnessWarning, match="leaves \\[0, 1\\]"):
        curve = faithfulness_curve(f, [0, 1, 2, 3])
    assert curve.keep == pytest.approx((0.2, 0.6, 1.2, 1.0))
    # CPR = ¼·[(0.2+0.6)/2 + (0.6+1.2)/2 + (1.2+1.0)/2] = ¼·2.4; CMD = ¼·[(0.8+0.4)/2 + (0.4+0.2)/2 + (0.2+0)/2] = ¼·1.0
    assert curve.cpr == pytest.approx(0.6)
    assert curve.cmd == pytest.approx(0.25)
    assert area_metrics([0.1, 0.5, 1.0], [0.0, 1.0, 1.0]) == pytest.approx((0.2 + 0.5, 0.2))


def test_unit_scores_by_hand():
    r = sm.Interactions.from_mobius({(): 5.0, (0,): -1.0, (0, 1): 0.6, (0, 1, 2): -0.3}, 4)
    np.testing.assert_allclose(unit_scores(r, "mobius"), [1.0 + 0.3 + 0.1, 0.3 + 0.1, 0.1, 0.0])
    np.testing.assert_allclose(unit_scores(r, "interaction"), [1.9, 0.9, 0.3, 0.0])
    from spex_mech.circuit import unit_scores as old_scores

    np.testing.assert_allclose(unit_scores(r, "interaction"), old_scores(r))
    np.testing.assert_allclose(unit_scores(r, "shapley"), np.abs(r.shapley_values()))
    assert ranking(unit_scores(r, "mobius")).tolist() == [0, 1, 2, 3]
    assert ranking(np.array([1.0, 2.0, 2.0, 0.0])).tolist() == [1, 2, 0, 3]  # ties by index


def test_large_n_uses_mibs_grid():
    sizes, x = size_grid(1000)
    assert tuple(x) == MIB_PERCENTAGES
    assert sizes.tolist() == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    sizes, x = size_grid(10)
    assert sizes.tolist() == list(range(1, 11))


def test_warnings_for_a_tiny_effect_and_none_for_a_clean_curve():
    tiny = SparseFunction(5, {(): 10.0, (0,): 1e-4, (1, 2): 2e-4}, basis="mobius")
    with pytest.warns(FaithfulnessWarning, match="total effect"):
        curve = faithfulness_curve(tiny, [0, 1, 2, 3, 4])
    assert any("total effect" in w for w in curve.warnings)
    fine = SparseFunction(4, {(0,): 0.5, (1,): 0.3, (2,): 0.2}, basis="mobius")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaithfulnessWarning)
        assert faithfulness_curve(fine, [0, 1, 2, 3]).warnings == ()


def test_bad_ranking_is_refused():
    f = SparseFunction(3, {(0,): 1.0}, basis="mobius")
    with pytest.raises(ValueError, match="permutation of the 3 unit indices"):
        faithfulness_curve(f, [0, 1, 1])
    with pytest.raises(ValueError, match="circuit sizes must lie in \\[0, 3\\]"):
        faithfulness_curve(f, [0, 1, 2], sizes=[1, 4])
    with pytest.raises(ValueError, match="equal length"):
        faithfulness_curve(f, [0, 1, 2], sizes=[1, 2], fractions=[0.5])
    with pytest.raises(ValueError, match="target must be in"):
        minimal_circuit(f.truth, f, target=1.5)
    with pytest.raises(ValueError, match="no effect"):
        minimal_circuit(f.truth, SparseFunction(3, {(): 1.0}, basis="mobius"))
    with pytest.raises(ValueError, match="score of unit 1 is not finite"):
        ranking(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="unknown score kind"):
        unit_scores(f.truth, "lasso")


def test_minimal_circuit_on_a_planted_function():
    f = SparseFunction(10, PLANTED, basis="mobius")
    c = minimal_circuit(f.truth, f, target=0.99)
    assert c.found and c.units == tuple(range(7))
    assert c.keep == pytest.approx(1.0) and c.ablate == pytest.approx(0.0)
    assert c.n_evaluations == f.n_evaluations  # every model call is counted
    # without completeness the OR's second input is redundant: 6 units suffice
    c6 = minimal_circuit(f.truth, f, target=0.99, complete=False)
    assert len(c6.units) == 6 and {0, 1, 4, 5, 6} < set(c6.units)


def test_minimal_circuit_prefix_search_when_the_surrogate_is_poor():
    f = SparseFunction(10, PLANTED, basis="mobius")
    # a first-order surrogate cannot see the OR or the AND: the exhaustive phase finds nothing, prefixes do
    poor = sm.Interactions.from_mobius({**{(i,): 1.0 for i in range(7)}, **{(i,): 0.5 for i in range(7, 10)}}, 10)
    c = minimal_circuit(poor, f, target=0.99, slack=0.0)
    assert c.found and c.units == tuple(range(7)) and "prefixes" in c.search


def test_minimal_circuit_warnings_tiny_effect_and_overshoot():
    tiny = SparseFunction(3, {(): 10.0, (0,): 1e-3, (1,): 1e-3}, basis="mobius")
    with pytest.warns(FaithfulnessWarning, match="total effect"):
        c = minimal_circuit(tiny.truth, tiny, target=0.9)
    assert any("total effect" in w for w in c.warnings) and "warning: total effect" in c.summary()
    # a loose target accepts {0} alone, which overshoots the full model (1.6 of the effect)
    over = SparseFunction(2, {(0,): 1.6, (1,): -0.6}, basis="mobius")
    with pytest.warns(FaithfulnessWarning, match="leaves \\[0, 1\\]"):
        c = minimal_circuit(over.truth, over, target=0.3, complete=False)
    assert c.units == (0,) and c.keep == pytest.approx(1.6)


def test_minimal_circuit_on_the_planted_model_equals_the_planted_heads():
    game = planted.game()
    result = sm.exhaustive(game)
    c = minimal_circuit(result, game, target=0.99)
    assert c.found and c.labels == planted.CIRCUIT_HEADS


def test_minimal_circuit_on_the_planted_model_with_neurons():
    """With neurons as units the OR's redundancy sits in the neurons: keeping C and neuron 1 alone already
    gives the OR's 1.5, so the minimal circuits have 9 units; the oracle is brute force over the true spectrum."""
    game = planted.game(neurons=True)
    truth = sm.Interactions.from_mobius(planted.true_mobius(game.labels), game.n)
    masks = np.array([[(c >> j) & 1 for j in range(game.n)] for c in range(1 << game.n)], dtype=bool)
    vals = truth.predict(masks)
    keep = (vals - vals[0]) / (vals[-1] - vals[0])
    ablate = keep[::-1]
    ok = np.nonzero(np.maximum(np.abs(1 - keep), np.abs(ablate)) <= 0.01)[0]
    sizes = masks[ok].sum(axis=1)
    minimal = {tuple(np.nonzero(masks[c])[0]) for c in ok[sizes == sizes.min()]}
    assert sizes.min() == 9 and len(minimal) == 2
    result = sm.spex(game, max_order=4, seed=0)
    c = minimal_circuit(result, game, target=0.99)
    assert c.found and c.units in minimal


def test_large_n_curve_on_mibs_grid_equals_a_loop():
    f = random_sparse_function(70, 30, orders=(1, 2), seed=2, basis="mobius")
    order = ranking(unit_scores(f.truth, "mobius"))
    curve = faithfulness_curve(f, order, warn=False)
    assert curve.fractions == MIB_PERCENTAGES and curve.sizes == (0, 0, 0, 0, 1, 3, 7, 14, 35, 70)
    ones = np.ones((1, 70), bool)
    clean, empty = f.clean(ones)[0], f.clean(~ones)[0]
    for j, k in enumerate(curve.sizes):
        mask = np.zeros(70, bool)
        mask[list(order[:k])] = True
        assert curve.keep[j] == pytest.approx((f.clean(mask[None])[0] - empty) / (clean - empty), abs=1e-12)


def test_top_k_overlap_by_hand():
    from spex_mech.circuits import top_k_overlap

    a = sm.Interactions.from_mobius({(0,): 3.0, (1,): 2.0, (0, 1): 1.0}, 3)
    b = sm.Interactions.from_mobius({(0,): 3.0, (2,): 2.0, (0, 1): 1.0}, 3)
    c = sm.Interactions.from_mobius({(2,): 3.0, (1, 2): 2.0, (1,): 1.0}, 3)
    s = top_k_overlap([a, b, c], [0, 1, 2], k=2)
    # top-2: a {0},{1}; b {0},{2}; c {2},{1,2} → overlaps ½, 0, ½
    assert s.pairs == ((0, 1, 0.5), (0, 2, 0.0), (1, 2, 0.5))
    assert s.mean == pytest.approx(1 / 3) and s.minimum == 0.0


def test_cli_sweep_reports_minimal_circuit_curves_and_seed_stability(tmp_path):
    import json

    from spex_mech.cli import main

    cfg = tmp_path / "planted.toml"
    cfg.write_text(
        '[model]\nzoo = "planted"\n[units]\nheads = "all"\n[ablation]\nkind = "zero"\n'
        '[algorithm]\nname = "spex"\nmax_order = 3\nseed = 0\n'
        "[output]\ncircuit_fraction = 0.99\nfaithfulness_samples = 0\nseed_stability = true\nfigures = [\"png\"]\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "results.json").read_text())["run"]
    assert run["minimal_circuit"]["units"] == list(planted.CIRCUIT_HEADS) and run["minimal_circuit"]["found"]
    assert set(run["curves"]) == {"spex Möbius share", "Shapley", "attribution patching"}
    assert run["seed_stability"]["seeds"] == [0, 1, 2] and len(run["seed_stability"]["pairs"]) == 3
    page = (out / "report.html").read_text()
    assert "Minimal faithful circuit" in page and "Seed stability" in page and "faithfulness curves" in page
    assert (out / "faithfulness_curves.png").exists()
    assert "minimal circuit (target 0.99): 7 of 12 units" in (out / "summary.txt").read_text()
