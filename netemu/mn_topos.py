"""Routed-Clos topologies for Mininet's own tool: ``mn --custom netemu/mn_topos.py``.

::

    sudo mn --custom netemu/mn_topos.py --topo leafspine,4,2,4
    sudo mn --custom netemu/mn_topos.py --topo fattree,4 --test pingall

``leafspine,LEAVES,SPINES,HOSTS_PER_LEAF[,MBITS]`` and ``fattree,K[,MBITS]``
(link rate in Mbit/s, default 20).  Switches are Linux routers with ECMP
multipath routes (hash policy 3 over the 5-tuple), links HTB shapers without
netem -- the same classes :class:`netemu.backends.mininet.Emulation` uses.
Mininet finds no OpenFlow controller here and runs with none, which routers
do not need.

``mn`` runs Debian's ``/usr/bin/python3``, which has neither numpy nor
networkx, so this file uses the standard library and loads its two helper
modules by path instead of importing the ``netemu`` package.
"""

import importlib.util
import os
import sys


def _here():
    # mn exec()s this file without __file__; the code object still knows its path.
    f = globals().get("__file__") or sys._getframe(0).f_code.co_filename
    return os.path.join(os.path.dirname(os.path.abspath(f)), "backends")


def _load(name):
    key = f"netemu_mn_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(_here(), f"{name}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


_plan = _load("clos_plan")
_clos = _load("clos")

#: Frames of FIFO per link direction (about 60 ms at 20 Mbit/s).
QUEUE_FRAMES = 100


def _spec(switch_links, hosts_of_edge, mbits):
    rate = float(mbits) * 1e6
    if not rate > 0:
        raise ValueError(f"link rate must be > 0 Mbit/s, got {mbits!r}")
    offload = rate > 50e6
    queue = int(max(QUEUE_FRAMES * 1514, rate / 8 * 0.010))
    routers = list(dict.fromkeys([x for link in switch_links for x in link] + list(hosts_of_edge)))
    spec = {"routers": routers, "hosts": [], "links": [], "routes": {}}
    prefix, n = {}, 0
    for e, hs in hosts_of_edge.items():
        for h in hs:
            pre = _plan.host_prefix(n)
            n += 1
            prefix[h] = f"{pre}.0/24"
            spec["hosts"].append((h, f"{pre}.2/24", f"{pre}.1"))
            spec["links"].append((h, e, f"{pre}.2/24", f"{pre}.1/24", rate, queue, offload))
    addr, adj = {}, {r: [] for r in routers}
    for k, (a, b) in enumerate(switch_links):
        ia, ib = _plan.p2p_addrs(k)
        addr[(a, b)], addr[(b, a)] = ib, ia
        adj[a].append(b)
        adj[b].append(a)
        spec["links"].append((a, b, f"{ia}/30", f"{ib}/30", rate, queue, offload))
    spec["routes"] = _plan.ecmp_routes(routers, adj, hosts_of_edge, addr, prefix, order=list)
    return spec


def leafspine(leaves=4, spines=2, hosts_per_leaf=4, mbits=20):
    """Two-layer leaf-spine: every leaf linked to every spine."""
    leaves, spines, hosts_per_leaf = int(leaves), int(spines), int(hosts_per_leaf)
    if min(leaves, spines, hosts_per_leaf) < 1:
        raise ValueError("leafspine needs leaves, spines and hosts_per_leaf >= 1")
    ls = [f"leaf{i + 1}" for i in range(leaves)]
    ss = [f"spine{j + 1}" for j in range(spines)]
    hosts = {leaf: [f"h{i * hosts_per_leaf + m + 1}" for m in range(hosts_per_leaf)]
             for i, leaf in enumerate(ls)}
    return _clos.ClosTopo(spec=_spec([(a, b) for a in ls for b in ss], hosts, mbits))


def fattree(k=4, mbits=20):
    """The k-ary three-layer fat-tree: k pods of k/2 edge and k/2 aggregation routers,
    (k/2)^2 cores, k/2 hosts per edge router."""
    k = int(k)
    if k < 2 or k % 2:
        raise ValueError(f"fattree needs an even k >= 2, got {k}")
    h = k // 2
    cores = [f"c{i + 1}" for i in range(h * h)]
    links, hosts, n = [], {}, 0
    for p in range(k):
        edges = [f"p{p + 1}e{i + 1}" for i in range(h)]
        aggs = [f"p{p + 1}a{i + 1}" for i in range(h)]
        links += [(e, a) for e in edges for a in aggs]
        for j, a in enumerate(aggs):
            links += [(a, cores[j * h + m]) for m in range(h)]
        for e in edges:
            hosts[e] = [f"h{n + m + 1}" for m in range(h)]
            n += h
    return _clos.ClosTopo(spec=_spec(links, hosts, mbits))


topos = {"leafspine": leafspine, "fattree": fattree}
