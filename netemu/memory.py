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
           "FABRIC_BYTES_PER_CELL", "FACTORED_BYTES_PER_CLASS", "LIMIT_ENV"]

#: Environment variable that lowers the memory limit (bytes, or ``4GB``, ``512MiB``).
LIMIT_ENV = "NETEMU_MEMORY_LIMIT"

#: A flow of a Traffic: src, dst, size, port and the index arithmetic that builds them
#: (six 8-byte numbers).
TRAFFIC_BYTES_PER_FLOW = 48
#: Peak memory of routing and solving one flow, rates and completion times included
#: (measured by benchmarks/memory_estimate.py: 0.3 KB per flow on two-layer fat-tree
#: all-to-alls of 83 k and 262 k flows; 1.1 KB on a 65,280-flow MPFT all-to-all).
SOLVE_BYTES_PER_FLOW = 1200
#: A networkx node or edge with netemu's attributes (measured: radix-256 two-layer
#: fat-tree, 98,688 nodes and edges, about 340 bytes each).
GRAPH_BYTES_PER_ITEM = 512
#: One (switch, endpoint signature) cell of the router's distance tables: hop counts and
#: path counts (8 bytes each), their level-by-level temporaries and the sprayed routes
#: that grow with them (measured: 157 and 193 bytes per cell on dragonflies of 264 and
#: 876 routers, shift traffic).
FABRIC_BYTES_PER_CELL = 240
#: One (source endpoint, destination switch) class of the factored all-to-all: its index
#: tables, the routed representative flow and its groups.  Measured (benchmarks/
#: memory_estimate.py): 280 bytes a class on a q = 7 Slim Fly, 1.5 KB on a k = 16
#: three-layer fat-tree, whose classes spray over more paths; the estimate takes the
#: larger, so it errs high on fabrics of little path diversity.
FACTORED_BYTES_PER_CLASS = 1600

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


def fabric_bytes(n_switches, n_signatures):
    """Estimated peak bytes of the router's switch-by-signature distance and path-count tables."""
    return int(n_switches) * int(n_signatures) * FABRIC_BYTES_PER_CELL \
        + int(n_signatures) ** 2 * 16


def factored_bytes(n_endpoints, n_signatures):
    """Estimated peak bytes of the factored all-to-all over ``n_endpoints`` endpoints whose
    destinations hang off ``n_signatures`` distinct switches (or switch sets)."""
    return int(n_endpoints) * int(n_signatures) * FACTORED_BYTES_PER_CLASS


def moe_bytes(n_ranks, tokens, copies, n_experts, n_servers=1):
    """Estimated peak bytes of drawing MoE token destinations: every rank's
    ``(tokens, copies)`` destinations (8 bytes each, all kept) plus one rank's expert
    scores, their negation, the partition's indices and the masks (about 4 x 8 bytes
    per token and expert) and the per-server draws."""
    tokens, n_experts = int(tokens), int(n_experts)
    return (int(n_ranks) * tokens * int(copies) * 8 + tokens * n_experts * 33
            + tokens * (int(n_ranks) + 17 * int(n_servers)))


def _fabric_shape(G, endpoints=None):
    """(switches, signatures, signatures among ``endpoints``) of ``G``, as the router counts them."""
    from .graph import SWITCH_ROLES

    role = dict(G.nodes(data="role"))
    n_switches = sum(1 for r in role.values() if r in SWITCH_ROLES)
    sig_of = {}
    for n, r in role.items():
        if r in SWITCH_ROLES:
            continue
        sig = frozenset(m for m in G.adj[n] if role.get(m) in SWITCH_ROLES)
        if sig:
            sig_of[n] = sig
    used = (set(sig_of[e] for e in endpoints if e in sig_of) if endpoints is not None
            else set(sig_of.values()))
    return n_switches, len(set(sig_of.values())), len(used)


def solve_estimate(G, traffic, routing="spray", factored=None):
    """Estimated peak bytes of ``netemu.solve(G, traffic, routing, factored=factored)``.

    The sum of the graph analysis, the router's distance tables and either the factored
    classes (a sprayed all-to-all without sizes from ``product.MIN_FLOWS`` flows, or
    ``factored=True``) or one row per flow.
    """
    from .traffic import AllToAll

    S, T, K = _fabric_shape(G, getattr(traffic, "endpoints", None))
    need = graph_bytes(G.number_of_nodes(), G.number_of_edges()) + fabric_bytes(S, T)
    n_flows = int(traffic.n_flows)
    factors = (isinstance(traffic, AllToAll) and traffic.size is None and routing == "spray"
               and factored is not False)
    if factors and not factored:
        from .product import MIN_FLOWS
        factors = n_flows >= MIN_FLOWS
    if factors:
        need += factored_bytes(len(traffic.endpoints), K)
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
