"""Known circuits recovered end to end (issue 5): the induction model, the planted model, the MLP model."""

from __future__ import annotations

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.circuit import extract_circuit, interaction_auc, roc_auc, unit_scores
from spex_mech.zoo import induction, mlp_lookup, planted


# ---------------------------------------------------------------- induction model
@pytest.fixture(scope="module")
def induction_game():
    return induction.game()


@pytest.fixture(scope="module")
def induction_exact(induction_game):
    return sm.exhaustive(induction_game)


@pytest.fixture(scope="module")
def head_roles():
    scores = induction.head_scores()
    prev = {h for h, s in scores.items() if s["previous_token"] > 0.5}
    ind = {h for h, s in scores.items() if s["induction"] > 0.5}
    return prev, ind


def _is_prev_times_induction(term, prev, ind) -> bool:
    return term.order == 2 and term.labels[0] in prev and term.labels[1] in ind and term.value > 0


@pytest.mark.parametrize("algorithm", ["spex", "proxyspex"])
def test_induction_top_interaction_and_agreement(induction_game, induction_exact, head_roles, algorithm):
    prev, ind = head_roles
    if algorithm == "spex":
        result = sm.spex(induction_game, max_order=5, seed=0)
    else:
        result = sm.proxyspex(induction_game, budget=200, seed=0)
    top = result.top(5)
    assert _is_prev_times_induction(top[0], prev, ind), top[0]
    assert _is_prev_times_induction(top[1], prev, ind), top[1]
    exact_top = [t.units for t in induction_exact.top(5)]
    assert {t.units for t in top} == set(exact_top), (top, induction_exact.top(5))
    if algorithm == "spex":
        assert [t.units for t in top] == exact_top  # same ranking
        for mine, true in zip(top, induction_exact.top(5)):
            assert mine.value == pytest.approx(true.value, rel=0.1)


def test_induction_circuit_faithfulness(induction_game, induction_exact):
    circuit = extract_circuit(induction_exact, fraction=0.9, f=induction_game)
    assert circuit.measured["faithfulness"] == pytest.approx(circuit.predicted_fraction, abs=1e-6)  # exact surrogate
    assert abs(1 - circuit.measured["faithfulness"]) <= 0.1 + 1e-9
    smaller = extract_circuit(induction_exact, fraction=0.5, f=induction_game)
    assert len(smaller.units) < len(circuit.units)


# ---------------------------------------------------------------- planted model
def _check_planted(result, truth):
    m = result.mobius()
    smallest = min(abs(v) for v in truth.values())
    for key, value in truth.items():
        assert key in m, f"planted term {key} not recovered"
        assert np.sign(m[key]) == np.sign(value) and len(key) == len(key)
        assert m[key] == pytest.approx(value, rel=0.05, abs=0.05 * smallest)
    spurious = [abs(v) for k, v in m.items() if k and k not in truth]
    assert max(spurious, default=0.0) <= 0.1 * smallest
    assert interaction_auc(result, truth) == 1.0


@pytest.mark.parametrize("algorithm", ["exhaustive", "spex", "proxyspex"])
def test_planted_heads_recovered(algorithm):
    game = planted.game()
    truth = planted.head_mobius()
    if algorithm == "exhaustive":
        result = sm.exhaustive(game)
    elif algorithm == "spex":
        result = sm.spex(game, max_order=3, seed=0)
    else:
        result = sm.proxyspex(game, budget=500, seed=0)
    _check_planted(result, truth)
    assert roc_auc(unit_scores(result), range(7)) == 1.0  # circuit heads outrank the null heads
    circuit = extract_circuit(result, fraction=0.99, f=game)
    assert set(circuit.labels) <= set(planted.CIRCUIT_HEADS)
    assert circuit.measured["faithfulness"] == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("algorithm", ["spex", "proxyspex"])
def test_planted_heads_and_neurons_recovered(algorithm):
    game = planted.game(neurons=True)
    truth = planted.true_mobius(game.labels)
    if algorithm == "spex":
        result = sm.spex(game, max_order=4, seed=0)
    else:
        result = sm.proxyspex(game, budget=1500, seed=0)
    _check_planted(result, truth)


def test_pairwise_baseline_cannot_express_the_three_way_term():
    game = planted.game()
    result = sm.pairwise(game)
    assert (4, 5, 6) not in result.mobius()  # known limitation: order ≤ 2 from the full model


# ---------------------------------------------------------------- MLP model
@pytest.fixture(scope="module")
def mlp_setup():
    model = mlp_lookup.load()
    scores = mlp_lookup.neuron_scores(model)
    known = set(np.argsort(-scores)[:4].tolist())  # mechanistically identified AND neurons
    return model, known


def test_mlp_model_known_neurons_and_head_interactions_on_top(mlp_setup):
    model, known = mlp_setup
    game = mlp_lookup.game(model=model, n_prompts=32)
    result = sm.proxyspex(game, budget=1500, seed=0)
    neuron_cols = {i: int(lab[3:]) for i, lab in enumerate(game.labels) if lab.startswith("L0N")}
    # first-order: the neurons the algorithm ranks highest are the known ones
    importance = unit_scores(result)
    ranked = sorted(neuron_cols, key=lambda c: -importance[c])
    assert neuron_cols[ranked[0]] in known
    assert len({neuron_cols[c] for c in ranked[:4]} & known) >= 3
    # interactions: the largest term involving a neuron pairs a known neuron with a head
    with_neuron = [t for t in result.top(200) if any(u in neuron_cols for u in t.units) and t.order >= 2]
    assert with_neuron, "no head × neuron interaction found"
    lead = with_neuron[0]
    assert any(neuron_cols.get(u) in known for u in lead.units)
    assert any(lab.startswith("L0H") for lab in lead.labels)
    # and neurons outside the known set do not appear among the top neuron interactions
    top_neurons = {neuron_cols[u] for t in with_neuron[:5] for u in t.units if u in neuron_cols}
    assert top_neurons <= known | set(np.argsort(-mlp_lookup.neuron_scores(model))[:8].tolist())
