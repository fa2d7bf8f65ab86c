"""The feature lens: input tokens and spans of the prompt (words, sentences) as maskable units.

Each unit is one token position or a span of positions. An ablated unit is either

* **replaced** by a baseline token id (``mask="pad"``, ``"unk"`` or an explicit id): the sequence keeps its
  length, so a batch of masks stays one rectangular tensor (a :class:`~spex_mech.units.base.TokenSite`);
* **zeroed** at the token embedding (``mask="embed_zero"``): ``hook_embed`` is set to 0 at the unit's
  positions, positional embeddings untouched (a :class:`~spex_mech.units.base.Site` on ``dim=1``).

The value is usually the teacher-forced log-prob of the model's *original* output:
:func:`original_output` generates it once (greedy), appends it to the prompt, and builds the matching
:func:`spex_mech.metrics.logprob` read positions and targets, so every mask costs ONE forward pass.
Any other :mod:`spex_mech.metrics` metric works too, and token units add to component units
(``TokenUnits(...) + AttentionHeads(...)``) in one game.

>>> out = original_output(model, prompt_ids, max_new_tokens=3)
>>> units = TokenUnits(model, out, spans=[(1, 3), (3, 4), (4, 7)])   # units over the prompt part
>>> game = AblationGame(model, units, out.tokens, out.metric())

Length: one job (token units: teacher forcing, span resolution, the mask baseline and :func:`TokenUnits`),
each with its numpydoc sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from .. import metrics as _metrics
from ..runtime import model_device
from .base import Site, TokenSite, UnitSet, model_dims, require_hook

__all__ = ["TokenUnits", "TeacherForced", "original_output", "word_spans", "resolve_spans", "EMBED_HOOK"]

EMBED_HOOK = "hook_embed"
MASK_KINDS = ("pad", "unk", "embed_zero")

SpanLike = Union[int, tuple, Sequence[int], range]


# ---------------------------------------------------------------------------------------------- tokens
def _as_token_matrix(model: Any, tokens: Any) -> torch.Tensor:
    """Return prompt ids as a LongTensor [P, pos], left-aligned as the engine runs them.

    Strings are tokenized one by one and padding is dropped: position ``i`` is each prompt's ``i``-th
    real token.
    """
    from ..prompts import prepare_prompts

    if isinstance(tokens, str) or (
        isinstance(tokens, (list, tuple)) and tokens and all(isinstance(t, str) for t in tokens)
    ):
        if not hasattr(model, "to_tokens") or getattr(model, "tokenizer", None) is None:
            raise TypeError("string prompts need a model with a tokenizer; pass token ids instead")
        tokens = prepare_prompts(model, tokens).tokens
    t = torch.as_tensor(tokens)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"tokens must be [positions] or [prompts, positions], got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"the prompt is empty (shape {tuple(t.shape)})")
    if t.is_floating_point() or t.dtype == torch.bool:
        raise TypeError(f"tokens must be integer ids, got dtype {t.dtype}")
    return t.long().cpu()


@dataclass(frozen=True)
class TeacherForced:
    """Prompt plus the model's original continuation, ready for one-pass teacher-forced scoring.

    ``tokens`` [P, prompt_length + T] is what the game runs; ``continuation`` [P, T] the original output;
    the continuation's token ``t`` is predicted at position ``prompt_length − 1 + t``.
    """

    tokens: torch.Tensor
    prompt_length: int
    continuation: torch.Tensor

    @property
    def n_new(self) -> int:
        """Number of generated tokens."""
        return int(self.continuation.shape[1])

    @property
    def positions(self) -> list[list[int]]:
        """Read positions per prompt (where each continuation token is predicted)."""
        start = self.prompt_length - 1
        return [list(range(start, start + self.n_new)) for _ in range(self.tokens.shape[0])]

    @property
    def targets(self) -> list[list[int]]:
        """Target ids per prompt, aligned with :attr:`positions`."""
        return [row.tolist() for row in self.continuation]

    def metric(self, reduce: str = "mean") -> _metrics.Metric:
        """Log p(original output | masked prompt), teacher-forced in one pass.

        Parameters
        ----------
        reduce : {"mean", "sum"}
            ``"mean"``: mean per-token log-prob (:func:`spex_mech.metrics.logprob`); ``"sum"``: the
            sequence log-prob (T × the mean), as SPEX scored its QA answers.

        Returns
        -------
        Metric
            The metric for the game over :attr:`tokens`.

        Raises
        ------
        ValueError
            If ``reduce`` is neither ``"mean"`` nor ``"sum"``.
        """
        if reduce == "mean":
            return _metrics.logprob(target=self.targets, position=self.positions)
        if reduce == "sum":
            targets = self.continuation.clone()

            def total(logits: torch.Tensor) -> torch.Tensor:  # [M, P, T, V] -> [M, P]
                tgt = targets.to(logits.device)[None, :, :, None].expand(logits.shape[0], -1, -1, 1)
                picked = torch.gather(logits, -1, tgt)[..., 0]
                return (picked - torch.logsumexp(logits, dim=-1)).sum(-1)

            return _metrics.custom(total, position=self.positions[0])
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")


def original_output(
    model: Any,
    prompt: Any,
    max_new_tokens: int = 1,
    *,
    continuation: Optional[Any] = None,
) -> TeacherForced:
    """Return the model's own greedy output for ``prompt``, appended for teacher forcing.

    Generation happens once here (``max_new_tokens`` forward passes, no masks); afterwards every masked
    evaluation scores the fixed continuation in a single forward pass.

    Parameters
    ----------
    model : Any
        The model (a TransformerLens model with a tokenizer for string prompts).
    prompt : str, sequence of str, or token ids
        The prompt(s); all must have the same number of tokens.
    max_new_tokens : int, default 1
        Tokens generated greedily.
    continuation : array-like, optional
        Ids [T] or [P, T] to score instead of generating an output.

    Returns
    -------
    TeacherForced
        The prompt with its continuation appended, the prompt length and the continuation.

    Raises
    ------
    ValueError
        If the prompts differ in length, ``max_new_tokens`` is not a positive int, or ``continuation`` does
        not fit the prompts.
    """
    from ..prompts import prepare_prompts

    lengths = prepare_prompts(model, prompt, what="prompt").lengths
    if bool((lengths != lengths.max()).any()):
        raise ValueError(
            f"original_output needs prompts of one length (got {lengths.tolist()} tokens): the continuation "
            "is appended after the last position; make one TeacherForced per prompt length"
        )
    prompt_ids = _as_token_matrix(model, prompt)
    n_prompts, length = prompt_ids.shape
    if continuation is not None:
        cont = torch.as_tensor(continuation).long().cpu()
        if cont.ndim == 1:
            cont = cont[None].expand(n_prompts, -1)
        if cont.ndim != 2 or cont.shape[0] != n_prompts or cont.shape[1] == 0:
            raise ValueError(
                f"continuation must be ids [T] or [prompts={n_prompts}, T], got shape {tuple(cont.shape)}"
            )
    else:
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
        n_ctx = model_dims(model)["n_ctx"]
        if n_ctx is not None and length + max_new_tokens - 1 > n_ctx:
            raise ValueError(
                f"prompt length {length} + {max_new_tokens} new tokens exceeds the model's context ({n_ctx})"
            )
        device = model_device(model)
        seq = prompt_ids.to(device)
        was_training = getattr(model, "training", False)
        if was_training and hasattr(model, "eval"):
            model.eval()
        try:
            with torch.no_grad():
                for _ in range(max_new_tokens):
                    nxt = model(seq)[:, -1].argmax(dim=-1)
                    seq = torch.cat([seq, nxt[:, None]], dim=1)
        finally:
            if was_training and hasattr(model, "train"):
                model.train(True)
        cont = seq[:, length:].cpu()
    # the last continuation token is only a target; it never needs to be an input
    tokens = torch.cat([prompt_ids, cont[:, :-1]], dim=1)
    return TeacherForced(tokens=tokens, prompt_length=length, continuation=cont.clone())


# ---------------------------------------------------------------------------------------------- spans
def resolve_spans(spans: Optional[Sequence[SpanLike]], prompt_length: int) -> list[tuple[int, ...]]:
    """Return spans as sorted tuples of positions, validated against ``[0, prompt_length)``.

    Parameters
    ----------
    spans : sequence or None
        Each span an ``int`` (one position), a ``tuple (start, end)`` (the half-open range start..end−1),
        or a ``list`` / ``range`` / array of positions (any layout, need not be contiguous). ``None`` gives
        one unit per position. Negative positions count from the end of the prompt.
    prompt_length : int
        Positions ``[0, prompt_length)`` may be units.

    Returns
    -------
    list of tuple of int
        One sorted tuple of positions per span.

    Raises
    ------
    TypeError
        If ``spans`` or a span has the wrong type.
    ValueError
        If a span is empty, out of range, or overlaps another.
    """
    if spans is None:
        return [(p,) for p in range(prompt_length)]
    if isinstance(spans, (str, bytes)) or not hasattr(spans, "__iter__"):
        raise TypeError(f"spans must be a list of spans, got {type(spans).__name__}")
    out: list[tuple[int, ...]] = []
    owner: dict[int, int] = {}
    for j, span in enumerate(list(spans)):
        what = f"span {j} ({span!r})"
        positions = _span_positions(span, what)
        if not positions:
            raise ValueError(f"{what} is empty")
        fixed = []
        for p in positions:
            q = p + prompt_length if p < 0 else p
            if not 0 <= q < prompt_length:
                raise ValueError(
                    f"{what} addresses position {p}, outside the prompt (positions 0..{prompt_length - 1})"
                )
            fixed.append(q)
        if len(set(fixed)) != len(fixed):
            raise ValueError(f"{what} lists a position twice")
        for q in fixed:
            if q in owner:
                raise ValueError(f"{what} overlaps span {owner[q]} at position {q}")
            owner[q] = j
        out.append(tuple(sorted(fixed)))
    if not out:
        raise ValueError("spans is empty: give at least one span")
    return out


def _span_positions(span: Any, what: str) -> list[int]:
    if isinstance(span, (bool, np.bool_)):
        raise TypeError(f"{what} must be a position, a (start, end) tuple or a list of positions")
    if isinstance(span, (int, np.integer)):
        return [int(span)]
    if isinstance(span, tuple):
        if len(span) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in span):
            raise TypeError(f"{what}: a tuple span must be (start, end) ints; use a list for explicit positions")
        start, end = int(span[0]), int(span[1])
        if start < 0 or end < 0:
            raise ValueError(f"{what}: (start, end) bounds must be non-negative; use a list for negative positions")
        if end <= start:
            raise ValueError(f"{what} is empty or reversed (end must exceed start)")
        return list(range(start, end))
    if isinstance(span, (list, range, np.ndarray, torch.Tensor)):
        vals = span.tolist() if hasattr(span, "tolist") else list(span)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            raise TypeError(f"{what}: positions must be ints")
        return [int(v) for v in vals]
    raise TypeError(f"{what} must be a position, a (start, end) tuple or a list of positions")


def word_spans(pieces: Sequence[str], *, start: int = 0, markers: str = " Ġ▁") -> list[tuple[int, ...]]:
    """Group sub-word token strings into word spans.

    A new word starts at a piece that begins with one of ``markers`` (space, GPT-2's ``Ġ``, SentencePiece's
    ``▁``) or is alphanumeric after a piece that is not.

    Parameters
    ----------
    pieces : sequence of str
        The token strings of one prompt, in order.
    start : int, default 0
        Leading positions skipped (e.g. BOS).
    markers : str, default " Ġ▁"
        Characters that start a new word.

    Returns
    -------
    list of tuple of int
        One tuple of positions per word, usable as ``spans=``.
    """
    spans: list[list[int]] = []
    for pos in range(start, len(pieces)):
        piece = pieces[pos]
        new_word = not spans or (piece[:1] in markers) or not piece[:1].isalnum() or not pieces[pos - 1][-1:].isalnum()
        if new_word:
            spans.append([pos])
        else:
            spans[-1].append(pos)
    return [tuple(s) for s in spans]


# ---------------------------------------------------------------------------------------------- labels
def _decoder(model: Any, decode: Any) -> Callable[[int], str]:
    if decode is not None:
        if callable(decode):
            return lambda i: str(decode(int(i)))
        vocab = list(decode)
        return lambda i: vocab[int(i)] if 0 <= int(i) < len(vocab) else str(int(i))
    tok = getattr(model, "tokenizer", None)
    if tok is not None and hasattr(tok, "decode"):
        return lambda i: tok.decode([int(i)])
    return lambda i: str(int(i))


def _span_name(span: tuple[int, ...]) -> str:
    if len(span) == 1:
        return str(span[0])
    if span == tuple(range(span[0], span[-1] + 1)):
        return f"{span[0]}-{span[-1]}"
    return ",".join(str(p) for p in span)


def _span_id(prefix: str, span: tuple[int, ...]) -> str:
    if len(span) == 1:
        return f"{prefix}[{span[0]}]"
    if span == tuple(range(span[0], span[-1] + 1)):
        return f"{prefix}[{span[0]}:{span[-1] + 1}]"
    return f"{prefix}[{','.join(str(p) for p in span)}]"


def _baseline_id(model: Any, mask: Any) -> Optional[int]:
    """Return the replacement token id for ``mask`` ("pad", "unk" or an id); None for "embed_zero"."""
    if isinstance(mask, str):
        if mask == "embed_zero":
            return None
        if mask not in MASK_KINDS:
            raise ValueError(f"mask must be one of {', '.join(MASK_KINDS)} or a token id, got {mask!r}")
        tok = getattr(model, "tokenizer", None)
        attr = f"{mask}_token_id"
        value = getattr(tok, attr, None) if tok is not None else None
        if value is None:
            value = getattr(getattr(model, "cfg", None), attr, None)
        if value is None:
            raise ValueError(
                f"mask={mask!r}: the model has no {mask} token (no tokenizer {attr}); "
                "pass mask=<token id> or mask='embed_zero'"
            )
        return int(value)
    if isinstance(mask, (bool, np.bool_)) or not isinstance(mask, (int, np.integer)):
        raise TypeError(f"mask must be 'pad', 'unk', 'embed_zero' or an int token id, got {mask!r}")
    vocab = model_dims(model)["d_vocab"]
    if mask < 0 or (vocab is not None and mask >= vocab):
        raise ValueError(f"mask token id {mask} is outside the vocabulary [0, {vocab})")
    return int(mask)


# ---------------------------------------------------------------------------------------------- units
def TokenUnits(
    model: Any,
    tokens: Any,
    spans: Optional[Sequence[SpanLike]] = None,
    mask: Union[str, int] = "pad",
    *,
    prompt_length: Optional[int] = None,
    names: Optional[Sequence[str]] = None,
    decode: Optional[Union[Callable[[int], str], Sequence[str]]] = None,
) -> UnitSet:
    """Make one unit per token or span of the prompt.

    Parameters
    ----------
    model : Any
        The model the game will run (for its tokenizer, vocabulary and hook names).
    tokens : array-like, str, sequence of str, or TeacherForced
        The ids the game runs, [pos] or [prompts, pos] (all prompts share the layout), strings (needs a
        tokenizer), or a :class:`TeacherForced` from :func:`original_output` (then the units cover its
        prompt part only).
    spans : sequence, optional
        ``None`` (every prompt position is a unit) or a list of spans: an int position, a ``(start, end)``
        tuple (half-open range) or a list of positions. Spans may not overlap.
    mask : str or int, default "pad"
        ``"pad"`` / ``"unk"`` (the tokenizer's token) or an int id: ablated positions get that token;
        ``"embed_zero"``: the token embedding at those positions is zeroed at ``hook_embed``.
    prompt_length : int, optional
        Positions ``[0, prompt_length)`` may be units (default: all of ``tokens``).
    names : sequence of str, optional
        Labels' text per unit (default: the decoded tokens of the first prompt).
    decode : callable or sequence of str, optional
        Id → string (a callable or a vocabulary list) when the model has no tokenizer.

    Returns
    -------
    UnitSet
        Ids like ``tokens[5]`` / ``tokens[3:6]`` (``hook_embed[...]`` for ``embed_zero``), labels like
        ``tok5:"not"`` or ``tok3-5:"not very good"``.

    Raises
    ------
    ValueError
        If a span, ``prompt_length``, ``names`` or the mask token does not fit the prompt or the model.
    TypeError
        If ``spans`` or ``mask`` has the wrong type.
    """
    if isinstance(tokens, TeacherForced):
        if prompt_length is None:
            prompt_length = tokens.prompt_length
        tokens = tokens.tokens
    ids_matrix = _as_token_matrix(model, tokens)
    length = int(ids_matrix.shape[1])
    if prompt_length is None:
        prompt_length = length
    if not isinstance(prompt_length, (int, np.integer)) or not 0 < prompt_length <= length:
        raise ValueError(f"prompt_length must be in 1..{length}, got {prompt_length!r}")
    resolved = resolve_spans(spans, int(prompt_length))
    if names is not None and len(names) != len(resolved):
        raise ValueError(f"{len(names)} names given for {len(resolved)} spans")
    vocab = model_dims(model)["d_vocab"]
    if vocab is not None and (int(ids_matrix.max()) >= vocab or int(ids_matrix.min()) < 0):
        raise ValueError(f"tokens contain ids outside the vocabulary [0, {vocab})")

    baseline = _baseline_id(model, mask)
    show = _decoder(model, decode)
    first = ids_matrix[0].tolist()
    prefix = EMBED_HOOK if baseline is None else "tokens"
    ids, labels = [], []
    for j, span in enumerate(resolved):
        text = names[j] if names is not None else " ".join(show(first[p]).strip() or show(first[p]) for p in span)
        ids.append(_span_id(prefix, span))
        labels.append(f'tok{_span_name(span)}:"{text}"')
    positions = tuple(p for span in resolved for p in span)
    columns = tuple(j for j, span in enumerate(resolved) for _ in span)
    if baseline is None:
        require_hook(model, EMBED_HOOK)
        site = Site(EMBED_HOOK, dim=1, size=length, slices=positions, columns=columns, ablation="zero")
        return UnitSet(ids=ids, labels=labels, sites=[site], model=model)
    token_site = TokenSite(positions=positions, columns=columns, baseline=baseline)
    return UnitSet(ids=ids, labels=labels, token_sites=[token_site], model=model)


# `TokenUnits.teacher_forced(model, prompt, max_new_tokens)`: the same helper, found from the units.
TokenUnits.teacher_forced = original_output  # type: ignore[attr-defined]
