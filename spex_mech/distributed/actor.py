"""The actor side of :class:`~spex_mech.distributed.RayGame`: the worker body and Ray state look-ups.

Each actor builds its own game replica once (:class:`_GameWorker`) and evaluates packed mask chunks;
:class:`ActorInfo` describes where it runs. The helpers read an actor's state and an error's last line
from Ray, so the pool in :mod:`.game` can decide what to do with a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["ActorInfo"]


@dataclass(frozen=True)
class ActorInfo:
    """Where one actor runs and what its game replica is.

    Attributes
    ----------
    index : int
        The actor's position in the pool.
    pid : int
        Its worker process id (changes when Ray restarts the actor).
    node : str
        The Ray node id it runs on.
    device : str
        The torch device its game evaluates on (``"cpu"`` if the game has no ``device``).
    gpu_ids : tuple of str
        The GPU ids Ray assigned to it (its ``CUDA_VISIBLE_DEVICES``).
    masks_per_pass : int
        Masks its game evaluates in one forward pass.
    """

    index: int
    pid: int
    node: str
    device: str
    gpu_ids: tuple[str, ...]
    masks_per_pass: int


def _last_line(err: BaseException) -> str:
    """Return the innermost error's one-line text (``ValueError: ...``) from a Ray error's traceback dump."""
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


class _GameWorker:
    """The actor body: builds the game replica once, then evaluates packed mask chunks."""

    def __init__(self, factory: Callable[[], Any]):
        game = factory()
        if not callable(game):
            raise TypeError(f"the game factory returned {type(game).__name__}, which is not a value function")
        n = getattr(game, "n", None)
        if n is None:
            raise TypeError("the game built by the factory has no `n` (number of units)")
        self.game = game
        self.n = int(n)

    def describe(self) -> dict[str, Any]:
        """Describe the replica and where it runs (units, prompts, plan, pid, node, device, GPUs)."""
        import ray

        game = self.game
        n_prompts = int(getattr(game, "n_prompts", 1) or 1)
        rows = getattr(game, "rows_per_pass", None)
        per = max(1, int(rows) // n_prompts) if rows else 1
        ctx = ray.get_runtime_context()
        return {
            "n": self.n,
            "ids": list(getattr(game, "ids", None) or []) or None,
            "labels": [str(x) for x in getattr(game, "labels", None) or []] or None,
            "n_prompts": n_prompts,
            "clean_value": getattr(game, "clean_value", None),
            "plan": dict(getattr(game, "plan", {}) or {}),
            "pid": os.getpid(),
            "node": ctx.get_node_id(),
            "device": str(getattr(game, "device", "cpu")),
            "gpu_ids": tuple(str(g) for g in ray.get_gpu_ids()),
            "masks_per_pass": per,
        }

    def evaluate(self, packed: np.ndarray) -> np.ndarray:
        """Evaluate packed mask rows (little-endian bits) on the replica; float64 values."""
        masks = np.unpackbits(packed, axis=1, count=self.n, bitorder="little").astype(bool)
        return np.asarray(self.game(masks), dtype=np.float64)


def _actor_table(actor: Any) -> Optional[dict[str, Any]]:
    """Return the GCS actor-table entry of ``actor`` (``State``, ``NumRestarts``, ``Pid``), None if unavailable.

    Read from the GCS directly: Ray's public state API needs the dashboard, which ``ray`` alone lacks.
    """
    try:
        from ray._private import state

        info = state.actors(actor_id=actor._actor_id.hex())
    except Exception:  # noqa: BLE001 - a Ray without this table: treat the actor as unknown
        return None
    return info or None


def _failed(ref: Any) -> bool:
    """Tell whether the object ref has already failed (without waiting for it)."""
    import ray

    try:
        ray.get(ref, timeout=0)
    except ray.exceptions.GetTimeoutError:
        return False
    except ray.exceptions.RayError:
        return True
    return False
