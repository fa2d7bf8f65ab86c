"""The rows per forward pass a game starts with, before its first evaluation measures them.

The given ``batch_size``, or an analytic estimate within the memory budget of
:mod:`spex_mech.engine.rowbudget` (which also holds the measurement that replaces it) and, on CPU, a
speed cap.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

from .rowbudget import HEADROOM, RowBudget, estimate_bytes_per_row, memory_budget, rows_for

__all__ = ["initial_row_budget"]


def initial_row_budget(
    batch_size: Union[int, str], dims: dict[str, Optional[int]], length: int, read_positions: int, device: torch.device
) -> RowBudget:
    """Return the starting row budget: ``batch_size`` rows, or the estimate for ``"auto"``.

    Parameters
    ----------
    batch_size : int or "auto"
        Rows (masks × prompts) per forward pass, or ``"auto"``.
    dims : dict
        The model's dimensions (:func:`~spex_mech.units.base.model_dims`).
    length : int
        The prompt length.
    read_positions : int
        Positions per prompt the metric reads.
    device : torch.device
        Where the game runs.

    Returns
    -------
    RowBudget
        ``source="fixed"`` for a given size, ``"estimate"`` for ``"auto"``.

    Raises
    ------
    ValueError
        If ``batch_size`` is neither a positive int nor ``"auto"``.
    """
    if batch_size != "auto":
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int or 'auto', got {batch_size!r}")
        return RowBudget(rows=batch_size, bytes_per_row=0.0, budget_bytes=0, source="fixed")
    d = {k: (v or 0) for k, v in dims.items()}
    d_model = d["d_model"] or 512
    layers = d["n_layers"] or 1
    per_row = estimate_bytes_per_row(dims, length, read_positions)
    flops_per_token = 2 * layers * (4 * d_model**2 + 2 * d_model * d["d_mlp"] + 2 * length * d_model)
    budget = memory_budget(device)
    speed_cap = None
    if device.type != "cuda":
        # CPU matmuls saturate at a few thousand tokens per pass; tiny models need more rows to
        # amortise the framework's fixed cost per call
        tokens = int(np.clip(4e9 / max(flops_per_token, 1), 2048, 32768))
        speed_cap = max(1, tokens // length)
    rows = rows_for(per_row / HEADROOM, budget, speed_cap if speed_cap is not None else 1 << 30)
    return RowBudget(
        rows=rows, bytes_per_row=float(per_row), budget_bytes=budget, source="estimate", speed_cap=speed_cap
    )
