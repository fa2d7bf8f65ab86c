"""Stage 3: a proxy's exact spectrum, and its terms ranked as candidates for the support.

Two read-outs of each proxy compete: the Fourier one (parities ranked by the proxy's |F|) and a
Möbius one (AND terms from the proxy's Möbius spectrum, ranked by the variance each explains alone,
|a(S)|·sd(AND_S); a hierarchical spectrum is far sparser there). :func:`greedy_order` re-ranks a
Möbius ranking by orthogonal least squares on the masks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ...results import spectrum as spec
from .. import trees

__all__ = [
    "ALL_SINGLETONS_RATIO",
    "GREEDY_CANDIDATES",
    "ProxySpectrum",
    "Ranking",
    "greedy_order",
    "rank_spectrum",
    "read_spectrum",
]

ALL_SINGLETONS_RATIO = 4  # singletons="auto": all n singletons when n ≤ training masks / this
GREEDY_CANDIDATES = 4000  # Möbius candidates (by the proxy's |a(S)|·sd) ordered by greedy selection


@dataclass(frozen=True)
class ProxySpectrum:
    """A proxy's exact spectrum in the bases searched.

    Attributes
    ----------
    fourier : tuple of ndarray
        (keys, coefficients) of the Fourier spectrum.
    mobius : tuple of ndarray or None
        (keys, coefficients) of the Möbius spectrum, every path subset kept (zeros included); None
        when the Möbius basis is not searched.
    seconds : float
        Time the read-out took.
    """

    fourier: tuple
    mobius: Optional[tuple]
    seconds: float

    def basis(self, name: str) -> tuple:
        """Return (keys, coefficients) in the basis ``name``.

        Parameters
        ----------
        name : str
            ``"fourier"`` or ``"mobius"``.

        Returns
        -------
        tuple of ndarray

        Raises
        ------
        ValueError
            When the spectrum was read without that basis.
        """
        out = self.fourier if name == "fourier" else self.mobius
        if out is None:
            raise ValueError(f"the proxy spectrum was read without the {name} basis")
        return out


def read_spectrum(model: Any, n: int, bases: Sequence[str]) -> ProxySpectrum:
    """Read the proxy's exact spectrum in each basis of ``bases`` (both off one tree table).

    Parameters
    ----------
    model : object
        A fitted tree ensemble :func:`spex_mech.algorithms.trees.tree_table` reads.
    n : int
        Number of units.
    bases : sequence of str
        ``"fourier"`` is always read; ``"mobius"`` when listed.

    Returns
    -------
    ProxySpectrum
    """
    start = time.perf_counter()
    table = trees.tree_table(model, n)
    fourier = trees.fourier_spectrum(table)
    # every path subset stays a candidate, zero coefficients included: greedy selection on the masks
    # may still take an AND term the proxy spread over its subsets or supersets
    mobius = trees.mobius_spectrum(table, drop_zeros=False) if "mobius" in bases else None
    return ProxySpectrum(fourier, mobius, time.perf_counter() - start)


@dataclass(frozen=True)
class Ranking:
    """One proxy's spectrum split for the support search: always-kept base terms, then the rest ranked.

    Attributes
    ----------
    base_keys, base_vals : ndarray
        The always-kept terms (singletons, by the singleton mode) and their proxy coefficients.
    ranked, ranked_vals : ndarray
        The other candidate terms, strongest first, and their proxy coefficients.
    const : float
        The proxy's ∅ coefficient.
    basis : str
        ``"fourier"`` (parity columns χ_S) or ``"mobius"`` (AND columns).
    """

    base_keys: np.ndarray
    base_vals: np.ndarray
    ranked: np.ndarray
    ranked_vals: np.ndarray
    const: float
    basis: str

    def features(self, keys: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
        """Return the columns of ``keys`` on ``masks`` in this ranking's basis.

        Parameters
        ----------
        keys : ndarray
            Terms, int [k, d] padded with −1.
        masks : ndarray
            The masks, bool [m, n].
        n : int
            Units.

        Returns
        -------
        ndarray
            The columns, float [m, k].
        """
        return (spec.fourier_features if self.basis == "fourier" else spec.and_features)(keys, masks, n)

    def columns(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the keys and proxy values of the base terms and the first k ranked ones.

        Parameters
        ----------
        k : int
            Ranked terms.

        Returns
        -------
        tuple of ndarray
            (keys, values), base terms first.
        """
        return (
            np.concatenate([self.base_keys, self.ranked[:k]]),
            np.concatenate([self.base_vals, self.ranked_vals[:k]]),
        )


def rank_spectrum(
    spectrum: ProxySpectrum, basis: str, singletons: str, n: int, max_order: Optional[int], n_train: int
) -> tuple[Ranking, str]:
    """Split one proxy spectrum into always-kept singletons and the other terms ranked by strength.

    Parameters
    ----------
    spectrum : ProxySpectrum
        The proxy's spectrum.
    basis : {"fourier", "mobius"}
        Which read-out. Fourier terms are ranked by |F(S)|, Möbius AND terms by |a(S)|·sd(AND_S).
    singletons : {"auto", "all", "proxy", "ranked"}
        ``"all"`` keeps all n units' singletons, ``"proxy"`` those the proxy split on, ``"ranked"``
        none (singletons compete with interactions); ``"auto"`` is "all" with at least
        ``ALL_SINGLETONS_RATIO`` training masks per unit, else "proxy" with that many per proxy
        singleton, else "ranked" (hundreds of always-kept noise singletons would swamp a small sample).
    n : int
        Number of units.
    max_order : int or None
        Terms above this order are dropped.
    n_train : int
        Training masks (the smallest training fold), for ``"auto"``.

    Returns
    -------
    tuple
        (:class:`Ranking`, the singleton mode used).
    """
    keys, coefs = spectrum.basis(basis)
    orders = spec.key_orders(keys)
    strength = np.abs(coefs)
    if basis == "mobius":
        p = np.power(0.5, orders)
        strength = np.abs(coefs) * np.sqrt(p * (1.0 - p))
    const = float(coefs[orders == 0].sum())
    allowed = orders <= max_order if max_order is not None else np.ones_like(orders, dtype=bool)
    single = np.nonzero((orders == 1) & allowed)[0]
    if singletons == "auto":
        if n * ALL_SINGLETONS_RATIO <= n_train:
            singletons = "all"
        elif single.shape[0] * ALL_SINGLETONS_RATIO <= n_train:
            singletons = "proxy"
        else:
            singletons = "ranked"
    rest = np.nonzero((orders >= (1 if singletons == "ranked" else 2)) & allowed)[0]
    rest = rest[np.argsort(-strength[rest], kind="stable")]
    if singletons == "ranked":
        single = single[:0]
    base_keys, base_vals = keys[single], coefs[single]
    if singletons == "all":
        missing = np.setdiff1d(np.arange(n), base_keys[:, 0])
        if missing.size:
            extra = np.full((missing.size, keys.shape[1]), -1, np.int64)
            extra[:, 0] = missing
            base_keys = np.concatenate([base_keys, extra])
            base_vals = np.concatenate([base_vals, np.zeros(missing.size)])
    return Ranking(base_keys, base_vals, keys[rest], coefs[rest], const, basis), singletons


def greedy_order(
    ranking: Ranking, masks: np.ndarray, values: np.ndarray, rows: np.ndarray, n: int, steps: int
) -> Ranking:
    """Re-rank a ranking's candidates by orthogonal least squares (greedy forward selection) on ``rows``.

    The proxy's coefficients decide *which* terms are candidates (the first ``GREEDY_CANDIDATES``);
    the masks decide their order: each step takes the candidate whose component orthogonal to the
    columns already taken (base terms first) best explains the residual. Correlated candidates, such
    as an AND term and its subsets, then stop competing for the same variance. The rest follow in
    the proxy's order.

    Parameters
    ----------
    ranking : Ranking
        The ranking to re-order (its base terms enter first and stay).
    masks, values : ndarray
        All masks [m, n] and their values [m].
    rows : ndarray
        The rows the order is fitted on.
    n : int
        Number of units.
    steps : int
        Most greedy steps (terms ordered); the rest follow in the proxy's order.

    Returns
    -------
    Ranking
        ``ranking`` with its ranked terms re-ordered.
    """
    n_base = ranking.base_keys.shape[0]
    n_cand = min(ranking.ranked.shape[0], GREEDY_CANDIDATES)
    steps = min(int(steps), n_cand)
    if steps <= 0:
        return ranking
    sub = masks[rows]
    base = ranking.features(ranking.base_keys, sub, n)
    base -= base.mean(axis=0)
    # candidates in float32: each pass over them is memory-bound, and only their order is kept
    C = ranking.features(ranking.ranked[:n_cand], sub, n).astype(np.float32)
    C -= C.mean(axis=0)
    r = values[rows] - values[rows].mean()
    r0_sq = float(r @ r)
    # C is never projected: every q below is orthogonal to the columns taken before it (base terms
    # first), so qᵀc = qᵀ(c's orthogonal part) and, with r ⟂ the taken columns, cᵀr = (c's orthogonal
    # part)ᵀr. One pass over C per step, qᵀC, updates both the residual correlations (r ← r − q·qᵀr
    # gives Cᵀr ← Cᵀr − qᵀr·Cᵀq) and the orthogonal parts' squared norms (lowered by (qᵀc)²).
    q = np.linalg.qr(base)[0] if n_base else np.zeros((C.shape[0], 0))  # [rows, min(rows, n_base)]
    n_q = q.shape[1]
    Q = np.zeros((C.shape[0], n_q + steps))
    sq_norm = np.einsum("ij,ij->j", C, C, dtype=np.float64)
    if n_q:
        Q[:, :n_q] = q
        r -= q @ (q.T @ r)
        along_base = q.T.astype(np.float32) @ C
        sq_norm -= np.einsum("ij,ij->j", along_base, along_base, dtype=np.float64)
    dots = (r.astype(np.float32) @ C).astype(np.float64)  # cᵀr
    floor = 1e-9 * max(1.0, float(sq_norm.max(initial=0.0)))
    stop = np.log(max(n_cand, 2)) / max(1, rows.shape[0])  # well below the largest null share, 2 ln K / N
    taken = np.zeros(n_cand, dtype=bool)
    order: list[int] = []
    for step in range(steps):
        r_sq = float(r @ r)
        if r_sq <= 1e-12 * r0_sq:  # explained to rounding error: any further order would be arbitrary
            break
        score = np.where(taken | (sq_norm <= floor), -1.0, dots**2 / np.maximum(sq_norm, floor))
        j = int(np.argmax(score))
        if score[j] <= stop * r_sq:  # the best candidate explains no more than noise would
            break
        taken[j] = True
        order.append(j)
        used = Q[:, : n_q + step]
        col = C[:, j].astype(np.float64)
        q = col - used @ (used.T @ col)
        q /= np.linalg.norm(q)
        Q[:, n_q + step] = q
        qr = float(q @ r)
        r -= q * qr
        qc = (q.astype(np.float32) @ C).astype(np.float64)
        dots -= qr * qc
        sq_norm -= qc**2
    rest = np.concatenate([np.nonzero(~taken)[0], np.arange(n_cand, ranking.ranked.shape[0])])
    idx = np.concatenate([np.array(order, dtype=np.int64), rest.astype(np.int64)])
    return dataclasses.replace(ranking, ranked=ranking.ranked[idx], ranked_vals=ranking.ranked_vals[idx])
