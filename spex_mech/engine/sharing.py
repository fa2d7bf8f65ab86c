"""Side inputs for prefix sharing on Hugging Face bridges.

With prefix sharing the residual stream is copied once per mask part-way through the model (batch
``P`` → ``M·P``). A ``boot_native`` bridge passes nothing else between blocks, but a ``boot_transformers``
bridge hands every attention layer batch-shaped side inputs that HF built from the ``P``-row input: the
4-D attention mask, rotary ``(cos, sin)`` position embeddings, position ids. :func:`expand_side_inputs`
copies those for every mask, with forward pre-hooks on the attention modules of the masked layers,
whenever the module's hidden states arrive with ``M·P`` rows while a side input still has ``P``.
Copies are made only where the hidden states were copied, so an attention that still runs once per
prompt (heads masked at ``hook_z``: copies diverge after the pattern) keeps its ``P``-row inputs.
The engine checks the shared run against the plain forward when the game is built.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

__all__ = ["attention_modules", "expand_side_inputs"]


def attention_modules(model: Any, first_layer: int) -> list[Any]:
    """Return the attention modules of blocks ``first_layer ..``.

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    first_layer : int
        The first block whose attention module is returned.

    Returns
    -------
    list
        The modules (empty when the model has no ``blocks``).
    """
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        return []
    out = []
    for i, block in enumerate(blocks):
        if i < first_layer:
            continue
        attn = getattr(block, "attn", None)
        if isinstance(attn, torch.nn.Module):
            out.append(attn)
    return out


def _expand(value: Any, n_prompts: int, n_masks: int) -> Any:
    if isinstance(value, torch.Tensor):
        if value.ndim >= 2 and value.shape[0] == n_prompts:
            return value.repeat(n_masks, *([1] * (value.ndim - 1)))
        return value
    if isinstance(value, tuple):
        return tuple(_expand(v, n_prompts, n_masks) for v in value)
    if isinstance(value, list):
        return [_expand(v, n_prompts, n_masks) for v in value]
    return value


@contextlib.contextmanager
def expand_side_inputs(modules: list[Any], n_prompts: int, n_masks: int) -> Iterator[None]:
    """Repeat keyword side inputs for mask-batched calls within the block.

    Keyword side inputs with ``n_prompts`` rows are copied ``n_masks`` times for every module call whose
    hidden states carry ``n_masks·n_prompts`` rows. Hooks are removed on exit.

    Parameters
    ----------
    modules : list
        The modules to hook (see :func:`attention_modules`).
    n_prompts : int
        Rows of the side inputs.
    n_masks : int
        Masks per pass.

    Yields
    ------
    None
        Control, with the hooks in place.
    """
    if n_masks <= 1 or not modules:
        yield
        return
    rows = n_masks * n_prompts

    def pre_hook(module: Any, args: tuple, kwargs: dict) -> Any:
        hidden = args[0] if args else kwargs.get("hidden_states")
        if not isinstance(hidden, torch.Tensor) or hidden.ndim < 1 or hidden.shape[0] != rows:
            return None
        new_args = args[:1] + tuple(_expand(v, n_prompts, n_masks) for v in args[1:])
        new_kwargs = {k: (v if k == "hidden_states" else _expand(v, n_prompts, n_masks)) for k, v in kwargs.items()}
        return new_args, new_kwargs

    handles = [m.register_forward_pre_hook(pre_hook, with_kwargs=True) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
