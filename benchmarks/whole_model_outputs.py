"""Every output path of a result over all 36,864 MLP neurons of a GPT-2-small-shaped model (issue 21 item 6).

A cheap synthetic value function stands in for the model: a sparse Möbius spectrum (50 terms of order
1…3 by default) over n = 12 × 3,072 units whose ids are ``blocks.{l}.mlp.hook_post[i]``. The result is
either the truth itself or what SPEX recovers from the function (``--spex``). Each output path is timed:
conversions (Möbius, Shapley, Banzhaf, every index), prediction and faithfulness, JSON and pandas exports,
the summary, rankings, the surrogate and minimal circuits, faithfulness curves, every figure, the report
and the mask store.

    PYTHONPATH=. python benchmarks/whole_model_outputs.py [--spex] [--terms 50]
        → benchmarks/results/whole_model_outputs.{md,json}
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import spex_mech as sm
from spex_mech.circuits import (
    extract_circuit,
    faithfulness_curves,
    minimal_circuit,
    ranking,
    unit_scores,
)
from spex_mech.report import summary_table, write_figures, write_report
from spex_mech.results.indices import INDEX_NAMES
from spex_mech.store import MaskStore, StoredValueFunction
from spex_mech.synthetic import SparseFunction
from spex_mech.valuefn import uniform_masks

OUT = Path(__file__).resolve().parent / "results"
N_LAYERS, D_MLP = 12, 3072


def neuron_names(n_layers: int = N_LAYERS, d_mlp: int = D_MLP) -> tuple[list[str], list[str]]:
    """(labels ``L{l}N{i}``, ids ``blocks.{l}.mlp.hook_post[i]``) of every neuron, layer by layer."""
    labels = [f"L{l}N{i}" for l in range(n_layers) for i in range(d_mlp)]
    ids = [f"blocks.{l}.mlp.hook_post[{i}]" for l in range(n_layers) for i in range(d_mlp)]
    return labels, ids


def planted_terms(n: int, count: int, seed: int) -> dict[tuple[int, ...], float]:
    """``count`` random Möbius terms of order 1…3 (distinct supports, magnitudes 0.05…1, random signs)."""
    rng = np.random.default_rng(seed)
    terms: dict[tuple[int, ...], float] = {}
    while len(terms) < count:
        order = int(rng.integers(1, 4))
        units = tuple(sorted(int(u) for u in rng.choice(n, size=order, replace=False)))
        terms[units] = float(rng.choice([-1.0, 1.0]) * np.exp(rng.uniform(np.log(0.05), 0.0)))
    return terms


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--spex", action="store_true", help="decode the result with SPEX (max_order 3) instead of using the truth"
    )
    parser.add_argument("--terms", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    labels, ids = neuron_names()
    n = len(labels)
    terms = planted_terms(n, args.terms, args.seed)
    f = SparseFunction(n, terms, basis="mobius", labels=labels)
    f.ids = ids
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t0, 3)
        print(f"{name:<40} {timings[name]:8.3f} s   peak RSS {peak_mb():7.0f} MB", flush=True)
        return out

    if args.spex:
        result = timed("spex (max_order 3)", lambda: sm.spex(f, max_order=3, seed=args.seed))
    else:
        result = sm.Interactions.from_mobius(terms, n, labels=labels, ids=ids, algorithm="truth")
    timed("mobius()", result.mobius)
    timed("shapley_values()", result.shapley_values)
    timed("banzhaf_values()", result.banzhaf_values)
    for name in INDEX_NAMES:
        timed(f"index({name}, 3)", lambda name=name: result.index(name, 3))
    timed("top(10) Shapley", lambda: result.top(10, basis="SV"))
    masks = uniform_masks(n, 1000, seed=1)
    timed("predict(1000 masks)", lambda: result.predict(masks))
    timed("faithfulness(1000)", lambda: result.faithfulness(f, n_samples=1000, seed=2))
    text = timed("to_json", result.to_json)
    back = timed("from_json", lambda: sm.Interactions.from_json(text))
    assert back.fourier == result.fourier and back.ids == result.ids
    timed("to_dataframe (mobius)", lambda: result.to_dataframe("mobius"))
    timed("summary_table", lambda: summary_table(result, k=10))
    timed("unit_scores + ranking", lambda: ranking(unit_scores(result, "mobius")))
    circuit = timed("extract_circuit (greedy, measured)", lambda: extract_circuit(result, 0.9, f=f))
    rankings = {
        "Möbius share": ranking(unit_scores(result, "mobius")),
        "Shapley": ranking(unit_scores(result, "shapley")),
    }
    curves = timed("faithfulness_curves (MIB grid)", lambda: faithfulness_curves(f, rankings, warn=False))
    minimal = timed("minimal_circuit", lambda: minimal_circuit(result, f, 0.9, warn=False))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        figures = timed(
            "write_figures (png)",
            lambda: write_figures(result, folder, ("png",), circuit=minimal, curves=curves, metric="synthetic"),
        )
        timed(
            "write_report",
            lambda: write_report(
                folder,
                result,
                title="whole model",
                circuit=circuit,
                run_info={"units": n, "unit_ids": ids},
                figures=figures,
                curves=curves,
                minimal=minimal,
            ),
        )
        report_bytes = (folder / "report.html").stat().st_size
        store = MaskStore(folder / "store", n, {"what": "synthetic"})
        stored = StoredValueFunction(f, store, flush_every=512)
        design = uniform_masks(n, 2000, seed=3)
        timed("store: evaluate + append 2,000 masks", lambda: stored(design))
        reopened = MaskStore(folder / "store", n, {"what": "synthetic"})
        found = timed("store: reopen + lookup 2,000", lambda: reopened.lookup(design)[0])
        assert found.all()
        timed("store: export_npz", lambda: store.export_npz(folder / "evaluations.npz"))
    doc = {
        "n": n,
        "terms": args.terms,
        "result": "spex" if args.spex else "truth",
        "coefficients": len(result),
        "n_evaluations": result.n_evaluations,
        "figures": sorted(figures),
        "report_bytes": report_bytes,
        "minimal_circuit_units": len(minimal.units),
        "minimal_circuit_evaluations": minimal.n_evaluations,
        "seconds": timings,
        "peak_rss_mb": round(peak_mb()),
    }
    OUT.mkdir(exist_ok=True)
    stem = f"whole_model_outputs{args.tag}"
    (OUT / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in timings.items())
    (OUT / f"{stem}.md").write_text(
        f"# Output paths at n = {n} ({args.terms} Möbius terms of order 1–3, result: {doc['result']})\n\n"
        f"`PYTHONPATH=. python benchmarks/whole_model_outputs.py{' --spex' if args.spex else ''}` on the shared 2-core "
        "CPU.\n\n"
        f"| step | seconds |\n|---|---|\n{rows}\n\n"
        f"Peak RSS {doc['peak_rss_mb']} MB; report.html {report_bytes} bytes; figures: {', '.join(doc['figures'])}; "
        f"minimal circuit {len(minimal.units)} units, {minimal.n_evaluations} evaluations.\n"
    )


if __name__ == "__main__":
    main()
