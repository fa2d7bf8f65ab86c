"""Checks of a sweep configuration against the loaded model and this machine, all before any compute.

Device and precision, token ids inside the vocabulary and prompts inside the context, metric ids and read
positions inside every prompt, and the algorithm's own refusal of the budget (asked through the registry).
Each raises :class:`~spex_mech.config_schema.ConfigError` naming the key.
"""

from __future__ import annotations

from typing import Any, Optional

from .config_schema import ConfigError, SweepConfig

def _check_budget(name: str, n: int, kwargs: dict[str, Any]) -> Optional[int]:
    """Return the planned number of evaluations, or raise a ConfigError naming the key.

    The registry asks the algorithm itself whether it accepts the call (see
    :func:`spex_mech.registry.check_call`).
    """
    from .registry import OptionError, check_call, get

    spec = get(name)
    for key in ("budget", "max_order", "seed"):
        if key not in spec.sweep_keys:
            kwargs.pop(key, None)  # the algorithm has no such argument (e.g. exhaustive's budget)
    if "budget" in spec.sweep_keys and "budget" not in kwargs and "budget" not in _defaults(name):
        raise ConfigError(f"[algorithm] budget: missing ({name} needs one: the number of model evaluations)")
    try:
        return check_call(name, n, kwargs)
    except OptionError as err:
        key = err.key
        where = key if key in ("budget", "max_order", "seed") else (f"options.{key}" if key else "options")
        raise ConfigError(f"[algorithm] {where}: {err} ({name} with {n} units)") from None


def _defaults(name: str) -> dict[str, Any]:
    from .registry import option_schema

    return {k: p.default for k, p in option_schema(name).items() if p.default is not p.empty}


def _check_precision(precision: str, device: str) -> None:
    import torch

    from .engine.precision import check_precision

    try:
        check_precision(precision, torch.device(device))
    except ValueError as err:
        raise ConfigError(f"[model] precision: {err}") from None


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"[model] device: unknown device '{device}' (cpu, cuda, cuda:0, mps)") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(
            f"[model] device: '{device}' is not available on this machine (cpu, or a visible cuda device)"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("[model] device: 'mps' is not available on this machine (cpu)")


def _model_limits(model: Any) -> tuple[Optional[int], Optional[int]]:
    cfg = getattr(model, "cfg", None)
    return getattr(cfg, "d_vocab", None), getattr(cfg, "n_ctx", None)


def _rows(tokens: Any) -> Optional[list[list[int]]]:
    """Token ids as a list of rows, or None for text prompts (checked by the tokenizer later)."""
    import torch

    if isinstance(tokens, torch.Tensor):
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2:
            return [[-1]] if tokens.ndim == 0 else None
        return tokens.tolist()
    if isinstance(tokens, (list, tuple)) and tokens and all(isinstance(t, str) for t in tokens):
        return None
    if isinstance(tokens, (list, tuple)):
        return [list(r) if isinstance(r, (list, tuple)) else [r] for r in tokens]
    return None


def _check_prompts(model: Any, tokens: Any, where: str) -> None:
    import torch

    if isinstance(tokens, torch.Tensor) and tokens.is_floating_point():
        raise ConfigError(f"{where}: token ids must be integers, got dtype {tokens.dtype}")
    rows = _rows(tokens)
    if isinstance(tokens, (list, tuple)) and not tokens:
        raise ConfigError(f"{where}: no prompts (at least one prompt of at least one token)")
    if rows is None:
        return
    if not rows or all(len(r) == 0 for r in rows):
        raise ConfigError(f"{where}: no prompts (at least one prompt of at least one token)")
    if any(len(r) == 0 for r in rows):
        empty = next((i for i, r in enumerate(rows) if not r), 0)
        raise ConfigError(f"{where}: prompt {empty} is empty (at least one token per prompt)")
    d_vocab, n_ctx = _model_limits(model)
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            if isinstance(t, bool) or not isinstance(t, int) or t < 0 or (d_vocab is not None and t >= d_vocab):
                raise ConfigError(
                    f"{where}: prompt {i}, position {j}: token id {t!r} is outside the vocabulary (0 … "
                    f"{d_vocab - 1 if d_vocab else '?'})"
                )
        if n_ctx is not None and len(row) > n_ctx:
            raise ConfigError(
                f"{where}: prompt {i} has {len(row)} tokens, longer than the model's context n_ctx={n_ctx}"
            )


def _check_metric_ids(cfg: SweepConfig, model: Any, tokens: Any) -> None:
    spec = cfg.data.get("metric") or {}
    d_vocab, _ = _model_limits(model)
    for key in ("target", "correct", "incorrect"):
        ids = spec.get(key)
        for t in ids if isinstance(ids, list) else ([] if ids is None else [ids]):
            if isinstance(t, str):
                continue  # a string answer: tokenized (single token, in the vocabulary) by _answers
            if d_vocab is not None and not 0 <= t < d_vocab:
                raise ConfigError(f"[metric] {key}: token id {t} is outside the vocabulary (0 … {d_vocab - 1})")
    rows = _rows(tokens)
    if rows is None or "position" not in spec:
        return
    pos = spec["position"]
    per_prompt = isinstance(pos, list) and pos and all(isinstance(p, list) for p in pos)
    if per_prompt and len(pos) != len(rows):
        raise ConfigError(
            f"[metric] position: {len(pos)} per-prompt lists for {len(rows)} prompts (one list per prompt)"
        )
    for i, row in enumerate(rows):
        wanted = pos[i] if per_prompt else (pos if isinstance(pos, list) else [pos])
        for p in wanted:
            if not -len(row) <= p < len(row):
                raise ConfigError(
                    f"[metric] position: {p} is outside prompt {i} of length {len(row)} ({-len(row)} … {len(row) - 1})"
                )
