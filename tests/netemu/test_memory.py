"""Size requests are refused before allocating, with the estimate in the message."""

import pytest

from netemu import memory
from netemu.errors import ParameterError
from netemu.graph import add_link, new_graph
from netemu.traffic import all_to_all
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree


def test_estimates_scale_with_the_request():
    assert memory.traffic_bytes(1000) == 1000 * memory.TRAFFIC_BYTES_PER_FLOW
    assert memory.solve_bytes(10) == 10 * memory.SOLVE_BYTES_PER_FLOW
    assert memory.graph_bytes(3, 2) == 5 * memory.GRAPH_BYTES_PER_ITEM


def test_available_memory_is_a_positive_byte_count():
    have = memory.available_memory()
    assert have is None or have > 0


def test_check_fits_refuses_with_both_figures():
    with pytest.raises(ParameterError, match=r"thing needs about 2\.0 GB .* 1\.0 GB available"):
        memory.check_fits(2e9, "thing", available=1e9)
    assert memory.check_fits(5, "thing", available=10) == 5


def _tiny_memory(monkeypatch, have):
    monkeypatch.setattr(memory, "available_memory", lambda: have)


def test_all_to_all_refused_before_allocating(monkeypatch):
    G = new_graph("star", {})
    G.add_node("sw", role="switch")
    for h in range(40):
        G.add_node(f"n{h}", role="host")
        add_link(G, f"n{h}", "sw", 1e9)
    _tiny_memory(monkeypatch, memory.traffic_bytes(40 * 39) - 1)
    # The all-to-all is lazy: it allocates (and is refused) only when its pairs are listed.
    t = all_to_all(G)
    assert t.n_flows == 1560
    with pytest.raises(ParameterError, match="1,560 flows"):
        t.src
    with pytest.raises(ParameterError, match="1,560 flows"):
        all_to_all(G, size=[1.0] * 1560)
    _tiny_memory(monkeypatch, memory.traffic_bytes(40 * 39))
    assert all_to_all(G).src.size == 1560


def test_solve_refused_before_routing(monkeypatch):
    import netemu
    G = two_layer_fat_tree(4)
    t = all_to_all(G)
    _tiny_memory(monkeypatch, memory.solve_bytes(t.n_flows) - 1)
    with pytest.raises(ParameterError, match="solving 56 flows"):
        netemu.solve(G, t)


@pytest.mark.parametrize("build", [
    lambda: two_layer_fat_tree(4),
    lambda: three_layer_fat_tree(4),
    lambda: multi_plane_fat_tree(2, 8, servers=4),
])
def test_generator_estimates_cover_what_they_build(monkeypatch, build):
    G = build()
    need = memory.graph_bytes(G.number_of_nodes(), G.number_of_edges())
    _tiny_memory(monkeypatch, need - 1)   # the estimate is exact in counts: one byte short fails
    with pytest.raises(ParameterError, match="needs about"):
        build()


def test_a_huge_generator_request_is_refused_quickly():
    with pytest.raises(ParameterError, match="needs about .* GB"):
        two_layer_fat_tree(2_000_000)


def _memory_benchmark():
    """benchmarks/memory_estimate.py as a module (its child runs and measures a case)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "memory_estimate.py"
    spec = importlib.util.spec_from_file_location("memory_estimate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: How far above the measured peak an estimate may be: it errs high, but an estimate more
#: than this many times the real need would refuse what fits.
MAX_OVERESTIMATE = 8


@pytest.mark.parametrize("case", [
    # one row per flow, hashed
    dict(topo="two-layer-fat-tree", params={"radix": 24}, traffic="all-to-all", routing="hash"),
    # one row per flow with completion times
    dict(topo="two-layer-fat-tree", params={"radix": 16}, traffic="all-to-all", routing="hash",
         size=1e6),
    # router tables, sprayed and hashed
    dict(topo="three-layer-fat-tree", params={"k": 16}, traffic="shift", routing="spray"),
    dict(topo="dragonfly", params={"a": 8, "p": 4, "h": 4}, traffic="shift", routing="hash"),
    # factored all-to-all
    dict(topo="three-layer-fat-tree", params={"k": 12}, traffic="all-to-all", routing="spray",
         factored=True),
    # MoE token destinations (bench moe --tokens)
    dict(kind="moe", gpus=32, tokens=50_000, topk=8, routing="random"),
], ids=["ft2-hash", "ft2-sized", "ft3-shift", "dragonfly-hash", "ft3-factored", "moe"])
def test_estimate_covers_the_measured_peak_and_is_not_far_above(case):
    # Peak resident set of a child that runs the case, above its resident set after a
    # warm-up on a tiny case (numba compiled, modules imported).
    r = _memory_benchmark().measure(case)
    assert r["measured"] > 1_000_000          # the case allocates: the comparison means something
    assert r["estimate"] >= r["measured"]
    assert r["estimate"] <= MAX_OVERESTIMATE * r["measured"]
