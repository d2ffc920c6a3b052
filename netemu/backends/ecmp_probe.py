"""RoCEv2-style ECMP probe: UDP/4791 packets with a BTH header over many source ports.

:func:`probe` sends ``n`` packets from one emulated host to another, one
source port each, captures them with tcpdump on every uplink of the source's
switch, reads the captures back with scapy, and sets the observed split beside

* the kernel's own prediction for the same 5-tuples (``ip route get ...
  ipproto udp sport S dport 4791``): per packet, this must agree exactly;
* netemu's hashed-ECMP model (:func:`netemu.routing.route` with ``'hash'``
  and the same source ports): a different hash function, so it predicts the
  *spread* over the uplinks, not each packet's choice.

Run as a script inside a host (``python3 ecmp_probe.py DST N SPORT0``) it is
the sender; it needs scapy only.
"""

import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

__all__ = ["probe", "ROCE_PORT", "bth_packets"]

#: RoCEv2's UDP destination port (IANA).
ROCE_PORT = 4791
PAYLOAD = 256


def bth_packets(dst, n, sport0):
    """``n`` RoCEv2 SEND-only packets to ``dst`` from source ports ``sport0 .. sport0+n-1``."""
    from scapy.all import IP, UDP, Raw
    from scapy.contrib.roce import BTH, opcode
    op = opcode("RC", "SEND_ONLY")[0]
    return [IP(dst=dst) / UDP(sport=sport0 + i, dport=ROCE_PORT) /
            BTH(opcode=op, dqpn=0x11 + i % 4, psn=i) / Raw(b"x" * PAYLOAD)
            for i in range(n)]


def probe(em, src, dst, n=256, sport0=49152, pcap_dir=None, seed=0):
    """Send ``n`` probes ``src -> dst`` in emulation ``em``; counts per uplink of ``src``'s switch.

    Returns
    -------
    dict
        ``uplinks`` (next-hop switch names), ``observed`` / ``kernel`` /
        ``model`` (``{uplink: packets}``), ``per_packet_agreement`` (share of
        probes seen on the uplink the kernel predicted for their 5-tuple),
        ``captured`` (probes seen on some uplink), ``pcaps`` (the capture
        files, kept when ``pcap_dir`` is given).
    """
    from scapy.all import UDP, rdpcap

    from ..routing import route
    from . import pcap
    from .mininet import routes_path
    em._running()
    hosts, routers, edge_of = em.spec["layout"]
    e = edge_of[src]
    if edge_of[dst] == e:
        from ..errors import ParameterError
        raise ParameterError(f"{src!r} and {dst!r} share switch {e!r}; the probe needs a "
                             f"destination behind another switch")
    G = em.current
    # Uplinks: the switch neighbours of e that some shortest path to dst's switch uses.
    import networkx as nx
    sw = G.subgraph(n for n in G if n in set(routers))
    d_to = nx.single_source_shortest_path_length(sw, edge_of[dst])
    dist = d_to[e]
    uplinks = sorted(y for y in sw.adj[e] if d_to.get(y) == dist - 1)
    tmp = Path(pcap_dir) if pcap_dir else Path(tempfile.mkdtemp(prefix="netemu-probe-"))
    tmp.mkdir(parents=True, exist_ok=True)
    router = em.node(e)
    caps = {}
    try:
        for u in uplinks:
            f = tmp / f"{e.replace('/', '_')}-to-{u.replace('/', '_')}.pcap"
            p = pcap.start(router, em._intf_towards(e, u), f,
                           ["udp", "dst", "port", str(ROCE_PORT)])
            em._procs.append(p)
            caps[u] = (p, f)
        sender = em.node(src).popen([sys.executable, "-P", __file__, em.ip(dst), str(n),
                                     str(sport0)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        em._procs.append(sender)
        out, err = sender.communicate(timeout=120)
        if sender.returncode != 0:
            from ..errors import EmulationError
            raise EmulationError(f"probe sender failed: {err.decode(errors='replace')[-400:]}")
        # Probes still queued in a shaper when the sender exits are on their way.
        pcap.settle([f for _p, f in caps.values()], n)
    finally:
        for p, _f in caps.values():
            pcap.stop(p)
            if p in em._procs:
                em._procs.remove(p)
    seen = {}
    observed = Counter()
    for u, (_p, f) in caps.items():
        for pkt in rdpcap(str(f)):
            if UDP in pkt and pkt[UDP].dport == ROCE_PORT:
                seen.setdefault(int(pkt[UDP].sport), []).append(u)
                observed[u] += 1
    sports = [sport0 + i for i in range(n)]
    kpaths = em.kernel_paths([(src, dst, s) for s in sports], proto="udp", dport=ROCE_PORT)
    kernel_choice = {s: p[2] for s, p in zip(sports, kpaths)}
    kernel = Counter(kernel_choice.values())
    routes = route(G, [src] * n, [dst] * n, "hash", seed=seed, sport=sports)
    model = Counter(routes_path(routes, i, src, dst)[2] for i in range(n))
    agree = sum(1 for s in sports if seen.get(s) == [kernel_choice[s]])
    result = {"src": src, "dst": dst, "switch": e, "uplinks": uplinks, "n": n,
              "observed": {u: observed.get(u, 0) for u in uplinks},
              "kernel": {u: kernel.get(u, 0) for u in uplinks},
              "model": {u: model.get(u, 0) for u in uplinks},
              "captured": sum(observed.values()),
              "per_packet_agreement": agree / n,
              "pcaps": [str(f) for _p, f in caps.values()] if pcap_dir else []}
    if not pcap_dir:
        for _p, f in caps.values():
            f.unlink(missing_ok=True)
        os.rmdir(tmp)
    return result


#: Gap between probes (s): 1,000 packets/s of ~300 bytes is 2.4 Mbit/s, far below any emulated
#: link, so no probe is lost in a link's queue however many are sent (a queue of 100 full frames
#: holds ~490 probes; unpaced, scapy can send faster than a 20 Mbit/s shaper drains).
PROBE_INTERVAL = 1e-3


def _main(argv):
    from scapy.all import send
    dst, n, sport0 = argv[1], int(argv[2]), int(argv[3])
    send(bth_packets(dst, n, sport0), inter=PROBE_INTERVAL, verbose=0)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
