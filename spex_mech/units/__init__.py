"""Units: what can be masked (heads, neurons, tokens, training data) and where each mask acts."""

from .base import Site, TokenSite, UnitSet
from .components import AttentionHeads, MLPNeurons

__all__ = ["AttentionHeads", "MLPNeurons", "Site", "TokenSite", "UnitSet"]
