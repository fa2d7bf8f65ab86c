"""The demo model: a 2-layer attention-only transformer that learned previous-token and induction heads.

Trained on random token sequences in which a random span is repeated. Both the repeat *offset* (span
length plus a random gap) and the *start* are randomised per example: with a fixed offset the model
learns a positional "look back L" head instead of induction.

The behaviour: predicting the second copy of a repeated span. The metric is the mean log-prob of the
correct next token over the second copy (its first token excluded, which is not predictable).
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import torch

from ._bridge import build_native, load_model, save_model

__all__ = [
    "CONFIG",
    "BOS",
    "sample_batch",
    "train",
    "load",
    "prompts",
    "metric",
    "game",
    "head_scores",
]

CONFIG = dict(
    d_model=64,
    d_head=16,
    n_heads=4,
    n_layers=2,
    n_ctx=48,
    d_vocab=64,
    attn_only=True,
    normalization_type="LN",
    seed=0,
)
BOS = 0


def sample_batch(
    batch: int,
    rng: np.random.Generator,
    *,
    length: int = 48,
    vocab: int = 64,
    span: tuple[int, int] = (6, 20),
    max_gap: int = 4,
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Draw sequences with one repeated span each.

    Parameters
    ----------
    batch : int
        Number of sequences.
    rng : numpy.random.Generator
        The random source.
    length : int, default 48
        Tokens per sequence.
    vocab : int, default 64
        Vocabulary size.
    span : tuple of int, default (6, 20)
        Range of the repeated span's length.
    max_gap : int, default 4
        Largest gap between the two copies.

    Returns
    -------
    tokens : numpy.ndarray
        Sequences [B, length].
    repeat_offset : numpy.ndarray
        Distance from the first copy to the second [B].
    reads : list of list of int
        Read positions per row: positions q in the second copy whose next token q+1 repeats an earlier token.
    """
    tokens = rng.integers(1, vocab, size=(batch, length))
    tokens[:, 0] = BOS
    offsets = np.zeros(batch, dtype=np.int64)
    reads: list[list[int]] = []
    for row in range(batch):
        span_len = int(rng.integers(span[0], span[1] + 1))
        gap = int(rng.integers(0, max_gap + 1))
        total = 2 * span_len + gap
        start = int(rng.integers(1, length - total + 1))
        second = start + span_len + gap
        tokens[row, second : second + span_len] = tokens[row, start : start + span_len]
        offsets[row] = span_len + gap
        reads.append(list(range(second, second + span_len - 1)))
    return tokens, offsets, reads


def train(
    steps: int = 4000,
    batch: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    log_every: int = 500,
    verbose: bool = True,
) -> tuple[Any, list[dict[str, float]]]:
    """Train the demo model from scratch (on CPU; its duration is noted in benchmarks/results/measured_notes.md).

    Parameters
    ----------
    steps : int, default 4000
        Optimiser steps.
    batch : int, default 64
        Sequences per step.
    lr : float, default 1e-3
        Learning rate.
    weight_decay : float, default 0.01
        AdamW weight decay.
    seed : int, default 0
        Seed of the data and the initialisation.
    log_every : int, default 500
        Steps between history records.
    verbose : bool, default True
        Print the history records.

    Returns
    -------
    model : Any
        The trained model.
    history : list of dict
        Loss and accuracy records.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_native({**CONFIG, "seed": seed})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    start = time.time()
    for step in range(1, steps + 1):
        toks_np, _, reads = sample_batch(batch, rng, length=CONFIG["n_ctx"], vocab=CONFIG["d_vocab"])
        toks = torch.from_numpy(toks_np)
        logits = model(toks)
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        nll = -torch.gather(logp, -1, toks[:, 1:, None])[..., 0]  # [B, L-1]
        loss = nll.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            rep = torch.zeros_like(nll, dtype=torch.bool)
            for r, qs in enumerate(reads):
                rep[r, qs] = True
            record = {
                "step": step,
                "seconds": round(time.time() - start, 1),
                "loss": float(loss),
                "loss_repeated": float(nll[rep].mean()),
                "loss_other": float(nll[~rep].mean()),
            }
            history.append(record)
            if verbose:
                print(record, flush=True)
    model.eval()
    return model, history


def load(device: str | torch.device = "cpu") -> Any:
    """Load the committed demo model (offline).

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

    model, _ = load_model(weights_dir("induction"), device=device)
    return model


def save(model: Any, folder: str, history: Optional[list[dict[str, float]]] = None) -> None:
    save_model(model, CONFIG, folder, extra={"history": history or []})


def prompts(
    n_prompts: int = 16, seed: int = 100, *, length: int = 32, span: int = 10
) -> tuple[torch.Tensor, list[list[int]]]:
    """Draw evaluation prompts (a repeated span of fixed length at a random start/gap) and their read positions.

    Parameters
    ----------
    n_prompts : int, default 16
        Number of prompts.
    seed : int, default 100
        Seed of the prompts.
    length : int, default 32
        Tokens per prompt.
    span : int, default 10
        Length of the repeated span.

    Returns
    -------
    tokens : torch.Tensor
        Prompts [P, length].
    reads : list of list of int
        Read positions per prompt.
    """
    rng = np.random.default_rng(seed)
    toks, _, reads = sample_batch(n_prompts, rng, length=length, vocab=CONFIG["d_vocab"], span=(span, span))
    return torch.from_numpy(toks), reads


def metric(read_positions: list[list[int]]):
    """Build the metric: mean log-prob of the correct next token over each prompt's second copy.

    Parameters
    ----------
    read_positions : list of list of int
        Read positions per prompt (from :func:`prompts`).

    Returns
    -------
    Metric
        The metric for :class:`~spex_mech.AblationGame`.
    """
    from ..engine import metrics

    return metrics.logprob(target=None, position=read_positions)


def reference_batch(n: int = 64, seed: int = 7, length: int = 32) -> torch.Tensor:
    """Draw answer-neutral reference prompts for mean ablation: fresh draws from the training distribution.

    Parameters
    ----------
    n : int, default 64
        Number of prompts.
    seed : int, default 7
        Seed of the draws.
    length : int, default 32
        Tokens per prompt.

    Returns
    -------
    torch.Tensor
        Prompts [n, length].
    """
    rng = np.random.default_rng(seed)
    longest = min(20, (length - 1 - 4) // 2)
    toks, _, _ = sample_batch(n, rng, length=length, vocab=CONFIG["d_vocab"], span=(6, longest))
    return torch.from_numpy(toks)


def task(n: int = 16, seed: int = 100) -> dict[str, Any]:
    """Return the demo task for the command line: prompts, metric, ablation and its reference prompts.

    Parameters
    ----------
    n : int, default 16
        Number of prompts.
    seed : int, default 100
        Seed of the prompts.

    Returns
    -------
    dict
        ``tokens``, ``metric``, ``ablation`` and ``reference``.
    """
    toks, reads = prompts(n, seed)
    return {
        "tokens": toks,
        "metric": metric(reads),
        "ablation": "mean_tokenwise",
        "reference": reference_batch(length=toks.shape[1]),
    }


def game(
    n_prompts: int = 16,
    seed: int = 100,
    *,
    ablation: str = "mean_tokenwise",
    model: Any = None,
    units: Any = None,
    **kwargs: Any,
):
    """Build an :class:`~spex_mech.AblationGame` over the demo model's 8 heads (or ``units``).

    Default: position-wise mean ablation against fresh training-distribution prompts (answer-neutral).
    Averaging over positions as well (``ablation="mean"``) mixes the BOS position's very different
    activations into every position's replacement, which adds a large high-order saturation term.

    Parameters
    ----------
    n_prompts : int, default 16
        Number of prompts.
    seed : int, default 100
        Seed of the prompts.
    ablation : str, default "mean_tokenwise"
        The ablation kind.
    model : Any, optional
        The model (default: :func:`load`).
    units : Any, optional
        The unit set (default: all heads).
    **kwargs : Any
        Passed to :class:`~spex_mech.AblationGame`.

    Returns
    -------
    AblationGame
        The game.
    """
    from ..engine import AblationGame
    from ..units import AttentionHeads

    model = model if model is not None else load()
    toks, reads = prompts(n_prompts, seed)
    if ablation in ("mean", "mean_tokenwise") and "reference" not in kwargs:
        kwargs["reference"] = reference_batch(length=toks.shape[1])
    if ablation == "resample" and "reference" not in kwargs:
        kwargs["reference"] = prompts(n_prompts, seed + 1)[0]
    units = units if units is not None else AttentionHeads(model)
    return AblationGame(model, units, toks, metric(reads), ablation=ablation, **kwargs)


def head_scores(model: Any = None, n_prompts: int = 64, seed: int = 3) -> dict[str, dict[str, float]]:
    """Measure attention scores per head: previous-token and induction.

    Induction is the attention to the token after the earlier copy of the current token; both are averaged
    over the second copies of fresh prompts.

    Parameters
    ----------
    model : Any, optional
        The model (default: :func:`load`).
    n_prompts : int, default 64
        Number of prompts.
    seed : int, default 3
        Seed of the prompts.

    Returns
    -------
    dict
        ``{head label: {"previous_token": score, "induction": score}}``.
    """
    model = model if model is not None else load()
    toks, reads = prompts(n_prompts, seed)
    offsets = []
    rng = np.random.default_rng(seed)
    patterns: dict[int, torch.Tensor] = {}

    def grab(layer: int):
        def fn(act: torch.Tensor, hook: Any = None) -> None:
            patterns[layer] = act.detach()

        return fn

    n_layers, n_heads = CONFIG["n_layers"], CONFIG["n_heads"]
    with torch.no_grad(), model.hooks(fwd_hooks=[(f"blocks.{l}.attn.hook_pattern", grab(l)) for l in range(n_layers)]):
        model(toks)
    out: dict[str, dict[str, float]] = {}
    for layer in range(n_layers):
        pat = patterns[layer]  # [batch, head, q, k]
        for head in range(n_heads):
            prev, ind = [], []
            for row, qs in enumerate(reads):
                span = len(qs) + 1
                first_second = qs[0]
                # earlier copy starts `offset` positions before the second copy
                first = _first_copy_start(toks[row], first_second, span)
                offset = first_second - first
                for q in qs:
                    prev.append(float(pat[row, head, q, q - 1]))
                    ind.append(float(pat[row, head, q, q - offset + 1]))
            out[f"L{layer}H{head}"] = {"previous_token": float(np.mean(prev)), "induction": float(np.mean(ind))}
    del offsets, rng
    return out


def _first_copy_start(row: torch.Tensor, second: int, span: int) -> int:
    """Where the first copy of the span starting at ``second`` begins (latest earlier exact match)."""
    target = row[second : second + span]
    for start in range(second - span, 0, -1):
        if torch.equal(row[start : start + span], target):
            return start
    raise ValueError("no earlier copy found")
