"""The protocol every value function of the package satisfies, and that algorithms read.

A value function is called on masks ``[B, n]`` (``x_i = 1`` keeps unit ``i``) and returns float64
values ``[B]``; it says how many units it has (``n``), their short ``labels`` and stable ``ids``
(TransformerLens hook names for model units, or ``None``), how many evaluations it has run
(``n_evaluations``) and, as one mapping, what a result should carry from it (``provenance()``).
Plain callables work with the algorithms too (:class:`~spex_mech.ValueFunction` supplies the rest).
"""

from __future__ import annotations

from typing import Any, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Game"]


@runtime_checkable
class Game(Protocol):
    """A value function over ``n`` maskable units: ``game(masks[B, n]) -> values[B]``.

    Attributes
    ----------
    n : int
        Number of units.
    labels : sequence of str
        Short unit names.
    ids : sequence of str or None
        Stable unit ids (hook names with an index for model units).
    n_evaluations : int
        Evaluations run so far.
    """

    n: int
    labels: Sequence[str]
    ids: Optional[Sequence[str]]

    @property
    def n_evaluations(self) -> int:
        """Evaluations run so far."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Return ``{"labels", "ids", "n_evaluations"}``: what a result carries from this value function."""
        ...

    def __call__(self, masks: Any) -> np.ndarray:
        """Return the value of each mask row, float64 ``[B]``."""
        ...
