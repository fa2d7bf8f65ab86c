"""ProxySPEX's grouped options: how the support is chosen, and what happens after it.

``proxyspex()`` takes the parameters that always apply; the others live in typed frozen records:
the tree knobs in :class:`~.proxy.ProxyConfig` (``proxy=``), the support selection in
:class:`SelectionConfig` (``selection=``) and the post-steps in :class:`PostConfig` (``post=``).
Both records may also be given as plain mappings (a TOML table: ``options = { post = { confirm = 3 } }``).

The older flat keywords (``refine``, ``grow``, ``singletons``, ``depths``, ...) keep working through
:func:`resolve_options`: they are mapped onto the records with a ``DeprecationWarning``, and a
contradictory combination is a one-line ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

__all__ = ["LEGACY_OPTIONS", "REFITS", "PostConfig", "SelectionConfig", "legacy_parameters", "resolve_options"]

VAL_FRACTION = 0.2
REFITS = ("auto", "grow", "ridge", "none")


@dataclass(frozen=True)
class SelectionConfig:
    """How ProxySPEX chooses the support read off its proxy (``proxyspex(..., selection=...)``).

    Attributes
    ----------
    n_coefficients : "auto" or int
        Ranked terms kept: ``"auto"`` chooses by held-out R²; an int keeps that many of the proxy's
        largest. The ranked terms are the interactions (order ≥ 2), plus the singletons when these are
        ranked rather than always kept. ∅ is always kept.
    singletons : str
        ``"all"`` always keeps all n singletons; ``"proxy"`` those of the units the proxy splits on;
        ``"ranked"`` lets singletons compete with interactions on |F|; ``"auto"`` is "all" with at
        least 4 training masks per unit, else "proxy" with at least 4 per proxy singleton, else "ranked".
    cross_validation : "auto" or bool
        ``False``: one split; ``True``: 5-fold cross-validation (each fold scored by a proxy refitted
        without it; 6× the tree fits); ``"auto"``: one split, then cross-validation with at most 500
        masks when that split's surrogate explains less than 99 % of the held-out variance.
    validation_fraction : float
        Share of the masks held out for early stopping and for choosing the support and penalty.

    Examples
    --------
    >>> SelectionConfig(singletons="all").cross_validation
    'auto'
    """

    n_coefficients: Union[str, int] = "auto"
    singletons: str = "auto"
    cross_validation: Union[str, bool] = "auto"
    validation_fraction: float = VAL_FRACTION


@dataclass(frozen=True)
class PostConfig:
    """What ProxySPEX does after choosing the support (``proxyspex(..., post=...)``).

    Attributes
    ----------
    refit : str
        ``"ridge"``: the kept coefficients refitted by ridge regression on all masks (penalty chosen on
        held-out masks); ``"grow"``: that refit, then AND terms one unit larger than found ones grown
        onto the support where the residual shows them and cross-validation agrees (needs
        ``n_coefficients="auto"``); ``"none"``: the proxy's own coefficients; ``"auto"`` (default):
        ``"grow"`` with ``n_coefficients="auto"``, else ``"ridge"``.
    confirm : int
        Check the top ``confirm`` Möbius interactions (order ≥ 2) with targeted ablations of ``f``;
        0 (default) checks none.
    confirm_bases : int
        Base masks per confirmed interaction.

    Examples
    --------
    >>> PostConfig(confirm=3).refit
    'auto'
    """

    refit: str = "auto"
    confirm: int = 0
    confirm_bases: int = 2

    def refine_and_grow(self) -> tuple[bool, bool]:
        """Return whether the support is refitted, and whether growth may run.

        Returns
        -------
        tuple of bool
            ``(refine, grow)``; growth runs only where ``n_coefficients="auto"`` too.

        Raises
        ------
        ValueError
            For an unknown ``refit``.
        """
        if self.refit not in REFITS:
            raise ValueError(f"post: refit must be one of {', '.join(map(repr, REFITS))}, got {self.refit!r}")
        return self.refit != "none", self.refit in ("auto", "grow")


# the flat keywords of earlier versions: name -> (record it maps onto, field, annotation)
LEGACY_OPTIONS: dict[str, tuple[str, str, Any]] = {
    "n_coefficients": ("selection", "n_coefficients", Union[str, int]),
    "singletons": ("selection", "singletons", str),
    "cross_validation": ("selection", "cross_validation", Union[str, bool]),
    "validation_fraction": ("selection", "validation_fraction", float),
    "refine": ("post", "refit", bool),
    "grow": ("post", "refit", bool),
    "confirm": ("post", "confirm", int),
    "confirm_bases": ("post", "confirm_bases", int),
    "depths": ("proxy", "depths", Optional[Sequence[int]]),
    "learning_rate": ("proxy", "learning_rate", Optional[float]),
    "max_trees": ("proxy", "max_trees", Optional[int]),
    "patience": ("proxy", "patience", Optional[int]),
}


def legacy_parameters() -> dict[str, inspect.Parameter]:
    """Return the flat keywords as ``inspect.Parameter`` objects (for option schemas and config checks).

    Returns
    -------
    dict
        Name → keyword-only parameter with its annotation and a None default.
    """
    return {
        name: inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, (_, _, annotation) in LEGACY_OPTIONS.items()
    }


def _as_record(value: Any, cls: type, name: str) -> Any:
    """Return ``value`` as a ``cls`` record: None → defaults, a mapping → its fields; else a clear error."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ValueError(f"{name} has no option {unknown[0]!r} (options: {', '.join(sorted(fields))})")
        return cls(**dict(value))
    raise TypeError(f"{name} must be a {cls.__name__}, a mapping of its fields or None, got {value!r}")


def _refit_from_flags(refine: Any, grow: Any) -> str:
    """Return the ``refit`` choice the older ``refine``/``grow`` flags meant (None: not given)."""
    if refine is not None and not refine:
        if grow:
            raise ValueError("grow=True needs refine=True (growth refits the support); use post=PostConfig(refit=...)")
        return "none"
    return "ridge" if grow is not None and not grow else "auto"


def resolve_options(
    selection: Any, post: Any, legacy: Mapping[str, Any]
) -> tuple[SelectionConfig, PostConfig, dict[str, Any]]:
    """Merge ``selection``, ``post`` and the older flat keywords into the two records.

    Parameters
    ----------
    selection, post : record, mapping or None
        As given to ``proxyspex``.
    legacy : mapping
        The flat keywords given (see :data:`LEGACY_OPTIONS`).

    Returns
    -------
    tuple
        (:class:`SelectionConfig`, :class:`PostConfig`, the tree knobs among ``legacy`` for
        :meth:`~.proxy.ProxyConfig.from_arguments`).

    Raises
    ------
    TypeError
        For a keyword ``proxyspex`` does not know, or a record of the wrong type.
    ValueError
        When a flat keyword is given together with its record, or the flags contradict each other.
    """
    unknown = sorted(set(legacy) - set(LEGACY_OPTIONS))
    if unknown:
        raise TypeError(f"proxyspex() got an unexpected keyword argument {unknown[0]!r}")
    groups: dict[str, dict[str, Any]] = {"selection": {}, "post": {}, "proxy": {}}
    for name, value in legacy.items():
        groups[LEGACY_OPTIONS[name][0]][name] = value
    for group, given in (("selection", selection), ("post", post)):
        if groups[group] and given is not None:
            names = ", ".join(groups[group])
            raise ValueError(f"proxyspex: {names} given both in {group}= and as keywords; give them once")
    if legacy:
        warnings.warn(
            f"proxyspex: the keywords {', '.join(legacy)} are deprecated; pass proxy=ProxyConfig(...), "
            "selection=SelectionConfig(...), post=PostConfig(...)",
            DeprecationWarning,
            stacklevel=3,
        )
    chosen = _as_record(selection, SelectionConfig, "selection")
    if groups["selection"]:
        chosen = SelectionConfig(**groups["selection"])
    after = _as_record(post, PostConfig, "post")
    if groups["post"]:
        flags = groups["post"]
        refit = _refit_from_flags(flags.get("refine"), flags.get("grow"))
        rest = {k: v for k, v in flags.items() if k in ("confirm", "confirm_bases")}
        after = PostConfig(refit=refit, **rest)
    if after.refit == "grow" and chosen.n_coefficients != "auto":
        raise ValueError(
            f"post: refit='grow' needs n_coefficients='auto' (got {chosen.n_coefficients!r}): "
            "growth chooses the support size"
        )
    return chosen, after, groups["proxy"]
