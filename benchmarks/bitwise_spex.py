"""Bit-for-bit record of SPEX results on the seeds of the tests and benchmarks, and a comparison mode.

``--record`` runs every case below and stores, per case, the spectrum (sorted keys and the exact bits of
each coefficient as ``float.hex``), ``n_evaluations`` and every non-timing entry of ``params`` (floats as
hex too). ``--compare`` reruns the same cases on the current code and reports, per case, whether the
result is bit-identical to the record; where it is not, whether the support is the same and the largest
relative coefficient change. Timing entries (``*_seconds``) are never compared.

Cases: the planted spectra of ``tests/test_spex.py`` (noiseless and 20 dB grids and the single-case
tests) and of ``benchmarks/spex_benchmark.py`` (the ``--sweep`` grid for seeds 0–2 and the side-by-side
table's spex_mech rows without peers), each with the same value function, design seed and noise seed.

    python benchmarks/bitwise_spex.py --record  benchmarks/results/bitwise_spex_before.json
    python benchmarks/bitwise_spex.py --compare benchmarks/results/bitwise_spex_before.json \
        --out benchmarks/results/bitwise_spex_compare.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spex_benchmark import Planted

import spex_mech as sm
from spex_mech.algorithms.spex import spex, spex_plan
from spex_mech.synthetic import random_sparse_function

TIMING_SUFFIX = "_seconds"


class TestPlanted:
    """The value function of ``tests/test_spex.py``: a direct gather of the planted spectrum, plus noise."""

    def __init__(self, truth: sm.Interactions, noise_sd: float = 0.0, seed: int = 0):
        self.n = truth.n
        self.keys = np.where(truth.keys < 0, truth.n, truth.keys)
        self.values = truth.coefficients
        self.noise_sd = noise_sd
        self.rng = np.random.default_rng(seed)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.asarray(masks, bool), np.zeros((len(masks), 1), bool)], axis=1)
        parity = np.bitwise_xor.reduce(padded[:, self.keys], axis=2)
        out = (1.0 - 2.0 * parity) @ self.values
        if self.noise_sd:
            out = out + self.rng.normal(0.0, self.noise_sd, size=out.shape)
        return out


Case = tuple[str, Callable[[], tuple[dict, sm.Interactions]]]  # name, run → (planted spectrum, result)


def _test_cases() -> Iterator[Case]:
    for n in (64, 256, 1024, 4096):
        for k, b in ((10, 4), (50, 6), (200, 7)):
            for seed in (0, 1, 2):

                def clean(n=n, k=k, b=b, seed=seed):
                    sf = random_sparse_function(n, k, seed=10_000 + 97 * seed + n + k)
                    return sf.truth.fourier, spex(TestPlanted(sf.truth), n, max_order=5, b=b, seed=seed)

                def noisy(n=n, k=k, b=b, seed=seed):
                    sf = random_sparse_function(n, k, snr_db=20.0, seed=20_000 + 89 * seed + n + k)
                    return sf.truth.fourier, spex(
                        TestPlanted(sf.truth, noise_sd=sf.noise_sd, seed=seed + 1), n, max_order=5, b=b, seed=seed
                    )

                yield f"test/noiseless n={n} K={k} b={b} seed={seed}", clean
                yield f"test/20dB n={n} K={k} b={b} seed={seed}", noisy

    for refine in (False, True):

        def refit(refine=refine):
            sf = random_sparse_function(512, 60, snr_db=10.0, seed=5)
            return sf.truth.fourier, spex(
                TestPlanted(sf.truth, noise_sd=sf.noise_sd, seed=6), 512, b=7, seed=1, refine=refine
            )

        yield f"test/refit 10dB refine={refine}", refit
    for decoder, refine in (("hard", True), ("soft", False)):

        def variant(decoder=decoder, refine=refine):
            sf = random_sparse_function(700, 80, seed=8, constant=1.5)
            return sf.truth.fourier, spex(TestPlanted(sf.truth), 700, b=7, decoder=decoder, refine=refine, seed=2)

        yield f"test/decoder={decoder} refine={refine}", variant
    for constant in (0.0, 0.75):

        def empty(constant=constant):
            sf = random_sparse_function(256, 10, seed=50_000 + 1000 * 256 + 31 * 10 + 9, constant=constant)
            return sf.truth.fourier, spex(TestPlanted(sf.truth), 256, max_order=5, b=4, seed=9)

        yield f"test/empty set constant={constant}", empty

    def mobius():
        sf = random_sparse_function(150, 25, orders=(1, 2, 3), basis="mobius", seed=9)
        return sf.truth.fourier, spex(TestPlanted(sf.truth), 150, max_order=3, b=8, seed=0)

    yield "test/hierarchical mobius", mobius
    for n in (8, 12, 16):

        def small(n=n):
            sf = random_sparse_function(n, 10, orders=(1, 2, 3), constant=-0.4, seed=n)
            return sf.truth.fourier, spex(sf, n, max_order=3, b=5, seed=n)

        yield f"test/small n={n}", small
    for batch in (700, None):

        def batched(batch=batch):
            sf = random_sparse_function(128, 20, seed=2)
            return sf.truth.fourier, spex(TestPlanted(sf.truth), 128, b=5, seed=4, batch_size=batch)

        yield f"test/batch_size={batch}", batched
    for seed in (9, 10):

        def seeded(seed=seed):
            sf = random_sparse_function(256, 30, seed=3)
            return sf.truth.fourier, spex(TestPlanted(sf.truth), 256, b=6, seed=seed)

        yield f"test/seeded seed={seed}", seeded

    def json_case():
        sf = random_sparse_function(80, 12, seed=6, snr_db=30.0)
        return sf.truth.fourier, spex(TestPlanted(sf.truth, sf.noise_sd), 80, b=5)

    yield "test/json 30dB", json_case

    def labels():
        sf = random_sparse_function(30, 5, orders=(1, 2), seed=4)
        return sf.truth.fourier, spex(TestPlanted(sf.truth), 30, max_order=2, b=4)

    yield "test/labels", labels

    def known_noise():
        sf = random_sparse_function(300, 30, snr_db=20.0, seed=13)
        return sf.truth.fourier, spex(TestPlanted(sf.truth, sf.noise_sd, seed=2), 300, b=6, noise_sd=sf.noise_sd)

    yield "test/known noise", known_noise


def _benchmark_cases() -> Iterator[Case]:
    for n in (64, 256, 1024, 4096):
        for k, b in ((10, 4), (50, 6), (200, 7)):
            for snr in (None, 20.0):
                for seed in (0, 1, 2):

                    def sweep(n=n, k=k, b=b, snr=snr, seed=seed):
                        sf = random_sparse_function(n, k, snr_db=snr, seed=50_000 + 1000 * n + 31 * k + seed)
                        budget = spex_plan(n, b=b, seed=seed).n_evaluations
                        return sf.truth.fourier, spex(
                            Planted(sf.truth, sf.noise_sd, seed + 1), n, max_order=5, budget=budget, seed=seed
                        )

                    yield f"sweep/n={n} K={k} b={b} snr={snr} seed={seed}", sweep
    for n in (256, 1024, 4096):
        peer_budget = spex_plan(n, b=8).n_queries
        for snr, seeds in ((None, (0, 1)), (20.0, (0,))):
            for seed in seeds:
                for half in (False, True):

                    def table(n=n, snr=snr, seed=seed, budget=peer_budget // 2 if half else peer_budget):
                        sf = random_sparse_function(
                            n, 100, snr_db=snr, seed=1000 * n + 17 * seed + (0 if snr is None else 7)
                        )
                        return sf.truth.fourier, spex(
                            Planted(sf.truth, sf.noise_sd, seed + 1), n, max_order=5, budget=budget, seed=seed
                        )

                    yield f"table/n={n} snr={snr} seed={seed} budget={'half' if half else 'peer'}", table


def all_cases() -> list[Case]:
    return list(_test_cases()) + list(_benchmark_cases())


# ---------------------------------------------------------------------------- records
def _encode(value: Any) -> Any:
    if isinstance(value, float):
        return {"hex": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def record(res: sm.Interactions) -> dict:
    """The comparable content of one result: keys, coefficient bits, evaluations, non-timing params."""
    fourier = res.fourier
    keys = sorted(fourier)
    params = res.params.to_dict() if hasattr(res.params, "to_dict") else dict(res.params)
    return {
        "keys": [list(k) for k in keys],
        "values": [float(fourier[k]).hex() for k in keys],
        "n_evaluations": int(res.n_evaluations),
        "params": {k: _encode(v) for k, v in params.items() if not k.endswith(TIMING_SUFFIX)},
    }


def run_all(cases: list[Case], log: Callable[[str], None]) -> tuple[dict[str, dict], dict[str, dict]]:
    """Records per case, and the planted spectra (for classifying changed terms)."""
    out, truths = {}, {}
    for name, run in cases:
        start = time.perf_counter()
        truths[name], res = run()
        out[name] = record(res)
        log(
            f"{name}: {len(out[name]['keys'])} terms, {out[name]['n_evaluations']} evaluations, "
            f"{time.perf_counter() - start:.2f} s"
        )
    return out, truths


def compare_one(before: dict, after: dict, truth: dict) -> dict:
    """Bit-identity of spectrum and evaluations, params that changed (by key present in both), and
    how many terms each side reports that are not in the planted spectrum ``truth``."""
    same_bits = before["keys"] == after["keys"] and before["values"] == after["values"]
    row: dict[str, Any] = {
        "identical": same_bits and before["n_evaluations"] == after["n_evaluations"],
        "same_support": before["keys"] == after["keys"],
        "same_evaluations": before["n_evaluations"] == after["n_evaluations"],
    }
    b = {tuple(k): float.fromhex(v) for k, v in zip(before["keys"], before["values"])}
    a = {tuple(k): float.fromhex(v) for k, v in zip(after["keys"], after["values"])}
    common = set(a) & set(b)
    row["max_rel_change"] = max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-300) for k in common), default=0.0)
    row["only_before"] = len(set(b) - set(a))
    row["only_after"] = len(set(a) - set(b))
    row["spurious_before"] = sum(1 for k in b if k not in truth)
    row["spurious_after"] = sum(1 for k in a if k not in truth)
    row["true_found_before"] = sum(1 for k in b if k in truth)
    row["true_found_after"] = sum(1 for k in a if k in truth)
    pb, pa = before["params"], after["params"]
    row["params_changed"] = sorted(k for k in set(pb) & set(pa) if pb[k] != pa[k])
    row["params_only_before"] = sorted(set(pb) - set(pa))
    row["params_only_after"] = sorted(set(pa) - set(pb))
    return row


def write_compare(path: Path, before_path: Path, rows: dict[str, dict], meta: dict) -> None:
    identical = sum(r["identical"] for r in rows.values())
    lines = [
        "# SPEX bit-for-bit comparison",
        "",
        f"- Command: `{meta['command']}`",
        f"- Date: {meta['date']}",
        f"- Record: `{before_path}` ({meta['recorded_commit']})",
        f"- Code compared: {meta['commit']}",
        "",
        f"**{identical} of {len(rows)} cases bit-identical** (spectrum keys, every coefficient's bits, n_evaluations).",
        "",
    ]
    renamed = sorted({k for r in rows.values() for k in r["params_only_before"]})
    added = sorted({k for r in rows.values() for k in r["params_only_after"]})
    if renamed or added:
        lines += [
            f"- params keys only in the record: {', '.join(renamed) or '—'}",
            f"- params keys only in the new results: {', '.join(added) or '—'}",
            "",
        ]
    totals = {
        k: sum(r[k] for r in rows.values())
        for k in ("spurious_before", "spurious_after", "true_found_before", "true_found_after")
    }
    lines += [
        (
            f"- Terms not in the planted spectrum, all cases: {totals['spurious_before']} in the record, "
            f"{totals['spurious_after']} now; planted terms found: {totals['true_found_before']} in the record, "
            f"{totals['true_found_after']} now."
        ),
        "",
    ]
    changed = {k: r for k, r in rows.items() if not r["identical"] or r["params_changed"]}
    if changed:
        lines += [
            (
                "| case | bit-identical | same support | terms only before / after | spurious before / after | "
                "planted found before / after | max rel. coef. change | params changed |"
            ),
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in changed.items():
            lines.append(
                f"| {name} | {'yes' if r['identical'] else 'no'} | {'yes' if r['same_support'] else 'no'} | "
                f"{r['only_before']} / {r['only_after']} | {r['spurious_before']} / {r['spurious_after']} | "
                f"{r['true_found_before']} / {r['true_found_after']} | {r['max_rel_change']:.1e} | "
                f"{', '.join(r['params_changed']) or '—'} |"
            )
    else:
        lines.append("Every case identical, params included.")
    path.write_text("\n".join(lines) + "\n")


def _commit() -> str:
    import subprocess

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "spex_mech"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return sha + (" + uncommitted changes under spex_mech/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", metavar="JSON", help="run every case and store the results here")
    mode.add_argument("--compare", metavar="JSON", help="rerun every case and compare with this record")
    parser.add_argument("--out", default=None, help="markdown report of --compare (default: print only)")
    parser.add_argument("--only", default=None, help="run only cases whose name contains this text")
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if args.only is None or args.only in c[0]]
    command = "python benchmarks/bitwise_spex.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.record:
        results, _ = run_all(cases, print)
        meta = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": _commit()}
        Path(args.record).write_text(json.dumps({"meta": meta, "cases": results}, indent=0))
        print(f"recorded {len(results)} cases in {args.record}")
        return 0
    stored = json.loads(Path(args.compare).read_text())
    missing = [name for name, _ in cases if name not in stored["cases"]]
    if missing:
        print(f"cases missing from the record: {missing[:5]}", file=sys.stderr)
        return 2
    results, truths = run_all(cases, print)
    rows = {name: compare_one(stored["cases"][name], got, truths[name]) for name, got in results.items()}
    identical = sum(r["identical"] for r in rows.values())
    print(f"{identical} of {len(rows)} cases bit-identical")
    if args.out:
        meta = {
            "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "commit": _commit(),
            "recorded_commit": stored["meta"]["commit"],
        }
        write_compare(Path(args.out), Path(args.compare), rows, meta)
    return 0 if identical == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
