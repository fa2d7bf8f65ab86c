"""A trained 1-layer transformer whose MLP neurons compute an AND of two token features.

Prompt ``[BOS, x, y, SEP]``; the answer at the last position is YES iff x ∈ X⁺ and y ∈ Y⁺ (fixed
random halves-plus of the x and y vocabularies), else NO. Attention must bring both features to the
last position and the MLP must combine them: the behaviour lives in head × neuron interactions.

Ground truth comes from the model's mechanics, not from an interaction algorithm:
:func:`neuron_scores` ranks neurons by how strongly their activation separates AND-true from
AND-false prompts times their direct effect on the YES − NO logit; :func:`head_roles` reports where
each head attends from the last position.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import torch

from ._bridge import build_native, load_model, save_model

__all__ = ["CONFIG", "load", "train", "prompts", "game", "neuron_scores", "head_roles", "labels_for"]

BOS, SEP, YES, NO = 0, 1, 2, 3
X_TOKENS = tuple(range(4, 20))
Y_TOKENS = tuple(range(20, 36))
CONFIG = dict(
    d_model=32,
    d_head=8,
    n_heads=4,
    n_layers=1,
    n_ctx=8,
    d_vocab=36,
    d_mlp=32,
    act_fn="relu",
    normalization_type="LN",
    attn_only=False,
    seed=0,
)


def feature_sets(seed: int = 0) -> tuple[frozenset[int], frozenset[int]]:
    """Draw X⁺ and Y⁺: 11 of the 16 x tokens and 11 of the 16 y tokens (P(AND) ≈ 0.47).

    Parameters
    ----------
    seed : int, default 0
        Seed of the draw.

    Returns
    -------
    x_plus : frozenset of int
        The x tokens of the AND.
    y_plus : frozenset of int
        The y tokens of the AND.
    """
    rng = np.random.default_rng(1000 + seed)
    xs = frozenset(int(t) for t in rng.choice(X_TOKENS, size=11, replace=False))
    ys = frozenset(int(t) for t in rng.choice(Y_TOKENS, size=11, replace=False))
    return xs, ys


def all_prompts(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """List all 256 prompts and their AND labels.

    Parameters
    ----------
    seed : int, default 0
        Seed of the feature sets.

    Returns
    -------
    tokens : torch.Tensor
        Prompts [256, 4].
    labels : torch.Tensor
        AND labels [256] (bool).
    """
    xs, ys = feature_sets(seed)
    rows, labels = [], []
    for x in X_TOKENS:
        for y in Y_TOKENS:
            rows.append([BOS, x, y, SEP])
            labels.append(x in xs and y in ys)
    return torch.tensor(rows), torch.tensor(labels)


def train(
    steps: int = 3000, batch: int = 128, lr: float = 3e-3, seed: int = 0, verbose: bool = True
) -> tuple[Any, list[dict]]:
    """Train on the AND task (on CPU; its duration is noted in benchmarks/results/measured_notes.md).

    Parameters
    ----------
    steps : int, default 3000
        Optimiser steps.
    batch : int, default 128
        Prompts per step.
    lr : float, default 3e-3
        Learning rate.
    seed : int, default 0
        Seed of the data and the initialisation.
    verbose : bool, default True
        Print progress.

    Returns
    -------
    model : Any
        The trained model.
    history : list of dict
        Training records.
    """
    torch.manual_seed(seed)
    model = build_native({**CONFIG, "seed": seed})
    model.train()
    toks, labels = all_prompts(seed)
    answers = torch.where(labels, YES, NO)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    history = []
    start = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(0, toks.shape[0], (batch,), generator=gen)
        logits = model(toks[idx])[:, -1]
        loss = torch.nn.functional.cross_entropy(logits, answers[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0 or step == steps:
            with torch.no_grad():
                full = model(toks)[:, -1]
                acc = float((full.argmax(-1) == answers).float().mean())
            record = {"step": step, "seconds": round(time.time() - start, 1), "loss": float(loss), "accuracy": acc}
            history.append(record)
            if verbose:
                print(record, flush=True)
    model.eval()
    return model, history


def load(device: str | torch.device = "cpu") -> Any:
    """Load the committed AND model (offline).

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

    model, _ = load_model(weights_dir("mlp_lookup"), device=device)
    return model


def save(model: Any, folder: str, history: Optional[list[dict]] = None) -> None:
    """Save the model with its training history (see :func:`~spex_mech.zoo._bridge.save_model`).

    Parameters
    ----------
    model : Any
        The model.
    folder : str
        The target folder.
    history : list of dict, optional
        Training records.
    """
    save_model(model, CONFIG, folder, extra={"history": history or []})


def prompts(n: Optional[int] = None, seed: int = 0) -> tuple[torch.Tensor, list[int], list[int]]:
    """Return prompts with per-prompt correct and incorrect answer ids.

    All 256, or ``n`` of them balanced between AND-true and AND-false (a deterministic subset chosen by
    ``seed``).

    Parameters
    ----------
    n : int, optional
        Number of prompts (all 256 by default).
    seed : int, default 0
        Seed of the subset.

    Returns
    -------
    tokens : torch.Tensor
        Prompts [P, 4].
    correct : list of int
        The right answer's id per prompt.
    incorrect : list of int
        The other answer's id per prompt.
    """
    toks, labels = all_prompts()
    if n is not None and n < toks.shape[0]:
        gen = torch.Generator().manual_seed(seed)
        pos = torch.nonzero(labels)[:, 0]
        neg = torch.nonzero(~labels)[:, 0]
        half = n // 2
        pick = torch.cat(
            [
                pos[torch.randperm(len(pos), generator=gen)[:half]],
                neg[torch.randperm(len(neg), generator=gen)[: n - half]],
            ]
        )
        pick, _ = torch.sort(pick)
        toks, labels = toks[pick], labels[pick]
    correct = torch.where(labels, YES, NO).tolist()
    incorrect = torch.where(labels, NO, YES).tolist()
    return toks, correct, incorrect


def task(n: Optional[int] = None, seed: int = 0) -> dict[str, Any]:
    """Return the AND task for the command line.

    Logit difference toward the right answer, mean ablation against all 256 prompts (answer-balanced, so the
    mean does not leak the answer).

    Parameters
    ----------
    n : int, optional
        Number of prompts (all 256 by default).
    seed : int, default 0
        Seed of the subset.

    Returns
    -------
    dict
        ``tokens``, ``metric``, ``ablation`` and ``reference``.
    """
    from ..engine import metrics

    toks, correct, incorrect = prompts(n, seed)
    return {
        "tokens": toks,
        "metric": metrics.logit_diff(correct, incorrect, position=-1),
        "ablation": "mean",
        "reference": all_prompts()[0],
    }


def game(
    *,
    neurons: Optional[list[int]] = None,
    n_prompts: Optional[int] = None,
    model: Any = None,
    ablation: str = "mean",
    **kwargs: Any,
):
    """Build an :class:`~spex_mech.AblationGame` over the 4 heads and the MLP neurons (all 32 by default).

    Value: logit(correct answer) − logit(other answer) at the last position, averaged over the prompts
    (all 256, or a balanced subset of ``n_prompts``); mean ablation over all 256 (answer-balanced).

    Parameters
    ----------
    neurons : list of int, optional
        The MLP neurons (all by default).
    n_prompts : int, optional
        Number of prompts (all 256 by default).
    model : Any, optional
        The model (default: :func:`load`).
    ablation : str, default "mean"
        The ablation kind.
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
    t = task(n_prompts)
    units = AttentionHeads(model) + MLPNeurons(model, 0, neurons=neurons)
    kwargs.setdefault("reference", t["reference"] if ablation != "resample" else None)
    return AblationGame(model, units, t["tokens"], t["metric"], ablation=ablation, **kwargs)


def labels_for(neurons: list[int]) -> list[str]:
    """Return the labels ``L0N{i}`` of MLP neurons.

    Parameters
    ----------
    neurons : list of int
        Neuron indices.

    Returns
    -------
    list of str
        Their labels.
    """
    return [f"L0N{i}" for i in neurons]


def _last_position_acts(model: Any, toks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    store: dict[str, torch.Tensor] = {}

    def grab(name: str):
        def fn(act: torch.Tensor, hook: Any = None) -> None:
            store[name] = act.detach()

        return fn

    hooks = [("blocks.0.mlp.hook_post", grab("post")), ("blocks.0.attn.hook_pattern", grab("pattern"))]
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        model(toks)
    return store["post"][:, -1], store["pattern"][:, :, -1]


def neuron_scores(model: Any = None) -> np.ndarray:
    """Score each neuron: |mean activation on AND-true − on AND-false prompts| × |direct effect on YES − NO|.

    Parameters
    ----------
    model : Any, optional
        The model (default: :func:`load`).

    Returns
    -------
    numpy.ndarray
        Scores [d_mlp].
    """
    model = model if model is not None else load()
    toks, labels = all_prompts()
    post, _ = _last_position_acts(model, toks)
    gap = (post[labels].mean(0) - post[~labels].mean(0)).abs()
    w_out = model.blocks[0].mlp.fc_out.weight.detach()  # [d_model, d_mlp]
    w_u = model.unembed.weight.detach()  # [vocab, d_model]
    ln_scale = 1.0  # the final LayerNorm rescales uniformly; the ranking only needs relative effects
    direct = ((w_u[YES] - w_u[NO]) @ w_out).abs() * ln_scale
    return (gap * direct).numpy()


def head_roles(model: Any = None) -> dict[str, dict[str, float]]:
    """Measure the mean attention from the last position to the x and y positions, per head.

    Parameters
    ----------
    model : Any, optional
        The model (default: :func:`load`).

    Returns
    -------
    dict
        ``{head label: {"x": attention, "y": attention}}``.
    """
    model = model if model is not None else load()
    toks, _ = all_prompts()
    _, pattern = _last_position_acts(model, toks)  # [batch, head, key]
    return {
        f"L0H{h}": {"x": float(pattern[:, h, 1].mean()), "y": float(pattern[:, h, 2].mean())}
        for h in range(pattern.shape[1])
    }
