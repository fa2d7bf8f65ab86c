"""Run shapiq's ProxySPEX on a planted sparse function; called by proxyspex_benchmark.py.

Runs in the Python 3.12 benchmark venv (shapiq 1.8.0 needs Python ≥ 3.12; spex_mech is not installed
there). Input: an .npz with the planted spectrum (``keys`` int64 [K, D] −1-padded, ``values``,
``basis`` "mobius"|"fourier", ``n``), the shared held-out ``test_masks`` and a JSON ``jobs`` list of
{budget, seed, hpo}. Output: a JSON list, one record per job, with the evaluations used, the wall time
of each stage (proxy fit incl. its grid search, tree → Fourier read-out, ridge refinement, index
conversion) and the faithfulness R² of shapiq's refined Fourier surrogate on the test masks.

Usage: python _shapiq_proxyspex_worker.py job.npz out.json
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings

import numpy as np


def evaluate(keys: np.ndarray, values: np.ndarray, basis: str, masks: np.ndarray) -> np.ndarray:
    """The planted function at each mask (numpy only): AND terms (mobius) or parities (fourier)."""
    n = masks.shape[1]
    support = np.zeros((keys.shape[0], n), dtype=np.float32)
    rows, cols = np.nonzero(keys >= 0)
    support[rows, keys[rows, cols]] = 1.0
    orders = support.sum(axis=1)
    counts = masks.astype(np.float32) @ support.T
    if basis == "mobius":
        return (np.rint(counts) == orders[None, :]).astype(np.float64) @ values
    return (1.0 - 2.0 * (np.rint(counts).astype(np.int64) & 1)) @ values


def fourier_predict(fourier: dict, masks: np.ndarray) -> np.ndarray:
    n = masks.shape[1]
    items = list(fourier.items())
    support = np.zeros((len(items), n), dtype=np.float32)
    for row, (key, _) in enumerate(items):
        support[row, list(key)] = 1.0
    coef = np.array([v for _, v in items], dtype=np.float64)
    counts = masks.astype(np.float32) @ support.T
    return (1.0 - 2.0 * (np.rint(counts).astype(np.int64) & 1)) @ coef


def size_weights(n: int):
    """shapiq's default coalition-size weights C(n, k), or None to use its own where that is finite.

    shapiq 1.8.0 computes C(n, k) in float64, which overflows for n ≥ 1021 (C(1024, 512) ≈ 10^306 is
    finite but their sum is not), and its sampler then crashes. The same weights, scaled in log space,
    give the same size distribution (sizes whose probability underflows below 1e-308 drop out).
    """
    if n <= 1000:
        return None
    logc = np.array([math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in range(n + 1)])
    return np.exp(logc - logc.max())


def r2(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(1.0 - np.sum((truth - pred) ** 2) / np.sum((truth - truth.mean()) ** 2))


def run_job(keys, values, basis, n, test_masks, test_values, budget, seed, hpo) -> dict:
    import shapiq
    from shapiq.approximator.proxy import proxyspex as mod

    timings = {"fit": 0.0, "extract": 0.0, "refine": 0.0}
    captured = {}
    calls = {"rows": 0}

    def game(coalitions):
        calls["rows"] += coalitions.shape[0]
        return evaluate(keys, values, basis, np.asarray(coalitions, dtype=bool))

    approx = shapiq.ProxySPEX(
        n=n, max_order=1, index="SV", hpo=bool(hpo), random_state=int(seed), sampling_weights=size_weights(n)
    )
    model = approx.proxy_model
    original_fit = model.fit

    def timed_fit(X, y):
        start = time.perf_counter()
        out = original_fit(X, y)
        timings["fit"] += time.perf_counter() - start
        return out

    model.fit = timed_fit
    original_t2f = mod.tree_to_fourier

    def timed_t2f(*args, **kwargs):
        start = time.perf_counter()
        out = original_t2f(*args, **kwargs)
        timings["extract"] += time.perf_counter() - start
        return out

    original_refine = approx._refine

    def timed_refine(*args, **kwargs):
        start = time.perf_counter()
        out = original_refine(*args, **kwargs)
        timings["refine"] += time.perf_counter() - start
        captured["fourier"] = out
        return out

    mod.tree_to_fourier = timed_t2f
    approx._refine = timed_refine
    start = time.perf_counter()
    try:
        approx.approximate(int(budget), game)
    finally:
        mod.tree_to_fourier = original_t2f
    total = time.perf_counter() - start
    fourier = captured["fourier"]
    faith = r2(test_values, fourier_predict(fourier, test_masks))
    return {
        "method": "shapiq_proxyspex" + ("_hpo" if hpo else ""),
        "budget": int(budget),
        "seed": int(seed),
        "hpo": bool(hpo),
        "n_evaluations": int(calls["rows"]),
        "faithfulness": faith,
        "fit_seconds": timings["fit"],
        "extract_seconds": timings["extract"],
        "refine_seconds": timings["refine"],
        "fit_extract_seconds": timings["fit"] + timings["extract"] + timings["refine"],
        "total_seconds": total,
        "n_coefficients": len(fourier),
    }


def main() -> None:
    job_path, out_path = sys.argv[1], sys.argv[2]
    data = np.load(job_path, allow_pickle=False)
    keys, values = data["keys"], data["values"]
    basis, n = str(data["basis"]), int(data["n"])
    test_masks = data["test_masks"].astype(bool)
    test_values = evaluate(keys, values, basis, test_masks)
    jobs = json.loads(str(data["jobs"]))
    warnings.filterwarnings("ignore")
    import shapiq

    # warm-up (imports, any JIT compilation) outside the timed records
    run_job(keys, values, basis, n, test_masks[:50], test_values[:50], 200, 12345, False)
    records = []
    for job in jobs:
        rec = run_job(keys, values, basis, n, test_masks, test_values, job["budget"], job["seed"], job["hpo"])
        rec["shapiq_version"] = shapiq.__version__
        records.append(rec)
        print(json.dumps(rec), flush=True)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(records, fh)


if __name__ == "__main__":
    main()
