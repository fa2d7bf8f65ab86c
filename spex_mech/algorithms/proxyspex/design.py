"""Stage 1: the random design, its evaluation, and the held-out split the later stages choose on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from ...chunked import evaluate_blocks, rows_per_block
from ...valuefn import ValueFunction, uniform_masks

__all__ = ["DISTINCT_MAX_N", "CV_FOLDS", "SMALL_BUDGET", "Design", "Split", "design_masks", "evaluate", "split_design"]

DISTINCT_MAX_N = 24  # below this, masks are drawn without replacement
CV_FOLDS = 5
SMALL_BUDGET = 500  # at most this many masks: support chosen by nested CV, final proxy fitted on all of them


@dataclass(frozen=True)
class Design:
    """The evaluated design: bool ``masks`` [m, n] and float64 ``values`` [m]."""

    masks: np.ndarray
    values: np.ndarray

    @property
    def m(self) -> int:
        """Return the number of masks.

        Returns
        -------
        int
        """
        return int(self.masks.shape[0])

    @property
    def n(self) -> int:
        """Return the number of units.

        Returns
        -------
        int
        """
        return int(self.masks.shape[1])

    def rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the masks and values of the rows ``idx``.

        Parameters
        ----------
        idx : ndarray
            Row indices.

        Returns
        -------
        tuple of ndarray
            (masks [len(idx), n], values [len(idx)]).
        """
        return self.masks[idx], self.values[idx]


@dataclass(frozen=True)
class Split:
    """How the masks are held out.

    Attributes
    ----------
    perm : ndarray
        The random permutation of the mask rows the split and folds are cut from.
    train, val : ndarray
        The early-stopping split (training rows, held-out rows).
    parts : tuple of ndarray
        The ``CV_FOLDS`` held-out parts when cross-validation may run (``val`` is the first), else ().
    """

    perm: np.ndarray
    train: np.ndarray
    val: np.ndarray
    parts: tuple

    @property
    def may_cross_validate(self) -> bool:
        """Tell whether the split is the first of the cross-validation folds.

        Returns
        -------
        bool
        """
        return bool(self.parts)

    def cv_folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return all ``CV_FOLDS`` (train, held) folds, the split first.

        Returns
        -------
        list of (ndarray, ndarray)
        """
        return [(self.train, self.val)] + [(np.setdiff1d(self.perm, part), part) for part in self.parts[1:]]


def design_masks(n: int, budget: int, seed: Union[int, np.random.Generator] = 0) -> np.ndarray:
    """Draw ``budget`` uniformly random masks.

    For n ≤ 24 the masks are distinct (sampling with replacement would spend evaluations on repeats)
    and a budget above 2^n is capped at 2^n (every mask once).

    Parameters
    ----------
    n : int
        Number of units.
    budget : int
        Number of masks.
    seed : int or numpy.random.Generator
        Randomness.

    Returns
    -------
    ndarray
        The masks, bool [min(budget, 2^n), n] for n ≤ 24, else [budget, n].
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if n <= DISTINCT_MAX_N:
        total = 1 << n
        codes = rng.choice(total, size=min(int(budget), total), replace=False)
        return ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    return uniform_masks(n, int(budget), rng)


def evaluate(vf: ValueFunction, masks: np.ndarray, batch_size: Union[int, None]) -> Design:
    """Evaluate ``vf`` on ``masks`` in chunks (``batch_size`` masks, default about 32 M mask cells).

    Parameters
    ----------
    vf : ValueFunction
        The value function (counts its evaluations).
    masks : ndarray
        The masks, bool [m, n].
    batch_size : int or None
        Most masks per call.

    Returns
    -------
    Design
    """
    rows = int(batch_size) if batch_size else rows_per_block(masks.shape[1])
    return Design(masks, evaluate_blocks(vf, masks.shape[0], lambda start, stop: masks[start:stop], rows))


def split_design(m: int, rng: np.random.Generator, may_cross_validate: bool, validation_fraction: float) -> Split:
    """Cut ``m`` mask rows into the early-stopping split (and the CV folds, where they may run).

    Parameters
    ----------
    m : int
        Number of masks.
    rng : numpy.random.Generator
        Draws the permutation.
    may_cross_validate : bool
        If true, the split is the first of ``CV_FOLDS`` equal parts; else ``validation_fraction`` of
        the rows (at least 2, at most m − 2) are held out.
    validation_fraction : float
        Held-out share of a plain split.

    Returns
    -------
    Split
    """
    perm = rng.permutation(m)
    if may_cross_validate:
        parts = tuple(np.array_split(perm, CV_FOLDS))
        return Split(perm, np.concatenate(parts[1:]), parts[0], parts)
    n_val = int(np.clip(round(validation_fraction * m), 2, m - 2))
    return Split(perm, perm[n_val:], perm[:n_val], ())
