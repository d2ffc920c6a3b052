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

__version__ = "0.1.0"

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


def __getattr__(name):
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
    return sorted(set(globals()) | set(_LAZY))
