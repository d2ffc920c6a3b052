"""Flows a degraded fabric cannot carry: find them by name, keep them out of the solve.

Used by :func:`netemu.solve` with ``disconnected='report'``.  A flow is
disconnected when an end is an endpoint the failures cut off from every
switch (:func:`netemu.failures.lost_endpoints`), or when its two ends lie in
different connected components.  Such flows get no rate at all -- NaN in
``Solution.requested_rates`` -- never a silent 0.
"""

import networkx as nx
import numpy as np

from .errors import RoutingError
from .routing import DEFAULT_SPORT_BASE
from .traffic import Traffic, _check_endpoints

__all__ = ["split_disconnected", "cut_pairs", "raise_disconnected", "attach_disconnected"]


def split_disconnected(G, traffic):
    """``(connected traffic, boolean mask of disconnected flows)`` of ``traffic`` on ``G``.

    Endpoints are checked against ``G`` first; the ones the failures cut off
    are allowed (they are what is being reported).  Raises
    :class:`RoutingError` naming the pairs when no flow is left to solve.
    """
    from .failures import lost_endpoints

    lost = lost_endpoints(G)
    used = np.zeros(len(traffic.endpoints), dtype=bool)
    used[traffic.src] = True
    used[traffic.dst] = True
    names = [traffic.endpoints[i] for i in np.flatnonzero(used).tolist()]
    _check_endpoints(G, [n for n in names if str(n) not in lost])
    comp = {}
    for k, part in enumerate(nx.connected_components(G)):
        for n in part:
            comp[n] = k
    label = np.array([-1 if str(n) in lost or n not in comp else comp[n]
                      for n in traffic.endpoints], dtype=np.int64)
    ls, ld = label[traffic.src], label[traffic.dst]
    cut = (ls < 0) | (ld < 0) | (ls != ld)
    return _without(traffic, cut)


def cut_pairs(requested, cut, pairs):
    """``requested`` without the flows already ``cut`` and those between named ``pairs``."""
    e = requested.endpoints
    named = np.array([(e[a], e[b]) in pairs for a, b in zip(requested.src.tolist(),
                                                               requested.dst.tolist())],
                     dtype=bool)
    return _without(requested, cut | named)


def _without(traffic, cut):
    if not cut.any():
        return traffic, cut
    if cut.all():
        pairs = [f"{a}->{b}" for a, b in traffic.pairs(10)]
        raise RoutingError(f"every one of the {cut.size} flow(s) is disconnected by the "
                           f"failures: {', '.join(pairs)}{' ...' if cut.size > 10 else ''}")
    keep = ~cut
    sport = traffic.sport
    if sport is None:
        # Each flow keeps the default source port of its index in the request, so
        # hashed ECMP picks the same paths with and without the cut flows.
        sport = DEFAULT_SPORT_BASE + np.arange(traffic.n_flows, dtype=np.int64) % 16384
    sub = Traffic(traffic.endpoints, traffic.src[keep], traffic.dst[keep],
                  None if traffic.sizes is None else traffic.sizes[keep], sport[keep],
                  name=traffic.name)
    return sub, cut


def raise_disconnected(requested, cut):
    """Raise :class:`RoutingError` naming the first disconnected pairs."""
    e = requested.endpoints
    idx = np.flatnonzero(cut)
    shown = ", ".join(f"{e[requested.src[i]]}->{e[requested.dst[i]]}" for i in idx[:10].tolist())
    more = f" (and {idx.size - 10} more)" if idx.size > 10 else ""
    raise RoutingError(f"no path for {idx.size} flow(s): {shown}{more}; "
                       f"solve(..., disconnected='report') lists them and solves the rest")


def attach_disconnected(sol, requested, cut):
    """Give ``sol`` the ``disconnected`` pairs, ``requested`` traffic and ``requested_rates``."""
    sol.requested = requested
    if cut is None or not cut.any():
        sol.disconnected = []
        sol.requested_rates = sol.rates
        return sol
    e = requested.endpoints
    sol.disconnected = [(e[a], e[b]) for a, b in zip(requested.src[cut].tolist(),
                                                     requested.dst[cut].tolist())]
    full = np.full(requested.n_flows, np.nan)
    full[~cut] = sol.rates
    sol.requested_rates = full
    return sol
