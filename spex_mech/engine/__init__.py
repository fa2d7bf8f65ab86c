"""Engine: turns a model, units, prompts and a metric into a batched value function."""

from . import metrics
from .ablations import ABLATIONS
from .game import AblationGame

__all__ = ["ABLATIONS", "AblationGame", "metrics"]
