"""Argument checks shared by the package: integers and floats with bounds, one clear line on failure.

Every message names the argument and shows the value it got, e.g.
``ValueError: budget must be an integer >= 1; got 0``. Booleans are refused where numbers are expected
(``True`` is an ``int`` in Python, but never a meaningful budget or order).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Optional

__all__ = ["check_float", "check_int"]


def _bounds(low: Any, high: Any, low_open: bool = False) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"<= {high}")
    return " and ".join(parts)


def check_int(name: str, value: Any, *, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer within ``[low, high]``.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : Any
        The value to check: a Python or NumPy integer (not a bool).
    low, high : int, optional
        Inclusive bounds; ``None`` leaves that side open.

    Returns
    -------
    int
        ``int(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not an integer (bools included) or lies outside the bounds.

    Examples
    --------
    >>> check_int("budget", 8, low=1)
    8
    """
    bounds = _bounds(low, high)
    what = f"an integer {bounds}" if bounds else "an integer"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return out


def check_float(
    name: str, value: Any, *, low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False
) -> float:
    """Return ``value`` as a finite ``float`` after checking it lies within the bounds.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    value : Any
        A real number (int or float, Python or NumPy; not a bool).
    low, high : float, optional
        Bounds; ``None`` leaves that side open. ``high`` is inclusive.
    low_open : bool
        If true, ``low`` itself is excluded (``value > low``); else included.

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not a real number, is NaN or infinite, or lies outside the bounds.

    Examples
    --------
    >>> check_float("noise_sd", 0.5, low=0.0, low_open=True)
    0.5
    """
    bounds = _bounds(low, high, low_open)
    what = f"a finite number {bounds}" if bounds else "a finite number"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    if low is not None and (out <= low if low_open else out < low):
        raise ValueError(f"{name} must be {what}; got {value!r}")
    if high is not None and out > high:
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return out
