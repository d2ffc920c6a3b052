"""Factored all-to-all: exact max-min rates of N(N-1) sprayed flows without a row per flow.

Why it works
------------
With spraying, a flow ``s -> d`` between two servers is three groups
(:mod:`netemu.routing`): the source side ``g0`` (source, egress point, and the
sprayed uplinks), the fabric part ``g1`` (egress signature -> destination
signature) and the destination side ``g2``.  The egress point is the one
nearest the destination's *signature* ``tau(d)`` (its set of switches), so
``g0`` and ``g1`` depend on ``(s, tau(d))`` only, and ``g2`` on ``d`` only when
``d`` hangs off one switch.  An all-to-all is then the product of
``X = (s, tau)`` classes and the destinations of ``tau`` outside ``s``'s
server: 16,384 MPFT NICs x 512 leaves is 8.4 M classes for 268 M flows.

Progressive filling freezes a flow when any resource it crosses saturates, that
is when any of its groups touches a saturated resource.  So a flow's rate is
the level at which the first of its groups froze, and the filling only needs,
per step, the number of active flows in every group: for a class ``X`` that is
(active destinations of ``tau``) minus (active ones in ``s``'s own server),
and symmetrically for a destination.  Flows inside one server are few and are
kept as ordinary rows.  Every step is O(classes + endpoints + groups), never
O(flows), and the steps, tolerance and frozen-load bookkeeping are those of
:func:`netemu.flow.max_min_rates`, so the rates are the same numbers.

The structural claims are checked on every call: a random sample of real flows
is routed alongside the representatives and must get exactly the predicted
groups; anything else (hash or d-mod-k routes, multi-homed endpoints, tied
egress points) is left to the row-per-flow path.
"""

import numpy as np
import scipy.sparse as sp

from .errors import ParameterError
from .flow import RTOL
from .routing import DEFAULT_SPORT_BASE, Resources, _compact, _fabric, _Router

__all__ = ["MIN_FLOWS", "solve_all_to_all", "FactoredAllToAll"]

#: ``solve`` uses the factored form by itself from this many flows on (16,384).  The form is
#: exact at any size (tests/netemu/test_product.py checks it against one row per flow); the
#: threshold only keeps the row-per-flow :class:`netemu.solution.Solution` (per-row routes,
#: ``row_shares``) where factoring saves nothing: its fixed cost (routing a 4,096-flow
#: sample beside the representatives) is about that of a 10,000-flow row solve.  Measured
#: on two-layer fat-trees, CPU: 992 flows 3.4 ms factored vs 2.8 ms rows; 16,256 flows 7.0
#: vs 9.5 ms; 261,632 flows 27 vs 91 ms; 4,192,256 (isca-ft2) 0.3 vs 2.1 s.  It was 2**24
#: until the factored form had been checked on fabrics this size.
MIN_FLOWS = 1 << 14
_SAMPLE = 4096


class FactoredAllToAll:
    """Routed, solved all-to-all in factored form; rates on demand.

    Attributes
    ----------
    resources : Resources
    load : ndarray (n_resources,)
        Bytes/s on every resource.
    levels, level_flows : ndarray
        The distinct flow rates, increasing, and how many flows run at each.
    """

    mode = "spray"

    def __init__(self, resources, N, srv, tcol, Xid, TX, TD, pair_key, pair_rate, load,
                 levels, level_flows, n_groups):
        self.resources = resources
        self.N = N
        self._srv, self._tcol, self._Xid, self._TX, self._TD = srv, tcol, Xid, TX, TD
        self._pair_key, self._pair_rate = pair_key, pair_rate
        self.load = load
        self.levels = levels
        self.level_flows = level_flows
        self.n_classes = int(TX.size)
        self.n_groups = n_groups

    @property
    def n_flows(self):
        return self.N * (self.N - 1)

    def rate(self, src, dst):
        """Rate (bytes/s) of flows ``src[i] -> dst[i]`` given as endpoint indices."""
        s = np.asarray(src, dtype=np.int64)
        d = np.asarray(dst, dtype=np.int64)
        out = np.empty(s.shape)
        same = self._srv[s] == self._srv[d]
        x = self._Xid[s[~same], self._tcol[d[~same]]]
        out[~same] = np.minimum(self._TX[x], self._TD[d[~same]])
        if same.any():
            key = s[same] * self.N + d[same]
            out[same] = self._pair_rate[np.searchsorted(self._pair_key, key)]
        return out

    def flow_rates(self, k):
        """Rates of all-to-all flows numbered ``k`` (see :class:`netemu.traffic.AllToAll`)."""
        k = np.asarray(k, dtype=np.int64)
        N = self.N
        src = k // (N - 1)
        j = k % (N - 1)
        return self.rate(src, j + (j >= src))


def solve_all_to_all(G, traffic, *, pxn=True, required=False):
    """Factored spray solve of an all-to-all, or None where the factored form does not apply.

    ``required=True`` raises :class:`ParameterError` instead of returning None.
    """
    fab = _fabric(G)
    why = None
    try:
        return _solve(fab, traffic, pxn)
    except _NotFactored as exc:
        why = str(exc)
    if required:
        raise ParameterError(f"the factored all-to-all solver does not apply here: {why}")
    return None


class _NotFactored(Exception):
    pass


def _same_server_pairs(srv):
    """All ordered pairs (i, j) of indices with srv[i] == srv[j], i == j included."""
    order = np.argsort(srv, kind="stable")
    _, start, cnt = np.unique(srv[order], return_index=True, return_counts=True)
    block = np.repeat(np.arange(start.size), cnt)          # block of order[p]
    lens = cnt[block]
    ps = np.repeat(order, lens)
    first = np.repeat(start[block], lens)
    within = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return ps, order[first + within]


def _solve(fab, traffic, pxn):
    idx = fab.res.node_index
    nodes = np.array([idx[e] for e in traffic.endpoints], dtype=np.int64)
    N = nodes.size
    sig = fab.ap_sig[nodes]
    if (sig < 0).any():
        raise _NotFactored("an endpoint is not linked to a switch")
    if fab.sig_multi[sig].any():
        raise _NotFactored("an endpoint is linked to several switches")
    srv = fab.server_of[nodes]
    tcol, utau = _compact(sig, fab.T)
    K = utau.size
    ps, pd = _same_server_pairs(srv)
    if ps.size == N * N:
        raise _NotFactored("all endpoints are in one server")
    # Classes X = (s, tau) with at least one destination of tau outside s's server.
    members = np.bincount(tcol, minlength=K)
    own = np.bincount(ps * K + tcol[pd], minlength=N * K).reshape(N, K)
    exists = members[None, :] > own
    Xid = np.full((N, K), -1, dtype=np.int64)
    xs, xt = np.nonzero(exists)
    nX = xs.size
    Xid[xs, xt] = np.arange(nX)
    # Representative destination: the first member of tau, else the first member of tau
    # in another server than that one.
    order = np.lexsort((np.arange(N), tcol))
    st = np.searchsorted(tcol[order], np.arange(K))
    f = order[st]
    srt = order
    other = srv[srt] != srv[f[tcol[srt]]]
    alt = np.full(K, -1, dtype=np.int64)
    hit = np.flatnonzero(other)
    ut, first_hit = np.unique(tcol[srt[hit]], return_index=True)   # srt runs tau by tau
    alt[ut] = srt[hit[first_hit]]
    rep = np.where(srv[f[xt]] != srv[xs], f[xt], alt[xt])
    # Representative source of every destination: endpoint 0 unless it shares the server.
    other_src = int(np.flatnonzero(srv != srv[0])[0])
    dsrc = np.where(srv != srv[0], 0, other_src)
    intra = ps != pd
    es, ed = ps[intra], pd[intra]
    rng = np.random.default_rng(0)
    ks = rng.integers(0, N * (N - 1), size=min(_SAMPLE, N * (N - 1)))
    ss, sd = ks // (N - 1), ks % (N - 1)
    sd = sd + (sd >= ss)
    keep = srv[ss] != srv[sd]
    ss, sd = ss[keep], sd[keep]
    S = np.concatenate([xs, dsrc, es, ss])
    D = np.concatenate([rep, np.arange(N), ed, sd])
    n = S.size
    sport = DEFAULT_SPORT_BASE + np.arange(n, dtype=np.int64) % 16384
    router = _Router(fab, nodes[S], nodes[D], "spray", 0, sport, None, pxn)
    g, gm, direct = router.route_groups()
    o1, o2, o3 = nX, nX + N, nX + N + es.size
    if direct is not None and (np.asarray(direct[0]) < o2).any() or \
            direct is not None and (np.asarray(direct[0]) >= o3).any():
        raise _NotFactored("some flows split over tied egress points")
    xg0, xg1 = g[:o1, 0], g[:o1, 1]
    dg2 = g[o1:o2, 2]
    if (xg0 < 0).any() or (dg2 < 0).any() or (g[:o2, 2][:o1] != dg2[rep]).any():
        raise _NotFactored("flows without a source or destination side")
    # The sample must get exactly the predicted groups.
    xsm = Xid[ss, tcol[sd]]
    pred = np.stack([xg0[xsm], xg1[xsm], dg2[sd]], axis=1)
    dx = Xid[dsrc, tcol]
    pred_d = np.stack([xg0[dx], xg1[dx]], axis=1)
    if not (np.array_equal(g[o3:], pred) and np.array_equal(g[o1:o2, :2], pred_d)):
        raise _NotFactored("routes are not determined by (source, destination switch)")
    # Same-server flows: ordinary rows (groups, and direct shares if split).
    eg = g[o2:o3]
    R = fab.res.n
    if direct is not None:
        r, c, v = (np.asarray(a) for a in direct)
        Dm = sp.csr_matrix((v, (r - o2, c)), shape=(es.size, R))
    else:
        Dm = sp.csr_matrix((es.size, R))
    cap = fab.res.capacity.copy()
    pair_X = Xid[ps, tcol[pd]]
    ok = pair_X >= 0
    filler = _Filler(cap, gm, xg0, xg1, xt, dg2, tcol, K, pair_X[ok], pd[ok], eg, Dm)
    TG, erate, load, levels, level_flows = filler.run()
    TGx = np.append(TG, np.inf)
    TX = np.minimum(TGx[xg0], TGx[xg1])
    TD = TGx[dg2]
    key = es * N + ed
    o = np.argsort(key)
    res = Resources.__new__(Resources)
    res.__dict__.update(fab.res.__dict__)
    res.capacity = cap
    return FactoredAllToAll(res, N, srv, tcol, Xid, TX, TD, key[o], erate[o], load,
                            levels, level_flows, gm.shape[0])


class _Filler:
    """Progressive filling over group counts (see the module docstring)."""

    def __init__(self, cap, gm, xg0, xg1, xt, dg2, dt, K, pX, pd, eg, Dm):
        self.cap, self.K = cap, K
        self.nG = gm.shape[0]
        self.gmT = gm.T.tocsr()
        pat = gm.copy()
        pat.data[:] = 1.0
        self.pat, self.patT = pat, pat.T.tocsr()
        self.xg0, self.xg1, self.xt = xg0, xg1, xt
        self.x1 = xg1 >= 0
        self.dg2, self.dt = dg2, dt
        self.pX, self.pd = pX, pd
        self.eg = eg
        self.Dm, self.DmT = Dm, Dm.T.tocsr()
        dp = Dm.copy()
        dp.data[:] = 1.0
        self.Dp, self.DpT = dp, dp.T.tocsr()
        self.frozen = np.zeros(self.nG + 1, dtype=bool)     # last entry: "no group"
        self.eact = np.ones(eg.shape[0], dtype=bool)

    def counts(self):
        """Active flows per group, active explicit rows, and the number of active flows."""
        fz, nG = self.frozen, self.nG
        actD = ~fz[self.dg2]
        xa = ~fz[self.xg0] & ~fz[self.xg1]
        cntT = np.bincount(self.dt, weights=actD, minlength=self.K)
        ownA = np.bincount(self.pX, weights=actD[self.pd], minlength=self.xg0.size)
        nX = xa * (cntT[self.xt] - ownA)
        c = np.bincount(self.xg0, weights=nX, minlength=nG)
        c += np.bincount(self.xg1[self.x1], weights=nX[self.x1], minlength=nG)
        cntX = np.bincount(self.xt, weights=xa, minlength=self.K)
        ownX = np.bincount(self.pd, weights=xa[self.pX], minlength=self.dg2.size)
        nD = actD * (cntX[self.dt] - ownX)
        c += np.bincount(self.dg2, weights=nD, minlength=nG)
        ea = self.eact & ~fz[self.eg].any(axis=1)
        for k in range(3):
            col = self.eg[:, k]
            m = ea & (col >= 0)
            c += np.bincount(col[m], minlength=nG)
        total = float(nX.sum()) + float(ea.sum())
        if abs(float(nD.sum()) - float(nX.sum())) > 0.5:   # both count the same flows
            raise AssertionError("factored counts disagree")
        return c, ea.astype(np.float64), total

    def run(self):
        cap = self.cap
        R = cap.size
        TG = np.full(self.nG, np.inf)
        erate = np.full(self.eact.size, np.nan)
        u = np.zeros(R)
        level = 0.0
        levels, flows = [], []
        c, ea, total = self.counts()
        while total > 0:
            a = self.gmT @ c + self.DmT @ ea
            alive = (self.patT @ c + self.DpT @ ea) > 0.5
            idx = np.flatnonzero(alive)
            lv = (cap[idx] - u[idx]) / a[idx]
            L = max(float(lv.min()), level)
            sat = np.zeros(R)
            sat[idx[lv <= L * (1.0 + RTOL)]] = 1.0
            new = ((self.pat @ sat) > 0) & ~self.frozen[:-1]
            self.frozen[:-1] |= new
            TG[new] = L
            enew = (ea > 0) & (self.frozen[self.eg].any(axis=1) | ((self.Dp @ sat) > 0))
            erate[enew] = L
            self.eact &= ~enew
            c2, ea2, total2 = self.counts()
            if total2 >= total:  # pragma: no cover - a saturated resource always freezes flows
                raise AssertionError("progressive filling made no progress")
            u += (self.gmT @ (c - c2) + self.DmT @ (ea - ea2)) * L
            levels.append(L)
            flows.append(total - total2)
            level = L
            c, ea, total = c2, ea2, total2
        lv = np.array(levels)
        fl = np.array(flows, dtype=np.int64)
        # Levels within the tolerance may repeat; merge equal values for the histogram.
        uq, inv = np.unique(lv, return_inverse=True)
        return TG, erate, u, uq, np.bincount(inv, weights=fl).astype(np.int64)
