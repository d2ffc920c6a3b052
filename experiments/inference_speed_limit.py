"""ISCA §2.3.2: the network's limit on MoE decoding speed, from the EP all-to-all alone.

The section's workload, as inputs: each device holds one expert and handles 32
tokens; hidden about 7K (7,000); every token goes to 8 routed experts and 1 shared
expert on other devices; FP8 dispatch, BF16 combine; two micro-batches overlap
(compute hidden), 61 layers; latency left out.  netemu times dispatch + combine on
two generated topologies: hosts with one 400 Gb/s ConnectX-7 each on a
non-blocking two-layer fat-tree (every copy over the network), and the 72 GPUs of
a GB200 NVL72 domain at 900 GB/s.  TPOT = 61 layers x 2 micro-batches x one step.

Those two rows re-run the paper's own arithmetic (its bandwidth, its byte count, no
latency): they are *checks*, labelled so and never counted as agreement.

The *prediction* beside them: the same workload (32 tokens per device, 9 experts per token,
hidden 7,000, FP8 dispatch, BF16 combine, balanced) timed by the flow model on the actual
DeepSeek-V3 cluster (``deepseek-v3-cluster`` on MPFT, 256 GPUs, one routed expert each):
one message per token per expert over RDMA, PXN where a message changes plane, NVLink for
the copies that stay in a node, and the slowest path's latency from the catalogue (which
§2.3.2 leaves out).  Its NIC and NVLink rates are the ``nominal`` option of
:mod:`netemu.experiments.deepep_modes` (the paper's 50 GB/s); the CSV also gives the
``achievable`` option ([ISCA] §4.3: 40 GB/s per NIC, 160 GB/s NVLink).
"""

from netemu.experiments.published import ISCA_INFERENCE
from netemu.experiments.support import compare_row, write_rows

NAME = "inference_speed_limit"
TITLE = "ISCA §2.3.2: EP step time and TPOT bound"

#: The section's workload ([ISCA] §2.3.2): inputs of the experiment, not results.
TOKENS, HIDDEN, ROUTED, SHARED = 32, 7000, 8, 1
LAYERS, MICRO_BATCHES = 61, 2
#: Devices of the scale-out case: any EP group works; 64 hosts fill a radix-16 fat-tree.
SCALE_OUT_DEVICES = 64
#: Devices of the prediction on the DeepSeek-V3 cluster: one per routed expert (256, [ISCA]
#: §4.3), the shared expert's copy on another device.
CLUSTER_DEVICES = 256
#: The systems whose rows re-run the paper's arithmetic.
CHECKS = ("scale-out", "nvl72")


def points():
    return [{"system": "scale-out"}, {"system": "nvl72"},
            {"system": "deepseek-v3-cluster", "rates": "nominal"},
            {"system": "deepseek-v3-cluster", "rates": "achievable"}]


def _graph(system):
    if system == "scale-out":
        from netemu.topologies.fat_tree import two_layer_fat_tree
        from netemu.topologies.hardware import CX7_400G
        return two_layer_fat_tree(16, link_bandwidth=CX7_400G.bandwidth), SCALE_OUT_DEVICES
    from netemu.topologies.hardware import GB200_NVL72
    from netemu.topologies.servers import scale_up_domain
    return scale_up_domain(), GB200_NVL72.gpus


def cluster_step(rates):
    """Seconds of one EP step (dispatch + combine) of the section's workload on the cluster."""
    from netemu.collectives.moe import moe_dispatch_combine
    from netemu.collectives.ranks import pick_ranks
    from netemu.collectives.workload import evaluate, path_model
    from netemu.experiments.deepep_modes import deepep_cluster, endpoint_overhead
    G = deepep_cluster(rates)
    w = moe_dispatch_combine(path_model(G), pick_ranks(G, CLUSTER_DEVICES), tokens=TOKENS,
                             hidden=HIDDEN, topk=ROUTED, shared=SHARED, routing="balanced",
                             per_expert=True, overhead=endpoint_overhead(CLUSTER_DEVICES))
    return evaluate(G, w).time


def run_point(point):
    from netemu.collectives import run
    if point["system"] == "deepseek-v3-cluster":
        t = cluster_step(point["rates"])
        tpot = LAYERS * MICRO_BATCHES * t
        return [{"system": point["system"], "rates": point["rates"], "devices": CLUSTER_DEVICES,
                 "ep_step_us": t * 1e6, "tpot_ms": tpot * 1e3, "tokens_per_s": 1 / tpot}]
    G, n = _graph(point["system"])
    r = run(G, "moe", "rdma", n, None, tokens=TOKENS, hidden=HIDDEN, topk=ROUTED, shared=SHARED,
            experts=n, node_limit=None, token_routing="balanced")
    tpot = LAYERS * MICRO_BATCHES * r.time
    return [{"system": point["system"], "devices": n, "ep_step_us": r.time * 1e6,
             "tpot_ms": tpot * 1e3, "tokens_per_s": 1 / tpot}]


def report(rows, out_dir):
    write_rows(out_dir, NAME, rows)
    _plot(rows, out_dir)
    out = []
    for r in rows:
        if r["system"] in CHECKS:
            paper, point, kind = ISCA_INFERENCE[r["system"]], r["system"], "check"
            note = "the paper's arithmetic re-run (its bandwidth and bytes, no latency)"
        elif r.get("rates") == "nominal":
            paper, point, kind = ISCA_INFERENCE["scale-out"], "MPFT cluster, 256 GPUs", "prediction"
            note = "flow model on deepseek-v3-cluster, PXN, NVLink in a node, catalogue latency"
        else:
            continue
        for metric in ("ep_step_us", "tpot_ms", "tokens_per_s"):
            out.append(compare_row(point, metric, paper[metric], r[metric], kind=kind, note=note))
    return out


def _plot(rows, out_dir):
    """TPOT bound per system: the paper's arithmetic re-run drawn as checks, the flow-model
    prediction on the cluster beside the paper's scale-out figure with its error written
    beside it, the achievable-rate option (nothing published for it) labelled so."""
    from netemu.experiments.figures import Plot

    short = {"scale-out": "scale-out", "nvl72": "NVL72", "deepseek-v3-cluster": "V3 cluster"}
    cats = [short.get(r["system"], r["system"])
            + (f"\n{r['rates']} rates" if r.get("rates") else "\n(check)") for r in rows]
    p = Plot(TITLE, error=False, categories=cats, ylabel="time per output token bound (ms, log)",
             width=6.5, height=4.0)
    for cat, r in zip(cats, rows):
        if r["system"] in CHECKS:
            p.check([cat], [ISCA_INFERENCE[r["system"]]["tpot_ms"]], r["system"],
                    f"{r['system']}, §2.3.2's arithmetic")
            p.netemu([cat], [r["tpot_ms"]], r["system"], f"{r['system']}, the same arithmetic",
                     line=False)
            p.annotate_errors([cat], [r["tpot_ms"]], [ISCA_INFERENCE[r["system"]]["tpot_ms"]],
                              prefix="check ")
        elif r.get("rates") == "nominal":
            paper = ISCA_INFERENCE["scale-out"]["tpot_ms"]
            p.paper([cat], [paper], "scale-out", "scale-out TPOT bound (§2.3.2), "
                    "set beside the cluster")
            p.netemu([cat], [r["tpot_ms"]], "scale-out", "DeepSeek-V3 cluster, flow model "
                     "(nominal rates)", line=False)
            p.annotate_errors([cat], [r["tpot_ms"]], [paper])
        else:
            p.netemu([cat], [r["tpot_ms"]], "scale-out", "DeepSeek-V3 cluster, flow model",
                     option=f"{r.get('rates')} rates", only=True, line=False)
    p.logy(0)
    p.note("The EP step, TPOT and tokens/s rows are the same comparison (TPOT = 61 layers x 2 "
           "micro-batches x the step): one is drawn.")
    p.save(f"{out_dir}/{NAME}.png")
