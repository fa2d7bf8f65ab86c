"""Chase-II soft decoding on top of a :class:`~spex_mech.algorithms.spex.bch.BCHCode`.

Where hard BCH decoding of a bin's sign pattern fails, the least reliable observations (smallest |value|)
are flipped in every pattern of small weight, each candidate is hard-decoded, and the candidates are
ranked by the soft weight of the observations they contradict. Split from :mod:`.bch` (the code and its
hard decoder); :class:`~spex_mech.algorithms.spex.bch.BCHCode` keeps ``chase_patterns``, ``chase_decode``
and ``soft_score`` as methods that call the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:
    from .bch import BCHCode

__all__ = ["ChaseResult", "chase_patterns", "chase_decode", "soft_score"]


@dataclass
class ChaseResult:
    """Every Chase candidate: ``ok`` and ``units`` per (word, flip pattern), and a soft score (lower is better).

    Attributes
    ----------
    ok : numpy.ndarray
        Array [W, T] (bool): the candidate decoded.
    units : numpy.ndarray
        Array [W, T, t] (int64): the candidate's support.
    score : numpy.ndarray
        Array [W, T] (float64): its soft score; inf where decoding failed.
    """

    ok: np.ndarray  # bool [W, T]
    units: np.ndarray  # int64 [W, T, t]
    score: np.ndarray  # float64 [W, T]; inf where decoding failed

    def best(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the best-scoring candidate of each word.

        Returns
        -------
        ok : numpy.ndarray
            Array [W] (bool).
        units : numpy.ndarray
            Array [W, t] (int64).
        score : numpy.ndarray
            Array [W] (float64).
        """
        idx = np.argmin(self.score, axis=1)
        rows = np.arange(self.score.shape[0])
        return self.ok[rows, idx], self.units[rows, idx], self.score[rows, idx]


def chase_patterns(depth: int, max_weight: int = 2) -> np.ndarray:
    """List the flip patterns over the ``depth`` least reliable positions, by weight.

    Parameters
    ----------
    depth : int
        Positions that may be flipped.
    max_weight : int, default 2
        Most positions flipped by one pattern.

    Returns
    -------
    numpy.ndarray
        Array [T, depth] (bool); row 0 flips nothing.
    """
    rows = [np.zeros(depth, dtype=bool)]
    for wgt in range(1, max_weight + 1):
        for combo in combinations(range(depth), wgt):
            row = np.zeros(depth, dtype=bool)
            row[list(combo)] = True
            rows.append(row)
    return np.array(rows, dtype=bool).reshape(-1, depth)


def chase_decode(
    code: BCHCode,
    soft: np.ndarray,
    reference: Optional[np.ndarray] = None,
    depth: Optional[int] = None,
    max_weight: int = 2,
    block_words: int = 1 << 15,
) -> ChaseResult:
    """Run Chase-II decoding of soft parity observations (message part known to be zero).

    Without ``reference`` a bit is 1 where soft < 0. With ``reference`` (a soft observation of a
    position whose true value is 0, as SPEX's undelayed sample U_0), bit p is
    sign(soft_p) ≠ sign(reference), and flipping the reference complements every bit. The
    ``depth`` least reliable positions (smallest |value|) are flipped in every pattern of weight
    ≤ ``max_weight``; each candidate is decoded and scored by the soft weight of the observations
    it contradicts (the Gaussian maximum-likelihood order among candidates).

    Parameters
    ----------
    code : BCHCode
        The code whose parity words the observations carry.
    soft : numpy.ndarray
        Soft parity observations [W, P].
    reference : numpy.ndarray, optional
        Soft reference observation [W].
    depth : int, optional
        Least reliable positions flipped (default 2t, at most the number of observations).
    max_weight : int, default 2
        Most positions flipped by one pattern.
    block_words : int, default 32768
        Words × flip patterns decoded per block (bounds memory).

    Returns
    -------
    ChaseResult
        Every candidate with its soft score.
    """
    soft = np.asarray(soft, dtype=np.float64)
    w, p = soft.shape
    if p != code.n_parity:
        raise ValueError(f"soft words must be [W, {code.n_parity}], got {soft.shape}")
    if reference is None:
        aug = soft
        hard = soft < 0
    else:
        reference = np.asarray(reference, dtype=np.float64).reshape(w)
        aug = np.concatenate([soft, reference[:, None]], axis=1)  # position P = the reference
        hard = (soft < 0) ^ (reference < 0)[:, None]
    width = aug.shape[1]
    depth = int(min(depth if depth is not None else 2 * code.t, width))
    patterns = chase_patterns(depth, max_weight)  # [T, depth]
    n_pat = patterns.shape[0]
    least = np.argsort(np.abs(aug), axis=1, kind="stable")[:, :depth]  # [W, depth]
    ok = np.zeros((w, n_pat), dtype=bool)
    units = np.full((w, n_pat, code.t), -1, dtype=np.int64)
    per = max(1, block_words // n_pat)
    for start in range(0, w, per):
        sl = slice(start, min(w, start + per))
        nw = sl.stop - sl.start
        flips = np.zeros((nw, n_pat, width), dtype=bool)
        rows = np.repeat(np.arange(nw), depth)
        for k in range(n_pat):
            flips[rows, k, least[sl].reshape(-1)] = np.tile(patterns[k], nw)
        words = hard[sl][:, None, :] ^ flips[:, :, :p]
        if reference is not None:
            words ^= flips[:, :, p : p + 1]
        res = code.decode_parity(words.reshape(nw * n_pat, p))
        ok[sl] = res.ok.reshape(nw, n_pat)
        units[sl] = res.units.reshape(nw, n_pat, code.t)
    score = np.full((w, n_pat), np.inf)
    rows, cols = np.nonzero(ok)
    if rows.size:
        ref_rows = None if reference is None else reference[rows]
        score[rows, cols] = soft_score(code, units[rows, cols], soft[rows], ref_rows)
    return ChaseResult(ok, units, score)


def soft_score(
    code: BCHCode, units: np.ndarray, soft: np.ndarray, reference: Optional[np.ndarray] = None
) -> np.ndarray:
    """Score each support by the soft weight of the observations its parity word contradicts.

    With a reference the overall sign is free (SPEX: the coefficient's sign), so the score is
    ½(Σ|r| − |⟨s, r⟩|) over the P+1 observations r = (reference, soft) and signature s = (+1, (−1)^parity).

    Parameters
    ----------
    code : BCHCode
        The code whose parity words the observations carry.
    units : numpy.ndarray
        Supports [M, t] (−1 padded).
    soft : numpy.ndarray
        Soft parity observations [M, P].
    reference : numpy.ndarray, optional
        Soft reference observation [M].

    Returns
    -------
    numpy.ndarray
        Scores [M] (float64); lower is better.
    """
    signs = 1.0 - 2.0 * code.parity_of_support(units)  # [M, P]
    soft = np.asarray(soft, dtype=np.float64)
    if reference is None:
        return np.sum(np.where(signs * soft < 0, np.abs(soft), 0.0), axis=-1)
    reference = np.asarray(reference, dtype=np.float64)
    corr = np.sum(signs * soft, axis=-1) + reference
    total = np.sum(np.abs(soft), axis=-1) + np.abs(reference)
    return 0.5 * (total - np.abs(corr))
