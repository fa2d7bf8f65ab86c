"""Batch size from measurement: the probe's meter against known allocations, the rule, and values that
do not depend on the rows per pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics
from spex_mech.engine import rowbudget
from spex_mech.engine.rowbudget import HEADROOM, PeakMeter, estimate_bytes_per_row

from .test_engine import random_masks, units_for

MB = 1 << 20


def test_cpu_meter_counts_live_storages_exactly():
    with PeakMeter(torch.device("cpu")) as meter:
        a = torch.empty(MB, dtype=torch.float32)  # 4 MiB
        view = a[::2]  # a view: no new storage
        b = torch.empty(MB // 2, dtype=torch.float64)  # 4 MiB: 8 MiB live
        del a, view, b
        c = torch.empty(3 * MB, dtype=torch.uint8)  # 3 MiB after the others were freed
        del c
    assert meter.peak == 8 * MB


def test_cpu_meter_keeps_storage_while_a_view_lives():
    with PeakMeter(torch.device("cpu")) as meter:
        a = torch.empty(MB, dtype=torch.float32)
        view = a[:10]
        del a  # the view keeps the 4 MiB alive
        b = torch.empty(MB, dtype=torch.float32)
        del view, b
    assert meter.peak == 8 * MB


def test_auto_rows_are_measured_on_first_use_and_values_match_a_fixed_batch(tiny_model, tiny_tokens):
    masks = random_masks(7, 300, seed=3)
    metric = metrics.logprob(target=7)
    auto = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric)
    assert auto.row_budget.source == "estimate" and not auto.row_budget.measured
    got = auto(masks)
    budget = auto.row_budget
    assert budget.source == "cpu tensors" and budget.measured
    assert budget.probe_rows > 0 and budget.probe_peak_bytes > 0
    assert auto.rows_per_pass == budget.rows == auto.plan["rows_per_pass"]
    # bounds from the shapes: at least one float32 residual stream per row, at most the analytic guess
    d_model, length = tiny_model.cfg.d_model, tiny_tokens.shape[1]
    assert 4 * d_model * length <= budget.bytes_per_row < estimate_bytes_per_row(auto.dims, length, 1)
    assert budget.rows == min(budget.speed_cap, int(budget.budget_bytes // (HEADROOM * budget.bytes_per_row)))
    for bs in (1, 13):
        fixed = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metric, batch_size=bs)
        assert fixed.row_budget.source == "fixed"
        np.testing.assert_allclose(fixed(masks), got, rtol=1e-6, atol=1e-7)
        assert fixed.rows_per_pass == bs
    # later calls keep the measured rows
    np.testing.assert_allclose(auto(masks[:50]), got[:50], rtol=1e-6, atol=1e-7)
    assert auto.row_budget == budget


def test_measured_rows_keep_passes_within_a_small_budget(tiny_model, tiny_tokens, monkeypatch):
    """With a budget of a few rows' worth, the chosen passes really stay within it."""
    probe = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7))
    probe(random_masks(7, 200, seed=1))
    per_row = probe.row_budget.bytes_per_row
    monkeypatch.setattr(rowbudget, "_total_memory_bytes", lambda: int(8 * 60 * per_row))  # budget: 60 rows' worth
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7))
    masks = random_masks(7, 400, seed=2)
    seen = []
    hook = "blocks.1.hook_resid_pre"
    tiny_model.hook_dict[hook].add_hook(lambda act, hook=None: seen.append(act.shape[0]))
    try:
        with PeakMeter(torch.device("cpu")) as meter:
            got = game(masks)
    finally:
        tiny_model.hook_dict[hook].remove_hooks()
    budget = game.row_budget
    assert budget.measured and budget.budget_bytes == int(60 * per_row)
    assert budget.rows == int(budget.budget_bytes // (HEADROOM * budget.bytes_per_row)) < 60
    assert len(seen) > 3 and max(seen[1:]) == budget.rows // game.n_prompts * game.n_prompts  # whole masks × prompts
    assert meter.peak <= budget.budget_bytes
    np.testing.assert_allclose(got, probe(masks), rtol=1e-6, atol=1e-7)


def test_too_few_masks_defer_the_measurement(tiny_model, tiny_tokens):
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7))
    per = game.rows_per_pass // game.n_prompts
    assert per // 4 > 12  # the tiny model's estimate allows far more than the calls below
    game(random_masks(7, 12))  # 60 rows: below MIN_PROBE_ROWS, not measured
    assert game.row_budget.source == "estimate"
    game(random_masks(7, 13))  # 65 rows: measured whole
    assert game.row_budget.measured and game.row_budget.probe_rows == 65


def test_out_of_memory_halves_the_rows_and_retries_the_same_masks(tiny_model, tiny_tokens, monkeypatch):
    game = sm.AblationGame(tiny_model, units_for(tiny_model), tiny_tokens, metrics.logprob(target=7), batch_size=40)
    masks = random_masks(7, 30, seed=5)
    expected = game(masks)
    real = game._masked_logits

    def limited(masks_, *args):
        if masks_.shape[0] * game.n_prompts > 12:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(masks_, *args)

    monkeypatch.setattr(game, "_masked_logits", limited)
    with pytest.warns(UserWarning, match="out of GPU memory"):
        got = game(masks)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert game.rows_per_pass <= 12 and game.row_budget.rows == game.rows_per_pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_rows_are_measured_from_the_allocator_peak(tiny_tokens):
    from .conftest import build_tiny

    model = build_tiny(seed=0).to("cuda")
    masks = random_masks(7, 400, seed=3)
    auto = sm.AblationGame(model, units_for(model), tiny_tokens, metrics.logprob(target=7))
    got = auto(masks)
    assert auto.row_budget.source == "cuda peak" and auto.row_budget.probe_peak_bytes > 0
    with PeakMeter(torch.device("cuda")) as meter:
        auto(masks)
    assert meter.peak <= auto.row_budget.budget_bytes
    fixed = sm.AblationGame(model, units_for(model), tiny_tokens, metrics.logprob(target=7), batch_size=13)
    np.testing.assert_allclose(fixed(masks), got, rtol=1e-5, atol=1e-6)
