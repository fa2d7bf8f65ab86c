"""Offline Hugging Face model folders with random weights, for tests, benchmarks and notebooks.

Each builder writes a folder that ``TransformerBridge.boot_transformers(folder)`` loads exactly like a
downloaded checkpoint: ``config.json`` + weights from ``transformers``' ``save_pretrained`` and a
byte-level BPE tokenizer trained on a small fixed corpus with the ``tokenizers`` package (so words such
as ``" good"``, ``" Mary"`` and ``" John"`` are single tokens, as in GPT-2). Nothing is downloaded.

>>> folder = gpt2_folder(tmp_path / "gpt2", padding_side="left")
>>> model = boot(folder)
>>> model.to_tokens(["When Mary and John went", "Hi"])      # left-padded
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import torch

__all__ = ["CORPUS", "WORDS", "boot", "build_tokenizer", "gpt2_folder", "hf_folder", "llama_folder", "neox_folder"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: Words the tokenizer learns as single tokens (with and without a leading space).
WORDS = (
    "the a and of to in is was it that this good bad great terrible movie film very not Mary John "
    "went store gave drink when then said loved hated park play ball book read cat dog sat on mat"
).split()

#: The training corpus of the tokenizer (fixed, so every folder gets the same vocabulary).
CORPUS = [" ".join(WORDS)] * 8 + [
    "When Mary and John went to the store, John gave a drink to Mary",
    "this movie was very good",
    "this film was terrible and bad",
    "the cat sat on the mat",
    "the dog read a book in the park",
]

SPECIAL = "<|endoftext|>"


def build_tokenizer(vocab_size: int = 400, padding_side: str = "right") -> Any:
    """A GPT-2-style byte-level BPE ``PreTrainedTokenizerFast``; BOS = EOS = PAD = ``<|endoftext|>`` (id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL,
        eos_token=SPECIAL,
        pad_token=SPECIAL,
        unk_token=SPECIAL,
        padding_side=padding_side,
    )


def _save(model: Any, tokenizer: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _scale(model: Any, factor: float) -> None:
    """Random init has tiny effects; scale matrices so ablations visibly change the logits."""
    if factor == 1.0:
        return
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2 and "wte" not in name and "embed" not in name:
                p.mul_(factor)


def hf_folder(
    folder: str | Path,
    architecture: str,
    config: dict[str, Any],
    *,
    padding_side: str = "right",
    vocab_size: int = 400,
    seed: int = 0,
    scale: float = 2.0,
) -> Path:
    """Write a random-weight ``transformers`` causal LM folder of ``architecture`` with the shared tokenizer.

    ``architecture`` names the pair ``{architecture}Config`` / ``{architecture}ForCausalLM`` (``GPT2`` uses
    ``GPT2LMHeadModel``); ``config`` holds the architecture's own keyword arguments, and the vocabulary
    size and special token ids come from the tokenizer.
    """
    import transformers

    tok = build_tokenizer(vocab_size, padding_side)
    cfg = getattr(transformers, f"{architecture}Config")(
        **config,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    model_class = "GPT2LMHeadModel" if architecture == "GPT2" else f"{architecture}ForCausalLM"
    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(cfg)
    _scale(model, scale)
    return _save(model, tok, Path(folder))


def gpt2_folder(
    folder: str | Path,
    *,
    n_layer: int = 2,
    n_embd: int = 32,
    n_head: int = 4,
    n_positions: int = 64,
    padding_side: str = "right",
    vocab_size: int = 400,
    seed: int = 0,
    scale: float = 2.0,
    n_inner: Optional[int] = None,
) -> Path:
    """A random-weight ``GPT2LMHeadModel`` folder (learned absolute positions)."""
    config = dict(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions, n_inner=n_inner)
    return hf_folder(
        folder, "GPT2", config, padding_side=padding_side, vocab_size=vocab_size, seed=seed, scale=scale
    )


def neox_folder(
    folder: str | Path,
    *,
    n_layer: int = 2,
    hidden: int = 32,
    n_head: int = 4,
    max_positions: int = 64,
    padding_side: str = "right",
    vocab_size: int = 400,
    seed: int = 0,
    scale: float = 2.0,
) -> Path:
    """A random-weight ``GPTNeoXForCausalLM`` (Pythia architecture: rotary positions, parallel attn+MLP)."""
    config = dict(
        num_hidden_layers=n_layer,
        hidden_size=hidden,
        num_attention_heads=n_head,
        intermediate_size=4 * hidden,
        max_position_embeddings=max_positions,
        rotary_pct=0.25,
        tie_word_embeddings=False,
    )
    return hf_folder(
        folder, "GPTNeoX", config, padding_side=padding_side, vocab_size=vocab_size, seed=seed, scale=scale
    )


def llama_folder(
    folder: str | Path,
    *,
    n_layer: int = 2,
    hidden: int = 32,
    n_head: int = 4,
    n_kv_head: Optional[int] = None,
    max_positions: int = 64,
    padding_side: str = "right",
    vocab_size: int = 400,
    seed: int = 0,
    scale: float = 2.0,
) -> Path:
    """A random-weight ``LlamaForCausalLM`` (rotary positions, RMSNorm, gated MLP)."""
    config = dict(
        num_hidden_layers=n_layer,
        hidden_size=hidden,
        num_attention_heads=n_head,
        num_key_value_heads=n_kv_head or n_head,
        intermediate_size=3 * hidden,
        max_position_embeddings=max_positions,
        tie_word_embeddings=False,
    )
    return hf_folder(
        folder, "Llama", config, padding_side=padding_side, vocab_size=vocab_size, seed=seed, scale=scale
    )


def boot(folder: str | Path, device: str = "cpu") -> Any:
    """``TransformerBridge.boot_transformers`` on a local folder, in eval mode, float32."""
    from transformer_lens.model_bridge import TransformerBridge

    model = TransformerBridge.boot_transformers(str(folder), device=device, dtype=torch.float32)
    model.eval()
    return model
