"""Dragonfly: fully connected groups of routers, joined by global links.

The canonical dragonfly of Kim et al. ([Kim08]) has three parameters per
router — ``p`` endpoints, ``a - 1`` local links (one to every other router of
its group of ``a``) and ``h`` global links — and ``g`` groups.  With the
maximum ``g = a h + 1`` groups every pair of groups is joined by exactly one
global link.  [Kim08] balances the channels with ``a = 2p = 2h``.

Fewer groups are allowed: a group still has ``a h`` global ports, spread as
evenly as possible over the ``g - 1`` other groups, so every pair of groups
gets ``⌊a h / (g - 1)⌋`` or one more global cable.  The pairs that get the extra
cable form a circulant graph on the groups: group ``i`` gets one more towards
``i ± 1, i ± 2, ..., i ± e/2`` where ``e = a h - (g - 1) ⌊a h / (g - 1)⌋``
(plus ``i + g/2`` if ``e`` is odd and ``g`` even).  If ``e`` and ``g`` are
both odd, ``g e`` ports cannot all pair up: the groups at offset
``(e + 1)/2`` are matched in turn along each cycle of that circulant, leaving
one group per cycle with one global port unused.  [ISCA] Table 3 sizes its DF
with ``a = 32, p = 16, h = 16`` and ``g = 511``: each of the 511 groups has 512
global ports for 510 other groups, so every group pair gets one cable and each
group two more, to its neighbours ``i ± 1``.

Global-link arrangement ("absolute", [Camarero]): group ``i`` lists its global
cables in order of the group at the other end (``0, 1, ..., g - 1``, skipping
itself, a group reached by ``c`` cables listed ``c`` times), and its router
``r`` takes the cables at positions ``r h ... r h + h - 1`` of that list.  The
``t``-th cable between two groups joins the routers holding it in either
list.  Parallel cables between the same two routers are one edge whose
``cables`` counts them (:mod:`netemu.graph`).

Naming: routers ``g{G}/r{a}`` (role ``router``, attrs ``group`` = ``G``,
``index`` = ``G a_count + a``, the router's global number), endpoints ``n{h}``
(role ``host``, attr ``router`` = that global number), ``h = index p + j``, so
the first half of the endpoints sits on the first half of the groups.

References
----------
.. [Kim08] J. Kim, W. J. Dally, S. Scott, D. Abts, "Technology-Driven,
   Highly-Scalable Dragonfly Topology", ISCA 2008.
.. [Camarero] C. Camarero, E. Vallejo, R. Beivide, "Topological
   Characterization of Hamming and Dragonfly Networks and its Implications on
   Routing", ACM TACO 11(4), 2014 (global-link arrangements).
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3", ISCA '25, Table 3.
"""

from collections import Counter

from netemu.checks import check_choice, check_int, check_nonnegative, check_positive
from netemu.graph import MEDIA, new_graph
from netemu.memory import check_fits, graph_bytes

from .hardware import IB_NDR_64

__all__ = ["dragonfly", "group_cables"]


def group_cables(a, h, g):
    """Global cables between each pair of groups: ``{(i, j): count}`` for ``i < j``.

    >>> sorted(group_cables(2, 1, 3).items())
    [((0, 1), 1), ((0, 2), 1), ((1, 2), 1)]
    >>> c = group_cables(32, 16, 511)
    >>> sum(c.values()), c[0, 1], c[0, 2]
    (130816, 2, 1)
    """
    base, extra = divmod(a * h, g - 1)
    counts = {(i, j): base for i in range(g) for j in range(i + 1, g)}

    def more(i, j):
        counts[min(i, j), max(i, j)] += 1

    for d in range(1, extra // 2 + 1):
        for i in range(g):
            more(i, (i + d) % g)
    if extra % 2 and g % 2 == 0:
        for i in range(g // 2):
            more(i, i + g // 2)
    elif extra % 2:
        # g and extra odd: g * extra ports cannot all pair up.  Match consecutive groups
        # along each (odd) cycle of offset d, leaving one group per cycle a port short.
        d, done = extra // 2 + 1, set()
        for start in range(g):
            if start in done:
                continue
            cycle, i = [], start
            while i not in done:
                done.add(i)
                cycle.append(i)
                i = (i + d) % g
            for t in range(0, len(cycle) - 1, 2):
                more(cycle[t], cycle[t + 1])
    return counts


def dragonfly(a, p, h, g=None, *, link_bandwidth=IB_NDR_64.port_bandwidth, latency=0.0, medium="ib"):
    """Return a canonical dragonfly of ``g`` groups of ``a`` routers.

    Parameters
    ----------
    a : int
        Routers per group (at least 1), fully connected by local links.
    p : int
        Endpoints per router (at least 0).
    h : int
        Global links per router (at least 1).
    g : int, optional
        Groups, 2 ... ``a h + 1`` (default ``a h + 1``: one global link per
        group pair).
    link_bandwidth : float
        Bytes/s per direction of one cable, local, global or endpoint
        (default 400 Gb/s).
    latency : float
        Seconds per link (default 0).
    medium : str
        Link medium (default ``'ib'``).

    Returns
    -------
    networkx.Graph
        Routers ``g{G}/r{a}`` and endpoints ``n{h}`` as described in the
        module docstring: ``g a (a - 1) / 2`` local and ``⌊g a h / 2⌋`` global
        cables when every global port can be paired.

    Raises
    ------
    ParameterError
        A size below its minimum, ``g`` above ``a h + 1``, or a bad bandwidth,
        latency or medium.

    Examples
    --------
    The maximum dragonfly of a = 4, h = 2: 9 groups, one global cable per pair.

    >>> import networkx as nx
    >>> G = dragonfly(4, 2, 2)
    >>> routers = [n for n, r in G.nodes(data="role") if r == "router"]
    >>> len(routers), {G.degree(r) for r in routers}
    (36, {7})
    >>> nx.diameter(G.subgraph(routers))
    3

    Five groups instead of nine: each group's 8 global ports give every other
    group two cables, here both from router 0 of group 0 to router 0 of group 1:

    >>> G = dragonfly(4, 2, 2, 5)
    >>> G.edges["g0/r0", "g1/r0"]["cables"]
    2
    >>> sum(c for u, v, c in G.edges(data="cables") if u[0] == v[0] == "g")
    50
    """
    params = dict(a=a, p=p, h=h, g=g, link_bandwidth=link_bandwidth, latency=latency,
                  medium=medium)
    a = check_int("a", a, minimum=1)
    p = check_int("p", p, minimum=0)
    h = check_int("h", h, minimum=1)
    g = check_int("g", a * h + 1 if g is None else g, minimum=2, maximum=a * h + 1)
    link_bandwidth = check_positive("link_bandwidth", link_bandwidth)
    latency = check_nonnegative("latency", latency)
    check_choice("medium", medium, sorted(MEDIA))
    params.update(a=a, p=p, h=h, g=g if params["g"] is not None else None,
                  link_bandwidth=link_bandwidth, latency=latency)

    check_fits(graph_bytes(g * a * (1 + p), g * a * (p + a + h)),
               f"a dragonfly of {g:,} groups of {a:,} routers")
    G = new_graph("dragonfly", params)
    name = [f"g{grp}/r{r}" for grp in range(g) for r in range(a)]
    G.add_nodes_from((name[i], {"role": "router", "group": i // a, "index": i})
                     for i in range(g * a))
    G.add_edges_from(((name[grp * a + r], name[grp * a + s]) for grp in range(g)
                      for r in range(a) for s in range(r + 1, a)),
                     bandwidth=link_bandwidth, latency=latency, medium=medium, cables=1)

    counts = group_cables(a, h, g)
    peers = [[] for _ in range(g)]                # each group's cable list, peers in order
    for (i, j), c in sorted(counts.items()):
        peers[i].append((j, c))
        peers[j].append((i, c))
    holder = {}                                   # (group, peer) -> routers holding those cables
    for i in range(g):
        pos = 0
        for j, c in sorted(peers[i]):
            holder[i, j] = [i * a + (pos + t) // h for t in range(c)]
            pos += c
    trunks = Counter()
    for (i, j), c in counts.items():
        for u, v in zip(holder[i, j], holder[j, i]):
            trunks[min(u, v), max(u, v)] += 1
    G.add_edges_from((name[u], name[v], {"bandwidth": link_bandwidth * c, "latency": latency,
                                         "medium": medium, "cables": c})
                     for (u, v), c in sorted(trunks.items()))

    G.add_nodes_from((f"n{e}", {"role": "host", "router": e // p, "index": e})
                     for e in range(g * a * p))
    G.add_edges_from(((f"n{e}", name[e // p]) for e in range(g * a * p)),
                     bandwidth=link_bandwidth, latency=latency, medium=medium, cables=1)
    return G
