"""The per-sweep HTML report: the figures plus the summary tables, in one self-contained folder."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .circuit import Circuit
from .results.interactions import Interactions

__all__ = ["write_figures", "write_report", "summary_table"]


def summary_table(result: Interactions, k: int = 10, basis: str = "mobius") -> str:
    """The top-k terms as a fixed-width text table (what the command line prints)."""
    terms = result.top(k, basis=basis)
    width = max([len(" × ".join(t.labels)) for t in terms] + [12])
    lines = [f"{'rank':>4}  {'interaction':<{width}}  {'order':>5}  {basis:>10}"]
    for rank, t in enumerate(terms, 1):
        lines.append(f"{rank:>4}  {' × '.join(t.labels):<{width}}  {t.order:>5}  {t.value:>+10.4g}")
    return "\n".join(lines)


def write_figures(result: Interactions, folder: Path, formats: Sequence[str] = ("png",), circuit: Optional[Circuit] = None) -> dict[str, str]:
    """Render every applicable plot into ``folder``; returns {name: file name of the first format}."""
    from . import plots

    folder.mkdir(parents=True, exist_ok=True)
    makers = {
        "top_interactions": lambda: plots.top_bar(result, k=15),
        "interaction_graph": lambda: plots.interaction_graph(result, k=12, units=circuit.units if circuit else None),
        "pairwise": lambda: plots.pair_heatmap(result),
    }
    if any(lab.startswith("L") and "H" in lab for lab in result.labels):
        makers["heads_shapley"] = lambda: plots.head_heatmap(result, "shapley")
    written: dict[str, str] = {}
    for name, make in makers.items():
        try:
            fig = make()
        except ValueError:
            continue  # e.g. nothing of that kind in this result
        for fmt in formats:
            fig.savefig(folder / f"{name}.{fmt}", dpi=110, bbox_inches="tight")
        written[name] = f"{name}.{formats[0]}"
    return written


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    folder: Path,
    result: Interactions,
    *,
    title: str,
    circuit: Optional[Circuit] = None,
    run_info: Optional[Mapping[str, Any]] = None,
    faithfulness: Optional[float] = None,
    figures: Optional[Mapping[str, str]] = None,
    k: int = 15,
) -> Path:
    """Write ``report.html`` into ``folder`` (figures referenced by relative path)."""
    folder.mkdir(parents=True, exist_ok=True)
    terms = result.top(k)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{result.n} units · algorithm <b>{html.escape(result.algorithm)}</b> · "
        f"{result.n_evaluations} model evaluations · {len(result)} Fourier coefficients"
        + (f" · held-out faithfulness R² = {faithfulness:.4f}" if faithfulness is not None else "")
        + "</p>",
        "<h2>Top interactions (Möbius)</h2>",
        _table([(r, " × ".join(t.labels), t.order, f"{t.value:+.4g}") for r, t in enumerate(terms, 1)], ["rank", "interaction", "order", "value"]),
    ]
    energy = result.energy_by_order("mobius")
    if energy:
        parts += ["<h2>Energy by order (Möbius)</h2>", _table([(o, f"{e:.3f}") for o, e in sorted(energy.items())], ["order", "share"])]
    if circuit is not None:
        m = circuit.measured
        rows = [("units", ", ".join(circuit.labels)), ("predicted share of the effect", f"{circuit.predicted_fraction:.3f}")]
        if m:
            rows += [
                ("clean value", f"{m['clean']:.4g}"),
                ("everything ablated", f"{m['ablated']:.4g}"),
                ("only the circuit kept", f"{m['circuit_only']:.4g}"),
                ("faithfulness (measured)", f"{m['faithfulness']:.3f}"),
                ("effect removed by ablating the circuit", f"{m['removal_effect']:.3f}"),
            ]
        parts += [f"<h2>Circuit (target {circuit.target})</h2>", _table(rows, ["", ""])]
    for name, file in (figures or {}).items():
        parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3><img src='{html.escape(file)}' alt='{html.escape(name)}'>")
    if run_info:
        parts += ["<h2>Run</h2>", f"<pre>{html.escape(json.dumps(run_info, indent=2, default=str))}</pre>"]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        "img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:1em;overflow:auto}"
    )
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
