"""JSON form of :class:`~spex_mech.results.interactions.Interactions`: the document's layout in one place."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from . import spectrum as spec
from .params import ParamsBase

__all__ = ["FORMAT", "JSON_VERSION", "jsonable", "to_document", "document_arguments"]

FORMAT = "spex_mech.Interactions"
JSON_VERSION = 1


def jsonable(obj: Any) -> Any:
    """Return a JSON-serialisable copy: numpy scalars and arrays become Python numbers and lists.

    Parameters
    ----------
    obj : Any
        A value, possibly nested in dicts, lists and tuples; typed parameter records are expanded.

    Returns
    -------
    Any
        The same structure with dict keys as strings, tuples as lists and anything unknown as its ``repr``.
    """
    if isinstance(obj, ParamsBase):
        return jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def to_document(result: Any) -> dict[str, Any]:
    """Build the JSON document of a result.

    Parameters
    ----------
    result : Interactions
        The result to describe.

    Returns
    -------
    dict
        Format tag, version, ``n``, labels, ids, ``n_evaluations``, algorithm, params, the sparse Fourier
        pairs and, for exhaustive results, the dense table.
    """
    dense = result._dense
    return {
        "format": FORMAT,
        "version": JSON_VERSION,
        "n": result.n,
        "labels": result.labels,
        "ids": result.ids,
        "n_evaluations": result.n_evaluations,
        "algorithm": result.algorithm,
        "params": jsonable(result.params),
        "fourier": [[list(u), float(v)] for u, v in zip(result.supports, result.coefficients)],
        **({"dense_fourier": dense.tolist()} if dense is not None else {}),
    }


def document_arguments(data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any]]:
    """Read a JSON document back into constructor arguments.

    Parameters
    ----------
    data : Mapping
        A document from :func:`to_document`, or the CLI's ``results.json`` (the result under ``interactions``).

    Returns
    -------
    keys : numpy.ndarray
        Padded Fourier supports [K, D].
    values : numpy.ndarray
        Fourier coefficients [K].
    n : int
        Number of units.
    options : dict
        The keyword arguments of the ``Interactions`` constructor (labels, ids, metadata, dense table).

    Raises
    ------
    ValueError
        If ``data`` is not a ``spex_mech.Interactions`` document.
    """
    if data.get("format") != FORMAT and isinstance(data.get("interactions"), Mapping):
        data = data["interactions"]
    if data.get("format") != FORMAT:
        raise ValueError("not a spex_mech.Interactions document")
    pairs = data["fourier"]
    keys = spec.canonical_keys([p[0] for p in pairs]) if pairs else np.zeros((0, 1), np.int64)
    vals = np.array([p[1] for p in pairs], dtype=np.float64)
    options = dict(
        labels=data.get("labels"),
        ids=data.get("ids"),
        n_evaluations=int(data.get("n_evaluations", 0)),
        algorithm=data.get("algorithm", ""),
        params=data.get("params"),
        dense_fourier=data.get("dense_fourier"),
    )
    return keys, vals, int(data["n"]), options
