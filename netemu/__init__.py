"""netemu: network-topology and collective-communication emulator for AI clusters.

The engine: the graph contract and its validation, units, graph files, the
flow-level solver and routing, and the command line.  Topology generators live
in :mod:`netemu.topologies`, collective algorithms in :mod:`netemu.collectives`.

The public names below are loaded on first use (PEP 562 module ``__getattr__``):
``import netemu`` alone costs a few milliseconds, and numba, scipy and networkx
load only when a name that needs them is first touched, so that a command-line
answer that needs no model (``netemu --help``) loads none of them.
"""

import importlib
import importlib.util

from .errors import (GraphError, GraphFileError, NetemuError, ParameterError, RoutingError,
                     SolverInputError, TrafficError)


#: Public name -> submodule that defines it; imported on first attribute access.
_LAZY = {
    "fail": "failures",
    "endpoints": "graph", "switches": "graph", "validate": "graph",
    "load": "io", "save": "io",
    "Solution": "solution", "solve": "solution",
    "GB": "units", "GBps": "units", "GiB": "units", "GiBps": "units", "KiB": "units",
    "MiB": "units", "gbps": "units", "parse_size": "units",
}

__all__ = ["GraphError", "GraphFileError", "NetemuError", "ParameterError", "RoutingError",
           "SolverInputError", "TrafficError", *_LAZY]


def _installed_version():
    """The version of the installed distribution (setup.cfg's, the one place it is set)."""
    from importlib import metadata
    try:
        return metadata.version(__name__)
    except metadata.PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown (not installed)"


def __getattr__(name):
    if name == "__version__":
        # Read from the package metadata on first use: one number, in setup.cfg, and
        # `import netemu` stays free of importlib.metadata.
        globals()[name] = value = _installed_version()
        return value
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # `import netemu; netemu.routing.X` worked when everything loaded eagerly: keep it.
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'netemu' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})
