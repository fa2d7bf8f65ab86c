"""A value function that answers masks already evaluated from a record and evaluates only the new ones.

:class:`StoredValueFunction` wraps any ``f(masks) -> values`` over a :class:`~spex_mech.store.MaskStore`
(on disk) or :class:`~spex_mech.store.MemoryStore`: it looks masks up, evaluates each distinct new mask
once (in packed-byte order, or ``in_order`` as first asked), in batches of ``flush_every``, and records
each finished batch before the next starts. A wrapped function that fails part-way through a batch may raise
:class:`PartialEvaluation` to have the rows it did finish recorded before the failure propagates.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
from tqdm.auto import tqdm

from ..runtime import interactive
from ..store import MaskStore, MemoryStore, StoreError
from ..validation import check_int
from ..valuefn import check_values, resolve_ids, resolve_labels, resolve_n, to_mask_array

__all__ = ["PartialEvaluation", "StoredValueFunction"]


class PartialEvaluation(Exception):
    """Raised by a wrapped function that finished some rows of a batch before one failed.

    :class:`StoredValueFunction` records the finished rows, sets :attr:`row` to the failing row's index
    in the masks it was called with, and re-raises.

    Parameters
    ----------
    done : numpy.ndarray
        Bool ``[b]``: which rows of the batch finished.
    values : numpy.ndarray
        Float64 ``[b]``: their values (finite where ``done``).
    local_row : int
        The failing row, counted within the batch.
    cause : BaseException
        What went wrong.
    """

    def __init__(self, done: np.ndarray, values: np.ndarray, local_row: int, cause: BaseException):
        super().__init__(f"row {local_row} of the batch failed: {type(cause).__name__}: {cause}")
        self.done = done
        self.values = values
        self.local_row = local_row
        self.cause = cause
        self.row: Optional[int] = None


class StoredValueFunction:
    """A value function that answers stored masks from a record and stores new ones.

    New masks are evaluated in batches of ``flush_every`` rows; each finished batch is recorded (on disk
    for a :class:`~spex_mech.store.MaskStore`) before the next starts. ``n_evaluations`` counts fresh
    evaluations, ``n_reused`` answers from the record, ``n_calls`` the calls received.

    Parameters
    ----------
    f : callable
        The wrapped value function ``f(masks[b, n]) -> values[b]``.
    store : MaskStore, MemoryStore, str or os.PathLike
        The record, or a folder for a new or existing :class:`~spex_mech.store.MaskStore`.
    n : int, optional
        Number of units (default: ``f.n``).
    meta : mapping, optional
        The identity of ``f`` when ``store`` is a folder.
    flush_every : int
        Masks per batch (per call of ``f`` and per record write).
    progress : bool or None
        Show a progress bar; None: only for calls of more than four batches on a terminal.
    desc : str
        The progress bar's label.
    in_order : bool
        Evaluate new masks in the order first asked. Default: in the order of their packed bytes, which
        decides which masks share a batch, so values of a game whose batches are not row-independent to
        the last bit (float32 forward passes) stay those every earlier store recorded.
    """

    def __init__(
        self,
        f: Callable[[np.ndarray], Any],
        store: Union[MaskStore, MemoryStore, str, os.PathLike],
        *,
        n: Optional[int] = None,
        meta: Optional[Mapping[str, Any]] = None,
        flush_every: int = 512,
        progress: Optional[bool] = False,
        desc: str = "evaluating masks",
        in_order: bool = False,
    ):
        try:
            self.flush_every = check_int("flush_every", flush_every, low=1)
        except ValueError as err:
            raise ValueError(f"flush_every must be a positive integer, got {flush_every!r}") from err
        self.f = f
        self.progress = progress
        self.desc = desc
        self.in_order = bool(in_order)
        self.n = resolve_n(f, n)
        self.labels = resolve_labels(f, self.n)
        self.ids = resolve_ids(f)
        self.store = store if isinstance(store, (MaskStore, MemoryStore)) else MaskStore(store, self.n, meta)
        if self.store.n != self.n:
            raise ValueError(f"the store is for n={self.store.n} units, the value function has n={self.n}")
        self.n_evaluations = 0
        self.n_reused = 0
        self.n_calls = 0

    def provenance(self) -> dict[str, Any]:
        """Return what a result carries from this value function: unit labels, ids, fresh evaluations.

        Returns
        -------
        dict
            ``labels``, ``ids`` and ``n_evaluations``.
        """
        return {"labels": self.labels, "ids": self.ids, "n_evaluations": self.n_evaluations}

    def _show(self, batches: int) -> bool:
        if self.progress is None:
            return batches > 4 and interactive()
        return bool(self.progress)

    def __call__(self, masks: Any) -> np.ndarray:
        """Return the value of each mask row, float64 [B]: recorded ones looked up, new ones evaluated.

        Parameters
        ----------
        masks : array-like
            0/1 or bool ``[B, n]``.

        Returns
        -------
        numpy.ndarray
            float64 ``[B]``.

        Raises
        ------
        PartialEvaluation
            If ``f`` raised it; the finished rows are recorded and ``row`` names the failing one.
        """
        self.n_calls += 1
        arr = to_mask_array(masks, self.n)
        found, values = self.store.lookup(arr)
        todo = np.nonzero(~found)[0]
        if todo.size:
            _, first, inverse = np.unique(
                np.packbits(arr[todo], axis=1), axis=0, return_index=True, return_inverse=True
            )
            # distinct masks in packed-byte order, or in the order first asked
            order = np.argsort(first, kind="stable") if self.in_order else np.arange(first.size)
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            fresh_rows = todo[first[order]]
            fresh_vals = self._evaluate(arr, fresh_rows)
            values[todo] = fresh_vals[rank[inverse.reshape(-1)]]
        self.n_reused += int(found.sum())
        return values

    def _evaluate(self, arr: np.ndarray, fresh_rows: np.ndarray) -> np.ndarray:
        """Evaluate rows ``fresh_rows`` of ``arr`` batch by batch, recording each batch; their values."""
        fresh_vals = np.full(fresh_rows.shape[0], np.nan)
        step = self.flush_every
        show = self._show(-(-fresh_rows.shape[0] // step))
        bar = tqdm(total=fresh_rows.shape[0], disable=not show, desc=self.desc, unit="mask", leave=False)
        try:
            for start in range(0, fresh_rows.shape[0], step):
                rows = fresh_rows[start : start + step]
                try:
                    vals = check_values(self.f(arr[rows]), arr[rows])
                except PartialEvaluation as part:
                    done = np.asarray(part.done, dtype=bool)
                    self._record(arr[rows[done]], np.asarray(part.values, dtype=np.float64)[done])
                    part.row = int(rows[part.local_row])
                    raise
                self._record(arr[rows], vals)
                fresh_vals[start : start + rows.shape[0]] = vals
                bar.update(rows.shape[0])
        finally:
            bar.close()
        if np.isnan(fresh_vals).any():  # pragma: no cover - every row is evaluated above
            raise RuntimeError("internal error: a mask was left unevaluated")
        return fresh_vals

    def _record(self, masks: np.ndarray, values: np.ndarray) -> None:
        if masks.shape[0]:
            self.store.append(masks, values)
            self.n_evaluations += masks.shape[0]

    def spot_check(self, n_random: int = 4, seed: int = 0, rtol: float = 1e-6, atol: float = 1e-9) -> int:
        """Re-evaluate the all-ones mask (if stored) and up to ``n_random`` other stored masks.

        Used by ``--resume`` to catch changed inputs the identity could not see.

        Parameters
        ----------
        n_random : int
            Stored masks other than the all-ones one to re-evaluate.
        seed : int
            Which ones.
        rtol, atol : float
            Tolerance (``atol`` scaled by the largest |value| checked, at least 1).

        Returns
        -------
        int
            The number of masks checked.

        Raises
        ------
        StoreError
            Naming a mask whose value moved.
        """
        masks, values = self.store.load()
        if not len(masks):
            return 0
        rng = np.random.default_rng(seed)
        full = np.nonzero(masks.all(axis=1))[0]
        others = np.setdiff1d(np.arange(len(masks)), full)
        pick = np.concatenate([full, rng.choice(others, size=min(n_random, others.size), replace=False)]).astype(int)
        fresh = check_values(self.f(masks[pick]), masks[pick])
        scale = max(1.0, float(np.abs(values[pick]).max()))
        bad = ~np.isclose(fresh, values[pick], rtol=rtol, atol=atol * scale)
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            kept = int(masks[pick[i]].sum())
            row = f"stored mask row {int(pick[i]) + 1} ({kept} of {self.n} units kept)"
            what = "the all-ones mask" if masks[pick[i]].all() else row
            raise StoreError(
                f"--resume: re-evaluating {what} gives {fresh[i]!r}, the store holds {values[pick[i]]!r} "
                f"({int(bad.sum())} of {len(pick)} checked masks differ): the model or its inputs changed since "
                "the store was written; use another --out"
            )
        return int(len(pick))
