"""Attribution patching at MIB's neuron level, attention heads included.

MIB's neuron of head node ``a{l}.h{h}`` is coordinate j of that head's output ``attn.hook_result[:, :, h, j]``
(see :mod:`spex_mech.units.mib`). No unit set can mask one such coordinate (head and d_model are two
activation dimensions), but attribution patching needs no masking: it gates every coordinate,

    act' = ref + g ⊙ (act − ref),   g ∈ [0, 1]^{heads × d_model}  (g = 1: kept),

where ``ref`` is the game's own ablation reference of the whole head (zero, mean, mean_tokenwise or
resample, as the engine built it), and ∂f/∂g from one forward and one backward pass is each coordinate's
score — the same gate gradient :func:`~spex_mech.algorithms.baselines.attribution.attribution_scores` takes
per unit, split over the head's d_model coordinates (the head's score is their sum, tested).

:func:`mib_neuron_attribution` takes an :class:`~spex_mech.AblationGame` whose units are heads masked at
``hook_result`` (``AttentionHeads(model, at="hook_result")``; TransformerLens needs
``model.set_use_attn_result(True)``) and/or :func:`~spex_mech.units.mib.MIBNeurons` coordinates, and
returns the first-order surrogate over MIB neurons (one unit per head coordinate, ids
``blocks.{l}.attn.hook_result[:, :, h, j]``), ready for ``to_mib(level="neuron", kind="attribution")``.
Its units are not a unit set: the result ranks and exports, it is not a game to measure curves on.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from .interactions import Interactions

__all__ = ["mib_neuron_attribution"]

_RESULT_HOOK = re.compile(r"^blocks\.(\d+)\.attn\.hook_result$")


def _plan(g: Any) -> list[tuple[Any, str]]:
    """Return each hook group of the game with its kind (``"heads"`` or ``"coordinates"``), or refuse.

    Parameters
    ----------
    g : AblationGame
        The game.

    Returns
    -------
    list of (group, str)
        The groups and their kinds.
    """
    from ..units.mib import parse_neuron_id

    out = []
    for group in g.groups:
        cols = group.columns.cpu().tolist()
        if _RESULT_HOOK.match(group.hook) and group.dim == 2:
            out.append((group, "heads"))
        elif group.dim == 2 and all(parse_neuron_id(g.ids[c]) is not None for c in cols):
            out.append((group, "coordinates"))
        else:
            raise ValueError(
                f"unit {cols[0]} ({g.ids[cols[0]]!r}) is neither a head at hook_result nor a MIB neuron: "
                "mib_neuron_attribution takes AttentionHeads(model, at='hook_result') and MIBNeurons units"
            )
    return out


def mib_neuron_attribution(game: Any, at: str = "clean") -> Interactions:
    """Score every MIB neuron of the game's heads and MIB-neuron units by attribution patching.

    Parameters
    ----------
    game : AblationGame
        Units: heads masked at ``hook_result`` and/or :func:`~spex_mech.units.mib.MIBNeurons`.
    at : {"clean", "ablated"}
        The state the gradient is taken at (all kept, or all ablated), as in attribution patching.

    Returns
    -------
    Interactions
        Möbius a({i}) = ∂f/∂g_i per MIB neuron (a head unit becomes d_model units, in coordinate
        order, at its place in the game's column order); ∅ holds f at that state minus the gradients'
        sum (``at="clean"``) or f there (``"ablated"``). ``n_evaluations`` is 1.

    Raises
    ------
    ValueError
        For another unit kind (naming the unit), an unknown state, or a metric that is not finite.
    TypeError
        When ``game`` is not an AblationGame.
    """
    from ..algorithms.baselines.attribution import _gated, _open_gate, _the_game, _value_and_grads
    from ..units.mib import neuron_id

    if at not in ("clean", "ablated"):
        raise ValueError(f"at must be 'clean' or 'ablated', got {at!r}")
    g = _the_game(game)
    plan = _plan(g)
    base = 1.0 if at == "clean" else 0.0
    gates, hooks = [], []
    for group, kind in plan:
        width = None if kind == "coordinates" else int(g.dims["d_model"] or 0)
        shape = (group.size,) if width is None else (group.size, width)
        gate = _open_gate(group, shape, base, g.device)
        gates.append(gate)

        def fn(act: torch.Tensor, hook: Any = None, group=group, gate=gate) -> torch.Tensor:
            lead = act.shape[: group.dim]
            if tuple(act.shape[group.dim :]) != tuple(gate.shape):
                raise ValueError(
                    f"hook {group.hook!r} gives activations of shape {tuple(act.shape)}; expected {tuple(gate.shape)} "
                    f"after dim {group.dim}"
                )
            w = gate.reshape((1,) * len(lead) + tuple(gate.shape)).to(act.dtype)
            return _gated(act, w, group.reference)

        hooks.append((group.hook, fn))
    value, grads = _value_and_grads(g, hooks, gates, at)
    per_column: dict[int, tuple[list[str], list[str], np.ndarray]] = {}
    for (group, kind), gate, grad in zip(plan, gates, grads):
        grad = np.zeros(tuple(gate.shape)) if grad is None else grad.double().cpu().numpy()
        layer = int(group.hook.split(".")[1]) if kind == "heads" else None
        for s, col in zip(group.slices.cpu().tolist(), group.columns.cpu().tolist()):
            if kind == "coordinates":  # slice s is the d_model coordinate
                per_column[col] = ([g.ids[col]], [g.labels[col]], grad[s : s + 1])
            else:  # slice s is the head
                node = f"a{layer}.h{s}"
                coords = range(grad.shape[1])
                per_column[col] = ([neuron_id(node, j) for j in coords], [f"{node}[{j}]" for j in coords], grad[s])
    ids, labels, values = [], [], []
    for col in range(g.n):
        i, lab, v = per_column[col]
        ids += i
        labels += lab
        values.append(v)
    scores = np.concatenate(values)
    if hasattr(g, "n_evaluations"):
        g.n_evaluations += 1
    end = float(value.detach())
    terms = {(): end - float(scores.sum()) if at == "clean" else end}
    terms.update({(i,): float(v) for i, v in enumerate(scores) if v != 0.0})
    return Interactions.from_mobius(
        terms, len(ids), labels=labels, ids=ids, n_evaluations=1, algorithm="attribution_patching",
        params={"at": at, "level": "mib_neuron", "forward_passes": 1, "backward_passes": 1},
    )
