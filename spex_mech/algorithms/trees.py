"""Exact Fourier spectra of tree ensembles over binary inputs.

A regression tree on masks x ∈ {0,1}^n is a sum over its leaves of ``value · Π_{(j, b) on the path}
[x_j = b]``. Each indicator is ``(1 + s·(−1)^{x_j})/2`` with ``s = +1`` for the ``x_j = 0`` branch and
``s = −1`` for ``x_j = 1``, so a leaf at path length d contributes ``value · 2^−d · Π_{j∈T} s_j`` to the
Fourier coefficient of every subset T of its path. Summed over leaves this is the node recursion
N[S] = (L+R)/2, N[S ∪ {j}] = (L−R)/2 unrolled; it is done here for all leaves of all trees at once
with bit patterns, then identical supports are summed. Adding the ensemble's baseline (init score)
to F(∅) makes the inverse transform equal the model's ``predict`` on every mask. The Möbius (AND-basis)
spectrum is read off the same paths (:func:`mobius_spectrum`): [x_j = 1] = x_j, [x_j = 0] = 1 − x_j.

Reading a model into that flat table (:class:`TreeEnsemble`, :func:`tree_table`) is the job of
:mod:`spex_mech.algorithms.tree_table`; this module expands the table into spectra.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..results import spectrum as spec
from .tree_table import TreeEnsemble, tree_table

__all__ = ["TreeEnsemble", "tree_table", "fourier_spectrum", "mobius_spectrum", "MAX_TERMS"]

# Extraction expands Σ_leaves 2^depth terms before summing duplicates; refuse beyond this many.
MAX_TERMS = 60_000_000
_CHUNK_TERMS = 4_000_000  # leaves are expanded in chunks of about this many terms


# ------------------------------------------------------------------------------------------ extraction


def _leaf_paths(ens: TreeEnsemble) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every reachable leaf's path: (leaf node, sorted path units [L, D] −1-padded, signs [L, D], length [L]).

    Trees are descended level by level, all at once. A split on a unit already fixed on the path, or
    one whose two branches coincide for binary inputs, adds no condition (the other branch is
    unreachable on masks).
    """
    nodes = ens.roots.copy()
    feats = np.zeros((nodes.shape[0], 0), np.int64)
    signs = np.zeros((nodes.shape[0], 0), np.int8)
    out_nodes, out_feats, out_signs = [], [], []
    depth = 0
    while nodes.shape[0]:
        feat = ens.feature[nodes]
        leaf = feat < 0
        if leaf.any():
            out_nodes.append(nodes[leaf])
            out_feats.append(feats[leaf])
            out_signs.append(signs[leaf])
        inner = ~leaf
        nodes, feats, signs, feat = nodes[inner], feats[inner], signs[inner], feat[inner]
        if not nodes.shape[0]:
            break
        depth += 1
        if depth > 512:
            raise ValueError("tree deeper than 512 levels (cyclic table?)")
        c0, c1 = ens.left[nodes], ens.right[nodes]
        match = feats == feat[:, None]
        seen = match.any(axis=1)
        prior = (signs * match).sum(axis=1)  # +1: already x_j = 0 on the path, −1: x_j = 1
        forced = seen | (c0 == c1)
        forced_child = np.where(seen, np.where(prior > 0, c0, c1), c0)
        pad_f = np.full((feats.shape[0], 1), -1, np.int64)
        pad_s = np.zeros((feats.shape[0], 1), np.int8)
        keep_f = np.concatenate([feats, pad_f], axis=1)
        keep_s = np.concatenate([signs, pad_s], axis=1)
        split = ~forced
        f0 = keep_f[split].copy()
        f0[:, -1] = feat[split]
        s0 = keep_s[split].copy()
        s0[:, -1] = 1
        s1 = s0.copy()
        s1[:, -1] = -1
        nodes = np.concatenate([forced_child[forced], c0[split], c1[split]])
        feats = np.concatenate([keep_f[forced], f0, f0])
        signs = np.concatenate([keep_s[forced], s0, s1])
    width = max([f.shape[1] for f in out_feats] + [0])
    leaves = np.concatenate(out_nodes) if out_nodes else np.zeros(0, np.int64)
    pf = np.full((leaves.shape[0], max(width, 1)), -1, np.int64)
    ps = np.zeros((leaves.shape[0], max(width, 1)), np.int8)
    row = 0
    for f, s in zip(out_feats, out_signs):
        pf[row : row + f.shape[0], : f.shape[1]] = f
        ps[row : row + f.shape[0], : s.shape[1]] = s
        row += f.shape[0]
    big = np.iinfo(np.int64).max
    order = np.argsort(np.where(pf < 0, big, pf), axis=1, kind="stable")
    pf = np.take_along_axis(pf, order, axis=1)
    ps = np.take_along_axis(ps, order, axis=1)
    lengths = (pf >= 0).sum(axis=1)
    return leaves, pf, ps, lengths


def _subset_terms(
    feats: np.ndarray,
    signs: np.ndarray,
    values: np.ndarray,
    d: int,
    shift: int,
    basis: str = "fourier",
    closure: bool = False,
):
    """List the path-subset terms of L leaves of path length d: (packed codes or padded keys, coefficients).

    Fourier: every subset T of the path, value · 2^−d · Π_{j∈T} s_j. Möbius: with P1 the path's
    x_j = 1 units and P0 its x_j = 0 units, Π_{P1} x_j · Π_{P0} (1 − x_j) = Σ_{T⊆P0} (−1)^|T| AND(P1 ∪ T),
    so only subsets containing P1 carry a (±value) coefficient; the others are dropped unless
    ``closure`` (then they stay, with coefficient 0).
    """
    patterns = np.arange(1 << d, dtype=np.int64)
    bits = ((patterns[:, None] >> np.arange(d)[None, :]) & 1).astype(np.int64)  # [P, d]
    neg = (signs[:, :d] < 0).astype(np.int64)  # [L, d]: the x_j = 1 branch
    if basis == "fourier":
        parity = (neg @ bits.T) & 1  # [L, P]
        coef = (values / float(1 << d))[:, None] * (1.0 - 2.0 * parity)
        take = None
    else:
        parity = ((1 - neg) @ bits.T) & 1  # |T ∩ P0| mod 2
        coef = values[:, None] * (1.0 - 2.0 * parity)
        valid = (neg @ (1 - bits).T) == 0  # the subset keeps every P1 unit
        if closure:
            coef, take = coef * valid, None
        else:
            take = valid.reshape(-1)
    if shift:
        rank = np.cumsum(bits, axis=1) - 1  # position of unit i among the chosen ones
        keys = np.zeros((feats.shape[0], bits.shape[0]), np.int64)
        for i in range(d):
            term = (feats[:, i, None] + 1) << (shift * rank[None, :, i])
            keys += np.where(bits[None, :, i].astype(bool), term, 0)
        keys = keys.reshape(-1)
    else:
        keys = np.where(bits[None, :, :].astype(bool), feats[:, None, :d], -1).reshape(-1, d)
    coef = coef.reshape(-1)
    return (keys, coef) if take is None else (keys[take], coef[take])


def _decode_codes(codes: np.ndarray, shift: int, width: int) -> np.ndarray:
    keys = np.empty((codes.shape[0], max(width, 1)), np.int64)
    mask = (1 << shift) - 1
    for pos in range(max(width, 1)):
        keys[:, pos] = ((codes >> (shift * pos)) & mask) - 1
    return keys


def fourier_spectrum(
    model: Any,
    n: Optional[int] = None,
    *,
    max_terms: int = MAX_TERMS,
    drop_zeros: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the exact Fourier spectrum of a tree model on masks.

    The ensemble's baseline is included in F(∅), so ``Σ_k F(k)(−1)^⟨x,k⟩`` equals the model's prediction at
    every mask x. Cost: Σ over leaves of 2^(path length) terms (refused above ``max_terms``); cap tree depth to
    keep it small.

    Parameters
    ----------
    model : Any
        A fitted tree model or :class:`TreeEnsemble` (see :func:`tree_table`).
    n : int, optional
        Number of units; by default the model's number of input features.
    max_terms : int, default MAX_TERMS
        Refuse models whose leaves expand to more path-subset terms than this.
    drop_zeros : bool, default True
        Drop coefficients that sum to exactly zero.

    Returns
    -------
    keys : numpy.ndarray
        Padded sorted unit indices [K, D] (−1 pads; the empty set is all −1), as in
        :mod:`spex_mech.results.spectrum`.
    values : numpy.ndarray
        The coefficients [K].

    Raises
    ------
    ValueError
        If the model expands to more than ``max_terms`` terms (cap the tree depth), or :func:`tree_table`
        refuses it.
    TypeError
        If the model is of an unsupported type.
    """
    return _expand(tree_table(model, n), "fourier", max_terms, drop_zeros)


def mobius_spectrum(
    model: Any,
    n: Optional[int] = None,
    *,
    max_terms: int = MAX_TERMS,
    drop_zeros: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the exact Möbius (AND-basis) spectrum of a tree model on masks.

    ``Σ_k a(k)·Π_{i∈k} x_i`` equals the model's prediction at every mask x (the baseline is a(∅)).
    Read straight off the leaf paths (a leaf with kept units P1 and ablated units P0 contributes
    ±value to AND(P1 ∪ T) for every T ⊆ P0), which is cheaper than converting the Fourier spectrum.

    Parameters
    ----------
    model : Any
        A fitted tree model or :class:`TreeEnsemble` (see :func:`tree_table`).
    n : int, optional
        Number of units; by default the model's number of input features.
    max_terms : int, default MAX_TERMS
        Refuse models whose leaves expand to more path-subset terms than this.
    drop_zeros : bool, default True
        Drop coefficients that sum to exactly zero. With False the support is every subset of every
        reachable leaf path (the zero coefficients included), the same support as the Fourier spectrum's.

    Returns
    -------
    keys : numpy.ndarray
        Padded sorted unit indices [K, D] (−1 pads).
    values : numpy.ndarray
        The dividends [K].

    Raises
    ------
    ValueError
        If the model expands to more than ``max_terms`` terms (cap the tree depth), or :func:`tree_table`
        refuses it.
    TypeError
        If the model is of an unsupported type.
    """
    return _expand(tree_table(model, n), "mobius", max_terms, drop_zeros)


def _expand(ens: TreeEnsemble, basis: str, max_terms: int, drop_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sum every reachable leaf's path-subset terms (see :func:`_subset_terms`) over the ensemble."""
    nf = ens.n_features
    leaves, pf, ps, lengths = _leaf_paths(ens)
    values = ens.value[leaves]
    total = int(np.sum(np.left_shift(1, lengths.astype(np.int64)))) if leaves.size else 0
    if total > max_terms:
        raise ValueError(
            f"the tree model expands to {total} path-subset terms (more than max_terms={max_terms}); "
            f"its deepest path has {int(lengths.max())} splits: cap the depth (max_depth / max_order)"
        )
    max_len = int(lengths.max(initial=0))
    shift = max(1, int(nf).bit_length())
    packed = shift * max(max_len, 1) <= 63
    codes_parts, coef_parts = [], []
    for d in np.unique(lengths):
        d = int(d)
        rows = np.nonzero(lengths == d)[0]
        per = max(1, _CHUNK_TERMS >> d)
        for start in range(0, rows.shape[0], per):
            sel = rows[start : start + per]
            keys, coef = _subset_terms(pf[sel], ps[sel], values[sel], d, shift if packed else 0, basis, not drop_zeros)
            if not packed:
                full = np.full((keys.shape[0], max(max_len, 1)), -1, np.int64)
                full[:, : keys.shape[1]] = keys
                keys = full
            codes_parts.append(keys)
            coef_parts.append(coef)
    width = max(max_len, 1)
    if packed:
        codes = np.concatenate(codes_parts + [np.zeros(1, np.int64)])
        coefs = np.concatenate(coef_parts + [np.array([ens.baseline])])
        uniq, inverse = np.unique(codes, return_inverse=True)
        sums = np.bincount(inverse.reshape(-1), weights=coefs, minlength=uniq.shape[0])
        keys = _decode_codes(uniq, shift, width)
    else:
        keys = np.concatenate(codes_parts + [np.full((1, width), -1, np.int64)])
        coefs = np.concatenate(coef_parts + [np.array([ens.baseline])])
        keys, sums = spec.aggregate(keys, coefs)
    if drop_zeros:
        nz = sums != 0.0
        empty = np.all(keys < 0, axis=1)
        keep = nz | empty
        keys, sums = keys[keep], sums[keep]
    return keys, sums
