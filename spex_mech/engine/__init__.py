"""Engine: turns a model, units, prompts and a metric into a batched value function."""

from . import metrics
from .ablations import ABLATIONS
from .game import AblationGame
from .prompts import Prompts, prepare_prompts

__all__ = ["ABLATIONS", "AblationGame", "Prompts", "metrics", "prepare_prompts"]
