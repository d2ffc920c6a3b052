"""ISCA Fig. 7: DeepEP dispatch and combine on the multi-plane fat-tree, 16 to 128 GPUs.

DeepEP's benchmark setting: 4,096 tokens per GPU, hidden 7,168, top-8 of 256 routed
experts within at most 4 servers (node-limited routing), FP8 dispatch, BF16 combine,
tokens routed at random (seeded).  A token crosses the network once per target
server, to the GPU with its own local index there, which forwards it over NVLink
(:mod:`collectives.moe`).  netemu reports DeepEP's per-GPU bottleneck RDMA bandwidth:
the busiest GPU's network bytes over the stage's time.
"""

from netemu.experiments.published import ISCA_FIG7
from netemu.experiments.support import GB, cluster, compare_row, line_plot, write_rows

NAME = "deepep_mpft"
TITLE = "ISCA Fig. 7: DeepEP on MPFT, 4,096 tokens per GPU"
GPUS = (16, 32, 64, 128)


def points():
    return [{"gpus": n} for n in GPUS]


def run_point(point):
    from netemu.collectives import run
    r = run(cluster("deepseek-v3-cluster", fabric="mpft"), "moe", "deepep", point["gpus"], None)
    i = r.info
    return [{"gpus": point["gpus"], "stage": st,
             "rdma_GBps": i[f"{st}_rdma_bw"] / GB, "nvlink_GBps": i[f"{st}_nvlink_bw"] / GB,
             "time_s": i[f"{st}_time"]} for st in ("dispatch", "combine")]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    got = {(r["gpus"], r["stage"]): r["rdma_GBps"] for r in rows}
    series = []
    for k, st in enumerate(("dispatch", "combine")):
        series.append((f"netemu {st}", GPUS, [got[n, st] for n in GPUS], "-o"))
        series.append((f"paper {st}", GPUS, [ISCA_FIG7[n][k] for n in GPUS], "x--"))
    line_plot(f"{out_dir}/{NAME}.png", TITLE, "GPUs (EP size)",
              "per-GPU RDMA bandwidth (GB/s)", series, xticks=GPUS)
    return [compare_row(f"{n} GPUs", f"{st} RDMA GB/s", ISCA_FIG7[n][k], got[n, st])
            for k, st in enumerate(("dispatch", "combine")) for n in GPUS]
