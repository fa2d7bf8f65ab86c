"""Bad input gets a clear error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics


@pytest.fixture(scope="module")
def game(tiny_model, tiny_tokens):
    return sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=2))


def test_wrong_mask_width(game):
    with pytest.raises(ValueError, match="mask width 5 does not match the 8 units"):
        game(np.ones((2, 5)))


def test_non_binary_mask(game):
    masks = np.ones((3, 8))
    masks[2, 4] = 0.5
    with pytest.raises(ValueError, match=r"row 2 unit 4 = 0\.5"):
        game(masks)


def test_torch_and_bool_masks_accepted(game):
    a = game(torch.ones((2, 8), dtype=torch.bool))
    b = game(np.ones((2, 8), dtype=np.int64))
    np.testing.assert_allclose(a, b)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: sm.AttentionHeads(m, layers=[2]), "unknown layer index 2: the model has 2 layers"),
        (lambda m: sm.AttentionHeads(m, heads=[4]), "unknown head index 4: layer 0 has 4 heads"),
        (lambda m: sm.AttentionHeads(m, heads={1: [0, 9]}), "unknown head index 9: layer 1 has 4 heads"),
        (lambda m: sm.MLPNeurons(m, 0, neurons=[48]), "unknown neuron index 48: layer 0's MLP has 48 neurons"),
        (lambda m: sm.MLPNeurons(m, 3), "unknown layer index 3"),
    ],
)
def test_unknown_units(tiny_model, make, message):
    with pytest.raises(ValueError, match=message):
        make(tiny_model)


def test_missing_hook(tiny_model, tiny_tokens):
    from spex_mech.units import Site, UnitSet

    units = UnitSet(ids=["x"], labels=["x"], sites=[Site("blocks.0.attn.hook_nope", 2, 4, (0,), (0,))])
    with pytest.raises(ValueError, match="no hook point named 'blocks.0.attn.hook_nope'"):
        sm.AblationGame(tiny_model, units, tiny_tokens, metrics.logprob(target=2))


def test_attention_only_model_has_no_neurons():
    from .conftest import build_tiny

    with pytest.raises(ValueError, match="no MLP neurons"):
        sm.MLPNeurons(build_tiny(attn_only=True), 0)


def test_empty_prompt_set(tiny_model):
    with pytest.raises(ValueError, match="prompt set is empty"):
        sm.AblationGame(
            tiny_model, sm.AttentionHeads(tiny_model), torch.zeros((0, 5), dtype=torch.long), metrics.logprob(target=1)
        )


def test_metric_nan_reports_rows(tiny_model, tiny_tokens):
    with torch.no_grad():
        clean = tiny_model(tiny_tokens)[:, -1, 0]  # per prompt

    def poisoned(logits):  # NaN whenever the logit moved away from the clean run
        v = logits[..., -1, 0]
        return torch.where((v - clean[None]).abs() > 1e-4, torch.full_like(v, float("nan")), v)

    bad = sm.AblationGame(
        tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.custom(poisoned), ablation="zero"
    )
    masks = np.ones((4, 8), dtype=bool)
    masks[2, 1] = False
    masks[3, 5] = False
    with pytest.raises(
        ValueError,
        match=r"non-finite value\(s\): row 2: nan \(ablated units \[1\]\); row 3: nan \(ablated units \[5\]\)",
    ):
        bad(masks)


def test_metric_nan_on_clean_model(tiny_model, tiny_tokens):
    with pytest.raises(ValueError, match="not finite on the clean model"):
        sm.AblationGame(
            tiny_model,
            sm.AttentionHeads(tiny_model),
            tiny_tokens,
            metrics.custom(lambda lg: lg[..., -1, 0] * float("inf")),
        )


def test_resample_needs_paired_reference(tiny_model, tiny_tokens):
    with pytest.raises(ValueError, match="needs reference="):
        sm.AblationGame(
            tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=1), ablation="resample"
        )
    with pytest.raises(ValueError, match="pair one corrupted prompt with each clean prompt"):
        sm.AblationGame(
            tiny_model,
            sm.AttentionHeads(tiny_model),
            tiny_tokens,
            metrics.logprob(target=1),
            ablation="resample",
            reference=tiny_tokens[:2],
        )


def test_unknown_ablation_and_bad_positions(tiny_model, tiny_tokens):
    with pytest.raises(ValueError, match="unknown ablation 'median'"):
        sm.AblationGame(
            tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=1), ablation="median"
        )
    with pytest.raises(ValueError, match="metric position 30 is outside prompt 0"):
        sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=1, position=30))
    with pytest.raises(ValueError, match="has no next token"):
        sm.AblationGame(
            tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logit_diff(None, 1, position=-1)
        )
    with pytest.raises(ValueError, match="outside the vocabulary"):
        sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=99))


def test_exhaustive_refuses_large_n():
    with pytest.raises(ValueError, match=r"limited to n ≤ 20 units"):
        sm.exhaustive(lambda x: np.zeros(len(x)), n=21)


def test_value_function_without_n():
    with pytest.raises(ValueError, match="number of units is unknown"):
        sm.exhaustive(lambda x: np.zeros(len(x)))


def test_value_function_wrong_shape_and_nan():
    with pytest.raises(ValueError, match=r"returned shape \(4, 2\) for 4 masks"):
        sm.exhaustive(lambda x: np.zeros((len(x), 2)), n=2)
    with pytest.raises(ValueError, match="non-finite"):
        sm.exhaustive(lambda x: np.where(x[:, 0], np.inf, 0.0), n=2)
