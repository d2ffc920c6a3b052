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

- **Endpoint overhead** is the host side of one transfer, summed term by term
  (:func:`endpoint_terms`), the way perftest's ``ib_send_lat`` / ``ib_write_lat`` time a
  64 B message (half a ping-pong round trip):

  1. the sender's CPU posts the work request: an MMIO write over PCIe (the doorbell; with
     BlueFlame the WQE and an inlined payload ride on it);
  2. without inlining, the NIC then DMA-reads the WQE and the payload: two PCIe read
     round trips;
  3. both adapters' own pipelines (send and receive);
  4. the wire: switches and cables (the graph's edges, not this term);
  5. the receiving NIC DMA-writes the payload and then the completion (CQE) into host
     memory: posted writes, one PCIe crossing (the CQE follows the payload in order);
  6. the receiving CPU's poll loop sees the written cache line.

  Each PCIe leg also crosses the PCIe switches between the NIC and the CPU.  A posted
  write (1, 5) is taken as half a read round trip: it crosses the link once and does not
  wait for memory.  The adapters' own pipelines (3) are what is left of the vendor's
  back-to-back end-to-end figure once its own host legs (1, 5, 6 on the best host of the
  range, the vendor's best case) are taken out.

  NVLink (intra node) is a CPU-launched GPU-to-GPU copy: the CUDA launch call on the CPU,
  the GPU's doorbell and its fetch of the pushed command over PCIe, the NVLink/NVSwitch
  write, the completion written back to host memory and the CPU's poll.

  Where a term is a choice (how fast the host's PCIe is, whether the payload is inlined,
  how many PCIe switches sit between NIC and CPU) :func:`endpoint_range` gives the sum at
  both ends of the range.  Intra-server edges (PCIe, NVLink, memory, ...) carry latency 0:
  their share is inside the endpoint terms and counting it again would double it.
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
    "IB_ADAPTER", "ROCE_ADAPTER", "NVLINK_COPY", "NVLINK_LAUNCH", "NVLINK_WRITE",
    "PCIE_READ_RTT", "PCIE_SWITCH", "PCIE_SWITCHES", "CPU_POLL", "POSTS",
    "NETWORK_MEDIA", "SWITCH_LATENCY", "ADAPTER", "ENDPOINT_OVERHEAD",
    "adapter_pipeline", "endpoint_terms", "endpoint_range",
    "annotate", "path_latency", "transport",
]


@dataclass(frozen=True)
class LatencyFigure:
    """One latency figure: ``seconds``, what it covers, and where it comes from.

    ``low`` and ``high`` bound a figure that is a choice within a measured range (None:
    the figure is a single value); :attr:`span` gives them with ``seconds`` as default.
    """
    name: str
    seconds: float
    source: str
    low: float = None
    high: float = None

    @property
    def span(self):
        """``(low, high)``, each ``seconds`` where not given."""
        return (self.seconds if self.low is None else self.low,
                self.seconds if self.high is None else self.high)


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
#: CPU cost of launching one GPU-to-GPU copy (the CUDA call, the driver writing the command
#: and ringing the GPU): CUDA sample p2pBandwidthLatencyTest, "P2P=Enabled Latency (P2P
#: Writes)", CPU matrix, median of the 12 off-diagonal entries (1.76-2.16 us, the range) of
#: one 4-GPU NVLink system posted in NVIDIA/cuda-samples issue #230.  The sample times a
#: loop of back-to-back asynchronous copies on the CPU and divides by their number, so the
#: figure is the launch path's cost per copy (the copies themselves overlap it), not one
#: synchronous copy end to end.  One measurement on an unnamed GPU model (not an H800):
#: UNCONFIRMED for the H800 node.
NVLINK_LAUNCH = LatencyFigure("CUDA GPU-to-GPU copy launch, CPU time per copy", 1.925e-6,
                              "NVIDIA/cuda-samples#230 p2pBandwidthLatencyTest CPU P2P-write "
                              "latency, median (range 1.76-2.16 us); UNCONFIRMED for H800",
                              low=1.76e-6, high=2.16e-6)
#: Deprecated name of :data:`NVLINK_LAUNCH` (it was used as the whole NVLink endpoint).
NVLINK_COPY = NVLINK_LAUNCH
#: A 64 B write from one GPU's copy engine to another's memory through NVLink and one
#: NVSwitch.  No public figure was found for the H800/NVSwitch path: a choice, 0.1-0.5 us
#: (an NVSwitch is a cut-through switch like an IB switch, ~0.1-0.15 us, plus both GPUs'
#: NVLink ports and memory), UNCONFIRMED.
NVLINK_WRITE = LatencyFigure("NVLink + NVSwitch 64 B write", 0.3e-6,
                             "no public figure found; a choice within 0.1-0.5 us, UNCONFIRMED",
                             low=0.1e-6, high=0.5e-6)

#: Round trip of a 64 B PCIe DMA read from a device to host memory (request out, completion
#: with data back).  Neugebauer et al., "Understanding PCIe performance for end host
#: networking", SIGCOMM'18 (pcie-bench); their raw data (github.com/pcie-bench/data,
#: nfp6000-1.2GHz_bdw-Xeon-E5-2630v4-dell-t430-s0-s0-s0) gives, for 64 B host-warm reads on
#: a Broadwell Xeon E5, medians of 493 ns through the NIC's PCIe command path
#: (lat_cmd_sizes.txt, LAT_CMD_RD) and 546 ns through its DMA engine (lat_dma_sizes.txt,
#: LAT_DMA_RD).  The nominal 500 ns is that system; the range's low end 400 ns allows a newer
#: root complex, its high end 900 ns the paper's slower systems (Xeon E3, IOMMU on), which
#: were not re-read here: the range is a choice, its ends UNCONFIRMED.
PCIE_READ_RTT = LatencyFigure("PCIe 64 B DMA read round trip", 500e-9,
                              "pcie-bench data (Neugebauer et al. SIGCOMM'18), Xeon E5-2630v4: "
                              "64 B read median 493 ns (cmd) / 546 ns (DMA); range 400-900 ns "
                              "a choice, ends UNCONFIRMED", low=400e-9, high=900e-9)
#: One traversal of a PCIe switch (cut-through, port to port).  Broadcom/PLX PEX switch
#: datasheets quote port-to-port latencies of about 100-150 ns (not re-read here); a user of a
#: Microsemi switch reports its tool's 85-140 ns (andre-richter/pcie-lat issue #4, secondary).
#: 150 ns taken, range 100-150 ns.  UNCONFIRMED.
PCIE_SWITCH = LatencyFigure("PCIe switch traversal", 150e-9,
                            "Broadcom/PLX PEX switch datasheets, ~100-150 ns cut-through; "
                            "UNCONFIRMED", low=100e-9, high=150e-9)
#: PCIe switches between an H800 node's NIC (or GPU) and its CPU.  [ISCA] Fig. 2's internal
#: topology is not recovered; HGX H100/H800 baseboards put each ConnectX-7 NIC and its GPU
#: under one PCIe switch (UNCONFIRMED for DeepSeek's nodes), and a NIC on a CPU root port
#: has none.  Nominal 1, range 0-1: a choice.
PCIE_SWITCHES = (1, 0, 1)
#: Time for the CPU's poll loop to see a cache line a device just wrote: a last-level-cache
#: hit when DDIO steers the write into the LLC (~40 ns), a DRAM load otherwise (~80-120 ns
#: on server CPUs).  Nominal 100 ns, range 40-120 ns; UNCONFIRMED (no single source).
CPU_POLL = LatencyFigure("CPU poll sees a DMA-written line", 100e-9,
                         "LLC hit with DDIO ~40 ns, DRAM load ~80-120 ns; UNCONFIRMED",
                         low=40e-9, high=120e-9)
#: How the sender posts a 64 B message: ``'doorbell'`` (MMIO doorbell, then the NIC reads
#: the WQE and the payload by DMA) or ``'inline'`` (BlueFlame: the WQE with the payload
#: inlined rides on the MMIO write).  perftest's latency tests inline by default up to
#: 220 B (RDMA write) and 236 B (RC send) (linux-rdma/perftest, src/perftest_parameters.h,
#: DEF_INLINE_WRITE / DEF_INLINE_SEND_RC_UC; -I sets it), so a perftest run at 64 B takes the
#: inline path.  [ISCA] does not name its tool.  Nominal ``'doorbell'``: the general verbs
#: path, with every PCIe transaction of a post; ``'inline'`` is the range's low end and is
#: reported beside the nominal (``total_inline_us``): a choice the paper leaves open.
POSTS = ("doorbell", "inline")

#: Media of network (switch-facing) links.
NETWORK_MEDIA = frozenset({"ib", "ethernet"})
#: Default switch latency by link medium: the 400G generation of [ISCA].
SWITCH_LATENCY = {"ib": IB_NDR_SWITCH, "ethernet": ETHERNET_400G_SWITCH}
def _seconds(name, value):
    v = value.seconds if isinstance(value, LatencyFigure) else value
    return check_nonnegative(name, v)


#: Adapter end-to-end figure by transport.
ADAPTER = {"ib": IB_ADAPTER, "ethernet": ROCE_ADAPTER}


def _value(fig, end):
    """``fig``'s nominal seconds (``end`` None), or its ``'low'`` / ``'high'`` end."""
    if end is None:
        return fig.seconds
    return fig.span[0 if end == "low" else 1]


def adapter_pipeline(kind):
    """Both adapters' own pipelines (send + receive), seconds, for ``'ib'`` / ``'ethernet'``.

    The vendor's back-to-back figure is measured host to host: it contains the host legs
    of the inline path (the MMIO post, the payload's DMA write, the CPU's poll) on the
    vendor's test host.  Those legs at the fast end of their ranges (the vendor's figure is
    a best case, "sub-600ns") are taken out; what is left is the two adapters' pipelines.

    Examples
    --------
    >>> round(adapter_pipeline("ib") * 1e9)      # 600 - (200 + 200 + 40)
    160
    """
    rtt = PCIE_READ_RTT.span[0]
    host = rtt / 2 + rtt / 2 + CPU_POLL.span[0]
    return check_nonnegative(f"{kind} adapter pipeline", ADAPTER[kind].seconds - host)


def endpoint_terms(kind, *, post="doorbell", pcie_rtt=None, pcie_switches=None,
                   poll=None, end=None):
    """The host side of one 64 B transfer, term by term: ``{term: seconds}``.

    Parameters
    ----------
    kind : {'ib', 'ethernet', 'nvlink'}
        The path's transport (:func:`transport`).
    post : {'doorbell', 'inline'}
        How the sender posts (:data:`POSTS`); RDMA only.
    pcie_rtt, poll : float, optional
        PCIe read round trip and CPU poll time, seconds (default: :data:`PCIE_READ_RTT`,
        :data:`CPU_POLL` at ``end``).
    pcie_switches : int, optional
        PCIe switches between device and CPU (default: :data:`PCIE_SWITCHES`).
    end : {None, 'low', 'high'}
        Which end of each ranged figure the defaults take (None: nominal).

    Raises
    ------
    ParameterError
        An unknown ``kind``, ``post`` or ``end``, or a negative time or switch count.

    Examples
    --------
    >>> t = endpoint_terms("ib", post="inline", pcie_rtt=400e-9, pcie_switches=0, poll=40e-9)
    >>> round(sum(t.values()) * 1e9)      # the vendor's 600 ns back to back, by construction
    600
    """
    if kind not in ("ib", "ethernet", "nvlink"):
        raise ParameterError(f"transport {kind!r} has no endpoint model; allowed: "
                             f"ethernet, ib, nvlink")
    if post not in POSTS:
        raise ParameterError(f"post {post!r} is not known; allowed: {', '.join(POSTS)}")
    if end not in (None, "low", "high"):
        raise ParameterError(f"end {end!r} is not known; allowed: None, 'low', 'high'")
    rtt = _seconds("pcie_rtt", _value(PCIE_READ_RTT, end) if pcie_rtt is None else pcie_rtt)
    seen = _seconds("poll", _value(CPU_POLL, end) if poll is None else poll)
    if pcie_switches is None:
        pcie_switches = {None: 0, "low": 1, "high": 2}[end]
        pcie_switches = PCIE_SWITCHES[pcie_switches]
    if isinstance(pcie_switches, bool) or not isinstance(pcie_switches, int) \
            or pcie_switches < 0:
        raise ParameterError(f"pcie_switches must be a whole number >= 0, got {pcie_switches!r}")
    hop = _value(PCIE_SWITCH, end) * pcie_switches
    if kind == "nvlink":
        # The GPU sits behind the PCIe switch like the NIC: doorbell (1 crossing), command
        # fetch (2), completion write (1).
        return {"CUDA launch on the CPU": _value(NVLINK_LAUNCH, end),
                "doorbell MMIO write to the GPU": rtt / 2 + hop,
                "GPU fetches the copy command (PCIe read)": rtt + 2 * hop,
                "NVLink + NVSwitch write": _value(NVLINK_WRITE, end),
                "completion written to host memory": rtt / 2 + hop,
                "CPU poll sees the completion": seen}
    terms = {"post: MMIO write (doorbell / BlueFlame)": rtt / 2 + hop}
    if post == "doorbell":
        terms["NIC reads the WQE (PCIe read)"] = rtt + 2 * hop
        terms["NIC reads the payload (PCIe read)"] = rtt + 2 * hop
    terms["both adapters' pipelines"] = adapter_pipeline(kind)
    terms["payload + CQE written to host memory"] = rtt / 2 + hop
    terms["CPU poll sees the completion"] = seen
    return terms


def endpoint_range(kind):
    """``(low, nominal, high)`` endpoint overhead, seconds, across the choices' ranges.

    Low: inline post, fast PCIe, no PCIe switch, LLC poll; high: doorbell post, slow PCIe,
    one PCIe switch, DRAM poll.  The adapters' pipelines stay what the vendor figure leaves.
    """
    low = sum(endpoint_terms(kind, post="inline", end="low").values())
    nominal = sum(endpoint_terms(kind).values())
    high = sum(endpoint_terms(kind, post="doorbell", end="high").values())
    return low, nominal, high


def _endpoint_figure(kind):
    low, nominal, high = endpoint_range(kind)
    return LatencyFigure(f"{kind} host-side path, 64 B", nominal,
                         "sum of endpoint_terms(); each term's source beside its figure",
                         low=low, high=high)


#: Endpoint overhead by transport (see :func:`transport`): the nominal host-side sum.
ENDPOINT_OVERHEAD = {k: _endpoint_figure(k) for k in ("ib", "ethernet", "nvlink")}


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
    >>> from netemu.topologies.fat_tree import two_layer_fat_tree
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
    >>> from netemu.topologies.fat_tree import two_layer_fat_tree
    >>> G = annotate(two_layer_fat_tree(4))
    >>> round(path_latency(G, ["n0", "leaf0", "n1"], overhead=0.6e-6) * 1e6, 2)   # + 0.15 + 2 x 15 ns
    0.78
    """
    nodes = list(path)
    kind = transport(G, nodes)
    total = 0.0
    for u, v in zip(nodes, nodes[1:]):
        lat = G.edges[u, v].get("latency")
        if lat is None:
            raise GraphError(f"edge {u!r}-{v!r} has no 'latency'; run "
                             f"netemu.topologies.latency.annotate(G) first")
        total += lat
    extra = ENDPOINT_OVERHEAD[kind] if overhead is None else overhead
    return total + _seconds("overhead", extra)
