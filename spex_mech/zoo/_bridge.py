"""Building, saving and loading small TransformerLens 4.x bridge models for the zoo (no downloads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = ["build_native", "save_model", "load_model"]


def build_native(config: Mapping[str, Any]) -> Any:
    """Build a randomly initialised ``TransformerBridge`` from a plain config dict (TL ≥ 4).

    Parameters
    ----------
    config : Mapping
        TransformerLens config fields (``n_layers``, ``d_model``, ``n_heads``, ...).

    Returns
    -------
    TransformerBridge
        The model.
    """
    try:
        from transformer_lens import TransformerBridgeConfig
        from transformer_lens.model_bridge import TransformerBridge
        import transformer_lens.model_bridge.sources.native  # noqa: F401  (registers boot_native)
    except ImportError as err:  # pragma: no cover - depends on the installed TL generation
        raise ImportError(
            "zoo models need TransformerLens ≥ 4 (TransformerBridge.boot_native); "
            f"the installed transformer_lens does not provide it ({err})"
        ) from err
    model = TransformerBridge.boot_native(TransformerBridgeConfig(**dict(config)))
    model.eval()
    return model


def save_model(
    model: Any, config: Mapping[str, Any], folder: str | Path, extra: Mapping[str, Any] | None = None
) -> None:
    """Write ``config.json`` and ``weights.pt`` (float32 state dict) into ``folder``.

    Parameters
    ----------
    model : Any
        The model.
    config : Mapping
        The config it was built from.
    folder : str or pathlib.Path
        The target folder (created if needed).
    extra : Mapping, optional
        More entries for ``config.json`` (training history, planted truth).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"config": dict(config), **dict(extra or {})}, indent=2))
    state = {k: v.detach().to(torch.float32).cpu().clone() for k, v in model.state_dict().items()}
    torch.save(state, folder / "weights.pt")


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> tuple[Any, dict]:
    """Rebuild a saved zoo model.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder written by :func:`save_model`.
    device : str or torch.device, default "cpu"
        Where the model is put.

    Returns
    -------
    model : Any
        The model, in eval mode.
    document : dict
        The stored config document.
    """
    folder = Path(folder)
    doc = json.loads((folder / "config.json").read_text())
    model = build_native(doc["config"])
    state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if torch.device(device).type != "cpu":
        model.to(device)
    model.eval()
    return model, doc
