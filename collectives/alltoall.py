"""All-to-all: every rank sends ``S/n`` bytes to every rank (``S`` = per-rank send buffer).

- :func:`direct_alltoall` — all sends posted at once, each over its source GPU's own NIC
  (no forwarding inside the source server).
- :func:`pxn_alltoall` — the same sends, but a GPU reaches a destination on another plane or
  rail through the GPU of its server that sits next to the NIC on the destination's
  plane/rail (NCCL PXN), over NVLink, then crosses the network once.
- :func:`pairwise_alltoall` — ``n - 1`` steps; in step ``k`` rank ``i`` sends to rank
  ``i + k mod n`` only (the staged exchange).

Sends run as independent flows: each finishes when the exact fluid max-min
simulation says so, and a step ends with its last flow.
"""

from .workload import Stage, Workload

__all__ = ["direct_alltoall", "pxn_alltoall", "pairwise_alltoall"]


def _all_pairs(ranks, amount):
    return [(a, b, amount) for a in ranks for b in ranks if a != b]


def direct_alltoall(pm, ranks, size):
    n = len(ranks)
    w = Workload("alltoall", "direct", list(ranks), size,
                 [Stage("all-to-all", _all_pairs(ranks, 1 / n), mode="flows")])
    w.info["pxn"] = False
    return w


def pxn_alltoall(pm, ranks, size):
    w = direct_alltoall(pm, ranks, size)
    w.algorithm = "pxn"
    w.info["pxn"] = True
    return w


def pairwise_alltoall(pm, ranks, size):
    n = len(ranks)
    stages = [Stage(f"step {k}", [(ranks[i], ranks[(i + k) % n], 1 / n) for i in range(n)],
                    mode="flows") for k in range(1, n)]
    return Workload("alltoall", "pairwise", list(ranks), size, stages, {"pxn": pm.pxn})
