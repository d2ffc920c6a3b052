"""ISCA §4.3: node-limited routing and the scale-up/scale-out bandwidth ratio.

[ISCA] §4.3's example: 8 nodes of 8 GPUs, 256 routed experts (4 per GPU) in 8 groups of 32,
one group per node; each token picks 8 experts.  Without a node limit and without NVLink
forwarding the IB cost of a token whose experts sit on 8 nodes is "8t"; with forwarding a
token crosses IB once per target node, "M·t"; node-limited routing keeps every token on "at
most 4 nodes".

netemu draws the routing (:func:`netemu.collectives.moe.token_destinations`, seeded) and
counts, per token, the distinct target nodes M (its own node included, as the paper's M),
the nodes other than its own (the IB crossings with forwarding), and the experts on other
nodes (the IB sends without forwarding).  Three routings:

``unlimited``
    top-8 of all 256 expert scores (DeepEP ``tests/test_low_latency.py``);
``top-4 groups``
    DeepEP ``tests/test_internode.py``'s group-limited gating: a node's score is its best
    expert's, the token keeps the 4 best nodes and takes its top-8 among their experts;
``top-4 nodes, uniform``
    4 nodes drawn uniformly, then 8 experts among theirs: the other end of the range of
    group-selection rules (a sensitivity, not a rule the paper states).

Rows: the 4:1 ratio is the paper's own inputs (160 / 40 GB/s, :mod:`topologies.hardware`)
and "at most 4" is enforced by the routing, so both are *checks*; the mean M and the IB
traffic reduction come from the routing simulation and are *predictions* set beside the
paper's bounds.
"""

import numpy as np

from netemu.experiments.published import ISCA_NODE_LIMIT
from netemu.experiments.support import compare_row, write_rows

NAME = "node_limited_routing"
TITLE = "ISCA §4.3: nodes per token under node-limited routing"

#: [ISCA] §4.3's example: 8 nodes x 8 GPUs, 256 routed experts, top-8, at most 4 nodes.
NODES, GPUS_PER_NODE, EXPERTS, TOPK, LIMIT = 8, 8, 256, 8, 4
#: Tokens drawn per GPU (netemu's choice: 64 x 1,024 = 65,536 tokens; the mean M moves by
#: less than 0.01 between seeds at this size).
TOKENS = 1024
ROUTINGS = {"unlimited": ("grouped", None), "top-4 groups": ("grouped", LIMIT),
            "top-4 nodes, uniform": ("random", LIMIT)}


def node_counts(routing, node_limit, *, tokens=TOKENS, seed=0):
    """Per token: distinct target nodes M, nodes other than its own, experts on other nodes."""
    from netemu.collectives.moe import token_destinations
    ranks = [f"n{s}/gpu{g}" for s in range(NODES) for g in range(GPUS_PER_NODE)]
    dests = token_destinations(ranks, tokens=tokens, topk=TOPK,
                               experts_per_gpu=EXPERTS // len(ranks), node_limit=node_limit,
                               routing=routing, seed=seed)
    M, remote, sends = [], [], []
    for r, d in enumerate(dests):
        node = d // GPUS_PER_NODE
        own = r // GPUS_PER_NODE
        hit = np.zeros((d.shape[0], NODES), dtype=bool)
        np.put_along_axis(hit, node, True, axis=1)
        M.append(hit.sum(axis=1))
        remote.append(hit.sum(axis=1) - hit[:, own])
        sends.append((node != own).sum(axis=1))
    return np.concatenate(M), np.concatenate(remote), np.concatenate(sends)


def points():
    return [{"routing": name} for name in ROUTINGS]


def run_point(point):
    M, remote, sends = node_counts(*ROUTINGS[point["routing"]])
    hist = np.bincount(M, minlength=NODES + 1)[1:] / M.size
    return [{"routing": point["routing"], "tokens": int(M.size), "mean_M": float(M.mean()),
             "max_M": int(M.max()), "mean_ib_crossings_forwarded": float(remote.mean()),
             "mean_ib_sends_unforwarded": float(sends.mean()),
             **{f"share_M{m}": float(h) for m, h in enumerate(hist, start=1)}}]


def report(rows, out_dir):
    from netemu.topologies.hardware import H800_SXM
    write_rows(out_dir, NAME, rows)
    _plot(rows, out_dir)
    got = {r["routing"]: r for r in rows}
    ratio = H800_SXM.nvlink_achievable / H800_SXM.nic_effective
    out = [compare_row("H800 node", "scale-up / scale-out bandwidth",
                       ISCA_NODE_LIMIT["bandwidth_ratio"], ratio, kind="check",
                       note="160 / 40 GB/s: the paper's own inputs (hardware.H800_SXM)")]
    lim, free = got.get("top-4 groups"), got.get("unlimited")
    if lim is not None:
        out.append(compare_row("top-4 groups", "max nodes per token M",
                               ISCA_NODE_LIMIT["max_nodes"], lim["max_M"], kind="check",
                               note="enforced by the routing's limit"))
        out.append(compare_row("top-4 groups", "mean M (paper: at most 4)",
                               ISCA_NODE_LIMIT["max_nodes"], lim["mean_M"], kind="prediction",
                               note="routing simulation set beside the paper's bound"))
    if free is not None:
        out.append(compare_row("no node limit", "IB sends/token unforwarded (paper: 8 worst)",
                               ISCA_NODE_LIMIT["cost_without_limit_t"],
                               free["mean_ib_sends_unforwarded"], kind="prediction",
                               note="paper's 8t assumes 8 different nodes; mean of the routing"))
    if lim is not None and free is not None:
        out.append(compare_row("top-4 groups", "IB traffic vs unlimited (paper: <= 4/8)",
                               ISCA_NODE_LIMIT["max_nodes"] / ISCA_NODE_LIMIT["cost_without_limit_t"],
                               lim["mean_ib_crossings_forwarded"] / free["mean_ib_sends_unforwarded"],
                               kind="prediction",
                               note="forwarded crossings with the limit / unforwarded sends without"))
    return out


def _plot(rows, out_dir):
    """Left: the distribution of distinct target nodes per token under each routing (netemu
    only) beside the paper's "at most 4".  Right: the compared numbers, paper and netemu, the
    two checks drawn as checks, the error written beside each prediction."""
    from netemu.experiments.figures import Plot
    from netemu.topologies.hardware import H800_SXM

    got = {r["routing"]: r for r in rows}
    p = Plot(TITLE, ["tokens by distinct target nodes M", "the section's numbers"], error=False,
             categories=[[str(m) for m in range(1, NODES + 1)], None],
             xlabel=["distinct target nodes per token, M", ""],
             ylabel=["share of tokens", "value"], width=5.4, height=3.8)
    ms = list(range(1, NODES + 1))
    for k, r in enumerate(rows):
        p.bars([str(m) for m in ms], [r[f"share_M{m}"] for m in ms], r["routing"],
               f"netemu: {r['routing']} (mean M {r['mean_M']:.2f})", slot=k, slots=len(rows))
    # Between the bars of M = 4 and M = 5 (category positions 3 and 4).
    p.reference(ISCA_NODE_LIMIT["max_nodes"] - 0.5, "paper: at most 4 nodes per token",
                vertical=True)
    items = []          # (category, paper, netemu, kind)
    ratio = H800_SXM.nvlink_achievable / H800_SXM.nic_effective
    items.append(("scale-up/out\nbandwidth", ISCA_NODE_LIMIT["bandwidth_ratio"], ratio, "check"))
    lim, free = got.get("top-4 groups"), got.get("unlimited")
    if lim is not None:
        items.append(("max M\ntop-4 groups", ISCA_NODE_LIMIT["max_nodes"], lim["max_M"],
                      "check"))
        items.append(("mean M\ntop-4 groups", ISCA_NODE_LIMIT["max_nodes"], lim["mean_M"],
                      "prediction"))
    if free is not None:
        items.append(("IB sends/token\nno limit", ISCA_NODE_LIMIT["cost_without_limit_t"],
                      free["mean_ib_sends_unforwarded"], "prediction"))
    cats = [c for c, _, _, _ in items]
    ax = p.main[1]
    ax._netemu_categories = cats
    ax.set_xticks(range(len(cats)), cats, fontsize=7)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    pred = [(c, pv, o) for c, pv, o, k in items if k == "prediction"]
    chk = [(c, pv, o) for c, pv, o, k in items if k == "check"]
    if pred:
        c, pv, o = zip(*pred)
        p.paper(c, pv, "numbers", "bound or worst case (§4.3)", panel=1)
        p.netemu(c, o, "numbers", "routing simulation", panel=1, line=False)
        p.annotate_errors(c, o, pv, panel=1, offset=(8, -8))
    if chk:
        c, pv, o = zip(*chk)
        p.check(c, pv, "numbers", "ratio 160/40 GB/s; the limit itself", panel=1)
        p.netemu(c, o, "numbers", "routing simulation", panel=1, line=False)
    ax.set_ylim(0, 1.15 * max(max(pv, o) for _, pv, o, _ in items))
    p.save(f"{out_dir}/{NAME}.png")
