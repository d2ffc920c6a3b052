"""Paths of collective transfers, rank orders, MoE routing, and NCCL's choices."""

import numpy as np
import pytest

import netemu.collectives as collectives
from netemu.collectives import build, run
from netemu.collectives.moe import moe_traffic, token_destinations
from netemu.collectives.paths import PathModel
from netemu.collectives.ranks import double_binary_tree, ring_orders, tree_depth
from netemu.errors import ParameterError
from netemu.routing import server_key
from netemu.units import MiB
from netemu.topologies.clusters import cluster
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree
from netemu.topologies.servers import h800_server, pcie_a100_server


@pytest.fixture(scope="module")
def mpft():
    return cluster(multi_plane_fat_tree(8, 8, servers=4), h800_server)


@pytest.fixture(scope="module")
def mrft():
    return cluster(multi_rail_fat_tree(8, 8, servers=4), h800_server)


def names(pm, shares):
    return {pm.name(r) for r in shares}


def test_pxn_goes_through_the_proxy_gpu_over_nvlink(mpft):
    pm = PathModel(mpft, pxn=True)
    sh = pm.shares([("n0/gpu0", "n1/gpu3")])[0]
    got = names(pm, sh)
    assert {"n0/gpu0->n0/nvswitch0", "n0/nvswitch0->n0/gpu3", "n0/nic3->p3/leaf0",
            "n1/nic3->n1/pcie_switch3"} <= got
    assert not any(n.startswith("n0/nic0") for n in got)


def test_without_pxn_a_multi_plane_transfer_stays_on_its_plane(mpft):
    pm = PathModel(mpft, pxn=False)
    got = names(pm, pm.shares([("n0/gpu0", "n1/gpu3")])[0])
    assert "n0/gpu0->n0/pcie_switch0" in got and "n1/nic0->n1/pcie_switch0" in got
    assert not any("p3/" in n for n in got)


def test_without_pxn_multi_rail_crosses_rails_in_the_fabric(mrft):
    pm = PathModel(mrft, pxn=False)
    got = names(pm, pm.shares([("n0/gpu0", "n1/gpu3")])[0])
    assert "n0/nic0->leaf0" in got and "n1/nic3->n1/pcie_switch3" in got
    assert any("spine" in n for n in got)


def test_gpudirect_limit_is_charged_per_direction():
    G = pcie_a100_server()
    pm = PathModel(G)
    out = names(pm, pm.shares([("n0/gpu4", "n0/nic0")])[0])
    back = names(pm, pm.shares([("n0/nic0", "n0/gpu4")])[0])
    assert "n0/nic0:p2p-out" in out and "n0/nic0:p2p-in" in back
    assert not any("p2p" in n for n in names(pm, pm.shares([("n0/memory1", "n0/nic0")])[0]))


def test_memory_endpoint_is_charged_once():
    pm = PathModel(pcie_a100_server())
    sh = pm.shares([("n0/gpu0", "n0/memory1")])[0]
    assert sh[pm.res.node("n0/memory1")] == 1.0
    assert pm.res.node("n0/memory0") not in sh


def test_rings_leave_each_server_next_to_their_nic(mpft):
    pm = PathModel(mpft)
    ranks = collectives.ranks.cluster_gpus(mpft)[:16]
    orders = ring_orders(pm, ranks)
    assert len(orders) == 8
    for c, order in enumerate(orders):
        assert sorted(order) == sorted(ranks)
        exits = [order[i] for i in range(16) if server_key(order[i]) != server_key(order[(i + 1) % 16])]
        assert exits == [f"n0/gpu{c}", f"n1/gpu{c}"]


@pytest.mark.parametrize("n", [2, 3, 6, 7, 64, 181])
def test_double_binary_tree_is_two_spanning_trees(n):
    t1, t2 = double_binary_tree(n)
    for t in (t1, t2):
        assert len(t) == n - 1 and len({c for c, _ in t}) == n - 1
        assert tree_depth(t) <= int(np.ceil(np.log2(n))) + 1
        kids = np.bincount([p for _, p in t], minlength=n)
        assert kids.max() <= 2
    if n % 2 == 0:
        inner = {p for _, p in t1} & {p for _, p in t2}
        assert not inner          # every rank is a leaf in at least one tree


def test_moe_node_limit_is_respected(mpft):
    ranks = collectives.ranks.cluster_gpus(mpft)
    dests = token_destinations(ranks, tokens=256, topk=8, experts_per_gpu=2, node_limit=2,
                               routing="random", seed=3)
    srv = np.array([int(server_key(r)[1:]) for r in ranks])
    for d in dests:
        assert max(len(set(row)) for row in srv[d]) <= 2
        assert d.shape == (256, 8)


def test_balanced_moe_traffic_is_even():
    m = moe_traffic(list(range(10)), tokens=32, topk=8, shared=1)
    assert (m.sum(axis=0) == 288).all() and (m.sum(axis=1) == 288).all()
    assert (np.diag(m) == 0).all()


def test_deepep_crosses_the_network_once_per_token_and_server(mpft):

    ranks = collectives.ranks.cluster_gpus(mpft)
    w = build(mpft, "moe", "deepep", 32, None, tokens=64, hidden=1024, topk=8, node_limit=4)
    dests = token_destinations(ranks, tokens=64, topk=8, experts_per_gpu=256 // 32, node_limit=4,
                               routing="random", seed=0)
    srv = np.array([int(server_key(r)[1:]) for r in ranks])
    token_bytes = 1024
    for i, r in enumerate(ranks):
        expect = sum(len(set(srv[row]) - {srv[i]}) for row in dests[i]) * token_bytes
        net = sum(a * w.size for u, v, a in w.stages[0].transfers
                  if u == r and server_key(v) != server_key(u))
        assert net == pytest.approx(expect)
    res = run(mpft, "moe", "deepep", 32, None, tokens=64, hidden=1024, topk=8, node_limit=4)
    assert res.info["dispatch_rdma_bw"] > 0 and res.info["dispatch_nvlink_bw"] > 0
    assert res.info["combine_time"] > res.info["dispatch_time"]   # BF16 vs FP8


def test_pxn_makes_multi_plane_alltoall_match_multi_rail(mpft, mrft):
    a = run(mpft, "alltoall", "pxn", 32, 256 * MiB)
    b = run(mrft, "alltoall", "pxn", 32, 256 * MiB)
    assert a.algbw == pytest.approx(b.algbw, rel=0.03)


def test_nccl_choice_follows_its_cost_model(mpft):
    from netemu.collectives.nccl import predicted_times
    for n, size in ((32, 64 * MiB), (32, 64 * 1024)):
        ring = run(mpft, "allreduce", "ring", n, size)
        t = predicted_times(ring.peak_busbw, n, n // 8, size, "nvlink")
        nccl = run(mpft, "allreduce", "nccl", n, size)
        assert nccl.info["nccl_choice"] == min(t, key=t.get)
        assert nccl.time == pytest.approx(
            run(mpft, "allreduce", nccl.info["nccl_choice"], n, size).time)
    assert run(mpft, "alltoall", "nccl", 16, MiB).algorithm == "pxn"


def test_nccl_model_prefers_tree_at_scale_for_latency():
    from netemu.collectives.nccl import predicted_times
    small = predicted_times(10e9, 16, 2, 2**27)
    big = predicted_times(10e9, 1024, 128, 2**27)
    assert small["ring"] < small["tree"] and big["tree"] < big["ring"]


def test_hierarchical_allreduce_has_three_stages(mpft):
    r = run(mpft, "allreduce", "hierarchical", 32, 64 * MiB)
    assert [s["name"] for s in r.stages] == ["intra reduce-scatter", "inter allreduce",
                                             "intra all-gather"]
    assert r.time == pytest.approx(sum(s["time"] for s in r.stages))


@pytest.mark.parametrize("kwargs,match", [
    (dict(collective="gather", algorithm="ring", gpus=4, size=1), "unknown collective"),
    (dict(collective="allreduce", algorithm="magic", gpus=4, size=1), "unknown algorithm"),
    (dict(collective="allreduce", algorithm="ring", gpus=1, size=1), "between 2 and"),
    (dict(collective="allreduce", algorithm="ring", gpus=10**6, size=1), "between 2 and"),
    (dict(collective="allreduce", algorithm="ring", gpus=4, size=0), "size must be > 0"),
    (dict(collective="allreduce", algorithm="ring", gpus=4, size=-5.0), "size must be > 0"),
])
def test_bad_arguments_raise_parameter_error(mpft, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        build(mpft, kwargs["collective"], kwargs["algorithm"], kwargs["gpus"], kwargs["size"])


def test_a_stage_too_big_for_memory_is_refused_before_routing(monkeypatch, mpft):
    from netemu import memory
    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)
    with pytest.raises(ParameterError, match=r"992 independent transfers need about .* GB"):
        run(mpft, "alltoall", "direct", 32, MiB)
