"""ISCA Table 3 and Fire-Flyer Table III: size and cost of the papers' networks.

Builds every preset with netemu's generators, counts endpoints, switches and
switch-to-switch links, prices them with :mod:`topologies.cost`, and sets the
result beside the published tables.  Fire-Flyer's prices are in unstated
units, so they are compared as ratios to the Fire-Flyer 2 network.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from netemu.experiments.common import relative_error  # noqa: E402
from netemu.experiments.published import FF_TABLE3, ISCA_TABLE3  # noqa: E402
from netemu.experiments.support import write_rows  # noqa: E402
from netemu.plot import save_figure  # noqa: E402
from netemu.topologies.presets import preset  # noqa: E402
from netemu.topologies.summary import summary  # noqa: E402

NAME = "topology_cost"
TITLE = "ISCA Table 3 / Fire-Flyer Table III: network size and cost"


def points():
    """One point per network of the two tables (the tables name the presets)."""
    return [{"preset": name} for name in list(ISCA_TABLE3) + list(FF_TABLE3)]


def run_point(point):
    """netemu's counts and cost of one preset."""
    return [{"preset": point["preset"], **summary(preset(point["preset"]))}]


def compare(measured):
    rows = []
    for name, paper in ISCA_TABLE3.items():
        s = measured[name]
        for metric, ours in (("endpoints", s["endpoints"]), ("switches", s["switches"]),
                             ("links", s["links"]), ("cost_musd", s["cost_usd"] / 1e6)):
            rows.append(dict(table="ISCA Table 3", point=name, metric=metric, paper=paper[metric],
                             netemu=ours, error=relative_error(ours, paper[metric])))
        rows.append(dict(table="ISCA Table 3", point=name, metric="cost_per_endpoint_kusd",
                         paper=paper["cost_musd"] * 1e3 / paper["endpoints"],
                         netemu=s["cost_per_endpoint_usd"] / 1e3,
                         error=relative_error(s["cost_per_endpoint_usd"] / 1e3,
                                              paper["cost_musd"] * 1e3 / paper["endpoints"])))
    base_paper = FF_TABLE3["fire-flyer-2"]["network_price"]
    base_ours = measured["fire-flyer-2"]["cost_usd"]
    for name, paper in FF_TABLE3.items():
        s = measured[name]
        rows.append(dict(table="FF Table III", point=name, metric="switches", paper=paper["switches"],
                         netemu=s["switches"], error=relative_error(s["switches"], paper["switches"])))
        ratio_paper = paper["network_price"] / base_paper
        ratio_ours = s["cost_usd"] / base_ours
        rows.append(dict(table="FF Table III", point=name, metric="price_vs_ff2", paper=ratio_paper,
                         netemu=ratio_ours, error=relative_error(ratio_ours, ratio_paper)))
    return rows


def plot(rows, path):
    isca = [r for r in rows if r["table"] == "ISCA Table 3" and r["metric"] == "cost_musd"]
    ff = [r for r in rows if r["table"] == "FF Table III" and r["metric"] == "price_vs_ff2"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [5, 3]})
    for ax, data, ylabel, title in (
            (a, isca, "network cost (M$, log scale)", "ISCA Table 3: cost by topology"),
            (b, ff, "network price relative to Fire-Flyer 2", "Fire-Flyer Table III")):
        x = range(len(data))
        ax.bar([i - 0.2 for i in x], [r["paper"] for r in data], 0.4, label="paper", color="#999999")
        ax.bar([i + 0.2 for i in x], [r["netemu"] for r in data], 0.4, label="netemu", color="#2b83ba")
        ax.set_xticks(list(x), [r["point"] for r in data], rotation=20)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
    a.set_yscale("log")
    save_figure(fig, path)


def report(rows, out_dir):
    """Write out_dir/topology_cost.csv and .png; return the comparison rows."""
    out = compare({r["preset"]: r for r in rows})
    write_rows(out_dir, NAME, out)
    plot(out, Path(out_dir) / f"{NAME}.png")
    return out
