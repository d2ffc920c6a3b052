"""Network cost: switches priced by radix, cables by type, rate and length.

The model follows the method of the Slim Fly paper ([SF], its cost and power
model), the one [ISCA] Table 3 cites for its cost column:

- a switch (router) costs a linear function of its radix ``k``,
  ``f(k) = a k + b`` dollars, fitted by [SF] to Mellanox FDR10 InfiniBand
  switches;
- a cable costs a linear function of its length ``L`` per Gb/s,
  ``(c L + d)`` USD per Gb/s, one fit for electric (copper) and one for
  optical cables ([SF], Mellanox FDR10 40 Gb/s QSFP cables).  Optical cables
  have a large fixed part (the transceivers) and a small slope, copper the
  reverse;
- lengths come from a physical layout: racks on a floor grid, intra-rack
  cables electric, inter-rack cables optical, an inter-rack cable as long as
  the Manhattan distance between the racks plus an overhead for the runs
  inside both racks.

Every price and constant is in ``PRICES`` (class ``Prices``) and
:class:`Layout` below, each with its source.  **The [SF] coefficients are
quoted from memory of [SF]: the paper's text could not be retrieved while
this module was written, so verify them before relying on absolute dollars.**
Nothing is fitted to [ISCA] Table 3; ``experiments/topology_cost.py`` compares.

From FDR10 to 400 Gb/s
----------------------
[SF] fits 40 Gb/s cables; netemu's links run at 200-400 Gb/s.  The fixed part
of a cable (two transceivers or SerDes ends) is scaled per Gb/s, as [SF]
states its prices.  The per-metre part is the medium, and a 4x InfiniBand
cable carries four lanes on the same medium in every generation (FDR10 4 x
10 Gb/s; NDR 4 x 100 Gb/s on the 8 fibres of one MPO-12, NVIDIA
MMA4Z00-NS400 "4-channel MPO-12/APC"), so it stays that of the 40 Gb/s
reference cable.  ``PRICES.scale_length_with_rate = True`` scales the whole
fit per Gb/s instead; with 400 Gb/s links that makes every optical metre ten
times dearer and adds 20-40 % to the costs of the three largest networks of
[ISCA] Table 3 (FT3, SF, DF).  Switches are priced by radix only, as in
[SF]; the fit has no bandwidth term.

Physical layout (:class:`Layout`)
---------------------------------
``packing='tor'`` (default): every switch that has endpoints is a top-of-rack
switch in a rack of its own, with its endpoints; the leaves that serve the
same servers (one leaf per plane or rail, all holding NICs of the same
servers) share one rack.  400 Gb/s copper reaches only a few metres, so
everything that leaves a rack is optical.  Switches without endpoints fill
racks of ``switches_per_rack``: those with a ``pod`` (a three-layer tree's
spines), ``group`` (a dragonfly router) or Slim Fly group beside their
group's racks, the rest (two-layer spines, cores, inter-zone switches) in
the middle of the floor.

``packing='group'``: the layouts of [SF]: a whole dragonfly group per rack
([Kim08]'s packaging unit), group ``x`` of both Slim Fly subgraphs per rack
(every pair of racks then joined by ``2q`` cables), a fat-tree pod per rack,
with their intra-group cables electric.  Sensible for FDR10 copper spanning a
few cabinets, not for 400 Gb/s.

Endpoints sit in the rack of the first switch they link to.  Racks stand in
rows, as many per row as keeps the floor about square, in the order their
members appear in the graph, with the switch-only racks of the middle in the
middle of that order.  Links between two non-switch nodes (inside a server)
are not fabric cables and cost nothing here.

References
----------
.. [SF] M. Besta, T. Hoefler, "Slim Fly: A Cost Effective Low-Diameter Network
   Topology", SC'14 (extended: arXiv:1912.08968), cost and power model
   (section numbers of the published version not checked).
.. [Kim08] J. Kim et al., "Technology-Driven, Highly-Scalable Dragonfly
   Topology", ISCA 2008.
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3", ISCA '25, Table 3.
"""

import math
import numbers
import weakref
from dataclasses import dataclass

import numpy as np

from netemu.checks import check_choice, check_int, check_nonnegative, check_positive
from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, edges_with_data

__all__ = ["PRICES", "Prices", "PACKINGS", "Layout", "DEFAULT_LAYOUT", "cost",
           "switch_price", "cable_price", "rack_assignment"]


@dataclass(frozen=True)
class Prices:
    """Price coefficients in USD; :data:`PRICES` holds the ones netemu uses.

    Change one with ``dataclasses.replace(PRICES, scale_length_with_rate=True)``.
    """

    #: Switch price per port and fixed part: f(k) = 350.4 k - 892.3 USD, fit to Mellanox
    #: FDR10 IB switches.  [SF] (quoted from memory, UNCONFIRMED).
    switch_usd_per_port: float = 350.4
    switch_usd_fixed: float = -892.3
    #: Electric (copper) cable, USD per Gb/s: 0.4079 L + 0.5771, L in metres, fit to Mellanox
    #: FDR10 40 Gb/s QSFP cables.  [SF] (quoted from memory, UNCONFIRMED).
    electric_usd_per_gbps_m: float = 0.4079
    electric_usd_per_gbps: float = 0.5771
    #: Optical cable, USD per Gb/s: 0.0919 L + 7.2745.  [SF] (from memory, UNCONFIRMED).
    optical_usd_per_gbps_m: float = 0.0919
    optical_usd_per_gbps: float = 7.2745
    #: Rate of the cables behind the fits: FDR10, 4 lanes x 10 Gb/s.  [SF].
    reference_gbps: float = 40.0
    #: False: only the fixed part (transceivers, SerDes) scales per Gb/s; the per-metre part
    #: stays that of the 40 Gb/s reference cable, because a 4x InfiniBand cable carries 4
    #: lanes on the same medium in every generation (8 fibres of an MPO-12: NVIDIA
    #: MMA4Z00-NS400 400G SR4 "4-channel MPO-12/APC", as a 40G QSFP SR4).  True: the whole
    #: fit per Gb/s, as [SF] states it for FDR10.  See the module docstring.
    scale_length_with_rate: bool = False


#: The one place every price lives (see the class body for each value's source).
PRICES = Prices()

PACKINGS = ("tor", "group")


@dataclass(frozen=True)
class Layout:
    """Where racks stand and how long cables are; lengths in metres.

    packing : {'tor', 'group'}
        ``'tor'`` (default): every switch with endpoints is a top-of-rack
        switch in a rack of its own with its endpoints (leaves serving the same
        servers share one); other switches fill switch racks.  ``'group'``:
        [SF]'s layouts, a whole dragonfly group, Slim Fly group pair or
        fat-tree pod per rack.
    rack_width_m : float
        Distance between neighbouring racks in a row: 0.6 m, a standard 600 mm
        wide rack.  ASSUMPTION (common practice, no source).
    row_pitch_m : float
        Distance between rows: 2.4 m, a 1,200 mm deep rack plus a 1.2 m aisle.
        ASSUMPTION.
    overhead_m : float
        Added to every inter-rack cable for the runs up and down both racks
        (default 2 m).  ASSUMPTION.
    intra_rack_m : float
        Length of a cable inside one rack (default 1 m).  ASSUMPTION.
    switches_per_rack : int
        Switches in a rack of switches only (default 16).  ASSUMPTION.
    copper_reach_m : float
        The electric/optical threshold: an inter-rack cable no longer than this is
        electric (a direct-attach copper cable), a longer one optical.  Default 0:
        every cable that leaves a rack is optical, since 200-400 Gb/s copper reaches
        only a few metres (NVIDIA LinkX HDR/NDR DAC cables are sold up to 2-3 m;
        read from product listings, UNCONFIRMED).  ASSUMPTION; the ``sensitivity``
        experiment sweeps it.
    """
    packing: str = "tor"
    rack_width_m: float = 0.6
    row_pitch_m: float = 2.4
    overhead_m: float = 2.0
    intra_rack_m: float = 1.0
    switches_per_rack: int = 16
    copper_reach_m: float = 0.0

    def __post_init__(self):
        check_choice("packing", self.packing, PACKINGS)
        check_positive("rack_width_m", self.rack_width_m)
        check_positive("row_pitch_m", self.row_pitch_m)
        check_nonnegative("overhead_m", self.overhead_m)
        check_positive("intra_rack_m", self.intra_rack_m)
        check_int("switches_per_rack", self.switches_per_rack, minimum=1)
        check_nonnegative("copper_reach_m", self.copper_reach_m)


DEFAULT_LAYOUT = Layout()


def switch_price(radix, prices=PRICES):
    """USD of one switch with ``radix`` ports, ``f(k) = a k + b`` ([SF]).

    >>> round(switch_price(64), 1)
    21533.3
    """
    if isinstance(radix, bool) or not isinstance(radix, numbers.Real) or not math.isfinite(radix) \
            or radix < min_switch_radix(prices):
        raise ParameterError(f"radix {radix!r}: the [SF] switch price line a k + b "
                             f"(a = {prices.switch_usd_per_port}, b = {prices.switch_usd_fixed}) "
                             f"is a positive price only from k = {min_switch_radix(prices)} ports")
    return prices.switch_usd_per_port * radix + prices.switch_usd_fixed


def min_switch_radix(prices=PRICES):
    """Fewest ports at which ``switch_price`` is positive (3 with the [SF] line); :func:`cost`
    refuses a graph with a smaller switch (a 2-port test switch) rather than price it."""
    a, b = prices.switch_usd_per_port, prices.switch_usd_fixed
    return max(1, math.floor(-b / a) + 1) if a > 0 else 1


def cable_price(kind, length_m, gbps, prices=PRICES):
    """USD of one cable of ``kind`` ('electric' or 'optical'), ``length_m`` long, ``gbps`` Gb/s.

    The fixed part scales with ``gbps``; the per-metre part with ``gbps`` only if
    ``prices.scale_length_with_rate`` (module docstring).

    >>> round(cable_price("optical", 10, 400), 2), round(cable_price("electric", 1, 400), 2)
    (2946.56, 247.16)
    >>> round(cable_price("optical", 10, 40), 2)
    327.74
    """
    if kind == "electric":
        slope, fixed = prices.electric_usd_per_gbps_m, prices.electric_usd_per_gbps
    elif kind == "optical":
        slope, fixed = prices.optical_usd_per_gbps_m, prices.optical_usd_per_gbps
    else:
        raise ParameterError(f"kind must be 'electric' or 'optical', got {kind!r}")
    metre_gbps = gbps if prices.scale_length_with_rate else prices.reference_gbps
    return fixed * gbps + slope * metre_gbps * length_m


def _radix(G, n, ports_used):
    """Ports of switch ``n``: its ``radix``, else the generator's ``radix``, else ports used."""
    radix = G.nodes[n].get("radix")
    if radix is None:
        params = G.graph.get("params", {})
        radix = params.get("radix")
        switch = params.get("switch")
        if radix is None and hasattr(switch, "ports"):
            radix = switch.ports
    if not isinstance(radix, int):
        radix = 0
    return max(radix, ports_used)


def rack_assignment(G, layout=DEFAULT_LAYOUT):
    """Place every switch and endpoint in a rack on the floor grid.

    Returns ``(rack_of, position)``: node -> rack number, and rack number ->
    ``(x, y)`` in metres.  Rules in the module docstring.
    """
    facts = _facts(G)
    rack = _node_racks(facts, layout)
    n_racks = _rack_count(facts, layout)
    cols = _columns(n_racks, layout)
    rack_of = {facts.nodes[i]: int(rack[i]) for i in np.flatnonzero(rack >= 0)}
    position = {r: ((r % cols) * layout.rack_width_m, (r // cols) * layout.row_pitch_m)
                for r in range(n_racks)}
    return rack_of, position


class _Facts:
    """What pricing needs from a graph and no layout changes: computed by one walk.

    ``nodes`` in graph order; ``home[i]``: the switch whose rack node ``i`` stands in
    (itself for a switch, the first switch it links to for an endpoint, -1 for neither);
    ``keys``: per switch (graph order), its rack key under ``packing='group'`` and under
    ``'tor'``; per cable of the fabric (every edge touching a switch, graph order) its
    ends, cable count and Gb/s per cable; per switch its radix.
    """

    def __init__(self, G):
        role = dict(G.nodes(data="role"))
        self.nodes = list(G)
        index = {n: i for i, n in enumerate(self.nodes)}
        is_sw = {n: r in SWITCH_ROLES for n, r in role.items()}
        hosted = {}                               # switch -> its endpoints, in graph order
        home = np.full(len(self.nodes), -1, dtype=np.int64)
        for n in self.nodes:
            if is_sw[n]:
                home[index[n]] = index[n]
                continue
            h = next((m for m in G.adj[n] if is_sw[m]), None)
            if h is not None:
                hosted.setdefault(h, []).append(n)
                home[index[n]] = index[h]
        self.home = home
        block = _server_blocks(G, role, is_sw, hosted)
        self.switches = [n for n in self.nodes if is_sw[n]]
        self.switch_index = np.array([index[n] for n in self.switches], dtype=np.int64)
        group, tor = [], []                       # rack key per switch, by packing
        for n in self.switches:
            d = G.nodes[n]
            if role[n] == "router" and "group" in d:
                family = ("group", d["group"])
            elif "subgraph" in d and "x" in d:
                family = ("sf", d["x"])
            elif "pod" in d:
                family = ("pod", d.get("zone"), d["pod"])
            else:
                family = None
            if n in hosted:
                key = ("tor", block[n])
            elif family is not None:
                key = ("bare",) + family
            else:
                key = ("middle", role[n])
            tor.append(key)
            group.append(family if family is not None else key)
        self.keys = {"tor": tor, "group": group}
        self.racks = {}                           # (packing, switches_per_rack) -> racks

        # The edges once, as arrays (graph order); cables touching a switch are kept.
        sw = np.zeros(len(self.nodes), dtype=bool)
        sw[self.switch_index] = True
        ends = edges_with_data(G)
        m = len(ends)
        u = np.fromiter((index[e[0]] for e in ends), dtype=np.int64, count=m)
        v = np.fromiter((index[e[1]] for e in ends), dtype=np.int64, count=m)
        keep = sw[u] | sw[v]
        kept = [e[2] for e, k in zip(ends, keep.tolist()) if k]
        cables = [d.get("cables", 1) for d in kept]
        # Whole numbers as int64, a fractional count (if a graph gives one) as float64.
        self.cables = np.array(cables) if cables else np.zeros(0, dtype=np.int64)
        bw = np.array([d["bandwidth"] for d in kept], dtype=np.float64)
        # Per element the arithmetic of one cable: bandwidth / cables * 8 / 1e9.
        self.gbps = bw / self.cables * 8 / 1e9
        self.u, self.v = u[keep], v[keep]
        su, sv = sw[self.u], sw[self.v]
        # Ports used per switch (whole numbers: the same sums in any order).
        ports = np.zeros(len(self.nodes), dtype=self.cables.dtype)
        np.add.at(ports, self.u[su], self.cables[su])
        np.add.at(ports, self.v[sv], self.cables[sv])
        self.endpoints = int(np.unique(np.r_[self.u[~su], self.v[~sv]]).size)
        used = ports[self.switch_index].tolist()
        # Whole numbers unless a graph gives fractional cables (then floats, as before).
        self.radix_list = [_radix(G, n, k) for n, k in zip(self.switches, used)]
        self.radix = np.array(self.radix_list) if self.radix_list else np.zeros(0, np.int64)


#: Facts of frozen graphs (:func:`networkx.freeze`: they cannot gain or lose a node or link),
#: kept while the graph lives: a sweep prices the same graphs under many layouts.
_FROZEN_FACTS = weakref.WeakKeyDictionary()


def _facts(G):
    """:class:`_Facts` of ``G``: cached for a frozen graph, made afresh for any other (which
    may have changed in place since it was last priced)."""
    if not getattr(G, "frozen", False):
        return _Facts(G)
    got = _FROZEN_FACTS.get(G)
    if got is None:
        got = _FROZEN_FACTS[G] = _Facts(G)
    return got


def _switch_racks(facts, layout):
    """Rack of every switch (in ``facts.switches`` order) and the number of racks."""
    key = (layout.packing, layout.switches_per_rack)
    hit = facts.racks.get(key)
    if hit is not None:
        return hit
    groups, order = {}, []                        # key -> switches, keys in graph order
    for s, k in enumerate(facts.keys[layout.packing]):
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(s)
    racks, middle = [], []                        # member switches of each rack
    for k in order:
        if k[0] == "middle":
            middle.extend(_chunks(groups[k], layout.switches_per_rack))
        elif k[0] == "bare":
            racks.extend(_chunks(groups[k], layout.switches_per_rack))
        else:
            racks.append(groups[k])
    half = len(racks) // 2
    racks = racks[:half] + middle + racks[half:]
    rack = np.empty(len(facts.switches), dtype=np.int64)
    for r, members in enumerate(racks):
        rack[members] = r
    hit = facts.racks[key] = (rack, len(racks))
    return hit


def _node_racks(facts, layout):
    """Rack of every node (graph order), -1 for a node no switch hosts."""
    rack_sw, _ = _switch_racks(facts, layout)
    by_node = np.full(len(facts.nodes), -1, dtype=np.int64)
    by_node[facts.switch_index] = rack_sw
    out = np.full(len(facts.nodes), -1, dtype=np.int64)
    placed = facts.home >= 0
    out[placed] = by_node[facts.home[placed]]
    return out


def _rack_count(facts, layout):
    return _switch_racks(facts, layout)[1]


def _columns(n_racks, layout):
    # Rows of racks, as many per row as keeps the floor about square in metres.
    return max(1, round(math.sqrt(n_racks * layout.row_pitch_m / layout.rack_width_m)))


def _server_blocks(G, role, is_sw, hosted):
    """Access switch -> representative of the switches whose endpoints share servers.

    The NICs of one server (role ``nic`` linked to a ``host``/``storage`` node)
    hang from several leaves (one per plane or rail); those leaves and the
    server are one block of racks.
    """
    parent = {s: s for s in hosted}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first = {}
    for s, ends in hosted.items():
        for e in ends:
            if role[e] != "nic":
                continue
            for m in G.adj[e]:
                if not is_sw[m] and role[m] in ("host", "storage"):
                    a, b = find(s), find(first.setdefault(m, s))
                    if a != b:
                        parent[b] = a
    return {s: find(s) for s in hosted}


def _chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def cost(G, *, layout=None, prices=PRICES):
    """Price the fabric of ``G``: its switches and every cable that touches a switch.

    Parameters
    ----------
    G : networkx.Graph
        A netemu graph.  Links between two non-switch nodes (inside a server)
        are not cables of the fabric and cost nothing here.
    layout : Layout, optional
        Rack placement and lengths (default :data:`DEFAULT_LAYOUT`).
    prices : optional
        Price coefficients (default :data:`PRICES`).

    Returns
    -------
    dict
        ``switches_usd``, ``electric_cables_usd``, ``optical_cables_usd``,
        ``cables_usd``, ``total_usd``, ``per_endpoint_usd`` (total over the
        endpoints of :func:`netemu.graph.endpoints`), and the counts behind
        them: ``endpoints``, ``switches``, ``electric_cables``,
        ``optical_cables``, ``optical_metres``, ``racks``.

    Notes
    -----
    What pricing reads from ``G`` (switch racks, cables) is kept for a frozen graph
    (:func:`networkx.freeze`), so pricing one graph under many layouts reads it once; any
    other graph is read on every call, as it may have changed in place.

    Examples
    --------
    A leaf-spine tree of 8-port switches: each leaf and its four hosts in a
    rack (copper), the four spines in one rack mid-floor, leaf-spine optical.

    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> c = cost(two_layer_fat_tree(8))
    >>> c["electric_cables"], c["optical_cables"], c["racks"]
    (32, 32, 9)
    >>> round(c["switches_usd"], 2), round(12 * switch_price(8), 2)
    (22930.8, 22930.8)
    """
    layout = DEFAULT_LAYOUT if layout is None else layout
    if not isinstance(layout, Layout):
        raise ParameterError(f"layout must be a topologies.cost.Layout, got {layout!r}")
    facts = _facts(G)
    rack = _node_racks(facts, layout)
    cols = _columns(_rack_count(facts, layout), layout)
    ru, rv = rack[facts.u], rack[facts.v]
    # Every cable at once; each element is the same float arithmetic as one cable at a time,
    # and the sums below are cumulative sums in graph order (cumsum adds left to right), so
    # the dollars are those of pricing the cables one by one.
    same = ru == rv
    dist = (np.abs((ru % cols) * layout.rack_width_m - (rv % cols) * layout.rack_width_m)
            + np.abs((ru // cols) * layout.row_pitch_m - (rv // cols) * layout.row_pitch_m))
    length = np.where(same, layout.intra_rack_m, dist + layout.overhead_m)
    optical = ~same & (length > layout.copper_reach_m)
    electric = ~optical
    metres = _in_order_sum(length[optical] * facts.cables[optical])
    usd = {}
    count = {}
    for kind, mask in (("electric", electric), ("optical", optical)):
        if kind == "electric":
            slope, fixed = prices.electric_usd_per_gbps_m, prices.electric_usd_per_gbps
        else:
            slope, fixed = prices.optical_usd_per_gbps_m, prices.optical_usd_per_gbps
        g = facts.gbps[mask]
        metre_gbps = g if prices.scale_length_with_rate else prices.reference_gbps
        each = fixed * g + slope * metre_gbps * length[mask]
        c = facts.cables[mask]
        usd[kind] = _in_order_sum(c * each)
        count[kind] = c.sum().item() if c.size else 0
    switches = facts.switches
    radix = facts.radix
    # The [SF] line is fitted to switches of many ports and is not positive below k_min:
    # a smaller switch is refused, not priced as a bigger one (nothing is clamped).
    k_min = min_switch_radix(prices)
    small = np.flatnonzero(radix < k_min)
    if small.size:
        n, k = switches[small[0]], facts.radix_list[small[0]]
        more = f" (and {small.size - 1} more)" if small.size > 1 else ""
        raise ParameterError(
            f"switch {n!r}{more} has {k} port{'s' if k != 1 else ''}: the [SF] "
            f"switch price line a k + b (a = {prices.switch_usd_per_port}, "
            f"b = {prices.switch_usd_fixed}) prices only k >= {k_min} ports; give the switch a "
            f"'radix' of at least {k_min} or prices whose line is positive at {k}")
    # sum() of no switches is the integer 0, as it was.
    switch_usd = _in_order_sum(prices.switch_usd_per_port * radix + prices.switch_usd_fixed) \
        if switches else 0
    electric, optical = usd["electric"], usd["optical"]
    total = switch_usd + electric + optical
    return {
        "switches_usd": switch_usd,
        "electric_cables_usd": electric,
        "optical_cables_usd": optical,
        "cables_usd": electric + optical,
        "total_usd": total,
        "per_endpoint_usd": total / facts.endpoints if facts.endpoints else math.nan,
        "endpoints": facts.endpoints,
        "switches": len(switches),
        "electric_cables": count["electric"],
        "optical_cables": count["optical"],
        "optical_metres": metres,
        "racks": _rack_count(facts, layout),
    }


def _in_order_sum(x):
    """``sum(x)`` added left to right as Python's ``sum`` does (0.0 when empty): numpy's
    own ``sum`` adds pairwise, which rounds differently in the last bits."""
    return float(np.cumsum(x, dtype=np.float64)[-1]) if len(x) else 0.0
