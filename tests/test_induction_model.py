"""The committed demo model: it loads offline, its heads do what the recipe says, and exhaustive
enumeration ranks a previous-token × induction interaction first."""

from __future__ import annotations

import pytest

import spex_mech as sm
from spex_mech.zoo import induction


@pytest.fixture(scope="module")
def scores():
    return induction.head_scores()


def test_model_learned_previous_token_and_induction_heads(scores):
    prev = {h for h, s in scores.items() if h.startswith("L0") and s["previous_token"] > 0.5}
    ind = {h for h, s in scores.items() if h.startswith("L1") and s["induction"] > 0.5}
    assert prev and ind, scores


def test_exhaustive_ranks_previous_token_times_induction_first(scores):
    game = induction.game()
    assert game.clean_value > -1.0  # the model predicts the repeated span well
    result = sm.exhaustive(game)
    assert result.n_evaluations == 2**8
    none = result.values_table[0]
    assert none < -3.5  # ablating every head destroys the behaviour (chance is −ln 64 ≈ −4.16)
    top = result.top(1)[0]
    assert top.order == 2 and top.value > 0
    first, second = top.labels
    assert first.startswith("L0") and scores[first]["previous_token"] > 0.5
    assert second.startswith("L1") and scores[second]["induction"] > 0.5
    # the circuit lives in interactions: first-order Möbius terms carry almost no energy
    assert result.energy_by_order("mobius").get(1, 0.0) < 0.02
