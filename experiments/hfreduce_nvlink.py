"""Fire-Flyer Fig. 7b: HFReduce with NVLink bridges, inside one zone and across the two zones.

The two GPUs of every NVLink-bridged pair reduce-scatter over the bridge first and
all-gather after the CPU's result comes back (:func:`collectives.hfreduce.hfreduce_nvlink`).
Within a zone the job takes servers ``n0, n1, ...``; across zones it takes half
its servers from each zone (``n0...`` and the first servers of the second zone).
The cluster is the preset with its defaults, as in ``hfreduce_vs_nccl``.

Across zones the inter-server tree follows the paper's rule ([FF] §III-B): "NCCL and
HFReduce ... use the double binary tree algorithm, so only one pair of nodes
communicates across zones" — one NCCL tree pair per zone, joined by one pair of
servers (:func:`collectives.ranks.zoned_double_binary_tree`), both trees timed.
Where the first zone's gateway sits is not published, so both constructions that
obey the rule are run: ``join='roots'`` (netemu's default, chosen as the one a tuned
implementation would build: both gateways root their zone's trees, so each tree is
only one level deeper) and ``join='nccl'`` (the first zone keeps NCCL's trees, the
second zone hangs from a leaf of its second tree).  Only the default is compared;
the other is in the CSV and the plot.  ``'nccl'`` lands near the paper's cross-zone
values, but from offsetting errors: netemu's within-zone curve is high at scale,
and ``'nccl'``'s loss grows with scale where the paper's shrinks.

Mechanisms for the paper's 3-10 % cross-zone loss, each run here or bounded:

- the rule itself, ``join='roots'``: the first gateway receives and adds one more
  child's data in each tree, so its NIC-side host memory binds (about 1.5 % lower
  at every scale);
- the rule with ``join='nccl'``: the second tree is about twice as deep, so the
  pipeline fill grows (10-16 % lower from 128 to 1,024 GPUs, growing with scale
  where the paper's 10 %-3 % loss shrinks);
- link latency (``latency`` points: every link annotated from
  :mod:`topologies.latency`, HDR switches, 30 m fabric cables): a per-hop alpha of
  about a microsecond against a ~20 ms collective, well under 0.1 %;
- inter-zone bandwidth: the one crossing pair carries one byte per byte of S each
  way on a 200 Gb/s path while each gateway's NIC carries two, so the inter-zone
  links never bind; static-routing collisions inside a zone cannot bind either,
  since the NIC does first.
"""

import functools

from netemu.experiments.published import FF_FIG7A_SIZE, FF_FIG7B
from netemu.experiments.support import GB, compare_row, write_rows
from netemu.experiments.hfreduce_vs_nccl import ff_cluster

NAME = "hfreduce_nvlink"
TITLE = "Fire-Flyer Fig. 7b: HFReduce with NVLink, 186 MiB"
#: The band the project sets for Fig. 7b, within and across zones (issue 15's acceptance).
TOLERANCE = 0.20
SIZE = FF_FIG7A_SIZE
WITHIN = (16, 32, 64, 128, 256, 512, 1024)
CROSS = (128, 256, 512, 1024)
#: The default construction of the cross-zone tree (the one compared with the paper).
JOIN = "roots"
JOINS = ("roots", "nccl")


def points():
    return [{"gpus": n, "zones": "within", "join": JOIN, "latency": False} for n in WITHIN] + \
        [{"gpus": n, "zones": "cross", "join": j, "latency": False} for j in JOINS for n in CROSS] + \
        [{"gpus": n, "zones": z, "join": JOIN, "latency": True}
         for z in ("within", "cross") for n in CROSS]


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
    """Zone of a server: the ``zone`` of the leaf its NIC plugs into."""
    leaf = next(m for m in G.adj[f"{server}/nic0"] if G.nodes[m].get("role") == "leaf")
    return G.nodes[leaf]["zone"]


@functools.lru_cache(maxsize=1)
def _latency_cluster():
    """The same cluster with every link's latency from :mod:`topologies.latency` (HDR switches)."""
    import networkx as nx

    from netemu.topologies.latency import IB_HDR_SWITCH, annotate
    # Frozen like the preset it copies: the points share it, and the path-model and routing
    # caches trust a frozen graph instead of walking it on every evaluation.
    return nx.freeze(annotate(ff_cluster().copy(), switch_latency={"ib": IB_HDR_SWITCH}))


def run_point(point):
    from netemu.collectives import evaluate, path_model
    from netemu.collectives.hfreduce import hfreduce_nvlink
    G = _latency_cluster() if point["latency"] else ff_cluster()
    w = hfreduce_nvlink(path_model(G), _ranks(G, point["gpus"], point["zones"]), SIZE,
                        join=point["join"])
    r = evaluate(G, w)
    st = r.stages[0]
    return [{"gpus": point["gpus"], "zones": point["zones"], "join": point["join"],
             "latency": point["latency"], "size_bytes": SIZE, "time_s": r.time,
             "algbw_GBps": r.algbw / GB, "busbw_GBps": r.busbw / GB,
             "rate_GBps": st["rate"] / GB, "chain_hops": st["hops"], "alpha_s": st["alpha"],
             "cross_zone_pairs": w.info["cross_zone_pairs"],
             "slowest_tree": w.info["slowest_tree"],
             **{f"{k}_time_s": v for k, v in w.info["tree_times"].items()},
             "bottleneck": (st["bottlenecks"] or [""])[0]}]


def report(rows, out_dir):
    got = {(r["gpus"], r["zones"], r["join"], r["latency"]): r["algbw_GBps"] for r in rows}
    for r in rows:        # cross-zone loss against the same setting within one zone
        base = got.get((r["gpus"], "within", JOIN, r["latency"]))
        r["loss_vs_within_pct"] = (100 * (1 - r["algbw_GBps"] / base)
                                   if r["zones"] == "cross" and base else None)
    write_rows(out_dir, NAME, rows)
    _plot(rows, got, f"{out_dir}/{NAME}.png")
    out = [compare_row(f"{n} GPUs within", "algbw GB/s", FF_FIG7B["within"][n],
                       got[n, "within", JOIN, False]) for n in WITHIN]
    out += [compare_row(f"{n} GPUs cross", "algbw GB/s", FF_FIG7B["cross"][n],
                        got[n, "cross", JOIN, False]) for n in CROSS]
    # The cross-zone loss (CSV column loss_vs_within_pct) follows from the rows above;
    # as a row of its own a relative error of a few-percent loss would count them twice.
    return out


def _plot(rows, got, path):
    """Left: algbw within a zone and across zones, paper and netemu in one colour per curve,
    the error per point under them.  Right: the cross-zone loss against the same job within a
    zone, where the two curves' difference (a few percent) is readable."""
    from netemu.experiments.figures import Plot

    p = Plot(TITLE, ["allreduce algbw", "cross-zone loss against the same GPUs within one zone"],
             error=[True, False], logx=True, xticks=WITHIN, xlabel="GPUs",
             ylabel=["allreduce algbw (GB/s)", "loss (%)"], width=6.0, height=4.0)
    for z, group in (("within", "within a zone"), ("cross", "across zones")):
        gpus = [n for n in (WITHIN if z == "within" else CROSS) if (n, z, JOIN, False) in got]
        label = group + ("" if z == "within" else f" (join={JOIN})")
        p.compare(gpus, [got[n, z, JOIN, False] for n in gpus], list(FF_FIG7B[z]),
                  list(FF_FIG7B[z].values()), group, label, paper_label=group)
        # Link latency moves a point by well under 1 % (the note gives the largest change):
        # drawn, it would only lie on the line without it.
        for option, (join, latency) in ([("join=nccl", ("nccl", False))] if z == "cross" else []):
            ns = [n for n in gpus if (n, z, join, latency) in got]
            ours = [got[n, z, join, latency] for n in ns]
            p.netemu(ns, ours, group, group, option=option)
            p.error(ns, ours, [FF_FIG7B[z].get(n) for n in ns], group, option=option)
    p.band(TOLERANCE)
    # The loss panel: the paper's from its two curves, netemu's from the CSV column.
    both = [n for n in CROSS if n in FF_FIG7B["within"] and n in FF_FIG7B["cross"]]
    p.paper(both, [100 * (1 - FF_FIG7B["cross"][n] / FF_FIG7B["within"][n]) for n in both],
            "across zones", "cross-zone loss (from its two curves)", panel=1)
    for option, (join, latency) in ((None, (JOIN, False)), ("join=nccl", ("nccl", False))):
        pts = sorted((r["gpus"], r["loss_vs_within_pct"]) for r in rows
                     if r["zones"] == "cross" and r["join"] == join
                     and r["latency"] == latency and r.get("loss_vs_within_pct") is not None)
        if pts:
            p.netemu(*zip(*pts), "across zones", f"cross-zone loss (join={JOIN})"
                     if option is None else "cross-zone loss", panel=1, option=option)
    moved = [abs(got[k] / got[k[:3] + (False,)] - 1) for k in got
             if k[3] and k[:3] + (False,) in got]
    if moved:
        p.note(f"With every link's latency (HDR switches, 30 m cables) no point moves by more "
               f"than {100 * max(moved):.2f}% (CSV rows latency=True); not drawn.")
    p.save(path)
