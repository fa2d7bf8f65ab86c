"""Data lens on scikit-learn's bundled digits: which groups of training images, together, make a prediction?

    python circuits/data_lens/run.py [--budget 1000] [--store DIR] [--json results.json]

1. Real data: units are 30 groups of training images (each digit class split into 3 k-means clusters);
   f(mask) is the correct-class margin of one test image (the hardest correctly classified one) after
   retraining a multinomial logistic regression on the kept groups, all masks of a batch at once.
2. Planted: 30 background groups plus two groups A and B that only jointly teach "marker v means class 0"
   (see ``spex_mech.zoo.digits``); {A, B} must come out as the top interaction. Checked exactly by
   enumerating all 2^8 retrainings of a smaller version first.

For both, ProxySPEX gets ``--budget`` retrainings; a LASSO linear datamodel is fitted on the very same
retrainings (equal budget); both are scored on 200 held-out α = ½ subsets by the linear datamodeling
score (LDS, Spearman) and by R². Seeded throughout; the logistic regressions are deterministic.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import spex_mech as sm
from spex_mech.results.interactions import r2_score
from spex_mech.units.lds import Recorder, lds, lds_masks, linear_datamodel
from spex_mech.zoo import digits


def compare(game, budget: int, held_out: int = 200, seed: int = 0) -> dict:
    """ProxySPEX vs a linear datamodel on the same ``budget`` retrainings, scored on held-out half subsets."""
    start = time.perf_counter()
    asked = Recorder(game)  # exactly the retrainings ProxySPEX used: the linear datamodel gets the same
    sparse = sm.proxyspex(asked, budget=budget, max_order=3, seed=seed)
    linear = linear_datamodel(asked.masks, asked.values, labels=game.labels)
    held = lds_masks(game.n, held_out, alpha=0.5, seed=seed + 1)
    truth = game(held)
    out = {
        "retrainings": budget,
        "held_out": held_out,
        "seconds": round(time.perf_counter() - start, 1),
        "lds": {
            "proxyspex": lds(sparse, masks=held, values=truth),
            "linear_datamodel": lds(linear, masks=held, values=truth),
        },
        "r2": {
            "proxyspex": r2_score(truth, sparse.predict(held)),
            "linear_datamodel": r2_score(truth, linear.predict(held)),
        },
        "top": [str(t) for t in sparse.top(6)],
        "top_interactions": [str(t) for t in sparse.top(4, min_order=2)],
        "proxyspex_terms": len(sparse),
    }
    return out


def show(title: str, out: dict) -> None:
    print(f"\n== {title} ({out['retrainings']} retrainings, {out['seconds']} s)")
    print("   top Möbius terms:      " + "; ".join(out["top"]))
    print("   top interactions:      " + "; ".join(out["top_interactions"]))
    print(
        f"   held-out α=½ subsets ({out['held_out']}): LDS proxyspex {out['lds']['proxyspex']:.3f} vs linear datamodel "
        f"{out['lds']['linear_datamodel']:.3f};  R² {out['r2']['proxyspex']:.4f} vs {out['r2']['linear_datamodel']:.4f}"
    )


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=int, default=1000, help="retrainings given to ProxySPEX (and to the linear datamodel)"
    )
    parser.add_argument("--store", help="folder keeping every retraining (resumable)")
    parser.add_argument("--json", help="write the measured results to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # reproducible float reductions (and fastest on a shared CPU)
    store = Path(args.store) if args.store else None
    report = {}

    small = digits.planted_lens(6, store=store / "planted_small" if store else None)
    exact = sm.exhaustive(small)
    report["planted_exhaustive"] = {"n": small.n, "retrainings": 2**small.n, "top": [str(t) for t in exact.top(4)]}
    print(f"== planted, exact: all {2 ** small.n} retrainings over {small.n} units")
    print("   top Möbius terms: " + "; ".join(str(t) for t in exact.top(4)))

    planted = digits.planted_lens(30, background_size=8, store=store / "planted" if store else None)
    report["planted"] = compare(planted, args.budget)
    show(f"planted, n={planted.n}", report["planted"])

    real = digits.lens(store=store / "digits" if store else None)
    report["digits"] = compare(real, args.budget)
    report["digits"]["test_index"] = real.test_index
    report["digits"]["test_label"] = int(real.data.y_test[real.test_index])
    show(f"digits test image #{real.test_index} (a {report['digits']['test_label']}), n={real.n}", report["digits"])

    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, default=float)
    return report


if __name__ == "__main__":
    main()
