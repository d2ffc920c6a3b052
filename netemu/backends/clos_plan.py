"""Address plan and ECMP route tables of a routed Clos (standard library only).

Shared by :func:`netemu.backends.mininet.build_spec` and the ``mn --custom``
file, which Debian's python loads without numpy or networkx.

Addressing: host ``i`` owns ``10.(1 + i // 256).(i % 256).0/24`` (host
``.2``, its switch's port ``.1``): one /24 per host, because hosts of one
switch on separate router ports cannot share a subnet.  Router-router link
``k`` is a /30 in 10.250.0.0/15.
"""

from collections import deque

ADDR_PLAN = "hosts 10.(1+i//256).(i%256).2/24, router links 10.250.0.0/15 /30s"
MAX_HOSTS = 249 * 256
MAX_ROUTER_LINKS = 2 * 256 * 64


def host_prefix(i):
    """``'10.a.b'`` of host ``i``'s /24."""
    if i >= MAX_HOSTS:
        raise ValueError(f"{i + 1} hosts exceed the address plan ({ADDR_PLAN})")
    return f"10.{1 + i // 256}.{i % 256}"


def p2p_addrs(k):
    """The two addresses of router link ``k``'s /30."""
    if k >= MAX_ROUTER_LINKS:
        raise ValueError(f"{k + 1} router links exceed the address plan ({ADDR_PLAN})")
    pre, x = f"10.{250 + k // (256 * 64)}.{(k // 64) % 256}", (k % 64) * 4
    return f"{pre}.{x + 1}", f"{pre}.{x + 2}"


def ecmp_routes(routers, adj, hosts_of_edge, addr, prefix_of, order=sorted):
    """``{router: [(prefix, [next-hop ip, ...])]}``: all equal-cost next hops per host.

    ``adj[r]`` are the switch neighbours of router ``r``; ``hosts_of_edge[e]``
    the hosts attached to ``e``; ``addr[(r, y)]`` is ``y``'s address on link
    ``r-y``; ``prefix_of[h]`` the host's /24.  A router's next hops towards a
    host are its neighbours one hop closer to the host's switch (breadth-first
    distances), the equal-cost set of netemu's routing.
    """
    table = {}
    for e, hs in hosts_of_edge.items():
        dist, q = {e: 0}, deque([e])
        while q:
            x = q.popleft()
            for y in adj[x]:
                if y not in dist:
                    dist[y] = dist[x] + 1
                    q.append(y)
        for r in routers:
            if r == e or r not in dist:
                continue
            hops = order(y for y in adj[r] if dist.get(y) == dist[r] - 1)
            for h in hs:
                table.setdefault(r, []).append((prefix_of[h], [addr[(r, y)] for y in hops]))
    return table
