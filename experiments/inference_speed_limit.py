"""ISCA §2.3.2: the network's limit on MoE decoding speed, from the EP all-to-all alone.

The section's workload, as inputs: each device holds one expert and handles 32
tokens; hidden about 7K (7,000); every token goes to 8 routed experts and 1 shared
expert on other devices; FP8 dispatch, BF16 combine; two micro-batches overlap
(compute hidden), 61 layers; latency left out.  netemu times dispatch + combine on
two generated topologies: hosts with one 400 Gb/s ConnectX-7 each on a
non-blocking two-layer fat-tree (every copy over the network), and the 72 GPUs of
a GB200 NVL72 domain at 900 GB/s.  TPOT = 61 layers x 2 micro-batches x one step.
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


def points():
    return [{"system": "scale-out"}, {"system": "nvl72"}]


def _graph(system):
    if system == "scale-out":
        from netemu.topologies.fat_tree import two_layer_fat_tree
        from netemu.topologies.hardware import CX7_400G
        return two_layer_fat_tree(16, link_bandwidth=CX7_400G.bandwidth), SCALE_OUT_DEVICES
    from netemu.topologies.hardware import GB200_NVL72
    from netemu.topologies.servers import scale_up_domain
    return scale_up_domain(), GB200_NVL72.gpus


def run_point(point):
    from netemu.collectives import run
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
        paper = ISCA_INFERENCE[r["system"]]
        for metric in ("ep_step_us", "tpot_ms", "tokens_per_s"):
            out.append(compare_row(r["system"], metric, paper[metric], r[metric]))
    return out


def _plot(rows, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netemu.plot import save_figure
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [ISCA_INFERENCE[r["system"]]["tpot_ms"] for r in rows], 0.4,
           label="paper", color="#999999")
    ax.bar([x + 0.2 for x in xs], [r["tpot_ms"] for r in rows], 0.4, label="netemu",
           color="#2b83ba")
    ax.set_xticks(list(xs), [r["system"] for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("time per output token bound (ms, log)")
    ax.set_title(TITLE)
    ax.legend()
    save_figure(fig, f"{out_dir}/{NAME}.png")
