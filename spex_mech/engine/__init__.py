"""Engine: the forward/hook machinery a game calls (ablation references, hook groups, prefix sharing, row budget).

The value function itself, :class:`~spex_mech.games.AblationGame`, lives in :mod:`spex_mech.games`;
``spex_mech.engine.AblationGame`` still names it (loaded on first use, so the engine does not import
the games). ``metrics`` and ``prepare_prompts`` are the package-level :mod:`spex_mech.metrics` and
:mod:`spex_mech.prompts`.
"""

from typing import Any

from .. import metrics
from ..prompts import Prompts, prepare_prompts
from .ablations import ABLATIONS

__all__ = ["ABLATIONS", "AblationGame", "Prompts", "metrics", "prepare_prompts"]


def __getattr__(name: str) -> Any:
    """Return ``AblationGame`` from :mod:`spex_mech.games` on first use (the old import path)."""
    if name == "AblationGame":
        from ..games.ablation import AblationGame

        return AblationGame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
