"""Vectorised sparse set-function spectra.

A sparse spectrum is a pair ``(keys, values)``: ``keys`` is an int64 array [K, D] whose row holds one
support's unit indices in ascending order, padded with −1 at the end (the empty set is all −1), and
``values`` is float64 [K]. Everything here works on whole arrays (no Python loop per coefficient).

Length: one job (array operations on sparse spectra); just past 400 lines because of the numpydoc
docstrings.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence

import numpy as np

__all__ = [
    "canonical_keys",
    "keys_to_tuples",
    "key_orders",
    "aggregate",
    "expand_subsets",
    "superset_weighted_sum",
    "fourier_to_mobius",
    "mobius_to_fourier",
    "evaluate_fourier",
    "evaluate_mobius",
]

_PAD = -1


def canonical_keys(supports: Iterable[Sequence[int]], width: Optional[int] = None) -> np.ndarray:
    """Turn supports (any iterables of unit indices) into a padded, sorted int64 array [K, D].

    Parameters
    ----------
    supports : iterable of sequences of int
        The supports; each is sorted.
    width : int, optional
        Number of columns D (at least 1); by default the largest support's size.

    Returns
    -------
    numpy.ndarray
        Array [K, D] (int64), −1 pads at the end of each row.

    Raises
    ------
    ValueError
        If a support lists a unit twice, holds a negative index, or is longer than ``width``.
    """
    rows = [sorted(int(i) for i in s) for s in supports]
    for r in rows:
        if len(set(r)) != len(r):
            raise ValueError(f"a support lists a unit twice: {tuple(r)}")
        if r and r[0] < 0:
            raise ValueError(f"negative unit index in support {tuple(r)}")
    d = max([len(r) for r in rows] + [1 if width is None else width])
    if width is not None and d > width:
        raise ValueError(f"support of order {d} exceeds width {width}")
    keys = np.full((len(rows), d), _PAD, dtype=np.int64)
    for i, r in enumerate(rows):
        keys[i, : len(r)] = r
    return keys


def keys_to_tuples(keys: np.ndarray) -> list[tuple[int, ...]]:
    """Turn padded key rows into tuples of unit indices (pads dropped).

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D].

    Returns
    -------
    list of tuple of int
        One tuple per row.
    """
    return [tuple(int(v) for v in row if v >= 0) for row in keys]


def key_orders(keys: np.ndarray) -> np.ndarray:
    """Return the order (number of units) of each padded key row.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D].

    Returns
    -------
    numpy.ndarray
        Orders [K] (int64).
    """
    return (keys >= 0).sum(axis=1).astype(np.int64)


def _compact(keys: np.ndarray) -> np.ndarray:
    """Sort each row ascending with padding last, and drop all-padding columns beyond the widest row."""
    big = np.iinfo(np.int64).max
    work = np.where(keys < 0, big, keys)
    work.sort(axis=1)
    work = np.where(work == big, _PAD, work)
    width = max(1, int(key_orders(work).max(initial=0)))
    return np.ascontiguousarray(work[:, :width])


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, axis=0, return_inverse=True), through one int64 code per row when it fits.

    Rows are packed most-significant column first (padding −1 → digit 0), so the codes sort in the
    same lexicographic order as the rows; sorting one int64 column is much faster than sorting rows.
    """
    base = int(keys.max(initial=0)) + 2
    width = keys.shape[1]
    if width * np.log2(base) >= 62:
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        return uniq, inverse.reshape(-1)
    codes = np.zeros(keys.shape[0], dtype=np.int64)
    for col in range(width):
        codes = codes * base + (keys[:, col] + 1)
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return keys[first], inverse.reshape(-1)


def aggregate(keys: np.ndarray, values: np.ndarray, drop_zeros: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sum the values of identical supports.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.
    drop_zeros : bool, default False
        Drop supports whose sum is exactly zero.

    Returns
    -------
    keys : numpy.ndarray
        Unique supports, sorted.
    values : numpy.ndarray
        Their summed values.
    """
    keys = np.asarray(keys, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if keys.shape[0] == 0:
        return keys.reshape(0, max(1, keys.shape[1] if keys.ndim == 2 else 1)), values.reshape(0)
    keys = _compact(keys)
    uniq, inverse = _unique_rows(keys)
    sums = np.zeros(uniq.shape[0], dtype=np.float64)
    np.add.at(sums, inverse.reshape(-1), values)
    if drop_zeros:
        keep = sums != 0.0
        uniq, sums = uniq[keep], sums[keep]
    return uniq, sums


def expand_subsets(keys: np.ndarray, max_size: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """List every subset T of every support S (|T| ≤ max_size).

    Work is Σ_S Σ_{t ≤ max_size} C(|S|, t) rows, done order by order.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D].
    max_size : int, optional
        Largest subset size; by default every subset.

    Returns
    -------
    parent : numpy.ndarray
        ``parent[e]`` is the row of S that subset ``e`` came from.
    subset_keys : numpy.ndarray
        ``subset_keys[e]`` is the padded subset T.
    subset_size : numpy.ndarray
        ``subset_size[e]`` is |T|.
    """
    keys = np.asarray(keys, dtype=np.int64)
    orders = key_orders(keys)
    width = keys.shape[1]
    parents, subsets, sizes = [], [], []
    for d in np.unique(orders):
        rows = np.nonzero(orders == d)[0]
        patterns = np.arange(1 << int(d), dtype=np.int64)
        bits = ((patterns[:, None] >> np.arange(int(d))[None, :]) & 1).astype(bool)  # [2^d, d]
        psize = bits.sum(axis=1)
        if max_size is not None:
            keep = psize <= max_size
            bits, psize = bits[keep], psize[keep]
        if bits.shape[0] == 0:
            continue
        block = keys[rows, : max(int(d), 1)]  # [R, d]
        if d == 0:
            sub = np.full((rows.shape[0], 1, 1), _PAD, dtype=np.int64)
        else:
            sub = np.where(bits[None, :, :], block[:, None, :], _PAD)  # [R, P, d]
        r, p = sub.shape[0], sub.shape[1]
        flat = np.full((r * p, width), _PAD, dtype=np.int64)
        flat[:, : sub.shape[2]] = sub.reshape(r * p, sub.shape[2])
        subsets.append(flat)
        parents.append(np.repeat(rows, p))
        sizes.append(np.tile(psize, r))
    if not subsets:
        return np.zeros(0, np.int64), np.zeros((0, width), np.int64), np.zeros(0, np.int64)
    return np.concatenate(parents), _compact(np.concatenate(subsets)), np.concatenate(sizes)


def superset_weighted_sum(
    keys: np.ndarray,
    values: np.ndarray,
    weight: Callable[[np.ndarray, np.ndarray], np.ndarray],
    max_size: Optional[int] = None,
    min_size: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute g(T) = Σ_{S ⊇ T} w(|S|, |T|)·v(S) for every T with min_size ≤ |T| ≤ max_size.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.
    weight : callable
        ``weight(size_S, size_T)`` on integer arrays, returning the weights w.
    max_size : int, optional
        Largest |T|; by default every size.
    min_size : int, default 0
        Smallest |T|.

    Returns
    -------
    keys : numpy.ndarray
        The subsets T.
    values : numpy.ndarray
        The sums g(T), one per subset.
    """
    parent, sub, size = expand_subsets(keys, max_size)
    keep = size >= min_size
    parent, sub, size = parent[keep], sub[keep], size[keep]
    s = key_orders(keys)[parent]
    contrib = np.asarray(values, dtype=np.float64)[parent] * weight(s.astype(np.float64), size.astype(np.float64))
    nz = contrib != 0.0
    return aggregate(sub[nz], contrib[nz])


def fourier_to_mobius(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert Fourier coefficients to Möbius dividends, a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k).

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.

    Returns
    -------
    keys : numpy.ndarray
        The supports of the dividends.
    values : numpy.ndarray
        The dividends a(S).
    """
    return superset_weighted_sum(keys, values, lambda s, t: np.power(-2.0, t))


def mobius_to_fourier(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert Möbius dividends to Fourier coefficients, F(k) = (−1)^{|k|} Σ_{S ⊇ k} a(S)/2^{|S|}.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.

    Returns
    -------
    keys : numpy.ndarray
        The supports of the coefficients.
    values : numpy.ndarray
        The Fourier coefficients F(k).
    """
    return superset_weighted_sum(keys, values, lambda s, t: np.power(-1.0, t) / np.power(2.0, s))


def _chunks(total: int, per: int):
    for start in range(0, total, per):
        yield slice(start, min(total, start + per))


def _combined_columns(keys: np.ndarray, masks: np.ndarray, n: int, combine: np.ufunc, empty: bool) -> np.ndarray:
    """``combine`` (XOR or AND) of each support's mask columns: bool [B, K]; ∅ gives ``empty``.

    A support's units are read as columns of the masks: gathering one column per key slot costs
    B × K bytes per slot, far less than a sparse product and its float conversions (measured: see
    benchmarks/results/measured_notes.md). Key slots of −1 read a constant column equal to ``empty``
    (neutral for combine).
    """
    keys = np.asarray(keys, dtype=np.int64)
    if masks.ndim != 2 or masks.shape[1] != n:
        raise ValueError(f"masks must have shape [B, {n}], got {masks.shape}")
    if keys.size and int(keys.max()) >= n:
        raise ValueError(f"support mentions unit {int(keys.max())} but n={n}")
    padded = np.empty((masks.shape[0], n + 1), dtype=bool)
    padded[:, :n] = masks != 0
    padded[:, n] = empty
    idx = np.where(keys < 0, n, keys).reshape(keys.shape[0], -1)
    out = padded[:, idx[:, 0]] if idx.shape[1] else np.full((masks.shape[0], keys.shape[0]), empty)
    for slot in range(1, idx.shape[1]):
        combine(out, padded[:, idx[:, slot]], out=out)
    return out


def fourier_features(keys: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """Compute χ_k(x) = (−1)^⟨x,k⟩ for every mask row x and support row k.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D].
    masks : numpy.ndarray
        Masks [B, n] (bool).
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Features [B, K] (float64).
    """
    masks = np.asarray(masks)
    if keys.shape[0] == 0:
        return np.zeros((masks.shape[0], 0))
    return 1.0 - 2.0 * _combined_columns(keys, masks, n, np.logical_xor, empty=False)


def and_features(keys: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """Compute AND_S(x) = Π_{i∈S} x_i (1 when every unit of S is kept; ∅ → 1).

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D].
    masks : numpy.ndarray
        Masks [B, n] (bool).
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Features [B, K] (float64).
    """
    masks = np.asarray(masks)
    if keys.shape[0] == 0:
        return np.zeros((masks.shape[0], 0))
    return _combined_columns(keys, masks, n, np.logical_and, empty=True).astype(np.float64)


def _evaluate(features, keys: np.ndarray, values: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """features(keys, rows) @ values, in row chunks of about 2e7 cells."""
    masks = np.asarray(masks)
    out = np.empty(masks.shape[0], dtype=np.float64)
    per = max(1, int(2e7 // max(1, keys.shape[0])))
    for sl in _chunks(masks.shape[0], per):
        out[sl] = features(keys, masks[sl], n) @ values
    return out


def evaluate_fourier(keys: np.ndarray, values: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """Evaluate Σ_k F(k)(−1)^⟨x,k⟩ for each row x of ``masks``.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.
    masks : numpy.ndarray
        Masks [B, n] (bool).
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Values [B] (float64).
    """
    return _evaluate(fourier_features, keys, values, masks, n)


def evaluate_mobius(keys: np.ndarray, values: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """Evaluate Σ_{S ⊆ x} a(S) for each row x of ``masks``.

    Parameters
    ----------
    keys : numpy.ndarray
        Padded supports [K, D] (−1 pads).
    values : numpy.ndarray
        Coefficients [K] aligned with ``keys``.
    masks : numpy.ndarray
        Masks [B, n] (bool).
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Values [B] (float64).
    """
    return _evaluate(and_features, keys, values, masks, n)
