"""Multi-plane and multi-rail fat-trees: one NIC per GPU, servers with several NICs.

Both families start from servers that each hold several NICs (the H800 node of
[ISCA] §4.1 has eight ConnectX-7 400G NICs, one per GPU) and differ in where
NIC ``k`` of a server plugs in.

:func:`multi_plane_fat_tree` (MPFT, [ISCA] §5.1, Figure 3)
    ``P`` independent two-layer fat-trees ("planes"), each built like
    :func:`~topologies.fat_tree.two_layer_fat_tree` of ``radix``-port switches;
    NIC ``k`` of every server is on plane ``k``.  No link joins two planes:
    traffic from a NIC on one plane to a NIC on another is forwarded inside a
    server, over NVLink or PCIe (NCCL PXN).  With 64-port 400G switches and
    eight planes the fabric holds 16,384 NICs with 768 switches and 16,384
    switch-switch links, the MPFT column of [ISCA] Table 3 (eight times FT2).

:func:`multi_rail_fat_tree` (MRFT, the baseline of [ISCA] §5.1.2)
    One two-layer fat-tree whose leaves are split into rails: NIC ``r`` of every
    server hangs from a leaf of rail ``r``, and every leaf links to every spine,
    so traffic between rails meets at the spines without entering a server.
    The paper does not draw MRFT; this reading (NIC ``i`` to rail ``i``, all
    rails sharing one spine layer) is INFERRED.

A server is a node ``n{s}`` (role ``host``) joined to each of its NICs
``n{s}/nic{k}`` (role ``nic``) by an intra-server link (medium ``nvlink``);
that node is the path cross-plane traffic takes.  The NICs are the fabric's
endpoints (:func:`netemu.graph.endpoints`), listed server by server, so the
first half of them against the second half is the natural worst-case bisection.

References
----------
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3: Scaling Challenges and
   Reflections on Hardware for AI Architectures", ISCA '25, arXiv:2505.09343,
   §4.1, §4.3, §5.1, Table 3.
.. [FF] An et al., "Fire-Flyer AI-HPC", SC'24, arXiv:2408.14158, §IX (a
   four-plane two-layer fat-tree of 128-port RoCE switches for the next
   generation).
"""

from netemu.checks import check_choice, check_int, check_nonnegative, check_positive
from netemu.errors import ParameterError
from netemu.graph import MEDIA, new_graph
from netemu.memory import check_fits, graph_bytes

from .fat_tree import _LIST_RATIOS_UP_TO, _link
from .hardware import H800_SXM, IB_NDR_64

__all__ = ["multi_plane_fat_tree", "multi_rail_fat_tree"]


def multi_plane_fat_tree(planes=H800_SXM.nics_per_server, radix=IB_NDR_64.ports, *, servers=None,
                         link_bandwidth=IB_NDR_64.port_bandwidth,
                         intra_bandwidth=H800_SXM.nvlink_achievable, latency=0.0, medium="ib"):
    """Return a multi-plane fat-tree: ``planes`` disjoint two-layer trees, NIC k on plane k.

    Each plane has ``radix`` leaves (``radix/2`` ports down, ``radix/2`` up) and
    ``radix/2`` spines, every leaf linked to every spine.  Server ``s`` hangs
    from the same leaf index ``s * radix // servers`` in every plane, so servers
    are spread evenly (leaf loads differ by at most one) and in order.

    Parameters
    ----------
    planes : int
        Planes, and NICs per server (default 8, the H800 node's NIC count in
        ``topologies.hardware.H800_SXM``).
    radix : int
        Ports per switch, even (default 64, ``topologies.hardware.IB_NDR_64``).
    servers : int, optional
        Servers, at most ``radix * radix / 2`` (the default: every leaf port
        used).
    link_bandwidth : float
        Bytes/s per direction of a fabric link, NIC-leaf and leaf-spine
        (default 400 Gb/s, the ``IB_NDR_64`` port).
    intra_bandwidth : float
        Bytes/s per direction between a server node and each of its NICs
        (default ``H800_SXM.nvlink_achievable``, 160 GB/s, [ISCA] §4.3).
    latency : float
        Seconds per link, intra-server links included (default 0).
    medium : str
        Fabric medium (default ``'ib'``).

    Returns
    -------
    networkx.Graph
        Leaves ``p{k}/leaf{i}`` and spines ``p{k}/spine{j}`` (attr ``plane``),
        servers ``n{s}`` (role ``host``) and NICs ``n{s}/nic{k}`` (role ``nic``,
        attrs ``server``, ``plane``, ``leaf``).

    Raises
    ------
    ParameterError
        ``planes`` below 1, ``radix`` odd or below 2, ``servers`` outside 1 ...
        ``radix**2 / 2``, or a bandwidth, latency or medium out of range.

    Examples
    --------
    The MPFT column of [ISCA] Table 3:

    >>> from netemu.graph import endpoints, switches
    >>> G = multi_plane_fat_tree()
    >>> len(endpoints(G)), len(switches(G))
    (16384, 768)
    >>> sum(1 for u, v in G.edges if G.nodes[u]["role"] in ("leaf", "spine")
    ...     and G.nodes[v]["role"] in ("leaf", "spine"))
    16384

    A small one; the only way from plane 0 to plane 1 is through a server:

    >>> G = multi_plane_fat_tree(2, 4, servers=3)
    >>> sorted(G["n0"])
    ['n0/nic0', 'n0/nic1']
    >>> G.nodes["n2/nic1"]["plane"], G.nodes["n2/nic1"]["leaf"]
    (1, 2)
    """
    params = dict(planes=planes, radix=radix, servers=servers, link_bandwidth=link_bandwidth,
                  intra_bandwidth=intra_bandwidth, latency=latency, medium=medium)
    planes = check_int("planes", planes, minimum=1)
    radix = check_int("radix", radix, minimum=2, even=True)
    capacity = radix * radix // 2
    servers = _check_servers(servers, capacity, f"one plane of radix={radix} switches has "
                                                f"{radix} leaves x {radix // 2} down ports")
    link_bandwidth, intra_bandwidth, latency = _check_links(link_bandwidth, intra_bandwidth,
                                                            latency, medium)
    params.update(planes=planes, radix=radix,
                  servers=None if params["servers"] is None else servers,
                  link_bandwidth=link_bandwidth, intra_bandwidth=intra_bandwidth, latency=latency)

    check_fits(graph_bytes(servers * (1 + planes) + planes * (radix + radix // 2),
                           2 * servers * planes + planes * radix * (radix // 2)),
               f"a multi-plane fat-tree of {planes:,} planes of radix {radix:,}")
    G = new_graph("multi_plane_fat_tree", params)
    leaves, spines = radix, radix // 2
    leaf_of = [s * leaves // servers for s in range(servers)]
    leaf_names = [[f"p{k}/leaf{i}" for i in range(leaves)] for k in range(planes)]
    spine_names = [[f"p{k}/spine{j}" for j in range(spines)] for k in range(planes)]
    _add_servers(G, servers, [leaf_of] * planes, "plane", server_leaf=leaf_of)
    for k in range(planes):
        G.add_nodes_from((name, {"role": "leaf", "layer": 1, "index": i, "plane": k})
                         for i, name in enumerate(leaf_names[k]))
        G.add_nodes_from((name, {"role": "spine", "layer": 2, "index": j, "plane": k})
                         for j, name in enumerate(spine_names[k]))
    G.add_edges_from(((f"n{s}", f"n{s}/nic{k}") for s in range(servers) for k in range(planes)),
                     **_link(intra_bandwidth, latency, "nvlink"))
    G.add_edges_from(((f"n{s}/nic{k}", leaf_names[k][leaf_of[s]])
                      for s in range(servers) for k in range(planes)),
                     **_link(link_bandwidth, latency, medium))
    G.add_edges_from(((leaf, spine) for k in range(planes)
                      for leaf in leaf_names[k] for spine in spine_names[k]),
                     **_link(link_bandwidth, latency, medium))
    return G


def multi_rail_fat_tree(rails=H800_SXM.nics_per_server, radix=IB_NDR_64.ports, *, servers=None,
                        link_bandwidth=IB_NDR_64.port_bandwidth,
                        intra_bandwidth=H800_SXM.nvlink_achievable, latency=0.0, medium="ib"):
    """Return a multi-rail fat-tree: one leaf-spine fabric whose leaves form rails.

    ``radix`` leaves (``radix/2`` ports down, ``radix/2`` up) and ``radix/2``
    spines, every leaf linked to every spine.  Leaves ``r*L ... r*L + L - 1``
    (``L = radix / rails``) form rail ``r``; NIC ``r`` of every server hangs from
    a leaf of rail ``r``, server ``s`` on the ``s * L // servers``-th leaf of each
    rail, so servers are spread evenly and in order.

    Parameters
    ----------
    rails : int
        Rails, and NICs per server (default 8, ``H800_SXM.nics_per_server``);
        must divide ``radix`` so every spine port reaches a leaf.
    radix : int
        Ports per switch, even (default 64, ``topologies.hardware.IB_NDR_64``).
    servers : int, optional
        Servers, at most ``(radix / rails) * radix / 2`` (the default: every
        leaf port used).
    link_bandwidth, intra_bandwidth, latency, medium
        As for :func:`multi_plane_fat_tree`.

    Returns
    -------
    networkx.Graph
        Leaves ``leaf{i}`` (attr ``rail``), spines ``spine{j}``, servers
        ``n{s}`` (role ``host``) and NICs ``n{s}/nic{r}`` (role ``nic``, attrs
        ``server``, ``rail``, ``leaf`` = the global leaf index).

    Raises
    ------
    ParameterError
        ``rails`` not a divisor of ``radix``, ``radix`` odd, ``servers`` above
        the maximum (named in the message), or a bandwidth, latency or medium
        out of range.

    Examples
    --------
    >>> from netemu.graph import endpoints, switches
    >>> G = multi_rail_fat_tree()
    >>> len(endpoints(G)), len(switches(G)), G.graph["params"]["servers"]
    (2048, 96, None)
    >>> G = multi_rail_fat_tree(2, 4, servers=4)
    >>> [G.nodes[f"leaf{i}"]["rail"] for i in range(4)]
    [0, 0, 1, 1]
    >>> sorted(G["n3/nic1"])
    ['leaf3', 'n3']
    """
    params = dict(rails=rails, radix=radix, servers=servers, link_bandwidth=link_bandwidth,
                  intra_bandwidth=intra_bandwidth, latency=latency, medium=medium)
    radix = check_int("radix", radix, minimum=2, even=True)
    rails = check_int("rails", rails, minimum=1, maximum=radix)
    if radix % rails:
        # The divisors are listed for switch-sized radices only: listing them walks every
        # number up to the radix (a mutated radix of 2^62 would never return).
        allowed = (", ".join(str(d) for d in range(1, radix + 1) if radix % d == 0)
                   if radix <= _LIST_RATIOS_UP_TO else "the divisors of radix")
        raise ParameterError(f"rails={rails} must divide radix={radix} so that every rail has "
                             f"the same number of leaves and every spine port reaches a leaf; "
                             f"allowed rails: {allowed}")
    per_rail = radix // rails
    capacity = per_rail * (radix // 2)
    servers = _check_servers(servers, capacity, f"each of the {rails} rails has {per_rail} "
                                                f"leaves x {radix // 2} down ports")
    link_bandwidth, intra_bandwidth, latency = _check_links(link_bandwidth, intra_bandwidth,
                                                            latency, medium)
    params.update(rails=rails, radix=radix,
                  servers=None if params["servers"] is None else servers,
                  link_bandwidth=link_bandwidth, intra_bandwidth=intra_bandwidth, latency=latency)

    check_fits(graph_bytes(servers * (1 + rails) + radix + radix // 2,
                           2 * servers * rails + radix * (radix // 2)),
               f"a multi-rail fat-tree of radix {radix:,}")
    G = new_graph("multi_rail_fat_tree", params)
    leaf_of = [[r * per_rail + s * per_rail // servers for s in range(servers)]
               for r in range(rails)]
    leaf_names = [f"leaf{i}" for i in range(radix)]
    spine_names = [f"spine{j}" for j in range(radix // 2)]
    _add_servers(G, servers, leaf_of, "rail")
    G.add_nodes_from((name, {"role": "leaf", "layer": 1, "index": i, "rail": i // per_rail})
                     for i, name in enumerate(leaf_names))
    G.add_nodes_from((name, {"role": "spine", "layer": 2, "index": j})
                     for j, name in enumerate(spine_names))
    G.add_edges_from(((f"n{s}", f"n{s}/nic{r}") for s in range(servers) for r in range(rails)),
                     **_link(intra_bandwidth, latency, "nvlink"))
    G.add_edges_from(((f"n{s}/nic{r}", leaf_names[leaf_of[r][s]])
                      for s in range(servers) for r in range(rails)),
                     **_link(link_bandwidth, latency, medium))
    G.add_edges_from(((leaf, spine) for leaf in leaf_names for spine in spine_names),
                     **_link(link_bandwidth, latency, medium))
    return G


def _check_servers(servers, capacity, why):
    if servers is None:
        return capacity
    servers = check_int("servers", servers, minimum=1)
    if servers > capacity:
        raise ParameterError(f"servers={servers} exceeds the maximum of {capacity}: {why}")
    return servers


def _check_links(link_bandwidth, intra_bandwidth, latency, medium):
    check_choice("medium", medium, sorted(MEDIA))
    return (check_positive("link_bandwidth", link_bandwidth),
            check_positive("intra_bandwidth", intra_bandwidth),
            check_nonnegative("latency", latency))


def _add_servers(G, servers, nic_leaf, position, server_leaf=None):
    """Server nodes, each followed by its NICs; NIC k hangs from leaf ``nic_leaf[k][s]``.

    NIC k's ``position`` attr (``plane`` or ``rail``) is k.  ``server_leaf`` gives the
    server node a ``leaf`` attr where all its NICs share one leaf index.
    """
    for s in range(servers):
        G.add_node(f"n{s}", role="host", layer=0, index=s,
                   **({} if server_leaf is None else {"leaf": server_leaf[s]}))
        G.add_nodes_from((f"n{s}/nic{k}", {"role": "nic", "layer": 0, "index": k, "server": s,
                                            position: k, "leaf": leaves[s]})
                         for k, leaves in enumerate(nic_leaf))
