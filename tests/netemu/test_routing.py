"""Routing: resources, spray fractions against counted paths, hashed ECMP, d-mod-k, PXN, errors."""

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import RoutingError
from netemu.graph import add_link, endpoints, new_graph
from netemu.routing import Resources, natural_key, route


def leaf_spine(leaves, spines, hosts, host_bw=1e9, up_bw=1e9, cables=1):
    G = new_graph("leaf_spine", {})
    for j in range(spines):
        G.add_node(f"spine{j}", role="spine")
    for i in range(leaves):
        G.add_node(f"leaf{i}", role="leaf")
        for j in range(spines):
            add_link(G, f"leaf{i}", f"spine{j}", up_bw, cables=cables)
    for h in range(leaves * hosts):
        G.add_node(f"n{h}", role="host")
        add_link(G, f"n{h}", f"leaf{h // hosts}", host_bw)
    return G


def mpft(planes, leaves, spines, servers, bw=1e9, intra=4e9, server_capacity=None):
    """Multi-plane fat-tree built by hand: NIC p of server s on plane p."""
    G = new_graph("mpft", {})
    per = servers // leaves
    for p in range(planes):
        for j in range(spines):
            G.add_node(f"p{p}/spine{j}", role="spine")
        for i in range(leaves):
            G.add_node(f"p{p}/leaf{i}", role="leaf")
            for j in range(spines):
                add_link(G, f"p{p}/leaf{i}", f"p{p}/spine{j}", bw)
    for s in range(servers):
        G.add_node(f"n{s}", role="host")
        if server_capacity is not None:
            G.nodes[f"n{s}"]["capacity"] = server_capacity
        for p in range(planes):
            G.add_node(f"n{s}/nic{p}", role="nic", server=s, plane=p)
            add_link(G, f"n{s}", f"n{s}/nic{p}", intra, medium="nvlink")
            add_link(G, f"n{s}/nic{p}", f"p{p}/leaf{s // per}", bw)
    return G


def one(G, s, d, mode="spray", **kw):
    return route(G, [s], [d], mode, **kw).shares(0)


# -- resources ----------------------------------------------------------------------------------

def test_resources_are_both_directions_and_capacity_nodes():
    G = leaf_spine(2, 1, 1)
    G.add_node("n0/memory", role="memory", capacity=5e9)
    add_link(G, "n0", "n0/memory", 2e9, medium="memory")
    R = Resources(G)
    assert R.n == 2 * G.number_of_edges() + 1
    r = R.edge("leaf0", "spine0")
    assert R.name(r) == "leaf0->spine0"
    assert R.name(R.edge("spine0", "leaf0")) == "spine0->leaf0"
    assert R.capacity[r] == 1e9
    m = R.node("n0/memory")
    assert R.name(m) == "n0/memory" and R.capacity[m] == 5e9
    assert R.node("leaf0") == -1
    assert sorted(R.names) == sorted([f"{u}->{v}" for u, v in G.edges] +
                                     [f"{v}->{u}" for u, v in G.edges] + ["n0/memory"])
    assert R.index("leaf1->spine0") == R.edge("leaf1", "spine0")


def test_natural_key_orders_numbers_by_value():
    names = ["spine10", "spine2", "n10/nic0", "n2/nic1", "spine1"]
    assert sorted(names, key=natural_key) == ["n2/nic1", "n10/nic0", "spine1", "spine2", "spine10"]


# -- spray ----------------------------------------------------------------------------------------

def _counted_fractions(G, s, d):
    """Independent: enumerate all shortest paths via switches only, count edge uses."""
    allowed = [n for n in G if G.nodes[n]["role"] in ("leaf", "spine", "core")] + [s, d]
    paths = list(nx.all_shortest_paths(G.subgraph(allowed), s, d))
    out = {}
    for p in paths:
        for a, b in zip(p[:-1], p[1:]):
            out[f"{a}->{b}"] = out.get(f"{a}->{b}", 0) + 1
    return {k: v / len(paths) for k, v in out.items()}, len(paths)


def test_spray_fractions_equal_counted_paths_on_three_layer_fat_tree():
    from netemu.topologies.fat_tree import three_layer_fat_tree
    G = three_layer_fat_tree(4)
    hosts = sorted(endpoints(G), key=natural_key)
    pairs = [(a, b) for a, b in itertools.product(hosts, hosts) if a != b]
    r = route(G, [a for a, _ in pairs], [b for _, b in pairs], "spray")
    n_paths = set()
    for i, (a, b) in enumerate(pairs):
        expected, n = _counted_fractions(G, a, b)
        n_paths.add(n)
        got = r.shares(i)
        assert got.keys() == expected.keys(), (a, b)
        for k in expected:
            assert got[k] == pytest.approx(expected[k], rel=1e-12), (a, b, k)
    # same leaf: 1 path; same pod: k/2 = 2; other pod: (k/2)^2 = 4
    assert n_paths == {1, 2, 4}


def test_spray_splits_evenly_over_spines_and_cables():
    G = leaf_spine(2, 4, 1, cables=2)
    sh = one(G, "n0", "n1")
    for j in range(4):
        assert sh[f"leaf0->spine{j}"] == pytest.approx(0.25)
        assert sh[f"spine{j}->leaf1"] == pytest.approx(0.25)
    assert sh["n0->leaf0"] == 1.0 and sh["leaf1->n1"] == 1.0


def test_spray_on_unbalanced_graph_weights_branches_by_path_count():
    # s - a - {b1, b2} - c - d  plus  s - a2 - c : 3 shortest paths? no: a2 path is shorter.
    G = new_graph("g", {})
    for n in ("a", "b1", "b2", "x", "c"):
        G.add_node(n, role="switch")
    G.add_node("h0", role="host")
    G.add_node("h1", role="host")
    for u, v in [("h0", "a"), ("a", "b1"), ("a", "b2"), ("b1", "c"), ("b2", "c"),
                 ("h0", "x"), ("x", "b2"), ("c", "h1")]:
        add_link(G, u, v, 1e9)
    # Shortest h0->h1 paths (4 hops): h0-a-b1-c, h0-a-b2-c, h0-x-b2-c.
    sh = one(G, "h0", "h1")
    assert sh["h0->a"] == pytest.approx(2 / 3)
    assert sh["h0->x"] == pytest.approx(1 / 3)
    assert sh["b2->c"] == pytest.approx(2 / 3)
    assert sh["c->h1"] == pytest.approx(1.0)


def test_spray_counts_shares_on_capacity_switch():
    G = leaf_spine(2, 2, 1)
    G.nodes["spine1"]["capacity"] = 3e9
    sh = one(G, "n0", "n1")
    assert sh["spine1"] == pytest.approx(0.5)


# -- d-mod-k ------------------------------------------------------------------------------------

def _spine_of(shares):
    ups = [k for k in shares if k.startswith("leaf") and "->spine" in k]
    assert len(ups) == 1 and shares[ups[0]] == 1.0
    return int(ups[0].split("spine")[1])


def test_dmodk_on_leaf_spine_uses_spine_d_mod_s():
    L, S, h = 4, 3, 3
    G = leaf_spine(L, S, h)
    N = L * h
    pairs = [(a, b) for a in range(N) for b in range(N) if a // h != b // h]
    r = route(G, [f"n{a}" for a, _ in pairs], [f"n{b}" for _, b in pairs], "dmodk")
    for i, (_, b) in enumerate(pairs):
        sh = r.shares(i)
        assert _spine_of(sh) == b % S
        assert sh[f"spine{b % S}->leaf{b // h}"] == 1.0


def test_dmodk_on_three_layer_tree_follows_zahavi():
    from netemu.topologies.fat_tree import three_layer_fat_tree
    k = 4
    G = three_layer_fat_tree(k)
    half = k // 2
    hosts_per_pod = half * half
    src = "n0"
    for d in range(hosts_per_pod, 4 * hosts_per_pod):
        sh = one(G, src, f"n{d}", "dmodk")
        up = [x for x in sh if x.startswith("pod0/leaf0->")]
        assert up == [f"pod0/leaf0->pod0/spine{d % half}"]
        core = [x for x in sh if x.startswith(f"pod0/spine{d % half}->core")]
        # spine j of a pod reaches cores j*k/2 .. j*k/2 + k/2 - 1
        assert core == [f"pod0/spine{d % half}->core{(d % half) * half + (d // half) % half}"]


# -- hash -----------------------------------------------------------------------------------------

def _all_to_all_names(G):
    eps = sorted(endpoints(G), key=natural_key)
    pairs = [(a, b) for a in eps for b in eps if a != b]
    return [a for a, _ in pairs], [b for _, b in pairs]


def test_hash_is_deterministic_for_a_seed_and_picks_one_path():
    G = leaf_spine(4, 4, 4)
    src, dst = _all_to_all_names(G)
    a = route(G, src, dst, "hash", seed=7)
    b = route(G, src, dst, "hash", seed=7)
    c = route(G, src, dst, "hash", seed=8)
    paths = lambda r: [tuple(r.shares(i)) for i in range(len(src))]  # noqa: E731
    pa = paths(a)
    assert pa == paths(b)
    assert pa != paths(c)
    for i, (s, d) in enumerate(zip(src, dst)):
        if int(s[1:]) // 4 != int(d[1:]) // 4:
            assert set(a.shares(i).values()) == {1.0}
            assert len(a.shares(i)) == 4          # host->leaf, leaf->spine, spine->leaf, leaf->host


def test_hash_spreads_flows_over_all_spines_with_collisions():
    G = leaf_spine(4, 4, 4)
    src, dst = _all_to_all_names(G)
    r = route(G, src, dst, "hash", seed=0)
    per_spine = np.zeros(4, dtype=int)
    per_uplink = {}
    for i, (s, d) in enumerate(zip(src, dst)):
        if int(s[1:]) // 4 != int(d[1:]) // 4:
            sh = r.shares(i)
            j = _spine_of(sh)
            per_spine[j] += 1
            up = f"leaf{int(s[1:]) // 4}->spine{j}"
            per_uplink[up] = per_uplink.get(up, 0) + 1
    assert (per_spine > 0).all()
    total = per_spine.sum()
    assert total == 16 * 12
    # Each of the 16 leaf uplinks would get 12 flows if balanced; hashing is not balanced.
    assert len(per_uplink) == 16
    assert max(per_uplink.values()) > 12


def test_hash_uses_given_source_ports():
    G = leaf_spine(2, 8, 1)
    spines = set()
    for port in range(49152, 49152 + 64):
        r = route(G, ["n0"], ["n1"], "hash", sport=[port])
        spines.add(_spine_of(r.shares(0)))
    assert spines == set(range(8))


# -- PXN and the transit rule ------------------------------------------------------------------

def test_pxn_crosses_source_server_and_no_other_server():
    G = mpft(planes=4, leaves=2, spines=2, servers=4)
    sh = one(G, "n0/nic0", "n3/nic2")
    assert sh["n0/nic0->n0"] == 1.0 and sh["n0->n0/nic2"] == 1.0
    assert sh["n0/nic2->p2/leaf0"] == 1.0 and sh["p2/leaf1->n3/nic2"] == 1.0
    touched = {x for k in sh for x in k.split("->")}
    servers = {t.split("/")[0] for t in touched if not t.startswith("p")}
    assert servers == {"n0", "n3"}
    assert not any(t.startswith("n3/") and t != "n3/nic2" for t in touched)
    assert "n3" not in touched                  # delivered to the NIC itself, no hop inside n3
    assert all(t.startswith("p2/") for t in touched if t.startswith("p"))


@pytest.mark.parametrize("mode", ["spray", "hash", "dmodk"])
def test_pxn_same_in_every_mode_and_same_server_stays_inside(mode):
    G = mpft(planes=2, leaves=2, spines=2, servers=4)
    sh = one(G, "n1/nic1", "n2/nic0", mode)
    assert sh["n1/nic1->n1"] == 1.0 and sh["n1->n1/nic0"] == 1.0
    assert sum(v for k, v in sh.items() if k.startswith("p0/leaf0->p0/spine")) == \
        pytest.approx(1.0)
    assert one(G, "n1/nic1", "n1/nic0", mode) == {"n1/nic1->n1": 1.0, "n1->n1/nic0": 1.0}


def test_pxn_on_multi_rail_moves_to_the_destination_rail():
    from netemu.topologies.planes import multi_rail_fat_tree
    G = multi_rail_fat_tree(2, 4, servers=4)
    leaf = {n: next(m for m in G.adj[n] if G.nodes[m]["role"] == "leaf")
            for n in ("n0/nic0", "n0/nic1", "n1/nic1", "n3/nic1")}
    assert leaf["n0/nic1"] == leaf["n1/nic1"] != leaf["n0/nic0"]
    # The destination's rail leaf is one hop from n0/nic1: move there inside the server.
    sh = one(G, "n0/nic0", "n1/nic1")
    assert sh == {"n0/nic0->n0": 1.0, "n0->n0/nic1": 1.0,
                  f"n0/nic1->{leaf['n0/nic1']}": 1.0, f"{leaf['n1/nic1']}->n1/nic1": 1.0}
    # Another leaf of that rail is as far from either NIC: stay on the source NIC.
    assert leaf["n3/nic1"] != leaf["n0/nic1"]
    sh = one(G, "n0/nic0", "n3/nic1")
    assert "n0/nic0->n0" not in sh and sh[f"n0/nic0->{leaf['n0/nic0']}"] == 1.0


def test_without_pxn_cross_plane_pairs_are_unreachable_and_named():
    G = mpft(planes=2, leaves=1, spines=1, servers=2)
    with pytest.raises(RoutingError, match=r"2 flow\(s\).*n0/nic0->n1/nic1"):
        route(G, ["n0/nic0", "n0/nic0", "n0/nic1"], ["n1/nic0", "n1/nic1", "n1/nic0"],
              pxn=False)


def test_path_through_another_server_is_refused():
    # n0 - sw0 - n1 - sw1 - n2: the only way from n0 to n2 crosses server n1.
    G = new_graph("g", {})
    G.add_nodes_from(["sw0", "sw1"], role="switch")
    G.add_nodes_from(["n0", "n1", "n2"], role="host")
    for u, v in [("n0", "sw0"), ("sw0", "n1"), ("n1", "sw1"), ("sw1", "n2")]:
        add_link(G, u, v, 1e9)
    with pytest.raises(RoutingError, match="n0->n2"):
        route(G, ["n0", "n0"], ["n1", "n2"])
    with pytest.raises(RoutingError, match="another server"):
        route(G, ["n0"], ["n2"], {("n0", "n2"): ["n0", "sw0", "n1", "sw1", "n2"]})


def test_explicit_paths():
    G = leaf_spine(2, 2, 1)
    r = route(G, ["n0", "n1"], ["n1", "n0"],
              {("n0", "n1"): ["n0", "leaf0", "spine1", "leaf1", "n1"],
               ("n1", "n0"): ["n1", "leaf1", "spine0", "leaf0", "n0"]})
    assert r.shares(0) == {"n0->leaf0": 1.0, "leaf0->spine1": 1.0, "spine1->leaf1": 1.0,
                           "leaf1->n1": 1.0}
    with pytest.raises(RoutingError, match="no explicit path for 1 flow"):
        route(G, ["n0"], ["n1"], {("n1", "n0"): ["n1", "leaf1", "spine0", "leaf0", "n0"]})
    with pytest.raises(RoutingError, match="not a link"):
        route(G, ["n0"], ["n1"], {("n0", "n1"): ["n0", "spine0", "leaf1", "n1"]})


def test_switch_source_is_refused_and_server_node_goes_through_its_port():
    G = mpft(planes=1, leaves=1, spines=1, servers=2)
    with pytest.raises(RoutingError, match="is a switch"):
        route(G, ["p0/leaf0"], ["n1/nic0"])
    # A node inside a server (not linked to a switch) leaves through its server's port.
    r = route(G, ["n0"], ["n1/nic0"])
    assert r.shares(0) == {"n0->n0/nic0": 1.0, "n0/nic0->p0/leaf0": 1.0,
                           "p0/leaf0->n1/nic0": 1.0}


def test_identical_flows_share_a_row():
    G = leaf_spine(2, 2, 2)
    r = route(G, ["n0", "n0", "n1"], ["n2", "n2", "n2"])
    assert r.flowset.n_flows == 2
    assert sorted(r.flowset.counts.tolist()) == [1, 2]
    assert r.row_of_flow[0] == r.row_of_flow[1] != r.row_of_flow[2]


# -- property: spray shares are a unit flow from source to destination --------------------------

@st.composite
def random_fabric(draw):
    n_sw = draw(st.integers(2, 7))
    G = new_graph("random", {})
    G.add_nodes_from((f"sw{i}" for i in range(n_sw)), role="switch")
    for i in range(1, n_sw):               # a random tree keeps it connected...
        add_link(G, f"sw{i}", f"sw{draw(st.integers(0, i - 1))}", 1e9)
    extra = draw(st.lists(st.tuples(st.integers(0, n_sw - 1), st.integers(0, n_sw - 1)),
                          max_size=8))
    for a, b in extra:                      # ...and extra links make equal-cost paths
        if a != b and not G.has_edge(f"sw{a}", f"sw{b}"):
            add_link(G, f"sw{a}", f"sw{b}", 1e9)
    n_h = draw(st.integers(2, 5))
    for h in range(n_h):
        G.add_node(f"n{h}", role="host")
        homes = draw(st.sets(st.integers(0, n_sw - 1), min_size=1, max_size=2))
        for w in homes:
            add_link(G, f"n{h}", f"sw{w}", 1e9)
    return G


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_fabric())
def test_spray_is_a_unit_flow_on_shortest_paths(G):
    hosts = sorted(endpoints(G), key=natural_key)
    pairs = [(a, b) for a in hosts for b in hosts if a != b]
    r = route(G, [a for a, _ in pairs], [b for _, b in pairs], "spray")
    H = G.subgraph([n for n in G if G.nodes[n]["role"] == "switch"])
    for i, (a, b) in enumerate(pairs):
        sh = r.shares(i)
        net = {}
        for k, v in sh.items():
            u, w = k.split("->")
            net[u] = net.get(u, 0) - v
            net[w] = net.get(w, 0) + v
        assert net.pop(a) == pytest.approx(-1.0)
        assert net.pop(b) == pytest.approx(1.0)
        assert all(abs(v) < 1e-9 for v in net.values())
        # path length = 2 access hops + switch distance between the nearest attachments
        dist = min(nx.shortest_path_length(H, x, y) for x in G.adj[a] for y in G.adj[b])
        assert sum(sh.values()) == pytest.approx(dist + 2)
        assert all(not k.startswith("n") or k.startswith(a) for k in sh if "->n" not in k)
        expected, _ = _counted_fractions_generic(G, a, b)
        assert sh == pytest.approx(expected)


def _counted_fractions_generic(G, s, d):
    allowed = [n for n in G if G.nodes[n]["role"] == "switch"] + [s, d]
    paths = list(nx.all_shortest_paths(G.subgraph(allowed), s, d))
    out = {}
    for p in paths:
        for x, y in zip(p[:-1], p[1:]):
            out[f"{x}->{y}"] = out.get(f"{x}->{y}", 0) + 1
    return {k: v / len(paths) for k, v in out.items()}, len(paths)


def test_tied_egress_points_are_sprayed_evenly_or_hashed_to_one():
    # Server n0: nic0 on leaf0, nic1 and nic2 both on leaf1; n1/nic0 on leaf1.
    G = new_graph("tie", {})
    G.add_nodes_from(["leaf0", "leaf1"], role="leaf")
    G.add_node("spine0", role="spine")
    add_link(G, "leaf0", "spine0", 1e9)
    add_link(G, "leaf1", "spine0", 1e9)
    G.add_nodes_from(["n0", "n1"], role="host")
    for nic, leaf in (("n0/nic0", "leaf0"), ("n0/nic1", "leaf1"), ("n0/nic2", "leaf1")):
        G.add_node(nic, role="nic")
        add_link(G, "n0", nic, 4e9, medium="nvlink")
        add_link(G, nic, leaf, 1e9)
    G.add_node("n1/nic0", role="nic")
    add_link(G, "n1", "n1/nic0", 4e9, medium="nvlink")
    add_link(G, "n1/nic0", "leaf1", 1e9)
    sh = one(G, "n0/nic0", "n1/nic0")
    assert sh == pytest.approx({"n0/nic0->n0": 1.0, "n0->n0/nic1": 0.5, "n0->n0/nic2": 0.5,
                                "n0/nic1->leaf1": 0.5, "n0/nic2->leaf1": 0.5,
                                "leaf1->n1/nic0": 1.0})
    for mode in ("hash", "dmodk"):
        sh = one(G, "n0/nic0", "n1/nic0", mode)
        assert sh["n0/nic0->n0"] == 1.0 and sh["leaf1->n1/nic0"] == 1.0
        assert sorted(v for k, v in sh.items() if k.startswith("n0->")) == [1.0]


def test_a_frozen_graph_keeps_its_analysis_and_an_unfrozen_one_is_rechecked():
    import networkx as nx

    from netemu.routing import _fabric
    from netemu.topologies import two_layer_fat_tree
    G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2)
    first = _fabric(G)
    G.remove_edge("leaf0", "spine0")
    assert _fabric(G) is not first          # a change in place is seen
    F = nx.freeze(two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2))
    assert _fabric(F) is _fabric(F)
    with pytest.raises(nx.NetworkXError):
        F.remove_edge("leaf0", "spine0")    # and a frozen one cannot change


def test_analyses_of_a_few_graphs_are_kept_least_recently_used_first(monkeypatch):
    import networkx as nx

    from netemu import routing
    from netemu.routing import _fabric
    from netemu.topologies import two_layer_fat_tree
    monkeypatch.setattr(routing, "_FABRIC_CACHE", {})
    graphs = [nx.freeze(two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=h))
              for h in (1, 2, 3, 4, 5)]
    first = [_fabric(G) for G in graphs[:4]]
    # Alternating between kept graphs analyses none of them again ...
    assert [_fabric(G) for G in reversed(graphs[:4])] == first[::-1]
    assert all(a is b for a, b in zip([_fabric(G) for G in graphs[:4]], first))
    # ... a fifth drops the least recently used one (graphs[0]), and only that one.
    _fabric(graphs[4])
    assert _fabric(graphs[1]) is first[1] and _fabric(graphs[3]) is first[3]
    assert _fabric(graphs[0]) is not first[0]
    # Graphs together above the node bound: only the newest analysis is kept.
    G6 = nx.freeze(two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=6))
    monkeypatch.setattr(routing, "_FABRIC_KEEP_NODES", G6.number_of_nodes())
    big = _fabric(G6)
    assert list(routing._FABRIC_CACHE) == [id(G6)]
    assert _fabric(G6) is big
