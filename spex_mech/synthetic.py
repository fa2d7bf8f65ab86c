"""Seeded value functions with known sparse spectra: the oracles for every algorithm test and benchmark.

* ``basis="fourier"``: f(x) = Σ_k F(k)(−1)^⟨x,k⟩ over random supports (parities; *not* hierarchical:
  the subsets of a support carry nothing — the known failure mode of tree proxies).
* ``basis="mobius"``: f(x) = Σ_S a(S)·Π_{i∈S} x_i (AND terms; hierarchical: in the Fourier basis every
  subset of a planted S is present, as in real models).

Gaussian noise is set by a signal-to-noise ratio in dB against the variance of f under uniform masks.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .results import spectrum as spec
from .results.interactions import Interactions
from .valuefn import to_mask_array

__all__ = ["SparseFunction", "random_sparse_function"]


class SparseFunction:
    """A value function with a known spectrum (``truth``), optionally with i.i.d. Gaussian noise.

    Parameters
    ----------
    n : int
        Number of units.
    terms : Mapping
        ``{unit-index tuple: coefficient}`` in ``basis``.
    basis : {"fourier", "mobius"}, default "fourier"
        The basis the terms are given in.
    noise_sd : float, default 0.0
        Standard deviation of the noise added to each evaluation.
    seed : int, optional
        Seed of the noise.
    labels : sequence of str, optional
        Unit labels.

    Raises
    ------
    ValueError
        If ``basis`` is neither ``"fourier"`` nor ``"mobius"``.
    """

    def __init__(
        self,
        n: int,
        terms: Mapping[Sequence[int], float],
        *,
        basis: str = "fourier",
        noise_sd: float = 0.0,
        seed: Optional[int] = 0,
        labels: Optional[Sequence[str]] = None,
    ):
        if basis not in ("fourier", "mobius"):
            raise ValueError("basis must be 'fourier' or 'mobius'")
        self.n = int(n)
        self.basis = basis
        items = list(terms.items())
        self._keys = spec.canonical_keys([k for k, _ in items])
        self._values = np.array([v for _, v in items], dtype=np.float64)
        maker = Interactions.from_fourier if basis == "fourier" else Interactions.from_mobius
        self.truth = maker(dict(items), self.n, labels=labels, algorithm="truth")
        self.noise_sd = float(noise_sd)
        self._rng = np.random.default_rng(seed)
        self.labels = list(self.truth.labels)
        self.n_evaluations = 0

    @property
    def signal_variance(self) -> float:
        """Var f(x) under uniform masks = Σ_{k≠∅} F(k)²."""
        orders = spec.key_orders(self.truth.keys)
        return float(np.sum(self.truth.coefficients[orders > 0] ** 2))

    def clean(self, masks: Any) -> np.ndarray:
        """Return the noise-free value at each mask row.

        Parameters
        ----------
        masks : array_like
            Masks [B, n].

        Returns
        -------
        numpy.ndarray
            Values [B] (float64).
        """
        arr = to_mask_array(masks, self.n)
        if self.basis == "fourier":
            return spec.evaluate_fourier(self._keys, self._values, arr, self.n)
        return spec.evaluate_mobius(self._keys, self._values, arr, self.n)

    def __call__(self, masks: Any) -> np.ndarray:
        """Evaluate the function at each mask row, with noise when ``noise_sd`` > 0.

        Parameters
        ----------
        masks : array_like
            Masks [B, n].

        Returns
        -------
        numpy.ndarray
            Values [B] (float64).
        """
        out = self.clean(masks)
        self.n_evaluations += out.shape[0]
        if self.noise_sd > 0:
            out = out + self._rng.normal(0.0, self.noise_sd, size=out.shape)
        return out


def _random_supports(rng: np.random.Generator, n: int, count: int, orders: Sequence[int]) -> list[tuple[int, ...]]:
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > 100 * count + 1000:
            raise ValueError(f"cannot draw {count} distinct supports of orders {list(orders)} over n={n} units")
        d = int(rng.choice(orders))
        if d > n:
            continue
        s = tuple(sorted(int(i) for i in rng.choice(n, size=d, replace=False)))
        if s in seen:
            continue
        seen.add(s)
        out.append(s)
    return out


def random_sparse_function(
    n: int,
    n_terms: int,
    *,
    orders: Sequence[int] = (1, 2, 3, 4, 5),
    basis: str = "fourier",
    amplitudes: tuple[float, float] = (0.01, 1.0),
    constant: float = 0.0,
    snr_db: Optional[float] = None,
    seed: int = 0,
) -> SparseFunction:
    """Draw a random sparse function with ``n_terms`` terms of the given orders.

    Parameters
    ----------
    n : int
        Number of units.
    n_terms : int
        Number of distinct non-constant terms.
    orders : sequence of int, default (1, 2, 3, 4, 5)
        Orders drawn uniformly for each term.
    basis : {"fourier", "mobius"}, default "fourier"
        The basis the terms are drawn in.
    amplitudes : tuple of float, default (0.01, 1.0)
        Magnitudes are log-uniform over this range, with random signs.
    constant : float, default 0.0
        The constant term.
    snr_db : float, optional
        Adds Gaussian noise with variance = signal variance / 10^(snr/10).
    seed : int, default 0
        Seed of the terms (the noise uses ``seed + 1``).

    Returns
    -------
    SparseFunction
        The function; its ``truth`` is the planted spectrum.

    Raises
    ------
    ValueError
        If that many distinct supports cannot be drawn.

    Examples
    --------
    >>> f = random_sparse_function(20, 5, orders=(2,), seed=1)
    >>> len(f.truth)
    5
    """
    rng = np.random.default_rng(seed)
    supports = _random_supports(rng, n, n_terms, orders)
    lo, hi = amplitudes
    mags = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n_terms))
    signs = rng.choice([-1.0, 1.0], size=n_terms)
    terms: dict[tuple[int, ...], float] = {s: float(m * g) for s, m, g in zip(supports, mags, signs)}
    if constant:
        terms[()] = float(constant)
    f = SparseFunction(n, terms, basis=basis, seed=seed + 1)
    if snr_db is not None:
        f.noise_sd = float(np.sqrt(f.signal_variance / (10.0 ** (snr_db / 10.0))))
    return f
