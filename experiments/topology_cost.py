"""ISCA Table 3 and Fire-Flyer Table III: size and cost of the papers' networks.

Builds every preset with netemu's generators, counts endpoints, switches and
switch-to-switch links, prices them with :mod:`topologies.cost`, and sets the
result beside the published tables.  Fire-Flyer's prices are in unstated
units, so they are compared as ratios to the Fire-Flyer 2 network.

Kinds of row: the counts follow from each preset's radix arithmetic and the
structure the papers state (the papers' own inputs), so they are **checks**; the
costs and price ratios come from netemu's cost model (switch and cable price fits,
physical layout), so they are **predictions**.

Fire-Flyer Table III's server and total prices: netemu has no server price model
(no sourced server prices are in the catalogue), so the server prices are the
paper's own; a total is the paper's server price plus netemu's network price in
the paper's units (netemu's price ratio times the paper's Fire-Flyer 2 network
price, the unit of the table).  Servers are 97 % of every total, so the total rows
follow from the paper's inputs: **checks**, shown beside the network price.
"""

from pathlib import Path

from netemu.experiments.common import relative_error
from netemu.experiments.published import FF_TABLE3, FF_TABLE3_PRICES, ISCA_TABLE3
from netemu.experiments.support import fabric, write_rows
from netemu.topologies.summary import summary

NAME = "topology_cost"
TITLE = "ISCA Table 3 / Fire-Flyer Table III: network size and cost"


def points():
    """One point per network of the two tables (the tables name the presets)."""
    return [{"preset": name} for name in list(ISCA_TABLE3) + list(FF_TABLE3)]


def run_point(point):
    """netemu's counts and cost of one preset."""
    # The sensitivity experiment prices most of these presets again: one frozen build each.
    return [{"preset": point["preset"], **summary(fabric(point["preset"]))}]


def compare(measured):
    rows = []
    for name, paper in ISCA_TABLE3.items():
        s = measured[name]
        for metric, ours in (("endpoints", s["endpoints"]), ("switches", s["switches"]),
                             ("links", s["links"]), ("cost_musd", s["cost_usd"] / 1e6)):
            rows.append(dict(table="ISCA Table 3", point=name, metric=metric, paper=paper[metric],
                             netemu=ours, error=relative_error(ours, paper[metric]),
                             kind="prediction" if metric == "cost_musd" else "check"))
        rows.append(dict(table="ISCA Table 3", point=name, metric="cost_per_endpoint_kusd",
                         paper=paper["cost_musd"] * 1e3 / paper["endpoints"],
                         netemu=s["cost_per_endpoint_usd"] / 1e3,
                         error=relative_error(s["cost_per_endpoint_usd"] / 1e3,
                                              paper["cost_musd"] * 1e3 / paper["endpoints"]),
                         kind="prediction"))
    base_paper = FF_TABLE3["fire-flyer-2"]["network_price"]
    base_ours = measured["fire-flyer-2"]["cost_usd"]
    for name, paper in FF_TABLE3.items():
        s = measured[name]
        rows.append(dict(table="FF Table III", point=name, metric="switches", paper=paper["switches"],
                         netemu=s["switches"], error=relative_error(s["switches"], paper["switches"]),
                         kind="check"))
        ratio_paper = paper["network_price"] / base_paper
        ratio_ours = s["cost_usd"] / base_ours
        rows.append(dict(table="FF Table III", point=name, metric="price_vs_ff2", paper=ratio_paper,
                         netemu=ratio_ours, error=relative_error(ratio_ours, ratio_paper),
                         # Fire-Flyer 2 against itself is 1 by construction.
                         kind="check" if name == "fire-flyer-2" else "prediction"))
    rows += table3_totals(measured)
    return rows


def table3_totals(measured):
    """[FF] Table III's server and total prices beside netemu's network price (checks).

    In the table's units: netemu's network price is its price ratio to Fire-Flyer 2
    times the paper's Fire-Flyer 2 network price; servers are the paper's prices.
    """
    unit = FF_TABLE3["fire-flyer-2"]["network_price"] / measured["fire-flyer-2"]["cost_usd"]
    totals, rows = {}, []
    for name, paper in FF_TABLE3_PRICES.items():
        network = measured[name]["cost_usd"] * unit
        server = paper["server_price"]
        totals[name] = (paper["total_price"], server + network)
        for metric, p, ours in (
                ("server_price", server, server),
                ("total_price", paper["total_price"], server + network),
                ("network_share_of_total", FF_TABLE3[name]["network_price"] / paper["total_price"],
                 network / (server + network))):
            rows.append(dict(table="FF Table III", point=name, metric=metric, paper=p, netemu=ours,
                             error=relative_error(ours, p), kind="check",
                             note="servers: the paper's own prices"))
    base_paper, base_ours = totals["fire-flyer-2"]
    for name, (p, ours) in totals.items():
        rows.append(dict(table="FF Table III", point=name, metric="total_vs_ff2", paper=p / base_paper,
                         netemu=ours / base_ours, error=relative_error(ours / base_ours, p / base_paper),
                         kind="check", note="servers: the paper's own prices"))
    return rows


def plot(rows, path):
    """ISCA Table 3's cost and Fire-Flyer Table III's price ratios: the paper's values as open
    markers, netemu's filled, one colour per table, the error per point underneath; rows that
    follow from the paper's own inputs drawn as checks."""
    from netemu.experiments.figures import Plot

    def pick(table, metric):
        return [r for r in rows if r["table"] == table and r["metric"] == metric]

    isca, ff = pick("ISCA Table 3", "cost_musd"), pick("FF Table III", "price_vs_ff2")
    total = pick("FF Table III", "total_vs_ff2")
    panels = [(isca, "ISCA Table 3: network cost", "network cost (M$, log)", "ISCA cost"),
              (ff, "FF Table III: network price", "network price / Fire-Flyer 2's", "FF network"),
              (total, "FF Table III: total price (check)",
               "total price / Fire-Flyer 2's\n(servers: the paper's own prices)", "FF total")]
    panels = [x for x in panels if x[0]]
    p = Plot(TITLE, [t for _, t, _, _ in panels],
             error=[any(r.get("kind") == "prediction" for r in d) for d, _, _, _ in panels],
             categories=[[r["point"] for r in d] for d, _, _, _ in panels],
             ylabel=[y for _, _, y, _ in panels], width=4.6, height=3.8,
             width_ratios=[max(len(d), 2) for d, _, _, _ in panels], rotate=25)
    for k, (data, _, _, group) in enumerate(panels):
        pred = [r for r in data if r.get("kind") != "check"]
        chk = [r for r in data if r.get("kind") == "check"]
        if pred:
            p.paper([r["point"] for r in pred], [r["paper"] for r in pred], group, group,
                    panel=k)
            p.error([r["point"] for r in pred], [r["netemu"] for r in pred],
                    [r["paper"] for r in pred], group, panel=k, line=False)
        if chk:
            p.check([r["point"] for r in chk], [r["paper"] for r in chk], group, group,
                    panel=k)
        p.netemu([r["point"] for r in data], [r["netemu"] for r in data], group, group,
                 panel=k, line=False)
        for ax in (p.main[k], p.err[k]):
            if ax is not None:
                for t in ax.get_xticklabels():
                    t.set_rotation(25)
                    t.set_ha("right")
    if panels and panels[0][0] is isca:
        p.logy(0)
    p.save(path)


def report(rows, out_dir):
    """Write out_dir/topology_cost.csv and .png; return the comparison rows."""
    out = compare({r["preset"]: r for r in rows})
    write_rows(out_dir, NAME, out)
    plot(out, Path(out_dir) / f"{NAME}.png")
    return out
