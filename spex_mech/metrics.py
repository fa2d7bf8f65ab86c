"""Metrics: what a masked forward pass is scored by.

A metric names the prompt positions it reads, so the engine unembeds only those positions (never
all positions × the whole vocabulary). It receives logits ``[mask, prompt, k, d_vocab]`` for the ``k``
read positions and returns one value per (mask, prompt); the game averages over prompts.

Positions: an int (``-1`` = each prompt's last real token), a list of ints shared by every prompt, or
one list per prompt (ragged lists are fine). Targets: an int, one id per prompt, or one list per prompt aligned with its
positions, or answer strings (``" good"``) that must each be one token. ``target=None`` means "the
prompt's own next token" at each read position and, at a prompt's last real token (the default read
position, where there is no next token), the clean model's own top-1 prediction there.

>>> metrics.logit_diff(correct=[5, 9], incorrect=[7, 2])          # per-prompt answer ids
>>> metrics.logit_diff(" Mary", " John")                           # answer strings (one token each)
>>> metrics.logprob(position=[[10, 11, 12], [8, 9]])               # next-token log-prob, ragged
>>> metrics.custom(lambda logits: logits[..., -1, 3])              # any callable on the logits

Length: one job (what a game's forward pass is scored by: position and target resolution, the
:class:`Metric` base, four metrics and their public constructors with numpydoc sections).
"""

from __future__ import annotations

import abc

from typing import Any, Callable, Optional

import torch

__all__ = [
    "Metric",
    "logit_diff",
    "logprob",
    "prob",
    "kl_divergence",
    "custom",
    "as_metric",
]


def _is_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (hasattr(x, "ndim") and getattr(x, "ndim", 0) >= 1)


def _tolist(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    return x


def _resolve_positions(
    position: Any, n_prompts: int, length: int, lengths: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions as LongTensor [P, k] plus a validity mask (ragged per-prompt lists are padded).

    With ``lengths`` (each prompt's real length), negative positions count back from each prompt's own
    last real token and every position must fall on a real token.
    """
    position = _tolist(position)
    if isinstance(position, int):
        rows = [[position]] * n_prompts
    elif _is_seq(position) and all(isinstance(p, int) for p in position):
        if not position:
            raise ValueError("the metric reads no positions")
        rows = [list(position)] * n_prompts
    elif _is_seq(position) and all(_is_seq(p) for p in position):
        rows = [list(_tolist(p)) for p in position]
        if len(rows) != n_prompts:
            raise ValueError(f"per-prompt positions given for {len(rows)} prompts, but there are {n_prompts}")
    else:
        raise TypeError(f"cannot read metric positions from {position!r}")
    width = max(len(r) for r in rows)
    if width == 0:
        raise ValueError("the metric reads no positions")
    pos = torch.zeros((n_prompts, width), dtype=torch.long)
    valid = torch.zeros((n_prompts, width), dtype=torch.bool)
    for i, r in enumerate(rows):
        if not r:
            raise ValueError(f"the metric reads no positions of prompt {i}")
        own = length if lengths is None else int(lengths[i])
        for j, p in enumerate(r):
            q = int(p) + own if int(p) < 0 else int(p)
            if not 0 <= q < own:
                raise ValueError(f"metric position {p} is outside prompt {i} (length {own})")
            pos[i, j] = q
            valid[i, j] = True
    return pos, valid


def _encode_answers(target: Any, encode: Optional[Callable[[str], int]], what: str) -> Any:
    """Answer strings → token ids (each must be one token); ids and nested lists pass through."""
    target = _tolist(target)
    if isinstance(target, str):
        if encode is None:
            raise TypeError(f"{what}: the answer {target!r} is a string, but no tokenizer is known; pass token ids")
        return encode(target)
    if isinstance(target, (list, tuple)):
        return [_encode_answers(t, encode, what) for t in target]
    return target


def _next_tokens(
    positions: torch.Tensor, valid: torch.Tensor, tokens: torch.Tensor, lengths: Optional[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the prompt's own next token at each read position, and where there is none (the last real token)."""
    ends = torch.full((tokens.shape[0],), tokens.shape[1]) if lengths is None else lengths.cpu()
    nxt = positions + 1
    missing = valid & (nxt >= ends[:, None])
    return torch.gather(tokens, 1, nxt.clamp(max=tokens.shape[1] - 1)), missing


def _resolve_targets(
    target: Any,
    positions: torch.Tensor,
    valid: torch.Tensor,
    tokens: torch.Tensor,
    what: str,
    lengths: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Target ids aligned with positions [P, k]; None = the next token of the prompt."""
    n_prompts, width = positions.shape
    if target is None:
        ids, missing = _next_tokens(positions, valid, tokens, lengths)
        if missing.any():
            i, j = [int(v) for v in missing.nonzero()[0]]
            raise ValueError(
                f"{what}: prompt {i} position {int(positions[i, j])} has no next token; pass an explicit target"
            )
        return ids
    target = _tolist(target)
    if isinstance(target, int):
        return torch.full((n_prompts, width), target, dtype=torch.long)
    if _is_seq(target) and all(isinstance(t, int) for t in target):
        if len(target) != n_prompts:
            raise ValueError(f"{what}: {len(target)} target ids for {n_prompts} prompts")
        return torch.tensor(target, dtype=torch.long)[:, None].expand(n_prompts, width).clone()
    if _is_seq(target) and all(_is_seq(t) for t in target):
        out = torch.zeros((n_prompts, width), dtype=torch.long)
        if len(target) != n_prompts:
            raise ValueError(f"{what}: per-prompt targets for {len(target)} prompts, but there are {n_prompts}")
        for i, row in enumerate(target):
            row = list(_tolist(row))
            if len(row) != int(valid[i].sum()):
                raise ValueError(f"{what}: prompt {i} has {len(row)} targets for {int(valid[i].sum())} positions")
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return out
    raise TypeError(f"{what}: cannot read targets from {target!r}")


class Metric(abc.ABC):
    """Base class: resolves read positions against the prompts, then scores logits at those positions.

    Parameters
    ----------
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.
    """

    needs_clean = False
    name = "metric"

    def __init__(self, position: Any = -1):
        self.position = position
        self.positions: Optional[torch.Tensor] = None
        self.valid: Optional[torch.Tensor] = None

    def bind(
        self,
        tokens: torch.Tensor,
        lengths: Optional[torch.Tensor] = None,
        encode: Optional[Callable[[str], int]] = None,
    ) -> None:
        """Resolve positions (and targets) for these prompts [P, pos].

        Parameters
        ----------
        tokens : torch.Tensor
            The prompts' token ids [P, pos], left-aligned.
        lengths : torch.Tensor, optional
            Each prompt's real length (the rest of a row is filler, never read); default: every position real.
        encode : callable, optional
            Answer string → its single token id (string targets need it).

        Raises
        ------
        ValueError
            If a read position falls outside a prompt's real tokens.
        """
        self.positions, self.valid = _resolve_positions(self.position, tokens.shape[0], tokens.shape[1], lengths)

    def to(self, device: torch.device) -> "Metric":
        """Move the metric's tensors to ``device``; return the metric.

        Parameters
        ----------
        device : torch.device
            Where the model runs.

        Returns
        -------
        Metric
            This metric.
        """
        for key, val in list(vars(self).items()):
            if isinstance(val, torch.Tensor):
                setattr(self, key, val.to(device))
        return self

    def set_clean(self, clean_logits: torch.Tensor) -> None:
        """Receive the clean logits at the read positions (for metrics that compare to them).

        Parameters
        ----------
        clean_logits : torch.Tensor
            The clean run's logits at the read positions [P, k, V].
        """

    def _reduce(self, per_position: torch.Tensor) -> torch.Tensor:
        """Mean over the valid read positions: [M, P, k] → [M, P]."""
        valid = self.valid.to(per_position.dtype)
        return (per_position * valid).sum(-1) / valid.sum(-1)

    @abc.abstractmethod
    def score(self, logits: torch.Tensor) -> torch.Tensor:
        """Score logits at the read positions (reduced over positions with ``_reduce``).

        Parameters
        ----------
        logits : torch.Tensor
            Logits [M, P, k, V] at the read positions.

        Returns
        -------
        torch.Tensor
            Values [M, P].
        """

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits [M, P, k, V] → values [M, P] (float32 or wider)."""
        return self.score(logits.float())

    def check_vocab(self, d_vocab: int) -> None:
        """Raise ValueError, naming the metric, if a target id lies outside ``[0, d_vocab)``.

        Parameters
        ----------
        d_vocab : int
            The model's vocabulary size.

        Raises
        ------
        ValueError
            If a target, correct or incorrect token id is outside the vocabulary.
        """
        for key in ("targets", "correct", "incorrect"):
            val = getattr(self, key, None)
            if isinstance(val, torch.Tensor) and val.numel() and (int(val.max()) >= d_vocab or int(val.min()) < 0):
                raise ValueError(f"{self.name}: a {key} token id is outside the vocabulary (d_vocab={d_vocab})")


class _LogitDiff(Metric):
    name = "logit_diff"

    def __init__(self, correct: Any, incorrect: Any, position: Any = -1):
        super().__init__(position)
        self._correct, self._incorrect = correct, incorrect

    def bind(self, tokens: torch.Tensor, lengths: Optional[torch.Tensor] = None, encode: Any = None) -> None:
        super().bind(tokens, lengths, encode)
        for key in ("correct", "incorrect"):
            answers = _encode_answers(getattr(self, "_" + key), encode, f"{self.name} {key}")
            setattr(self, key, _resolve_targets(answers, self.positions, self.valid, tokens, self.name, lengths))

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        m = logits.shape[0]
        c = torch.gather(logits, -1, self.correct[None, :, :, None].expand(m, -1, -1, 1))[..., 0]
        i = torch.gather(logits, -1, self.incorrect[None, :, :, None].expand(m, -1, -1, 1))[..., 0]
        return self._reduce(c - i)


class _LogProb(Metric):
    name = "logprob"

    def __init__(self, target: Any = None, position: Any = -1, probability: bool = False):
        super().__init__(position)
        self._target = target
        self.probability = probability
        self.name = "prob" if probability else "logprob"

    def bind(self, tokens: torch.Tensor, lengths: Optional[torch.Tensor] = None, encode: Any = None) -> None:
        super().bind(tokens, lengths, encode)
        self.predicted = None
        self._clean_set = False
        if self._target is None:
            # the prompt's own next token; where there is none (its last real token), the clean model's top-1
            self.targets, self.predicted = _next_tokens(self.positions, self.valid, tokens, lengths)
            self.needs_clean = bool(self.predicted.any())
        else:
            self.needs_clean = False
            answers = _encode_answers(self._target, encode, self.name)
            self.targets = _resolve_targets(answers, self.positions, self.valid, tokens, self.name, lengths)

    def set_clean(self, clean_logits: torch.Tensor) -> None:
        if self.predicted is not None and bool(self.predicted.any()):
            top1 = clean_logits.argmax(dim=-1).to(self.targets.device)
            self.targets = torch.where(self.predicted.to(self.targets.device), top1, self.targets)
        self._clean_set = True

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        if self.needs_clean and not self._clean_set:
            raise RuntimeError(f"{self.name}: targets at prompt ends come from the clean run; call set_clean first")
        return self._score(logits)

    def _score(self, logits: torch.Tensor) -> torch.Tensor:

        m = logits.shape[0]
        picked = torch.gather(logits, -1, self.targets[None, :, :, None].expand(m, -1, -1, 1))[..., 0]
        lp = picked - torch.logsumexp(logits, dim=-1)
        return self._reduce(lp.exp() if self.probability else lp)


class _KL(Metric):
    name = "kl_divergence"
    needs_clean = True

    def set_clean(self, clean_logits: torch.Tensor) -> None:
        self.clean_logp = torch.log_softmax(clean_logits.float(), dim=-1)

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, dim=-1)
        clean = self.clean_logp[None]
        kl = (clean.exp() * (clean - logp)).sum(-1)
        return self._reduce(kl)


class _Custom(Metric):
    name = "custom"

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], position: Any = -1):
        super().__init__(position)
        if not callable(fn):
            raise TypeError("custom metric needs a callable")
        self.fn = fn

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        out = self.fn(logits)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(out, device=logits.device)
        m, p = logits.shape[0], logits.shape[1]
        if out.shape == (m,):
            out = out[:, None].expand(m, p)
        if out.shape != (m, p):
            raise ValueError(
                f"custom metric returned shape {tuple(out.shape)} for logits {tuple(logits.shape)}; "
                f"expected [masks, prompts] = ({m}, {p}) or [masks] = ({m},)"
            )
        return out


def logit_diff(correct: Any, incorrect: Any, position: Any = -1) -> Metric:
    """Score logit[correct] − logit[incorrect] at the read positions (averaged over them).

    Parameters
    ----------
    correct : int, str or sequence
        One answer or one per prompt, as token ids or single-token strings (``logit_diff(" Mary", " John")``).
    incorrect : int, str or sequence
        The competing answer(s), given the same way.
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.

    Returns
    -------
    Metric
        The metric, bound to the prompts by the game.
    """
    return _LogitDiff(correct, incorrect, position)


def logprob(target: Any = None, position: Any = -1) -> Metric:
    """Score log p(target) at the read positions (``logprob(" good")``).

    Parameters
    ----------
    target : int, str, sequence, or None
        One answer or one per prompt, as token ids or single-token strings; ``None`` scores the prompt's
        own next token (at the last real token: the clean model's top-1 prediction there).
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.

    Returns
    -------
    Metric
        The metric, bound to the prompts by the game.
    """
    return _LogProb(target, position, probability=False)


def prob(target: Any = None, position: Any = -1) -> Metric:
    """Score p(target) at the read positions.

    Parameters
    ----------
    target : int, str, sequence, or None
        One answer or one per prompt, as token ids or single-token strings; ``None`` scores the prompt's
        own next token (at the last real token: the clean model's top-1 prediction there).
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.

    Returns
    -------
    Metric
        The metric, bound to the prompts by the game.
    """
    return _LogProb(target, position, probability=True)


def kl_divergence(position: Any = -1) -> Metric:
    """Score KL(clean ‖ masked) of the next-token distribution at the read positions (0 for the clean run).

    Parameters
    ----------
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.

    Returns
    -------
    Metric
        The metric, bound to the prompts by the game.
    """
    return _KL(position)


def custom(fn: Callable[[torch.Tensor], torch.Tensor], position: Any = -1) -> Metric:
    """Wrap any callable on the logits it reads as a metric.

    Parameters
    ----------
    fn : callable
        ``fn(logits[mask, prompt, k, d_vocab]) -> [mask, prompt]`` (or ``[mask]``).
    position : int, sequence of int, or one sequence per prompt, default -1
        The read positions: negative values count back from each prompt's last real token.

    Returns
    -------
    Metric
        The metric, bound to the prompts by the game.
    """
    return _Custom(fn, position)


def as_metric(metric: Any) -> Metric:
    """Return a :class:`Metric` as is; a plain callable becomes :func:`custom` at the last position.

    Parameters
    ----------
    metric : Metric or callable
        The metric to use.

    Returns
    -------
    Metric
        ``metric`` itself, or the callable wrapped by :func:`custom`.

    Raises
    ------
    TypeError
        If ``metric`` is neither a metric nor callable.
    """
    if isinstance(metric, Metric):
        return metric
    if callable(metric):
        return custom(metric)
    raise TypeError(f"metric must be a spex_mech.metrics.Metric or a callable, got {type(metric).__name__}")
