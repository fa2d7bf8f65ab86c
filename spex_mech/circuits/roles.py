"""Head roles from attention patterns: previous-token, duplicate-token and induction heads.

The check TransformerLens's ``head_detector`` makes, on token ids (no tokenizer needed): prompts are
``[bos, r_1 … r_L, r_1 … r_L]`` with random ids r (distinct within a span when the vocabulary allows),
and at every query in the second copy (position q, whose token first appeared at q − L) a head's
attention is read at

* q − 1 — **previous-token** (the score also averages every query of the first copy);
* q − L — **duplicate-token** (the earlier occurrence of the same token);
* q − L + 1 — **induction** (the token that followed the earlier occurrence).

A score is the mean attention weight there (0…1); a head gets a role when its score reaches
``threshold``. Labels follow the units (``L1H2``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

__all__ = ["ROLES", "HeadRoles", "head_roles"]

ROLES = ("previous-token", "duplicate-token", "induction")


@dataclass(frozen=True)
class HeadRoles:
    """Per-head scores {label: {role: mean attention}} and the roles that reach ``threshold``."""

    scores: dict[str, dict[str, float]]
    threshold: float
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self, label: str) -> str:
        """Return a ``"prev-token L0H0"``-style name (just the label for a head without a role).

        Parameters
        ----------
        label : str
            A head label (``L0H0``).

        Returns
        -------
        str
            The label with its roles in front.
        """
        short = {"previous-token": "prev-token", "duplicate-token": "dup-token", "induction": "induction"}
        got = self.roles.get(label, ())
        return f"{'/'.join(short[r] for r in got)} {label}" if got else label


def _n_layers_heads(model: Any) -> tuple[int, int]:
    cfg = getattr(model, "cfg", None)
    if cfg is None or not hasattr(cfg, "n_layers") or not hasattr(cfg, "n_heads"):
        raise ValueError("head roles need a TransformerLens model with cfg.n_layers and cfg.n_heads")
    return int(cfg.n_layers), int(cfg.n_heads)


def head_roles(
    model: Any,
    *,
    n_prompts: int = 32,
    span: Optional[int] = None,
    bos: Optional[int] = None,
    threshold: float = 0.3,
    seed: int = 0,
) -> HeadRoles:
    """Score every head of ``model`` for the three roles on repeated random sequences (module docstring).

    Parameters
    ----------
    model : Any
        A TransformerLens model with ``cfg.n_layers``, ``cfg.n_heads``, ``cfg.d_vocab``.
    n_prompts : int
        Random prompts.
    span : int, optional
        Length L of the repeated span (default a third of the context, at most 20).
    bos : int, optional
        First token (default the tokenizer's BOS id, else 0).
    threshold : float
        Mean attention from which a head has a role.
    seed : int
        Seed of the random ids.

    Returns
    -------
    HeadRoles
        Scores and roles per head label.

    Raises
    ------
    ValueError
        For a model without those cfg fields or a span that does not fit the context.
    """
    n_layers, n_heads = _n_layers_heads(model)
    cfg = model.cfg
    vocab = int(cfg.d_vocab)
    n_ctx = int(getattr(cfg, "n_ctx", 64))
    span = int(span if span is not None else max(2, min(20, (n_ctx - 1) // 3)))
    if 2 * span + 1 > n_ctx:
        raise ValueError(f"span {span} needs {2 * span + 1} positions, the model has {n_ctx}")
    if bos is None:
        tok = getattr(model, "tokenizer", None)
        bos = int(tok.bos_token_id) if tok is not None and getattr(tok, "bos_token_id", None) is not None else 0
    rng = np.random.default_rng(seed)
    low = 1 if vocab > 2 else 0
    if vocab - low >= span:  # distinct ids within a span, so each token's earlier occurrence is unique
        rand = np.stack([rng.permutation(np.arange(low, vocab))[:span] for _ in range(n_prompts)])
    else:
        rand = rng.integers(low, vocab, size=(n_prompts, span))
    toks = np.concatenate([np.full((n_prompts, 1), bos), rand, rand], axis=1)
    patterns: dict[int, torch.Tensor] = {}

    def grab(layer: int):
        def fn(act: torch.Tensor, hook: Any = None) -> None:
            patterns[layer] = act.detach().float().cpu()

        return fn

    device = next(model.parameters()).device
    hooks = [(f"blocks.{layer}.attn.hook_pattern", grab(layer)) for layer in range(n_layers)]
    with torch.no_grad():
        if hasattr(model, "hooks"):
            with model.hooks(fwd_hooks=hooks):
                model(torch.as_tensor(toks, device=device))
        else:
            model.run_with_hooks(torch.as_tensor(toks, device=device), fwd_hooks=hooks)
    missing = [layer for layer in range(n_layers) if layer not in patterns]
    if missing:
        raise ValueError(f"hook_pattern never fired for layer(s) {missing}")
    second = np.arange(span + 1, 2 * span + 1)  # queries in the second copy
    all_q = np.arange(1, 2 * span + 1)
    scores: dict[str, dict[str, float]] = {}
    roles: dict[str, tuple[str, ...]] = {}
    for layer in range(n_layers):
        pat = patterns[layer]  # [batch, head, q, k]
        for head in range(n_heads):
            p = pat[:, head]
            s = {
                "previous-token": float(p[:, all_q, all_q - 1].mean()),
                "duplicate-token": float(p[:, second, second - span].mean()),
                "induction": float(p[:, second, second - span + 1].mean()),
            }
            label = f"L{layer}H{head}"
            scores[label] = s
            got = tuple(r for r in ROLES if s[r] >= threshold)
            if got:
                roles[label] = got
    return HeadRoles(scores=scores, threshold=threshold, roles=roles)
