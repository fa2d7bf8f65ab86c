"""Masked evaluation fanned out over a Ray cluster: one value function, many model replicas.

>>> from spex_mech.distributed import RayGame
>>> with RayGame(build_game, actors=8, gpus_per_actor=1) as game:   # build_game() -> AblationGame
...     result = spex_mech.spex(game, max_order=3)

Needs Ray (``pip install 'spex-mech[ray]'``); importing this package does not import Ray.
"""

from .connect import ClusterError
from .factory import ClusterOptions, ConfigFactory, cluster_options
from .game import ActorInfo, RayGame
from .stored import StoredRayGame, open_store

__all__ = [
    "ActorInfo",
    "ClusterError",
    "ClusterOptions",
    "ConfigFactory",
    "RayGame",
    "StoredRayGame",
    "cluster_options",
    "open_store",
]
