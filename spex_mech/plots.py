"""Pictures of an interaction result (matplotlib; every function returns the Figure).

* :func:`head_heatmap`     — layer × head grid of first-order attributions (Shapley or Banzhaf);
* :func:`pair_heatmap`     — unit × unit matrix of pairwise interactions (e.g. head × head);
* :func:`top_bar`          — ranked bar chart of the top interactions with unit labels;
* :func:`interaction_graph` — units arranged by layer, pairwise interactions as edges and higher-order
  ones as hyperedges (a small hub joined to its members, labelled with its value); red = positive,
  blue = negative; the title says how many terms it leaves out;
* :func:`layer_figure` — whole-model view: per-layer sums of the units' scores and a layer × layer map of
  interaction mass (for unit sets too large for unit-level pictures; nothing in it grows with n²);
* :func:`faithfulness_curves` — measured faithfulness versus circuit size for several rankings (keep
  only the circuit / ablate it), with CPR and CMD in the legend.

``metric`` and ``ablation`` (strings, e.g. ``"log-prob of the next token"``, ``"mean"``) name what a
value measures; every axis or colour bar that shows values says so. Layers are read from unit ids
(``blocks.1.attn.hook_z[2]``), falling back to labels (``L1H2``).

Importing this module never imports pyplot nor selects or changes the matplotlib backend. Figures are
plain :class:`matplotlib.figure.Figure` objects (headless savefig works), except when the caller has
already imported pyplot or runs in a Jupyter kernel: then they are pyplot figures on the configured
backend, so notebooks display them inline as before. Save with
``fig.savefig("x.png")`` or ``"x.svg"``; in a notebook a returned figure displays as any other.

Length: one short function per figure, sharing the style constants and the axis-label helpers; each
carries a full numpydoc parameter list.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .hooks import block_layer, head_of_unit_id
from .results.interactions import Interactions
from .results.layers import layer_summary, unit_layers

__all__ = [
    "PER_UNIT_MAX",
    "faithfulness_curves",
    "head_heatmap",
    "head_units",
    "interaction_graph",
    "layer_figure",
    "pair_heatmap",
    "top_bar",
    "unit_layers",
]

_HEAD_LABEL = re.compile(r"^L(\d+)H(\d+)$")
PER_UNIT_MAX = 48  # unit × unit pictures show at most this many units
FONT = 10  # points: tick labels and annotations
TITLE_FONT = 11


def head_units(result: Interactions) -> dict[int, tuple[int, int]]:
    """Return ``{unit: (layer, head)}`` for the attention-head units of ``result``, read from their ids.

    A head's id is its hook name and index (``blocks.1.attn.hook_z[2]``, see :mod:`spex_mech.hooks`).
    Only a result whose ids are no hook names at all (made without ids, so its ids are its labels) is
    read from labels like ``L1H2``.

    Parameters
    ----------
    result : Interactions
        The result.

    Returns
    -------
    dict
        Unit index → (layer, head), in unit order.
    """
    if any(block_layer(uid) is not None for uid in result.ids):
        found = {i: head_of_unit_id(uid) for i, uid in enumerate(result.ids)}
        return {i: place for i, place in found.items() if place is not None}
    out = {}
    for i, lab in enumerate(result.labels):
        m = _HEAD_LABEL.match(lab)
        if m:
            out[i] = (int(m.group(1)), int(m.group(2)))
    return out


def _what(metric: Optional[str], ablation: Optional[str]) -> str:
    """``"metric: …, … ablation"`` for axis labels (empty if neither is known)."""
    parts = []
    if metric:
        parts.append(f"metric: {metric}")
    if ablation:
        parts.append(f"{ablation} ablation")
    return ", ".join(parts)


def _with_what(text: str, metric: Optional[str], ablation: Optional[str]) -> str:
    w = _what(metric, ablation)
    return f"{text}\n({w})" if w else text


def _norm(values: np.ndarray) -> TwoSlopeNorm:
    bound = float(np.max(np.abs(values))) if values.size else 1.0
    bound = bound or 1.0
    return TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)


def head_heatmap(
    result: Interactions,
    values: str = "shapley",
    ax: Optional[Axes] = None,
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
) -> Figure:
    """Draw a layer × head heatmap of first-order attributions of the head units.

    Parameters
    ----------
    result : Interactions
        The result to draw.
    values : {"shapley", "banzhaf"}
        Which first-order attribution.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    ValueError
        If the result has no attention-head units.
    """
    scores = result.shapley_values() if values == "shapley" else result.banzhaf_values()
    heads = {place: scores[i] for i, place in head_units(result).items()}
    if not heads:
        raise ValueError("the result has no attention-head units (labels like L1H2)")
    n_layers = max(l for l, _ in heads) + 1
    n_heads = max(h for _, h in heads) + 1
    grid = np.full((n_layers, n_heads), np.nan)
    for (l, h), v in heads.items():
        grid[l, h] = v
    fig, ax = _fig_ax(ax, (max(6.0, 2.5 + 0.9 * n_heads), max(3.5, 1.8 + 0.8 * n_layers)))
    im = ax.imshow(grid, cmap="RdBu_r", norm=_norm(np.nan_to_num(grid)), aspect="auto")
    ax.set_xlabel("head", fontsize=FONT)
    ax.set_ylabel("layer", fontsize=FONT)
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    ax.tick_params(labelsize=FONT)
    for (l, h), v in heads.items():
        ax.text(h, l, f"{v:.2g}", ha="center", va="center", fontsize=FONT)
    name = "Shapley" if values == "shapley" else "Banzhaf"
    ax.set_title(f"{name} value per head", fontsize=TITLE_FONT)
    bar = fig.colorbar(im, ax=ax, shrink=0.85)
    bar.set_label(_with_what(f"{name} value", metric, ablation), fontsize=FONT)
    fig.tight_layout()
    return fig


def pair_heatmap(
    result: Interactions,
    basis: str = "mobius",
    units: Optional[Sequence[int]] = None,
    ax: Optional[Axes] = None,
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
) -> Figure:
    """Draw a unit × unit heatmap of order-2 interactions (Möbius by default) over ``units``.

    By default the units are the heads if any, else every unit when there are at most ``PER_UNIT_MAX``,
    else the units of the largest order-2 terms (at most ``PER_UNIT_MAX // 2``).

    Parameters
    ----------
    result : Interactions
        The result to draw.
    basis : str, default "mobius"
        The basis of the order-2 terms.
    units : sequence of int, optional
        The unit columns to show (default as above).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    ValueError
        If there is no order-2 term to show, or too many units for a heatmap.
    """
    table = result.mobius() if basis == "mobius" else result.fourier
    title = f"pairwise {basis} interactions"
    if units is None:
        heads = sorted(head_units(result))
        if 2 <= len(heads) <= PER_UNIT_MAX:
            units = heads
        elif result.n <= PER_UNIT_MAX:
            units = list(range(result.n))
        else:
            units = _units_of_top_pairs(table, PER_UNIT_MAX // 2)
            if len(units) < 2:
                raise ValueError("no order-2 term to show")
            title += f" among the units of the largest terms ({len(units)} of {result.n} units)"
    units = list(units)
    if len(units) > 4 * PER_UNIT_MAX:
        raise ValueError(f"{len(units)} units are too many for a unit × unit heatmap (at most {4 * PER_UNIT_MAX})")
    pos = {u: k for k, u in enumerate(units)}
    mat = np.zeros((len(units), len(units)))
    for key, v in table.items():
        if len(key) == 2 and key[0] in pos and key[1] in pos:
            a, b = pos[key[0]], pos[key[1]]
            mat[a, b] = mat[b, a] = v
    size = max(5.0, 2.0 + 0.42 * len(units))
    fig, ax = _fig_ax(ax, (size + 1.5, size))
    im = ax.imshow(mat, cmap="RdBu_r", norm=_norm(mat))
    labels = [result.labels[u] for u in units]
    ax.set_xticks(range(len(units)), labels, rotation=90, fontsize=FONT)
    ax.set_yticks(range(len(units)), labels, fontsize=FONT)
    ax.set_title(title, fontsize=TITLE_FONT)
    bar = fig.colorbar(im, ax=ax, shrink=0.85)
    bar.set_label(_with_what(f"order-2 {basis} coefficient", metric, ablation), fontsize=FONT)
    fig.tight_layout()
    return fig


def _units_of_top_pairs(table: Mapping[tuple[int, ...], float], limit: int) -> list[int]:
    """Units of the order-2 terms by decreasing |value|, until ``limit`` distinct units (sorted)."""
    pairs = sorted((kv for kv in table.items() if len(kv[0]) == 2), key=lambda kv: (-abs(kv[1]), kv[0]))
    chosen: list[int] = []
    for key, _ in pairs:
        new = [u for u in key if u not in chosen]
        if len(chosen) + len(new) > limit:
            break
        chosen += new
    return sorted(chosen)


def layer_figure(
    result: Interactions,
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
) -> Figure:
    """Draw the per-layer aggregation (:func:`~spex_mech.results.layers.layer_summary`).

    Left, each layer's summed Möbius share and summed Shapley value; right, the layer × layer interaction
    mass of terms of order ≥ 2.

    Parameters
    ----------
    result : Interactions
        The result to draw.
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    ValueError
        If no unit has a layer.
    """
    summary = layer_summary(result)
    names = summary.names
    g = len(names)
    fig = _new_figure((max(11.0, 5.0 + 0.9 * g), max(4.5, 2.5 + 0.35 * g)))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    y = np.arange(g)
    left.barh(y - 0.2, summary.mobius_share, height=0.4, color="#7f8c8d")
    left.barh(y + 0.2, summary.shapley, height=0.4, color=["#c0392b" if v > 0 else "#2e86c1" for v in summary.shapley])
    handles = [
        Patch(color="#7f8c8d", label="Σ Möbius share Σ|a(S)|/|S|"),
        Patch(color="#c0392b", label="Σ Shapley φ > 0"),
        Patch(color="#2e86c1", label="Σ Shapley φ < 0"),
    ]
    left.set_yticks(y, [f"{nm} ({u} units)" for nm, u in zip(names, summary.units)], fontsize=FONT)
    left.invert_yaxis()
    left.axvline(0, color="black", lw=0.6)
    left.tick_params(axis="x", labelsize=FONT)
    left.set_xlabel(_with_what("sum over the layer's units", metric, ablation), fontsize=FONT)
    left.set_title(f"per-layer attribution ({result.n} units)", fontsize=TITLE_FONT)
    left.legend(handles=handles, fontsize=FONT - 1, loc="lower right")
    im = right.imshow(summary.pair_mass, cmap="Greys", vmin=0.0, vmax=float(summary.pair_mass.max()) or 1.0)
    right.set_xticks(range(g), names, rotation=90, fontsize=FONT)
    right.set_yticks(range(g), names, fontsize=FONT)
    title = "interaction mass between layers\nΣ|a(S)| over terms of order ≥ 2, per pair of members"
    right.set_title(title, fontsize=TITLE_FONT)
    bar = fig.colorbar(im, ax=right, shrink=0.85)
    bar.set_label(_with_what("Σ |Möbius dividend|", metric, ablation), fontsize=FONT)
    fig.tight_layout()
    return fig


def top_bar(
    result: Interactions,
    k: int = 15,
    basis: str = "mobius",
    ax: Optional[Axes] = None,
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
) -> Figure:
    """Draw horizontal bars of the ``k`` largest terms (order ≥ 1), labelled by their units.

    Parameters
    ----------
    result : Interactions
        The result to draw.
    k : int, default 15
        How many terms.
    basis : str, default "mobius"
        The basis of the terms.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    terms = result.top(k, basis=basis)
    fig, ax = _fig_ax(ax, (8.0, 1.4 + 0.4 * max(len(terms), 1)))
    names = [" × ".join(t.labels) for t in terms][::-1]
    vals = [t.value for t in terms][::-1]
    colors = ["#c0392b" if v > 0 else "#2e86c1" for v in vals]
    ax.barh(range(len(vals)), vals, color=colors)
    ax.set_yticks(range(len(vals)), names, fontsize=FONT)
    ax.tick_params(axis="x", labelsize=FONT)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(_with_what(f"{basis} coefficient", metric, ablation), fontsize=FONT)
    ax.set_title(f"top {len(terms)} interactions ({basis})", fontsize=TITLE_FONT)
    fig.tight_layout()
    return fig


def interaction_graph(
    result: Interactions,
    k: int = 12,
    basis: str = "mobius",
    units: Optional[Sequence[int]] = None,
    ax: Optional[Axes] = None,
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
    describe: Optional[Callable[[int], str]] = None,
    max_nodes: int = 40,
) -> Figure:
    """Draw units placed by layer (x) and index (y), with the largest interactions as (hyper)edges.

    The ``k`` largest interactions of order ≥ 2 are drawn as edges (pairs) or hyperedges (a diamond hub
    linked to each member, labelled with its members and value); line width ∝ |value|, node size ∝ |first-order term|.

    ``units`` restricts the picture to a circuit's units; the title then says how many of the overall
    top-``k`` terms fall outside and are not drawn (and names the largest). ``describe(i)`` replaces a
    unit's label in the picture (e.g. ``"prev-token L0H0"``). A circuit of more than ``max_nodes`` units
    is drawn through the units of the drawn terms only (the title says how many it has).

    Parameters
    ----------
    result : Interactions
        The result to draw.
    k : int, default 12
        How many interactions of order ≥ 2 to draw.
    basis : str, default "mobius"
        The basis of the terms.
    units : sequence of int, optional
        A circuit's unit columns: only terms inside it are drawn.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).
    describe : callable, optional
        ``describe(i)`` → the text shown for unit ``i`` (default its label).
    max_nodes : int, default 40
        Largest circuit drawn with all its units.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    allowed = set(units) if units is not None else None
    ranked = result.top(10**9, basis=basis, min_order=2)
    terms = [t for t in ranked if allowed is None or set(t.units) <= allowed][:k]
    omitted = [t for t in ranked[:k] if allowed is not None and not set(t.units) <= allowed]
    singles = {t.units[0]: t.value for t in result.top(10**9, basis=basis, order=1)}
    in_terms = {u for t in terms for u in t.units}
    # a large circuit (whole-model unit sets) is drawn through the units of its drawn terms only
    crowded = allowed is not None and len(allowed) > max_nodes
    shown = sorted(in_terms | (set() if crowded or allowed is None else allowed))
    layers = unit_layers(result.labels, result.ids)
    fallback = max([l for l in layers if l is not None], default=-1) + 1
    columns: dict[int, list[int]] = {}
    for u in shown:
        columns.setdefault(layers[u] if layers[u] is not None else fallback, []).append(u)
    xy = {}
    for col, members in columns.items():
        for row, u in enumerate(members):
            xy[u] = (float(col), row - (len(members) - 1) / 2.0)
    width = min(20.0, 4.0 + 2.6 * max(len(columns), 1))  # whole models: many layers share the width
    height = 2.5 + 0.8 * max((len(v) for v in columns.values()), default=1)
    fig, ax = _fig_ax(ax, (width, height))
    biggest = max([abs(t.value) for t in terms] + [1e-12])
    for j, t in enumerate(terms):
        color = "#c0392b" if t.value > 0 else "#2e86c1"
        lw = 1.0 + 5.0 * abs(t.value) / biggest
        pts = np.array([xy[u] for u in t.units])
        if len(t.units) == 2:
            ax.plot(pts[:, 0], pts[:, 1], color=color, lw=lw, alpha=0.75, zorder=1)
        else:
            hub = pts.mean(axis=0) + np.array([0.22, 0.3 + 0.12 * (j % 3)])
            for p in pts:
                ax.plot([hub[0], p[0]], [hub[1], p[1]], color=color, lw=lw * 0.6, alpha=0.7, zorder=1, ls="--")
            ax.scatter([hub[0]], [hub[1]], s=60, color=color, zorder=2, marker="D")
            text = f"{'×'.join(t.labels)} {t.value:+.2g}"
            ax.annotate(text, hub, xytext=(6, 4), textcoords="offset points", fontsize=FONT - 1, color=color, zorder=5)
    biggest_single = max([abs(v) for v in singles.values()] + [0.0]) or 1.0
    sizes = [500 + 1400 * abs(singles.get(u, 0.0)) / biggest_single for u in shown]
    xs, ys = [xy[u][0] for u in shown], [xy[u][1] for u in shown]
    ax.scatter(xs, ys, s=sizes, color="#f4f6f7", edgecolors="#34495e", zorder=3)
    for u in shown:
        name = describe(u) if describe is not None else result.labels[u]
        ax.annotate(name.replace(" ", "\n"), xy[u], ha="center", va="center", fontsize=FONT - 1, zorder=4)
    ax.set_xticks(sorted(columns), [f"layer {c}" if c != fallback else "other" for c in sorted(columns)])
    ax.tick_params(labelsize=FONT)
    ax.set_yticks([])
    ax.set_xlim(min(columns, default=0) - 0.7, max(columns, default=0) + 1.1)
    ys = [p[1] for p in xy.values()] or [0.0]
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.9)
    title = f"interaction graph ({basis}): {len(terms)} largest terms of order ≥ 2"
    if allowed is not None:
        title += " among the circuit's units"
        if crowded:
            title += f" ({len(allowed)} units; only those in drawn terms shown)"
        if omitted:
            worst = omitted[0]
            rank = ranked.index(worst) + 1
            title += (
                f"\n{len(omitted)} of the overall top {k} lie outside the circuit and are not drawn "
                f"(largest: rank {rank}, {' × '.join(worst.labels)} {worst.value:+.3g})"
            )
    w = _what(metric, ablation)
    title += "\nred +, blue −; edge width ∝ |value|; node size ∝ |first-order term|" + (f"; {w}" if w else "")
    ax.set_title(title, fontsize=TITLE_FONT)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def faithfulness_curves(
    curves: Mapping[str, Any],
    *,
    metric: Optional[str] = None,
    ablation: Optional[str] = None,
    n_units: Optional[int] = None,
) -> Figure:
    """Draw measured faithfulness versus circuit size, one line per ranking.

    Left keep only the circuit (MIB's faithfulness, CPR/CMD in the legend), right ablate the circuit.

    Parameters
    ----------
    curves : mapping
        ``{ranking name: FaithfulnessCurve}``.
    metric : str, optional
        What the value measures, named on the value axis (e.g. ``"log-prob of the next token"``).
    ablation : str, optional
        The ablation, named with the metric (e.g. ``"mean"``).
    n_units : int, optional
        Number of units, named on the size axis.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.
    """
    fig = _new_figure((13.0, 6.5 + 0.22 * max(len(curves) - 4, 0)))
    left, right = fig.subplots(1, 2)
    what = _what(metric, ablation)
    for name, c in curves.items():
        x = np.asarray(c.fractions) * 100
        left.plot(x, c.keep, marker="o", ms=4, label=f"{name}: CPR {c.cpr:.3f}, CMD {c.cmd:.3f}")
        right.plot(x, c.ablate, marker="o", ms=4)
    n = n_units or (len(next(iter(curves.values())).ranking) if curves else None)
    panels = (
        (left, "keep only the circuit", "faithfulness (f(C) − f(∅)) / (f(N) − f(∅))"),
        (right, "ablate the circuit", "effect left (f(N∖C) − f(∅)) / (f(N) − f(∅))"),
    )
    for ax_, kind, ratio in panels:
        ax_.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax_.axhline(0.0, color="grey", lw=0.8, ls=":")
        xlabel = f"circuit size, % of {n} units (top-ranked first)" if n else "circuit size, % of units"
        ax_.set_xlabel(xlabel, fontsize=FONT)
        ax_.set_ylabel(f"{kind}\n{what}" if what else kind, fontsize=FONT)
        ax_.tick_params(labelsize=FONT)
        ax_.set_title(ratio, fontsize=TITLE_FONT)
    fig.legend(loc="lower center", ncol=2, fontsize=FONT - 1, frameon=False)
    suptitle = "measured faithfulness versus circuit size (C: the top-ranked units; N: all units; ∅: none)"
    fig.suptitle(suptitle, fontsize=TITLE_FONT)
    fig.tight_layout(rect=(0, 0.02 + 0.026 * ((len(curves) + 1) // 2), 1, 1))
    return fig


def _fig_ax(ax: Optional[Axes], size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = _new_figure(size)
    return fig, fig.add_subplot()


def _new_figure(size: tuple[float, float]) -> Figure:
    """Return a pyplot figure in pyplot sessions and Jupyter kernels, else a plain Figure.

    Pyplot when the caller already uses it or runs in a Jupyter kernel (so notebooks show it inline, with
    the kernel's own backend); otherwise a plain Figure that no backend knows about.
    """
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None and "ipykernel" in sys.modules:
        import matplotlib.pyplot as plt  # the kernel's configured (inline) backend; nothing is forced
    if plt is not None:
        return plt.figure(figsize=size)
    return Figure(figsize=size)
