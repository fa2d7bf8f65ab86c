"""Building the game on an actor from a ``spex-mech`` TOML config, and reading its ``[cluster]`` section.

``[cluster]`` keys (all optional except that the section's presence switches the sweep to Ray)::

    [cluster]
    address = "local"        # "local" | "auto" | "ray://host:port" | "host:port"
    actors = 2               # model replicas (one per GPU on a multi-GPU machine)
    gpus_per_actor = 1       # Ray sets each actor's CUDA_VISIBLE_DEVICES; use [model] device = "cuda"
    cpus_per_actor = 1
    chunk_size = 256         # masks per chunk (default: automatic)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

__all__ = ["ClusterOptions", "ConfigFactory", "cluster_options"]

CLUSTER_KEYS = ("address", "actors", "gpus_per_actor", "cpus_per_actor", "chunk_size")


class ConfigFactory:
    """Picklable ``factory()`` that builds the config's :class:`~spex_mech.AblationGame` on an actor.

    The config and every file it names must be readable at the same path on every node (a shared or
    identical checkout). The ``[cluster]`` section plays no part in the game.

    Parameters
    ----------
    path : str or os.PathLike
        The TOML config (resolved to an absolute path).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(Path(path).resolve())

    def __call__(self) -> Any:
        """Load the config and build its game, exactly as the CLI's driver does.

        Returns
        -------
        AblationGame
            The game.
        """
        from ..config import build_game, load_config, resolve

        cfg = load_config(self.path)
        return build_game(cfg, resolve(cfg))  # the driver's construction, precision included

    def __repr__(self) -> str:
        return f"ConfigFactory({self.path!r})"


@dataclass(frozen=True)
class ClusterOptions:
    """The ``[cluster]`` section, checked: keyword arguments for :class:`~spex_mech.distributed.RayGame`.

    Attributes
    ----------
    address : str
        Where Ray runs (``"local"``, ``"auto"``, ``"ray://host:port"`` or ``"host:port"``).
    actors : int
        Number of actors.
    gpus_per_actor : float
        GPUs each actor reserves.
    cpus_per_actor : float
        CPUs each actor reserves.
    chunk_size : int, optional
        Masks per chunk.
    """

    address: str = "local"
    actors: int = 1
    gpus_per_actor: float = 0.0
    cpus_per_actor: float = 1.0
    chunk_size: Optional[int] = None

    def kwargs(self) -> dict[str, Any]:
        """Return the options as keyword arguments of :class:`~spex_mech.distributed.RayGame`.

        Returns
        -------
        dict
            ``address``, ``actors``, ``gpus_per_actor``, ``cpus_per_actor`` and ``chunk_size``.
        """
        return {
            "address": self.address,
            "actors": self.actors,
            "gpus_per_actor": self.gpus_per_actor,
            "cpus_per_actor": self.cpus_per_actor,
            "chunk_size": self.chunk_size,
        }


def _number(section: dict[str, Any], key: str, default: float, minimum: float, integer: bool) -> Any:
    from ..config import ConfigError

    value = section.get(key, default)
    kind = "an integer" if integer else "a number"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int,) if integer else (int, float)):
        raise ConfigError(f"[cluster] {key} must be {kind}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"[cluster] {key} must be at least {minimum:g}, got {value!r}")
    return value


def cluster_options(cfg: Any) -> Optional[ClusterOptions]:
    """Check the ``[cluster]`` section of a :class:`~spex_mech.config.SweepConfig`.

    Parameters
    ----------
    cfg : SweepConfig
        The loaded config.

    Returns
    -------
    ClusterOptions or None
        The checked options, or None when the config has no ``[cluster]`` section.

    Raises
    ------
    ConfigError
        If a key has the wrong type or range, naming it.
    """
    from ..config import ConfigError

    section = cfg.data.get("cluster")
    if section is None:
        return None
    address = section.get("address", "local")
    if not isinstance(address, str) or not address:
        raise ConfigError(
            f"[cluster] address must be 'local', 'auto', 'ray://host:port' or 'host:port', got {address!r}"
        )
    if address not in ("local", "auto") and ":" not in address:
        raise ConfigError(
            f"[cluster] address must be 'local', 'auto', 'ray://host:port' or 'host:port', got {address!r}"
        )
    return ClusterOptions(
        address=address,
        actors=_number(section, "actors", 1, 1, True),
        gpus_per_actor=float(_number(section, "gpus_per_actor", 0, 0, False)),
        cpus_per_actor=float(_number(section, "cpus_per_actor", 1, 0, False)),
        chunk_size=_number(section, "chunk_size", None, 1, True),
    )
