"""Put the run's store behind a distributed game.

Stored masks are answered from the store, fresh ones are evaluated on the cluster and each finished chunk
is appended by the driver as it arrives.

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
    """Open the run store at ``path`` for ``n`` units and game identity ``meta`` (created if absent).

    Parameters
    ----------
    path : str or os.PathLike
        The store's folder.
    n : int
        Number of units.
    meta : Mapping, optional
        The game's identity; a store made for another identity is refused.

    Returns
    -------
    MaskStore
        The store.
    """
    from ..store import MaskStore

    return MaskStore(path, n, meta)


class StoredRayGame:
    """``f(masks) -> values`` over a :class:`~spex_mech.distributed.RayGame` and a store.

    Masks already stored (from this run or a killed one, with ``--resume``) are not evaluated again;
    duplicates within one call are evaluated once. A driver killed mid-call loses only the chunks in
    flight. ``n_evaluations`` counts fresh evaluations, ``n_reused`` answers from the store, ``n_calls``
    the calls received — the same counters as :class:`~spex_mech.store.StoredValueFunction`.

    Parameters
    ----------
    game : RayGame
        The distributed game.
    store : Any
        A store with ``lookup(masks) -> (found, values)``, ``append(masks, values)`` and ``len(store)``.
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
        """Answer stored masks from the store and evaluate the rest on the cluster.

        Parameters
        ----------
        masks : array_like
            Masks [B, n].

        Returns
        -------
        numpy.ndarray
            Values [B] (float64), row order.
        """
        self.n_calls += 1
        arr = to_mask_array(masks, self.n)
        found, values = self.store.lookup(arr)
        values = np.array(values, dtype=np.float64)
        found = np.asarray(found, dtype=bool)
        todo = np.nonzero(~found)[0]
        if todo.size:
            packed = np.packbits(arr[todo], axis=1)
            _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
            fresh_rows = todo[first]
            fresh_vals = self.game.evaluate(arr[fresh_rows], on_chunk=self._append)
            values[todo] = fresh_vals[inverse.reshape(-1)]
        self.n_reused += int(found.sum())
        return values
