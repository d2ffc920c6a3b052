"""Allreduce and its relatives as NCCL runs them: rings, double binary trees, hierarchical.

- :func:`ring_allreduce` — reduce-scatter then all-gather around rings (one ring per NIC
  lane, as NCCL's channels): every ring hop carries ``2(n-1)/n`` bytes per byte of ``S``.
- :func:`tree_allreduce` — NCCL's double binary tree across servers, a chain inside each
  server; each tree carries half the data, up (reduce) then down (broadcast), pipelined.
  Across Fire-Flyer's zones, one tree per zone joined by a single pair of servers
  ([FF] §III-B); every tree is timed and the slowest bounds the stage.
- :func:`hierarchical_allreduce` — reduce-scatter inside each server, allreduce of every
  shard across servers among same-index GPUs, all-gather inside each server.
- :func:`reduce_scatter`, :func:`all_gather`, :func:`broadcast` — the ring collectives.

Each returns a :class:`~collectives.workload.Workload`; :func:`collectives.run` evaluates it.
Every hop of a ring's or tree's critical chain costs NCCL's own per-step latency
(:data:`~collectives.software.NCCL_STEP_LATENCY`) on top of the links' latency.
"""

from dataclasses import replace

import networkx as nx

from netemu.errors import ParameterError

from .ranks import (by_server, crossing_pairs, deepest_path, ring_orders, server_nics,
                    server_zone, zoned_double_binary_tree)
from .software import NCCL_CHUNK, NCCL_STEP_LATENCY
from .workload import Stage, Workload, evaluate

__all__ = ["ring_allreduce", "tree_allreduce", "hierarchical_allreduce", "reduce_scatter",
           "all_gather", "broadcast", "server_trees", "slowest_tree"]


def _ring_stage(name, orders, amount, steps):
    transfers = []
    for order in orders:
        n = len(order)
        transfers += [(order[i], order[(i + 1) % n], amount / len(orders)) for i in range(n)]
    ring = orders[0]
    hops = [(ring[i % len(ring)], ring[(i + 1) % len(ring)]) for i in range(steps)]
    return Stage(name, transfers, chain=hops, step_overhead=NCCL_STEP_LATENCY["ring"])


def ring_allreduce(pm, ranks, size, *, channels=None):
    """Ring allreduce of ``size`` bytes per rank (NCCL's ring algorithm)."""
    n = len(ranks)
    orders = ring_orders(pm, ranks, channels)
    st = _ring_stage("ring", orders, 2 * (n - 1) / n, 2 * (n - 1))
    return Workload("allreduce", "ring", list(ranks), size, [st], {"channels": len(orders)})


def reduce_scatter(pm, ranks, size, *, channels=None):
    """Ring reduce-scatter; ``size`` is the whole array (nccl-tests' S)."""
    n = len(ranks)
    orders = ring_orders(pm, ranks, channels)
    st = _ring_stage("ring", orders, (n - 1) / n, n - 1)
    return Workload("reducescatter", "ring", list(ranks), size, [st], {"channels": len(orders)})


def all_gather(pm, ranks, size, *, channels=None):
    """Ring all-gather; ``size`` is the whole gathered array (nccl-tests' S)."""
    w = reduce_scatter(pm, ranks, size, channels=channels)
    w.collective = "allgather"
    return w


def broadcast(pm, ranks, size, *, channels=None):
    """Pipelined ring broadcast from ``ranks[0]``: every hop but the last carries ``S``."""
    orders = ring_orders(pm, ranks, channels)
    transfers, chain = [], None
    for order in orders:
        k = order.index(ranks[0])
        rot = order[k:] + order[:k]
        hops = list(zip(rot, rot[1:]))
        transfers += [(u, v, 1.0 / len(orders)) for u, v in hops]
        chain = chain or hops
    st = Stage("chain", transfers, chain=chain, chunk=NCCL_CHUNK,
               step_overhead=NCCL_STEP_LATENCY["ring"])
    return Workload("broadcast", "ring", list(ranks), size, [st], {"channels": len(orders)})


def _heads(pm, groups, c):
    """Per server, the rank nearest its ``c``-th NIC (ties: the last in index order)."""
    heads = []
    for s, members in groups:
        nics = server_nics(pm, s)
        if not nics:                  # a lone server without NICs: no way out to choose by
            heads.append(members[-1])
            continue
        nic = nics[c % len(nics)]
        H = pm.G.subgraph(pm._members[s])
        dist = nx.single_source_shortest_path_length(H, nic)
        best = min(dist.get(m, 1 << 30) for m in members)
        heads.append([m for m in members if dist.get(m, 1 << 30) == best][-1])
    return heads


def server_trees(pm, groups, join="roots"):
    """The double binary tree over the servers of ``groups``, following the zones they sit in.

    [FF] §III-B: "NCCL and HFReduce ... use the double binary tree algorithm, so only
    one pair of nodes communicates across zones".  Servers in one zone (or on a
    fabric without zones) get NCCL's double binary tree; servers of several zones get
    one such tree per zone joined by one pair (:func:`~collectives.ranks.zoned_double_binary_tree`).
    ``join`` is where the first zone's gateway sits, a choice the paper leaves open
    (:data:`~collectives.ranks.ZONE_JOINS`).  Returns ``(t1, t2, zones)`` with the zone
    of every server.
    """
    zones = [server_zone(pm, s) for s, _ in groups]
    t1, t2 = zoned_double_binary_tree(zones, join)
    return t1, t2, zones


def slowest_tree(pm, workload, chains):
    """Give ``workload``'s one stage the critical chain of its slowest tree; time every tree.

    The trees of a double binary tree run at once, each with half of the data, so
    the stage ends when the slower one does.  Their bytes share one max-min rate
    (both trees' loads are in the stage), and each tree has its own critical chain
    (depth, kinds of hop, link latency): the stage is evaluated with each tree's
    chain and keeps the one that takes longest.  ``chains`` maps a tree's label to
    its chain; ``workload.info['tree_times']`` gets every tree's time (s).
    """
    st = workload.stages[0]
    times = {}
    for label, chain in chains.items():
        probe = Workload(workload.collective, workload.algorithm, workload.ranks, workload.size,
                         [replace(st, chain=chain)])
        times[label] = evaluate(pm.G, probe, routing=pm.routing, pxn=pm.pxn, seed=pm.seed).time
    slowest = max(times, key=lambda k: times[k])
    workload.stages[0] = replace(st, chain=chains[slowest])
    workload.info["tree_times"] = times
    workload.info["slowest_tree"] = slowest
    return workload


def tree_allreduce(pm, ranks, size, *, channels=None, join="roots"):
    """NCCL's tree allreduce: a double binary tree of servers, a chain inside each server.

    Each of the two trees reduces half of the data up to its root and broadcasts
    it back down; inside a server the ranks form a chain ending at the rank next
    to the NIC.  With several NIC lanes, one tree pair per lane (channel).  Across
    zones the trees follow [FF] §III-B (:func:`server_trees`), and the stage is
    timed on every tree's critical chain, the slowest one bounding it
    (:func:`slowest_tree`); ``join`` is :func:`server_trees`'.
    """
    groups = by_server(ranks)
    if channels is None:
        channels = min(max(len(pm.access_points(s)), 1) for s, _ in groups)
    t1, t2, zones = server_trees(pm, groups, join)
    transfers, chains = [], {}
    share = 1.0 / channels
    for c in range(channels):
        heads = _heads(pm, groups, c)
        local = []
        for (s, members), h in zip(groups, heads):
            order = [m for m in members if m != h] + [h]
            local.append(list(zip(order, order[1:])))
        for hops in local:       # both trees go up and down every chain: 2 x 1/2 each way
            for u, v in hops:
                transfers += [(u, v, share), (v, u, share)]
        for k, tree in enumerate((t1, t2)):
            for child, parent in tree:
                a, b = heads[child], heads[parent]
                transfers += [(a, b, share / 2), (b, a, share / 2)]
            path = deepest_path(tree)
            up = [(heads[a], heads[b]) for a, b in zip(path, path[1:])]
            inside = local[path[0]]
            chains[f"tree{k + 1}" + (f"/channel{c}" if channels > 1 else "")] = \
                inside + up + [(b, a) for a, b in reversed(up)] + [(v, u) for u, v in reversed(inside)]
    st = Stage("tree", transfers, chain=chains["tree1" + ("/channel0" if channels > 1 else "")],
               chunk=NCCL_CHUNK, step_overhead=NCCL_STEP_LATENCY["tree"])
    w = Workload("allreduce", "tree", list(ranks), size, [st],
                 {"channels": channels, "cross_zone_pairs": len(crossing_pairs((t1, t2), zones))})
    return slowest_tree(pm, w, chains)


def hierarchical_allreduce(pm, ranks, size):
    """Reduce-scatter inside servers, allreduce across servers per shard, all-gather inside."""
    groups = by_server(ranks)
    k = min(len(m) for _, m in groups)
    if any(len(m) != k for _, m in groups):
        raise ParameterError("hierarchical allreduce needs the same number of ranks in every server, got "
                             f"{sorted({len(m) for _, m in groups})}")
    stages = []
    if k > 1:
        rs = [(m[i], m[(i + 1) % k], (k - 1) / k) for _, m in groups for i in range(k)]
        stages.append(Stage("intra reduce-scatter", rs,
                            chain=[(groups[0][1][i % k], groups[0][1][(i + 1) % k])
                                   for i in range(k - 1)],
                            step_overhead=NCCL_STEP_LATENCY["ring"]))
    N = len(groups)
    if N > 1:
        inter = []
        for i in range(k):
            col = [m[i] for _, m in groups]
            inter += [(col[j], col[(j + 1) % N], 2 * (N - 1) / N / k) for j in range(N)]
        col0 = [m[0] for _, m in groups]
        stages.append(Stage("inter allreduce", inter,
                            chain=[(col0[j % N], col0[(j + 1) % N]) for j in range(2 * (N - 1))],
                            step_overhead=NCCL_STEP_LATENCY["ring"]))
    if k > 1:
        ag = [(u, v, a) for u, v, a in stages[0].transfers]
        stages.append(Stage("intra all-gather", ag, chain=list(stages[0].chain),
                            step_overhead=NCCL_STEP_LATENCY["ring"]))
    return Workload("allreduce", "hierarchical", list(ranks), size, stages, {})
