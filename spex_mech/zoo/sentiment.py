"""A small transformer that classifies a synthetic sentiment language with negation (feature-lens demo).

The language: one or two clauses ``det noun verb [negator] [intensifier] adjective`` joined by ``and`` /
``but``, optionally opened by an adverb, then ``<sep>``; the model predicts the label token at ``<sep>``.
A clause scores +1 (positive adjective) or −1 (negative adjective), flipped by a negator; the label is
``positive`` / ``negative`` / ``neutral`` by the sign of the sum.

Training also shows *masked* sentences: words replaced by ``<pad>`` (the feature lens's baseline token),
labelled by the same rule on what is left (a masked adjective scores 0, a masked negator flips nothing).
So the model's behaviour on ablated prompts is defined, and the ground truth of every feature-lens
question is known: in ``the movie was not good``, ``not`` and ``good`` act only jointly
(log p(negative) needs both), a pure interaction that first-order attribution cannot show.

Length: one zoo model (its language and labelling rule, the training data drawn from them, training, and
the feature-lens game), each piece a few lines that the others use; past 400 lines because of the
numpydoc docstrings.
"""

from __future__ import annotations

import time
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ._bridge import build_native, load_model, save_model

__all__ = [
    "VOCAB",
    "CONFIG",
    "PAD",
    "BOS",
    "SEP",
    "LABELS",
    "encode",
    "decode",
    "rule_label",
    "sample_batch",
    "train",
    "save",
    "load",
    "accuracy",
    "prompt",
    "word_units",
    "game",
]

SPECIAL = ["<pad>", "<bos>", "<sep>"]
LABEL_WORDS = ["positive", "negative", "neutral"]
NEGATORS = ["not", "never"]
INTENSIFIERS = ["very", "really", "so"]
POSITIVE = ["good", "great", "fun", "nice", "lovely", "brilliant"]
NEGATIVE = ["bad", "awful", "boring", "dull", "poor", "terrible"]
DETS = ["the", "this", "that"]
NOUNS = ["movie", "film", "plot", "acting", "story", "cast", "music", "ending"]
VERBS = ["was", "is", "seemed", "felt"]
CONJ = ["and", "but"]
OPENERS = ["honestly", "overall", "frankly"]

VOCAB: list[str] = (
    SPECIAL + LABEL_WORDS + NEGATORS + INTENSIFIERS + POSITIVE + NEGATIVE + DETS + NOUNS + VERBS + CONJ + OPENERS
)
_ID = {w: i for i, w in enumerate(VOCAB)}
PAD, BOS, SEP = _ID["<pad>"], _ID["<bos>"], _ID["<sep>"]
LABELS = {"positive": _ID["positive"], "negative": _ID["negative"], "neutral": _ID["neutral"]}
POLARITY = {**{_ID[w]: 1 for w in POSITIVE}, **{_ID[w]: -1 for w in NEGATIVE}}
NEGATOR_IDS = {_ID[w] for w in NEGATORS}

MAX_WORDS = 1 + 6 + 1 + 6  # opener + clause + conjunction + clause
CONFIG = dict(
    d_model=64,
    d_head=16,
    n_heads=4,
    n_layers=2,
    n_ctx=MAX_WORDS + 2,
    d_vocab=len(VOCAB),
    d_mlp=128,
    act_fn="gelu",
    attn_only=False,
    normalization_type="LN",
    seed=0,
)


def encode(sentence: str | Sequence[str]) -> list[int]:
    """Encode a sentence as ids: ``"the movie was not good"`` → ``[<bos>, the, movie, was, not, good, <sep>]``.

    Parameters
    ----------
    sentence : str or sequence of str
        The sentence, as one string or its words.

    Returns
    -------
    list of int
        The ids.

    Raises
    ------
    ValueError
        If a word is outside the vocabulary.
    """
    words = sentence.split() if isinstance(sentence, str) else list(sentence)
    unknown = [w for w in words if w not in _ID]
    if unknown:
        raise ValueError(f"words outside the sentiment vocabulary: {unknown}")
    return [BOS] + [_ID[w] for w in words] + [SEP]


def decode(ids: Sequence[int]) -> str:
    """Decode ids into words joined by spaces.

    Parameters
    ----------
    ids : sequence of int
        Token ids.

    Returns
    -------
    str
        The text.
    """
    return " ".join(VOCAB[int(i)] for i in ids)


def rule_label(words: Sequence[int], kept: Optional[Sequence[bool]] = None) -> int:
    """Return the ground-truth label id of a sentence with some words masked.

    Clauses are split at the conjunctions of the *unmasked* sentence; in each clause a kept adjective
    scores its polarity, flipped if the clause's negator is kept.

    Parameters
    ----------
    words : sequence of int
        Word ids (no ``<bos>`` / ``<sep>``).
    kept : sequence of bool, optional
        Which words are kept (None keeps every word).

    Returns
    -------
    int
        The label's token id.
    """
    words = [int(t) for t in words]
    kept = [True] * len(words) if kept is None else [bool(k) for k in kept]
    if len(kept) != len(words):
        raise ValueError(f"{len(kept)} mask entries for {len(words)} words")
    total = 0
    polarity, negated = 0, False
    for t, keep in zip(words + [_ID["and"]], kept + [True]):
        if t in (_ID["and"], _ID["but"]):
            total += -polarity if negated else polarity
            polarity, negated = 0, False
        elif keep and t in NEGATOR_IDS:
            negated = True
        elif keep and t in POLARITY:
            polarity = POLARITY[t]
    if total > 0:
        return LABELS["positive"]
    if total < 0:
        return LABELS["negative"]
    return LABELS["neutral"]


def _clause(rng: np.random.Generator) -> list[int]:
    words = [rng.choice(DETS), rng.choice(NOUNS), rng.choice(VERBS)]
    if rng.random() < 0.5:
        words.append(rng.choice(NEGATORS))
    if rng.random() < 0.3:
        words.append(rng.choice(INTENSIFIERS))
    words.append(rng.choice(POSITIVE if rng.random() < 0.5 else NEGATIVE))
    return [_ID[w] for w in words]


def sample_sentence(rng: np.random.Generator) -> list[int]:
    """Draw the word ids of one random sentence (no ``<bos>`` / ``<sep>``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The random source.

    Returns
    -------
    list of int
        Word ids.
    """
    words: list[int] = []
    if rng.random() < 0.3:
        words.append(_ID[rng.choice(OPENERS)])
    words += _clause(rng)
    if rng.random() < 0.5:
        words.append(_ID[rng.choice(CONJ)])
        words += _clause(rng)
    return words


def sample_batch(
    batch: int, rng: np.random.Generator, *, mask_share: float = 0.6, max_mask_rate: float = 0.7
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw training data.

    A ``mask_share`` of the sentences have each word replaced by ``<pad>`` with a per-sentence rate drawn
    from U(0, max_mask_rate); labels follow the rule on the masked sentence.

    Parameters
    ----------
    batch : int
        Number of sentences.
    rng : numpy.random.Generator
        The random source.
    mask_share : float, default 0.6
        Share of sentences with masked words.
    max_mask_rate : float, default 0.7
        Largest per-sentence masking rate.

    Returns
    -------
    tokens : numpy.ndarray
        Ids [B, n_ctx], right-padded.
    sep : numpy.ndarray
        The ``<sep>`` position [B].
    labels : numpy.ndarray
        Rule label ids [B].
    """
    length = CONFIG["n_ctx"]
    tokens = np.full((batch, length), PAD, dtype=np.int64)
    sep = np.zeros(batch, dtype=np.int64)
    labels = np.zeros(batch, dtype=np.int64)
    for row in range(batch):
        words = np.array(sample_sentence(rng), dtype=np.int64)
        kept = np.ones(words.shape[0], dtype=bool)
        if rng.random() < mask_share:
            rate = rng.random() * max_mask_rate
            kept = rng.random(words.shape[0]) >= rate
        seq = [BOS] + np.where(kept, words, PAD).tolist() + [SEP]
        tokens[row, : len(seq)] = seq
        sep[row] = len(seq) - 1
        labels[row] = rule_label(words, kept)
    return tokens, sep, labels


def train(
    steps: int = 3000,
    batch: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    log_every: int = 250,
    verbose: bool = True,
) -> tuple[Any, list[dict[str, float]]]:
    """Train the sentiment model from scratch (on CPU; its duration is noted in benchmarks/results/measured_notes.md).

    Parameters
    ----------
    steps : int, default 3000
        Optimiser steps.
    batch : int, default 128
        Sentences per step.
    lr : float, default 2e-3
        Learning rate.
    weight_decay : float, default 0.01
        AdamW weight decay.
    seed : int, default 0
        Seed of the data and the initialisation.
    log_every : int, default 250
        Steps between history records.
    verbose : bool, default True
        Print the history records.

    Returns
    -------
    model : Any
        The trained model.
    history : list of dict
        Training records.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_native({**CONFIG, "seed": seed})
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    history = []
    start = time.time()
    for step in range(1, steps + 1):
        toks, sep, labels = (torch.from_numpy(a) for a in sample_batch(batch, rng))
        logits = model(toks)
        at_sep = logits[torch.arange(batch), sep]
        loss = torch.nn.functional.cross_entropy(at_sep.float(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            acc = float((at_sep.argmax(-1) == labels).float().mean())
            seconds = round(time.time() - start, 1)
            record = {"step": step, "seconds": seconds, "loss": float(loss.detach()), "accuracy": acc}
            history.append(record)
            if verbose:
                print(record, flush=True)
    model.eval()
    return model, history


def save(model: Any, folder: str, history: Optional[list[dict[str, float]]] = None, **extra: Any) -> None:
    """Save the model with its vocabulary and training history.

    Parameters
    ----------
    model : Any
        The model.
    folder : str
        The target folder.
    history : list of dict, optional
        Training records.
    **extra : Any
        More entries for ``config.json``.
    """
    save_model(model, CONFIG, folder, extra={"vocab": VOCAB, "history": history or [], **extra})


def load(device: str | torch.device = "cpu") -> Any:
    """Load the committed sentiment model (offline).

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

    model, doc = load_model(weights_dir("sentiment"), device=device)
    if doc.get("vocab") != VOCAB:
        raise ValueError("the committed sentiment weights were trained on a different vocabulary")
    return model


@torch.no_grad()
def accuracy(model: Any = None, n: int = 2000, seed: int = 1, *, mask_share: float = 0.0) -> float:
    """Return the share of fresh sentences (``mask_share`` of them masked) whose label the model gets right.

    Parameters
    ----------
    model : Any, optional
        The model (default: :func:`load`).
    n : int, default 2000
        Number of sentences.
    seed : int, default 1
        Seed of the sentences.
    mask_share : float, default 0.0
        Share of sentences with masked words.

    Returns
    -------
    float
        The accuracy.
    """
    model = model if model is not None else load()
    rng = np.random.default_rng(seed)
    toks, sep, labels = sample_batch(n, rng, mask_share=mask_share)
    logits = model(torch.from_numpy(toks))
    pred = logits[torch.arange(n), torch.from_numpy(sep)].argmax(-1).numpy()
    return float(np.mean(pred == labels))


def prompt(sentence: str | Sequence[str]) -> torch.Tensor:
    """Return the prompt ids for a sentence: ``<bos>`` words ``<sep>``.

    Parameters
    ----------
    sentence : str or sequence of str
        The sentence, as one string or its words.

    Returns
    -------
    torch.Tensor
        Ids [1, words + 2].
    """
    return torch.tensor([encode(sentence)], dtype=torch.long)


def word_units(sentence: str | Sequence[str], model: Any = None, mask: str | int = PAD, **kwargs: Any):
    """Make :func:`~spex_mech.units.tokens.TokenUnits` with one unit per word (``<bos>`` and ``<sep>`` excluded).

    Parameters
    ----------
    sentence : str or sequence of str
        The sentence, as one string or its words.
    model : Any, optional
        The model (default: :func:`load`).
    mask : str or int, default PAD
        The masking token id, or ``"embed_zero"``.
    **kwargs : Any
        Passed to ``TokenUnits``.

    Returns
    -------
    UnitSet
        The word units.
    """
    from ..units.tokens import TokenUnits

    model = model if model is not None else load()
    ids = prompt(sentence)
    spans = list(range(1, ids.shape[1] - 1))
    return TokenUnits(model, ids, spans=spans, mask=mask, decode=VOCAB, **kwargs)


def game(sentence: str | Sequence[str], model: Any = None, *, mask: str | int = PAD, **kwargs: Any):
    """Build the feature-lens game on one sentence: f(mask) = log p(the model's original label | masked words).

    Words are replaced by ``<pad>`` (the token the model saw for masked words in training) or, with
    ``mask="embed_zero"``, their embeddings are zeroed. One teacher-forced forward pass per mask.

    Parameters
    ----------
    sentence : str or sequence of str
        The sentence, as one string or its words.
    model : Any, optional
        The model (default: :func:`load`).
    mask : str or int, default PAD
        The masking token id, or ``"embed_zero"``.
    **kwargs : Any
        Passed to :class:`~spex_mech.AblationGame`.

    Returns
    -------
    AblationGame
        The game.
    """
    from ..engine import AblationGame
    from ..units.tokens import original_output

    model = model if model is not None else load()
    out = original_output(model, prompt(sentence), max_new_tokens=1)
    units = word_units(sentence, model, mask=mask)
    return AblationGame(model, units, out.tokens, out.metric(), ablation="zero", **kwargs)
