"""A planted neuron-level AND across two MLP layers, among first-order distractor neurons (no training).

Built on the fly (no committed weights, not in ``ZOO``). No LayerNorm, attention weights all zero (every
head writes 0), embeddings zero, so with **zero ablation** the logit difference ``logit[1] − logit[0]``
is an exact polynomial of the kept neurons:

* neuron ``a`` of layer ``layer_a`` is constantly 1 (bias 1) and writes 1 into residual dim ``R``;
* neuron ``b`` of layer ``layer_b`` > ``layer_a`` computes ReLU(x_R) and writes it into dim ``S``,
  read with weight ``and_weight``: together ``and_weight · [a kept] · [b kept]``;
* ``distractors`` neurons per layer are constantly 1 and write a seeded weight into dim ``T``, read
  with weight 1: one first-order term each;
* with ``cancel=True`` a neuron ``a2`` in ``layer_a`` (constantly 1) writes −1 into dim ``R``: the whole
  MLP ``layer_a`` then writes nothing into ``R``, so ``b`` reads 0 whether that MLP is kept or not, while
  at neuron level ``f ∋ and_weight · [a](1 − [a2])[b]`` (ReLU(a − a2) on binary inputs).

Möbius ground truth over any unit set: :func:`true_mobius`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._bridge import build_native

__all__ = ["PlantedAnd", "build"]

R, S, T = 0, 1, 2


@dataclass(frozen=True)
class PlantedAnd:
    """The planted model and its truth.

    Attributes
    ----------
    model : TransformerBridge
        The model.
    a : tuple of int
        (layer, neuron) of the AND's first neuron.
    b : tuple of int
        (layer, neuron) of the AND's second neuron.
    a2 : tuple of int or None
        The cancelling neuron (``cancel=True``), else None.
    and_weight : float
        Möbius value of {a, b} at neuron level.
    distractors : dict
        ``{(layer, neuron): weight}``, first-order terms.
    """

    model: Any
    a: tuple[int, int]
    b: tuple[int, int]
    a2: Any
    and_weight: float
    distractors: dict

    def neuron_mobius(self) -> dict[tuple[tuple[int, int], ...], float]:
        """Möbius dividends over neurons (keyed by sorted (layer, neuron) tuples)."""
        out: dict[tuple[tuple[int, int], ...], float] = {(u,): w for u, w in self.distractors.items()}
        out[tuple(sorted((self.a, self.b)))] = self.and_weight
        if self.a2 is not None:
            out[tuple(sorted((self.a, self.a2, self.b)))] = -self.and_weight
        return out

    def true_mobius(self, units: Any) -> dict[tuple[int, ...], float]:
        """Return the Möbius dividends over a unit set of ``MLPNeurons``, whole ``MLPLayers`` and heads.

        Heads are null. A whole-MLP unit stands for all its neurons; neurons not in the set are kept.

        Parameters
        ----------
        units : UnitSet
            The unit set (its ids are read).

        Returns
        -------
        dict
            ``{unit-column tuple: dividend}`` (terms below 1e-12 dropped).
        """
        owner: dict[tuple[int, int], int] = {}
        for col, uid in enumerate(units.ids):
            if uid.endswith("hook_mlp_out"):
                layer = int(uid.split(".")[1])
                for n in range(self.model.cfg.d_mlp):
                    owner[(layer, n)] = col
            elif ".mlp.hook_post[" in uid:
                owner[(int(uid.split(".")[1]), int(uid.split("[")[1].rstrip("]")))] = col
        out: dict[tuple[int, ...], float] = {}
        for neurons, value in self.neuron_mobius().items():
            # neurons outside the set are constantly kept: the term moves to the set's units it touches
            cols = tuple(sorted({owner[u] for u in neurons if u in owner}))
            out[cols] = out.get(cols, 0.0) + value
        return {k: v for k, v in out.items() if abs(v) > 1e-12}


def build(
    n_layers: int = 4,
    d_mlp: int = 64,
    n_heads: int = 2,
    *,
    layer_a: int = 1,
    layer_b: int = 2,
    distractors: int = 4,
    and_weight: float = 2.0,
    cancel: bool = False,
    seed: int = 0,
) -> PlantedAnd:
    """Build the planted model (deterministic in ``seed``).

    Parameters
    ----------
    n_layers : int, default 4
        Layers.
    d_mlp : int, default 64
        Neurons per MLP.
    n_heads : int, default 2
        Heads per layer (all write 0).
    layer_a : int, default 1
        Layer of neuron ``a``.
    layer_b : int, default 2
        Layer of neuron ``b`` (after ``layer_a``).
    distractors : int, default 4
        First-order distractor neurons per layer.
    and_weight : float, default 2.0
        Möbius value of {a, b}.
    cancel : bool, default False
        Add the cancelling neuron ``a2`` in ``layer_a``.
    seed : int, default 0
        Seed of the neuron choice and the distractor weights.

    Returns
    -------
    PlantedAnd
        The model and its truth.

    Raises
    ------
    ValueError
        If the layers are out of order or ``d_mlp`` is too small.
    """
    if not 0 <= layer_a < layer_b < n_layers:
        raise ValueError(f"need 0 ≤ layer_a < layer_b < n_layers, got {layer_a}, {layer_b}, {n_layers}")
    if distractors + 2 > d_mlp:
        raise ValueError(f"d_mlp={d_mlp} is too small for {distractors} distractors and the AND neurons")
    model = build_native(
        dict(
            d_model=4, d_head=1, n_heads=n_heads, n_layers=n_layers, n_ctx=8, d_vocab=2, d_mlp=d_mlp,
            act_fn="relu", normalization_type=None, attn_only=False, seed=seed,
        )
    )
    rng = np.random.default_rng(seed)
    picks = {layer: rng.permutation(d_mlp) for layer in range(n_layers)}
    a = (layer_a, int(picks[layer_a][0]))
    b = (layer_b, int(picks[layer_b][0]))
    a2 = (layer_a, int(picks[layer_a][1])) if cancel else None
    weights = {}
    for layer in range(n_layers):
        for n in picks[layer][2 : 2 + distractors]:
            weights[(layer, int(n))] = float(np.round(rng.uniform(0.2, 1.0) * rng.choice([-1, 1]), 3))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for (layer, n), w in weights.items():
            mlp = model.blocks[layer].mlp
            mlp.fc_in.bias[n] = 1.0
            mlp.fc_out.weight[T, n] = w
        mlp_a, mlp_b = model.blocks[layer_a].mlp, model.blocks[layer_b].mlp
        mlp_a.fc_in.bias[a[1]] = 1.0
        mlp_a.fc_out.weight[R, a[1]] = 1.0
        if a2 is not None:
            mlp_a.fc_in.bias[a2[1]] = 1.0
            mlp_a.fc_out.weight[R, a2[1]] = -1.0
        mlp_b.fc_in.weight[b[1], R] = 1.0
        mlp_b.fc_out.weight[S, b[1]] = 1.0
        model.unembed.weight[1, S] = and_weight
        model.unembed.weight[1, T] = 1.0
    model.eval()
    return PlantedAnd(model=model, a=a, b=b, a2=a2, and_weight=and_weight, distractors=weights)


def tokens(n_prompts: int = 1, length: int = 2) -> torch.Tensor:
    """Return prompts for the planted model; any prompt gives the same values (embeddings are zero).

    Parameters
    ----------
    n_prompts : int, default 1
        Number of prompts.
    length : int, default 2
        Tokens per prompt.

    Returns
    -------
    torch.Tensor
        Zeros [n_prompts, length] (long).
    """
    return torch.zeros((n_prompts, length), dtype=torch.long)


def metric() -> Any:
    from ..engine import metrics

    return metrics.logit_diff(correct=1, incorrect=0, position=-1)
