"""Coarser and custom units: whole attention layers, whole MLPs, residual-stream positions, any hook.

Every unit set here works with each ablation (``mean``, ``mean_tokenwise``, ``zero``, ``resample``)
and ids stay TransformerLens hook names:

==========================  ===========================================  ==================
unit set                    masked at (TransformerLens layout)            id / label
==========================  ===========================================  ==================
``AttentionLayers``         ``blocks.{l}.hook_attn_out`` (whole)          ``blocks.1.hook_attn_out`` / ``L1A``
``MLPLayers``               ``blocks.{l}.hook_mlp_out`` (whole)           ``blocks.1.hook_mlp_out`` / ``L1M``
``ResidualPositions``       ``blocks.{l}.hook_resid_pre[:, p]``           ``blocks.1.hook_resid_pre[:, 3]`` / ``L1P3``
``HookUnits``               any hook: whole, or groups of one dim         ``{hook}`` or ``{hook}[:, :, 0:8]``
==========================  ===========================================  ==================

Heads masked at ``hook_result`` come from ``AttentionHeads(model, at="hook_result")``.

>>> units = AttentionLayers(model) + MLPLayers(model)                  # 2·n_layers units
>>> units = ResidualPositions(model, layer=2, positions=[1, 4, 5])
>>> units = HookUnits(model, "blocks.0.hook_resid_post", dim=2, groups=[range(0, 8), range(8, 16)])
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..hooks import block_hook
from .base import Site, UnitSet, as_index_list, model_dims, require_hook

__all__ = ["AttentionLayers", "HookUnits", "MLPLayers", "ResidualPositions"]


def _layers(model: Any, layers: Optional[Sequence[int] | int]) -> list[int]:
    total = model_dims(model)["n_layers"]
    if total is None:
        if layers is None:
            raise ValueError("cannot read n_layers from the model's cfg; pass layers=[...]")
        return [int(v) for v in ([layers] if isinstance(layers, int) else layers)]
    return as_index_list(layers, total, "layer", "the model")


def _whole_layer_units(model: Any, layers: Optional[Sequence[int] | int], hook_tail: str, tag: str) -> UnitSet:
    ids, labels, sites = [], [], []
    for col, layer in enumerate(_layers(model, layers)):
        hook = block_hook(layer, hook_tail)
        require_hook(model, hook)
        ids.append(hook)
        labels.append(f"L{layer}{tag}")
        sites.append(Site(hook, dim=None, size=1, slices=(0,), columns=(col,)))
    if not ids:
        raise ValueError("no layers selected")
    return UnitSet(ids=ids, labels=labels, sites=sites, model=model)


def AttentionLayers(model: Any, layers: Optional[Sequence[int] | int] = None) -> UnitSet:
    """Make one unit per attention layer: its whole output ``blocks.{l}.hook_attn_out``.

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    layers : int or sequence of int, optional
        The layers (all by default).

    Returns
    -------
    UnitSet
        The units, ids ``blocks.{l}.hook_attn_out``.
    """
    return _whole_layer_units(model, layers, "hook_attn_out", "A")


def MLPLayers(model: Any, layers: Optional[Sequence[int] | int] = None) -> UnitSet:
    """Make one unit per MLP: its whole output ``blocks.{l}.hook_mlp_out``.

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    layers : int or sequence of int, optional
        The layers (all by default).

    Returns
    -------
    UnitSet
        The units, ids ``blocks.{l}.hook_mlp_out``.

    Raises
    ------
    ValueError
        If the model has no MLPs (attention-only).
    """
    if model_dims(model)["d_mlp"] is None and getattr(getattr(model, "cfg", None), "attn_only", False):
        raise ValueError("the model has no MLPs (attention-only)")
    return _whole_layer_units(model, layers, "hook_mlp_out", "M")


def ResidualPositions(model: Any, layer: int, positions: Sequence[int] | int) -> UnitSet:
    """Make one unit per prompt position of the residual stream entering block ``layer`` (``hook_resid_pre``).

    Positions count each prompt's real tokens from 0 (prompts are left-aligned by the engine, whatever
    their padding side); they must be ≥ 0 and inside the longest prompt. A position past a shorter
    prompt's end masks nothing there.

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    layer : int
        The block whose input is masked.
    positions : int or sequence of int
        The positions, one unit each.

    Returns
    -------
    UnitSet
        The units.

    Raises
    ------
    ValueError
        If no position is given or a position is negative.
    """
    (layer,) = _layers(model, [layer])
    pos = [positions] if isinstance(positions, int) else [int(p) for p in positions]
    if not pos:
        raise ValueError("no positions selected")
    if any(p < 0 for p in pos):
        raise ValueError(f"residual positions count from the prompt start and must be ≥ 0, got {pos}")
    if len(set(pos)) != len(pos):
        raise ValueError(f"position indices repeat: {pos}")
    hook = block_hook(layer, "hook_resid_pre")
    require_hook(model, hook)
    ids = [f"{hook}[:, {p}]" for p in pos]
    labels = [f"L{layer}P{p}" for p in pos]
    site = Site(hook, dim=1, size=None, slices=tuple(pos), columns=tuple(range(len(pos))))
    return UnitSet(ids=ids, labels=labels, sites=[site], model=model)


def HookUnits(
    model: Any,
    hook: str,
    *,
    dim: Optional[int] = None,
    groups: Optional[Sequence[Sequence[int] | int]] = None,
    size: Optional[int] = None,
    labels: Optional[Sequence[str]] = None,
) -> UnitSet:
    """Make a custom unit set on any hook point.

    Ablated slices are replaced per the game's ablation (zero / mean / mean_tokenwise / resample).

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    hook : str
        A TransformerLens hook name (``blocks.0.hook_resid_post``, ``blocks.1.mlp.hook_pre``, ...).
    dim : int, optional
        ``None`` (default): the whole activation is one unit. Otherwise the activation dimension the units
        slice, in TransformerLens layout with batch first (``1`` = positions, ``2`` = the next one:
        ``d_model``, ``head_index``, ``d_mlp``).
    groups : sequence, optional
        The units, each one index or a list of indices along ``dim`` (default: one unit per index).
    size : int, optional
        The activation's extent along ``dim`` (default: read from one forward pass of the model when
        ``dim`` ≥ 2; the prompt length for ``dim=1``).
    labels : sequence of str, optional
        Short labels, one per unit (default ``{hook tail}[{indices}]``).

    Returns
    -------
    UnitSet
        The units.

    Raises
    ------
    ValueError
        If the hook does not exist, ``dim`` is invalid, or the groups are empty, out of range, overlapping
        or mislabelled (the unit and hook are named).
    """
    require_hook(model, hook)
    if dim is None:
        if groups is not None:
            raise ValueError("groups= needs dim=: which activation dimension the groups index")
        name = labels[0] if labels else hook
        site = Site(hook, dim=None, size=1, slices=(0,), columns=(0,))
        return UnitSet(ids=[hook], labels=[name], sites=[site], model=model)
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be ≥ 1 (dim 0 is the batch), got {dim!r}")
    if size is None and dim >= 2:
        size = _probe_size(model, hook, dim)
    if groups is None:
        if size is None:
            raise ValueError("groups= is needed for positions (dim=1): which positions form each unit")
        groups = list(range(size))
    members = [[int(g)] if isinstance(g, int) else [int(v) for v in g] for g in groups]
    slices, columns = [], []
    for col, idx in enumerate(members):
        if not idx:
            raise ValueError(f"unit {col} of hook {hook!r} has no indices")
        for v in idx:
            if v < 0 or (size is not None and v >= size):
                raise ValueError(f"unit {col} of hook {hook!r}: index {v} is outside dim {dim} (size {size})")
        slices.extend(idx)
        columns.extend([col] * len(idx))
    if len(set(slices)) != len(slices):
        raise ValueError(f"two units of hook {hook!r} share an index along dim {dim}")
    lead = ":, " * dim  # the batch dimension is written too, as in ResidualPositions' `hook[:, p]`
    ids = [f"{hook}[{lead}{_span(idx)}]" for idx in members]
    if labels is not None and len(labels) != len(members):
        raise ValueError(f"{len(labels)} labels for {len(members)} units")
    names = list(labels) if labels is not None else [f"{hook.split('.', 2)[-1]}[{_span(idx)}]" for idx in members]
    site = Site(hook, dim=dim, size=size, slices=tuple(slices), columns=tuple(columns))
    return UnitSet(ids=ids, labels=names, sites=[site], model=model)


def _span(idx: Sequence[int]) -> str:
    if len(idx) == 1:
        return str(idx[0])
    if list(idx) == list(range(idx[0], idx[0] + len(idx))):
        return f"{idx[0]}:{idx[0] + len(idx)}"
    return "[" + ",".join(str(v) for v in idx) + "]"


def _probe_size(model: Any, hook: str, dim: int) -> int:
    """Read the hook's extent along ``dim`` from one two-token forward pass (stopped at the hook)."""
    import torch

    from ..capture import capture_activations

    try:
        device = next(model.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        device = torch.device("cpu")
    with torch.inference_mode():
        act = capture_activations(model, torch.zeros((1, 2), dtype=torch.long, device=device), [hook], 1)[hook][0]
    if act.ndim <= dim:
        raise ValueError(f"hook {hook!r} gives activations of shape {tuple(act.shape)}; it has no dim {dim}")
    return int(act.shape[dim])
