"""Failure injection: a degraded copy of a fabric with links, switches or planes taken out.

:func:`fail` never changes its argument.  The copy records what failed in the
graph attribute ``failures`` (saved with the graph, so a file says how it was
made), and which endpoints lost their last link to a switch.  Routing
recomputes on whatever graph it gets; :func:`netemu.solve` with
``disconnected='report'`` names the pairs the failures cut apart instead of
raising, and never gives them a rate of 0.

Transfers that start or end inside servers (every collective's) fail over as
the hardware does (:mod:`netemu.serverpaths`): a GPU whose NIC is lost sends
through the other NICs of its server (PXN proxies), traffic for a GPU whose NIC
is lost arrives on its server's other NICs, spread evenly, then NVLink; only a
transfer with no path left at all is reported, by its GPUs (ranks).

Failure modes
-------------
links
    ``(u, v)`` pairs or ``"u--v"`` strings; the whole edge goes, all its
    parallel cables included.
switches
    Switch names; the switch and every link on it go.
planes
    Plane indices of a multi-plane fabric (nodes carry ``plane``); every
    *switch* of the plane goes.  The NICs stay, cut off from the fabric.
fraction, seed
    ``ceil(fraction * n)`` of the ``n`` switch-to-switch links, chosen by
    ``seed`` (after the named failures).
"""

import math
import random

from .errors import ParameterError
from .graph import SWITCH_ROLES, endpoints, is_switch

__all__ = ["fail", "failures_of", "lost_endpoints", "parse_link", "split_list",
           "FAIL_OPTIONS", "cli_failures", "apply_cli_failures"]

#: ``--fail-*`` options every command taking a TOPO accepts (values, not flags).
FAIL_OPTIONS = ("fail-link", "fail-switch", "fail-plane", "fail-fraction")


def parse_link(spec):
    """``"u--v"`` -> ``("u", "v")``; a 2-tuple passes through."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return tuple(spec)
    if isinstance(spec, str) and spec.count("--") == 1:
        u, v = (s.strip() for s in spec.split("--"))
        if u and v:
            return u, v
    raise ParameterError(f"link {spec!r}: expected a (u, v) pair or a 'u--v' string")


def split_list(values):
    """Repeated and comma-separated CLI values as one flat list of non-empty strings."""
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        out.extend(s.strip() for s in str(v).split(",") if s.strip())
    return out


def _names(kind, items):
    if items is None:
        return []
    if isinstance(items, (str, tuple)) and kind == "links":
        return [items] if isinstance(items, str) else [items]
    if isinstance(items, str):
        return [items]
    try:
        return list(items)
    except TypeError:
        return [items]


def _plane_index(p):
    if isinstance(p, bool):
        raise ParameterError(f"plane {p!r}: expected a whole number")
    if isinstance(p, str):
        try:
            return int(p.strip())
        except ValueError:
            raise ParameterError(f"plane {p!r}: expected a whole number") from None
    if isinstance(p, int) or (isinstance(p, float) and p.is_integer()):
        return int(p)
    raise ParameterError(f"plane {p!r}: expected a whole number")


def _shown(values, limit=8):
    values = sorted(map(str, values))
    more = f" ... ({len(values)} in all)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def fail(G, links=None, switches=None, planes=None, fraction=None, seed=0):
    """A copy of ``G`` with the named links, switches and planes (and a random fraction) failed.

    Parameters
    ----------
    G : networkx.Graph
    links : iterable of (u, v) or 'u--v', optional
    switches : iterable of switch names, optional
    planes : iterable of int, optional
        Indices of the ``plane`` node attribute.
    fraction : float in [0, 1], optional
        Share of the remaining switch-to-switch links to fail at random.
    seed : int
        Seed of the random choice.

    Returns
    -------
    networkx.Graph
        The degraded copy; ``H.graph['failures']`` records the request and the
        result (links, switches, planes, fraction, seed, failed_links,
        lost_endpoints).

    Raises
    ------
    ParameterError
        An unknown link, switch or plane, or a fraction outside [0, 1].

    Examples
    --------
    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> G = two_layer_fat_tree(4)
    >>> H = fail(G, links=["leaf0--spine0"])
    >>> G.has_edge("leaf0", "spine0"), H.has_edge("leaf0", "spine0")
    (True, False)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed {seed!r}: expected a whole number >= 0")
    H = G.copy()
    before = set(endpoints(G))
    failed_links, failed_switches, failed_planes = [], [], []

    for spec in _names("links", links):
        u, v = parse_link(spec)
        for n in (u, v):
            if n not in H:
                raise ParameterError(f"link {u}--{v}: {n!r} is not a node of the graph")
        if not H.has_edge(u, v):
            near = _shown(map(str, G.adj[u])) if u in G else ""
            raise ParameterError(f"link {u}--{v} is not in the graph (or failed twice); "
                                 f"{u!r} links to: {near}")
        H.remove_edge(u, v)
        failed_links.append(f"{u}--{v}")

    for name in _names("switches", switches):
        if name not in G or not is_switch(G, name):
            raise ParameterError(f"switch {name!r} is not a switch of the graph; switches "
                                 f"include {_shown(n for n in G if is_switch(G, n))}")
        if name not in H:
            raise ParameterError(f"switch {name!r} is named twice")
        H.remove_node(name)
        failed_switches.append(str(name))

    if planes is not None:
        existing = sorted({p for _, p in G.nodes(data="plane") if p is not None})
        for p in _names("planes", planes):
            k = _plane_index(p)
            if k not in existing:
                raise ParameterError(f"plane {p!r} does not exist; planes: "
                                     f"{_shown(existing) or 'none (not a multi-plane fabric)'}")
            gone = [n for n, d in H.nodes(data=True)
                    if d.get("plane") == k and d.get("role") in SWITCH_ROLES]
            H.remove_nodes_from(gone)
            failed_planes.append(k)

    n_random = 0
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not math.isfinite(fraction) or not 0 <= fraction <= 1:
            raise ParameterError(f"fraction {fraction!r}: expected a number from 0 to 1")
        pool = sorted(((u, v) for u, v in H.edges() if is_switch(H, u) and is_switch(H, v)),
                      key=lambda e: (str(e[0]), str(e[1])))
        n_random = math.ceil(fraction * len(pool))
        for u, v in random.Random(seed).sample(pool, n_random):
            H.remove_edge(u, v)
            failed_links.append(f"{u}--{v}")

    lost = sorted(str(n) for n in before if n in H and not any(is_switch(H, m) for m in H.adj[n]))
    record = dict(H.graph.get("failures") or {})  # failing a failed graph adds to its record
    for key, new in (("failed_links", failed_links), ("switches", failed_switches),
                     ("planes", failed_planes)):
        record[key] = list(record.get(key, [])) + new
    record["lost_endpoints"] = sorted(set(record.get("lost_endpoints", [])) | set(lost))
    if fraction is not None:
        record["fraction"] = fraction
        record["seed"] = seed
        record["random_links"] = record.get("random_links", 0) + n_random
    H.graph["failures"] = record
    return H


def failures_of(G):
    """The ``failures`` record of a degraded graph, or ``None`` for an intact one."""
    return G.graph.get("failures") or None


def lost_endpoints(G):
    """Endpoints the failures cut off from every switch (still nodes of ``G``)."""
    rec = failures_of(G)
    return set(rec.get("lost_endpoints", [])) if rec else set()


def cli_failures(options):
    """``fail`` keyword arguments from parsed ``--fail-*`` options (``{name: [values]}``).

    Values of ``fail-link``/``fail-switch``/``fail-plane`` may repeat and may be
    comma lists; ``fail-fraction`` is one number.  Returns ``{}`` when no
    ``--fail-*`` option was given.
    """
    kw = {}
    if options.get("fail-link"):
        kw["links"] = [parse_link(s) for s in split_list(options["fail-link"])]
    if options.get("fail-switch"):
        kw["switches"] = split_list(options["fail-switch"])
    if options.get("fail-plane"):
        kw["planes"] = split_list(options["fail-plane"])
    if options.get("fail-fraction"):
        vals = split_list(options["fail-fraction"])
        if len(vals) != 1:
            raise ParameterError(f"--fail-fraction takes one number, got {', '.join(vals)}")
        try:
            kw["fraction"] = float(vals[0])
        except ValueError:
            raise ParameterError(f"--fail-fraction must be a number from 0 to 1, got "
                                 f"{vals[0]!r}") from None
    return kw


def apply_cli_failures(G, options, seed=0):
    """``G`` degraded by the ``--fail-*`` options (``G`` itself when there are none)."""
    kw = cli_failures(options)
    if not kw:
        return G
    return fail(G, seed=seed, **kw)
