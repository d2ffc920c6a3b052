"""ISCA Fig. 7: DeepEP dispatch and combine on the multi-plane fat-tree, 16 to 128 GPUs.

Fig. 7 is DeepEP's own benchmark output, so netemu reports DeepEP's metric, computed the
way ``tests/test_internode.py`` computes it: per rank, each token once per distinct
destination node *including the sender's own node* (``num_rdma_token_sent``), times the
token's bytes (FP8 dispatch: ``hidden * (1 + 4 / 128)``, the data and one FP32 scale per
128 elements; BF16 combine: ``hidden * 2``), over the kernel's time.  Beside it, the
physical network bytes per GPU per second (the busiest GPU's bytes that cross the fabric).
The two differ because a token whose experts include the sender's own node counts in
DeepEP's figure but goes over NVLink only.

DeepEP's benchmark setting: 4,096 tokens per GPU, hidden 7,168, top-8 of 256 experts in the
top ``min(nodes, 4)`` groups of DeepEP's grouped scores (one group per node), FP8 dispatch,
BF16 combine; a token crosses the network once per target node, to the GPU of its own
plane there, which forwards it over NVLink (:func:`netemu.collectives.moe.deepep`, normal
mode).  Both rate options of :mod:`netemu.experiments.deepep_modes` (nominal; [ISCA] §4.3's
achievable 40 GB/s per NIC and 160 GB/s NVLink) are predictions from hardware facts.
"""

from netemu.experiments.deepep_modes import RATES, run_mode
from netemu.experiments.published import ISCA_FIG7
from netemu.experiments.support import compare_row, write_rows

NAME = "deepep_mpft"
TITLE = "ISCA Fig. 7: DeepEP on MPFT, 4,096 tokens per GPU"
GPUS = (16, 32, 64, 128)
STAGES = ("dispatch", "combine")
LABEL = "ISCA Fig. 7"
#: Issue 15's band for ISCA Fig. 7 in DeepEP's metric.
TOLERANCE = 0.20
NOTES = {"nominal": "DeepEP's logical bytes; NIC 50 GB/s, NVLink 200 GB/s",
         "achievable": "DeepEP's logical bytes; [ISCA] §4.3 rates: NIC 40 GB/s, NVLink 160 GB/s"}


def points():
    return [{"gpus": n, "rates": q} for q in RATES for n in GPUS]


def run_point(point):
    return run_mode("normal", point["gpus"], point["rates"])


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    got = {(r["gpus"], r["rates"], r["stage"]): r for r in rows}
    _plot(got, f"{out_dir}/{NAME}.png")
    return [compare_row(f"{n} GPUs", f"{st} DeepEP RDMA GB/s ({q})", ISCA_FIG7[n][k],
                        got[n, q, st]["deepep_GBps"], kind="prediction", note=NOTES[q])
            for q in RATES for k, st in enumerate(STAGES) for n in GPUS if (n, q, st) in got]


def _plot(got, path):
    """One panel per stage: the paper's points, DeepEP's metric under both rate options (the
    compared series, the paper's colour), the physical bytes beside it, errors underneath."""
    from netemu.experiments.figures import Plot

    p = Plot(TITLE, [f"{st}" for st in STAGES], logx=True, xticks=GPUS, xlabel="GPUs (EP size)",
             ylabel="per-GPU bandwidth (GB/s)", width=5.2, height=3.8)
    for k, st in enumerate(STAGES):
        paper = [ISCA_FIG7[n][k] for n in GPUS]
        p.paper(GPUS, paper, st, f"{st} (DeepEP's RDMA metric)", panel=k)
        for q in RATES:
            ns = [n for n in GPUS if (n, q, st) in got]
            ours = [got[n, q, st]["deepep_GBps"] for n in ns]
            option = None if q == RATES[0] else f"{q} rates"
            p.netemu(ns, ours, st, f"{st}, DeepEP's metric" + (f" ({q} rates)" if option is None
                                                                else ""), panel=k, option=option)
            p.error(ns, ours, [ISCA_FIG7[n][k] for n in ns], st, panel=k, option=option)
            phys = [(n, got[n, q, st].get("network_GBps_per_gpu")) for n in ns]
            phys = [(n, v) for n, v in phys if v is not None]
            if phys:
                p.netemu(*zip(*phys), "physical", f"{st}, network bytes per GPU per s", panel=k,
                         option=f"{q} rates", only=True)
        p.band(TOLERANCE, panel=k)
    p.save(path)
