"""Sweep configuration (TOML): schema, validation and resolution into model, units, prompts and metric.

Everything that can be checked before compute is checked, with errors naming the key: unknown sections or
keys (with a suggestion for typos), wrong types, a missing model file, unknown units, an unknown algorithm
and a budget too small for it. The work is split by job: :mod:`spex_mech.config_schema` (the schema and the
file's structure), :mod:`spex_mech.config_checks` (checks against the model and the machine) and this
module (resolution into model, units, prompts, metric and game); every name stays importable from here.

Example (``configs/induction.toml``)::

    [model]
    zoo = "induction"

    [units]
    heads = "all"

    [ablation]
    kind = "mean_tokenwise"

    [algorithm]
    name = "spex"
    max_order = 3
    budget = 4000
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from .config_checks import _check_budget, _check_device, _check_metric_ids, _check_precision, _check_prompts
from .config_schema import (  # noqa: F401  (re-exported: the public names and the checkers tests reach)
    ALGORITHMS,
    METRICS,
    REQUIRED,
    SCHEMA,
    ConfigError,
    SweepConfig,
    _suggest,
    load_config,
)

__all__ = ["ConfigError", "SweepConfig", "load_config", "resolve", "Resolved", "ALGORITHMS", "build_game"]


def _entry(spec: str, base: Path, key: str) -> Callable[..., Any]:
    """Import ``module:function`` with the config's folder on ``sys.path`` only during the import.

    So a file beside the config never shadows an installed package afterwards. A module of that name beside
    the config is imported afresh each time, so an edited entry file is what runs.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ConfigError(f"{key}: entry point must look like 'module:function', got '{spec}'")
    module_name, func = spec.split(":", 1)
    folder = str(base.resolve())
    saved = list(sys.path)
    sys.path.insert(0, folder)
    try:
        top = module_name.split(".")[0]
        local = (Path(folder) / f"{top}.py").is_file() or (Path(folder) / top).is_dir()
        if local:  # the config's own file wins over a same-named module imported before (another run, edited since)
            for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
                del sys.modules[name]
            importlib.invalidate_caches()
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{key}: cannot import module '{module_name}' ({err})") from err
    finally:
        sys.path[:] = saved
    if not hasattr(module, func):
        raise ConfigError(f"{key}: module '{module_name}' has no '{func}'")
    return getattr(module, func)


def _token_source(value: Any, base: Path, key: str) -> Any:
    import torch

    if isinstance(value, list):
        try:
            return torch.tensor(value, dtype=torch.long)
        except (ValueError, TypeError):
            return value  # ragged rows (or bad entries): kept as lists, checked row by row later
    file = (base / value) if not os.path.isabs(value) else Path(value)
    if not file.is_file():
        raise ConfigError(f"{key}: file not found: {file}")
    if file.suffix == ".pt":
        return torch.load(file, weights_only=True)
    if file.suffix == ".npy":
        return torch.from_numpy(np.load(file))
    if file.suffix == ".json":
        return torch.tensor(json.loads(file.read_text()), dtype=torch.long)
    raise ConfigError(f"{key}: unsupported token file type '{file.suffix}' (.pt, .npy or .json)")


@dataclass
class Resolved:
    """What a sweep runs on: everything needed to build the game, plus the algorithm call.

    Attributes
    ----------
    model : Any
        The loaded model.
    units : Any
        The unit set (heads and/or neurons).
    tokens : Any
        The prompts (token ids or strings).
    metric : Any
        The metric the game reads.
    ablation : str
        The ablation kind.
    reference : Any
        Reference prompts of the ablation, or None.
    algorithm : str
        The algorithm's registry name.
    algorithm_kwargs : dict
        Its keyword arguments (budget, max_order, seed and options).
    planned_evaluations : int, optional
        The evaluations the algorithm plans, where it can tell beforehand.
    entries : list
        User or zoo code whose source determines the values (part of the store's identity).
    model_folder : pathlib.Path, optional
        A Hugging Face folder (its weight files are hashed).
    device : str
        The torch device.
    """

    model: Any
    units: Any
    tokens: Any
    metric: Any
    ablation: str
    reference: Any
    algorithm: str
    algorithm_kwargs: dict[str, Any] = field(default_factory=dict)
    planned_evaluations: Optional[int] = None
    entries: list[Any] = field(default_factory=list)  # user/zoo code whose source determines values
    model_folder: Optional[Path] = None  # a Hugging Face folder (its weight files are hashed)
    device: str = "cpu"


def _load_model(cfg: SweepConfig) -> tuple[Any, Any]:
    from . import zoo

    base = cfg.path.parent
    device = cfg.get("model", "device", "cpu")
    if "zoo" in cfg.data["model"]:
        name = cfg.data["model"]["zoo"]
        if name not in zoo.ZOO:
            raise ConfigError(
                f"[model] zoo: unknown zoo model '{name}'{_suggest(name, zoo.ZOO)} (available: {', '.join(zoo.ZOO)})"
            )
        module = importlib.import_module(f"spex_mech.zoo.{name}")
        try:
            return module.load(device=device), module
        except FileNotFoundError as err:
            raise ConfigError(f"[model] zoo: the committed files of '{name}' are missing ({err})") from err
    if "hf" in cfg.data["model"]:
        folder = Path(cfg.data["model"]["hf"])
        folder = folder if folder.is_absolute() else base / folder
        if not (folder / "config.json").is_file():
            raise ConfigError(f"[model] hf: no Hugging Face model folder at {folder} (config.json missing)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformer_lens.model_bridge import TransformerBridge

        return TransformerBridge.boot_transformers(str(folder), device=device), None
    return _entry(cfg.data["model"]["entry"], base, "[model] entry")(), None


def _units(cfg: SweepConfig, model: Any) -> Any:
    from .units import AttentionHeads, MLPNeurons

    spec = cfg.data.get("units", {"heads": "all"})
    if not spec:
        raise ConfigError("[units] selects no units")
    units = None
    heads = spec.get("heads")
    try:
        if heads is not None and heads is not False:
            if heads == "all" or heads is True:
                units = AttentionHeads(model)
            elif isinstance(heads, dict):
                extra = set(heads) - {"layers", "heads"}
                if extra:
                    raise ConfigError(f"unknown key '{sorted(extra)[0]}' in [units] heads (layers, heads)")
                hs = heads.get("heads")
                if isinstance(hs, dict):
                    hs = {int(k): v for k, v in hs.items()}
                units = AttentionHeads(model, layers=heads.get("layers"), heads=hs)
            else:
                raise ConfigError(f"[units] heads must be 'all' or a table, got {heads!r}")
        for i, entry in enumerate(spec.get("neurons", [])):
            if not isinstance(entry, dict) or "layer" not in entry:
                raise ConfigError(f"[units] neurons[{i}] must be a table with 'layer' (and optional 'neurons')")
            extra = set(entry) - {"layer", "neurons"}
            if extra:
                raise ConfigError(f"unknown key '{sorted(extra)[0]}' in [units] neurons[{i}]")
            block = MLPNeurons(model, entry["layer"], neurons=entry.get("neurons"))
            units = block if units is None else units + block
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[units]: {err}") from err
    if units is None:
        raise ConfigError("[units] selects no units")
    return units


def _answers(value: Any, model: Any, key: str) -> Any:
    """[metric] answers given as strings → their single token ids (a ConfigError naming the key otherwise)."""
    from .engine.prompts import single_token_id

    if isinstance(value, str):
        try:
            return single_token_id(model, value, f"[metric] {key}")
        except (ValueError, TypeError) as err:
            raise ConfigError(str(err)) from err
    if isinstance(value, list):
        return [_answers(v, model, key) for v in value]
    return value


def _metric(cfg: SweepConfig, zoo_task: Optional[dict], model: Any = None) -> Any:
    from .engine import metrics

    spec = cfg.data.get("metric")
    if not spec:
        if zoo_task is None:
            raise ConfigError("missing section [metric] (only zoo models have a default task)")
        return zoo_task["metric"]
    kind = spec.get("kind")
    if kind is None:
        raise ConfigError("missing key 'kind' in [metric]")
    pos = spec.get("position", -1)
    if kind in ("logprob", "prob"):
        fn = metrics.logprob if kind == "logprob" else metrics.prob
        return fn(target=_answers(spec.get("target"), model, "target"), position=pos)
    if kind == "logit_diff":
        if "correct" not in spec or "incorrect" not in spec:
            raise ConfigError("[metric] logit_diff needs 'correct' and 'incorrect'")
        return metrics.logit_diff(
            _answers(spec["correct"], model, "correct"), _answers(spec["incorrect"], model, "incorrect"), position=pos
        )
    if kind == "kl_divergence":
        return metrics.kl_divergence(position=pos)
    if "entry" not in spec:
        raise ConfigError("[metric] kind = 'entry' needs 'entry'")
    return metrics.custom(_entry(spec["entry"], cfg.path.parent, "[metric] entry"), position=pos)


def build_game(cfg: SweepConfig, resolved: Resolved) -> Any:
    """Build the config's :class:`~spex_mech.AblationGame` (runs the clean prompts and the reference once).

    One construction for the CLI's driver and for every Ray actor (``distributed.ConfigFactory``), so
    the game's options — batch size, precision — cannot differ between them.

    Parameters
    ----------
    cfg : SweepConfig
        The loaded config.
    resolved : Resolved
        Its :func:`resolve` result (model, units, prompts, metric, ablation, reference).

    Returns
    -------
    AblationGame
        The game.
    """
    from .engine import AblationGame

    return AblationGame(
        resolved.model,
        resolved.units,
        resolved.tokens,
        resolved.metric,
        ablation=resolved.ablation,
        reference=resolved.reference,
        batch_size=cfg.get("output", "batch_size", "auto"),
        progress=False,
        precision=cfg.get("model", "precision", "fp32"),
    )


def resolve(cfg: SweepConfig) -> Resolved:
    """Load the model and check units, prompts, metric and budget — all before any masked evaluation.

    Parameters
    ----------
    cfg : SweepConfig
        A config from :func:`load_config`.

    Returns
    -------
    Resolved
        The model, units, prompts, metric, ablation and the algorithm call.

    Raises
    ------
    ConfigError
        On any problem, naming the section and key.
    """
    _check_device(cfg.get("model", "device", "cpu"))
    _check_precision(cfg.get("model", "precision", "fp32"), cfg.get("model", "device", "cpu"))
    model, zoo_module = _load_model(cfg)
    entries: list[Any] = [zoo_module] if zoo_module is not None else []
    if "entry" in cfg.data["model"]:
        entries.append(sys.modules.get(cfg.data["model"]["entry"].split(":")[0]))
    model_folder = None
    if "hf" in cfg.data["model"]:
        model_folder = Path(cfg.data["model"]["hf"])
        model_folder = model_folder if model_folder.is_absolute() else cfg.path.parent / model_folder
    base = cfg.path.parent
    zoo_task = None
    prompts = cfg.data.get("prompts", {})
    if zoo_module is not None and hasattr(zoo_module, "task"):
        kw = {k: prompts[k] for k in ("n", "seed") if k in prompts}
        zoo_task = zoo_module.task(**kw)
    if "tokens" in prompts:
        tokens = _token_source(prompts["tokens"], base, "[prompts] tokens")
    elif "text" in prompts:
        tokens = prompts["text"]
    elif "entry" in prompts:
        prompt_fn = _entry(prompts["entry"], base, "[prompts] entry")
        entries.append(prompt_fn)
        tokens = prompt_fn()
    elif zoo_task is not None:
        tokens = zoo_task["tokens"]
    else:
        raise ConfigError("missing section [prompts] (only zoo models have default prompts)")
    units = _units(cfg, model)
    _check_prompts(model, tokens, "[prompts] tokens")
    metric = _metric(cfg, zoo_task if not prompts or set(prompts) <= {"n", "seed"} else None, model)
    ablation_spec = cfg.data.get("ablation", {})
    ablation = ablation_spec.get("kind", (zoo_task or {}).get("ablation", "mean"))
    from .engine import ABLATIONS

    if ablation not in ABLATIONS:
        raise ConfigError(f"[ablation] kind: unknown ablation '{ablation}'{_suggest(ablation, ABLATIONS)}")
    ref = ablation_spec.get("reference")
    zoo_kind = zoo_task is not None and ablation_spec.get("kind") in (None, zoo_task.get("ablation"))
    if ref == "zoo" or (ref is None and zoo_kind):
        reference = (zoo_task or {}).get("reference")
    elif ref is None:
        reference = None
    else:
        reference = _token_source(ref, base, "[ablation] reference")
    algo = cfg.data["algorithm"]
    name = algo["name"]
    kwargs = dict(algo.get("options", {}))
    for key in ("budget", "max_order", "seed"):
        if key in algo:
            kwargs[key] = algo[key]
    if reference is not None:
        _check_prompts(model, reference, "[ablation] reference")
    _check_metric_ids(cfg, model, tokens)
    planned = _check_budget(name, len(units), kwargs)
    if cfg.get("metric", "kind") == "entry":
        entries.append(sys.modules.get(cfg.data["metric"]["entry"].split(":")[0]))
    return Resolved(
        model, units, tokens, metric, ablation, reference, name, kwargs, planned,
        entries=entries, model_folder=model_folder, device=cfg.get("model", "device", "cpu"),
    )
