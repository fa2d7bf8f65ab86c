"""The value-function contract shared by every algorithm: ``f(masks[B, n]) -> values[B]``.

Any Python callable works. ``f.n`` (if present) gives the number of units, ``f.labels`` their short
names. Algorithms wrap ``f`` in :class:`ValueFunction`, which validates masks and values, counts
evaluations and reports offending rows by index.

A value function may set ``accepts_packed = True``: algorithms that build their masks bit-packed (SPEX)
then hand it :class:`PackedMasks` (8 units per byte) instead of bool arrays; every other caller still
passes bool ``[B, n]``. Without the attribute a value function only ever sees bool masks.

Length: one job (the value-function contract: packed masks, resolving n / labels / ids, the mask and value
checks, and the wrapper that counts evaluations), each with its numpydoc sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = [
    "PackedMasks",
    "ValueFunction",
    "as_value_function",
    "resolve_n",
    "resolve_labels",
    "resolve_ids",
    "to_mask_array",
]


@dataclass(frozen=True, eq=False)
class PackedMasks:
    """Masks ``[B, n]`` packed 8 units per byte: unit i of row r is bit ``i % 8`` of ``bits[r, i // 8]``.

    This is numpy's ``packbits(masks, axis=1, bitorder="little")`` layout; the unused high bits of the
    last byte are zero. ``np.unpackbits(bits, axis=1, count=n, bitorder="little")`` recovers the 0/1
    masks, as does :meth:`unpack`.

    Attributes
    ----------
    bits : numpy.ndarray
        Uint8 ``[B, ceil(n / 8)]``.
    n : int
        The number of units (mask width).

    Raises
    ------
    ValueError
        If ``bits`` is not a 2-d uint8 array, its width is not ``ceil(n / 8)`` bytes, or a row sets a bit
        beyond unit ``n - 1``.
    """

    bits: np.ndarray
    n: int

    def __post_init__(self) -> None:
        bits = self.bits
        if not isinstance(bits, np.ndarray) or bits.dtype != np.uint8 or bits.ndim != 2:
            raise ValueError(
                f"packed masks must be a 2-d uint8 array, got {type(bits).__name__} "
                f"{getattr(bits, 'dtype', '')} {getattr(bits, 'shape', '')}"
            )
        width = (int(self.n) + 7) // 8
        if bits.shape[1] != width:
            raise ValueError(f"packed mask width {bits.shape[1]} bytes does not match n={self.n} units ({width} bytes)")
        spare = width * 8 - int(self.n)
        if spare and bits.shape[0] and np.any(bits[:, -1] >> np.uint8(8 - spare)):
            rows = np.nonzero(bits[:, -1] >> np.uint8(8 - spare))[0]
            raise ValueError(f"packed masks set bits beyond unit {self.n - 1} (rows {rows[:5].tolist()})")

    @classmethod
    def from_bool(cls, masks: np.ndarray) -> "PackedMasks":
        """Pack bool or 0/1 masks ``[B, n]``.

        Parameters
        ----------
        masks : numpy.ndarray
            Bool or 0/1 ``[B, n]`` (any nonzero entry counts as kept).

        Returns
        -------
        PackedMasks
            The packed masks, with ``n`` the input's width.
        """
        arr = np.asarray(masks)
        return cls(np.packbits(arr.astype(bool, copy=False), axis=1, bitorder="little"), int(arr.shape[1]))

    @property
    def shape(self) -> tuple[int, int]:
        """``(B, n)``: the shape of the unpacked masks."""
        return (int(self.bits.shape[0]), int(self.n))

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    def __getitem__(self, index: Union[int, slice]) -> Union[np.ndarray, "PackedMasks"]:
        """Return row ``index`` unpacked (bool ``[n]``) for an integer, the rows still packed for a slice."""
        if isinstance(index, slice):
            return PackedMasks(self.bits[index], self.n)
        row = self.bits[int(index)]
        return np.unpackbits(row, count=self.n, bitorder="little").view(bool)

    def unpack(self) -> np.ndarray:
        """Return the masks unpacked, bool ``[B, n]``."""
        return np.unpackbits(self.bits, axis=1, count=self.n, bitorder="little").view(bool)


def resolve_n(f: Any, n: Optional[int]) -> int:
    """Return the number of units: the ``n=`` argument, else ``f.n``; a clear error if neither is known.

    Parameters
    ----------
    f : Any
        The value function; its ``n`` attribute is read if present.
    n : int, optional
        The number of units given by the caller.

    Returns
    -------
    int
        The number of units, at least 1.

    Raises
    ------
    ValueError
        If neither is known, the two disagree, or the number is below 1.
    """
    f_n = getattr(f, "n", None)
    if n is None:
        if f_n is None:
            raise ValueError(
                "the number of units is unknown: pass n=... or give the value function an `n` attribute"
            )
        n = f_n
    if f_n is not None and int(f_n) != int(n):
        raise ValueError(f"n={n} disagrees with the value function's n={f_n}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return n


def resolve_labels(f: Any, n: int) -> list[str]:
    """Return unit labels from ``f.labels`` (or ``f.units.labels``), else ``u0 … u{n-1}``.

    Parameters
    ----------
    f : Any
        The value function.
    n : int
        The number of units.

    Returns
    -------
    list of str
        ``n`` labels.

    Raises
    ------
    ValueError
        If the value function has a different number of labels than ``n``.
    """
    labels = getattr(f, "labels", None)
    if labels is None and getattr(f, "units", None) is not None:
        labels = getattr(f.units, "labels", None)
    if labels is None:
        return [f"u{i}" for i in range(n)]
    labels = [str(x) for x in labels]
    if len(labels) != n:
        raise ValueError(f"the value function has {len(labels)} labels for n={n} units")
    return labels


def resolve_ids(f: Any) -> Optional[list[str]]:
    """Return stable unit ids from ``f.ids`` (or ``f.units.ids``), else None.

    Parameters
    ----------
    f : Any
        The value function.

    Returns
    -------
    list of str or None
        The ids as strings, or None if the value function has none.
    """
    ids = getattr(f, "ids", None)
    if ids is None and getattr(f, "units", None) is not None:
        ids = getattr(f.units, "ids", None)
    return [str(x) for x in ids] if ids is not None else None


def to_mask_array(masks: Any, n: int) -> np.ndarray:
    """Validate a 0/1 or bool mask matrix [B, n] (numpy, torch or nested lists) into bool numpy.

    Parameters
    ----------
    masks : array-like
        0/1 or bool ``[B, n]`` (numpy, torch or nested lists); a single row ``[n]`` is read as ``[1, n]``.
    n : int
        The number of units (mask width).

    Returns
    -------
    numpy.ndarray
        Bool ``[B, n]`` (the input itself when it already is a bool numpy array).

    Raises
    ------
    ValueError
        If the masks are not 2-d, have another width than ``n``, are not numeric or bool, or hold
        entries other than 0 and 1 (naming the first rows and units).
    """
    if hasattr(masks, "detach") and hasattr(masks, "cpu"):  # torch tensor, without importing torch
        masks = masks.detach().cpu().numpy()
    arr = np.asarray(masks)
    if arr.ndim == 1 and arr.shape[0] == n:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"masks must be a 2-d array [batch, n_units]; got shape {arr.shape}")
    if arr.shape[1] != n:
        raise ValueError(f"mask width {arr.shape[1]} does not match the {n} units")
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"masks must be numeric or bool, got dtype {arr.dtype}")
    bad = ~((arr == 0) | (arr == 1))
    if np.any(bad):
        rows, cols = np.nonzero(bad)
        shown = ", ".join(f"row {r} unit {c} = {arr[r, c].item()!r}" for r, c in zip(rows[:5], cols[:5]))
        raise ValueError(f"masks must be 0/1; non-binary values at {shown}")
    return arr.astype(bool)


def check_values(values: Any, masks: np.ndarray, what: str = "value function") -> np.ndarray:
    """Return values as float64 [B]; wrong shapes and NaN/inf are errors that name the mask rows.

    Parameters
    ----------
    values : Any
        What the value function returned (numpy, torch or a sequence); ``[B]`` or ``[B, 1]``.
    masks : numpy.ndarray
        The masks it was called with, ``[B, n]``; ablated units of offending rows are named.
    what : str, default "value function"
        How the error messages name the source of the values.

    Returns
    -------
    numpy.ndarray
        Float64 ``[B]``.

    Raises
    ------
    ValueError
        If the shape is neither ``[B]`` nor ``[B, 1]``, or a value is NaN or infinite.
    """
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    out = np.asarray(values, dtype=np.float64)
    batch = masks.shape[0]
    if out.shape != (batch,):
        if out.shape == (batch, 1):
            out = out.reshape(batch)
        else:
            raise ValueError(
                f"the {what} returned shape {tuple(out.shape)} for {batch} masks; expected ({batch},)"
            )
    bad = ~np.isfinite(out)
    if np.any(bad):
        rows = np.nonzero(bad)[0]
        shown = "; ".join(
            f"row {r}: {out[r]} (ablated units {np.nonzero(~masks[r])[0].tolist()[:12]})" for r in rows[:5]
        )
        raise ValueError(f"the {what} returned {len(rows)} non-finite value(s): {shown}")
    return out


class ValueFunction:
    """Validating, counting wrapper around any ``f(masks) -> values``.

    Calls ``f`` with bool numpy arrays in slices of at most ``max_batch`` rows (all rows at once by
    default) and always returns float64 numpy values. Given :class:`PackedMasks`, it passes them on
    packed when ``f.accepts_packed`` is true and unpacks them slice by slice otherwise.

    Parameters
    ----------
    f : callable
        The value function ``f(masks[B, n]) -> values[B]``; a :class:`ValueFunction` is unwrapped to the
        function it wraps.
    n : int, optional
        The number of units (default: ``f.n``).
    max_batch : int, optional
        Most rows per call of ``f`` (default: all rows at once).

    Raises
    ------
    TypeError
        If ``f`` is not callable.
    ValueError
        If the number of units is unknown or disagrees with ``f.n``, or the labels do not match it.
    """

    def __init__(self, f: Callable[[np.ndarray], Any], n: Optional[int] = None, max_batch: Optional[int] = None):
        if isinstance(f, ValueFunction):
            f = f.f
        if not callable(f):
            raise TypeError(f"the value function must be callable, got {type(f).__name__}")
        self.f = f
        self.n = resolve_n(f, n)
        self.labels = resolve_labels(f, self.n)
        self.ids = resolve_ids(f)
        self.max_batch = max_batch
        self.n_evaluations = 0

    @property
    def accepts_packed(self) -> bool:
        """Whether the wrapped function declared ``accepts_packed = True``."""
        return bool(getattr(self.f, "accepts_packed", False))

    def provenance(self) -> dict[str, Any]:
        """Return what every result carries from its value function: unit labels, ids, evaluations so far."""
        return {"labels": self.labels, "ids": self.ids, "n_evaluations": self.n_evaluations}

    def __call__(self, masks: Any) -> np.ndarray:
        """Return ``f``'s values on ``masks`` (bool, 0/1 or :class:`PackedMasks`), float64 [B]."""
        packed = isinstance(masks, PackedMasks)
        if packed:
            if masks.n != self.n:
                raise ValueError(f"mask width {masks.n} does not match the {self.n} units")
            arr = masks
        else:
            arr = to_mask_array(masks, self.n)
        if arr.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        unpack = packed and not self.accepts_packed
        step = self.max_batch or arr.shape[0]
        parts = []
        for start in range(0, arr.shape[0], step):
            chunk = arr[start : start + step]
            if unpack:
                chunk = chunk.unpack()
            try:
                vals = check_values(self.f(chunk), chunk)
            except ValueError as err:
                if start:
                    raise ValueError(f"{err} (row numbers relative to offset {start})") from err
                raise
            parts.append(vals)
            self.n_evaluations += chunk.shape[0]
        return np.concatenate(parts)


def as_value_function(f: Any, n: Optional[int] = None) -> ValueFunction:
    """Wrap any callable (or an existing :class:`ValueFunction`) for use by an algorithm.

    Parameters
    ----------
    f : Any
        The value function; a :class:`ValueFunction` is unwrapped and wrapped anew (its count restarts).
    n : int, optional
        The number of units (default: ``f.n``).

    Returns
    -------
    ValueFunction
        A new wrapper with no batch limit.
    """
    return ValueFunction(f, n)


MASK_BLOCK_CELLS = 1 << 22  # uniform draws per block of uniform_masks (float64: 32 MB)


def uniform_masks(n: int, n_samples: int, seed: Optional[int] | np.random.Generator = 0) -> np.ndarray:
    """Return ``n_samples`` i.i.d. uniform masks (each unit kept with probability ½), bool [n_samples, n].

    The uniform draws are made in row blocks of about ``MASK_BLOCK_CELLS`` cells, never as one float64
    [n_samples, n] array; a generator's draws come out in the same order either way, so the masks are
    the same as from one ``rng.random((n_samples, n)) < 0.5``.

    Parameters
    ----------
    n : int
        The number of units (mask width).
    n_samples : int
        The number of masks.
    seed : int, None or numpy.random.Generator, default 0
        A seed for ``numpy.random.default_rng``, or a generator that is used (and advanced) as it is.

    Returns
    -------
    numpy.ndarray
        Bool ``[n_samples, n]``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = np.empty((n_samples, n), dtype=bool)
    step = max(1, MASK_BLOCK_CELLS // max(1, n))
    for start in range(0, n_samples, step):
        rows = min(step, n_samples - start)
        np.less(rng.random((rows, n)), 0.5, out=out[start : start + rows])
    return out


def labels_or_default(labels: Optional[Sequence[str]], n: int) -> list[str]:
    if labels is None:
        return [f"u{i}" for i in range(n)]
    labels = [str(x) for x in labels]
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels given for {n} units")
    return labels
