"""Batched retraining: many small models, one per training-data mask, fitted at once in torch.

`BatchedLogisticRegression` fits L2-regularised multinomial logistic regression for B example weightings
in one program: the parameters are a ``[B, d+1, C]`` tensor and every step is two large matrix products
shared by all B problems (the design matrix is common; only the 0/1 example weights differ). The problem
is strongly convex, so each row converges to its unique optimum whatever the batch it runs in: the value
of a mask does not depend on which other masks are trained beside it (up to float rounding).

It is the learner behind the data-lens examples; any ``train_fn`` with the
:class:`~spex_mech.units.data.TrainingSubsets` signature works just as well.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

__all__ = ["BatchedLogisticRegression"]


class BatchedLogisticRegression:
    """Multinomial logistic regression on ``X [N, d]``, ``y [N]`` for many 0/1 example weightings at once.

    Minimises, for each row b of the weights ``keep [B, N]``::

        (1 / n_b) Σ_i keep[b, i] · CE(softmax(W_b x̃_i), y_i) + (l2 / 2) ‖W_b‖²,   x̃ = [x, 1]

    by Nesterov-accelerated gradient descent with a per-row step 1/L_b, L_b = ½ λ_max(X̃ᵀ diag(keep_b) X̃ /
    n_b) + l2 (a bound on the Hessian), for a fixed number of ``steps`` (deterministic cost and result).
    Rows with no kept example return W = 0 (uniform predictions).

    Parameters
    ----------
    X : array_like
        Training inputs [N, d].
    y : array_like
        Training labels [N].
    n_classes : int, optional
        Number of classes (default ``max(y) + 1``).
    l2 : float, default 1e-2
        Ridge penalty (positive: every retraining is a unique, strongly convex fit).
    steps : int, default 300
        Gradient steps.
    dtype : torch.dtype, default torch.float64
        Arithmetic precision.
    device : str or torch.device, optional
        Where the fits run (CPU by default).
    threads : int, optional
        Caps torch's CPU threads during :meth:`fit` (restored afterwards); on a shared CPU one thread is
        often the fastest for these small matrices, and it makes the float reductions independent of the
        machine's core count.

    Raises
    ------
    ValueError
        If the shapes disagree or ``l2`` is not positive.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        n_classes: Optional[int] = None,
        *,
        l2: float = 1e-2,
        steps: int = 300,
        dtype: torch.dtype = torch.float64,
        device: Optional[str | torch.device] = None,
        threads: Optional[int] = None,
    ):
        X = torch.as_tensor(np.asarray(X), dtype=dtype)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long)
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(f"need X [N, d] and y [N]; got {tuple(X.shape)} and {tuple(y.shape)}")
        if l2 <= 0:
            raise ValueError("l2 must be positive (it makes every retraining a unique, strongly convex fit)")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.n_classes = int(n_classes if n_classes is not None else int(y.max()) + 1)
        self.X = torch.cat([X, torch.ones(X.shape[0], 1, dtype=dtype)], dim=1).to(self.device)
        self.y = y.to(self.device)
        self.Y = torch.nn.functional.one_hot(self.y, self.n_classes).to(dtype)
        self.l2 = float(l2)
        self.steps = int(steps)
        self.dtype = dtype
        self.threads = threads
        self.last_grad_norm: Optional[torch.Tensor] = None

    @property
    def n_features(self) -> int:
        """Number of input features d (without the bias column)."""
        return int(self.X.shape[1] - 1)

    def features(self, X: Any) -> torch.Tensor:
        """Build ``[x, 1]`` rows for new inputs.

        Parameters
        ----------
        X : array_like
            Inputs [m, d].

        Returns
        -------
        torch.Tensor
            Rows [m, d+1].
        """
        X = torch.as_tensor(np.asarray(X), dtype=self.dtype, device=self.device)
        if X.ndim == 1:
            X = X[None]
        return torch.cat([X, torch.ones(X.shape[0], 1, dtype=self.dtype, device=self.device)], dim=1)

    def _smoothness(self, w: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        """Per-row Hessian bound L_b [B]."""
        cov = torch.einsum("bn,nd,ne->bde", w, self.X, self.X) / count[:, None, None]
        top = torch.linalg.eigvalsh(cov)[:, -1]
        return 0.5 * top + self.l2

    def _gradient(self, V: torch.Tensor, w: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        """Gradient for parameters laid out ``[d, C, B]`` (softmax runs over the middle dim, B innermost)."""
        d, C, B = V.shape
        logits = (self.X @ V.reshape(d, C * B)).reshape(-1, C, B)  # [N, C, B]
        resid = torch.softmax(logits, dim=1).sub_(self.Y[:, :, None]).mul_((w.T / count)[:, None, :])
        grad = (self.X.T @ resid.reshape(-1, C * B)).reshape(d, C, B)
        return grad.add_(V, alpha=self.l2)

    @torch.no_grad()
    def fit(self, keep: Any, seeds: Any = None) -> torch.Tensor:
        """Fit one model per row of the 0/1 example weights ``keep``.

        Parameters
        ----------
        keep : array_like
            Example weights [B, N] (0/1).
        seeds : Any, optional
            Accepted for the :class:`~spex_mech.units.data.TrainingSubsets` batched signature and unused: the
            fit is deterministic.

        Returns
        -------
        torch.Tensor
            Parameters W [B, d+1, C].
        """
        w = torch.as_tensor(np.asarray(keep), dtype=self.dtype, device=self.device)
        if w.ndim != 2 or w.shape[1] != self.X.shape[0]:
            raise ValueError(f"keep must be [B, {self.X.shape[0]}], got {tuple(w.shape)}")
        if self.threads is None:
            return self._fit(w)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._fit(w)
        finally:
            torch.set_num_threads(before)

    def _fit(self, w: torch.Tensor) -> torch.Tensor:
        B = w.shape[0]
        count = w.sum(dim=1).clamp(min=1.0)
        L = self._smoothness(w, count)
        kappa = L / self.l2
        beta = (kappa.sqrt() - 1) / (kappa.sqrt() + 1)
        step = 1.0 / L
        W = torch.zeros(self.X.shape[1], self.n_classes, B, dtype=self.dtype, device=self.device)
        V = W.clone()
        for _ in range(self.steps):
            W_next = V - step * self._gradient(V, w, count)
            V = W_next + beta * (W_next - W)
            W = W_next
        self.last_grad_norm = self._gradient(W, w, count).flatten(0, 1).norm(dim=0)
        return W.permute(2, 0, 1).contiguous()

    __call__ = fit

    def logits(self, W: torch.Tensor, X: Any) -> torch.Tensor:
        """Compute the logits of the fitted models on inputs ``X``.

        Parameters
        ----------
        W : torch.Tensor
            Fitted parameters [B, d+1, C].
        X : array_like
            Inputs [m, d].

        Returns
        -------
        torch.Tensor
            Logits [B, m, C].
        """
        return torch.einsum("md,bdc->bmc", self.features(X), W)

    def _label_tensor(self, y: Any) -> torch.Tensor:
        """Return labels as a long tensor [m] on this model's device."""
        return torch.as_tensor(np.atleast_1d(np.asarray(y)), dtype=torch.long, device=self.device)

    def margin(self, W: torch.Tensor, X: Any, y: Any) -> torch.Tensor:
        """Compute the correct-class margin ``logit[y] − max_{c≠y} logit[c]`` (the datamodels target).

        Parameters
        ----------
        W : torch.Tensor
            Fitted parameters [B, d+1, C].
        X : array_like
            Inputs [m, d].
        y : array_like
            Labels [m].

        Returns
        -------
        torch.Tensor
            Margins [B, m].
        """
        logits = self.logits(W, X)
        y = self._label_tensor(y)
        correct = logits[:, torch.arange(logits.shape[1]), y]
        others = logits.clone()
        others[:, torch.arange(logits.shape[1]), y] = -math.inf
        return correct - others.max(dim=-1).values

    def logprob(self, W: torch.Tensor, X: Any, y: Any) -> torch.Tensor:
        """Compute log p(y | x) under each fitted model.

        Parameters
        ----------
        W : torch.Tensor
            Fitted parameters [B, d+1, C].
        X : array_like
            Inputs [m, d].
        y : array_like
            Labels [m].

        Returns
        -------
        torch.Tensor
            Log-probabilities [B, m].
        """
        logp = torch.log_softmax(self.logits(W, X), dim=-1)
        y = self._label_tensor(y)
        return logp[:, torch.arange(logp.shape[1]), y]
