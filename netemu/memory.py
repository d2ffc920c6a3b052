"""Refuse, before allocating, a request that would not fit in memory.

Each estimate is a named function of the request's size (flows, nodes,
links, switch-by-signature tables, factored classes) times a per-item cost
measured on this code (``benchmarks/memory_estimate.py`` prints estimate and
measured peak side by side), so a test can check it and a user sees the
figure that made netemu refuse.  The costs err high.

The limit is the smallest of: the memory the kernel reports as available,
the address space left under this process's ``RLIMIT_AS`` (``ulimit -v``,
``prlimit --as``), and ``NETEMU_MEMORY_LIMIT`` (bytes, or with a unit such as
``4GB``) when set.
"""

import os
import re
import resource

from .errors import ParameterError

__all__ = ["available_memory", "memory_limit", "traffic_bytes", "solve_bytes", "graph_bytes",
           "fabric_bytes", "factored_bytes", "moe_bytes", "solve_estimate", "check_fits",
           "TRAFFIC_BYTES_PER_FLOW", "SOLVE_BYTES_PER_FLOW", "GRAPH_BYTES_PER_ITEM",
           "FABRIC_BYTES_PER_CELL", "ROUTER_BYTES_PER_CANDIDATE", "FACTORED_BYTES_PER_CLASS",
           "FACTORED_BYTES_PER_GROUP_LINK", "DENSE_KEY_BYTES", "SOLVE_BASE_BYTES", "LIMIT_ENV"]

#: Environment variable that lowers the memory limit (bytes, or ``4GB``, ``512MiB``).
LIMIT_ENV = "NETEMU_MEMORY_LIMIT"

#: A flow of a Traffic: src, dst, size, port and the index arithmetic that builds them
#: (six 8-byte numbers).
TRAFFIC_BYTES_PER_FLOW = 48
#: Peak memory of routing and solving one flow, rates and completion times included
#: (measured by benchmarks/memory_estimate.py: 230-340 bytes a flow for rates of
#: fat-tree and two-plane all-to-alls of 16 k-262 k flows, 420-615 with completion times;
#: the fabric tables are counted apart).
SOLVE_BYTES_PER_FLOW = 800
#: A networkx node or edge with netemu's attributes (measured: radix-256 two-layer
#: fat-tree, 98,688 nodes and edges, about 340 bytes each).
GRAPH_BYTES_PER_ITEM = 512
#: One (switch, endpoint signature) cell of the router's distance tables: hop counts and
#: path counts (8 bytes each) and the level-by-level temporaries (about six such arrays).
FABRIC_BYTES_PER_CELL = 64
#: One (directed switch link, destination signature) candidate of the router's next-hop
#: tables, per routing kind.  A policy that picks one path (hash, d-mod-k, adaptive) walks
#: flows hop by hop over a full (link x destination) table and its candidate lists; spray
#: builds per source the links towards its destinations.  Measured (benchmarks/
#: memory_estimate.py, shift traffic): with hash 21-66 bytes on dragonflies of 264 and
#: 876 routers and three-layer fat-trees of k = 16 and 24 (the larger taken), with spray
#: 8-12 bytes on those and on isca-ft3 (k = 64).
ROUTER_BYTES_PER_CANDIDATE = {"picks": 80, "splits": 12}
#: One entry of a dense key table (counts, presence, rank: 8 + 1 + 4 bytes).
DENSE_KEY_BYTES = 13
#: One (source endpoint, destination switch) class of the factored all-to-all: its index
#: tables and its routed representative flow.  Measured: 275 bytes a class on isca-mpft
#: (8.4 M classes), 330-400 on Slim Fly and smaller multi-plane trees.
FACTORED_BYTES_PER_CLASS = 400
#: One (source signature, destination signature, link) entry of the factored solve's
#: sprayed fabric groups: row, column, share, their sparse copies and the filling's
#: per-group tables.  Chosen to cover the measured peaks of three-layer fat-trees of
#: k = 12 and 16, where the groups (144 links wide at k = 16) dominate.
FACTORED_BYTES_PER_GROUP_LINK = 80

#: What any solve allocates whatever its size (index arrays, sparse-matrix and allocator
#: work space): the smallest cases of benchmarks/memory_estimate.py grow their peak by
#: 4-6 MB on the smallest fabrics, where the per-item terms alone fall short.
SOLVE_BASE_BYTES = 16_000_000

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _env_limit():
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return None
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ParameterError(f"{LIMIT_ENV}={text!r} is not a size; expected bytes or a number "
                             "with kB, MB, GB, TB, KiB, MiB, GiB or TiB")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def available_memory():
    """Bytes the kernel reports as available (``MemAvailable``), else physical memory, else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left():
    """Bytes of address space left under ``RLIMIT_AS``, or None when unlimited."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError, AttributeError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as fh:
            used = int(fh.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        used = 0
    return max(soft - used, 0)


def memory_limit():
    """``(bytes, what)``: the memory a request may use and where that limit comes from."""
    limits = [(available_memory(), "available"), (_address_space_left(), "left under ulimit -v"),
              (_env_limit(), f"allowed by {LIMIT_ENV}")]
    limits = [(b, w) for b, w in limits if b is not None]
    return min(limits) if limits else (None, "")


def traffic_bytes(n_flows):
    """Estimated bytes of a :class:`netemu.traffic.Traffic` with ``n_flows`` flows."""
    return int(n_flows) * TRAFFIC_BYTES_PER_FLOW


def solve_bytes(n_flows):
    """Estimated peak bytes of :func:`netemu.solve` on ``n_flows`` flows (one row each)."""
    return int(n_flows) * SOLVE_BYTES_PER_FLOW


def graph_bytes(n_nodes, n_edges):
    """Estimated bytes of a netemu graph with ``n_nodes`` nodes and ``n_edges`` links."""
    return (int(n_nodes) + int(n_edges)) * GRAPH_BYTES_PER_ITEM


def fabric_bytes(n_switches, n_signatures, n_links=0, n_used=0, splits=True, n_paths=1):
    """Estimated peak bytes of the router's tables: switch-by-signature distances and path
    counts, and the next-hop candidates of ``n_links`` directed switch links towards the
    ``n_used`` destination signatures (``splits``: spray, else a policy that picks, whose
    walk also numbers every (source signature, destination signature, path) of up to
    ``n_paths`` paths in a dense table while that fits ``routing._DENSE`` entries)."""
    n_used = int(n_used)
    need = (int(n_switches) * int(n_signatures) * FABRIC_BYTES_PER_CELL
            + int(n_links) * n_used * ROUTER_BYTES_PER_CANDIDATE["splits" if splits else "picks"]
            + int(n_signatures) ** 2 * 16)
    if not splits:
        from .routing import _DENSE
        need += min(n_used * n_used * max(int(n_paths), 1), _DENSE) * DENSE_KEY_BYTES
    return need


def factored_bytes(n_endpoints, n_signatures, width=0, reach=None):
    """Estimated peak bytes of the factored all-to-all over ``n_endpoints`` endpoints whose
    destinations hang off ``n_signatures`` distinct switches (or switch sets), each of
    which reaches ``reach`` of them (default all) through the fabric over up to ``width``
    directed switch links."""
    n_signatures = int(n_signatures)
    reach = n_signatures if reach is None else int(reach)
    return (int(n_endpoints) * n_signatures * FACTORED_BYTES_PER_CLASS
            + n_signatures * reach * int(width) * FACTORED_BYTES_PER_GROUP_LINK)


def moe_bytes(n_ranks, tokens, copies, n_experts, n_servers=1):
    """Estimated peak bytes of drawing MoE token destinations: every rank's
    ``(tokens, copies)`` destinations (8 bytes each, all kept) plus one rank's expert
    scores, their negation, the partition's indices and work arrays and the masks
    (measured by benchmarks/memory_estimate.py: 53 bytes per token and expert with
    random routing; 72 taken) and the per-server draws."""
    tokens, n_experts = int(tokens), int(n_experts)
    return (int(n_ranks) * tokens * int(copies) * 8 + tokens * n_experts * 72
            + tokens * (int(n_ranks) + 17 * int(n_servers)))


def _fabric_shape(G, endpoints=None):
    """The sizes the router's tables grow with, counted as the router counts them.

    Returns a dict: ``switches`` (S), ``signatures`` (T, distinct switch sets endpoints
    hang off), ``used`` (K, those of ``endpoints``), ``links`` (E, directed switch-to-switch
    adjacencies) and ``width`` (W, directed switch links on the shortest paths between the
    switch of the first endpoint and the farthest used signature switch it reaches: the
    links one sprayed flow between far switches crosses) and ``reach`` (used signatures
    that switch reaches through the fabric: one plane's of a multi-plane fabric) and
    ``paths`` (shortest paths between those two switches).
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse import csgraph

    from .graph import SWITCH_ROLES

    role = dict(G.nodes(data="role"))
    sw_index = {n: i for i, n in enumerate(n for n, r in role.items() if r in SWITCH_ROLES)}
    S = len(sw_index)
    sig_of = {}
    for n, r in role.items():
        if r in SWITCH_ROLES:
            continue
        sig = frozenset(m for m in G.adj[n] if m in sw_index)
        if sig:
            sig_of[n] = sig
    used = ([sig_of[e] for e in endpoints if e in sig_of] if endpoints is not None
            else list(sig_of.values()))
    tails, heads = [], []
    for u, i in sw_index.items():
        for v in G.adj[u]:
            j = sw_index.get(v)
            if j is not None and j != i:
                tails.append(i)
                heads.append(j)
    E = len(tails)
    W, reach, paths = 0, len(set(used)), 1
    if used and E:
        A = sp.csr_matrix((np.ones(E), (tails, heads)), shape=(S, S))
        first = [sw_index[n] for n in used[0]]
        targets = np.array(sorted({sw_index[n] for sig in set(used) for n in sig}))
        du = csgraph.shortest_path(A, unweighted=True, indices=first).min(axis=0)
        ok = targets[np.isfinite(du[targets])]
        reach = sum(1 for sig in set(used) if any(np.isfinite(du[sw_index[n]]) for n in sig))
        if ok.size:
            far = int(ok[np.argmax(du[ok])])
            dv = csgraph.shortest_path(A, unweighted=True, indices=[far])[0]
            t, h = np.asarray(tails), np.asarray(heads)
            on = du[t] + 1 + dv[h] == du[far]
            W = int(np.count_nonzero(on))
            # Shortest paths first -> far, counted level by level over the links on them.
            count = np.zeros(S)
            count[first] = 1.0
            for level in range(1, int(du[far]) + 1):
                step = on & (du[h] == level)
                np.add.at(count, h[step], count[t[step]])
            paths = int(count[far])
    return {"switches": S, "signatures": len(set(sig_of.values())), "used": len(set(used)),
            "links": E, "width": W, "reach": reach, "paths": paths}


def solve_estimate(G, traffic, routing="spray", factored=None):
    """Estimated peak bytes of ``netemu.solve(G, traffic, routing, factored=factored)``.

    The sum of the graph analysis, the router's tables (distances and its candidate
    next hops towards every destination signature) and either the factored classes (a
    sprayed all-to-all without sizes from ``product.MIN_FLOWS`` flows, or
    ``factored=True``) or one row per flow.
    """
    from .policies import resolve
    from .traffic import AllToAll

    shape = _fabric_shape(G, getattr(traffic, "endpoints", None))
    try:
        splits = resolve(routing).splits
    except ParameterError:          # an unknown routing is refused by solve itself, by name
        splits = True
    need = SOLVE_BASE_BYTES + graph_bytes(G.number_of_nodes(), G.number_of_edges())
    need += fabric_bytes(
        shape["switches"], shape["signatures"], shape["links"], shape["used"], splits,
        shape["paths"])
    n_flows = int(traffic.n_flows)
    factors = (isinstance(traffic, AllToAll) and traffic.size is None and routing == "spray"
               and factored is not False)
    if factors and not factored:
        from .product import MIN_FLOWS
        factors = n_flows >= MIN_FLOWS
    if factors:
        need += factored_bytes(len(traffic.endpoints), shape["used"], shape["width"],
                               shape["reach"])
    else:
        need += solve_bytes(n_flows)
    return need


def _gb(n):
    """``n`` bytes in GB, also for integers too large for a float."""
    n = int(n)
    if n < 10**21:
        return f"{n / 1e9:,.1f} GB"
    return f"10^{len(str(n)) - 10} GB"


def check_fits(need, what, available=None):
    """Raise :class:`ParameterError` when ``need`` bytes exceed the memory limit.

    ``what`` says what was asked for (it starts the message); ``available``
    overrides the limit (tests).  The message gives the estimate and the limit.
    """
    if available is None:
        have, where = memory_limit()
    else:
        have, where = available, "available"
    if have is not None and need > have:
        raise ParameterError(f"{what} needs about {_gb(need)} of memory, more than the "
                             f"{_gb(have)} {where}; ask for a smaller size")
    return need
