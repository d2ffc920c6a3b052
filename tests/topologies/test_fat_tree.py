"""Invariants of the two- and three-layer fat-trees, checked against closed forms."""

import json
from collections import Counter
from fractions import Fraction

import networkx as nx
import pytest

from netemu.errors import ParameterError
from netemu.graph import endpoints, switches, validate
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.hardware import QM8700


def cable_degree(G, n):
    return sum(c for _, _, c in G.edges(n, data="cables"))


def role_nodes(G, role):
    return [n for n, r in G.nodes(data="role") if r == role]


def switch_links(G):
    """Edges between two switches, counted once per edge and once per cable."""
    sw = set(switches(G))
    edges = [(u, v, c) for u, v, c in G.edges(data="cables") if u in sw and v in sw]
    return len(edges), sum(c for *_, c in edges)


def shortest_paths(G, a, b):
    return list(nx.all_shortest_paths(G, a, b))


# --------------------------------------------------------------------------- two layers

@pytest.mark.parametrize("radix", [2, 4, 6, 8, 16, 64])
def test_two_layer_nonblocking_counts_and_degrees(radix):
    G = validate(two_layer_fat_tree(radix))
    half = radix // 2
    assert len(endpoints(G)) == radix * half
    assert len(role_nodes(G, "leaf")) == radix
    assert len(role_nodes(G, "spine")) == half
    assert switch_links(G) == (radix * half, radix * half)
    # Every switch port is used: leaves half down + half up, spines one port per leaf.
    assert {G.degree(n) for n in switches(G)} == {radix}
    assert {G.degree(n) for n in endpoints(G)} == {1}
    assert Counter(G.nodes[n]["leaf"] for n in endpoints(G)) == Counter(
        {i: half for i in range(radix)})


@pytest.mark.parametrize("radix", [4, 8, 16])
def test_two_layer_equal_cost_paths(radix):
    G = two_layer_fat_tree(radix)
    hosts = endpoints(G)
    across = shortest_paths(G, hosts[0], hosts[-1])
    assert len(across) == radix // 2
    assert {p[2] for p in across} == set(role_nodes(G, "spine"))
    assert len(shortest_paths(G, hosts[0], hosts[1])) == 1   # same leaf


@pytest.mark.parametrize("radix, ratio", [
    (8, 1), (8, 3), (8, 7), (12, 2), (12, 5), (12, Fraction(1, 2)), (10, Fraction(3, 2)),
    (10, 1.5), (64, 3), (40, 4),
])
def test_two_layer_oversubscribed(radix, ratio):
    G = validate(two_layer_fat_tree(radix, oversubscription=ratio))
    up = Fraction(radix) / (Fraction(ratio) + 1)
    down = radix - up
    leaves, spines = role_nodes(G, "leaf"), role_nodes(G, "spine")
    assert len(leaves) == radix and len(spines) == up
    assert len(endpoints(G)) == radix * down
    for leaf in leaves:
        kinds = Counter(G.nodes[m]["role"] for m in G[leaf])
        assert Fraction(kinds["host"], kinds["spine"]) == Fraction(ratio)
        assert kinds["host"] + kinds["spine"] == radix
    assert {G.degree(s) for s in spines} == {radix}
    json.dumps(G.graph["params"])


@pytest.mark.parametrize("leaves, spines, hosts, uplinks", [
    (1, 1, 1, None), (3, 2, 5, None), (4, 2, 4, 4), (6, 3, 2, 9), (5, 4, 7, 8),
])
def test_two_layer_explicit(leaves, spines, hosts, uplinks):
    G = validate(two_layer_fat_tree(leaves=leaves, spines=spines, hosts_per_leaf=hosts,
                                    leaf_uplinks=uplinks, link_bandwidth=10.0))
    cables = (uplinks or spines) // spines
    assert len(endpoints(G)) == leaves * hosts
    assert switch_links(G) == (leaves * spines, leaves * spines * cables)
    for leaf in role_nodes(G, "leaf"):
        assert cable_degree(G, leaf) == hosts + spines * cables
    for spine in role_nodes(G, "spine"):
        assert cable_degree(G, spine) == leaves * cables
        for _, _, data in G.edges(spine, data=True):
            assert data["cables"] == cables and data["bandwidth"] == 10.0 * cables
    if leaves > 1:
        hosts_list = endpoints(G)
        paths = shortest_paths(G, hosts_list[0], hosts_list[-1])
        assert len(paths) == spines
        # ECMP choices at the first leaf: every cable of every spine.
        assert sum(G.edges[p[1], p[2]]["cables"] for p in paths) == spines * cables


def test_two_layer_radix_is_a_port_budget_in_the_explicit_form():
    G = two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4, leaf_uplinks=4, radix=8)
    assert max(cable_degree(G, n) for n in switches(G)) == 8
    with pytest.raises(ParameterError, match=r"leaf.*hosts_per_leaf=5.*leaf_uplinks=4.*radix=8"):
        two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=5, leaf_uplinks=4, radix=8)
    with pytest.raises(ParameterError, match=r"spine.*leaves=5.*cables_per_leaf=2.*= 10.*radix=8"):
        two_layer_fat_tree(leaves=5, spines=2, hosts_per_leaf=4, leaf_uplinks=4, radix=8)


def test_two_layer_attributes_and_bisection_order():
    G = two_layer_fat_tree(8, host_bandwidth=3.0, link_bandwidth=7.0, latency=1e-6,
                           medium="ethernet")
    hosts = endpoints(G)
    assert hosts == [f"n{h}" for h in range(32)]
    first = {G.nodes[h]["leaf"] for h in hosts[:16]}
    second = {G.nodes[h]["leaf"] for h in hosts[16:]}
    assert first == set(range(4)) and second == set(range(4, 8))
    for u, v, data in G.edges(data=True):
        kinds = {G.nodes[u]["role"], G.nodes[v]["role"]}
        assert data["bandwidth"] == (3.0 if "host" in kinds else 7.0)
        assert data["latency"] == 1e-6 and data["medium"] == "ethernet"
    assert {G.nodes[n]["layer"] for n in role_nodes(G, "spine")} == {2}


@pytest.mark.parametrize("kwargs", [
    dict(radix=8), dict(radix=12, oversubscription=Fraction(1, 2)),
    dict(leaves=3, spines=2, hosts_per_leaf=2, leaf_uplinks=4, radix=9, latency=2e-6),
])
def test_two_layer_params_rebuild_the_graph(kwargs):
    G = two_layer_fat_tree(**kwargs)
    params = json.loads(json.dumps(G.graph["params"]))
    assert G.graph["name"] == "two_layer_fat_tree"
    H = two_layer_fat_tree(**params)
    assert set(H.edges) == set(G.edges)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(), r"radix"),
    (dict(radix=7), r"radix.*even.*7"),
    (dict(radix=0), r"radix.*0"),
    (dict(radix=4.5), r"radix.*4\.5"),
    (dict(radix=True), r"radix"),
    (dict(radix=64, oversubscription=5),
     r"oversubscription=5.*radix=64.*whole ratios: 1, 3, 7, 15, 31, 63"),
    (dict(radix=8, oversubscription=0), r"oversubscription.*0"),
    (dict(radix=8, oversubscription=-3), r"oversubscription.*-3"),
    (dict(radix=8, oversubscription="3"), r"oversubscription.*'3'"),
    (dict(radix=8, oversubscription=3, leaves=8), r"oversubscription=3.*leaves"),
    (dict(oversubscription=3), r"radix"),
    (dict(leaves=4), r"spines, hosts_per_leaf"),
    (dict(radix=8, leaf_uplinks=4), r"leaves, spines, hosts_per_leaf"),
    (dict(leaves=4, spines=3, hosts_per_leaf=2, leaf_uplinks=4), r"leaf_uplinks=4.*spines=3"),
    (dict(leaves=0, spines=3, hosts_per_leaf=2), r"leaves.*0"),
    (dict(leaves=2, spines=3, hosts_per_leaf=-1), r"hosts_per_leaf.*-1"),
    (dict(radix=8, link_bandwidth=0), r"link_bandwidth.*0"),
    (dict(radix=8, host_bandwidth=float("nan")), r"host_bandwidth.*nan"),
    (dict(radix=8, latency=-1), r"latency.*-1"),
    (dict(radix=8, medium="pigeon"), r"medium.*pigeon"),
])
def test_two_layer_bad_parameters(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        two_layer_fat_tree(**kwargs)


# --------------------------------------------------------------------------- three layers

@pytest.mark.parametrize("k", [2, 4, 6, 8])
def test_k_ary_counts_degrees_and_paths(k):
    G = validate(three_layer_fat_tree(k))
    half = k // 2
    assert len(endpoints(G)) == k ** 3 // 4
    assert len(switches(G)) == 5 * k * k // 4
    assert len(role_nodes(G, "core")) == half * half
    assert switch_links(G) == (k ** 3 // 2, k ** 3 // 2)
    assert {G.degree(n) for n in switches(G)} == {k}
    assert {G.degree(n) for n in endpoints(G)} == {1}
    for core in role_nodes(G, "core"):
        assert sorted(G.nodes[m]["pod"] for m in G[core]) == list(range(k))
    hosts = endpoints(G)
    across_pods = shortest_paths(G, hosts[0], hosts[-1])
    assert len(across_pods) == half * half
    assert {p[3] for p in across_pods} == set(role_nodes(G, "core"))
    if half > 1:
        other_leaf = hosts[half]       # same pod, next leaf
        assert G.nodes[other_leaf]["pod"] == 0 and G.nodes[other_leaf]["leaf"] == 1
        assert len(shortest_paths(G, hosts[0], other_leaf)) == half


def test_k_ary_64_is_isca_ft3():
    G = three_layer_fat_tree(64)
    assert sum(1 for _, r in G.nodes(data="role") if r == "host") == 65_536
    assert len(switches(G)) == 5_120
    assert switch_links(G) == (131_072, 131_072)


# (pods, leaves_per_pod, spines_per_pod, hosts_per_leaf, spine_uplinks, cores)
GENERAL = [
    (4, 20, 20, 20, 20, 40),     # [FF] PCIe cluster on three layers (INFERRED shape)
    (25, 20, 20, 20, 16, 320),   # [FF] DGX-A100 cluster (INFERRED shape)
    (3, 2, 2, 2, 4, 4),
    (2, 3, 1, 2, 3, 3),
    (5, 2, 4, 1, 2, 8),
    (1, 2, 2, 3, 2, 2),
    (3, 4, 2, 4, None, None),
]


@pytest.mark.parametrize("pods, leaves, spines, hosts, uplinks, cores", GENERAL)
def test_general_three_layer(pods, leaves, spines, hosts, uplinks, cores):
    G = validate(three_layer_fat_tree(pods=pods, leaves_per_pod=leaves, spines_per_pod=spines,
                                      hosts_per_leaf=hosts, spine_uplinks=uplinks, cores=cores))
    uplinks = leaves if uplinks is None else uplinks
    cores = spines * uplinks if cores is None else cores
    group = cores // spines
    cables = uplinks // group
    assert len(endpoints(G)) == pods * leaves * hosts
    assert len(role_nodes(G, "leaf")) == pods * leaves
    assert len(role_nodes(G, "spine")) == pods * spines
    assert len(role_nodes(G, "core")) == cores
    assert switch_links(G) == (pods * leaves * spines + pods * cores,
                               pods * leaves * spines + pods * spines * uplinks)
    for leaf in role_nodes(G, "leaf"):
        assert cable_degree(G, leaf) == hosts + spines
    for spine in role_nodes(G, "spine"):
        assert cable_degree(G, spine) == leaves + uplinks
    for core in role_nodes(G, "core"):
        assert cable_degree(G, core) == pods * cables
        pods_reached = Counter(G.nodes[m]["pod"] for m in G[core])
        assert pods_reached == Counter({p: 1 for p in range(pods)})
        assert {G.nodes[m]["index"] for m in G[core]} == {G.nodes[core]["group"]}
    hosts_list = endpoints(G)
    if pods > 1:
        assert len(shortest_paths(G, hosts_list[0], hosts_list[-1])) == cores


def test_fire_flyer_three_layer_trees_fit_40_port_switches():
    # The two [FF] §III-C trees: 1,600 and 10,000 access points, 200 and 1,320 switches.
    pcie = three_layer_fat_tree(pods=4, leaves_per_pod=20, spines_per_pod=20, hosts_per_leaf=20,
                                spine_uplinks=20, cores=40, radix=QM8700.ports)
    dgx = three_layer_fat_tree(pods=25, leaves_per_pod=20, spines_per_pod=20, hosts_per_leaf=20,
                               spine_uplinks=16, cores=320, radix=QM8700.ports)
    for G, hosts, n_switches in ((pcie, 1_600, 200), (dgx, 10_000, 1_320)):
        assert len(endpoints(G)) == hosts
        assert len(switches(G)) == n_switches
        assert max(cable_degree(G, n) for n in switches(G)) <= QM8700.ports
    assert {cable_degree(pcie, n) for n in switches(pcie)} == {QM8700.ports}
    assert {pcie.edges[e]["cables"] for e in pcie.edges("core0")} == {10}


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(), r"k, or pods.*missing pods"),
    (dict(k=5), r"k.*even.*5"),
    (dict(k=0), r"k.*0"),
    (dict(k=4, pods=2), r"k=4.*pods"),
    (dict(k=4, radix=4), r"k=4.*radix"),
    (dict(pods=2, leaves_per_pod=2, spines_per_pod=2), r"missing hosts_per_leaf"),
    (dict(pods=2, leaves_per_pod=2, spines_per_pod=2, hosts_per_leaf=0), r"hosts_per_leaf.*0"),
    (dict(pods=2, leaves_per_pod=2, spines_per_pod=2, hosts_per_leaf=2, cores=3),
     r"cores=3.*spines_per_pod=2"),
    (dict(pods=2, leaves_per_pod=2, spines_per_pod=2, hosts_per_leaf=2, cores=6,
          spine_uplinks=4), r"spine_uplinks=4.*3 cores"),
    (dict(pods=2, leaves_per_pod=2, spines_per_pod=3, hosts_per_leaf=2, radix=4),
     r"leaf.*hosts_per_leaf=2 \+ spines_per_pod=3 = 5.*radix=4"),
    (dict(pods=2, leaves_per_pod=3, spines_per_pod=2, hosts_per_leaf=2, radix=5),
     r"spine.*leaves_per_pod=3 \+ spine_uplinks=3 = 6.*radix=5"),
    (dict(pods=5, leaves_per_pod=2, spines_per_pod=2, hosts_per_leaf=2, spine_uplinks=2,
          cores=2, radix=8), r"core.*pods=5 x cables_per_pod=2 = 10.*radix=8"),
    (dict(k=4, link_bandwidth=-1.0), r"link_bandwidth.*-1"),
    (dict(k=4, medium="smoke"), r"medium.*smoke"),
])
def test_three_layer_bad_parameters(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        three_layer_fat_tree(**kwargs)


def test_three_layer_params_rebuild_the_graph():
    G = three_layer_fat_tree(pods=3, leaves_per_pod=2, spines_per_pod=2, hosts_per_leaf=2,
                             spine_uplinks=4, cores=4, radix=8.0)
    params = json.loads(json.dumps(G.graph["params"]))
    assert params["radix"] == 8 and isinstance(params["radix"], int)
    assert set(three_layer_fat_tree(**params).edges) == set(G.edges)
