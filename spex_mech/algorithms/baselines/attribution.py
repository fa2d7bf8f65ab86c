"""Attribution patching: every unit's linearised ablation effect from one forward and one backward pass.

Each unit's activation is written as ``ref + g·(act − ref)`` with a gate g (1 = kept, 0 = ablated),
exactly the game's own ablation at g ∈ {0, 1} (zero, mean, mean_tokenwise or resample reference). The
gradient of the game value (the metric averaged over prompts) with respect to the gates,

    ∂f/∂x_i = Σ_prompts,positions (act − ref) · ∂metric/∂act   (divided by the number of prompts),

is attribution patching's score: at the all-kept state (``at="clean"``, the noising form) f(1 − e_i) −
f(1) ≈ −∂f/∂x_i; at the all-ablated state (``at="ablated"``, the denoising form TransformerLens 4.3's
``tools.analysis.attribution_patching`` uses) f(e_i) − f(0) ≈ ∂f/∂x_i. For resample ablation the two
agree with TransformerLens node by node (summed over positions); TransformerLens has no zero or
mean-ablation node scores and no MLP-neuron nodes, which is why the gates are our own.

Result: the first-order Taylor surrogate at the chosen state, as :class:`~spex_mech.Interactions` with
Möbius a({i}) = ∂f/∂x_i (so its Banzhaf/Shapley values and Möbius ranking are the gradients); its
value at the chosen state is the forward pass's own. ``n_evaluations`` is 1: the one forward pass.

A gradient screen (:func:`gradient_screen`) keeps the units with the largest |gradient| and hands a
smaller game to SPEX/ProxySPEX. Its failure mode: a unit that acts only through a pure interaction with
no first-order gradient — the inputs of an OR that are both on (each is redundant at the clean state),
or a product whose other factor is ablated — scores 0 and is dropped.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ...results.interactions import Interactions
from ...validation import check_int

__all__ = ["attribution_scores", "attribution_patching", "gradient_screen", "ScreenedGame"]


def _the_game(game: Any) -> Any:
    inner = game
    for _ in range(4):
        if hasattr(inner, "groups") and hasattr(inner, "metric") and hasattr(inner, "model"):
            return inner
        inner = getattr(inner, "game", None) or getattr(inner, "f", None)
        if inner is None:
            break
    raise TypeError(
        f"attribution patching needs an AblationGame (model, hook-point units, metric); got {type(game).__name__}"
    )


def attribution_scores(game: Any, at: str = "clean") -> np.ndarray:
    """Compute ∂f/∂x_i for every unit at the all-kept or all-ablated state.

    One forward and one backward pass over all prompts; the model's parameters and ``.grad`` are untouched.

    Parameters
    ----------
    game : AblationGame
        A game over hook-point units (heads, neurons) whose model can be differentiated.
    at : {"clean", "ablated"}, default "clean"
        The state the gradient is taken at: all units kept or all ablated.

    Returns
    -------
    numpy.ndarray
        The gradients [n] (float64).

    Raises
    ------
    ValueError
        If ``at`` is not a known state or the units have no gradient (token units).
    """
    return _gradients(game, at)[0]


def _open_gate(group: Any, shape: tuple[int, ...], base: float, device: Any) -> torch.Tensor:
    """Return a float32 gate of ones, ``base`` at the group's unit slices, that records its gradient."""
    gate = torch.ones(shape, dtype=torch.float32, device=device)
    gate[group.slices] = base
    gate.requires_grad_(True)
    return gate


def _gated(act: torch.Tensor, w: torch.Tensor, reference: Optional[torch.Tensor]) -> torch.Tensor:
    """Return ``act`` moved towards the group's reference by ``1 − w`` (scaled by ``w`` without one)."""
    if reference is None:
        return w * act
    ref = reference[0].to(act.dtype)  # drop the mask axis: [1 or P, ...] against act [P, ...]
    return ref + w * (act - ref)


def _value_and_grads(g: Any, hooks: list, gates: list[torch.Tensor], at: str) -> tuple[torch.Tensor, tuple]:
    """Run one forward pass with ``hooks``; return the mean metric and its gradient for each gate.

    Raises ``ValueError`` when the metric is not finite at the state ``at``.
    """
    from ...capture import run_with_fwd_hooks

    idx = torch.arange(g.n_prompts, device=g.device)
    with torch.enable_grad(), g._eval_mode():
        logits = run_with_fwd_hooks(g.model, g.tokens, hooks)
        read = g._gather_positions(logits, idx)
        value = g.metric(read[None]).double().mean()
        if not torch.isfinite(value):
            raise ValueError(f"the metric is not finite at the {at} state ({float(value)})")
        grads = torch.autograd.grad(value, gates, allow_unused=True)
    return value, grads


def _gradients(game: Any, at: str) -> tuple[np.ndarray, float]:
    """(∂f/∂x at the state, f at the state) from one forward and one backward pass."""
    if at not in ("clean", "ablated"):
        raise ValueError(f"at must be 'clean' or 'ablated', got {at!r}")
    g = _the_game(game)
    if getattr(g, "token_sites", None):
        raise ValueError("attribution patching needs hook-point units (heads, neurons); token units have no gradient")
    base = 1.0 if at == "clean" else 0.0
    gates = []
    hooks = []
    for group in g.groups:
        gate = _open_gate(group, (group.size,), base, g.device)
        gates.append(gate)

        def fn(act: torch.Tensor, hook: Any = None, group=group, gate=gate) -> torch.Tensor:
            if act.ndim <= group.dim or act.shape[group.dim] != group.size:
                raise ValueError(
                    f"hook {group.hook!r} gives activations of shape {tuple(act.shape)}; the unit set expects "
                    f"{group.size} slices along dim {group.dim}"
                )
            shape = [1] * act.ndim
            shape[group.dim] = group.size
            w = gate.reshape(shape).to(act.dtype)
            return _gated(act, w, group.reference)

        hooks.append((group.hook, fn))
    value, grads = _value_and_grads(g, hooks, gates, at)
    out = np.zeros(g.n)
    for group, grad in zip(g.groups, grads):
        if grad is None:
            continue  # the metric does not depend on this hook (e.g. a head after the read position's path)
        out[group.columns.cpu().numpy()] = grad[group.slices].double().cpu().numpy()
    if hasattr(g, "n_evaluations"):
        g.n_evaluations += 1
    return out, float(value.detach())


def attribution_patching(game: Any, at: str = "clean") -> Interactions:
    """Return attribution patching as a first-order surrogate (see the module docstring).

    ``at="clean"``: f̂(x) = f(1) − Σ_i g_i (1 − x_i); ``at="ablated"``: f̂(x) = f(0) + Σ_i g_i x_i, with
    g = :func:`attribution_scores` and f at that state from the same forward pass.

    Parameters
    ----------
    game : AblationGame
        A game over hook-point units (heads, neurons) whose model can be differentiated.
    at : {"clean", "ablated"}, default "clean"
        The state the gradient is taken at: all units kept or all ablated.

    Returns
    -------
    Interactions
        The first-order surrogate.

    Raises
    ------
    ValueError
        If ``at`` is not a known state or the units have no gradient (token units).
    """
    g = _the_game(game)
    grads, end = _gradients(g, at)
    n = g.n
    const = end - float(grads.sum()) if at == "clean" else end
    terms = {(): const}
    terms.update({(i,): float(v) for i, v in enumerate(grads) if v != 0.0})
    return Interactions.from_mobius(
        terms,
        n,
        labels=g.labels,
        ids=g.ids,
        n_evaluations=1,
        algorithm="attribution_patching",
        params={"at": at, "gradients": grads.tolist(), "forward_passes": 1, "backward_passes": 1},
    )


class ScreenedGame:
    """The game over a subset of units, every other unit held kept (x = 1).

    Parameters
    ----------
    game : callable
        The full game (with ``n``; its ``labels`` and ``ids`` are narrowed to the subset).
    units : sequence of int
        The units the screened game varies (sorted).
    """

    def __init__(self, game: Any, units: Sequence[int]):
        self.game = game
        self.units = np.asarray(sorted(int(u) for u in units), dtype=np.int64)
        self.full_n = int(getattr(game, "n"))
        self.n = int(self.units.shape[0])
        labels = list(getattr(game, "labels", [str(i) for i in range(self.full_n)]))
        ids = list(getattr(game, "ids", labels))
        self.labels = [labels[i] for i in self.units]
        self.ids = [ids[i] for i in self.units]
        self.n_evaluations = 0

    def expand(self, masks: np.ndarray) -> np.ndarray:
        """Expand sub-masks to full masks (unscreened units kept).

        Parameters
        ----------
        masks : numpy.ndarray
            Sub-masks [B, k].

        Returns
        -------
        numpy.ndarray
            Full masks [B, n] (bool).
        """
        masks = np.asarray(masks, dtype=bool)
        full = np.ones((masks.shape[0], self.full_n), dtype=bool)
        full[:, self.units] = masks
        return full

    def __call__(self, masks: Any) -> np.ndarray:
        """Evaluate the full game at the expanded masks.

        Parameters
        ----------
        masks : array_like
            Sub-masks [B, k] (or one mask [k]).

        Returns
        -------
        numpy.ndarray
            Values [B].
        """
        arr = np.asarray(masks, dtype=bool)
        if arr.ndim == 1:
            arr = arr[None]
        out = self.game(self.expand(arr))
        self.n_evaluations += arr.shape[0]
        return out


def gradient_screen(game: Any, keep: int, at: str = "clean") -> tuple[ScreenedGame, np.ndarray]:
    """Screen the ``keep`` units with the largest |∂f/∂x_i| into a :class:`ScreenedGame` (for SPEX).

    Units whose effect is a pure interaction with no first-order gradient are dropped; see the module
    docstring.

    Parameters
    ----------
    game : AblationGame
        A game over hook-point units (heads, neurons) whose model can be differentiated.
    keep : int
        Number of units kept, in [1, n].
    at : {"clean", "ablated"}, default "clean"
        The state the gradient is taken at: all units kept or all ablated.

    Returns
    -------
    screened : ScreenedGame
        The game over the kept units.
    gradients : numpy.ndarray
        The gradients of all units [n].

    Raises
    ------
    ValueError
        If ``keep`` is out of range, or :func:`attribution_scores` refuses the game.
    """
    grads = attribution_scores(game, at)
    keep = check_int("keep", keep, low=1, high=grads.shape[0])
    order = np.lexsort((np.arange(grads.shape[0]), -np.abs(grads)))
    return ScreenedGame(game, order[:keep]), grads
