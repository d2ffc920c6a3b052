"""Fire-Flyer Fig. 7a: HFReduce against NCCL, allreduce of 186 MiB on 16 to 1,440 GPUs.

Both run on the ``fire-flyer-2-cluster`` preset (PCIe A100 servers, one 200 Gb/s
NIC each, two-zone fat-tree) with InfiniBand's static routing.  HFReduce goes
through host memory and the CPU (:mod:`collectives.hfreduce`); NCCL runs what its
own cost model picks, ring or double binary tree (:mod:`collectives.nccl`).
Calibration: the root port GPU5 and GPU6 share is one 37.5 GB/s budget for both
directions (:func:`topologies.servers.limit_shared_root_ports`).  The paper does not
say whether it plots algbw or busbw; netemu compares algbw.
"""

from netemu.experiments.published import FF_FIG7A, FF_FIG7A_SIZE
from netemu.experiments.support import GB, cluster, compare_row, line_plot, write_rows

NAME = "hfreduce_vs_nccl"
TITLE = "Fire-Flyer Fig. 7a: HFReduce vs NCCL allreduce, 186 MiB"
GPUS = (16, 32, 64, 128, 256, 512, 1024, 1440)
SIZE = FF_FIG7A_SIZE          # the experiment's input: the message size of the figure
ALGORITHMS = ("hfreduce", "nccl")


def ff_cluster():
    from netemu.topologies.servers import limit_shared_root_ports
    return cluster("fire-flyer-2-cluster", limit_shared_root_ports)


def points():
    return [{"gpus": n, "algorithm": a} for n in GPUS for a in ALGORITHMS]


def run_point(point):
    from netemu.collectives import run
    r = run(ff_cluster(), "allreduce", point["algorithm"], point["gpus"], SIZE)
    return [{"gpus": point["gpus"], "algorithm": point["algorithm"],
             "runs": r.info.get("nccl_choice", r.algorithm), "size_bytes": SIZE,
             "time_s": r.time, "algbw_GBps": r.algbw / GB, "busbw_GBps": r.busbw / GB,
             "bottleneck": (r.stages[0]["bottlenecks"] or [""])[0]}]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    got = {(r["gpus"], r["algorithm"]): r["algbw_GBps"] for r in rows}
    series = []
    for a, colour in zip(ALGORITHMS, ("tab:blue", "tab:red")):
        series.append((f"netemu {a}", GPUS, [got[n, a] for n in GPUS], "-o"))
        series.append((f"paper {a}", GPUS, [FF_FIG7A[n][a] for n in GPUS], "x--"))
    line_plot(f"{out_dir}/{NAME}.png", TITLE, "GPUs", "allreduce algbw (GB/s)", series,
              xticks=GPUS)
    return [compare_row(f"{n} GPUs", f"{a} algbw GB/s", FF_FIG7A[n][a], got[n, a])
            for a in ALGORITHMS for n in GPUS]
