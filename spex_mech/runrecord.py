"""Read a finished ``spex-mech run`` folder back: the result, the config it ran and the run record.

>>> import spex_mech as sm
>>> run = sm.load_run("runs/induction")
>>> run.result.top(5); run.config["algorithm"]["name"]; run.run["faithfulness_r2"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .results.interactions import Interactions

__all__ = ["RunRecord", "load_run"]


@dataclass(frozen=True)
class RunRecord:
    """A finished sweep.

    Attributes
    ----------
    result : Interactions
        The interactions (with the unit ids of the game they were measured on).
    config : Mapping
        The TOML config as it was run ({section: {key: value}}).
    run : Mapping
        The run facts (algorithm, evaluations, unit ids, identity of the store, faithfulness, ...).
    path : pathlib.Path
        The run folder.
    """

    result: Interactions
    config: Mapping[str, Any]
    run: Mapping[str, Any]
    path: Path


def load_run(out: str | os.PathLike) -> RunRecord:
    """Load ``out/results.json`` written by ``spex-mech run``.

    Parameters
    ----------
    out : str or os.PathLike
        The run folder.

    Returns
    -------
    RunRecord
        The result, config and run facts.

    Raises
    ------
    ValueError
        If the folder has no ``results.json``, it is not valid JSON, or an entry is missing (named).
    """
    folder = Path(out)
    file = folder / "results.json"
    if not file.is_file():
        raise ValueError(f"{folder} is not a finished spex-mech run (no results.json)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{file}: not valid JSON ({err})") from None
    for key in ("run", "interactions"):
        if key not in data:
            raise ValueError(f"{file}: no '{key}' entry (not written by spex-mech run)")
    result = Interactions.from_dict(data["interactions"])
    return RunRecord(result=result, config=data.get("config", {}), run=data["run"], path=folder)
