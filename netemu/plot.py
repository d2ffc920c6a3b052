"""Plotting helpers: layered topology drawings and atomic figure output.

Matplotlib runs with the Agg backend (no screen needed).  Figures are written
to a temporary file beside the target and renamed, so an error never leaves a
partial image behind.
"""

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import write_atomically  # noqa: E402
from .units import to_gbps  # noqa: E402

__all__ = ["save_figure", "draw_layered", "DETAIL_LIMIT", "GROUP_LIMIT", "LINE_LIMIT", "LAYER_OF_ROLE"]

#: Above this many nodes a drawing shows groups of alike nodes instead of each node.
DETAIL_LIMIT = 300

#: Vertical order of roles when a node has no ``layer`` attribute (top = largest).
LAYER_OF_ROLE = {
    "core": 3, "router": 2, "switch": 2.5, "spine": 2, "leaf": 1,
    "nic": 0, "host": -0.5, "storage": -0.5,
    "pcie_switch": -1, "root_port": -1, "cpu": -2, "memory": -2.5, "nvswitch": -1.5, "gpu": -3,
}

_COLOURS = {"core": "#7b3294", "spine": "#c2a5cf", "leaf": "#a6dba0", "router": "#c2a5cf",
            "switch": "#fdb863", "nic": "#92c5de", "host": "#f4a582", "storage": "#d6604d",
            "gpu": "#4daf4a", "cpu": "#377eb8", "memory": "#984ea3", "root_port": "#bababa",
            "pcie_switch": "#bababa", "nvswitch": "#ff7f00"}


def save_figure(fig, path, dpi=120):
    """Write ``fig`` to ``path`` atomically; raise GraphFileError if the place is unwritable."""
    fmt = (Path(path).suffix or ".png")[1:]
    try:
        write_atomically(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)


def _layer(data):
    if "layer" in data and data.get("role") in ("leaf", "spine", "core", "nic"):
        return data["layer"]
    return LAYER_OF_ROLE.get(data.get("role"), 0)


def _group_key(n, data):
    """Alike nodes for a summarised drawing: same role and the same plane/pod/zone/group/rail."""
    pos = tuple((k, data[k]) for k in ("plane", "zone", "pod", "group", "rail", "subgraph") if k in data)
    return (data.get("role"),) + pos


#: A grouped drawing with more boxes or lines than this is unreadable (and slow: the
#: 511-group dragonfly has 130,305 group pairs); it is drawn by role alone instead.
GROUP_LIMIT = 150
LINE_LIMIT = 1500


def draw_layered(G, path, title=None):
    """Draw ``G`` in layers (endpoints at the bottom, core at the top) into ``path``.

    Graphs up to :data:`DETAIL_LIMIT` nodes are drawn node by node with edge
    bandwidths; larger ones are summarised: one box per group of alike nodes
    (role and plane/pod/zone/group) with its count, and one line per group pair
    labelled with its number of cables.  When that still gives more than
    :data:`GROUP_LIMIT` boxes or :data:`LINE_LIMIT` lines, nodes are grouped by
    role alone, and each box also gives the cables among its own members.
    """
    detail = G.number_of_nodes() <= DETAIL_LIMIT
    internal = {}
    coarse = False
    if detail:
        nodes = {n: (n, 1, d) for n, d in G.nodes(data=True)}
        edges = {(u, v): (d.get("cables", 1), d.get("bandwidth", 0.0), d.get("medium"))
                 for u, v, d in G.edges(data=True)}
    else:
        nodes, edges, internal = _grouped(G, _group_key)
        if len(nodes) > GROUP_LIMIT or len(edges) > LINE_LIMIT:
            coarse = True
            nodes, edges, internal = _grouped(G, lambda n, d: (d.get("role"),))

    layers = defaultdict(list)
    for k, (_, _, d) in nodes.items():
        layers[_layer(d)].append(k)
    pos = {}
    width = max(len(v) for v in layers.values())
    for y, members in layers.items():
        members.sort(key=_natural)
        for i, k in enumerate(members):
            pos[k] = ((i + 0.5) / len(members) * width, y)

    uniform = len({bw / max(c, 1) for c, bw, _ in edges.values()}) == 1 if detail else False
    fig_w = min(max(6.0, width * (0.35 if detail else 1.6)), 40.0)
    fig, ax = plt.subplots(figsize=(fig_w, 1.6 * len(layers) + 1.5))
    for (u, v), (cables, bw, medium) in edges.items():
        (x1, y1), (x2, y2) = pos[u], pos[v]
        colour = "#e41a1c" if medium == "nvlink" else "#888888"
        ax.plot([x1, x2], [y1, y2], color=colour, lw=0.6 if detail else 1.0 + min(cables, 50) ** 0.5 / 3,
                alpha=0.6, zorder=1)
        if not detail or (G.number_of_nodes() <= 40 and not uniform):
            text = f"{cables:,} cables" if not detail else f"{to_gbps(bw):.0f}G"
            ax.text((x1 + x2) / 2, (y1 + y2) / 2, text, fontsize=6, ha="center", color="#444444")
    for k, (label, count, d) in nodes.items():
        x, y = pos[k]
        colour = _COLOURS.get(d.get("role"), "#dddddd")
        text = label if count == 1 else f"{label}\n×{count:,}"
        if internal.get(k):
            text += f"\n{internal[k]:,} cables within"
        ax.text(x, y, text, ha="center", va="center", fontsize=6 if detail else 8, zorder=2,
                bbox=dict(boxstyle="round,pad=0.25", fc=colour, ec="#333333", lw=0.5))
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(min(layers) - 0.7, max(layers) + 0.7)
    ax.axis("off")
    name = G.graph.get("preset") or G.graph.get("name", "graph")
    if uniform:
        cables, bw, _ = next(iter(edges.values()))
        link_text = f", every link {to_gbps(bw / cables):g} Gb/s"
    else:
        link_text = ""
    ax.set_title(title or f"{name}: {G.number_of_nodes()} nodes, {G.number_of_edges()} links"
                 + link_text + ("" if detail else " (grouped by role)" if coarse
                                else " (alike nodes grouped)"))
    save_figure(fig, path)


def _grouped(G, key):
    """Boxes, lines and within-box cable counts of ``G`` summarised by ``key(node, data)``."""
    key_of = {n: key(n, d) for n, d in G.nodes(data=True)}
    counts = Counter(key_of.values())
    rep = {}
    for n, d in G.nodes(data=True):
        rep.setdefault(key_of[n], d)
    nodes = {k: (_label(k), counts[k], rep[k]) for k in counts}
    rank = {k: i for i, k in enumerate(sorted(counts, key=repr))}  # order each pair once
    agg = defaultdict(lambda: [0, 0.0, None])
    internal = Counter()
    for u, v, d in G.edges(data=True):
        a, b = key_of[u], key_of[v]
        if a == b:
            internal[a] += d.get("cables", 1)
            continue
        if rank[a] > rank[b]:
            a, b = b, a
        e = agg[(a, b)]
        e[0] += d.get("cables", 1)
        e[1] += d.get("bandwidth", 0.0)
        e[2] = d.get("medium")
    return nodes, {k: tuple(v) for k, v in agg.items()}, internal


def _label(key):
    role, *pos = key
    return role + "".join(f" {k}{v}" for k, v in pos)


def _natural(k):
    import re
    s = k if isinstance(k, str) else repr(k)
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]
