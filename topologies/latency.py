"""The latency catalogue: per-hop latency figures, each with its source, and how a path adds them up.

:mod:`topologies.hardware` holds bandwidths; this module holds the matching *latency* figures
of the same hardware, so that a graph's edges can carry a ``latency`` that comes from
documentation rather than from a fit.  A figure that no primary source confirmed says
UNCONFIRMED in its ``source``.  Published end-to-end latencies (e.g. [ISCA] Table 5) are
*results*: experiments compare against them; nothing here is derived from them.

Model
-----
A small message's one-way latency is

    endpoint overhead  +  sum over switches of port-to-port latency
                       +  sum over cables of length x propagation delay.

- **Endpoint overhead** is the adapter's own end-to-end figure, taken once per transfer:
  a NIC vendor quotes latency between two adapters back to back, which covers posting the
  work request, both adapters, both PCIe crossings and the completion the receiving CPU
  polls; for NVLink it is a measured CPU-timed GPU-to-GPU copy.  Intra-server edges
  (PCIe, NVLink, memory, ...) therefore carry latency 0: their share is inside the
  endpoint figure and counting it again would double it.
- **Switches**: :func:`annotate` puts half a switch's port-to-port latency on each edge
  at that switch, so a path that enters and leaves a switch pays it once.  netemu paths
  start and end at endpoints, never at a switch, so the halves always pair up.
- **Cables**: ``length x`` :data:`PROPAGATION` on every network edge; a link between an
  endpoint and a switch is an in-rack cable, a link between two switches a cable between
  racks (lengths below, stated assumptions).

Every value in seconds (or metres), SI like the rest of netemu.
"""

from dataclasses import dataclass

from netemu.checks import check_nonnegative
from netemu.errors import GraphError, ParameterError
from netemu.graph import SWITCH_ROLES

__all__ = [
    "LatencyFigure", "PROPAGATION", "HOST_CABLE_M", "FABRIC_CABLE_M",
    "IB_HDR_SWITCH", "IB_NDR_SWITCH", "ETHERNET_400G_SWITCH",
    "IB_ADAPTER", "ROCE_ADAPTER", "NVLINK_COPY", "NETWORK_MEDIA",
    "SWITCH_LATENCY", "ENDPOINT_OVERHEAD", "annotate", "path_latency", "transport",
]


@dataclass(frozen=True)
class LatencyFigure:
    """One latency figure: ``seconds``, what it covers, and where it comes from."""
    name: str
    seconds: float
    source: str


#: Signal propagation in a cable, seconds per metre.  Light in silica fibre travels at
#: c / n with group index n ~ 1.47 (4.9 ns/m); twinax copper (DAC) is similar (velocity
#: factor ~0.7, 4.8 ns/m).  Physics, rounded to the usual 5 ns/m.
PROPAGATION = LatencyFigure("cable propagation per metre", 5e-9,
                            "c / n with n ~ 1.47 for silica fibre; copper DAC similar")
#: Cable between a server and its leaf: in the same rack.  Stated assumption (3 m, the
#: common length of a passive DAC), UNCONFIRMED for any particular cluster.
HOST_CABLE_M = 3.0
#: Cable between two switches (leaf to spine): across rows of racks.  Stated assumption
#: (30 m of fibre), UNCONFIRMED for any particular cluster.
FABRIC_CABLE_M = 30.0

#: HDR InfiniBand switch (Quantum, QM8700): port-to-port latency.  The QM87xx user manual
#: (NVIDIA, docs.nvidia.com/networking, "QM87xx 1U HDR 200Gb/s InfiniBand Switch Systems",
#: Introduction; revision 1.4 "Latency updated") states it; 130 ns is the product brief's
#: figure as commonly quoted, the manual's text itself was not retrieved: UNCONFIRMED.
IB_HDR_SWITCH = LatencyFigure("IB HDR switch (QM8700) port-to-port", 130e-9,
                              "NVIDIA QM8700 product brief, 130 ns; UNCONFIRMED")
#: NDR InfiniBand switch (Quantum-2, QM9700, 64 x 400G) of the [ISCA] IB fabrics.  No NVIDIA
#: datasheet figure was found; secondary pages disagree ("under 150 ns", router-switch.com;
#: "~330 ns", yobitel.com).  The lower one is taken because Quantum-2 is the same cut-through
#: pipeline family as Quantum (130 ns).  UNCONFIRMED.
IB_NDR_SWITCH = LatencyFigure("IB NDR switch (Quantum-2) port-to-port", 150e-9,
                              "secondary pages: '< 150 ns' (another says ~330 ns); UNCONFIRMED")
#: 400G Ethernet switch for RoCE: a 51.2 Tb/s 128 x 400G ASIC (Broadcom Tomahawk 5 class),
#: the 128-port RoCE switch of [ISCA] §5.2.  Broadcom publishes no latency figure; a
#: secondary page gives "~1 microsecond" for Tomahawk 5.  UNCONFIRMED.
ETHERNET_400G_SWITCH = LatencyFigure("400G Ethernet switch (Tomahawk 5 class) port-to-port",
                                     1e-6, "secondary page: Tomahawk 5 '~1 us'; UNCONFIRMED")

#: InfiniBand adapter end to end (two adapters back to back, including the hosts' PCIe).
#: NVIDIA ConnectX-6 VPI user manual, Introduction: "sub-600ns latency".  The H800 nodes of
#: [ISCA] carry ConnectX-7, whose documentation gives no figure; ConnectX-6's is used for
#: it (UNCONFIRMED for ConnectX-7).
IB_ADAPTER = LatencyFigure("InfiniBand adapter end to end (ConnectX-6 VPI)", 600e-9,
                           "NVIDIA ConnectX-6 VPI user manual: 'sub-600ns latency'")
#: RoCE (Ethernet) adapter end to end.  Mellanox ConnectX-6 EN product brief: "sub 0.8usec
#: latency".  UNCONFIRMED for ConnectX-7.
ROCE_ADAPTER = LatencyFigure("RoCE adapter end to end (ConnectX-6 EN)", 800e-9,
                             "Mellanox ConnectX-6 EN product brief: 'sub 0.8usec latency'")
#: GPU-to-GPU copy over NVLink timed on the CPU: CUDA sample p2pBandwidthLatencyTest, "P2P
#: =Enabled Latency (P2P Writes)", CPU matrix, median of the 12 off-diagonal entries (1.76-
#: 2.16 us) of one 4-GPU NVLink system posted in NVIDIA/cuda-samples issue #230.  One stated
#: measurement on an unnamed GPU model (not an H800), so UNCONFIRMED for the H800 node.
NVLINK_COPY = LatencyFigure("NVLink GPU-to-GPU copy, CPU-timed", 1.925e-6,
                            "NVIDIA/cuda-samples#230 p2pBandwidthLatencyTest CPU P2P-write "
                            "latency, median; UNCONFIRMED for H800")

#: Media of network (switch-facing) links.
NETWORK_MEDIA = frozenset({"ib", "ethernet"})
#: Default switch latency by link medium: the 400G generation of [ISCA].
SWITCH_LATENCY = {"ib": IB_NDR_SWITCH, "ethernet": ETHERNET_400G_SWITCH}
#: Endpoint overhead by transport (see :func:`transport`).
ENDPOINT_OVERHEAD = {"ib": IB_ADAPTER, "ethernet": ROCE_ADAPTER, "nvlink": NVLINK_COPY}


def _seconds(name, value):
    v = value.seconds if isinstance(value, LatencyFigure) else value
    return check_nonnegative(name, v)


def annotate(G, *, switch_latency=None, host_cable_m=HOST_CABLE_M,
             fabric_cable_m=FABRIC_CABLE_M, propagation=PROPAGATION):
    """Set every edge's ``latency`` (seconds) from its medium and the roles at its ends.

    Network edges (medium ``'ib'`` or ``'ethernet'``) get the cable's propagation delay
    (``host_cable_m`` when one end is not a switch, ``fabric_cable_m`` between two
    switches) plus half the port-to-port latency of each switch at their ends.  Every
    other edge (NVLink, PCIe, memory, ...) gets 0: its latency is inside the endpoint
    overhead that :func:`path_latency` adds.

    Parameters
    ----------
    G : networkx.Graph
        A netemu graph; edited in place.
    switch_latency : mapping, optional
        ``{medium: LatencyFigure or seconds}`` overriding :data:`SWITCH_LATENCY` (e.g.
        ``{'ib': IB_HDR_SWITCH}`` for an HDR fabric).
    host_cable_m, fabric_cable_m : float
        Cable lengths in metres (defaults: :data:`HOST_CABLE_M`, :data:`FABRIC_CABLE_M`).
    propagation : LatencyFigure or float
        Seconds per metre (default :data:`PROPAGATION`).

    Returns
    -------
    networkx.Graph
        ``G`` itself.

    Raises
    ------
    ParameterError
        A length or latency is negative or not a number, or ``switch_latency`` names a
        medium other than ``'ib'`` / ``'ethernet'``.
    GraphError
        A network edge has no ``medium`` that says which switch latency applies.

    Examples
    --------
    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> G = annotate(two_layer_fat_tree(4))
    >>> round(G.edges["n0", "leaf0"]["latency"] * 1e9, 1)    # 3 m + half an NDR switch
    90.0
    >>> round(G.edges["leaf0", "spine0"]["latency"] * 1e9, 1)  # 30 m + two halves
    300.0
    """
    table = dict(SWITCH_LATENCY)
    for medium, value in (switch_latency or {}).items():
        if medium not in NETWORK_MEDIA:
            raise ParameterError(f"switch_latency medium {medium!r} is not a network medium; "
                                 f"allowed: {', '.join(sorted(NETWORK_MEDIA))}")
        table[medium] = value
    sw = {m: _seconds(f"switch_latency[{m!r}]", v) for m, v in table.items()}
    per_m = _seconds("propagation", propagation)
    host_m = check_nonnegative("host_cable_m", host_cable_m)
    fabric_m = check_nonnegative("fabric_cable_m", fabric_cable_m)
    for u, v, data in G.edges(data=True):
        is_sw = [G.nodes[x].get("role") in SWITCH_ROLES for x in (u, v)]
        medium = data.get("medium")
        if medium in NETWORK_MEDIA:
            length = fabric_m if all(is_sw) else host_m
            data["latency"] = length * per_m + sum(is_sw) * sw[medium] / 2
        elif any(is_sw):
            raise GraphError(f"edge {u!r}-{v!r} reaches a switch but its medium is {medium!r}; "
                             f"annotate needs one of {', '.join(sorted(NETWORK_MEDIA))}")
        else:
            data["latency"] = 0.0
    return G


def transport(G, path):
    """The transport a node path uses: its network medium, else ``'nvlink'``.

    A path that crosses any network edge uses that edge's medium (``'ib'`` or
    ``'ethernet'``); a path inside one server whose edges include NVLink is ``'nvlink'``.

    Raises
    ------
    GraphError
        Fewer than two nodes, consecutive nodes not linked, two network media on one
        path, or an intra-server path without NVLink (no endpoint figure for it).
    """
    nodes = list(path)
    if len(nodes) < 2:
        raise GraphError(f"a path needs at least two nodes, got {nodes!r}")
    media = set()
    for u, v in zip(nodes, nodes[1:]):
        if not G.has_edge(u, v):
            raise GraphError(f"path step {u!r}-{v!r} is not an edge of the graph")
        media.add(G.edges[u, v].get("medium"))
    net = media & NETWORK_MEDIA
    if len(net) > 1:
        raise GraphError(f"path mixes network media {sorted(net)}; one transport per path")
    if net:
        return net.pop()
    if "nvlink" in media:
        return "nvlink"
    raise GraphError(f"path {nodes[0]!r} -> {nodes[-1]!r} uses media {sorted(map(str, media))}; "
                     f"endpoint overheads exist for {', '.join(sorted(ENDPOINT_OVERHEAD))}")


def path_latency(G, path, *, overhead=None):
    """One-way latency of a small message along ``path``: edges' ``latency`` + endpoint overhead.

    Parameters
    ----------
    G : networkx.Graph
        A graph whose edges carry ``latency`` (:func:`annotate`).
    path : sequence of node names
        Consecutive nodes linked by edges, source first.
    overhead : LatencyFigure or float, optional
        Endpoint overhead, seconds; default :data:`ENDPOINT_OVERHEAD` of the path's
        :func:`transport`.

    Returns
    -------
    float
        Seconds.

    Raises
    ------
    GraphError
        An edge of the path has no ``latency`` (run :func:`annotate` first), or
        :func:`transport` rejects the path.
    ParameterError
        ``overhead`` is negative or not a number.

    Examples
    --------
    >>> from topologies.fat_tree import two_layer_fat_tree
    >>> G = annotate(two_layer_fat_tree(4))
    >>> round(path_latency(G, ["n0", "leaf0", "n1"]) * 1e6, 2)   # 0.6 + 0.15 + 2 x 15 ns
    0.78
    """
    nodes = list(path)
    kind = transport(G, nodes)
    total = 0.0
    for u, v in zip(nodes, nodes[1:]):
        lat = G.edges[u, v].get("latency")
        if lat is None:
            raise GraphError(f"edge {u!r}-{v!r} has no 'latency'; run "
                             f"topologies.latency.annotate(G) first")
        total += lat
    extra = ENDPOINT_OVERHEAD[kind] if overhead is None else overhead
    return total + _seconds("overhead", extra)
