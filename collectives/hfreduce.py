"""HFReduce ([FF] §IV): allreduce through host memory, reduced by the CPU.

Per server, pipelined in chunks (:data:`~collectives.software.HFREDUCE_CHUNK`):

1. **D2H** — every GPU copies its buffer into host memory, interleaved over the
   sockets' memory ([FF] §IV-D1): GPU -> each memory node, ``1/sockets`` each.
2. **Reduce** — the CPU on the NIC's socket reads every copy and writes one result
   into the NIC's memory node ([FF] §IV-D1 binds the result there); its SIMD reduce
   throughput is a resource fed ``k`` bytes per byte of ``S`` (``k`` GPUs).
3. **Across servers** — a double binary tree over RDMA between the servers'
   NIC-side memories, half of the data per tree, reduce up then broadcast down;
   a parent reads every child's contribution once more to add it.  Across
   Fire-Flyer's two zones the tree is one per zone joined by a single pair of
   servers: "only one pair of nodes communicates across zones" ([FF] §III-B).
   Both trees are timed; the slower bounds the stage.
4. **H2D** — each socket's CPU reads the result once and writes it to its own GPUs
   (GDRCopy, [FF] §IV-A), so host memory sees one read per socket, not per GPU.

Host memory is charged by the paths themselves: a transfer that starts or ends
at a ``memory`` node counts one read or one write on its capacity.  For eight
GPUs, two sockets and a server inside the tree the charges add up to 8 + 8 + 1
+ 2 + 2 + 1 + 2 = 24 bytes per byte of ``S`` — [FF] §IV-D3's 24x, derived from
the steps, not typed in.

:func:`hfreduce_nvlink` is the NVLink-bridge variant ([FF] §IV-C): the two GPUs of
each bridged pair reduce-scatter over NVLink first, each copies its half to the
host, and after the CPU returns each GPU its half they all-gather over NVLink.
"""

import networkx as nx

from netemu.errors import ParameterError

from .allreduce import server_trees, slowest_tree
from .ranks import by_server, crossing_pairs, deepest_path, server_nics
from .software import HFREDUCE_CHUNK
from .workload import Stage, Workload

__all__ = ["hfreduce", "hfreduce_nvlink", "server_host"]


def server_host(pm, server):
    """``(nic, nic_memory, nic_cpu, {socket: (memory, cpu)})`` of one server."""
    G = pm.G
    members = pm._members[server]
    mem = {G.nodes[m]["socket"]: m for m in members if G.nodes[m].get("role") == "memory"}
    cpu = {G.nodes[m]["socket"]: m for m in members if G.nodes[m].get("role") == "cpu"}
    if not mem or set(mem) != set(cpu):
        raise ParameterError(f"HFReduce needs host memory and CPU nodes per socket; server "
                             f"{server!r} has memory on sockets {sorted(mem)} and CPUs on "
                             f"{sorted(cpu)}")
    nics = server_nics(pm, server)
    nic = nics[0] if nics else None
    s = G.nodes[nic].get("socket") if nic is not None else min(mem)
    if s not in mem:
        H = G.subgraph(members)
        s = min(mem, key=lambda t: nx.shortest_path_length(H, nic, cpu[t]))
    return nic, mem[s], cpu[s], {t: (mem[t], cpu[t]) for t in sorted(mem)}


def _reduce_throughput(pm, cpu):
    cap = pm.G.nodes[cpu].get("reduce_bandwidth")
    if cap is None:
        raise ParameterError(f"CPU {cpu!r} has no 'reduce_bandwidth' (bytes/s of input its SIMD "
                             "reduction can sum); HFReduce needs it")
    return (f"{cpu}:reduce", cap)


def _tree_part(pm, groups, hosts, join):
    """Transfers and add-reads of the inter-server double binary tree between NIC memories.

    The trees follow the zones ([FF] §III-B, :func:`collectives.allreduce.server_trees`):
    across zones one pair of servers talks.  Returns the transfers, the add-reads, each
    tree's up-then-down chain with the index of its deepest server, and the trees.
    """
    t1, t2, zones = server_trees(pm, groups, join)
    transfers, work, chains = [], [], {}
    for k, tree in enumerate((t1, t2)):
        for child, parent in tree:
            a, b = hosts[child][1], hosts[parent][1]
            transfers += [(a, b, 0.5), (b, a, 0.5)]
            work.append((b, 0.5))            # the parent reads the child's half to add it
        path = deepest_path(tree)
        up = [(hosts[a][1], hosts[b][1]) for a, b in zip(path, path[1:])]
        chains[f"tree{k + 1}"] = (path[0], up + [(b, a) for a, b in reversed(up)])
    return transfers, work, chains, (t1, t2), zones


def hfreduce(pm, ranks, size, *, chunk=HFREDUCE_CHUNK, join="roots"):
    """HFReduce of ``size`` bytes per rank; see the module notes.

    ``chunk`` is the pipeline chunk in bytes (default :data:`~collectives.software.HFREDUCE_CHUNK`,
    a choice: [FF] does not publish it); ``join`` places the zones' gateways in the
    cross-zone tree (:func:`collectives.ranks.zoned_double_binary_tree`, also a choice).
    """
    return _hfreduce(pm, ranks, size, nvlink=False, chunk=chunk, join=join)


def hfreduce_nvlink(pm, ranks, size, *, chunk=HFREDUCE_CHUNK, join="roots"):
    """HFReduce with NVLink bridges: pairs reduce-scatter first, all-gather last ([FF] §IV-C)."""
    return _hfreduce(pm, ranks, size, nvlink=True, chunk=chunk, join=join)


def _hfreduce(pm, ranks, size, nvlink, chunk, join):
    if isinstance(chunk, bool) or not isinstance(chunk, (int, float)) or not chunk > 0:
        raise ParameterError(f"chunk must be > 0 bytes, got {chunk!r}")
    G = pm.G
    groups = by_server(ranks)
    hosts = [server_host(pm, s) for s, _ in groups]
    # With NVLink pairs every GPU handles half the data on the PCIe/host side.
    part = 0.5 if nvlink else 1.0
    transfers, work = [], []
    for (s, gpus), (nic, nmem, ncpu, sockets) in zip(groups, hosts):
        if nvlink:
            for a, b in _nvlink_pairs(G, gpus):      # reduce-scatter, and all-gather at the end
                transfers += [(a, b, 0.5), (b, a, 0.5), (a, b, 0.5), (b, a, 0.5)]
        k = len(gpus)
        for g in gpus:                                             # 1. D2H, interleaved
            for mem, _ in sockets.values():
                transfers.append((g, mem, part / len(sockets)))
        for mem, _ in sockets.values():                            # 2. reduce: read all copies
            if mem == nmem:
                work.append((mem, k * part / len(sockets)))
            else:
                transfers.append((mem, ncpu, k * part / len(sockets)))
        work.append((nmem, 1.0))                                   #    ... write the result
        work.append((_reduce_throughput(pm, ncpu), k * part))
        for sock, (mem, cpu) in sockets.items():                   # 4. H2D: one read per socket
            mine = [g for g in gpus if G.nodes[g].get("socket") == sock]
            if not mine:
                continue
            if cpu == ncpu:
                work.append((nmem, 1.0))
            else:
                transfers.append((nmem, cpu, 1.0))
            transfers += [(cpu, g, part) for g in mine]
    tree, adds, tree_chains, trees, zones = _tree_part(pm, groups, hosts, join)   # 3. across servers
    transfers += tree
    work += adds
    chains = {}
    for label, (i, up_down) in tree_chains.items():
        # D2H of the deepest server's first GPU, the tree up and down, its H2D.
        g = groups[i][1][0]
        chains[label] = [(g, hosts[i][1])] + up_down + [(hosts[i][2], g)]
    name = "hfreduce-nvlink" if nvlink else "hfreduce"
    st = Stage(name, transfers, work=work, chain=chains["tree1"], chunk=chunk)
    w = Workload("allreduce", name, list(ranks), size, [st],
                 {"host_memory_per_byte": _memory_per_byte(pm, transfers, work, hosts),
                  "cross_zone_pairs": len(crossing_pairs(trees, zones)), "chunk": chunk})
    return slowest_tree(pm, w, chains)


def _nvlink_pairs(G, gpus):
    inside = set(gpus)
    pairs, seen = [], set()
    for g in gpus:
        for h in G.adj[g]:
            if h in inside and h not in seen and g not in seen and \
                    G.edges[g, h].get("medium") == "nvlink" and G.nodes[h].get("role") == "gpu":
                pairs.append((g, h))
                seen |= {g, h}
    alone = [g for g in gpus if g not in seen]
    if alone:
        raise ParameterError(f"the NVLink variant needs every GPU bridged to another rank; "
                             f"{alone[0]!r} has no NVLink partner among the ranks")
    return pairs


def _memory_per_byte(pm, transfers, work, hosts):
    """Host-memory bytes (reads + writes) per byte of S of the busiest server, from the workload."""
    mem_server = {m: i for i, h in enumerate(hosts) for m, _ in h[3].values()}
    total = [0.0] * len(hosts)
    for u, v, a in transfers:
        for x in (u, v):
            if x in mem_server:
                total[mem_server[x]] += a
    for spec, a in work:
        if not isinstance(spec, tuple) and spec in mem_server:
            total[mem_server[spec]] += a
    return max(total)
