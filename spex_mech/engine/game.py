"""Old import path of :class:`~spex_mech.games.AblationGame` (the game moved to :mod:`spex_mech.games.ablation`).

``spex_mech.engine.game`` is the very same module object as ``spex_mech.games.ablation``.
"""

import sys

from ..games import ablation as _moved

sys.modules[__name__] = _moved
