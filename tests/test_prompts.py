"""Ragged and padded prompts on Hugging Face folders: every prompt is evaluated as if it ran alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics
from spex_mech.engine.prompts import Prompts, prepare_prompts

from ._hf_folders import boot, gpt2_folder

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

PROMPTS = ["When Mary and John went to the store, John gave a drink to", "the cat sat on", "this movie was very"]
# paired corrupted prompts: same token counts, other words
CORRUPT = ["When John and Mary went to the park, Mary gave a ball to", "the dog sat on", "this film was not"]
ABLATIONS = ("mean", "mean_tokenwise", "zero", "resample")


@pytest.fixture(scope="module", params=["right", "left"])
def hf_gpt2(request, tmp_path_factory):
    folder = gpt2_folder(tmp_path_factory.mktemp(f"gpt2_{request.param}"), padding_side=request.param, n_layer=2)
    model = boot(folder)
    model.set_use_attn_result(True)
    return model


def _masks(n: int, count: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.random((count, n)) < 0.5
    m[0] = True
    m[1] = False
    return m


def _units(model, kind: str):
    if kind == "heads":
        return sm.AttentionHeads(model)
    if kind == "neurons":
        return sm.MLPNeurons(model, 1, neurons=list(range(0, 128, 16)))
    if kind == "heads+neurons":
        return sm.AttentionHeads(model, layers=[1]) + sm.MLPNeurons(model, 0, neurons=[1, 5, 9])
    if kind == "layers":
        return sm.AttentionLayers(model) + sm.MLPLayers(model, layers=[0])
    if kind == "result+positions":
        return sm.AttentionHeads(model, layers=[1], at="hook_result") + sm.ResidualPositions(model, 0, [0, 2, 4])
    if kind == "hook_units":
        return sm.HookUnits(model, "blocks.0.hook_resid_post", dim=2, groups=[range(0, 16), range(16, 32)])
    raise KeyError(kind)


def _game(model, units, prompts, ablation, reference, **kw):
    return sm.AblationGame(
        model, units, prompts, metrics.logprob(" good"), ablation=ablation, reference=reference, **kw
    )


def _reference(ablation, prompts, corrupt):
    return corrupt if ablation == "resample" else (None if ablation == "zero" else PROMPTS)


def test_prompts_are_left_aligned_with_lengths(hf_gpt2):
    p = prepare_prompts(hf_gpt2, PROMPTS)
    alone = [hf_gpt2.to_tokens(s)[0].tolist() for s in PROMPTS]
    assert p.lengths.tolist() == [len(a) for a in alone]
    assert p.rows() == alone
    padded = hf_gpt2.to_tokens(PROMPTS)  # padded on the tokenizer's side
    assert prepare_prompts(hf_gpt2, padded).rows() == alone
    side = hf_gpt2.tokenizer.padding_side
    other = "left" if side == "right" else "right"
    assert prepare_prompts(hf_gpt2, hf_gpt2.to_tokens(PROMPTS, padding_side=other), padding_side=other).rows() == alone


@pytest.mark.parametrize("ablation", ABLATIONS)
@pytest.mark.parametrize("kind", ["heads", "neurons", "heads+neurons", "layers", "result+positions", "hook_units"])
def test_ragged_game_is_mean_of_single_prompt_games(hf_gpt2, ablation, kind):
    units = _units(hf_gpt2, kind)
    ref = _reference(ablation, PROMPTS, CORRUPT)
    game = _game(hf_gpt2, units, PROMPTS, ablation, ref)
    masks = _masks(game.n)
    singles = []
    for i, text in enumerate(PROMPTS):
        single_ref = [CORRUPT[i]] if ablation == "resample" else ref
        singles.append(_game(hf_gpt2, units, [text], ablation, single_ref)(masks))
    np.testing.assert_allclose(game(masks), np.mean(singles, axis=0), rtol=1e-5, atol=1e-6)
    assert np.ptp(game(masks)) > 1e-3  # the masks matter


def test_padded_ids_and_attention_mask_match_strings(hf_gpt2):
    units = _units(hf_gpt2, "heads+neurons")
    masks = _masks(len(units), 5)
    want = _game(hf_gpt2, units, PROMPTS, "mean", None)(masks)
    padded = hf_gpt2.to_tokens(PROMPTS)
    np.testing.assert_allclose(_game(hf_gpt2, units, padded, "mean", None)(masks), want, rtol=1e-5, atol=1e-6)
    lens = [hf_gpt2.to_tokens(s).shape[1] for s in PROMPTS]
    width = max(lens)
    ids = torch.full((3, width + 2), 7)  # left padding by 2+ with a non-pad id, told by an explicit mask
    mask = torch.zeros_like(ids)
    for i, s in enumerate(PROMPTS):
        row = hf_gpt2.to_tokens(s)[0]
        ids[i, width + 2 - lens[i] :] = row
        mask[i, width + 2 - lens[i] :] = 1
    game = _game(hf_gpt2, units, ids, "mean", None, attention_mask=mask)
    np.testing.assert_allclose(game(masks), want, rtol=1e-5, atol=1e-6)


def test_independent_oracle_mean_ablation_each_prompt_alone(hf_gpt2):
    """Per-mask hooks on each prompt alone, with the mean over every real reference position by hand."""
    model = hf_gpt2
    heads = [(1, 0), (1, 2), (0, 3)]
    units = sm.AttentionHeads(model, heads={0: [3], 1: [0, 2]})
    order = sorted(heads)
    game = _game(model, units, PROMPTS, "mean", None)
    masks = _masks(game.n, 5)
    acts = []
    for s in PROMPTS:
        _, cache = model.run_with_cache(model.to_tokens(s))
        acts.append({layer: cache[f"blocks.{layer}.attn.hook_z"][0] for layer in (0, 1)})
    means = {layer: torch.cat([a[layer] for a in acts]).mean(0) for layer in (0, 1)}  # [head, d_head]
    good = model.to_tokens(" good", prepend_bos=False)[0, 0]
    oracle = []
    for m in masks:
        vals = []
        for s in PROMPTS:
            def patch(act, hook, layer, m=m):
                for col, (lay, h) in enumerate(order):
                    if lay == layer and not m[col]:
                        act[:, :, h] = means[layer][h]
                return act

            hooks = [
                (f"blocks.{layer}.attn.hook_z", lambda a, hook, layer=layer: patch(a, hook, layer)) for layer in (0, 1)
            ]
            with torch.no_grad():
                logits = model.run_with_hooks(model.to_tokens(s), fwd_hooks=hooks)
            vals.append(float(torch.log_softmax(logits[0, -1].double(), -1)[good]))
        oracle.append(np.mean(vals))
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-5, atol=1e-6)


def test_default_read_position_is_each_prompts_last_real_token(hf_gpt2):
    game = _game(hf_gpt2, _units(hf_gpt2, "heads"), PROMPTS, "zero", None)
    assert game.metric.positions[:, 0].tolist() == [n - 1 for n in game.lengths.tolist()]


def test_resample_pairs_must_have_equal_lengths(hf_gpt2):
    with pytest.raises(ValueError, match="resample reference prompt 1 has .* tokens, but its clean prompt has"):
        _game(hf_gpt2, _units(hf_gpt2, "heads"), PROMPTS, "resample", [CORRUPT[0], "the dog", CORRUPT[2]])


def test_mean_tokenwise_reference_must_cover_positions(hf_gpt2):
    with pytest.raises(ValueError, match="covering every position"):
        _game(hf_gpt2, _units(hf_gpt2, "heads"), PROMPTS, "mean_tokenwise", ["the cat", "a dog"])


def test_bad_attention_mask_is_refused(hf_gpt2):
    ids = torch.tensor([[5, 6, 7, 8]])
    with pytest.raises(ValueError, match="not contiguous"):
        prepare_prompts(hf_gpt2, ids, attention_mask=torch.tensor([[1, 0, 1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        prepare_prompts(hf_gpt2, ids, attention_mask=torch.tensor([[1, 1]]))
    with pytest.raises(ValueError, match="no real token"):
        prepare_prompts(hf_gpt2, ids, attention_mask=torch.tensor([[0, 0, 0, 0]]))


def test_prompts_object_and_ragged_lists(hf_gpt2):
    rows = [hf_gpt2.to_tokens(s)[0].tolist() for s in PROMPTS]
    p = prepare_prompts(hf_gpt2, rows)
    assert isinstance(p, Prompts) and p.rows() == rows and p.ragged
    assert prepare_prompts(hf_gpt2, p) is p


@pytest.mark.parametrize("mask", ["pad", "embed_zero"])
def test_ragged_token_units_are_mean_of_single_prompt_games(hf_gpt2, mask):
    from spex_mech.units.tokens import TokenUnits

    spans = [1, 2, (3, 5)]  # inside the shortest prompt
    game = sm.AblationGame(hf_gpt2, TokenUnits(hf_gpt2, PROMPTS, spans, mask=mask), PROMPTS, metrics.logprob(" good"))
    masks = _masks(game.n)
    singles = [
        sm.AblationGame(hf_gpt2, TokenUnits(hf_gpt2, [s], spans, mask=mask), [s], metrics.logprob(" good"))(masks)
        for s in PROMPTS
    ]
    np.testing.assert_allclose(game(masks), np.mean(singles, axis=0), rtol=1e-5, atol=1e-6)
    assert np.ptp(game(masks)) > 1e-3


def test_original_output_refuses_ragged_prompts(hf_gpt2):
    from spex_mech.units.tokens import original_output

    with pytest.raises(ValueError, match=r"original_output needs prompts of one length \(got \[15, 5, 5\] tokens\)"):
        original_output(hf_gpt2, PROMPTS, max_new_tokens=2)
    out = original_output(hf_gpt2, PROMPTS[1:], max_new_tokens=2)  # equal lengths are fine
    assert out.tokens.shape == (2, 6) and out.continuation.shape == (2, 2)  # the last token is only a target


def test_prompts_longer_than_the_context_are_refused_not_truncated(hf_gpt2):
    """TransformerLens's to_tokens truncates to n_ctx by default: a long string prompt would be cut silently
    and the metric read at the wrong token. It is an error naming the prompt and the context instead."""
    model = hf_gpt2
    n_ctx = model.cfg.n_ctx
    long_text = " good" * (n_ctx + 5)
    assert len(model.to_tokens(long_text, truncate=False)[0]) > n_ctx  # the oracle: it really is too long
    with pytest.raises(ValueError, match=rf"prompt 1 has \d+ tokens, longer than the model's context n_ctx={n_ctx}"):
        prepare_prompts(model, ["a short one", long_text])
    ids = [[1] * (n_ctx + 1), [2, 3]]  # ragged id lists too
    with pytest.raises(ValueError, match=rf"prompt 0 has {n_ctx + 1} tokens, longer than the model's context"):
        prepare_prompts(model, ids)
    fits = prepare_prompts(model, [[1] * n_ctx, [2, 3]])
    assert fits.lengths.tolist() == [n_ctx, 2]
