"""Every experiment's figure on a small run: it draws the CSV's series, by the conventions.

Each experiment runs a few of its cheapest points (the cuts of ``test_reports.SMALL``, and
here for the experiments reported elsewhere), then ``report(rows, out_dir)`` while
:func:`netemu.experiments.figures.recording` keeps the matplotlib Figures it saves.  The
test reads the series back from the Figures' artists (``Line2D`` data, bar heights, the
``gid = "ROLE:GROUP"`` every series carries) and checks:

- every series the test expects is drawn with the CSV's values: the expectations are
  written here from the CSV the experiment wrote (and, for paper series, from
  ``experiments.published``), each naming its role (``netemu`` default model, ``option``,
  ``only`` = no published points, ``paper``, ``check``, ``error``), so a plot that leaves a
  series out, draws another column or mislabels a no-paper series as a match fails;
- a paper series and netemu's series of the same group share one colour;
- no two netemu lines lie on each other with the same style (the later one would hide the
  earlier);
- every legend label says what it is (``paper:`` / ``netemu:`` / ``check``), and a series
  with nothing published beside it says ``(no published points)``.
"""

import csv
import importlib
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from netemu.experiments import EXPERIMENTS
from netemu.experiments.figures import NO_PAPER, Plot, recording
from tests.experiments.test_reports import SMALL

MiB = 2**20


# --- small runs of the experiments test_reports leaves to other files --------------------------

def _fig7b(m, mp):
    # Within a zone at 16 and 128 GPUs, across zones at 128: where the two curves meet.
    mp.setattr(m, "WITHIN", (16, 128))
    mp.setattr(m, "CROSS", (128,))


def _storage(m, mp):
    # Two ECMP seeds, so that the seeds' mean and their worst differ.
    mp.setattr(m, "STRIPES", (1,))
    mp.setattr(m, "HASH_SEEDS", (0, 1))


def _bounds(m, mp):
    mp.setattr(m, "GPUS", (128,))


def _next_gen(m, mp):
    mp.setattr(m, "SWEEP", (1, 4))


def _latency6(m, mp):
    mp.setattr(m, "ISCA_FIG6_SIZES", (64, 4**5 * 64))


def _modes(m, mp):
    mp.setattr(m, "EP", (8, 16))


def _fig8(m, mp):
    # The first two GPU counts of each figure (the paper's own x values), small batches, the
    # primary and P2P points everywhere and the batch range at the first count.
    mp.setattr(m, "GPUS", {f: g[:2] for f, g in m.GPUS.items()})
    mp.setattr(m, "BATCH", {"8a": 4, "8b": 1})
    mp.setattr(m, "BATCH_RANGE", {"8a": (2, 8), "8b": (1, 2)})
    full = m.points
    mp.setattr(m, "points", lambda: [p for p in full() if p["variant"] in ("primary", "p2p-shared")
                                     or (p["variant"] == "batch" and p["gpus"] == m.GPUS[p["fig"]][0])])


def _roce(m, mp):
    mp.setattr(m, "TP", (2,))
    mp.setattr(m, "HASH_SEEDS", range(2))


CUTS = {**SMALL, "hfreduce_nvlink": _fig7b, "storage_read": _storage, "hfreduce_bounds": _bounds, "fire_flyer_next_gen": _next_gen,
        "node_limited_routing": lambda m, mp: None, "mpft_vs_mrft_latency": _latency6,
        "deepep_modes": _modes, "roce_routing": _roce, "fire_flyer_fig8": _fig8}


# --- reading a Figure back ----------------------------------------------------------------------

def drawn(fig):
    """Every series of ``fig``: dicts of role, group, label, x, y, colour, style, axes."""
    out = []
    for ax in fig.axes:
        cats = hasattr(ax, "_netemu_categories")
        panel = "error" if getattr(ax, "_netemu_error", False) else "main"
        for ln in ax.get_lines():
            gid = ln.get_gid() or ""
            if ":" not in gid or gid.startswith("reference"):
                continue
            role, group = gid.split(":", 1)
            xs = [float(x) for x in ln.get_xdata()]
            out.append({"kind": "line", "role": role, "group": group, "label": ln.get_label(),
                        "x": [round(x) for x in xs] if cats else xs,
                        "y": [float(y) for y in ln.get_ydata()], "colour": ln.get_color(),
                        "style": (str(ln.get_linestyle()), ln.get_marker(), ln.get_linewidth()),
                        "ax": ax, "panel": panel, "artist": ln})
        for c in ax.containers:
            patches = [p for p in getattr(c, "patches", ()) if ":" in (p.get_gid() or "")]
            if not patches:
                continue
            role, group = patches[0].get_gid().split(":", 1)
            horizontal = getattr(c, "orientation", "vertical") == "horizontal"
            pos = [p.get_y() + p.get_height() / 2 if horizontal else p.get_x() + p.get_width() / 2
                   for p in patches]
            val = [p.get_width() if horizontal else p.get_height() for p in patches]
            out.append({"kind": "bar", "role": role, "group": group, "label": c.get_label(),
                        "x": [round(x) for x in pos] if cats else pos, "y": val,
                        "colour": None, "style": None, "ax": ax, "panel": panel,
                        "artist": c})
    return out


def _same(expected, got):
    ex, ey = expected
    if len(ex) != len(got["x"]):
        return False
    pts = sorted(zip(got["x"], got["y"]))
    want = sorted(zip(ex, ey))
    return all(math.isclose(a, c, rel_tol=1e-9, abs_tol=1e-12)
               and math.isclose(b, d, rel_tol=1e-9, abs_tol=1e-12)
               for (a, b), (c, d) in zip(pts, want))


def match(expected, series):
    """``(lost, found)``: expected ``(png, role, xs, ys, what[, curve])`` not drawn (same
    role, panel, x and y), and ``{curve: [drawn series]}`` of those that are."""
    lost, found = [], defaultdict(list)
    for png, role, xs, ys, what, *curve in expected:
        panel = "error" if role == "error" else "main"
        hits = [s for s in series if s["png"] == png and s["role"] == role
                and s["panel"] == panel and _same((xs, ys), s)]
        if not hits:
            lost.append(f"{png}: {role} {what} x={list(xs)} y={list(ys)}")
        elif curve:
            found[png, curve[0]].append(hits[0])
    return lost, found


def missing(expected, series):
    """The expected series not drawn (see :func:`match`)."""
    return match(expected, series)[0]


# --- what each figure must show, from the CSV --------------------------------------------------

def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _f(v):
    return float(v) if v not in ("", None) else None


def _pts(rows, x, y, **where):
    """``(xs, ys)`` of ``rows`` (CSV dicts) matching ``where`` (compared as text)."""
    sel = [r for r in rows if all(r[k] == str(v) for k, v in where.items()) and r[y] != ""]
    sel.sort(key=lambda r: float(r[x]))
    return [float(r[x]) for r in sel], [float(r[y]) for r in sel]


def _err(ours, paper):
    return [100 * (o - p) / p for o, p in zip(ours, paper)]


def expect_topology_cost(m, d, csvs):
    rows, out = csvs["topology_cost"], []
    for metric in ("cost_musd", "price_vs_ff2", "total_vs_ff2"):
        sel = [r for r in rows if r["metric"] == metric]
        idx = list(range(len(sel)))
        out.append(("topology_cost", "netemu", idx, [_f(r["netemu"]) for r in sel], metric,
                    metric))
        for kind, role in (("prediction", "paper"), ("check", "check")):
            k = [(i, r) for i, r in enumerate(sel) if r["kind"] == kind]
            if k:
                out.append(("topology_cost", role, [i for i, _ in k],
                            [_f(r["paper"]) for _, r in k], f"{metric} {kind}", metric))
                if kind == "prediction":
                    out.append(("topology_cost", "error", [i for i, _ in k],
                                _err([_f(r["netemu"]) for _, r in k],
                                     [_f(r["paper"]) for _, r in k]), metric))
    return out


def expect_hfreduce_vs_nccl(m, d, csvs):
    rows, read = csvs["hfreduce_vs_nccl"], csvs["hfreduce_vs_nccl_readings"]
    out = []
    for a in ("hfreduce", "nccl"):
        out.append((m.NAME, "netemu", *_pts(rows, "gpus", "algbw_GBps", algorithm=a), a, a))
        x, paper = _pts(read, "gpus", "paper_GBps", reading="label-order", algorithm=a)
        out.append((m.NAME, "paper", x, paper, f"{a} label-order", a))
        x, err = _pts(read, "gpus", "error", reading="label-order", algorithm=a)
        out.append((m.NAME, "error", x, [100 * e for e in err], a, a))
    out.append((m.NAME, "option", *_pts(rows, "gpus", "rootport_perdir_GBps",
                                        algorithm="hfreduce"), "root port per direction",
                "hfreduce"))
    for key in ("nccl_2.2x_p2p_perdir_GBps", "nccl_2.10_p2p_shared_GBps",
                "nccl_2.2x_p2p_shared_GBps"):
        out.append((m.NAME, "option", *_pts(rows, "gpus", key, algorithm="nccl"), key, "nccl"))
    return out


def expect_hfreduce_nvlink(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for zones in ("within", "cross"):
        x, y = _pts(rows, "gpus", "algbw_GBps", zones=zones, join="roots", latency=False)
        if x:
            out.append((m.NAME, "netemu", x, y, zones, zones))
            pub = m.FF_FIG7B[zones]
            out.append((m.NAME, "paper", list(pub), list(pub.values()), zones, zones))
            out.append((m.NAME, "error", x, _err(y, [pub[int(n)] for n in x]), zones, zones))
    x, y = _pts(rows, "gpus", "algbw_GBps", zones="cross", join="nccl", latency=False)
    if x:
        out.append((m.NAME, "option", x, y, "cross join=nccl", "cross"))
        out.append((m.NAME, "netemu", *_pts(rows, "gpus", "loss_vs_within_pct", zones="cross",
                                            join="roots", latency=False), "loss"))
    return out


def expect_hfreduce_bounds(m, d, csvs):
    rows, out = csvs[m.NAME], []
    idx = list(range(len(rows)))
    for col in ("host_memory_bound_GBps", "NIC_port_bound_GBps", "shared_root_port_bound_GBps",
                "shared_port_both_directions_GBps"):
        out.append((m.NAME, "only", idx, [_f(r[col]) for r in rows], f"bar {col}"))
    for col, role in (("paper_form_practical_GBps", "netemu"), ("netemu_practical_GBps", "option"),
                      ("with_both_direction_port_GBps", "only"), ("even_memory_bound_GBps",
                                                                  "netemu")):
        out.append((m.NAME, role, *_pts(rows, "gpus", col), col))
    out.append((m.NAME, "paper", [m.COMPARE_AT], [m.FF_HFREDUCE_BOUNDS["practical_GBps"]],
                "practical"))
    out.append((m.NAME, "check", [m.COMPARE_AT], [m.FF_HFREDUCE_BOUNDS["theoretical_GBps"]],
                "theoretical"))
    return out


def expect_fire_flyer_next_gen(m, d, csvs):
    rows = csvs[m.NAME]
    idx = list(range(len(rows)))
    return [(m.NAME, "netemu", *_pts(rows, "planes", "endpoints"), "endpoints", "GPUs"),
            (m.NAME, "check", [m.PLANES], [m.FF_NEXT_GEN_GPUS], "32,768 GPUs", "GPUs"),
            (m.NAME, "only", idx, [_f(r["switches_musd"]) for r in rows], "switch cost"),
            (m.NAME, "only", idx, [_f(r["cables_musd"]) for r in rows], "cable cost")]


def expect_mpft_vs_mrft_alltoall(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for n in m.ISCA_FIG5_GPUS:
        per = {}
        for f in ("mpft", "mrft"):
            x, y = _pts(rows, "size_bytes", "algbw_GBps", gpus=n, fabric=f)
            out.append((m.NAME, "only", [s / MiB for s in x], y, f"{f} {n} GPUs"))
            per[f] = dict(zip(x, y))
        xs = sorted(per["mpft"])
        out.append((m.NAME, "netemu", [s / MiB for s in xs],
                    [per["mpft"][s] / per["mrft"][s] for s in xs], f"ratio {n} GPUs"))
    return out


def expect_mpft_vs_mrft_latency(m, d, csvs):
    rows, out, per = csvs[m.NAME], [], {}
    for f in ("mpft", "mrft"):
        x, y = _pts(rows, "size_bytes", "time_us", fabric=f)
        out.append((m.NAME, "only", x, y, f))
        per[f] = dict(zip(x, y))
    xs = sorted(per["mpft"])
    out.append((m.NAME, "netemu", xs, [100 * (per["mpft"][s] / per["mrft"][s] - 1) for s in xs],
                "relative difference"))
    return out


def expect_deepep_mpft(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for k, st in enumerate(m.STAGES):
        out.append((m.NAME, "paper", list(m.GPUS), [m.ISCA_FIG7[n][k] for n in m.GPUS], st, st))
        for q, role in zip(m.RATES, ("netemu", "option")):
            x, y = _pts(rows, "gpus", "deepep_GBps", rates=q, stage=st)
            out.append((m.NAME, role, x, y, f"{st} {q}", st))
            out.append((m.NAME, "error", x, _err(y, [m.ISCA_FIG7[int(n)][k] for n in x]),
                        f"{st} {q}", st))
            out.append((m.NAME, "only", *_pts(rows, "gpus", "network_GBps_per_gpu", rates=q,
                                              stage=st), f"{st} physical {q}"))
    return out


def expect_deepep_modes(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for panel, key in enumerate(("time_us", "deepep_GBps")):
        for k, st in enumerate(m.STAGES):
            pub = [m.DEEPEP_LOW_LATENCY[n][2 * k + panel] for n in m.EP]
            out.append((m.NAME, "paper", list(m.EP), pub, f"{st} {key}", st))
            for mode in m.MODES:
                for q, role in zip(m.RATES, ("netemu", "option")):
                    x, y = _pts(rows, "gpus", key, mode=mode, rates=q, stage=st)
                    out.append((m.NAME, role if mode == "low-latency" else "only", x, y,
                                f"{mode} {st} {q} {key}",
                                st if mode == "low-latency" else f"normal {st}"))
                    if mode == "low-latency":
                        out.append((m.NAME, "error", x, _err(y, [
                            m.DEEPEP_LOW_LATENCY[int(n)][2 * k + panel] for n in x]),
                            f"{st} {q} {key}"))
    return out


def expect_node_limited_routing(m, d, csvs):
    rows = csvs[m.NAME]
    return [(m.NAME, "only", list(range(m.NODES)),
             [float(r[f"share_M{j}"]) for j in range(1, m.NODES + 1)], r["routing"])
            for r in rows]


def expect_inference_speed_limit(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for i, r in enumerate(rows):
        if r["system"] in m.CHECKS:
            out.append((m.NAME, "check", [i], [m.ISCA_INFERENCE[r["system"]]["tpot_ms"]],
                        r["system"], r["system"]))
            out.append((m.NAME, "netemu", [i], [float(r["tpot_ms"])], r["system"], r["system"]))
        elif r["rates"] == "nominal":
            out.append((m.NAME, "paper", [i], [m.ISCA_INFERENCE["scale-out"]["tpot_ms"]],
                        "scale-out", "cluster"))
            out.append((m.NAME, "netemu", [i], [float(r["tpot_ms"])], "cluster nominal",
                        "cluster"))
        else:
            out.append((m.NAME, "only", [i], [float(r["tpot_ms"])], f"cluster {r['rates']}"))
    return out


def expect_storage_read(m, d, csvs):
    rows = csvs[m.NAME]
    hashed = defaultdict(list)
    for r in rows:
        if r["routing"] == "hash":
            hashed[float(r["stripe"])].append(float(r["aggregate_TBps"]))
    xs = sorted(hashed)
    full = float(max(m.STRIPES))
    out = [(m.NAME, "netemu", *_pts(rows, "stripe", "aggregate_TBps", routing="dmodk"), "dmodk",
            "measured"),
           (m.NAME, "netemu", *_pts(rows, "stripe", "aggregate_TBps", routing="spray"), "spray",
            "bound"),
           (m.NAME, "option", xs, [float(np.mean(hashed[x])) for x in xs], "hash mean",
            "measured"),
           (m.NAME, "paper", [full], [m.FF_STORAGE_READ["measured_TBps"]], "measured",
            "measured"),
           (m.NAME, "check", [full], [m.FF_STORAGE_READ["bound_TBps"]], "bound", "bound")]
    if full in hashed:
        out.append((m.NAME, "option", [full], [min(hashed[full])], "hash worst"))
    return out


def expect_latency(m, d, csvs):
    rows = csvs[m.NAME]
    idx = list(range(len(rows)))
    paper = [m.ISCA_TABLE5_US[r["transport"]][r["placement"]] for r in rows]
    total = [float(r["total_us"]) for r in rows]
    rdma = [(i, float(r["total_inline_us"]), p) for i, r, p in zip(idx, rows, paper)
            if r["transport"] != "nvlink"]
    return [(m.NAME, "netemu", idx, [float(r["endpoint_us"]) for r in rows], "host side"),
            (m.NAME, "netemu", idx, [float(r["fabric_us"]) for r in rows], "fabric"),
            (m.NAME, "netemu", idx, total, "total", "total"),
            (m.NAME, "paper", idx, paper, "Table 5", "total"),
            (m.NAME, "error", idx, _err(total, paper), "total", "total"),
            (m.NAME, "option", [i for i, _, _ in rdma], [v for _, v, _ in rdma], "inline",
             "total"),
            (m.NAME, "error", [i for i, _, _ in rdma], _err([v for _, v, _ in rdma],
                                                            [p for _, _, p in rdma]), "inline")]


def expect_roce_routing(m, d, csvs):
    rows, out = csvs[m.NAME], []
    for routing in m.ROUTINGS:
        ys = [float(np.mean([float(r["busbw_mean_GBps"]) for r in rows
                             if r["tp"] == str(tp) and r["routing"] == routing])) for tp in m.TP]
        out.append((m.NAME, "only", list(range(len(m.TP))), ys, routing))
    return out


def expect_failure_resilience(m, d, csvs):
    rows, out = csvs[m.NAME], []
    fabrics = list(dict.fromkeys(r["fabric"] for r in rows))
    for f in fabrics:
        ys = [float(np.mean([float(r["relative"]) for r in rows if r["fabric"] == f
                             and r["scenario"] == "links" and r["failed"] == str(k)]))
              for k in m.FAILED_LINKS]
        out.append((m.NAME, "only", [float(k) for k in m.FAILED_LINKS], ys, f"{f} links"))
    bars = [(f, s) for f in fabrics for s in ("spine", "plane")
            if any(r["fabric"] == f and r["scenario"] == s for r in rows)]
    for i, (f, s) in enumerate(bars):
        v = float(np.mean([float(r["relative"]) for r in rows
                           if r["fabric"] == f and r["scenario"] == s]))
        out.append((m.NAME, "only", [i], [v], f"{f} one {s}"))
    return out


def expect_sensitivity(m, d, csvs):
    out = []
    chunk = csvs[f"{m.NAME}_chunk"]
    for a, gpus in m.CHUNK_CASES:
        for n in gpus:
            x, y = _pts(chunk, "chunk", "algbw_GBps", algorithm=a, gpus=n)
            out.append((f"{m.NAME}_chunk", "only", [c / MiB for c in x], y, f"{a} {n}"))
    layout = csvs[f"{m.NAME}_layout"]
    for p in m.LAYOUT_RANGES:
        sel = [r for r in layout if r["param"] == p]
        default = str(getattr(__import__("netemu.topologies.cost", fromlist=["x"]).DEFAULT_LAYOUT,
                              p))
        for name in m.COST_PRESETS:
            base = float(next(r for r in sel if r["value"] == default)[f"{name}_musd"])
            out.append((f"{m.NAME}_layout", "only", list(range(len(sel))),
                        [float(r[f"{name}_musd"]) / base for r in sel], f"{p} {name}"))
    worst = {}
    for r in csvs[m.NAME]:
        kind = ("algbw" if r["choice"] == "HFReduce chunk" else
                "ratio" if r["result"].endswith("_vs_ff2") else "cost")
        key = (r["choice"], kind)
        worst[key] = max(worst.get(key, -1.0), float(r["spread_pct"]))
    keys = list(worst)
    for kind in ("algbw", "cost", "ratio"):
        mine = [(i, worst[k]) for i, k in enumerate(keys) if k[1] == kind]
        if mine:
            out.append((m.NAME, "only", [i for i, _ in mine], [v for _, v in mine],
                        f"spread {kind}"))
    return out


def expect_training_scaling(m, d, csvs):
    rows, out = csvs[m.NAME], []
    from netemu.collectives.layout import Layout
    primary = dict(microbatch=1, compute="roofline", hbm=1.0, gemm="default",
                   grad_accum_bytes=Layout.grad_accum_bytes)
    for fig, s in m.SETUPS.items():
        x, y = _pts(rows, "gpus", "step_time_s", fig=fig, **primary)
        out.append((m.NAME, "netemu", x, y, f"{fig} step", fig))
        pub = m_published().FF_FIG9[fig]
        out.append((m.NAME, "paper", list(pub), list(pub.values()), f"{fig} paper", fig))
        out.append((m.NAME, "error", x, _err(y, [pub[int(n)] for n in x]), f"{fig}", fig))
        for what, where in (("micro-batch 2", dict(primary, microbatch=2)),
                            ("GEMMs only", dict(primary, compute="gemm")),
                            ("HBM fraction", dict(primary, hbm=m.HBM_FRACTION)),
                            ("accumulator", dict(primary, grad_accum_bytes=m.ACCUM_SENSITIVITY)),
                            *((v, dict(primary, gemm=v)) for v in m.GEMM_VARIANTS)):
            x2, y2 = _pts(rows, "gpus", "step_time_s", fig=fig, **where)
            if x2:
                out.append((m.NAME, "option", x2, y2, f"{fig} {what}"))
        out.append((m.NAME, "netemu", x, [100 * y[0] * x[0] / (t * n) for n, t in zip(x, y)],
                    f"{fig} efficiency"))
    return out


def expect_fire_flyer_fig8(m, d, csvs):
    rows, out = csvs[m.NAME], []
    pub = {"8a": m_published().FF_FIG8A, "8b": m_published().FF_FIG8B}
    for f in m.GPUS:
        for lib in m.LIBRARIES[f]:
            group = f"{f} {lib}"
            x, y = _pts(rows, "gpus", "step_time_s", fig=f, library=lib, variant="primary",
                        batch=m.BATCH[f])
            out.append((m.NAME, "netemu", x, y, f"{group} step", group))
            p = pub[f][lib]
            out.append((m.NAME, "paper", list(p), list(p.values()), f"{group} paper", group))
            out.append((m.NAME, "error", x, _err(y, [p[int(n)] for n in x]), group, group))
            for variant in m.VARIANT_OPTIONS:
                x2, y2 = _pts(rows, "gpus", "step_time_s", fig=f, library=lib, variant=variant,
                              batch=m.BATCH[f])
                if x2:
                    out.append((m.NAME, "only", x2, y2, f"{group} {variant}"))
            for b in m.BATCH_RANGE[f]:
                x2, y2 = _pts(rows, "gpus", "step_time_s", fig=f, library=lib, variant="batch",
                              batch=b)
                if x2:
                    out.append((m.NAME, "only", x2, y2, f"{group} batch {b}"))
    return out


def expect_v3_training(m, d, csvs):
    rows, out = csvs[m.NAME], []
    out.append((m.NAME, "netemu", list(range(len(rows))), [float(r["compute_s"]) for r in rows],
                "compute bars"))

    def base(r):
        return float(r["gemm_fraction"]) == 1.0 and r.get("compute", "roofline") == "roofline" \
            and r.get("gemm", "default") == "default"

    for f in m.FABRICS:
        for i, r in [(i, r) for i, r in enumerate(rows) if r["fabric"] == f and base(r)]:
            out.append((m.NAME, "netemu", [i], [float(r["step_time_s"])], f"{f} step", f))
            p = m_published().ISCA_TABLE4[f]["step_time_s"]
            out.append((m.NAME, "paper", [i], [p], f"{f} Table 4", f))
            out.append((m.NAME, "error", [i], _err([float(r["step_time_s"])], [p]), f))
        for what, keep in (("GEMM fraction", lambda r: float(r["gemm_fraction"]) != 1.0),
                           ("GEMMs only", lambda r: r.get("compute") == "gemm"
                            and float(r["gemm_fraction"]) == 1.0),
                           *((v, lambda r, v=v: r.get("gemm") == v) for v in m.GEMM_VARIANTS)):
            sens = [(i, r) for i, r in enumerate(rows) if r["fabric"] == f and keep(r)]
            if sens:
                out.append((m.NAME, "only", [i for i, _ in sens],
                            [float(r["step_time_s"]) for _, r in sens], f"{f} {what}"))
    return out


def expect_v3_decode(m, d, csvs):
    rows, out = csvs[m.NAME], []
    bound = m_published().ISCA_INFERENCE["scale-out"]["tpot_ms"]
    out.append((m.NAME, "netemu", list(range(len(rows))),
                [float(r["compute_ms"] or 0) for r in rows], "compute bars"))
    for i, r in enumerate(rows):
        if r["case"] == "check":
            out.append((m.NAME, "check", [i], [bound], "bound", "check"))
            out.append((m.NAME, "netemu", [i], [float(r["tpot_ms"])], "check TPOT", "check"))
    served = [(i, r) for i, r in enumerate(rows) if r["case"] != "check"]
    out.append((m.NAME, "only", [i for i, _ in served], [float(r["tpot_ms"]) for _, r in served],
                "served TPOT"))
    return out


def m_published():
    return importlib.import_module("netemu.experiments.published")


EXPECT = {name: globals()[f"expect_{name}"] for name in EXPERIMENTS}


# --- the tests ----------------------------------------------------------------------------------

def test_every_experiment_has_a_cut_and_expectations():
    assert set(CUTS) == set(EXPERIMENTS) == set(EXPECT)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_figure_draws_the_csv_by_the_conventions(name, tmp_path, monkeypatch):
    m = importlib.import_module(f"netemu.experiments.{name}")
    CUTS[name](m, monkeypatch)
    rows = [r for p in m.points() for r in m.run_point(p)]
    with recording() as saved:
        m.report(rows, tmp_path)
    assert saved, f"{name}: report() saved no figure through the shared helper"
    series = []
    for path, fig in saved:
        assert Path(path).is_file()
        for s in drawn(fig):
            s["png"] = Path(path).stem
            series.append(s)
    csvs = {p.stem: _csv(p) for p in tmp_path.glob("*.csv")}

    lost, curves = match(EXPECT[name](m, tmp_path, csvs), series)
    assert not lost, "not drawn as the CSV has it:\n" + "\n".join(lost)
    # The paper's series of a curve and netemu's (and its errors) share one colour.
    for curve, members in curves.items():
        assert len({s["colour"] for s in members if s["kind"] == "line"}) == 1, \
            (curve, [(s["role"], s["label"], s["colour"]) for s in members])
    _check_conventions(series)


def _check_conventions(series):
    # Labels say what each series is; a series without a published value says so.
    for s in series:
        label = s["label"]
        if s["panel"] == "error" or label.startswith("_"):
            continue
        prefix = {"paper": "paper:", "check": "check", "netemu": "netemu:",
                  "option": "netemu:", "only": "netemu:"}[s["role"]]
        assert label.startswith(prefix), (s["role"], label)
        assert (NO_PAPER in label) == (s["role"] == "only"), label
    # A paper series and netemu's of the same group share one colour.
    by_group = defaultdict(set)
    for s in series:
        if s["kind"] == "line" and s["role"] in ("paper", "check", "netemu", "option", "error"):
            by_group[s["png"], s["group"]].add((s["role"], s["colour"]))
    for key, members in by_group.items():
        roles = {r for r, _ in members}
        if roles & {"paper", "check"} and roles & {"netemu", "option"}:
            assert len({c for _, c in members}) == 1, (key, members)
    # No netemu line hides another: same axes and data means a different style.
    lines = [s for s in series if s["kind"] == "line" and s["role"] in
             ("netemu", "option", "only", "error") and s["style"][0] not in ("None", "none")]
    for i, a in enumerate(lines):
        for b in lines[i + 1:]:
            if a["ax"] is b["ax"] and len(a["x"]) > 1 and a["x"] == b["x"] \
                    and np.allclose(a["y"], b["y"]):
                assert a["style"] != b["style"], (a["label"], b["label"], a["style"])


def test_missing_finds_a_left_out_or_wrong_series(tmp_path):
    """The check itself: a series left out, or drawn with another column, is reported."""
    p = Plot("t", logx=True)
    p.netemu([1, 2, 4], [3.0, 2.0, 1.0], "a", "a")
    p.paper([1, 2, 4], [3.5, 2.5, 1.5], "a", "a")
    fig = p.save(tmp_path / "t.png")
    series = [dict(s, png="t") for s in drawn(fig)]
    ok = [("t", "netemu", [1, 2, 4], [3.0, 2.0, 1.0], "a"),
          ("t", "paper", [1, 2, 4], [3.5, 2.5, 1.5], "a")]
    assert missing(ok, series) == []
    # Another y (a wrong column), another role (paper data drawn as netemu's), a series absent.
    assert len(missing([("t", "netemu", [1, 2, 4], [3.0, 2.0, 1.1], "a")], series)) == 1
    assert len(missing([("t", "netemu", [1, 2, 4], [3.5, 2.5, 1.5], "a")], series)) == 1
    assert len(missing([("t", "option", [1, 2, 4], [3.0, 2.0, 1.0], "b")], series)) == 1


def test_coinciding_lines_are_drawn_apart_and_named(tmp_path):
    """Two netemu lines with the same values: one becomes a wide band, a note names both."""
    p = Plot("t", error=False, logx=True)
    p.netemu([1, 2, 4], [1.0, 2.0, 3.0], "a", "first")
    p.netemu([1, 2, 4], [1.0, 2.0, 3.0], "b", "second")
    fig = p.save(tmp_path / "t.png")
    a, b = [s for s in drawn(fig)]
    assert a["style"][2] > 2 * b["style"][2]          # the band is wider than the line
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "first" in notes and "second" in notes


def test_paper_and_netemu_of_a_group_share_a_colour_and_differ_in_form(tmp_path):
    p = Plot("t", logx=True)
    p.compare([1, 2], [1.0, 2.0], [1, 2], [1.5, 2.5], "g", "g")
    fig = p.save(tmp_path / "t.png")
    got = {s["role"]: s for s in drawn(fig)}
    assert got["paper"]["colour"] == got["netemu"]["colour"] == got["error"]["colour"]
    assert got["paper"]["style"][0] == "None"                    # markers only
    assert got["paper"]["artist"].get_markerfacecolor() == "none"  # open markers
    assert got["netemu"]["style"][0] == "-"
    assert got["error"]["y"] == pytest.approx([100 * (1 - 1.5) / 1.5, 100 * (2 - 2.5) / 2.5])
