"""Build a shapiq ``InteractionValues`` from a plain payload.

The module uses numpy and shapiq only, no package imports, so the conversion itself can be exercised in a
Python ≥ 3.12 environment that has shapiq but not torch.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def interaction_values(payload: Mapping[str, Any]) -> Any:
    """Build a ``shapiq.InteractionValues`` from a payload dict.

    Parameters
    ----------
    payload : Mapping
        The dict of :func:`spex_mech.results.exports.shapiq_payload`.

    Returns
    -------
    shapiq.InteractionValues
        The interaction values.
    """
    import shapiq

    keys = [tuple(int(u) for u in k) for k in payload["interactions"]]
    values = np.asarray(payload["values"], dtype=np.float64)
    if len(keys) != values.shape[0]:
        raise ValueError("payload interactions and values differ in length")
    return shapiq.InteractionValues(
        values=values,
        index=str(payload["index"]),
        max_order=int(payload["max_order"]),
        min_order=int(payload["min_order"]),
        n_players=int(payload["n_players"]),
        interaction_lookup={k: i for i, k in enumerate(keys)},
        estimated=bool(payload["estimated"]),
        estimation_budget=payload.get("estimation_budget"),
        baseline_value=float(payload["baseline_value"]),
    )
