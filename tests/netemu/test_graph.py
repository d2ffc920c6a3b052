import math

import networkx as nx
import pytest

from netemu.errors import GraphError
from netemu.graph import ROLES, add_link, endpoints, new_graph, switches, validate
from netemu.units import gbps


def small():
    G = new_graph("small", {"n": 2})
    G.add_node("leaf0", role="leaf")
    G.add_node("leaf1", role="leaf")
    G.add_node("spine0", role="spine")
    G.add_node("n0", role="host")
    G.add_node("n1", role="host")
    for leaf in ("leaf0", "leaf1"):
        add_link(G, leaf, "spine0", gbps(400))
    add_link(G, "n0", "leaf0", gbps(400))
    add_link(G, "n1", "leaf1", gbps(400))
    return G


def test_valid_graph_passes_and_is_returned():
    G = small()
    assert validate(G) is G
    assert switches(G) == ["leaf0", "leaf1", "spine0"]
    assert endpoints(G) == ["n0", "n1"]


def test_parallel_cables_add_up():
    G = small()
    add_link(G, "leaf0", "spine0", gbps(400), cables=2)
    e = G.edges["leaf0", "spine0"]
    assert e["cables"] == 3
    assert e["bandwidth"] == pytest.approx(3 * gbps(400))


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "fast", None, True])
def test_bad_bandwidth_names_the_edge(bad):
    G = small()
    G.edges["leaf0", "spine0"]["bandwidth"] = bad
    with pytest.raises(GraphError, match=r"'leaf0'-'spine0'|'spine0'-'leaf0'"):
        validate(G)


def test_missing_bandwidth():
    G = small()
    del G.edges["n0", "leaf0"]["bandwidth"]
    with pytest.raises(GraphError, match="no 'bandwidth'"):
        validate(G)


def test_unknown_role_lists_allowed():
    G = small()
    G.nodes["n0"]["role"] = "toaster"
    with pytest.raises(GraphError, match="'n0' has unknown role 'toaster'.*leaf"):
        validate(G)


def test_missing_role():
    G = small()
    G.add_edge("x", "leaf0", bandwidth=1.0)
    with pytest.raises(GraphError, match="node 'x' has no 'role'"):
        validate(G)


def test_self_loop_rejected():
    G = small()
    G.add_edge("leaf0", "leaf0", bandwidth=1.0)
    with pytest.raises(GraphError, match="self-loop on node 'leaf0'"):
        validate(G)


def test_disconnected_endpoint_named():
    G = small()
    G.add_node("n9", role="host")
    with pytest.raises(GraphError, match="n9"):
        validate(G)
    assert validate(G, connected=False) is G


@pytest.mark.parametrize("attr,bad", [("latency", -1e-6), ("latency", math.nan),
                                      ("medium", "carrier-pigeon"), ("cables", 0), ("cables", 1.5)])
def test_bad_edge_attributes(attr, bad):
    G = small()
    G.edges["leaf0", "spine0"][attr] = bad
    with pytest.raises(GraphError, match=attr if attr != "medium" else "medium"):
        validate(G)


@pytest.mark.parametrize("bad", [0, -5, math.inf])
def test_bad_node_capacity(bad):
    G = small()
    G.nodes["n0"]["capacity"] = bad
    with pytest.raises(GraphError, match="node 'n0' has capacity"):
        validate(G)


def test_directed_and_empty_and_non_graph_rejected():
    with pytest.raises(GraphError, match="directed"):
        validate(nx.DiGraph(small()))
    with pytest.raises(GraphError, match="no nodes"):
        validate(nx.Graph())
    with pytest.raises(GraphError, match="expected a networkx graph"):
        validate({"a": 1})


def test_roles_cover_design_card():
    for role in ("gpu", "cpu", "memory", "nic", "pcie_switch", "root_port", "nvswitch",
                 "leaf", "spine", "core", "router", "storage", "host"):
        assert role in ROLES


def test_edges_with_data_is_the_edge_view_in_its_order():
    import networkx as nx

    from netemu.graph import edges_with_data
    G = nx.gnm_random_graph(60, 200, seed=4)
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["bandwidth"] = float(i)
    assert edges_with_data(G) == list(G.edges(data=True))
    assert edges_with_data(nx.freeze(G.copy())) == list(G.edges(data=True))
    # Self-loops and isolated nodes, and the multigraph fallback.
    G.add_edge(3, 3, bandwidth=1.0)
    G.add_node("alone")
    assert edges_with_data(G) == list(G.edges(data=True))
    M = nx.MultiGraph([(0, 1), (0, 1)])
    assert edges_with_data(M) == list(M.edges(data=True))
    # The data dicts are the graph's own (as the edge view gives them).
    u, v, d = edges_with_data(G)[0]
    assert d is G.edges[u, v]
