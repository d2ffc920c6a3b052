"""Where a collective's bytes go: resource shares of transfers between any two nodes.

A collective moves data between GPUs, host memory and CPUs, so its transfers
start and end inside servers, not only at the fabric's access points.  Which
NICs, planes, rails, PXN proxies and paths inside the servers a transfer uses
is decided by the engine, once, in :mod:`netemu.serverpaths` -- the same code
:func:`netemu.routing.route` (and so :func:`netemu.solve`) runs for flows that
start or end inside a server -- and the fabric part is routed by
:mod:`netemu.routing` with the policy given (:mod:`netemu.policies`:
``'spray'``, ``'hash'``, ``'dmodk'``, ``'adaptive'``).  :class:`PathModel` adds
only what the engine's graph resources do not hold (below), so a collective and
the solver give the same shares for the same transfers.

A transfer ``u -> v`` between servers is cut into segments: inside the source
server (to the egress NIC, through a proxy GPU under PXN), across the fabric,
inside the destination server.  Failed NICs, cables, switches and planes are
routed around as the hardware does (see :mod:`netemu.serverpaths`); a transfer
with no path at all raises :class:`netemu.errors.RoutingError` naming its GPUs.

GPUDirect limit
---------------
A segment that is a direct DMA between a GPU and a NIC of the same server (the
first hop out of or the last hop into a GPU) also crosses the NIC's
``p2p_bandwidth`` limit when it has one ([FF] §IV-D: ~9 GiB/s on EPYC Rome);
netemu counts it once per direction, as an extra resource named
``n17/nic0:p2p-out`` (GPU -> NIC) or ``n17/nic0:p2p-in``.
"""

import numpy as np

from netemu.errors import ParameterError, RoutingError
from netemu.graph import SWITCH_ROLES
from netemu.policies import DModK, PathSpec, Spray
from netemu.routing import Resources, natural_key, server_key

__all__ = ["PathModel"]


class PathModel:
    """Resource shares of transfers between nodes of ``G`` (see the module notes).

    Parameters
    ----------
    G : networkx.Graph or netemu.policies.PathSpec
        A validated netemu graph: a cluster, a server, or a plain fabric; or a
        :class:`~netemu.policies.PathSpec` holding graph, routing, PXN and seed.
    routing : {'spray', 'hash', 'dmodk', 'adaptive'} or RoutingPolicy
        How a transfer picks among equal-cost paths (:mod:`netemu.policies`).
    pxn : bool
        Plane/rail-aware forwarding inside the source server.
    seed : int
        Seed of hashed ECMP.

    Examples
    --------
    >>> from netemu.topologies.servers import pcie_a100_server
    >>> pm = PathModel(pcie_a100_server())
    >>> sh = pm.shares([("n0/gpu0", "n0/gpu1")])[0]
    >>> [pm.name(r) for r in sh]
    ['n0/gpu0->n0/gpu1']
    """

    def __init__(self, G, routing="dmodk", *, pxn=True, seed=0):
        # PathModel(spec) with a netemu.policies.PathSpec, or the loose arguments.
        self.spec = spec = G if isinstance(G, PathSpec) else PathSpec(G, routing, pxn, seed)
        G = self.G = spec.graph
        self.policy = spec.policy
        self.routing = spec.policy.name
        self.pxn = spec.pxn
        self.seed = spec.seed
        self.res = Resources(G)
        self._extra_index = {}
        self._extra_names = []
        self._extra_caps = []
        self._members = {}
        for n, role in G.nodes(data="role"):
            if role not in SWITCH_ROLES:
                self._members.setdefault(server_key(n), []).append(n)
        self._aps = {}
        self._p2p_cache = {}
        self._checked = set()
        # GPUDirect limits exist only on some servers (Fire-Flyer's); skip the walk elsewhere.
        self._has_p2p = any(b for _, b in G.nodes(data="p2p_bandwidth"))
        self._edge_latency = None
        self._server_paths = None
        # Shares of transfers already routed, by (u, v), for the policies whose answer for a
        # transfer depends on its two ends only (see shares()); bounded.
        self._pairs = {}
        self._pairs_fab = None
        self._pure = type(self.policy) in (DModK, Spray)
        self._fab = None

    # -- resources ------------------------------------------------------------------------------
    @property
    def n_resources(self):
        return self.res.n + len(self._extra_caps)

    @property
    def capacity(self):
        """Capacity of every resource, graph resources first, then extra ones (bytes/s)."""
        return np.concatenate([self.res.capacity, np.asarray(self._extra_caps, dtype=float)])

    def extra(self, name, capacity):
        """Id of an extra resource (one that is not an edge or a capacity node), made on first use."""
        r = self._extra_index.get(name)
        if r is None:
            if not capacity > 0:
                raise ParameterError(f"capacity of {name!r} must be > 0 bytes/s, got {capacity!r}")
            r = self._extra_index[name] = self.res.n + len(self._extra_caps)
            self._extra_names.append(name)
            self._extra_caps.append(float(capacity))
        return r

    def name(self, r):
        r = int(r)
        if r < self.res.n:
            return self.res.name(r)
        return self._extra_names[r - self.res.n]

    def medium(self, r):
        """``medium`` of a resource's edge (``'nvlink'``, ``'pcie'``, ``'ib'``...), else its role."""
        r = int(r)
        if r < self.res.n_edge_resources:
            u = self.res.nodes[self.res.edge_tail[r]]
            v = self.res.nodes[self.res.edge_head[r]]
            return self.G.edges[u, v].get("medium", "link")
        if r < self.res.n:
            return self.G.nodes[self.name(r)].get("role", "node")
        return "p2p"

    def latency(self, shares):
        """Share-weighted sum of edge ``latency`` over a transfer's resources (s)."""
        if self._edge_latency is None:
            lat = np.zeros(self.res.n_edge_resources)
            for i, (_, _, x) in enumerate(self.G.edges(data="latency", default=0.0)):
                lat[2 * i] = lat[2 * i + 1] = x
            self._edge_latency = lat
        m = self.res.n_edge_resources
        return float(sum(s * self._edge_latency[r] for r, s in shares.items() if r < m))

    def max_latency(self, shares):
        """The largest :meth:`latency` of ``shares`` (a list of share maps): each distinct
        map once, and many of them (an all-to-all's routes) summed as arrays, in the same
        order, so the same value."""
        uniq = list({id(sh): sh for sh in shares}.values())
        if len(uniq) < 256:
            return max(self.latency(sh) for sh in uniq)
        self.latency({})                # builds the per-edge latencies
        lat = self._edge_latency
        sizes = [len(sh) for sh in uniq]
        n = sum(sizes)
        cols = np.fromiter((r for sh in uniq for r in sh), dtype=np.int64, count=n)
        vals = np.fromiter((x for sh in uniq for x in sh.values()), dtype=np.float64, count=n)
        seg = np.repeat(np.arange(len(uniq)), sizes)
        edge = cols < lat.size
        # An ordered bincount adds each map's terms one by one, as the sum in latency() does.
        total = np.bincount(seg[edge], weights=vals[edge] * lat[cols[edge]],
                            minlength=len(uniq))
        return float(total.max())

    # -- nodes ----------------------------------------------------------------------------------
    def _sp(self):
        # Kept for the model's life: a graph changed in place gets a new PathModel
        # (workload.path_model checks), and re-checking the fabric's shape on every
        # transfer costs a walk over the whole graph.
        if self._server_paths is None:
            from netemu.serverpaths import server_paths
            self._server_paths = server_paths(self._fabric())
        return self._server_paths

    def _index(self, node):
        return self.res.node_index[node]

    def server(self, node):
        if node not in self.G:
            raise ParameterError(f"node {node!r} is not in the graph")
        if self.G.nodes[node].get("role") in SWITCH_ROLES:
            raise ParameterError(f"node {node!r} is a switch; transfers start and end in servers")
        return server_key(node)

    def access_points(self, server):
        """Nodes of ``server`` linked to a switch, in natural name order."""
        hit = self._aps.get(server)
        if hit is None:
            aps = [n for n in self._members.get(server, ())
                   if any(self.G.nodes[m].get("role") in SWITCH_ROLES for m in self.G.adj[n])]
            hit = self._aps[server] = sorted(aps, key=natural_key)
        return hit

    def own_ap(self, node):
        """The access point ``node`` uses by itself: its own port (the nearest NIC inside its
        server) when alive, else the nearest live one (ties: lowest name)."""
        self.server(node)
        sp = self._sp()
        i = self._index(node)
        own = sp.own_port(i)
        if own < 0 or not sp.is_ap[own]:
            near = sp.nearest(i, sp.aps.get(int(sp.fab.server_of[i]), []))
            if not near:
                raise ParameterError(f"{node!r} reaches no access point inside server "
                                     f"{server_key(node)!r}")
            own = near[0]
        return self.res.nodes[own]

    def proxy(self, ap):
        """The GPU next to access point ``ap`` (PXN's forwarding GPU), or None."""
        p = self._sp().proxy(self._index(ap))
        return None if p < 0 else self.res.nodes[p]

    # -- shares ---------------------------------------------------------------------------------
    def _check(self, u, v):
        for x in (u, v):
            if x not in self._checked:
                self.server(x)
                self._checked.add(x)
        if u == v:
            raise ParameterError(f"a transfer needs two different nodes, got {u!r} twice")

    def plan(self, u, v):
        """The segments of ``u -> v``: ``[('intra', a, b) | ('fabric', a, b), ...]``.

        Where the engine spreads a transfer over several alternatives (failover), the
        segments of all of them.
        """
        self._check(u, v)
        sp = self._sp()
        alts = sp.plan(self._index(u), self._index(v), self.pxn, self.policy)
        nodes = self.res.nodes
        seen = dict.fromkeys((k, nodes[a], nodes[b]) for _, segs in alts for k, a, b in segs)
        return list(seen)

    #: Transfers whose shares a model keeps (measured: about 600 bytes each on the 2,048-GPU
    #: DeepSeek-V3 cluster, whose training step routes 36,608 and a 256-GPU decode 65,280).
    PAIRS_KEPT = 100_000

    def shares(self, transfers):
        """``[{resource id: share}, ...]`` for transfers ``[(u, v), ...]``.

        Under ``'dmodk'`` and ``'spray'`` a transfer's shares depend on its two ends only
        (a destination's rank picks d-mod-k's hops; spray splits over every path), so they
        are kept per transfer while the graph's analysis stands (:func:`netemu.routing._fabric`:
        for the model's life on a frozen graph; on another, until its nodes, roles or links
        change) and a transfer routed before is not routed again.  Hashed ECMP's port numbers and adaptive routing's placed load depend
        on the transfers routed together, so those are routed as asked, every time.  The
        returned dicts may be shared: read them, do not change them.
        """
        transfers = list(transfers)
        if not transfers:
            return []
        if not self._pure:
            return self._route(transfers)
        fab = self._fabric()
        if fab is not self._pairs_fab:
            # A graph that is not frozen is analysed again when its nodes, roles or links
            # changed (netemu.routing._fabric): the shares kept are for the old one.
            self._pairs.clear()
            self._pairs_fab = fab
        memo = self._pairs
        missing = list(dict.fromkeys(t for t in transfers if t not in memo))
        if missing:
            if len(memo) + len(missing) > self.PAIRS_KEPT:
                memo.clear()
            try:
                routed = self._route(missing, fab)
            except RoutingError:
                # Fail as a call without the memo does: every occurrence named and counted.
                self._route([t for t in transfers if t not in memo], fab)
                raise
            for t, sh in zip(missing, routed):
                memo[t] = sh
            if len(memo) > self.PAIRS_KEPT:
                # One call larger than the bound: answer it, keep nothing.
                out = [memo[t] for t in transfers]
                memo.clear()
                return out
        return [memo[t] for t in transfers]

    def _fabric(self):
        from netemu.routing import _fabric, _is_frozen
        if self._fab is not None:
            return self._fab
        fab = _fabric(self.G)
        if _is_frozen(self.G):
            # A frozen graph's analysis never changes: keep it with the model, so that
            # solving another graph in between does not make the next call analyse again.
            self._fab = fab
        return fab

    def _route(self, transfers, fab=None):
        from netemu.serverpaths import route_general

        for u, v in transfers:
            self._check(u, v)
        idx = self.res.node_index
        s = np.array([idx[u] for u, _ in transfers], dtype=np.int64)
        d = np.array([idx[v] for _, v in transfers], dtype=np.int64)
        fab = self._fabric() if fab is None else fab
        shares, plans = route_general(fab, s, d, self.policy, self.seed, self.pxn)
        out = []
        for (u, v), sh, p in zip(transfers, shares, plans):
            extra = self._p2p_cache.get((u, v)) if self._has_p2p else {}
            if extra is None:
                extra = self._p2p_cache[(u, v)] = self._p2p(p)
            if extra:
                sh = dict(sh)
                for r, x in extra.items():
                    sh[r] = sh.get(r, 0.0) + x
            out.append(sh)
        return out

    def _p2p(self, plan):
        """GPUDirect limits crossed by a plan's GPU<->NIC segments (extra resources)."""
        out = {}
        nodes = self.res.nodes
        for w, segs in plan:
            for kind, a, b in segs:
                if kind != "intra":
                    continue
                a, b = nodes[a], nodes[b]
                roles = (self.G.nodes[a].get("role"), self.G.nodes[b].get("role"))
                if roles not in (("gpu", "nic"), ("nic", "gpu")):
                    continue
                nic = b if roles[1] == "nic" else a
                limit = self.G.nodes[nic].get("p2p_bandwidth")
                if limit:
                    direction = ("both" if self.G.nodes[nic].get("p2p_shared")
                                 else "out" if roles[1] == "nic" else "in")
                    r = self.extra(f"{nic}:p2p-{direction}", limit)
                    out[r] = out.get(r, 0.0) + w
        return out
