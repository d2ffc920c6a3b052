"""The backend contract: graph + routes + traffic -> per-flow results.

netemu answers one question -- *at what rate does each flow of this traffic run on
this fabric, with these routes?* -- in two ways: the flow-level max-min solver
(:func:`netemu.solve`) and a packet-level emulation in Mininet
(:class:`netemu.backends.mininet.Emulation`).  A backend is one object with one
method, :meth:`Backend.run`, that takes the same three inputs and returns a
:class:`FlowResults`, so that the two can be set side by side number by number,
and a further backend (a packet simulator, a real cluster) has an obvious home:
subclass :class:`Backend`, give it a ``name``, register it in :data:`BACKENDS`.

Routes are never the backend's own invention: ``routing`` is a routing mode of
:mod:`netemu.routing` (or explicit paths), and the Mininet backend installs the
routes netemu computes (design: one graph, one routing, two backends).

Examples
--------
>>> from netemu.topologies import two_layer_fat_tree
>>> from netemu.traffic import permutation
>>> G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2, link_bandwidth=1e9)
>>> r = get_backend("flow").run(G, permutation(G, seed=0), routing="spray")
>>> r.backend, r.n_flows, round(r.aggregate / 1e9, 6)
('flow', 4, 4.0)
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["Backend", "FlowBackend", "MininetBackend", "FlowResults", "BACKENDS", "get_backend"]


@dataclass
class FlowResults:
    """Per-flow results of one backend run, in the graph's units.

    Attributes
    ----------
    backend : str
        Name of the backend that produced them (``'flow'``, ``'mininet'``).
    routing : str
        Routing mode the routes came from (``'explicit'`` for given paths).
    pairs : list of (src, dst)
        The flows, in the traffic's order.
    rates : ndarray
        Rate of every flow, bytes/s (measured goodput scaled back to the graph's
        units for an emulation; the max-min rate for the solver).
    predicted : ndarray or None
        The flow model's rate for the same flows and paths, where the backend
        measures rather than computes (an emulation); ``None`` for the solver.
    detail : object
        The backend's own result (:class:`netemu.Solution`,
        :class:`netemu.backends.mininet.EmulationResult`) for everything else.
    """

    backend: str
    routing: str
    pairs: list
    rates: np.ndarray
    predicted: np.ndarray | None = None
    detail: Any = field(default=None, repr=False)

    @property
    def n_flows(self) -> int:
        return int(self.rates.size)

    @property
    def aggregate(self) -> float:
        """Sum of the flow rates, bytes/s."""
        return float(np.sum(self.rates))

    @property
    def error(self) -> float | None:
        """(aggregate - predicted aggregate) / predicted aggregate, or None."""
        if self.predicted is None:
            return None
        p = float(np.sum(self.predicted))
        return (self.aggregate - p) / p


class Backend(abc.ABC):
    """One way of running traffic on a fabric; see the module notes."""

    #: Registry name.
    name = ""

    @abc.abstractmethod
    def run(self, G, traffic, routing="hash", **options) -> FlowResults:
        """Run ``traffic`` (a :class:`netemu.traffic.Traffic`) on ``G`` with ``routing``."""


def _routing_name(routing):
    return routing if isinstance(routing, str) else "explicit"


class FlowBackend(Backend):
    """The flow-level max-min solver (:func:`netemu.solve`).

    Parameters
    ----------
    seed : int
        Seed of hashed ECMP.
    """

    name = "flow"

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    def run(self, G, traffic, routing="hash", **options) -> FlowResults:
        from ..solution import solve
        sol = solve(G, traffic, routing, seed=self.seed, **options)
        return FlowResults(self.name, _routing_name(routing), traffic.pairs(),
                           np.asarray(sol.rates, dtype=float), None, sol)


class MininetBackend(Backend):
    """Real Linux routers and TCP flows in Mininet, on netemu's routes (root only).

    Parameters
    ----------
    scale : float
        Link rates are the graph's times ``scale`` (a 400 Gb/s link at 1e-4 is
        40 Mbit/s); measured rates are divided by it again.
    duration, warmup : float
        Measured seconds after ``warmup`` seconds of slow start.
    offload : bool or None
        Segmentation offload (None: chosen from the rate, as the emulation does).
    """

    name = "mininet"

    def __init__(self, *, scale: float = 1e-3, duration: float = 10.0, warmup: float = 2.0,
                 offload: bool | None = None):
        self.scale, self.duration, self.warmup, self.offload = scale, duration, warmup, offload

    def run(self, G, traffic, routing="hash", **options) -> FlowResults:
        from .mininet import Emulation
        with Emulation(G, self.scale, routing, offload=self.offload) as em:
            r = em.run(traffic, self.duration, self.warmup, **options)
        return FlowResults(self.name, _routing_name(routing), traffic.pairs(),
                           np.asarray(r.measured_rates, dtype=float),
                           np.asarray(r.predicted_rates, dtype=float), r)


#: Backends by name.
BACKENDS = {b.name: b for b in (FlowBackend, MininetBackend)}


def get_backend(name: str, **options) -> Backend:
    """The backend called ``name`` (see :data:`BACKENDS`), built with ``options``."""
    cls = BACKENDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ParameterError(f"unknown backend {name!r}; allowed: {', '.join(sorted(BACKENDS))}")
    return cls(**options)
