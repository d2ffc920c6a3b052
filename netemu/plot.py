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

__all__ = ["save_figure", "draw_layered", "layered_positions", "along_edge", "place_labels",
           "DETAIL_LIMIT", "GROUP_LIMIT", "LINE_LIMIT", "LAYER_OF_ROLE", "SERVER_ROW"]

#: Above this many nodes a drawing shows groups of alike nodes instead of each node.
DETAIL_LIMIT = 300

#: Vertical order of roles when a node has no ``layer`` attribute (top = largest).
LAYER_OF_ROLE = {
    "core": 3, "router": 2, "switch": 2.5, "spine": 2, "leaf": 1,
    "nic": 0, "host": -0.5, "storage": -0.5,
    "pcie_switch": -1, "root_port": -1, "cpu": -2, "memory": -2.5, "nvswitch": -1.5, "gpu": -3,
}

#: Rows of the parts inside servers when a cluster is drawn (the fabric's NICs are row 0):
#: PCIe switches / root ports under the NICs, GPUs under them, NVLink / NVSwitch under the
#: GPUs; CPU sockets and host memory in a column of their own beside that tree (the host
#: side), so GPUs are not drawn hanging off host memory.
SERVER_ROW = {"pcie_switch": -1, "root_port": -1, "cpu": -1, "gpu": -2, "memory": -2,
              "nvswitch": -3}
_HOST_SIDE = ("cpu", "memory")
_HOST_STEP = 1.4   # "memory1" is wider than one slot of the GPU row

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


def _layer(data, inside):
    role = data.get("role")
    if "layer" in data and role in ("leaf", "spine", "core", "nic"):
        return data["layer"]
    if inside:
        if role in SERVER_ROW:
            return SERVER_ROW[role]
        if role in ("storage", "host"):
            return 0           # fabric endpoints beside the servers' NICs
    return LAYER_OF_ROLE.get(role, 0)


def layered_positions(nodes):
    """``{key: (x, y)}`` for ``{key: (label, count, data)}``: one row per layer.

    Fabric layers by role (core on top, NICs at row 0).  When the graph holds servers, their
    parts take the rows of :data:`SERVER_ROW` under the NICs; CPU sockets and memory stand in
    a column right of the PCIe/GPU/NVSwitch tree, memory under its CPU.  Drawn node by node,
    each server (its NICs included) takes a slot of its own, side by side.
    """
    inside = any(d.get("role") in ("gpu", "nvswitch") for _, _, d in nodes.values())
    layers = defaultdict(list)
    for k, (_, _, d) in nodes.items():
        layers[_layer(d, inside)].append(k)
    host = {k for k, (_, _, d) in nodes.items() if inside and d.get("role") in _HOST_SIDE}
    per_server = inside and all(c == 1 for _, c, _ in nodes.values())
    server_of = {k: d.get("server") for k, (_, _, d) in nodes.items()} if per_server else {}
    pos = {}
    slots = _server_slots(layers, host, server_of) if per_server else {}
    plain = {y: [k for k in m if server_of.get(k) is None] for y, m in layers.items()}
    width = max([len([k for k in m if k not in host]) for m in plain.values()]
                + [off + w for off, w in slots.values()]) or 1
    for y, members in layers.items():
        _spread([k for k in plain[y] if k not in host], [k for k in plain[y] if k in host],
                0.0, width, y, pos)
    for sid, (off, w) in slots.items():
        tree_w = max(len([k for k in m if server_of.get(k) == sid and k not in host])
                     for m in layers.values())
        for y, members in layers.items():
            mine = [k for k in members if server_of.get(k) == sid]
            _spread([k for k in mine if k not in host], [k for k in mine if k in host],
                    off, tree_w, y, pos)
    return pos


def _spread(tree, side, left, width, y, pos):
    """Tree members evenly over [left, left + width]; host-side ones in a column beyond it."""
    tree, side = sorted(tree, key=_natural), sorted(side, key=_natural)
    for i, k in enumerate(tree):
        pos[k] = (left + (i + 0.5) / len(tree) * width, y)
    for i, k in enumerate(side):
        pos[k] = (left + width + 0.6 + _HOST_STEP * i, y)


def _server_slots(layers, host, server_of):
    """``{server: (left, width)}``: one slot per server, side by side, a gap between."""
    slots, left = {}, 0.0
    for sid in sorted({s for s in server_of.values() if s is not None}, key=_natural):
        tree = max(len([k for k in m if server_of.get(k) == sid and k not in host])
                   for m in layers.values())
        side = max(len([k for k in m if server_of.get(k) == sid and k in host])
                   for m in layers.values())
        slots[sid] = (left, tree + (_HOST_STEP * side + 0.6 if side else 0))
        left += slots[sid][1] + 1.0
    return slots


def _server_count(G):
    return len({d.get("server") for _, d in G.nodes(data=True)
                if d.get("role") == "gpu" and "server" in d})


def _server_frame(ax, pos, nodes, servers, width):
    """Shaded boxes around the parts inside servers: one per server drawn node by node,
    one around the grouped rows (saying how many servers they sum) otherwise."""
    from matplotlib.patches import FancyBboxPatch

    inside = [k for k, (_, _, d) in nodes.items() if d.get("role") in SERVER_ROW]
    if not inside:
        return
    detail = all(c == 1 for _, c, _ in nodes.values())
    groups = defaultdict(list)
    for k in inside:
        groups[nodes[k][2].get("server") if detail else None].append(pos[k])
    for sid, pts in groups.items():
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        left, right = (min(xs) - 0.45, max(xs) + 0.45) if detail else (-0.3, width + 0.3)
        top, bottom = max(ys) + 0.32, min(ys) - 0.45   # under the NIC-edge labels (row 0.5 up)
        ax.add_patch(FancyBboxPatch((left, bottom), right - left, top - bottom,
                                    boxstyle="round,pad=0.02", fc="#f5f5f5", ec="#999999",
                                    lw=0.8, ls="--", zorder=0))
        text = (f"server {sid}" if detail
                else f"inside the {servers:,} servers (counts are totals)")
        ax.text(left + 0.05, top - 0.05, text, fontsize=8, ha="left", va="top",
                color="#555555", zorder=0)


#: Where along an edge (fraction from its first end) a label may go, most wanted first.
LABEL_SPOTS = (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8, 0.12, 0.88)


def along_edge(a, b, spots=LABEL_SPOTS):
    """Candidate label positions on the segment ``a``-``b``, in order of preference."""
    (x1, y1), (x2, y2) = a, b
    on = [(x1 + t * (x2 - x1), y1 + t * (y2 - y1)) for t in spots]
    # Last resorts: beside the midpoint, off the line (a short edge between wide boxes).
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5 or 1.0
    nx, ny = -(y2 - y1) / length, (x2 - x1) / length
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    return on + [(mx + d * nx, my + d * ny) for d in (0.35, -0.35, 0.6, -0.6)]


def place_labels(ax, labels, obstacles, **text_kw):
    """Put each ``(text, candidates[, text kwargs])`` label at its first spot that overlaps nothing.

    ``obstacles`` are artists already drawn (node boxes); every label placed becomes one
    too.  A label whose every spot overlaps goes where it overlaps least.  Returns the
    text artists.  Labels get a white backing so the lines they sit on stay readable.
    """
    renderer = ax.figure.canvas.get_renderer()
    # Boxes are bucketed on a coarse pixel grid, so a label is checked only against its
    # neighbours: a grouped drawing may carry a thousand lines and stays a matter of seconds.
    grid = defaultdict(list)

    def cells(box):
        return [(i, j) for i in range(int(box.x0 // _CELL), int(box.x1 // _CELL) + 1)
                for j in range(int(box.y0 // _CELL), int(box.y1 // _CELL) + 1)]

    def add(box):
        for c in cells(box):
            grid[c].append(box)

    for o in obstacles:
        add(_extent(o, renderer))
    out = []
    for text, spots, *own in labels:
        t = ax.text(*spots[0], text, ha="center", va="center", zorder=2,
                    bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.9),
                    **{**text_kw, **(own[0] if own else {})})
        best, best_cost = spots[0], None
        for spot in spots:
            t.set_position(spot)
            box = _extent(t, renderer).padded(5)   # a visible gap between neighbours
            near = {id(o): o for c in cells(box) for o in grid.get(c, ())}
            cost = sum(_overlap(box, o) for o in near.values())
            if best_cost is None or cost < best_cost:
                best, best_cost = spot, cost
            if cost == 0:
                break
        t.set_position(best)
        add(_extent(t, renderer))
        out.append(t)
    return out


#: Pixel size of the grid place_labels buckets boxes on.
_CELL = 64


def _extent(artist, renderer):
    patch = artist.get_bbox_patch() if hasattr(artist, "get_bbox_patch") else None
    artist.update_bbox_position_size(renderer) if patch is not None else None
    return (patch or artist).get_window_extent(renderer)


def _overlap(a, b):
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


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
        # Inside a server's frame its name is said once: boxes show "gpu3", not "n0/gpu3".
        nodes = {n: (n.split("/", 1)[-1] if d.get("role") in SERVER_ROW or
                     (d.get("role") == "nic" and "server" in d) else n, 1, d)
                 for n, d in G.nodes(data=True)}
        edges = {(u, v): (d.get("cables", 1), d.get("bandwidth", 0.0), d.get("medium"))
                 for u, v, d in G.edges(data=True)}
    else:
        nodes, edges, internal = _grouped(G, _group_key)
        if len(nodes) > GROUP_LIMIT or len(edges) > LINE_LIMIT:
            coarse = True
            nodes, edges, internal = _grouped(G, lambda n, d: (d.get("role"),))

    pos = layered_positions(nodes)
    servers = _server_count(G)
    width = max(x for x, _ in pos.values()) + 0.5
    rows = {y for _, y in pos.values()}

    uniform = len({bw / max(c, 1) for c, bw, _ in edges.values()}) == 1 if detail else False
    # A slot per node: wide enough for the longest box label at 6 pt (about 0.07 in a letter).
    per_node = max(0.45, 0.07 * max(len(label) for label, _, _ in nodes.values()))
    fig_w = min(max(6.0, width * (per_node if detail else 1.6)), 40.0)
    fig, ax = plt.subplots(figsize=(fig_w, 1.6 * len(rows) + 1.5))
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(min(rows) - 0.7, max(rows) + 0.7)
    if servers:
        _server_frame(ax, pos, nodes, servers, width)
    labels = []
    for (u, v), (cables, bw, medium) in edges.items():
        (x1, y1), (x2, y2) = pos[u], pos[v]
        colour = "#e41a1c" if medium == "nvlink" else "#888888"
        lw = 0.6 if detail else 1.0 + min(cables, 50) ** 0.5 / 3
        if detail and y1 == y2:
            # Two nodes of one row (a CPU and its root ports, bridged GPUs): a straight line
            # would hide behind the boxes between them, so it bows above the row.
            from matplotlib.patches import FancyArrowPatch
            (x1, y1), (x2, y2) = sorted([(x1, y1), (x2, y2)])
            ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), arrowstyle="-", color=colour,
                                         lw=lw, alpha=0.6, zorder=1,
                                         connectionstyle="arc3,rad=-0.3"))
        else:
            ax.plot([x1, x2], [y1, y2], color=colour, lw=lw, alpha=0.6, zorder=1)
        if not detail or (G.number_of_nodes() <= 40 and not uniform):
            text = f"{cables:,} cables" if not detail else f"{to_gbps(bw):.0f}G"
            labels.append((text, along_edge((x1, y1), (x2, y2))))
    boxes = []
    for k, (label, count, d) in nodes.items():
        x, y = pos[k]
        colour = _COLOURS.get(d.get("role"), "#dddddd")
        text = label if count == 1 else f"{label}\n×{count:,}"
        if internal.get(k):
            text += f"\n{internal[k]:,} cables within"
        boxes.append(ax.text(x, y, text, ha="center", va="center", fontsize=6 if detail else 8,
                             zorder=3, bbox=dict(boxstyle="round,pad=0.25", fc=colour,
                                                 ec="#333333", lw=0.5)))
    place_labels(ax, labels, boxes, fontsize=6, color="#444444")
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
