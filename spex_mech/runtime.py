"""Facts about where the code runs: the model's device and whether a person is watching.

One place for the small environment checks that the engine and the unit sets share, so a progress bar
appears (or not) by the same rule everywhere.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["interactive", "model_device"]


def interactive() -> bool:
    """Whether progress bars should show by default.

    True on a terminal (stderr is a TTY) and inside a Jupyter / IPython kernel, where stderr is a pipe but
    ``tqdm.auto`` draws a widget bar.

    Returns
    -------
    bool
        True when a person is likely watching the output.
    """
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # a closed or replaced stderr
        pass
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def model_device(model: Any) -> Any:
    """Return the device of ``model``'s first parameter (CPU for a model without parameters).

    Parameters
    ----------
    model : torch.nn.Module or any object with ``parameters()``
        The model whose device is wanted.

    Returns
    -------
    torch.device
        Where the model's weights live.
    """
    import torch

    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        return torch.device("cpu")
