"""Sweep configuration (TOML): the schema and the structural validation of a config file.

Everything that can be checked from the file alone is checked here, with errors naming the key: unknown
sections or keys (with a suggestion for typos), wrong types, ranges of plain numbers, an unknown algorithm
and options the algorithm does not take. :mod:`spex_mech.config` resolves a loaded config into model, units,
prompts and metric; :mod:`spex_mech.config_checks` holds the checks that need the model or the machine.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "SweepConfig", "load_config", "ALGORITHMS", "METRICS", "SCHEMA", "REQUIRED"]

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
    """A loaded, structurally valid sweep configuration.

    Attributes
    ----------
    path : pathlib.Path
        The TOML file (relative paths in the config are read from its folder).
    data : dict
        The parsed sections, ``{section: {key: value}}``.
    """

    path: Path
    data: dict[str, dict[str, Any]]

    def get(self, section: str, key: str, default: Any = None) -> Any:
        """Return ``[section] key``, or ``default`` when the section or key is absent.

        Parameters
        ----------
        section : str
            The section name.
        key : str
            The key.
        default : Any, optional
            The value returned when absent.

        Returns
        -------
        Any
            The value.
        """
        return self.data.get(section, {}).get(key, default)

    def game_identity(self) -> dict[str, Any]:
        """Everything that defines the value function (stored with the evaluated masks)."""
        return {k: self.data.get(k, {}) for k in ("model", "prompts", "metric", "units", "ablation")}


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def load_config(path: str | os.PathLike) -> SweepConfig:
    """Parse the TOML file and validate its structure (keys, types, ranges, required entries).

    Parameters
    ----------
    path : str or os.PathLike
        The config file.

    Returns
    -------
    SweepConfig
        The loaded config.

    Raises
    ------
    ConfigError
        On a missing file, invalid TOML, or any problem of structure, naming the section and key.

    Examples
    --------
    >>> cfg = load_config("configs/induction.toml")  # doctest: +SKIP
    >>> cfg.get("algorithm", "name")  # doctest: +SKIP
    'spex'
    """
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
    """Check that [algorithm] options are keyword arguments of the algorithm, of the declared type.

    Checked before the model loads, so a typo fails in a second, not after the sweep has started.
    """
    from .registry import OptionError, check_option_type, option_schema

    accepted = list(option_schema(name))
    for key, value in algo.get("options", {}).items():
        if key in ("f", "n"):
            raise ConfigError(
                f"[algorithm] options: '{key}' is set by the sweep (the game and its units), not an option"
            )
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
