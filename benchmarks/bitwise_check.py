"""Record and compare ProxySPEX results bit for bit, for a refactoring that must not change them.

Every case is a ``proxyspex`` call that the existing tests (``tests/test_proxyspex.py``,
``tests/test_hierarchy.py``) or the ProxySPEX benchmark's small points make, with their seeds. For
each, the result's spectrum (keys and the exact float64 bits of its coefficients), ``n_evaluations``
and ``params`` (timings dropped; floats by their bits) are saved.

Usage::

    python benchmarks/bitwise_check.py record benchmarks/results/bitwise_before.json
    python benchmarks/bitwise_check.py compare benchmarks/results/bitwise_before.json \
        benchmarks/results/bitwise_before_s24.json [--out benchmarks/results/bitwise_compare.md]

``compare`` reruns every case on the current code and reports ``identical`` or what differs per case,
once as recorded and once with the flat keywords spelled as the grouped records (``proxy=ProxyConfig``,
``selection=SelectionConfig``, ``post=PostConfig``); it exits 1 when any run differs.
``benchmarks/results/bitwise_before.json`` was recorded on commit 186531d (ProxySPEX still one module),
the ``induction_heads`` case from a clean ``git archive`` of it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import struct
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from spex_mech.synthetic import SparseFunction, random_sparse_function

TIMING_KEYS = {"evaluate_seconds", "fit_seconds", "extract_seconds", "select_seconds", "refit_seconds"}
HAS_LGB = importlib.util.find_spec("lightgbm") is not None


def _rsf(n: int, k: int, orders: tuple, basis: str, seed: int) -> Callable[[], Any]:
    return lambda: random_sparse_function(n, k, orders=orders, basis=basis, seed=seed)


def _pair_and_friends() -> SparseFunction:
    return SparseFunction(
        64, {(7, 40): 1.0, (7,): -0.5, (40,): -0.5, (3,): 0.3, (5, 9): 0.4, (5,): 0.2}, basis="mobius"
    )


def _sum_game():
    def f(m):
        return m.sum(axis=1).astype(float) + m[:, 0] * m[:, 1]

    f.n = 8
    return f


def _induction_heads():
    """Return the demo model's 8-head game (``test_induction_model_against_exhaustive_and_spex``)."""
    from spex_mech.zoo import induction

    return induction.game()


def _estimator():
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=150, max_depth=4, random_state=0)


def cases() -> dict[str, tuple[Callable[[], Any], dict[str, Any]]]:
    """Return every case: name → (function factory, proxyspex keyword arguments)."""
    out: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
        # tests/test_proxyspex.py
        "hier64_fifth": (
            _rsf(64, 15, (1, 2, 3), "mobius", 4),
            dict(budget=413, max_order=3, seed=0),
        ),  # SPEX b=5 cost // 5
        "exhaustive14": (_rsf(14, 10, (1, 2, 3, 4), "mobius", 7), dict(budget=1500, seed=1)),
        "honest_small": (_rsf(1024, 40, (1, 2, 3, 4), "mobius", 2), dict(budget=500, seed=2)),
        "cv_easy": (_rsf(16, 6, (1, 2, 3), "mobius", 5), dict(budget=300, seed=0)),
        "cv_easy_forced": (_rsf(16, 6, (1, 2, 3), "mobius", 5), dict(budget=300, seed=0, cross_validation=True)),
        "cv_easy_single": (_rsf(16, 6, (1, 2, 3), "mobius", 5), dict(budget=300, seed=0, cross_validation=False)),
        "cv_hard": (_rsf(256, 30, (1, 2, 3, 4), "mobius", 0), dict(budget=200, seed=0)),
        "mobius_basis": (
            _rsf(20, 8, (1, 2, 3, 4), "mobius", 11),
            dict(budget=1500, seed=0, basis="mobius", grow=False),
        ),
        "fourier_basis": (_rsf(64, 20, (1, 2, 3, 4), "mobius", 1), dict(budget=250, seed=1, basis="fourier")),
        "auto_basis": (_rsf(64, 20, (1, 2, 3, 4), "mobius", 1), dict(budget=250, seed=1)),
        "wide_base": (_rsf(60, 6, (1, 2), "mobius", 0), dict(budget=40, seed=0, singletons="all")),
        "greedy_many": (
            _rsf(100, 90, (2, 3), "mobius", 5),
            dict(budget=2500, seed=0, basis="mobius", grow=False, depths=(5,)),
        ),
        "greedy_few": (
            _rsf(100, 8, (2, 3), "mobius", 5),
            dict(budget=2500, seed=0, basis="mobius", grow=False, depths=(5,)),
        ),
        "non_hierarchical": (_rsf(32, 8, (4, 5), "fourier", 3), dict(budget=1500, seed=0)),
        "confirm": (_rsf(20, 8, (2, 3), "mobius", 11), dict(budget=800, seed=0, confirm=3, confirm_bases=2)),
        "backend_sklearn": (
            _rsf(24, 6, (1, 2, 3), "mobius", 5),
            dict(budget=1200, proxy="sklearn", max_order=3, seed=0),
        ),
        "estimator": (_rsf(16, 6, (1, 2, 3), "mobius", 8), dict(budget=600, proxy="estimator", max_order=2, seed=0)),
        "ranked_singletons": (_rsf(300, 10, (1, 2, 3), "mobius", 3), dict(budget=400, seed=0)),
        "refine_off": (
            _rsf(16, 6, (1, 2), "mobius", 9),
            dict(budget=600, seed=0, refine=False, n_coefficients=4, singletons="all"),
        ),
        "metadata": (_rsf(12, 4, (1, 2), "mobius", 1), dict(budget=300, seed=2)),
        "small_design": (_sum_game, dict(budget=100, seed=0)),
        # tests/test_hierarchy.py
        "fourier_plain": (
            _rsf(256, 30, (1, 2, 3, 4), "mobius", 0),
            dict(budget=500, seed=0, grow=False, basis="fourier"),
        ),
        "fourier_grown": (_rsf(256, 30, (1, 2, 3, 4), "mobius", 0), dict(budget=500, seed=0, basis="fourier")),
    }
    for budget in (100, 127, 128, 400, 600):
        out[f"from_empty_{budget}"] = (
            lambda: SparseFunction(64, {(0, 1): 1.0, (2,): 0.5}, basis="mobius"),
            dict(budget=budget, seed=0),
        )
    if HAS_LGB:
        out["backend_lightgbm"] = (
            _rsf(24, 6, (1, 2, 3), "mobius", 5),
            dict(budget=1200, proxy="lightgbm", max_order=3, seed=0),
        )
        out["growth_tiny_lgb"] = (_rsf(256, 30, (1, 2, 3, 4), "mobius", 0), dict(budget=162, seed=0, proxy="lightgbm"))
        out["growth_from_empty_lgb"] = (_pair_and_friends, dict(budget=120, seed=4, proxy="lightgbm"))
        out["growth_cap_lgb"] = (_pair_and_friends, dict(budget=160, seed=3, proxy="lightgbm"))
    # the demo model's 8-head game at half of SPEX's evaluations (SPEX max_order=5, seed 0: 256 → 128)
    out["induction_heads"] = (_induction_heads, dict(budget=128, seed=0))
    # benchmarks/proxyspex_benchmark.py --quick: n = 64, 20 planted terms, budgets 250 and 1000, seed 0
    for budget in (250, 1000):
        out[f"bench64_{budget}"] = (
            _rsf(64, 20, (1, 2, 3, 4), "mobius", 0),
            dict(budget=budget, seed=0, proxy="sklearn"),
        )
    # benchmarks/proxyspex_benchmark.py's larger hierarchical points (reference: bitwise_before_s24.json,
    # recorded on ef56843, before the large-n column cap and the grouped options)
    for n, terms in ((256, 30), (1024, 40)):
        out[f"bench{n}_1000"] = (_rsf(n, terms, (1, 2, 3, 4), "mobius", 0), dict(budget=1000, seed=0, proxy="sklearn"))
    if HAS_LGB:
        out["bench1024_2000_lgb"] = (
            _rsf(1024, 40, (1, 2, 3, 4), "mobius", 0),
            dict(budget=2000, seed=0, proxy="lightgbm"),
        )
    return out


def _bits(x: float) -> str:
    return struct.pack("<d", float(x)).hex()


def _encode(obj: Any) -> Any:
    """JSON form with every float replaced by its exact bits."""
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)) or obj is None or isinstance(obj, str):
        return bool(obj) if isinstance(obj, np.bool_) else obj
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return "f:" + _bits(obj)
    return repr(obj)


def grouped(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return ``kwargs`` with the older flat keywords spelled as ``proxy=``/``selection=``/``post=`` records."""
    from spex_mech.algorithms.proxyspex import PostConfig, ProxyConfig, SelectionConfig
    from spex_mech.algorithms.proxyspex.options import LEGACY_OPTIONS

    out = {k: v for k, v in kwargs.items() if k not in LEGACY_OPTIONS}
    flat = {k: v for k, v in kwargs.items() if k in LEGACY_OPTIONS}
    selection = {k: v for k, v in flat.items() if LEGACY_OPTIONS[k][0] == "selection"}
    post = {k: v for k, v in flat.items() if k in ("confirm", "confirm_bases")}
    if not flat.get("refine", True):
        post["refit"] = "none"
    elif not flat.get("grow", True):
        post["refit"] = "ridge"
    knobs = {k: v for k, v in flat.items() if LEGACY_OPTIONS[k][0] == "proxy"}
    if knobs:  # the older default depths and boosting knobs, as ProxySPEX resolves them
        base = ProxyConfig.from_arguments(out.get("proxy", "auto"), max_order=out.get("max_order"), **knobs)
        out["proxy"] = base
    if selection:
        out["selection"] = SelectionConfig(**selection)
    if post:
        out["post"] = PostConfig(**post)
    return out


def run_case(factory: Callable[[], Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run one case; its record (spectrum bits, evaluations, params without timings)."""
    from spex_mech.algorithms.proxyspex import proxyspex

    kwargs = dict(kwargs)
    if kwargs.get("proxy") == "estimator":
        kwargs["proxy"] = _estimator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = proxyspex(factory(), **kwargs)
    params = result.params.to_dict() if hasattr(result.params, "to_dict") else dict(result.params)
    return {
        "keys": result.keys.tolist(),
        "coefficients": [_bits(v) for v in result.coefficients],
        "n_evaluations": int(result.n_evaluations),
        "params": _encode(params),
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, str]:
    """Return (what differs, params keys absent before and None now); empty strings when nothing does.

    A params key the reference lacks and the new record holds as None (a typed record lists every
    field; ``confirmation`` is None without ``confirm``) carries no value, so it is reported apart.
    """
    parts, added = [], []
    for field in ("keys", "coefficients", "n_evaluations"):
        if before[field] != after[field]:
            parts.append(field)
    pb, pa = before["params"], after["params"]
    for key in sorted(set(pb) | set(pa)):
        if key not in pb and key in pa and pa[key] is None:
            added.append(key)
        elif pb.get(key, "<absent>") != pa.get(key, "<absent>"):
            parts.append(f"params[{key}]")
    return ", ".join(parts), ", ".join(added)


def main() -> int:
    """Record or compare (see the module docstring); the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument(
        "path", type=Path, nargs="+", help="the 'before' JSON file (written by record; compare reads and merges all)"
    )
    parser.add_argument("--out", type=Path, help="compare: also write the report here (Markdown)")
    parser.add_argument("--only", nargs="*", help="run only these cases")
    args = parser.parse_args()
    todo = cases()
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only}
    if args.mode == "record":
        records = {}
        for name, (factory, kwargs) in todo.items():
            start = time.perf_counter()
            records[name] = run_case(factory, kwargs)
            print(f"{name}: recorded ({time.perf_counter() - start:.1f} s)", flush=True)
        args.path[0].write_text(json.dumps(records, indent=0, sort_keys=True) + "\n")
        return 0
    before = {}
    for path in args.path:
        before.update(json.loads(path.read_text()))
    lines = [
        "# ProxySPEX bit-for-bit comparison",
        "",
        f"Reference: {', '.join(f'`{p}`' for p in args.path)}. Compared: spectrum keys, coefficient bits, "
        "n_evaluations, every params",
        "value (floats by their bits; timings excluded).",
        "",
        "| case | result | params keys new (None) | grouped spelling (`proxy=`/`selection=`/`post=` records) |",
        "|---|---|---|---|",
    ]
    differs = 0
    for name, (factory, kwargs) in todo.items():
        if name not in before:
            lines.append(f"| {name} | not in the reference | |")
            differs += 1
            continue
        diff, added = _diff(before[name], run_case(factory, kwargs))
        spelled = grouped(kwargs)
        other = "same call" if spelled == kwargs else _diff(before[name], run_case(factory, spelled))[0] or "identical"
        differs += bool(diff) or other not in ("same call", "identical")
        verdict = "identical" if not diff else "DIFFERENT: " + diff
        other = other if other in ("same call", "identical") else "DIFFERENT: " + other
        lines.append(f"| {name} | {verdict} | {added} | {other} |")
        print(lines[-1], flush=True)
    lines += ["", f"{len(todo) - differs} of {len(todo)} cases identical."]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
