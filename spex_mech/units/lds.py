"""Old import path of LDS, the linear datamodel and :class:`Recorder` (re-exported unchanged).

They live in :mod:`spex_mech.evaluation.lds`, :mod:`spex_mech.algorithms.baselines.datamodel` and
:mod:`spex_mech.games.recorder`.
"""

from ..algorithms.baselines.datamodel import linear_datamodel
from ..evaluation.lds import lds, lds_masks
from ..games.recorder import Recorder

__all__ = ["Recorder", "lds", "lds_masks", "linear_datamodel"]
