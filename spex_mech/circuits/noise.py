"""How far measured faithfulness can move from noise, for the warnings of curves and minimal circuits.

A faithfulness value F = (m(C) − m(∅)) / (m(N) − m(∅)) is a ratio of prompt averages. Its standard
error comes from samples of the three averages taken together (the same prompts or the same repeat),
by the delta method: with D = m̄(N) − m̄(∅) and, for sample s,

    ψ_s = [(m_s(C) − m̄(C)) − (m_s(∅) − m̄(∅)) − F · ((m_s(N) − m̄(N)) − (m_s(∅) − m̄(∅)))] / D,

se(F)² = var(ψ) / S (sample variance, S samples), and se(m(N) − m(∅))² = var(m_s(N) − m_s(∅)) / S.

Samples come from, in this order (:func:`sample_values`):

1. ``per_prompt_values(masks)`` → ``[B, P]`` of ``f``, or of the game a wrapper holds as ``.game`` / ``.f``
   (an :class:`~spex_mech.AblationGame` has it: the metric of every prompt, whose mean is the game's value;
   any value function may offer it);
2. ``repeats ≥ 2``: ``f`` called that many times on the same masks — for stochastic games (random
   ablation references), each call one sample;
3. otherwise none: a plain deterministic callable gives no noise estimate, and the warnings use the
   fixed tolerance ``noise`` (:data:`~spex_mech.circuits.curves.DEFAULT_NOISE`, 0.05 of the effect)
   instead — stated in :attr:`FaithfulnessNoise.method`.

A faithfulness value warns when it leaves [0, 1] by more than ``k`` standard errors (default 3); the
total effect warns when |m(N) − m(∅)| ≤ k · se(m(N) − m(∅)) (the ratio's denominator is noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["DEFAULT_K", "FaithfulnessNoise", "delta_method_se", "estimate_noise", "sample_values"]

DEFAULT_K = 3.0


@dataclass(frozen=True)
class FaithfulnessNoise:
    """Standard errors of measured faithfulness values, and how they were obtained.

    ``se[j]`` belongs to the j-th circuit mask given to :func:`estimate_noise`; NaN everywhere (and
    ``method`` naming the fixed tolerance) when no samples were available.
    """

    method: str
    n_samples: int
    effect_se: float
    se: tuple[float, ...]
    n_evaluations: int

    @property
    def estimated(self) -> bool:
        """Return whether standard errors were estimated.

        Returns
        -------
        bool
            False: the fixed tolerance applies.
        """
        return bool(np.isfinite(self.effect_se))


def _per_prompt_source(f: Any) -> Optional[Callable[[np.ndarray], Any]]:
    """Return the ``per_prompt_values`` of ``f`` or of the game it wraps (``.game`` / ``.f``), or None.

    Parameters
    ----------
    f : Any
        The game or a wrapper (e.g. a store in front of an :class:`~spex_mech.AblationGame`).

    Returns
    -------
    callable or None
        ``per_prompt_values(masks) -> [B, S]`` found.
    """
    inner = f
    for _ in range(4):
        if inner is None:
            return None
        offered = getattr(inner, "per_prompt_values", None)
        if callable(offered):
            return offered
        inner = getattr(inner, "game", None) or getattr(inner, "f", None)
    return None


def sample_values(
    f: Callable[[np.ndarray], Any], masks: np.ndarray, repeats: int = 0
) -> Optional[tuple[np.ndarray, str]]:
    """Return samples ``[B, S]`` of the game's value for each mask, and where they came from.

    Parameters
    ----------
    f : callable
        The game (masks [B, n] → values [B]).
    masks : numpy.ndarray
        Bool ``[B, n]``.
    repeats : int
        For games with no per-prompt values: call ``f`` this many times (≥ 2) and use each call as
        a sample (stochastic games). 0: no repeats.

    Returns
    -------
    tuple of (numpy.ndarray, str) or None
        The samples and a description of them; None when ``f`` offers none (see the module docstring).

    Raises
    ------
    ValueError
        For samples that are not ``[B, S]`` or not finite (naming the row and sample).
    """
    masks = np.asarray(masks, dtype=bool)
    offered = _per_prompt_source(f)
    if offered is not None:
        got = np.asarray(offered(masks), dtype=np.float64), "per-prompt values"
    elif repeats >= 2:
        got = np.stack([np.asarray(f(masks), dtype=np.float64) for _ in range(repeats)], axis=1), "repeated evaluations"
    else:
        return None
    values, source = got
    if values.ndim != 2 or values.shape[0] != masks.shape[0]:
        raise ValueError(f"{source} must be [{masks.shape[0]} masks, samples], got shape {values.shape}")
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"{source}: mask row {bad[0][0]}, sample {bad[0][1]} is not finite ({values[tuple(bad[0])]})")
    return values, source


def delta_method_se(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Return faithfulness, its standard errors and the effect's standard error from paired samples.

    Parameters
    ----------
    samples : numpy.ndarray
        ``[2 + m, S]``: row 0 the full model m(N), row 1 everything ablated m(∅), rows 2… the circuits;
        column s is one sample (a prompt or a repeat) of every row.

    Returns
    -------
    faithfulness : numpy.ndarray
        ``[m]`` from the sample means.
    se : numpy.ndarray
        ``[m]`` delta-method standard errors (NaN when the effect is 0).
    effect_se : float
        Standard error of m(N) − m(∅).

    Raises
    ------
    ValueError
        For fewer than two samples or fewer than two rows.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"samples must be [2 + m, S] with S ≥ 2, got shape {x.shape}")
    s = x.shape[1]
    centred = x - x.mean(axis=1, keepdims=True)
    mean = x.mean(axis=1)
    effect = mean[0] - mean[1]
    effect_se = float(np.std(x[0] - x[1], ddof=1) / np.sqrt(s))
    if effect == 0:
        nan = np.full(x.shape[0] - 2, np.nan)
        return nan, nan, effect_se
    faith = (mean[2:] - mean[1]) / effect
    psi = (centred[2:] - centred[1] - faith[:, None] * (centred[0] - centred[1])) / effect
    se = np.std(psi, axis=1, ddof=1) / np.sqrt(s)
    return faith, se, effect_se


def estimate_noise(
    f: Callable[[np.ndarray], Any], circuits: np.ndarray, *, repeats: int = 0, mode: str = "auto"
) -> FaithfulnessNoise:
    """Return the standard errors of the faithfulness of ``circuits`` (keep-masks, ``[m, n]`` bool).

    Parameters
    ----------
    f : callable
        The game.
    circuits : numpy.ndarray
        Masks whose faithfulness needs a standard error (x_i = 1 keeps unit i).
    repeats : int
        Repeated calls for games without per-prompt values (:func:`sample_values`).
    mode : {"auto", "fixed"}
        ``"fixed"`` skips the estimate (no model call): the warnings use the fixed tolerance.

    Returns
    -------
    FaithfulnessNoise
        Standard errors (NaN with ``method`` naming the fixed tolerance when none could be estimated);
        ``n_evaluations`` counts the masks sent to ``f`` (each repeat counted).

    Raises
    ------
    ValueError
        For an unknown mode or masks that are not ``[m, n]``.
    """
    if mode not in ("auto", "fixed"):
        raise ValueError(f"noise estimate mode must be 'auto' or 'fixed', got {mode!r}")
    circuits = np.asarray(circuits, dtype=bool)
    if circuits.ndim != 2:
        raise ValueError(f"circuit masks must be [m, n], got shape {circuits.shape}")
    fixed = FaithfulnessNoise("fixed tolerance (no per-prompt values or repeats)", 0, float("nan"),
                              (float("nan"),) * circuits.shape[0], 0)
    if mode == "fixed":
        return fixed
    n = circuits.shape[1]
    masks = np.concatenate([np.ones((1, n), bool), np.zeros((1, n), bool), circuits])
    got = sample_values(f, masks, repeats)
    if got is None:
        return fixed
    samples, source = got
    calls = repeats if source == "repeated evaluations" else 1
    if samples.shape[1] < 2:
        return FaithfulnessNoise(f"fixed tolerance (only one sample of {source})", 1, float("nan"),
                                 fixed.se, masks.shape[0] * calls)
    _, se, effect_se = delta_method_se(samples)
    return FaithfulnessNoise(f"delta method over {samples.shape[1]} {source}", int(samples.shape[1]), effect_se,
                             tuple(float(v) for v in se), masks.shape[0] * calls)
