"""The per-sweep HTML report: the figures plus the summary tables, in one self-contained folder."""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ._text import abbreviate, name_list
from .circuit import Circuit
from .results.interactions import Interactions

__all__ = ["write_figures", "write_report", "summary_table"]


def summary_table(result: Interactions, k: int = 10, basis: str = "mobius") -> str:
    """Return the top-k terms as a fixed-width text table (what the command line prints).

    Parameters
    ----------
    result : Interactions
        The result.
    k : int, default 10
        How many terms.
    basis : str, default "mobius"
        The basis of the terms.

    Returns
    -------
    str
        The table, one line per term under a header.
    """
    terms = result.top(k, basis=basis)
    width = max([len(" × ".join(t.labels)) for t in terms] + [12])
    lines = [f"{'rank':>4}  {'interaction':<{width}}  {'order':>5}  {basis:>10}"]
    for rank, t in enumerate(terms, 1):
        lines.append(f"{rank:>4}  {' × '.join(t.labels):<{width}}  {t.order:>5}  {t.value:>+10.4g}")
    if not terms:
        lines.append("      (no term of order ≥ 1: the surrogate is a constant)")
    return "\n".join(lines)


def write_figures(
    result: Interactions,
    folder: Path,
    formats: Sequence[str] = ("png",),
    circuit: Optional[Any] = None,
    *,
    curves: Optional[Mapping[str, Any]] = None,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
    roles: Optional[Any] = None,
    dpi: int = 150,
) -> dict[str, str]:
    """Render every applicable plot into ``folder``.

    ``circuit`` (a :class:`~spex_mech.circuit.Circuit` or :class:`~spex_mech.circuits.MinimalCircuit`)
    restricts the graph to its units; ``curves`` ({name: FaithfulnessCurve}) adds the curve figure;
    with more than ``plots.PER_UNIT_MAX`` units a per-layer figure (``layers``) is added and the
    pairwise heatmap shows only the units of the largest terms; ``roles``
    (:class:`~spex_mech.circuits.HeadRoles`) names heads in the graph. A figure that does not apply to the
    result (its maker raises ValueError, e.g. no head units) is skipped.

    Parameters
    ----------
    result : Interactions
        The result to draw.
    folder : pathlib.Path
        Where the files go (created if missing).
    formats : sequence of str, default ("png",)
        File formats; each figure is saved once per format.
    circuit : Circuit or MinimalCircuit, optional
        Restricts the interaction graph to its units.
    curves : mapping, optional
        ``{ranking name: FaithfulnessCurve}``: adds the curve figure.
    metric : str, optional
        What the value measures, named on the figures' value axes.
    ablation : str, optional
        The ablation, named with the metric.
    roles : HeadRoles, optional
        Names heads by their roles in the graph.
    dpi : int, default 150
        Resolution of raster formats.

    Returns
    -------
    dict
        ``{figure name: file name in the first format}``; empty, and nothing drawn, when ``formats`` is empty.
    """
    if not formats:
        return {}
    from . import plots

    folder.mkdir(parents=True, exist_ok=True)
    ctx = {"metric": metric, "ablation": ablation}
    describe = (lambda u: roles.describe(result.labels[u])) if roles is not None else None
    makers = {
        "top_interactions": lambda: plots.top_bar(result, k=15, **ctx),
        "interaction_graph": lambda: plots.interaction_graph(
            result, k=12, units=circuit.units if circuit else None, describe=describe, **ctx
        ),
        "pairwise": lambda: plots.pair_heatmap(result, **ctx),
    }
    if result.n > plots.PER_UNIT_MAX:  # whole-model unit sets: per-layer aggregation (ValueError: no layers)
        makers["layers"] = lambda: plots.layer_figure(result, **ctx)
    if plots.head_units(result):
        makers["heads_shapley"] = lambda: plots.head_heatmap(result, "shapley", **ctx)
    if curves:
        makers["faithfulness_curves"] = lambda: plots.faithfulness_curves(curves, n_units=result.n, **ctx)
    written: dict[str, str] = {}
    for name, make in makers.items():
        try:
            fig = make()
        except ValueError:
            continue  # e.g. nothing of that kind in this result
        for fmt in formats:
            fig.savefig(folder / f"{name}.{fmt}", dpi=dpi, bbox_inches="tight")
        written[name] = f"{name}.{formats[0]}"
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close(fig)  # a pyplot figure (the caller uses pyplot): do not keep it open
    return written


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _warnings_box(messages: Sequence[str]) -> str:
    if not messages:
        return ""
    items = "".join(f"<li>{html.escape(m)}</li>" for m in messages)
    return f"<div class='warn'><b>Warning</b><ul>{items}</ul></div>"


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
    curves: Optional[Mapping[str, Any]] = None,
    minimal: Optional[Any] = None,
    roles: Optional[Any] = None,
    stability: Optional[Any] = None,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
) -> Path:
    """Write ``report.html`` into ``folder`` (figures referenced by relative path).

    Optional sections: ``minimal`` (a :class:`~spex_mech.circuits.MinimalCircuit`), ``curves``
    ({name: FaithfulnessCurve}: CPR/CMD table), ``roles`` (head roles), ``stability`` (top-k overlap
    over seeds); faithfulness warnings are shown in a box next to the numbers they concern.

    Parameters
    ----------
    folder : pathlib.Path
        Where ``report.html`` goes (created if missing).
    result : Interactions
        The result reported.
    title : str
        The page title.
    circuit : Circuit, optional
        The surrogate's circuit and its measured faithfulness.
    run_info : mapping, optional
        Run facts shown in a table (the sweep's ``run`` record).
    faithfulness : float, optional
        Held-out faithfulness R² of the surrogate.
    figures : mapping, optional
        ``{figure name: file name}`` from :func:`write_figures`.
    k : int, default 15
        Terms in the top-interactions table.
    curves : mapping, optional
        ``{ranking name: FaithfulnessCurve}``: the CPR/CMD table.
    minimal : MinimalCircuit, optional
        The minimal faithful circuit.
    roles : HeadRoles, optional
        Head roles, shown with the heads.
    stability : object, optional
        Top-k overlap across seeds (:func:`~spex_mech.circuits.top_k_overlap`).
    metric : str, optional
        What the value measures, named on the figures' value axes.
    ablation : str, optional
        The ablation, named with the metric.

    Returns
    -------
    pathlib.Path
        The written ``report.html``.
    """
    from .circuits.curves import faithfulness_warnings

    folder.mkdir(parents=True, exist_ok=True)
    terms = result.top(k)
    name = (lambda lab: roles.describe(lab)) if roles is not None else (lambda lab: lab)
    described = (f"metric: {metric}" if metric else "", f"{ablation} ablation" if ablation else "")
    what = ", ".join(x for x in described if x)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{result.n} units · algorithm <b>{html.escape(result.algorithm)}</b> · "
        f"{result.n_evaluations} model evaluations · {len(result)} Fourier coefficients"
        + (f" · {html.escape(what)}" if what else "")
        + (f" · held-out faithfulness R² = {faithfulness:.4f}" if faithfulness is not None else "")
        + "</p>",
        "<h2>Top interactions (Möbius)</h2>",
        _table(
            [
                (r, " × ".join(name(lab) for lab in t.labels), t.order, f"{t.value:+.4g}")
                for r, t in enumerate(terms, 1)
            ],
            ["rank", "interaction", "order", "value"],
        ),
    ]
    energy = result.energy_by_order("mobius")
    if energy:
        shares = _table([(o, f"{e:.3f}") for o, e in sorted(energy.items())], ["order", "share"])
        parts += ["<h2>Energy by order (Möbius)</h2>", shares]
    if minimal is not None:
        rows = [
            ("units", name_list([name(lab) for lab in minimal.labels])),
            ("size", f"{len(minimal.units)} of {minimal.n}"),
            ("keep only the circuit: faithfulness (measured)", f"{minimal.keep:.3f}"),
            ("ablate the circuit: effect left (measured)", f"{minimal.ablate:.3f}"),
            ("clean / everything ablated", f"{minimal.clean:.4g} / {minimal.empty:.4g}"),
            (
                "search",
                f"{minimal.search}; {minimal.candidates_measured} candidates, "
                f"{minimal.n_evaluations} model evaluations",
            ),
        ]
        head = "Minimal faithful circuit" if minimal.found else "No circuit reached the target"
        parts += [f"<h2>{head} (target {minimal.target})</h2>", _warnings_box(minimal.warnings), _table(rows, ["", ""])]
    if circuit is not None:
        m = circuit.measured
        rows = [
            ("units", name_list([name(lab) for lab in circuit.labels])),
            ("predicted share of the effect", f"{circuit.predicted_fraction:.3f}"),
        ]
        msgs: tuple[str, ...] = ()
        if m:
            rows += [
                ("clean value", f"{m['clean']:.4g}"),
                ("everything ablated", f"{m['ablated']:.4g}"),
                ("only the circuit kept", f"{m['circuit_only']:.4g}"),
                ("faithfulness (measured)", f"{m['faithfulness']:.3f}"),
                ("effect removed by ablating the circuit", f"{m['removal_effect']:.3f}"),
            ]
            msgs = faithfulness_warnings(
                m["clean"], m["ablated"], {"circuit": [m["faithfulness"]], "removal": [m["removal_effect"]]}, emit=False
            )
        parts += [f"<h2>Surrogate circuit (target {circuit.target})</h2>", _warnings_box(msgs), _table(rows, ["", ""])]
    if curves:
        rows = [
            (label, f"{c.cpr:.3f}", f"{c.cmd:.3f}", f"{c.ablate_area:.3f}", len(c.sizes), c.n_evaluations)
            for label, c in curves.items()
        ]
        msgs = sorted({w for c in curves.values() for w in c.warnings})
        parts += [
            "<h2>Faithfulness curves (measured on the model)</h2>",
            "<p>Circuits are each ranking's top units. CPR: area under the keep-only faithfulness curve (higher is "
            "better); CMD: area between it and 1 (lower is better); ablate area: area under the effect left when "
            "the circuit is ablated (lower is better). Areas over the fraction of units, as MIB computes them.</p>",
            _warnings_box(msgs),
            _table(rows, ["ranking", "CPR", "CMD", "ablate area", "sizes", "evaluations"]),
        ]
    if roles is not None and roles.roles:
        rows = [
            (lab, ", ".join(r), ", ".join(f"{k} {v:.2f}" for k, v in roles.scores[lab].items()))
            for lab, r in roles.roles.items()
        ]
        parts += ["<h2>Head roles (attention patterns)</h2>", _table(rows, ["head", "role", "scores"])]
    if stability is not None:
        rows = [(a, b, f"{v:.2f}") for a, b, v in stability.pairs]
        parts += [
            f"<h2>Seed stability (top-{stability.k} overlap, equal budget)</h2>",
            f"<p>mean {stability.mean:.2f}, minimum {stability.minimum:.2f}</p>",
            _table(rows, ["seed", "seed", "overlap"]),
        ]
    for fig_name, file in (figures or {}).items():
        heading = html.escape(fig_name.replace("_", " "))
        parts.append(f"<h3>{heading}</h3><img src='{html.escape(file)}' alt='{html.escape(fig_name)}'>")
    if run_info:
        text = json.dumps(abbreviate(run_info), indent=2, default=str, ensure_ascii=False)
        parts += ["<h2>Run</h2>", f"<pre>{html.escape(text)}</pre>"]
    style = (
        "body{font-family:system-ui,sans-serif;font-size:16px;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}"
        "img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:1em;overflow:auto}"
        ".warn{background:#fff4e5;border-left:4px solid #e67e22;padding:0.4em 1em;margin:0.5em 0}"
    )
    page_head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>"
    page = f"<!doctype html><html><head>{page_head}</head><body>{''.join(parts)}</body></html>"
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
