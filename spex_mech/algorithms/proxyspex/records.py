"""Typed records ProxySPEX's stages hand each other and attach to the result.

:class:`Settings` holds the validated options of the support search and its post-steps; the other
records derive from :class:`~spex_mech.results.params.ParamsBase`, so they read like the dicts they
replace (``params["validation_r2"]``) and become plain JSON via ``to_dict``.

Length: the typed records the stages hand each other and the result's params, each a frozen dataclass
with its fields documented under ``Attributes``; one schema, kept in one place so the stages cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from ...results.params import ParamsBase
from .design import SMALL_BUDGET
from .options import VAL_FRACTION, PostConfig, SelectionConfig

if TYPE_CHECKING:  # the stage modules import these records
    from .design import Split
    from .refit import Surrogate
    from .screen import Screen
    from .selection import Selection

__all__ = ["ConfirmationRow", "CurvePoint", "ProxySpexParams", "SearchRecord", "Settings", "stage_seconds"]

_SINGLETON_MODES = ("auto", "all", "proxy", "ranked")


@dataclass(frozen=True)
class Settings:
    """Validated options of the support search, the refit and the growth.

    Attributes
    ----------
    max_order : int or None
        Largest kept order.
    bases : tuple of str
        Read-outs searched: ``("fourier", "mobius")`` for ``basis="auto"``, else one.
    singletons : str
        Singleton mode (see :func:`.readout.rank_spectrum`).
    refine : bool
        Refit the kept support by ridge regression.
    fixed_k : int or None
        A fixed number of ranked terms (None: chosen by held-out R²).
    grow : bool
        Grow AND terms onto the support (applies only with ``refine`` and ``fixed_k=None``).
    cross_validation : "auto" or bool
        How the support is chosen (see ``proxyspex``).
    validation_fraction : float
        Held-out share of a plain split.
    n_jobs : int
        Threads (BLAS during the search, trees during fits).
    max_ranked : int or None
        Most ranked columns (beyond the always-kept base terms) a support search scores (None: only
        the general caps of :func:`.support.column_cap`; the large-n regime sets :data:`.screen.LARGE_N_RANKED`).
    """

    max_order: Optional[int] = None
    bases: tuple = ("fourier", "mobius")
    singletons: str = "auto"
    refine: bool = True
    fixed_k: Optional[int] = None
    grow: bool = True
    cross_validation: Union[str, bool] = "auto"
    validation_fraction: float = VAL_FRACTION
    n_jobs: int = 1
    max_ranked: Optional[int] = None

    def may_cross_validate(self, m: int) -> bool:
        """Tell whether ``m`` masks may be cross-validated.

        Parameters
        ----------
        m : int
            Masks in the design.

        Returns
        -------
        bool
            ``cross_validation=True``, or ``"auto"`` with at most ``SMALL_BUDGET`` masks.
        """
        return self.cross_validation is True or (self.cross_validation == "auto" and m <= SMALL_BUDGET)

    @property
    def grows(self) -> bool:
        """Tell whether the growth step runs.

        Returns
        -------
        bool
            ``grow`` with ``refine`` and an automatic support size.
        """
        return bool(self.grow and self.refine and self.fixed_k is None)

    @classmethod
    def from_configs(
        cls, *, max_order: Optional[int], basis: str, selection: SelectionConfig, post: PostConfig, n_jobs: int
    ) -> "Settings":
        """Validate ``proxyspex``'s grouped options.

        Parameters
        ----------
        max_order : int or None
            Largest kept order.
        basis : str
            ``"auto"``, ``"fourier"`` or ``"mobius"``.
        selection : SelectionConfig
            How the support is chosen.
        post : PostConfig
            The refit choice (its confirmation fields are used by ``proxyspex`` itself).
        n_jobs : int
            Threads.

        Returns
        -------
        Settings

        Raises
        ------
        ValueError
            Naming the first invalid option and its value.
        """
        refine, grow = post.refine_and_grow()
        singletons, n_coefficients = selection.singletons, selection.n_coefficients
        cross_validation, validation_fraction = selection.cross_validation, selection.validation_fraction
        if max_order is not None and (isinstance(max_order, bool) or int(max_order) < 1):
            raise ValueError(f"max_order must be a positive integer, got {max_order!r}")
        if n_coefficients != "auto" and (
            isinstance(n_coefficients, bool) or not isinstance(n_coefficients, (int, np.integer)) or n_coefficients < 0
        ):
            raise ValueError(f"n_coefficients must be 'auto' or a non-negative integer, got {n_coefficients!r}")
        if basis not in ("auto", "fourier", "mobius"):
            raise ValueError(f"basis must be 'auto', 'fourier' or 'mobius', got {basis!r}")
        if singletons not in _SINGLETON_MODES:
            raise ValueError(f"singletons must be 'auto', 'all', 'proxy' or 'ranked', got {singletons!r}")
        if cross_validation not in ("auto", True, False):
            raise ValueError(f"cross_validation must be 'auto', True or False, got {cross_validation!r}")
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
        return cls(
            max_order=max_order,
            bases=("fourier", "mobius") if basis == "auto" else (basis,),
            singletons=singletons,
            refine=refine,
            fixed_k=None if n_coefficients == "auto" else int(n_coefficients),
            grow=grow,
            cross_validation=cross_validation,
            validation_fraction=validation_fraction,
            n_jobs=n_jobs,
        )


@dataclass(frozen=True)
class CurvePoint(ParamsBase):
    """One point of the support curve: held-out R² with ``n_interactions`` ranked terms kept."""

    n_interactions: int
    validation_r2: float


@dataclass(frozen=True)
class SearchRecord(ParamsBase):
    """One (proxy depth, read-out basis) the search scored.

    Attributes
    ----------
    depth : int or None
        Tree depth (None: a passed-in estimator).
    basis : str
        Read-out basis.
    n_trees : int
        Trees in the proxy.
    proxy_validation_r2 : float
        The proxy's own R² on the validation split.
    validation_r2 : float
        The read-out surrogate's held-out R².
    """

    depth: Optional[int]
    basis: str
    n_trees: int
    proxy_validation_r2: float
    validation_r2: float


@dataclass(frozen=True)
class ConfirmationRow(ParamsBase):
    """One interaction checked against ``f`` by :func:`.confirm.confirm_interactions`.

    Attributes
    ----------
    units, labels : list
        The interaction.
    mobius : float
        Its Möbius coefficient in the surrogate.
    measured, predicted : list of float
        The discrete derivative Δ_S f(b) on each base mask, measured on ``f`` and on the surrogate.
    relative_error : float
        ‖measured − predicted‖ / ‖predicted‖.
    confirmed : bool
        Relative error ≤ tolerance and the mean signs agree.
    evaluations : int
        Evaluations of ``f`` spent.
    """

    units: list
    labels: list
    mobius: float
    measured: list
    predicted: list
    relative_error: float
    confirmed: bool
    evaluations: int


@dataclass(frozen=True)
class ProxySpexParams(ParamsBase):
    """How a ProxySPEX result was produced (``result.params``).

    Attributes
    ----------
    budget : int
        Requested evaluations.
    n_samples, n_train, n_validation : int
        Masks evaluated (the budget, capped at 2^n), training and validation split sizes.
    seed : int
        Seed.
    max_order : int or None
        Order cap.
    proxy : str
        Backend (or the class name of a passed-in estimator).
    depth : int or None
        Depth of the chosen proxy.
    basis : str
        Basis of the chosen read-out (``"mobius"`` too when the growth from ∅ won).
    n_trees : int
        Trees of the chosen proxy.
    learning_rate : float or None
        Its boosting step.
    proxy_search : list of SearchRecord
        Every (depth, basis) scored.
    proxy_validation_r2 : float
        The chosen proxy's own R² on the validation split.
    proxy_coefficients : int
        Fourier coefficients in the chosen proxy's spectrum.
    refine : bool
        Whether the support was refitted by ridge regression.
    singletons : str
        Singleton mode used.
    n_interactions : int
        Ranked terms the read-out kept (before growth).
    ridge_alpha : float
        Ridge penalty per sample of the returned support.
    validation_r2 : float
        Held-out R² of the returned surrogate.
    support_curve : list of CurvePoint
        The read-out's held-out R² against its support size.
    cv_folds : int
        1: one split; else the folds the support was chosen on.
    split_validation_r2 : float or None
        The one-split choice's R² (None when not computed).
    support_search : str
        ``"proxy"`` (the proxy's read-out, then grown) or ``"growth"`` (grown from ∅).
    proxy_path_validation_r2, growth_validation_r2 : float or None
        With fewer than 2n masks, both paths' honest held-out R² (None: not compared).
    grown_terms : list of list of int
        AND terms the growth added, in order.
    evaluate_seconds, fit_seconds, extract_seconds, select_seconds, refit_seconds : float
        Timings of the stages.
    confirmation : list of ConfirmationRow or None
        With ``confirm``, the confirmation table.
    confirmed : int or None
        With ``confirm``, how many rows were confirmed.
    screened_units : int or None
        In the large-n regime (:mod:`.screen`), the units kept by the screen (None: not screened).
    screen_passes : list of int or None
        Units passed by the marginal, the residual and the pair-residual screening.
    """

    budget: int
    n_samples: int
    n_train: int
    n_validation: int
    seed: int
    max_order: Optional[int]
    proxy: str
    depth: Optional[int]
    basis: str
    n_trees: int
    learning_rate: Optional[float]
    proxy_search: list
    proxy_validation_r2: float
    proxy_coefficients: int
    refine: bool
    singletons: str
    n_interactions: int
    ridge_alpha: float
    validation_r2: float
    support_curve: list
    cv_folds: int
    split_validation_r2: Optional[float]
    support_search: str
    proxy_path_validation_r2: Optional[float]
    growth_validation_r2: Optional[float]
    grown_terms: list
    evaluate_seconds: float
    fit_seconds: float
    extract_seconds: float
    select_seconds: float
    refit_seconds: float
    confirmation: Optional[list] = None
    confirmed: Optional[int] = None
    screened_units: Optional[int] = None
    screen_passes: Optional[list] = None

    @classmethod
    def from_stages(
        cls,
        budget: int,
        seed: int,
        settings: Settings,
        split: Split,
        selection: Selection,
        surrogate: Surrogate,
        seconds: dict,
    ) -> "ProxySpexParams":
        """Assemble the record from what the stages returned.

        Parameters
        ----------
        budget, seed : int
            The call's budget and seed.
        settings : Settings
            The validated options.
        split : Split
            The early-stopping split.
        selection : Selection
            The support search's outcome.
        surrogate : Surrogate
            The refitted (and possibly grown) surrogate.
        seconds : dict
            ``evaluate``, ``fit``, ``extract``, ``select``, ``refit`` stage times.

        Returns
        -------
        ProxySpexParams
        """
        best = selection.best
        fit = best.fit
        return cls(
            budget=int(budget),
            n_samples=int(split.perm.shape[0]),
            n_train=int(split.train.shape[0]),
            n_validation=int(split.val.shape[0]),
            seed=int(seed),
            max_order=None if settings.max_order is None else int(settings.max_order),
            proxy=fit.backend,
            depth=fit.depth,
            basis=surrogate.basis,
            n_trees=fit.n_trees,
            learning_rate=fit.learning_rate,
            proxy_search=list(selection.searched),
            proxy_validation_r2=fit.validation_r2,
            proxy_coefficients=best.proxy_coefficients,
            refine=settings.refine,
            singletons=best.singletons,
            n_interactions=int(best.support.n_interactions),
            ridge_alpha=float(surrogate.alpha),
            validation_r2=float(surrogate.validation_r2),
            support_curve=list(best.support.curve),
            cv_folds=len(selection.folds),
            split_validation_r2=selection.split_r2,
            support_search=surrogate.support_search,
            proxy_path_validation_r2=surrogate.proxy_path_r2,
            growth_validation_r2=surrogate.growth_r2,
            grown_terms=[list(t) for t in surrogate.grown_terms],
            evaluate_seconds=seconds["evaluate"],
            fit_seconds=seconds["fit"],
            extract_seconds=seconds["extract"],
            select_seconds=seconds["select"],
            refit_seconds=seconds["refit"],
        )

    def with_screen(self, screen: "Screen") -> "ProxySpexParams":
        """Return a copy with the screen's counts, the grown terms mapped back to the n units.

        Parameters
        ----------
        screen : Screen
            The units kept.

        Returns
        -------
        ProxySpexParams
        """
        grown = [[int(screen.units[i]) for i in t] for t in self.grown_terms]
        return dataclasses.replace(
            self,
            grown_terms=grown,
            screened_units=int(screen.units.shape[0]),
            screen_passes=[screen.first_pass, screen.second_pass, screen.third_pass],
        )

    def with_confirmation(self, rows: list) -> "ProxySpexParams":
        """Return a copy with the confirmation table and its count.

        Parameters
        ----------
        rows : list of ConfirmationRow
            The table.

        Returns
        -------
        ProxySpexParams
        """
        return dataclasses.replace(self, confirmation=rows, confirmed=int(sum(r["confirmed"] for r in rows)))


def stage_seconds(
    t0: float, t_fit: float, t_extract: float, t_refit: float, t_end: float, selection: Selection
) -> dict:
    """Stage times from the clock readings between stages.

    Parameters
    ----------
    t0, t_fit, t_extract, t_refit, t_end : float
        ``time.perf_counter()`` before the design, after the evaluations, after the proxy fits, after
        the support search, after the refit and growth.
    selection : Selection
        Carries the time spent reading spectra and refitting fold proxies during the search.

    Returns
    -------
    dict
        ``evaluate``, ``fit`` (including the fold refits), ``extract``, ``select`` (the search without
        those two), ``refit`` seconds.
    """
    extract, cv_fit = selection.extract_seconds, selection.cv_fit_seconds
    return {
        "evaluate": t_fit - t0,
        "fit": t_extract - t_fit + cv_fit,
        "extract": extract,
        "select": t_refit - t_extract - extract - cv_fit,
        "refit": t_end - t_refit,
    }
