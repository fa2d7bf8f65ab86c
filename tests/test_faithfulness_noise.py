"""Estimated noise tolerance of the faithfulness warnings (issue 19).

Delta-method standard errors against an independent covariance computation, warnings inside / outside
noise, the tiny-effect warning, the fixed fallback for plain callables, and per-prompt values read from
an AblationGame against single-prompt games.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech.circuits import faithfulness_curve
from spex_mech.circuits.curves import DEFAULT_NOISE, FaithfulnessWarning
from spex_mech.circuits.noise import delta_method_se, estimate_noise, sample_values
from spex_mech.zoo._bridge import build_native


def _independent_se(clean, empty, circuit):
    """Return the se of mean(circuit − empty) / mean(clean − empty): numerical gradient × covariance of the means."""
    x = np.stack([clean, empty, circuit])
    mu = x.mean(axis=1)
    cov = np.cov(x, ddof=1) / x.shape[1]

    def g(m):
        return (m[2] - m[1]) / (m[0] - m[1])

    h = 1e-6
    grad = np.array([(g(mu + h * e) - g(mu - h * e)) / (2 * h) for e in np.eye(3)])
    return float(np.sqrt(grad @ cov @ grad))


class TableGame:
    """Two units; per-prompt values from a table [4 mask codes, P] (code = x0 + 2·x1)."""

    n = 2

    def __init__(self, table, per_prompt=True):
        self.table = np.asarray(table, dtype=np.float64)
        if per_prompt:
            self.per_prompt_values = self._per_prompt

    def _per_prompt(self, masks):
        masks = np.asarray(masks, dtype=bool)
        return self.table[masks[:, 0].astype(int) + 2 * masks[:, 1].astype(int)]

    def __call__(self, masks):
        """Return the mean over prompts."""
        return self._per_prompt(masks).mean(axis=1)


def _table(offset_in_se, seed=0, prompts=12):
    """Per-prompt table whose unit-0 circuit has faithfulness 1 + offset_in_se · se (se solved by iteration)."""
    rng = np.random.default_rng(seed)
    clean = 2.0 + 0.3 * rng.standard_normal(prompts)
    empty = 0.5 * rng.standard_normal(prompts)
    dev = 0.2 * rng.standard_normal(prompts)
    dev -= dev.mean()
    effect = clean.mean() - empty.mean()
    target = 1.0
    for _ in range(50):  # se depends weakly on the circuit's mean: iterate to the fixed point
        circuit = empty.mean() + target * effect + dev
        se = _independent_se(clean, empty, circuit)
        target = 1.0 + offset_in_se * se
    circuit = empty.mean() + target * effect + dev
    table = np.stack([empty, circuit, rng.standard_normal(prompts), clean])  # codes 0, 1 ({0}), 2 ({1}), 3
    return table, target, _independent_se(clean, empty, circuit)


def test_delta_method_equals_an_independent_covariance_computation():
    """delta_method_se equals gradient × covariance × gradient of the ratio of means."""
    rng = np.random.default_rng(1)
    clean, empty = 3 + rng.standard_normal(40), rng.standard_normal(40)
    circuits = [1.5 + rng.standard_normal(40), 2.5 + 0.3 * rng.standard_normal(40) + 0.5 * clean]
    faith, se, effect_se = delta_method_se(np.stack([clean, empty, *circuits]))
    for j, c in enumerate(circuits):
        assert faith[j] == pytest.approx((c.mean() - empty.mean()) / (clean.mean() - empty.mean()))
        assert se[j] == pytest.approx(_independent_se(clean, empty, c), rel=1e-5)
    assert effect_se == pytest.approx(np.std(clean - empty, ddof=1) / np.sqrt(40))


@pytest.mark.parametrize("offset, warns", [(2.0, False), (4.5, True)])
def test_keep_faithfulness_warns_only_outside_k_standard_errors(offset, warns):
    """1 + 2 se stays quiet with k = 3; 1 + 4.5 se warns and names the standard error."""
    table, target, se = _table(offset)
    assert target - 1 > DEFAULT_NOISE or offset > 3  # the fixed 0.05 would not decide these cases the same way
    curve = faithfulness_curve(TableGame(table), [0, 1], warn=False)
    assert curve.keep[0] == pytest.approx(target)
    assert curve.noise_method.startswith("delta method over 12 per-prompt values")
    msgs = [m for m in curve.warnings if "leaves [0, 1]" in m]
    assert bool(msgs) == warns
    if warns:
        assert f"(se {se:.3g})" in msgs[0]


def test_fixed_tolerance_for_plain_callables():
    """Without per-prompt values the fixed tolerance decides, and the curve says so."""
    table, _, _ = _table(0.0)
    for value, warns in ((1.0 + 0.6 * DEFAULT_NOISE, False), (1.0 + 1.6 * DEFAULT_NOISE, True)):
        t = table.copy()
        t[1] = t[0].mean() + value * (t[3].mean() - t[0].mean()) + (t[1] - t[1].mean())
        game = TableGame(t, per_prompt=False)
        assert sample_values(game, np.ones((1, 2), bool)) is None
        curve = faithfulness_curve(game, [0, 1], warn=False)
        assert curve.noise_method.startswith("fixed tolerance") and curve.noise_evaluations == 0
        assert any("fixed tolerance 0.05" in m for m in curve.warnings) == warns


def test_tiny_effect_within_noise_warns():
    """An effect above min_effect of the scale but within 3 standard errors warns as noise."""
    rng = np.random.default_rng(4)
    clean = 1.0 + 1.5 * rng.standard_normal(8)
    empty = 0.8 + 1.5 * rng.standard_normal(8)
    clean += 1.0 - clean.mean()
    empty += 0.8 - empty.mean()
    effect_se = np.std(clean - empty, ddof=1) / np.sqrt(8)
    assert 0.2 <= 3 * effect_se and 0.2 > 0.05 * 1.0  # inside noise, not caught by min_effect
    table = np.stack([empty, 0.9 + 0 * clean, 0.9 + 0 * clean, clean])
    with pytest.warns(FaithfulnessWarning, match="within noise"):
        curve = faithfulness_curve(TableGame(table), [0, 1])
    msg = [m for m in curve.warnings if "within noise" in m][0]
    assert f"(se {effect_se:.3g})" in msg
    quiet = TableGame(np.stack([empty, 0.9 + 0 * clean, 0.9 + 0 * clean, clean + 5.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaithfulnessWarning)
        faithfulness_curve(quiet, [0, 1])


def test_repeated_evaluations_of_a_stochastic_game():
    """Turn repeats ≥ 2 into repeated calls into samples; every call is counted."""
    rng = np.random.default_rng(2)

    def f(masks):
        masks = np.asarray(masks, dtype=bool)
        return masks.sum(axis=1) + 0.1 * rng.standard_normal(masks.shape[0])

    est = estimate_noise(f, np.array([[True, False]]), repeats=6)
    assert est.method == "delta method over 6 repeated evaluations" and est.n_evaluations == 3 * 6
    assert 0 < est.se[0] < 1 and 0 < est.effect_se < 1
    assert not estimate_noise(f, np.array([[True, False]])).estimated


def test_bad_per_prompt_values_are_refused():
    """Per-prompt values of the wrong shape or not finite are an error naming the row, not a silent fallback."""
    table, _, _ = _table(0.0)
    game = TableGame(table)
    game.per_prompt_values = lambda masks: np.zeros(3)
    with pytest.raises(ValueError, match=r"must be \[1 masks, samples\], got shape \(3,\)"):
        sample_values(game, np.ones((1, 2), bool))
    table[3, 5] = np.nan
    with pytest.raises(ValueError, match="mask row 0, sample 5 is not finite"):
        sample_values(TableGame(table), np.ones((1, 2), bool))


def test_ablation_game_per_prompt_values_equal_single_prompt_games():
    """Per-prompt values recorded from a game equal one game per prompt; the game's metric is restored."""
    cfg = dict(d_model=16, d_head=4, n_heads=4, n_layers=1, n_ctx=16, d_vocab=32, attn_only=True,
               normalization_type="LN", seed=2)
    model = build_native(cfg)
    model.eval()
    prompts = torch.randint(1, 32, (3, 6), generator=torch.Generator().manual_seed(0))
    units = sm.AttentionHeads(model)
    game = sm.AblationGame(model, units, prompts, sm.metrics.logit_diff(4, 9, position=-1), ablation="zero")
    masks = np.array([[1, 1, 1, 1], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=bool)
    before = game.metric
    per, source = sample_values(game, masks)
    assert source == "per-prompt values" and per.shape == (3, 3)
    assert game.metric is before
    for p in range(3):
        single = sm.AblationGame(model, units, prompts[p : p + 1], sm.metrics.logit_diff(4, 9, position=-1),
                                 ablation="zero")
        np.testing.assert_allclose(per[:, p], single(masks), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(per.mean(axis=1), game(masks), rtol=1e-9, atol=1e-12)
    assert np.ptp(per[0]) > 1e-3  # prompts differ: the samples carry information


def test_minimal_circuit_uses_the_estimate():
    """The minimal circuit's warnings use the standard errors of its own two masks."""
    table, target, se = _table(4.5, seed=3)
    game = TableGame(table)
    found = sm.circuits.minimal_circuit(sm.exhaustive(game), game, target=0.5, complete=False, warn=False)
    assert found.noise_method.startswith("delta method over 12 per-prompt values")
    assert found.units == (0,) and found.keep == pytest.approx(target)
    assert any(f"(se {se:.3g})" in m for m in found.warnings)
