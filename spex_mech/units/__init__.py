"""Units: what can be masked (heads, neurons, tokens, training data) and where each mask acts."""

from .base import Site, TokenSite, UnitSet
from .components import AttentionHeads, MLPNeurons
from .layers import AttentionLayers, HookUnits, MLPLayers, ResidualPositions

__all__ = [
    "AttentionHeads",
    "AttentionLayers",
    "HookUnits",
    "MLPLayers",
    "MLPNeurons",
    "ResidualPositions",
    "Site",
    "TokenSite",
    "UnitSet",
]
