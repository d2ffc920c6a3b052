"""solve(): closed-form rates on line, dumbbell and leaf-spine networks; loads and times."""

import numpy as np
import pytest

from netemu.errors import GraphError, ParameterError, RoutingError, TrafficError
from netemu.graph import add_link, new_graph
from netemu.solution import solve
from netemu.traffic import Traffic, all_to_all, incast, permutation, shift

from .test_routing import leaf_spine, mpft


def line(bandwidths):
    """h0 - s0 - s1 - ... - h1 with the given per-link bandwidths."""
    G = new_graph("line", {})
    k = len(bandwidths) - 1
    names = ["h0"] + [f"s{i}" for i in range(k)] + ["h1"]
    for n in names:
        G.add_node(n, role="host" if n.startswith("h") else "switch")
    for (u, v), b in zip(zip(names[:-1], names[1:]), bandwidths):
        add_link(G, u, v, b)
    return G


def test_line_rate_is_the_slowest_link_and_duplex_is_independent():
    G = line([5e9, 2e9, 7e9])
    t = Traffic(["h0", "h1"], [0, 1], [1, 0], sizes=[4e9, 1e9])
    sol = solve(G, t)
    assert sol.rates.tolist() == [2e9, 2e9]
    assert sol.aggregate == 4e9
    assert sol.bottleneck_names() == ["s0->s1", "s1->s0"]
    assert sol.completion.tolist() == pytest.approx([2.0, 0.5])
    assert sol.makespan == pytest.approx(2.0)
    u = dict(zip(sol.resources.names, sol.utilisation))
    assert u["h0->s0"] == pytest.approx(2 / 5) and u["s1->h1"] == pytest.approx(2 / 7)


def test_dumbbell_shares_the_bridge_evenly():
    k, H, B = 5, 10e9, 3e9
    G = new_graph("dumbbell", {})
    G.add_nodes_from(["L", "R"], role="switch")
    add_link(G, "L", "R", B)
    for i in range(k):
        G.add_nodes_from([f"a{i}", f"b{i}"], role="host")
        add_link(G, f"a{i}", "L", H)
        add_link(G, f"b{i}", "R", H)
    eps = [f"a{i}" for i in range(k)] + [f"b{i}" for i in range(k)]
    t = Traffic(eps, np.arange(k), np.arange(k) + k, sizes=1e9)
    sol = solve(G, t)
    assert sol.rates == pytest.approx(np.full(k, B / k))
    assert sol.bottleneck_names() == ["L->R"]
    assert sol.makespan == pytest.approx(1e9 / (B / k))


@pytest.mark.parametrize("mode", ["spray", "dmodk"])
@pytest.mark.parametrize("L, S, h, H, U", [
    (4, 2, 4, 1e9, 1e9),       # full bisection: the host link limits
    (4, 2, 4, 1e9, 0.5e9),     # 2:1 oversubscribed (4 x 1G down, 2 x 0.5G up): uplinks limit
    (3, 4, 4, 4e9, 1e9),       # 16G down vs 4 x 1G up: 4:1
])
def test_leaf_spine_all_to_all_closed_form(mode, L, S, h, H, U):
    G = leaf_spine(L, S, h, host_bw=H, up_bw=U)
    sol = solve(G, all_to_all(G), mode)
    N = L * h
    # A leaf's uplinks carry h * h * (L - 1) cross-leaf flows; d-mod-k spreads them evenly when
    # S divides h (true for every case here), spraying always does.
    cross_cap = S * U / (h * h * (L - 1))
    r_cross = min(H / (N - 1), cross_cap)
    # Same-leaf flows take what the host link leaves over.
    r_local = (H - h * (L - 1) * r_cross) / (h - 1)
    src_leaf = sol.traffic.src // h
    dst_leaf = sol.traffic.dst // h
    cross = src_leaf != dst_leaf
    assert sol.rates[cross] == pytest.approx(np.full(cross.sum(), r_cross), rel=1e-9)
    assert sol.rates[~cross] == pytest.approx(np.full((~cross).sum(), r_local), rel=1e-9)
    assert sol.aggregate == pytest.approx(cross.sum() * r_cross + (~cross).sum() * r_local)
    names = sol.bottleneck_names()
    if cross_cap < H / (N - 1):
        assert sum(n.startswith("leaf") and "->spine" in n for n in names) == L * S
    else:
        assert sum(n.startswith("n") for n in names) == N      # every host uplink


def test_hash_collisions_cost_throughput_against_spray():
    G = leaf_spine(4, 4, 4)
    t = permutation(G, seed=3)
    spray = solve(G, t, "spray")
    hashed = solve(G, t, "hash", seed=1)
    assert spray.aggregate == pytest.approx(16e9)            # a permutation fits in full bisection
    assert hashed.aggregate <= spray.aggregate * (1 + 1e-12)
    assert solve(G, t, "hash", seed=1).rates.tolist() == hashed.rates.tolist()


def test_incast_is_limited_by_the_destination_link():
    H, U = 6e9, 1e9
    G = leaf_spine(2, 2, 3, host_bw=H, up_bw=U)
    sol = solve(G, incast(G, "n0"))
    # 3 remote senders share the 2 spine->leaf0 links; the 2 local ones take what is left of n0's.
    remote = 2 * U / 3
    local = (H - 3 * remote) / 2
    rates = dict(zip((a for a, _ in sol.traffic.pairs()), sol.rates))
    assert [rates[f"n{i}"] for i in (1, 2)] == pytest.approx([local, local])
    assert [rates[f"n{i}"] for i in (3, 4, 5)] == pytest.approx([remote] * 3)
    assert sorted(sol.bottleneck_names()) == ["leaf0->n0", "leaf1->spine0", "leaf1->spine1",
                                              "spine0->leaf0", "spine1->leaf0"]


def test_loads_match_rates_times_shares():
    G = leaf_spine(3, 2, 2, up_bw=0.7e9)
    sol = solve(G, shift(G, 3), "spray")
    load = np.zeros(sol.resources.n)
    for i in range(sol.n_flows):
        for name, share in sol.routes.shares(i).items():
            load[sol.resources.index(name)] += share * sol.rates[i]
    assert sol.load == pytest.approx(load)
    assert (sol.utilisation <= 1 + 1e-9).all()


def test_pxn_flows_share_a_server_capacity():
    # Two cross-plane flows both pass through server n0, a shared resource of 1 GB/s.
    G = mpft(planes=2, leaves=1, spines=1, servers=2, bw=10e9, intra=10e9,
             server_capacity=1e9)
    t = Traffic(["n0/nic0", "n0/nic1", "n1/nic0", "n1/nic1"], [0, 1], [3, 2])
    sol = solve(G, t)
    assert sol.rates == pytest.approx([0.5e9, 0.5e9])
    assert sol.bottleneck_names() == ["n0"]


def test_solve_validates_graph_and_traffic():
    G = line([1e9, 1e9])
    G.edges["h0", "s0"]["bandwidth"] = -1
    with pytest.raises(GraphError, match="h0"):
        solve(G, Traffic(["h0", "h1"], [0], [1]))
    G = line([1e9, 1e9])
    with pytest.raises(TrafficError, match="'s0'"):
        solve(G, Traffic(["h0", "s0"], [0], [1]))


def test_unreachable_pairs_are_an_error_not_a_zero_rate():
    G = mpft(planes=2, leaves=1, spines=1, servers=2)
    t = Traffic(["n0/nic0", "n1/nic1"], [0], [1])
    assert solve(G, t).rates[0] > 0
    with pytest.raises(RoutingError, match="n0/nic0->n1/nic1"):
        solve(G, t, pxn=False)


def test_all_to_all_on_multi_plane_fabric_with_pxn():
    from netemu.topologies.planes import multi_plane_fat_tree
    P, k = 2, 4
    G = multi_plane_fat_tree(P, k, servers=4, link_bandwidth=1e9, intra_bandwidth=100e9)
    sol = solve(G, all_to_all(G))
    # 8 NICs; each sends 7 flows: 1 inside its server, 3 on its own plane, 3 via PXN.  The NIC's
    # uplink carries its 3 own-plane flows plus 3 PXN flows of its sibling: 6 flows on 1 GB/s,
    # and the downlink receives 6 fabric flows as well.  The fabric (2 leaves, 2 spines per
    # plane, one server pair per leaf) has room, so every fabric flow gets 1/6 GB/s.
    fabric = ~(sol.traffic.src // P == sol.traffic.dst // P)
    assert sol.rates[fabric] == pytest.approx(np.full(fabric.sum(), 1e9 / 6))


def test_changing_a_bandwidth_between_solves_is_seen():
    G = line([5e9, 2e9, 7e9])
    t = Traffic(["h0", "h1"], [0], [1])
    assert solve(G, t).rates.tolist() == [2e9]
    G.edges["s0", "s1"]["bandwidth"] = 9e9
    assert solve(G, t).rates.tolist() == [5e9]
    G.remove_edge("s0", "s1")
    G.add_edge("s0", "s1", bandwidth=1e9)
    assert solve(G, t).rates.tolist() == [1e9]


def _no_simulation(monkeypatch):
    import netemu.flow

    def refuse(*args, **kwargs):
        raise AssertionError("completion_times ran although only rates were asked for")
    monkeypatch.setattr(netemu.flow, "completion_times", refuse)


def test_rates_only_runs_no_simulation_and_gives_the_same_rates(monkeypatch):
    G = line([5e9, 2e9, 7e9])
    t = Traffic(["h0", "h1"], [0, 1], [1, 0], sizes=[4e9, 1e9])
    timed = solve(G, t)
    _no_simulation(monkeypatch)
    sol = solve(G, t, times=False)
    assert sol.completion is None and sol.makespan is None
    assert "makespan" not in sol.summary()
    # the bridge s0->s1 (2e9) is the slowest link on each direction's path
    assert sol.rates.tolist() == timed.rates.tolist() == [2e9, 2e9]


def test_rates_only_merges_flows_of_one_route_whatever_their_size(monkeypatch):
    # 4 flows n0 -> n2 of different sizes share n0's 1e9 B/s link: 1e9 / 4 each.
    G = leaf_spine(2, 2, 2, host_bw=1e9, up_bw=1e9)
    t = Traffic(["n0", "n2"], [0, 0, 0, 0], [1, 1, 1, 1], sizes=[1e6, 2e6, 3e6, 4e6])
    _no_simulation(monkeypatch)
    sol = solve(G, t, "dmodk", times=False)
    assert sol.rates.tolist() == [0.25e9] * 4
    assert sol.row_rates.size == 1 and sol.routes.flowset.counts.tolist() == [4]


def test_rates_only_sized_all_to_all_solves_in_factored_form():
    from netemu.solution import FactoredSolution

    G = leaf_spine(2, 2, 2, host_bw=1e9, up_bw=1e9)
    sol = solve(G, all_to_all(G, size=1e6), times=False, factored=True)
    assert isinstance(sol, FactoredSolution) and sol.makespan is None
    # 4 hosts: each host link carries 3 flows, so 1e9 / 3 each
    assert sol.rates == pytest.approx(np.full(12, 1e9 / 3), rel=1e-12)
    with pytest.raises(ParameterError, match="times=False"):
        solve(G, all_to_all(G, size=1e6), factored=True)


@pytest.mark.parametrize("bad", [None, 0, "no", 1.0])
def test_times_must_be_a_bool(bad):
    G = line([1e9, 1e9])
    with pytest.raises(ParameterError, match="times must be True or False"):
        solve(G, Traffic(["h0", "h1"], [0], [1]), times=bad)
