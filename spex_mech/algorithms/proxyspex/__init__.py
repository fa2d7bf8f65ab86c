"""ProxySPEX: interactions read exactly off a gradient-boosted tree proxy fitted on random masks.

Procedure (Butler et al., NeurIPS 2025, with the changes marked *), one public module per stage:

1. :mod:`.design` — ``budget`` uniformly random masks, designed up front (distinct masks when
   n ≤ 24), evaluated in large batches; the early-stopping split (and cross-validation folds).
   *Above ``LARGE_N`` (4,096) units, :mod:`.screen` keeps only the units whose marginal effect (on
   the value, then on the residual of the kept singletons) shows in the training masks, and every
   later stage runs on those units alone (``screen``; results map back to the n units).
2. :mod:`.proxy` — a gradient-boosted tree proxy on (mask, value) pairs, configured by a
   :class:`ProxyConfig`. *Lean search: one early-stopped fit per depth (3 and 5 by default) on 80 %
   of the masks, stopped on the other 20 %, with a fixed learning rate, instead of a 5-fold grid.
3. :mod:`.readout` — the proxy's exact spectrum (:mod:`spex_mech.algorithms.trees`), ranked in the
   Fourier basis (by |F|) and the Möbius basis (by |a(S)|·sd, then greedy orthogonal least squares).
4. :mod:`.support` and :mod:`.selection` — *keep the top terms, choosing how many by held-out R²
   (not a fixed 95 % of the energy); ∅ and the singletons are always kept (unless the sample is too
   small for that many); ridge penalty chosen on held-out masks. The depth and read-out whose
   surrogate validates best are kept; with at most 500 masks, unless one split already explains
   ≥ 99 % of the held-out variance, by 5-fold cross-validation with fold proxies refitted without
   their fold.
5. :mod:`.refit` — the support refitted on all masks (:mod:`spex_mech.algorithms.ridge`), then *AND
   terms the trees missed grown onto it (:mod:`spex_mech.algorithms.hierarchy`); with fewer than 2
   masks per unit a growth from ∅ competes.
6. :mod:`.confirm` — *optional: for the top interactions, evaluate the joint mask and all its
   sub-masks on a few base masks and compare the measured discrete derivative with the surrogate's.

:mod:`.records` holds the typed records the stages hand each other and the result's
:class:`ProxySpexParams`.

Known failure mode (paper App. B.4, and ``tests/test_proxyspex.py``): trees cannot represent sparse
*non-hierarchical* spectra (high-order parities whose subsets carry nothing). The validation R² in
``result.params`` then stays low and a warning is issued; the result does not claim success.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from ...results.interactions import Interactions
from ...valuefn import ValueFunction
from .confirm import confirm_interactions
from .design import Design, Split, design_masks, evaluate, split_design
from .proxy import ProxyConfig, ProxyFit
from .readout import ProxySpectrum, Ranking, greedy_order, rank_spectrum, read_spectrum
from .records import VAL_FRACTION, ProxySpexParams, Settings, stage_seconds
from .refit import Surrogate, grow_support, refit_support
from .screen import LARGE_N, Screen, large_n_proxy, resolve_screen, screen_units
from .selection import Readout, Selection, choose_support, search_readouts
from .support import SupportChoice, greedy_support, select_support

__all__ = [
    "LOW_R2_WARNING",
    "Design",
    "ProxyConfig",
    "ProxyFit",
    "ProxySpectrum",
    "ProxySpexParams",
    "Ranking",
    "LARGE_N",
    "Readout",
    "Screen",
    "Selection",
    "Settings",
    "Split",
    "SupportChoice",
    "Surrogate",
    "choose_support",
    "confirm_interactions",
    "design_masks",
    "evaluate",
    "greedy_order",
    "greedy_support",
    "grow_support",
    "proxyspex",
    "rank_spectrum",
    "read_spectrum",
    "refit_support",
    "screen_units",
    "search_readouts",
    "select_support",
    "split_design",
]

LOW_R2_WARNING = 0.5  # warn when the surrogate explains less held-out variance than this
MIN_BUDGET = 10


def proxyspex(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    budget: int,
    max_order: Optional[int] = None,
    seed: int = 0,
    proxy: Any = "auto",
    basis: str = "auto",
    singletons: str = "auto",
    n_coefficients: Union[str, int] = "auto",
    refine: bool = True,
    grow: bool = True,
    cross_validation: Union[str, bool] = "auto",
    validation_fraction: float = VAL_FRACTION,
    confirm: int = 0,
    confirm_bases: int = 2,
    batch_size: Optional[int] = None,
    n_jobs: int = 1,
    depths: Optional[Sequence[int]] = None,
    learning_rate: Optional[float] = None,
    max_trees: Optional[int] = None,
    patience: Optional[int] = None,
    screen: Union[str, bool] = "auto",
) -> Interactions:
    """Sparse Fourier interactions of ``f`` from a tree proxy fitted on ``budget`` random masks.

    Parameters
    ----------
    f, n:
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit); n defaults to ``f.n``.
    budget:
        Number of value-function evaluations for the random design (capped at 2^n).
    max_order:
        Largest interaction order: caps the tree depth (a depth-d tree has no Fourier term above d)
        and the kept orders. Default: depth 5.
    seed:
        Seeds the design, the validation split, the proxy and the confirmation bases.
    proxy:
        ``"auto"`` (HistGradientBoosting; LightGBM, when installed, in the screened large-n regime),
        ``"sklearn"`` (HistGradientBoosting), ``"lightgbm"``, ``"xgboost"``, a
        scikit-learn-style tree regressor (fitted as given, no search), or a :class:`ProxyConfig`
        holding every tree knob (backend, depths, learning rate, tree cap, patience, threads).
    n_coefficients:
        How many ranked terms to keep: ``"auto"`` chooses by held-out R²; an int keeps that many of
        the proxy's largest. The ranked terms are the interactions (order ≥ 2), plus the singletons when
        these are ranked rather than always kept (see ``singletons``). ∅ is always kept.
    refine:
        Refit the kept coefficients by ridge regression (penalty chosen on the validation split);
        otherwise keep the proxy's own coefficients.
    confirm:
        Check the top ``confirm`` Möbius interactions (order ≥ 2) with targeted ablations on
        ``confirm_bases`` base masks (see :func:`confirm_interactions`); the table goes to
        ``result.params["confirmation"]`` and the evaluations count in ``n_evaluations``.
    batch_size:
        Most masks per call to ``f`` (default: about 32 M mask cells per call).
    validation_fraction:
        Share of the masks held out for early stopping and for choosing the support and penalty
        (where cross-validation may run, the first of 5 folds instead: see ``cross_validation``).
    singletons:
        ``"all"`` always keeps all n singletons; ``"proxy"`` those of the units the proxy splits on;
        ``"ranked"`` lets singletons compete with interactions on |F|. ``"auto"`` (default) is "all"
        with at least 4 training masks per unit, else "proxy" with at least 4 per proxy singleton, else
        "ranked": with many units and few masks the trees touch hundreds of noise units, and keeping all
        their singletons costs more held-out R² than it explains (benchmarks/results/measured_notes.md).
    grow:
        With ``refine`` and ``n_coefficients="auto"``: extend the support by AND terms one unit larger
        than found ones where the residual shows them and cross-validation agrees
        (:mod:`spex_mech.algorithms.hierarchy`); recovers high-order terms the trees saw only in part.
        With ≤ 500 masks, pairs of units are candidates too; with fewer than 2n masks, a growth from
        ∅ competes with the proxy's read-out on held-out R².
    basis:
        Columns of the support search and refit: ``"fourier"`` (parities χ_S, ranked by the proxy's
        |F(S)|), ``"mobius"`` (AND terms, ranked by |a(S)|·sd(AND_S) from the proxy's Möbius
        spectrum), or ``"auto"`` (default): both, the one that validates better is kept. Hierarchical
        spectra are sparser in the Möbius basis (one AND of order k is 2^k Fourier terms), so with
        few masks it often needs far fewer columns. The result is always a Fourier spectrum.
    n_jobs:
        Threads for tree fitting (1 by default; see :mod:`spex_mech.algorithms.proxy_models`).
    cross_validation:
        How the support, penalty, depth and basis are chosen: ``False``, on one split (the proxies
        fitted on the training masks, scored on the ``validation_fraction`` held out); ``True``, by
        5-fold cross-validation (the validation split is then the first fold, whatever
        ``validation_fraction`` says; each fold is scored by a proxy refitted without it; the final
        proxy is refitted on all masks: 6× the tree fits); ``"auto"`` (default), one split, then
        cross-validation if there are at most 500 masks and that split's surrogate explains less
        than 99 % of the held-out variance.

    screen:
        The large-n regime (:mod:`.screen`): before any tree is fitted, keep only the units whose
        marginal effect (on the value, then on the residual of the kept units' singletons) shows in
        the training masks, and run every later stage on those units alone. ``"auto"`` (default)
        screens above ``LARGE_N`` (4,096) units, so smaller problems are unchanged; ``True``/``False``
        force it. ``params["screened_units"]`` is the number kept (None: not screened).
    depths, learning_rate, max_trees, patience:
        The tree knobs as separate keywords (the older spelling; None keeps the default): tree depths
        searched (one early-stopped fit each; default ``(3, max_order or 5)``), boosting step (0.1),
        cap on trees (1000), early-stopping patience (25). They are mapped onto the
        :class:`ProxyConfig`; giving them together with a ProxyConfig, or the boosting ones with an
        estimator (which ignores them), is an error.

    Returns
    -------
    Interactions with ``algorithm="proxyspex"``; ``params`` holds the proxy and surrogate validation
    R² (``proxy_validation_r2``, ``validation_r2``), the read-out's support size and R² curve
    (``n_interactions``, ``support_curve``; with ``support_search="growth"`` the result is instead the
    AND terms in ``grown_terms``, grown from ∅, with ``basis="mobius"``), which support search won
    (``support_search``: ``"proxy"`` or ``"growth"`` from ∅; where both ran, their
    held-out R², ``proxy_path_validation_r2`` and ``growth_validation_r2``; else None), timings
    and, with ``confirm``, the confirmation table. A UserWarning is issued when the surrogate's
    validation R² is below ``LOW_R2_WARNING``. ``params`` is a :class:`ProxySpexParams` record.

    Raises
    ------
    ValueError
        Naming the invalid argument (budget, max_order, basis, singletons, ...) or contradictory tree knobs.
    TypeError, ImportError
        For a proxy that is neither a backend name nor a regressor, or a backend not installed.
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or int(budget) < MIN_BUDGET:
        raise ValueError(f"budget must be an integer ≥ {MIN_BUDGET}, got {budget!r}")
    # fmt: off
    settings = Settings.from_arguments(
        max_order=max_order, basis=basis, singletons=singletons, refine=refine, n_coefficients=n_coefficients,
        grow=grow, cross_validation=cross_validation, validation_fraction=validation_fraction, n_jobs=n_jobs)
    vf = ValueFunction(f, n, max_batch=batch_size)
    screening = resolve_screen(screen, vf.n)
    config = ProxyConfig.from_arguments(
        large_n_proxy(proxy, screening), max_order=max_order, n_jobs=n_jobs, depths=depths,
        learning_rate=learning_rate, max_trees=max_trees, patience=patience)
    # fmt: on
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    # 1. design and evaluation; the early-stopping split (the first CV fold where CV may run)
    design = evaluate(vf, design_masks(vf.n, int(budget), rng), batch_size)
    t_fit = time.perf_counter()
    split = split_design(design.m, rng, settings.may_cross_validate(design.m), settings.validation_fraction)
    kept = screen_units(design.masks, design.values, split.train) if screening else None
    if kept is not None:  # every later stage sees the kept units only
        design = Design(design.masks[:, kept.units], design.values)
    # 2. one early-stopped proxy per depth, fitted on the training masks, stopped on the validation masks
    fits = config.fit(*design.rows(split.train), *design.rows(split.val), seed=seed)
    t_extract = time.perf_counter()
    # 3-4. every proxy's read-outs and their supports, chosen by one split or cross-validation
    selection = choose_support(fits, config, design, split, settings, seed)
    t_refit = time.perf_counter()
    # 5. the support refitted on all masks, then AND terms grown onto it
    surrogate = refit_support(selection.best, design, settings.refine, n_jobs)
    if settings.grows:
        top_order = int(max_order) if max_order is not None else max(config.depths)
        surrogate = grow_support(surrogate, design, selection.folds, max_order=top_order, seed=seed, n_jobs=n_jobs)
    seconds = stage_seconds(t0, t_fit, t_extract, t_refit, time.perf_counter(), selection)
    params = ProxySpexParams.from_stages(budget, seed, settings, split, selection, surrogate, seconds)
    keys = surrogate.keys
    if kept is not None:  # keys over the kept units back to the n units
        keys = kept.lift_keys(keys)
        params = params.with_screen(kept)
    result = Interactions(keys, surrogate.values, vf.n, **vf.provenance(), algorithm="proxyspex", params=params)
    # 6. confirmation
    if confirm:
        rows = confirm_interactions(f, result, int(confirm), n_bases=confirm_bases, seed=seed + 1, vf=vf)
        result.params = params = params.with_confirmation(rows)
        result.n_evaluations = vf.n_evaluations
    if params.validation_r2 < LOW_R2_WARNING:
        warnings.warn(
            f"proxyspex: the surrogate explains only R² = {params.validation_r2:.3f} of the held-out "
            f"variance (proxy R² = {params.proxy_validation_r2:.3f}); the interactions are not a faithful summary "
            "of f. The spectrum may not be hierarchical (trees miss high-order terms whose subsets carry "
            "nothing), or the budget is too small; check result.faithfulness(f) or try spex.",
            UserWarning,
            stacklevel=2,
        )
    return result
