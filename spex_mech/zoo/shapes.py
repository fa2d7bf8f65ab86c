"""Randomly initialised models with the shapes of real ones, for scale runs (no weights, no download).

These are not zoo entries: nothing was trained and no circuit is known. They exist so that a sweep over
a real model's whole unit set (e.g. all 36,864 MLP neurons of GPT-2 small) can run offline, end to end,
with the real model's compute per evaluation.

    [model]
    entry = "spex_mech.zoo.shapes:gpt2_small"
"""

from __future__ import annotations

from typing import Any

from ._bridge import build_native

__all__ = ["GPT2_SMALL", "gpt2_small"]

GPT2_SMALL = {
    "d_model": 768,
    "d_head": 64,
    "n_heads": 12,
    "n_layers": 12,
    "n_ctx": 1024,
    "d_vocab": 50257,
    "d_mlp": 3072,
    "act_fn": "gelu_new",
    "normalization_type": "LN",
    "attn_only": False,
    "init_mode": "gpt2",
}


def gpt2_small(seed: int = 0) -> Any:
    """A ``boot_native`` TransformerBridge shaped like GPT-2 small (12 layers × 12 heads, d_mlp 3,072,
    vocabulary 50,257), with TransformerLens's GPT-2 random initialisation under ``seed``."""
    return build_native({**GPT2_SMALL, "seed": int(seed)})
