"""Insert and lookup speed of the SQLite mask store against the binary log it replaced.

    PYTHONPATH=. python benchmarks/store_benchmark.py --masks 100000 --n 36864 --batch 512

Writes ``benchmarks/results/store.json`` and ``store.md``. The old store (``records.bin``, the code of
commit 186531d) is loaded from git so both run in the same process on the same masks: each batch of
random masks is appended (each store makes it durable before returning: fsync / SQLite commit), then
every stored mask is looked up again in batches from a freshly opened store (the old one builds its
in-memory index on first lookup; the new one answers from the database), plus as many masks that are
not stored. Values are checked against what was written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spex_mech.store import MaskStore  # noqa: E402


def legacy_store_class():
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", "186531d:spex_mech/store.py"], capture_output=True, text=True, check=True
    ).stdout
    src = src.replace("from .valuefn import", "from spex_mech.valuefn import")
    tmp = Path(tempfile.mkdtemp()) / "legacy_store.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location("legacy_store", tmp)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MaskStore


def batches(n: int, total: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    for start in range(0, total, batch):
        m = min(batch, total - start)
        packed = rng.integers(0, 256, size=(m, (n + 7) // 8), dtype=np.uint8)
        yield np.unpackbits(packed, axis=1, count=n, bitorder="little").astype(bool), rng.standard_normal(m)


def measure(make, n: int, total: int, batch: int, folder: Path) -> dict:
    store = make(folder)
    t0 = time.perf_counter()
    for masks, values in batches(n, total, batch, seed=0):
        store.append(masks, values)
    t_insert = time.perf_counter() - t0
    del store
    store = make(folder)
    t0 = time.perf_counter()
    checked = 0
    for masks, values in batches(n, total, batch, seed=0):
        found, got = store.lookup(masks)
        assert found.all() and np.array_equal(got, values)
        checked += len(masks)
    t_hit = time.perf_counter() - t0
    t0 = time.perf_counter()
    for masks, _ in batches(n, total, batch, seed=1):
        found, _ = store.lookup(masks)
        assert not found.any()
    t_miss = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {
        "insert_s": round(t_insert, 2),
        "lookup_hits_s": round(t_hit, 2),
        "lookup_misses_s": round(t_miss, 2),
        "disk_bytes": size,
        "checked": checked,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--masks", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=36_864)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "store"))
    args = ap.parse_args()
    # time spent generating the masks, measured alone, so it can be subtracted
    t0 = time.perf_counter()
    for _ in batches(args.n, args.masks, args.batch, seed=0):
        pass
    t_gen = time.perf_counter() - t0
    legacy = legacy_store_class()
    work = Path(tempfile.mkdtemp(prefix="store_bench_"))
    try:
        old = measure(lambda p: legacy(p, args.n, {"bench": 1}), args.n, args.masks, args.batch, work / "old")
        shutil.rmtree(work / "old")
        new = measure(lambda p: MaskStore(p, args.n, {"bench": 1}), args.n, args.masks, args.batch, work / "new")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {
        "masks": args.masks,
        "n": args.n,
        "batch": args.batch,
        "mask_generation_s_per_pass": round(t_gen, 2),
        "old_records_bin": old,
        "sqlite": new,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": __import__("os").cpu_count(),
    }
    Path(args.out + ".json").write_text(json.dumps(record, indent=2))
    rows = [
        "| store | insert (s) | lookup, all hits (s) | lookup, all misses (s) | on disk (MB) |",
        "|---|---|---|---|---|",
    ]
    for name, r in (("records.bin (old)", old), ("SQLite (new)", new)):
        rows.append(
            f"| {name} | {r['insert_s']} | {r['lookup_hits_s']} | {r['lookup_misses_s']} | {r['disk_bytes'] / 1e6:.0f} "
            "|"
        )
    text = "\n".join(
        [
            "# Mask store: insert and lookup",
            "",
            f"{args.masks} random masks at n = {args.n} units, appended and looked up in batches of {args.batch} "
            f"(`python benchmarks/store_benchmark.py --masks {args.masks} --n {args.n} --batch {args.batch}`). "
            f"Each timing includes generating the masks again: {t_gen:.2f} s per pass over all of them.",
            "",
            *rows,
            "",
            f"Machine: {record['machine']}, {record['cpu_count']} CPUs (shared with other jobs while measured), Python "
            f"{record['python']}.",
            "",
        ]
    )
    Path(args.out + ".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
