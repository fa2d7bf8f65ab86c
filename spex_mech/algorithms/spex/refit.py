"""Least-squares refit of a Fourier support on every SPEX sample, solved in the bin domain.

For design row (c, p, ℓ) the mask is M_c·ℓ ⊕ d_p, so (−1)^⟨x,k⟩ = (−1)^⟨ℓ, M_cᵀk⟩·(−1)^⟨d_p,k⟩. The sample
block of (c, p) predicted by coefficients β is therefore H_b·z_(c,p), the 2^b-point Hadamard transform
of z_(c,p)[j] = Σ_{k: M_cᵀk=j} s_p(k)·β_k. Writing S for the sparse "scatter" matrix
[C·(P+1)·2^b, K] that builds every z from β, the design matrix is Φ = (I ⊗ H_b)·S, and because
H_bᵀH_b = 2^b·I,

    ‖y − Φβ‖² = 2^b·‖U − Sβ‖²,   U = (I ⊗ H_b)·y / 2^b  (the decoder's bin observations).

So least squares on all C·(P+1)·2^b samples is least squares of the bin observations on S, a sparse
system with C·(P+1) entries per column. It is solved by conjugate gradients on SᵀS (its diagonal is
the constant C·(P+1) and collisions are few, so it is well conditioned); no N × K matrix is formed.

The same identity scores every singleton {i} against a residual in one pass: ⟨r, Φe_i⟩/N with
N = C·(P+1)·2^b equals ⟨R, S e_i⟩/(C·(P+1)) for the residual's bin observations R, which under pure
noise of standard deviation σ per sample has standard deviation σ/√N; it is the mean of C independent
per-group scores (see :func:`singleton_scores`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

from .design import SpexDesign
from .wht import fwht

__all__ = ["RefitResult", "refit_support", "scatter_matrix", "predict_design", "singleton_scores", "group_projections"]

_SCORE_BLOCK = 8192  # units scored per block (bounds the gathered [P+1, block] arrays)


@dataclass
class RefitResult:
    """A least-squares fit of the samples on a fixed support.

    Attributes
    ----------
    values : numpy.ndarray
        Coefficients [K] (float64).
    noise_sd : float
        √(RSS / (distinct masks − K)) over the distinct masks.
    rss : float
        Residual sum of squares.
    iterations : int
        Conjugate-gradient iterations used.
    residual : numpy.ndarray
        Bin observations minus the fit's, flattened (c, p, j), float64 [C·(P+1)·2^b].
    """

    values: np.ndarray  # float64 [K]
    noise_sd: float  # √(RSS / (distinct masks − K)) over the distinct masks
    rss: float
    iterations: int
    residual: np.ndarray  # float64 [C·(P+1)·2^b]: bin observations minus the fit's, flattened (c, p, j)


def scatter_matrix(design: SpexDesign, units: np.ndarray) -> sp.csr_matrix:
    """Build S [C·(P+1)·2^b, K] holding s_p(k) at row (c, p, M_cᵀk) of column k.

    Parameters
    ----------
    design : SpexDesign
        The design the observations come from.
    units : numpy.ndarray
        Supports [K, s] (−1 padded).

    Returns
    -------
    scipy.sparse.csr_matrix
        The scatter matrix.
    """
    n_groups, n_delays, n_bins = design.n_groups, design.n_delays, design.n_bins
    k = units.shape[0]
    sig = design.signatures(units)  # [K, P+1]
    bins = design.bins(units)  # [C, K]
    rows = (
        (np.arange(n_groups)[:, None, None] * n_delays + np.arange(n_delays)[None, None, :]) * n_bins
        + bins[:, :, None]
    )  # [C, K, P+1]
    cols = np.broadcast_to(np.arange(k)[None, :, None], rows.shape)
    vals = np.broadcast_to(sig[None, :, :], rows.shape)
    return sp.csr_matrix(
        (vals.reshape(-1), (rows.reshape(-1), cols.reshape(-1))), shape=(n_groups * n_delays * n_bins, k)
    )


def predict_design(design: SpexDesign, units: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Evaluate Σ_k β_k (−1)^⟨x,k⟩ at every design row via scatter + fast transform.

    Parameters
    ----------
    design : SpexDesign
        The design the observations come from.
    units : numpy.ndarray
        Supports [K, s] (−1 padded).
    values : numpy.ndarray
        Coefficients β [K].

    Returns
    -------
    numpy.ndarray
        Values [C, P+1, 2^b].
    """
    z = scatter_matrix(design, units) @ np.asarray(values, dtype=np.float64)
    shape = (design.n_groups, design.n_delays, design.n_bins)
    return fwht(z.reshape(-1, design.n_bins)).reshape(shape)


def refit_support(
    design: SpexDesign,
    observations: np.ndarray,
    units: np.ndarray,
    *,
    initial: Optional[np.ndarray] = None,
    tol: float = 1e-13,
    max_iterations: int = 1000,
) -> RefitResult:
    """Fit the samples by least squares on supports ``units``, from bin observations.

    Every design row counts (a mask repeated in the design counts as often as it appears); the noise
    estimate uses each distinct mask once.

    Parameters
    ----------
    design : SpexDesign
        The design the observations come from.
    observations : numpy.ndarray
        Bin observations [C, P+1, 2^b].
    units : numpy.ndarray
        Supports [K, s] (−1 padded).
    initial : numpy.ndarray, optional
        Starting coefficients [K] for conjugate gradients.
    tol : float, default 1e-13
        Relative tolerance of conjugate gradients.
    max_iterations : int, default 1000
        Cap on conjugate-gradient iterations.

    Returns
    -------
    RefitResult
        Coefficients, noise estimate, RSS, iterations and residual.
    """
    units = np.asarray(units, dtype=np.int64)
    obs = np.asarray(observations, dtype=np.float64).reshape(-1)
    scatter = scatter_matrix(design, units)
    scatter_t = scatter.T.tocsr()
    k = units.shape[0]
    normal = LinearOperator((k, k), matvec=lambda v: scatter_t @ (scatter @ v), dtype=np.float64)
    rhs = scatter_t @ obs
    count = [0]

    def tick(_):
        count[0] += 1

    x0 = None if initial is None else np.asarray(initial, dtype=np.float64)
    try:
        beta, info = cg(normal, rhs, x0=x0, rtol=tol, atol=0.0, maxiter=max_iterations, callback=tick)
    except TypeError:  # scipy < 1.12 calls the relative tolerance `tol`
        beta, info = cg(normal, rhs, x0=x0, tol=tol, atol=0.0, maxiter=max_iterations, callback=tick)
    if info < 0:  # pragma: no cover - cg reports breakdown only for invalid input
        raise RuntimeError(f"conjugate gradients failed in the SPEX refit (info={info})")
    resid_bins = obs - scatter @ beta
    resid_rows = fwht(resid_bins.reshape(-1, design.n_bins)).reshape(-1)  # back to sample space
    distinct = resid_rows[design.unique_rows]
    rss = float(np.dot(distinct, distinct))
    dof = max(1, distinct.shape[0] - k)
    return RefitResult(
        values=beta, noise_sd=float(np.sqrt(rss / dof)), rss=rss, iterations=count[0], residual=resid_bins
    )


def singleton_scores(design: SpexDesign, residual: np.ndarray) -> np.ndarray:
    """Compute per-group one-step least-squares estimates of every singleton {i} from a residual.

    Group c's score of unit i is Σ_p (−1)^⟨d_p, e_i⟩·R[c, p, M_cᵀe_i] / (P+1); their mean over the C groups is the
    correlation of the sample-space residual with the column of {i} divided by that column's squared
    norm N = C·(P+1)·2^b. With i.i.d. noise of standard deviation σ per sample and no signal on {i}, each
    group's score has mean 0 and standard deviation σ·√C/√N, independently across groups, and their
    mean σ/√N. Units are scored in blocks, so memory stays O(C·(P+1)·2^b + C·n + (P+1)·block).

    Parameters
    ----------
    design : SpexDesign
        The design the observations come from.
    residual : numpy.ndarray
        Bin observations [C, P+1, 2^b] (any shape that reshapes to it).

    Returns
    -------
    numpy.ndarray
        Scores [C, n] (float64).
    """
    n_groups, n_delays, n_bins = design.n_groups, design.n_delays, design.n_bins
    resid = np.asarray(residual, dtype=np.float64).reshape(n_groups, n_delays, n_bins)
    codes = design.bin_codes[:, : design.n]  # [C, n]: bin of {i} in group c
    out = np.zeros((n_groups, design.n), dtype=np.float64)
    for start in range(0, design.n, _SCORE_BLOCK):
        block = slice(start, min(design.n, start + _SCORE_BLOCK))
        signs = 1.0 - 2.0 * design.delays[:, block]  # [P+1, w]: (−1)^⟨d_p, e_i⟩ (row 0 is +1)
        for c in range(n_groups):
            out[c, block] = np.einsum("pw,pw->w", resid[c][:, codes[c, block]], signs)
    return out / n_delays


def group_projections(design: SpexDesign, residual: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Compute Σ_p s_p(k)·R[c, p, M_cᵀk] / (P+1) for supports ``units`` in every group.

    At a least-squares fit that includes k, the C values sum to zero; each is how far group c alone
    would move k's coefficient (standard deviation about σ·√C/√N under noise).

    Parameters
    ----------
    design : SpexDesign
        The design the observations come from.
    residual : numpy.ndarray
        Bin observations [C, P+1, 2^b] (any shape that reshapes to it).
    units : numpy.ndarray
        Supports [K, s] (−1 padded).

    Returns
    -------
    numpy.ndarray
        Projections [C, K] (float64).
    """
    units = np.asarray(units, dtype=np.int64)
    resid = np.asarray(residual, dtype=np.float64).reshape(design.n_groups, design.n_delays, design.n_bins)
    bins = design.bins(units)  # [C, K]
    sig = design.signatures(units)  # [K, P+1]
    out = np.stack([np.einsum("pk,kp->k", resid[c][:, bins[c]], sig) for c in range(design.n_groups)])
    return out / design.n_delays
