"""Unit sets: which things can be masked, and where in the model each mask acts.

A unit set is an ordered list of units with stable ``ids`` (``blocks.1.attn.hook_z[2]``) and short
``labels`` (``L1H2``). Internally each unit maps to one or more *slices* of one activation dimension at
one hook point (a :class:`Site`), or to prompt positions whose token ids are replaced
(:class:`TokenSite`). Sets concatenate with ``+`` into one index space.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence

from ..hooks import hook_layer

__all__ = ["Site", "TokenSite", "UnitSet", "hook_layer", "model_hook_names", "model_dims"]


@dataclass(frozen=True)
class Site:
    """Masks applied at one hook: ``slices`` of activation dimension ``dim`` belong to unit ``columns``.

    The activation is read in TransformerLens layout, batch first and position second
    (``batch pos head_index d_head`` for ``hook_z``, ``batch pos d_mlp`` for ``mlp.hook_post``). A unit may
    own several slices (a token span owns several positions). ``ablation`` forces an ablation kind for
    this site (``"zero"``); ``None`` uses the game's.

    ``dim=None`` makes the whole activation one unit (``size=1``, ``slices=(0,)``); ``size=None`` with
    ``dim=1`` slices prompt positions, sized to the prompts when the game is built.
    """

    hook: str
    dim: Optional[int]
    size: Optional[int]
    slices: tuple[int, ...]
    columns: tuple[int, ...]
    ablation: Optional[str] = None

    def shifted(self, offset: int) -> "Site":
        """Return the site with its mask columns moved by ``offset`` (for concatenated unit sets).

        Parameters
        ----------
        offset : int
            Columns of the unit sets before this one.

        Returns
        -------
        Site
            A copy with shifted columns.
        """
        return replace(self, columns=tuple(c + offset for c in self.columns))

    @property
    def layer(self) -> int:
        """Block index of the site's hook (:func:`spex_mech.hooks.hook_layer`; ValueError if it has none)."""
        return hook_layer(self.hook)


@dataclass(frozen=True)
class TokenSite:
    """Masks applied to the input ids: prompt position ``positions[j]`` belongs to unit ``columns[j]``.

    An ablated unit's positions get ``baseline`` (a token id, or one id per prompt position).
    """

    positions: tuple[int, ...]
    columns: tuple[int, ...]
    baseline: Any

    def shifted(self, offset: int) -> "TokenSite":
        """Return the site with its mask columns moved by ``offset`` (for concatenated unit sets).

        Parameters
        ----------
        offset : int
            Columns of the unit sets before this one.

        Returns
        -------
        TokenSite
            A copy with shifted columns.
        """
        return replace(self, columns=tuple(c + offset for c in self.columns))


@dataclass
class UnitSet:
    """An ordered set of maskable units; ``len()``, ``ids``, ``labels``; concatenate with ``+``."""

    ids: list[str]
    labels: list[str]
    sites: list[Site] = field(default_factory=list)
    token_sites: list[TokenSite] = field(default_factory=list)
    model: Any = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ValueError("ids and labels must have the same length")
        if len(set(self.ids)) != len(self.ids):
            dupes = sorted({i for i in self.ids if self.ids.count(i) > 1})
            raise ValueError(f"a unit appears twice in the set: {dupes[:5]}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.ids)

    def __add__(self, other: "UnitSet") -> "UnitSet":
        if not isinstance(other, UnitSet):
            return NotImplemented
        if self.model is not None and other.model is not None and self.model is not other.model:
            raise ValueError("cannot concatenate unit sets built on different models")
        offset = len(self)
        return UnitSet(
            ids=self.ids + other.ids,
            labels=self.labels + other.labels,
            sites=self.sites + [s.shifted(offset) for s in other.sites],
            token_sites=self.token_sites + [s.shifted(offset) for s in other.token_sites],
            model=self.model if self.model is not None else other.model,
        )

    def index(self, key: str) -> int:
        """Return the mask column of a unit given its id or label.

        Parameters
        ----------
        key : str
            The unit's id (hook name) or label.

        Returns
        -------
        int
            The unit's column.

        Raises
        ------
        KeyError
            If no unit has that id or label.
        """
        if key in self.ids:
            return self.ids.index(key)
        if key in self.labels:
            return self.labels.index(key)
        raise KeyError(f"no unit with id or label {key!r}")

    def __repr__(self) -> str:
        shown = ", ".join(self.labels[:6]) + (", …" if len(self) > 6 else "")
        return f"UnitSet({len(self)} units: {shown})"


def model_hook_names(model: Any) -> Optional[set[str]]:
    """Return the hook names a model accepts (aliases included), or None when it does not say.

    Parameters
    ----------
    model : Any
        A TransformerLens model (``hook_dict``, ``hook_aliases``) or any object.

    Returns
    -------
    set of str or None
        The hook names, or None for a model without ``hook_dict``.
    """
    hook_dict = getattr(model, "hook_dict", None)
    if hook_dict is None:
        return None
    names = set(hook_dict.keys())
    aliases = getattr(model, "hook_aliases", None)
    if isinstance(aliases, dict):
        names |= set(aliases.keys())
    return names


def require_hook(model: Any, hook: str) -> None:
    """Raise ValueError if the model lists its hook points and ``hook`` is not one of them.

    Parameters
    ----------
    model : Any
        The model.
    hook : str
        A TransformerLens hook name.

    Raises
    ------
    ValueError
        If the model has no hook point of that name.
    """
    names = model_hook_names(model)
    if names is not None and hook not in names:
        raise ValueError(f"the model has no hook point named {hook!r}")


def model_dims(model: Any) -> dict[str, Optional[int]]:
    """Read n_layers, n_heads, d_head, d_model, d_mlp, d_vocab, n_ctx from ``model.cfg`` (None if unknown).

    Parameters
    ----------
    model : Any
        A model with a TransformerLens-style ``cfg``; an attention-only model reports ``d_mlp`` None.

    Returns
    -------
    dict
        ``{name: int or None}`` for the seven sizes.
    """
    cfg = getattr(model, "cfg", None)
    out: dict[str, Optional[int]] = {}
    for key in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp", "d_vocab", "n_ctx"):
        val = getattr(cfg, key, None) if cfg is not None else None
        out[key] = int(val) if isinstance(val, (int,)) and not isinstance(val, bool) else None
    if cfg is not None and getattr(cfg, "attn_only", False):
        out["d_mlp"] = None
    return out


def as_index_list(values: Optional[Sequence[int] | int], limit: int, what: str, where: str) -> list[int]:
    """Validate a selection of indices in [0, limit); None means all.

    Parameters
    ----------
    values : int, sequence of int, or None
        The indices (NumPy integers accepted); None selects ``0 .. limit - 1``.
    limit : int
        How many there are.
    what : str
        What an index counts (``"head"``, ``"layer"``), for messages.
    where : str
        What holds them (``"layer 2"``, ``"the model"``), for messages.

    Returns
    -------
    list of int
        The indices as Python ints, in the given order.

    Raises
    ------
    TypeError
        If an index is not an integer.
    ValueError
        If an index is outside ``[0, limit)`` or repeats.
    """
    if values is None:
        return list(range(limit))
    if isinstance(values, int):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, (int,)) or isinstance(v, bool):
            try:
                v = int(v)  # numpy integers
            except Exception as err:  # pragma: no cover - defensive
                raise TypeError(f"{what} index {v!r} is not an integer") from err
        if not 0 <= v < limit:
            raise ValueError(f"unknown {what} index {v}: {where} has {limit} {what}s (0..{limit - 1})")
        out.append(int(v))
    if len(set(out)) != len(out):
        raise ValueError(f"{what} indices repeat: {out}")
    return out
