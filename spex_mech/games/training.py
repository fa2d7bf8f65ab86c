"""The data lens: training examples (or groups of them) as maskable units; f(mask) = eval(train(kept data)).

`TrainingSubsets` turns a training routine and an evaluation into a value function over n units. Each mask
row keeps some groups of training examples (plus the ``always`` examples); the model is retrained on
them and scored. Where the learner is small, retrainings run many at once (``batched=True``: one call
trains a whole batch of masks, e.g. :class:`~spex_mech.units.retrain.BatchedLogisticRegression`).

Guarantees:

* **deterministic per-mask seeds**: mask row x gets the seed ``mask_seed(x, seed)``, a hash of its bits and
  the global seed, so the same mask gets the same training run whatever batch it arrives in;
* **nothing finished is lost**: the game is composed with a
  :class:`~spex_mech.games.StoredValueFunction` over the on-disk :class:`~spex_mech.store.MaskStore`
  (``store=``) or, without one, a :class:`~spex_mech.store.MemoryStore`: each batch is recorded as it
  finishes and masks already evaluated are answered from the record. If ``train_fn`` or ``eval_fn``
  fails for a mask, the finished retrainings are kept and a :class:`RetrainError` names the offending
  mask row and its units.

Length: one class, :class:`TrainingSubsets`, with its seed helper and error type; its checks of groups,
learners and stores and its numpydoc docstrings make up most of the lines.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
from ..store import MaskStore, MemoryStore
from ..validation import check_int
from ..valuefn import to_mask_array
from .stored import PartialEvaluation, StoredValueFunction

__all__ = ["RetrainError", "TrainingSubsets", "mask_seed"]


class RetrainError(RuntimeError):
    """A retraining (or its evaluation) failed for one mask; ``row``, ``mask`` and ``units`` say which.

    Parameters
    ----------
    message : str
        The error message.
    row : int
        Index of the failing mask row in the call's masks.
    mask : numpy.ndarray
        That mask row, bool ``[n]``.
    units : list of str
        Labels of the units the mask ablates (its zero entries).
    """

    def __init__(self, message: str, row: int, mask: np.ndarray, units: list[str]):
        super().__init__(message)
        self.row = row
        self.mask = mask
        self.units = units


def mask_seed(mask: np.ndarray, seed: int) -> int:
    """Return a seed in [0, 2^32) determined by one mask row's bits and the global ``seed`` (nothing else).

    32 bits, so every common seeding API accepts it (NumPy, scikit-learn's ``random_state``, torch).

    Parameters
    ----------
    mask : numpy.ndarray
        One mask row, read as bool and flattened; its bits and its length enter the hash.
    seed : int
        The global seed (a signed 64-bit integer).

    Returns
    -------
    int
        The first four bytes of a BLAKE2b digest of the packed row, its length and ``seed``, read as an
        unsigned little-endian integer.
    """
    row = np.asarray(mask, dtype=bool).reshape(-1)
    digest = hashlib.blake2b(
        np.packbits(row, bitorder="little").tobytes()
        + int(row.size).to_bytes(8, "little")
        + int(seed).to_bytes(8, "little", signed=True),
        digest_size=4,
    ).digest()
    return int.from_bytes(digest, "little")


def _as_groups(groups: Union[int, Sequence[Sequence[int]]]) -> list[np.ndarray]:
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        if groups < 1:
            raise ValueError(f"need at least one training example, got groups={groups}")
        return [np.array([i]) for i in range(int(groups))]
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise TypeError("groups must be an int (one unit per example) or a list of index lists")
    out = []
    for j, g in enumerate(list(groups)):
        arr = np.atleast_1d(np.asarray(g))
        if arr.size == 0:
            raise ValueError(f"group {j} is empty")
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"group {j} must hold integer example indices, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"group {j} must be a flat list of example indices")
        out.append(arr.astype(np.int64))
    if not out:
        raise ValueError("groups is empty: give at least one unit")
    return out


class TrainingSubsets:
    """Value function over training-data units: ``f(masks[B, n]) -> values[B]``.

    Parameters
    ----------
    groups : int or sequence of sequence of int
        An int N (each of N training examples is a unit) or a list of index lists (each a unit).
        Indices address the training set that ``train_fn`` closes over; groups may not overlap.
    train_fn : callable
        ``batched=False``: ``train_fn(indices, seed) -> model`` with the kept example indices
        (sorted int array) and this mask's seed. ``batched=True``: ``train_fn(keep, seeds) -> models``
        with ``keep`` bool [b, n_examples] (one row per mask) and ``seeds`` int64 [b] (each in [0, 2^32)).
    eval_fn : callable
        ``eval_fn(model) -> float`` (``batched=False``) or ``eval_fn(models) -> [b]`` (or ``[b, 1]``).
    batched : bool, default False
        Train a batch of masks per call.
    batch_size : int, default 64
        Masks per ``train_fn`` call when batched; otherwise masks between flushes to the record.
    seed : int, default 0
        Global seed; each mask's own seed is :func:`mask_seed` of its bits and this.
    store : str, os.PathLike or MaskStore, optional
        A folder or :class:`~spex_mech.store.MaskStore` keeping every finished retraining (default: an
        in-memory record, lost with this object).
    labels : sequence of str, optional
        Unit labels (default ``ex{i}`` for single examples, ``g{j}`` for groups).
    always : sequence of int, optional
        Example indices kept in every retraining (the base set; may not overlap the groups).
    n_examples : int, optional
        Size of the training set (default: 1 + the largest index mentioned).
    meta : mapping, optional
        Extra description stored with the results when ``store`` is a folder (a store refuses to mix
        different meta).
    progress : bool, optional
        Show a progress bar (None: only for long calls on a terminal).

    Raises
    ------
    TypeError
        If ``train_fn`` or ``eval_fn`` is not callable, or ``groups`` is neither an int nor a list of
        integer index lists.
    ValueError
        On a bad ``batch_size``, empty, overlapping or out-of-range groups or ``always`` indices, a label
        count that differs from the unit count, or a store over another number of units.
    """

    def __init__(
        self,
        groups: Union[int, Sequence[Sequence[int]]],
        train_fn: Callable[..., Any],
        eval_fn: Callable[[Any], Any],
        *,
        batched: bool = False,
        batch_size: int = 64,
        seed: int = 0,
        store: Optional[Union[str, os.PathLike, MaskStore]] = None,
        labels: Optional[Sequence[str]] = None,
        always: Optional[Sequence[int]] = None,
        n_examples: Optional[int] = None,
        meta: Optional[Mapping[str, Any]] = None,
        progress: Optional[bool] = None,
    ):
        if not callable(train_fn) or not callable(eval_fn):
            raise TypeError("train_fn and eval_fn must be callables")
        check_int("batch_size", batch_size, low=1)
        single = isinstance(groups, (int, np.integer)) and not isinstance(groups, bool)
        self.groups = _as_groups(groups)
        self.always = np.unique(np.asarray(list(always) if always is not None else [], dtype=np.int64))
        for j, g in enumerate(self.groups):
            if g.min() < 0:
                raise ValueError(f"group {j} has a negative example index ({int(g.min())})")
        if self.always.size and self.always.min() < 0:
            raise ValueError(f"always has a negative example index ({int(self.always.min())})")
        mentioned = np.concatenate(self.groups + [self.always])
        self.n_examples = int(n_examples) if n_examples is not None else int(mentioned.max()) + 1
        owner = np.full(self.n_examples, -1, dtype=np.int64)
        for j, g in enumerate(self.groups):
            if g.max() >= self.n_examples:
                raise ValueError(f"group {j} mentions example {int(g.max())}, but n_examples={self.n_examples}")
            if np.unique(g).size != g.size:
                raise ValueError(f"group {j} lists an example twice")
            clash = owner[g] >= 0
            if clash.any():
                first = int(g[np.argmax(clash)])
                raise ValueError(f"group {j} overlaps group {int(owner[first])} at example {first}")
            owner[g] = j
        if self.always.size:
            if self.always.max() >= self.n_examples:
                raise ValueError(f"always mentions example {int(self.always.max())}, but n_examples={self.n_examples}")
            clash = owner[self.always] >= 0
            if clash.any():
                first = int(self.always[np.argmax(clash)])
                raise ValueError(f"example {first} is both in group {int(owner[first])} and always kept")
        self.n = len(self.groups)
        if labels is None:
            labels = [f"ex{int(g[0])}" for g in self.groups] if single else [f"g{j}" for j in range(self.n)]
        self.labels = [str(x) for x in labels]
        if len(self.labels) != self.n:
            raise ValueError(f"{len(self.labels)} labels for {self.n} units")
        self.ids = [f"train[{int(g[0])}]" if single else f"train_group[{j}]" for j, g in enumerate(self.groups)]
        self.train_fn = train_fn
        self.eval_fn = eval_fn
        self.batched = bool(batched)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.progress = progress
        self._members = owner  # example -> unit (−1: always kept or never used)
        if store is not None and not isinstance(store, MaskStore):
            text = b"".join(g.tobytes() + b"|" for g in self.groups) + self.always.tobytes()
            digest = hashlib.blake2b(text, digest_size=12)
            store = MaskStore(
                store,
                self.n,
                {
                    "kind": "spex_mech.TrainingSubsets",
                    "seed": self.seed,
                    "labels": self.labels,
                    "groups": digest.hexdigest(),
                    **dict(meta or {}),
                },
            )
        if store is not None and store.n != self.n:
            raise ValueError(f"the store holds masks over n={store.n} units, but there are {self.n} units")
        self.store: Optional[MaskStore] = store
        self._stored = StoredValueFunction(
            self._evaluate_batch,
            store if store is not None else MemoryStore(self.n),
            n=self.n,
            flush_every=self.batch_size,
            progress=progress,
            desc="retrainings",
            in_order=True,
        )

    @property
    def n_evaluations(self) -> int:
        """Retrainings run by this object (each distinct new mask once)."""
        return self._stored.n_evaluations

    @property
    def n_reused(self) -> int:
        """Mask rows answered from the record instead of retraining."""
        return self._stored.n_reused

    def provenance(self) -> dict[str, Any]:
        """Return what a result carries from this value function: unit labels, ids, retrainings run.

        Returns
        -------
        dict
            ``labels``, ``ids`` and ``n_evaluations``.
        """
        return {"labels": self.labels, "ids": self.ids, "n_evaluations": self.n_evaluations}

    # ------------------------------------------------------------------ masks → training data
    def kept_examples(self, masks: Any) -> np.ndarray:
        """Return which training examples each mask row keeps (groups + always).

        Parameters
        ----------
        masks : array-like
            0/1 or bool ``[B, n]``.

        Returns
        -------
        numpy.ndarray
            Bool ``[B, n_examples]``.
        """
        arr = to_mask_array(masks, self.n)
        keep = np.zeros((arr.shape[0], self.n_examples), dtype=bool)
        keep[:, self.always] = True
        used = self._members >= 0
        keep[:, used] = arr[:, self._members[used]]
        return keep

    def seeds(self, masks: Any) -> np.ndarray:
        """Return the per-row seeds (:func:`mask_seed` of each row and the global seed).

        Parameters
        ----------
        masks : array-like
            0/1 or bool ``[B, n]``.

        Returns
        -------
        numpy.ndarray
            Int64 ``[B]``, each in [0, 2^32).
        """
        arr = to_mask_array(masks, self.n)
        return np.array([mask_seed(row, self.seed) for row in arr], dtype=np.int64)

    def _describe(self, row: np.ndarray) -> str:
        kept = [self.labels[i] for i in np.nonzero(row)[0]]
        dropped = [self.labels[i] for i in np.nonzero(~row)[0]]

        def short(xs: list[str]) -> str:
            return "[" + ", ".join(xs[:12]) + (f", … ({len(xs)} in all)" if len(xs) > 12 else "") + "]"

        return f"kept units {short(kept)}, ablated units {short(dropped)}"

    # ------------------------------------------------------------------ evaluation
    def _train_eval(self, rows: np.ndarray) -> np.ndarray:
        """Values for mask rows [b, n] (raises whatever train_fn / eval_fn raise)."""
        keep = self.kept_examples(rows)
        seeds = self.seeds(rows)
        if self.batched:
            values = np.asarray(_to_numpy(self.eval_fn(self.train_fn(keep, seeds))), dtype=np.float64)
            if values.shape != (rows.shape[0],):
                if values.shape == (rows.shape[0], 1):
                    values = values.reshape(-1)
                else:
                    raise ValueError(
                        f"eval_fn returned shape {values.shape} for {rows.shape[0]} models; expected ({rows.shape[0]},)"
                    )
            return values
        out = np.empty(rows.shape[0], dtype=np.float64)
        for i in range(rows.shape[0]):
            indices = np.nonzero(keep[i])[0]
            out[i] = float(np.asarray(_to_numpy(self.eval_fn(self.train_fn(indices, int(seeds[i]))))).reshape(()))
        return out

    def _run_chunk(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, Optional[tuple[int, BaseException]]]:
        """(done bool [b], values [b], first failure as (local row, exception) or None).

        Batched: one call for the whole chunk; if it raises, the rows are retried one at a time to find
        the failing mask and keep the others. Unbatched: row by row, stopping at the first failure.
        """
        done = np.zeros(rows.shape[0], dtype=bool)
        values = np.full(rows.shape[0], np.nan)
        if self.batched:
            try:
                values[:] = self._train_eval(rows)
                done[:] = True
                return done, values, None
            except Exception as exc:  # noqa: BLE001 - isolate the failing mask below
                if rows.shape[0] == 1:
                    return done, values, (0, exc)
        for i in range(rows.shape[0]):
            try:
                values[i] = self._train_eval(rows[i : i + 1])[0]
                done[i] = True
            except Exception as exc:  # noqa: BLE001
                return done, values, (i, exc)
        return done, values, None

    def _evaluate_batch(self, rows: np.ndarray) -> np.ndarray:
        """Return the values of one batch of distinct new masks.

        A failure raises :class:`PartialEvaluation` with the rows finished before it (the record keeps them).
        """
        done, vals, failure = self._run_chunk(rows)
        bad = done & ~np.isfinite(vals)
        if bad.any() and failure is None:
            i = int(np.argmax(bad))
            failure = (i, ValueError(f"eval_fn returned a non-finite value ({vals[i]})"))
        if failure is not None:
            raise PartialEvaluation(done & np.isfinite(vals), vals, *failure)
        return vals

    def __call__(self, masks: Any) -> np.ndarray:
        """Return the retrain-and-evaluate value of each mask row, float64 [B].

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
        RetrainError
            If ``train_fn`` or ``eval_fn`` fails (or gives a non-finite value) for a mask, naming its row
            and units; the retrainings finished before it are kept.
        """
        arr = to_mask_array(masks, self.n)
        if arr.shape[0] == 0:
            return np.full(0, np.nan)
        try:
            return self._stored(arr)
        except PartialEvaluation as part:
            row = int(part.row)
            exc = part.cause
            where = f"in {self.store.path}" if self.store is not None else "in memory"
            raise RetrainError(
                f"retraining failed for mask row {row} ({self._describe(arr[row])}): "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. Finished retrainings are kept {where}.",
                row,
                arr[row].copy(),
                [self.labels[i] for i in np.nonzero(~arr[row])[0]],
            ) from exc

    def evaluated(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every finished retraining so far: (masks bool [N, n], values float64 [N]).

        With a store attached these are all the store holds (this object's retrainings and earlier
        ones); without, this object's, in the order they finished.

        Returns
        -------
        tuple of numpy.ndarray
            ``masks`` and ``values``.
        """
        return self._stored.store.load()

    def __repr__(self) -> str:
        return (
            f"TrainingSubsets(n={self.n} units over {self.n_examples} examples, batched={self.batched}, "
            f"seed={self.seed}, evaluations={self.n_evaluations})"
        )


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return x
