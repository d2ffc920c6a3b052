"""The error types netemu raises, one per concern.

Every message names the offending value and what would have been allowed, so a
user can fix the input without reading the source.  All types derive from
:class:`NetemuError`; the ones about bad values also derive from ``ValueError``
so that generic callers that catch ``ValueError`` keep working.
"""

__all__ = [
    "NetemuError",
    "ParameterError",
    "GraphError",
    "GraphFileError",
    "TrafficError",
    "RoutingError",
    "SolverInputError",
    "EmulationError",
    "ExperimentError",
]


class NetemuError(Exception):
    """Base class of every error netemu raises on purpose."""


class ParameterError(NetemuError, ValueError):
    """A function or generator argument is out of its allowed range or type."""


class GraphError(NetemuError, ValueError):
    """A graph breaks the graph contract (docs/architecture.md §3): roles, bandwidths, connectivity."""


class GraphFileError(NetemuError, ValueError):
    """A saved graph file cannot be read or written (unreadable, malformed, wrong format)."""


class TrafficError(NetemuError, ValueError):
    """A traffic description names unknown endpoints, is empty, or has bad sizes."""


class RoutingError(NetemuError):
    """No route exists for some requested pairs; the pairs are named in the message."""


class SolverInputError(NetemuError, ValueError):
    """The low-level flow solver got malformed arrays (bad capacity, share, demand, size)."""


class EmulationError(NetemuError, RuntimeError):
    """The packet-level emulator cannot run here (not root, Mininet missing) or failed mid-run."""


class ExperimentError(NetemuError, RuntimeError):
    """A point of an experiment's sweep failed; the experiment and the point are named."""
