"""Checkers for scalar arguments: one integer checker and one float checker for the whole package.

Both return the value converted to the Python type and raise ``ValueError("<name> must be ...; got <value!r>")``
otherwise, so every caller names the argument the same way. Booleans are refused by both (``True`` is an
``int`` to Python, never a count or a rate to us).
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

__all__ = ["check_int", "check_float"]


def check_int(name: str, value: Any, *, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """Return ``value`` as an ``int`` after checking that it is an integer inside ``[low, high]``.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : Any
        The value to check: a Python or NumPy integer (``bool`` is refused).
    low : int, optional
        Smallest allowed value (inclusive); no lower bound when None.
    high : int, optional
        Largest allowed value (inclusive); no upper bound when None.

    Returns
    -------
    int
        ``value`` converted to a Python ``int``.

    Raises
    ------
    ValueError
        If ``value`` is not an integer, is a bool, or lies outside the bounds.

    Examples
    --------
    >>> check_int("budget", 12, low=1)
    12
    >>> check_int("budget", 0, low=1)
    Traceback (most recent call last):
    ...
    ValueError: budget must be at least 1; got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    value = int(value)
    too_low = low is not None and value < low
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")
        if too_low:
            raise ValueError(f"{name} must be at least {low}; got {value!r}")
        raise ValueError(f"{name} must be at most {high}; got {value!r}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: Optional[float] = None,
    high: Optional[float] = None,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a ``float`` after checking that it is a real number inside the bounds.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : Any
        The value to check: a Python or NumPy integer or float (``bool`` and NaN are refused).
    low : float, optional
        Lower bound; no lower bound when None.
    high : float, optional
        Upper bound (inclusive); no upper bound when None.
    low_open : bool, default False
        If True the lower bound is strict (``value > low``), else inclusive (``value >= low``).

    Returns
    -------
    float
        ``value`` converted to a Python ``float``.

    Raises
    ------
    ValueError
        If ``value`` is not a real number, is a bool, NaN or infinite, or lies outside the bounds.

    Examples
    --------
    >>> check_float("gpus_per_actor", 0.5, low=0)
    0.5
    >>> check_float("rate", 0, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: rate must be a number > 0; got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number; got {value!r}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{name} must be a number, not NaN; got {value!r}")
    if math.isinf(number):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if low is not None and (number <= low if low_open else number < low):
        raise ValueError(f"{name} must be a number {'>' if low_open else '>='} {low:g}; got {value!r}")
    if high is not None and number > high:
        raise ValueError(f"{name} must be a number <= {high:g}; got {value!r}")
    return number
