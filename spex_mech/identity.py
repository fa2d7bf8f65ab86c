"""Record what determines a stored value.

Content hashes of weights, prompts, reference, units, metric, ablation, entry code and the package version.

A sweep's store is keyed on this record, never on a config's text: editing the prompts file, retraining
the weights at the same path or changing an entry function changes the identity, and the store refuses
to answer from values that no longer apply.

Weight files of Hugging Face folders are hashed once and cached by (path, size, mtime) in
``$SPEX_MECH_CACHE/weight_hashes.json`` (default ``~/.cache/spex_mech``); models from the zoo or an
entry function are hashed from their tensors in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

__all__ = ["hash_model", "hash_files", "hash_tokens", "hash_source", "game_identity"]

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".npz", ".json", ".model", ".txt")


def _cache_file() -> Path:
    root = Path(os.environ.get("SPEX_MECH_CACHE", Path.home() / ".cache" / "spex_mech"))
    return root / "weight_hashes.json"


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def hash_files(paths: Iterable[Path]) -> str:
    """Hash the files' names and contents (SHA-256); each file's hash is cached by path, size and mtime.

    Parameters
    ----------
    paths : iterable of pathlib.Path
        The files.

    Returns
    -------
    str
        The hex digest.
    """
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    changed = False
    h = hashlib.sha256()
    for path in sorted(Path(p).resolve() for p in paths):
        st = path.stat()
        key = str(path)
        stamp = [st.st_size, st.st_mtime_ns]
        entry = cache.get(key)
        if entry is None or entry.get("stamp") != stamp:
            entry = {"stamp": stamp, "sha256": _sha_file(path)}
            cache[key] = entry
            changed = True
        h.update(path.name.encode() + b"\0" + entry["sha256"].encode() + b"\0")
    if changed:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_path)
        except OSError:  # a read-only home only costs re-hashing next time
            pass
    return h.hexdigest()


def hash_model(model: Any, folder: Optional[Path] = None) -> str:
    """Hash the model's content: its weight files (``folder``) or its parameters and buffers.

    Parameters
    ----------
    model : Any
        The model (a torch module, or anything with ``state_dict``).
    folder : pathlib.Path, optional
        A Hugging Face folder whose weight files are hashed instead.

    Returns
    -------
    str
        A tagged hex digest.
    """
    if folder is not None:
        files = [p for p in Path(folder).iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES]
        return "files:" + hash_files(files)
    import torch

    h = hashlib.sha256()
    state = model.state_dict() if hasattr(model, "state_dict") else {}
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            continue
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "tensors:" + h.hexdigest()


def hash_tokens(tokens: Any) -> Optional[str]:
    """Hash prompts by content: token ids (tensor, array or nested lists; dtype-independent) or texts.

    Parameters
    ----------
    tokens : Any
        The prompts, or None.

    Returns
    -------
    str or None
        A tagged hex digest; None for no prompts.
    """
    if tokens is None:
        return None
    if isinstance(tokens, str) or (isinstance(tokens, Sequence) and tokens and all(isinstance(t, str) for t in tokens)):
        texts = list(tokens) if not isinstance(tokens, str) else [tokens]
        return "text:" + hashlib.sha256(json.dumps(texts).encode()).hexdigest()
    try:
        import torch

        if isinstance(tokens, torch.Tensor):
            tokens = tokens.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    width = len(np.atleast_1d(tokens[0])) if isinstance(tokens, (list, tuple)) and tokens else None
    if width is not None and not all(len(np.atleast_1d(r)) == width for r in tokens):
        return "ragged:" + hashlib.sha256(json.dumps([np.asarray(r).tolist() for r in tokens]).encode()).hexdigest()
    arr = np.asarray(tokens)
    if arr.dtype.kind in "iub":
        arr = arr.astype(np.int64)
    h = hashlib.sha256(f"{arr.dtype.str}|{arr.shape}|".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return "ids:" + h.hexdigest()


def hash_source(obj: Any) -> Optional[str]:
    """Hash the source file of the module defining ``obj`` (the whole file: helpers count too).

    Parameters
    ----------
    obj : Any
        A function, class or module; None gives None.

    Returns
    -------
    str or None
        A tagged hex digest (of the ``repr`` when no source file exists).
    """
    import inspect

    if obj is None:
        return None
    try:
        file = inspect.getsourcefile(obj) or inspect.getfile(obj)
        return "src:" + hashlib.sha256(Path(file).read_bytes()).hexdigest()
    except (TypeError, OSError):
        return "repr:" + hashlib.sha256(repr(obj).encode()).hexdigest()


def game_identity(
    *,
    model_hash: str,
    unit_ids: Sequence[str],
    tokens: Any,
    reference: Any,
    metric: Any,
    ablation: str,
    entries: Sequence[Any] = (),
    device: Optional[str] = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Build the identity record of an ablation game (what :class:`~spex_mech.store.MaskStore` stores).

    Parameters
    ----------
    model_hash : str
        From :func:`hash_model`.
    unit_ids : sequence of str
        The units' ids, in order.
    tokens : Any
        The prompts.
    reference : Any
        The ablation's reference prompts, or None.
    metric : Any
        A JSON-able description (e.g. the config's [metric] table).
    ablation : str
        The ablation kind.
    entries : sequence, optional
        The user functions (model, prompts, metric entries) whose source files are hashed.
    device : str, optional
        The torch device.
    precision : str, default "fp32"
        A reduced precision (values differ from fp32) enters the record; fp32 leaves it as before.

    Returns
    -------
    dict
        The record, JSON-able.
    """
    from . import __version__

    extra = {} if precision == "fp32" else {"precision": precision}
    return {
        **extra,
        "model": model_hash,
        "units": hashlib.sha256(json.dumps(list(map(str, unit_ids))).encode()).hexdigest() + f" ({len(unit_ids)} ids)",
        "tokens": hash_tokens(tokens),
        "reference": hash_tokens(reference),
        "metric": metric,
        "ablation": ablation,
        "entry_code": [hash_source(e) for e in entries],
        "device": device,
        "package": f"spex_mech {__version__}",
    }
