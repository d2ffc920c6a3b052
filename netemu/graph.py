"""The graph contract (docs/architecture.md §3) and its validator.

A netemu graph is a :class:`networkx.Graph` whose nodes carry a ``role`` and
whose edges carry a per-direction ``bandwidth`` in bytes/s (full duplex), an
optional ``latency`` in seconds and a ``medium``.  Parallel cables between the
same two nodes are one edge with ``cables`` > 1 and ``bandwidth`` the total of
all of them (a trunk the fabric sprays over).  The graph attributes ``name``
and ``params`` say which generator made it and with which arguments.

A node may carry ``capacity`` (bytes/s) when it is itself a shared resource,
such as host memory or a shared PCIe root port.
"""

import math
import numbers

from .errors import GraphError, ParameterError

__all__ = [
    "ROLES", "SWITCH_ROLES", "SERVER_ROLES", "MEDIA",
    "new_graph", "add_link", "validate",
    "is_switch", "switches", "endpoints", "nodes_with_role", "edges_with_data",
]

#: Fabric switching elements; ``summary`` counts these as switches.
SWITCH_ROLES = frozenset({"leaf", "spine", "core", "router", "switch"})
#: Nodes inside a server or standing for one.
SERVER_ROLES = frozenset({
    "gpu", "cpu", "memory", "nic", "pcie_switch", "root_port", "nvswitch", "host", "storage",
})
ROLES = SWITCH_ROLES | SERVER_ROLES
MEDIA = frozenset({"nvlink", "pcie", "ib", "ethernet", "xgmi", "infinity_fabric", "memory", "internal"})


def new_graph(name, params):
    """An empty graph carrying the generator's ``name`` and its arguments ``params``."""
    import networkx as nx  # on first use: `netemu topo list` needs no graph library

    G = nx.Graph()
    G.graph["name"] = name
    G.graph["params"] = dict(params)
    return G


def add_link(G, u, v, bandwidth, latency=0.0, medium="ib", cables=1):
    """Add a full-duplex link, or widen an existing one by more parallel cables.

    ``bandwidth`` is per cable and per direction; the edge keeps the total, which must stay
    inside :data:`BANDWIDTH_RANGE` (a generator asked for more cables or bandwidth than that
    gets the error here, naming the link, not a graph the validator refuses later).
    """
    total = bandwidth * cables + (G.edges[u, v]["bandwidth"] if G.has_edge(u, v) else 0)
    if not _bandwidth_ok(total):
        raise ParameterError(f"link {u!r}-{v!r}: {_shown(cables)} cable(s) of {_shown(bandwidth)} "
                             f"bytes/s make {_shown(total)} bytes/s; allowed: "
                             f"{BANDWIDTH_RANGE[0]:g} to {BANDWIDTH_RANGE[1]:g} bytes/s a link")
    if G.has_edge(u, v):
        data = G.edges[u, v]
        if data["medium"] != medium or data["latency"] != latency:
            raise GraphError(f"parallel cables {u!r}-{v!r} differ in medium or latency")
        data["bandwidth"] += bandwidth * cables
        data["cables"] += cables
    else:
        G.add_edge(u, v, bandwidth=bandwidth * cables, latency=latency, medium=medium,
                   cables=cables)


def is_switch(G, n):
    return G.nodes[n].get("role") in SWITCH_ROLES


def switches(G):
    """Fabric switches (leaf, spine, core, router, switch), in graph order."""
    return [n for n, r in G.nodes(data="role") if r in SWITCH_ROLES]


def nodes_with_role(G, *roles):
    return [n for n, r in G.nodes(data="role") if r in roles]


def endpoints(G):
    """Fabric access points: non-switch nodes with at least one link to a switch."""
    return [n for n, r in G.nodes(data="role")
            if r not in SWITCH_ROLES and any(is_switch(G, m) for m in G.adj[n])]


def edges_with_data(G):
    """``list(G.edges(data=True))`` -- the same triples in the same order -- by one walk of
    the adjacency: half the time on the large fabrics (645,455 links of ``isca-dragonfly``:
    1.15 -> 0.57 s), where networkx's edge view costs a call per link."""
    if G.is_multigraph() or G.is_directed():
        return list(G.edges(data=True))
    seen = set()
    out = []
    for n, nbrs in G.adjacency():
        for v, d in nbrs.items():
            if v not in seen:
                out.append((n, v, d))
        seen.add(n)
    return out


def _shown(x):
    """``repr(x)`` cut to 40 characters (a 400-digit number stays readable)."""
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite_real(x):
    """A real number (not a bool) that converts to a finite float; a 400-digit int does not."""
    if type(x) is float:  # the common case, without the ABC check (most of validating a graph)
        return x - x == 0.0
    if not isinstance(x, numbers.Real) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(float(x))
    except (OverflowError, ValueError):
        return False


def _positive_finite(x):
    return _finite_real(x) and x > 0


#: Bandwidths and capacities netemu accepts, bytes/s.  A choice, not a hardware figure:
#: 1 B/s up to 10^16 B/s (80 Pb/s, 10^5 times a 800G port) keeps rates, loads summed over
#: a billion flows and completion times far inside float range; outside it a sum
#: overflows (1e308) or a rate underflows to 0 (5e-324).
BANDWIDTH_RANGE = (1.0, 1e16)


def _bandwidth_ok(x):
    return _finite_real(x) and BANDWIDTH_RANGE[0] <= x <= BANDWIDTH_RANGE[1]


#: Keys of a ``failures`` record (written by :func:`netemu.fail`) and their element types.
_FAILURE_LISTS = {"failed_links": str, "switches": str, "planes": int, "lost_endpoints": str}
_FAILURE_SCALARS = {"fraction": numbers.Real, "seed": numbers.Integral,
                    "random_links": numbers.Integral}


def _check_failures(G, record):
    """A ``failures`` record must be what :func:`netemu.fail` writes and agree with ``G``:
    every failed link or switch it names is really gone."""
    if not isinstance(record, dict):
        raise GraphError(f"graph attribute 'failures' must be a mapping, got {type(record).__name__}")
    for key, value in record.items():
        if key in _FAILURE_LISTS:
            kind = _FAILURE_LISTS[key]
            if not isinstance(value, list) or any(
                    isinstance(x, bool) or not isinstance(x, kind) for x in value):
                raise GraphError(f"failures record {key!r} must be a list of "
                                 f"{kind.__name__}, got {str(value)[:60]!r}")
        elif key in _FAILURE_SCALARS:
            if isinstance(value, bool) or not isinstance(value, _FAILURE_SCALARS[key]) \
                    or not _finite_real(value):
                raise GraphError(f"failures record {key!r} must be a number, got {value!r}")
        else:
            raise GraphError(f"failures record has unknown key {key!r}; allowed: "
                             f"{', '.join(sorted(_FAILURE_LISTS) + sorted(_FAILURE_SCALARS))}")
    names = {str(n) for n in G.nodes}
    for name in record.get("switches", []):
        if name in names:
            raise GraphError(f"failures record lists switch {name!r} as failed, but the graph "
                             "still has it")
    if record.get("failed_links"):
        edges = {frozenset((str(u), str(v))) for u, v in G.edges}
        for link in record["failed_links"]:
            if frozenset(link.split("--", 1)) in edges:
                raise GraphError(f"failures record lists link {link!r} as failed, but the graph "
                                 "still has it")


def _nonnegative_finite(x):
    return _finite_real(x) and x >= 0


def validate(G: "nx.Graph", *, connected: bool = True,
             allow_disconnected: bool = False) -> "nx.Graph":
    """Check ``G`` against the graph contract; raise :class:`GraphError` naming what is wrong.

    Checks: every node has a known ``role``; every edge has a finite ``bandwidth``
    > 0, a finite ``latency`` >= 0 if present, a known ``medium`` if present and
    ``cables`` a whole number >= 1 if present; no self-loops; any node
    ``capacity`` is finite and > 0; and (unless ``connected=False``) the graph is
    one connected component, so no endpoint is cut off.  Returns ``G``.

    ``allow_disconnected=True`` accepts several components only on a graph
    that records its failures (graph attribute ``failures``, set by
    :func:`netemu.fail`); an ordinary graph must still be connected.
    """
    import networkx as nx

    if not isinstance(G, nx.Graph):
        raise GraphError(f"expected a networkx graph, got {type(G).__name__}")
    if G.is_directed():
        raise GraphError("netemu graphs are undirected (each edge is full duplex); got a directed graph")
    if G.number_of_nodes() == 0:
        raise GraphError("the graph has no nodes")
    for n, data in G.nodes(data=True):
        role = data.get("role")
        if role is not None and not isinstance(role, str):
            raise GraphError(f"node {n!r} has role {role!r}; expected one of "
                             f"{', '.join(sorted(ROLES))}")
        if role is None:
            raise GraphError(f"node {n!r} has no 'role'; allowed roles: {', '.join(sorted(ROLES))}")
        if role not in ROLES:
            raise GraphError(f"node {n!r} has unknown role {role!r}; allowed roles: "
                             f"{', '.join(sorted(ROLES))}")
        if "capacity" in data and not _bandwidth_ok(data["capacity"]):
            raise GraphError(f"node {n!r} has capacity {_shown(data['capacity'])}; expected "
                             f"bytes/s from {BANDWIDTH_RANGE[0]:g} to {BANDWIDTH_RANGE[1]:g}")
    for u, v, data in G.edges(data=True):
        if u == v:
            raise GraphError(f"self-loop on node {u!r}; links must join two different nodes")
        bw = data.get("bandwidth")
        if bw is None:
            raise GraphError(f"edge {u!r}-{v!r} has no 'bandwidth' (bytes/s per direction)")
        if not _bandwidth_ok(bw):
            raise GraphError(f"edge {u!r}-{v!r} has bandwidth {_shown(bw)}; expected bytes/s "
                             f"(per direction) from {BANDWIDTH_RANGE[0]:g} to "
                             f"{BANDWIDTH_RANGE[1]:g}")
        lat = data.get("latency", 0.0)
        if not _nonnegative_finite(lat):
            raise GraphError(f"edge {u!r}-{v!r} has latency {lat!r}; expected finite seconds >= 0")
        medium = data.get("medium")
        if medium is not None and (not isinstance(medium, str) or medium not in MEDIA):
            raise GraphError(f"edge {u!r}-{v!r} has unknown medium {medium!r}; allowed: "
                             f"{', '.join(sorted(MEDIA))}")
        cables = data.get("cables", 1)
        if not (type(cables) is int and cables >= 1) and (
                isinstance(cables, bool) or not isinstance(cables, numbers.Integral) or cables < 1):
            raise GraphError(f"edge {u!r}-{v!r} has cables {cables!r}; expected a whole number >= 1")
    if "failures" in G.graph and G.graph["failures"] is not None:
        _check_failures(G, G.graph["failures"])
    failures = G.graph.get("failures")
    if allow_disconnected and failures and any(
            failures.get(k) for k in ("failed_links", "switches", "planes")):
        # Only a record of something removed explains parts cut off.
        connected = False
    if connected and not nx.is_connected(G):
        parts = sorted(nx.connected_components(G), key=len, reverse=True)
        stray = sorted(map(str, parts[1]))[:5]
        raise GraphError(f"the graph has {len(parts)} disconnected parts; nodes cut off from the "
                         f"main part include {', '.join(stray)}")
    return G
