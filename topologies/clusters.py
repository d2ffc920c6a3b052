"""Whole clusters: real server graphs placed at the server positions of a fabric.

A fabric generator marks where servers go: a ``host`` node per server, either
linked straight to its leaf (Fire-Flyer 2: one NIC per server) or joined to NIC
nodes ``n{s}/nic{k}`` that hang from plane or rail ``k`` (multi-plane and
multi-rail fat-trees).  :func:`cluster` replaces each such ``host`` by the graph
of a real server (GPUs, root ports or PCIe switches, sockets, host memory,
NVLink) whose compute NIC ``i`` takes the place of the fabric's NIC ``i``, so
that every path between two GPUs runs through the servers' insides as well as
the switches.  Storage servers stay fabric-level ``storage`` nodes.

Examples
--------
>>> from topologies.planes import multi_plane_fat_tree
>>> from topologies.servers import h800_server
>>> G = cluster(multi_plane_fat_tree(2, 4, servers=2), h800_server)
>>> sorted(n for n in G.adj["n1/nic1"])
['n1/pcie_switch1', 'p1/leaf2']
"""

import re

from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, validate

__all__ = ["cluster"]


def cluster(fabric, server, **server_kwargs):
    """Place ``server(name, **server_kwargs)`` at every ``host`` node of ``fabric``.

    Parameters
    ----------
    fabric : networkx.Graph
        A fabric from :mod:`topologies` whose ``host`` nodes stand for servers.
    server : callable
        A server builder such as :func:`topologies.servers.h800_server`; it is
        called with each host's name (``'n17'``) as ``name``.
    **server_kwargs
        Passed on to ``server``.

    Returns
    -------
    networkx.Graph
        A new graph; the fabric is left as it was.  NIC ``i`` of every server
        carries the fabric NIC's ``plane``/``rail`` attributes and its link.

    Raises
    ------
    ParameterError
        If a server has fewer compute NICs than the fabric gives it links, or a
        NIC's line rate differs from its fabric link's bandwidth.
    """
    from .servers import server_nics

    if not callable(server):
        raise ParameterError(f"server must be a server builder such as h800_server, got {server!r}")
    hosts = [n for n, r in fabric.nodes(data="role") if r == "host"]
    if not hosts:
        raise ParameterError(f"fabric {fabric.graph.get('name')!r} has no host nodes to put servers at")
    G = fabric.copy()
    attrs = dict(G.graph)
    attrs["name"] = "cluster"
    attrs["params"] = {"fabric": fabric.graph.get("name"), "fabric_params": fabric.graph.get("params", {}),
                         "server": getattr(server, "__name__", str(server)),
                         "server_params": dict(server_kwargs)}
    for h in hosts:
        S = server(name=h, **server_kwargs)
        nics = server_nics(S)
        fabric_nics = sorted((m for m in fabric.adj[h] if fabric.nodes[m].get("role") == "nic"),
                             key=_natural)
        if fabric_nics:
            # Multi-plane / multi-rail: the fabric's NIC k becomes the server's NIC k.
            attach = [(nic, [(sw, fabric.edges[nic, sw]) for sw in fabric.adj[nic]
                             if fabric.nodes[sw].get("role") in SWITCH_ROLES])
                      for nic in fabric_nics]
            wanted = [_nic_index(nic) for nic in fabric_nics]
            G.remove_nodes_from(fabric_nics)
        else:
            links = sorted(((sw, fabric.edges[h, sw]) for sw in fabric.adj[h]
                            if fabric.nodes[sw].get("role") in SWITCH_ROLES), key=lambda t: _natural(t[0]))
            attach = [(None, [link]) for link in links]
            wanted = list(range(len(links)))
        if max(wanted, default=-1) >= len(nics):
            raise ParameterError(f"server {h!r} needs {max(wanted) + 1} compute NICs on this fabric; "
                                 f"{getattr(server, '__name__', 'the builder')} gives {len(nics)}")
        G.remove_node(h)
        G.update(S)
        for (fabric_nic, links), k in zip(attach, wanted):
            nic = nics[k]
            if fabric_nic is not None:
                for key in ("plane", "rail", "leaf"):
                    if key in fabric.nodes[fabric_nic]:
                        G.nodes[nic][key] = fabric.nodes[fabric_nic][key]
            rate = G.nodes[nic].get("line_rate")
            for sw, data in links:
                if rate is not None and abs(data["bandwidth"] / data.get("cables", 1) - rate) > 1e-6 * rate:
                    raise ParameterError(
                        f"NIC {nic!r} runs at {rate * 8 / 1e9:g} Gb/s but its fabric link to {sw!r} "
                        f"is {data['bandwidth'] * 8 / 1e9:g} Gb/s; build the fabric with the NIC's rate")
                G.add_edge(nic, sw, **data)
    # G.update(S) copied each server's graph attributes over the cluster's; put them back.
    G.graph.clear()
    G.graph.update(attrs)
    return validate(G)


def _nic_index(name):
    m = re.search(r"/nic(\d+)$", name)
    if not m:
        raise ParameterError(f"fabric NIC {name!r} does not follow the 'n{{s}}/nic{{k}}' naming")
    return int(m.group(1))


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]
