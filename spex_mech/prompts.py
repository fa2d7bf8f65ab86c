"""Prompts as the engine runs them: each prompt's real tokens, left-aligned, plus its length.

Prompts arrive as strings of different lengths, as token ids padded on the right or the left (the
tokenizer's ``padding_side``, or an explicit ``attention_mask``), or as ragged lists of ids. The engine
evaluates every prompt *as if it ran alone*: :func:`prepare_prompts` moves each prompt's real tokens to
positions ``0 .. length−1`` (so position ids are those of a lone run, whatever the padding side was) and
fills the rest of the row with a filler id. In a causal model a real token never attends to a later
position, so the filler is never attended to; the engine never reads it either (metrics read real
positions only, and mean / mean_tokenwise references average real positions only).

How padding is recognised, by input:

* strings: each string is tokenized alone (``model.to_tokens(s)``), so there is no padding to guess;
* ids with ``attention_mask`` (1 = real, 0 = padding; the real tokens of a row must be contiguous);
* ids without a mask, on a model whose tokenizer has a ``pad_token_id``: the run of pad ids at the
  tokenizer's padding side (or ``padding_side=``) is padding; when BOS and PAD share an id and the model
  prepends BOS, the pad run's innermost id is the BOS and stays (as TransformerLens' own rule);
* ragged Python lists of ids: each row as given;
* ids on a model without a tokenizer: every position is real.

>>> p = prepare_prompts(model, ["When Mary and John went to the store,", "Hi"])
>>> p.tokens.shape, p.lengths.tolist()                 # (2, 11), [11, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

__all__ = ["Prompts", "prepare_prompts", "single_token_id"]


@dataclass(frozen=True)
class Prompts:
    """Left-aligned prompt ids ``tokens`` [P, L] (L = the longest prompt) and each prompt's ``lengths`` [P].

    Positions ``lengths[p] ..`` of row ``p`` hold ``filler`` and are never read or attended to.

    Attributes
    ----------
    tokens : torch.Tensor
        Ids [P, L] (long).
    lengths : torch.Tensor
        Real tokens per prompt [P], each in [1, L].
    filler : int, default 0
        The id written after each prompt's end.

    Raises
    ------
    ValueError
        If the shapes disagree or a length is outside [1, L].
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    filler: int = 0

    def __post_init__(self) -> None:
        if self.tokens.ndim != 2 or self.lengths.shape != (self.tokens.shape[0],):
            raise ValueError(
                f"Prompts: tokens {tuple(self.tokens.shape)} and lengths {tuple(self.lengths.shape)} disagree"
            )
        if self.tokens.shape[0] and (int(self.lengths.min()) < 1 or int(self.lengths.max()) > self.tokens.shape[1]):
            raise ValueError("Prompts: every prompt needs between 1 and L real tokens")

    @property
    def n_prompts(self) -> int:
        """Number of prompts P."""
        return int(self.tokens.shape[0])

    @property
    def length(self) -> int:
        """Length L of the longest prompt."""
        return int(self.tokens.shape[1])

    @property
    def ragged(self) -> bool:
        """True when some prompt is shorter than the longest one."""
        return bool((self.lengths < self.length).any())

    @property
    def valid(self) -> torch.Tensor:
        """Bool [P, L]: True at real tokens."""
        return torch.arange(self.length, device=self.lengths.device)[None, :] < self.lengths[:, None]

    def to(self, device: Any) -> "Prompts":
        """Return the prompts on ``device``.

        Parameters
        ----------
        device : torch.device or str
            The target device.

        Returns
        -------
        Prompts
            A copy on that device.
        """
        return Prompts(self.tokens.to(device), self.lengths.to(device), self.filler)

    def select(self, rows: Sequence[int] | torch.Tensor) -> "Prompts":
        """Return the prompts ``rows``, trimmed to their own longest length.

        Parameters
        ----------
        rows : sequence of int or torch.Tensor
            Prompt indices.

        Returns
        -------
        Prompts
            The selected prompts.
        """
        idx = torch.as_tensor(rows, dtype=torch.long, device=self.tokens.device).reshape(-1)
        lengths = self.lengths[idx]
        width = int(lengths.max())
        return Prompts(self.tokens[idx, :width].clone(), lengths.clone(), self.filler)

    def rows(self) -> list[list[int]]:
        """Each prompt's real ids, as lists."""
        return [self.tokens[i, : int(n)].tolist() for i, n in enumerate(self.lengths)]


def _tokenizer(model: Any) -> Any:
    return getattr(model, "tokenizer", None)


def _filler(model: Any) -> int:
    tok = _tokenizer(model)
    pad = getattr(tok, "pad_token_id", None) if tok is not None else None
    return int(pad) if isinstance(pad, int) else 0


def _prepends_bos(model: Any) -> bool:
    return bool(getattr(getattr(model, "cfg", None), "default_prepend_bos", True))


def _is_strings(x: Any) -> bool:
    return isinstance(x, str) or (isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(t, str) for t in x))


def _from_rows(rows: list[list[int]], filler: int, what: str) -> Prompts:
    if not rows:
        raise ValueError(f"{what}: the prompt set is empty: pass at least one prompt")
    for i, r in enumerate(rows):
        if len(r) == 0:
            raise ValueError(f"{what}: prompt {i} has no tokens")
    width = max(len(r) for r in rows)
    tokens = torch.full((len(rows), width), filler, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    return Prompts(tokens, lengths, filler)


def _check_ids(t: torch.Tensor, what: str) -> torch.Tensor:
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"{what} must be [prompts, positions], got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{what}: the prompt set is empty: pass at least one prompt")
    if t.shape[1] == 0:
        raise ValueError(f"{what}: the prompts are empty (zero positions)")
    if t.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{what} must be integer ids, got dtype {t.dtype}")
    return t.long()


def _rows_from_mask(ids: torch.Tensor, mask: torch.Tensor, what: str) -> list[list[int]]:
    mask = torch.as_tensor(mask)
    if mask.ndim == 1:
        mask = mask[None]
    if tuple(mask.shape) != tuple(ids.shape):
        raise ValueError(f"{what}: attention_mask has shape {tuple(mask.shape)}, the ids have shape {tuple(ids.shape)}")
    if mask.is_floating_point() and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{what}: attention_mask must hold 0 (padding) and 1 (real token) only")
    keep = mask.bool().cpu()
    rows = []
    for i in range(ids.shape[0]):
        where = keep[i].nonzero().flatten()
        if where.numel() == 0:
            raise ValueError(f"{what}: prompt {i} has no real token (its attention_mask row is all 0)")
        first, last = int(where[0]), int(where[-1])
        if where.numel() != last - first + 1:
            raise ValueError(
                f"{what}: prompt {i}'s real tokens are not contiguous in attention_mask (padding inside a prompt)"
            )
        rows.append(ids[i, first : last + 1].tolist())
    return rows


def _rows_from_pad(model: Any, ids: torch.Tensor, padding_side: Optional[str], what: str) -> Optional[list[list[int]]]:
    """Strip the pad run at the padding side (TransformerLens' rule); None when nothing is padding."""
    tok = _tokenizer(model)
    pad = getattr(tok, "pad_token_id", None) if tok is not None else None
    if not isinstance(pad, int):
        return None
    side = padding_side or getattr(tok, "padding_side", "right") or "right"
    if side not in ("left", "right"):
        raise ValueError(f"{what}: padding_side must be 'left' or 'right', got {side!r}")
    bos_is_pad = _prepends_bos(model) and getattr(tok, "bos_token_id", None) == pad
    is_pad = (ids == pad).cpu()
    if not bool(is_pad.any()):
        return None
    rows = []
    for i in range(ids.shape[0]):
        row = is_pad[i] if side == "left" else is_pad[i].flip(0)
        run = int(torch.cumprod(row.long(), 0).sum())
        if side == "left":
            start = run - 1 if bos_is_pad and run > 0 else run
            r = ids[i, start:].tolist()
        else:
            end = ids.shape[1] - run
            if end == 0 and bos_is_pad:
                end = 1  # a lone BOS, then padding
            r = ids[i, :end].tolist()
        if not r:
            raise ValueError(f"{what}: prompt {i} is all padding (pad id {pad})")
        rows.append(r)
    return rows


def prepare_prompts(
    model: Any,
    prompts: Any,
    *,
    attention_mask: Any = None,
    padding_side: Optional[str] = None,
    what: str = "tokens",
) -> Prompts:
    """Turn prompts (strings, padded ids, ragged id lists or a :class:`Prompts`) into left-aligned :class:`Prompts`.

    Parameters
    ----------
    model : Any
        The model (its ``to_tokens`` / ``tokenizer`` are used for strings and for recognising padding).
    prompts : Any
        One string, a list of strings, ids ``[P, L]`` (tensor, array or equal-length lists), a list of id
        lists of different lengths, or a :class:`Prompts` (returned as is).
    attention_mask : array_like, optional
        ``[P, L]`` 0/1 mask for id input (1 = real token).
    padding_side : str, optional
        Overrides the tokenizer's ``padding_side`` when recognising pad ids in id input.
    what : str, default "tokens"
        Name used in error messages (``"tokens"``, ``"reference"``).

    Returns
    -------
    Prompts
        The prompts, each as if it ran alone.

    Raises
    ------
    ValueError
        An empty prompt set or prompt, bad ids, or a prompt longer than the model's context ``cfg.n_ctx``
        (strings are tokenized without truncation, so a long prompt is an error, never silently cut).
    """
    out = _prepare(model, prompts, attention_mask=attention_mask, padding_side=padding_side, what=what)
    n_ctx = getattr(getattr(model, "cfg", None), "n_ctx", None)
    if isinstance(n_ctx, int) and out.n_prompts and int(out.lengths.max()) > n_ctx:
        i = int(out.lengths.argmax())
        raise ValueError(
            f"{what}: prompt {i} has {int(out.lengths[i])} tokens, longer than the model's context n_ctx={n_ctx} "
            "(shorten it; nothing is truncated silently)"
        )
    return out


def _to_tokens_untruncated(model: Any, text: str) -> Any:
    try:
        return model.to_tokens(text, truncate=False)
    except TypeError:  # a to_tokens without the truncate keyword
        return model.to_tokens(text)


def _prepare(model: Any, prompts: Any, *, attention_mask: Any, padding_side: Optional[str], what: str) -> Prompts:
    if isinstance(prompts, Prompts):
        if attention_mask is not None:
            raise ValueError(f"{what}: attention_mask given with a Prompts object (it already knows its lengths)")
        return prompts
    filler = _filler(model)
    if _is_strings(prompts):
        if attention_mask is not None:
            raise ValueError(f"{what}: attention_mask applies to token ids, not to strings")
        if not hasattr(model, "to_tokens") or _tokenizer(model) is None:
            raise TypeError(f"{what}: string prompts need a model with a tokenizer (to_tokens); pass token ids instead")
        texts = [prompts] if isinstance(prompts, str) else list(prompts)
        rows = []
        for i, text in enumerate(texts):
            ids = torch.as_tensor(_to_tokens_untruncated(model, text)).reshape(-1)
            if ids.numel() == 0:
                raise ValueError(f"{what}: prompt {i} ({text!r}) tokenizes to nothing")
            rows.append(ids.cpu().tolist())
        return _from_rows(rows, filler, what)
    if isinstance(prompts, (list, tuple)) and prompts and all(isinstance(r, (list, tuple)) for r in prompts):
        if len({len(r) for r in prompts}) > 1:
            if attention_mask is not None:
                raise ValueError(f"{what}: attention_mask given with ragged id lists (they need none)")
            rows = [list(r) for r in prompts]
            for i, r in enumerate(rows):
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in r):
                    raise TypeError(f"{what}: prompt {i} holds something other than integer token ids")
            return _from_rows(rows, filler, what)
    ids = _check_ids(torch.as_tensor(prompts), what).cpu()
    if attention_mask is not None:
        rows = _rows_from_mask(ids, attention_mask, what)
    else:
        rows = _rows_from_pad(model, ids, padding_side, what)
        if rows is None:
            return Prompts(ids.clone(), torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long), filler)
    return _from_rows(rows, filler, what)


def single_token_id(model: Any, answer: str, what: str) -> int:
    """Return the id of a one-token answer string (no BOS).

    Parameters
    ----------
    model : Any
        The model (its tokenizer is used).
    answer : str
        The answer string.
    what : str
        Name used in error messages (e.g. ``"[metric] target"``).

    Returns
    -------
    int
        The token id.

    Raises
    ------
    TypeError
        If the model has no tokenizer.
    ValueError
        If the answer is not exactly one token (the message shows its tokenization).
    """
    if not hasattr(model, "to_tokens") or _tokenizer(model) is None:
        raise TypeError(f"{what}: the answer {answer!r} is a string, but the model has no tokenizer; pass token ids")
    ids = torch.as_tensor(model.to_tokens(answer, prepend_bos=False)).reshape(-1).tolist()
    if len(ids) != 1:
        tok = _tokenizer(model)
        try:
            pieces = tok.convert_ids_to_tokens(ids)
        except Exception:  # noqa: BLE001 - only for the message
            pieces = ids
        raise ValueError(
            f"{what}: the answer {answer!r} is {len(ids)} tokens {pieces} (ids {ids}), not one; "
            "give a single-token answer (e.g. with or without a leading space)"
        )
    return int(ids[0])
