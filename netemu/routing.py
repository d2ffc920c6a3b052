"""Routing: for every flow, the resources it crosses and the share of its rate on each.

Resources (docs/architecture.md §4) are the two directions of every edge and every node that
carries a ``capacity``; :class:`Resources` numbers them and names them for
printing (``leaf3->spine1``, ``n17/memory``).

Path model
----------
Every routing mode shares one path enumerator, as ripl's engines do: the
*equal-cost next hops* of a node towards a destination (the neighbours one hop
closer to it, fewest hops first).  The modes are policy objects
(:mod:`netemu.policies`, where names are resolved and validated) that differ
only in how they pick among them:

``'spray'``
    Ideal packet spraying: the flow is split evenly over *all* shortest paths.
    The share of a directed edge ``u->v`` is (paths through it) / (all paths),
    counted, never enumerated: with ``P(x, t)`` the number of shortest paths
    from ``x`` to target ``t`` and ``d`` the hop distance, the edge carries
    ``P(src, u) * P(v, dst) / P(src, dst)`` when ``d(src, u) + 1 + d(v, dst) =
    d(src, dst)`` and nothing otherwise.
``'hash'``
    Per-flow ECMP, decided hop by hop as a Linux or InfiniBand switch does:
    every node with several equal-cost next hops hashes the flow's 5-tuple
    (source, destination, source port, destination port, protocol) with a
    per-node salt and the ``seed``, and takes next hop ``hash mod count``.  The
    5-tuple is (stable index of the source, of the destination, ``49152 + i
    mod 16384`` for flow ``i`` unless the traffic gives ports, 4791 (the RoCEv2
    UDP port), 17 (UDP)); the hash is SplitMix64.  So two flows may collide on
    one uplink while another stays idle, as on real switches, and the same
    seed always gives the same paths.
``'dmodk'``
    Static destination-based routing like InfiniBand's D-mod-k: at the
    ``h``-th node on the path that has ``c_h > 1`` equal-cost next hops (going
    up a tree; going down there is only one), the next hop is candidate number
    ``(dst // (c_1 * ... * c_{h-1})) mod c_h`` in natural name order, where
    ``dst`` is the destination's rank among the endpoints of its fabric
    component (natural name order, e.g. ``n17`` is 17 in a leaf-spine, and
    NIC ``n17/nic3`` is 17 in plane 3).  In a two-layer leaf-spine with ``S``
    spines this sends every flow to host ``d`` through spine ``d mod S``; in
    a k-ary three-layer tree it is Zahavi's ``(d // (k/2)^l) mod (k/2)`` at
    level ``l``.
``'adaptive'``
    Switch adaptive routing: flows are placed one after another in flow order,
    and at every node with several equal-cost next hops a flow takes the one
    whose link carries the least load placed so far (its size in bytes, or 1
    per flow without sizes; ties in natural port order).  Deterministic; see
    :mod:`netemu.policies` for why the load is the demand.
explicit paths
    A mapping ``{(src, dst): [node, ...]}`` gives every flow's path.

Transit rule
------------
A path crosses non-switch nodes only inside the source's or the destination's
own server: the nodes whose name shares the ``n17/`` prefix, and the server
node ``n17`` itself.  Between servers it crosses switches only.

Plane-aware forwarding (NCCL PXN)
---------------------------------
A flow leaves its server through the *egress* access point (a node of the
source's server linked to a switch) that is nearest the destination in the
fabric (fewest switch hops); ties go to the one nearest the source inside the
server, the source itself first.  So ``n0/nic0 -> n5/nic3`` on a multi-plane
fabric goes ``n0/nic0 -> n0 -> n0/nic3 -> plane 3 -> n5/nic3``, and on a
multi-rail fabric it moves to the rail of the destination before entering the
network.  The fabric always delivers to the destination endpoint itself.  Two
endpoints of one server talk over the server's own links.  ``pxn=False``
keeps every flow on its source's own links to the fabric.

Flows that start or end inside a server (a GPU, host memory: not linked to a
switch) are planned by :mod:`netemu.serverpaths` -- own NICs, PXN proxy GPUs,
and failover onto surviving NICs and planes -- which every collective uses too;
their fabric segments are routed here, access point to access point.

Scale
-----
Flows are routed per attachment, not per flow: shares between the source's
switch(es) and the destination's are computed once per (source attachment,
destination attachment) pair -- or per distinct path in ``'hash'`` and
``'dmodk'`` mode -- and become one row of a :class:`~netemu.flow.FlowSet`
group matrix.  A flow is up to three group ids (source side, fabric,
destination side) and flows with the same ids become one row with a count.
A sprayed all-to-all too large for a row per flow is solved from these groups
in factored form by :mod:`netemu.product` (:meth:`_Router.route_groups`).
"""

import math
import re

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .errors import ParameterError, RoutingError
from .flow import FlowSet
from .graph import SWITCH_ROLES
from .policies import MODES, check_seed, resolve

__all__ = ["MODES", "Resources", "Routes", "route", "natural_key", "server_key",
           "DEFAULT_DPORT", "DEFAULT_SPORT_BASE", "UDP"]

#: RoCEv2 runs over UDP to this port; the source port is what varies per queue pair.
DEFAULT_DPORT = 4791
DEFAULT_SPORT_BASE = 49152      # IANA dynamic port range, 49152..65535
UDP = 17
_UNREACH = 1 << 30
_MISSING = object()


def natural_key(name):
    """Sort key that orders ``spine2`` before ``spine10`` and ``n2/nic1`` before ``n10/nic0``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                 for t in re.split(r"(\d+)", str(name)) if t)


def server_key(name):
    """The server a non-switch node belongs to: the name up to the first ``/``."""
    return str(name).split("/", 1)[0]


class Resources:
    """The shared resources of a graph: both directions of every edge, then capacity nodes.

    Directed edge ``u->v`` and ``v->u`` of the ``i``-th edge of ``G.edges`` are
    resources ``2i`` and ``2i+1``; nodes with a ``capacity`` follow, in graph
    order.  ``capacity[r]`` is in bytes/s.
    """

    def __init__(self, G):
        self.nodes = list(G.nodes)
        self.node_index = {n: i for i, n in enumerate(self.nodes)}
        idx = self.node_index
        n_edges = G.number_of_edges()
        tail = np.empty(2 * n_edges, dtype=np.int64)
        head = np.empty(2 * n_edges, dtype=np.int64)
        cap = np.empty(2 * n_edges, dtype=np.float64)
        for i, (u, v, bw) in enumerate(G.edges(data="bandwidth")):
            a, b = idx[u], idx[v]
            tail[2 * i], head[2 * i], tail[2 * i + 1], head[2 * i + 1] = a, b, b, a
            cap[2 * i] = cap[2 * i + 1] = bw
        self.edge_tail, self.edge_head = tail, head
        self.n_edge_resources = 2 * n_edges
        cap_nodes = [n for n, c in G.nodes(data="capacity") if c is not None]
        self.node_resource = np.full(len(self.nodes), -1, dtype=np.int64)
        for j, n in enumerate(cap_nodes):
            self.node_resource[idx[n]] = 2 * n_edges + j
        self.capacity_nodes = np.array([idx[n] for n in cap_nodes], dtype=np.int64)
        self.capacity = np.concatenate([cap, np.array([float(G.nodes[n]["capacity"])
                                                       for n in cap_nodes])])
        # Directed-edge lookup by sorted (tail, head) key: vectorised and compact.
        nn = max(len(self.nodes), 1)
        keys = tail * nn + head
        order = np.argsort(keys, kind="stable")
        self._keys, self._ids = keys[order], order
        self._names = None

    @property
    def n(self):
        return self.capacity.size

    def __len__(self):
        return self.n

    def edge_ids(self, tails, heads):
        """Resource ids of directed edges given as node-index arrays (-1 where no edge)."""
        keys = np.asarray(tails, dtype=np.int64) * max(len(self.nodes), 1) + np.asarray(heads)
        pos = np.searchsorted(self._keys, keys)
        pos = np.minimum(pos, self._keys.size - 1)
        ok = self._keys.size > 0
        found = (self._keys[pos] == keys) if ok else np.zeros(keys.shape, bool)
        return np.where(found, self._ids[pos] if ok else -1, -1)

    def edge_id(self, a, b):
        """Resource id of directed edge a -> b given as node indices (KeyError if none)."""
        d = self.__dict__.get("_edict")
        if d is None:
            d = self._edict = dict(zip(zip(self.edge_tail.tolist(), self.edge_head.tolist()),
                                       range(self.n_edge_resources)))
        return d[(a, b)]

    def edge(self, u, v):
        """Resource id of the direction ``u -> v`` of an edge (names)."""
        try:
            r = int(self.edge_ids([self.node_index[u]], [self.node_index[v]])[0])
        except KeyError as exc:
            raise RoutingError(f"no node {exc.args[0]!r} in the graph") from None
        if r < 0:
            raise RoutingError(f"no link {u!r}-{v!r} in the graph")
        return r

    def node(self, n):
        """Resource id of a capacity node, or -1 if ``n`` has no ``capacity``."""
        return int(self.node_resource[self.node_index[n]])

    def name(self, r):
        r = int(r)
        if r < self.n_edge_resources:
            return f"{self.nodes[self.edge_tail[r]]}->{self.nodes[self.edge_head[r]]}"
        return str(self.nodes[self.capacity_nodes[r - self.n_edge_resources]])

    @property
    def names(self):
        """Printable name of every resource."""
        if self._names is None:
            self._names = [self.name(r) for r in range(self.n)]
        return self._names

    def index(self, name):
        """Resource id of a printable name (``'leaf3->spine1'`` or a capacity node)."""
        if "->" in str(name):
            u, v = str(name).split("->", 1)
            return self.edge(self._node(u), self._node(v))
        n = self._node(name)
        r = self.node(n)
        if r < 0:
            raise RoutingError(f"node {name!r} has no capacity, so it is not a resource")
        return r

    def _node(self, text):
        if text in self.node_index:
            return text
        for n in self.nodes:
            if str(n) == text:
                return n
        raise RoutingError(f"no node {text!r} in the graph")


class Routes:
    """Routed flows: a :class:`~netemu.flow.FlowSet` over :class:`Resources`.

    ``flowset`` rows are classes of identical flows; ``row_of_flow[i]`` is the
    row of traffic flow ``i`` and ``flowset.counts`` the class sizes.
    """

    def __init__(self, resources, flowset, row_of_flow, mode):
        self.resources = resources
        self.flowset = flowset
        self.row_of_flow = row_of_flow
        self.mode = mode

    @property
    def n_flows(self):
        return self.row_of_flow.size

    def row_shares(self, row):
        """``{resource id: share}`` of one flowset row."""
        fs = self.flowset
        out = {}
        d = fs.direct
        for j in range(d.indptr[row], d.indptr[row + 1]):
            out[int(d.indices[j])] = out.get(int(d.indices[j]), 0.0) + d.data[j]
        gm = fs.group_matrix
        for g in fs.groups[row]:
            if g < 0:
                continue
            for j in range(gm.indptr[g], gm.indptr[g + 1]):
                r = int(gm.indices[j])
                out[r] = out.get(r, 0.0) + gm.data[j]
        return out

    def shares(self, flow):
        """``{resource name: share}`` of traffic flow ``flow``: what it crosses, and how much."""
        names = self.resources.name
        return {names(r): float(s)
                for r, s in sorted(self.row_shares(int(self.row_of_flow[flow])).items())}


# ---------------------------------------------------------------------------------------------
# Graph analysis shared by all modes


class _Fabric:
    """Switch-level distances and path counts, access points, servers; no mode in here."""

    def __init__(self, G):
        self.G = G
        self.res = res = Resources(G)
        nodes = res.nodes
        N = len(nodes)
        self.N = N
        roles = [G.nodes[n].get("role") for n in nodes]
        self.is_switch = np.array([r in SWITCH_ROLES for r in roles], dtype=bool)
        # Switches numbered in natural name order, so candidate lists come out in port order.
        sw = sorted(np.flatnonzero(self.is_switch).tolist(), key=lambda i: natural_key(nodes[i]))
        self.sw_nodes = np.array(sw, dtype=np.int64)
        self.S = S = len(sw)
        self.sw_of = np.full(N, -1, dtype=np.int64)
        self.sw_of[self.sw_nodes] = np.arange(S)
        t, h = res.edge_tail, res.edge_head
        m = self.is_switch[t] & self.is_switch[h]
        self.sw_edge_res = np.flatnonzero(m)
        self.sw_edge_u = self.sw_of[t[m]]
        self.sw_edge_v = self.sw_of[h[m]]
        self.A = sp.csr_matrix((np.ones(self.sw_edge_u.size), (self.sw_edge_u, self.sw_edge_v)),
                               shape=(S, S))
        # Access points: non-switch nodes with a link to a switch; signature = their switches.
        up = ~self.is_switch[t] & self.is_switch[h]
        attach = {}
        for a, b, r in zip(t[up].tolist(), h[up].tolist(), np.flatnonzero(up).tolist()):
            attach.setdefault(a, []).append((int(self.sw_of[b]), r))
        self.ap_sig = np.full(N, -1, dtype=np.int64)
        sig_ids = {}
        self.sig_switches = []
        self.ap_up = {}            # ap -> [(switch, resource ap->switch)] in switch order
        for a in sorted(attach, key=lambda i: natural_key(nodes[i])):
            links = sorted(attach[a])
            self.ap_up[a] = links
            sig = tuple(w for w, _ in links)
            if sig not in sig_ids:
                sig_ids[sig] = len(self.sig_switches)
                self.sig_switches.append(np.array(sig, dtype=np.int64))
            self.ap_sig[a] = sig_ids[sig]
        self.T = len(self.sig_switches)
        self.sig_multi = np.array([s.size > 1 for s in self.sig_switches], dtype=bool)
        self.aps = np.array(sorted(attach, key=lambda i: natural_key(nodes[i])), dtype=np.int64)
        # Servers: non-switch nodes grouped by name prefix.
        self.server_of = np.full(N, -1, dtype=np.int64)
        keys = {}
        self.server_members = []
        for i in np.flatnonzero(~self.is_switch).tolist():
            k = server_key(nodes[i])
            if k not in keys:
                keys[k] = len(self.server_members)
                self.server_members.append([])
            self.server_of[i] = keys[k]
            self.server_members[keys[k]].append(i)
        # Position of every access point among its server's access points (natural order).
        self.ap_local = np.full(N, -1, dtype=np.int64)
        seen = {}
        for a in self.aps.tolist():
            k = int(self.server_of[a])
            self.ap_local[a] = seen.get(k, 0)
            seen[k] = self.ap_local[a] + 1
        self._intra_adj = None
        self._dist = None
        self._intra_cache = {}
        self._shares_cache = {}

    # -- switch-level distances and counts ----------------------------------------------------
    def distances(self):
        """D[u, t]: switch hops from switch u to the nearest switch of signature t; P: path counts."""
        if self._dist is None:
            S, T = self.S, self.T
            D = np.full((S, T), _UNREACH, dtype=np.int64)
            if S and T:
                srcs = np.unique(np.concatenate(self.sig_switches))
                pos = np.full(S, -1, dtype=np.int64)
                pos[srcs] = np.arange(srcs.size)
                for lo in range(0, srcs.size, 512):
                    chunk = srcs[lo:lo + 512]
                    dist = csgraph.shortest_path(self.A, unweighted=True, indices=chunk)
                    dist = np.where(np.isfinite(dist), dist, _UNREACH).astype(np.int64)
                    for t, sw in enumerate(self.sig_switches):
                        sel = pos[sw]
                        inside = (sel >= lo) & (sel < lo + chunk.size)
                        if inside.any():
                            D[:, t] = np.minimum(D[:, t], dist[sel[inside] - lo].min(axis=0))
            P = (D == 0).astype(np.float64)
            finite = D[D < _UNREACH]
            for level in range(1, int(finite.max()) + 1 if finite.size else 1):
                M = self.A @ (P * (D == level - 1))
                at = D == level
                P[at] = M[at]
            Dss = np.full((T, T), _UNREACH, dtype=np.int64)
            Nss = np.zeros((T, T))
            for s, sw in enumerate(self.sig_switches):
                Dss[s] = D[sw].min(axis=0)
                Nss[s] = np.where(D[sw] == Dss[s], P[sw], 0.0).sum(axis=0)
            self._dist = (D, P, Dss, Nss)
        return self._dist

    # -- inside servers ------------------------------------------------------------------------
    def intra_adj(self, i):
        """Neighbours of non-switch node ``i`` inside its own server."""
        if self._intra_adj is None:
            self._intra_adj = {}
        adj = self._intra_adj.get(i)
        if adj is None:
            G, nodes = self.G, self.res.nodes
            srv = self.server_of[i]
            idx = self.res.node_index
            adj = sorted((idx[m] for m in G.adj[nodes[i]]
                          if not self.is_switch[idx[m]] and self.server_of[idx[m]] == srv),
                         key=lambda j: natural_key(nodes[j]))
            self._intra_adj[i] = adj
        return adj

    def intra_dag(self, src, dst):
        """(dist to dst, path counts to dst) over the server's own nodes, or None if cut off."""
        key = (src, dst)
        hit = self._intra_cache.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        dist, cnt = {dst: 0}, {dst: 1}
        frontier = [dst]
        while frontier and src not in dist:
            nxt = []
            for u in frontier:
                for v in self.intra_adj(u):
                    if v not in dist:
                        dist[v] = dist[u] + 1
                        cnt[v] = 0
                        nxt.append(v)
                    if dist[v] == dist[u] + 1:
                        cnt[v] += cnt[u]
            frontier = nxt
        out = (dist, cnt) if src in dist else None
        self._intra_cache[key] = out
        return out

    def intra_hops_from(self, src):
        """Hops from ``src`` to every node of its server (BFS inside the server)."""
        dist = {src: 0}
        frontier = [src]
        while frontier:
            nxt = []
            for u in frontier:
                for v in self.intra_adj(u):
                    if v not in dist:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            frontier = nxt
        return dist

    def intra_shares(self, src, dst, dag):
        """Spray shares of the segment src -> dst inside a server, node capacities included."""
        hit = self._shares_cache.get((src, dst))
        if hit is not None:
            return dict(hit)
        out = self._intra_shares(src, dst, dag)
        self._shares_cache[(src, dst)] = out
        return dict(out)

    def _intra_shares(self, src, dst, dag):
        dist, cnt = dag
        res = self.res
        flow = {src: 1.0}
        out = {}
        order = sorted(dist, key=lambda n: -dist[n])
        for u in order:
            f = flow.get(u)
            if not f:
                continue
            r = res.node_resource[u]
            if r >= 0:
                out[int(r)] = out.get(int(r), 0.0) + f
            if u == dst:
                continue
            nh = [v for v in self.intra_adj(u) if dist.get(v) == dist[u] - 1]
            total = sum(cnt[v] for v in nh)
            for v in nh:
                e = res.edge_id(u, v)
                share = f * cnt[v] / total
                out[e] = out.get(e, 0.0) + share
                flow[v] = flow.get(v, 0.0) + share
        return out

    def intra_walk(self, src, dst, dag, pick):
        """One path src -> dst inside a server.

        ``pick(node, options)`` chooses each hop with several candidates; ``options`` are
        the resource ids of the directed edges to them, in natural order.
        """
        dist, _ = dag
        path = [src]
        u = src
        while u != dst:
            nh = [v for v in self.intra_adj(u) if dist.get(v) == dist[u] - 1]
            u = nh[pick(u, [self.res.edge_id(u, v) for v in nh])] if len(nh) > 1 else nh[0]
            path.append(u)
        return path

    def path_shares(self, path):
        """Shares of one explicit node path: 1 on every directed edge and capacity node."""
        out = {}
        ids = self.res.edge_ids(path[:-1], path[1:])
        for e in ids.tolist():
            out[e] = out.get(e, 0.0) + 1.0
        for n in path:
            r = self.res.node_resource[n]
            if r >= 0:
                out[int(r)] = out.get(int(r), 0.0) + 1.0
        return out

    def ranks(self):
        """Stable id of every access point (natural order) and its rank within its component."""
        if not hasattr(self, "_ranks"):
            gid = np.full(self.N, -1, dtype=np.int64)
            gid[self.aps] = np.arange(self.aps.size)
            comp_rank = np.full(self.N, -1, dtype=np.int64)
            if self.S:
                _, comp = csgraph.connected_components(self.A, directed=False)
                counters = {}
                for a in self.aps.tolist():
                    c = int(comp[self.sig_switches[self.ap_sig[a]][0]])
                    comp_rank[a] = counters.get(c, 0)
                    counters[c] = comp_rank[a] + 1
            self._ranks = (gid, comp_rank)
        return self._ranks


_FABRIC_CACHE = {}
#: Analyses kept at once, least recently used dropped first: a sweep's points alternate
#: between a few graphs (a cluster and its variants), and a single slot re-analysed the
#: cluster at every switch (seconds each on a 2,048-GPU cluster).
_FABRIC_SLOTS = 4
#: Nodes of the kept graphs together above which only the newest analysis is kept: an
#: analysis holds arrays of the graph's size, and a session that solves several graphs of
#: hundreds of thousands of nodes must not keep them all.
_FABRIC_KEEP_NODES = 100_000


def _fabric(G):
    """The analysis of ``G``, reused while its nodes, roles and links stay the same.

    Re-analysing a 20k-node graph costs seconds and a graph is solved many times; capacities
    are re-read on every call, so changing a bandwidth between solves is safe -- except on a
    frozen graph (:func:`networkx.freeze`), whose analysis is kept as made: freeze a graph to
    say that it will not change.
    """
    hit = _FABRIC_CACHE.get(id(G))
    if hit is not None and hit[0] is G and hit[1] == "frozen" and _is_frozen(G):
        # A frozen graph (networkx.freeze) cannot gain or lose a node or link; its analysis
        # and the capacities read when it was made stand, without a walk over the graph.
        _FABRIC_CACHE[id(G)] = _FABRIC_CACHE.pop(id(G))  # most recently used
        return hit[2]
    shape = (tuple(G.nodes(data="role")), tuple(G.edges),
             tuple(n for n, c in G.nodes(data="capacity") if c is not None))
    if hit is not None and hit[0] is G and hit[1] == shape:
        _FABRIC_CACHE[id(G)] = _FABRIC_CACHE.pop(id(G))  # most recently used
        fab = hit[2]
        bw = np.fromiter((b for _, _, b in G.edges(data="bandwidth")), dtype=np.float64,
                         count=G.number_of_edges())
        fab.res.capacity[:fab.res.n_edge_resources:2] = bw
        fab.res.capacity[1:fab.res.n_edge_resources:2] = bw
        fab.res.capacity[fab.res.n_edge_resources:] = [
            float(G.nodes[fab.res.nodes[i]]["capacity"]) for i in fab.res.capacity_nodes]
        return fab
    fab = _Fabric(G)
    _FABRIC_CACHE.pop(id(G), None)
    n = G.number_of_nodes()
    while _FABRIC_CACHE and (len(_FABRIC_CACHE) >= _FABRIC_SLOTS or n + sum(
            h[0].number_of_nodes() for h in _FABRIC_CACHE.values()) > _FABRIC_KEEP_NODES):
        del _FABRIC_CACHE[next(iter(_FABRIC_CACHE))]
    _FABRIC_CACHE[id(G)] = (G, "frozen" if _is_frozen(G) else shape, fab)
    return fab


def _is_frozen(G):
    return bool(getattr(G, "frozen", False))


# ---------------------------------------------------------------------------------------------
# Hashing

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x):
    """SplitMix64 finaliser, vectorised (uint64 arithmetic wraps, as intended)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _combine(h, field):
    with np.errstate(over="ignore"):
        return _mix(h ^ (np.asarray(field, dtype=np.uint64) + _GOLDEN))


def flow_hash(seed, src_id, dst_id, sport, dport, proto):
    """Seeded hash of 5-tuples (arrays or scalars), as uint64."""
    h = _mix(np.uint64(seed % (1 << 64)))
    for field in (src_id, dst_id, sport, dport, proto):
        h = _combine(h, field)
    return h


def _hop_choice(base, node_ids, count):
    """Next-hop index a node picks from ``count`` candidates for flows with hash ``base``."""
    return (_combine(base, np.asarray(node_ids, dtype=np.int64) + 1)
            % np.asarray(count, dtype=np.uint64)).astype(np.int64)


def _compiled_kind(policy, state):
    """The compiled walk for hashed ECMP and d-mod-k (:mod:`netemu.hopwalk`), else None.

    Only the built-in policies, whose choices the kernel reproduces exactly, and only
    where numba is installed (without it the vectorised walk is the faster one).
    """
    from .flow import HAVE_NUMBA
    from .policies import DModK, Hash

    if not HAVE_NUMBA or state is None:
        return None
    if type(policy) is Hash and "base" in state:
        return 0
    if type(policy) is DModK and "rank" in state:
        return 1
    return None


# ---------------------------------------------------------------------------------------------
# Grouping arrays of keys

_DENSE = 1 << 25


def _factorize(key, space=None):
    """np.unique(key) with first index, inverse and counts; O(n) when the key space is small."""
    key = np.asarray(key, dtype=np.int64)
    if space is None:
        space = int(key.max()) + 1 if key.size else 1
    # A dense count pays for the whole key space: only when it is not much larger than the
    # keys (a few thousand paths coded in a space of millions sort faster).
    if space <= _DENSE and space <= max(64 * key.size, 1 << 16):
        counts = np.bincount(key, minlength=space)
        present = counts > 0
        ukey = np.flatnonzero(present)
        rank = np.cumsum(present, dtype=np.int32) - 1
        inv = rank[key].astype(np.int64)
        first = np.full(ukey.size, key.size, dtype=np.int64)
        np.minimum.at(first, inv, np.arange(key.size))
        return ukey, first, inv, counts[ukey]
    ukey, first, inv, counts = np.unique(key, return_index=True, return_inverse=True,
                                         return_counts=True)
    return ukey, first, inv.ravel(), counts


def _compact(values, space):
    """Values renumbered 0..k-1 in sorted order, and the sorted distinct values."""
    mark = np.zeros(space, dtype=bool)
    mark[values] = True
    uniq = np.flatnonzero(mark)
    lut = np.zeros(space, dtype=np.int64)
    lut[uniq] = np.arange(uniq.size)
    return lut[values], uniq


def _all_distinct(key, space):
    if space <= 1 << 28:
        seen = np.zeros(space, dtype=bool)
        seen[key] = True
        return int(np.count_nonzero(seen)) == key.size
    return np.unique(key).size == key.size


# ---------------------------------------------------------------------------------------------
# Group tables


class _Groups:
    """Group rows registered by key; rows are {resource: share} dicts or COO blocks."""

    def __init__(self):
        self.ids = {}
        self.rows, self.cols, self.vals = [], [], []
        self.n = 0

    def add(self, key, shares):
        gid = self.ids.get(key)
        if gid is None:
            gid = self.ids[key] = self.n
            self.n += 1
            if shares:
                r, v = zip(*shares.items())
                self.rows.append(np.full(len(r), gid, dtype=np.int64))
                self.cols.append(np.asarray(r, dtype=np.int64))
                self.vals.append(np.asarray(v, dtype=np.float64))
        return gid

    def add_block(self, n_rows, rows, cols, vals):
        """Append ``n_rows`` anonymous rows given in COO form (row numbers from 0)."""
        first = self.n
        self.rows.append(np.asarray(rows, dtype=np.int64) + first)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=np.float64))
        self.n += n_rows
        return first

    def matrix(self, n_resources):
        if not self.rows:
            return sp.csr_matrix((self.n, n_resources))
        M = sp.csr_matrix((np.concatenate(self.vals),
                           (np.concatenate(self.rows), np.concatenate(self.cols))),
                          shape=(self.n, n_resources))
        M.sum_duplicates()
        return M


# ---------------------------------------------------------------------------------------------
# The router


def route(G: "nx.Graph", src, dst, routing: "str | Mapping" = "spray", *, seed: int = 0,
          sport=None, sizes=None, pxn: bool = True) -> "Routes":
    """Route flows ``src[i] -> dst[i]`` (node names or arrays of them) over ``G``.

    Parameters
    ----------
    G : networkx.Graph
        A graph meeting the graph contract (not re-validated here).
    src, dst : sequences of node names, or ``(names, index array)`` pairs
        The flows' endpoints: access points (non-switch nodes linked to a switch,
        :func:`netemu.graph.endpoints`), or any node inside a server (a GPU, host
        memory ...), whose paths through its server :mod:`netemu.serverpaths`
        decides (ports, PXN proxies, failover) -- the same for every collective.
    routing : {'spray', 'hash', 'dmodk', 'adaptive'}, mapping or RoutingPolicy
        Path choice (see the module docstring and :mod:`netemu.policies`), or
        ``{(src, dst): [node, ...]}``.
    seed : int
        Seed of the ``'hash'`` mode.
    sport : int array, optional
        Source port of every flow (``'hash'``); default ``49152 + i mod 16384``.
        Flows with an end inside a server hash their fabric segment by its own
        index among the distinct segments instead (:mod:`netemu.serverpaths`).
    sizes : float array, optional
        Flow sizes; flows of different sizes never share a row.
    pxn : bool
        Plane/rail-aware forwarding inside the source server (default on).

    Returns
    -------
    Routes

    Raises
    ------
    RoutingError
        Some pairs have no path; the message names them.
    """
    fab = _fabric(G)
    s_nodes = _as_nodes(fab, src, "source")
    d_nodes = _as_nodes(fab, dst, "destination")
    if s_nodes.size != d_nodes.size:
        raise ParameterError(f"src has {s_nodes.size} flows but dst has {d_nodes.size}")
    n = s_nodes.size
    policy = resolve(routing)
    if policy.name == "explicit":
        return _route_explicit(fab, s_nodes, d_nodes, policy.paths)
    seed = check_seed(seed)
    if n == 0:
        raise RoutingError("no flows to route")
    inside = np.zeros(n, dtype=bool)
    for role, nodes in (("source", s_nodes), ("destination", d_nodes)):
        bad = fab.ap_sig[nodes] < 0
        if bad.any():
            loose = bad & (fab.server_of[nodes] < 0)
            if loose.any():
                name = fab.res.nodes[nodes[np.flatnonzero(loose)[0]]]
                raise RoutingError(f"{role} {name!r} is a switch; flows start and end at "
                                   f"endpoints or inside servers")
            inside |= bad
    if inside.any():
        from .serverpaths import routes_of
        return routes_of(fab, s_nodes, d_nodes, policy, seed, pxn, sizes)
    if sport is None:
        sport = DEFAULT_SPORT_BASE + np.arange(n, dtype=np.int64) % 16384
    else:
        sport = np.asarray(sport, dtype=np.int64)
    return _Router(fab, s_nodes, d_nodes, policy, seed, sport, sizes, pxn).run()


def _as_nodes(fab, names, what):
    if isinstance(names, tuple) and len(names) == 2 and not isinstance(names[0], str):
        names_list, index = names
        lut = np.array([_node_index(fab, x, what) for x in names_list], dtype=np.int64)
        return lut[np.asarray(index, dtype=np.int64)]
    return np.array([_node_index(fab, x, what) for x in names], dtype=np.int64)


def _node_index(fab, name, what):
    try:
        return fab.res.node_index[name]
    except (KeyError, TypeError):
        raise RoutingError(f"{what} {name!r} is not a node of the graph") from None


def _unreachable(fab, s_nodes, d_nodes, bad):
    idx = np.flatnonzero(bad)
    pairs = sorted({(str(fab.res.nodes[s_nodes[i]]), str(fab.res.nodes[d_nodes[i]]))
                    for i in idx[:2000].tolist()})
    shown = ", ".join(f"{a}->{b}" for a, b in pairs[:10])
    more = f" (and {idx.size - min(10, len(pairs))} more flows)" if idx.size > 10 else ""
    exc = RoutingError(f"no path for {idx.size} flow(s): {shown}{more}")
    # Every unreachable (src, dst) by name, for solve(disconnected='report').
    nodes = fab.res.nodes
    exc.pairs = {(nodes[a], nodes[b]) for a, b in zip(s_nodes[idx].tolist(), d_nodes[idx].tolist())}
    raise exc


def _route_explicit(fab, s_nodes, d_nodes, paths):
    nodes = fab.res.nodes
    lookup = {}
    for key, path in paths.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise RoutingError(f"explicit paths are keyed by (src, dst); got key {key!r}")
        lookup[key] = path
    rows, cols, vals = [], [], []
    missing = []
    for i, (s, d) in enumerate(zip(s_nodes.tolist(), d_nodes.tolist())):
        path = lookup.get((nodes[s], nodes[d]))
        if path is None:
            missing.append(f"{nodes[s]}->{nodes[d]}")
            continue
        p = _check_path(fab, nodes[s], nodes[d], path)
        for r, v in fab.path_shares(p).items():
            rows.append(i)
            cols.append(r)
            vals.append(v)
    if missing:
        raise RoutingError(f"no explicit path for {len(missing)} flow(s): "
                           f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    n = s_nodes.size
    direct = sp.csr_matrix((vals, (rows, cols)), shape=(n, fab.res.n))
    return Routes(fab.res, FlowSet(fab.res.n, direct), np.arange(n), "explicit")


def _check_path(fab, s, d, path):
    idx, G = fab.res.node_index, fab.G
    try:
        p = [idx[x] for x in path]
    except (KeyError, TypeError):
        raise RoutingError(f"path {s!r}->{d!r} names a node not in the graph: {list(path)!r}") \
            from None
    if len(p) < 2 or path[0] != s or path[-1] != d:
        raise RoutingError(f"path for {s!r}->{d!r} must start at {s!r} and end at {d!r}, "
                           f"got {list(path)!r}")
    if len(set(p)) != len(p):
        raise RoutingError(f"path {s!r}->{d!r} visits a node twice: {list(path)!r}")
    for a, b in zip(path[:-1], path[1:]):
        if not G.has_edge(a, b):
            raise RoutingError(f"path {s!r}->{d!r} uses {a!r}-{b!r}, which is not a link")
    ends = {fab.server_of[idx[s]], fab.server_of[idx[d]]}
    for x in p[1:-1]:
        if not fab.is_switch[x] and fab.server_of[x] not in ends:
            raise RoutingError(f"path {s!r}->{d!r} crosses {fab.res.nodes[x]!r}, a node of "
                               f"another server; paths may cross only switches and the two "
                               f"endpoints' own servers")
    return p


class _Router:
    def __init__(self, fab, s, d, policy, seed, sport, sizes, pxn):
        self.policy = policy = resolve(policy)
        self.fab, self.s, self.d, self.mode, self.seed = fab, s, d, policy.name, seed
        self.sport, self.sizes, self.pxn = sport, sizes, pxn
        # Adaptive routing: load charged so far per resource (bytes, or flows without sizes).
        self.ar_load = {}
        self.n = s.size
        self.src_groups = _Groups()      # intra segment + access up (+ source capacity)
        self.fab_groups = _Groups()      # switch-to-switch part
        self.dst_groups = _Groups()      # access down + destination capacity
        self.g = np.full((self.n, 3), -1, dtype=np.int64)

    # -- helpers ---------------------------------------------------------------------------
    def _base_hash(self, idx):
        gid, _ = self.fab.ranks()
        from .flow import HAVE_NUMBA
        if HAVE_NUMBA and np.size(idx) > 1000:
            # the same hashes in one compiled pass (six whole-array mixes otherwise)
            from .hopwalk import flow_hashes
            i8 = np.int64
            h0 = _mix(np.uint64(self.seed % (1 << 64)))
            return flow_hashes(h0, gid[self.s[idx]].astype(i8), gid[self.d[idx]].astype(i8),
                               np.asarray(self.sport[idx], dtype=i8), DEFAULT_DPORT, UDP)
        return flow_hash(self.seed, gid[self.s[idx]], gid[self.d[idx]], self.sport[idx],
                         DEFAULT_DPORT, UDP)

    def dst_rank(self, idx):
        """D-mod-k rank of the destinations of flows ``idx``."""
        _, rank = self.fab.ranks()
        return rank[self.d[idx]]

    def _weight(self, i):
        return 1.0 if self.sizes is None else float(self.sizes[i])

    def _picker(self, i):
        """Per-hop chooser ``pick(node, options)`` for flow i inside a server."""
        policy = self.policy
        if policy.name == "dmodk":
            # Successive choices use successive digits of the destination's rank.
            state = {"prod": 1, "dst": int(self.dst_rank(np.array([i]))[0])}

            def pick(node, options):
                k = (state["dst"] // state["prod"]) % len(options)
                state["prod"] *= len(options)
                return k
            return pick
        return lambda node, options: policy.pick_one(self, i, node, options)

    def _intra_group(self, table, s, e, i, extra=None):
        """Group id of the intra-server segment s -> e (plus ``extra`` shares) for flow i."""
        fab = self.fab
        dag = fab.intra_dag(s, e)
        if self.policy.splits or dag[1][s] == 1:
            key = (s, e, None if extra is None else extra[0])
            if key in table.ids:
                return table.ids[key]
            sh = fab.intra_shares(s, e, dag)
        else:
            path = fab.intra_walk(s, e, dag, self._picker(i))
            if self.policy.sequential:
                w = self._weight(i)
                for r in self.fab.res.edge_ids(path[:-1], path[1:]).tolist():
                    self.ar_load[r] = self.ar_load.get(r, 0.0) + w
            key = (s, e, tuple(path), None if extra is None else extra[0])
            if key in table.ids:
                return table.ids[key]
            sh = fab.path_shares(path)
        if extra is not None:
            for r, v in extra[1].items():
                sh[r] = sh.get(r, 0.0) + v
        return table.add(key, sh)

    # -- main ------------------------------------------------------------------------------
    def run(self):
        return self._finish(self._route_all())

    def _route_all(self):
        """Fill ``self.g`` and the group tables; return the direct rows of split flows."""
        fab = self.fab
        s, d = self.s, self.d
        D, P, Dss, Nss = fab.distances()
        same = (fab.server_of[s] == fab.server_of[d])
        if np.any(s == d):
            i = int(np.flatnonzero(s == d)[0])
            raise RoutingError(f"flow {i} goes from {fab.res.nodes[s[i]]!r} to itself")
        intra = np.zeros(self.n, dtype=bool)
        if same.any():
            for i in np.flatnonzero(same).tolist():
                if fab.intra_dag(int(s[i]), int(d[i])) is not None:
                    intra[i] = True
                    self.g[i, 0] = self._intra_group(self.src_groups, int(s[i]), int(d[i]), i)
        net = np.flatnonzero(~intra)
        e = self._egress(net)
        split = e == -2
        sig_e = np.where(e >= 0, fab.ap_sig[np.maximum(e, 0)], -1)
        tau = fab.ap_sig[d[net]]
        bad = (e == -1) | ((e >= 0) & (Dss[np.maximum(sig_e, 0), tau] >= _UNREACH))
        if bad.any():
            _unreachable(fab, s[net], d[net], bad)
        direct = None
        if split.any():
            direct = self._route_split(net[split], tau[split])
        keep = ~split
        net, e, sig_e, tau = net[keep], e[keep], sig_e[keep], tau[keep]
        if net.size:
            if self.policy.splits:
                self._spray(net, e, sig_e, tau)
            else:
                self._walk(net, e, sig_e, tau)
        return direct

    def _egress(self, net):
        """Egress access point of each network flow; -1 none, -2 several tied (spray splits)."""
        fab = self.fab
        s = self.s[net]
        e = s.copy()
        if not self.pxn:
            return e
        srv = fab.server_of[fab.aps]
        multi_srv = np.flatnonzero(np.bincount(srv, minlength=len(fab.server_members)) > 1)
        if multi_srv.size == 0:
            return e
        D, P, Dss, Nss = fab.distances()
        tau_all = fab.ap_sig[self.d[net]]
        in_multi = np.isin(fab.server_of[s], multi_srv)
        if not in_multi.any():
            return e
        # Table over (source access point, destination signature) for the sources present.
        srcs = np.unique(s[in_multi])
        row = np.full(fab.N, -1, dtype=np.int64)
        row[srcs] = np.arange(srcs.size)
        aps_of = {}
        for a in fab.aps.tolist():
            aps_of.setdefault(int(fab.server_of[a]), []).append(a)
        kmax = max(len(v) for v in aps_of.values())
        cand = np.full((srcs.size, kmax), -1, dtype=np.int64)
        hops = np.full((srcs.size, kmax), _UNREACH, dtype=np.int64)
        for k, a in enumerate(srcs.tolist()):
            lst = aps_of[int(fab.server_of[a])]
            hm = fab.intra_hops_from(a)
            cand[k, :len(lst)] = lst
            hops[k, :len(lst)] = [hm.get(c, _UNREACH) for c in lst]
        table = np.empty((srcs.size, fab.T), dtype=np.int64)
        step = max(1, (1 << 22) // max(kmax * fab.T, 1))
        for lo in range(0, srcs.size, step):
            c, h = cand[lo:lo + step], hops[lo:lo + step]
            Dm = Dss[fab.ap_sig[np.maximum(c, 0)]]                 # (m, kmax, T)
            Dm[(c < 0) | (h >= _UNREACH)] = _UNREACH
            best = Dm.min(axis=1)
            # Nearest in the fabric first, then nearest inside the server (the source: 0 hops).
            score = np.where(Dm == best[:, None, :], h[:, :, None], _UNREACH)
            winners = score == score.min(axis=1)[:, None, :]
            pick = np.take_along_axis(c, np.argmax(winners, axis=1), axis=1)
            table[lo:lo + step] = np.where(best >= _UNREACH, -1,
                                           np.where(winners.sum(axis=1) > 1, -2, pick))
        sel = np.flatnonzero(in_multi)
        e[sel] = table[row[s[sel]], tau_all[sel]]
        if not self.policy.splits and (e == -2).any():
            for j in np.flatnonzero(e == -2).tolist():
                e[j] = self._tied_egress(int(net[j]), int(s[j]), int(tau_all[j]), aps_of)
        return e

    def _tied_candidates(self, s, tau, aps_of):
        from .serverpaths import server_paths
        fab = self.fab
        cands = aps_of[int(fab.server_of[s])] if aps_of else None
        return server_paths(fab).egress_candidates(s, None, cands, tau=tau)

    def _tied_egress(self, i, s, tau, aps_of):
        cands = self._tied_candidates(s, tau, aps_of)
        # The options are the candidates' first uplinks (what adaptive routing weighs).
        k = self._picker(i)(s, [self.fab.ap_up[c][0][1] for c in cands])
        if self.policy.sequential:
            r = self.fab.ap_up[cands[k]][0][1]
            self.ar_load[r] = self.ar_load.get(r, 0.0) + self._weight(i)
        return cands[k]

    def _route_split(self, flows, taus):
        """Spray flows whose source has several equally good egress points: direct rows."""
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        aps_of = {}
        for a in fab.aps.tolist():
            aps_of.setdefault(int(fab.server_of[a]), []).append(a)
        rows, cols, vals = [], [], []
        for i, tau in zip(flows.tolist(), taus.tolist()):
            s, d = int(self.s[i]), int(self.d[i])
            cands = self._tied_candidates(s, tau, aps_of)
            weights = [fab.intra_dag(s, c)[1][s] * Nss[fab.ap_sig[c], tau] for c in cands]
            total = float(sum(weights))
            acc = {}
            for c, w in zip(cands, weights):
                sig = int(fab.ap_sig[c])
                parts = [fab.intra_shares(s, c, fab.intra_dag(s, c)),
                         self._access_up_spray(c, sig, tau), self._fabric_spray_row(sig, tau),
                         self._access_down_spray(d, sig, tau)]
                for part in parts:
                    for r, v in part.items():
                        acc[r] = acc.get(r, 0.0) + v * w / total
            for r, v in acc.items():
                rows.append(i)
                cols.append(r)
                vals.append(v)
        return (rows, cols, vals)

    # -- spray -----------------------------------------------------------------------------
    def _access_up_spray(self, e, sig, tau):
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        out = {}
        total = Nss[sig, tau]
        for w, r in fab.ap_up[e]:
            if D[w, tau] == Dss[sig, tau]:
                out[r] = P[w, tau] / total
        return out

    def _access_down_spray(self, d, sig, tau):
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        out = {}
        total = Nss[sig, tau]
        for w, _ in fab.ap_up[d]:
            if D[w, sig] == Dss[sig, tau]:
                out[fab.res.edge_id(int(fab.sw_nodes[w]), d)] = P[w, sig] / total
        r = fab.res.node_resource[d]
        if r >= 0:
            out[int(r)] = 1.0
        return out

    def _fabric_spray_row(self, sig, tau):
        rows, cols, vals = self._fabric_spray_block(sig, np.array([tau]))
        return dict(zip(cols.tolist(), vals.tolist()))

    def _fabric_spray_block(self, sig, taus):
        """COO (row = position in taus, resource, share) of the sprayed fabric part sig -> taus."""
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        u, v = fab.sw_edge_u, fab.sw_edge_v
        du = D[u, sig]
        near = du < _UNREACH
        u, v, du, er = u[near], v[near], du[near], fab.sw_edge_res[near]
        target = Dss[sig, taus]                                # (k,)
        on = (du[:, None] + 1 + D[v][:, taus]) == target[None, :]
        ei, ti = np.nonzero(on)
        share = P[u[ei], sig] * P[v[ei], taus[ti]] / Nss[sig, taus[ti]]
        rows, cols, vals = [ti], [er[ei]], [share]
        caps = fab.res.node_resource[fab.sw_nodes]
        if (caps >= 0).any():
            cs = np.flatnonzero(caps >= 0)
            on_n = (D[cs, sig][:, None] + D[cs][:, taus]) == target[None, :]
            ni, ti2 = np.nonzero(on_n)
            rows.append(ti2)
            cols.append(caps[cs[ni]])
            vals.append(P[cs[ni], sig] * P[cs[ni], taus[ti2]] / Nss[sig, taus[ti2]])
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def _spray(self, net, e, sig_e, tau):
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        T = fab.T
        s, d = self.s[net], self.d[net]
        # Fabric rows, one per (source signature, destination signature) with switch hops.
        pair = sig_e * T + tau
        upairs, _, pinv, _ = _factorize(pair, T * T)
        gid_of_pair = np.full(upairs.size, -1, dtype=np.int64)
        psig, ptau = upairs // T, upairs % T
        for sg in np.unique(psig).tolist():
            sel = np.flatnonzero((psig == sg) & (Dss[sg, ptau] > 0))
            if sel.size == 0:
                continue
            rows, cols, vals = self._fabric_spray_block(sg, ptau[sel])
            first = self.fab_groups.add_block(sel.size, rows, cols, vals)
            gid_of_pair[sel] = first + np.arange(sel.size)
        self.g[net, 1] = gid_of_pair[pinv]
        # Source side: (source, egress, destination signature if the egress is multi-homed).
        var = np.where(fab.sig_multi[sig_e], tau, -1)
        self.g[net, 0] = self._side_groups(
            self.src_groups, s, e, var,
            lambda a, b, v: self._src_content(a, b, self._access_up_spray(b, fab.ap_sig[b], v)
                                              if v >= 0 else self._single_up(b)))
        var = np.where(fab.sig_multi[tau], sig_e, -1)
        self.g[net, 2] = self._side_groups(
            self.dst_groups, d, d, var,
            lambda a, b, v: (self._access_down_spray(a, v, fab.ap_sig[a]) if v >= 0
                             else self._single_down(a)))

    def _single_up(self, e):
        return {self.fab.ap_up[e][0][1]: 1.0}

    def _single_down(self, d, w=None):
        fab = self.fab
        if w is None:
            w = fab.ap_up[d][0][0]
        out = {fab.res.edge_id(int(fab.sw_nodes[w]), d): 1.0}
        r = fab.res.node_resource[d]
        if r >= 0:
            out[int(r)] = 1.0
        return out

    def _src_content(self, s, e, up):
        fab = self.fab
        if s == e:
            sh = dict(up)
            r = fab.res.node_resource[s]
            if r >= 0:
                sh[int(r)] = sh.get(int(r), 0.0) + 1.0
            return sh
        sh = fab.intra_shares(s, e, fab.intra_dag(s, e))
        for r, v in up.items():
            sh[r] = sh.get(r, 0.0) + v
        return sh

    def _side_groups(self, table, a, b, var, content):
        """Group ids for keys (a, b, var), content built once per distinct key.

        ``b`` is ``a`` itself or another access point of ``a``'s server.
        """
        fab = self.fab
        a_c, ua = _compact(a, fab.N)
        b_l = fab.ap_local[b]
        B = int(b_l.max()) + 1
        v_c, uv = _compact(var + 1, max(fab.T, fab.S) + 2)
        key = (a_c * B + b_l) * uv.size + v_c
        ukey, first, inv, _ = _factorize(key, ua.size * B * uv.size)
        ids = np.empty(ukey.size, dtype=np.int64)
        for j, f in enumerate(first.tolist()):
            x, y, v = int(a[f]), int(b[f]), int(var[f])
            gid = table.ids.get(("k", x, y, v))
            ids[j] = gid if gid is not None else table.add(("k", x, y, v), content(x, y, v))
        return ids[inv]

    # -- hash / d-mod-k --------------------------------------------------------------------
    def _walk(self, net, e, sig_e, tau):
        """Walk every network flow hop by hop, vectorised; one fabric group per distinct path."""
        fab = self.fab
        D, P, Dss, Nss = fab.distances()
        S, T = fab.S, fab.T
        # Intra-server segments with ties are walked per flow by the chooser of the mode.
        s, d = self.s[net], self.d[net]
        tcol, utau = _compact(tau, T)
        K = utau.size
        # Extended nodes: switches 0..S-1, then one virtual node per source signature.
        scol, usig = _compact(sig_e, T)
        Dx = np.vstack([D[:, utau], Dss[usig][:, utau] + 1])      # (S + |usig|, K)
        Dx[Dx >= _UNREACH] = _UNREACH
        # Candidate table: directed extended edges x->y with Dx[y] = Dx[x] - 1.
        vu = np.concatenate([np.full(fab.sig_switches[g].size, S + j, dtype=np.int64)
                             for j, g in enumerate(usig.tolist())])
        vv = np.concatenate([fab.sig_switches[g] for g in usig.tolist()])
        xu = np.concatenate([fab.sw_edge_u, vu])
        xv = np.concatenate([fab.sw_edge_v, vv])
        order = np.lexsort((xv, xu))
        xu, xv = xu[order], xv[order]
        X = S + usig.size
        cand_u, cand_t, cand_v = [], [], []
        step = max(1, 8_000_000 // max(xu.size, 1))
        for lo in range(0, K, step):
            cols = np.arange(lo, min(K, lo + step))
            # The columns first, then the rows: gathering whole rows of Dx for every edge
            # and then slicing copies all K columns per chunk.
            # (32-bit: distances are at most _UNREACH = 2**30; half the bytes to gather.)
            block = Dx[:, lo:lo + cols.size].astype(np.int32)
            dx_u = block[xu]
            ok = (block[xv] == dx_u - 1) & (dx_u > 0) & (dx_u < _UNREACH)
            ei, ci = np.nonzero(ok)
            cand_u.append(xu[ei])
            cand_t.append(cols[ci])
            cand_v.append(xv[ei])
        cu, ct, cv = (np.concatenate(a) for a in (cand_u, cand_t, cand_v))
        ckey = cu * K + ct
        order = np.argsort(ckey, kind="stable")            # stable keeps natural order of v
        ckey, cv = ckey[order], cv[order]
        ncand = np.bincount(ckey, minlength=X * K)
        offs = np.concatenate([[0], np.cumsum(ncand)[:-1]])
        policy = self.policy
        # A switch salts with its node index; a virtual source node with one past the node
        # range, so the uplink choice does not depend on which access point it stands for.
        salt = np.concatenate([fab.sw_nodes, fab.N + usig])
        cur = S + scol
        hops = int(Dx[S + scol, tcol].max()) if net.size else 0
        if policy.sequential:
            picks = self._place_sequential(net, e, cur, tcol, Dx, ncand, offs, cv, K, S, hops)
        else:
            state = policy.begin(self, net)
        visited = []
        # The path is fixed by (source signature, target) and the choices; encode the choices
        # in mixed radix (digit h has base = candidates at hop h), exact and compact.
        code = np.zeros(net.size, dtype=np.int64)
        radix = np.ones(net.size, dtype=np.int64)
        kind = _compiled_kind(policy, state if not policy.sequential else None)
        if kind is not None and net.size:
            from . import hopwalk
            i8 = np.int64
            base = state.get("base", np.zeros(1, dtype=np.uint64))
            rank = state.get("rank", np.zeros(1, dtype=i8))
            vis, code, radix, cur = hopwalk.walk(
                kind, np.ascontiguousarray(cur, dtype=i8), np.ascontiguousarray(tcol, dtype=i8),
                np.ascontiguousarray(Dx, dtype=i8), ncand.astype(i8), offs.astype(i8),
                cv.astype(i8), salt.astype(i8), np.ascontiguousarray(base, dtype=np.uint64),
                np.ascontiguousarray(rank, dtype=i8), hops)
            visited = list(vis)
            hops = 0  # walked
        for h in range(hops):
            act = Dx[cur, tcol] > 0
            key = cur * K + tcol
            cnt = np.where(act, ncand[key], 1)
            k = np.zeros(net.size, dtype=np.int64)
            many = np.flatnonzero(cnt > 1)
            if policy.sequential:
                k[many] = picks[many, h]
            elif many.size:
                k[many] = policy.choose(self, state, many, salt[cur[many]], cnt[many])
            cur = np.where(act, cv[np.minimum(offs[key] + k, cv.size - 1)], cur)
            visited.append(np.where(act, cur, -1))
            code += k * radix
            radix *= cnt
        first = visited[0] if visited else cur
        last = cur
        # Fabric groups per distinct path (switch sequence from first to last switch).
        has_fabric = Dss[sig_e, tau] > 0
        span = int(radix.max()) if net.size else 1
        if math.log2(max(usig.size * K, 2)) + math.log2(max(span, 2)) < 62:
            code = (scol.astype(np.int64) * K + tcol) * span + code
            _, first_idx, cinv, _ = _factorize(code, usig.size * K * span)
        else:
            mat = np.stack([scol, tcol] + visited, axis=1).astype(np.int64)
            _, first_idx, cinv = np.unique(mat, axis=0, return_index=True, return_inverse=True)
            cinv = cinv.ravel()
        rep = first_idx[has_fabric[first_idx]]
        gid = np.full(first_idx.size, -1, dtype=np.int64)
        if rep.size:
            path = np.stack(visited, axis=1)[rep]                      # (n_paths, hops)
            tails = fab.sw_nodes[np.maximum(path[:, :-1], 0)]
            heads = fab.sw_nodes[np.maximum(path[:, 1:], 0)]
            ok = (path[:, :-1] >= 0) & (path[:, 1:] >= 0)
            pr, ph = np.nonzero(ok)
            rows = [pr]
            cols = [fab.res.edge_ids(tails[pr, ph], heads[pr, ph])]
            caps = np.where(path >= 0, fab.res.node_resource[fab.sw_nodes[np.maximum(path, 0)]], -1)
            cr, ch = np.nonzero(caps >= 0)
            rows.append(cr)
            cols.append(caps[cr, ch])
            rows, cols = np.concatenate(rows), np.concatenate(cols)
            base_id = self.fab_groups.add_block(rep.size, rows, cols, np.ones(rows.size))
            gid[has_fabric[first_idx]] = base_id + np.arange(rep.size)
        self.g[net, 1] = gid[cinv]
        # Source side keyed by (source, egress, first switch); destination by (dst, last switch).
        self.g[net, 0] = self._walk_src(net, s, e, first)
        self.g[net, 2] = self._side_groups(self.dst_groups, d, d, last,
                                           lambda a, b, w: self._single_down(a, w))

    def _place_sequential(self, net, e, cur0, tcol, Dx, ncand, offs, cv, K, S, hops):
        """Adaptive routing: each flow in index order takes, at every hop with several
        equal-cost next hops, the one whose link carries the least load placed so far
        (natural port order breaks ties); its demand is then charged on its links."""
        fab = self.fab
        picks = np.zeros((net.size, max(hops, 1)), dtype=np.int64)
        load = self.ar_load
        sw = fab.sw_nodes.tolist()
        ncand_l, offs_l, cv_l = ncand.tolist(), offs.tolist(), cv.tolist()
        edge_id = fab.res.edge_id
        for j in range(net.size):
            w = self._weight(int(net[j]))
            cur, t = int(cur0[j]), int(tcol[j])
            for h in range(hops):
                if Dx[cur, t] <= 0:
                    break
                key = cur * K + t
                c, o = ncand_l[key], offs_l[key]
                cands = cv_l[o:o + c]
                # A virtual source node stands for the egress point's uplinks.
                tail = sw[cur] if cur < S else int(e[j])
                rids = [edge_id(tail, sw[v]) for v in cands]
                k = 0
                if c > 1:
                    k = min(range(c), key=lambda q: (load.get(rids[q], 0.0), q))
                    picks[j, h] = k
                load[rids[k]] = load.get(rids[k], 0.0) + w
                cur = cands[k]
        return picks

    def _walk_src(self, net, s, e, first):
        fab = self.fab

        def up(b, w):
            for ww, r in fab.ap_up[b]:
                if ww == w:
                    return {r: 1.0}
            raise AssertionError("first switch is not a neighbour of the egress point")

        out = np.empty(net.size, dtype=np.int64)
        # Flows whose intra-server segment has one path share groups keyed (s, e, first switch);
        # only segments with several equal paths need the per-flow chooser.
        simple = s == e
        if not simple.all():
            sc, us = _compact(s, fab.N)
            bl = fab.ap_local[e]
            key = sc * (int(bl.max()) + 1) + bl
            _, first_idx, inv, _ = _factorize(key)
            one_path = np.array([fab.intra_dag(int(s[f]), int(e[f]))[1][int(s[f])] == 1
                                 for f in first_idx.tolist()], dtype=bool)
            simple |= one_path[inv]
        if simple.any():
            out[simple] = self._side_groups(self.src_groups, s[simple], e[simple], first[simple],
                                            lambda a, b, w: self._src_content(a, b, up(b, w)))
        for j in np.flatnonzero(~simple).tolist():
            a, b, w = int(s[j]), int(e[j]), int(first[j])
            out[j] = self._intra_group(self.src_groups, a, b, int(net[j]), extra=(w, up(b, w)))
        return out

    # -- assembly ----------------------------------------------------------------------------
    def stacked(self):
        """Every flow's (source, fabric, destination) group ids in one group matrix.

        Returns ``(g, group_matrix, (off1, off2, n1, n2))``: ``g[i]`` are flow
        ``i``'s three row numbers in ``group_matrix`` (-1: none), and the offsets
        and sizes of the fabric and destination blocks.  Call after routing.
        """
        R = self.fab.res.n
        M0 = self.src_groups.matrix(R)
        M1 = self.fab_groups.matrix(R)
        M2 = self.dst_groups.matrix(R)
        off1, off2 = M0.shape[0], M0.shape[0] + M1.shape[0]
        g = self.g
        g1 = np.where(g[:, 1] >= 0, g[:, 1] + off1, -1)
        g2 = np.where(g[:, 2] >= 0, g[:, 2] + off2, -1)
        g = np.stack([g[:, 0], g1, g2], axis=1)
        group_matrix = sp.vstack([M0, M1, M2]).tocsr()
        return g, group_matrix, (off1, off2, M1.shape[0], M2.shape[0])

    def route_groups(self):
        """Route without merging flows into rows: ``(g, group_matrix, direct)``.

        ``direct`` is None or ``(flows, resources, shares)`` of the flows that
        spray over several tied egress points (their ``g`` rows are -1).
        """
        direct = self._route_all()
        g, group_matrix, _ = self.stacked()
        if direct is not None:
            g[np.unique(np.asarray(direct[0], dtype=np.int64))] = -1
        return g, group_matrix, direct

    def _finish(self, direct):
        fab = self.fab
        R = fab.res.n
        g, group_matrix, (off1, off2, nf1, nf2) = self.stacked()
        g1 = g[:, 1]
        g2 = g[:, 2]
        split = np.zeros(self.n, dtype=bool)
        if direct is not None:
            split[np.asarray(direct[0], dtype=np.int64)] = True
        # Identical flows (same groups, same size) become one row with a count.
        n1, n2 = nf1 + 1, nf2 + 1
        key = ((g[:, 0] + 1) * n1 + (g1 - off1 + 1) * (g1 >= 0)) * n2 + (g2 - off2 + 1) * (g2 >= 0)
        if self.sizes is not None:
            _, size_id = np.unique(np.asarray(self.sizes, dtype=np.float64), return_inverse=True)
            key = key * (int(size_id.max()) + 1) + size_id
        if split.any():
            # Split flows are rows of their own.
            top = int(key.max()) + 1
            key = np.where(split, top + np.arange(self.n), key)
        # Equal groups imply equal (source, destination); so distinct pairs need no merging.
        sc, us = _compact(self.s, fab.N)
        dc, ud = _compact(self.d, fab.N)
        if _all_distinct(sc * ud.size + dc, us.size * ud.size):
            ukey = key
            first = inv = np.arange(self.n)
            counts = np.ones(self.n, dtype=np.int64)
        else:
            ukey, first, inv, counts = _factorize(key)
        rows_g = g[first]
        rows_g[split[first]] = -1
        if direct is not None:
            r, c, v = direct
            drows = inv[np.asarray(r, dtype=np.int64)]
            D = sp.csr_matrix((v, (drows, c)), shape=(ukey.size, R))
        else:
            D = sp.csr_matrix((ukey.size, R))
        # Drop all -1 columns so K stays as small as the routes need.
        keep = [k for k in range(3) if (rows_g[:, k] >= 0).any()] or [0]
        fs = FlowSet(R, D, groups=rows_g[:, keep], group_matrix=group_matrix,
                     counts=counts.astype(np.int64))
        return Routes(fab.res, fs, inv.astype(np.int64).ravel(), self.mode)
