"""Adaptive routing: least-loaded equal-cost next hop, flows placed in order; one policy registry."""

import numpy as np
import pytest

from netemu.errors import ParameterError
from netemu.policies import MODES, PathSpec, resolve
from netemu.routing import route
from netemu.solution import solve
from netemu.traffic import Traffic, shift

from .test_routing import leaf_spine


def _uplink_flows(routes, n, spines):
    """Flows on every leaf -> spine link (each flow's path is one of unit shares)."""
    per = {}
    for i in range(n):
        for name, s in routes.shares(i).items():
            if "->spine" in name:
                assert s == 1.0
                per[name] = per.get(name, 0) + 1
    return per


def _cross_leaf(G, hosts):
    # Every host of leaf 0 sends to the host at the same position on leaf 1 and back: a
    # permutation whose flows all cross the spines.  With as many spines as hosts per leaf
    # the ideal placement puts exactly one flow on every uplink and every downlink.
    src = [f"n{h}" for h in range(2 * hosts)]
    dst = [f"n{(h + hosts) % (2 * hosts)}" for h in range(2 * hosts)]
    return src, dst


def test_adaptive_beats_hash_collisions_and_matches_the_ideal_on_a_permutation():
    hosts = spines = 8
    G = leaf_spine(2, spines, hosts)
    src, dst = _cross_leaf(G, hosts)
    # A seed where hashed ECMP puts two flows on one uplink (found, not assumed).
    collide = None
    for seed in range(50):
        per = _uplink_flows(route(G, src, dst, "hash", seed=seed), len(src), spines)
        if max(per.values()) > 1:
            collide = seed
            break
    assert collide is not None
    hashed = max(_uplink_flows(route(G, src, dst, "hash", seed=collide), len(src), spines).values())
    per = _uplink_flows(route(G, src, dst, "adaptive"), len(src), spines)
    # Ideal: 2 leaves x `spines` uplinks, one flow each.
    assert len(per) == 2 * spines and set(per.values()) == {1}
    assert max(per.values()) <= hashed
    # And in rates: every flow gets its full host link under adaptive routing.
    eps = [f"n{h}" for h in range(2 * hosts)]
    t = Traffic(eps, [int(s[1:]) for s in src], [int(d[1:]) for d in dst])
    assert np.allclose(solve(G, t, "adaptive").rates, 1e9)
    assert solve(G, t, "hash", seed=collide).rates.min() < 1e9


def test_adaptive_is_deterministic_and_weighs_by_size():
    G = leaf_spine(2, 2, 3)
    # Three flows leaf0 -> leaf1: 3 GB, then 1 GB, then 1 GB.  By bytes, the first takes spine0,
    # the second spine1 and the third spine1 again (1 GB < 3 GB on spine0).
    src, dst = ["n0", "n1", "n2"], ["n3", "n4", "n5"]
    sizes = np.array([3e9, 1e9, 1e9])
    a = route(G, src, dst, "adaptive", sizes=sizes)
    b = route(G, src, dst, "adaptive", sizes=sizes)
    spine = [next(k for k in a.shares(i) if "->spine" in k) for i in range(3)]
    assert spine == ["leaf0->spine0", "leaf0->spine1", "leaf0->spine1"]
    assert [a.shares(i) for i in range(3)] == [b.shares(i) for i in range(3)]
    # Without sizes every flow weighs 1: the third goes back to spine0.
    c = route(G, src, dst, "adaptive")
    spine = [next(k for k in c.shares(i) if "->spine" in k) for i in range(3)]
    assert spine == ["leaf0->spine0", "leaf0->spine1", "leaf0->spine0"]


def test_adaptive_on_all_to_all_balances_every_uplink():
    L, S, h = 4, 4, 4
    G = leaf_spine(L, S, h)
    t = shift(G, h)             # host i -> host i + h: every flow crosses the spines
    sol = solve(G, t, "adaptive")
    per = _uplink_flows(sol.routes, t.n_flows, S)
    # L leaves x h flows each over S uplinks: h / S = 1 per uplink.
    assert set(per.values()) == {h // S}


def test_one_registry_names_the_allowed_modes():
    assert MODES == ("spray", "hash", "dmodk", "adaptive")
    for m in MODES:
        assert resolve(m).name == m
    with pytest.raises(ParameterError, match="'spray', 'hash', 'dmodk', 'adaptive'"):
        resolve("ecmp")
    G = leaf_spine(2, 2, 1)
    with pytest.raises(ParameterError, match="routing must be one of 'spray', 'hash', 'dmodk', "
                                             "'adaptive'"):
        route(G, ["n0"], ["n1"], "ecmp")
    spec = PathSpec(G, "adaptive", pxn=False, seed=3)
    assert (spec.mode, spec.pxn, spec.seed) == ("adaptive", False, 3)
    with pytest.raises(ParameterError, match="seed must be an integer"):
        PathSpec(G, "hash", seed=1.5)


def test_adaptive_from_the_cli_solve_and_bench(capsys):
    from netemu.cli import main

    import json

    assert main(["solve", "two-layer-fat-tree", "--leaves", "2", "--spines", "2",
                 "--hosts-per-leaf", "2", "--routing", "adaptive", "--traffic", "shift:2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["routing"] == "adaptive"
    assert main(["solve", "two-layer-fat-tree", "--radix", "4", "--routing", "ecmp"]) == 2
    assert "'spray', 'hash', 'dmodk', 'adaptive'" in capsys.readouterr().err
    assert main(["bench", "allreduce", "--algo", "ring", "--cluster", "two-layer-fat-tree",
                 "--radix", "4", "--gpus", "4", "--size", "1MiB", "--routing", "adaptive",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["routing"] == "adaptive"


def test_adaptive_in_a_collective():
    from netemu.collectives import run
    from netemu.topologies.fat_tree import two_layer_fat_tree

    G = two_layer_fat_tree(4, link_bandwidth=25e9)
    r = run(G, "allreduce", "ring", 4, 2**30, routing="adaptive")
    assert round(r.peak_busbw / 25e9, 9) == 1.0
