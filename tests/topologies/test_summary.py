"""summary(): counts, bisection bandwidth (closed forms and an independent max-flow), diameter."""

import itertools

import networkx as nx
import pytest

from netemu.graph import add_link, endpoints, new_graph, switches
from netemu.units import gbps
from netemu.topologies.dragonfly import dragonfly
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree
from netemu.topologies.slim_fly import slim_fly
from netemu.topologies.summary import bisection_bandwidth, endpoint_diameter, fabric_parts, summary

BW = gbps(400)


def nx_bisection(G):
    """Independent check: networkx max-flow over switches and endpoints, halves by list order."""
    ends = endpoints(G)
    half = len(ends) // 2
    fabric = set(switches(G)) | set(ends)
    D = nx.DiGraph()
    for u, v, d in G.edges(data=True):
        if u in fabric and v in fabric and (u not in ends or v not in ends):
            D.add_edge(u, v, capacity=d["bandwidth"])
            D.add_edge(v, u, capacity=d["bandwidth"])
    for e in ends[:half]:
        D.add_edge("SOURCE", e)             # no capacity: unbounded
    for e in ends[half:]:
        D.add_edge(e, "SINK")
    return nx.maximum_flow_value(D, "SOURCE", "SINK")


def nx_endpoint_diameter(G):
    """Independent check: BFS over switches only, between every pair of endpoints."""
    sw = switches(G)
    S = G.subgraph(sw)
    dist = dict(nx.all_pairs_shortest_path_length(S))
    best = 0
    for e, f in itertools.combinations(endpoints(G), 2):
        hops = [dist[a].get(b) for a in G[e] if a in dist for b in G[f] if b in dist]
        hops = [h for h in hops if h is not None]
        if hops:
            best = max(best, min(hops) + 2)
    return best


# ------------------------------------------------------------------ counts

@pytest.mark.parametrize("radix", [4, 8, 16, 64])
def test_two_layer_counts(radix):
    s = summary(two_layer_fat_tree(radix))
    half = radix // 2
    assert (s["endpoints"], s["switches"], s["links"], s["endpoint_links"]) == (
        radix * half, radix + half, radix * half, radix * half)
    assert s["fabric_parts"] == 1
    assert s["cost_per_endpoint_usd"] == pytest.approx(s["cost_usd"] / s["endpoints"])


def test_parallel_cables_count_as_links():
    G = two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4, leaf_uplinks=6)
    s = summary(G)
    assert s["links"] == 4 * 6                             # 8 edges of 3 cables each


def test_server_internal_links_are_not_fabric_links():
    planes, radix = 4, 8
    s = summary(multi_plane_fat_tree(planes, radix))
    nics = planes * radix * radix // 2
    assert (s["endpoints"], s["endpoint_links"]) == (nics, nics)
    assert s["links"] == planes * radix * radix // 2
    assert s["switches"] == planes * (radix + radix // 2)


# ------------------------------------------------------------------ bisection, closed forms

@pytest.mark.parametrize("radix", [4, 8, 16, 64])
def test_nonblocking_leaf_spine_bisection(radix):
    # Half the leaves hold half the hosts; every host link can cross: radix^2/4 cables.
    bw, unit = bisection_bandwidth(two_layer_fat_tree(radix))
    assert bw == radix * radix // 4 * BW
    assert unit == BW


@pytest.mark.parametrize("radix, ratio", [(8, 3), (8, 1), (12, 2), (16, 3), (64, 3)])
def test_oversubscribed_leaf_spine_bisection(radix, ratio):
    # d:u leaves: the first radix/2 leaves' uplinks (radix/2 * u cables) are the cut.
    up = radix // (ratio + 1)
    bw, _ = bisection_bandwidth(two_layer_fat_tree(radix, oversubscription=ratio))
    assert bw == radix // 2 * up * BW


@pytest.mark.parametrize("k", [4, 8, 16, 64])
def test_three_layer_bisection(k):
    bw, _ = bisection_bandwidth(three_layer_fat_tree(k))
    assert bw == k**3 // 8 * BW


def test_host_bandwidth_limits_the_cut():
    G = two_layer_fat_tree(8, host_bandwidth=BW / 4)
    assert bisection_bandwidth(G)[0] == 16 * BW / 4


def test_multi_plane_bisection_is_planes_times_one_plane():
    for planes, radix in [(2, 4), (4, 8), (8, 16)]:
        bw, _ = bisection_bandwidth(multi_plane_fat_tree(planes, radix))
        assert bw == planes * radix * radix // 4 * BW


# ------------------------------------------------------------------ bisection, independent check

@pytest.mark.parametrize("G", [
    pytest.param(slim_fly(5, 3), id="slimfly-5"),
    pytest.param(slim_fly(12, 2, construction="ring"), id="ring-12"),
    pytest.param(dragonfly(4, 2, 2), id="dragonfly-4-2-2"),
    pytest.param(dragonfly(3, 3, 2, 5), id="dragonfly-g5"),
    pytest.param(two_layer_fat_tree(leaves=5, spines=3, hosts_per_leaf=3, leaf_uplinks=6),
                 id="odd-leaf-spine"),
    pytest.param(multi_plane_fat_tree(2, 4, servers=5), id="mpft-odd-servers"),
])
def test_bisection_matches_networkx(G):
    assert bisection_bandwidth(G)[0] == pytest.approx(nx_bisection(G), rel=1e-12)


def mixed_speed_graph(speeds):
    """Two leaves, one spine per speed; a host on each leaf per speed."""
    G = new_graph("mixed", {})
    for i in range(2):
        G.add_node(f"leaf{i}", role="leaf")
    for k, s in enumerate(speeds):
        G.add_node(f"spine{k}", role="spine")
        for i in range(2):
            add_link(G, f"leaf{i}", f"spine{k}", s)
    hosts = [(i, k) for i in range(2) for k in range(len(speeds))]
    for i, k in hosts:
        G.add_node(f"n{i}.{k}", role="host")
        add_link(G, f"n{i}.{k}", f"leaf{i}", speeds[k])
    return G


def test_exact_unit_for_commensurate_speeds():
    G = mixed_speed_graph([gbps(100), gbps(400), gbps(200)])
    bw, unit = bisection_bandwidth(G)
    assert unit == gbps(100)
    assert bw == nx_bisection(G) == gbps(700)


def test_coarse_unit_for_huge_coprime_speeds_stays_within_one_unit_per_link():
    # gcd 1 B/s with terabytes per second would overflow 32 bits: a coarser unit is used.
    speeds = [1e15 + 1, 1e15 + 3, 1e15 + 7]
    G = mixed_speed_graph(speeds)
    bw, unit = bisection_bandwidth(G)
    exact = nx_bisection(G)
    assert unit > 1
    assert exact - len(speeds) * unit <= bw <= exact


def test_odd_endpoint_count_puts_the_extra_one_in_the_second_half():
    G = two_layer_fat_tree(leaves=3, spines=2, hosts_per_leaf=1)
    # Host 0 alone against hosts 1 and 2: one host link is the cut.
    assert bisection_bandwidth(G)[0] == BW


# ------------------------------------------------------------------ diameter

@pytest.mark.parametrize("radix", [2, 4, 8, 64])
def test_two_layer_diameter_is_four(radix):
    assert summary(two_layer_fat_tree(radix))["diameter"] == 4


@pytest.mark.parametrize("k", [4, 8, 16, 64])
def test_three_layer_diameter_is_six(k):
    assert endpoint_diameter(three_layer_fat_tree(k)) == 6


def test_slim_fly_and_dragonfly_diameters():
    assert summary(slim_fly(7, 5))["diameter"] == 2 + 2
    assert summary(dragonfly(4, 2, 2))["diameter"] == 1 + 3 + 1


def test_multi_plane_diameter_is_one_planes():
    G = multi_plane_fat_tree(4, 8)
    assert endpoint_diameter(G) == 4
    assert fabric_parts(G) == 4


def test_single_switch_and_single_endpoint():
    G = new_graph("star", {})
    G.add_node("sw", role="switch")
    G.add_node("n0", role="host")
    add_link(G, "n0", "sw", BW)
    assert endpoint_diameter(G) == 0
    G.add_node("n1", role="host")
    add_link(G, "n1", "sw", BW)
    assert endpoint_diameter(G) == 2
    assert bisection_bandwidth(G)[0] == BW


def chain_with_dual_homed_endpoint():
    """Switches s0 - s1 - ... - s5 in a line; hosts at both ends; one host on s1 and s4."""
    G = new_graph("chain", {})
    for i in range(6):
        G.add_node(f"s{i}", role="switch")
        if i:
            add_link(G, f"s{i - 1}", f"s{i}", BW)
    for name, homes in (("a", ["s0"]), ("b", ["s5"]), ("dual", ["s1", "s4"])):
        G.add_node(name, role="storage")
        for h in homes:
            add_link(G, name, h, BW)
    return G


def test_dual_homed_endpoint_takes_its_nearer_switch():
    G = chain_with_dual_homed_endpoint()
    assert endpoint_diameter(G) == nx_endpoint_diameter(G) == 5 + 2
    G.remove_node("a")
    # b (on s5) to dual: through s4, one switch hop away.
    assert endpoint_diameter(G) == nx_endpoint_diameter(G) == 1 + 2


@pytest.mark.parametrize("G", [
    pytest.param(slim_fly(12, 1, construction="ring"), id="ring-12"),
    pytest.param(dragonfly(3, 1, 2, 5), id="dragonfly-g5"),
    pytest.param(two_layer_fat_tree(8, oversubscription=3), id="leaf-spine-3to1"),
    pytest.param(chain_with_dual_homed_endpoint(), id="chain"),
])
def test_diameter_matches_networkx(G):
    assert endpoint_diameter(G) == nx_endpoint_diameter(G)


def test_summary_keys():
    s = summary(two_layer_fat_tree(4))
    assert list(s) == ["endpoints", "switches", "links", "endpoint_links", "bisection_bandwidth",
                       "diameter", "fabric_parts", "cost_usd", "cost_per_endpoint_usd"]


@pytest.mark.parametrize("G", [
    pytest.param(slim_fly(12, 1, construction="ring"), id="ring-12"),
    pytest.param(dragonfly(3, 1, 2, 5), id="dragonfly-g5"),
    pytest.param(dragonfly(4, 2, 2), id="dragonfly-max"),
    pytest.param(three_layer_fat_tree(4), id="ft3"),
    pytest.param(chain_with_dual_homed_endpoint(), id="chain"),
])
def test_compiled_and_numpy_searches_agree_with_networkx(G, monkeypatch):
    import sys

    S = sys.modules["netemu.topologies.summary"]    # the package exports a function of that name
    compiled = endpoint_diameter(G)
    monkeypatch.setattr(S, "_or_kernel", lambda: None)      # the numpy form
    assert compiled == endpoint_diameter(G) == nx_endpoint_diameter(G)
