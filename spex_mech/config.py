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

from .registry import ALGORITHMS as _REGISTRY

ALGORITHMS = tuple(_REGISTRY)  # the registry (spex_mech.registry) is the one list
METRICS = ("logprob", "prob", "logit_diff", "kl_divergence", "entry")

# section → {key: (allowed python types, description)}
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], str]]] = {
    "model": {
        "zoo": ((str,), "zoo model name"),
        "hf": ((str,), "local Hugging Face folder (TransformerBridge.boot_transformers)"),
        "entry": ((str,), "'module:function' returning a model"),
        "device": ((str,), "torch device"),
        "precision": ((str,), "fp32 (default, exact) | tf32 (CUDA) | bf16: the masked passes' arithmetic"),
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
    "cluster": {  # spex_mech.distributed: evaluate on Ray actors (checked by distributed.factory.cluster_options)
        "address": ((str,), "'local', 'auto', 'ray://host:port' or 'host:port'"),
        "actors": ((int,), "number of Ray actors (model replicas)"),
        "gpus_per_actor": ((int, float), "GPUs each actor reserves"),
        "cpus_per_actor": ((int, float), "CPUs each actor reserves"),
        "chunk_size": ((int,), "masks per chunk sent to an actor"),
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
    _check_numbers(data)
    cfg = SweepConfig(path=path, data=data)
    if "cluster" in data:
        from .distributed.factory import cluster_options

        cluster_options(cfg)
    return cfg


def _check_numbers(data: dict[str, dict[str, Any]]) -> None:
    """Ranges of plain numbers and strict integer lists (no 1.5 or true where an int is meant)."""
    out = data.get("output", {})
    for key, low, right in (
        ("flush_every", 1, "a positive number of masks, e.g. 256"),
        ("top", 1, "a positive number of rows, e.g. 10"),
        ("faithfulness_samples", 0, "0 to skip, or e.g. 1000"),
    ):
        if key in out and out[key] < low:
            raise ConfigError(f"[output] {key}: {out[key]} is too small ({right})")
    bs = out.get("batch_size")
    if bs is not None and not (bs == "auto" or (isinstance(bs, int) and bs >= 1)):
        raise ConfigError(f"[output] batch_size: {bs!r} is not valid ('auto' or a positive integer)")
    prompts = data.get("prompts", {})
    if "n" in prompts and prompts["n"] < 1:
        raise ConfigError(f"[prompts] n: {prompts['n']} prompts is too few (at least 1)")
    algo = data.get("algorithm", {})
    for key in ("budget", "max_order"):
        if key in algo and algo[key] < 1:
            raise ConfigError(f"[algorithm] {key}: {algo[key]} is too small (a positive integer)")
    metric = data.get("metric", {})
    for key in ("target", "correct", "incorrect", "position"):
        if key in metric:
            _strict_ints(metric[key], f"[metric] {key}", nested=key == "position", strings=key != "position")
    heads = data.get("units", {}).get("heads")
    if isinstance(heads, dict):
        for key in ("layers", "heads"):
            value = heads.get(key)
            if isinstance(value, dict):
                for layer, hs in value.items():
                    _strict_ints(hs, f"[units] heads.{key}.{layer}")
            elif value is not None:
                _strict_ints(value, f"[units] heads.{key}")
    for i, entry in enumerate(data.get("units", {}).get("neurons", [])):
        if isinstance(entry, dict):
            for key in ("layer", "neurons"):
                if key in entry:
                    _strict_ints(entry[key], f"[units] neurons[{i}].{key}")


def _strict_ints(value: Any, where: str, nested: bool = False, strings: bool = False) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if nested and isinstance(item, list):
            _strict_ints(item, where, strings=strings)
        elif strings and isinstance(item, str):
            continue  # an answer string: its tokenization is checked against the model later
        elif isinstance(item, bool) or not isinstance(item, int):
            raise ConfigError(f"{where}: {item!r} is not an integer (whole numbers only, no true/false or 1.5)")


def _check_options(name: str, algo: dict[str, Any]) -> None:
    """[algorithm] options must be keyword arguments of the algorithm, of the declared type (checked
    before the model loads, so a typo fails in a second, not after the sweep has started).
    """
    from .registry import OptionError, check_option_type, option_schema

    accepted = list(option_schema(name))
    for key, value in algo.get("options", {}).items():
        if key in ("f", "n"):
            raise ConfigError(f"[algorithm] options: '{key}' is set by the sweep (the game and its units), not an option")
        if key in SCHEMA["algorithm"] and key in algo:
            raise ConfigError(f"[algorithm] options: '{key}' is also set as [algorithm] {key}; give it once")
        if key not in accepted:
            raise ConfigError(
                f"[algorithm] options: {name} has no option '{key}'{_suggest(key, accepted)} "
                f"(its options: {', '.join(k for k in accepted if k not in SCHEMA['algorithm'])})"
            )
        try:
            check_option_type(name, key, value)
        except OptionError as err:
            raise ConfigError(f"[algorithm] options.{key}: {err}") from None


def _entry(spec: str, base: Path, key: str) -> Callable[..., Any]:
    """Import ``module:function`` with the config's folder on ``sys.path`` only during the import (so a
    file beside the config never shadows an installed package afterwards). A module of that name beside
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


def build_game(cfg: SweepConfig, resolved: Resolved) -> Any:
    """The config's :class:`~spex_mech.AblationGame` (runs the clean prompts and the reference once).

    One construction for the CLI's driver and for every Ray actor (``distributed.ConfigFactory``), so
    the game's options — batch size, precision — cannot differ between them.

    Parameters
    ----------
    cfg : the loaded config.
    resolved : its :func:`resolve` result (model, units, prompts, metric, ablation, reference).

    Returns
    -------
    AblationGame
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
    """Load the model and check units, prompts, metric and budget — all before any masked evaluation."""
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


def _check_budget(name: str, n: int, kwargs: dict[str, Any]) -> Optional[int]:
    """The planned number of evaluations; a ConfigError naming the key if the algorithm refuses the call
    (the registry asks the algorithm itself: see :func:`spex_mech.registry.check_call`).
    """
    from .registry import OptionError, check_call, get

    spec = get(name)
    for key in ("budget", "max_order", "seed"):
        if key not in spec.sweep_keys:
            kwargs.pop(key, None)  # the algorithm has no such argument (e.g. exhaustive's budget)
    if "budget" in spec.sweep_keys and "budget" not in kwargs and "budget" not in _defaults(name):
        raise ConfigError(f"[algorithm] budget: missing ({name} needs one: the number of model evaluations)")
    try:
        return check_call(name, n, kwargs)
    except OptionError as err:
        key = err.key
        where = key if key in ("budget", "max_order", "seed") else (f"options.{key}" if key else "options")
        raise ConfigError(f"[algorithm] {where}: {err} ({name} with {n} units)") from None


def _defaults(name: str) -> dict[str, Any]:
    from .registry import option_schema

    return {k: p.default for k, p in option_schema(name).items() if p.default is not p.empty}


def _check_precision(precision: str, device: str) -> None:
    import torch

    from .engine.precision import check_precision

    try:
        check_precision(precision, torch.device(device))
    except ValueError as err:
        raise ConfigError(f"[model] precision: {err}") from None


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"[model] device: unknown device '{device}' (cpu, cuda, cuda:0, mps)") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ConfigError(f"[model] device: '{device}' is not available on this machine (cpu, or a visible cuda device)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("[model] device: 'mps' is not available on this machine (cpu)")


def _model_limits(model: Any) -> tuple[Optional[int], Optional[int]]:
    cfg = getattr(model, "cfg", None)
    return getattr(cfg, "d_vocab", None), getattr(cfg, "n_ctx", None)


def _rows(tokens: Any) -> Optional[list[list[int]]]:
    """Token ids as a list of rows, or None for text prompts (checked by the tokenizer later)."""
    import torch

    if isinstance(tokens, torch.Tensor):
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2:
            return [[-1]] if tokens.ndim == 0 else None
        return tokens.tolist()
    if isinstance(tokens, (list, tuple)) and tokens and all(isinstance(t, str) for t in tokens):
        return None
    if isinstance(tokens, (list, tuple)):
        return [list(r) if isinstance(r, (list, tuple)) else [r] for r in tokens]
    return None


def _check_prompts(model: Any, tokens: Any, where: str) -> None:
    import torch

    if isinstance(tokens, torch.Tensor) and tokens.is_floating_point():
        raise ConfigError(f"{where}: token ids must be integers, got dtype {tokens.dtype}")
    rows = _rows(tokens)
    if isinstance(tokens, (list, tuple)) and not tokens:
        raise ConfigError(f"{where}: no prompts (at least one prompt of at least one token)")
    if rows is None:
        return
    if not rows or all(len(r) == 0 for r in rows):
        raise ConfigError(f"{where}: no prompts (at least one prompt of at least one token)")
    if any(len(r) == 0 for r in rows):
        empty = next((i for i, r in enumerate(rows) if not r), 0)
        raise ConfigError(f"{where}: prompt {empty} is empty (at least one token per prompt)")
    d_vocab, n_ctx = _model_limits(model)
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            if isinstance(t, bool) or not isinstance(t, int) or t < 0 or (d_vocab is not None and t >= d_vocab):
                raise ConfigError(f"{where}: prompt {i}, position {j}: token id {t!r} is outside the vocabulary (0 … {d_vocab - 1 if d_vocab else '?'})")
        if n_ctx is not None and len(row) > n_ctx:
            raise ConfigError(f"{where}: prompt {i} has {len(row)} tokens, longer than the model's context n_ctx={n_ctx}")


def _check_metric_ids(cfg: SweepConfig, model: Any, tokens: Any) -> None:
    spec = cfg.data.get("metric") or {}
    d_vocab, _ = _model_limits(model)
    for key in ("target", "correct", "incorrect"):
        ids = spec.get(key)
        for t in ids if isinstance(ids, list) else ([] if ids is None else [ids]):
            if isinstance(t, str):
                continue  # a string answer: tokenized (single token, in the vocabulary) by _answers
            if d_vocab is not None and not 0 <= t < d_vocab:
                raise ConfigError(f"[metric] {key}: token id {t} is outside the vocabulary (0 … {d_vocab - 1})")
    rows = _rows(tokens)
    if rows is None or "position" not in spec:
        return
    pos = spec["position"]
    per_prompt = isinstance(pos, list) and pos and all(isinstance(p, list) for p in pos)
    if per_prompt and len(pos) != len(rows):
        raise ConfigError(f"[metric] position: {len(pos)} per-prompt lists for {len(rows)} prompts (one list per prompt)")
    for i, row in enumerate(rows):
        wanted = pos[i] if per_prompt else (pos if isinstance(pos, list) else [pos])
        for p in wanted:
            if not -len(row) <= p < len(row):
                raise ConfigError(f"[metric] position: {p} is outside prompt {i} of length {len(row)} ({-len(row)} … {len(row) - 1})")
