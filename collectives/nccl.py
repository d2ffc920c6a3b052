"""What NCCL would run: its own cost model's choice between ring and tree for allreduce.

NCCL picks an algorithm by predicting ``time = latency + bytes / bandwidth`` for
each candidate with a fixed model (NCCL 2.10, ``src/graph/tuning.cc``), not by
measuring.  netemu reproduces that choice for the Simple protocol; the only
input NCCL takes from the machine, the per-channel bus bandwidth its topology
search finds, is the ring's bus bandwidth that netemu's flow model gives on the
cluster (:attr:`~collectives.workload.Result.peak_busbw`).  The chosen algorithm is
then timed by netemu's own model like any other.

Model constants (all NCCL 2.10 ``tuning.cc``; latencies in seconds):

- ring: bandwidth ``busbw * n / (2 (n - 1))``; latency ``base + (steps - inter) *
  intra + inter * net``, times 1.9 for a multi-node allreduce of at least
  ``n / 16 * 64 KiB`` ("plateau effect of ring");
- tree: bandwidth ``min(0.9 * busbw, 80 GB/s (110 on two nodes)) / 2``; latency
  ``2 * ((ranks per node - 1) * intra + log2(nodes) * net)``.
"""

import math

from .software import NCCL_STEP_LATENCY

__all__ = ["predicted_times", "choose_allreduce"]

_PLATEAU = 1.9                 # NCCL ring Simple multi-node allreduce latency factor
_TREE_BW_FACTOR = 0.9          # tree busbw = 0.9 x the graph's
_MAX_TREE_BW = (110e9, 80e9)   # bytes/s: two nodes, more than two


def predicted_times(busbw, n_ranks, n_nodes, size, intra="pcie"):
    """NCCL's predicted ``{'ring': s, 'tree': s}`` for an allreduce of ``size`` bytes.

    Examples
    --------
    >>> t = predicted_times(9.66e9, 16, 2, 186 * 2**20)
    >>> min(t, key=t.get)
    'ring'
    >>> t = predicted_times(9.66e9, 1024, 128, 186 * 2**20)
    >>> min(t, key=t.get)
    'tree'
    """
    ring, tree = NCCL_STEP_LATENCY["ring"], NCCL_STEP_LATENCY["tree"]
    steps, inter = 2 * (n_ranks - 1), 2 * (n_nodes - 1)
    ring_lat = ring["base"] + (steps - inter) * ring[intra] + inter * ring["network"]
    if n_nodes > 1 and size >= n_ranks / 16 * 65536:
        ring_lat *= _PLATEAU
    ring_bw = busbw * n_ranks / steps
    ppn = n_ranks // n_nodes
    tree_lat = 2 * ((ppn - 1) * tree[intra] + (int(math.log2(n_nodes)) if n_nodes > 1 else 0)
                    * tree["network"])
    tree_bw = min(busbw * _TREE_BW_FACTOR, _MAX_TREE_BW[n_nodes > 2]) / 2
    return {"ring": ring_lat + size / ring_bw, "tree": tree_lat + size / tree_bw}


def choose_allreduce(ring_result, n_nodes, intra="pcie"):
    """``'ring'`` or ``'tree'``: NCCL's choice given netemu's ring result on the cluster."""
    t = predicted_times(ring_result.peak_busbw, ring_result.n, n_nodes, ring_result.size, intra)
    return min(t, key=t.get)
