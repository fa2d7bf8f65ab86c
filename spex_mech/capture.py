"""Forward passes with temporary hooks: run a model with hooks that are always removed, record activations.

Used by unit sets (to size a hook from one short pass) and by the engine (ablation references, clean
runs); it knows nothing about games or masks.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch

__all__ = ["capture_activations", "eval_mode", "run_with_fwd_hooks"]


class _StopForward(Exception):
    """Raised inside the deepest capture hook: nothing after it is needed."""


def run_with_fwd_hooks(model: Any, tokens: torch.Tensor, hooks: Sequence[tuple[str, Any]]) -> Any:
    """Run ``model(tokens)`` with temporary forward hooks that are removed even if the run raises.

    Uses ``model.hooks(fwd_hooks=...)`` when the model has it (TransformerLens), else
    ``model.run_with_hooks(tokens, fwd_hooks=...)``.

    Parameters
    ----------
    model : Any
        A TransformerLens model, or anything with ``hooks()`` or ``run_with_hooks``.
    tokens : torch.Tensor
        The model input.
    hooks : sequence of (str, callable)
        ``(hook name, hook function)`` pairs.

    Returns
    -------
    Any
        What ``model(tokens)`` returns (the logits for a TransformerLens model).
    """
    if hasattr(model, "hooks"):
        with model.hooks(fwd_hooks=list(hooks)):
            return model(tokens)
    return model.run_with_hooks(tokens, fwd_hooks=list(hooks))


def capture_activations(
    model: Any, tokens: torch.Tensor, hooks: Sequence[str], rows_per_pass: int
) -> dict[str, list[torch.Tensor]]:
    """Return the activations at ``hooks`` for every prompt, in passes of ``rows_per_pass`` prompts.

    The forward pass stops after the deepest requested hook.

    Parameters
    ----------
    model : Any
        A TransformerLens model, or anything :func:`run_with_fwd_hooks` can run.
    tokens : torch.Tensor
        Prompts ``[P, pos]``; passes take consecutive slices of rows.
    hooks : sequence of str
        Hook names (repeats are recorded once).
    rows_per_pass : int
        Prompts per forward pass.

    Returns
    -------
    dict of str to list of torch.Tensor
        For each hook, its detached activations, one tensor per pass, in prompt order.

    Raises
    ------
    ValueError
        If a requested hook did not fire (once) during a pass.
    """
    hooks = list(dict.fromkeys(hooks))
    store: dict[str, list[torch.Tensor]] = {h: [] for h in hooks}
    passes = [0]

    def make(name: str):
        def fn(act: torch.Tensor, hook: Any = None) -> None:
            store[name].append(act.detach())
            if all(len(store[h]) == passes[0] for h in hooks):
                raise _StopForward  # every requested hook has fired: the rest of the pass is not needed

        return fn

    fwd = [(h, make(h)) for h in hooks]
    for start in range(0, tokens.shape[0], max(1, rows_per_pass)):
        passes[0] += 1
        try:
            run_with_fwd_hooks(model, tokens[start : start + rows_per_pass], fwd)
        except _StopForward:
            pass
        missing = [h for h in hooks if len(store[h]) != passes[0]]
        if missing:
            raise ValueError(f"hook(s) {missing} never fired during the forward pass")
    return store


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Run the block with ``model`` in eval mode, restoring training mode afterwards if it was on.

    Parameters
    ----------
    model : Any
        A torch module (anything without ``training`` is left alone).

    Yields
    ------
    None
    """
    was = getattr(model, "training", False)
    if was and hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was and hasattr(model, "train"):
            model.train(True)
