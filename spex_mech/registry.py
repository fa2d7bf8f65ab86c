"""One source of truth for the algorithms a sweep can run: function, option schema and evaluation planner.

The API functions themselves are the authority on their options: the schema is read from each
function's signature (names, defaults, annotated types), and :func:`check_call` asks the function to
validate a call by running it on a *probe* value function that stops it at its first request for
values. Whatever the function refuses before evaluating anything (a budget below its minimum, an
unknown decoder, depths above max_order, ...) is refused by ``spex-mech check`` and before the model
runs a masked forward pass, with the function's own words, so limits cannot drift between the API,
the config checker and the command line.

>>> from spex_mech.registry import ALGORITHMS, check_call
>>> check_call("spex", 16, {"max_order": 3, "budget": 4000})   # planned evaluations
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["AlgorithmSpec", "ALGORITHMS", "OptionError", "get", "option_schema", "check_call", "check_option_type"]


class OptionError(ValueError):
    """An algorithm option is wrong; ``key`` names it (None when the message does not).

    Parameters
    ----------
    message : str
        What is wrong.
    key : str, optional
        The option's name.
    """

    def __init__(self, message: str, key: Optional[str] = None):
        super().__init__(message)
        self.key = key


def _plan_spex(n: int, kw: dict[str, Any]) -> int:
    from .algorithms.spex import spex_plan

    plan = spex_plan(
        n,
        max_order=kw.get("max_order", 5),
        budget=kw.get("budget"),
        b=kw.get("b"),
        n_groups=kw.get("n_groups", 3),
        seed=kw.get("seed", 0),
    )
    return int(plan.n_evaluations)


def _plan_pairwise(n: int, kw: dict[str, Any]) -> int:
    m = kw.get("screen") or n
    return 1 + n + m * (m - 1) // 2


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm of the registry.

    Attributes
    ----------
    name : str
        The public name (``spex_mech.<name>`` and ``[algorithm] name``).
    target : str
        ``"module:function"`` of the API function.
    planner : callable
        ``planner(n, keyword arguments)`` -> planned model evaluations, for messages and ``check``.
    sweep_keys : tuple of str
        [algorithm] keys (budget, max_order, seed) the sweep passes to it; the others are ignored for this
        algorithm (it has no such argument).
    """

    name: str
    target: str
    planner: Callable[[int, dict[str, Any]], int]
    sweep_keys: tuple[str, ...]

    @property
    def function(self) -> Callable[..., Any]:
        """The API function, imported on first use."""
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


def _budget(n: int, kw: dict[str, Any]) -> int:
    return int(kw["budget"])


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("spex", "spex_mech.algorithms.spex:spex", _plan_spex, ("budget", "max_order", "seed")),
        AlgorithmSpec(
            "proxyspex", "spex_mech.algorithms.proxyspex:proxyspex", _budget, ("budget", "max_order", "seed")
        ),
        AlgorithmSpec("exhaustive", "spex_mech.algorithms.exhaustive:exhaustive", lambda n, kw: 1 << n, ()),
        AlgorithmSpec("pairwise", "spex_mech.algorithms.baselines:pairwise", _plan_pairwise, ()),
        AlgorithmSpec("lasso", "spex_mech.algorithms.baselines:lasso", _budget, ("budget", "max_order", "seed")),
        AlgorithmSpec(
            "shapley_sampling", "spex_mech.algorithms.baselines:shapley_sampling", _budget, ("budget", "seed")
        ),
        AlgorithmSpec(
            "banzhaf_sampling", "spex_mech.algorithms.baselines:banzhaf_sampling", _budget, ("budget", "seed")
        ),
    )
}


def get(name: str) -> AlgorithmSpec:
    """Return the registry entry for ``name``.

    Parameters
    ----------
    name : str
        The algorithm's public name.

    Returns
    -------
    AlgorithmSpec
        Its entry.

    Raises
    ------
    KeyError
        If ``name`` is not registered.
    """
    return ALGORITHMS[name]


def option_schema(name: str) -> dict[str, inspect.Parameter]:
    """Return the keyword arguments ``name`` accepts (everything but the value function and ``n``).

    Keyword arguments a function still accepts under an old spelling (its ``legacy_parameters``
    mapping, e.g. ProxySPEX's flat keywords) count as options too.

    Parameters
    ----------
    name : str
        The algorithm's public name.

    Returns
    -------
    dict
        ``{option: inspect.Parameter}`` from the function's signature and its legacy parameters.
    """
    function = get(name).function
    params = {**inspect.signature(function).parameters, **getattr(function, "legacy_parameters", {})}
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {k: p for k, p in params.items() if p.kind in named and k not in ("f", "n")}


def _accepts(annotation: Any, value: Any, module: Any) -> bool:
    """Whether ``value`` fits the annotation: strict (True is not an int, 1.5 is not an int)."""
    if isinstance(annotation, str):
        return True  # an annotation we cannot resolve: leave it to the function
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(_accepts(a, value, module) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, (bool, np.bool_))
    if annotation is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if annotation is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple, typing.Sequence, __import__("collections.abc").abc.Sequence):
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return False
        return all(_accepts(args[0], v, module) for v in value) if args else True
    return True


def _type_text(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    if typing.get_origin(annotation) is typing.Union:
        return " or ".join(_type_text(a) for a in typing.get_args(annotation))
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def check_option_type(name: str, key: str, value: Any) -> None:
    """Check that ``value`` has the type algorithm ``name`` declares for option ``key``.

    Parameters
    ----------
    name : str
        The algorithm's public name.
    key : str
        The option.
    value : Any
        The value given.

    Raises
    ------
    OptionError
        If the algorithm has no such option or the value has the wrong type.
    """
    schema = option_schema(name)
    if key not in schema:
        raise OptionError(f"{name} has no option '{key}'", key)
    function = get(name).function
    try:
        annotation = typing.get_type_hints(function).get(key, schema[key].annotation)
    except Exception:  # pragma: no cover - unresolvable annotations: the function checks its arguments
        annotation = inspect.Parameter.empty
    if not _accepts(annotation, value, None):
        raise OptionError(f"{value!r} is not a valid {key} for {name} (expected {_type_text(annotation)})", key)


class _Probed(BaseException):
    """Raised by the probe at the first request for values (a BaseException: no algorithm catches it)."""


class _Probe:
    def __init__(self, n: int):
        self.n = n
        self.labels = [f"u{i}" for i in range(n)]

    def __call__(self, masks: Any) -> np.ndarray:
        raise _Probed()


def check_call(name: str, n: int, kwargs: dict[str, Any]) -> int:
    """Validate a call of algorithm ``name`` on ``n`` units with ``kwargs`` and return its planned evaluations.

    Types come from the signature; everything else from the function itself, run on a probe that stops it
    before any evaluation.

    Parameters
    ----------
    name : str
        The algorithm's public name.
    n : int
        Number of units.
    kwargs : dict
        The keyword arguments of the call.

    Returns
    -------
    int
        The planned number of model evaluations.

    Raises
    ------
    OptionError
        If the algorithm refuses the call (the message names the option where it can).
    """
    for key, value in kwargs.items():
        check_option_type(name, key, value)
    spec = get(name)
    try:
        spec.function(_Probe(n), n, **kwargs)
    except _Probed:
        pass
    except (ValueError, TypeError) as err:
        message = str(err)
        match = re.match(r"\w+", message)
        first = match.group(0) if match else ""
        key = first if first in kwargs or first in option_schema(name) else _key_in(message, kwargs)
        raise OptionError(message, key) from None
    else:  # pragma: no cover - every registered algorithm asks for values
        raise OptionError(f"{name} returned without asking for a single value")
    try:
        return int(spec.planner(n, kwargs))
    except ValueError as err:
        raise OptionError(str(err), _key_in(str(err), kwargs)) from None


def _key_in(message: str, kwargs: dict[str, Any]) -> Optional[str]:
    for key in kwargs:
        if key in message:
            return key
    return None
