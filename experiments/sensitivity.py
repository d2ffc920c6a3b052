"""Unpublished choices, visible: how far netemu's results move across their plausible range.

Two inputs that no source fixes, each swept one at a time around netemu's default:

``chunk``: HFReduce's pipeline chunk
    [FF] §IV does not publish it; netemu takes NCCL's 4 MiB staging buffer
    (:data:`collectives.software.HFREDUCE_CHUNK`).  A pipelined tree pays
    ``(H - 1)`` chunks of fill on a chain of ``H`` hops, so the chunk sets how fast
    HFReduce falls off with scale.  Swept from 512 KiB to 16 MiB (plausible: a
    few hundred KiB, the size GDRCopy paths favour, to a few tens of MiB, past
    which the fill outweighs a 186 MiB message) for Fig. 7a's HFReduce and Fig.
    7b's NVLink variant within a zone, on the same calibrated cluster as those
    experiments.  netemu's HFReduce stage charges nothing per chunk (no per-message
    RDMA, synchronisation or copy-launch cost is modelled), so the sweep shows the
    fill side only: smaller is always faster here, which real hardware bounds.
``layout``: the cost model's physical layout (:class:`topologies.cost.Layout`)
    Rack width, row pitch, cable slack (``overhead_m``), intra-rack cable length,
    switches per rack, the electric/optical threshold (``copper_reach_m``) and the
    packing are all ASSUMPTIONS.  Each is swept over a plausible range; the costs of
    the networks of [ISCA] Table 3 (the dragonfly left out: one pricing takes about
    half a minute) and [FF] Table III, and the Table III price ratios to Fire-Flyer 2
    (the compared metric), are recorded.

Files: ``sensitivity_chunk.csv/.png``, ``sensitivity_layout.csv/.png`` (every
point), ``sensitivity.csv/.png`` (the spread: for each input and result, the
smallest and largest value over the range and ``(max - min) / default``).  No row
is compared with a paper: ``report`` returns no comparison rows.
"""

from netemu.experiments.support import GB, write_rows
from netemu.units import KiB, MiB

NAME = "sensitivity"
TITLE = "Sensitivity of netemu's results to its unpublished choices"

SIZE = 186 * MiB          # [FF] Fig. 7's message
CHUNKS = tuple(int(512 * KiB * 2 ** i) for i in range(6))          # 512 KiB ... 16 MiB
CHUNK_CASES = (("hfreduce", (16, 128, 1024, 1440)), ("hfreduce-nvlink", (16, 128, 1024)))

#: Plausible ranges of the layout's assumptions (defaults in topologies.cost.Layout).
LAYOUT_RANGES = {
    "rack_width_m": (0.6, 0.7, 0.8),          # 600 mm standard to 800 mm network racks
    "row_pitch_m": (1.8, 2.4, 3.0, 3.6),      # 1.0-1.2 m deep racks + 0.8-2.4 m aisles
    "overhead_m": (0.0, 1.0, 2.0, 3.0, 5.0),  # cable slack up and down both racks
    "intra_rack_m": (0.5, 1.0, 2.0),
    "switches_per_rack": (8, 16, 32),
    "copper_reach_m": (0.0, 2.0, 3.0, 5.0),   # electric/optical threshold
    "packing": ("tor", "group"),
}
COST_PRESETS = ("isca-ft2", "isca-mpft", "isca-ft3", "isca-slimfly",
                "fire-flyer-2", "ff-pcie-3layer", "ff-dgx-3layer")
RATIOS = ("ff-pcie-3layer", "ff-dgx-3layer")


def points():
    chunk = [{"study": "chunk", "algorithm": a, "gpus": n, "chunk": c}
             for a, gpus in CHUNK_CASES for n in gpus for c in CHUNKS]
    layout = [{"study": "layout", "param": p, "value": v}
              for p, values in LAYOUT_RANGES.items() for v in values]
    return chunk + layout


def _fabric(name):
    from netemu.experiments.support import fabric
    # Frozen and built once per process (shared with topology_cost): every layout point
    # prices the same graph, and topologies.cost keeps what it reads from a frozen graph
    # (rack keys, cables) instead of walking it again per layout.
    return fabric(name)


def _chunk_point(point):
    from netemu.collectives import evaluate, path_model
    from netemu.collectives.hfreduce import hfreduce, hfreduce_nvlink
    from netemu.collectives.ranks import pick_ranks
    from netemu.experiments.hfreduce_vs_nccl import ff_cluster
    G = ff_cluster()
    build = hfreduce if point["algorithm"] == "hfreduce" else hfreduce_nvlink
    w = build(path_model(G), pick_ranks(G, point["gpus"]), SIZE, chunk=point["chunk"])
    r = evaluate(G, w)
    return [{**point, "chunk_MiB": point["chunk"] / MiB, "algbw_GBps": r.algbw / GB,
             "rate_GBps": r.stages[0]["rate"] / GB, "chain_hops": r.stages[0]["hops"]}]


def _layout_point(point):
    from dataclasses import replace

    from netemu.topologies.cost import DEFAULT_LAYOUT, cost
    layout = replace(DEFAULT_LAYOUT, **{point["param"]: point["value"]})
    row = dict(point)
    for name in COST_PRESETS:
        row[f"{name}_musd"] = cost(_fabric(name), layout=layout)["total_usd"] / 1e6
    for name in RATIOS:
        row[f"{name}_vs_ff2"] = row[f"{name}_musd"] / row["fire-flyer-2_musd"]
    return [row]


def run_point(point):
    return _chunk_point(point) if point["study"] == "chunk" else _layout_point(point)


def _default_chunk():
    from netemu.collectives.software import HFREDUCE_CHUNK
    return HFREDUCE_CHUNK


def spread(rows):
    """Per input and result: min, max, the default's value and (max - min) / default."""
    from netemu.topologies.cost import DEFAULT_LAYOUT
    out = []
    chunk = [r for r in rows if r["study"] == "chunk"]
    for a, gpus in CHUNK_CASES:
        for n in gpus:
            vals = {r["chunk"]: r["algbw_GBps"] for r in chunk
                    if r["algorithm"] == a and r["gpus"] == n}
            out.append(_spread("HFReduce chunk", f"{a} algbw GB/s at {n} GPUs", vals,
                               _default_chunk(), lambda c: f"{c / MiB:g} MiB"))
    layout = [r for r in rows if r["study"] == "layout"]
    metrics = [f"{n}_musd" for n in COST_PRESETS] + [f"{n}_vs_ff2" for n in RATIOS]
    for p in LAYOUT_RANGES:
        for m in metrics:
            vals = {r["value"]: r[m] for r in layout if r["param"] == p}
            out.append(_spread(f"layout {p}", m, vals, getattr(DEFAULT_LAYOUT, p), str))
    return out


def _spread(choice, result, vals, default, fmt):
    lo, hi = min(vals, key=vals.get), max(vals, key=vals.get)
    base = vals[default]
    return {"choice": choice, "result": result, "default": fmt(default), "at_default": base,
            "min": vals[lo], "at": fmt(lo), "max": vals[hi], "at_max": fmt(hi),
            "spread_pct": 100 * (vals[hi] - vals[lo]) / base}


def _plots(rows, spreads, out_dir):
    """Three figures of netemu's own choices (nothing published: labelled so): HFReduce's
    algbw by chunk, each network's cost by layout assumption (relative to the default), and
    the largest spread of each choice."""
    from netemu.experiments.figures import Plot

    chunks = sorted({r["chunk"] for r in rows if r["study"] == "chunk"})
    p = Plot("HFReduce's unpublished chunk size (sensitivity)", error=False, logx=True,
             xticks=[c / MiB for c in chunks], xlabel="HFReduce chunk (MiB)",
             ylabel="allreduce algbw, 186 MiB (GB/s)", width=6.5, height=4.0)
    for a, gpus in CHUNK_CASES:
        for n in gpus:
            pts = sorted((r["chunk"], r["algbw_GBps"]) for r in rows if r["study"] == "chunk"
                         and r["algorithm"] == a and r["gpus"] == n)
            if pts:
                p.netemu([c / MiB for c, _ in pts], [v for _, v in pts], f"{n} GPUs",
                         f"{n} GPUs", option=None if a == "hfreduce" else a, only=True)
    p.reference(_default_chunk() / MiB, "netemu's default chunk (NCCL's 4 MiB buffer)",
                vertical=True)
    p.note("Colour: GPU count; solid: HFReduce (Fig. 7a), other style: with NVLink (Fig. 7b).")
    p.save(f"{out_dir}/{NAME}_chunk.png")

    params = list(LAYOUT_RANGES)
    layout = [r for r in rows if r["study"] == "layout"]
    p = Plot("Network cost by the cost model's layout assumptions (sensitivity)",
             [f"{q} (default {_layout_default(q)})" for q in params], error=False,
             categories=[[str(r["value"]) for r in layout if r["param"] == q] for q in params],
             xlabel="value", ylabel=["cost / cost at the default layout"] + [""] * (len(params) - 1),
             width=2.9, height=3.6)
    for k, q in enumerate(params):
        pts = [r for r in layout if r["param"] == q]
        for name in COST_PRESETS:
            base = next(r for r in pts if r["value"] == _layout_default(q))[f"{name}_musd"]
            p.netemu([str(r["value"]) for r in pts], [r[f"{name}_musd"] / base for r in pts],
                     name, name, panel=k, only=True)
    p.save(f"{out_dir}/{NAME}_layout.png")

    # One bar per choice and kind of result: the largest spread over the cases.
    worst = {}
    for sp in spreads:
        kind = ("HFReduce algbw" if sp["choice"] == "HFReduce chunk" else
                "Table III price ratio" if sp["result"].endswith("_vs_ff2") else "network cost")
        key = (sp["choice"], kind)
        if key not in worst or sp["spread_pct"] > worst[key]["spread_pct"]:
            worst[key] = sp
    keys = list(worst)
    cats = [f"{c}: {k}\n(largest: {worst[c, k]['result']})" for c, k in keys]
    p = Plot(TITLE, error=False, xlabel="(max - min) / value at netemu's default (%), "
             "largest over the cases", width=8.0, height=0.32 * len(keys) + 1.5)
    ax = p.main[0]
    ax._netemu_categories = cats
    ax.set_yticks(range(len(cats)), cats, fontsize=7)
    for kind in ("HFReduce algbw", "network cost", "Table III price ratio"):
        mine = [(c, worst[key]["spread_pct"]) for c, key in zip(cats, keys) if key[1] == kind]
        if mine:
            p.bars([c for c, _ in mine], [v for _, v in mine], kind, f"netemu: {kind}",
                   horizontal=True)
    ax.invert_yaxis()
    p.save(f"{out_dir}/{NAME}.png")


def _layout_default(param):
    from netemu.topologies.cost import DEFAULT_LAYOUT
    return getattr(DEFAULT_LAYOUT, param)


def report(rows, out_dir):
    write_rows(out_dir, f"{NAME}_chunk", [r for r in rows if r["study"] == "chunk"])
    write_rows(out_dir, f"{NAME}_layout", [r for r in rows if r["study"] == "layout"])
    spreads = spread(rows)
    write_rows(out_dir, NAME, spreads)
    _plots(rows, spreads, out_dir)
    return []
