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

__all__ = ["GPT2_SMALL", "PLANTED_NEURONS", "PLANTED_TARGET", "gpt2_small", "gpt2_small_planted"]

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
    """Build a ``boot_native`` TransformerBridge shaped like GPT-2 small.

    12 layers × 12 heads, d_mlp 3,072, vocabulary 50,257, with TransformerLens's GPT-2 random initialisation
    under ``seed``.

    Parameters
    ----------
    seed : int, default 0
        Seed of the initialisation.

    Returns
    -------
    TransformerBridge
        The model.
    """
    return build_native({**GPT2_SMALL, "seed": int(seed)})


PLANTED_TARGET = 262  # the token id whose log-probability the planted neurons move
# (layer, neuron) of the planted units: A and B always on, writing orthogonal residual directions; C
# fires only when both are present (an AND read through ln2) and writes towards the target's unembedding;
# D and E are always on and write towards (+) / away from (−) it.
PLANTED_NEURONS = {"A": (2, 100), "B": (3, 1234), "C": (6, 2047), "D": (8, 500), "E": (10, 3000)}


def gpt2_small_planted(seed: int = 0) -> Any:
    """Build :func:`gpt2_small` with five planted MLP neurons (:data:`PLANTED_NEURONS`).

    They move the log-probability of token :data:`PLANTED_TARGET` at every position: a 3-way AND A × B × C
    (C reads A's and B's outputs) and two first-order neurons D (+) and E (−). Every other weight is the
    random initialisation, so the remaining 36,859 neurons add their dense small effects around the planted
    ones.

    Parameters
    ----------
    seed : int, default 0
        Seed of the initialisation.

    Returns
    -------
    TransformerBridge
        The model.
    """
    import torch

    model = gpt2_small(seed)
    gen = torch.Generator().manual_seed(1000 + int(seed))
    d_model = GPT2_SMALL["d_model"]
    basis, _ = torch.linalg.qr(torch.randn(d_model, 2, generator=gen))
    u_a, u_b = basis[:, 0], basis[:, 1]
    w_u = model.unembed.weight if model.unembed.weight.shape[0] == GPT2_SMALL["d_vocab"] else model.unembed.weight.T
    target = w_u[PLANTED_TARGET].detach().clone()
    target = target - (target @ u_a) * u_a - (target @ u_b) * u_b
    target = target / target.norm()

    def mlp(layer: int):
        return model.blocks[layer].mlp

    def always_on(layer: int, neuron: int, direction: "torch.Tensor", size: float) -> None:
        m = mlp(layer)
        m.fc_in.weight[neuron].zero_()
        m.fc_in.bias[neuron] = 5.0  # gelu(5) ≈ 5 at every position
        m.fc_out.weight[:, neuron] = direction * (size / 5.0)

    with torch.no_grad():
        always_on(*PLANTED_NEURONS["A"], u_a, 3.0)
        always_on(*PLANTED_NEURONS["B"], u_b, 3.0)
        layer_c, c = PLANTED_NEURONS["C"]
        m = mlp(layer_c)
        # ln2 rescales the residual by sqrt(d_model) / its norm (about 2 at layer 6 of this random
        # initialisation), so A and B each add about +10 to the pre-activation: −5 with one, +5 with both
        m.fc_in.weight[c] = (u_a + u_b) * (10.0 / (3.0 * 2.0))
        m.fc_in.bias[c] = -15.0
        m.fc_out.weight[:, c] = target * (3.0 / 5.0)
        always_on(*PLANTED_NEURONS["D"], target, 2.0)
        always_on(*PLANTED_NEURONS["E"], -target, 1.5)
    model.eval()
    return model
