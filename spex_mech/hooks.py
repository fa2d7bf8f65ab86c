"""TransformerLens hook names: build them (``blocks.{l}.attn.hook_z``) and read them back.

Units and the engine name every place a mask acts by its TransformerLens hook name, and unit ids are
hook names with an index (``blocks.1.attn.hook_z[2]``, ``blocks.0.hook_resid_pre[:, 3]``). This module is
the one place those strings are made and parsed.

:func:`hook_layer` raises on a name it cannot place, like TransformerLens's ``HookPoint.layer()``;
:func:`block_layer` is its tolerant form for names that need not belong to a block (unit ids of
tokens or training data).
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = [
    "EMBED_HOOKS",
    "block_hook",
    "block_layer",
    "head_hook",
    "head_of_unit_id",
    "hook_layer",
    "hook_tail",
    "neuron_hook",
    "unit_hook",
]

#: hooks that run before the first block; :func:`hook_layer` places them at layer −1.
EMBED_HOOKS = frozenset({"hook_embed", "hook_pos_embed", "embed.hook_out", "pos_embed.hook_out", "hook_tokens"})

_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_UNIT = re.compile(r"^(?P<hook>[^\[\]]+)\[(?P<index>[^\[\]]*)\]$")


def block_hook(layer: int, tail: str) -> str:
    """Return the name of hook ``tail`` inside block ``layer``.

    Parameters
    ----------
    layer : int
        Block index (≥ 0).
    tail : str
        The hook's name inside the block, e.g. ``"hook_resid_pre"`` or ``"attn.hook_z"``.

    Returns
    -------
    str
        ``"blocks.{layer}.{tail}"``.

    Examples
    --------
    >>> block_hook(2, "hook_resid_pre")
    'blocks.2.hook_resid_pre'
    """
    return f"blocks.{int(layer)}.{tail}"


def head_hook(layer: int, at: str = "hook_z") -> str:
    """Return the per-head attention hook of block ``layer`` (``blocks.{l}.attn.{at}``).

    Parameters
    ----------
    layer : int
        Block index.
    at : str
        ``"hook_z"`` (before W_O, default) or ``"hook_result"``.

    Returns
    -------
    str
        The hook name.
    """
    return block_hook(layer, f"attn.{at}")


def neuron_hook(layer: int) -> str:
    """Return the MLP neuron hook of block ``layer`` (``blocks.{l}.mlp.hook_post``).

    Parameters
    ----------
    layer : int
        Block index.

    Returns
    -------
    str
        The hook name.
    """
    return block_hook(layer, "mlp.hook_post")


def block_layer(hook: str) -> Optional[int]:
    """Return the block index of a ``blocks.{l}.…`` name, or None for any other name.

    Parameters
    ----------
    hook : str
        A hook name or a unit id (``blocks.1.attn.hook_z[2]``).

    Returns
    -------
    int or None
        The block index; None when ``hook`` does not start with ``blocks.{l}.``.
    """
    match = _BLOCK.match(hook)
    return int(match.group(1)) if match else None


def hook_layer(hook: str) -> int:
    """Return the block index of a hook name: ``blocks.3.attn.hook_z`` → 3, embedding hooks → −1.

    Parameters
    ----------
    hook : str
        A TransformerLens hook name.

    Returns
    -------
    int
        The block index, or −1 for the hooks before the first block (:data:`EMBED_HOOKS`).

    Raises
    ------
    ValueError
        If the name is neither a block hook nor an embedding hook (e.g. ``ln_final.hook_normalized``),
        naming the hook.
    """
    layer = block_layer(hook)
    if layer is not None:
        return layer
    if hook in EMBED_HOOKS:
        return -1
    raise ValueError(f"cannot read a layer from hook name {hook!r}: it is neither blocks.{{l}}.… nor an embedding hook")


def hook_tail(hook: str) -> str:
    """Return the name of a block hook inside its block (``blocks.3.attn.hook_z`` → ``attn.hook_z``).

    Parameters
    ----------
    hook : str
        A ``blocks.{l}.…`` hook name.

    Returns
    -------
    str
        The part after ``blocks.{l}.``.

    Raises
    ------
    ValueError
        If ``hook`` is not a block hook.
    """
    match = _BLOCK.match(hook)
    if match is None:
        raise ValueError(f"hook name {hook!r} is not inside a block (blocks.{{l}}.…)")
    return match.group(2)


def unit_hook(unit_id: str) -> tuple[str, Optional[str]]:
    """Split a unit id into its hook name and index text.

    Parameters
    ----------
    unit_id : str
        ``"blocks.1.attn.hook_z[2]"``, ``"blocks.0.hook_resid_pre[:, 3]"`` or a bare hook name
        (a whole-activation unit such as ``"blocks.0.hook_attn_out"``).

    Returns
    -------
    tuple of (str, str or None)
        The hook name and the text between the brackets (None for a bare name).

    Examples
    --------
    >>> unit_hook("blocks.1.attn.hook_z[2]")
    ('blocks.1.attn.hook_z', '2')
    """
    match = _UNIT.match(unit_id)
    if match is None:
        return unit_id, None
    return match.group("hook"), match.group("index")


def head_of_unit_id(unit_id: str) -> Optional[tuple[int, int]]:
    """Return (layer, head) for an attention-head unit id (``blocks.1.attn.hook_z[2]`` → (1, 2)), else None.

    Parameters
    ----------
    unit_id : str
        A unit id.

    Returns
    -------
    tuple of (int, int) or None
        Layer and head index when the id names one head at ``attn.hook_z`` or ``attn.hook_result``.
    """
    hook, index = unit_hook(unit_id)
    layer = block_layer(hook)
    if layer is None or index is None or not index.isdigit():
        return None
    if hook not in (head_hook(layer, "hook_z"), head_hook(layer, "hook_result")):
        return None
    return layer, int(index)
