"""Old import path of :mod:`spex_mech.metrics` (moved out of the engine so units need not import it).

``spex_mech.engine.metrics`` is the very same module object, so imports and monkeypatches of either name agree.
"""

import sys

from .. import metrics as _moved

sys.modules[__name__] = _moved
