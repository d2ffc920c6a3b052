"""Servers: the inside of one GPU node as a netemu graph.

Three node designs that the reproduced papers run on or compare against:

- :func:`pcie_a100_server` — the Fire-Flyer 2 node ([FF] §III-A, Fig. 4, §IV-D): eight PCIe
  A100 directly on the root ports of two EPYC sockets, no PCIe switch, GPU5 and GPU6 sharing a
  root port, one 200 Gb/s ConnectX-6 on its own root port, optional NVLink bridges per GPU pair.
- :func:`h800_server` — the DeepSeek-V3 H800 node ([ISCA] §4.1, §4.3, Fig. 2): eight H800 on
  NVSwitch, eight 400 Gb/s ConnectX-7, each behind a PCIe switch shared with one GPU, one 400G
  storage NIC.
- :func:`dgx_a100_server` — the DGX-A100 that [FF] compares against (Table I): eight SXM A100 on
  six NVSwitches, eight compute HDR NICs behind four PCIe switches, one storage NIC.

Every figure comes from :mod:`topologies.hardware`, with its source beside it; builders take
parameters only for figures marked UNCONFIRMED there.

Naming and attributes
---------------------
Nodes are named ``<server>/<kind><index>``: ``n17/gpu3``, ``n17/cpu0``, ``n17/memory0``,
``n17/rp5`` (root port), ``n17/pcie_switch1``, ``n17/nvswitch0``, ``n17/nic0`` (compute NICs,
rail/plane order) and ``n17/storage_nic0``.  Every node carries ``role``, ``server`` (the
``name`` the builder got: a string, or an int when given an int), ``index`` and, where it
belongs to one, ``socket``.  NICs carry ``kind`` (``'compute'`` or ``'storage'``), ``line_rate``
(bytes/s per direction of their fabric port) and ``port_medium``, so that a cluster builder can
cable :func:`server_nics` ``[i]`` to plane or rail ``i``.

Modelling decisions
-------------------
- **Edge bandwidth is per direction**, as everywhere in netemu.  NVIDIA quotes NVLink as both
  directions summed ("600 GB/s" for A100, "400 GB/s" for H800), so an NVLink edge carries half
  of the quoted figure.  For H800 the edge is the nominal 200 GB/s; the ~160 GB/s that [ISCA]
  §4.3 calls achievable is a practical ceiling, offered as ``nvlink_bandwidth`` for what-if runs,
  never the default.
- **NVSwitch** is one ``nvswitch`` node per server by default: a non-blocking crossbar whose
  GPU edges carry each GPU's whole NVLink bandwidth, so single-path routing sees the full
  GPU-to-GPU rate.  ``nvswitch_chips=True`` builds one node per chip instead, with each GPU's
  bandwidth split evenly over them; only a router that sprays over all chips gets the full rate.
- **Host memory** is one ``memory`` node per socket whose ``capacity`` is the catalogue's host
  memory bandwidth divided by the number of sockets (each socket owns half the channels).  The
  node capacity counts reads and writes alike, which is what HFReduce needs: it charges host
  memory about 24 times per reduced byte ([FF] §IV-D3), as shares of a flow on these nodes.
  Per socket, not one node, because [FF] §IV-D1 binds buffers to NUMA nodes.
- **Root ports** (Fire-Flyer node only) are ``root_port`` nodes; the root-port -> CPU limit
  ([FF] §IV-D, ~37.5 GB/s) is the bandwidth of each root port's uplink edge.  It binds only on
  the port GPU5 and GPU6 share.  "Lower if bidirectional" has no figure; by default
  (``shared_root_port=True``) the shared port's node ``capacity`` is its uplink bandwidth, one
  budget for both directions, the bound the sentence allows.  On the switch-based servers the
  switch uplink is the root port, so no node stands for it.
- **GPU <-> NIC peer-to-peer limit** of Rome ([FF] §IV-D, ~9 GiB/s, no "chained write"): the
  Fire-Flyer NIC carries ``p2p_bandwidth``.  It caps direct DMA between any GPU of the server and
  that NIC (GPUDirect RDMA) taken together, a resource only such flows use; traffic staged
  through host memory does not touch it.  :func:`p2p_limit` reads it.  Each direction has
  its own budget by default; with ``shared_p2p=True`` the NIC's ``p2p_shared`` makes both
  directions draw on one (the reading that bidirectional transfers lower it further).  Switch-based servers
  have none: their GPU-NIC DMA turns around in the PCIe switch.
- **CPU reduce throughput**: every ``cpu`` node carries ``reduce_bandwidth``, the bytes of
  input per second its SIMD units can sum (an UNCONFIRMED upper bound from the catalogue);
  HFReduce charges it as a resource.
- **Latency** is 0 on every internal edge: no sourced figure exists here, and the alpha term of
  a transfer is dominated by the fabric.

References
----------
.. [FF] An et al., "Fire-Flyer AI-HPC: A Cost-Effective Software-Hardware Co-Design for Deep
   Learning", SC'24, arXiv:2408.14158.
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3: Scaling Challenges and Reflections on
   Hardware for AI Architectures", ISCA '25, arXiv:2505.09343.
"""

import numbers
import os
import re

from netemu.checks import check_positive
from netemu.errors import ParameterError
from netemu.graph import add_link, new_graph, validate

from .hardware import (A100_PCIE, A100_PCIE_NIC_SOCKET, DGX_A100, H800_HOST, H800_SXM, PCIE4_X16,
                       ROME_7742_REDUCE, ROME_32C_REDUCE, ROME_XGMI, SPR_56C_REDUCE)

__all__ = [
    "pcie_a100_server", "h800_server", "dgx_a100_server", "scale_up_domain",
    "server_gpus", "server_nics", "p2p_limit", "draw_server", "limit_shared_root_ports",
]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_NIC_KINDS = ("compute", "storage", "all")


# --- builders --------------------------------------------------------------------------------

def pcie_a100_server(name="n0", *, nvlink_bridges=True, socket_link_bandwidth=None,
                     shared_root_port=A100_PCIE.shared_root_port_one_budget,
                     shared_p2p=A100_PCIE.gpu_nic_p2p_one_budget):
    """The Fire-Flyer 2 PCIe A100 node ([FF] §III-A, Fig. 4, §IV-D).

    Two EPYC sockets joined by Infinity Fabric, each with its share of host memory.  GPU0-3 hang
    off root ports of ``cpu0``, GPU4-7 off ``cpu1``, with no PCIe switch; GPU5 and GPU6 share
    root port ``rp5``.  The 200 Gb/s ConnectX-6 has its own root port ``rp7`` on ``cpu1``, so
    GPU0-3 cross the socket link to reach it.  NVLink bridges join GPUs (0,1) (2,3) (4,5) (6,7).

    Parameters
    ----------
    name : str or int, default 'n0'
        Server name, the prefix of every node name.  An int ``k`` names the server ``f'n{k}'``.
    nvlink_bridges : bool, default True
        Add the NVLink bridge of each GPU pair (added later for LLMs, [FF] §III-A).
    socket_link_bandwidth : float, optional
        Bytes/s per direction of the socket-to-socket link; the default is the catalogue's
        ``ROME_XGMI``, which is UNCONFIRMED.
    shared_root_port : bool, default True
        Make the root port GPU5 and GPU6 share one budget for both directions ([FF] §IV-D:
        "about 37 GB/s total; lower if bidirectional"): the port node's ``capacity`` is its
        uplink bandwidth.  The default is ``A100_PCIE.shared_root_port_one_budget``: the
        hardware has it.  False leaves only the uplink edge, 37.5 GB/s each way.
    shared_p2p : bool, default False
        Make GPU<->NIC peer-to-peer DMA one budget for both directions (the reading of [FF]
        §IV-D2 that bidirectional transfers lower the ~9 GiB/s further): the NIC carries
        ``p2p_shared=True`` and the path model charges GPU->NIC and NIC->GPU DMA to one
        resource.  The default, ``A100_PCIE.gpu_nic_p2p_one_budget``, gives each direction its
        own 9 GiB/s (why: see that field in :mod:`topologies.hardware`).

    Returns
    -------
    networkx.Graph
        A validated server graph (see the module notes for what nodes and edges mean).

    Raises
    ------
    ParameterError
        If ``name`` is not a valid server name or a parameter is out of range.

    Examples
    --------
    >>> G = pcie_a100_server("n17")
    >>> server_gpus(G)[:2], server_nics(G)
    (['n17/gpu0', 'n17/gpu1'], ['n17/nic0'])
    >>> sorted(n for n in G["n17/rp5"] if G.nodes[n]["role"] == "gpu")
    ['n17/gpu5', 'n17/gpu6']
    >>> G.edges["n17/gpu0", "n17/gpu1"]["medium"]
    'nvlink'
    >>> pcie_a100_server(nvlink_bridges=False).has_edge("n0/gpu0", "n0/gpu1")
    False
    >>> p2p_limit(G, "n17/gpu0", "n17/nic0") == A100_PCIE.gpu_nic_p2p
    True
    >>> G.nodes["n17/rp5"]["capacity"] == A100_PCIE.root_port_to_cpu, G.nodes["n17/nic0"]["p2p_shared"]
    (True, False)
    >>> "capacity" in pcie_a100_server(shared_root_port=False).nodes["n0/rp5"]
    False
    """
    prefix, server = _server_name(name)
    nvlink_bridges = _check_bool("nvlink_bridges", nvlink_bridges)
    hw = A100_PCIE
    shared_root_port = _check_bool("shared_root_port", shared_root_port)
    shared_p2p = _check_bool("shared_p2p", shared_p2p)
    sockets = hw.gpus_per_server // hw.gpus_per_socket
    socket_bw = _bandwidth("socket_link_bandwidth", socket_link_bandwidth, ROME_XGMI)
    b = _Builder("pcie_a100_server", prefix, server, dict(
        name=name, nvlink_bridges=nvlink_bridges, socket_link_bandwidth=socket_link_bandwidth,
        shared_root_port=shared_root_port, shared_p2p=shared_p2p))
    cpus = b.host(sockets, hw.host_memory, socket_bw, ROME_XGMI.medium, ROME_32C_REDUCE)

    # Root ports in GPU order; the GPUs named in the catalogue share one ([FF] Fig. 4).
    shared_rp = None
    for i in range(hw.gpus_per_server):
        socket = i // hw.gpus_per_socket
        if i in hw.shared_root_port_gpus and shared_rp is not None:
            rp = shared_rp
        else:
            rp = b.root_port(socket, cpus[socket], hw.root_port_to_cpu)
            if i in hw.shared_root_port_gpus:
                shared_rp = rp
        gpu = b.gpu(i, socket, "A100-PCIe-40GB")
        add_link(b.G, gpu, rp, hw.pcie_gpu_to_cpu, medium="pcie")

    nic_rp = b.root_port(A100_PCIE_NIC_SOCKET, cpus[A100_PCIE_NIC_SOCKET], hw.root_port_to_cpu)
    nic = b.nic(0, A100_PCIE_NIC_SOCKET, hw.nic, "compute", p2p_bandwidth=hw.gpu_nic_p2p,
                p2p_shared=shared_p2p)
    add_link(b.G, nic, nic_rp, PCIE4_X16.bandwidth, medium=PCIE4_X16.medium)

    if nvlink_bridges:
        for a, c in hw.nvlink_pairs:
            add_link(b.G, b.name("gpu", a), b.name("gpu", c), _per_direction(hw.nvlink_bridge),
                     medium="nvlink")
    if shared_root_port:
        limit_shared_root_ports(b.G)
    return b.done()


def h800_server(name="n0", *, nvlink_bandwidth=None, nvswitch_chips=False, host_memory=None,
                socket_link_bandwidth=None):
    """The DeepSeek-V3 H800 node ([ISCA] §4.1, §4.3, §5.1, Fig. 2).

    Eight H800 on an NVSwitch fabric; eight 400 Gb/s ConnectX-7, NIC ``i`` sharing PCIe switch
    ``i`` with GPU ``i`` so that GPU-NIC traffic never reaches a CPU; one 400G storage NIC on a
    root port of ``cpu0``; two sockets with host memory.  The PCIe tree, CPUs and memory are not
    in [ISCA]; their catalogue figures (``H800_HOST``) are UNCONFIRMED.

    Parameters
    ----------
    name : str or int, default 'n0'
        Server name, the prefix of every node name.  An int ``k`` names the server ``f'n{k}'``.
    nvlink_bandwidth : float, optional
        Bytes/s per direction between a GPU and the NVSwitch fabric.  Default: the nominal
        ``H800_SXM.nvlink_unidirectional`` (200 GB/s, half the quoted 400 GB/s).  Pass
        ``H800_SXM.nvlink_achievable`` to model the ~160 GB/s of [ISCA] §4.3.
    nvswitch_chips : bool, default False
        One node per NVSwitch chip (bandwidth split evenly) instead of one fabric node.
    host_memory : float, optional
        Host memory bandwidth of the whole server in bytes/s; default ``H800_HOST.host_memory``
        (UNCONFIRMED).
    socket_link_bandwidth : float, optional
        Bytes/s per direction between the sockets; default ``H800_HOST.socket_link``
        (UNCONFIRMED).

    Returns
    -------
    networkx.Graph

    Raises
    ------
    ParameterError
        If ``name`` is not a valid server name or a parameter is out of range.

    Examples
    --------
    >>> G = h800_server(3)
    >>> server_nics(G)[:2], server_nics(G, kind="storage")
    (['n3/nic0', 'n3/nic1'], ['n3/storage_nic0'])
    >>> import networkx as nx
    >>> nx.shortest_path(G, "n3/gpu5", "n3/nic5")
    ['n3/gpu5', 'n3/pcie_switch5', 'n3/nic5']
    >>> G.edges["n3/gpu0", "n3/nvswitch0"]["bandwidth"] == H800_SXM.nvlink_unidirectional
    True
    >>> len(server_nics(h800_server(nvswitch_chips=True)))
    8
    """
    prefix, server = _server_name(name)
    hw, host = H800_SXM, H800_HOST
    nv_bw = _bandwidth("nvlink_bandwidth", nvlink_bandwidth, hw.nvlink_unidirectional)
    nvswitch_chips = _check_bool("nvswitch_chips", nvswitch_chips)
    memory_bw = _bandwidth("host_memory", host_memory, host.host_memory)
    socket_bw = _bandwidth("socket_link_bandwidth", socket_link_bandwidth, host.socket_link)
    b = _Builder("h800_server", prefix, server, dict(
        name=name, nvlink_bandwidth=nvlink_bandwidth, nvswitch_chips=nvswitch_chips,
        host_memory=host_memory, socket_link_bandwidth=socket_link_bandwidth))
    cpus = b.host(host.sockets, memory_bw, socket_bw, host.socket_link.medium, SPR_56C_REDUCE)

    gpus_per_switch = hw.gpus_per_server // host.pcie_switches
    nics_per_switch = hw.nics_per_server // host.pcie_switches
    per_socket = hw.gpus_per_server // host.sockets
    gpus = []
    for k in range(host.pcie_switches):
        socket = k * gpus_per_switch // per_socket
        sw = b.pcie_switch(k, socket, cpus[socket], host.pcie)
        for i in range(k * gpus_per_switch, (k + 1) * gpus_per_switch):
            gpus.append(b.gpu(i, socket, "H800-SXM"))
            add_link(b.G, gpus[-1], sw, host.pcie.bandwidth, medium=host.pcie.medium)
        for j in range(k * nics_per_switch, (k + 1) * nics_per_switch):
            add_link(b.G, b.nic(j, socket, hw.nic, "compute"), sw, host.pcie.bandwidth,
                     medium=host.pcie.medium)

    storage = b.nic(0, host.storage_nic_socket, hw.nic, "storage", line_rate=hw.storage_nic,
                    port_medium="ethernet")   # RoCE storage plane, [ISCA] §5.1
    add_link(b.G, storage, cpus[host.storage_nic_socket], host.pcie.bandwidth,
             medium=host.pcie.medium)
    b.nvswitch_fabric(gpus, nv_bw, host.nvswitches, nvswitch_chips)
    return b.done()


def dgx_a100_server(name="n0", *, nvswitch_chips=False, socket_link_bandwidth=None):
    """The NVIDIA DGX-A100 that [FF] Table I compares the Fire-Flyer node against.

    Eight SXM A100 on six NVSwitches (600 GB/s per GPU, both directions summed); four PCIe Gen4
    switches, switch ``k`` holding GPUs and compute NICs ``2k`` and ``2k+1`` and sitting on
    socket ``k // 2``; one storage NIC on a root port of ``cpu0``; two EPYC 7742 sockets.

    Parameters
    ----------
    name : str or int, default 'n0'
        Server name, the prefix of every node name.  An int ``k`` names the server ``f'n{k}'``.
    nvswitch_chips : bool, default False
        One node per NVSwitch chip (each GPU has 2 of its 12 links on each of the six) instead
        of one fabric node.
    socket_link_bandwidth : float, optional
        Bytes/s per direction between the sockets; default ``DGX_A100.socket_link``
        (UNCONFIRMED).

    Returns
    -------
    networkx.Graph

    Raises
    ------
    ParameterError
        If ``name`` is not a valid server name or a parameter is out of range.

    Examples
    --------
    >>> G = dgx_a100_server()
    >>> len(server_gpus(G)), len(server_nics(G)), len(server_nics(G, kind="all"))
    (8, 8, 9)
    >>> sorted(G["n0/pcie_switch1"])
    ['n0/cpu0', 'n0/gpu2', 'n0/gpu3', 'n0/nic2', 'n0/nic3']
    >>> G.nodes["n0/nvswitch0"]["chips"]
    6
    """
    prefix, server = _server_name(name)
    hw = DGX_A100
    nvswitch_chips = _check_bool("nvswitch_chips", nvswitch_chips)
    socket_bw = _bandwidth("socket_link_bandwidth", socket_link_bandwidth, hw.socket_link)
    b = _Builder("dgx_a100_server", prefix, server, dict(
        name=name, nvswitch_chips=nvswitch_chips, socket_link_bandwidth=socket_link_bandwidth))
    cpus = b.host(hw.sockets, hw.host_memory, socket_bw, hw.socket_link.medium, ROME_7742_REDUCE)

    gpus_per_switch = hw.gpus_per_server // hw.pcie_switches
    nics_per_switch = hw.compute_nics // hw.pcie_switches
    switches_per_socket = hw.pcie_switches // hw.sockets
    gpus = []
    for k in range(hw.pcie_switches):
        socket = k // switches_per_socket
        sw = b.pcie_switch(k, socket, cpus[socket], hw.pcie)
        for i in range(k * gpus_per_switch, (k + 1) * gpus_per_switch):
            gpus.append(b.gpu(i, socket, "A100-SXM4-40GB"))
            add_link(b.G, gpus[-1], sw, hw.pcie.bandwidth, medium=hw.pcie.medium)
        for j in range(k * nics_per_switch, (k + 1) * nics_per_switch):
            add_link(b.G, b.nic(j, socket, hw.nic, "compute"), sw, hw.pcie.bandwidth,
                     medium=hw.pcie.medium)
    for j in range(hw.storage_nics):
        storage = b.nic(j, hw.storage_nic_socket, hw.nic, "storage")
        add_link(b.G, storage, cpus[hw.storage_nic_socket], hw.pcie.bandwidth,
                 medium=hw.pcie.medium)
    b.nvswitch_fabric(gpus, hw.nvlink.per_direction, hw.nvswitches, nvswitch_chips)
    return b.done()


def scale_up_domain(name="n0", *, gpus=None, nvlink_bandwidth=None):
    """A scale-up domain: ``gpus`` GPUs on one NVLink switch fabric, no NIC (GB200 NVL72 by default).

    [ISCA] §2.3.2 sets the 72-GPU GB200 NVL72 with 900 GB/s unidirectional NVLink
    beside the H800's scale-out limit.  Each GPU's edge to the ``nvswitch`` node carries
    its whole NVLink bandwidth per direction.

    Parameters
    ----------
    name : str or int, default 'n0'
    gpus : int, optional
        Default ``GB200_NVL72.gpus`` (72).
    nvlink_bandwidth : float, optional
        Bytes/s per direction per GPU; default ``GB200_NVL72.nvlink_unidirectional``.

    Examples
    --------
    >>> G = scale_up_domain()
    >>> len(server_gpus(G)), G.edges["n0/gpu0", "n0/nvswitch0"]["bandwidth"] / 1e9
    (72, 900.0)
    """
    from .hardware import GB200_NVL72

    prefix, server = _server_name(name)
    if gpus is None:
        gpus = GB200_NVL72.gpus
    if isinstance(gpus, bool) or not isinstance(gpus, numbers.Integral) or gpus < 2:
        raise ParameterError(f"gpus must be an integer >= 2, got {gpus!r}")
    bw = _bandwidth("nvlink_bandwidth", nvlink_bandwidth, GB200_NVL72.nvlink_unidirectional)
    b = _Builder("scale_up_domain", prefix, server,
                 dict(name=name, gpus=gpus, nvlink_bandwidth=nvlink_bandwidth))
    members = [b.gpu(i, 0, "GPU") for i in range(int(gpus))]
    b.nvswitch_fabric(members, bw, 1, False)
    return b.done()


# --- queries -----------------------------------------------------------------------------------

def server_gpus(G, server=None):
    """GPU node names of one server, in GPU index order.

    Parameters
    ----------
    G : networkx.Graph
        A server graph, or a cluster graph holding several servers.
    server : str or int, optional
        Which server (its ``server`` attribute or its name prefix); needed when ``G`` holds
        more than one.

    Examples
    --------
    >>> server_gpus(dgx_a100_server("a"))[-1]
    'a/gpu7'
    """
    return _members(G, "gpu", server, lambda d: True)


def server_nics(G, server=None, kind="compute"):
    """NIC node names of one server, in index order: NIC ``i`` belongs on rail or plane ``i``.

    Parameters
    ----------
    G : networkx.Graph
        A server graph, or a cluster graph holding several servers.
    server : str or int, optional
        Which server (its ``server`` attribute or its name prefix); needed when ``G`` holds
        more than one.
    kind : {'compute', 'storage', 'all'}, default 'compute'
        Which NICs; ``'all'`` lists compute NICs first, then storage NICs.

    Examples
    --------
    >>> server_nics(h800_server(), kind="all")[-2:]
    ['n0/nic7', 'n0/storage_nic0']
    """
    if kind not in _NIC_KINDS:
        raise ParameterError(f"kind must be one of {', '.join(map(repr, _NIC_KINDS))}, "
                             f"got {kind!r}")
    if kind == "all":
        return server_nics(G, server, "compute") + server_nics(G, server, "storage")
    return _members(G, "nic", server, lambda d: d.get("kind", "compute") == kind)


def p2p_limit(G, u, v):
    """Rate cap in bytes/s on direct DMA between ``u`` and ``v``, or None if there is none.

    Only a GPU and a NIC of the same server can DMA to each other directly (GPUDirect RDMA).
    The cap is the NIC's ``p2p_bandwidth`` and is shared by all GPUs of the server that DMA
    to that NIC; routing adds it as one more resource of such flows only.

    Examples
    --------
    >>> G = pcie_a100_server()
    >>> p2p_limit(G, "n0/nic0", "n0/gpu3") / 2**30
    9.0
    >>> p2p_limit(G, "n0/gpu0", "n0/memory0") is None
    True
    >>> p2p_limit(h800_server(), "n0/gpu0", "n0/nic0") is None
    True
    """
    for n in (u, v):
        if n not in G:
            raise ParameterError(f"node {n!r} is not in the graph")
    roles = {G.nodes[u].get("role"), G.nodes[v].get("role")}
    if roles != {"gpu", "nic"}:
        return None
    if G.nodes[u].get("server") != G.nodes[v].get("server"):
        raise ParameterError(f"{u!r} and {v!r} are in different servers; direct GPU-NIC DMA "
                             "needs a GPU and a NIC of the same server")
    nic = u if G.nodes[u]["role"] == "nic" else v
    return G.nodes[nic].get("p2p_bandwidth")


def limit_shared_root_ports(G):
    """Make every root port that two or more GPUs share one budget for both directions.

    [FF] §IV-D measures GPU5 and GPU6 together at "about 37 GB/s total; lower if
    bidirectional": the shared port does not give its 37.5 GB/s uplink once per direction.
    This sets the port node's ``capacity`` to its uplink bandwidth, so traffic in both
    directions draws on the same 37.5 GB/s.  The text gives no figure for the bidirectional
    case; this is the bound its sentence allows.  :func:`pcie_a100_server` applies it by
    default (``shared_root_port=True``); call it on another graph to do the same.  Returns
    ``G``.

    Examples
    --------
    >>> G = limit_shared_root_ports(pcie_a100_server(shared_root_port=False))
    >>> G.nodes["n0/rp5"]["capacity"] == A100_PCIE.root_port_to_cpu
    True
    >>> "capacity" in G.nodes["n0/rp0"]
    False
    """
    for n, role in list(G.nodes(data="role")):
        if role != "root_port":
            continue
        gpus = [m for m in G.adj[n] if G.nodes[m].get("role") == "gpu"]
        if len(gpus) < 2:
            continue
        up = [d["bandwidth"] for m, d in G.adj[n].items() if G.nodes[m].get("role") == "cpu"]
        G.nodes[n]["capacity"] = min(up)
    return G


# --- drawing -----------------------------------------------------------------------------------

_ROW = {"memory": 3.2, "cpu": 2.3, "root_port": 1.2, "pcie_switch": 1.2,
        "gpu": 0.0, "nic": 0.0, "nvswitch": -1.5}
_NODE_COLOUR = {"memory": "#c2a5cf", "cpu": "#6baed6", "root_port": "#d9d9d9",
                "pcie_switch": "#d9d9d9", "gpu": "#74c476", "nic": "#fdae6b",
                "nvswitch": "#fd8d3c"}
_EDGE_STYLE = {  # medium -> (colour, width, label)
    "nvlink": ("#238b45", 3.0, "NVLink"),
    "pcie": ("#636363", 1.4, "PCIe"),
    "internal": ("#3182bd", 1.4, "root port / on-chip"),
    "infinity_fabric": ("#08519c", 2.6, "socket link"),
    "memory": ("#756bb1", 2.2, "memory"),
}
_DRAW_SUFFIXES = (".png", ".svg", ".pdf")


def draw_server(G, path, *, server=None):
    """Draw one server to ``path`` (.png, .svg or .pdf), written atomically.

    Sockets and memory at the top, root ports and PCIe switches in the middle, GPUs and NICs at
    the bottom (NVSwitch below them).  NVLink edges are thick and green; every edge is labelled
    with its per-direction bandwidth in GB/s, shared nodes with their capacity.

    Parameters
    ----------
    G : networkx.Graph
        A server graph, or a cluster graph holding servers (then pass ``server``).
    path : str or path-like
        Output file; its directory must exist.
    server : str or int, optional
        Which server to draw when ``G`` holds more than one.

    Examples
    --------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "ff.png")
    >>> draw_server(pcie_a100_server(), out)
    >>> os.path.getsize(out) > 0
    True
    """
    # Matplotlib loads only when drawing: building graphs should not pay for it.
    from matplotlib.patches import FancyArrowPatch

    from netemu.plot import along_edge, place_labels, save_figure  # first: selects Agg
    import matplotlib.pyplot as plt

    if os.path.splitext(str(path))[1].lower() not in _DRAW_SUFFIXES:
        raise ParameterError(f"path {str(path)!r} must end in one of {', '.join(_DRAW_SUFFIXES)}")
    gpus = server_gpus(G, server)
    if not gpus:
        raise ParameterError("the graph holds no server with GPUs to draw")
    sid = G.nodes[gpus[0]]["server"]
    H = G.subgraph(n for n, d in G.nodes(data=True)
                   if d.get("server") == sid and d.get("role") in _ROW)
    pos = _server_layout(H)

    width = max(9.0, 1.05 * (max(x for x, _ in pos.values()) + 2))
    fig, ax = plt.subplots(figsize=(width, 7.5))
    chips = sum(1 for n in H if H.nodes[n]["role"] == "nvswitch")
    drawn, labels = set(), []
    for u, v, d in H.edges(data=True):
        ru, rv = H.nodes[u]["role"], H.nodes[v]["role"]
        medium = "infinity_fabric" if ru == rv == "cpu" else d.get("medium")
        colour, lw, _ = _EDGE_STYLE.get(medium, ("#999999", 1.0, "other"))
        drawn.add(medium)
        (x0, y0), (x1, y1) = pos[u], pos[v]
        if "nvswitch" in (ru, rv):
            # A fan of equal links: the NVSwitch node's label carries the figure instead.
            ax.plot([x0, x1], [y0, y1], color=colour, lw=lw if chips == 1 else 1.0,
                    alpha=1.0 if chips == 1 else 0.5, zorder=1)
            continue
        if ru == rv == "gpu" and y0 == y1:
            # Bridged GPU pairs sit side by side: bow the edge below the row so it stays visible.
            ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-", color=colour, lw=lw,
                                         connectionstyle="arc3,rad=0.9", zorder=1))
            spots = [((x0 + x1) / 2, y0 - 0.42 * abs(x1 - x0))]
        else:
            ax.plot([x0, x1], [y0, y1], color=colour, lw=lw, zorder=1)
            spots = along_edge((x0, y0), (x1, y1))
        labels.append((f"{d['bandwidth'] / 1e9:.3g}", spots, {"color": colour}))

    xs = [x for x, _ in pos.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(_ROW[d['role']] for _, d in H.nodes(data=True)) - 0.9, 3.9)
    boxes = []
    for n, d in H.nodes(data=True):
        x, y = pos[n]
        boxes.append(ax.text(x, y, _node_label(H, n, d), fontsize=7.5, ha="center", va="center",
                             zorder=4, bbox=dict(boxstyle="round,pad=0.35",
                                                 fc=_NODE_COLOUR.get(d["role"], "white"),
                                                 ec="#333333", lw=0.8)))
    # Bandwidth labels slide along their edge until they cover no box and no other label.
    place_labels(ax, labels, boxes, fontsize=7)

    handles = [plt.Line2D([], [], color=c, lw=w, label=lab)
               for m, (c, w, lab) in _EDGE_STYLE.items() if m in drawn]
    ax.legend(handles=handles, loc="upper right", fontsize=8, frameon=False,
              title="edge labels: GB/s per direction", title_fontsize=8)
    ax.set_title(f"{G.graph.get('name', 'server')}  —  server {sid}", fontsize=11)
    ax.axis("off")
    save_figure(fig, path)


def _node_label(H, n, d):
    lines = [n.split("/", 1)[-1]]
    if d["role"] == "nic":
        lines.append(f"{d['line_rate'] * 8 / 1e9:.0f} Gb/s")
        if "p2p_bandwidth" in d:
            lines.append(f"P2P {d['p2p_bandwidth'] / 1e9:.3g} GB/s")
    if "capacity" in d:
        lines.append(f"{d['capacity'] / 1e9:.3g} GB/s")
    if d["role"] == "nvswitch":
        if d.get("chips", 1) > 1:
            lines[0] += f" ({d['chips']} chips)"
        links = [dd["bandwidth"] for _, _, dd in H.edges(n, data=True)]
        if links and min(links) == max(links):
            lines.append(f"{links[0] / 1e9:.3g} GB/s per GPU link")
    return "\n".join(lines)


def _server_layout(H):
    """Positions: a bottom row of GPUs and NICs grouped under their parents, parents centred."""
    role = lambda n: H.nodes[n]["role"]  # noqa: E731
    key = lambda n: (H.nodes[n].get("socket", 0), list(_ROW).index(role(n)),  # noqa: E731
                     H.nodes[n].get("kind") == "storage", H.nodes[n].get("index", 0))
    parents = {}
    for n in H:
        if role(n) in ("gpu", "nic"):
            ups = [m for m in H[n] if role(m) in ("root_port", "pcie_switch", "cpu")]
            parents[n] = min(ups, key=key) if ups else None
    on_cpu = sorted((n for n, p in parents.items() if p is None or role(p) == "cpu"), key=key)
    order = sorted((n for n in parents if n not in on_cpu),
                   key=lambda n: (H.nodes[n].get("socket", 0), key(parents[n]),
                                  role(n) != "gpu", H.nodes[n].get("index", 0)))
    pos, x, last_socket = {}, 0.0, None
    for n in order:
        socket = H.nodes[n].get("socket", 0)
        if last_socket is not None and socket != last_socket:
            x += 0.8          # a visible gap between the two sockets' devices
        pos[n] = (x, _ROW[role(n)])
        x += 1.0
        last_socket = socket
    mid = _ROW["pcie_switch"]
    for n in H:
        if role(n) in ("root_port", "pcie_switch"):
            below = [pos[m][0] for m in H[n] if m in pos]
            pos[n] = (sum(below) / len(below) if below else x, mid)
    # A NIC straight on a CPU sits in the middle row, on the outer side of its socket's devices,
    # so its link crosses neither the PCIe tier nor the other socket.
    first_socket = min((H.nodes[n].get("socket", 0) for n in parents), default=0)
    for n in on_cpu:
        socket = H.nodes[n].get("socket", 0)
        row = [px for m, (px, py) in pos.items() if py == mid and H.nodes[m].get("socket", 0) == socket]
        if socket == first_socket:
            pos[n] = (min(row, default=0.0) - 1.6, mid)
        else:
            pos[n] = (max(row, default=x) + 1.6, mid)
    for n in H:
        if role(n) == "cpu":
            below = [pos[m][0] for m in H[n] if m in pos and pos[m][1] == mid and m not in on_cpu]
            pos[n] = (sum(below) / len(below) if below else 0.0, _ROW["cpu"])
    for n in H:
        if role(n) == "memory":
            cpu = next(m for m in H[n] if role(m) == "cpu")
            pos[n] = (pos[cpu][0], _ROW["memory"])
    switches = sorted((n for n in H if role(n) == "nvswitch"), key=key)
    gx = [pos[n][0] for n in H if role(n) == "gpu"]
    lo, hi = min(gx), max(gx)
    for i, n in enumerate(switches):
        frac = (i + 0.5) / len(switches)
        pos[n] = (lo + frac * (hi - lo), _ROW["nvswitch"])
    return pos


# --- internals ---------------------------------------------------------------------------------

class _Builder:
    """Adds server nodes with the naming scheme and the attributes every node carries."""

    def __init__(self, generator, prefix, server, params):
        self.G = new_graph(generator, params)
        self.prefix, self.server = prefix, server
        self._count = {}

    def name(self, stem, index):
        return f"{self.prefix}/{stem}{index}"

    def add(self, stem, index, role, **attrs):
        n = self.name(stem, index)
        self.G.add_node(n, role=role, server=self.server, index=index, **attrs)
        return n

    def next_index(self, stem):
        i = self._count.get(stem, 0)
        self._count[stem] = i + 1
        return i

    def host(self, sockets, memory_bandwidth, socket_bandwidth, socket_medium, reduce_bandwidth):
        """CPU sockets, one memory node per socket, and the socket-to-socket links."""
        per_socket = memory_bandwidth / sockets
        cpus = []
        for s in range(sockets):
            cpu = self.add("cpu", s, "cpu", socket=s, reduce_bandwidth=reduce_bandwidth)
            mem = self.add("memory", s, "memory", socket=s, capacity=per_socket)
            add_link(self.G, cpu, mem, per_socket, medium="memory")
            cpus.append(cpu)
        for s in range(sockets):
            for t in range(s + 1, sockets):
                add_link(self.G, cpus[s], cpus[t], socket_bandwidth, medium=socket_medium)
        return cpus

    def root_port(self, socket, cpu, uplink):
        rp = self.add("rp", self.next_index("rp"), "root_port", socket=socket)
        add_link(self.G, rp, cpu, uplink, medium="internal")
        return rp

    def pcie_switch(self, index, socket, cpu, link):
        sw = self.add("pcie_switch", index, "pcie_switch", socket=socket)
        add_link(self.G, sw, cpu, link.bandwidth, medium=link.medium)
        return sw

    def gpu(self, index, socket, model):
        return self.add("gpu", index, "gpu", socket=socket, model=model)

    def nic(self, index, socket, model, kind, line_rate=None, port_medium=None, **attrs):
        return self.add("nic" if kind == "compute" else "storage_nic", index, "nic",
                        socket=socket, kind=kind, model=model.name,
                        line_rate=model.bandwidth if line_rate is None else line_rate,
                        port_medium=port_medium or model.medium, **attrs)

    def nvswitch_fabric(self, gpus, per_gpu, chips, split):
        if not split:
            sw = self.add("nvswitch", 0, "nvswitch", chips=chips)
            for g in gpus:
                add_link(self.G, g, sw, per_gpu, medium="nvlink")
            return
        for c in range(chips):
            sw = self.add("nvswitch", c, "nvswitch", chips=1)
            for g in gpus:
                add_link(self.G, g, sw, per_gpu / chips, medium="nvlink")

    def done(self):
        return validate(self.G)


def _server_name(name):
    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        if name < 0:
            raise ParameterError(f"name must be a server number >= 0 or a name, got {name!r}")
        return f"n{int(name)}", int(name)
    if isinstance(name, str) and _NAME.match(name):
        return name, name
    raise ParameterError(f"name must be a server name made of letters, digits, '_', '.' or '-' "
                         f"(such as 'n17'), or a server number >= 0; got {name!r}")


def _check_bool(param, value):
    if not isinstance(value, bool):
        raise ParameterError(f"{param} must be True or False, got {value!r}")
    return value


def _bandwidth(param, value, default):
    if value is None:
        return getattr(default, "bandwidth", default)
    return check_positive(param, value)


def _per_direction(bidirectional_total):
    # NVIDIA's NVLink figures add both directions; an edge carries one.
    return bidirectional_total / 2


def _members(G, role, server, keep):
    found = [(d.get("index", 0), n, d.get("server")) for n, d in G.nodes(data=True)
             if d.get("role") == role and keep(d)]
    if server is None:
        servers = {s for _, _, s in found}
        if len(servers) > 1:
            shown = ", ".join(sorted(map(str, servers))[:5])
            raise ParameterError(f"the graph holds {len(servers)} servers ({shown}, ...); "
                                 "pass server= to pick one")
    else:
        found = [t for t in found if t[2] == server or t[1].split("/", 1)[0] == str(server)]
        if not found and not any(d.get("server") == server or str(n).split("/", 1)[0] == str(server)
                                 for n, d in G.nodes(data=True)):
            raise ParameterError(f"server {server!r} is not in the graph")
    return [n for _, n, _ in sorted(found)]
