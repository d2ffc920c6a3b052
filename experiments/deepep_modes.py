"""DeepEP's two kernel modes on the DeepSeek-V3 cluster (MPFT), EP 8 to 256.

DeepEP ([DeepEP-legacy]; [ISCA] §4.2, §4.4.1) has two sets of kernels:

``normal``
    Training and prefill: NVLink forwarding plus RDMA.  A token crosses the fabric once per
    target node (to the GPU of its own plane there) and NVLink forwards it to the experts;
    node-limited routing keeps every token on at most ``min(nodes, 4)`` nodes.  DeepEP's
    benchmark setting: 4,096 tokens, hidden 7,168, top-8 of 256 experts in top-4 groups,
    FP8 dispatch, BF16 combine.
``low-latency``
    Decoding: pure RDMA, one message per token per expert (no deduplication, no
    forwarding), batches of 128 tokens, hidden 7,168, top-8, FP8 dispatch (with scales and
    a 16-byte header per message), BF16 combine.  On the MPFT a GPU reaches another plane
    only through a GPU of that plane in its own node ([ISCA] Fig. 3 caption), so netemu
    routes those messages with PXN; messages between GPUs of one node go over NVLink (at
    EP 8 every message does).

Both are :func:`netemu.collectives.moe.deepep` on the 2,048-GPU cluster, timed by the flow
model: each stage lasts until its last byte lands (max-min fair sharing of NICs, NVLink and
the fabric), plus the latency of its slowest path from :mod:`netemu.topologies.latency`
(switches and cables on the path, and the catalogue's endpoint overhead of the transport,
``ENDPOINT_OVERHEAD['ib']`` for a multi-node job, ``['nvlink']`` inside one node).  That
endpoint figure is the host side of a CPU-posted 64 B transfer; DeepEP's kernels post from
the GPU (IBGDA, [ISCA] §5.2.3), so it is an upper figure for them, a few microseconds
against kernel times of 40 us and more.  No constant is fitted.

Rates: two named options, both from [ISCA] §4.3 and the hardware catalogue:

``nominal``
    NIC at the CX7's 400 Gb/s line rate (50 GB/s), NVLink 200 GB/s per direction.
``achievable``
    What [ISCA] §4.3 states the hardware achieves: 40 GB/s effective per NIC ("small
    messages + latency") and about 160 GB/s of NVLink.

Each point reports the kernel time, its latency part, DeepEP's bandwidth metric (the logical
bytes its test scripts count, :mod:`netemu.collectives.moe`) and the physical per-GPU bytes.
DeepEP's published low-latency table (V1 on H800 + CX7, [DeepEP-legacy]) is compared as
predictions: netemu computes its side from the hardware facts above.  Normal-mode
comparisons are in :mod:`netemu.experiments.deepep_mpft` (ISCA Fig. 7).
"""

import functools

from netemu.experiments.published import DEEPEP_LOW_LATENCY
from netemu.experiments.support import GB, compare_row, write_rows

NAME = "deepep_modes"
TITLE = "DeepEP normal and low-latency kernels on MPFT, EP 8-256"
MODES = ("normal", "low-latency")
EP = (8, 16, 32, 64, 128, 256)
RATES = ("nominal", "achievable")
STAGES = ("dispatch", "combine")
LABEL = "DeepEP low-latency"
#: No band is set for this table; netemu's choice: the ±20% issue 15 sets for DeepEP's
#: metric in ISCA Fig. 7, the same kernels' library on the same hardware generation.
TOLERANCE = 0.20


def rates(name):
    """``(NIC bytes/s, NVLink bytes/s per direction)`` of a rates option (see the module notes)."""
    from netemu.errors import ParameterError
    from netemu.topologies.hardware import CX7_400G, H800_SXM
    table = {"nominal": (CX7_400G.bandwidth, H800_SXM.nvlink_unidirectional),
             "achievable": (H800_SXM.nic_effective, H800_SXM.nvlink_achievable)}
    if name not in table:
        raise ParameterError(f"rates must be one of {tuple(table)}, got {name!r}")
    return table[name]


@functools.lru_cache(maxsize=2)
def deepep_cluster(rates_name="nominal"):
    """The 2,048-GPU MPFT cluster with ``rates_name``'s NIC and NVLink rates and catalogue latencies.

    Built once per process and per option (a new graph: the shared preset is left as it is),
    and frozen (:func:`networkx.freeze`): copy it to change it.
    """
    import networkx as nx

    from netemu.graph import SWITCH_ROLES
    from netemu.topologies.clusters import cluster
    from netemu.topologies.hardware import H800_SXM, IB_NDR_64
    from netemu.topologies.latency import annotate
    from netemu.topologies.planes import multi_plane_fat_tree
    from netemu.topologies.presets import DEEPSEEK_V3_GPUS
    from netemu.topologies.servers import h800_server
    nic, nvlink = rates(rates_name)
    fabric = multi_plane_fat_tree(H800_SXM.nics_per_server, IB_NDR_64.ports,
                                  servers=DEEPSEEK_V3_GPUS // H800_SXM.gpus_per_server,
                                  link_bandwidth=IB_NDR_64.port_bandwidth)
    G = cluster(fabric, h800_server, nvlink_bandwidth=nvlink)
    for u, v, d in G.edges(data=True):
        roles = {G.nodes[u].get("role"), G.nodes[v].get("role")}
        if "nic" in roles and roles & SWITCH_ROLES:
            # The NIC's port: its rate is the option's NIC rate (the fabric's cable is faster).
            d["bandwidth"] = nic
    # Frozen once built: the points share it, and the path-model and routing caches trust a
    # frozen graph instead of walking it on every evaluation.
    return nx.freeze(annotate(G))


def endpoint_overhead(gpus):
    """Seconds of the endpoint figure of the job's transport ([ISCA] H800 nodes: 8 GPUs each)."""
    from netemu.topologies.hardware import H800_SXM
    from netemu.topologies.latency import ENDPOINT_OVERHEAD
    kind = "ib" if gpus > H800_SXM.gpus_per_server else "nvlink"
    return ENDPOINT_OVERHEAD[kind].seconds


def run_mode(mode, gpus, rates_name, **settings):
    """Rows (one per stage) of DeepEP ``mode`` on ``gpus`` GPUs of the ``rates_name`` cluster."""
    from netemu.collectives.moe import deepep
    r = deepep(deepep_cluster(rates_name), gpus, mode, overhead=endpoint_overhead(gpus),
               **settings)
    i = r.info
    out = []
    for st, s in zip(STAGES, r.stages):
        out.append({"mode": mode, "gpus": gpus, "rates": rates_name, "stage": st,
                    "topk_groups": i["topk_groups"] or "",
                    "time_us": s["time"] * 1e6, "latency_us": s["alpha"] * 1e6,
                    "bandwidth_time_us": s["beta"] * 1e6,
                    "deepep_GBps": float(i[f"{st}_deepep_rdma_bw"]) / GB,
                    "deepep_nvl_GBps": (float(i[f"{st}_deepep_nvl_bw"]) / GB
                                        if f"{st}_deepep_nvl_bw" in i else ""),
                    "network_GBps_per_gpu": i[f"{st}_rdma_bw"] / GB,
                    "nvlink_GBps_per_gpu": i[f"{st}_nvlink_bw"] / GB})
    return out


def points():
    """One point per kernel mode and EP size; it runs both rate options."""
    return [{"mode": m, "gpus": n} for m in MODES for n in EP]


def run_point(point):
    """Both rate options of one mode and EP size, in one process: the achievable rates are
    the nominal ones times 0.8 on every NIC and NVLink link, so where those are all that
    can bind (the fabric's cables are dominated), the flow model's answer is the nominal
    one scaled, and :func:`netemu.flow.scaled_reuse` takes it from there instead of
    simulating the same events again (exact; a fabric link that can bind makes it
    simulate)."""
    from netemu.flow import scaled_reuse
    with scaled_reuse():
        return [row for q in RATES for row in run_mode(point["mode"], point["gpus"], q)]


def _order(row):
    """The table's row order: rate option, mode, EP size, stage."""
    return (RATES.index(row["rates"]), MODES.index(row["mode"]), EP.index(row["gpus"]),
            STAGES.index(row["stage"]))


def report(rows, out_dir):
    rows = sorted(rows, key=_order)
    write_rows(out_dir, NAME, rows)
    _plot(rows, out_dir)
    got = {(r["mode"], r["gpus"], r["rates"], r["stage"]): r for r in rows}
    out = []
    for q in RATES:
        for k, st in enumerate(STAGES):
            for n in EP:
                r = got.get(("low-latency", n, q, st))
                if r is None:
                    continue
                pub = DEEPEP_LOW_LATENCY[n]
                note = f"DeepEP V1 low-latency table; {q} rates"
                out.append(compare_row(f"low-latency EP{n}", f"{st} time us ({q})", pub[2 * k],
                                       r["time_us"], kind="prediction", note=note))
                out.append(compare_row(f"low-latency EP{n}", f"{st} DeepEP GB/s ({q})",
                                       pub[2 * k + 1], r["deepep_GBps"], kind="prediction",
                                       note=note))
    return out


def _plot(rows, out_dir):
    """Kernel time and DeepEP's bandwidth metric by EP size: the published low-latency table
    beside netemu's low-latency kernels (one colour per stage), the normal kernels (nothing
    published) beside them, both rate options, the error per point underneath."""
    from netemu.experiments.figures import Plot

    p = Plot(TITLE, ["kernel time", "DeepEP bandwidth metric"], logx=True, xticks=EP,
             xlabel="EP size (GPUs)", ylabel=["kernel time (µs, log)", "DeepEP metric (GB/s)"],
             width=5.4, height=3.8)
    p.logy(0)
    for panel, key in enumerate(("time_us", "deepep_GBps")):
        for k, st in enumerate(STAGES):
            published = [DEEPEP_LOW_LATENCY[n][2 * k + panel] for n in EP]
            p.paper(EP, published, f"low-latency {st}", f"DeepEP V1 low-latency {st}",
                    panel=panel)
            for mode in ("low-latency", "normal"):
                for q in RATES:
                    pts = sorted((r["gpus"], r[key]) for r in rows if r["mode"] == mode
                                 and r["rates"] == q and r["stage"] == st)
                    if not pts:
                        continue
                    ns, ours = zip(*pts)
                    option = None if q == RATES[0] else f"{q} rates"
                    label = f"{mode} {st}" + (f" ({q} rates)" if option is None else "")
                    p.netemu(ns, ours, f"{mode} {st}", label, panel=panel, option=option,
                             only=mode != "low-latency")
                    if mode == "low-latency":
                        p.error(ns, ours, [DEEPEP_LOW_LATENCY[n][2 * k + panel] for n in ns],
                                f"{mode} {st}", panel=panel, option=option)
        p.band(TOLERANCE, panel=panel)
    p.save(f"{out_dir}/{NAME}.png")
