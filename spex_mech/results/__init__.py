"""Results: the sparse spectrum type shared by every algorithm, and its conversions."""

from .interactions import Interactions, Term, r2_score

__all__ = ["Interactions", "Term", "r2_score"]
