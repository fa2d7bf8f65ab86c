"""Every algorithm on the same games at equal evaluation budgets: faithfulness, recovery and time.

    python benchmarks/compare.py            # full size, by hand (minutes on 2 CPU cores)
    python benchmarks/compare.py --smoke    # CI size, end to end in well under a minute

Writes ``benchmarks/results/compare.{md,json}`` (``compare_smoke.*`` with ``--smoke``; ``--out`` picks
another folder). Exit status 1 if any algorithm raised something other than a refusal (ValueError).

Games
  synthetic spectra with a known truth (``spex_mech.synthetic``):
    sparse      — a few Fourier parities of order 1–3 (not hierarchical);
    sparse+noise — the same at 20 dB SNR (held-out targets are the noise-free values; full run only);
    hierarchical — AND terms (basis="mobius") of order 1–4: every subset of a term is in the spectrum;
    dense       — hundreds to thousands of parities of order 1–6, amplitudes over two decades;
  zoo models (``spex_mech.zoo``), ablation games over attention heads (plus neurons for mlp_lookup):
    induction   — truth: exhaustive enumeration (n = 8); circuit: a previous-token head (L0) × an
                  induction head (L1), the roles measured from attention patterns (``head_scores``);
    planted     — truth: the planted Möbius spectrum (``planted.head_mobius``);
    mlp_lookup  — (full run) truth unknown; circuit: the top interaction contains one of the 4 neurons
                  that ``mlp_lookup.neuron_scores`` ranks highest.

Algorithms (each gets the game's budget; the "evals" column is what it actually spent)
  exhaustive (all 2^n masks, where n is small; its own cost, shown for reference), spex, proxyspex,
  pairwise (screened to the largest candidate set that fits the budget), lasso in the Fourier and the
  Möbius basis (max_order 2), shapley_sampling and banzhaf_sampling (first-order surrogates), and
  attribution patching (``attribution``: the first-order Taylor surrogate at the all-kept state from one
  forward and one backward pass; model games only — a synthetic game has no gradient and is skipped;
  its forward/backward pass does not go through the value function, so it counts as algo s).
  An algorithm that is not importable yet is listed as unavailable; one that refuses the budget
  (ValueError) as skipped with its message. No row is ever filled in by hand.

Metrics
  R²       faithfulness on the same held-out uniform masks for every algorithm (1,000; 300 in smoke);
  recall@k |top-k terms ∩ truth's top-k terms| / k, in the basis the truth was planted in (Fourier for
           parity games, Möbius otherwise), k = min(10, truth terms of order ≥ 1);
  top-1    whether the algorithm's top term belongs to the game's known circuit (order ≥ 1; order ≥ 2
           for induction and mlp_lookup, whose circuits are interactions);
  SV err   ‖φ − φ_true‖ / ‖φ_true‖ for the Shapley values the result implies;
  model s  seconds inside the value function; algo s = wall time − model s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import spex_mech as sm
from spex_mech.results.interactions import Interactions, r2_score
from spex_mech.synthetic import random_sparse_function
from spex_mech.valuefn import uniform_masks

RESULTS = Path(__file__).resolve().parent / "results"
HELDOUT_SEED = 12345
TRUTH_REL_TOL = 1e-9  # truth terms smaller than this fraction of the largest are round-off


# ---------------------------------------------------------------------------------------------- games
@dataclass
class Case:
    """One game with everything needed to score an algorithm on it."""

    name: str
    structure: str
    n: int
    budget: int
    max_order: int  # the interaction order SPEX is asked to decode
    make: Callable[[], Any]  # a fresh value function (fresh noise stream for noisy games)
    clean: Optional[Callable[[np.ndarray], np.ndarray]] = None  # noise-free targets for held-out R²
    truth: Optional[Interactions] = None
    truth_source: str = ""
    basis: str = "mobius"  # basis for recall@k and top-1
    circuit: Optional[Callable[[tuple[int, ...]], bool]] = None
    circuit_text: str = ""
    circuit_min_order: int = 1  # the "top term" checked against the circuit has at least this order
    truth_from_exhaustive: bool = False


def synthetic_cases(n: int, budget: int, *, dense_terms: int, seed: int, noisy: bool = True) -> list[Case]:
    """The synthetic structures at one size (the noisy variant only when ``noisy``)."""
    specs = [
        (
            "sparse",
            "sparse low-order parities",
            dict(n_terms=max(8, n // 2), orders=(1, 2, 3), basis="fourier", amplitudes=(0.1, 1.0)),
            3,
        ),
        (
            "sparse+noise",
            "sparse low-order parities, 20 dB SNR",
            dict(n_terms=max(8, n // 2), orders=(1, 2, 3), basis="fourier", amplitudes=(0.1, 1.0), snr_db=20.0),
            3,
        ),
        (
            "hierarchical",
            "AND terms of order 1–4 (basis='mobius')",
            dict(n_terms=max(6, n // 3), orders=(1, 2, 3, 4), basis="mobius", amplitudes=(0.1, 1.0)),
            4,
        ),
        (
            "dense",
            f"{dense_terms} parities of order 1–6",
            dict(n_terms=dense_terms, orders=(1, 2, 3, 4, 5, 6), basis="fourier", amplitudes=(0.01, 1.0)),
            5,
        ),
    ]
    cases = []
    for offset, (name, structure, kw, order) in enumerate(specs):
        if not noisy and "snr_db" in kw:
            continue
        game_seed = seed + 101 * (offset + 1) + n
        probe = random_sparse_function(n, seed=game_seed, **kw)
        planted = probe.truth.fourier if kw["basis"] == "fourier" else probe.truth.mobius()
        cut = TRUTH_REL_TOL * max(abs(v) for v in planted.values())
        truth_supports = {s for s, v in planted.items() if s and abs(v) > cut}
        cases.append(
            Case(
                name=f"{name} n={n}",
                structure=structure,
                n=n,
                budget=budget,
                max_order=min(order, n - 1),
                make=(lambda kw=kw, game_seed=game_seed: random_sparse_function(n, seed=game_seed, **kw)),
                clean=probe.clean,
                truth=probe.truth,
                truth_source="planted spectrum",
                basis=kw["basis"],
                circuit=(lambda units, s=frozenset(truth_supports): units in s),
                circuit_text="a planted term",
            )
        )
    return cases


def induction_case(budget: int, n_prompts: int) -> Case:
    from spex_mech.zoo import induction

    game = induction.game(n_prompts=n_prompts)
    scores = induction.head_scores()
    prev = {i for i, lab in enumerate(game.labels) if lab.startswith("L0") and scores[lab]["previous_token"] > 0.5}
    ind = {i for i, lab in enumerate(game.labels) if lab.startswith("L1") and scores[lab]["induction"] > 0.5}
    return Case(
        name="induction",
        structure=f"2-layer attention-only model, 8 heads, {n_prompts} prompts, mean ablation",
        n=game.n,
        budget=budget,
        max_order=3,
        make=lambda: game,
        truth_source="exhaustive enumeration",
        basis="mobius",
        circuit=lambda units: len(units) == 2 and units[0] in prev and units[1] in ind,
        circuit_text="previous-token head × induction head",
        circuit_min_order=2,
        truth_from_exhaustive=True,
    )


def planted_case(budget: int) -> Case:
    from spex_mech.zoo import planted

    game = planted.game()
    planted_terms = planted.head_mobius()
    return Case(
        name="planted",
        structure="hand-built 1-layer model, 12 heads (AND, OR, 3-way AND, 5 null heads), zero ablation",
        n=game.n,
        budget=budget,
        max_order=3,
        make=lambda: game,
        truth=Interactions.from_mobius(planted_terms, game.n, labels=game.labels),
        truth_source="planted Möbius spectrum",
        basis="mobius",
        circuit=lambda units: units in planted_terms,
        circuit_text="a planted term",
    )


def mlp_lookup_case(budget: int) -> Case:
    from spex_mech.zoo import mlp_lookup

    game = mlp_lookup.game()
    scores = mlp_lookup.neuron_scores()
    top_neurons = {f"L0N{i}" for i in np.argsort(-scores)[:4]}
    key = {i for i, lab in enumerate(game.labels) if lab in top_neurons}
    return Case(
        name="mlp_lookup",
        structure=f"1-layer model computing an AND in its MLP, {game.n} units (4 heads + neurons), mean ablation",
        n=game.n,
        budget=budget,
        max_order=3,
        make=lambda: game,
        truth_source="none (R² and timing only)",
        basis="mobius",
        circuit=lambda units: bool(key & set(units)),
        circuit_text="contains one of the 4 top-scoring neurons",
        circuit_min_order=2,
    )


# ------------------------------------------------------------------------------------------ algorithms
class TimedGame:
    """Pass-through value function that adds up the seconds spent inside the wrapped game."""

    def __init__(self, f: Any):
        self.f = f
        self.n = f.n
        self.labels = getattr(f, "labels", None)
        self.ids = getattr(f, "ids", None)
        self.seconds = 0.0
        self.rows = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = self.f(masks)
        self.seconds += time.perf_counter() - start
        self.rows += len(masks)
        return out


def largest_screen(n: int, budget: int) -> Optional[int]:
    """Largest m with 1 + n + C(m, 2) ≤ budget (None: no screening needed)."""
    from spex_mech.algorithms.baselines import pairwise_evaluations

    if pairwise_evaluations(n) <= budget:
        return None
    m = n
    while m >= 2 and pairwise_evaluations(n, m) > budget:
        m -= 1
    if m < 2:
        raise ValueError(
            f"pairwise needs at least {pairwise_evaluations(n, 2)} evaluations (clean, {n} singles, 1 pair); budget is "
            f"{budget}"
        )
    return m


def _lazy(name: str) -> Callable[..., Interactions]:
    """The public algorithm ``spex_mech.<name>``; ImportError/AttributeError if it does not exist yet."""
    return getattr(sm, name)


ALGORITHMS: dict[str, Callable[[Case, Any, int], Interactions]] = {
    "exhaustive": lambda case, f, seed: sm.exhaustive(f),
    "spex": lambda case, f, seed: _lazy("spex")(f, budget=case.budget, max_order=case.max_order, seed=seed),
    "proxyspex": lambda case, f, seed: _lazy("proxyspex")(f, budget=case.budget, seed=seed),
    "pairwise": lambda case, f, seed: sm.pairwise(f, screen=largest_screen(case.n, case.budget)),
    "lasso-fourier": lambda case, f, seed: sm.lasso(f, budget=case.budget, max_order=2, basis="fourier", seed=seed),
    "lasso-mobius": lambda case, f, seed: sm.lasso(f, budget=case.budget, max_order=2, basis="mobius", seed=seed),
    "shapley": lambda case, f, seed: sm.shapley_sampling(f, budget=case.budget, seed=seed),
    "banzhaf": lambda case, f, seed: sm.banzhaf_sampling(f, budget=case.budget, seed=seed),
    "attribution": lambda case, f, seed: _attribution(f),
}


def _attribution(f: Any) -> Interactions:
    """Attribution patching at the clean state; a game without a model (no gradient) is a refusal."""
    from spex_mech.algorithms.baselines import attribution_patching

    game = getattr(f, "f", f)  # TimedGame → the game itself
    if not hasattr(game, "model"):
        raise ValueError(f"needs a model to differentiate; {type(game).__name__} has none")
    return attribution_patching(f)


def available(name: str) -> Optional[str]:
    """None if the algorithm can be called, else why not."""
    module = {"spex": "spex_mech.algorithms.spex", "proxyspex": "spex_mech.algorithms.proxyspex"}.get(name)
    if module is None:
        return None
    try:
        importlib.import_module(module)
        _lazy(name)
    except (ImportError, AttributeError) as err:
        return f"not available yet ({type(err).__name__}: {err})"
    return None


# ---------------------------------------------------------------------------------------------- scoring
def top_supports(result: Interactions, k: int, basis: str, rel_tol: float = 0.0) -> list[tuple[int, ...]]:
    """Supports of the ``k`` largest terms (order ≥ 1), ignoring those below ``rel_tol`` × the largest.

    With ``rel_tol`` > 0 (used for the truth) round-off terms of an exact spectrum — e.g. Möbius →
    Fourier → Möbius leaves ~1e-16 values — are not counted as truth terms.
    """
    terms = result.top(k, basis=basis, min_order=1)
    if rel_tol > 0 and terms:
        cut = rel_tol * abs(terms[0].value)
        terms = [t for t in terms if abs(t.value) > cut]
    return [t.units for t in terms]


def score(
    case: Case, result: Interactions, heldout: tuple[np.ndarray, np.ndarray], truth: Optional[Interactions]
) -> dict[str, Any]:
    masks, targets = heldout
    row: dict[str, Any] = {"r2": r2_score(targets, result.predict(masks)), "n_terms": len(result)}
    if truth is not None:
        truth_top = top_supports(truth, 10, case.basis, rel_tol=TRUTH_REL_TOL)
        k = len(truth_top)
        if k:
            found = set(top_supports(result, k, case.basis))
            row["recall_at_k"] = len(found & set(truth_top)) / k
            row["k"] = k
        true_sv = truth.shapley_values()
        norm = float(np.linalg.norm(true_sv))
        if norm > 0:
            row["sv_rel_err"] = float(np.linalg.norm(result.shapley_values() - true_sv) / norm)
    if case.circuit is not None:
        top = [t.units for t in result.top(1, basis=case.basis, min_order=case.circuit_min_order)]
        row["top1"] = result.label_of(top[0]) if top else ()
        row["top1_in_circuit"] = bool(top) and case.circuit(top[0])
    return row


def run_one(
    case: Case, name: str, seed: int, heldout: tuple[np.ndarray, np.ndarray], truth: Optional[Interactions]
) -> tuple[dict[str, Any], Optional[Interactions]]:
    row: dict[str, Any] = {"game": case.name, "algorithm": name, "budget": case.budget}
    reason = available(name)
    if reason is not None:
        return {**row, "status": "unavailable", "note": reason}, None
    game = TimedGame(case.make())
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = ALGORITHMS[name](case, game, seed)
    except ValueError as err:
        return {**row, "status": "skipped", "note": str(err)}, None
    except Exception as err:  # noqa: BLE001 - report and carry on; the exit status flags it
        traceback.print_exc()
        return {**row, "status": "error", "note": f"{type(err).__name__}: {err}"}, None
    wall = time.perf_counter() - start
    row.update(
        status="ok",
        evaluations=int(result.n_evaluations),
        model_calls_rows=game.rows,
        wall_s=wall,
        model_s=game.seconds,
        algo_s=max(0.0, wall - game.seconds),
    )
    said = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
    if said:
        row["warnings"] = said  # e.g. an algorithm saying its own surrogate is unfaithful
    row.update(score(case, result, heldout, truth))
    return row, result


# ------------------------------------------------------------------------------------------------ driver
def build_cases(smoke: bool, seed: int, only: Optional[set[str]]) -> tuple[list[Case], list[dict[str, Any]]]:
    """The game list for this mode, plus notes on games that could not be built."""
    builders: list[tuple[str, Callable[[], list[Case]]]] = []
    if smoke:
        builders.append(("synthetic", lambda: synthetic_cases(10, 400, dense_terms=200, seed=seed, noisy=False)))
        builders.append(("induction", lambda: [induction_case(200, n_prompts=4)]))
        builders.append(("planted", lambda: [planted_case(400)]))
    else:
        builders.append(("synthetic", lambda: synthetic_cases(16, 1000, dense_terms=2000, seed=seed)))
        builders.append(("synthetic", lambda: synthetic_cases(64, 4000, dense_terms=2000, seed=seed)))
        builders.append(("induction", lambda: [induction_case(200, n_prompts=16)]))
        builders.append(("planted", lambda: [planted_case(512)]))
        builders.append(("mlp_lookup", lambda: [mlp_lookup_case(1000)]))
    cases, notes = [], []
    for family, build in builders:
        if only and family not in only:
            continue
        try:
            cases.extend(build())
        except (ImportError, AttributeError, FileNotFoundError) as err:
            notes.append({"game": family, "status": "unavailable", "note": f"{type(err).__name__}: {err}"})
    return cases, notes


def run(
    smoke: bool, seed: int, algorithms: list[str], only: Optional[set[str]], exhaustive_max: int, n_heldout: int
) -> dict[str, Any]:
    cases, notes = build_cases(smoke, seed, only)
    games, rows = [], []
    for case in cases:
        print(f"== {case.name} (n={case.n}, budget={case.budget})", flush=True)
        heldout_masks = uniform_masks(case.n, n_heldout, HELDOUT_SEED)
        target_fn = case.clean if case.clean is not None else case.make()
        heldout = (heldout_masks, np.asarray(target_fn(heldout_masks), dtype=np.float64))
        truth = case.truth
        names = [a for a in algorithms if a != "exhaustive" or case.n <= exhaustive_max]
        if case.truth_from_exhaustive and "exhaustive" not in names:
            names.insert(0, "exhaustive")
        if "exhaustive" in names:  # first, so that it can serve as the truth
            names.remove("exhaustive")
            names.insert(0, "exhaustive")
        for name in names:
            row, result = run_one(case, name, seed, heldout, truth)
            if name == "exhaustive" and case.truth_from_exhaustive and result is not None:
                truth = result
                row.update(score(case, result, heldout, truth))
            rows.append(row)
            print("   " + _one_line(row), flush=True)
        games.append(
            {
                "game": case.name,
                "structure": case.structure,
                "n": case.n,
                "budget": case.budget,
                "spex_max_order": case.max_order,
                "truth": case.truth_source,
                "recovery_basis": case.basis,
                "circuit": case.circuit_text,
                "circuit_min_order": case.circuit_min_order,
                "heldout_masks": n_heldout,
            }
        )
    return {
        "meta": {
            "mode": "smoke" if smoke else "full",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.system()}",
            "numpy": np.__version__,
            "spex_mech": sm.__version__,
            "seed": seed,
            "algorithms": algorithms,
        },
        "games": games,
        "unavailable_games": notes,
        "rows": rows,
    }


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return format(value, spec)
    return str(value)


def _check(flag: Optional[bool]) -> str:
    return "—" if flag is None else ("✓" if flag else "✗")


def _one_line(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['algorithm']:>14}: {row['status']} — {row.get('note', '')[:140]}"
    return (
        f"{row['algorithm']:>14}: evals={row['evaluations']:>6} R²={_fmt(row['r2'])} "
        f"recall={_fmt(row.get('recall_at_k'), '.2f')} top1={_check(row.get('top1_in_circuit'))} "
        f"model={row['model_s']:.2f}s algo={row['algo_s']:.2f}s"
    )


def to_markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# Algorithm comparison ({meta['mode']})",
        "",
        f"Generated by `benchmarks/compare.py{' --smoke' if meta['mode'] == 'smoke' else ''}` on {meta['date']} "
        f"({meta['machine']}, Python {meta['python']}, seed {meta['seed']}).",
        "R² on the same held-out uniform masks for every algorithm; recall@k against the truth's top-k terms; "
        "top-1 = the top term belongs to the known circuit; SV err = relative L2 error of the implied Shapley "
        "values; model s = time inside the value function, algo s = the rest. `evals` is what each algorithm "
        "spent out of the game's budget (exhaustive: all 2^n masks, for reference).",
        "",
    ]
    for game in report["games"]:
        lines += [
            f"## {game['game']}",
            "",
            f"{game['structure']}; n = {game['n']}, budget = {game['budget']}, truth: {game['truth']}, "
            f"recovery basis: {game['recovery_basis']}, circuit: {game['circuit'] or '—'}"
            f"{' (top term of order ≥ %d)' % game['circuit_min_order'] if game['circuit_min_order'] > 1 else ''}, "
            f"held-out masks: {game['heldout_masks']}, SPEX max_order = {game['spex_max_order']}.",
            "",
            "| algorithm | evals | R² | recall@k | top term | in circuit | SV err | terms | model s | algo s |",
            "|---|---:|---:|---:|---|:-:|---:|---:|---:|---:|",
        ]
        notes = []
        for row in report["rows"]:
            if row["game"] != game["game"]:
                continue
            for said in row.get("warnings", []):
                notes.append(f"- {row['algorithm']} warned: {said}")
            if row["status"] != "ok":
                lines.append(f"| {row['algorithm']} | — | — | — | {row['status']} | — | — | — | — | — |")
                notes.append(f"- {row['algorithm']} ({row['status']}): {row.get('note', '')}")
                continue
            recall = "—" if "recall_at_k" not in row else f"{row['recall_at_k']:.2f} (k={row['k']})"
            top1 = " × ".join(row.get("top1", ())) or "—"
            lines.append(
                f"| {row['algorithm']} | {row['evaluations']} | {_fmt(row['r2'])} | {recall} | {top1} | "
                f"{_check(row.get('top1_in_circuit'))} | {_fmt(row.get('sv_rel_err'))} | {row['n_terms']} | "
                f"{row['model_s']:.2f} | {row['algo_s']:.2f} |"
            )
        lines.append("")
        if notes:
            lines += notes + [""]
    if report["unavailable_games"]:
        lines += ["## Games not run", ""]
        lines += [f"- {g['game']}: {g['note']}" for g in report["unavailable_games"]]
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small CI-size run (well under a minute)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for compare[_smoke].{md,json}")
    parser.add_argument("--seed", type=int, default=0, help="seed for every algorithm's sampling")
    parser.add_argument(
        "--algorithms", default=",".join(ALGORITHMS), help="comma-separated subset of: " + ", ".join(ALGORITHMS)
    )
    parser.add_argument(
        "--games", default=None, help="comma-separated subset of: synthetic, induction, planted, mlp_lookup"
    )
    parser.add_argument(
        "--exhaustive-max",
        type=int,
        default=None,
        help="largest n to enumerate exhaustively (default 12 smoke, 16 full)",
    )
    parser.add_argument(
        "--heldout", type=int, default=None, help="held-out masks for R² (default 300 smoke, 1000 full)"
    )
    args = parser.parse_args(argv)

    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in algorithms if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {list(ALGORITHMS)}")
    only = {g.strip() for g in args.games.split(",")} if args.games else None
    exhaustive_max = args.exhaustive_max if args.exhaustive_max is not None else (12 if args.smoke else 16)
    n_heldout = args.heldout if args.heldout is not None else (300 if args.smoke else 1000)

    start = time.perf_counter()
    report = run(args.smoke, args.seed, algorithms, only, exhaustive_max, n_heldout)
    report["meta"]["total_seconds"] = round(time.perf_counter() - start, 2)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "compare_smoke" if args.smoke else "compare"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=_json_default), encoding="utf-8")
    (args.out / f"{stem}.md").write_text(to_markdown(report), encoding="utf-8")
    print(f"wrote {args.out / stem}.{{md,json}} in {report['meta']['total_seconds']} s")
    errors = [r for r in report["rows"] if r["status"] == "error"]
    return 1 if errors else 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (tuple, set)):
        return list(obj)
    return repr(obj)


if __name__ == "__main__":
    sys.exit(main())
