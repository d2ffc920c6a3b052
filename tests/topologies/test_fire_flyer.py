"""Invariants of Fire-Flyer 2: zone trees, port budgets, storage and inter-zone links."""

import json
from collections import Counter

import networkx as nx
import pytest

from netemu.errors import ParameterError
from netemu.graph import endpoints, switches, validate
from netemu.units import gbps
from netemu.topologies.fire_flyer import INTERZONE_SWITCHES, ZONES, fire_flyer_2
from netemu.topologies.hardware import QM8700, SwitchModel

TOY8 = SwitchModel("toy-8", 8, gbps(100), "ethernet", "test")


def cable_degree(G, n):
    return sum(c for _, _, c in G.edges(n, data="cables"))


def role_nodes(G, role):
    return [n for n, r in G.nodes(data="role") if r == role]


def zone_of(G, n):
    return G.nodes[n].get("zone")


def check_network(G, *, gpus, storage, zones, iz, links, switch):
    """Every invariant that follows from the arguments; returns nothing, asserts all."""
    R = switch.ports
    validate(G)
    assert len(role_nodes(G, "host")) == zones * gpus
    assert len(role_nodes(G, "storage")) == storage
    assert len(role_nodes(G, "leaf")) == zones * R
    assert len(role_nodes(G, "spine")) == zones * R // 2
    assert len(role_nodes(G, "switch")) == iz
    assert len(switches(G)) == zones * 3 * R // 2 + iz
    # No switch uses more ports than it has; zone spines use all of theirs.
    assert max(cable_degree(G, n) for n in switches(G)) <= R
    assert {cable_degree(G, n) for n in role_nodes(G, "spine")} == {R}
    for n in role_nodes(G, "host"):
        assert G.degree(n) == 1
    for s in role_nodes(G, "storage"):
        assert sorted(zone_of(G, m) for m in G[s]) == list(range(zones))
        assert {G.nodes[m]["index"] for m in G[s]} == {G.nodes[s]["leaf"]}
    for k in role_nodes(G, "switch"):
        per_zone = Counter()
        for _, m, c in G.edges(k, data="cables"):
            assert G.nodes[m]["role"] == "leaf"
            per_zone[zone_of(G, m)] += c
        assert per_zone == Counter({z: links for z in range(zones)})
    for z in range(zones):
        leaves = [n for n in role_nodes(G, "leaf") if zone_of(G, n) == z]
        servers = Counter()
        for leaf in leaves:
            up = sum(1 for m in G[leaf] if G.nodes[m]["role"] == "spine")
            assert up == R // 2
            servers[leaf] = sum(1 for m in G[leaf] if G.nodes[m]["role"] in ("host", "storage"))
            assert servers[leaf] + sum(G.edges[leaf, m]["cables"] for m in G[leaf]
                                       if G.nodes[m]["role"] == "switch") <= R // 2
        assert sum(servers.values()) == gpus + storage
        # Spread evenly ([FF] §VI-A): leaf loads differ by at most one.
        assert max(servers.values()) - min(servers[leaf] for leaf in leaves) <= 1


def test_defaults_are_the_paper_network():
    G = fire_flyer_2()
    R = QM8700.ports
    # Per zone R leaves and R/2 spines, plus the inter-zone switches (defaults).
    assert len(switches(G)) == ZONES * (R + R // 2) + INTERZONE_SWITCHES
    check_network(G, gpus=600, storage=180, zones=2, iz=2, links=10, switch=QM8700)
    # With the defaults every zone leaf port is used: 600 + 180 + 2 x 10 = 800.
    assert {cable_degree(G, n) for n in role_nodes(G, "leaf")} == {QM8700.ports}
    for _, _, bw in G.edges(data="bandwidth"):
        assert bw == QM8700.port_bandwidth


@pytest.mark.parametrize("gpus, storage, zones, iz, links, switch", [
    (600, 180, 2, 2, None, QM8700),
    (500, 100, 2, 3, None, QM8700),
    (400, 0, 3, 2, 5, QM8700),
    (10, 4, 2, 1, None, TOY8),
    (20, 6, 4, 2, 2, TOY8),
    (30, 0, 1, 0, None, TOY8),
    (0, 8, 2, 1, 2, TOY8),
])
def test_sizes(gpus, storage, zones, iz, links, switch):
    G = fire_flyer_2(gpu_servers_per_zone=gpus, storage_servers=storage, zones=zones,
                     interzone_switches=iz, interzone_links=links, switch=switch)
    R = switch.ports
    free = R * R // 2 - gpus - storage
    expected_links = min(free // iz, R // zones) if links is None and iz else (links or 0)
    check_network(G, gpus=gpus, storage=storage, zones=zones, iz=iz, links=expected_links,
                  switch=switch)


def test_equal_cost_paths_and_zone_crossing():
    G = fire_flyer_2(gpu_servers_per_zone=10, storage_servers=4, interzone_switches=1,
                     interzone_links=2, switch=TOY8)
    hosts = role_nodes(G, "host")
    zone0 = [h for h in hosts if zone_of(G, h) == 0]
    a, b = zone0[0], zone0[-1]
    assert G.nodes[a]["leaf"] != G.nodes[b]["leaf"]
    assert len(list(nx.all_shortest_paths(G, a, b))) == TOY8.ports // 2
    c = [h for h in hosts if zone_of(G, h) == 1][-1]
    for path in nx.all_shortest_paths(G, a, c):
        assert "iz0" in path
    # Storage reaches both zones directly: one hop to a leaf of each zone.
    s = role_nodes(G, "storage")[0]
    assert nx.shortest_path_length(G, s, c) <= 4


def test_bisection_order():
    G = fire_flyer_2()
    ends = endpoints(G)
    half = len(ends) // 2
    first, second = ends[:half], ends[half:]
    assert {zone_of(G, n) for n in first if n.startswith("n")} == {0}
    assert {zone_of(G, n) for n in second if n.startswith("n")} == {1}
    assert Counter(G.nodes[n]["role"] for n in first) == Counter(host=600, storage=90)


def test_params_are_json_and_rebuild():
    G = fire_flyer_2(gpu_servers_per_zone=20, storage_servers=6, zones=3, switch=TOY8)
    params = json.loads(json.dumps(G.graph["params"]))
    assert params["switch"]["ports"] == 8
    params["switch"] = SwitchModel(**params["switch"])
    assert set(fire_flyer_2(**params).edges) == set(G.edges)


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(gpu_servers_per_zone=700), r"gpu_servers_per_zone=700.*storage_servers=180.*880.*800"),
    (dict(storage_servers=201), r"storage_servers=201.*801.*800"),
    (dict(gpu_servers_per_zone=-1), r"gpu_servers_per_zone.*-1"),
    (dict(storage_servers=1.5), r"storage_servers.*1\.5"),
    (dict(zones=0), r"zones.*0"),
    (dict(interzone_switches=-1), r"interzone_switches.*-1"),
    (dict(interzone_switches=0), r"zones=2.*interzone_switches=0"),
    (dict(gpu_servers_per_zone=620), r"zones=2.*interzone_links=0.*free leaf ports per zone: 0"),
    (dict(interzone_links=11), r"interzone_switches=2 x interzone_links=11 = 22.*only 20"),
    (dict(gpu_servers_per_zone=500, interzone_links=21),
     r"zones=2 x interzone_links=21 = 42.*40"),
    (dict(interzone_links=-2), r"interzone_links.*-2"),
    (dict(switch="QM8700"), r"switch.*SwitchModel.*'QM8700'"),
    (dict(switch=SwitchModel("odd", 7, 1.0, "ib", "test")), r"switch\.ports.*even.*7"),
    (dict(latency=-1e-6), r"latency"),
])
def test_bad_parameters(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        fire_flyer_2(**kwargs)
