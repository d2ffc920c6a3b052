"""Ranks of a job on a cluster: which GPUs, grouped by server, and the orders rings and trees use."""

import numbers

import networkx as nx

from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, endpoints
from netemu.routing import natural_key, server_key

__all__ = ["cluster_gpus", "pick_ranks", "by_server", "ring_orders", "double_binary_tree",
           "tree_depth", "deepest_path"]


def cluster_gpus(G):
    """Every GPU of ``G`` in natural order (server by server); the endpoints if it has no GPUs."""
    gpus = [n for n, r in G.nodes(data="role") if r == "gpu"]
    if not gpus:
        gpus = endpoints(G)
    return sorted(gpus, key=natural_key)


def pick_ranks(G, ranks):
    """The job's ranks: an explicit list of nodes, or a count of GPUs filled server by server.

    Raises
    ------
    ParameterError
        For a count below 2 or above the GPUs the cluster holds, or unknown nodes.
    """
    avail = cluster_gpus(G)
    if isinstance(ranks, numbers.Integral) and not isinstance(ranks, bool):
        if not 2 <= ranks <= len(avail):
            raise ParameterError(f"GPU count must be between 2 and the {len(avail)} GPUs this "
                                 f"cluster holds, got {ranks}")
        return avail[:int(ranks)]
    ranks = list(ranks)
    if len(ranks) < 2:
        raise ParameterError(f"a collective needs at least 2 ranks, got {len(ranks)}")
    if len(set(ranks)) != len(ranks):
        raise ParameterError("ranks must be distinct nodes")
    for r in ranks:
        if r not in G or G.nodes[r].get("role") in SWITCH_ROLES:
            raise ParameterError(f"rank {r!r} is not a GPU or endpoint of the graph")
    return ranks


def by_server(ranks):
    """``[(server, [ranks of it in order]), ...]`` in order of first appearance."""
    groups = {}
    for r in ranks:
        groups.setdefault(server_key(r), []).append(r)
    return list(groups.items())


def ring_orders(pm, ranks, channels=None):
    """NCCL-style rings: one per NIC lane, each visiting a server's GPUs in turn.

    Ring ``c`` goes through the servers in order; inside each it visits the
    server's ranks in index order rotated so that it leaves from the rank
    nearest the server's ``c``-th NIC (ties: the last such rank in index order,
    which keeps NVLink-bridged neighbours adjacent).  Returns a list of rank
    orders, one per channel.
    """
    groups = by_server(ranks)
    if channels is None:
        channels = min(max(len(pm.access_points(s)), 1) for s, _ in groups)
    orders = []
    for c in range(channels):
        order = []
        for s, members in groups:
            if len(groups) == 1:
                order.extend(members)
                continue
            aps = pm.access_points(s)
            nic = aps[c % len(aps)]
            H = pm.G.subgraph(pm._members[s])
            dist = nx.single_source_shortest_path_length(H, nic)
            best = min(dist.get(m, 1 << 30) for m in members)
            exit_pos = max(i for i, m in enumerate(members) if dist.get(m, 1 << 30) == best)
            k = len(members)
            order.extend(members[(exit_pos + 1 + i) % k] for i in range(k))
        orders.append(order)
    return orders


def _btree(n, rank):
    """Parent and children of ``rank`` in NCCL's in-order binary tree over ``n`` ranks."""
    bit = 1
    while bit < n and not bit & rank:
        bit <<= 1
    if rank == 0:
        return -1, [bit >> 1] if n > 1 else []
    up = (rank ^ bit) | (bit << 1)
    if up >= n:
        up = rank ^ bit
    low = bit >> 1
    kids = []
    if low:
        kids.append(rank - low)
        d1 = rank + low
        while d1 >= n and low:
            low >>= 1
            d1 = rank + low
        if low and d1 < n:
            kids.append(d1)
    return up, kids


def double_binary_tree(n):
    """Two binary trees over ranks ``0..n-1`` in which most ranks are a leaf of one of them.

    The first tree is NCCL's in-order tree; the second is it mirrored (even
    ``n``) or shifted by one (odd ``n``), so a rank that is internal in one tree
    is a leaf in the other.  Returns two lists of ``(child, parent)`` edges.

    Examples
    --------
    >>> t1, t2 = double_binary_tree(4)
    >>> sorted(t1), sorted(t2)
    ([(1, 2), (2, 0), (3, 2)], [(0, 1), (1, 3), (2, 1)])
    """
    if n < 2:
        return [], []
    t1 = [(r, _btree(n, r)[0]) for r in range(1, n)]
    if n % 2:
        t2 = [((c + 1) % n, (p + 1) % n) for c, p in t1]
    else:
        t2 = [(n - 1 - c, n - 1 - p) for c, p in t1]
    return t1, t2


def deepest_path(edges):
    """A longest child-to-root chain of a tree of ``(child, parent)`` pairs, as rank ids."""
    parent = dict(edges)
    best = [0] if not parent else None
    for c in parent:
        path, x = [c], c
        while x in parent:
            x = parent[x]
            path.append(x)
        if best is None or len(path) > len(best):
            best = path
    return best


def tree_depth(edges):
    """Longest child-to-root chain (in edges) of a tree given as ``(child, parent)`` pairs."""
    parent = dict(edges)
    best = 0
    for c in parent:
        d, x = 0, c
        while x in parent:
            x = parent[x]
            d += 1
        best = max(best, d)
    return best
