"""Failure injection: degraded copies, closed-form rates, plane isolation, disconnected pairs."""

import json
import math

import numpy as np
import pytest

import netemu
from netemu.cli import main
from netemu.errors import GraphError, ParameterError, RoutingError
from netemu.failures import apply_cli_failures, cli_failures, fail
from netemu.graph import endpoints, validate
from netemu.traffic import Traffic, all_to_all
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree


def test_fail_returns_a_degraded_copy_that_records_what_failed():
    G = two_layer_fat_tree(4)
    H = fail(G, links=[("leaf0", "spine0")], switches=["spine1"])
    assert G.has_edge("leaf0", "spine0") and "spine1" in G
    assert not H.has_edge("leaf0", "spine0") and "spine1" not in H
    rec = H.graph["failures"]
    assert rec["failed_links"] == ["leaf0--spine0"] and rec["switches"] == ["spine1"]
    assert "failures" not in G.graph


@pytest.mark.parametrize("kw, words", [
    ({"links": ["leaf0--nowhere"]}, ["nowhere", "not a node"]),
    ({"links": ["leaf0--leaf1"]}, ["leaf0--leaf1", "links to"]),
    ({"links": ["leaf0-spine0"]}, ["u--v"]),
    ({"switches": ["n0"]}, ["n0", "switches include"]),
    ({"switches": ["spine9"]}, ["spine9", "spine0"]),
    ({"planes": [0]}, ["plane 0", "not a multi-plane"]),
    ({"fraction": 1.5}, ["1.5", "0 to 1"]),
    ({"fraction": float("nan")}, ["nan", "0 to 1"]),
    ({"seed": -1, "fraction": 0.1}, ["seed"]),
])
def test_unknown_or_out_of_range_failures_are_refused_by_name(kw, words):
    with pytest.raises(ParameterError) as err:
        fail(two_layer_fat_tree(4), **kw)
    for w in words:
        assert w in str(err.value)


def test_unknown_plane_lists_the_planes_that_exist():
    with pytest.raises(ParameterError, match=r"plane 5.*planes: 0, 1"):
        fail(multi_plane_fat_tree(2, 8, servers=4), planes=[5])


def test_fraction_fails_ceil_of_the_switch_links_reproducibly_by_seed():
    G = two_layer_fat_tree(4)
    n = sum(1 for u, v in G.edges() if u.startswith(("leaf", "spine")) and v.startswith(("leaf", "spine")))
    H1, H2 = fail(G, fraction=0.3, seed=4), fail(G, fraction=0.3, seed=4)
    assert H1.graph["failures"]["random_links"] == math.ceil(0.3 * n)
    assert G.number_of_edges() - H1.number_of_edges() == math.ceil(0.3 * n)
    assert sorted(H1.edges()) == sorted(H2.edges())
    # only switch-to-switch links are candidates: every host keeps its link
    assert set(endpoints(H1)) == set(endpoints(G))


def test_failed_leaf_spine_link_lowers_all_to_all_exactly_as_the_closed_form_says():
    """Two-layer fat-tree, L leaves of h hosts, u = h spines, every link B; spray routing.

    With leaf0--spine0 down, everything into or out of leaf0 from other leaves
    crosses the u - 1 remaining links of leaf0 (h (N - h) flows each way), so
    those flows get r0 = (u - 1) B / (h (N - h)).  The rest is then host-limited:
    a host on another leaf sends h flows at r0 to leaf0 and N - 1 - h others,
    r1 = (B - h r0) / (N - 1 - h); a host on leaf0 sends N - h flows at r0 and
    h - 1 to its leaf mates, r2 = (B - (N - h) r0) / (h - 1).
    """
    G = two_layer_fat_tree(4)
    B = G.edges["leaf0", "spine0"]["bandwidth"]
    leaf_of = {n: d["leaf"] for n, d in G.nodes(data=True) if d["role"] == "host"}
    N = len(leaf_of)
    h = sum(1 for v in leaf_of.values() if v == 0)
    u = sum(1 for m in G.adj["leaf0"] if m.startswith("spine"))
    L = N // h
    r0 = (u - 1) * B / (h * (N - h))
    r1 = (B - h * r0) / (N - 1 - h)
    r2 = (B - (N - h) * r0) / (h - 1)
    # The closed form is self-consistent: the order r0 < r1 (leaf0 fills first) and the
    # busiest uplink of another leaf (to a spine that still reaches leaf0) within B.
    assert r0 < r1 and r0 < B / (N - 1)
    assert h * h * r0 / (u - 1) + (L - 2) * h * h * r1 / u <= B * (1 + 1e-12)

    t = all_to_all(G)
    intact = netemu.solve(G, t)
    sol = netemu.solve(fail(G, links=["leaf0--spine0"]), t)
    want = []
    for s, d in t.pairs():
        if leaf_of[s] == leaf_of[d] == 0:
            want.append(r2)
        elif leaf_of[s] == leaf_of[d]:
            want.append(r1)
        elif 0 in (leaf_of[s], leaf_of[d]):
            want.append(r0)
        else:
            want.append(r1)
    np.testing.assert_allclose(sol.rates, want, rtol=1e-12)
    # The all-to-all finishes with its slowest flow: that rate drops from B / (N - 1) to r0
    # (max-min hands the freed capacity to other flows, so the aggregate need not drop).
    assert sol.rates.min() == pytest.approx(r0, rel=1e-12)
    assert r0 < intact.rates.min()
    np.testing.assert_allclose(intact.rates, B / (N - 1), rtol=1e-12)


def _per_plane_all_to_all(G):
    """Every NIC sends to the NICs of its own plane (GPU i talks to GPU i elsewhere)."""
    eps = endpoints(G)
    plane = np.array([G.nodes[e]["plane"] for e in eps])
    src, dst = [], []
    for i in range(len(eps)):
        for j in range(len(eps)):
            if i != j and plane[i] == plane[j]:
                src.append(i)
                dst.append(j)
    return Traffic(eps, src, dst, name="per-plane all-to-all"), plane


@pytest.mark.parametrize("pxn", [True, False])
def test_failed_plane_leaves_the_other_planes_flows_untouched(pxn):
    G = multi_plane_fat_tree(4, 8, servers=8)
    t, plane = _per_plane_all_to_all(G)
    before = netemu.solve(G, t, pxn=pxn)
    sol = netemu.solve(fail(G, planes=[2]), t, pxn=pxn, disconnected="report")
    on2 = (plane[t.src] == 2) | (plane[t.dst] == 2)
    np.testing.assert_array_equal(sol.requested_rates[~on2], before.rates[~on2])
    assert np.isnan(sol.requested_rates[on2]).all()
    e = t.endpoints
    assert sorted(sol.disconnected) == sorted((e[a], e[b]) for a, b in
                                              zip(t.src[on2].tolist(), t.dst[on2].tolist()))


def test_disconnected_pairs_are_listed_by_name_with_nan_never_zero():
    G = two_layer_fat_tree(4)
    H = fail(G, links=["n0--leaf0"])
    assert H.graph["failures"]["lost_endpoints"] == ["n0"]
    t = all_to_all(G)
    with pytest.raises(RoutingError, match="n0"):
        netemu.solve(H, t)          # default: raise, naming the pairs
    sol = netemu.solve(H, t, disconnected="report")
    assert sorted(sol.disconnected) == sorted([("n0", f"n{i}") for i in range(1, 8)]
                                              + [(f"n{i}", "n0") for i in range(1, 8)])
    cut = np.array([("n0" in p) for p in t.pairs()])
    assert np.isnan(sol.requested_rates[cut]).all()
    assert (sol.requested_rates[~cut] > 0).all() and sol.n_flows == (~cut).sum()


def test_hash_routing_keeps_each_flows_port_when_others_are_cut():
    G = two_layer_fat_tree(4)
    t = all_to_all(G)
    H = fail(G, links=["n0--leaf0"])
    a = netemu.solve(H, t, "hash", disconnected="report")
    keep = ~np.array([("n0" in p) for p in t.pairs()])
    sub = Traffic(t.endpoints, t.src[keep], t.dst[keep],
                  sport=netemu.routing.DEFAULT_SPORT_BASE + np.flatnonzero(keep) % 16384)
    np.testing.assert_array_equal(a.rates, netemu.solve(H, sub, "hash").rates)


def test_everything_disconnected_is_an_error_naming_pairs():
    G = two_layer_fat_tree(4)
    H = fail(G, switches=["spine0", "spine1"])
    t = Traffic(["n0", "n7"], [0], [1])
    with pytest.raises(RoutingError, match="n0->n7"):
        netemu.solve(H, t, disconnected="report")


def test_validation_allows_disconnection_only_on_a_graph_that_records_failures():
    G = two_layer_fat_tree(4)
    H = fail(G, switches=["spine0", "spine1"])
    validate(H, allow_disconnected=True)
    bare = H.copy()
    del bare.graph["failures"]
    with pytest.raises(GraphError, match="disconnected"):
        validate(bare, allow_disconnected=True)
    with pytest.raises(GraphError, match="disconnected"):
        validate(H)


def test_solve_refuses_an_unknown_disconnected_mode():
    G = two_layer_fat_tree(4)
    with pytest.raises(ParameterError, match="'raise' or 'report', got 'drop'"):
        netemu.solve(G, all_to_all(G), disconnected="drop")


@pytest.mark.parametrize("suffix", [".json", ".graphml"])
def test_a_saved_degraded_graph_says_how_it_was_made(tmp_path, suffix):
    H = fail(two_layer_fat_tree(4), links=["n0--leaf0"], fraction=0.25, seed=2)
    path = tmp_path / f"g{suffix}"
    netemu.save(H, path)
    K = netemu.load(path)
    assert K.graph["failures"] == H.graph["failures"]
    assert sorted(K.edges()) == sorted(H.edges())


def test_cli_options_parse_repeated_and_comma_lists():
    kw = cli_failures({"fail-link": ["a--b,c--d", "e--f"], "fail-switch": ["s1,s2"],
                       "fail-plane": ["0", "1"], "fail-fraction": ["0.5"]})
    assert kw == {"links": [("a", "b"), ("c", "d"), ("e", "f")], "switches": ["s1", "s2"],
                  "planes": ["0", "1"], "fraction": 0.5}
    G = two_layer_fat_tree(4)
    assert apply_cli_failures(G, {}) is G
    with pytest.raises(ParameterError, match="--fail-fraction.*'x'"):
        cli_failures({"fail-fraction": ["x"]})


def test_cli_solve_lists_disconnected_pairs_and_json_has_them(capsys):
    assert main(["solve", "two-layer-fat-tree", "--radix", "4", "--fail-link", "n0--leaf0",
                 "--fail-link", "leaf1--spine0"]) == 0
    out = capsys.readouterr().out
    assert "disconnected 14 flow(s)" in out and "n0 -> n1" in out and "cut off      n0" in out
    assert main(["solve", "two-layer-fat-tree", "--radix", "4", "--fail-link", "n0--leaf0",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"src": "n3", "dst": "n0"} in data["disconnected"] and len(data["disconnected"]) == 14
    assert data["failures"]["failed_links"] == ["n0--leaf0"]
    assert all(f["src"] != "n0" and f["dst"] != "n0" for f in data["flows"])


def test_cli_bad_failure_is_one_line_and_exit_2(capsys):
    assert main(["solve", "two-layer-fat-tree", "--radix", "4", "--fail-switch", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err


def test_traffic_on_a_degraded_graph_keeps_the_cut_off_endpoints(tmp_path):
    """A saved degraded graph's all-to-all still names n0, so its flows are reported."""
    H = fail(two_layer_fat_tree(4), links=["n0--leaf0"])
    path = tmp_path / "h.json"
    netemu.save(H, path)
    K = netemu.load(path)
    t = all_to_all(K)
    assert "n0" in t.endpoints and t.n_flows == 8 * 7
    sol = netemu.solve(K, t, disconnected="report")
    assert len(sol.disconnected) == 14
    with pytest.raises(RoutingError, match="no path for 14 flow"):
        netemu.solve(K, t)


def test_cli_on_a_saved_degraded_graph_lists_its_disconnected_pairs(tmp_path, capsys):
    path = tmp_path / "h.graphml"
    netemu.save(fail(two_layer_fat_tree(4), links=["n0--leaf0"]), path)
    assert main(["solve", str(path)]) == 0
    assert "disconnected 14 flow(s)" in capsys.readouterr().out


def test_cli_errors_echoing_control_characters_stay_one_line(capsys):
    # found by the CLI fuzz test: '\x1e' is a line break to str.splitlines
    assert main(["-\x1e0"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "\\x1e" in err
