"""Old import path of the data lens: :class:`~spex_mech.games.TrainingSubsets` and its helpers.

The value function moved to :mod:`spex_mech.games.training`, LDS to :mod:`spex_mech.evaluation.lds`,
the linear datamodel to :mod:`spex_mech.algorithms.baselines.datamodel` and :class:`Recorder` to
:mod:`spex_mech.games.recorder`; the names are re-exported here unchanged.
"""

from ..algorithms.baselines.datamodel import linear_datamodel
from ..evaluation.lds import lds, lds_masks
from ..games.recorder import Recorder
from ..games.training import RetrainError, TrainingSubsets, mask_seed

__all__ = ["Recorder", "RetrainError", "TrainingSubsets", "lds", "lds_masks", "linear_datamodel", "mask_seed"]
