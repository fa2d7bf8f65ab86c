"""MIB neuron level and the faithfulness noise estimate on the zoo's trained models (issue 19).

1. The MLP-lookup model (one layer, d_model 32): its MIB neurons ``input`` and ``m0`` (64 units, mean
   ablation against all 256 prompts). Attribution patching (one forward + one backward pass) against the
   measured one-unit ablation effects f(1) − f(1 − e_j) (64 masks); SPEX (max order 2) as the interaction
   method; faithfulness curves (keep only the top-k coordinates) with CPR/CMD for both rankings; the MIB
   neuron-level JSON written by ``to_mib(level="neuron")``.
2. The induction model's minimal circuit (8 heads): the delta-method standard errors over its 16 prompts
   that the warnings now use instead of the fixed 0.05.

    PYTHONPATH=. python benchmarks/mib_neurons.py     # → benchmarks/results/mib_neurons.{md,json}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import spex_mech as sm
from spex_mech.algorithms.baselines import attribution_patching
from spex_mech.circuits import faithfulness_curves, minimal_circuit, ranking, unit_scores
from spex_mech.circuits.noise import estimate_noise
from spex_mech.results.exports import mib_cfg
from spex_mech.units.mib import MIBNeurons
from spex_mech.zoo import induction, mlp_lookup

OUT = Path(__file__).resolve().parent / "results"


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def neuron_level() -> dict:
    """Run part 1 and return its numbers."""
    model = mlp_lookup.load()
    t = mlp_lookup.task()
    units = MIBNeurons(model, nodes=["input", "m0"])
    game = sm.AblationGame(model, units, t["tokens"], t["metric"], ablation="mean", reference=t["reference"])
    n = game.n
    t0 = time.time()
    atp = attribution_patching(game)
    t_atp = time.time() - t0
    grads = np.asarray(atp.params["gradients"])
    singles = ~np.eye(n, dtype=bool)
    t0 = time.time()
    drops = game(np.concatenate([np.ones((1, n), bool), singles]))
    effects = drops[0] - drops[1:]
    t_single = time.time() - t0
    t0 = time.time()
    spex = sm.spex(game, max_order=2, seed=0)
    t_spex = time.time() - t0
    rankings = {"attribution patching": ranking(unit_scores(atp, "attribution")),
                "SPEX Möbius share": ranking(unit_scores(spex, "mobius"))}
    curves = faithfulness_curves(game, rankings, warn=False)
    doc = atp.to_mib(mib_cfg(model), level="neuron", kind="attribution", path=str(OUT / "mib_neurons_scores.json"))
    return {
        "units": n,
        "attribution_seconds": round(t_atp, 3),
        "single_ablations_seconds": round(t_single, 3),
        "spex_seconds": round(t_spex, 3),
        "spex_evaluations": int(spex.n_evaluations),
        "gradient_vs_single_ablation": {
            "spearman_abs": _spearman(np.abs(grads), np.abs(effects)),
            "max_abs_difference": float(np.max(np.abs(grads - effects))),
            "max_abs_effect": float(np.max(np.abs(effects))),
        },
        "curves": {name: {"cpr": c.cpr, "cmd": c.cmd, "noise_method": c.noise_method, "warnings": list(c.warnings)}
                   for name, c in curves.items()},
        "mib_nodes": sorted(doc["nodes"]),
        "top_coordinates": {name: [units.labels[i] for i in order[:5]] for name, order in rankings.items()},
    }


def induction_noise() -> dict:
    """Run part 2 and return its numbers."""
    game = induction.game()
    exact = sm.exhaustive(game)
    found = minimal_circuit(exact, game, target=0.9, warn=False)
    est = estimate_noise(game, np.stack([found.mask, ~found.mask]))
    return {
        "circuit": list(found.labels),
        "keep": found.keep,
        "ablate": found.ablate,
        "keep_se": est.se[0],
        "ablate_se": est.se[1],
        "effect": found.clean - found.empty,
        "effect_se": est.effect_se,
        "method": est.method,
        "warnings": list(found.warnings),
    }


def main() -> None:
    """Run both parts and write the results."""
    OUT.mkdir(exist_ok=True)
    res = {"neuron_level": neuron_level(), "induction_noise": induction_noise()}
    (OUT / "mib_neurons.json").write_text(json.dumps(res, indent=2, ensure_ascii=False))
    nl, ind = res["neuron_level"], res["induction_noise"]
    g = nl["gradient_vs_single_ablation"]
    lines = [
        "# MIB neuron level and faithfulness noise (benchmarks/mib_neurons.py)",
        "",
        f"## MLP-lookup model: {nl['units']} MIB neurons (input, m0), mean ablation",
        "",
        f"- attribution patching: {nl['attribution_seconds']} s (one forward + one backward pass); the 64 "
        f"one-unit ablations: {nl['single_ablations_seconds']} s",
        f"- |gradient| vs |f(1) − f(1 − e_j)|: Spearman {g['spearman_abs']:.3f}; max |difference| "
        f"{g['max_abs_difference']:.4g} (largest effect {g['max_abs_effect']:.4g})",
        f"- SPEX (max order 2): {nl['spex_evaluations']} evaluations, {nl['spex_seconds']} s",
        "",
        "| ranking | CPR | CMD | tolerance | top 5 coordinates |",
        "|---|---|---|---|---|",
    ]
    for name, c in nl["curves"].items():
        lines.append(f"| {name} | {c['cpr']:.3f} | {c['cmd']:.3f} | {c['noise_method']} | "
                     f"{', '.join(nl['top_coordinates'][name])} |")
    lines += [
        "",
        f"MIB JSON (`mib_neurons_scores.json`): nodes {', '.join(nl['mib_nodes'])}.",
        "",
        "## Induction model: minimal circuit with estimated noise",
        "",
        f"- circuit {', '.join(ind['circuit'])}: keep {ind['keep']:.3f} ± {ind['keep_se']:.3f}, ablate "
        f"{ind['ablate']:.3f} ± {ind['ablate_se']:.3f} (one standard error); effect {ind['effect']:.4g} ± "
        f"{ind['effect_se']:.3g}",
        f"- {ind['method']}; warnings: {'; '.join(ind['warnings']) or 'none'}",
        "",
    ]
    (OUT / "mib_neurons.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
