"""Baselines on the same footing as SPEX: every one returns :class:`~spex_mech.Interactions`.

* :func:`pairwise` — single ablations, optional screening, then every candidate pair ablated jointly;
  an exact order-2 expansion at the all-kept state (``pairwise.py`` documents the convention).
* :func:`lasso` — cross-validated L1 regression on low-order monomials (Fourier or Möbius basis)
  over uniformly random masks, with a least-squares refit of the selected support.
* :func:`attribution_patching` — every unit's linearised ablation effect from one forward and one
  backward pass (gates on the game's own ablation; ``attribution.py``), and :func:`gradient_screen`;
* :func:`shapley_sampling`, :func:`banzhaf_sampling` — first-order attributions by permutation
  sampling and maximum sample reuse, returned as first-order surrogates (``marginal.py``).

All of them evaluate the game through :class:`~spex_mech.ValueFunction` in large batches, count
``n_evaluations`` and carry unit labels and ids from the game.
"""

from .attribution import attribution_patching, attribution_scores, gradient_screen
from .datamodel import linear_datamodel
from .lasso import lasso, lasso_memory_bytes
from .marginal import banzhaf_sampling, shapley_sampling, shapley_sampling_evaluations
from .monomials import count_monomials
from .pairwise import pairwise, pairwise_evaluations

__all__ = [
    "attribution_patching",
    "attribution_scores",
    "gradient_screen",
    "pairwise",
    "pairwise_evaluations",
    "lasso",
    "lasso_memory_bytes",
    "linear_datamodel",
    "count_monomials",
    "shapley_sampling",
    "shapley_sampling_evaluations",
    "banzhaf_sampling",
]
