"""Reduced precision on the GPT-2-small shape: masked evaluations per second and deviation from fp32.

A ``boot_native`` bridge with GPT-2-small's shape (random weights, 12 layers, d_model 768, 144 heads,
d_mlp 3072, vocabulary 50,257), mean ablation of all 144 heads, log-prob of a target at the last
position, ``prompts`` prompts of ``length`` tokens. For each precision the same masks are evaluated
by ``AblationGame(precision=...)`` (automatic batch size, measured on first use); masks/s is the best
of ``--repeats`` timed calls after a warm-up call, and the deviation is max |f − f_fp32| over the
masks, also relative to max |f_fp32| and to the spread of f_fp32 over the masks. One more call runs
under the engine's own memory meter: its peak is reported against the budget the rows were chosen for.

    python benchmarks/precision.py                   # CPU: fp32, bf16 → benchmarks/results/precision_cpu.{md,json}
    python benchmarks/precision.py --device cuda     # fp32, tf32, bf16 → benchmarks/results/precision_cuda.{md,json}
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import spex_mech as sm  # noqa: E402
from spex_mech.engine.rowbudget import PeakMeter  # noqa: E402
from spex_mech.zoo._bridge import build_native  # noqa: E402

sys.path.insert(0, str(HERE))
from engine_throughput import GPT2_SMALL  # noqa: E402  (one GPT-2-small shape for both benchmarks)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
        name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        flags = [f for f in ("avx512_bf16", "amx_bf16") if f in text]
    except (OSError, StopIteration):
        pass
    extra = f" ({', '.join(flags)})" if flags else ""
    return f"CPU {name}{extra}, {torch.get_num_threads()} threads"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--masks", type=int, default=None, help="masks per timed call (default: 256 CPU, 4096 CUDA)")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--length", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    device = torch.device(args.device)
    n_masks = args.masks or (4096 if device.type == "cuda" else 256)
    precisions = ["fp32", "tf32", "bf16"] if device.type == "cuda" else ["fp32", "bf16"]

    model = build_native(GPT2_SMALL).to(device).eval()
    tokens = torch.randint(
        0, GPT2_SMALL["d_vocab"], (args.prompts, args.length), generator=torch.Generator().manual_seed(0)
    )
    units = sm.AttentionHeads(model)
    masks = np.random.default_rng(0).random((n_masks, len(units))) < 0.5
    masks[0] = True
    metric = sm.metrics.logprob(target=11, position=-1)
    rows, exact = [], None
    for precision in precisions:
        game = sm.AblationGame(model, units, tokens, metric, precision=precision, progress=False)
        values = game(masks)  # warm-up, and measures the rows per pass
        best = float("inf")
        for _ in range(args.repeats):
            _sync(device)
            t = time.perf_counter()
            game(masks)
            _sync(device)
            best = min(best, time.perf_counter() - t)
        with PeakMeter(device) as meter:  # one more call: its peak against the budget the rows were chosen for
            game(masks)
        if exact is None:
            exact = values
        dev = float(np.abs(values - exact).max())
        rows.append(
            {
                "precision": precision,
                "masks_per_s": n_masks / best,
                "seconds": best,
                "max_abs_deviation": dev,
                "relative_to_max_abs": dev / float(np.abs(exact).max()),
                "relative_to_spread": dev / max(float(np.ptp(exact)), 1e-30),
                "rows_per_pass": game.rows_per_pass,
                "bytes_per_row": game.row_budget.bytes_per_row,
                "row_source": game.row_budget.source,
                "call_peak_bytes": meter.peak,
                "budget_bytes": game.row_budget.budget_bytes,
            }
        )
        print(rows[-1], flush=True)
        del game
    base = rows[0]["masks_per_s"]
    out = HERE / "results" / f"precision_{device.type}"
    meta = {
        "device": device_name(device),
        "torch": torch.__version__,
        "shape": "GPT-2 small (random weights, boot_native)",
        "units": "all 144 heads, mean ablation",
        "prompts": args.prompts,
        "length": args.length,
        "masks": n_masks,
        "repeats": args.repeats,
    }
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        f"# Reduced precision on the GPT-2-small shape — {meta['device']}",
        "",
        f"torch {meta['torch']}; {meta['units']}; {args.prompts} prompts × {args.length} tokens; {n_masks} masks per "
        "call, "
        f"best of {args.repeats} after a warm-up. Produced by `benchmarks/precision.py --device {device.type}`.",
        "",
        "| precision | masks/s | × fp32 | max abs deviation from fp32 | / max abs f | / spread of f | rows per pass | "
        "bytes/row (source) | call peak / budget |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['precision']} | {r['masks_per_s']:.1f} | {r['masks_per_s'] / base:.2f} | "
            f"{r['max_abs_deviation']:.3g} | "
            f"{r['relative_to_max_abs']:.2%} | {r['relative_to_spread']:.2%} | {r['rows_per_pass']} | "
            f"{r['bytes_per_row']:.3g} ({r['row_source']}) | {r['call_peak_bytes'] / 2**20:.0f} MiB / "
            f"{r['budget_bytes'] / 2**20:.0f} MiB |"
        )
    lines += [
        "",
        "bytes/row is the automatic batch size's measurement (peak of the first pass / its rows, fixed per-pass "
        "costs charged to the rows): under bf16 autocast the pass also holds bfloat16 copies of the weights, a "
        "fixed cost that the one-point rule counts per row, so reduced precision gets the more conservative "
        "batch. Absolute rates on a shared machine vary with its load from run to run; the precisions are timed in "
        "the same run, one after the other. Deviation goals and GPU rates: run with `--device cuda` on a lent GPU.",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
