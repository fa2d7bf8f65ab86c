"""Opt-in reduced precision: fp32 stays exact and the default; bf16 stays within a stated tolerance of
fp32; tf32 is CUDA only; the CLI key and the store identity carry it. CUDA checks skip without a device."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics
from spex_mech.cli import main

from .conftest import reference_masked_values
from .test_engine import HEADS, NEURONS, logprob_at, random_masks, units_for

# stated tolerance of bf16 autocast against fp32 on the tiny test model: max |Δf| ≤ 3% of max |f|
BF16_REL = 0.03


def test_fp32_is_the_default_and_bit_identical(tiny_model, tiny_tokens):
    masks = random_masks(7, 40, seed=1)
    metric = metrics.logprob(target=7, position=-2)
    default = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric)
    explicit = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric, precision="fp32")
    assert default.precision == "fp32"
    got = default(masks)
    np.testing.assert_array_equal(explicit(masks), got)
    oracle = reference_masked_values(
        tiny_model, tiny_tokens, masks, HEADS, NEURONS, "mean", tiny_tokens, logprob_at(-2, 7)
    )
    np.testing.assert_allclose(got, oracle, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", [metrics.logprob(target=7, position=-2), metrics.logit_diff(correct=1, incorrect=9)])
def test_bf16_autocast_stays_within_the_stated_tolerance_of_fp32(tiny_model, tiny_tokens, metric):
    masks = random_masks(7, 120, seed=2)
    exact = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric)(masks)
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric, precision="bf16")
    low = game(masks)
    deviation = np.abs(low - exact).max()
    assert 0 < deviation <= BF16_REL * np.abs(exact).max()  # > 0: the mode really ran in bf16
    assert np.corrcoef(low, exact)[0, 1] > 0.99
    assert low.dtype == np.float64 and game.clean_value == pytest.approx(exact[0], abs=1e-5)  # mask 0 keeps all
    assert "precision='bf16'" in repr(game)


def test_precision_names_are_checked(tiny_model, tiny_tokens):
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose one of fp32, tf32, bf16"):
        sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7), precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="precision 'tf32' needs a CUDA device"):
            sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7), precision="tf32")


CONFIG = (
    '[model]\nzoo = "planted"\n{extra}'
    '[prompts]\ntokens = [[0, 1, 2, 3, 0, 1], [1, 2, 3, 0, 1, 2]]\n'
    '[metric]\nkind = "logit_diff"\ncorrect = 1\nincorrect = 0\n'
    '[ablation]\nkind = "zero"\n[algorithm]\nname = "spex"\nmax_order = 3\nbudget = 2000\n'
    '[output]\nfigures = []\nfaithfulness_samples = 0\n'
)


def test_cli_precision_key(tmp_path, capsys):
    good = tmp_path / "bf16.toml"
    good.write_text(CONFIG.format(extra='precision = "bf16"\n'))
    assert main(["run", str(good), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    result = sm.Interactions.from_dict(doc["interactions"])
    assert doc["run"]["precision"] == "bf16" and doc["run"]["row_budget"]["source"] in ("cpu tensors", "cuda peak")
    # the planted model's values are small integers and halves: bf16 represents them exactly
    got = {k: v for k, v in result.mobius().items() if abs(v) > 1e-3}
    assert got[(0, 1)] == pytest.approx(2.0, abs=0.02) and got[(4, 5, 6)] == pytest.approx(-1.0, abs=0.02)
    if not torch.cuda.is_available():
        bad = tmp_path / "tf32.toml"
        bad.write_text(CONFIG.format(extra='precision = "tf32"\n'))
        assert main(["check", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("spex-mech: config error: [model] precision: precision 'tf32' needs a CUDA device")


def test_store_identity_names_reduced_precision_only():
    from spex_mech.identity import game_identity

    common = dict(model_hash="m", unit_ids=["a"], tokens=[[1]], reference=None, metric={}, ablation="zero")
    assert "precision" not in game_identity(**common)
    assert game_identity(**common, precision="bf16")["precision"] == "bf16"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_cuda_reduced_precision_within_tolerance(precision, tiny_tokens):
    from .conftest import build_tiny

    model = build_tiny(seed=0).to("cuda")
    masks = random_masks(7, 200, seed=4)
    metric = metrics.logit_diff(correct=1, incorrect=9)
    exact = sm.AblationGame(model, units_for(model), tiny_tokens, metric)(masks)
    low = sm.AblationGame(model, units_for(model), tiny_tokens, metric, precision=precision)(masks)
    assert np.abs(low - exact).max() <= BF16_REL * np.abs(exact).max()
    assert torch.backends.cuda.matmul.allow_tf32 is False or precision != "tf32"  # flags restored
