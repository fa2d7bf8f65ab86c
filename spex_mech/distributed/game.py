"""`RayGame`: one value function ``f(masks) -> values`` whose rows are evaluated by a pool of Ray actors.

Each actor builds its own replica of the game with ``factory()`` (a model load, units, prompts and a
metric), so the driver only ships bit-packed mask chunks and gathers float64 values in row order.
Chunks are idempotent: when an actor dies mid-chunk (killed, out of memory, node lost) Ray restarts it
with a fresh replica and runs its chunks again there; a chunk whose actor is gone for good is submitted
to another live actor. Values are recorded once, when a chunk's result arrives, so nothing is lost or
counted twice.

Chunk boundaries are multiples of the actor game's masks-per-forward-pass, so each actor runs the same
forward passes the single-process game would run on the same rows.
"""

from __future__ import annotations

import math
import os
from collections import deque
from typing import Any, Callable, Optional

import numpy as np
from tqdm.auto import tqdm

from ..validation import check_float, check_int
from ..valuefn import check_values, to_mask_array
from .actor import ActorInfo, _actor_table, _failed, _GameWorker, _last_line
from .connect import ClusterError, connect, require_ray

__all__ = ["ActorInfo", "RayGame"]

ChunkSink = Callable[[np.ndarray, np.ndarray], None]


class RayGame:
    """A value function evaluated by ``actors`` Ray actors, each holding its own replica of the game.

    ``game(masks)`` returns float64 ``[B]`` in row order. ``evaluate(masks, on_chunk=...)`` also calls
    ``on_chunk(chunk_masks, chunk_values)`` in the driver as each chunk finishes (the store writer).
    Call :meth:`close` (or use ``with``) to stop the actors; a Ray this object started is shut down too.

    Parameters
    ----------
    factory : callable or str or os.PathLike
        Builds the game on each actor: a picklable zero-argument callable (model load + units + prompts +
        metric → an :class:`~spex_mech.AblationGame` or any ``f(masks) -> values`` with ``n``), or the path
        of a ``spex-mech`` TOML config (see :class:`~spex_mech.distributed.ConfigFactory`).
    actors : int, default 1
        Number of actors (model replicas); at least 1.
    gpus_per_actor : float, default 0
        GPUs each actor reserves. With ``gpus_per_actor >= 1`` Ray sets the actor's
        ``CUDA_VISIBLE_DEVICES``, so ``"cuda"`` inside the factory is that actor's GPU.
    cpus_per_actor : float, default 1
        CPUs each actor reserves.
    address : str, optional
        ``None`` (reuse this process's Ray connection, else start a local Ray), ``"local"``, ``"auto"``,
        ``"ray://host:port"`` or ``"host:port"``.
    chunk_size : int, optional
        Masks per chunk (rounded up to a multiple of the game's masks per forward pass); default: enough
        chunks to keep every actor busy, at most 8 forward passes each.
    max_restarts : int, default 3
        Times Ray restarts a dead actor before the pool stops using it.
    max_chunk_retries : int, default 3
        Times one chunk is resubmitted after its actor died before the call fails.
    progress : bool, default False
        Show a tqdm bar over the whole cluster's evaluated masks.
    local_cpus : float, optional
        CPUs a Ray started here (``address="local"``) may use; default: the machine's.
    start_timeout : float, default 600
        Seconds to wait for all actors to build their game.

    Raises
    ------
    TypeError
        If ``factory`` is neither a callable nor a config path.
    ValueError
        If a count or resource is out of range (named in the message).
    ClusterError
        If the cluster cannot be reached, lacks the resources, or an actor fails to build its game.
    """

    def __init__(
        self,
        factory: Any,
        *,
        actors: int = 1,
        gpus_per_actor: float = 0,
        cpus_per_actor: float = 1,
        address: Optional[str] = None,
        chunk_size: Optional[int] = None,
        max_restarts: int = 3,
        max_chunk_retries: int = 3,
        progress: bool = False,
        local_cpus: Optional[float] = None,
        start_timeout: float = 600.0,
    ):
        if isinstance(factory, (str, os.PathLike)):
            from .factory import ConfigFactory

            factory = ConfigFactory(factory)
        if not callable(factory):
            raise TypeError(
                f"factory must be a callable that builds the game, or a config path; got {type(factory).__name__}"
            )
        if isinstance(actors, bool) or not isinstance(actors, (int, np.integer)) or actors < 1:
            raise ValueError(f"actors must be an integer of at least 1, got {actors!r}")
        self.n_actors = int(actors)
        self.gpus_per_actor = check_float("gpus_per_actor", gpus_per_actor, low=0)
        self.cpus_per_actor = check_float("cpus_per_actor", cpus_per_actor, low=0)
        self.chunk_size = None if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
        self.max_restarts = int(max_restarts)
        self.max_chunk_retries = int(max_chunk_retries)
        self.progress = progress
        self.n_evaluations = 0
        self.n_failed_chunks = 0
        self._actors: list[Any] = []
        self._closed = False
        self._started_ray = connect(address, num_cpus=local_cpus)
        try:
            self._check_resources()
            self._start(factory, start_timeout)
        except BaseException:
            self.close()
            raise

    # -- set-up ---------------------------------------------------------------------------------------
    def _check_resources(self) -> None:
        ray = require_ray()
        total = ray.cluster_resources()
        for key, per in (("GPU", self.gpus_per_actor), ("CPU", self.cpus_per_actor)):
            need = per * self.n_actors
            have = float(total.get(key, 0.0))
            if need > have + 1e-9:
                raise ClusterError(
                    f"{self.n_actors} actor(s) × {per:g} {key} need {need:g} {key}(s); the cluster has {have:g}"
                )

    def _start(self, factory: Callable[[], Any], timeout: float) -> None:
        ray = require_ray()
        worker = ray.remote(_GameWorker)
        for _ in range(self.n_actors):
            self._actors.append(
                worker.options(
                    num_cpus=self.cpus_per_actor,
                    num_gpus=self.gpus_per_actor,
                    max_restarts=self.max_restarts,
                    max_task_retries=self.max_chunk_retries,  # rerun on the restarted actor (chunks are idempotent)
                ).remote(factory)
            )
        refs = [a.describe.remote() for a in self._actors]
        try:
            infos = ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError(
                f"the {self.n_actors} actor(s) did not build their game within {timeout:g} s "
                "(not enough free resources on the cluster, or a slow model load)"
            ) from None
        except ray.exceptions.RayError as err:
            which = next((i for i, r in enumerate(refs) if _failed(r)), 0)
            raise ClusterError(f"the game factory failed on actor {which}: {_last_line(err)}") from None
        first = infos[0]
        for i, info in enumerate(infos[1:], start=1):
            if info["n"] != first["n"] or info["ids"] != first["ids"]:
                raise ClusterError(f"actor {i} built a different game (n={info['n']}) from actor 0 (n={first['n']})")
        self.n = int(first["n"])
        self.ids = first["ids"]
        self.labels = first["labels"] or [f"u{i}" for i in range(self.n)]
        self.n_prompts = first["n_prompts"]
        self.clean_value = first["clean_value"]
        self.plan = first["plan"]
        self.masks_per_pass = max(int(info["masks_per_pass"]) for info in infos)
        self._alive = [True] * self.n_actors


    # -- inspection -----------------------------------------------------------------------------------
    def actor_info(self) -> list[ActorInfo]:
        """Where each live actor runs now (pid, node, device, GPUs)."""
        ray = require_ray()
        out = []
        for i, actor in enumerate(self._actors):
            if not self._alive[i]:
                continue
            d = ray.get(actor.describe.remote())
            out.append(ActorInfo(i, d["pid"], d["node"], d["device"], d["gpu_ids"], d["masks_per_pass"]))
        return out

    def describe(self) -> dict[str, Any]:
        """Describe the pool's shape, for run records.

        Returns
        -------
        dict
            Actors, resources per actor, masks per forward pass, failed chunks and each actor's restarts.
        """
        return {
            "actors": self.n_actors,
            "gpus_per_actor": self.gpus_per_actor,
            "cpus_per_actor": self.cpus_per_actor,
            "masks_per_pass": self.masks_per_pass,
            "failed_chunks": self.n_failed_chunks,
            "actor_restarts": [(_actor_table(a) or {}).get("NumRestarts") for a in self._actors],
        }

    # -- evaluation -----------------------------------------------------------------------------------
    def _rows_per_chunk(self, total: int) -> int:
        per = self.masks_per_pass
        if self.chunk_size is not None:
            return per * math.ceil(self.chunk_size / per)
        want = math.ceil(total / (2 * self.n_actors))  # two chunks per actor: one running, one queued
        return per * min(8, max(1, math.ceil(want / per)))

    def __call__(self, masks: Any) -> np.ndarray:
        """Evaluate ``masks`` on the actors (see :meth:`evaluate`).

        Parameters
        ----------
        masks : array_like
            Masks [B, n].

        Returns
        -------
        numpy.ndarray
            Values [B] (float64), row order.
        """
        return self.evaluate(masks)

    def evaluate(self, masks: Any, on_chunk: Optional[ChunkSink] = None) -> np.ndarray:
        """Evaluate ``masks`` on the actors, chunk by chunk.

        Parameters
        ----------
        masks : array_like
            Masks [B, n].
        on_chunk : callable, optional
            Called as ``on_chunk(chunk_masks, chunk_values)`` in the driver as each chunk finishes.

        Returns
        -------
        numpy.ndarray
            Values [B] (float64), row order.

        Raises
        ------
        ClusterError
            If the game is closed, or a chunk fails on its actor (the game's own error, in one line) or runs
            out of retries.
        """
        if self._closed:
            raise ClusterError("this RayGame is closed")
        ray = require_ray()
        arr = to_mask_array(masks, self.n)
        total = arr.shape[0]
        out = np.empty(total, dtype=np.float64)
        if total == 0:
            return out
        packed = np.packbits(arr, axis=1, bitorder="little")
        step = self._rows_per_chunk(total)
        bounds = [(s, min(s + step, total)) for s in range(0, total, step)]
        pending = deque(range(len(bounds)))
        attempts = [0] * len(bounds)
        avoid: dict[int, int] = {}
        load = [0] * self.n_actors
        in_flight: dict[Any, tuple[int, int]] = {}
        bar = tqdm(total=total, disable=not self.progress, desc=f"masked evals ({self.n_actors} actors)", unit="mask")
        try:
            while pending or in_flight:
                while pending:
                    ci = pending[0]
                    ai = self._pick(load, avoid.get(ci))
                    if ai is None:
                        break
                    pending.popleft()
                    s, e = bounds[ci]
                    in_flight[self._actors[ai].evaluate.remote(packed[s:e])] = (ci, ai)
                    load[ai] += 1
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    ci, ai = in_flight.pop(ref)
                    load[ai] -= 1
                    s, e = bounds[ci]
                    try:
                        vals = ray.get(ref)
                    except ray.exceptions.RayActorError as err:
                        self._actor_failed(ai, ci, attempts, err)
                        avoid[ci] = ai
                        pending.appendleft(ci)
                        continue
                    except ray.exceptions.RayTaskError as err:
                        raise ClusterError(
                            f"the game raised on actor {ai} (rows {s}..{e - 1} of this call): {_last_line(err)}"
                        ) from None
                    except ray.exceptions.RayError as err:  # e.g. Ray's memory monitor killed the task
                        raise ClusterError(
                            f"Ray failed to evaluate rows {s}..{e - 1} on actor {ai}: {_last_line(err)}"
                        ) from None
                    vals = check_values(vals, arr[s:e], what=f"game on actor {ai}")
                    out[s:e] = vals
                    self.n_evaluations += e - s
                    if on_chunk is not None:
                        on_chunk(arr[s:e], vals)
                    bar.update(e - s)
        finally:
            bar.close()
            for ref in in_flight:  # an error or Ctrl-C: drop what is still queued on the actors
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - best effort; close() kills the actors anyway
                    pass
        return out

    def _pick(self, load: list[int], avoid: Optional[int]) -> Optional[int]:
        """Return the live actor with the fewest chunks in flight (< 2), preferring not ``avoid``."""
        choices = [i for i in range(self.n_actors) if self._alive[i] and load[i] < 2]
        if not choices:
            return None
        others = [i for i in choices if i != avoid]
        return min(others or choices, key=lambda i: (load[i], i))

    def _actor_failed(self, ai: int, ci: int, attempts: list[int], err: BaseException) -> None:
        """Handle a chunk Ray could not finish on its actor (restarts or retries used up).

        The actor stops being used if it is dead for good; the chunk goes to another live actor.
        """
        self.n_failed_chunks += 1
        attempts[ci] += 1
        state = _actor_table(self._actors[ai])
        if state is None or state["State"] == "DEAD":
            self._alive[ai] = False
        if not any(self._alive):
            raise ClusterError(
                f"every actor died more than max_restarts={self.max_restarts} times; last: {_last_line(err)}"
            )
        if attempts[ci] > self.max_chunk_retries:
            raise ClusterError(
                f"a chunk failed {attempts[ci]} times (actors died while evaluating it); last: {_last_line(err)}"
            )

    # -- shutdown -------------------------------------------------------------------------------------
    def close(self) -> None:
        """Kill the actors (and shut down a Ray this object started). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            import ray
        except ImportError:  # pragma: no cover
            return
        if ray.is_initialized():
            for actor in self._actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - an actor that is already gone
                    pass
        self._actors = []
        if self._started_ray and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> "RayGame":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        n = getattr(self, "n", "?")
        return (
            f"RayGame(n={n} units, actors={self.n_actors}, gpus_per_actor={self.gpus_per_actor:g}, "
            f"cpus_per_actor={self.cpus_per_actor:g})"
        )
