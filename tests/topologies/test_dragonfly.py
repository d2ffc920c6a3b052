"""Dragonfly: counts, port budgets, even spread of global cables, diameter."""

import math
from collections import Counter

import networkx as nx
import pytest

from netemu.errors import ParameterError
from netemu.graph import endpoints, switches, validate
from netemu.topologies.dragonfly import dragonfly, group_cables
from netemu.topologies.summary import endpoint_diameter

# (a, p, h, g): maximum-size, fewer groups (even and odd leftovers), the degenerate a = 1.
CASES = [(4, 2, 2, None), (2, 1, 1, None), (4, 2, 2, 5), (4, 2, 2, 6), (5, 1, 3, 8),
         (5, 1, 3, 7), (3, 1, 3, 7), (7, 3, 3, 16), (6, 3, 3, 10), (1, 2, 5, 4), (8, 4, 4, 2)]


def cable_degree(G, n):
    return sum(c for *_, c in G.edges(n, data="cables"))


def group_of(G, n):
    return G.nodes[n]["group"]


def split_cables(G):
    local = glob = 0
    for u, v, c in G.edges(data="cables"):
        if G.nodes[u]["role"] == G.nodes[v]["role"] == "router":
            if group_of(G, u) == group_of(G, v):
                local += c
            else:
                glob += c
    return local, glob


def unused_ports(a, h, g):
    """Global ports left over: none unless g and the leftover share e are both odd."""
    extra = a * h % (g - 1)
    if extra % 2 == 0 or g % 2 == 0:
        return 0
    return math.gcd(extra // 2 + 1, g)      # one group per cycle of the matching offset


@pytest.mark.parametrize("a, p, h, g", CASES)
def test_counts_and_port_budget(a, p, h, g):
    G = validate(dragonfly(a, p, h, g))
    g = a * h + 1 if g is None else g
    routers = switches(G)
    assert len(routers) == g * a
    assert len(endpoints(G)) == g * a * p
    local, glob = split_cables(G)
    assert local == g * a * (a - 1) // 2
    assert 2 * glob == g * a * h - unused_ports(a, h, g)
    for r in routers:
        glob_r = sum(c for _, m, c in G.edges(r, data="cables")
                     if G.nodes[m]["role"] == "router" and group_of(G, m) != group_of(G, r))
        assert h - 1 <= glob_r <= h
    assert sum(p + a - 1 + h - cable_degree(G, r) for r in routers) == unused_ports(a, h, g)


@pytest.mark.parametrize("a, p, h, g", CASES)
def test_global_cables_spread_evenly(a, p, h, g):
    g = a * h + 1 if g is None else g
    counts = group_cables(a, h, g)
    assert set(counts) == {(i, j) for i in range(g) for j in range(i + 1, g)}
    base = a * h // (g - 1)
    assert set(counts.values()) <= {base, base + 1}
    per_group = Counter()
    for (i, j), c in counts.items():
        per_group[i] += c
        per_group[j] += c
    assert max(per_group.values()) == a * h
    assert a * h * g - sum(per_group.values()) == unused_ports(a, h, g)


@pytest.mark.parametrize("a, p, h, g", CASES)
def test_graph_matches_group_cables(a, p, h, g):
    G = dragonfly(a, p, h, g)
    found = Counter()
    for u, v, c in G.edges(data="cables"):
        routers = G.nodes[u]["role"] == G.nodes[v]["role"] == "router"
        if routers and group_of(G, u) != group_of(G, v):
            i, j = sorted((group_of(G, u), group_of(G, v)))
            found[i, j] += c
    assert found == Counter(group_cables(a, h, a * h + 1 if g is None else g))


def test_maximum_dragonfly_has_one_global_link_per_group_pair():
    for a, h in [(2, 1), (4, 2), (3, 3), (6, 2)]:
        G = dragonfly(a, 1, h)
        assert G.graph["params"]["g"] is None
        assert set(group_cables(a, h, a * h + 1).values()) == {1}
        assert {d["cables"] for *_, d in G.edges(data=True)} == {1}


@pytest.mark.parametrize("a, p, h, g", [c for c in CASES if c[0] > 1 and (c[3] or 3) > 2])
def test_diameter_local_global_local(a, p, h, g):
    G = dragonfly(a, p, h, g)
    R = G.subgraph(switches(G))
    assert nx.diameter(R) == 3
    assert endpoint_diameter(G) == 5


def test_absolute_arrangement():
    # Group i lists its peers 0, 1, ..., g-1 (skipping i); router r holds positions r h ...
    a, h = 4, 2
    G = dragonfly(a, 1, h)
    for i in range(a * h + 1):
        peers = [j for j in range(a * h + 1) if j != i]
        for r in range(a):
            far = sorted(group_of(G, m) for m in G[f"g{i}/r{r}"]
                         if G.nodes[m]["role"] == "router" and group_of(G, m) != i)
            assert far == peers[r * h:(r + 1) * h]


def test_naming_and_endpoint_order():
    a, p, h, g = 3, 2, 2, 5
    G = dragonfly(a, p, h, g)
    for grp in range(g):
        for r in range(a):
            d = G.nodes[f"g{grp}/r{r}"]
            assert (d["role"], d["group"], d["index"]) == ("router", grp, grp * a + r)
    ends = endpoints(G)
    assert ends == [f"n{e}" for e in range(g * a * p)]
    for e in ends:
        (router,) = G[e]
        assert G.nodes[router]["index"] == G.nodes[e]["router"] == int(e[1:]) // p


def test_isca_table3_dragonfly_formulas():
    a, p, h, g = 32, 16, 16, 511
    G = dragonfly(a, p, h, g)
    local, glob = split_cables(G)
    assert len(switches(G)) == g * a and len(endpoints(G)) == g * a * p
    assert (local, glob) == (g * a * (a - 1) // 2, g * a * h // 2)
    assert {cable_degree(G, r) for r in switches(G)} == {p + a - 1 + h}


@pytest.mark.parametrize("kwargs, message", [
    (dict(a=4, p=2, h=2, g=10), r"g must be an integer from 2 to 9, got 10"),
    (dict(a=4, p=2, h=2, g=1), r"g must be an integer from 2 to 9, got 1"),
    (dict(a=0, p=2, h=2), r"a must be an integer >= 1, got 0"),
    (dict(a=4, p=-1, h=2), r"p must be an integer >= 0, got -1"),
    (dict(a=4, p=2, h=0), r"h must be an integer >= 1, got 0"),
    (dict(a=4, p=2, h=1.5), r"h must be an integer, got 1.5"),
    (dict(a=4, p=2, h=2, link_bandwidth=-1), r"link_bandwidth must be a finite number > 0"),
    (dict(a=4, p=2, h=2, medium="smoke"), r"medium must be one of"),
])
def test_guard_clauses(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        dragonfly(**kwargs)
