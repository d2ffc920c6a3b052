"""Packet-level emulation of a netemu fabric in Mininet, beside the flow model.

:func:`build_spec` turns a graph into a routed-Clos description (the
:mod:`netemu.backends.clos` spec, which Mininet's :class:`Topo` is built from)
and :class:`Emulation` runs it: a context manager that builds and starts the
network, runs real TCP traffic, and always tears everything down.

Mapping
-------
* Endpoints (non-switch nodes with exactly one link, to a switch) become
  Mininet hosts ``h0, h1, ...`` in natural name order; switches become Linux
  routers ``r0, r1, ...`` (:class:`~netemu.backends.clos.Router`).
* A link of ``bandwidth`` bytes/s becomes an HTB shaper of ``bandwidth * 8 *
  scale`` bit/s in both directions, with a byte FIFO (default the larger of
  100 frames and 10 ms at the link rate).  A link with a ``latency`` is
  refused: the kernel here has no netem, and a silently missing delay would
  be a wrong answer.
* Routes come from :mod:`netemu.routing`'s path model, per destination host:

  ``'hash'``  every router gets all equal-cost next hops towards the
      destination (the neighbours one hop closer, as netemu's ECMP modes use)
      as one multipath route; the kernel hashes each flow's 5-tuple (policy 3).
  ``'dmodk'`` netemu routes every host pair with static D-mod-k; each router
      gets the single next hop those paths take.

Which path a flow took
----------------------
The flow model is fed the paths the emulated flows really take.  For every
flow, its 5-tuple is looked up hop by hop in the routers' kernels (``ip route
get DST from SRC iif DEV ipproto tcp sport S dport D``), which evaluates the
very multipath hash the forwarding path uses.  These *kernel-read* paths go to
:func:`netemu.solve` as explicit routes.  netemu's own hashed-ECMP model
(SplitMix64 of the 5-tuple) is a different hash function: it predicts the same
*spread*, not the same choice per flow, so it is not used for the per-flow
prediction.

Goodput
-------
HTB counts whole Ethernet frames; a TCP segment of a 1500-byte MTU carries
1448 payload bytes (20 IP + 20 TCP + 12 timestamp option) in a 1514-byte
frame.  The prediction is therefore the flow model's rate times
:data:`TCP_GOODPUT`.  ACKs also use the reverse links (about 2% of a flow's
rate, :data:`ACK_RATIO`).  By default the prediction does not charge them,
which is why the measured aggregate sits a little below it; with
``count_acks=True`` (CLI ``--acks``) every flow also loads the links its ACKs
take (read from the kernels for the reverse 5-tuple) with :data:`ACK_RATIO`
times its rate, in the same max-min solve (:func:`ack_aware_rates`).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import EmulationError, ParameterError, RoutingError
from ..graph import is_switch, validate
from ..routing import DEFAULT_SPORT_BASE, natural_key, route
from ..traffic import Traffic
from .clos_plan import ecmp_routes, host_prefix, p2p_addrs

__all__ = ["build_spec", "Emulation", "EmulationResult", "cpu_estimate", "check_can_emulate",
           "packet_bytes", "split_disconnected", "emulated_graph", "ack_aware_rates", "TCP_GOODPUT",
           "ACK_RATIO", "DPORT", "AGENT"]

#: MTU of the emulated links (Linux veth default).
MTU = 1500
#: TCP payload per full frame over frame bytes counted by HTB: (1500-20-20-12) / (1500+14).
TCP_GOODPUT = (MTU - 20 - 20 - 12) / (MTU + 14)
#: Wire bytes of a pure ACK: Ethernet header 14 + IPv4 20 + TCP 20 + timestamp option 12
#: (Linux sends timestamps by default, net.ipv4.tcp_timestamps=1, as in TCP_GOODPUT).
ACK_FRAME = 14 + 20 + 20 + 12
#: Full segments acknowledged per ACK: delayed ACK, "an ACK SHOULD be generated for at least
#: every second full-sized segment" (RFC 1122 s4.2.3.2, RFC 5681 s4.2), which Linux does once
#: out of quick-ack mode.  With receive offload (GRO) one ACK covers a whole aggregate, so
#: with offload on this over-counts the ACK load.
SEGMENTS_PER_ACK = 2
#: ACK wire bytes on the reverse path per data wire byte: 66 / (2 x 1514) = 0.0218.
ACK_RATIO = ACK_FRAME / (SEGMENTS_PER_ACK * (MTU + 14))
#: TCP port every destination's agent listens on.
DPORT = 5001
#: The traffic agent script, run by file path inside the hosts.
AGENT = str(Path(__file__).with_name("traffic_agent.py"))
#: Default queue: at least this many full frames ...
QUEUE_FRAMES = 100
#: ... and at least this long at the link rate (s): about 8-10 ms kept 1 Gbit/s flows fair.
QUEUE_SECONDS = 0.010
#: Segmentation offload is turned on above this link rate (bit/s): up to 50 Mbit/s the
#: cores keep up with per-packet forwarding, at 100 Mbit/s they do not.
OFFLOAD_ABOVE = 50e6
#: Forwarding budget per core, in packets/s x links crossed, that the emulator sustains within
#: a few percent of the model: the cost is per packet, so many slow flows (whose segments stay
#: small) cost more than a few fast ones at the same bit rate.  Measured on this kind of machine
#: (2 cores, docs/mininet.md §3, and the k=4 fat-tree runs noted in the README):
#: without offload 16 flows x 6 links at 50 Mbit/s (182 k on 2 cores) stayed within 4%, at
#: 100 Mbit/s (363 k) fell 9-23% short; with offload the 240-flow all-to-all at 100 Mbit/s
#: (353 k) stayed within 5%, at 150 Mbit/s (530 k) fell 10-19% short, while 16 flows at
#: 1 Gbit/s (89 k, large segments) stayed within 2%.
PACKET_HOP_BUDGET_PER_CORE = {False: 100e3, True: 180e3}
#: Bytes per packet on the wire for a full segment (MSS 1448 + TCP/IP/Ethernet headers).
FRAME_BYTES = 1514
#: Linux sizes a TSO/GSO packet to about 1/1024 s of the flow's pacing rate (tcp_tso_autosize,
#: sk_pacing_shift 10), 1.2 x its rate in congestion avoidance (tcp_pacing_ca_ratio), at least
#: tcp_min_tso_segs = 2 segments and at most 64 KiB.
TSO_AUTOSIZE_S, TSO_PACING_RATIO, TSO_MIN_SEGS, TSO_MAX_BYTES = 1 / 1024, 1.2, 2, 65536


def _host_addr(i):
    try:
        return host_prefix(i)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _p2p_addr(k):
    try:
        return p2p_addrs(k)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def fabric_layout(G):
    """Hosts, routers and their attachments of an emulatable graph.

    Returns ``(hosts, routers, edge_of)``: endpoint and switch names in
    natural order, and each host's one switch.  Raises :class:`ParameterError`
    for graphs the routed-Clos model cannot represent.
    """
    # A degraded fabric (one that records its failures) may fall apart into islands, e.g. a
    # leaf cut off with its hosts: each island is built as it is, and only the pairs that
    # still connect are run (split_disconnected).
    validate(G, allow_disconnected=True)
    routers = sorted((n for n in G if is_switch(G, n)), key=natural_key)
    if not routers:
        raise ParameterError("the graph has no switches to emulate as routers")
    hosts, edge_of = [], {}
    for n in sorted((n for n in G if not is_switch(G, n)), key=natural_key):
        nbrs = list(G.adj[n])
        if len(nbrs) != 1 or not is_switch(G, nbrs[0]):
            raise ParameterError(
                f"node {n!r} ({G.nodes[n].get('role')}) has links to {sorted(map(str, nbrs))}; "
                f"the emulator supports fabrics whose every non-switch node has exactly one "
                f"link, to a switch (hosts of a fat-tree or leaf-spine), not servers with "
                f"internal structure or several NICs")
        hosts.append(n)
        edge_of[n] = nbrs[0]
    for u, v, lat in G.edges(data="latency"):
        if lat:
            raise ParameterError(
                f"link {u!r}-{v!r} has latency {lat!r} s; the emulator cannot add delay (this "
                f"kernel has no netem) and will not drop it silently: use latency 0")
    return hosts, routers, edge_of


def link_rate(G, u, v, scale):
    """Emulated rate of link ``u-v`` in bit/s."""
    return float(G.edges[u, v]["bandwidth"]) * 8 * scale


def _check_scale(scale):
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (0 < scale <= 1):
        raise ParameterError(f"scale must be a number in (0, 1], got {scale!r}")
    return float(scale)


def build_spec(G, scale=1e-3, routing="hash", *, queue=None, offload=None):
    """The routed-Clos spec of ``G`` (see :mod:`netemu.backends.clos`), plus name maps.

    Parameters
    ----------
    G : networkx.Graph
    scale : float
        Emulated rate / real rate, e.g. ``1e-3`` turns 400 Gb/s into 400 Mb/s.
    routing : {'hash', 'dmodk'}
    queue : int, optional
        FIFO bytes per link direction (default: max(100 frames, 10 ms at the rate)).
    offload : bool, optional
        TSO/GSO on the links (default: on above 50 Mbit/s).

    Returns
    -------
    dict
        The spec, with extra keys ``mn`` (netemu name -> Mininet name), ``nx``
        (Mininet name -> netemu name), ``ip`` (host -> address), ``peer``
        (``(router, next-hop ip)`` -> netemu node), ``offload``, ``scale``,
        ``routing``.
    """
    scale = _check_scale(scale)
    if routing not in ("hash", "dmodk"):
        raise ParameterError(f"emulated routing must be 'hash' (kernel ECMP) or 'dmodk' "
                             f"(static), got {routing!r}; packet spraying has no Linux "
                             f"forwarding equivalent")
    hosts, routers, edge_of = fabric_layout(G)
    mn = {h: f"h{i}" for i, h in enumerate(hosts)}
    mn.update({r: f"r{i}" for i, r in enumerate(routers)})
    rates = [link_rate(G, u, v, scale) for u, v in G.edges]
    if min(rates) < 1e5:
        raise ParameterError(f"scale {scale} makes the slowest link {min(rates):.3g} bit/s; "
                             f"links below 100 kbit/s do not carry TCP faithfully")
    if offload is None:
        offload = max(rates) > OFFLOAD_ABOVE
    if queue is not None and (isinstance(queue, bool) or not isinstance(queue, int)
                              or queue < 2 * (MTU + 14)):
        raise ParameterError(f"queue must be a whole number of bytes >= {2 * (MTU + 14)} "
                             f"(two frames), got {queue!r}")

    def qbytes(rate):
        return queue if queue is not None else int(max(QUEUE_FRAMES * (MTU + 14),
                                                      rate / 8 * QUEUE_SECONDS))

    spec = {"routers": [mn[r] for r in routers], "hosts": [], "links": [], "routes": {},
            "mn": mn, "nx": {v: k for k, v in mn.items()}, "ip": {}, "peer": {},
            "offload": bool(offload), "scale": scale, "routing": routing}
    for i, h in enumerate(hosts):
        pre = _host_addr(i)
        spec["ip"][h] = f"{pre}.2"
        spec["hosts"].append((mn[h], f"{pre}.2/24", f"{pre}.1"))
        r = link_rate(G, h, edge_of[h], scale)
        spec["links"].append((mn[h], mn[edge_of[h]], f"{pre}.2/24", f"{pre}.1/24", r, qbytes(r),
                              spec["offload"]))
    addr = {}          # (router, neighbour router) -> neighbour's address on their link
    k = 0
    for u, v in sorted(((a, b) for a, b in G.edges if is_switch(G, a) and is_switch(G, b)),
                       key=lambda e: (natural_key(e[0]), natural_key(e[1]))):
        ip_u, ip_v = _p2p_addr(k)
        k += 1
        addr[(u, v)], addr[(v, u)] = ip_v, ip_u
        spec["peer"][(mn[u], ip_v)], spec["peer"][(mn[v], ip_u)] = v, u
        r = link_rate(G, u, v, scale)
        spec["links"].append((mn[u], mn[v], f"{ip_u}/30", f"{ip_v}/30", r, qbytes(r),
                              spec["offload"]))
    spec["routes"] = _routes(G, hosts, routers, edge_of, addr, routing, mn, spec["ip"])
    spec["layout"] = (hosts, routers, edge_of)
    return spec


def _routes(G, hosts, routers, edge_of, addr, routing, mn, ip):
    """``{router: [(prefix, [next-hop ip, ...])]}`` for every destination host."""
    table = defaultdict(list)
    if routing == "hash":
        hosts_of_edge = defaultdict(list)
        for h in hosts:
            hosts_of_edge[edge_of[h]].append(h)
        adj = {r: [n for n in G.adj[r] if is_switch(G, n)] for r in routers}
        prefix = {h: f"{ip[h].rsplit('.', 1)[0]}.0/24" for h in hosts}
        t = ecmp_routes(routers, adj, hosts_of_edge, addr, prefix,
                        order=lambda ys: sorted(ys, key=natural_key))
        return {mn[r]: v for r, v in t.items()}
    nxt = {}
    for (s, d), path in all_pair_paths(G, hosts, routing).items():
        for a, b in zip(path[1:-2], path[2:-1]):
            prev = nxt.setdefault((a, d), b)
            if prev != b:
                raise RoutingError(f"{routing} sends flows to {d!r} from {a!r} via both {prev!r} "
                                   f"and {b!r}; destination-based routes cannot express that")
    for (a, d), b in sorted(nxt.items(), key=lambda kv: (natural_key(kv[0][0]),
                                                         natural_key(kv[0][1]))):
        table[mn[a]].append((f"{ip[d].rsplit('.', 1)[0]}.0/24", [addr[(a, b)]]))
    return dict(table)


def all_pair_paths(G, hosts, routing):
    """``{(src, dst): [node, ...]}`` of netemu's single-path ``routing`` for every connected
    host pair (failures may cut a fabric into pieces; a cut pair has no path to route)."""
    comp = _components(G)
    pairs = [(s, d) for s in hosts for d in hosts if s != d and comp[s] == comp[d]]
    routes = route(G, [p[0] for p in pairs], [p[1] for p in pairs], routing)
    return {p: routes_path(routes, i, p[0], p[1]) for i, p in enumerate(pairs)}


def _components(G):
    """``{node: index of its connected component}``."""
    import networkx as nx
    return {n: i for i, c in enumerate(nx.connected_components(G)) for n in c}


def split_disconnected(G, traffic):
    """The flows of ``traffic`` that ``G`` can carry, and the pairs it cannot.

    ``G`` is a fabric degraded by :func:`netemu.fail`.  Returns ``(runnable,
    disconnected)``: a :class:`~netemu.traffic.Traffic` of the flows whose
    ends are still connected (``None`` when there is none), each keeping the
    source port it had in ``traffic`` so that hashed ECMP sends it where it
    would have gone; and the ``(src, dst)`` names of the others, in flow order.
    A cut pair is reported, never run and never given a rate of zero.
    """
    comp = _components(G)
    pairs = traffic.pairs()
    keep = np.array([s in comp and d in comp and comp[s] == comp[d] for s, d in pairs],
                    dtype=bool)
    cut = [p for p, k in zip(pairs, keep.tolist()) if not k]
    if not cut:
        return traffic, []
    if not keep.any():
        return None, cut
    sport = (traffic.sport if traffic.sport is not None
             else DEFAULT_SPORT_BASE + np.arange(traffic.n_flows) % 16384)
    sizes = None if traffic.sizes is None else np.asarray(traffic.sizes)[keep]
    src, dst = np.asarray(traffic.src)[keep], np.asarray(traffic.dst)[keep]
    # Only the endpoints the kept flows use: a lost endpoint is not in the emulated graph.
    used = np.unique(np.concatenate([src, dst]))
    new = np.full(len(traffic.endpoints), -1, dtype=np.int64)
    new[used] = np.arange(used.size)
    runnable = Traffic([traffic.endpoints[i] for i in used.tolist()], new[src], new[dst],
                       sizes=sizes, sport=sport[keep],
                       name=f"{traffic.name}, {int(keep.sum())} connected pairs")
    return runnable, cut


def emulated_graph(G):
    """``G`` without the nodes failures left with no link (lost endpoints, bare switches):
    nothing to build for them, and a linkless host cannot be emulated."""
    H = G.subgraph([n for n in G if G.degree(n) > 0]).copy()
    H.graph.update(G.graph)
    return H


def routes_path(routes, flow, src, dst):
    """The node path of single-path flow ``flow`` of a :class:`~netemu.routing.Routes`."""
    res = routes.resources
    step = {}
    for r, share in routes.row_shares(int(routes.row_of_flow[flow])).items():
        if r < res.n_edge_resources:
            if abs(share - 1.0) > 1e-9:
                raise RoutingError(f"flow {src!r}->{dst!r} is split over several paths "
                                   f"(share {share:g}); the emulator needs one path per flow")
            step[res.nodes[res.edge_tail[r]]] = res.nodes[res.edge_head[r]]
    path = [src]
    while path[-1] != dst:
        if path[-1] not in step or len(path) > len(step) + 1:
            raise RoutingError(f"flow {src!r}->{dst!r}: its links do not form one path")
        path.append(step[path[-1]])
    return path


def ack_aware_rates(solution, ack_paths=None, ratio=ACK_RATIO):
    """Max-min rates of ``solution``'s flows when each also carries its ACKs back.

    A TCP flow at rate ``x`` (wire bytes/s) puts ``x`` on every link of its
    path and ``ratio * x`` on every link its ACKs cross; both loads grow with
    the one rate, so they are one flow with those shares in the exact
    max-min solve (:func:`netemu.flow.max_min_rates`).

    Parameters
    ----------
    solution : netemu.solution.Solution
        A solve of single-path flows (explicit paths, or d-mod-k).
    ack_paths : list of node lists, optional
        The path of flow ``i``'s ACKs, from its destination to its source;
        default each flow's own path reversed.  Under hashed ECMP the ACKs'
        5-tuple is hashed on its own, so the emulator passes the kernel's paths.
    ratio : float
        ACK wire bytes per data wire byte (default :data:`ACK_RATIO`).

    Returns
    -------
    numpy.ndarray
        Wire rate of every flow, bytes/s; never above the rate without ACKs.

    Examples
    --------
    Two hosts on one switch sending to each other: each host link direction
    carries one flow's data and the other's ACKs, so ``x (1 + ratio) = c``.

    >>> from netemu.graph import new_graph, add_link
    >>> from netemu.traffic import all_to_all
    >>> from netemu.solution import solve
    >>> G = new_graph("pair", {})
    >>> G.add_node("sw", role="switch")
    >>> for h in ("n0", "n1"):
    ...     G.add_node(h, role="host"); add_link(G, h, "sw", 1e9)
    >>> sol = solve(G, all_to_all(G), "dmodk")
    >>> (ack_aware_rates(sol, ratio=0.25) * 1.25).round(3).tolist()
    [1000000000.0, 1000000000.0]
    """
    from ..flow import max_min_rates
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ParameterError(f"ACK ratio must be a number in [0, 1), got {ratio!r}")
    routes = solution.routes
    res = routes.resources
    idx = res.node_index
    pairs = solution.traffic.pairs()
    if ack_paths is not None and len(ack_paths) != len(pairs):
        raise ParameterError(f"{len(ack_paths)} ACK paths for {len(pairs)} flows")
    flows = []
    for i, (s, d) in enumerate(pairs):
        shares = dict(routes.row_shares(int(routes.row_of_flow[i])))
        if ack_paths is None:
            back = [(int(res.edge_head[r]), int(res.edge_tail[r]), w)
                    for r, w in shares.items() if r < res.n_edge_resources]
        else:
            p = list(ack_paths[i])
            if p[0] != d or p[-1] != s:
                raise ParameterError(f"ACK path {p} of flow {s!r}->{d!r} must run from "
                                     f"{d!r} to {s!r}")
            back = [(idx[a], idx[b], 1.0) for a, b in zip(p, p[1:])]
        for a, b, w in back:
            try:
                r = res.edge_id(a, b)
            except KeyError:
                raise ParameterError(f"ACK path of flow {s!r}->{d!r} uses "
                                     f"{res.nodes[a]!r}-{res.nodes[b]!r}, not a link of the "
                                     f"graph") from None
            shares[r] = shares.get(r, 0.0) + ratio * w
        flows.append(shares)
    return max_min_rates(res.capacity, flows)


def packet_bytes(rate, offload):
    """Bytes per packet of TCP flows at ``rate`` (bytes/s, array): a frame, or a TSO packet."""
    rate = np.asarray(rate, dtype=float)
    if not offload:
        return np.full_like(rate, FRAME_BYTES)
    return np.clip(rate * TSO_PACING_RATIO * TSO_AUTOSIZE_S, TSO_MIN_SEGS * FRAME_BYTES,
                   TSO_MAX_BYTES)


def cpu_estimate(G, traffic, scale, offload, paths=None):
    """Forwarding work of a run against what this machine sustains faithfully.

    Returns ``(work, budget)`` in packets/s x links crossed: for every flow,
    its rate in the flow model (emulated, on hashed-ECMP paths unless
    ``paths`` are given) over its packet size (:func:`packet_bytes`) times
    the links it crosses, summed; and :data:`PACKET_HOP_BUDGET_PER_CORE` times
    the cores.
    """
    from ..solution import solve
    sol = solve(G, traffic, paths if paths is not None else "hash")
    fs = sol.routes.flowset
    hops = np.zeros(fs.n_flows)
    for row in range(fs.n_flows):
        hops[row] = sum(s for r, s in sol.routes.row_shares(row).items()
                        if r < sol.resources.n_edge_resources)
    rate = sol.rates * scale
    work = float(np.sum(rate / packet_bytes(rate, offload) * hops[sol.routes.row_of_flow]))
    return work, PACKET_HOP_BUDGET_PER_CORE[bool(offload)] * (os.cpu_count() or 1)


def check_can_emulate(G, traffic, scale, offload):
    """Raise :class:`ParameterError` when a run would be CPU-bound rather than link-bound."""
    work, budget = cpu_estimate(G, traffic, scale, offload)
    if work > budget:
        load = os.getloadavg()[0]
        raise ParameterError(
            f"{traffic.n_flows} flows need about {work / 1e3:.0f}k packets/s x links of "
            f"forwarding (rate / packet size x hops), above the {budget / 1e3:.0f}k this "
            f"machine's {os.cpu_count()} cores emulate faithfully with segmentation offload "
            f"{'on' if offload else 'off'} (load average now {load:.1f}); lower the scale, "
            f"use fewer flows, or force it")
    return work, budget


def _needs_root():
    if os.geteuid() != 0:
        raise EmulationError("the Mininet emulator needs root (it creates network namespaces "
                             "and links)")
    try:
        from . import clos  # noqa: F401
    except ImportError as exc:
        raise EmulationError(str(exc)) from None
    for tool in ("mnexec", "tc", "ip", "ethtool"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/sbin"]):
            raise EmulationError(f"{tool} not found: apt-get install mininet iproute2 ethtool")


class Emulation:
    """A running Mininet emulation of ``G``: ``with Emulation(G) as em: em.run(traffic)``.

    Parameters
    ----------
    G : networkx.Graph
    scale, routing, queue, offload
        See :func:`build_spec`.
    delay, loss
        Not supported (no netem here): anything but ``None`` raises
        :class:`ParameterError` rather than being ignored.

    Every exit path -- normal, exception, SIGINT, SIGTERM -- kills the
    processes started in the hosts, then stops the network.  Run it inside
    :func:`netemu.backends.sandbox.sandbox_command` so that even a SIGKILL
    leaves nothing behind.
    """

    def __init__(self, G, scale=1e-3, routing="hash", *, queue=None, offload=None,
                 delay=None, loss=None):
        if delay is not None or loss is not None:
            raise ParameterError(f"delay={delay!r}, loss={loss!r}: the emulator cannot add "
                                 f"delay or loss (this kernel has no netem); allowed: None")
        self.G = G
        self.current = G
        self.spec = build_spec(G, scale, routing, queue=queue, offload=offload)
        self.scale = self.spec["scale"]
        self.routing = routing
        self.net = None
        self.timings = {}
        self._old_handlers = {}
        self._procs = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        _needs_root()
        from mininet.log import setLogLevel
        from mininet.net import Mininet

        from .clos import ClosTopo, EmuHost, HTBLink, Router
        setLogLevel(os.environ.get("NETEMU_MININET_LOG", "warning"))
        self._install_handlers()
        t = time.monotonic()
        topo = ClosTopo(spec=self.spec)
        self.net = Mininet(topo=topo, controller=None, switch=Router, host=EmuHost,
                           link=HTBLink, build=False, autoSetMacs=True)
        try:
            self.net.build()
            self.timings["build"] = time.monotonic() - t
            t = time.monotonic()
            self.net.start()
            self.timings["start"] = time.monotonic() - t
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Kill what runs in the hosts, stop the network; safe to call twice.

        SIGINT, SIGTERM and SIGHUP are held off while it runs: a second Ctrl-C must not cut
        the teardown short.  A build interrupted half-way leaves a node shell waiting for a
        command's output, which Mininet's ``net.stop()`` refuses (an AssertionError); those
        shells are resynchronised first, and a node that cannot be is killed, which takes its
        namespace and links with it.
        """
        net, self.net = self.net, None
        held = hold_interrupts() if net is not None else {}
        try:
            if net is not None:
                t = time.monotonic()
                for p in self._procs:
                    _kill(p)
                self._procs = []
                _kill_namespace_procs(net)
                nodes = net.hosts + net.switches + net.controllers
                for node in nodes:
                    _resync(node)
                try:
                    net.stop()
                except Exception:
                    # Mininet's stop is all or nothing; what it left, ending each node's
                    # shell ends (its namespace goes with its last process).
                    for node in nodes:
                        _end_node(node)
                self.timings["stop"] = time.monotonic() - t
        finally:
            for sig, h in held.items():
                signal.signal(sig, h)
            self._restore_handlers()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _install_handlers(self):
        self._old_handlers.update(install_interrupt_handlers())

    def _restore_handlers(self):
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        self._old_handlers = {}

    # -- access ------------------------------------------------------------------------------
    def node(self, name):
        """The Mininet node of netemu node ``name``."""
        self._running()
        return self.net[self.spec["mn"][name]]

    def ip(self, host):
        return self.spec["ip"][host]

    def _running(self):
        if self.net is None:
            raise EmulationError("the emulation is not running; use it inside 'with'")

    def ping_all(self, timeout=1):
        """Packet loss in percent over all host pairs."""
        self._running()
        return self.net.ping(self.net.hosts, timeout=timeout)

    # -- paths -------------------------------------------------------------------------------
    def kernel_paths(self, flows, proto="tcp", dport=DPORT):
        """Paths the kernels choose for ``flows = [(src, dst, sport), ...]`` (netemu names).

        An entry ``(src, dst, sport, dport)`` gives its own destination port
        (the ACKs of a flow: ``(dst, src, DPORT, sport)``).

        Asks every router on the way ``ip route get`` with the flow's full
        5-tuple and its input device, which evaluates the multipath hash the
        forwarding path uses.
        """
        self._running()
        hosts, routers, edge_of = self.spec["layout"]
        mn, peer = self.spec["mn"], self.spec["peer"]
        out = {}
        # Every flow advances one hop per round; each router answers one batch per round.
        state = {}
        flows = [tuple(f) if len(f) == 4 else (*f, dport) for f in flows]
        for i, (s, d, sport, _dp) in enumerate(flows):
            e = edge_of[s]
            state[i] = [s, e, self._intf_towards(e, s)]
        paths = {i: [s, edge_of[s]] for i, (s, _d, _p, _dp) in enumerate(flows)}
        for _round in range(len(routers) + 1):
            by_router = defaultdict(list)
            for i, (prev, r, iif) in state.items():
                s, d, sport, dp = flows[i]
                if r == edge_of[d]:
                    continue
                by_router[r].append((i, f"route get {self.ip(d)} from {self.ip(s)} iif {iif} "
                                        f"ipproto {proto} sport {sport} dport {dp}"))
            if not by_router:
                break
            for r, items in by_router.items():
                node = self.net[mn[r]]
                with tempfile.NamedTemporaryFile("w", suffix=".ip", delete=False) as f:
                    f.write("\n".join(c for _i, c in items) + "\n")
                try:
                    lines = node.cmd(f"ip -o -batch {f.name}").splitlines()
                finally:
                    os.unlink(f.name)
                lines = [ln for ln in lines if " via " in ln or "dev " in ln]
                if len(lines) != len(items):
                    raise EmulationError(f"{r}: ip route get answered {len(lines)} lines for "
                                         f"{len(items)} flows: {lines[:3]}")
                for (i, _c), ln in zip(items, lines):
                    toks = ln.split()
                    if "via" not in toks:
                        raise EmulationError(f"{r}: no next hop towards "
                                             f"{flows[i][1]!r}: {ln.strip()}")
                    via = toks[toks.index("via") + 1]
                    nxt = peer[(mn[r], via)]
                    paths[i].append(nxt)
                    state[i] = [r, nxt, self._intf_towards(nxt, r)]
        for i, (s, d, _sport, _dp) in enumerate(flows):
            if paths[i][-1] != edge_of[d]:
                raise EmulationError(f"flow {s!r}->{d!r} did not reach {edge_of[d]!r}: "
                                     f"{paths[i]}")
            out[i] = paths[i] + [d]
        return [out[i] for i in range(len(flows))]

    def _intf_towards(self, node, neighbour):
        """Name of ``node``'s interface on its link to ``neighbour`` (netemu names)."""
        a, b = self.net[self.spec["mn"][node]], self.net[self.spec["mn"][neighbour]]
        cache = self.__dict__.setdefault("_intf_cache", {})
        key = (a.name, b.name)
        if key not in cache:
            for intf in a.intfList():
                link = intf.link
                if link and (link.intf1.node is b or link.intf2.node is b):
                    cache[key] = intf.name
                    break
            else:
                raise EmulationError(f"{node!r} has no link to {neighbour!r}")
        return cache[key]

    # -- links -------------------------------------------------------------------------------
    def set_link(self, u, v, up):
        """Take link ``u-v`` down (or back up) mid-run and reinstall routes for the result.

        The routes are recomputed by netemu's routing on the degraded graph
        (the original graph minus every link that is down), so both backends
        keep using the same paths.  Returns the graph now in force.
        """
        self._running()
        if not self.G.has_edge(u, v):
            raise ParameterError(f"{u!r}-{v!r} is not a link of the graph")
        if not (is_switch(self.G, u) and is_switch(self.G, v)):
            raise ParameterError(f"{u!r}-{v!r} is a host link; only switch-to-switch links "
                                 f"can fail without disconnecting a host")
        state = "up" if up else "down"
        for a, b in ((u, v), (v, u)):
            node = self.net[self.spec["mn"][a]]
            from .clos import _checked
            _checked(node, f"ip link set dev {self._intf_towards(a, b)} {state}")
        H = self.current.copy()
        rec = dict(H.graph.get("failures") or {})
        failed = [x for x in rec.get("failed_links", []) if x not in (f"{u}--{v}", f"{v}--{u}")]
        if up:
            H.add_edge(u, v, **self.G.edges[u, v])
        else:
            H.remove_edge(u, v)
            failed.append(f"{u}--{v}")
        # The record marks H as degraded, so that the flow model accepts it even when the
        # link was the last one joining two parts (each part's pairs are then run on their
        # own, the cut ones listed by the caller).
        rec["failed_links"] = failed
        rec.setdefault("lost_endpoints", [])
        if failed or self.G.graph.get("failures"):
            H.graph["failures"] = rec
        else:
            H.graph.pop("failures", None)
        hosts, routers, edge_of = self.spec["layout"]
        addr = {}
        for (r, ip), nb in self.spec["peer"].items():
            addr[(self.spec["nx"][r], nb)] = ip
        table = _routes(H, hosts, routers, edge_of, addr, self.routing, self.spec["mn"],
                        self.spec["ip"])
        for r in routers:
            self.net[self.spec["mn"][r]].set_routes(table.get(self.spec["mn"][r], []))
        self.spec["routes"] = table
        self.current = H
        return H

    # -- traffic -----------------------------------------------------------------------------
    def run(self, traffic, duration=10.0, warmup=2.0, *, force=False, cc="cubic",
            count_acks=False):
        """Run ``traffic`` as bulk TCP flows; per-flow goodput beside the flow model's.

        Parameters
        ----------
        traffic : Traffic
            Each (source, destination) pair at most once.  Sizes are ignored:
            flows are long-lived, and the result is their steady-state goodput.
        duration, warmup : float
            Measured seconds, after ``warmup`` seconds of slow start.
        force : bool
            Run even when :func:`check_can_emulate` says the CPU, not the
            links, would decide the result.
        cc : str
            TCP congestion control per socket ('cubic'; 'reno').
        count_acks : bool
            Charge every flow's ACKs (:data:`ACK_RATIO` of its rate) on the
            links the kernels send them over, in the prediction
            (:func:`ack_aware_rates`).

        Returns
        -------
        EmulationResult
        """
        from ..solution import solve
        self._running()
        if not isinstance(traffic, Traffic):
            raise ParameterError(f"traffic must be a netemu.traffic.Traffic, got "
                                 f"{type(traffic).__name__}")
        traffic.check(self.current)
        for name, x, lo in (("duration", duration, 1.0), ("warmup", warmup, 0.0)):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not x >= lo \
                    or x > 3600:
                raise ParameterError(f"{name} must be seconds in [{lo:g}, 3600], got {x!r}")
        pairs = traffic.pairs()
        if len(set(pairs)) != len(pairs):
            dup = next(p for i, p in enumerate(pairs) if p in pairs[:i])
            raise ParameterError(f"flow {dup[0]!r}->{dup[1]!r} appears twice; the emulator "
                                 f"runs each host pair once")
        sports = (traffic.sport if traffic.sport is not None else
                  DEFAULT_SPORT_BASE + np.arange(traffic.n_flows) % 16384).tolist()
        if not force:
            check_can_emulate(self.current, traffic, self.scale, self.spec["offload"])
        flows = [(s, d, int(p)) for (s, d), p in zip(pairs, sports)]
        paths = self.kernel_paths(flows)
        path_map = {(s, d): p for (s, d, _), p in zip(flows, paths)}
        predicted = solve(self.current, traffic, path_map)
        with_acks = None
        if count_acks:
            ack_paths = self.kernel_paths([(d, s, DPORT, p) for s, d, p in flows])
            with_acks = ack_aware_rates(predicted, ack_paths)
        load0 = os.getloadavg()
        raw = self._drive(flows, duration, warmup, cc)
        measured_rates = np.array([raw[i] for i in range(len(flows))], dtype=float) \
            / duration / self.scale
        return EmulationResult(traffic, predicted, measured_rates, paths, sports, self,
                               duration, warmup, (load0, os.getloadavg()), with_acks)

    def _drive(self, flows, duration, warmup, cc):
        hosts = sorted({s for s, _d, _p in flows} | {d for _s, d, _p in flows}, key=natural_key)
        specs = {h: {"listen": None, "flows": [], "warmup": warmup, "duration": duration,
                     "cc": cc} for h in hosts}
        for i, (s, d, sport) in enumerate(flows):
            specs[d]["listen"] = [self.ip(d), DPORT]
            specs[s]["flows"].append([i, self.ip(d), DPORT, sport])
        # Time for every agent to start and bind before the first connect.
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC) + 1.0 + 0.1 * len(hosts)
        procs = {}
        try:
            for h in hosts:
                specs[h]["t0"] = t0
                p = self.node(h).popen([sys.executable, "-P", AGENT, json.dumps(specs[h])],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                procs[h] = p
                self._procs.append(p)
            limit = t0 - time.clock_gettime(time.CLOCK_MONOTONIC) + warmup + duration + 30
            outs = {}
            for h, p in procs.items():
                try:
                    out, err = p.communicate(timeout=max(1.0, limit))
                except subprocess.TimeoutExpired:
                    raise EmulationError(f"traffic agent in {h!r} did not finish in time") \
                        from None
                if p.returncode != 0 or not out.strip():
                    raise EmulationError(f"traffic agent in {h!r} failed: "
                                         f"{err.decode(errors='replace').strip()[-500:]}")
                outs[h] = json.loads(out.decode().strip().splitlines()[-1])
        finally:
            for p in procs.values():
                _kill(p)
            self._procs = [p for p in self._procs if p not in procs.values()]
        errors = [e for o in outs.values() for e in o["errors"]]
        if errors:
            raise EmulationError(f"{len(errors)} traffic error(s): {'; '.join(errors[:3])}")
        got = {}
        for i, (s, d, sport) in enumerate(flows):
            got[i] = outs[d]["received"].get(f"{self.ip(s)}:{sport}")
            if got[i] is None:
                raise EmulationError(f"flow {s!r}->{d!r} (port {sport}) never arrived")
        return got

    # -- capture and lab ---------------------------------------------------------------------
    @contextmanager
    def capture(self, host, path, bpf=""):
        """tcpdump on ``host``'s link while the block runs; a pcap for scapy or Wireshark.

        Returns once tcpdump captures and yields a :class:`~netemu.backends.pcap.Capture`;
        on leaving, waits until the file stops growing, so packets still in flight when the
        block ends are written too, then stops tcpdump and fills in the capture's ``stats``:
        tcpdump's own count of the packets the kernel dropped because the capture could not
        keep up, which the caller must report (the file is then incomplete).
        """
        from . import pcap
        self._running()
        node = self.node(host)
        cap = pcap.Capture(path)
        p = pcap.start(node, node.defaultIntf().name, path, bpf.split())
        self._procs.append(p)
        try:
            yield cap
        finally:
            try:
                pcap.settle([path])
            finally:
                cap.stats = pcap.stop(p)
                if p in self._procs:
                    self._procs.remove(p)

    def cli(self):
        """Mininet's interactive CLI on the running network."""
        self._running()
        from mininet.cli import CLI
        from mininet.log import LEVELS, lg, setLogLevel
        # Mininet prints what a CLI command answers (pingall, `h0 ip addr`) at its 'output'
        # level; the runs' default 'warning' level would leave the lab session mute.
        old = lg.level, lg.handlers[0].level
        if lg.getEffectiveLevel() > LEVELS["output"]:
            setLogLevel("output")
        # In the lab session Ctrl-C belongs to Mininet's CLI (it stops the command running in
        # a node and returns to the prompt), not to the one-shot teardown handler.
        held = {}
        import threading
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            held[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            CLI(self.net)
        finally:
            for sig, h in held.items():
                signal.signal(sig, h)
            lg.setLevel(old[0])
            lg.handlers[0].setLevel(old[1])


class EmulationResult:
    """Measured goodput of an emulated run beside the flow model's, per flow and in total.

    Attributes
    ----------
    measured, predicted : netemu.solution.Solution
        ``measured`` has the solver's type, with the measured per-flow goodput
        (scaled back to the graph's units, bytes/s) as ``rates``; ``predicted``
        is :func:`netemu.solve` on the kernel-read paths (data only).
    predicted_rates : ndarray
        The predicted goodput per flow: the flow model's wire rate (with ACK
        load when counted) times :data:`TCP_GOODPUT`.
    acks_counted : bool
    predicted_without_acks : ndarray
        ``predicted.rates * TCP_GOODPUT``, for comparison when ACKs are counted.
    paths : list of node lists
    error : float
        (measured - predicted) / predicted of the aggregate.
    """

    def __init__(self, traffic, predicted, measured_rates, paths, sports, em, duration, warmup,
                 load, with_acks=None):
        from ..solution import Solution
        self.traffic = traffic
        self.predicted = predicted
        self.predicted_without_acks = predicted.rates * TCP_GOODPUT
        self.acks_counted = with_acks is not None
        self.predicted_rates = (np.asarray(with_acks) * TCP_GOODPUT if self.acks_counted
                                else self.predicted_without_acks)
        routes = predicted.routes
        counts = routes.flowset.counts
        row_sum = np.bincount(routes.row_of_flow, weights=measured_rates,
                              minlength=counts.size)
        self.measured = Solution(traffic, routes, row_sum / counts, graph=predicted.graph)
        self.measured.rates = np.asarray(measured_rates, dtype=float)
        self.measured_rates = self.measured.rates
        self.paths = paths
        self.sports = sports
        self.scale = em.scale
        self.routing = em.routing
        self.offload = em.spec["offload"]
        self.duration, self.warmup = duration, warmup
        self.load = load
        self.aggregate_measured = float(self.measured_rates.sum())
        self.aggregate_predicted = float(self.predicted_rates.sum())
        self.error = (self.aggregate_measured - self.aggregate_predicted) / self.aggregate_predicted
        self.aggregate_without_acks = float(self.predicted_without_acks.sum())
        self.error_without_acks = (self.aggregate_measured - self.aggregate_without_acks) \
            / self.aggregate_without_acks

    def flow_table(self):
        return [{"src": str(s), "dst": str(d), "sport": int(p), "path": [str(x) for x in path],
                 "measured_bps": float(m * 8), "predicted_bps": float(q * 8)}
                for (s, d), p, path, m, q in zip(self.traffic.pairs(), self.sports, self.paths,
                                                 self.measured_rates, self.predicted_rates)]

    def to_json(self):
        rel = np.abs(self.measured_rates - self.predicted_rates) / self.predicted_rates
        return {
            "traffic": self.traffic.name,
            "routing": self.routing,
            "scale": self.scale,
            "offload": self.offload,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "tcp_goodput_factor": TCP_GOODPUT,
            "acks_counted": self.acks_counted,
            "ack_ratio": ACK_RATIO if self.acks_counted else None,
            "load_average": [self.load[0][0], self.load[1][0]],
            "flows": self.flow_table(),
            "aggregate": {"measured_bps": self.aggregate_measured * 8,
                          "predicted_bps": self.aggregate_predicted * 8,
                          "error": self.error,
                          "mean_abs_flow_error": float(rel.mean()),
                          **({"predicted_without_acks_bps": self.aggregate_without_acks * 8,
                              "error_without_acks": self.error_without_acks}
                             if self.acks_counted else {})},
        }

    def __repr__(self):
        return (f"<EmulationResult {self.traffic.n_flows} flows: measured "
                f"{self.aggregate_measured * 8 / 1e9:.4g} Gb/s, predicted "
                f"{self.aggregate_predicted * 8 / 1e9:.4g} Gb/s ({100 * self.error:+.1f}%)>")


#: Signals that end a run: each interrupts it once, then is absorbed until the teardown is done.
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _absorb(_signum, _frame):
    """A Python no-op handler, not SIG_IGN: a signal already pending when a handler switches
    to it runs this quietly (CPython reports one switched to SIG_IGN as a 'race condition')."""


def _interrupt_once(signum, _frame):
    """Interrupt the run once (KeyboardInterrupt for SIGINT, SystemExit(128 + n) for SIGTERM
    and SIGHUP), absorbing every further interrupt: a terminal's Ctrl-C and the starter's
    relayed SIGTERM may both arrive, and the second must not break the teardown the first
    started."""
    for sig in INTERRUPT_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _absorb)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def install_interrupt_handlers():
    """Make SIGINT, SIGTERM and SIGHUP interrupt this process once (SIGINT stays ignored if it
    is); the previous handlers.  Only the main thread may set handlers: elsewhere a no-op."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return {}
    old = {}
    for sig in INTERRUPT_SIGNALS:
        if sig == signal.SIGINT and signal.getsignal(sig) is signal.SIG_IGN:
            continue
        old[sig] = signal.signal(sig, _interrupt_once)
    return old


def hold_interrupts():
    """Absorb SIGINT, SIGTERM and SIGHUP (those not ignored); the previous handlers."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _absorb) for sig in INTERRUPT_SIGNALS
            if signal.getsignal(sig) is not signal.SIG_IGN}


#: How long a node shell interrupted mid-command may take to print its sentinel (s).
RESYNC_TIMEOUT = 5.0


def _resync(node, timeout=RESYNC_TIMEOUT):
    """Bring a Mininet node shell that was interrupted mid-command back to its prompt.

    Mininet's ``cmd`` sets ``node.waiting`` until the command's sentinel (chr 127) arrives;
    an exception in between leaves it set, and every later ``cmd`` (the teardown's) fails an
    assertion.  Reads the pending output without blocking -- Mininet's own ``monitor`` was
    seen blocking in a read here -- after a Ctrl-C to the shell if the sentinel has not come
    within half the time; a shell that still does not answer is ended.
    """
    if not getattr(node, "waiting", False) or getattr(node, "shell", None) is None:
        return
    import select
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        fd = node.stdout.fileno()
        seen = "\x7f" in node.readbuf
        while not seen:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not interrupted and left < timeout / 2:
                node.sendInt()
                interrupted = True
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                os.set_blocking(fd, False)
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    chunk = b""
                finally:
                    os.set_blocking(fd, True)
                if not chunk:
                    time.sleep(0.05)
                seen = b"\x7f" in chunk
        if seen:
            node.readbuf = ""
            node.waiting = False
    except Exception:
        pass
    if node.waiting:
        _end_node(node)


def _end_node(node):
    """End a node's shell (and with it the node's namespace, once its processes are gone)."""
    try:
        node.terminate()
    except Exception:
        shell = getattr(node, "shell", None)
        if shell is not None:
            _kill(shell)
    node.waiting = False


def _kill(p):
    try:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=5)
    except Exception:   # already gone, or unkillable: nothing more to do here
        pass


def _kill_namespace_procs(net, sig=signal.SIGKILL):
    """Kill every process in the nodes' namespaces except their shells.

    ``node.popen`` processes run in a new session and survive ``net.stop()``,
    holding their namespace and its links alive.
    """
    nodes = net.hosts + net.switches
    shells = {n.pid for n in nodes if getattr(n, "pid", None)}
    nss = set()
    for n in nodes:
        try:
            nss.add(os.readlink(f"/proc/{n.pid}/ns/net"))
        except (OSError, TypeError):
            pass
    nss.discard(os.readlink("/proc/self/ns/net"))    # never our own namespace
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(d) not in shells and os.readlink(f"/proc/{d}/ns/net") in nss:
                os.kill(int(d), sig)
        except OSError:
            pass
