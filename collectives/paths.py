"""Where a collective's bytes go: resource shares of transfers between any two nodes.

A collective moves data between GPUs, host memory and CPUs, so its transfers
start and end inside servers, not only at the fabric's access points.  A
transfer ``u -> v`` is cut into up to three segments:

1. inside the source server, from ``u`` to an *egress* access point (a node of
   the server linked to a switch: a NIC, or the host itself on a plain fabric);
2. across the fabric, from the egress to an *ingress* access point of the
   destination server, routed by :func:`netemu.routing.route` (``'spray'``,
   ``'hash'`` or ``'dmodk'``), so the fabric part is exactly what
   :func:`netemu.solve` would use;
3. inside the destination server, from the ingress to ``v``.

Inside a server the transfer is split evenly over all shortest paths of the
server's own graph, and it charges every node with a ``capacity`` it touches
(host memory, for instance, when ``u`` or ``v`` is a ``memory`` node).

Choice of NICs
--------------
A node's *own* access point is the one nearest it inside its server (GPU ``i``
of an H800 node: NIC ``i``; every GPU of a Fire-Flyer node: its one NIC).

- With ``pxn=True`` (NCCL PXN) a GPU sends through the NIC of its server that
  sits on the destination's plane or rail (same ``plane``/``rail`` attribute as
  the destination's own NIC), reaching it through the GPU next to that NIC (the
  proxy) over NVLink; the fabric delivers to the destination's own NIC.
- With ``pxn=False`` the transfer leaves through the source's own NIC; the
  fabric delivers to the destination's own NIC when the two NICs share a
  plane-free fabric (multi-rail: rails meet at the spines), otherwise to the
  destination server's NIC on the source's plane, and the last hop is forwarded
  inside the destination server.

GPUDirect limit
---------------
A segment that is a direct DMA between a GPU and a NIC of the same server (the
first hop out of or the last hop into a GPU) also crosses the NIC's
``p2p_bandwidth`` limit when it has one ([FF] §IV-D: ~9 GiB/s on EPYC Rome);
netemu counts it once per direction, as an extra resource named
``n17/nic0:p2p-out`` (GPU -> NIC) or ``n17/nic0:p2p-in``.
"""

import networkx as nx
import numpy as np

from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES
from netemu.routing import Resources, natural_key, route, server_key

__all__ = ["PathModel"]


class PathModel:
    """Resource shares of transfers between nodes of ``G`` (see the module notes).

    Parameters
    ----------
    G : networkx.Graph
        A validated netemu graph: a cluster, a server, or a plain fabric.
    routing : {'spray', 'hash', 'dmodk'}
        Path choice across the fabric (:mod:`netemu.routing`).
    pxn : bool
        Plane/rail-aware forwarding inside the source server.
    seed : int
        Seed of hashed ECMP.

    Examples
    --------
    >>> from topologies.servers import pcie_a100_server
    >>> pm = PathModel(pcie_a100_server())
    >>> sh = pm.shares([("n0/gpu0", "n0/gpu1")])[0]
    >>> [pm.name(r) for r in sh]
    ['n0/gpu0->n0/gpu1']
    """

    def __init__(self, G, routing="dmodk", *, pxn=True, seed=0):
        self.G = G
        self.routing = routing
        self.pxn = bool(pxn)
        self.seed = seed
        self.res = Resources(G)
        self._extra_index = {}
        self._extra_names = []
        self._extra_caps = []
        self._members = {}
        for n, role in G.nodes(data="role"):
            if role not in SWITCH_ROLES:
                self._members.setdefault(server_key(n), []).append(n)
        self._intra_cache = {}
        self._own_ap = {}
        self._aps = {}
        self._proxy = {}
        self._edge_latency = None

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

    # -- nodes ----------------------------------------------------------------------------------
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
        """The access point nearest ``node`` inside its server (ties: lowest name)."""
        hit = self._own_ap.get(node)
        if hit is None:
            s = self.server(node)
            aps = self.access_points(s)
            if not aps:
                raise ParameterError(f"server {s!r} of {node!r} has no link to the fabric")
            H = self._server_graph(s)
            dist = nx.single_source_shortest_path_length(H, node)
            reach = [a for a in aps if a in dist]
            if not reach:
                raise ParameterError(f"{node!r} reaches no access point inside server {s!r}")
            hit = self._own_ap[node] = min(reach, key=lambda a: (dist[a], natural_key(a)))
        return hit

    def _server_graph(self, s):
        return self.G.subgraph(self._members[s])

    def _lane(self, ap):
        d = self.G.nodes[ap]
        for key in ("plane", "rail"):
            if key in d:
                return key, d[key]
        return None

    def _ap_on_lane(self, server, lane):
        for a in self.access_points(server):
            if self._lane(a) == lane:
                return a
        return None

    def proxy(self, ap):
        """The GPU next to access point ``ap`` (PXN's forwarding GPU), or None."""
        if ap not in self._proxy:
            H = self._server_graph(self.server(ap))
            dist = nx.single_source_shortest_path_length(H, ap)
            gpus = [n for n in dist if self.G.nodes[n].get("role") == "gpu"]
            self._proxy[ap] = min(gpus, key=lambda g: (dist[g], natural_key(g))) if gpus else None
        return self._proxy[ap]

    # -- shares ---------------------------------------------------------------------------------
    def plan(self, u, v):
        """The segments of ``u -> v``: ``[('intra', a, b) | ('fabric', a, b), ...]``."""
        su, sv = self.server(u), self.server(v)
        if u == v:
            raise ParameterError(f"a transfer needs two different nodes, got {u!r} twice")
        if su == sv:
            return [("intra", u, v)]
        dst_ap = self.own_ap(v)
        src_ap = self.own_ap(u)
        segs = []
        if self.pxn and self._lane(dst_ap) is not None:
            e = self._ap_on_lane(su, self._lane(dst_ap)) or src_ap
            if e != src_ap and self.G.nodes[u].get("role") == "gpu":
                p = self.proxy(e)
                if p is not None and p != u:
                    segs.append(("intra", u, p))
                    u = p
            src_ap = e
            ingress = dst_ap
        else:
            lane_s, lane_d = self._lane(src_ap), self._lane(dst_ap)
            ingress = dst_ap
            if lane_s and lane_d and lane_s[0] == "plane" and lane_s != lane_d:
                ingress = self._ap_on_lane(sv, lane_s)
                if ingress is None:
                    raise ParameterError(f"server {sv!r} has no NIC on {lane_s[0]} {lane_s[1]}, "
                                         f"so {u!r} cannot reach it without PXN")
        if u != src_ap:
            segs.append(("intra", u, src_ap))
        segs.append(("fabric", src_ap, ingress))
        if ingress != v:
            segs.append(("intra", ingress, v))
        return segs

    def shares(self, transfers):
        """``[{resource id: share}, ...]`` for transfers ``[(u, v), ...]``."""
        plans = [self.plan(u, v) for u, v in transfers]
        fabric = sorted({(a, b) for p in plans for k, a, b in p if k == "fabric"})
        fab_shares = {}
        if fabric:
            routes = route(self.G, [a for a, _ in fabric], [b for _, b in fabric], self.routing,
                           seed=self.seed, pxn=False)
            for i, pair in enumerate(fabric):
                fab_shares[pair] = routes.row_shares(int(routes.row_of_flow[i]))
        out = []
        for p in plans:
            acc = {}
            for kind, a, b in p:
                part = fab_shares[(a, b)] if kind == "fabric" else self._intra(a, b)
                for r, s in part.items():
                    acc[r] = acc.get(r, 0.0) + s
            out.append(acc)
        return out

    def _intra(self, a, b):
        key = (a, b)
        hit = self._intra_cache.get(key)
        if hit is not None:
            return hit
        H = self._server_graph(server_key(a))
        try:
            paths = list(nx.all_shortest_paths(H, a, b))
        except nx.NetworkXNoPath:
            raise ParameterError(f"no path from {a!r} to {b!r} inside their server") from None
        w = 1.0 / len(paths)
        acc = {}
        idx = self.res.node_index
        for path in paths:
            for x, y in zip(path, path[1:]):
                r = self.res.edge_id(idx[x], idx[y])
                acc[r] = acc.get(r, 0.0) + w
            for x in path:
                r = self.res.node(x)
                if r >= 0:
                    acc[r] = acc.get(r, 0.0) + w
        roles = (self.G.nodes[a].get("role"), self.G.nodes[b].get("role"))
        if roles in (("gpu", "nic"), ("nic", "gpu")) and len(paths[0]) > 1:
            nic = b if roles[1] == "nic" else a
            limit = self.G.nodes[nic].get("p2p_bandwidth")
            if limit:
                direction = "both" if self.G.nodes[nic].get("p2p_shared") else "out" if nic == b else "in"
                acc[self.extra(f"{nic}:p2p-{direction}", limit)] = 1.0
        self._intra_cache[key] = acc
        return acc
