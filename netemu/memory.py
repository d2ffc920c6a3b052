"""Refuse, before allocating, a request that would not fit in memory.

Each estimate is a named function of the request's size (flows, nodes,
links) times a per-item cost measured on this code, so a test can check it
and a user sees the figure that made netemu refuse.  The costs err high.
"""

import os

from .errors import ParameterError

__all__ = ["available_memory", "traffic_bytes", "solve_bytes", "graph_bytes", "check_fits",
           "TRAFFIC_BYTES_PER_FLOW", "SOLVE_BYTES_PER_FLOW", "GRAPH_BYTES_PER_ITEM"]

#: A flow of a Traffic: src, dst, size, port and the index arithmetic that builds them
#: (six 8-byte numbers).
TRAFFIC_BYTES_PER_FLOW = 48
#: Peak memory of routing and solving one flow, rates and completion times included
#: (measured: 65,280-flow all-to-all on a 4-plane radix-16 MPFT, about 1.1 KB per flow).
SOLVE_BYTES_PER_FLOW = 1200
#: A networkx node or edge with netemu's attributes (measured: radix-256 two-layer
#: fat-tree, 98,688 nodes and edges, about 340 bytes each).
GRAPH_BYTES_PER_ITEM = 512


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


def traffic_bytes(n_flows):
    """Estimated bytes of a :class:`netemu.traffic.Traffic` with ``n_flows`` flows."""
    return int(n_flows) * TRAFFIC_BYTES_PER_FLOW


def solve_bytes(n_flows):
    """Estimated peak bytes of :func:`netemu.solve` on ``n_flows`` flows."""
    return int(n_flows) * SOLVE_BYTES_PER_FLOW


def graph_bytes(n_nodes, n_edges):
    """Estimated bytes of a netemu graph with ``n_nodes`` nodes and ``n_edges`` links."""
    return (int(n_nodes) + int(n_edges)) * GRAPH_BYTES_PER_ITEM


def check_fits(need, what, available=None):
    """Raise :class:`ParameterError` when ``need`` bytes exceed the available memory.

    ``what`` says what was asked for (it starts the message); ``available``
    overrides the kernel's figure (tests).
    """
    have = available_memory() if available is None else available
    if have is not None and need > have:
        raise ParameterError(f"{what} needs about {need / 1e9:,.1f} GB of memory, more than the "
                             f"{have / 1e9:,.1f} GB available; ask for a smaller size")
    return need
