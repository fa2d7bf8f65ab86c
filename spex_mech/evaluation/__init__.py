"""Evaluation of surrogates against their value function: the linear datamodeling score (LDS)."""

from .lds import lds, lds_masks

__all__ = ["lds", "lds_masks"]
