"""Fire-Flyer Fig. 7b: HFReduce with NVLink bridges, inside one zone and across the two zones.

The two GPUs of every NVLink-bridged pair reduce-scatter over the bridge first and
all-gather after the CPU's result comes back (:func:`collectives.hfreduce.hfreduce_nvlink`).
Within a zone the job takes servers ``n0, n1, ...``; across zones it takes half
its servers from each zone (``n0...`` and the first servers of the second zone),
so its double binary tree crosses the inter-zone switches.  Calibration as in
``hfreduce_vs_nccl``.
"""

from netemu.experiments.published import FF_FIG7A_SIZE, FF_FIG7B
from netemu.experiments.support import GB, compare_row, line_plot, write_rows
from netemu.experiments.hfreduce_vs_nccl import ff_cluster

NAME = "hfreduce_nvlink"
TITLE = "Fire-Flyer Fig. 7b: HFReduce with NVLink, 186 MiB"
SIZE = FF_FIG7A_SIZE
WITHIN = (16, 32, 64, 128, 256, 512, 1024)
CROSS = (128, 256, 512, 1024)


def points():
    return [{"gpus": n, "zones": "within"} for n in WITHIN] + \
        [{"gpus": n, "zones": "cross"} for n in CROSS]


def _ranks(G, n, zones):
    from netemu.collectives.ranks import by_server, cluster_gpus
    servers = by_server(cluster_gpus(G))
    per_server = len(servers[0][1])
    k = n // per_server
    if zones == "within":
        chosen = servers[:k]
    else:
        second = [s for s in servers if _zone(G, s[0]) == 1]
        chosen = servers[:k // 2] + second[:k - k // 2]
    return [g for _, gs in chosen for g in gs]


def _zone(G, server):
    leaf = next(m for m in G.adj[f"{server}/nic0"] if G.nodes[m].get("role") == "leaf")
    return int(str(leaf).split("/")[0][1:])


def run_point(point):
    from netemu.collectives import run
    G = ff_cluster()
    r = run(G, "allreduce", "hfreduce-nvlink", _ranks(G, point["gpus"], point["zones"]), SIZE)
    return [{"gpus": point["gpus"], "zones": point["zones"], "size_bytes": SIZE,
             "time_s": r.time, "algbw_GBps": r.algbw / GB, "busbw_GBps": r.busbw / GB,
             "bottleneck": (r.stages[0]["bottlenecks"] or [""])[0]}]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    got = {(r["gpus"], r["zones"]): r["algbw_GBps"] for r in rows}
    series = []
    for z, xs in (("within", WITHIN), ("cross", CROSS)):
        series.append((f"netemu {z} zone", xs, [got[n, z] for n in xs], "-o"))
        series.append((f"paper {z} zone", xs, [FF_FIG7B[z][n] for n in xs], "x--"))
    line_plot(f"{out_dir}/{NAME}.png", TITLE, "GPUs", "allreduce algbw (GB/s)", series,
              xticks=WITHIN)
    return [compare_row(f"{n} GPUs {z}", "algbw GB/s", FF_FIG7B[z][n], got[n, z])
            for z, xs in (("within", WITHIN), ("cross", CROSS)) for n in xs]
