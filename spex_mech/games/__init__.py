"""Value functions in one place, all satisfying the :class:`Game` protocol.

* :class:`AblationGame` — a model with units ablated (:mod:`.ablation`; the forward/hook machinery it
  calls is :mod:`spex_mech.engine`);
* :class:`TrainingSubsets` — a model retrained on subsets of its training data (:mod:`.training`),
  composed with :class:`StoredValueFunction`;
* :class:`StoredValueFunction` — any value function answered from a record of evaluated masks
  (:mod:`.stored`), on disk (:class:`~spex_mech.store.MaskStore`) or in memory;
* :class:`Recorder` — any value function, keeping every (mask, value) asked for (:mod:`.recorder`).

``AblationGame`` is loaded on first use (it imports torch and the engine).
"""

from typing import Any

from .protocol import Game
from .recorder import Recorder
from .stored import PartialEvaluation, StoredValueFunction
from .training import RetrainError, TrainingSubsets, mask_seed

__all__ = [
    "AblationGame",
    "Game",
    "PartialEvaluation",
    "Recorder",
    "RetrainError",
    "StoredValueFunction",
    "TrainingSubsets",
    "mask_seed",
]


def __getattr__(name: str) -> Any:
    """Return ``AblationGame`` from :mod:`.ablation` on first use."""
    if name == "AblationGame":
        from .ablation import AblationGame

        return AblationGame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
