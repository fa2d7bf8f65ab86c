"""An append-only on-disk record of evaluated masks, so interrupted sweeps lose nothing.

``MaskStore`` writes fixed-size binary records (packed mask bits + float64 value) and flushes them to
disk as each batch finishes; a torn last record from a crash is ignored on load.
``StoredValueFunction`` wraps any value function: masks already in the store are answered from it,
only new ones are evaluated, and each finished batch is appended before the next starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
from tqdm.auto import tqdm

from .valuefn import check_values, resolve_labels, resolve_n, to_mask_array

__all__ = ["MaskStore", "StoredValueFunction"]

_RECORDS = "records.bin"
_META = "meta.json"
EXPORT_BOOL_CELLS = 1 << 24  # export_npz also writes bool masks up to this many mask cells


class MaskStore:
    """Evaluated (mask, value) pairs for one value function over ``n`` units, kept in ``path``/.

    ``meta`` describes the value function (model, units, metric, ...); reopening a store with
    different ``n`` or ``meta`` is an error, so results of different games never mix.
    """

    def __init__(self, path: str | os.PathLike, n: int, meta: Optional[Mapping[str, Any]] = None):
        self.path = Path(path)
        self.n = int(n)
        self.meta = dict(meta or {})
        self._row_bytes = (self.n + 7) // 8
        self._record = np.dtype([("mask", np.uint8, (self._row_bytes,)), ("value", "<f8")])
        self.path.mkdir(parents=True, exist_ok=True)
        meta_file = self.path / _META
        header = {"format": "spex_mech.MaskStore", "version": 1, "n": self.n, "meta": self.meta}
        if meta_file.exists():
            old = json.loads(meta_file.read_text())
            if old.get("n") != self.n:
                raise ValueError(f"store {self.path} holds masks over n={old.get('n')} units, not {self.n}")
            if old.get("meta") != json.loads(json.dumps(self.meta)):
                raise ValueError(
                    f"store {self.path} was written for a different value function; use another folder "
                    f"(stored meta: {old.get('meta')})"
                )
        else:
            tmp = meta_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(header, indent=2))
            os.replace(tmp, meta_file)
        self._index: Optional[dict[bytes, float]] = None

    def _pack(self, masks: np.ndarray) -> np.ndarray:
        return np.packbits(masks.astype(bool), axis=1, bitorder="little")

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """All stored masks (bool [N, n]) and values (float64 [N]), in the order they were written."""
        file = self.path / _RECORDS
        if not file.exists():
            return np.zeros((0, self.n), dtype=bool), np.zeros(0)
        raw = file.read_bytes()
        whole = len(raw) // self._record.itemsize  # a torn final record (crash mid-write) is ignored
        recs = np.frombuffer(raw[: whole * self._record.itemsize], dtype=self._record)
        masks = np.unpackbits(recs["mask"], axis=1, count=self.n, bitorder="little").astype(bool)
        return masks, recs["value"].astype(np.float64)

    def __len__(self) -> int:
        file = self.path / _RECORDS
        return file.stat().st_size // self._record.itemsize if file.exists() else 0

    def _ensure_index(self) -> dict[bytes, float]:
        if self._index is None:
            masks, values = self.load()
            packed = self._pack(masks)
            self._index = {row.tobytes(): float(v) for row, v in zip(packed, values)}
        return self._index

    def lookup(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found bool [B], values float64 [B], NaN where not found) for the given masks."""
        index = self._ensure_index()
        packed = self._pack(masks)
        values = np.array([index.get(row.tobytes(), np.nan) for row in packed], dtype=np.float64)
        return ~np.isnan(values), values

    def append(self, masks: np.ndarray, values: np.ndarray) -> None:
        """Append records and flush them to disk before returning."""
        masks = np.asarray(masks, dtype=bool)
        values = np.asarray(values, dtype=np.float64)
        if masks.ndim != 2 or masks.shape[1] != self.n or values.shape != (masks.shape[0],):
            raise ValueError("append needs masks [B, n] and values [B]")
        recs = np.empty(masks.shape[0], dtype=self._record)
        packed = self._pack(masks)
        recs["mask"] = packed
        recs["value"] = values
        file = self.path / _RECORDS
        with open(file, "ab") as fh:
            size = fh.tell()
            torn = size % self._record.itemsize
            if torn:  # drop a torn record left by a crash before appending after it
                fh.truncate(size - torn)
                fh.seek(size - torn)
            fh.write(recs.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        if self._index is not None:
            for row, v in zip(packed, values):
                self._index[row.tobytes()] = float(v)

    def export_npz(self, path: str | os.PathLike) -> None:
        """Write every stored mask and value to a compressed ``.npz``.

        Keys: ``values`` (float64 [N]), ``n``, ``masks_packed`` (uint8 [N, ⌈n/8⌉]; bool masks are
        ``np.unpackbits(masks_packed, axis=1, count=n, bitorder="little")``) and, when the bool array
        has at most ``EXPORT_BOOL_CELLS`` cells, ``masks`` (bool [N, n]) as well — whole-model unit sets
        (tens of thousands of units) are exported packed only, eight times smaller and faster.
        """
        file = self.path / _RECORDS
        raw = file.read_bytes() if file.exists() else b""
        whole = len(raw) // self._record.itemsize
        recs = np.frombuffer(raw[: whole * self._record.itemsize], dtype=self._record)
        arrays = {"values": recs["value"].astype(np.float64), "n": np.int64(self.n), "masks_packed": recs["mask"]}
        if whole * self.n <= EXPORT_BOOL_CELLS:
            arrays["masks"] = np.unpackbits(recs["mask"], axis=1, count=self.n, bitorder="little").astype(bool)
        np.savez_compressed(path, **arrays)


class StoredValueFunction:
    """A value function that answers stored masks from a :class:`MaskStore` and stores new ones.

    New masks are evaluated in batches of ``flush_every`` rows; each finished batch is on disk before
    the next starts. ``n_evaluations`` counts fresh evaluations, ``n_reused`` answers from the store,
    ``n_calls`` the calls received.
    """

    def __init__(
        self,
        f: Callable[[np.ndarray], Any],
        store: MaskStore | str | os.PathLike,
        *,
        n: Optional[int] = None,
        meta: Optional[Mapping[str, Any]] = None,
        flush_every: int = 512,
        progress: bool = False,
    ):
        self.f = f
        self.progress = progress
        self.n = resolve_n(f, n)
        self.labels = resolve_labels(f, self.n)
        self.ids = getattr(f, "ids", None)
        self.store = store if isinstance(store, MaskStore) else MaskStore(store, self.n, meta)
        if self.store.n != self.n:
            raise ValueError(f"the store is for n={self.store.n} units, the value function has n={self.n}")
        self.flush_every = int(flush_every)
        self.n_evaluations = 0
        self.n_reused = 0
        self.n_calls = 0

    def __call__(self, masks: Any) -> np.ndarray:
        self.n_calls += 1
        arr = to_mask_array(masks, self.n)
        found, values = self.store.lookup(arr)
        todo = np.nonzero(~found)[0]
        if todo.size:
            uniq, first, inverse = np.unique(
                np.packbits(arr[todo], axis=1), axis=0, return_index=True, return_inverse=True
            )
            fresh_rows = todo[first]
            fresh_vals = np.empty(fresh_rows.shape[0])
            bar = tqdm(total=fresh_rows.shape[0], disable=not self.progress, desc="evaluating masks", unit="mask")
            try:
                for start in range(0, fresh_rows.shape[0], self.flush_every):
                    rows = fresh_rows[start : start + self.flush_every]
                    vals = check_values(self.f(arr[rows]), arr[rows])
                    self.store.append(arr[rows], vals)
                    fresh_vals[start : start + rows.shape[0]] = vals
                    self.n_evaluations += rows.shape[0]
                    bar.update(rows.shape[0])
            finally:
                bar.close()
            values[todo] = fresh_vals[inverse.reshape(-1)]
        self.n_reused += int(found.sum())
        return values
