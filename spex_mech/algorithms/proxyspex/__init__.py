"""ProxySPEX: interactions read exactly off a gradient-boosted tree proxy fitted on random masks.

Procedure (Butler et al., NeurIPS 2025, with the changes marked *), one public module per stage:

1. :mod:`.design` — ``budget`` uniformly random masks, designed up front (distinct masks when
   n ≤ 24), evaluated in large batches; the early-stopping split (and cross-validation folds).
   *Above ``LARGE_N`` (4,096) units, :mod:`.screen` keeps only the units whose marginal effect (on
   the value, then on the residual of the kept singletons) shows in the training masks, and every
   later stage runs on those units alone (``screen``; results map back to the n units), the
   support search scoring at most ``LARGE_N_RANKED`` ranked columns.
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

import dataclasses
import time
import warnings
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from ...results.interactions import Interactions
from ...valuefn import ValueFunction
from .confirm import confirm_interactions
from .design import Design, Split, design_masks, evaluate, split_design
from .proxy import ProxyConfig, ProxyFit
from .readout import ProxySpectrum, Ranking, greedy_order, rank_spectrum, read_spectrum
from .options import PostConfig, SelectionConfig, legacy_parameters, resolve_options
from .records import ProxySpexParams, Settings, stage_seconds
from .refit import Surrogate, grow_support, refit_support
from .screen import LARGE_N, LARGE_N_RANKED, Screen, large_n_proxy, resolve_screen, screen_units
from .selection import Readout, Selection, choose_support, search_readouts
from .support import SupportChoice, greedy_support, select_support

__all__ = [
    "LOW_R2_WARNING",
    "Design",
    "ProxyConfig",
    "ProxyFit",
    "ProxySpectrum",
    "ProxySpexParams",
    "PostConfig",
    "Ranking",
    "LARGE_N",
    "Readout",
    "Screen",
    "Selection",
    "SelectionConfig",
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
    selection: Union[SelectionConfig, Mapping[str, Any], None] = None,
    post: Union[PostConfig, Mapping[str, Any], None] = None,
    screen: Union[str, bool] = "auto",
    batch_size: Optional[int] = None,
    n_jobs: int = 1,
    **legacy: Any,
) -> Interactions:
    """Sparse Fourier interactions of ``f`` from a tree proxy fitted on ``budget`` random masks.

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units; defaults to ``f.n``.
    budget : int
        Number of value-function evaluations for the random design (capped at 2^n).
    max_order : int, optional
        Largest interaction order: caps the tree depth (a depth-d tree has no Fourier term above d)
        and the kept orders. Default: depth 5.
    seed : int
        Seeds the design, the validation split, the proxy and the confirmation bases.
    proxy : str, estimator or ProxyConfig
        ``"auto"`` (HistGradientBoosting; LightGBM, when installed, in the screened large-n regime),
        ``"sklearn"``, ``"lightgbm"``, ``"xgboost"``, a scikit-learn-style tree regressor (fitted as
        given, no search), or a :class:`ProxyConfig` holding every tree knob (backend, depths, learning
        rate, tree cap, patience, threads).
    basis : str
        Columns of the support search and refit: ``"fourier"`` (parities, ranked by the proxy's |F(S)|),
        ``"mobius"`` (AND terms, ranked by |a(S)|·sd(AND_S)), or ``"auto"`` (default): both, the one
        that validates better is kept. The result is always a Fourier spectrum.
    selection : SelectionConfig or mapping, optional
        How the support is chosen: ``n_coefficients``, ``singletons``, ``cross_validation``,
        ``validation_fraction`` (see :class:`SelectionConfig`; None: the defaults).
    post : PostConfig or mapping, optional
        After the support: ``refit`` (``"auto"``, ``"grow"``, ``"ridge"``, ``"none"``) and the optional
        confirmation of the top ``confirm`` interactions on ``confirm_bases`` base masks (see
        :class:`PostConfig` and :func:`confirm_interactions`; None: the defaults).
    screen : "auto" or bool
        The large-n regime (:mod:`.screen`): keep only the units whose marginal effect shows in the
        training masks and run every later stage on those. ``"auto"`` screens above ``LARGE_N`` units.
    batch_size : int, optional
        Most masks per call to ``f`` (default: about 32 M mask cells per call).
    n_jobs : int
        Threads for tree fitting and the support search's BLAS (1 by default).
    **legacy
        The older flat keywords (``n_coefficients``, ``singletons``, ``cross_validation``,
        ``validation_fraction``, ``refine``, ``grow``, ``confirm``, ``confirm_bases``, ``depths``,
        ``learning_rate``, ``max_trees``, ``patience``), mapped onto the records with a
        DeprecationWarning (:func:`.options.resolve_options`).

    Returns
    -------
    Interactions
        ``algorithm="proxyspex"``; ``params`` is a :class:`ProxySpexParams` record (validation R² of
        proxy and surrogate, support size and curve, which search won, grown terms, stage timings,
        the confirmation table). A UserWarning is issued when the surrogate's validation R² is below
        ``LOW_R2_WARNING``.

    Raises
    ------
    ValueError
        Naming the invalid argument (budget, max_order, basis, singletons, ...) or contradictory options.
    TypeError, ImportError
        For a proxy that is neither a backend name nor a regressor, a backend not installed, or an
        unknown keyword.

    Examples
    --------
    >>> from spex_mech.synthetic import random_sparse_function
    >>> g = random_sparse_function(16, 4, orders=(1, 2), basis="mobius", seed=0)
    >>> r = proxyspex(g, budget=300, post=PostConfig(refit="ridge"))
    >>> r.params["refine"], r.params["grown_terms"], round(r.params["validation_r2"], 3)
    (True, [], 1.0)
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or int(budget) < MIN_BUDGET:
        raise ValueError(f"budget must be an integer ≥ {MIN_BUDGET}, got {budget!r}")
    chosen, after, knobs = resolve_options(selection, post, legacy)
    settings = Settings.from_configs(max_order=max_order, basis=basis, selection=chosen, post=after, n_jobs=n_jobs)
    vf = ValueFunction(f, n, max_batch=batch_size)
    screening = resolve_screen(screen, vf.n)
    config = ProxyConfig.from_arguments(large_n_proxy(proxy, screening), max_order=max_order, n_jobs=n_jobs, **knobs)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    # 1. design and evaluation; the early-stopping split (the first CV fold where CV may run)
    design = evaluate(vf, design_masks(vf.n, int(budget), rng), batch_size)
    t_fit = time.perf_counter()
    split = split_design(design.m, rng, settings.may_cross_validate(design.m), settings.validation_fraction)
    kept = screen_units(design.masks, design.values, split.train) if screening else None
    if kept is not None:  # every later stage sees the kept units only, with the large-n column cap
        design = Design(design.masks[:, kept.units], design.values)
        settings = dataclasses.replace(settings, max_ranked=LARGE_N_RANKED)
    # 2. one early-stopped proxy per depth, fitted on the training masks, stopped on the validation masks
    fits = config.fit(*design.rows(split.train), *design.rows(split.val), seed=seed)
    t_extract = time.perf_counter()
    # 3-4. every proxy's read-outs and their supports, chosen by one split or cross-validation
    choice = choose_support(fits, config, design, split, settings, seed)
    t_refit = time.perf_counter()
    # 5. the support refitted on all masks, then AND terms grown onto it
    surrogate = refit_support(choice.best, design, settings.refine, n_jobs)
    if settings.grows:
        top_order = int(max_order) if max_order is not None else max(config.depths)
        surrogate = grow_support(surrogate, design, choice.folds, max_order=top_order, seed=seed, n_jobs=n_jobs)
    seconds = stage_seconds(t0, t_fit, t_extract, t_refit, time.perf_counter(), choice)
    params = ProxySpexParams.from_stages(budget, seed, settings, split, choice, surrogate, seconds)
    keys = surrogate.keys
    if kept is not None:  # keys over the kept units back to the n units
        keys = kept.lift_keys(keys)
        params = params.with_screen(kept)
    result = Interactions(keys, surrogate.values, vf.n, **vf.provenance(), algorithm="proxyspex", params=params)
    # 6. confirmation
    if after.confirm:
        rows = confirm_interactions(f, result, int(after.confirm), n_bases=after.confirm_bases, seed=seed + 1, vf=vf)
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


proxyspex.legacy_parameters = legacy_parameters()  # the flat keywords, for option schemas (spex_mech.registry)
