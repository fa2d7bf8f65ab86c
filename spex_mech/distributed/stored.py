"""The run's store behind a distributed game: stored masks are answered from it, fresh ones are evaluated
on the cluster and each finished chunk is appended by the driver as it arrives.

Only the store's public API is used here — ``lookup(masks) -> (found, values)``, ``append(masks,
values)`` and ``len(store)`` — so any store with that API works.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import numpy as np

from ..valuefn import to_mask_array

__all__ = ["StoredRayGame", "open_store"]


def open_store(path: str | os.PathLike, n: int, meta: Optional[Mapping[str, Any]] = None) -> Any:
    """The run store at ``path`` for ``n`` units and game identity ``meta`` (created if absent)."""
    from ..store import MaskStore

    return MaskStore(path, n, meta)


class StoredRayGame:
    """``f(masks) -> values`` over a :class:`~spex_mech.distributed.RayGame` and a store.

    Masks already stored (from this run or a killed one, with ``--resume``) are not evaluated again;
    duplicates within one call are evaluated once. A driver killed mid-call loses only the chunks in
    flight. ``n_evaluations`` counts fresh evaluations, ``n_reused`` answers from the store, ``n_calls``
    the calls received — the same counters as :class:`~spex_mech.store.StoredValueFunction`.
    """

    def __init__(self, game: Any, store: Any):
        self.game = game
        self.store = store
        self.n = int(game.n)
        self.labels = getattr(game, "labels", None)
        self.ids = getattr(game, "ids", None)
        self.n_evaluations = 0
        self.n_reused = 0
        self.n_calls = 0

    def _append(self, masks: np.ndarray, values: np.ndarray) -> None:
        self.store.append(masks, values)
        self.n_evaluations += masks.shape[0]

    def __call__(self, masks: Any) -> np.ndarray:
        self.n_calls += 1
        arr = to_mask_array(masks, self.n)
        found, values = self.store.lookup(arr)
        values = np.array(values, dtype=np.float64)
        found = np.asarray(found, dtype=bool)
        todo = np.nonzero(~found)[0]
        if todo.size:
            _, first, inverse = np.unique(np.packbits(arr[todo], axis=1), axis=0, return_index=True, return_inverse=True)
            fresh_rows = todo[first]
            fresh_vals = self.game.evaluate(arr[fresh_rows], on_chunk=self._append)
            values[todo] = fresh_vals[inverse.reshape(-1)]
        self.n_reused += int(found.sum())
        return values
