"""What NCCL would run: its own cost model's choice between ring and tree for allreduce.

NCCL picks an algorithm by predicting ``time = latency + bytes / bandwidth`` for
each candidate with a fixed model (``src/graph/tuning.cc``), not by measuring.
netemu reproduces that choice for the Simple protocol; the only input NCCL takes
from the machine, the per-channel bus bandwidth its topology search finds, is the
ring's bus bandwidth that netemu's flow model gives on the cluster
(:attr:`~collectives.workload.Result.peak_busbw`).  The chosen algorithm is then
timed by netemu's own model like any other.

Which version of the model is a named option, ``tuning`` (the constants and their
source are :data:`collectives.software.NCCL_TUNING`): ``'2.10'`` (the default) or
``'2.2x'``.  With ``n`` ranks on ``N`` nodes, ``p = n / N`` ranks per node and graph
bus bandwidth ``B``:

- ring: bandwidth ``B * n / (2 (n - 1))``; latency ``base + (steps - inter) *
  max(intra, overhead) + inter * net`` with ``steps = 2 (n - 1)`` and ``inter = 2 (N - 1)``
  (2.10) or ``2 N`` (2.2x), times the plateau factor for a multi-node allreduce;
- tree: bandwidth ``min(factor * B, cap) / 2``; latency ``2 ((p - 1) * intra + floor(log2 N)
  * net)``, which grows with the logarithm of the node count where the ring's grows linearly:
  that is what makes NCCL switch from ring to tree as a job grows.
"""

import math

from netemu.errors import ParameterError

from .software import NCCL_DEFAULT_TUNING, NCCL_TUNING

__all__ = ["predicted_times", "choose_allreduce", "TUNINGS"]

#: Names of the NCCL tuning models (:data:`collectives.software.NCCL_TUNING`).
TUNINGS = tuple(NCCL_TUNING)


def _tuning(tuning):
    if tuning not in NCCL_TUNING:
        raise ParameterError(f"tuning must be one of {', '.join(map(repr, TUNINGS))}, "
                             f"got {tuning!r}")
    return NCCL_TUNING[tuning]


def predicted_times(busbw, n_ranks, n_nodes, size, intra="pcie", tuning=NCCL_DEFAULT_TUNING,
                    channels=1):
    """NCCL's predicted ``{'ring': s, 'tree': s}`` for an allreduce of ``size`` bytes.

    Parameters
    ----------
    busbw : float
        The graph's bus bandwidth in bytes/s (all channels together).
    n_ranks, n_nodes : int
    size : float
        Bytes.
    intra : {'pcie', 'nvlink'}
        The hop kind inside a node.
    tuning : {'2.10', '2.2x'}
        Which version of NCCL's model (:data:`collectives.software.NCCL_TUNING`).
    channels : int
        Channels the graph holds; only the 2.2x tree's per-channel cap uses it.

    Examples
    --------
    >>> t = predicted_times(9.66e9, 16, 2, 186 * 2**20)
    >>> min(t, key=t.get)
    'ring'
    >>> t = predicted_times(9.66e9, 1024, 128, 186 * 2**20)
    >>> min(t, key=t.get)
    'tree'
    """
    m = _tuning(tuning)
    ring_lat_by_hop, tree_lat_by_hop = m["ring_lat"], m["tree_lat"]
    steps = 2 * (n_ranks - 1)
    inter = 2 * (n_nodes + m["ring_net_steps_extra"]) if n_nodes > 1 else 0
    intra_ring = ring_lat_by_hop[intra]
    if n_nodes > 1:
        intra_ring = max(intra_ring, m["net_overhead"])
    ring_lat = m["ring_base"] + (steps - inter) * intra_ring + inter * ring_lat_by_hop["network"]
    if n_nodes > 1 and _plateau_applies(tuning, n_ranks, size, channels):
        ring_lat *= m["plateau"]
    ring_bw = busbw * n_ranks / steps
    ppn = n_ranks // n_nodes
    net = tree_lat_by_hop["network"] if n_nodes > 1 else tree_lat_by_hop[intra]
    tree_lat = 2 * ((ppn - 1) * tree_lat_by_hop[intra]
                    + (int(math.log2(n_nodes)) if n_nodes > 1 else 0) * net)
    cap = (m["tree_max_bw"][n_nodes > 2] if m["tree_max_bw"] is not None
           else channels * m["tree_max_bw_per_channel"])
    tree_bw = min(busbw * m["tree_bw_factor"], cap) / 2
    return {"ring": ring_lat + size / ring_bw, "tree": tree_lat + size / tree_bw}


def _plateau_applies(tuning, n_ranks, size, channels):
    if tuning == "2.10":
        return size >= n_ranks / 16 * 65536
    return size / (channels * n_ranks) >= 64


def choose_allreduce(ring_result, n_nodes, intra="pcie", tuning=NCCL_DEFAULT_TUNING):
    """``'ring'`` or ``'tree'``: NCCL's choice given netemu's ring result on the cluster."""
    t = predicted_times(ring_result.peak_busbw, ring_result.n, n_nodes, ring_result.size, intra,
                        tuning)
    return min(t, key=t.get)
