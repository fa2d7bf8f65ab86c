"""The large-n regime: screen out units that cannot matter before any tree is fitted.

With tens of thousands of units, every boosting round scans every unit (tree fitting grows with
m·n per tree) and the float32 copy a tree library needs is m·n·4 bytes. Above ``LARGE_N`` units
ProxySPEX therefore first keeps only the units whose effect on the value is visible in the
training masks, then runs its usual stages on those units alone and maps the result back:

1. marginal screening: for each unit i, the difference of the mean value with i kept and with i
   removed, as a z-score; units with |z| ≥ ``SCREEN_Z`` pass;
2. residual screening: the passed units' singletons are fitted by least squares, and the
   remaining units are screened once more on the residual (a unit whose effect was hidden by the
   variance of stronger ones);
3. pair-residual screening: the singletons of all passed units and the AND products of pairs
   among the ``PAIR_UNITS`` strongest (fewer where the masks are few) are fitted, and the remaining
   units are screened on that residual (a weak unit whose effect was hidden by the variance of strong
   interactions).

Both passes read the bool masks in row blocks (float32 blocks of ``BLOCK_CELLS`` cells), so no
m × n float copy is ever made. A unit that moves neither the value nor the residual on its own
— a high-order parity whose subsets carry nothing — is screened out; the trees could not find it
either (their greedy splits need the same marginal signal; see the package docstring's known
failure mode).

The screen is fitted on the training masks of the early-stopping split only, so the validation
R² stays an estimate on masks the screen never saw.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = [
    "BLOCK_CELLS",
    "LARGE_N",
    "LARGE_N_RANKED",
    "PAIR_UNITS",
    "SCREEN_MAX",
    "SCREEN_Z",
    "Screen",
    "marginal_z",
    "resolve_screen",
    "screen_units",
]

LARGE_N = 4096  # screen="auto": screen above this many units (all existing benchmark points lie below)
SCREEN_Z = 3.5  # |z| a unit needs to pass a screening pass
SCREEN_MAX = 2048  # most units kept (the strongest by |z|, first pass first)
PAIR_UNITS = 64  # the third pass fits AND pairs among at most this many of the strongest units
BLOCK_CELLS = 1 << 23  # mask cells per float32 block (32 MB)
# most ranked columns (beyond the base terms) a support search scores once screened (unscreened: only
# support.column_cap's general caps): the ridge path's cost grows with the cube of its columns, and the
# screened supports found stay far below this (benchmarks/results/scale_proxyspex_notes.md)
LARGE_N_RANKED = 1024


@dataclass(frozen=True)
class Screen:
    """Units kept by the screen.

    Attributes
    ----------
    units : ndarray
        int64, ascending: the kept units' indices among the n.
    n : int
        Number of units before screening.
    first_pass, second_pass, third_pass : int
        Units passed by the marginal, the residual and the pair-residual screening (after the
        ``SCREEN_MAX`` cap).
    """

    units: np.ndarray
    n: int
    first_pass: int
    second_pass: int
    third_pass: int = 0

    def lift_keys(self, keys: np.ndarray) -> np.ndarray:
        """Map keys over the kept units back to the n units.

        Parameters
        ----------
        keys : ndarray
            Keys over the kept units (indices 0..K−1, padding −1).

        Returns
        -------
        ndarray
            The same keys over the n units, int64, padding −1 kept.
        """
        keys = np.asarray(keys, dtype=np.int64)
        return np.where(keys >= 0, self.units[np.clip(keys, 0, None)], -1)


def resolve_screen(screen: Union[str, bool], n: int) -> bool:
    """Tell whether to screen: ``"auto"`` above ``LARGE_N`` units, or as forced by a bool.

    Parameters
    ----------
    screen : "auto" or bool
        ``proxyspex``'s argument.
    n : int
        Units.

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For any other value.
    """
    if screen == "auto":
        return n > LARGE_N
    if isinstance(screen, (bool, np.bool_)):
        return bool(screen)
    raise ValueError(f"screen must be 'auto', True or False, got {screen!r}")


def large_n_proxy(proxy: Any, screening: bool) -> Any:
    """Return the proxy backend: ``"auto"`` becomes ``"lightgbm"`` when screening and LightGBM is installed.

    On the few hundred kept units LightGBM grows the same-depth trees several times faster than
    scikit-learn's HistGradientBoosting (benchmarks/results/scale_proxyspex_notes.md); without
    screening ``"auto"`` stays scikit-learn, so small-n results do not change.

    Parameters
    ----------
    proxy : object
        ``proxyspex``'s ``proxy`` argument.
    screening : bool
        Whether the run screens.

    Returns
    -------
    object
        ``"lightgbm"`` or ``proxy`` unchanged.
    """
    if screening and isinstance(proxy, str) and proxy.lower() == "auto" and importlib.util.find_spec("lightgbm"):
        return "lightgbm"
    return proxy


def _block_rows(n: int) -> int:
    return max(1, BLOCK_CELLS // max(1, n))


def marginal_z(masks: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return the z-score of every unit's marginal effect on ``values`` over the mask rows ``rows``.

    The effect is mean(value | unit kept) − mean(value | unit removed); its standard error uses the
    pooled standard deviation of the values. A unit kept (or removed) in every row scores 0.

    Parameters
    ----------
    masks : ndarray
        The masks, bool [m, n], read in row blocks.
    values : ndarray
        The value of each row of ``rows`` (in that order), float [len(rows)].
    rows : ndarray
        Rows of ``masks`` used.

    Returns
    -------
    ndarray
        The z-scores, float64 [n].
    """
    n = masks.shape[1]
    y = np.asarray(values, dtype=np.float64)
    y = y - y.mean()
    kept_sum = np.zeros(n)  # Σ y over the rows where the unit is kept
    kept_count = np.zeros(n)
    step = _block_rows(n)
    for start in range(0, rows.shape[0], step):
        block = masks[rows[start : start + step]]
        yb = y[start : start + step]
        kept_sum += yb.astype(np.float32) @ block.astype(np.float32)
        kept_count += block.sum(axis=0)
    total = rows.shape[0]
    removed_count = total - kept_count
    sd = float(np.sqrt(np.sum(y**2) / max(1, total - 1)))
    both = (kept_count > 0) & (removed_count > 0)
    z = np.zeros(n)
    if sd <= 0 or not both.any():
        return z
    k, r = kept_count[both], removed_count[both]
    diff = kept_sum[both] / k - (-kept_sum[both]) / r  # the values are centred: Σ over removed = −Σ over kept
    z[both] = diff / (sd * np.sqrt(1.0 / k + 1.0 / r))
    return z


def _singleton_residual(masks: np.ndarray, values: np.ndarray, rows: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Residual of a least-squares fit of ``units``' singletons (and a constant) on ``rows``."""
    X = np.ones((rows.shape[0], units.shape[0] + 1))
    step = _block_rows(max(1, units.shape[0]))
    for start in range(0, rows.shape[0], step):
        X[start : start + step, 1:] = masks[np.ix_(rows[start : start + step], units)]
    beta = np.linalg.lstsq(X, values, rcond=None)[0]
    return values - X @ beta


def _pair_residual(
    masks: np.ndarray, values: np.ndarray, rows: np.ndarray, units: np.ndarray, strong: np.ndarray
) -> np.ndarray:
    """Residual of a least-squares fit of ``units``' singletons and AND pairs among ``strong`` on ``rows``.

    Solved by the normal equations with a tiny ridge (1e-9 of the mean diagonal) against exact
    collinearity; the constant is unpenalised through centring.
    """
    sub = np.zeros((rows.shape[0], units.shape[0]), dtype=bool)
    step = _block_rows(max(1, units.shape[0]))
    for start in range(0, rows.shape[0], step):
        sub[start : start + step] = masks[np.ix_(rows[start : start + step], units)]
    pos = np.searchsorted(units, strong)
    i, j = np.triu_indices(pos.shape[0], 1)
    X = np.concatenate([sub, sub[:, pos[i]] & sub[:, pos[j]]], axis=1).astype(np.float64)
    X -= X.mean(axis=0)
    yc = values - values.mean()
    gram = X.T @ X
    gram[np.diag_indices_from(gram)] += 1e-9 * max(float(np.trace(gram)) / gram.shape[0], 1e-300)
    beta = np.linalg.solve(gram, X.T @ yc)
    return yc - X @ beta


def screen_units(
    masks: np.ndarray, values: np.ndarray, rows: np.ndarray, *, z: float = SCREEN_Z, max_units: int = SCREEN_MAX
) -> Screen:
    """Keep the units whose effect shows in the masks ``rows``: marginal, then residual screening.

    Parameters
    ----------
    masks : ndarray
        The masks, bool [m, n].
    values : ndarray
        All rows' values, float [m].
    rows : ndarray
        Rows the screen is fitted on (the training masks).
    z : float
        |z| a unit needs to pass.
    max_units : int
        Most units kept.

    Returns
    -------
    Screen
        At least one unit is always kept (the strongest), so the later stages have a column. Each
        residual pass runs only while fewer than ``max_units`` units are kept and its fit has at
        most half as many columns as ``rows``.
    """
    n = masks.shape[1]
    y = np.asarray(values, dtype=np.float64)[rows]
    z1 = np.abs(marginal_z(masks, y, rows))
    first = np.nonzero(z1 >= z)[0]
    first = first[np.argsort(-z1[first], kind="stable")][:max_units]
    second = np.zeros(0, dtype=np.int64)
    if first.shape[0] < max_units and first.shape[0] + 1 < rows.shape[0]:
        residual = _singleton_residual(masks, y, rows, np.sort(first)) if first.size else y
        z2 = np.abs(marginal_z(masks, residual, rows))
        z2[first] = 0.0
        second = np.nonzero(z2 >= z)[0]
        second = second[np.argsort(-z2[second], kind="stable")][: max_units - first.shape[0]]
    third = np.zeros(0, dtype=np.int64)
    so_far = np.concatenate([first, second]).astype(np.int64)  # strongest first within each pass
    n_strong = min(PAIR_UNITS, so_far.shape[0])  # as many as keep the fit's columns ≤ half the rows
    while n_strong > 1 and 2 * (so_far.shape[0] + n_strong * (n_strong - 1) // 2 + 1) > rows.shape[0]:
        n_strong -= 1
    strong = np.sort(so_far[:n_strong])
    n_cols = so_far.shape[0] + n_strong * (n_strong - 1) // 2
    if 0 < so_far.shape[0] < max_units and n_strong > 1 and 2 * (n_cols + 1) <= rows.shape[0]:
        residual = _pair_residual(masks, y, rows, np.sort(so_far), strong)
        z3 = np.abs(marginal_z(masks, residual, rows))
        z3[so_far] = 0.0
        third = np.nonzero(z3 >= z)[0]
        third = third[np.argsort(-z3[third], kind="stable")][: max_units - so_far.shape[0]]
    units = np.concatenate([so_far, third]).astype(np.int64)
    if units.size == 0:
        units = np.array([int(np.argmax(z1))], dtype=np.int64)
    if not math.isfinite(float(z1.max(initial=0.0))):
        raise ValueError("screen: a unit's z-score is not finite (are the values finite?)")
    return Screen(np.sort(units), int(n), int(first.shape[0]), int(second.shape[0]), int(third.shape[0]))
