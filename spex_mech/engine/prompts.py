"""Old import path of :mod:`spex_mech.prompts` (moved out of the engine so units need not import it).

``spex_mech.engine.prompts`` is the very same module object, so imports and monkeypatches of either name agree.
"""

import sys

from .. import prompts as _moved

sys.modules[__name__] = _moved
