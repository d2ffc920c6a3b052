"""Size, bisection bandwidth, diameter and cost of a fabric, in one call.

:func:`summary` reports what network-topology papers tabulate ([ISCA]
Table 3, [SF]): endpoints, switches, switch-to-switch links, the
bandwidth across the worst-case halving, the endpoint-to-endpoint diameter and
the price from :mod:`topologies.cost`.

Definitions
-----------
- *Endpoints* are :func:`netemu.graph.endpoints` (non-switch nodes with a link
  to a switch: hosts, or the NICs of a multi-plane fabric); *switches* are
  :func:`netemu.graph.switches`.
- *links* counts the cables between two switches (an edge's ``cables``) and
  *endpoint_links* the cables between an endpoint and a switch.  Links inside
  a server (server node to NIC) are neither.
- *bisection_bandwidth* is the maximum flow, in bytes/s per direction, from
  the first half of the endpoints (in :func:`~netemu.graph.endpoints` order,
  ``⌊n/2⌋`` of them) to the rest, over the switches and the endpoint links
  only: traffic does not cross servers.  netemu's generators number endpoints
  so that this split is the natural worst case (half the leaves, pods, groups
  or subgraphs against the other half).  By max-flow/min-cut it is the
  capacity of the cheapest set of links separating the halves, so an
  oversubscribed leaf's uplinks count, not its host links.
- *diameter* is the largest number of hops between two endpoints (the two
  endpoint links included), along paths through switches only.  A leaf-spine
  tree has 4, a three-layer tree 6, a Slim Fly 4 and a dragonfly 5.
- *fabric_parts* is the number of connected parts of the switch graph that
  hold endpoints: 1 for a single fabric, ``P`` for a ``P``-plane tree.

Computation
-----------
The flow network has one node per switch plus a source and a sink; each
endpoint link becomes an arc from the source (first half) or to the sink
(second half), which is exact because an endpoint has no capacity of its own.
:func:`scipy.sparse.csgraph.maximum_flow` needs 32-bit integer capacities, so
capacities are counted in the largest unit that divides every bandwidth in the
graph (one 400 Gb/s cable is then 1 unit, and the result is exact).  If the
total would overflow 32 bits in that unit (many different, coprime link
speeds), a coarser unit is used and every capacity is rounded down, which can
under-state the result by at most one unit per link of the minimum cut;
:func:`bisection_bandwidth` returns the unit beside the value.

The diameter comes from a bit-parallel breadth-first search on the switch
graph from every switch that holds endpoints at once (one bit per such
switch, 64 to a machine word; see :func:`_switch_diameter`): about as many
sweeps over the links as the diameter, a few seconds for the
261,632-endpoint dragonfly and under one for the k = 64 fat-tree.  Endpoints
linked to several switches are searched from each of those switches, exactly.
Endpoint pairs that no switch path joins are left out: the planes of a
multi-plane tree meet only inside servers, so its diameter is that of one
plane and ``fabric_parts`` says how many such parts there are.

References
----------
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3", ISCA '25, Table 3.
.. [SF] M. Besta, T. Hoefler, "Slim Fly", SC'14.
"""

import functools
import math

import numpy as np

# scipy loads on first use (it costs more than the rest of the package together), so that
# `import netemu.topologies` and `netemu topo list` stay quick.

from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, edges_with_data

__all__ = ["summary", "fabric_counts", "bisection_bandwidth", "endpoint_diameter", "fabric_parts"]

_INT32_MAX = 2**31 - 1


class _Fabric:
    """Index arrays of the switch graph and of the endpoint attachments of ``G``."""

    def __init__(self, G):
        role = G.nodes(data="role")
        self.switches = [n for n, r in role if r in SWITCH_ROLES]
        index = {n: i for i, n in enumerate(self.switches)}
        self.index = index
        su, sv, sbw, scab = [], [], [], []
        attach = {}                               # endpoint -> [(switch index, bandwidth, cables)]
        for u, v, d in edges_with_data(G):
            iu, iv = index.get(u), index.get(v)
            if iu is not None and iv is not None:
                su.append(iu)
                sv.append(iv)
                sbw.append(d["bandwidth"])
                scab.append(d.get("cables", 1))
            elif iu is not None:
                attach.setdefault(v, []).append((iu, d["bandwidth"], d.get("cables", 1)))
            elif iv is not None:
                attach.setdefault(u, []).append((iv, d["bandwidth"], d.get("cables", 1)))
        # Endpoints in graph order, as netemu.graph.endpoints lists them.
        self.endpoints = [n for n in G if n in attach]
        self.attach = attach
        self.su, self.sv = np.array(su, dtype=np.int64), np.array(sv, dtype=np.int64)
        self.sbw = np.array(sbw, dtype=float)
        self.links = int(sum(scab))
        self.endpoint_links = int(sum(c for links in attach.values() for _, _, c in links))

    def adjacency(self):
        n = len(self.switches)
        ones = np.ones(2 * len(self.su), dtype=np.int8)
        import scipy.sparse as sp

        return sp.csr_matrix((ones, (np.r_[self.su, self.sv], np.r_[self.sv, self.su])),
                             shape=(n, n))


def fabric_counts(G):
    """``{'endpoints', 'switches', 'links', 'endpoint_links'}`` of ``G`` (see module docs)."""
    return _counts(_Fabric(G))


def _counts(F):
    return {"endpoints": len(F.endpoints), "switches": len(F.switches), "links": F.links,
            "endpoint_links": F.endpoint_links}


def bisection_bandwidth(G, *, _fabric=None):
    """Max flow (bytes/s) from the first half of the endpoints to the second half.

    Returns ``(bandwidth, unit)``: ``unit`` is the capacity quantum in bytes/s
    (exact whenever every bandwidth is a multiple of it; see module docs).

    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> from netemu.units import gbps
    >>> bw, unit = bisection_bandwidth(two_layer_fat_tree(8))
    >>> bw / gbps(400), unit / gbps(400)
    (16.0, 1.0)
    """
    F = _fabric or _Fabric(G)
    n, ne = len(F.switches), len(F.endpoints)
    if ne < 2:
        return 0.0, 0.0
    half = ne // 2
    src_cap = np.zeros(n)
    dst_cap = np.zeros(n)
    for k, e in enumerate(F.endpoints):
        side = src_cap if k < half else dst_cap
        for i, bw, _ in F.attach[e]:
            side[i] += bw
    values = np.r_[F.sbw, src_cap[src_cap > 0], dst_cap[dst_cap > 0]]
    unit = _unit(values, bound=max(min(src_cap.sum(), dst_cap.sum()), values.max()))
    S, T = n, n + 1
    si, di = np.nonzero(src_cap)[0], np.nonzero(dst_cap)[0]
    rows = np.r_[F.su, F.sv, np.full(len(si), S), di]
    cols = np.r_[F.sv, F.su, si, np.full(len(di), T)]
    caps = np.floor(np.r_[F.sbw, F.sbw, src_cap[si], dst_cap[di]] / unit + 1e-9)
    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_flow

    A = sp.csr_matrix((caps.astype(np.int32), (rows, cols)), shape=(n + 2, n + 2))
    return float(maximum_flow(A, S, T).flow_value) * unit, unit


def _unit(values, bound):
    """Largest capacity quantum dividing every value, coarsened until ``bound`` fits in int32."""
    ints = np.rint(values).astype(np.int64)
    exact = bool(np.all(np.abs(ints - values) < 1e-6 * np.maximum(1.0, values)))
    unit = int(np.gcd.reduce(ints)) if exact else 1
    unit = max(unit, 1)
    if bound / unit > _INT32_MAX // 2:
        unit *= math.ceil(bound / unit / (_INT32_MAX // 2))
    return float(unit)


def endpoint_diameter(G, *, _fabric=None):
    """Largest hop count between two endpoints joined by a path through switches.

    Endpoints that no switch path joins (NICs on different planes of a
    multi-plane tree, which only meet inside a server) are left out; see
    :func:`fabric_parts`.

    >>> from topologies.fat_tree import three_layer_fat_tree
    >>> endpoint_diameter(three_layer_fat_tree(4))
    6
    """
    F = _fabric or _Fabric(G)
    if len(F.endpoints) < 2:
        return 0
    classes = {tuple(sorted({i for i, _, _ in F.attach[e]})) for e in F.endpoints}
    singles = np.array(sorted({c[0] for c in classes if len(c) == 1}), dtype=np.int64)
    multis = sorted(c for c in classes if len(c) > 1)
    A = F.adjacency()
    far = _switch_diameter(A, singles) if len(singles) else 0
    if multis:
        members = sorted({i for c in multis for i in c})
        from scipy.sparse.csgraph import shortest_path

        rows = dict(zip(members, shortest_path(A, unweighted=True, indices=members)))
        reach = [np.min([rows[i] for i in c], axis=0) for c in multis]
        for k, dist in enumerate(reach):
            near = np.r_[dist[singles], [min(dist[i] for i in c) for c in multis[k:]]]
            near = near[np.isfinite(near)]
            far = max(far, int(near.max()) if len(near) else 0)
    return far + 2


def fabric_parts(G, *, _fabric=None):
    """Number of parts of the switch graph that hold endpoints (the planes of an MPFT).

    >>> from topologies.planes import multi_plane_fat_tree
    >>> fabric_parts(multi_plane_fat_tree(4, 4))
    4
    """
    from scipy.sparse.csgraph import connected_components

    F = _fabric or _Fabric(G)
    _, label = connected_components(F.adjacency(), directed=False)
    return len({int(label[i]) for e in F.endpoints for i, _, _ in F.attach[e]})


#: Bytes of one gather in the bit-parallel search: bounds its working memory.
_GATHER_BYTES = 64 * 2**20
#: Targets per pass of the bit-parallel search: bounds its reachability table.
_TARGET_BLOCK = 16384


def _switch_diameter(A, targets):
    """max over pairs of ``targets`` joined by a path of their distance in ``A``.

    Bit-parallel breadth-first search from every target at once: row ``v`` of
    ``R`` holds, one bit per target, the targets within ``k`` hops of ``v``;
    at each hop a row ORs in the rows of its neighbours that changed at the
    hop before (the others bring nothing new).  A target row that gains a bit
    at hop ``k`` has a target at distance exactly ``k``.  A row holding every
    target of its connected part is done; the search ends when no row
    changes.
    """
    from scipy.sparse.csgraph import connected_components

    A = A.tocsr()
    n, far = A.shape[0], 0
    _, label = connected_components(A, directed=False)
    is_target = np.zeros(n, dtype=bool)
    is_target[targets] = True
    for start in range(0, len(targets), _TARGET_BLOCK):
        cols = targets[start:start + _TARGET_BLOCK]
        width = (len(cols) + 63) // 64            # 64-bit words: numpy gathers whole words fast
        R = np.zeros((n, width), dtype=np.uint64)
        j = np.arange(len(cols), dtype=np.uint64)
        word = (j >> np.uint64(6)).astype(np.int64)
        bit = np.left_shift(np.uint64(1), j & np.uint64(63))
        np.bitwise_or.at(R, (cols, word), bit)
        full = np.zeros((label.max() + 1, width), dtype=np.uint64)   # every target, per part
        np.bitwise_or.at(full, (label[cols], word), bit)
        changed = np.ones(n, dtype=bool)
        hop = 0
        while True:
            open_rows = np.nonzero(np.any(R != full[label], axis=1))[0]
            moved = np.nonzero(changed)[0]
            if not len(open_rows) or not len(moved):
                break
            hop += 1
            kernel = _or_kernel()
            if kernel is not None:
                # Compiled: each open row ORs its changed neighbours' rows in place, without
                # the gathered copy (1.5 GB a hop on the ISCA dragonfly's 16,352 routers).
                new = np.empty((len(open_rows), width), dtype=np.uint64)
                kernel(A.indptr, A.indices, changed, open_rows, R, new)
            else:
                new = _or_neighbours(A, R, open_rows, moved, width)
            grew = np.any(new != R[open_rows], axis=1)
            changed = np.zeros(n, dtype=bool)
            changed[open_rows[grew]] = True
            R[open_rows] = new
            if changed[is_target].any():
                far = max(far, hop)
    return far


def _or_neighbours(A, R, open_rows, moved, width):
    """``R[open_rows]`` ORed with the rows of their neighbours among ``moved`` (numpy)."""
    B = A[open_rows][:, moved].tocsr()
    new = R[open_rows]
    rows = np.nonzero(np.diff(B.indptr))[0]
    chunk = max(1, _GATHER_BYTES // (8 * width))
    lo = 0
    while lo < len(rows):
        # Take rows until their neighbour lists fill one gather.
        limit = B.indptr[rows[lo]] + chunk
        hi = max(lo + 1, int(np.searchsorted(B.indptr[rows + 1], limit, side="right")))
        part = rows[lo:hi]
        a, b = B.indptr[part[0]], B.indptr[part[-1] + 1]
        gathered = R[moved[B.indices[a:b]]]
        new[part] |= np.bitwise_or.reduceat(gathered, B.indptr[part] - a, axis=0)
        lo = hi
    return new


def _or_rows(indptr, indices, changed, open_rows, R, new):
    """``new[k] = R[i] | R[j] for every neighbour j of i = open_rows[k] with changed[j]``."""
    width = R.shape[1]
    for k in range(open_rows.size):
        i = open_rows[k]
        for w in range(width):
            new[k, w] = R[i, w]
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            if changed[j]:
                for w in range(width):
                    new[k, w] |= R[j, w]


@functools.lru_cache(maxsize=1)
def _or_kernel():
    """:func:`_or_rows` compiled by numba (kept in netemu's per-user kernel cache), or None
    where numba is absent (the numpy form then runs)."""
    from netemu import flow
    if not flow.HAVE_NUMBA:
        return None
    return flow._jit(_or_rows)


def summary(G, *, layout=None):
    """Counts, bisection bandwidth, diameter and cost of the fabric ``G``.

    Parameters
    ----------
    G : networkx.Graph
        A netemu graph (see :mod:`netemu.graph`).
    layout : topologies.cost.Layout, optional
        Physical layout for the cost model (default
        :data:`topologies.cost.DEFAULT_LAYOUT`).

    Returns
    -------
    dict
        ``endpoints``, ``switches``, ``links`` (switch-switch cables),
        ``endpoint_links``, ``bisection_bandwidth`` (bytes/s per direction),
        ``diameter`` (hops between endpoints), ``fabric_parts``, ``cost_usd`` and
        ``cost_per_endpoint_usd`` (module docs; cost from
        :func:`topologies.cost.cost`; NaN, with the reason in ``cost_note``, for a graph
        the cost model refuses).

    Examples
    --------
    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> from netemu.units import gbps
    >>> s = summary(two_layer_fat_tree(8))
    >>> s["endpoints"], s["switches"], s["links"], s["endpoint_links"], s["diameter"]
    (32, 12, 32, 32, 4)
    >>> s["bisection_bandwidth"] / gbps(400)
    16.0
    """
    from .cost import cost

    F = _Fabric(G)
    out = _counts(F)
    out["bisection_bandwidth"] = bisection_bandwidth(G, _fabric=F)[0]
    out["diameter"] = endpoint_diameter(G, _fabric=F)
    out["fabric_parts"] = fabric_parts(G, _fabric=F)
    try:
        price = cost(G, layout=layout)
    except ParameterError as exc:
        # A graph the cost model cannot price (a switch below the price line's range) still
        # has its other figures; the cost is NaN and the reason is given beside it.
        out["cost_usd"] = out["cost_per_endpoint_usd"] = math.nan
        out["cost_note"] = f"not priced: {exc}"
        return out
    out["cost_usd"] = price["total_usd"]
    out["cost_per_endpoint_usd"] = price["per_endpoint_usd"]
    return out
