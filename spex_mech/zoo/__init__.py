"""The model zoo: small models with known circuits, trained or built by seeded scripts in ``circuits/``.

Each zoo entry is a module ``spex_mech.zoo.<name>`` with ``load()`` (the committed model, offline) and
task helpers (prompts, metric, a ready ``game()``). Weights live in ``circuits/<name>/`` in a checkout
and in ``spex_mech/_zoo/<name>/`` inside an installed wheel.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["ZOO", "load", "weights_dir"]

ZOO = ("induction", "mlp_lookup", "planted", "sentiment")


def weights_dir(name: str) -> Path:
    """Return the folder holding a zoo model's committed files.

    Parameters
    ----------
    name : str
        The zoo model's name.

    Returns
    -------
    pathlib.Path
        The folder (inside a checkout, or the wheel's copy).
    """
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "_zoo" / name, here.parent.parent / "circuits" / name]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError(
        f"no committed files for zoo model {name!r} (looked in {', '.join(str(c) for c in candidates)})"
    )


def load(name: str, **kwargs: Any) -> Any:
    """Load a zoo model by name (no download).

    Parameters
    ----------
    name : str
        One of :data:`ZOO`.
    **kwargs : Any
        Passed to the model module's ``load`` (e.g. ``device``).

    Returns
    -------
    Any
        The model.

    Raises
    ------
    ValueError
        If ``name`` is not a zoo model.

    Examples
    --------
    >>> model = load("induction")  # doctest: +SKIP
    """
    if name not in ZOO:
        raise ValueError(f"unknown zoo model {name!r}; available: {', '.join(ZOO)}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.load(**kwargs)
