"""A hand-built model whose interactions are known by construction (no training).

One layer, 12 attention heads (d_head 1) and 4 ReLU neurons, no LayerNorm, so the logit difference
is an exact polynomial of the kept units. Every head attends uniformly (Q = K = 0) to values that are
1 everywhere (V bias), so a kept head writes exactly 1 into its own residual dimension and a
zero-ablated head writes 0. The MLP computes Boolean functions of those head outputs:

    neuron 0 = ReLU(A + B − 1)          AND of heads A = L0H0, B = L0H1
    neuron 1 = ReLU(C + D)              together with neuron 2: OR (redundancy) of C = L0H2, D = L0H3
    neuron 2 = ReLU(C + D − 1)
    neuron 3 = ReLU(E + F + G − 2)      3-way AND of E = L0H4, F = L0H5, G = L0H6

and the readout is  logit[1] − logit[0] = 2·n0 + 1.5·(n1 − n2) − 1·n3, so with heads as units

    f = 2·AB + 1.5·(C ∨ D) − EFG  →  Möbius: {A,B} +2, {C} +1.5, {D} +1.5, {C,D} −1.5, {E,F,G} −1.

Heads L0H7..L0H11 do nothing: three have W_O = 0, two write into residual dimensions nobody reads.
The ground truth assumes zero ablation (every head's output is constant, so mean ablation is a no-op).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from ._bridge import build_native, load_model, save_model

__all__ = ["CONFIG", "CIRCUIT_HEADS", "NULL_HEADS", "build", "load", "game", "true_mobius", "head_mobius"]

CONFIG = dict(
    d_model=20,
    d_head=1,
    n_heads=12,
    n_layers=1,
    n_ctx=16,
    d_vocab=4,
    d_mlp=4,
    act_fn="relu",
    normalization_type=None,
    attn_only=False,
    seed=0,
)
CIRCUIT_HEADS = ("L0H0", "L0H1", "L0H2", "L0H3", "L0H4", "L0H5", "L0H6")
NULL_HEADS = ("L0H7", "L0H8", "L0H9", "L0H10", "L0H11")
_READ = 12  # residual dims 12..15 hold the neurons' outputs; 16..19 are written by null heads, never read
_WEIGHTS = (2.0, 1.5, -1.5, -1.0)  # readout of neurons 0..3


def build() -> Any:
    """Construct the planted model from scratch (deterministic)."""
    model = build_native(CONFIG)
    attn = model.blocks[0].attn
    mlp = model.blocks[0].mlp
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        attn.v.bias.fill_(1.0)  # every value is 1: a head's z is exactly 1 at every position
        for h in range(7):  # circuit heads write 1 into residual dim h
            attn.o.weight[h, h] = 1.0
        attn.o.weight[16, 8] = 1.0  # L0H8, L0H10 write into unread dims; L0H7, L0H9, L0H11 have W_O = 0
        attn.o.weight[17, 10] = 1.0
        fc_in, fc_out = mlp.fc_in, mlp.fc_out
        fc_in.weight[0, [0, 1]] = 1.0
        fc_in.bias[0] = -1.0
        fc_in.weight[1, [2, 3]] = 1.0
        fc_in.weight[2, [2, 3]] = 1.0
        fc_in.bias[2] = -1.0
        fc_in.weight[3, [4, 5, 6]] = 1.0
        fc_in.bias[3] = -2.0
        for i in range(4):
            fc_out.weight[_READ + i, i] = 1.0
        model.unembed.weight[1, _READ : _READ + 4] = torch.tensor(_WEIGHTS)
    model.eval()
    return model


def load(device: str | torch.device = "cpu") -> Any:
    """Load the committed planted model (identical to :func:`build`).

    Parameters
    ----------
    device : str or torch.device, default "cpu"
        Where the model is put.

    Returns
    -------
    Any
        The model.
    """
    from . import weights_dir

    model, _ = load_model(weights_dir("planted"), device=device)
    return model


def save(model: Any, folder: str) -> None:
    heads = {" ".join(map(str, k)): v for k, v in head_mobius().items()}
    save_model(model, CONFIG, folder, extra={"mobius_heads": heads})


def prompts(n_prompts: int = 4, length: int = 6, seed: int = 0) -> torch.Tensor:
    """Draw random prompts (the planted values do not depend on them).

    Parameters
    ----------
    n_prompts : int, default 4
        Number of prompts.
    length : int, default 6
        Tokens per prompt.
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    torch.Tensor
        Prompts [n_prompts, length].
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, CONFIG["d_vocab"], (n_prompts, length), generator=gen)


def metric():
    """Build the planted metric: logit[1] − logit[0] at the last position.

    Returns
    -------
    Metric
        The metric for :class:`~spex_mech.AblationGame`.
    """
    from ..engine import metrics

    return metrics.logit_diff(correct=1, incorrect=0, position=-1)


def task(n: int = 4, seed: int = 0) -> dict[str, Any]:
    """Return the planted task for the command line (zero ablation: the ground truth assumes it).

    Parameters
    ----------
    n : int, default 4
        Number of prompts.
    seed : int, default 0
        Seed of the prompts.

    Returns
    -------
    dict
        ``tokens``, ``metric``, ``ablation`` and ``reference``.
    """
    return {"tokens": prompts(n, seed=seed), "metric": metric(), "ablation": "zero", "reference": None}


def game(*, neurons: bool = False, model: Any = None, ablation: str = "zero", **kwargs: Any):
    """Build an :class:`~spex_mech.AblationGame` over the 12 heads (plus the 4 neurons with ``neurons=True``).

    Parameters
    ----------
    neurons : bool, default False
        Add the 4 MLP neurons as units.
    model : Any, optional
        The model (default: :func:`load`).
    ablation : str, default "zero"
        The ablation kind (the ground truth assumes zero ablation).
    **kwargs : Any
        Passed to :class:`~spex_mech.AblationGame`.

    Returns
    -------
    AblationGame
        The game.
    """
    from ..engine import AblationGame
    from ..units import AttentionHeads, MLPNeurons

    model = model if model is not None else load()
    units = AttentionHeads(model)
    if neurons:
        units = units + MLPNeurons(model, 0)
    return AblationGame(model, units, prompts(), metric(), ablation=ablation, **kwargs)


def head_mobius() -> dict[tuple[int, ...], float]:
    """Return the planted Möbius spectrum over the 12 head units (unit index = head index)."""
    return {(0, 1): 2.0, (2,): 1.5, (3,): 1.5, (2, 3): -1.5, (4, 5, 6): -1.0}


def true_mobius(labels: Sequence[str]) -> dict[tuple[int, ...], float]:
    """Return the planted Möbius spectrum for any unit set over these heads and neurons (by label).

    Kept units multiply: with neurons as units, neuron i's term needs the neuron kept too
    (e.g. {A, B, L0N0}: +2). Units absent from ``labels`` count as always kept.

    Parameters
    ----------
    labels : sequence of str
        The unit set's labels.

    Returns
    -------
    dict
        ``{unit-column tuple: dividend}``.
    """
    index = {name: i for i, name in enumerate(labels)}

    def cols(*names: str) -> Optional[tuple[int, ...]]:
        return tuple(sorted(index[n] for n in names if n in index))

    terms: dict[tuple[int, ...], float] = {}

    def add(value: float, *names: str) -> None:
        key = cols(*names)
        terms[key] = terms.get(key, 0.0) + value

    add(2.0, "L0H0", "L0H1", "L0N0")  # 2·A·B·n0
    add(1.5, "L0H2", "L0N1")  # 1.5·n1·(C + D)
    add(1.5, "L0H3", "L0N1")
    add(-1.5, "L0H2", "L0H3", "L0N2")  # −1.5·n2·C·D
    add(-1.0, "L0H4", "L0H5", "L0H6", "L0N3")  # −n3·E·F·G
    return {k: v for k, v in terms.items() if v != 0.0}
