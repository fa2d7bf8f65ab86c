"""RayGame vs the plain single-process game, on this machine's CPU with a local Ray.

    PYTHONPATH=. python benchmarks/distributed.py            # writes benchmarks/results/distributed.{md,json}
    PYTHONPATH=. python benchmarks/distributed.py --quick    # a smoke run (small model), results not written

Measured in the same run, on the same masks, repeats interleaved (plain, 1 actor, 2 actors, plain, ...):
  plain   — ``AblationGame`` in this process with torch limited to 1 thread (what one actor gets:
            Ray sets ``OMP_NUM_THREADS`` to an actor's ``num_cpus``);
  ray×1   — ``RayGame`` with 1 actor × 1 CPU (the overhead: packing, shipping, gathering);
  ray×2   — ``RayGame`` with 2 actors × 1 CPU (the speed-up when evaluation dominates).
Values are checked bit for bit against the plain game. The machine may be shared: only ratios from
the same run mean anything, and the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import spex_mech as sm
from spex_mech.distributed import RayGame
from spex_mech.zoo._bridge import build_native

MODELS = {
    # big enough that a forward pass dominates the per-chunk shipping cost
    "mid": dict(
        d_model=512,
        d_head=64,
        n_heads=8,
        n_layers=8,
        n_ctx=32,
        d_vocab=8000,
        d_mlp=2048,
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    ),
    "quick": dict(
        d_model=64,
        d_head=16,
        n_heads=4,
        n_layers=2,
        n_ctx=32,
        d_vocab=100,
        d_mlp=128,
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    ),
}


def build_game(shape: str, n_prompts: int, length: int, batch_size: int):
    """The game every side evaluates (the plain one here, one replica per actor)."""
    cfg = MODELS[shape]
    model = build_native(cfg)
    tokens = torch.randint(0, cfg["d_vocab"], (n_prompts, length), generator=torch.Generator().manual_seed(0))
    metric = sm.metrics.logprob(target=7, position=-1)
    return sm.AblationGame(model, sm.AttentionHeads(model), tokens, metric, batch_size=batch_size, progress=False)


def timed(fn, masks) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    out = fn(masks)
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--masks", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = "quick" if args.quick else "mid"
    n_masks = 64 if args.quick else args.masks
    repeats = 1 if args.quick else args.repeats
    factory = functools.partial(build_game, shape, 4, 24, 64)

    import ray

    # Ray runs workers at niceness 15 by default (drivers keep priority); on a shared machine that would
    # measure the scheduler, not RayGame, so workers run at this process's priority here.
    os.environ["RAY_worker_niceness"] = "0"
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    torch.set_num_threads(1)
    plain = factory()
    masks = np.random.default_rng(1).random((n_masks, plain.n)) < 0.5
    one = RayGame(factory, actors=1, cpus_per_actor=1)
    two = RayGame(factory, actors=2, cpus_per_actor=1)
    sides = {"plain": plain, "ray×1": one, "ray×2": two}
    for game in sides.values():  # warm-up: first-call allocations, actor imports
        game(masks[: 2 * one.masks_per_pass])
    niceness = {"driver": os.getpriority(os.PRIO_PROCESS, 0)}
    niceness.update(
        {
            f"actor {g}.{a.index}": os.getpriority(os.PRIO_PROCESS, a.pid)
            for g, game in ((1, one), (2, two))
            for a in game.actor_info()
        }
    )
    times: dict[str, list[float]] = {k: [] for k in sides}
    values: dict[str, np.ndarray] = {}
    load = []
    for _ in range(repeats):
        for name, game in sides.items():
            load.append(os.getloadavg()[0])
            seconds, values[name] = timed(game, masks)
            times[name].append(seconds)
    one.close()
    two.close()
    ray.shutdown()

    best = {k: min(v) for k, v in times.items()}
    rate = {k: n_masks / v for k, v in best.items()}
    record = {
        "machine": {
            "torch": torch.__version__,
            "ray": ray.__version__,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "model": {**MODELS[shape], "units": f"all {plain.n} heads", "prompts": "4 × 24 tokens"},
        "masks": n_masks,
        "repeats": repeats,
        "masks_per_pass": one.masks_per_pass,
        "seconds": times,
        "masks_per_s_best": rate,
        "ray1_over_plain": rate["ray×1"] / rate["plain"],
        "ray2_over_plain": rate["ray×2"] / rate["plain"],
        "ray2_over_ray1": rate["ray×2"] / rate["ray×1"],
        "bit_identical": {k: bool(np.array_equal(values[k], values["plain"])) for k in ("ray×1", "ray×2")},
        "load_average_1min": {"min": min(load), "max": max(load)},
        "niceness": niceness,
    }
    lines = [
        f"RayGame on a local Ray, CPU ({record['machine']}); {n_masks} masks over {plain.n} heads, "
        f"model {shape} ({MODELS[shape]['n_layers']} layers × d_model {MODELS[shape]['d_model']}, vocab "
        f"{MODELS[shape]['d_vocab']}), "
        f"4 prompts × 24 tokens; best of {repeats}, repeats interleaved; 1-min load average during the run "
        f"{min(load):.1f}–{max(load):.1f} on {os.cpu_count()} cores; niceness {niceness}.",
        "",
        "| side | masks/s (best) | ÷ plain | values == plain |",
        "|---|---|---|---|",
    ]
    for k in sides:
        same = "—" if k == "plain" else str(record["bit_identical"][k])
        lines.append(f"| {k} | {rate[k]:.1f} | {rate[k] / rate['plain']:.2f}× | {same} |")
    lines += ["", f"speed-up 2 actors ÷ 1 actor: {record['ray2_over_ray1']:.2f}×"]
    text = "\n".join(lines)
    print(text)
    if not all(record["bit_identical"].values()):
        raise SystemExit("RayGame values differ from the plain game")
    if not args.quick:
        out = Path(__file__).parent / "results"
        (out / "distributed.json").write_text(json.dumps(record, indent=2))
        (out / "distributed.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
