"""The engine on a CUDA device: same values as the per-mask oracle and as the CPU engine.

Skipped where no GPU is present (CI has none); run on a GPU machine with ``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics

from .conftest import build_tiny, reference_masked_values
from .test_engine import HEADS, NEURONS, _hook_count, logprob_at, random_masks, units_for

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def cuda_model():
    return build_tiny(attn_only=False, seed=0).to("cuda")


@pytest.fixture(scope="module")
def cpu_model():
    return build_tiny(attn_only=False, seed=0)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 40, (5, 12), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("ablation", ["zero", "mean", "resample"])
def test_cuda_batch_equals_single_mask_runs(cuda_model, tokens, ablation):
    ref = (
        torch.randint(0, 40, tokens.shape, generator=torch.Generator().manual_seed(2))
        if ablation == "resample"
        else None
    )
    game = sm.AblationGame(
        cuda_model,
        units_for(cuda_model),
        tokens,
        metrics.logprob(target=7, position=-2),
        ablation=ablation,
        reference=ref,
    )
    assert game.device.type == "cuda"
    masks = random_masks(game.n, 24)
    got = game(masks)
    oracle = reference_masked_values(
        cuda_model,
        tokens.cuda(),
        masks,
        HEADS,
        NEURONS,
        ablation,
        (ref if ref is not None else tokens).cuda(),
        logprob_at(-2, 7),
    )
    np.testing.assert_allclose(got, oracle, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float64 and np.ptp(got) > 0.05


def test_cuda_equals_cpu_and_chunking_does_not_matter(cuda_model, cpu_model, tokens):
    metric = metrics.logit_diff(correct=1, incorrect=9, position=[-1, 4])
    masks = random_masks(7, 300, seed=3)
    on_cpu = sm.AblationGame(cpu_model, units_for(cpu_model), tokens, metric)(masks)
    auto = sm.AblationGame(cuda_model, units_for(cuda_model), tokens, metric, batch_size="auto")
    small = sm.AblationGame(cuda_model, units_for(cuda_model), tokens, metric, batch_size=13)
    assert auto.rows_per_pass > 13  # the GPU memory budget allows large passes
    np.testing.assert_allclose(auto(masks), on_cpu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(small(masks), auto(masks), rtol=1e-5, atol=1e-6)
    # numpy, torch-on-CPU and torch-on-GPU masks give the same rows
    np.testing.assert_allclose(auto(torch.from_numpy(masks).cuda()), auto(masks), rtol=0, atol=0)


def test_cuda_hooks_removed_on_error(cuda_model, tokens):
    before = _hook_count(cuda_model)

    def exploding(logits):
        if logits.shape[0] > 1:  # the clean run passes; the masked evaluation raises
            raise RuntimeError("metric exploded")
        return logits[..., -1, 0]

    game = sm.AblationGame(
        cuda_model, units_for(cuda_model), tokens, metrics.custom(exploding), share_prefix=False, restrict_unembed=False
    )
    with pytest.raises(RuntimeError, match="metric exploded"):
        game(random_masks(game.n, 5))
    assert _hook_count(cuda_model) == before


def test_cuda_device_mismatch_is_named(cpu_model, tokens):
    with pytest.raises(ValueError, match="move the model first"):
        sm.AblationGame(cpu_model, sm.AttentionHeads(cpu_model), tokens, metrics.logprob(target=1), device="cuda")


def test_cuda_token_units(cuda_model, tokens):
    """Feature lens on GPU: masking input tokens (and heads, one index space) gives the CPU values."""
    prompt = tokens[0]
    cpu = build_tiny(attn_only=False, seed=0)
    values = []
    for model in (cpu, cuda_model):
        units = sm.TokenUnits(model, prompt, mask=0) + sm.AttentionHeads(model, layers=[1])
        game = sm.AblationGame(model, units, prompt[None], metrics.logprob(target=3, position=-1), ablation="mean")
        values.append(game(random_masks(game.n, 40, seed=4)))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-4, atol=1e-5)
    assert np.ptp(values[0]) > 0.01
