"""Circuits from interactions, measured the way the field measures them.

* :mod:`.rankings` — per-unit scores from a spectrum (Möbius / Fourier share, Shapley, Banzhaf,
  attribution patching) and rankings;
* :mod:`.curves` — faithfulness-versus-size curves measured on the game (keep only the circuit / ablate
  it), MIB's CPR and CMD, and the warnings for ratios that mean little;
* :mod:`.minimal` — the smallest circuit whose measured faithfulness reaches a target;
* :mod:`.stability` — top-k overlap of equal-budget runs with different seeds;
* :mod:`.roles` — previous-token, duplicate-token and induction heads from attention patterns;
* :mod:`spex_mech.circuit` (kept as is) — surrogate-guided :func:`extract_circuit`, ROC/AUC helpers.
"""

from ..circuit import Circuit, extract_circuit, interaction_auc, roc_auc
from .curves import (
    MIB_PERCENTAGES,
    FaithfulnessCurve,
    FaithfulnessWarning,
    area_metrics,
    faithfulness_curve,
    faithfulness_curves,
    faithfulness_warnings,
    size_grid,
)
from .minimal import MinimalCircuit, minimal_circuit
from .rankings import SCORE_KINDS, ranking, unit_scores
from .roles import ROLES, HeadRoles, head_roles
from .stability import SeedStability, top_k_overlap

__all__ = [
    "MIB_PERCENTAGES",
    "ROLES",
    "SCORE_KINDS",
    "HeadRoles",
    "Circuit",
    "FaithfulnessCurve",
    "FaithfulnessWarning",
    "MinimalCircuit",
    "SeedStability",
    "area_metrics",
    "extract_circuit",
    "faithfulness_curve",
    "faithfulness_curves",
    "faithfulness_warnings",
    "head_roles",
    "interaction_auc",
    "minimal_circuit",
    "ranking",
    "roc_auc",
    "size_grid",
    "top_k_overlap",
    "unit_scores",
]
