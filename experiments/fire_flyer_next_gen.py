"""Fire-Flyer §IX: the next generation's 4-plane two-layer fat-tree of 128-port 400G RoCE switches.

[FF] §IX: "with a 128-port 400 Gbps RoCE switch, a 4-Plane Two-Layer Fat-Trees
network can support up to 32,768 GPUs", one NIC per GPU.  netemu builds it with
:func:`topologies.planes.multi_plane_fat_tree` (planes of ``R`` leaves with ``R/2``
ports down and ``R/2`` spines, NIC ``k`` of every server on plane ``k``) from the
catalogue's ``ROCE_400G_128``, counts endpoints, switches and switch-switch links
(:func:`topologies.summary.summary`) and prices it (:mod:`topologies.cost`).

- The endpoint count follows from radix arithmetic (``planes * R * R / 2``), the
  paper's own inputs: a **check**, never counted as agreement.
- Switches, links and cost have no published value: netemu-only rows (no paper
  value, no kind), columns of the CSV and the plot.  The cost uses the [SF] price fits (quoted from memory, see
  :mod:`topologies.cost`), so its dollars are soft; the ``sensitivity`` experiment
  shows how far the layout choices move it.
- The sweep over 1, 2, 4 and 8 planes shows the design point among its neighbours;
  only 4 planes is the paper's.
"""

from netemu.experiments.published import FF_NEXT_GEN_GPUS
from netemu.experiments.support import compare_row, write_rows

NAME = "fire_flyer_next_gen"
TITLE = "Fire-Flyer §IX: 4-plane two-layer fat-tree of 128-port 400G RoCE switches"
#: The paper's design: four planes ([FF] §IX).
PLANES = 4
SWEEP = (1, 2, 4, 8)


def points():
    return [{"planes": p} for p in SWEEP]


def build(planes):
    """The [FF] §IX fabric with ``planes`` planes of the catalogue's 128-port RoCE switch."""
    from netemu.topologies.hardware import ROCE_400G_128
    from netemu.topologies.planes import multi_plane_fat_tree
    return multi_plane_fat_tree(planes, ROCE_400G_128.ports,
                                link_bandwidth=ROCE_400G_128.port_bandwidth,
                                medium=ROCE_400G_128.medium)


def run_point(point):
    import networkx as nx

    from netemu.topologies.cost import cost
    from netemu.topologies.summary import summary
    # Frozen: summary() prices the graph too, and cost() then reuses what it read (a frozen
    # graph cannot change in between).
    G = nx.freeze(build(point["planes"]))
    s = summary(G)
    c = cost(G)
    return [{"planes": point["planes"], "servers": s["endpoints"] // point["planes"],
             "endpoints": s["endpoints"], "switches": s["switches"], "links": s["links"],
             "endpoint_links": s["endpoint_links"], "diameter": s["diameter"],
             "bisection_TBps": s["bisection_bandwidth"] / 1e12,
             "cost_musd": c["total_usd"] / 1e6, "switches_musd": c["switches_usd"] / 1e6,
             "cables_musd": c["cables_usd"] / 1e6, "optical_cables": c["optical_cables"],
             "electric_cables": c["electric_cables"],
             "cost_per_endpoint_kusd": c["per_endpoint_usd"] / 1e3}]


def _plot(rows, path):
    """Left: GPUs the design reaches by planes, the paper's 32,768 drawn as the check it is
    (radix arithmetic on its inputs).  Right: netemu's cost, which has no published value."""
    from netemu.experiments.figures import Plot

    x = [r["planes"] for r in rows]
    cats = [f"{n} planes" for n in x]
    p = Plot(TITLE, ["128-port 400G two-layer planes", "cost (topologies.cost, [SF] price fits)"],
             error=False, categories=[None, cats], xticks=x, xlabel=["planes", ""],
             ylabel=["GPUs (endpoints at 1 NIC per GPU)", "netemu cost (M$)"],
             width=5.2, height=3.8)
    p.netemu(x, [r["endpoints"] for r in rows], "GPUs", "endpoints")
    p.check([PLANES], [FF_NEXT_GEN_GPUS], "GPUs", f"{FF_NEXT_GEN_GPUS:,} GPUs with {PLANES} planes")
    p.bars(cats, [r["switches_musd"] for r in rows], "switches", "netemu: switches", panel=1)
    p.bars(cats, [r["cables_musd"] for r in rows], "cables", "netemu: cables", panel=1,
           bottom=[r["switches_musd"] for r in rows])
    p.save(path)


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    _plot(rows, f"{out_dir}/{NAME}.png")
    r = next(x for x in rows if x["planes"] == PLANES)
    point = f"{PLANES}-plane, 128-port"
    out = [compare_row(point, "GPUs (endpoints)", FF_NEXT_GEN_GPUS, r["endpoints"], kind="check",
                       note="planes x R x R/2: radix arithmetic on the paper's inputs")]
    # No published value: netemu-only rows (no kind, no paper value).
    for metric, key in (("switches", "switches"), ("links", "links"), ("cost M$", "cost_musd"),
                        ("cost per GPU k$", "cost_per_endpoint_kusd")):
        out.append({"point": point, "metric": metric, "paper": None, "netemu": r[key],
                    "error": None, "note": "no published value"})
    return out
