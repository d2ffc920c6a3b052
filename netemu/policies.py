"""Routing policies: how a flow picks among the equal-cost paths the path model enumerates.

The path model (:mod:`netemu.routing`, :mod:`netemu.serverpaths`) decides *which* paths
are equal: the shortest ones between switches, the access points a server may use
(PXN, planes, rails, failover) and the shortest paths inside a server.  A policy
only decides how a flow is placed on them -- ripl's shape, where routing engines
share one path enumerator and differ in how they pick (leftmost, hashed,
random).  Every door (``netemu.solve``, ``netemu.routing.route``, the
collectives, ``netemu solve``/``netemu bench --routing``) resolves a name here,
in :func:`resolve`, the one place that knows the allowed names.

``spray``     every flow split evenly over all equal-cost paths (ideal packet spraying).
``hash``      per-flow ECMP: each node hashes the flow's 5-tuple with a per-node salt.
``dmodk``     InfiniBand's static D-mod-k: the destination's rank picks the next hop.
``adaptive``  switch adaptive routing: flows placed one after another, in flow order;
              at every hop with several equal-cost next hops the flow takes the one
              with the least load placed on it so far (ties: natural port order).
explicit      a mapping ``{(src, dst): [node, ...]}`` gives every flow's path.

Why adaptive weighs by demand
-----------------------------
Switch adaptive routing chooses, per packet or per flowlet, the egress port among
the equal-cost ones whose queue is shortest / load is lowest (InfiniBand AR in
NVIDIA Quantum switches; Broadcom's Dynamic Load Balancing ranks ports by "port
loading" and queue size; CONGA, Alizadeh et al., SIGCOMM 2014, by path
congestion).  Its decision is local to the switch and sees the bytes already
queued, not future rates.  In a fluid steady state the bytes a flow will put on
a port are its demand, so netemu charges each placed flow's *size* (bytes) on the
links it takes, or 1 per flow when the traffic has no sizes (all demands equal),
and every later flow picks, hop by hop, the next hop with the least charged load.
Placing in a fixed order (flow index) makes the result deterministic.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
import numbers

import numpy as np

from .errors import ParameterError

__all__ = ["RoutingPolicy", "Spray", "Hash", "DModK", "Adaptive", "Explicit", "POLICIES",
           "MODES", "resolve", "PathSpec"]


class RoutingPolicy:
    """How a flow picks among equal-cost choices.  Subclasses set :attr:`name`.

    Attributes
    ----------
    splits : bool
        The flow is split over every equal-cost choice (no pick).
    sequential : bool
        A flow's pick depends on the flows placed before it (:class:`Adaptive`).
    """

    name = None
    splits = False
    sequential = False

    def begin(self, router, flows):
        """Per-walk state of ``flows`` (indices into the router's flows)."""
        return {}

    def choose(self, router, state, sel, salt, counts):
        """Index of the next hop, for the flows at positions ``sel`` of the walk.

        ``salt`` identifies each choosing node; ``counts`` is the number of equal-cost
        candidates there (all > 1), in natural port order.
        """
        raise NotImplementedError

    def pick_one(self, router, i, node, candidates):
        """Index into ``candidates`` (a list of options at ``node``) for flow ``i``."""
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        return f"<routing policy {self.name!r}>"


class Spray(RoutingPolicy):
    name = "spray"
    splits = True


class Hash(RoutingPolicy):
    name = "hash"

    def begin(self, router, flows):
        return {"base": router._base_hash(flows)}

    def choose(self, router, state, sel, salt, counts):
        from .routing import _hop_choice
        return _hop_choice(state["base"][sel], salt, counts)

    def pick_one(self, router, i, node, candidates):
        from .routing import _hop_choice
        base = router._base_hash(np.array([i]))
        return int(_hop_choice(base, [node], [len(candidates)])[0])


class DModK(RoutingPolicy):
    name = "dmodk"

    def begin(self, router, flows):
        return {"rank": router.dst_rank(flows), "prod": np.ones(np.size(flows), dtype=np.int64)}

    def choose(self, router, state, sel, salt, counts):
        k = (state["rank"][sel] // state["prod"][sel]) % counts
        state["prod"][sel] *= counts
        return k

    def pick_one(self, router, i, node, candidates):
        # One intra-server or egress choice: the destination's rank mod the count.
        return int(router.dst_rank(np.array([i]))[0]) % len(candidates)


class Adaptive(RoutingPolicy):
    """Least-loaded next hop, flows placed in index order (see the module notes)."""

    name = "adaptive"
    sequential = True

    def pick_one(self, router, i, node, candidates):
        # candidates are resource ids (or keys) of the options; least charged load wins.
        load = router.ar_load
        best, arg = None, 0
        for k, c in enumerate(candidates):
            x = load.get(c, 0.0)
            if best is None or x < best:
                best, arg = x, k
        return arg


class Explicit(RoutingPolicy):
    name = "explicit"

    def __init__(self, paths):
        self.paths = paths

    def __eq__(self, other):
        return isinstance(other, Explicit) and other.paths is self.paths

    def __hash__(self):
        return id(self.paths)


#: The named policies; the allowed values of every ``routing`` argument and ``--routing``.
POLICIES = {p.name: p for p in (Spray, Hash, DModK, Adaptive)}
MODES = tuple(POLICIES)


def resolve(routing, what="routing", mappings=True):
    """The :class:`RoutingPolicy` for a name, a mapping of explicit paths, or a policy.

    The one place where a routing mode is validated; ``what`` names the argument in
    the error (``'--routing'`` on the command line, where no mapping can be given).

    >>> resolve("hash")
    <routing policy 'hash'>
    >>> resolve("ecmp")
    Traceback (most recent call last):
    ...
    netemu.errors.ParameterError: routing must be one of 'spray', 'hash', 'dmodk', 'adaptive' \
or a mapping {(src, dst): path}, got 'ecmp'
    """
    if isinstance(routing, RoutingPolicy):
        return routing
    if isinstance(routing, Mapping) and mappings:
        return Explicit(routing)
    if isinstance(routing, str) and routing in POLICIES:
        return POLICIES[routing]()
    alt = " or a mapping {(src, dst): path}" if mappings else ""
    raise ParameterError(f"{what} must be one of {', '.join(map(repr, MODES))}{alt}, "
                         f"got {routing!r}")


def check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ParameterError(f"seed must be an integer, got {seed!r}")
    return int(seed)


@dataclass(frozen=True, eq=False)
class PathSpec:
    """How paths are chosen on a graph: (graph, routing policy, PXN, seed) as one value.

    ``routing`` may be given as a name or a mapping; it is resolved on creation.
    """

    graph: object
    routing: object = "dmodk"
    pxn: bool = True
    seed: int = 0
    policy: RoutingPolicy = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "policy", resolve(self.routing))
        object.__setattr__(self, "pxn", bool(self.pxn))
        object.__setattr__(self, "seed", check_seed(self.seed))

    @property
    def mode(self):
        return self.policy.name

    def key(self):
        return (id(self.graph), self.policy, self.pxn, self.seed)
