"""Collective algorithms as workloads on netemu's flow model, measured in nccl-tests' words.

Each algorithm turns (cluster graph, participating GPUs, message size) into a
:class:`~collectives.workload.Workload`; :func:`run` routes it with netemu's
routing and times it with netemu's exact max-min solver, so every number comes
from the topology and the solver.

=============  ==================================================================
collective     algorithms
=============  ==================================================================
allreduce      ``ring``, ``tree`` (double binary tree), ``hierarchical``,
               ``hfreduce``, ``hfreduce-nvlink``, ``nccl``
alltoall       ``direct``, ``pxn``, ``pairwise``, ``nccl``
allgather      ``ring``, ``nccl``
reducescatter  ``ring``, ``nccl``
broadcast      ``ring``, ``nccl``
moe            ``rdma`` (every copy over the network), ``deepep`` (node-limited, one
               network crossing per server then NVLink)
=============  ==================================================================

``nccl`` models what NCCL itself would run: for allreduce the ring or the tree
as NCCL's own cost model picks it (:mod:`collectives.nccl`), for all-to-all PXN
where servers have several NIC planes or rails and direct sends otherwise, rings
for the others.

Examples
--------
Ring allreduce on four hosts of a non-blocking leaf-spine: once latency is amortised,
busbw is the link rate.

>>> from topologies.fat_tree import two_layer_fat_tree
>>> G = two_layer_fat_tree(4, link_bandwidth=25e9)
>>> r = run(G, "allreduce", "ring", 4, 2**30)
>>> round(r.peak_busbw / 25e9, 9)
1.0
>>> r.time > r.beta_time
True
"""

from netemu.errors import ParameterError, RoutingError

from . import allreduce as _ar
from . import alltoall as _a2a
from .hfreduce import hfreduce, hfreduce_nvlink
from .metrics import COLLECTIVES as NCCL_COLLECTIVES
from .metrics import algbw, bus_factor, busbw
from .moe import moe_dispatch_combine, moe_traffic
from .ranks import by_server, pick_ranks
from .workload import Result, Stage, Workload, evaluate, path_model

__all__ = ["ALGORITHMS", "run", "build", "evaluate", "Workload", "Stage", "Result",
           "bus_factor", "algbw", "busbw", "moe_traffic", "NCCL_COLLECTIVES"]

ALGORITHMS = {
    "allreduce": {"ring": _ar.ring_allreduce, "tree": _ar.tree_allreduce,
                  "hierarchical": _ar.hierarchical_allreduce, "hfreduce": hfreduce,
                  "hfreduce-nvlink": hfreduce_nvlink},
    "alltoall": {"direct": _a2a.direct_alltoall, "pxn": _a2a.pxn_alltoall,
                 "pairwise": _a2a.pairwise_alltoall},
    "allgather": {"ring": _ar.all_gather},
    "reducescatter": {"ring": _ar.reduce_scatter},
    "broadcast": {"ring": _ar.broadcast},
    "moe": {"rdma": None, "deepep": None},
}

#: MoE defaults: DeepEP's benchmark setting ([DeepEP-legacy]: 4,096 tokens, hidden 7,168,
#: top-8 experts in top-4 groups) with 256 routed experts spread over the ranks, tokens routed
#: at random as its benchmark does (``token_routing='balanced'``: every rank equally loaded).
MOE_DEFAULTS = {"tokens": 4096, "hidden": 7168, "topk": 8, "node_limit": 4, "experts": 256,
                "shared": 0, "token_routing": "random"}


def _algorithms(collective):
    if collective not in ALGORITHMS:
        raise ParameterError(f"unknown collective {collective!r}; allowed: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[collective]


def _check_reachable(pm, ranks):
    """RoutingError naming the ranks whose servers have no link left to the fabric."""
    servers = by_server(ranks)
    if len(servers) < 2:
        return
    cut = [(s, members) for s, members in servers if not pm.access_points(s)]
    if cut:
        shown = ", ".join(f"{s} ({len(m)} rank(s))" for s, m in cut[:8])
        raise RoutingError(f"{len(cut)} server(s) holding ranks have no link to the fabric "
                           f"(cut off by failures): {shown}{' ...' if len(cut) > 8 else ''}")


def build(G, collective, algorithm, gpus, size, *, routing="dmodk", pxn=True, seed=0, **params):
    """The :class:`Workload` of ``collective`` by ``algorithm`` on ``gpus`` (count or node list)."""
    algos = _algorithms(collective)
    if algorithm not in algos and algorithm != "nccl":
        raise ParameterError(f"unknown algorithm {algorithm!r} for {collective}; allowed: "
                             f"{', '.join(list(algos) + ['nccl'] * (collective != 'moe'))}")
    if collective == "moe" and algorithm == "nccl":
        raise ParameterError("NCCL has no MoE dispatch; use --algo rdma or deepep")
    ranks = pick_ranks(G, gpus)
    if collective != "moe":
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not size > 0:
            raise ParameterError(f"size must be > 0 bytes, got {size!r}")
        if params:
            raise ParameterError(f"{collective} takes no parameters {sorted(params)}")
    pm = path_model(G, routing, pxn=pxn, seed=seed)
    _check_reachable(pm, ranks)
    if collective == "moe":
        p = dict(MOE_DEFAULTS)
        unknown = set(params) - set(p)
        if unknown:
            raise ParameterError(f"unknown MoE parameters {sorted(unknown)}; allowed: {sorted(p)}")
        p.update(params)
        experts = p.pop("experts")
        if experts % len(ranks):
            raise ParameterError(f"{experts} experts do not spread evenly over {len(ranks)} GPUs")
        deepep = algorithm == "deepep"
        return moe_dispatch_combine(
            pm, ranks, tokens=p["tokens"], hidden=p["hidden"], topk=p["topk"], shared=p["shared"],
            experts_per_gpu=experts // len(ranks), node_limit=p["node_limit"] if deepep else None,
            routing=p["token_routing"], forward=deepep, seed=seed)
    if algorithm == "nccl":
        return _nccl(G, pm, collective, ranks, size, routing, seed)
    return algos[algorithm](pm, ranks, size)


def _lanes(pm, ranks):
    from .ranks import by_server
    return min(len(pm.access_points(s)) for s, _ in by_server(ranks))


def _nccl(G, pm, collective, ranks, size, routing, seed):
    if collective == "allreduce":
        from .nccl import choose_allreduce
        from .ranks import by_server
        ring = _ar.ring_allreduce(pm, ranks, size)
        groups = by_server(ranks)
        nvlink = all(pm.G.edges[u, v].get("medium") == "nvlink"
                     for _, m in groups for u, v in zip(m, m[1:]) if pm.G.has_edge(u, v)) and \
            any(pm.G.nodes[x].get("role") == "nvswitch" for x in pm._members[groups[0][0]])
        # NCCL's choice rests on the ring as it would run here: same routing, same PXN.
        choice = choose_allreduce(evaluate(G, ring, routing=routing, pxn=pm.pxn, seed=seed),
                                  len(groups), "nvlink" if nvlink else "pcie")
        best = ring if choice == "ring" else _ar.tree_allreduce(pm, ranks, size)
        best.info["nccl_choice"] = choice
        return best
    if collective == "alltoall":
        # PXN only where it is on (NCCL_PXN_DISABLE=1 leaves NCCL with direct sends).
        use_pxn = pm.pxn and _lanes(pm, ranks) > 1
        return (_a2a.pxn_alltoall if use_pxn else _a2a.direct_alltoall)(pm, ranks, size)
    return ALGORITHMS[collective]["ring"](pm, ranks, size)


def run(G, collective, algorithm, gpus, size, *, routing="dmodk", pxn=True, seed=0, **params):
    """Build and evaluate a collective; returns a :class:`Result` (time, ``algbw``, ``busbw``)."""
    w = build(G, collective, algorithm, gpus, size, routing=routing, pxn=pxn, seed=seed, **params)
    use_pxn = w.info.get("pxn", pxn)
    res = evaluate(G, w, routing=routing, pxn=use_pxn, seed=seed)
    if collective == "moe":
        from .moe import deepep_bandwidth
        res.info.update(deepep_bandwidth(path_model(G, routing, pxn=use_pxn, seed=seed), w, res))
    return res
