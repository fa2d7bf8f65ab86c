"""Where masks act: unit slices merged per hook point, the hooks that apply them, and token replacements.

A :class:`HookGroup` gathers every unit slice at one hook with what ablated slices are replaced by;
:func:`mask_hook` is the forward hook applying one batch of masks there. Token units are applied to the
input ids instead (:func:`token_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from ..hooks import hook_layer
from ..units.base import Site, TokenSite

__all__ = ["HookGroup", "build_groups", "mask_hook", "merge_sites", "site_size", "token_plan"]


@dataclass
class HookGroup:
    """All unit slices at one hook point, and what ablated slices are replaced by.

    Attributes
    ----------
    hook : str
        The hook name.
    dim : int or None
        The activation dimension the slices index (None: the whole activation is one unit).
    size : int
        The extent of that dimension.
    slices, columns : torch.Tensor
        Slice ``slices[j]`` belongs to mask column ``columns[j]``.
    ablation : str
        The ablation kind at this hook.
    reference : torch.Tensor or None
        The replacement (None: zero), broadcasting against activations viewed ``[mask, prompt, ...]``.
    """

    hook: str
    dim: Optional[int]
    size: int
    slices: torch.Tensor
    columns: torch.Tensor
    ablation: str
    reference: Optional[torch.Tensor]

    @property
    def layer(self) -> int:
        """Block index of the hook (ValueError for a hook outside the blocks and embeddings)."""
        return hook_layer(self.hook)


def site_size(site: Site, length: int) -> int:
    """Return the number of slices along the site's dim: 1 for a whole-activation site, else its size.

    Parameters
    ----------
    site : Site
        The unit site.
    length : int
        The longest prompt's length (the size of a position site with ``size=None``).

    Returns
    -------
    int
        The extent of the sliced dimension.

    Raises
    ------
    ValueError
        If the site is malformed or addresses positions past the longest prompt, naming its hook.
    """
    if site.dim is None:
        if tuple(site.slices) != (0,):
            raise ValueError(f"a whole-activation unit at hook {site.hook!r} must have slices (0,)")
        return 1
    if site.size is not None:
        return site.size
    if site.dim != 1:
        raise ValueError(f"units at hook {site.hook!r}: size=None is only for positions (dim 1)")
    late = [p for p in site.slices if p >= length]
    if late:
        raise ValueError(
            f"units at hook {site.hook!r} address position {late[0]}, but the longest prompt has {length} tokens"
        )
    return length


def merge_sites(sites: Sequence[Site], length: int) -> dict[str, dict[str, Any]]:
    """Merge the unit sites per hook: ``{hook: {dim, size, slices, columns, ablation}}``, in first-seen order.

    Parameters
    ----------
    sites : sequence of Site
        The unit set's sites.
    length : int
        The longest prompt's length.

    Returns
    -------
    dict
        One entry per hook.

    Raises
    ------
    ValueError
        If two sites disagree on how to mask a hook, or two units mask the same slice, naming the hook.
    """
    merged: dict[str, dict[str, Any]] = {}
    for site in sites:
        size = site_size(site, length)
        entry = merged.setdefault(
            site.hook, {"dim": site.dim, "size": size, "slices": [], "columns": [], "ablation": site.ablation}
        )
        if entry["dim"] != site.dim or entry["size"] != size or entry["ablation"] != site.ablation:
            raise ValueError(f"unit sets disagree on how to mask hook {site.hook!r}")
        entry["slices"].extend(site.slices)
        entry["columns"].extend(site.columns)
    for hook, entry in merged.items():
        if len(set(entry["slices"])) != len(entry["slices"]):
            raise ValueError(f"two units mask the same slice of hook {hook!r}")
    return merged


def build_groups(
    merged: dict[str, dict[str, Any]],
    refs: dict[str, Optional[torch.Tensor]],
    ablation: str,
    device: torch.device,
) -> list[HookGroup]:
    """Return one :class:`HookGroup` per merged hook, with its replacement checked against the unit set.

    Parameters
    ----------
    merged : dict
        :func:`merge_sites` output.
    refs : dict
        Hook → replacement tensor (:func:`~spex_mech.engine.ablations.reference_activations`).
    ablation : str
        The game's ablation kind (a site may force its own).
    device : torch.device
        Where the index tensors go.

    Returns
    -------
    list of HookGroup
        In the order of ``merged``.

    Raises
    ------
    ValueError
        If a replacement's extent along the sliced dim differs from the unit set's, naming the hook.
    """
    groups = []
    for hook, entry in merged.items():
        kind = entry["ablation"] or ablation
        ref = refs.get(hook) if kind != "zero" else None
        if ref is not None and entry["dim"] is not None and not (entry["dim"] == 1 and kind == "mean"):
            expect = entry["size"]
            got = ref.shape[entry["dim"] + 1]
            if got != expect:
                raise ValueError(
                    f"hook {hook!r} has {got} slices along dim {entry['dim']}, but the unit set expects {expect}"
                )
        groups.append(
            HookGroup(
                hook=hook,
                dim=entry["dim"],
                size=entry["size"],
                slices=torch.tensor(entry["slices"], dtype=torch.long, device=device),
                columns=torch.tensor(entry["columns"], dtype=torch.long, device=device),
                ablation=kind,
                reference=ref,
            )
        )
    return groups


def token_plan(
    token_sites: Sequence[TokenSite],
    length: int,
    device: torch.device,
    check_ids: Callable[[torch.Tensor, str], None],
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Return ``(positions, columns, baseline ids)`` per token site, checked against the prompt length.

    Parameters
    ----------
    token_sites : sequence of TokenSite
        The unit set's token sites.
    length : int
        The longest prompt's length.
    device : torch.device
        Where the tensors go.
    check_ids : callable
        ``check_ids(ids [1, k], what)`` raises on ids outside the vocabulary.

    Returns
    -------
    list of tuple of torch.Tensor
        One entry per site.

    Raises
    ------
    ValueError
        If a site addresses positions outside the prompt, two sites replace one position, or a baseline
        has the wrong length.
    """
    plan = []
    seen: set[int] = set()
    for site in token_sites:
        pos = torch.tensor(site.positions, dtype=torch.long)
        if pos.numel() and (int(pos.max()) >= length or int(pos.min()) < 0):
            raise ValueError(f"token units address positions outside the prompt (length {length})")
        clash = seen & set(site.positions)
        if clash:
            raise ValueError(f"two token units replace the same position(s) {sorted(clash)[:5]}")
        seen |= set(site.positions)
        base = torch.as_tensor(site.baseline, dtype=torch.long)
        if base.ndim == 0:
            base = base.expand(len(site.positions))
        if base.shape[-1] != len(site.positions):
            raise ValueError("token baseline must be one id or one id per replaced position")
        check_ids(base.reshape(1, -1), "token baseline")
        columns = torch.tensor(site.columns, dtype=torch.long, device=device)
        plan.append((pos.to(device), columns, base.to(device)))
    return plan


def mask_hook(
    group: HookGroup, keep: torch.Tensor, n_masks: int, n_prompts: int, expand: bool = False
) -> Callable[..., torch.Tensor]:
    """Return the forward hook replacing ablated slices of ``group``'s activation.

    Parameters
    ----------
    group : HookGroup
        The hook's slices and reference.
    keep : torch.Tensor
        Bool ``[M, size]``: which of this hook's slices each mask keeps.
    n_masks, n_prompts : int
        The activation arrives with ``n_masks · n_prompts`` rows, mask-major.
    expand : bool
        If true, the activation may arrive once per prompt and is first copied for every mask.

    Returns
    -------
    callable
        ``fn(act, hook=None) -> act``.
    """

    def fn(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
        if expand and act.shape[0] == n_prompts:
            act = act.repeat(n_masks, *([1] * (act.ndim - 1)))
        if act.shape[0] != n_masks * n_prompts:
            raise RuntimeError(f"hook {group.hook!r} saw batch {act.shape[0]}, expected {n_masks}×{n_prompts} rows")
        shape = [n_masks] + [1] * (act.ndim)
        if group.dim is not None:  # None: the whole activation is one unit
            if act.ndim <= group.dim or act.shape[group.dim] != group.size:
                raise ValueError(
                    f"hook {group.hook!r} gives activations of shape {tuple(act.shape)}; the unit set expects "
                    f"{group.size} slices along dim {group.dim}"
                )
            shape[group.dim + 1] = group.size
        view = act.reshape(n_masks, n_prompts, *act.shape[1:])
        k = keep.reshape(shape)
        if group.reference is None:
            new = view.masked_fill(~k, 0)
        else:
            new = torch.where(k, view, group.reference.to(act.dtype))
        return new.reshape(act.shape)

    return fn
