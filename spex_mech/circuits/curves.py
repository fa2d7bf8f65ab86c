"""Faithfulness-versus-size curves, measured on the game, and MIB's area metrics CPR and CMD.

For a ranking of the units, the circuit of size k is its first k units. Two curves are measured by
running the value function (never the surrogate):

* **keep** (MIB's faithfulness): only the circuit is kept, every other unit ablated,
  F_keep(k) = (f(1_C) − f(0)) / (f(1) − f(0)) — 1 means the circuit alone behaves like the full model;
* **ablate**: the circuit is ablated and everything else kept,
  F_ablate(k) = (f(1 − 1_C) − f(0)) / (f(1) − f(0)) — 0 means removing the circuit removes the whole
  effect (the circuit is *complete*).

Sizes: every k = 1…n (x = k/n) for small n, else MIB's grid of fractions
(0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100 %; k = ⌊p·n⌋, x = p), as ``evaluate_area_under_curve`` in
MIB's circuit track does. Areas are trapezoids over x (MIB's default linear axis):
CPR = ∫ F_keep dx (higher is better), CMD = ∫ |1 − F_keep| dx (lower is better).

Every mask of every curve goes to the value function in one batched call; the two end points
f(1) and f(0) are shared.

Length: one job (measuring faithfulness curves: the size grid, MIB's areas, the warnings and the measuring
loop), each part with its numpydoc sections.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..valuefn import ValueFunction
from .noise import DEFAULT_K, estimate_noise

__all__ = [
    "MIB_PERCENTAGES",
    "FaithfulnessCurve",
    "FaithfulnessWarning",
    "area_metrics",
    "faithfulness_curve",
    "faithfulness_curves",
    "faithfulness_warnings",
    "size_grid",
]

MIB_PERCENTAGES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
EXACT_GRID_MAX_N = 64
DEFAULT_NOISE = 0.05
DEFAULT_MIN_EFFECT = 0.05


class FaithfulnessWarning(UserWarning):
    """A faithfulness ratio that should not be read at face value."""


@dataclass(frozen=True)
class FaithfulnessCurve:
    """Measured faithfulness of the top-k circuits of one ranking.

    ``keep[j]`` and ``ablate[j]`` belong to size ``sizes[j]`` at x = ``fractions[j]``. ``noise_method``
    says how the warnings' tolerance was obtained (:mod:`~spex_mech.circuits.noise`);
    ``noise_evaluations`` counts the masks that estimate cost (one estimate shared by the curves of a
    :func:`faithfulness_curves` call), on top of ``n_evaluations``.
    """

    method: str
    ranking: tuple[int, ...]
    sizes: tuple[int, ...]
    fractions: tuple[float, ...]
    keep: tuple[float, ...]
    ablate: tuple[float, ...]
    clean: float
    empty: float
    n_evaluations: int
    warnings: tuple[str, ...] = ()
    noise_method: str = ""
    noise_evaluations: int = 0

    @property
    def effect(self) -> float:
        """Return f(all kept) − f(all ablated).

        Returns
        -------
        float
            The total effect.
        """
        return self.clean - self.empty

    @property
    def cpr(self) -> float:
        """Return the area under the keep curve (MIB's CPR; higher is better).

        Returns
        -------
        float
            CPR.
        """
        return area_metrics(self.fractions, self.keep)[0]

    @property
    def cmd(self) -> float:
        """Return the area between the keep curve and 1 (MIB's CMD; lower is better).

        Returns
        -------
        float
            CMD.
        """
        return area_metrics(self.fractions, self.keep)[1]

    @property
    def ablate_area(self) -> float:
        """Return the area under the ablate curve (lower: removing the top units removes the effect sooner).

        Returns
        -------
        float
            The area.
        """
        return area_metrics(self.fractions, self.ablate)[0]

    def units_at(self, size: int) -> tuple[int, ...]:
        """Return the circuit of ``size`` units (the ranking's first ``size``).

        Parameters
        ----------
        size : int
            Number of units.

        Returns
        -------
        tuple of int
            Unit indices.
        """
        return self.ranking[:size]


def size_grid(n: int, exact_up_to: int = EXACT_GRID_MAX_N) -> tuple[np.ndarray, np.ndarray]:
    """Return (sizes, fractions): every size 1…n when n ≤ ``exact_up_to``, else MIB's percentage grid.

    Parameters
    ----------
    n : int
        Number of units.
    exact_up_to : int
        Largest n measured at every size.

    Returns
    -------
    sizes : numpy.ndarray
        Circuit sizes (int64).
    fractions : numpy.ndarray
        Their x positions.

    Raises
    ------
    ValueError
        For n < 1.
    """
    if n < 1:
        raise ValueError(f"need at least one unit, got n={n}")
    if n <= exact_up_to:
        sizes = np.arange(1, n + 1, dtype=np.int64)
        return sizes, sizes / n
    pct = np.array(MIB_PERCENTAGES)
    return np.floor(pct * n + 1e-9).astype(np.int64), pct


def area_metrics(fractions: Sequence[float], faithfulness: Sequence[float]) -> tuple[float, float]:
    """Return (CPR, CMD): trapezoid areas of F and of |1 − F| over the fractions, as MIB computes them.

    Parameters
    ----------
    fractions : sequence of float
        The x positions, non-decreasing.
    faithfulness : sequence of float
        F at each position.

    Returns
    -------
    tuple of (float, float)
        CPR and CMD (0 for fewer than two points).

    Raises
    ------
    ValueError
        For arrays of different shapes or decreasing fractions.
    """
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(faithfulness, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"fractions and faithfulness must be 1-d of equal length, got {x.shape} and {y.shape}")
    if x.shape[0] < 2:
        return 0.0, 0.0
    if np.any(np.diff(x) < 0):
        raise ValueError("fractions must be non-decreasing")
    dx = np.diff(x)
    cpr = float(np.sum(dx * (y[:-1] + y[1:]) / 2))
    dist = np.abs(1.0 - y)
    cmd = float(np.sum(dx * (dist[:-1] + dist[1:]) / 2))
    return cpr, cmd


def faithfulness_warnings(
    clean: float,
    empty: float,
    values: Mapping[str, Sequence[float]],
    *,
    noise: float = DEFAULT_NOISE,
    min_effect: float = DEFAULT_MIN_EFFECT,
    emit: bool = True,
    se: Optional[Mapping[str, Sequence[float]]] = None,
    effect_se: Optional[float] = None,
    k: float = DEFAULT_K,
) -> tuple[str, ...]:
    """Return messages for faithfulness ratios that mean little (emitted as :class:`FaithfulnessWarning` if ``emit``).

    A value warns when it leaves [0, 1] by more than its tolerance: ``k`` standard errors where ``se``
    gives a finite one (:mod:`~spex_mech.circuits.noise`), else the fixed ``noise``. The total effect
    warns when it is at most ``min_effect`` of the metric's scale, or, with a finite ``effect_se``, at
    most ``k`` standard errors (within noise).

    Parameters
    ----------
    clean, empty : float
        The value m(N) with all units kept and m(∅) with all ablated.
    values : mapping
        A name (``"keep"``, ``"ablate"``, ``"circuit"``) → faithfulness values.
    noise : float
        Fixed tolerance for values without a standard error.
    min_effect : float
        Smallest total effect, as a fraction of max(|m(N)|, |m(∅)|).
    emit : bool
        Also raise each message as a warning.
    se : mapping, optional
        Standard errors for (some of) ``values``, same names and lengths; NaN entries use ``noise``.
    effect_se : float, optional
        Standard error of m(N) − m(∅).
    k : float
        Standard errors a value may stray before it warns.

    Returns
    -------
    tuple of str
        The messages, effect first.
    """
    out = []
    effect = clean - empty
    scale = max(abs(clean), abs(empty))
    if scale == 0.0 or abs(effect) <= min_effect * scale:
        out.append(
            f"total effect f(all kept) − f(all ablated) = {effect:.4g} is at most {min_effect:g} of the metric's scale "
            f"({scale:.4g}): faithfulness ratios divide by it and are not meaningful"
        )
    if effect_se is not None and np.isfinite(effect_se) and abs(effect) <= k * effect_se:
        out.append(
            f"total effect f(all kept) − f(all ablated) = {effect:.4g} is within noise: at most {k:g} standard errors "
            f"(se {effect_se:.3g}); faithfulness ratios divide by it and are not meaningful"
        )
    for name, vals in values.items():
        arr = np.asarray(vals, dtype=np.float64)
        errs = np.full(arr.shape, np.nan) if se is None or name not in se else np.asarray(se[name], dtype=np.float64)
        if errs.shape != arr.shape:
            raise ValueError(f"se[{name!r}] has shape {errs.shape}, the values {arr.shape}")
        estimated = np.isfinite(errs)
        tol = np.where(estimated, k * np.where(estimated, errs, 0.0), noise)
        bad = np.nonzero((arr < -tol) | (arr > 1.0 + tol))[0]
        if bad.size:
            j = bad[np.argmax(np.maximum(arr[bad] - 1.0, -arr[bad]))]
            by = f"{k:g} standard errors (se {errs[j]:.3g})" if estimated[j] else f"the fixed tolerance {noise:g}"
            out.append(
                f"{name} faithfulness leaves [0, 1] by more than {by} at {bad.size} point(s) "
                f"(worst {arr[j]:.3f}): some units push the metric past the full model or below the fully ablated one"
            )
    if emit:
        for msg in out:
            warnings.warn(msg, FaithfulnessWarning, stacklevel=3)
    return tuple(out)


def _check_ranking(order: Sequence[int], n: int, name: str) -> tuple[int, ...]:
    arr = np.asarray(order, dtype=np.int64)
    if arr.ndim != 1 or arr.shape[0] != n or not np.array_equal(np.sort(arr), np.arange(n)):
        raise ValueError(f"ranking {name!r} must be a permutation of the {n} unit indices")
    return tuple(int(i) for i in arr)


def faithfulness_curves(
    f: Callable[[np.ndarray], Any],
    rankings: Mapping[str, Sequence[int]],
    *,
    n: Optional[int] = None,
    sizes: Optional[Sequence[int]] = None,
    fractions: Optional[Sequence[float]] = None,
    noise: float = DEFAULT_NOISE,
    min_effect: float = DEFAULT_MIN_EFFECT,
    warn: bool = True,
    noise_estimate: str = "auto",
    k: float = DEFAULT_K,
    repeats: int = 0,
) -> dict[str, FaithfulnessCurve]:
    """Measure the keep and ablate curves of several rankings in one batched call of ``f``.

    Parameters
    ----------
    f : callable
        The game (masks [B, n] → values [B]); ``x_i = 1`` keeps unit i.
    rankings : mapping
        Method name → unit indices from most to least important (full permutations;
        :func:`~spex_mech.circuits.rankings.ranking` turns scores into one).
    n : int, optional
        Number of units, when ``f`` does not say (``f.n``).
    sizes, fractions : sequence, optional
        Circuit sizes and their x positions (default :func:`size_grid`).
    noise : float
        The fixed tolerance of :func:`faithfulness_warnings`, used where no standard error is estimated.
    min_effect : float
        Smallest total effect (:func:`faithfulness_warnings`).
    warn : bool
        Emit the messages as :class:`FaithfulnessWarning`.
    noise_estimate : {"auto", "fixed"}
        ``"auto"`` estimates standard errors (:func:`~spex_mech.circuits.noise.estimate_noise`) for the
        two end points and the points whose faithfulness leaves [0, 1] — only those can warn;
        ``"fixed"`` skips it.
    k : float
        Standard errors a value may stray outside [0, 1] before it warns.
    repeats : int
        Repeated calls as samples, for stochastic games without per-prompt values.

    Returns
    -------
    dict of str to FaithfulnessCurve
        One curve per ranking, in the given order.

    Raises
    ------
    ValueError
        For no ranking, a ranking that is not a permutation, or sizes outside [0, n].
    """
    vf = ValueFunction(f, n)
    n = vf.n
    if sizes is None:
        grid_sizes, grid_x = size_grid(n)
    else:
        grid_sizes = np.asarray(sizes, dtype=np.int64)
        grid_x = np.asarray(fractions if fractions is not None else grid_sizes / n, dtype=np.float64)
        if grid_x.shape != grid_sizes.shape:
            raise ValueError("sizes and fractions must have equal length")
        if grid_sizes.size and (grid_sizes.min() < 0 or grid_sizes.max() > n):
            raise ValueError(f"circuit sizes must lie in [0, {n}]")
    if not rankings:
        raise ValueError("no ranking given")
    orders = {name: _check_ranking(order, n, name) for name, order in rankings.items()}
    n_sizes = grid_sizes.shape[0]
    masks = np.zeros((2 + 2 * n_sizes * len(orders), n), dtype=bool)
    masks[0] = True
    row = 2
    for order in orders.values():
        pos = np.empty(n, dtype=np.int64)
        pos[np.asarray(order)] = np.arange(n)
        inside = pos[None, :] < grid_sizes[:, None]  # [n_sizes, n]: unit in the top-size circuit
        masks[row : row + n_sizes] = inside
        masks[row + n_sizes : row + 2 * n_sizes] = ~inside
        row += 2 * n_sizes
    values = vf(masks)
    clean, empty = float(values[0]), float(values[1])
    effect = clean - empty
    keeps = {}
    row = 2
    per_curve = 2 * n_sizes
    for name in orders:
        block = values[row : row + per_curve]
        keeps[name] = (block - empty) / effect if effect != 0 else np.full(per_curve, np.nan)
        row += per_curve
    # only keep-faithfulness outside [0, 1] can warn: those masks (and the end points) get standard errors
    outside = {name: np.nonzero((v[:n_sizes] < 0) | (v[:n_sizes] > 1))[0] for name, v in keeps.items()}
    starts = dict(zip(orders, range(2, 2 + per_curve * len(orders), per_curve)))
    rows = np.concatenate([starts[name] + idx for name, idx in outside.items()]).astype(np.int64)
    est = estimate_noise(f, masks[rows], repeats=repeats, mode=noise_estimate)
    se_at = dict(zip(rows.tolist(), est.se))
    out: dict[str, FaithfulnessCurve] = {}
    for name, order in orders.items():
        keep, ablate = keeps[name][:n_sizes], keeps[name][n_sizes:]
        se = np.array([se_at.get(starts[name] + j, np.nan) for j in range(n_sizes)])
        msgs = faithfulness_warnings(
            clean, empty, {f"{name} keep": keep}, noise=noise, min_effect=min_effect, emit=warn,
            se={f"{name} keep": se}, effect_se=est.effect_se, k=k,
        )
        out[name] = FaithfulnessCurve(
            method=name,
            ranking=order,
            sizes=tuple(int(s) for s in grid_sizes),
            fractions=tuple(float(x) for x in grid_x),
            keep=tuple(float(v) for v in keep),
            ablate=tuple(float(v) for v in ablate),
            clean=clean,
            empty=empty,
            n_evaluations=2 + per_curve,
            warnings=msgs,
            noise_method=est.method,
            noise_evaluations=est.n_evaluations,
        )
    return out


def faithfulness_curve(
    f: Callable[[np.ndarray], Any], order: Sequence[int], method: str = "ranking", **kw: Any
) -> FaithfulnessCurve:
    """Measure the curves of one ranking (:func:`faithfulness_curves`).

    Parameters
    ----------
    f : callable
        The game.
    order : sequence of int
        Unit indices from most to least important.
    method : str
        The curve's name.
    **kw
        Keyword arguments of :func:`faithfulness_curves`.

    Returns
    -------
    FaithfulnessCurve
        The measured curve.
    """
    return faithfulness_curves(f, {method: order}, **kw)[method]
