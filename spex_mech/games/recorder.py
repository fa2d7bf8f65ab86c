"""A value function that keeps every (mask, value) an algorithm asked for, in order.

For comparisons at equal budget: fit a baseline (e.g.
:func:`~spex_mech.algorithms.baselines.linear_datamodel`) on exactly the evaluations an algorithm used.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..valuefn import ValueFunction, resolve_ids, to_mask_array

__all__ = ["Recorder"]


class Recorder:
    """Wrap a value function and keep every (mask, value) it was asked for, in order.

    Parameters
    ----------
    f : callable
        The value function.
    n : int, optional
        Number of units (default: ``f.n``).

    Examples
    --------
    >>> asked = Recorder(game)
    >>> result = proxyspex(asked, budget=800)
    >>> linear = linear_datamodel(asked.masks, asked.values, labels=game.labels)
    """

    def __init__(self, f: Callable[[np.ndarray], Any], n: Optional[int] = None):
        self.f = ValueFunction(f, n)
        self.n = self.f.n
        self.labels = self.f.labels
        self.ids = resolve_ids(f)
        self._masks: list[np.ndarray] = []
        self._values: list[np.ndarray] = []

    @property
    def n_evaluations(self) -> int:
        """Mask rows evaluated through this recorder."""
        return self.f.n_evaluations

    def provenance(self) -> dict[str, Any]:
        """Return what a result carries from this value function: unit labels, ids, evaluations.

        Returns
        -------
        dict
            ``labels``, ``ids`` and ``n_evaluations``.
        """
        return {"labels": self.labels, "ids": self.ids, "n_evaluations": self.n_evaluations}

    def __call__(self, masks: Any) -> np.ndarray:
        """Evaluate and record the masks; return their values, float64 [B].

        Parameters
        ----------
        masks : array-like
            0/1 or bool ``[B, n]``.

        Returns
        -------
        numpy.ndarray
            float64 ``[B]``.
        """
        arr = to_mask_array(masks, self.n)
        values = self.f(arr)
        self._masks.append(arr.copy())
        self._values.append(values.copy())
        return values

    @property
    def masks(self) -> np.ndarray:
        """Every recorded mask, bool ``[N, n]``, in the order asked."""
        return np.vstack(self._masks) if self._masks else np.zeros((0, self.n), dtype=bool)

    @property
    def values(self) -> np.ndarray:
        """Every recorded value, float64 ``[N]``, in the order asked."""
        return np.concatenate(self._values) if self._values else np.zeros(0)
