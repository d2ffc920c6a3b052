"""Invariants of the multi-plane (MPFT) and multi-rail (MRFT) fat-trees."""

import json
from collections import Counter

import networkx as nx
import pytest

from netemu.errors import ParameterError
from netemu.graph import endpoints, switches, validate
from netemu.topologies.hardware import H800_SXM
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree


def role_nodes(G, role):
    return [n for n, r in G.nodes(data="role") if r == role]


def fabric_only(G):
    """The graph with every server node removed: what is left if nothing is forwarded inside."""
    return G.subgraph(n for n, r in G.nodes(data="role") if r != "host")


def switch_link_count(G):
    sw = set(switches(G))
    return sum(1 for u, v in G.edges if u in sw and v in sw)


def assert_balanced(counts, bins):
    values = [counts.get(b, 0) for b in range(bins)]
    assert max(values) - min(values) <= 1


# --------------------------------------------------------------------------- MPFT

# (planes, radix, servers)
MPFT = [(8, 64, None), (2, 4, None), (3, 6, 5), (4, 8, 32), (1, 4, 1), (2, 8, 29)]


@pytest.mark.parametrize("planes, radix, servers", MPFT)
def test_mpft_counts_and_degrees(planes, radix, servers):
    G = validate(multi_plane_fat_tree(planes, radix, servers=servers))
    n_servers = radix * radix // 2 if servers is None else servers
    assert len(role_nodes(G, "host")) == n_servers
    assert len(endpoints(G)) == planes * n_servers
    assert set(endpoints(G)) == set(role_nodes(G, "nic"))
    assert len(switches(G)) == planes * 3 * radix // 2
    assert switch_link_count(G) == planes * radix * radix // 2
    assert {G.degree(n) for n in role_nodes(G, "host")} == {planes}
    assert {G.degree(n) for n in role_nodes(G, "nic")} == {2}
    assert {G.degree(n) for n in role_nodes(G, "spine")} == {radix}
    for leaf in role_nodes(G, "leaf"):
        down = sum(1 for m in G[leaf] if G.nodes[m]["role"] == "nic")
        assert G.degree(leaf) == down + radix // 2
        assert down <= radix // 2
    for k in range(planes):
        per_leaf = Counter(G.nodes[n]["leaf"] for n in role_nodes(G, "nic")
                           if G.nodes[n]["plane"] == k)
        assert_balanced(per_leaf, radix)


def test_mpft_isca_defaults():
    G = multi_plane_fat_tree()
    assert len(endpoints(G)) == 16_384
    assert len(switches(G)) == 768
    assert switch_link_count(G) == 16_384
    data = G.edges["n0", "n0/nic0"]
    assert data["medium"] == "nvlink" and data["bandwidth"] == H800_SXM.nvlink_achievable


@pytest.mark.parametrize("planes, radix, servers", [(2, 4, None), (3, 6, 5), (4, 8, 20)])
def test_mpft_planes_meet_only_inside_servers(planes, radix, servers):
    G = multi_plane_fat_tree(planes, radix, servers=servers)
    for u, v in G.edges:
        pu, pv = G.nodes[u].get("plane"), G.nodes[v].get("plane")
        assert pu is None or pv is None or pu == pv
    parts = list(nx.connected_components(fabric_only(G)))
    assert len(parts) == planes
    for part in parts:
        assert len({G.nodes[n]["plane"] for n in part}) == 1
        plane = G.nodes[next(iter(part))]["plane"]
        assert {n for n in part if G.nodes[n]["role"] == "nic"} == {
            n for n in role_nodes(G, "nic") if G.nodes[n]["plane"] == plane}
    a = "n0/nic0"
    b = [n for n in role_nodes(G, "nic") if G.nodes[n]["plane"] == 1][-1]
    for path in nx.all_shortest_paths(G, a, b):
        assert any(G.nodes[n]["role"] == "host" for n in path)


@pytest.mark.parametrize("radix", [4, 8])
def test_mpft_equal_cost_paths_within_a_plane(radix):
    G = multi_plane_fat_tree(2, radix)
    nics = [n for n in role_nodes(G, "nic") if G.nodes[n]["plane"] == 0]
    paths = list(nx.all_shortest_paths(G, nics[0], nics[-1]))
    assert len(paths) == radix // 2
    assert {p[2] for p in paths} == {n for n in role_nodes(G, "spine")
                                    if G.nodes[n]["plane"] == 0}


def test_mpft_bisection_order():
    G = multi_plane_fat_tree(2, 8)
    nics = endpoints(G)
    assert nics[:4] == ["n0/nic0", "n0/nic1", "n1/nic0", "n1/nic1"]
    half = len(nics) // 2
    assert max(G.nodes[n]["leaf"] for n in nics[:half]) < min(G.nodes[n]["leaf"]
                                                             for n in nics[half:])


# --------------------------------------------------------------------------- MRFT

# (rails, radix, servers)
MRFT = [(8, 64, None), (2, 4, None), (2, 4, 3), (4, 8, 7), (1, 6, None), (3, 6, 2), (8, 16, 16)]


@pytest.mark.parametrize("rails, radix, servers", MRFT)
def test_mrft_counts_and_degrees(rails, radix, servers):
    G = validate(multi_rail_fat_tree(rails, radix, servers=servers))
    per_rail = radix // rails
    n_servers = per_rail * radix // 2 if servers is None else servers
    assert len(role_nodes(G, "host")) == n_servers
    assert len(endpoints(G)) == rails * n_servers
    assert len(role_nodes(G, "leaf")) == radix
    assert len(role_nodes(G, "spine")) == radix // 2
    assert switch_link_count(G) == radix * radix // 2
    assert {G.degree(n) for n in role_nodes(G, "spine")} == {radix}
    assert Counter(G.nodes[n]["rail"] for n in role_nodes(G, "leaf")) == Counter(
        {r: per_rail for r in range(rails)})
    for nic in role_nodes(G, "nic"):
        leaf = next(m for m in G[nic] if G.nodes[m]["role"] == "leaf")
        assert G.nodes[leaf]["rail"] == G.nodes[nic]["rail"] == G.nodes[nic]["index"]
        assert G.nodes[leaf]["index"] == G.nodes[nic]["leaf"]
    for r in range(rails):
        per_leaf = Counter(G.nodes[n]["leaf"] - r * per_rail for n in role_nodes(G, "nic")
                           if G.nodes[n]["rail"] == r)
        assert_balanced(per_leaf, per_rail)
        assert max(per_leaf.values()) <= radix // 2


@pytest.mark.parametrize("rails, radix", [(2, 4), (4, 8), (8, 64)])
def test_mrft_rails_meet_at_spines_without_servers(rails, radix):
    G = multi_rail_fat_tree(rails, radix)
    F = fabric_only(G)
    assert nx.is_connected(F)
    for b in ("n0/nic1", f"n{len(role_nodes(G, 'host')) - 1}/nic{rails - 1}"):
        paths = list(nx.all_shortest_paths(F, "n0/nic0", b))
        assert {len(p) for p in paths} == {5}
        assert {G.nodes[p[2]]["role"] for p in paths} == {"spine"}
        assert len(paths) == radix // 2


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(planes=0), r"planes.*0"),
    (dict(radix=7), r"radix.*even.*7"),
    (dict(servers=0), r"servers.*0"),
    (dict(servers=2049), r"servers=2049.*maximum of 2048"),
    (dict(planes=2, radix=4, servers=9), r"servers=9.*maximum of 8"),
    (dict(link_bandwidth=0), r"link_bandwidth"),
    (dict(intra_bandwidth=-5.0), r"intra_bandwidth.*-5"),
    (dict(latency=float("inf")), r"latency.*inf"),
    (dict(medium="carrier pigeon"), r"medium.*carrier pigeon"),
])
def test_mpft_bad_parameters(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        multi_plane_fat_tree(**kwargs)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(rails=0), r"rails.*0"),
    (dict(rails=65), r"rails.*65"),
    (dict(rails=3), r"rails=3.*radix=64.*1, 2, 4, 8, 16, 32, 64"),
    (dict(radix=9), r"radix.*even.*9"),
    (dict(servers=257), r"servers=257.*maximum of 256"),
    (dict(rails=2, radix=8, servers=17), r"servers=17.*maximum of 16"),
    (dict(intra_bandwidth="fast"), r"intra_bandwidth.*fast"),
])
def test_mrft_bad_parameters(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        multi_rail_fat_tree(**kwargs)


@pytest.mark.parametrize("generator, args", [
    (multi_plane_fat_tree, dict(planes=3, radix=6, servers=5)),
    (multi_rail_fat_tree, dict(rails=2, radix=8, servers=9, latency=1e-6)),
])
def test_params_rebuild_the_graph(generator, args):
    G = generator(**args)
    params = json.loads(json.dumps(G.graph["params"]))
    assert G.graph["name"] == generator.__name__
    assert set(generator(**params).edges) == set(G.edges)
