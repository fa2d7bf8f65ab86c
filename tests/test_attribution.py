"""Attribution patching baseline (issue 19): equal to TransformerLens 4.3's on a case both support,
neuron scores against an independent autograd oracle, and the gradient screen's failure mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech.algorithms.baselines.attribution import attribution_patching, attribution_scores, gradient_screen
from spex_mech.zoo import planted
from spex_mech.zoo._bridge import build_native

CFG = dict(d_model=32, d_head=8, n_heads=4, n_layers=2, n_ctx=16, d_vocab=64, d_mlp=16, act_fn="gelu",
           normalization_type="LN", attn_only=False, seed=1)


@pytest.fixture(scope="module")
def model():
    m = build_native(CFG)
    m.eval()
    return m


@pytest.fixture(scope="module")
def pairs():
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 64, (3, 10), generator=gen)
    corrupt = torch.randint(1, 64, (3, 10), generator=gen)
    return clean, corrupt


def test_head_scores_equal_transformer_lens_attribution_patching(model, pairs):
    tl_ap = pytest.importorskip("transformer_lens.tools.analysis.attribution_patching")
    clean, corrupt = pairs
    game = sm.AblationGame(model, sm.AttentionHeads(model), clean, sm.metrics.logit_diff(5, 7, position=-1),
                           ablation="resample", reference=corrupt)
    mine = attribution_scores(game, at="clean")
    # TransformerLens scores (a_clean − a_corrupt)·∂m/∂a at its "corrupt" run; with the roles swapped that
    # run is our clean one, and the score is −∂f/∂x_i summed over positions, averaged over pairs
    theirs = np.zeros(game.n)
    for p in range(clean.shape[0]):
        res = tl_ap.attribution_patch(
            model, corrupt[p : p + 1], clean[p : p + 1], lambda lg: lg[0, -1, 5] - lg[0, -1, 7]
        )
        for node, score in res.node_scores.items():
            if node.kind == "attn_head_out":
                theirs[node.layer * CFG["n_heads"] + node.head] -= score / clean.shape[0]
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    assert np.abs(mine).max() > 1e-3  # not a vacuous comparison


def test_neuron_scores_equal_an_independent_autograd_oracle(model, pairs):
    clean, _ = pairs
    layer = 1
    metric = sm.metrics.logit_diff(3, 9, position=-1)
    game = sm.AblationGame(model, sm.MLPNeurons(model, layer), clean, metric, ablation="mean")
    mine = attribution_scores(game, at="clean")
    store = {}

    def keep(act, hook=None):
        act.retain_grad()
        store["act"] = act
        return act

    with torch.enable_grad():
        with model.hooks(fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", keep)]):
            logits = model(clean)
        value = (logits[:, -1, 3] - logits[:, -1, 9]).mean()
        value.backward()
    act = store["act"].detach()
    ref = act.mean(dim=(0, 1), keepdim=True)  # mean ablation: over prompts and positions
    oracle = ((act - ref) * store["act"].grad).sum(dim=(0, 1)).double().numpy()
    model.zero_grad(set_to_none=True)
    np.testing.assert_allclose(mine, oracle, rtol=1e-4, atol=1e-6)


def test_parameters_are_left_without_gradients(model, pairs):
    clean, _ = pairs
    for p in model.parameters():
        p.grad = None
    game = sm.AblationGame(model, sm.AttentionHeads(model), clean, sm.metrics.logit_diff(5, 7), ablation="zero")
    attribution_scores(game)
    assert all(p.grad is None for p in model.parameters())


def test_planted_gradients_and_the_surrogate():
    game = planted.game()
    result = attribution_patching(game)
    # f = 2·AB + 1.5·(C ∨ D) − EFG at the all-kept state: ∂/∂A = ∂/∂B = 2, ∂/∂E,F,G = −1, and the OR's
    # inputs are redundant there (each alone changes nothing): gradient 0
    np.testing.assert_allclose(result.banzhaf_values(), [2, 2, 0, 0, -1, -1, -1, 0, 0, 0, 0, 0], atol=1e-5)
    full = np.ones((1, game.n), bool)
    assert result.predict(full)[0] == pytest.approx(game(full)[0], abs=1e-5)
    assert result.algorithm == "attribution_patching" and result.labels[0] == "L0H0"
    assert result.n_evaluations == 1
    at_empty = attribution_patching(game, at="ablated")
    assert at_empty.predict(~full)[0] == pytest.approx(game(~full)[0], abs=1e-5)


def test_gradient_screen_misses_a_pure_interaction():
    """The screen's failure mode: the OR heads C, D have no first-order gradient at the clean state, so a
    screen that keeps the 5 largest gradients hands SPEX a game without them, and the 1.5 of the effect
    they carry (Möbius {C}, {D}, {C, D}) is never found."""
    game = planted.game()
    screened, grads = gradient_screen(game, keep=5)
    assert screened.labels == ["L0H0", "L0H1", "L0H4", "L0H5", "L0H6"]
    assert grads[2] == 0.0 and grads[3] == 0.0
    result = sm.exhaustive(screened)  # 32 masks over the screened units
    found = {tuple(screened.labels[i] for i in k) for k, v in result.mobius().items() if k and abs(v) > 1e-6}
    assert found == {("L0H0", "L0H1"), ("L0H4", "L0H5", "L0H6")}
    # on the full game the OR is there
    full = sm.spex(game, max_order=3, seed=0).mobius()
    assert full[(2,)] == pytest.approx(1.5, abs=0.05) and full[(2, 3)] == pytest.approx(-1.5, abs=0.05)


def test_token_units_are_refused(model, pairs):
    clean, _ = pairs
    game = sm.AblationGame(
        model,
        sm.TokenUnits(model, clean[:1], mask=0, decode=[str(i) for i in range(64)]),
        clean[:1],
        sm.metrics.logit_diff(5, 7),
    )
    with pytest.raises(ValueError, match="token units"):
        attribution_scores(game)
