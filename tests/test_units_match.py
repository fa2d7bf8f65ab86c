"""Results know their units: a result is refused with a game over other units, and the JSON round trip
(also through the CLI's results.json) keeps every field exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.circuit import extract_circuit
from spex_mech.results import Interactions


class Game:
    """f(x) = Σ w_i x_i + 2 x_0 x_1 over units with TransformerLens-style ids."""

    def __init__(self, ids):
        self.ids = list(ids)
        self.n = len(ids)
        self.labels = [f"u{i}" for i in range(self.n)]

    def __call__(self, masks):
        x = np.asarray(masks, dtype=float)
        return x @ np.arange(1.0, self.n + 1) + 2 * x[:, 0] * x[:, 1]


HEADS = [f"blocks.0.attn.hook_z[{h}]" for h in range(6)]
TOKENS = [f"hook_embed[{p}]" for p in range(6)]


def test_a_result_is_refused_with_a_game_over_other_units():
    heads = Game(HEADS)
    result = sm.exhaustive(heads)
    assert result.ids == HEADS
    assert result.faithfulness(heads, n_samples=64) == pytest.approx(1.0)
    tokens = Game(TOKENS)
    message = (
        "the result's units differ from the game's: unit 0 is 'blocks.0.attn.hook_z[0]' in the result, "
        "'hook_embed[0]' in the game"
    )
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        result.faithfulness(tokens, n_samples=64)
    with pytest.raises(ValueError, match="units differ from the game's"):
        extract_circuit(result, 0.9, f=tokens)
    with pytest.raises(ValueError, match="units differ from the game's"):
        result.predict(np.ones((1, 6), bool), game=tokens)
    with pytest.raises(ValueError, match="the result is over 6 units, the game over 5"):
        result.faithfulness(Game(HEADS[:5]), n_samples=8)
    reordered = Game(HEADS[::-1])
    with pytest.raises(ValueError, match="unit 0 is"):
        result.faithfulness(reordered, n_samples=8)
    # a result that never knew its ids (a plain function) still works with a game
    plain = sm.exhaustive(lambda m: Game(HEADS)(m), 6)
    assert plain.faithfulness(heads, n_samples=32) == pytest.approx(1.0)
    # and a truncated copy keeps its ids
    with pytest.raises(ValueError, match="units differ"):
        result.truncate(3).faithfulness(tokens, n_samples=8)


@pytest.mark.parametrize("algorithm", ["exhaustive", "shapley_sampling", "pairwise", "spex"])
def test_json_round_trip_keeps_every_field_exactly(algorithm):
    game = Game(HEADS)
    kwargs = {"shapley_sampling": {"budget": 200}, "spex": {"max_order": 2, "budget": 600}}.get(algorithm, {})
    result = getattr(sm, algorithm)(game, **kwargs)
    back = Interactions.from_json(result.to_json())
    assert back.to_dict() == json.loads(result.to_json())
    assert back.ids == result.ids and back.labels == result.labels and back.n_evaluations == result.n_evaluations
    assert back.fourier == result.fourier  # bit-exact floats
    assert back.mobius() == result.mobius()
    np.testing.assert_array_equal(back.shapley_values(), result.shapley_values())
    if result._dense is not None:
        np.testing.assert_array_equal(back._dense, result._dense)
    for key in ("estimates", "standard_errors", "single_effects"):
        if key in result.params:
            assert list(back.params[key]) == list(result.params[key])
