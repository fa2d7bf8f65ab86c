"""Noise level and decision thresholds for the SPEX peeling decoder.

Every bin observation U_{c,p}[j] is a 2^−b-weighted sum of 2^b samples, so i.i.d. evaluation noise of
variance σ² reaches each one as N(0, σ²/2^b) — the *bin variance* v. A bin holding nothing has energy
‖U‖² ~ v·χ²_(P+1); a bin holding one coefficient leaves a residual ‖U − ρ·s‖² ~ v·χ²_P after the fit.
The thresholds are upper quantiles of those laws, plus an absolute floor at the level of floating-point
round-off so that a noiseless function is decoded exactly.

v is estimated from the bins themselves, which needs neither repeated queries nor a known σ: first from
a low quantile of all bin energies (most bins of a sparse function hold nothing or only noise), then —
after a round of peeling has removed the found coefficients — from the median residual bin energy.
An approximately sparse function's unresolved small coefficients count as noise, as they should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["NoiseModel", "estimate_bin_variance"]


def estimate_bin_variance(energy: np.ndarray, n_delays: int, quantile: float) -> float:
    """Estimate the bin variance v whose v·χ²_(P+1) quantile matches the same quantile of the bin energies.

    Parameters
    ----------
    energy : numpy.ndarray
        Bin energies ‖U‖² (any shape).
    n_delays : int
        Observations per bin, P + 1 (the χ² degrees of freedom).
    quantile : float
        The quantile matched.

    Returns
    -------
    float
        The estimate v (0.0 when there are no bins).
    """
    energy = np.asarray(energy, dtype=np.float64).reshape(-1)
    if energy.size == 0:
        return 0.0
    return float(np.quantile(energy, quantile) / stats.chi2.ppf(quantile, n_delays))


@dataclass
class NoiseModel:
    """Bin variance v and the tail probabilities that turn it into decision thresholds.

    Attributes
    ----------
    bin_variance : float
        Noise variance v of one bin observation.
    n_delays : int
        Observations per bin, P + 1.
    floor : float
        Absolute energy floor per bin (round-off level), added to every threshold.
    zero_alpha : float, default 1e-3
        Chance that a bin holding only noise is taken for a non-empty one.
    singleton_alpha : float, default 1e-4
        Chance that a true singleton's fit residual is taken for a multiton's.
    signal_alpha : float, default 1e-4
        Chance that pure noise projected on a decoded signature looks like a coefficient.
    """

    bin_variance: float
    n_delays: int
    floor: float
    zero_alpha: float = 1e-3
    singleton_alpha: float = 1e-4
    signal_alpha: float = 1e-4

    @property
    def zero_threshold(self) -> float:
        """‖U‖² at or below this: the bin holds nothing detectable."""
        return self.bin_variance * float(stats.chi2.isf(self.zero_alpha, self.n_delays)) + self.floor

    @property
    def residual_threshold(self) -> float:
        """‖U − ρs‖² at or below this: consistent with a single coefficient plus noise."""
        return self.bin_variance * float(stats.chi2.isf(self.singleton_alpha, self.n_delays - 1)) + self.floor

    @property
    def signal_threshold(self) -> float:
        """Smallest ρ²·(P+1) at which a fitted coefficient stands out of the noise."""
        return self.bin_variance * float(stats.chi2.isf(self.signal_alpha, 1)) + self.floor

    def per_sample_sd(self, b: int) -> float:
        """Return the implied standard deviation of one evaluation's noise, √(v·2^b).

        Parameters
        ----------
        b : int
            The design's log₂ bins per group.

        Returns
        -------
        float
            The standard deviation.
        """
        return float(np.sqrt(max(self.bin_variance, 0.0) * (1 << b)))
