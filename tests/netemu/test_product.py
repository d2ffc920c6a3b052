"""The factored all-to-all solve gives the same numbers as one row per flow."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu import ParameterError, RoutingError, solve
from netemu import product
from netemu.graph import endpoints
from netemu.routing import natural_key
from netemu.solution import SATURATED, FactoredSolution
from netemu.traffic import AllToAll, all_to_all
from netemu.topologies.clusters import cluster
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree
from netemu.topologies.servers import h800_server

TOPOLOGIES = {
    "mpft-2-planes": lambda: multi_plane_fat_tree(2, 8, servers=12),
    "mpft-4-planes": lambda: multi_plane_fat_tree(4, 8),
    "mrft-4-rails": lambda: multi_rail_fat_tree(4, 8, servers=7),
    "ft2": lambda: two_layer_fat_tree(8),
    "ft2-oversubscribed": lambda: two_layer_fat_tree(8, oversubscription=3),
    "h800-cluster-mpft": lambda: cluster(multi_plane_fat_tree(4, 8, servers=6), h800_server),
}


def assert_same(a, b):
    """Rates, loads, bottlenecks, aggregate and summary of two solutions agree."""
    assert isinstance(b, FactoredSolution) and not isinstance(a, FactoredSolution)
    np.testing.assert_allclose(b.rates, a.rates, rtol=1e-9)
    np.testing.assert_allclose(b.load, a.load, rtol=1e-9, atol=1e-6 * a.load.max())
    # The saturation test is a threshold; loads summed in another order may fall on either
    # side of it only when they sit on it within round-off.
    differ = np.array(sorted(set(b.bottlenecks.tolist()) ^ set(a.bottlenecks.tolist())), int)
    assert np.all(np.abs(a.utilisation[differ] - SATURATED) < 1e-12)
    assert b.aggregate == pytest.approx(a.aggregate, rel=1e-9)
    sa, sb = a.summary(), b.summary()
    for k in ("flows", "routing"):
        assert sa[k] == sb[k]
    assert sb["saturated"] == b.bottlenecks.size
    for k in ("aggregate", "rate_min", "rate_median", "rate_max"):
        assert sb[k] == pytest.approx(sa[k], rel=1e-9)


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("pxn", [True, False])
def test_factored_equals_rows(name, pxn):
    G = TOPOLOGIES[name]()
    t = all_to_all(G)
    if not pxn and "mpft" in name:
        # Without PXN, separate planes cannot reach each other: both forms say so (and only
        # here: a routing regression elsewhere must fail, not pass through this branch).
        for factored in (False, True):
            with pytest.raises(RoutingError, match="no path for"):
                solve(G, t, pxn=pxn, factored=factored)
        return
    assert_same(solve(G, t, pxn=pxn, factored=False), solve(G, t, pxn=pxn, factored=True))


def test_endpoint_subset_and_flow_lookup():
    G = multi_plane_fat_tree(4, 8)
    eps = sorted(endpoints(G), key=natural_key)[::3]
    t = all_to_all(G, endpoints=eps)
    a, b = solve(G, t, factored=False), solve(G, t, factored=True)
    assert_same(a, b)
    k = np.array([0, 5, t.n_flows - 1])
    np.testing.assert_allclose(b.routes.flow_rates(k), a.rates[k], rtol=1e-9)
    for ra, rb in zip(a.flow_table(limit=7), b.flow_table(limit=7)):
        assert (ra["src"], ra["dst"]) == (rb["src"], rb["dst"])
        assert rb["rate"] == pytest.approx(ra["rate"], rel=1e-9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["mpft-2-planes", "mrft-4-rails", "ft2-oversubscribed"]),
       st.lists(st.floats(1e9, 1e11), min_size=1, max_size=400), st.integers(0, 2 ** 32 - 1))
def test_factored_equals_rows_random_capacities(name, bws, seed):
    # Uneven link speeds make several filling steps with different rates per class.
    G = TOPOLOGIES[name]()
    for i, (u, v) in enumerate(G.edges):
        G.edges[u, v]["bandwidth"] = bws[i % len(bws)]
    rng = np.random.default_rng(seed)
    eps = sorted(endpoints(G), key=natural_key)
    sub = [e for e in eps if rng.random() < 0.7] or eps[:2]
    if len(sub) < 2:
        sub = eps[:2]
    t = all_to_all(G, endpoints=sub)
    assert_same(solve(G, t, factored=False), solve(G, t, factored=True))


def test_auto_threshold(monkeypatch):
    G = multi_plane_fat_tree(2, 8, servers=12)
    t = all_to_all(G)
    assert not isinstance(solve(G, t), FactoredSolution)
    monkeypatch.setattr(product, "MIN_FLOWS", 1)
    assert isinstance(solve(G, t), FactoredSolution)
    # Hash routes pick a path per flow, so auto keeps the rows form.
    assert not isinstance(solve(G, t, routing="hash"), FactoredSolution)


@pytest.mark.parametrize("kwargs,size,match", [
    ({"routing": "hash"}, None, "routing 'hash'"),
    ({"routing": "dmodk"}, None, "routing 'dmodk'"),
    ({}, 1e6, "sizes"),
])
def test_factored_refusals_name_the_reason(kwargs, size, match):
    G = multi_plane_fat_tree(2, 8, servers=4)
    with pytest.raises(ParameterError, match=match):
        solve(G, all_to_all(G, size=size), factored=True, **kwargs)


def test_factored_argument_checked():
    G = multi_plane_fat_tree(2, 8, servers=4)
    with pytest.raises(ParameterError, match="factored must be None, True or False"):
        solve(G, all_to_all(G), factored="yes")


def test_lazy_all_to_all_matches_formula():
    G = two_layer_fat_tree(8)
    t = all_to_all(G)
    assert isinstance(t, AllToAll) and t._pairs is None
    N = len(t.endpoints)
    assert t.n_flows == N * (N - 1) == len(t)
    src, dst = t.src, t.dst
    assert (src != dst).all()
    assert len(set(zip(src.tolist(), dst.tolist()))) == t.n_flows
    assert t.pairs(3) == [(t.endpoints[0], t.endpoints[1]), (t.endpoints[0], t.endpoints[2]),
                          (t.endpoints[0], t.endpoints[3])]
    sized = all_to_all(G, size=2e6)
    assert sized.sizes.shape == (t.n_flows,) and (sized.sizes == 2e6).all()


def test_auto_threshold_factors_a_mid_size_all_to_all():
    # 162 hosts: 26,082 flows, past MIN_FLOWS; solved in factored form by default, same numbers
    G = two_layer_fat_tree(18)
    t = all_to_all(G)
    assert t.n_flows >= product.MIN_FLOWS
    auto = solve(G, t)
    assert_same(solve(G, t, factored=False), auto)
