"""Sweep configuration (TOML): schema, validation and resolution into model, units, prompts and metric.

Everything that can be checked before compute is checked here, with errors naming the key:
unknown sections or keys (with a suggestion for typos), wrong types, a missing model file, unknown
units, an unknown algorithm and a budget too small for it.

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

import difflib
import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "SweepConfig", "load_config", "resolve", "Resolved", "ALGORITHMS"]

ALGORITHMS = ("spex", "proxyspex", "exhaustive", "pairwise", "lasso", "shapley_sampling", "banzhaf_sampling")
METRICS = ("logprob", "prob", "logit_diff", "kl_divergence", "entry")

# section → {key: (allowed python types, description)}
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "model": {
        "zoo": ((str,), "zoo model name"),
        "hf": ((str,), "local Hugging Face folder (TransformerBridge.boot_transformers)"),
        "entry": ((str,), "'module:function' returning a model"),
        "device": ((str,), "torch device"),
    },
    "prompts": {
        "tokens": ((str, list), "token ids [[...], ...] or a .pt/.npy/.json file"),
        "text": ((list,), "prompt strings (needs a tokenizer)"),
        "entry": ((str,), "'module:function' returning token ids"),
        "n": ((int,), "number of prompts for a zoo task"),
        "seed": ((int,), "prompt seed for a zoo task"),
    },
    "metric": {
        "kind": ((str,), f"one of {', '.join(METRICS)}"),
        "position": ((int, list), "read position(s)"),
        "target": ((int, str, list), "target token id(s) or single-token answer string(s)"),
        "correct": ((int, str, list), "correct token id(s) or answer string(s) for logit_diff"),
        "incorrect": ((int, str, list), "incorrect token id(s) or answer string(s) for logit_diff"),
        "entry": ((str,), "'module:function' metric on logits [mask, prompt, k, vocab]"),
    },
    "units": {
        "heads": ((str, dict, bool), "'all', or {layers=[..], heads=[..]}"),
        "neurons": ((list,), "[{layer=.., neurons=[..]}, ...]"),
    },
    "ablation": {
        "kind": ((str,), "zero | mean | mean_tokenwise | resample"),
        "reference": ((str, list), "reference/corrupted prompts (ids or a file) or 'zoo'"),
    },
    "algorithm": {
        "name": ((str,), f"one of {', '.join(ALGORITHMS)}"),
        "budget": ((int,), "model evaluations"),
        "max_order": ((int,), "highest interaction order"),
        "seed": ((int,), "random seed"),
        "options": ((dict,), "extra keyword arguments for the algorithm"),
    },
    "output": {
        "top": ((int,), "rows in the summary table"),
        "circuit_fraction": ((float, int), "share of the effect the circuit must explain"),
        "figures": ((list,), "figure formats: png, svg"),
        "batch_size": ((str, int), "'auto' or rows per forward pass"),
        "faithfulness_samples": ((int,), "held-out uniform masks for R² (0 skips)"),
        "flush_every": ((int,), "masks evaluated between store flushes"),
        "title": ((str,), "report title"),
        "seed_stability": ((bool,), "rerun the algorithm with two more seeds at equal budget; report top-10 overlap"),
    },
}
REQUIRED = {"model": (), "algorithm": ("name",)}


class ConfigError(ValueError):
    """A configuration problem, reported before any compute with the offending key."""


@dataclass
class SweepConfig:
    path: Path
    data: dict[str, dict[str, Any]]

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.data.get(section, {}).get(key, default)

    def game_identity(self) -> dict[str, Any]:
        """Everything that defines the value function (stored with the evaluated masks)."""
        return {k: self.data.get(k, {}) for k in ("model", "prompts", "metric", "units", "ablation")}


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def load_config(path: str | os.PathLike) -> SweepConfig:
    """Parse and validate the TOML file's structure (keys, types, required entries)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from err
    for section, body in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}]{_suggest(section, SCHEMA)}")
        if not isinstance(body, dict):
            raise ConfigError(f"[{section}] must be a table")
        for key, value in body.items():
            if key not in SCHEMA[section]:
                raise ConfigError(f"unknown key '{key}' in [{section}]{_suggest(key, SCHEMA[section])}")
            types, desc = SCHEMA[section][key]
            if isinstance(value, bool) and bool not in types:
                raise ConfigError(f"[{section}] {key} must be {desc}, got {value!r}")
            if not isinstance(value, types):
                raise ConfigError(f"[{section}] {key} must be {desc}, got {type(value).__name__} {value!r}")
    for section, keys in REQUIRED.items():
        if section not in data:
            raise ConfigError(f"missing section [{section}]")
        for key in keys:
            if key not in data[section]:
                raise ConfigError(f"missing key '{key}' in [{section}]")
    sources = [k for k in ("zoo", "hf", "entry") if k in data["model"]]
    if len(sources) != 1:
        raise ConfigError("[model] needs exactly one of 'zoo', 'hf' or 'entry'")
    name = data["algorithm"]["name"]
    if name not in ALGORITHMS:
        raise ConfigError(f"[algorithm] name: unknown algorithm '{name}'{_suggest(name, ALGORITHMS)}")
    _check_options(name, data["algorithm"])
    kind = data.get("metric", {}).get("kind")
    if kind is not None and kind not in METRICS:
        raise ConfigError(f"[metric] kind: unknown metric '{kind}'{_suggest(kind, METRICS)}")
    for fmt in data.get("output", {}).get("figures", []):
        if fmt not in ("png", "svg"):
            raise ConfigError(f"[output] figures: unknown format '{fmt}' (png or svg)")
    frac = data.get("output", {}).get("circuit_fraction")
    if frac is not None and not 0 < frac <= 1:
        raise ConfigError(f"[output] circuit_fraction must be in (0, 1], got {frac}")
    return SweepConfig(path=path, data=data)


def _check_options(name: str, algo: dict[str, Any]) -> None:
    """[algorithm] options must be keyword arguments of the algorithm (checked before the model loads,
    so a typo fails in a second, not after the sweep has started)."""
    import inspect

    import spex_mech

    params = inspect.signature(getattr(spex_mech, name)).parameters
    accepted = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in ("f", "n")]
    for key in algo.get("options", {}):
        if key in ("f", "n"):
            raise ConfigError(f"[algorithm] options: '{key}' is set by the sweep (the game and its units), not an option")
        if key in SCHEMA["algorithm"] and key in algo:
            raise ConfigError(f"[algorithm] options: '{key}' is also set as [algorithm] {key}; give it once")
        if key not in accepted:
            raise ConfigError(
                f"[algorithm] options: {name} has no option '{key}'{_suggest(key, accepted)} "
                f"(its options: {', '.join(k for k in accepted if k not in SCHEMA['algorithm'])})"
            )


def _entry(spec: str, base: Path, key: str) -> Callable[..., Any]:
    if ":" not in spec:
        raise ConfigError(f"{key}: entry point must look like 'module:function', got '{spec}'")
    module_name, func = spec.split(":", 1)
    added = str(base)
    if added not in sys.path:
        sys.path.insert(0, added)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{key}: cannot import module '{module_name}' ({err})") from err
    if not hasattr(module, func):
        raise ConfigError(f"{key}: module '{module_name}' has no '{func}'")
    return getattr(module, func)


def _token_source(value: Any, base: Path, key: str) -> Any:
    import torch

    if isinstance(value, list):
        return torch.tensor(value, dtype=torch.long)
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
    """What a sweep runs on: everything needed to build the game, plus the algorithm call."""

    model: Any
    units: Any
    tokens: Any
    metric: Any
    ablation: str
    reference: Any
    algorithm: str
    algorithm_kwargs: dict[str, Any] = field(default_factory=dict)
    planned_evaluations: Optional[int] = None


def _load_model(cfg: SweepConfig) -> tuple[Any, Any]:
    from . import zoo

    base = cfg.path.parent
    device = cfg.get("model", "device", "cpu")
    if "zoo" in cfg.data["model"]:
        name = cfg.data["model"]["zoo"]
        if name not in zoo.ZOO:
            raise ConfigError(f"[model] zoo: unknown zoo model '{name}'{_suggest(name, zoo.ZOO)} (available: {', '.join(zoo.ZOO)})")
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


def resolve(cfg: SweepConfig) -> Resolved:
    """Load the model and check units, prompts, metric and budget — all before any masked evaluation."""
    model, zoo_module = _load_model(cfg)
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
        tokens = _entry(prompts["entry"], base, "[prompts] entry")()
    elif zoo_task is not None:
        tokens = zoo_task["tokens"]
    else:
        raise ConfigError("missing section [prompts] (only zoo models have default prompts)")
    units = _units(cfg, model)
    metric = _metric(cfg, zoo_task if not prompts or set(prompts) <= {"n", "seed"} else None, model)
    ablation_spec = cfg.data.get("ablation", {})
    ablation = ablation_spec.get("kind", (zoo_task or {}).get("ablation", "mean"))
    from .engine import ABLATIONS

    if ablation not in ABLATIONS:
        raise ConfigError(f"[ablation] kind: unknown ablation '{ablation}'{_suggest(ablation, ABLATIONS)}")
    ref = ablation_spec.get("reference")
    if ref == "zoo" or (ref is None and zoo_task is not None and ablation_spec.get("kind") in (None, zoo_task.get("ablation"))):
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
    planned = _check_budget(name, len(units), kwargs)
    return Resolved(model, units, tokens, metric, ablation, reference, name, kwargs, planned)


def _check_budget(name: str, n: int, kwargs: dict[str, Any]) -> Optional[int]:
    """The planned number of evaluations; a ConfigError if the budget cannot work."""
    budget = kwargs.get("budget")
    if name == "exhaustive":
        if n > 20:
            raise ConfigError(f"[algorithm] name: exhaustive needs 2^{n} evaluations; it is limited to 20 units")
        kwargs.pop("budget", None)
        kwargs.pop("max_order", None)
        kwargs.pop("seed", None)
        return 1 << n
    if name == "spex":
        from .algorithms.spex import spex_plan

        try:
            plan = spex_plan(n, max_order=kwargs.get("max_order", 5), budget=budget, b=kwargs.get("b"))
        except ValueError as err:
            raise ConfigError(f"[algorithm] budget: {err}") from err
        return int(plan.n_evaluations)
    if name == "pairwise":
        kwargs.pop("budget", None)
        kwargs.pop("max_order", None)
        kwargs.pop("seed", None)
        screen = kwargs.get("screen")
        m = screen if screen else n
        return 1 + n + m * (m - 1) // 2
    if budget is None:
        raise ConfigError(f"missing key 'budget' in [algorithm] ({name} needs one)")
    minimum = {"proxyspex": 50, "lasso": 20, "shapley_sampling": n + 1, "banzhaf_sampling": 4}[name]
    if budget < minimum:
        raise ConfigError(f"[algorithm] budget: {budget} is too small for {name} with {n} units (at least {minimum})")
    if name in ("shapley_sampling", "banzhaf_sampling"):
        kwargs.pop("max_order", None)
    return budget
