"""AblationGame against plain per-mask TransformerLens runs (the oracle), plus its exactness-preserving speedups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics

from .conftest import build_tiny, reference_masked_values

HEADS = [(0, 1), (0, 3), (1, 0), (1, 2)]
NEURONS = [(0, 5), (1, 7), (1, 30)]


def units_for(model):
    heads = sm.AttentionHeads(model, heads={0: [1, 3], 1: [0, 2]})
    return heads + sm.MLPNeurons(model, 0, neurons=[5]) + sm.MLPNeurons(model, 1, neurons=[7, 30])


def logprob_at(position, target):
    def value(logits):
        lp = torch.log_softmax(logits[:, position].double(), dim=-1)
        return lp[:, target]

    return value


def random_masks(n, k, seed=0):
    rng = np.random.default_rng(seed)
    masks = rng.random((k, n)) < 0.5
    masks[0] = True
    masks[1] = False
    return masks


@pytest.mark.parametrize("ablation", ["zero", "mean", "mean_tokenwise", "resample"])
def test_batch_equals_single_mask_runs(tiny_model, tiny_tokens, ablation):
    g = torch.Generator().manual_seed(2)
    ref = torch.randint(0, 40, tiny_tokens.shape, generator=g) if ablation == "resample" else None
    game = sm.AblationGame(
        tiny_model,
        units_for(tiny_model),
        tiny_tokens,
        metrics.logprob(target=7, position=-2),
        ablation=ablation,
        reference=ref,
    )
    masks = random_masks(game.n, 24)
    got = game(masks)
    oracle = reference_masked_values(
        tiny_model,
        tiny_tokens,
        masks,
        HEADS,
        NEURONS,
        ablation,
        ref if ref is not None else tiny_tokens,
        logprob_at(-2, 7),
    )
    np.testing.assert_allclose(got, oracle, rtol=1e-5, atol=1e-5)
    assert game.n_evaluations == 24
    assert got.dtype == np.float64 and got.shape == (24,)
    # different masks really give different values (the test is not vacuous)
    assert np.ptp(got) > 0.05


def test_all_ones_is_clean_metric(tiny_model, tiny_tokens):
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7, position=-2))
    with torch.no_grad():
        clean = logprob_at(-2, 7)(tiny_model(tiny_tokens)).mean().item()
    assert game(np.ones((1, game.n)))[0] == pytest.approx(clean, rel=1e-6, abs=1e-6)
    assert game.clean_value == pytest.approx(clean, rel=1e-6, abs=1e-6)


def test_batch_size_and_chunks_do_not_matter(tiny_model, tiny_tokens):
    masks = random_masks(7, 31, seed=3)
    values = []
    for bs in (1, 5, 13, "auto"):
        game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7), batch_size=bs)
        values.append(game(masks))
        # a call split at arbitrary boundaries gives the same rows
        split = np.concatenate([game(masks[:4]), game(masks[4:19]), game(masks[19:])])
        np.testing.assert_allclose(split, values[-1], rtol=1e-6, atol=1e-6)
    for v in values[1:]:
        np.testing.assert_allclose(v, values[0], rtol=1e-5, atol=1e-6)


def test_prefix_sharing_and_restricted_unembedding_are_exact(tiny_model, tiny_tokens):
    units = sm.AttentionHeads(tiny_model, layers=[1]) + sm.MLPNeurons(tiny_model, 1, neurons=[0, 3, 9])
    masks = random_masks(len(units), 20, seed=4)
    metric = metrics.logit_diff(correct=[1, 2, 3, 4, 5], incorrect=9, position=[-1, 4])
    fast = sm.AblationGame(tiny_model, units, tiny_tokens, metric, share_prefix=True, restrict_unembed=True)
    plain = sm.AblationGame(tiny_model, units, tiny_tokens, metric, share_prefix=False, restrict_unembed=False)
    assert fast.plan["share"]["mode"] == "branch" and fast.plan["share"]["expand_hook"] == "blocks.1.hook_resid_pre"
    assert fast.plan["restrict_unembed"]
    np.testing.assert_allclose(fast(masks), plain(masks), rtol=1e-5, atol=1e-6)
    # neurons only: the first masked layer's attention is shared too (or the block, as verified)
    neurons = sm.MLPNeurons(tiny_model, 1, neurons=[0, 3, 9, 11])
    fast = sm.AblationGame(tiny_model, neurons, tiny_tokens, metric, share_prefix=True)
    plain = sm.AblationGame(tiny_model, neurons, tiny_tokens, metric, share_prefix=False, restrict_unembed=False)
    assert fast.plan["share"]["expand_hook"].startswith("blocks.1.")
    masks = random_masks(4, 10, seed=5)
    np.testing.assert_allclose(fast(masks), plain(masks), rtol=1e-5, atol=1e-6)


def test_head_with_zero_output_weight_changes_nothing():
    model = build_tiny(seed=5)
    d_head = model.cfg.d_head
    with torch.no_grad():
        model.blocks[0].attn.o.weight[:, 2 * d_head : 3 * d_head] = 0.0  # W_O of L0H2
    toks = torch.randint(0, 40, (3, 10), generator=torch.Generator().manual_seed(0))
    for ablation in ("zero", "mean"):
        game = sm.AblationGame(model, sm.AttentionHeads(model), toks, metrics.logprob(target=3), ablation=ablation)
        masks = random_masks(game.n, 12, seed=1)
        col = game.labels.index("L0H2")
        flipped = masks.copy()
        flipped[:, col] = ~flipped[:, col]
        np.testing.assert_allclose(game(masks), game(flipped), rtol=1e-6, atol=1e-6)
        assert np.ptp(game(masks)) > 0.01  # other heads do matter


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_removed_after_calls_and_errors(tiny_model, tiny_tokens):
    before_hooks = _hook_count(tiny_model)
    with torch.no_grad():
        before = tiny_model(tiny_tokens).clone()
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7))
    game(random_masks(game.n, 9))
    assert _hook_count(tiny_model) == before_hooks

    calls = {"n": 0}

    def flaky(logits):
        calls["n"] += 1
        if calls["n"] > 1:  # fine during set-up, raises during evaluation
            raise RuntimeError("metric exploded")
        return logits[..., -1, 0]

    bad = sm.AblationGame(
        tiny_model,
        units_for(tiny_model),
        tiny_tokens,
        metrics.custom(flaky),
        share_prefix=False,
        restrict_unembed=False,
    )
    with pytest.raises(RuntimeError, match="metric exploded"):
        bad(random_masks(bad.n, 5))
    assert _hook_count(tiny_model) == before_hooks
    with torch.no_grad():
        after = tiny_model(tiny_tokens)
    assert torch.equal(before, after)


def test_metrics_match_manual(tiny_model, tiny_tokens):
    with torch.no_grad():
        logits = tiny_model(tiny_tokens).double()
    units = units_for(tiny_model)
    ones = np.ones((1, len(units)))
    lp = torch.log_softmax(logits, -1)
    cases = [
        (
            metrics.logit_diff(correct=3, incorrect=[1, 2, 3, 4, 5], position=-1),
            (logits[:, -1, 3] - logits[torch.arange(5), -1, torch.tensor([1, 2, 3, 4, 5])]).mean(),
        ),
        (metrics.prob(target=6, position=[2, 5]), lp[:, [2, 5], 6].exp().mean()),
        (
            metrics.logprob(position=[[1, 2], [3], [4, 5, 6], [0], [10]]),
            torch.stack(
                [
                    lp[0, [1, 2], tiny_tokens[0, [2, 3]]].mean(),
                    lp[1, 3, tiny_tokens[1, 4]],
                    lp[2, [4, 5, 6], tiny_tokens[2, [5, 6, 7]]].mean(),
                    lp[3, 0, tiny_tokens[3, 1]],
                    lp[4, 10, tiny_tokens[4, 11]],
                ]
            ).mean(),
        ),
        (metrics.custom(lambda lg: lg[..., 0, 11] * 2), (logits[:, -1, 11] * 2).mean()),
    ]
    for metric, expected in cases:
        game = sm.AblationGame(tiny_model, units, tiny_tokens, metric)
        assert game(ones)[0] == pytest.approx(float(expected), rel=1e-5, abs=1e-5)


def test_kl_divergence_metric(tiny_model, tiny_tokens):
    units = units_for(tiny_model)
    game = sm.AblationGame(tiny_model, units, tiny_tokens, metrics.kl_divergence(position=-1), ablation="zero")
    assert game(np.ones((1, game.n)))[0] == pytest.approx(0.0, abs=1e-6)
    masks = random_masks(game.n, 6, seed=2)
    with torch.no_grad():
        clean = torch.log_softmax(tiny_model(tiny_tokens)[:, -1].double(), -1)

    def kl_value(logits):
        lp = torch.log_softmax(logits[:, -1].double(), -1)
        return (clean.exp() * (clean - lp)).sum(-1)

    oracle = reference_masked_values(tiny_model, tiny_tokens, masks, HEADS, NEURONS, "zero", tiny_tokens, kl_value)
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-4, atol=1e-6)
    assert np.all(game(masks) >= -1e-7)


def test_boot_transformers_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    from transformer_lens.model_bridge import TransformerBridge

    cfg = transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=50, n_positions=32, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    model = TransformerBridge.boot_transformers(str(tmp_path), device="cpu")
    toks = torch.randint(0, 50, (3, 9), generator=torch.Generator().manual_seed(0))
    units = sm.AttentionHeads(model) + sm.MLPNeurons(model, 1, neurons=[0, 1, 2])
    game = sm.AblationGame(model, units, toks, metrics.logprob(target=4, position=-1), ablation="mean")
    masks = random_masks(game.n, 10)
    heads = [(l, h) for l in range(2) for h in range(4)]
    oracle = reference_masked_values(
        model, toks, masks, heads, [(1, 0), (1, 1), (1, 2)], "mean", toks, logprob_at(-1, 4)
    )
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-5, atol=1e-5)


def test_bfloat16_model_masks_cast_to_activation_dtype():
    model = build_tiny(seed=1)
    model.to(torch.bfloat16)
    toks = torch.randint(0, 40, (2, 8), generator=torch.Generator().manual_seed(0))
    game = sm.AblationGame(
        model, sm.AttentionHeads(model) + sm.MLPNeurons(model, 0, neurons=[1, 2]), toks, metrics.logprob(target=1)
    )
    vals = game(random_masks(game.n, 6))
    assert np.all(np.isfinite(vals)) and np.ptp(vals) > 0
