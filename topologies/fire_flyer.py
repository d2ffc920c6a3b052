"""Fire-Flyer 2: two zones of two-layer fat-trees sharing one storage pool.

Fire-Flyer 2 ([FF] §III-B) connects about 1,250 PCIe A100 servers (one 200 Gb/s
ConnectX-6 NIC each) and 180 storage servers with 40-port 200 Gb/s QM8700
InfiniBand switches.  One two-layer fat-tree of such switches has 20 spines and
40 leaves with 20 ports down and 20 up, 800 endpoint ports; rather than a third
layer, the cluster is split into two such zones of about 600 GPU servers each.

- Every storage server has two NICs, one into each zone, so all GPU servers
  reach the whole storage pool without crossing zones ([FF] §III-B).
- The zones are joined by "a limited number of links"; at most one job spans
  both zones, and its allreduce uses a double binary tree so only one pair of
  nodes talks across them ([FF] §III-B).
- GPU, storage and management nodes are spread evenly over the leaves so that
  traffic spreads over the leaf-spine links ([FF] §VI-A).
- The cluster has 122 switches in all ([FF] Table III).

:func:`fire_flyer_2` builds that network.  The paper gives neither the number
of inter-zone switches nor their links: the default of two inter-zone switches
follows a secondary analysis (122 = 2 x (20 + 40) + 2) and is UNCONFIRMED, and
the inter-zone links are INFERRED to be the zone leaf ports left free after the
GPU and storage servers (20 per zone with the defaults), shared evenly among
the inter-zone switches.

References
----------
.. [FF] An et al., "Fire-Flyer AI-HPC: A Cost-Effective Software-Hardware
   Co-Design for Deep Learning", SC'24, arXiv:2408.14158, §III-B, §III-C,
   §VI-A, §VI-B, Table III, Table IV.
"""

import dataclasses
import heapq

from netemu.checks import check_int, check_nonnegative
from netemu.errors import ParameterError
from netemu.graph import new_graph

from .fat_tree import _link
from .hardware import A100_PCIE, CX6_200G, QM8700, SwitchModel

__all__ = ["fire_flyer_2"]

#: GPU servers per zone: "about 600" in each of two zones, [FF] §III-B.
GPU_SERVERS_PER_ZONE = 600
#: Storage servers, [FF] §VI-B2 and Table IV ("nearly 200" in §III-B).
STORAGE_SERVERS = 180
#: Zones, [FF] §III-B.
ZONES = 2
#: Inter-zone switches: secondary analysis of [FF] Table III's 122 switches, UNCONFIRMED.
INTERZONE_SWITCHES = 2


def fire_flyer_2(*, gpu_servers_per_zone=GPU_SERVERS_PER_ZONE, storage_servers=STORAGE_SERVERS,
                 zones=ZONES, interzone_switches=INTERZONE_SWITCHES, interzone_links=None,
                 switch=QM8700, latency=0.0):
    """Return the Fire-Flyer 2 network: zones of two-layer fat-trees joined by a few switches.

    Each zone is a non-blocking two-layer fat-tree of ``switch``: ``R`` leaves
    with ``R/2`` ports down and ``R/2`` up, one to each of ``R/2`` spines (``R``
    = ``switch.ports``; 40 leaves, 20 spines and 800 endpoint ports for the
    QM8700).  Each zone holds ``gpu_servers_per_zone`` GPU servers and one NIC
    of every storage server, spread evenly over its leaves: GPU server ``g`` of
    a zone on leaf ``g * R // gpu_servers_per_zone``, then each storage server on
    the least-loaded leaf (lowest index first), the same layout in every zone.
    Inter-zone switch ``k`` links to ``interzone_links`` leaf ports left free in
    each zone, the free ports taken leaf by leaf in turn so that they land on
    different leaves.

    Parameters
    ----------
    gpu_servers_per_zone : int
        GPU servers in each zone, one NIC each (default 600, [FF] §III-B).
    storage_servers : int
        Storage servers, each with one NIC into every zone (default 180,
        [FF] §VI-B2).
    zones : int
        Zones (default 2).
    interzone_switches : int
        Switches joining the zones (default 2, UNCONFIRMED); at least 1 when
        there are two zones or more.
    interzone_links : int, optional
        Links from each inter-zone switch into each zone.  Default (INFERRED):
        the zone's free leaf ports shared evenly, ``min(free //
        interzone_switches, R // zones)``, where ``free = R*R/2 -
        gpu_servers_per_zone - storage_servers``; 10 with the defaults.
    switch : topologies.hardware.SwitchModel
        Model of every switch (default ``QM8700``, 40 x 200 Gb/s).
    latency : float
        Seconds per link (default 0).

    Returns
    -------
    networkx.Graph
        GPU servers ``n{h}`` (role ``host``, attrs ``zone``, ``leaf``),
        numbered zone by zone; storage servers ``s{i}`` (role ``storage``,
        attr ``leaf``, its leaf index in every zone); leaves ``z{z}/leaf{i}``
        and spines ``z{z}/spine{j}`` (attr ``zone``); inter-zone switches
        ``iz{k}`` (role ``switch``, layer 3).  Server links run at the lower of
        the switch port and the server NIC (``A100_PCIE.nic`` for GPU servers,
        ``CX6_200G`` for storage), switch links at the switch port rate.

    Raises
    ------
    ParameterError
        A count is not a non-negative integer, a zone's endpoint ports are
        exceeded (the numbers are in the message), the inter-zone links do not
        fit the free leaf ports or an inter-zone switch, there are several
        zones but no inter-zone link, or ``switch`` is not a SwitchModel with
        an even port count.

    Examples
    --------
    >>> from netemu.graph import endpoints, switches, nodes_with_role
    >>> G = fire_flyer_2()
    >>> len(switches(G))
    122
    >>> len(nodes_with_role(G, "host")), len(nodes_with_role(G, "storage"))
    (1200, 180)
    >>> sorted(G["s0"])
    ['z0/leaf0', 'z1/leaf0']
    >>> sum(G.edges[e]["cables"] for e in G.edges("iz0"))
    20
    """
    params = dict(gpu_servers_per_zone=gpu_servers_per_zone, storage_servers=storage_servers,
                  zones=zones, interzone_switches=interzone_switches,
                  interzone_links=interzone_links, latency=latency)
    if not isinstance(switch, SwitchModel):
        raise ParameterError(f"switch must be a topologies.hardware.SwitchModel such as QM8700, "
                             f"got {switch!r}")
    ports = check_int("switch.ports", switch.ports, minimum=2, even=True)
    gpus = check_int("gpu_servers_per_zone", gpu_servers_per_zone, minimum=0)
    storage = check_int("storage_servers", storage_servers, minimum=0)
    zones = check_int("zones", zones, minimum=1)
    iz = check_int("interzone_switches", interzone_switches, minimum=0)
    latency = check_nonnegative("latency", latency)

    leaves, spines, down = ports, ports // 2, ports // 2
    zone_ports = leaves * down
    if gpus + storage > zone_ports:
        raise ParameterError(
            f"gpu_servers_per_zone={gpus} + storage_servers={storage} = {gpus + storage} endpoint "
            f"ports per zone, but a zone of {ports}-port switches has only {zone_ports} "
            f"({leaves} leaves x {down} down ports)")
    free = zone_ports - gpus - storage
    if interzone_links is None:
        links = min(free // iz, ports // zones) if iz else 0
    else:
        links = check_int("interzone_links", interzone_links, minimum=0)
        if iz * links > free:
            raise ParameterError(
                f"interzone_switches={iz} x interzone_links={links} = {iz * links} leaf ports per "
                f"zone, but only {free} are free ({zone_ports} - gpu_servers_per_zone={gpus} - "
                f"storage_servers={storage})")
        if zones * links > ports:
            raise ParameterError(
                f"zones={zones} x interzone_links={links} = {zones * links} ports per inter-zone "
                f"switch, more than the switch's {ports}")
    if zones > 1 and iz * links == 0:
        raise ParameterError(
            f"zones={zones} need at least one inter-zone link, but interzone_switches={iz} and "
            f"interzone_links={links} (free leaf ports per zone: {free})")
    params.update(gpu_servers_per_zone=gpus, storage_servers=storage, zones=zones,
                  interzone_switches=iz,
                  interzone_links=None if interzone_links is None else links,
                  switch=dataclasses.asdict(switch), latency=latency)

    gpu_leaf = [g * leaves // gpus for g in range(gpus)]
    storage_leaf, load = _fill_least_loaded(storage, leaves, gpu_leaf)
    # Round-robin over leaves, not leaf by leaf, so one inter-zone switch's links
    # land on as many different leaves as possible.
    free_ports = [i for depth in range(down) for i in range(leaves) if load[i] + depth < down]
    iz_ports = {}
    for t, leaf in enumerate(free_ports[:iz * links]):
        iz_ports[t % iz, leaf] = iz_ports.get((t % iz, leaf), 0) + 1

    G = new_graph("fire_flyer_2", params)
    # Zone by zone, with the storage servers split between zones in order, so the first
    # half of endpoints(G) against the second half is zone 0 against zone 1.
    storage_block = [i * zones // storage for i in range(storage)] if storage else []
    for z in range(zones):
        G.add_nodes_from((f"n{z * gpus + g}", {"role": "host", "layer": 0, "index": z * gpus + g,
                                               "zone": z, "leaf": gpu_leaf[g]})
                         for g in range(gpus))
        G.add_nodes_from((f"s{i}", {"role": "storage", "layer": 0, "index": i,
                                    "leaf": storage_leaf[i]})
                         for i in range(storage) if storage_block[i] == z)
    for z in range(zones):
        G.add_nodes_from((f"z{z}/leaf{i}", {"role": "leaf", "layer": 1, "index": i, "zone": z})
                         for i in range(leaves))
        G.add_nodes_from((f"z{z}/spine{j}", {"role": "spine", "layer": 2, "index": j, "zone": z})
                         for j in range(spines))
    G.add_nodes_from((f"iz{k}", {"role": "switch", "layer": 3, "index": k}) for k in range(iz))

    port_bw, medium = switch.port_bandwidth, switch.medium
    for z in range(zones):
        G.add_edges_from(((f"n{z * gpus + g}", f"z{z}/leaf{gpu_leaf[g]}") for g in range(gpus)),
                         **_link(min(port_bw, A100_PCIE.nic.bandwidth), latency, medium))
        G.add_edges_from(((f"s{i}", f"z{z}/leaf{storage_leaf[i]}") for i in range(storage)),
                         **_link(min(port_bw, CX6_200G.bandwidth), latency, medium))
        G.add_edges_from(((f"z{z}/leaf{i}", f"z{z}/spine{j}")
                          for i in range(leaves) for j in range(spines)),
                         **_link(port_bw, latency, medium))
        for (k, leaf), cables in iz_ports.items():
            G.add_edge(f"iz{k}", f"z{z}/leaf{leaf}", **_link(port_bw, latency, medium, cables))
    return G


def _fill_least_loaded(items, bins, fixed):
    """Place ``items`` one by one on the least-loaded bin (lowest index on ties).

    ``fixed`` lists the bin of each item already placed.  Returns the bins chosen and
    the final load per bin; loads end as level as the fixed ones allow.
    """
    load = [0] * bins
    for b in fixed:
        load[b] += 1
    heap = [(n, b) for b, n in enumerate(load)]
    heapq.heapify(heap)
    chosen = []
    for _ in range(items):
        n, b = heapq.heappop(heap)
        chosen.append(b)
        load[b] += 1
        heapq.heappush(heap, (n + 1, b))
    return chosen, load
