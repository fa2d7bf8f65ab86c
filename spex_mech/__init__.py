"""Sparse interaction discovery over TransformerLens hook points (``spex_mech``).

units → engine (value function) → algorithms → results → circuits / plots / CLI.

>>> import spex_mech as sm
>>> game = sm.AblationGame(model, sm.AttentionHeads(model), tokens, sm.metrics.logprob(position=-2))
>>> result = sm.spex(game, max_order=3)          # or sm.proxyspex(game, budget=2000)
>>> result.top(5)
"""

import importlib as _importlib
import sys as _sys

from .algorithms.exhaustive import exhaustive
from .engine import ABLATIONS, AblationGame, metrics
from .results import Interactions, Term, r2_score
from .units import AttentionHeads, AttentionLayers, HookUnits, MLPLayers, MLPNeurons, ResidualPositions, UnitSet
from .valuefn import ValueFunction, as_value_function

_sys.modules[__name__ + ".metrics"] = metrics  # `import spex_mech.metrics` works too

__version__ = "0.1.0"

# Public names that live in modules imported on first use (keeps `import spex_mech` light).
_LAZY = {
    "spex": "spex_mech.algorithms.spex",
    "spex_plan": "spex_mech.algorithms.spex",
    "proxyspex": "spex_mech.algorithms.proxyspex",
    "pairwise": "spex_mech.algorithms.baselines",
    "lasso": "spex_mech.algorithms.baselines",
    "shapley_sampling": "spex_mech.algorithms.baselines",
    "attribution_patching": "spex_mech.algorithms.baselines",
    "banzhaf_sampling": "spex_mech.algorithms.baselines",
    "TokenUnits": "spex_mech.units.tokens",
    "refine_units": "spex_mech.units.refine",
    "TrainingSubsets": "spex_mech.games",
    "load_run": "spex_mech.runrecord",
    "RunRecord": "spex_mech.runrecord",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spex_mech' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ABLATIONS",
    "AblationGame",
    "AttentionHeads",
    "AttentionLayers",
    "HookUnits",
    "Interactions",
    "MLPLayers",
    "MLPNeurons",
    "ResidualPositions",
    "Term",
    "UnitSet",
    "ValueFunction",
    "as_value_function",
    "exhaustive",
    "metrics",
    "r2_score",
    *_LAZY,
]
