"""SPEX at scale: n = 10³ … 10⁵ units on a synthetic sparse function, this code against an earlier commit.

Every configuration runs in its own Python process (so peak RSS is that run's alone), once on the
current tree and once on the code of ``--before`` (default: the commit the SPEX scale work started
from), extracted with ``git archive`` into a temporary folder; both are timed in the same run.

Per run it records the time split — design (``spex_plan``: hashes, BCH code, exact deduplication),
mask building (time inside the evaluation loop not spent in f), evaluating f, decoding (transform,
peeling, refine) — the peak RSS of the process and its growth over the set-up, the evaluations, and
the recovery: exact (support equal and every coefficient within relative 1e-6), missing and spurious
terms, energy recovered.

The value function is a planted Fourier spectrum (K terms of orders 1–5, ``spex_mech.synthetic``)
read by direct gathering of the K·5 unit columns, so its own cost is small next to the design's. The
current tree runs it twice: with bool masks (as every value function gets by default), and declaring
``accepts_packed`` so that SPEX hands it the packed bits (unit i = bit i % 8 of byte i // 8).

``--noise`` runs the refine check instead: n = 10,000, 20 dB SNR, 10 seeds, both code versions,
counting reported terms that are not in the planted spectrum and their size in standard errors σ/√N.

    python benchmarks/scale.py                # → benchmarks/results/scale_spex.{md,json}
    python benchmarks/scale.py --noise        # → benchmarks/results/scale_spex_noise.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
from _hardware import hardware

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DEFAULT_BEFORE = "186531d"
NS = (1_000, 10_000, 36_864, 100_000)


# ---------------------------------------------------------------------------- the worker (one run)
class ScaleFunction:
    """Σ_k F(k)(−1)^⟨x,k⟩ gathered from bool masks or from packed bits, plus seeded noise; times itself."""

    def __init__(self, truth, noise_sd: float, seed: int, packed: bool):
        self.n = truth.n
        keys = np.asarray(truth.keys, dtype=np.int64)
        self.valid = keys >= 0
        self.cols = np.where(self.valid, keys, 0)
        self.values = np.asarray(truth.coefficients, dtype=np.float64)
        self.noise_sd = noise_sd
        self.rng = np.random.default_rng(seed)
        self.accepts_packed = packed
        self.seconds = 0.0
        self.rows = 0

    def __call__(self, masks: Any) -> np.ndarray:
        """Return the values of ``masks`` (bool or packed), timing the call."""
        start = time.perf_counter()
        bits = getattr(masks, "bits", None)
        if bits is not None:  # PackedMasks
            bit = (bits[:, self.cols >> 3] >> (self.cols & 7).astype(np.uint8)) & np.uint8(1)
            bit = bit.astype(bool)
        else:
            bit = np.asarray(masks)[:, self.cols]
        parity = np.bitwise_xor.reduce(bit & self.valid[None], axis=2)
        out = (1.0 - 2.0 * parity) @ self.values
        if self.noise_sd > 0:
            out = out + self.rng.normal(0.0, self.noise_sd, size=out.shape)
        self.rows += out.shape[0]
        self.seconds += time.perf_counter() - start
        return out


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(job: dict) -> dict:
    """Run one SPEX configuration in this process (whichever ``spex_mech`` is on the path)."""
    from spex_mech.algorithms.spex import spex, spex_plan
    from spex_mech.synthetic import random_sparse_function

    n, k, b, seed = job["n"], job["k"], job["b"], job["seed"]
    sf = random_sparse_function(n, k, snr_db=job["snr_db"], seed=job["truth_seed"])
    f = ScaleFunction(sf.truth, sf.noise_sd, seed + 1, job["packed"])
    rss_setup = _rss_mb()
    start = time.perf_counter()
    res = spex(f, n, max_order=5, b=b, seed=seed)
    total = time.perf_counter() - start
    p = res.params
    # spex() plans first (design + dedupe), then evaluates (mask building + f), then decodes
    evaluate = float(p["evaluate_seconds"])
    truth, got = sf.truth.fourier, res.fourier
    keys = set(truth) | set(got)
    err = sum((truth.get(key, 0.0) - got.get(key, 0.0)) ** 2 for key in keys)
    exact = set(truth) == set(got) and all(abs(got[key] - v) <= 1e-6 * abs(v) for key, v in truth.items())
    noise_sd = p["noise_sd"] if "noise_sd" in p else float("nan")
    se = noise_sd / np.sqrt(p["n_queries"])
    spurious = [abs(v) for key, v in got.items() if key not in truth]
    row = {
        **job,
        "n_evaluations": int(res.n_evaluations),
        "plan_check": int(spex_plan(n, max_order=5, b=b, seed=seed).n_evaluations) if job.get("check_plan") else None,
        "total_seconds": total,
        "design_seconds": total - evaluate - float(p["decode_seconds"]),
        "mask_seconds": evaluate - f.seconds,
        "f_seconds": f.seconds,
        "decode_seconds": float(p["decode_seconds"]),
        "peak_rss_mb": _rss_mb(),
        "setup_rss_mb": rss_setup,
        "exact": bool(exact),
        "energy_recovered": 1.0 - err / sum(v**2 for v in truth.values()),
        "missing": sum(1 for key in truth if key not in got),
        "spurious": len(spurious),
        "spurious_orders": sorted(len(key) for key in got if key not in truth),
        "largest_spurious_se": float(max(spurious) / se) if spurious and se > 0 else 0.0,
        "noise_sd": sf.noise_sd,
        "noise_sd_estimate": noise_sd,
    }
    row["growth_rss_mb"] = row["peak_rss_mb"] - rss_setup
    return row


# ---------------------------------------------------------------------------- the driver
def _before_tree(rev: str, tmp: Path) -> Optional[Path]:
    """Extract ``spex_mech`` at ``rev`` into ``tmp``; None if git cannot."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "spex_mech"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"cannot extract {rev}: {err}", file=sys.stderr)
        return None
    return tmp


TIME_KEYS = ("total_seconds", "design_seconds", "mask_seconds", "f_seconds", "decode_seconds")


def run_repeated(job: dict, code_root: Path, repeats: int) -> dict:
    """Run ``run_job`` ``repeats`` times and merge the runs.

    Each time is the minimum over the repeats (a shared machine's load only ever adds time), peak RSS
    the maximum; results must agree between repeats.
    """
    runs = [run_job(job, code_root) for _ in range(max(1, repeats))]
    bad = [r for r in runs if "error" in r]
    if bad:
        return bad[0]
    row = dict(runs[0])
    for key in TIME_KEYS:
        row[key] = min(r[key] for r in runs)
    for key in ("peak_rss_mb", "growth_rss_mb"):
        row[key] = max(r[key] for r in runs)
    row["repeats"] = len(runs)
    if any((r["n_evaluations"], r["exact"], r["missing"], r["spurious"]) !=
           (row["n_evaluations"], row["exact"], row["missing"], row["spurious"]) for r in runs):
        row["error"] = "results differ between repeats"
    return row


def run_job(job: dict, code_root: Path) -> dict:
    """Run one job in a fresh process on the code under ``code_root``; its measurements (or an ``error``)."""
    env = {**os.environ, "PYTHONPATH": str(code_root), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
        capture_output=True, text=True, env=env, cwd=str(HERE), check=False,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        return {**job, "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "spex_mech"],
                               capture_output=True, text=True, check=False).stdout.strip()
        return sha.stdout.strip() + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _fmt(x: Any, spec: str) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, spec)


def write_scale_md(path: Path, rows: list[dict], meta: dict) -> None:
    """Write the scale rows and their before/after comparison as Markdown."""
    lines = ["# SPEX at scale", "", f"- Command: `{meta['command']}`", f"- Date: {meta['date']}",
             f"- Hardware: {meta['hardware']}", f"- Code: after = {meta['after']}; before = {meta['before']}",
             f"- Load average at start / end: {meta['load_start']} / {meta['load_end']} (shared machine)", "",
             meta["notes"], "",
             ("| n | code | masks to f | evaluations | design s | mask building s | f s | decode s | total s | "
              "peak RSS MB (growth) | exact | missing / spurious | energy |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']} | {r['code']} | {'packed' if r['packed'] else 'bool'} | error: {r['error']} |"
                         + " |" * 9)
            continue
        lines.append(
            f"| {r['n']} | {r['code']} | {'packed' if r['packed'] else 'bool'} | {r['n_evaluations']} | "
            f"{r['design_seconds']:.2f} | {r['mask_seconds']:.2f} | {r['f_seconds']:.2f} | {r['decode_seconds']:.2f} | "
            f"{r['total_seconds']:.2f} | {r['peak_rss_mb']:.0f} (+{r['growth_rss_mb']:.0f}) | "
            f"{'yes' if r['exact'] else 'no'} | {r['missing']} / {r['spurious']} | {r['energy_recovered']:.4f} |")
    speed = []
    for n in sorted({r["n"] for r in rows}):
        by = {(r["code"], r["packed"]): r for r in rows if r["n"] == n and "error" not in r}
        old, new, packed = by.get(("before", False)), by.get(("after", False)), by.get(("after", True))
        if old and new:
            speedup = old["mask_seconds"] / max(new["mask_seconds"], 1e-9)
            entry = f"n = {n}: mask building {speedup:.1f}× faster with bool masks"
            if packed:
                entry += f", {old['mask_seconds'] / max(packed['mask_seconds'], 1e-9):.0f}× with packed masks"
            entry += f"; total {old['total_seconds']:.2f} s → {new['total_seconds']:.2f} s (bool)"
            if packed:
                entry += f" / {packed['total_seconds']:.2f} s (packed)"
            speed.append(f"- {entry}")
    if speed:
        lines += ["", "Ratios from the rows above (same run):", "", *speed]
    path.write_text("\n".join(lines) + "\n")


def write_noise_md(path: Path, rows: list[dict], meta: dict) -> None:
    """Write the refine-under-noise rows as Markdown."""
    lines = ["# SPEX refine under noise (n = 10,000, 20 dB)", "", f"- Command: `{meta['command']}`",
             f"- Date: {meta['date']}", f"- Hardware: {meta['hardware']}",
             f"- Code: after = {meta['after']}; before = {meta['before']}", "", meta["notes"], "",
             ("| code | seed | evaluations | terms missing | spurious terms (orders) | largest spurious, σ/√N "
              "| energy | noise sd true / est. | decode s |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['code']} | {r['seed']} | error: {r['error']} |" + " |" * 6)
            continue
        lines.append(
            f"| {r['code']} | {r['seed']} | {r['n_evaluations']} | {r['missing']} | {r['spurious']} "
            f"({', '.join(map(str, r['spurious_orders'])) or '—'}) | {r['largest_spurious_se']:.1f} | "
            f"{r['energy_recovered']:.4f} | {r['noise_sd']:.4f} / {_fmt(r['noise_sd_estimate'], '.4f')} | "
            f"{r['decode_seconds']:.2f} |")
    lines.append("")
    for code in ("before", "after"):
        rs = [r for r in rows if r["code"] == code and "error" not in r]
        if rs:
            lines.append(f"- {code}: {sum(r['spurious'] for r in rs)} spurious terms over {len(rs)} seeds "
                         f"(runs with any: {sum(r['spurious'] > 0 for r in rs)}), "
                         f"{sum(r['missing'] for r in rs)} planted terms missing, mean energy recovered "
                         f"{np.mean([r['energy_recovered'] for r in rs]):.4f}")
    path.write_text("\n".join(lines) + "\n")


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark (see the module docstring); the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ns", default=",".join(map(str, NS)), help="comma-separated n values")
    parser.add_argument("--k", type=int, default=100, help="planted terms")
    parser.add_argument("--b", type=int, default=7, help="log2 bins per group")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision to compare with ('' to skip)")
    parser.add_argument("--noise", action="store_true", help="the 10-seed refine check at n = 10,000, 20 dB")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the noise check")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scale row (times: minimum)")
    parser.add_argument("--out", default=None, help="output stem (default benchmarks/results/scale_spex[_noise])")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=float))
        return 0

    stem = Path(args.out) if args.out else RESULTS / ("scale_spex_noise" if args.noise else "scale_spex")
    start, load_start = time.time(), os.getloadavg()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        codes = [("after", ROOT)]
        before = _before_tree(args.before, Path(tmp)) if args.before else None
        if before is not None:
            codes.insert(0, ("before", before))
        if args.noise:
            for code, root in codes:
                for seed in range(args.seeds):
                    job = {"n": 10_000, "k": args.k, "b": 8, "seed": seed, "snr_db": 20.0,
                           "truth_seed": 7_000 + seed, "packed": False, "code": code}
                    rows.append(run_job(job, root))
                    keys = ("code", "seed", "spurious", "largest_spurious_se", "missing", "error")
                    print({k: rows[-1].get(k) for k in keys}, flush=True)
        else:
            for n in (int(x) for x in args.ns.split(",")):
                for code, root in codes:
                    for packed in ((False, True) if code == "after" else (False,)):
                        job = {"n": n, "k": args.k, "b": args.b, "seed": 0, "snr_db": None,
                               "truth_seed": 100 + n, "packed": packed, "code": code}
                        rows.append(run_repeated(job, root, args.repeats))
                        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rows[-1].items()
                               if k in ("n", "code", "packed", "mask_seconds", "f_seconds", "decode_seconds",
                                        "total_seconds", "peak_rss_mb", "exact", "error")}, flush=True)
    meta = {
        "command": "python benchmarks/scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "hardware": hardware(),
        "after": _commit(),
        "before": args.before or "not run",
        "load_start": " ".join(f"{x:.1f}" for x in load_start),
        "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "wall_seconds": time.time() - start,
    }
    if args.noise:
        meta["notes"] = (
            f"K = {args.k} planted Fourier terms (orders 1–5, |F| log-uniform over two decades), max_order = 5, "
            "b = 8, C = 3, Gaussian noise at 20 dB SNR, design seed = seed, one process per run. 'spurious' = "
            "reported terms not in the planted spectrum; their size in standard errors σ/√N (σ the run's noise "
            "estimate, N the design rows) is the scale on which a term counts as above the noise floor. "
            "'before' = the refine that adds all n singletons to the refit and keeps those beyond 4 standard "
            "errors; 'after' = singletons admitted by a Bonferroni score test with a per-group consistency check.")
        write_noise_md(stem.with_suffix(".md"), rows, meta)
    else:
        meta["notes"] = (
            f"Noiseless planted spectrum, K = {args.k} terms of orders 1–5, max_order = 5, b = {args.b}, C = 3, "
            f"design seed 0; one process per run, OMP_NUM_THREADS=1, {args.repeats} runs per row: "
            "times are the minimum, "
            "peak RSS the maximum over them. 'design' = spex_plan (hash matrices, BCH "
            "code, exact deduplication); 'mask building' = time inside the evaluation loop not spent in f; "
            "'decode' = transform, peeling and refine. Peak RSS is the process's maximum resident set; growth "
            "is over the state after imports and building the planted function. 'before' rows run the code "
            "of the revision named above in the same run.")
        write_scale_md(stem.with_suffix(".md"), rows, meta)
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=float))
    print(stem.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
