"""Ranks of a job on a cluster: which GPUs, grouped by server, and the orders rings and trees use."""

import numbers
import weakref

import networkx as nx

from netemu.checks import check_choice
from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, endpoints
from netemu.routing import natural_key, server_key

__all__ = ["cluster_gpus", "pick_ranks", "by_server", "ring_orders", "double_binary_tree",
           "server_zone", "ZONE_JOINS", "zoned_double_binary_tree", "crossing_edges", "tree_depth",
           "deepest_path", "crossing_pairs", "server_nics"]


#: GPUs of frozen graphs (networkx.freeze: they cannot change), kept while the graph lives.
_FROZEN_GPUS = weakref.WeakKeyDictionary()


def server_nics(pm, server):
    """The NICs ``server``'s collectives leave through: its access points; for a server that
    has none (a job inside one server whose NIC links failed, or a lone server graph; a job
    across servers is refused before, :func:`netemu.collectives._check_reachable`) its NIC
    nodes by name, which still place its reduction socket and its chain heads.  Empty only
    for a server without NICs."""
    aps = pm.access_points(server)
    if aps:
        return aps
    G = pm.G
    return sorted((n for n in pm._members[server] if G.nodes[n].get("role") == "nic"),
                  key=natural_key)


def cluster_gpus(G):
    """Every GPU of ``G`` in natural order (server by server); the endpoints if it has no GPUs."""
    frozen = getattr(G, "frozen", False)
    if frozen:
        got = _FROZEN_GPUS.get(G)
        if got is not None:
            return list(got)
    gpus = [n for n, r in G.nodes(data="role") if r == "gpu"]
    if not gpus:
        gpus = endpoints(G)
    gpus = sorted(gpus, key=natural_key)
    if frozen:
        # Every point of a sweep picks its ranks from the same shared (frozen) cluster.
        _FROZEN_GPUS[G] = tuple(gpus)
    return gpus


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
    # A training step asks for the same rings thousands of times; they depend on the path
    # model's (unchanged) graph, the ranks and the channel count only.
    cache = pm.__dict__.setdefault("_ring_orders", {})
    key = (tuple(ranks), channels)
    got = cache.get(key)
    if got is None:
        got = cache[key] = _ring_orders(pm, ranks, channels)
    return [list(o) for o in got]


def _ring_orders(pm, ranks, channels):
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
            dist = _server_distances(pm, s, nic)
            best = min(dist.get(m, 1 << 30) for m in members)
            exit_pos = max(i for i, m in enumerate(members) if dist.get(m, 1 << 30) == best)
            k = len(members)
            order.extend(members[(exit_pos + 1 + i) % k] for i in range(k))
        orders.append(order)
    return orders


def _server_distances(pm, server, source):
    """Hops from ``source`` to every node of ``server`` inside it, kept on the path model.

    A training step builds thousands of rings over the same servers; the path model lives
    as long as its graph is unchanged (:func:`collectives.workload.path_model`), so the
    distances can too.
    """
    cache = pm.__dict__.setdefault("_server_distances", {})
    got = cache.get((server, source))
    if got is None:
        H = pm.G.subgraph(pm._members[server])
        got = cache[server, source] = nx.single_source_shortest_path_length(H, source)
    return got


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


def server_zone(pm, server):
    """Zone of ``server``: the ``zone`` of the switches its access points link to, else None.

    Fire-Flyer 2's leaves carry ``zone`` (:func:`topologies.fire_flyer.fire_flyer_2`);
    fabrics without zones, and a server whose links reach switches of several zones
    (a storage server), give None.
    """
    G = pm.G
    zones = {G.nodes[m].get("zone") for a in pm.access_points(server) for m in G.adj[a]
             if G.nodes[m].get("role") in SWITCH_ROLES}
    return zones.pop() if len(zones) == 1 else None


def _root(edges, n):
    kids = {c for c, _ in edges}
    return next(r for r in range(n) if r not in kids)


#: How a zone's gateway sits in its zone's trees (see :func:`zoned_double_binary_tree`).
ZONE_JOINS = ("roots", "nccl")


def zoned_double_binary_tree(zones, join="roots"):
    """Double binary tree over ranks ``0..n-1`` whose ranks sit in ``zones``: one pair crosses.

    [FF] §III-B: "NCCL and HFReduce ... across zones ... use the double binary
    tree algorithm, so only one pair of nodes communicates across zones".  Each
    zone gets its own NCCL double binary tree (:func:`double_binary_tree` over its
    ranks in order), and its first rank is the zone's *gateway*.  The zones, in order
    of first appearance, are chained gateway to gateway in both trees: the gateway of
    zone ``i`` becomes a child of the gateway of zone ``i - 1``.  With two zones
    exactly one pair of ranks (the two gateways) is joined across zones, the same
    pair in both trees, and every rank keeps at most two children.  With a single
    zone this is :func:`double_binary_tree` itself.

    A gateway that hangs from another zone must top its zone in both trees, so in
    the second tree it swaps places with that tree's root (the shape stays NCCL's).
    The paper does not say where the first zone's gateway sits, so ``join`` is a
    choice:

    - ``'roots'`` (default): it too is the root of both of its zone's trees; each
      tree is one level deeper than a zone's own, and the first gateway has two
      children in both trees (one more child's data to receive and add).
    - ``'nccl'``: the first zone keeps NCCL's trees untouched; its gateway is
      NCCL's root of the first tree, a leaf of the second for an even count (a free
      child slot for an odd one), so the other zones hang from a leaf of the second
      tree, which becomes about twice as deep.

    Parameters
    ----------
    zones : sequence
        Zone label of each rank (any hashable; None is a zone of its own kind).
    join : {'roots', 'nccl'}
        Where the first zone's gateway sits (above).

    Returns
    -------
    (list, list)
        The two trees as ``(child, parent)`` edges over ``0..n-1``.

    Examples
    --------
    >>> t1, t2 = zoned_double_binary_tree([0, 0, 0, 1, 1, 1])
    >>> [(c, p) for c, p in t1 + t2 if (c < 3) != (p < 3)]
    [(3, 0), (3, 0)]
    >>> zoned_double_binary_tree([0, 0, 0, 0]) == double_binary_tree(4)
    True
    """
    check_choice("join", join, ZONE_JOINS)
    members = {}
    for i, z in enumerate(zones):
        members.setdefault(z, []).append(i)
    if len(members) <= 1:
        return double_binary_tree(len(zones))
    trees = ([], [])
    gateways = []
    for j, ranks in enumerate(members.values()):
        a1, a2 = double_binary_tree(len(ranks))
        kids2 = [p for _, p in a2].count(0)
        if j > 0 or join == "roots" or kids2 > 1:
            # A zone below the first hangs from its gateway, which must then top the zone
            # in both trees; with 'nccl' the first zone's gateway only needs a free child
            # slot in both (NCCL's root of the first tree is a leaf of the second for even
            # sizes).
            r2 = _root(a2, len(ranks)) if a2 else 0
            swap = {0: r2, r2: 0}
            a2 = [(swap.get(c, c), swap.get(p, p)) for c, p in a2]
        trees[0].extend((ranks[c], ranks[p]) for c, p in a1)
        trees[1].extend((ranks[c], ranks[p]) for c, p in a2)
        gateways.append(ranks[0])
    for up, down in zip(gateways, gateways[1:]):
        for t in trees:
            t.append((down, up))
    return trees


def crossing_edges(edges, zones):
    """The ``(child, parent)`` edges of a tree whose two ends are in different zones."""
    return [(c, p) for c, p in edges if zones[c] != zones[p]]


def crossing_pairs(trees, zones):
    """The distinct unordered pairs of ranks that ``trees`` join across zones."""
    return {frozenset(e) for t in trees for e in crossing_edges(t, zones)}


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
