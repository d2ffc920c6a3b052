"""Solve a traffic pattern on a graph: route it, then share the links max-min fairly.

:func:`solve` is the one call from (graph, traffic, routing) to numbers: every
flow's rate, every resource's load and utilisation, the saturated resources,
the aggregate throughput and, when the traffic has sizes, completion times and
the makespan.  Routing is :mod:`netemu.routing`; rates and times are the exact
weighted max-min solver of :mod:`netemu.flow`.
"""

import math

import numpy as np

from . import flow as _flow
from . import product as _product
from .errors import ParameterError, RoutingError
from .graph import validate
from .memory import check_fits, solve_bytes, solve_estimate
from .policies import resolve
from .routing import route
from .traffic import AllToAll, Traffic
from .disconnect import attach_disconnected, cut_pairs, raise_disconnected, split_disconnected

__all__ = ["solve", "Solution", "FactoredSolution", "SATURATED"]

#: Utilisation at or above which a resource counts as saturated (float round-off margin).
SATURATED = 1 - 1e-9


class Solution:
    """The result of :func:`solve`.

    Attributes
    ----------
    graph : networkx.Graph
    traffic : Traffic
    routes : netemu.routing.Routes
    resources : netemu.routing.Resources
    rates : ndarray (n_flows,)
        Steady-state rate of every flow, bytes/s.
    row_rates : ndarray (n_rows,)
        The same per flowset row (class of identical flows).
    load, utilisation : ndarray (n_resources,)
        Bytes/s on every resource, and load / capacity.
    bottlenecks : ndarray of resource ids
        Saturated resources, most utilised first (ties in resource order).
    aggregate : float
        Sum of all flow rates, bytes/s.
    completion : ndarray (n_flows,) or None
        Completion time of every flow (s) when the traffic has sizes and all
        flows start at 0, re-sharing the links whenever a flow finishes; None
        without sizes or when :func:`solve` was asked for rates only
        (``times=False``).
    makespan : float or None
        The last completion time.
    """

    def __init__(self, traffic, routes, row_rates, completion_rows=None, graph=None):
        self.graph = graph
        self.traffic = traffic
        self.routes = routes
        self.resources = routes.resources
        fs = routes.flowset
        self.row_rates = np.asarray(row_rates, dtype=np.float64)
        self.rates = self.row_rates[routes.row_of_flow]
        self.load = resource_load(fs, fs.counts * self.row_rates)
        self.utilisation = self.load / self.resources.capacity
        sat = np.flatnonzero(self.utilisation >= SATURATED)
        self.bottlenecks = sat[np.argsort(-self.utilisation[sat], kind="stable")]
        # Exactly rounded (fsum): np.dot's summation order follows the BLAS threads, so the same
        # solve would differ in the last bits between processes with different thread counts.
        self.aggregate = math.fsum((fs.counts * self.row_rates).tolist())
        if completion_rows is None:
            self.completion = None
            self.makespan = None
        else:
            self.completion = np.asarray(completion_rows, dtype=np.float64)[routes.row_of_flow]
            self.makespan = float(self.completion.max())

    @property
    def n_flows(self):
        return self.rates.size

    def bottleneck_names(self, limit=None):
        ids = self.bottlenecks if limit is None else self.bottlenecks[:limit]
        return [self.resources.name(r) for r in ids]

    def flow_table(self, limit=None):
        """``[{'src', 'dst', 'rate', ('bytes', 'completion')}, ...]`` for the first flows."""
        t = self.traffic
        m = self.n_flows if limit is None else min(limit, self.n_flows)
        out = []
        for i, (a, b) in enumerate(t.pairs(m)):
            row = {"src": str(a), "dst": str(b), "rate": float(self.rates[i])}
            if t.sizes is not None:
                row["bytes"] = float(t.sizes[i])
            if self.completion is not None:
                row["completion"] = float(self.completion[i])
            out.append(row)
        return out

    def summary(self):
        """Counts and rate statistics; rates in bytes/s."""
        r = self.rates
        out = {
            "flows": int(self.n_flows),
            "rows": int(self.row_rates.size),
            "routing": self.routes.mode,
            "aggregate": self.aggregate,
            "rate_min": float(r.min()),
            "rate_median": float(np.median(r)),
            "rate_max": float(r.max()),
            "saturated": int(self.bottlenecks.size),
        }
        if self.makespan is not None:
            out["makespan"] = self.makespan
        return out

    def __repr__(self):
        s = self.summary()
        return (f"<Solution {s['flows']} flows, aggregate {s['aggregate']:.4g} B/s, "
                f"{s['saturated']} saturated resources>")


def resource_load(flowset, row_values):
    """Load on every resource when row ``i`` of ``flowset`` carries ``row_values[i]`` (counts included)."""
    x = np.asarray(row_values, dtype=np.float64)
    load = np.asarray(flowset.direct.T @ x).ravel()
    gm = flowset.group_matrix
    if flowset.groups.shape[1] and gm.shape[0]:
        per_group = np.zeros(gm.shape[0])
        for k in range(flowset.groups.shape[1]):
            g = flowset.groups[:, k]
            m = g >= 0
            per_group += np.bincount(g[m], weights=x[m], minlength=gm.shape[0])
        load = load + np.asarray(gm.T @ per_group).ravel()
    return load


class FactoredSolution(Solution):
    """A :class:`Solution` of a large sprayed all-to-all solved in factored form.

    Same attributes, except that ``rates`` is computed (and kept) only when
    first read -- 268 M flows are 2 GB of float64 -- and ``row_rates`` is the
    sorted distinct rates, with ``level_flows`` flows at each.  ``routes`` is the
    :class:`netemu.product.FactoredAllToAll`; ``routes.flow_rates(k)`` gives the
    rates of chosen flows.
    """

    def __init__(self, traffic, fact, graph=None):
        self.graph = graph
        self.traffic = traffic
        self.routes = fact
        self.resources = fact.resources
        self.row_rates = fact.levels
        self.level_flows = fact.level_flows
        self.load = fact.load
        self.utilisation = self.load / self.resources.capacity
        sat = np.flatnonzero(self.utilisation >= SATURATED)
        self.bottlenecks = sat[np.argsort(-self.utilisation[sat], kind="stable")]
        self.aggregate = math.fsum((fact.level_flows * fact.levels).tolist())
        self.completion = None
        self.makespan = None
        self._rates = None
        # An intact fabric: nothing is disconnected (the factored form never runs on
        # a degraded graph).
        self.requested = traffic
        self.disconnected = []

    @property
    def rates(self):
        if self._rates is None:
            self._rates = self.routes.flow_rates(np.arange(self.n_flows))
        return self._rates

    @property
    def requested_rates(self):
        return self.rates

    @property
    def n_flows(self):
        return self.routes.n_flows

    def flow_table(self, limit=None):
        m = self.n_flows if limit is None else min(limit, self.n_flows)
        rates = self.routes.flow_rates(np.arange(m))
        return [{"src": str(a), "dst": str(b), "rate": float(r)}
                for (a, b), r in zip(self.traffic.pairs(m), rates.tolist())]

    def summary(self):
        lv, cnt = self.row_rates, self.level_flows
        n = int(cnt.sum())
        cum = np.cumsum(cnt)
        # The median of the sorted rates: the middle one, or the mean of the middle two.
        lo = lv[np.searchsorted(cum, (n - 1) // 2, side="right")]
        hi = lv[np.searchsorted(cum, n // 2, side="right")]
        return {
            "flows": n,
            "rows": int(self.routes.n_classes),
            "routing": self.routes.mode,
            "aggregate": self.aggregate,
            "rate_min": float(lv[0]),
            "rate_median": float((lo + hi) / 2),
            "rate_max": float(lv[-1]),
            "saturated": int(self.bottlenecks.size),
        }


def solve(G: "nx.Graph", traffic: "Traffic", routing: "str | Mapping" = "spray", *,
          seed: int = 0, pxn: bool = True, factored: "bool | None" = None,
          disconnected: str = "raise", times: bool = True) -> "Solution":
    """Route ``traffic`` over ``G`` and compute max-min fair rates (and times, given sizes).

    Parameters
    ----------
    G : networkx.Graph
        Validated first (:func:`netemu.graph.validate`).
    traffic : Traffic
        From :mod:`netemu.traffic` (``all_to_all``, ``permutation``, ``from_csv`` ...).
    routing : {'spray', 'hash', 'dmodk', 'adaptive'}, mapping or RoutingPolicy
        How flows pick among equal-cost paths: see :mod:`netemu.policies` (names
        are resolved there, in one place) and :mod:`netemu.routing`.
    seed : int
        Seed of hashed ECMP.
    pxn : bool
        Forward across planes/rails inside the source server (NCCL PXN).
    factored : bool or None
        Solve a sprayed, unsized all-to-all in factored form
        (:mod:`netemu.product`): no row per flow, same rates.  ``None`` (the
        default) does so from :data:`netemu.product.MIN_FLOWS` flows on when
        the form applies; ``True`` insists (ParameterError if it cannot);
        ``False`` never does.
    disconnected : {'raise', 'report'}
        What to do with flows that have no path (on a graph degraded by
        :func:`netemu.fail`).  ``'raise'`` (default): :class:`RoutingError`
        naming them.  ``'report'``: leave them out of the solve and list them
        in ``Solution.disconnected``; their entry in
        ``Solution.requested_rates`` is NaN, never 0.  Only a graph that
        records failures may be disconnected; see :mod:`netemu.disconnect`.
    times : bool
        Simulate completion times when the traffic has sizes (default).
        ``False`` asks for rates only: no event simulation runs, and
        ``Solution.completion`` and ``makespan`` are None whatever the sizes.
        The rates are the same either way (they do not depend on sizes), and
        a sized, sprayed all-to-all may then be solved in factored form.

    Returns
    -------
    Solution
        A :class:`FactoredSolution` when solved in factored form.

    Examples
    --------
    Two hosts behind one switch share nothing, so each flow gets its link:

    >>> from netemu.graph import new_graph, add_link
    >>> from netemu.traffic import all_to_all
    >>> G = new_graph("pair", {})
    >>> G.add_node("sw", role="switch")
    >>> for h in ("n0", "n1"):
    ...     G.add_node(h, role="host"); add_link(G, h, "sw", 1e9)
    >>> solve(G, all_to_all(G)).rates.tolist()
    [1000000000.0, 1000000000.0]
    """
    if disconnected not in ("raise", "report"):
        raise ParameterError(f"disconnected must be 'raise' or 'report', got {disconnected!r}")
    if factored not in (None, True, False):
        raise ParameterError(f"factored must be None, True or False, got {factored!r}")
    if not isinstance(times, (bool, np.bool_)):
        raise ParameterError(f"times must be True or False, got {times!r}")
    if not isinstance(getattr(G, "graph", None), dict):
        validate(G)             # names the wrong type (GraphError)
    degraded = bool(G.graph.get("failures"))
    validate(G, allow_disconnected=degraded)
    if not isinstance(traffic, Traffic):
        raise ParameterError(f"traffic must be a netemu.traffic.Traffic, got "
                             f"{type(traffic).__name__}")
    requested = traffic
    # Refuse up front what would not fit: the router's distance tables and the factored
    # classes grow with switches x endpoint switches, not with the flows alone.
    check_fits(solve_estimate(G, traffic, routing, factored=False if degraded else factored),
               f"solving {traffic.n_flows:,} flows on {G.number_of_nodes():,} nodes")
    if degraded:
        if factored:
            raise ParameterError("factored=True needs an intact fabric; this graph records "
                                 "failures (use factored=None or False)")
        traffic, cut = split_disconnected(G, traffic)
        if disconnected == "raise" and cut.any():
            raise_disconnected(requested, cut)
    else:
        traffic.check(G)
        if factored is not False:
            fact = _factored(G, traffic, routing, pxn, factored, times)
            if fact is not None:
                return FactoredSolution(traffic, fact, graph=G)
        cut = np.zeros(traffic.n_flows, dtype=bool)
    try:
        sol = _solve(G, traffic, routing, seed, pxn, times)
    except RoutingError as exc:
        # Connected in the graph but not routable (e.g. across planes without PXN):
        # the router names the pairs; report them too and solve the rest.
        if disconnected != "report" or not getattr(exc, "pairs", None):
            raise
        traffic, cut = cut_pairs(requested, cut, exc.pairs)
        sol = _solve(G, traffic, routing, seed, pxn, times)
    attach_disconnected(sol, requested, cut)
    return sol


def _solve(G, traffic, routing, seed, pxn, times=True):
    check_fits(solve_bytes(traffic.n_flows), f"solving {traffic.n_flows:,} flows")
    timed = times and traffic.sizes is not None
    # Sizes split the rows (flows of one route but different sizes finish apart) and steer
    # adaptive routing; for rates alone, flows of one route are one row whatever their size.
    sizes = traffic.sizes if timed or resolve(routing).name == "adaptive" else None
    routes = route(G, (traffic.endpoints, traffic.src), (traffic.endpoints, traffic.dst),
                   routing, seed=seed, sport=traffic.sport, sizes=sizes, pxn=pxn)
    fs = routes.flowset
    cap = routes.resources.capacity
    row_rates = _flow.max_min_rates(cap, fs)
    completion_rows = None
    if timed:
        first = np.full(fs.n_flows, routes.n_flows, dtype=np.int64)
        np.minimum.at(first, routes.row_of_flow, np.arange(routes.n_flows))
        completion_rows = _flow.completion_times(cap, fs, traffic.sizes[first])
    return Solution(traffic, routes, row_rates, completion_rows, graph=G)


def _factored(G, traffic, routing, pxn, required, times=True):
    """The factored solve where it applies (and is wanted), else None."""
    why = None
    policy = resolve(routing)
    if not isinstance(traffic, AllToAll):
        why = "the traffic is not an all-to-all"
    elif traffic.size is not None and times:
        why = "the flows have sizes (completion times need one row per flow; times=False " \
              "asks for rates only)"
    elif policy.name == "explicit":
        why = "explicit paths are given per flow"
    elif not policy.splits:
        why = f"routing {policy.name!r} picks a path per flow; only 'spray' factors"
    if why is not None:
        if required:
            raise ParameterError(f"factored=True needs a sprayed all-to-all without sizes: {why}")
        return None
    if not required and traffic.n_flows < _product.MIN_FLOWS:
        return None
    return _product.solve_all_to_all(G, traffic, pxn=pxn, required=bool(required))
