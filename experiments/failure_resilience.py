"""All-to-all throughput under failures: MPFT, MRFT and a three-layer fat-tree (FT3).

Three non-blocking fabrics with 128 endpoints each (the NICs of 32 four-NIC
servers on the multi-plane and multi-rail fat-trees, 128 hosts on the
three-layer tree), every link 50 GB/s.  Each point fails some random
switch-to-switch links (or one random spine, or one plane of the MPFT), solves
an all-to-all of 1 MiB per flow with spray routing and PXN, and records the
throughput: total bytes / makespan.  Points are repeated over seeds; the plot
shows the mean and the min-max spread, relative to the intact fabric.

Pairs a failure disconnects are counted (``disconnected``) and left out of
the throughput, never given a rate of 0.  A netemu-only result: no paper
value is compared.
"""

import functools
import random
from pathlib import Path

import numpy as np

NAME = "failure_resilience"
TITLE = "All-to-all throughput under link, spine and plane failures (netemu only)"
#: Random switch-to-switch links failed per point.
FAILED_LINKS = (0, 1, 2, 4, 8, 16)
SEEDS = tuple(range(5))
#: Bytes per flow of the all-to-all.
FLOW_BYTES = 2**20


#: The three fabrics, 128 endpoints each.
FABRICS = ("MPFT", "MRFT", "FT3")


@functools.lru_cache(maxsize=None)
def fabric(name):
    """One of :data:`FABRICS`, built once per process."""
    from netemu.topologies.fat_tree import three_layer_fat_tree
    from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree

    if name == "MPFT":
        return multi_plane_fat_tree(4, 8, servers=32)
    if name == "MRFT":
        return multi_rail_fat_tree(4, 16, servers=32)
    return three_layer_fat_tree(pods=4, leaves_per_pod=4, spines_per_pod=8,
                                hosts_per_leaf=8, radix=16)


def switch_links(G):
    from netemu.graph import is_switch
    return sorted(((u, v) for u, v in G.edges() if is_switch(G, u) and is_switch(G, v)),
                  key=lambda e: (str(e[0]), str(e[1])))


def measure_point(G, traffic, scenario, amount, seed):
    """One row: fail ``amount`` of ``scenario`` chosen by ``seed``, solve, measure."""
    import netemu
    from netemu.graph import nodes_with_role

    rng = random.Random(seed)
    if scenario == "links":
        H = netemu.fail(G, links=rng.sample(switch_links(G), amount)) if amount else G
    elif scenario == "spine":
        H = netemu.fail(G, switches=[rng.choice(sorted(nodes_with_role(G, "spine")))])
    else:
        planes = sorted({p for _, p in G.nodes(data="plane") if p is not None})
        H = netemu.fail(G, planes=[rng.choice(planes)])
    sol = netemu.solve(H, traffic, "spray", disconnected="report")
    moved = float(traffic.sizes.sum() - FLOW_BYTES * len(sol.disconnected))
    return {"scenario": scenario, "failed": amount, "seed": seed,
            "flows": traffic.n_flows, "disconnected": len(sol.disconnected),
            "makespan_s": sol.makespan, "throughput_GBps": moved / sol.makespan / 1e9,
            "min_rate_GBps": float(sol.rates.min()) / 1e9}


def points():
    """Every (fabric, scenario, amount, seed); the intact fabric once per fabric."""
    out = []
    for name in FABRICS:
        pts = [("links", k, s) for k in FAILED_LINKS for s in (SEEDS if k else SEEDS[:1])]
        pts += [("spine", 1, s) for s in SEEDS]
        if name == "MPFT":
            pts += [("plane", 1, s) for s in SEEDS]
        out += [{"fabric": name, "scenario": sc, "failed": k, "seed": s} for sc, k, s in pts]
    return out


def run_point(point):
    from netemu.traffic import all_to_all

    G = fabric(point["fabric"])
    t = all_to_all(G, size=FLOW_BYTES)
    return [{"fabric": point["fabric"],
             **measure_point(G, t, point["scenario"], point["failed"], point["seed"])}]


def spread(rows, fabric, scenario, amount):
    """(mean, min, max) of the relative throughput over seeds."""
    v = np.array([r["relative"] for r in rows
                  if (r["fabric"], r["scenario"], r["failed"]) == (fabric, scenario, amount)])
    return float(v.mean()), float(v.min()), float(v.max())


def plot(rows, path):
    """Relative throughput under random link failures (mean line, min-max shaded) and under
    one failed spine or plane (mean, min-max bars); netemu only, labelled so."""
    from netemu.experiments.figures import Plot

    names = list(dict.fromkeys(r["fabric"] for r in rows))
    bars = [(n, s) for n in names for s in ("spine", "plane")
            if any(r["fabric"] == n and r["scenario"] == s for r in rows)]
    cats = [f"{n}\n{s}" for n, s in bars]
    p = Plot(TITLE, ["random link failures (mean, min-max over seeds)", "one failed spine / plane"],
             error=False, categories=[None, cats], xticks=FAILED_LINKS,
             xlabel=["failed switch-to-switch links (random)", ""],
             ylabel="all-to-all throughput / intact", width=5.4, height=3.8,
             width_ratios=[3, 2])
    for name in names:
        m, lo, hi = zip(*(spread(rows, name, "links", k) for k in FAILED_LINKS))
        line = p.netemu(FAILED_LINKS, m, name, name, only=True)
        p.main[0].fill_between(FAILED_LINKS, lo, hi, color=line.get_color(), alpha=0.2, lw=0,
                               gid="reference:spread")
    for k, ((n, s), cat) in enumerate(zip(bars, cats)):
        mean, lo, hi = spread(rows, n, s, 1)
        # Coloured as the fabric's line on the left; the legend entry is the line's.
        p.bars([cat], [mean], n, f"_netemu: {n}, one {s}", panel=1)
        p.main[1].errorbar([k], [mean], yerr=[[max(0.0, mean - lo)], [max(0.0, hi - mean)]],
                           fmt="none", ecolor="black", capsize=4, gid="reference:spread")
    p.main[1].set_ylim(0, 1.05)
    p.save(path)


def report(rows, out_dir):
    """CSV and plot; the comparison rows carry netemu's figures only (no paper values)."""
    from netemu.experiments.support import write_rows

    intact = {r["fabric"]: r["throughput_GBps"] for r in rows
              if r["scenario"] == "links" and r["failed"] == 0}
    rows = [{**r, "relative": r["throughput_GBps"] / intact[r["fabric"]]} for r in rows]
    write_rows(out_dir, NAME, rows)
    plot(rows, Path(out_dir) / f"{NAME}.png")
    out = []
    for name in FABRICS:
        cases = [("links", k) for k in FAILED_LINKS[1:]] + [("spine", 1), ("plane", 1)]
        for scenario, amount in cases:
            if any((r["fabric"], r["scenario"]) == (name, scenario) for r in rows):
                m, lo, hi = spread(rows, name, scenario, amount)
                label = f"{amount} link{'s' if amount > 1 else ''}" if scenario == "links" \
                    else f"1 {scenario}"
                out.append({"point": f"{name} {label}",
                            "metric": f"rel. throughput [{lo:.3f}, {hi:.3f}]",
                            "paper": None, "netemu": m, "error": None})
    return out
