"""Cost model: switch prices by radix, cable kinds from the rack layout, closed-form totals."""

import math
from dataclasses import replace

import pytest

from netemu.errors import ParameterError
from netemu.graph import endpoints, switches
from netemu.units import gbps
from netemu.topologies.cost import (DEFAULT_LAYOUT, PRICES, Layout, cable_price, cost, rack_assignment,
                             switch_price)
from netemu.topologies.dragonfly import dragonfly
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree
from netemu.topologies.slim_fly import slim_fly, slim_fly_delta

BW = gbps(400)
GROUP = Layout(packing="group")
#: A floor shrunk to a point: every inter-rack cable is exactly overhead_m long.
POINT = Layout(rack_width_m=1e-12, row_pitch_m=1e-12)


def f(k):
    return PRICES.switch_usd_per_port * k + PRICES.switch_usd_fixed


def kinds(c):
    return c["electric_cables"], c["optical_cables"]


# ------------------------------------------------------------------ prices

def test_switch_price_is_linear_in_radix():
    for k in (8, 36, 40, 64, 128):
        assert switch_price(k) == pytest.approx(f(k))
    assert switch_price(64) - switch_price(32) == pytest.approx(32 * PRICES.switch_usd_per_port)


def test_cable_price_scales_the_fixed_part_with_rate_only():
    for kind, slope, fixed in (
            ("electric", PRICES.electric_usd_per_gbps_m, PRICES.electric_usd_per_gbps),
            ("optical", PRICES.optical_usd_per_gbps_m, PRICES.optical_usd_per_gbps)):
        for length, rate in ((1, 40), (3, 200), (25, 400)):
            assert cable_price(kind, length, rate) == pytest.approx(
                fixed * rate + slope * PRICES.reference_gbps * length)
            whole = replace(PRICES, scale_length_with_rate=True)
            assert cable_price(kind, length, rate, whole) == pytest.approx(
                (fixed + slope * length) * rate)
    # At the reference rate both readings agree.
    whole = replace(PRICES, scale_length_with_rate=True)
    assert cable_price("optical", 7, 40) == pytest.approx(cable_price("optical", 7, 40, whole))


def test_switches_priced_by_generator_radix_else_ports_used():
    q, p = 5, 3
    c = cost(slim_fly(q, p))                       # no radix given: k' + p ports in use
    k_net = (3 * q - slim_fly_delta(q)) // 2
    assert c["switches_usd"] == pytest.approx(2 * q * q * f(k_net + p))
    c = cost(dragonfly(4, 2, 3, 6))
    assert c["switches_usd"] == pytest.approx(24 * f(2 + 3 + 3))
    # The general three-layer form records radix=40: cores using 25 ports are 40-port boxes.
    G = three_layer_fat_tree(pods=25, leaves_per_pod=20, spines_per_pod=20, hosts_per_leaf=20,
                             spine_uplinks=16, cores=320, radix=40)
    assert cost(G)["switches_usd"] == pytest.approx(1320 * f(40))
    G.nodes["core0"]["radix"] = 64
    assert cost(G)["switches_usd"] == pytest.approx(1319 * f(40) + f(64))


# ------------------------------------------------------------------ which cables are optical

@pytest.mark.parametrize("radix", [4, 8, 64])
def test_two_layer_tor(radix):
    c = cost(two_layer_fat_tree(radix))
    n = radix * radix // 2
    assert kinds(c) == (n, n)                         # host links copper, leaf-spine optical
    assert c["racks"] == radix + math.ceil(radix // 2 / DEFAULT_LAYOUT.switches_per_rack)


@pytest.mark.parametrize("k", [4, 8, 16])
def test_three_layer_tor_and_group(k):
    G = three_layer_fat_tree(k)
    assert kinds(cost(G)) == (k**3 // 4, k**3 // 2)
    # [SF]-style pods: leaf-spine cables stay inside the pod's rack.
    assert kinds(cost(G, layout=GROUP)) == (k**3 // 2, k**3 // 4)


@pytest.mark.parametrize("q", [4, 5, 7])
def test_slim_fly_tor_and_group(q):
    p = 2
    G = slim_fly(q, p)
    k_net = (3 * q - slim_fly_delta(q)) // 2
    router_cables = q * q * k_net
    assert kinds(cost(G)) == (2 * q * q * p, router_cables)
    # Group x of both subgraphs in one rack: only subgraph-0 group x to subgraph-1 group m
    # with m != x leaves the rack, q^3 - q^2 cables.
    c = cost(G, layout=GROUP)
    assert kinds(c) == (2 * q * q * p + router_cables - (q**3 - q * q), q**3 - q * q)
    assert c["racks"] == q


@pytest.mark.parametrize("a, p, h, g", [(4, 2, 2, None), (3, 1, 2, 5), (6, 3, 3, 10)])
def test_dragonfly_tor_and_group(a, p, h, g):
    G = dragonfly(a, p, h, g)
    g = a * h + 1 if g is None else g
    local = g * a * (a - 1) // 2
    glob = sum(c for u, v, c in G.edges(data="cables")
               if u[0] == v[0] == "g" and G.nodes[u]["group"] != G.nodes[v]["group"])
    assert kinds(cost(G)) == (g * a * p, local + glob)
    c = cost(G, layout=GROUP)
    assert kinds(c) == (g * a * p + local, glob)
    assert c["racks"] == g


def test_multi_plane_racks_follow_the_servers():
    planes, radix = 4, 8
    G = multi_plane_fat_tree(planes, radix)
    rack_of, _ = rack_assignment(G)
    for i in range(radix):
        assert len({rack_of[f"p{k}/leaf{i}"] for k in range(planes)}) == 1
    for nic in endpoints(G):
        (leaf,) = [m for m in G[nic] if m in rack_of and G.nodes[m]["role"] == "leaf"]
        assert rack_of[nic] == rack_of[leaf]
    c = cost(G)
    n = planes * radix * radix // 2
    # Server-to-NIC links are inside servers: not fabric cables.
    assert kinds(c) == (n, n)
    spine_racks = math.ceil(planes * radix // 2 / DEFAULT_LAYOUT.switches_per_rack)
    assert c["racks"] == radix + spine_racks


# ------------------------------------------------------------------ closed-form totals

@pytest.mark.parametrize("G, rate", [
    pytest.param(two_layer_fat_tree(16), 400, id="ft2"),
    pytest.param(three_layer_fat_tree(8, link_bandwidth=gbps(200)), 200, id="ft3-200G"),
    pytest.param(slim_fly(7, 4), 400, id="slimfly"),
    pytest.param(dragonfly(4, 2, 2, 7), 400, id="dragonfly"),
])
def test_total_on_a_point_floor(G, rate):
    c = cost(G, layout=POINT)
    n_e, n_o = kinds(c)
    radix = G.graph["params"].get("radix")
    ports = {s: sum(k for *_, k in G.edges(s, data="cables")) for s in switches(G)}
    expect_sw = sum(f(max(radix or 0, ports[s])) for s in switches(G))
    expect_el = n_e * cable_price("electric", POINT.intra_rack_m, rate)
    expect_op = n_o * cable_price("optical", POINT.overhead_m, rate)
    assert c["switches_usd"] == pytest.approx(expect_sw)
    assert c["electric_cables_usd"] == pytest.approx(expect_el)
    assert c["optical_cables_usd"] == pytest.approx(expect_op)
    assert c["total_usd"] == pytest.approx(expect_sw + expect_el + expect_op)
    assert c["per_endpoint_usd"] == pytest.approx(c["total_usd"] / len(endpoints(G)))


def test_longer_overhead_adds_exactly_the_per_metre_price():
    G = three_layer_fat_tree(8)
    base, longer = cost(G), cost(G, layout=replace(DEFAULT_LAYOUT, overhead_m=5.0))
    n_o = base["optical_cables"]
    extra = n_o * PRICES.optical_usd_per_gbps_m * PRICES.reference_gbps * 3.0
    assert longer["total_usd"] - base["total_usd"] == pytest.approx(extra)
    assert longer["optical_metres"] - base["optical_metres"] == pytest.approx(3.0 * n_o)
    whole = replace(PRICES, scale_length_with_rate=True)
    diff = (cost(G, layout=replace(DEFAULT_LAYOUT, overhead_m=5.0), prices=whole)["total_usd"]
            - cost(G, prices=whole)["total_usd"])
    assert diff == pytest.approx(n_o * PRICES.optical_usd_per_gbps_m * 400 * 3.0)


def test_doubling_the_rate_doubles_only_the_fixed_part():
    slow = two_layer_fat_tree(8, link_bandwidth=BW)
    fast = two_layer_fat_tree(8, link_bandwidth=2 * BW)
    a, b = cost(slow), cost(fast)
    n_e, n_o = kinds(a)
    fixed = (n_e * PRICES.electric_usd_per_gbps + n_o * PRICES.optical_usd_per_gbps) * 400
    assert b["cables_usd"] - a["cables_usd"] == pytest.approx(fixed)
    assert b["switches_usd"] == a["switches_usd"]
    whole = replace(PRICES, scale_length_with_rate=True)
    assert cost(fast, prices=whole)["cables_usd"] == pytest.approx(
        2 * cost(slow, prices=whole)["cables_usd"])


def test_floor_is_a_grid_of_distinct_positions_and_lengths_are_bounded():
    G = dragonfly(4, 2, 2, 9)
    rack_of, position = rack_assignment(G)
    assert len(set(position.values())) == len(position)
    xs = [x for x, _ in position.values()]
    ys = [y for _, y in position.values()]
    span = max(xs) + max(ys)
    c = cost(G)
    assert DEFAULT_LAYOUT.overhead_m * c["optical_cables"] <= c["optical_metres"]
    assert c["optical_metres"] <= (span + DEFAULT_LAYOUT.overhead_m) * c["optical_cables"]
    # About square in metres: neither side longer than the other by more than a row or a rack.
    assert abs((max(xs) + DEFAULT_LAYOUT.rack_width_m) - (max(ys) + DEFAULT_LAYOUT.row_pitch_m)) \
        <= 2 * DEFAULT_LAYOUT.row_pitch_m


def test_cost_grows_with_the_floor():
    G = three_layer_fat_tree(8)
    small, big = cost(G), cost(G, layout=replace(DEFAULT_LAYOUT, rack_width_m=1.2,
                                                    row_pitch_m=4.8))
    assert big["optical_metres"] > small["optical_metres"]
    assert big["total_usd"] > small["total_usd"]
    assert big["switches_usd"] == small["switches_usd"]


def test_copper_reach_turns_exactly_the_short_inter_rack_cables_electric():
    # On the point floor every inter-rack cable is overhead_m long (plus a floor of
    # 1e-12 m racks): a reach below it changes nothing, a reach just above it makes every
    # one of them a copper cable of that length.
    G = two_layer_fat_tree(8)
    base = cost(G, layout=POINT)
    short = cost(G, layout=replace(POINT, copper_reach_m=POINT.overhead_m * 0.99))
    assert short == base
    reach = cost(G, layout=replace(POINT, copper_reach_m=POINT.overhead_m + 1e-6))
    n_e, n_o = kinds(base)
    assert kinds(reach) == (n_e + n_o, 0)
    assert reach["optical_metres"] == 0
    assert reach["electric_cables_usd"] == pytest.approx(
        n_e * cable_price("electric", POINT.intra_rack_m, 400)
        + n_o * cable_price("electric", POINT.overhead_m, 400), rel=1e-9)
    assert reach["switches_usd"] == base["switches_usd"]


# ------------------------------------------------------------------ guard clauses

@pytest.mark.parametrize("kwargs, message", [
    (dict(packing="row"), r"packing must be one of 'tor', 'group', got 'row'"),
    (dict(rack_width_m=0), r"rack_width_m must be a finite number > 0, got 0"),
    (dict(row_pitch_m=-2), r"row_pitch_m must be a finite number > 0"),
    (dict(overhead_m=-1), r"overhead_m must be a finite number >= 0"),
    (dict(intra_rack_m=float("nan")), r"intra_rack_m must be a finite number > 0"),
    (dict(switches_per_rack=0), r"switches_per_rack must be an integer >= 1, got 0"),
    (dict(copper_reach_m=-3), r"copper_reach_m must be a finite number >= 0"),
])
def test_layout_guard_clauses(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Layout(**kwargs)


def test_other_guard_clauses():
    with pytest.raises(ParameterError, match=r"layout must be a topologies.cost.Layout, got 'tor'"):
        cost(two_layer_fat_tree(4), layout="tor")
    with pytest.raises(ParameterError, match=r"kind must be 'electric' or 'optical', got 'copper'"):
        cable_price("copper", 1, 400)


# ------------------------------------------------------------------ small switches
def _two_port_switch(radix=None):
    """Two hosts on one switch: the switch uses 2 ports, below the [SF] line's range."""
    from netemu.graph import add_link, new_graph

    G = new_graph("pair", {})
    G.add_node("sw", role="switch", **({} if radix is None else {"radix": radix}))
    for h in ("n0", "n1"):
        G.add_node(h, role="host")
        add_link(G, h, "sw", BW)
    return G


def test_switch_below_the_price_line_is_refused_not_priced_as_a_bigger_one():
    # a k + b > 0 from k > -b / a: the smallest priced radix, computed here from the line.
    k_min = math.floor(-PRICES.switch_usd_fixed / PRICES.switch_usd_per_port) + 1
    assert f(k_min - 1) <= 0 < f(k_min)
    with pytest.raises(ParameterError, match=rf"switch 'sw' has 2 ports: .* only k >= {k_min}"):
        cost(_two_port_switch())


def test_a_declared_radix_prices_a_switch_that_uses_fewer_ports():
    # The box has 3 ports, 2 in use: a real 3-port switch, priced as one.
    c = cost(_two_port_switch(radix=3))
    assert c["switches_usd"] == pytest.approx(f(3))


def test_summary_of_an_unpriceable_graph_says_why():
    from netemu.topologies.summary import summary

    s = summary(_two_port_switch())
    assert s["endpoints"] == 2 and s["switches"] == 1
    assert math.isnan(s["cost_usd"]) and math.isnan(s["cost_per_endpoint_usd"])
    assert s["cost_note"].startswith("not priced: switch 'sw' has 2 ports")


def test_topo_info_prints_the_reason_instead_of_a_price(tmp_path, capsys):
    from netemu.cli import main
    from netemu.io import save

    path = tmp_path / "pair.json"
    save(_two_port_switch(), str(path))
    assert main(["topo", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "$nan" not in out and "not priced: switch 'sw' has 2 ports" in out
    assert main(["topo", "info", str(path), "--json"]) == 0
    import json
    data = json.loads(capsys.readouterr().out)
    assert data["cost_usd"] is None and data["cost_note"].startswith("not priced")


# ------------------------------------------------------------------ reuse across layouts

def _layouts():
    return [DEFAULT_LAYOUT, GROUP, POINT, Layout(switches_per_rack=4, copper_reach_m=3.0),
            Layout(rack_width_m=0.8, row_pitch_m=3.6, overhead_m=0.0, intra_rack_m=2.0)]


@pytest.mark.parametrize("make", [lambda: two_layer_fat_tree(8),
                                  lambda: multi_plane_fat_tree(2, 8, servers=8),
                                  lambda: dragonfly(a=4, p=2, h=2),
                                  lambda: slim_fly(5, 3)])
def test_a_frozen_graph_priced_again_gives_what_a_fresh_copy_gives(make):
    import networkx as nx

    frozen = nx.freeze(make())
    for layout in _layouts() * 2:                  # the second round is served from the cache
        for prices in (PRICES, replace(PRICES, scale_length_with_rate=True)):
            assert cost(frozen, layout=layout, prices=prices) == \
                cost(make(), layout=layout, prices=prices)
        assert rack_assignment(frozen, layout) == rack_assignment(make(), layout)


def test_a_graph_changed_in_place_is_priced_afresh():
    G = two_layer_fat_tree(8)
    before = cost(G)
    leaf = next(n for n in switches(G) if G.nodes[n]["role"] == "leaf")
    host = next(m for m in G.adj[leaf] if m not in switches(G))
    G.edges[leaf, host]["bandwidth"] = 2 * BW          # one host cable at twice the rate
    after = cost(G)
    # Only that copper cable's fixed part doubles: 0.5771 USD per Gb/s of 400 Gb/s more.
    assert after["electric_cables_usd"] - before["electric_cables_usd"] == \
        pytest.approx(PRICES.electric_usd_per_gbps * 400)
    G.add_edge(leaf, "extra-host", bandwidth=BW, latency=0.0)
    G.nodes["extra-host"]["role"] = "host"
    grown = cost(G)
    assert grown["endpoints"] == before["endpoints"] + 1
    assert grown["electric_cables"] == before["electric_cables"] + 1


def test_prices_are_the_cable_by_cable_sum():
    # An independent pricing, one cable at a time, of a tree on a real floor.
    G = three_layer_fat_tree(4)
    layout = Layout(copper_reach_m=3.0)
    rack_of, position = rack_assignment(G, layout)
    sw = set(switches(G))
    usd = {"electric": 0.0, "optical": 0.0}
    for u, v, d in G.edges(data=True):
        if u not in sw and v not in sw:
            continue
        if rack_of[u] == rack_of[v]:
            kind, length = "electric", layout.intra_rack_m
        else:
            (xu, yu), (xv, yv) = position[rack_of[u]], position[rack_of[v]]
            length = abs(xu - xv) + abs(yu - yv) + layout.overhead_m
            kind = "electric" if length <= layout.copper_reach_m else "optical"
        usd[kind] += cable_price(kind, length, d["bandwidth"] * 8 / 1e9)
    c = cost(G, layout=layout)
    assert c["electric_cables_usd"] == pytest.approx(usd["electric"], rel=1e-12)
    assert c["optical_cables_usd"] == pytest.approx(usd["optical"], rel=1e-12)
    assert c["electric_cables_usd"] > 0 and c["optical_cables_usd"] > 0
