"""Issue 20: masked evaluation fanned out over Ray actors (a local Ray started here, CPU only).

Oracles: the single-process game built by the same factory (values compared bit for bit), all 2^n masks
for exhaustive runs, stored masks counted through the store's public API, and process ids read from
marker files the actors write themselves.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech.units.tokens import TokenUnits

from .conftest import build_tiny

ray = pytest.importorskip("ray")

from spex_mech.distributed import ClusterError, RayGame, StoredRayGame, open_store  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# ---------------------------------------------------------------------------------------------------
# games built on the actors (module-level functions: pickled by reference)


def _tokens() -> torch.Tensor:
    return torch.randint(0, 40, (5, 12), generator=torch.Generator().manual_seed(1))


def build_game(kind: str = "heads"):
    model = build_tiny(seed=0)
    tokens = _tokens()
    if kind == "heads":
        units, ablation = sm.AttentionHeads(model), "mean"
    elif kind == "neurons":
        units, ablation = sm.MLPNeurons(model, 1, neurons=list(range(0, 48, 3))), "mean_tokenwise"
    else:
        units, ablation = TokenUnits(model, tokens, spans=[0, (1, 3), 4, 5, (6, 9), 10], mask=0), "zero"
    return sm.AblationGame(
        model,
        units,
        tokens,
        sm.metrics.logprob(target=3, position=-1),
        ablation=ablation,
        batch_size=40,
        progress=False,
    )


class SlowGame:
    """A game that announces each call in ``marks/`` (pid and call number) and sleeps before evaluating,
    so a test can kill the actor mid-chunk."""

    def __init__(self, marks: str, delay: float):
        self.inner = build_game("heads")
        self.marks, self.delay, self.calls = Path(marks), delay, 0
        for key in ("n", "ids", "labels", "n_prompts", "rows_per_pass", "clean_value", "plan", "device"):
            setattr(self, key, getattr(self.inner, key))

    def __call__(self, masks):
        self.calls += 1
        (self.marks / f"busy-{os.getpid()}-{self.calls}").touch()
        time.sleep(self.delay)
        return self.inner(masks)


def build_slow(marks: str, delay: float = 0.1):
    return SlowGame(marks, delay)


def build_raising():
    raise ValueError("no such checkpoint: /nowhere/model.pt")


# ---------------------------------------------------------------------------------------------------


def _alive_actors(wait: float = 10.0) -> int:
    """Actors of this cluster not yet DEAD, from the GCS actor table (the state API without a dashboard);
    waits up to ``wait`` seconds for kills to land."""
    from ray._private import state

    deadline = time.time() + wait
    while True:
        alive = sum(1 for a in state.actors().values() if a["State"] != "DEAD")
        if alive == 0 or time.time() > deadline:
            return alive
        time.sleep(0.2)


def _all_masks(n: int) -> np.ndarray:
    return ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(bool)


@pytest.mark.parametrize("kind", ["heads", "neurons", "tokens"])
def test_values_identical_to_the_single_process_game(local_ray, kind):
    local = build_game(kind)
    rng = np.random.default_rng(7)
    masks = np.vstack([np.ones((1, local.n), bool), np.zeros((1, local.n), bool), rng.random((203, local.n)) < 0.5])
    expected = local(masks)
    with RayGame(functools.partial(build_game, kind), actors=2, cpus_per_actor=1) as game:
        assert (game.n, game.ids, game.labels) == (local.n, local.ids, local.labels)
        assert game.clean_value == local.clean_value
        got = game(masks)
        assert got.dtype == np.float64 and np.array_equal(got, expected)
        # a single row and an odd-sized call come back in row order too
        assert np.array_equal(game(masks[5:6]), expected[5:6])
        assert np.array_equal(game(masks[::-1][:37]), expected[::-1][:37])
        assert game.n_evaluations == masks.shape[0] + 1 + 37
        if kind == "heads":  # any algorithm works on it unchanged: all 2^8 masks, same spectrum
            ours = sm.exhaustive(game)
            theirs = sm.exhaustive(local)
            assert ours.fourier == theirs.fourier


def _killer(marks: Path, kills: int, done: threading.Event, killed: list[int]) -> None:
    """Kill, by PID, an actor process busy on a chunk; then, ``kills - 1`` more times, the restarted
    process of that same actor (its new PID read from the GCS actor table) once it is busy again."""
    from ray._private import state

    def busy() -> set[int]:
        return {int(p.name.split("-")[1]) for p in marks.glob("busy-*")}

    deadline = time.time() + 120
    while len(killed) < kills and time.time() < deadline and not done.is_set():
        if not killed:
            target = next(iter(busy()), None)
        else:
            restarted = [
                a for a in state.actors().values() if a["State"] == "ALIVE" and a["NumRestarts"] == len(killed)
            ]
            target = restarted[0]["Pid"] if restarted and restarted[0]["Pid"] in busy() else None
        if target is not None:
            os.kill(target, signal.SIGKILL)
            killed.append(target)
        time.sleep(0.05)


@pytest.mark.parametrize("kills", [1, 2])
def test_actor_killed_mid_chunk_loses_nothing_and_counts_nothing_twice(local_ray, tmp_path, kills):
    marks = tmp_path / "marks"
    marks.mkdir()
    local = build_game("heads")
    masks = _all_masks(local.n)
    expected = local(masks)
    store = open_store(tmp_path / "store", local.n, {"test": "kill"})
    with RayGame(functools.partial(build_slow, str(marks), 0.05), actors=2, chunk_size=8, max_restarts=3) as game:
        f = StoredRayGame(game, store)
        done, killed = threading.Event(), []
        thread = threading.Thread(target=_killer, args=(marks, kills, done, killed))
        thread.start()
        try:
            got = f(masks)
        finally:
            done.set()
            thread.join()
        assert len(killed) == kills, "the run finished before the actors could be killed"
        assert sorted(game.describe()["actor_restarts"]) == [0, kills]  # the same actor, restarted each time
        live = {info.pid for info in game.actor_info()}
        assert len(live) == 2 and not live & set(killed)  # restarted actors, in fresh processes
    assert np.array_equal(got, expected)
    assert f.n_evaluations == game.n_evaluations == masks.shape[0]  # a retried chunk is counted once
    assert len(store) == masks.shape[0]  # each mask stored exactly once
    found, values = store.lookup(masks)
    assert found.all() and np.array_equal(values, expected)
    assert _alive_actors() == 0


# ---------------------------------------------------------------------------------------------------
# bad input: one clear line, nothing left running


def test_zero_actors_and_bad_resources_are_refused(local_ray):
    with pytest.raises(ValueError, match="actors must be an integer of at least 1, got 0"):
        RayGame(build_game, actors=0)
    with pytest.raises(ValueError, match="gpus_per_actor must be a number >= 0"):
        RayGame(build_game, gpus_per_actor=-1)
    with pytest.raises(ClusterError, match=r"2 actor\(s\) × 1 GPU need 2 GPU\(s\); the cluster has 0"):
        RayGame(build_game, actors=2, gpus_per_actor=1)
    with pytest.raises(ClusterError, match=r"3 actor\(s\) × 1 CPU need 3 CPU\(s\); the cluster has 2"):
        RayGame(build_game, actors=3)
    assert _alive_actors() == 0


def test_factory_raising_on_the_actor_is_one_clear_line(local_ray):
    t0 = time.time()
    with pytest.raises(ClusterError) as caught:
        RayGame(build_raising, actors=2)
    assert time.time() - t0 < 60
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the game factory failed on actor ")
    assert message.endswith("ValueError: no such checkpoint: /nowhere/model.pt")
    assert _alive_actors() == 0


def test_unreachable_address_fails_fast_without_starting_ray():
    code = textwrap.dedent(
        """
        import sys, time, ray
        from spex_mech.distributed import ClusterError, RayGame
        for address in ("127.0.0.1:9", "ray://127.0.0.1:9"):
            t0 = time.time()
            try:
                RayGame(print, address=address)
            except ClusterError as err:
                print(f"{time.time() - t0:.1f}|{err}")
        print("initialized", ray.is_initialized())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(lines) == 3
    for line, address in zip(lines, ("127.0.0.1:9", "ray://127.0.0.1:9")):
        seconds, message = line.split("|", 1)
        assert float(seconds) < 15
        assert message.startswith(f"cannot reach the Ray cluster at '{address}' (")
    assert lines[2] == "initialized False"


class _Picky:
    """A game that refuses any mask ablating unit 2."""

    n = 4

    def __call__(self, masks):
        if not masks[:, 2].all():
            raise ValueError("unit 2 cannot be ablated")
        return masks.sum(axis=1).astype(float)


def build_picky():
    return _Picky()


def test_game_raising_on_an_actor_is_one_line_and_not_retried(local_ray):
    with RayGame(build_picky, actors=1) as game:
        ok = np.ones((3, 4), bool)
        ok[0, 0] = False
        assert np.array_equal(game(ok), [3.0, 4.0, 4.0])
        bad = np.ones((2, 4), bool)
        bad[1, 2] = False  # chunks of one row here (the game has no rows_per_pass): row 1 fails alone
        with pytest.raises(ClusterError) as caught:
            game(bad)
        assert "\n" not in str(caught.value)
        assert (
            str(caught.value)
            == "the game raised on actor 0 (rows 1..1 of this call): ValueError: unit 2 cannot be ablated"
        )
        assert game.n_failed_chunks == 0
    assert _alive_actors() == 0
