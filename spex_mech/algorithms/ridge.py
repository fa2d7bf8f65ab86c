"""Ridge regression with an unpenalised intercept: the one solver ProxySPEX and the growth share.

Columns are centred (so the intercept is not penalised) and the penalty is ``alpha`` per sample:
``(XcᵀXc + α·m·I) β = Xcᵀ(y − ȳ)``, intercept ``ȳ − x̄ᵀβ``. Two factorisations of the same system:

* ``"cholesky"`` (default): the Gram matrix plus a positive penalty is positive definite;
* ``"lu"``: a general solve that falls back to the minimum-norm solution when the system is
  numerically singular (duplicate AND columns in :mod:`.hierarchy`, fitted with a tiny penalty).

:func:`ridge_path` scores every column prefix of one design at once from a single Cholesky factor.
"""

from __future__ import annotations

import numpy as np

__all__ = ["centre", "ridge_fit", "ridge_path"]


def centre(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre the columns of ``X``.

    Parameters
    ----------
    X : ndarray [m, k]
        Design.
    y : ndarray [m]
        Targets.

    Returns
    -------
    tuple
        ``(X − x̄, x̄, ȳ)``.
    """
    mean_x = X.mean(axis=0)
    return X - mean_x, mean_x, float(y.mean())


def ridge_fit(X: np.ndarray, y: np.ndarray, alpha: float, solver: str = "cholesky") -> tuple[float, np.ndarray]:
    """Ridge fit of ``y`` on the columns of ``X`` with an unpenalised intercept.

    Parameters
    ----------
    X : ndarray [m, k]
        Design (without an intercept column; ``k`` may be 0).
    y : ndarray [m]
        Targets.
    alpha : float
        Penalty per sample (the system's penalty is ``alpha · m``).
    solver : {"cholesky", "lu"}
        Factorisation (see the module docstring).

    Returns
    -------
    tuple
        ``(intercept, β)``, β of length ``k``.

    Raises
    ------
    ValueError
        For an unknown ``solver``.
    numpy.linalg.LinAlgError
        With ``"cholesky"``, when the penalised Gram matrix is not positive definite.
    """
    import scipy.linalg as sla

    if solver not in ("cholesky", "lu"):
        raise ValueError(f"solver must be 'cholesky' or 'lu', got {solver!r}")
    if X.shape[1] == 0:
        return float(y.mean()), np.zeros(0)
    Xc, mean_x, mean_y = centre(X, y)
    gram = Xc.T @ Xc + alpha * Xc.shape[0] * np.eye(Xc.shape[1])
    rhs = Xc.T @ (y - mean_y)
    if solver == "cholesky":
        beta = sla.cho_solve(sla.cho_factor(gram, lower=True), rhs)
    else:
        try:
            beta = np.linalg.solve(gram, rhs)
        except np.linalg.LinAlgError:  # numerically singular: the minimum-norm solution
            beta = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    return mean_y - float(mean_x @ beta), beta


def ridge_path(
    X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Held-out squared errors of ridge fits on every column prefix, for each penalty.

    One Cholesky factor L of ``XᵀX + α·m·I`` serves every prefix: a prefix fit's held-out prediction
    is the running sum of the columns of ``X_val L^{−T}`` weighted by ``z = L^{−1}Xᵀy``, because the
    leading blocks of a Cholesky factor factor the leading blocks of the matrix. Columns are centred
    (unpenalised intercept).

    Parameters
    ----------
    X, y : ndarray
        Training design [m, K] and targets [m].
    X_val, y_val : ndarray
        Held-out design [v, K] and targets [v].
    alphas : ndarray [A]
        Penalties per sample.

    Returns
    -------
    tuple of ndarray
        ``(Σ e², Σ e⁴)`` over the held-out rows, each [A, K + 1]; entry [a, c] uses the first c
        columns (c = 0: the training mean). A penalty whose system is not positive definite keeps
        ``Σ e² = inf`` beyond c = 0.
    """
    import scipy.linalg as sla

    Xc, mean_x, mean_y = centre(X, y)
    Vc = X_val - mean_x
    gram = Xc.T @ Xc
    rhs = Xc.T @ (y - mean_y)
    m, k = Xc.shape
    resid0 = y_val - mean_y
    s2 = np.full((alphas.shape[0], k + 1), np.inf)
    s4 = np.zeros((alphas.shape[0], k + 1))
    s2[:, 0], s4[:, 0] = np.sum(resid0**2), np.sum(resid0**4)
    diagonal = np.diag(gram).copy()
    penalised = gram.copy()
    for a, alpha in enumerate(alphas if k else []):
        np.fill_diagonal(penalised, diagonal + alpha * m)  # gram + α·m·I without a k × k identity per penalty
        try:
            L = sla.cholesky(penalised, lower=True)
        except np.linalg.LinAlgError:
            continue
        z = sla.solve_triangular(L, rhs, lower=True)
        W = sla.solve_triangular(L, Vc.T, lower=True).T  # X_val L^{-T}
        sq = (resid0[:, None] - np.cumsum(W * z[None, :], axis=1)) ** 2
        s2[a, 1:], s4[a, 1:] = sq.sum(axis=0), (sq**2).sum(axis=0)
    return s2, s4
