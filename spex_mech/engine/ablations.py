"""Ablation references: what an ablated unit's activation is replaced by, computed once per game.

- ``zero``: 0.
- ``mean``: the mean activation over a reference token batch, over its prompts *and* positions.
- ``mean_tokenwise``: the mean over the reference prompts, separately at each position (needs the
  reference prompts to be as long as the evaluated ones).
- ``resample``: the activation of a corrupted prompt paired with each clean prompt (activation
  patching); ``reference`` holds the corrupted prompts, row for row.

Mean ablation leaks the answer if every reference prompt shares it: use answer-neutral references
(the training distribution, or the evaluated prompts when their answers differ).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from ..capture import capture_activations, run_with_fwd_hooks

__all__ = ["ABLATIONS", "capture_activations", "reference_activations", "run_with_fwd_hooks"]

ABLATIONS = ("zero", "mean", "mean_tokenwise", "resample")


def reference_activations(
    model: Any,
    hooks: Sequence[str],
    ablation: str,
    tokens: torch.Tensor,
    reference: Optional[torch.Tensor],
    rows_per_pass: int,
    lengths: Optional[torch.Tensor] = None,
    ref_lengths: Optional[torch.Tensor] = None,
    captured: Optional[dict[str, list[torch.Tensor]]] = None,
) -> dict[str, Optional[torch.Tensor]]:
    """Return per-hook replacement tensors, shaped to broadcast against activations viewed [mask, prompt, ...].

    zero → None; mean → [1, 1, 1, *rest]; mean_tokenwise → [1, 1, pos, *rest]; resample → [1, P, pos, *rest].

    Prompts are left-aligned; ``lengths`` / ``ref_lengths`` give each prompt's real length (None: all
    positions are real). Only real positions enter a mean; a resample pair must have equal lengths.

    Parameters
    ----------
    model : Any
        The model the references are recorded from (unused when ``captured`` is given).
    hooks : sequence of str
        Hook names needing a reference (repeats are read once).
    ablation : str
        One of :data:`ABLATIONS`.
    tokens : torch.Tensor
        The evaluated prompts ``[P, pos]``.
    reference : torch.Tensor, optional
        Reference prompts for the means (None: ``tokens`` themselves), or for ``resample`` the
        corrupted prompts ``[P, pos]``, row-paired with ``tokens`` (required).
    rows_per_pass : int
        Prompts per forward pass when recording.
    lengths : torch.Tensor, optional
        Real length of each prompt in ``tokens`` ``[P]``.
    ref_lengths : torch.Tensor, optional
        Real length of each reference prompt (default: ``lengths`` when ``reference`` is None, else the
        full width of ``reference``).
    captured : dict of str to list of torch.Tensor, optional
        The reference prompts' activations already recorded, one tensor per pass for each hook (as
        :func:`capture_activations` returns them); its hooks are used instead of recording ``hooks``.

    Returns
    -------
    dict of str to torch.Tensor or None
        One entry per hook: None for ``zero``, else the replacement in the activation's dtype (means
        are accumulated in float64 over real positions only).

    Raises
    ------
    ValueError
        On an unknown ablation, ``resample`` without a reference or with a reference not paired row for
        row and length for length, an empty reference set, ``mean_tokenwise`` references shorter than
        the longest prompt, or a hook that never fires while recording.
    """
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; choose one of {', '.join(ABLATIONS)}")
    hooks = list(dict.fromkeys(hooks))
    if ablation == "zero" or not hooks:
        return {h: None for h in hooks}
    length = tokens.shape[1]
    if lengths is None:
        lengths = torch.full((tokens.shape[0],), length, dtype=torch.long)
    if ablation == "resample":
        if reference is None:
            raise ValueError("ablation='resample' needs reference= corrupted prompts paired with the clean ones")
        if reference.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"resample reference has {reference.shape[0]} prompts, but there are {tokens.shape[0]} prompts: "
                "pair one corrupted prompt with each clean prompt"
            )
        if ref_lengths is None:
            ref_lengths = torch.full((reference.shape[0],), reference.shape[1], dtype=torch.long)
        differ = (ref_lengths.cpu() != lengths.cpu()).nonzero().flatten()
        if differ.numel() or reference.shape[1] != length:
            i = int(differ[0]) if differ.numel() else 0
            raise ValueError(
                f"resample reference prompt {i} has {int(ref_lengths[i])} tokens, but its clean prompt has "
                f"{int(lengths[i])}: pair prompts of equal length (positions are patched one for one)"
            )
    ref_tokens = tokens if reference is None else reference
    if ref_tokens.shape[0] == 0:
        raise ValueError("the reference prompt set is empty")
    if ref_lengths is None:
        full = torch.full((ref_tokens.shape[0],), ref_tokens.shape[1], dtype=torch.long)
        ref_lengths = lengths if reference is None else full
    if ablation == "mean_tokenwise":
        longest = int(lengths.max())
        if int(ref_lengths.max()) < longest:
            raise ValueError(
                f"mean_tokenwise needs reference prompts covering every position of the prompts (up to {longest}), "
                f"but the longest reference prompt has {int(ref_lengths.max())} tokens"
            )
    if captured is None:
        captured = capture_activations(model, ref_tokens, hooks, rows_per_pass)
    out: dict[str, Optional[torch.Tensor]] = {}
    for h, parts in captured.items():
        if ablation == "resample":
            acts = torch.cat(parts, dim=0)
            out[h] = acts[None]
            continue
        total = None
        count = None
        start = 0
        for act in parts:
            rows = act.shape[0]
            n = ref_lengths[start : start + rows].to(act.device)
            start += rows
            real = (torch.arange(act.shape[1], device=act.device)[None, :] < n[:, None]).double()  # [rows, pos]
            weight = real.reshape(*real.shape, *([1] * (act.ndim - 2)))
            acc = act.double() * weight
            if ablation == "mean":
                s, c = acc.sum(dim=(0, 1)), real.sum()
            else:
                s, c = acc.sum(dim=0), real.sum(dim=0)
            total = s if total is None else total + s
            count = c if count is None else count + c
        if ablation == "mean":
            out[h] = (total / count).to(parts[0].dtype)[None, None, None]
            continue
        # per position: mean over the reference prompts that reach it; positions no prompt reaches are
        # padding of every prompt (checked above) and get 0, which nothing reads
        per = count.reshape(-1, *([1] * (total.ndim - 1)))
        mean = torch.where(per > 0, total / per.clamp(min=1), torch.zeros_like(total))
        width = mean.shape[0]
        if width >= length:
            mean = mean[:length]
        else:
            mean = torch.cat([mean, mean.new_zeros((length - width, *mean.shape[1:]))], dim=0)
        out[h] = mean.to(parts[0].dtype)[None, None]
    return out
