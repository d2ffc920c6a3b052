"""netemu: network-topology and collective-communication emulator for AI clusters.

The engine: the graph contract and its validation, units, graph files, the
flow-level solver and routing, and the command line.  Topology generators live
in the sibling package :mod:`topologies`, collective algorithms in
:mod:`collectives`.
"""

from .errors import (GraphError, GraphFileError, NetemuError, ParameterError, RoutingError,
                     SolverInputError, TrafficError)
from .failures import fail
from .graph import endpoints, switches, validate
from .io import load, save
from .solution import Solution, solve
from .units import GB, GBps, GiB, GiBps, KiB, MiB, gbps, parse_size

__version__ = "0.1.0"
