"""ISCA Table 5: 64 B CPU-side end-to-end latency, from per-hop latencies.

netemu adds up documented per-hop figures (:mod:`topologies.latency`): the adapter's
end-to-end latency once per transfer, each switch's port-to-port latency, and cable
propagation (3 m server-leaf, 30 m leaf-spine, stated assumptions).  Same leaf is
server - leaf - server (one switch, two cables); cross leaf is server - leaf - spine -
leaf - server (three switches, four cables), on a two-layer fat-tree whose links are
InfiniBand (NDR switches) or Ethernet (400G RoCE switches).  NVLink intra-node is GPU -
NVSwitch - GPU inside an H800 node, whose endpoint figure is one CPU-timed GPU-to-GPU
copy measurement.  64 B takes a few nanoseconds to serialise at 400 Gb/s and is left out.

Besides each absolute latency, the report compares the cross-leaf minus same-leaf
difference, which the endpoint figure cancels out of: it isolates what the fabric adds
(two switches and two fabric cables).  Nothing is fitted: errors are what they are.
"""

from netemu.experiments.published import ISCA_TABLE5_US
from netemu.experiments.support import compare_row, write_rows

NAME = "latency"
TITLE = "ISCA Table 5: 64 B end-to-end latency from per-hop latencies"
US = 1e-6


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
    from netemu.topologies.latency import ENDPOINT_OVERHEAD, path_latency, transport
    G, path = _graph_and_path(point["transport"], point["placement"])
    total = path_latency(G, path)
    kind = transport(G, path)
    endpoint = ENDPOINT_OVERHEAD[kind].seconds
    switches = [n for n in path if G.nodes[n].get("role") in SWITCH_ROLES]
    return [{"transport": point["transport"], "placement": point["placement"],
             "path": " - ".join(path), "switches": len(switches),
             "endpoint_us": endpoint / US, "fabric_us": (total - endpoint) / US,
             "total_us": total / US}]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    got = {(r["transport"], r["placement"]): r["total_us"] for r in rows}
    out = [compare_row(f"{t} {p}", "latency us", ISCA_TABLE5_US[t][p], got[t, p])
           for t, p in got]
    for t in ("roce", "ib"):
        paper = ISCA_TABLE5_US[t]["cross leaf"] - ISCA_TABLE5_US[t]["same leaf"]
        ours = got[t, "cross leaf"] - got[t, "same leaf"]
        out.append(compare_row(f"{t} cross - same leaf", "added latency us", paper, ours))
    _plot(rows, out_dir)
    return out


def _plot(rows, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netemu.plot import save_figure
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    xs = list(range(len(rows)))
    labels = [f"{r['transport']}\n{r['placement']}" for r in rows]
    paper = [ISCA_TABLE5_US[r["transport"]][r["placement"]] for r in rows]
    ax.bar([x - 0.2 for x in xs], paper, 0.4, label="paper (measured)", color="#999999")
    ax.bar([x + 0.2 for x in xs], [r["endpoint_us"] for r in rows], 0.4,
           label="netemu: endpoint (adapter / copy)", color="#2b83ba")
    ax.bar([x + 0.2 for x in xs], [r["fabric_us"] for r in rows], 0.4,
           bottom=[r["endpoint_us"] for r in rows], label="netemu: switches + cables",
           color="#abdda4")
    ax.set_xticks(xs, labels)
    ax.set_ylabel("64 B one-way latency (µs)")
    ax.set_title(TITLE, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    save_figure(fig, f"{out_dir}/{NAME}.png")
