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

import random
import sys
from pathlib import Path

import numpy as np

NAME = "failure_resilience"
#: Random switch-to-switch links failed per point.
FAILED_LINKS = (0, 1, 2, 4, 8, 16)
SEEDS = tuple(range(5))
#: Bytes per flow of the all-to-all.
FLOW_BYTES = 2**20


def fabrics():
    """The three fabrics, 128 endpoints each, built once."""
    from topologies.fat_tree import three_layer_fat_tree
    from topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree

    return {
        "MPFT": multi_plane_fat_tree(4, 8, servers=32),
        "MRFT": multi_rail_fat_tree(4, 16, servers=32),
        "FT3": three_layer_fat_tree(pods=4, leaves_per_pod=4, spines_per_pod=8,
                                    hosts_per_leaf=8, radix=16),
    }


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


def measure():
    from netemu.traffic import all_to_all

    rows = []
    for name, G in fabrics().items():
        t = all_to_all(G, size=FLOW_BYTES)
        has_planes = any(p is not None for _, p in G.nodes(data="plane")) and name == "MPFT"
        points = [("links", k, s) for k in FAILED_LINKS for s in (SEEDS if k else SEEDS[:1])]
        points += [("spine", 1, s) for s in SEEDS]
        if has_planes:
            points += [("plane", 1, s) for s in SEEDS]
        for scenario, amount, seed in points:
            rows.append({"fabric": name, **measure_point(G, t, scenario, amount, seed)})
    intact = {r["fabric"]: r["throughput_GBps"] for r in rows
              if r["scenario"] == "links" and r["failed"] == 0}
    for r in rows:
        r["relative"] = r["throughput_GBps"] / intact[r["fabric"]]
    return rows


def spread(rows, fabric, scenario, amount):
    """(mean, min, max) of the relative throughput over seeds."""
    v = np.array([r["relative"] for r in rows
                  if (r["fabric"], r["scenario"], r["failed"]) == (fabric, scenario, amount)])
    return float(v.mean()), float(v.min()), float(v.max())


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netemu.plot import save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    names = list(dict.fromkeys(r["fabric"] for r in rows))
    for name, style in zip(names, ("-o", "--s", ":^")):
        m, lo, hi = zip(*(spread(rows, name, "links", k) for k in FAILED_LINKS))
        line, = a.plot(FAILED_LINKS, m, style, label=name)
        a.fill_between(FAILED_LINKS, lo, hi, color=line.get_color(), alpha=0.2)
    a.set_xlabel("failed switch-to-switch links (random)")
    a.set_ylabel("all-to-all throughput / intact")
    a.set_title("random link failures (mean, min-max over seeds)")
    a.grid(True, alpha=0.3)
    a.legend()
    bars = [(n, s) for n in names for s in ("spine", "plane")
            if any(r["fabric"] == n and r["scenario"] == s for r in rows)]
    stats = [spread(rows, n, s, 1) for n, s in bars]
    x = range(len(bars))
    b.bar(x, [m for m, _, _ in stats], color="#2b83ba",
          yerr=[[max(0.0, m - lo) for m, lo, _ in stats],      # max: float round-off
                [max(0.0, hi - m) for m, _, hi in stats]], capsize=4)
    b.set_xticks(list(x), [f"{n}\none {s}" for n, s in bars])
    b.set_ylabel("all-to-all throughput / intact")
    b.set_title("one failed spine / plane")
    b.set_ylim(0, 1.05)
    save_figure(fig, path)


def run(out_dir="results"):
    """Measure, write ``out_dir/failure_resilience.csv`` and ``.png``; return the rows."""
    from experiments.support import write_rows

    rows = measure()
    write_rows(out_dir, NAME, rows)
    plot(rows, Path(out_dir) / f"{NAME}.png")
    print(f"\nall-to-all throughput under failures (relative to intact; mean [min, max])")
    for name in dict.fromkeys(r["fabric"] for r in rows):
        parts = []
        for scenario, amount in [("links", k) for k in FAILED_LINKS[1:]] + [("spine", 1), ("plane", 1)]:
            if any((r["fabric"], r["scenario"]) == (name, scenario) for r in rows):
                m, lo, hi = spread(rows, name, scenario, amount)
                label = f"{amount} links" if scenario == "links" else f"1 {scenario}"
                parts.append(f"{label} {m:.3f} [{lo:.3f}, {hi:.3f}]")
        print(f"  {name:<5} " + "; ".join(parts))
    return rows


def main():
    from experiments.common import RESULTS
    return run(RESULTS)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
