"""Pictures of an interaction result (matplotlib; every function returns the Figure).

* :func:`head_heatmap`     — layer × head grid of first-order attributions (Shapley or Banzhaf);
* :func:`pair_heatmap`     — unit × unit matrix of pairwise interactions (e.g. head × head);
* :func:`top_bar`          — ranked bar chart of the top interactions with unit labels;
* :func:`interaction_graph` — units arranged by layer, pairwise interactions as edges and higher-order
  ones as hyperedges (a small hub joined to its members); red = positive, blue = negative.

Figures are plain :class:`matplotlib.figure.Figure` objects, not registered with pyplot, so importing
this module never selects or changes the matplotlib backend and works headless. Save with
``fig.savefig("x.png")`` or ``"x.svg"``; in a notebook a returned figure displays as any other.
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .results.interactions import Interactions

__all__ = ["head_heatmap", "pair_heatmap", "top_bar", "interaction_graph", "unit_layers"]

_LABEL = re.compile(r"^L(\d+)(H|N)(\d+)$")


def unit_layers(labels: Sequence[str]) -> list[Optional[int]]:
    """Layer of each unit from its label (``L1H2`` → 1); None for tokens, data groups, etc."""
    out = []
    for lab in labels:
        m = _LABEL.match(lab)
        out.append(int(m.group(1)) if m else None)
    return out


def _norm(values: np.ndarray) -> TwoSlopeNorm:
    bound = float(np.max(np.abs(values))) if values.size else 1.0
    bound = bound or 1.0
    return TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)


def head_heatmap(result: Interactions, values: str = "shapley", ax: Optional[Axes] = None) -> Figure:
    """Layer × head heatmap of first-order attributions of the head units (``shapley`` or ``banzhaf``)."""
    scores = result.shapley_values() if values == "shapley" else result.banzhaf_values()
    heads = {}
    for i, lab in enumerate(result.labels):
        m = _LABEL.match(lab)
        if m and m.group(2) == "H":
            heads[(int(m.group(1)), int(m.group(3)))] = scores[i]
    if not heads:
        raise ValueError("the result has no attention-head units (labels like L1H2)")
    n_layers = max(l for l, _ in heads) + 1
    n_heads = max(h for _, h in heads) + 1
    grid = np.full((n_layers, n_heads), np.nan)
    for (l, h), v in heads.items():
        grid[l, h] = v
    fig, ax = _fig_ax(ax, (1.2 + 0.55 * n_heads, 1.0 + 0.5 * n_layers))
    im = ax.imshow(grid, cmap="RdBu_r", norm=_norm(np.nan_to_num(grid)), aspect="auto")
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(range(n_heads))
    ax.set_yticks(range(n_layers))
    for (l, h), v in heads.items():
        ax.text(h, l, f"{v:.2g}", ha="center", va="center", fontsize=7)
    ax.set_title(f"{'Shapley' if values == 'shapley' else 'Banzhaf'} value per head")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def pair_heatmap(
    result: Interactions,
    basis: str = "mobius",
    units: Optional[Sequence[int]] = None,
    ax: Optional[Axes] = None,
) -> Figure:
    """Unit × unit heatmap of order-2 interactions (Möbius by default) over ``units`` (heads if any)."""
    table = result.mobius() if basis == "mobius" else result.fourier
    if units is None:
        heads = [i for i, lab in enumerate(result.labels) if (m := _LABEL.match(lab)) and m.group(2) == "H"]
        units = heads if len(heads) >= 2 else list(range(min(result.n, 48)))
    units = list(units)
    pos = {u: k for k, u in enumerate(units)}
    mat = np.zeros((len(units), len(units)))
    for key, v in table.items():
        if len(key) == 2 and key[0] in pos and key[1] in pos:
            a, b = pos[key[0]], pos[key[1]]
            mat[a, b] = mat[b, a] = v
    size = 1.5 + 0.32 * len(units)
    fig, ax = _fig_ax(ax, (size + 1.0, size))
    im = ax.imshow(mat, cmap="RdBu_r", norm=_norm(mat))
    labels = [result.labels[u] for u in units]
    ax.set_xticks(range(len(units)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(units)), labels, fontsize=7)
    ax.set_title(f"pairwise {basis} interactions")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def top_bar(result: Interactions, k: int = 15, basis: str = "mobius", ax: Optional[Axes] = None) -> Figure:
    """Horizontal bars of the ``k`` largest terms (order ≥ 1), labelled by their units."""
    terms = result.top(k, basis=basis)
    fig, ax = _fig_ax(ax, (7.0, 0.6 + 0.32 * max(len(terms), 1)))
    names = [" × ".join(t.labels) for t in terms][::-1]
    vals = [t.value for t in terms][::-1]
    colors = ["#c0392b" if v > 0 else "#2e86c1" for v in vals]
    ax.barh(range(len(vals)), vals, color=colors)
    ax.set_yticks(range(len(vals)), names, fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel(f"{basis} coefficient")
    ax.set_title(f"top {len(terms)} interactions")
    fig.tight_layout()
    return fig


def interaction_graph(
    result: Interactions,
    k: int = 12,
    basis: str = "mobius",
    units: Optional[Sequence[int]] = None,
    ax: Optional[Axes] = None,
) -> Figure:
    """Units placed by layer (x) and index (y); the ``k`` largest interactions of order ≥ 2 drawn as
    edges (pairs) or hyperedges (a hub dot linked to each member); line width ∝ |value|.

    ``units`` restricts the picture to a circuit's units.
    """
    allowed = set(units) if units is not None else None
    terms = [t for t in result.top(10**9, basis=basis, min_order=2) if allowed is None or set(t.units) <= allowed][:k]
    singles = {t.units[0]: t.value for t in result.top(10**9, basis=basis, order=1)}
    shown = sorted(set(u for t in terms for u in t.units) | (allowed or set()))
    layers = unit_layers(result.labels)
    fallback = max([l for l in layers if l is not None], default=-1) + 1
    columns: dict[int, list[int]] = {}
    for u in shown:
        columns.setdefault(layers[u] if layers[u] is not None else fallback, []).append(u)
    xy = {}
    for col, members in columns.items():
        for row, u in enumerate(members):
            xy[u] = (float(col), row - (len(members) - 1) / 2.0)
    width = 2.5 + 2.0 * max(len(columns), 1)
    height = 1.5 + 0.55 * max((len(v) for v in columns.values()), default=1)
    fig, ax = _fig_ax(ax, (width, height))
    biggest = max([abs(t.value) for t in terms] + [1e-12])
    for t in terms:
        color = "#c0392b" if t.value > 0 else "#2e86c1"
        lw = 0.8 + 5.0 * abs(t.value) / biggest
        pts = np.array([xy[u] for u in t.units])
        if len(t.units) == 2:
            ax.plot(pts[:, 0], pts[:, 1], color=color, lw=lw, alpha=0.75, zorder=1)
        else:
            hub = pts.mean(axis=0) + np.array([0.15, 0.25])
            for p in pts:
                ax.plot([hub[0], p[0]], [hub[1], p[1]], color=color, lw=lw * 0.6, alpha=0.7, zorder=1)
            ax.scatter([hub[0]], [hub[1]], s=30, color=color, zorder=2, marker="D")
    biggest_single = max([abs(v) for v in singles.values()] + [0.0]) or 1.0
    sizes = [120 + 600 * abs(singles.get(u, 0.0)) / biggest_single for u in shown]
    ax.scatter([xy[u][0] for u in shown], [xy[u][1] for u in shown], s=sizes, color="#f4f6f7", edgecolors="#34495e", zorder=3)
    for u in shown:
        ax.annotate(result.labels[u], xy[u], ha="center", va="center", fontsize=7, zorder=4)
    ax.set_xticks(sorted(columns), [f"layer {c}" if c != fallback else "other" for c in sorted(columns)])
    ax.set_yticks([])
    ax.set_xlim(min(columns, default=0) - 0.6, max(columns, default=0) + 0.9)
    ax.set_title(f"interaction graph: top {len(terms)} terms of order ≥ 2 (red +, blue −)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _fig_ax(ax: Optional[Axes], size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=size)  # not registered with pyplot: no backend is chosen or changed
    return fig, fig.add_subplot()
