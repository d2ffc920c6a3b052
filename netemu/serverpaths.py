"""Paths that start or end inside a server: ports, PXN, planes and rails, and failover.

The solver's router (:mod:`netemu.routing`) routes flows between access points
(nodes linked to a switch).  A collective's transfers start and end at GPUs,
host memory or CPUs; this module is the one place that decides how such a
transfer ``u -> v`` uses its servers and the fabric, for
:func:`netemu.routing.route` and for every collective alike
(:class:`netemu.collectives.paths.PathModel` delegates here).

Ports
-----
A server's *ports* are its access points plus the endpoints the failures cut
off (``G.graph['failures']['lost_endpoints']``, :func:`netemu.fail`).  A node's
*own port* is the port nearest it inside its server, ties by name (GPU ``i`` of
an H800 node: NIC ``i``; every GPU of a Fire-Flyer node: its one NIC).  A dead
own port is what a failed NIC cable, leaf or plane leaves behind.

Plan of ``u -> v`` between two servers
--------------------------------------
1. *Ingress* (where the fabric delivers).  ``v`` itself if it is an access
   point; else ``v``'s own port when it is alive and some access point of
   ``u``'s server (with PXN) or the egress (without) reaches it; otherwise the
   access points of ``v``'s server that are reachable that way and nearest
   ``v``, traffic spread evenly over them.  So when ``v``'s NIC on plane ``p``
   is dead, its traffic arrives on its other NICs, spread evenly.
2. *Egress* (where the fabric is entered).  With PXN, the access point of
   ``u``'s server nearest the ingress in the fabric (switch hops), ties going to
   the one nearest ``u`` inside the server -- the rule
   :func:`netemu.routing.route` applies to access points; several still tied
   are split by ``'spray'`` and picked by the other policies.  Without PXN,
   ``u``'s own port; when it is dead, or reaches no access point of ``v``'s
   server (its plane is dead there), the alive access points nearest ``u`` that
   do, spread evenly -- as NCCL gives a GPU whose NIC is gone another NIC.
3. *Inside the servers*.  A GPU that leaves through an access point other than
   its own port reaches it through the GPU next to it (the *proxy*, PXN's
   forwarding GPU) and NVLink; symmetrically an ingress other than ``v``'s own
   port hands the data to its proxy GPU, which forwards it to ``v``.  Other
   segments take the shortest paths inside the server (split by ``'spray'``,
   one picked per segment by the other policies).

Only a transfer with no alternative at all is unreachable; it is reported by
its end nodes (GPU names), never by the access points tried.

Policies
--------
The fabric segments (access point to access point, distinct ones once each,
in name order) are routed by :class:`netemu.routing._Router` with the flow's
policy; under ``'adaptive'`` each carries the demand of the transfers that use
it (bytes, or transfers without sizes).  Tied egress points and tied paths
inside a server are split by ``'spray'``; ``'hash'`` and ``'dmodk'`` pick one
per segment (hash of the segment's ends and the seed; the end's index mod the
count), ``'adaptive'`` the least-loaded one, transfers placed in order.
"""

import numpy as np

from .errors import RoutingError
from .routing import (_UNREACH, DEFAULT_DPORT, DEFAULT_SPORT_BASE, UDP, FlowSet, Routes,
                      _Router, flow_hash, natural_key)

__all__ = ["ServerPaths", "server_paths", "route_general"]


class ServerPaths:
    """Ports, proxies and plans of one analysed graph (a :class:`netemu.routing._Fabric`)."""

    def __init__(self, fab):
        self.fab = fab
        G, nodes, idx = fab.G, fab.res.nodes, fab.res.node_index
        rec = G.graph.get("failures") or {}
        lost = {str(x) for x in rec.get("lost_endpoints", ())}
        self.is_ap = fab.ap_sig >= 0
        self.ports = {}                 # server id -> port node ids, natural order
        self.aps = {}                   # server id -> alive access points, natural order
        keys = [natural_key(n) for n in nodes]
        order = sorted(range(fab.N), key=keys.__getitem__)
        # Each node's place in natural name order, equal names' keys equal: sorting by it
        # orders as natural_key does, without splitting names again on every plan.
        self.name_rank = rank = np.zeros(fab.N, dtype=np.int64)
        for k in range(1, len(order)):
            rank[order[k]] = rank[order[k - 1]] + (keys[order[k]] != keys[order[k - 1]])
        self.name_rank = rank.tolist()
        for i in order:
            k = int(fab.server_of[i])
            if k < 0:
                continue
            if self.is_ap[i] or str(nodes[i]) in lost:
                self.ports.setdefault(k, []).append(i)
            if self.is_ap[i]:
                self.aps.setdefault(k, []).append(i)
        self.role = [G.nodes[n].get("role") for n in nodes]
        self.idx = idx
        self._own = {}
        self._proxy = {}
        self._nearest = {}
        self._hops = {}
        self._egress = {}
        self._ingress = {}
        self._plans = {}
        self._reach_sets = {}

    # -- nodes -------------------------------------------------------------------------------
    def hops(self, x):
        h = self._hops.get(x)
        if h is None:
            h = self._hops[x] = self.fab.intra_hops_from(x)
        return h

    def nearest(self, x, cands):
        """The candidates nearest ``x`` inside its server (natural order), or []."""
        key = (x, tuple(cands))
        hit = self._nearest.get(key)
        if hit is None:
            h = self.hops(x)
            d = [(h[c], c) for c in cands if c in h]
            best = min(dd for dd, _ in d) if d else None
            hit = self._nearest[key] = [c for dd, c in d if dd == best]
        return hit

    def own_port(self, x):
        """The port nearest ``x`` (ties by name; alive or not), or -1."""
        hit = self._own.get(x)
        if hit is None:
            near = self.nearest(x, self.ports.get(int(self.fab.server_of[x]), ()))
            hit = self._own[x] = near[0] if near else -1
        return hit

    def proxy(self, a):
        """The GPU nearest access point ``a`` in its server (ties by name), or -1."""
        hit = self._proxy.get(a)
        if hit is None:
            h = self.hops(a)
            gpus = [(d, self.name_rank[g], g) for g, d in h.items() if self.role[g] == "gpu"]
            hit = self._proxy[a] = min(gpus)[2] if gpus else -1
        return hit

    def reach(self, a, b):
        Dss = self.fab.distances()[2]
        return Dss[self.fab.ap_sig[a], self.fab.ap_sig[b]] < _UNREACH

    def _reaches_any(self, srcs, b):
        """Does any of the access points ``srcs`` (a server's, or one) reach ``b``?"""
        key = (tuple(srcs), b)
        hit = self._reach_sets.get(key)
        if hit is None:
            hit = self._reach_sets[key] = any(self.reach(a, b) for a in srcs)
        return hit

    # -- plans -------------------------------------------------------------------------------
    def plan(self, u, v, pxn, policy, router=None, i=0):
        """``[(weight, [(kind, a, b), ...]), ...]``: the alternatives of ``u -> v``.

        ``kind`` is ``'intra'`` or ``'fabric'``; weights sum to 1.  [] when there is
        no path.  A pure function of its arguments except under ``'adaptive'``
        (which depends on the load placed before), so it is cached.
        """
        if policy.sequential:
            return self._plan(u, v, pxn, policy, router, i)
        key = (u, v, pxn, policy.name, getattr(router, "seed", 0))
        hit = self._plans.get(key)
        if hit is None:
            hit = self._plans[key] = self._plan(u, v, pxn, policy, router, i)
        return hit

    def _plan(self, u, v, pxn, policy, router, i):
        fab = self.fab
        su, sv = int(fab.server_of[u]), int(fab.server_of[v])
        if su == sv and su >= 0:
            return [(1.0, [("intra", u, v)])] if fab.intra_dag(u, v) is not None else []
        src_aps = self.aps.get(su, [])
        dst_aps = self.aps.get(sv, [])
        if not src_aps or not dst_aps:
            return []
        out = []
        if pxn:
            for wi, ing in self._ingresses(v, dst_aps, src_aps, su):
                for we, e in self._egresses_pxn(u, ing, policy, router, i):
                    out.append((wi * we, self._segments(u, e, ing, v)))
        else:
            own = self.own_port(u)
            if own >= 0 and self.is_ap[own] and any(self.reach(own, b) for b in dst_aps):
                egs = [own]
            else:
                egs = self.nearest(u, [a for a in src_aps
                                       if any(self.reach(a, b) for b in dst_aps)])
            for e in egs:
                for wi, ing in self._ingresses(v, dst_aps, [e], -1 - e):
                    out.append((wi / len(egs), self._segments(u, e, ing, v)))
        return out

    def _ingresses(self, v, dst_aps, src_aps, src_key):
        # src_key names src_aps: a server id (its access points) or -1 - (one egress).
        key = (v, src_key)
        hit = self._ingress.get(key)
        if hit is None:
            hit = self._ingress[key] = self._find_ingresses(v, dst_aps, src_aps)
        return hit

    def _find_ingresses(self, v, dst_aps, src_aps):
        if self.is_ap[v]:
            return [(1.0, v)] if self._reaches_any(src_aps, v) else []
        own = self.own_port(v)
        if own >= 0 and self.is_ap[own] and self._reaches_any(src_aps, own):
            return [(1.0, own)]
        cands = [b for b in dst_aps if self._reaches_any(src_aps, b)]
        near = self.nearest(v, cands)
        return [(1.0 / len(near), b) for b in near]

    def _egresses_pxn(self, u, ing, policy, router, i):
        cands = self.egress_candidates(u, ing)
        if len(cands) <= 1 or policy.splits:
            return [(1.0 / len(cands), c) for c in cands]
        options = [self.fab.ap_up[c][0][1] for c in cands]
        k = policy.pick_one(router, i, u, options)
        return [(1.0, cands[k])]

    def egress_candidates(self, u, ing, src_aps=None, tau=None):
        """Access points of ``u``'s server nearest ``ing`` in the fabric, then nearest ``u``.

        The PXN egress rule, for any source node; :meth:`netemu.routing._Router._egress`
        applies it vectorised to access points and calls this for ties.  ``tau`` (the
        destination's switch signature) may be given instead of ``ing``.
        """
        fab = self.fab
        if tau is None:
            tau = fab.ap_sig[ing]
        if src_aps is None:
            key = (u, int(tau))
            src_aps = self.aps.get(int(fab.server_of[u]), [])
        else:
            key = (u, int(tau), tuple(src_aps))
        hit = self._egress.get(key)
        if hit is None:
            hit = self._egress[key] = self._egress_candidates(u, int(tau), src_aps)
        return hit

    def _egress_candidates(self, u, tau, src_aps):
        fab = self.fab
        Dss = fab.distances()[2]
        h = self.hops(u)
        scored = [(int(Dss[fab.ap_sig[c], tau]), h[c], c) for c in src_aps if c in h]
        scored = [t for t in scored if t[0] < _UNREACH]
        if not scored:
            return []
        best = min(scored)[:2]
        return sorted((c for dd, hh, c in scored if (dd, hh) == best),
                      key=self.name_rank.__getitem__)

    def _segments(self, u, e, ing, v):
        segs = []
        if u != e:
            p = self.proxy(e)
            if self.role[u] == "gpu" and e != self.own_port(u) and p >= 0 and p != u:
                segs += [("intra", u, p), ("intra", p, e)]
            else:
                segs.append(("intra", u, e))
        segs.append(("fabric", e, ing))
        if ing != v:
            p = self.proxy(ing)
            if self.role[v] == "gpu" and ing != self.own_port(v) and p >= 0 and p != v:
                segs += [("intra", ing, p), ("intra", p, v)]
            else:
                segs.append(("intra", ing, v))
        return segs


def server_paths(fab):
    sp = fab.__dict__.get("_server_paths")
    if sp is None:
        sp = fab._server_paths = ServerPaths(fab)
    return sp


class _Ctx(_Router):
    """A router over the transfers themselves, for the policies' per-flow picks."""

    def _base_hash(self, idx):
        # A transfer's hash depends on its two ends and the seed only, not on its place
        # in the list, so a plan is the same whichever workload it comes from.
        return flow_hash(self.seed, self.s[idx], self.d[idx], DEFAULT_SPORT_BASE,
                         DEFAULT_DPORT, UDP)

    def dst_rank(self, idx):
        """D-mod-k rank of a destination inside a server: its place among the nodes of its
        role in natural order (GPU ``n1/gpu0`` of 8-GPU servers is 8); access points keep
        their rank in the fabric."""
        rank = super().dst_rank(idx).copy()
        low = rank < 0
        if low.any():
            table = self.fab.__dict__.get("_role_rank")
            if table is None:
                fab = self.fab
                table = np.full(fab.N, -1, dtype=np.int64)
                seen = {}
                for j in sorted(range(fab.N), key=lambda q: natural_key(fab.res.nodes[q])):
                    role = fab.G.nodes[fab.res.nodes[j]].get("role")
                    table[j] = seen.get(role, 0)
                    seen[role] = table[j] + 1
                fab._role_rank = table
            rank[low] = table[self.d[np.asarray(idx)[low]]]
        return rank


def route_general(fab, s_nodes, d_nodes, policy, seed, pxn, sizes=None):
    """Shares of flows whose ends may lie inside servers.

    Returns ``(shares, plans)``: per flow a ``{resource id: share}`` dict and its
    plan (see :meth:`ServerPaths.plan`).  Raises :class:`RoutingError` naming the
    flows (by their end nodes) that have no path at all.
    """
    sp = server_paths(fab)
    n = s_nodes.size
    sport = DEFAULT_SPORT_BASE + np.arange(n, dtype=np.int64) % 16384
    ctx = _Ctx(fab, s_nodes, d_nodes, policy, seed, sport, sizes, pxn)
    weight = np.ones(n) if sizes is None else np.asarray(sizes, dtype=np.float64)
    plans, bad = [], []
    for i, (u, v) in enumerate(zip(s_nodes.tolist(), d_nodes.tolist())):
        p = sp.plan(u, v, pxn, policy, ctx, i)
        if not p:
            bad.append(i)
        elif policy.sequential:
            _charge_plan(ctx, sp, p, weight[i])
        plans.append(p)
    if bad:
        nodes = fab.res.nodes
        pairs = sorted({(str(nodes[s_nodes[i]]), str(nodes[d_nodes[i]])) for i in bad[:2000]})
        shown = ", ".join(f"{a}->{b}" for a, b in pairs[:10])
        more = f" (and {len(bad) - min(10, len(pairs))} more)" if len(bad) > 10 else ""
        exc = RoutingError(f"no path for {len(bad)} transfer(s) between ranks: {shown}{more}")
        exc.pairs = {(nodes[s_nodes[i]], nodes[d_nodes[i]]) for i in bad}
        raise exc
    # Fabric segments: routed access point to access point by the solver's router, once each.
    # Distinct plans are visited once, with the demand of the transfers that share them.
    uniq = {}
    for i, p in enumerate(plans):
        k = id(p)
        if k in uniq:
            uniq[k][1] += weight[i]
        else:
            uniq[k] = [p, weight[i]]
    demand = {}
    for p, wt in uniq.values():
        for w, segs in p:
            for kind, a, b in segs:
                if kind == "fabric":
                    demand[(a, b)] = demand.get((a, b), 0.0) + w * wt
    fab_rows = {}
    if demand:
        pairs = sorted(demand)
        e = np.array([a for a, _ in pairs], dtype=np.int64)
        g = np.array([b for _, b in pairs], dtype=np.int64)
        sizes_f = np.array([demand[k] for k in pairs]) if policy.sequential else None
        r = _Router(fab, e, g, policy, seed, DEFAULT_SPORT_BASE + np.arange(e.size) % 16384,
                    sizes_f, False).run()
        for j, pair in enumerate(pairs):
            fab_rows[pair] = r.row_shares(int(r.row_of_flow[j]))
    intra = {}
    acc_of = {}
    for k, (p, _) in uniq.items():
        acc = {}
        for w, segs in p:
            for kind, a, b in segs:
                if kind == "fabric":
                    part = fab_rows[(a, b)]
                else:
                    part = intra.get((a, b))
                    if part is None:
                        part = intra[(a, b)] = _intra(fab, ctx, policy, seed, a, b)
                if w == 1.0:
                    # (1.0 * s and 0.0 + s are s: the same sums without the arithmetic.)
                    if not acc:
                        acc = dict(part)
                        continue
                    for r_, s_ in part.items():
                        acc[r_] = acc.get(r_, 0.0) + s_
                else:
                    for r_, s_ in part.items():
                        acc[r_] = acc.get(r_, 0.0) + w * s_
        acc_of[k] = acc
    return [acc_of[id(p)] for p in plans], plans


def _charge_plan(ctx, sp, plan, weight):
    """Adaptive placement: charge a placed transfer's demand on its egress uplinks."""
    for w, segs in plan:
        for kind, a, b in segs:
            if kind == "fabric":
                r = sp.fab.ap_up[a][0][1]
                ctx.ar_load[r] = ctx.ar_load.get(r, 0.0) + w * weight


def _intra(fab, ctx, policy, seed, a, b):
    """Shares of the segment a -> b inside a server: split over its shortest paths by
    ``'spray'``; one path picked hop by hop by the other policies, per segment."""
    dag = fab.intra_dag(a, b)
    if dag is None:
        raise RoutingError(f"no path from {fab.res.nodes[a]!r} to {fab.res.nodes[b]!r} "
                           f"inside their server")
    if policy.splits or dag[1][a] == 1:
        return fab.intra_shares(a, b, dag)
    if policy.name == "hash":
        base = flow_hash(seed, np.array([a]), np.array([b]), DEFAULT_SPORT_BASE,
                         DEFAULT_DPORT, UDP)
        from .routing import _hop_choice

        def pick(node, options):
            return int(_hop_choice(base, [node], [len(options)])[0])
    elif policy.name == "dmodk":
        state = {"prod": 1}

        def pick(node, options):
            k = (b // state["prod"]) % len(options)
            state["prod"] *= len(options)
            return k
    else:
        def pick(node, options):
            return policy.pick_one(ctx, -1, node, options)
    path = fab.intra_walk(a, b, dag, pick)
    sh = fab.path_shares(path)
    if policy.sequential:
        for r, s in sh.items():
            ctx.ar_load[r] = ctx.ar_load.get(r, 0.0) + s
    return sh


def routes_of(fab, s_nodes, d_nodes, policy, seed, pxn, sizes=None):
    """:class:`netemu.routing.Routes` of flows with ends inside servers (one row per flow)."""
    import scipy.sparse as sp_

    shares, _ = route_general(fab, s_nodes, d_nodes, policy, seed, pxn, sizes)
    rows, cols, vals = [], [], []
    for i, sh in enumerate(shares):
        for r, v in sh.items():
            rows.append(i)
            cols.append(r)
            vals.append(v)
    n = s_nodes.size
    direct = sp_.csr_matrix((vals, (rows, cols)), shape=(n, fab.res.n))
    return Routes(fab.res, FlowSet(fab.res.n, direct), np.arange(n), policy.name)
