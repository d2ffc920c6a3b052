"""ISCA Table 5: 64 B CPU-side end-to-end latency, from the host-side path and per-hop latencies.

netemu adds up documented figures (:mod:`netemu.topologies.latency`, each with its source):

- the host side of the transfer, term by term as perftest's latency tests time it (half a
  ping-pong): the sender's MMIO post, the NIC's DMA reads of the WQE and the payload
  (unless the payload is inlined), both adapters' pipelines, the receiver's DMA writes of
  payload and completion, the receiving CPU's poll, and the PCIe switches those PCIe legs
  cross (:func:`netemu.topologies.latency.endpoint_terms`);
- each switch's port-to-port latency and cable propagation (3 m server-leaf, 30 m
  leaf-spine, stated assumptions).  Same leaf is server - leaf - server (one switch, two
  cables); cross leaf is server - leaf - spine - leaf - server (three switches, four
  cables), on a two-layer fat-tree whose links are InfiniBand (NDR switches) or Ethernet
  (400G RoCE switches).  64 B takes a few nanoseconds to serialise at 400 Gb/s and is left
  out.
- NVLink intra-node is a CPU-launched GPU-to-GPU copy inside an H800 node: the CUDA launch,
  the GPU's doorbell and command fetch over PCIe, the NVLink/NVSwitch write, the completion
  written back and polled.

Several host-side inputs are choices within measured ranges (PCIe read round trip
400-900 ns, 0 or 1 PCIe switch, inlined payload or not, LLC or DRAM poll): every row gives
the nominal sum, the inline-post sum, and the low and high ends of the range
(``total_min_us`` / ``total_max_us``).  Besides each absolute latency, the report compares
the differences in which the host side cancels: cross leaf minus same leaf (two switches,
two fabric cables) and RoCE minus IB (the switch and the adapters).  Nothing is fitted to
Table 5: errors are what they are.
"""

from netemu.experiments.published import ISCA_TABLE5_US
from netemu.experiments.support import compare_row, write_rows

NAME = "latency"
TITLE = "ISCA Table 5: 64 B end-to-end latency from the host path and per-hop latencies"
US = 1e-6
#: [ISCA]-era acceptance band for the absolute latencies (issue 15).
TOLERANCE = {"latency us": 0.25}


def points():
    return [{"transport": "roce", "placement": "same leaf"},
            {"transport": "roce", "placement": "cross leaf"},
            {"transport": "ib", "placement": "same leaf"},
            {"transport": "ib", "placement": "cross leaf"},
            {"transport": "nvlink", "placement": "intra node"}]


def _graph_and_path(transport, placement):
    import networkx as nx

    from netemu.topologies.latency import annotate
    if transport == "nvlink":
        from netemu.topologies.servers import h800_server
        G = annotate(h800_server("n0"))
        return G, nx.shortest_path(G, "n0/gpu0", "n0/gpu1")
    from netemu.topologies.fat_tree import two_layer_fat_tree
    G = annotate(two_layer_fat_tree(4, medium="ethernet" if transport == "roce" else "ib"))
    # radix 4: two servers per leaf, n0 and n1 on leaf0, n2 on leaf1.
    dst = "n1" if placement == "same leaf" else "n2"
    return G, nx.shortest_path(G, "n0", dst)


def run_point(point):
    from netemu.graph import SWITCH_ROLES
    from netemu.topologies.latency import endpoint_range, endpoint_terms, path_latency, \
        transport
    G, path = _graph_and_path(point["transport"], point["placement"])
    kind = transport(G, path)
    terms = endpoint_terms(kind)
    endpoint = sum(terms.values())
    fabric = path_latency(G, path, overhead=0.0)
    low, _, high = endpoint_range(kind)
    inline = endpoint if kind == "nvlink" else sum(endpoint_terms(kind, post="inline").values())
    switches = [n for n in path if G.nodes[n].get("role") in SWITCH_ROLES]
    return [{"transport": point["transport"], "placement": point["placement"],
             "path": " - ".join(path), "switches": len(switches),
             "endpoint_us": endpoint / US, "fabric_us": fabric / US,
             "total_us": (endpoint + fabric) / US, "total_inline_us": (inline + fabric) / US,
             "total_min_us": (low + fabric) / US, "total_max_us": (high + fabric) / US,
             **{f"{t} us": v / US for t, v in terms.items()}}]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    by = {(r["transport"], r["placement"]): r for r in rows}
    out = []
    for (t, p), r in by.items():
        note = (f"range {r['total_min_us']:.2f}-{r['total_max_us']:.2f} us"
                + ("" if t == "nvlink" else f"; inline post {r['total_inline_us']:.2f} us"))
        out.append(compare_row(f"{t} {p}", "latency us", ISCA_TABLE5_US[t][p], r["total_us"],
                               note=note))
    # Differences in which the host side cancels: what the fabric and the adapters add.
    for t in ("roce", "ib"):
        paper = round(ISCA_TABLE5_US[t]["cross leaf"] - ISCA_TABLE5_US[t]["same leaf"], 9)
        ours = by[t, "cross leaf"]["total_us"] - by[t, "same leaf"]["total_us"]
        out.append(compare_row(f"{t} cross - same leaf", "added latency us", paper, ours,
                               note="two switches and two fabric cables; host side cancels"))
    for p in ("same leaf", "cross leaf"):
        paper = round(ISCA_TABLE5_US["roce"][p] - ISCA_TABLE5_US["ib"][p], 9)
        ours = by["roce", p]["total_us"] - by["ib", p]["total_us"]
        out.append(compare_row(f"roce - ib {p}", "added latency us", paper, ours,
                               note="Ethernet vs IB switches and adapters; PCIe cancels"))
    _plot(rows, out_dir)
    return out


def _plot(rows, out_dir):
    """Left: each Table 5 latency, the paper's as open markers, netemu's total (filled) over
    its host-side and fabric parts (bars), the inline-post option and the range of the
    choices; errors under it with the band.  Right: the differences in which the host side
    cancels, paper and netemu, errors underneath."""
    from netemu.experiments.figures import Plot

    cats = [f"{r['transport']}\n{r['placement']}" for r in rows]
    by = {(r["transport"], r["placement"]): r for r in rows}
    diffs = []       # (category, paper, netemu)
    for t in ("roce", "ib"):
        if (t, "cross leaf") in by and (t, "same leaf") in by:
            diffs.append((f"{t}\ncross-same",
                          ISCA_TABLE5_US[t]["cross leaf"] - ISCA_TABLE5_US[t]["same leaf"],
                          by[t, "cross leaf"]["total_us"] - by[t, "same leaf"]["total_us"]))
    for pl in ("same leaf", "cross leaf"):
        if ("roce", pl) in by and ("ib", pl) in by:
            diffs.append((f"roce-ib\n{pl}", ISCA_TABLE5_US["roce"][pl] - ISCA_TABLE5_US["ib"][pl],
                          by["roce", pl]["total_us"] - by["ib", pl]["total_us"]))
    p = Plot(TITLE, ["64 B one-way latency", "differences (host side cancels)"],
             categories=[cats, [c for c, _, _ in diffs]], ylabel=["latency (µs)", "added latency (µs)"],
             width=5.2, height=3.9, width_ratios=[5, 4])
    p.bars(cats, [r["endpoint_us"] for r in rows], "host", "netemu: host side (PCIe, adapters, "
           "poll / CUDA launch)", role="netemu", colour="#c6dbef")
    p.bars(cats, [r["fabric_us"] for r in rows], "fabric", "netemu: switches + cables",
           role="netemu", colour="#9ecae1", bottom=[r["endpoint_us"] for r in rows])
    paper = [ISCA_TABLE5_US[r["transport"]][r["placement"]] for r in rows]
    total = [r["total_us"] for r in rows]
    p.paper(cats, paper, "latency", "Table 5 (measured)")
    line = p.netemu(cats, total, "latency", "total (nominal choices)", line=False)
    p.main[0].errorbar(range(len(rows)), total,
                       yerr=[[t - r["total_min_us"] for t, r in zip(total, rows)],
                             [r["total_max_us"] - t for t, r in zip(total, rows)]],
                       fmt="none", ecolor=line.get_color(), capsize=4, zorder=3,
                       label="netemu: range of the host-side choices", gid="reference:range")
    p.error(cats, total, paper, "latency", line=False)
    rdma = [(c, r["total_inline_us"], pv) for c, r, pv in zip(cats, rows, paper)
            if r["transport"] != "nvlink"]
    if rdma:
        c, v, pv = zip(*rdma)
        p.netemu(c, v, "latency", "total", option="payload inlined (perftest default)",
                 line=False)
        p.error(c, v, pv, "latency", option="payload inlined (perftest default)", line=False)
    p.band(TOLERANCE["latency us"])
    if diffs:
        c, pv, v = zip(*diffs)
        p.paper(c, pv, "differences", "differences of Table 5's rows", panel=1)
        p.netemu(c, v, "differences", "differences of the totals", panel=1, line=False)
        p.error(c, v, pv, "differences", panel=1, line=False)
        p.main[1].axhline(0, color="black", lw=0.8, gid="reference:zero")
    p.main[0].set_ylim(0, 1.25 * max(r["total_max_us"] for r in rows))
    p.save(f"{out_dir}/{NAME}.png")
