"""Failover as the hardware does it: a dead NIC cable, leaf, spine or plane costs its share.

Small H800 clusters (8 GPUs and 8 NICs per server) on multi-plane and multi-rail fat-trees.
Every expected bandwidth is derived here from the NIC line rate ``B`` and the counts: with
``G`` GPUs per server and two servers, an all-to-all of ``S`` bytes per rank sends
``G * G * S / (2 G) = G S / 2`` bytes from each server to the other.  When every network
transfer is NIC-bound and spread evenly over the ``K`` NICs that can carry it, the time is
``(G S / 2) / (K B)`` and ``algbw = S / t = 2 K B / G``.
"""

import pytest

from netemu.collectives import run
from netemu.collectives.paths import PathModel
from netemu.errors import RoutingError
from netemu.failures import fail
from netemu.routing import route
from netemu.topologies.clusters import cluster
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree
from netemu.topologies.servers import h800_server

ROUTINGS = ("spray", "hash", "dmodk", "adaptive")
S = 2**30
GPUS = 8          # per H800 server
NICS = 8          # planes / rails, one NIC of each server on each


def mpft(servers=2):
    # radix 2: one leaf per server in every plane and one spine per plane.
    return cluster(multi_plane_fat_tree(NICS, 2 * (servers // 2), servers=servers), h800_server)


def mrft(servers=2):
    # radix 16: two leaves per rail, one server on each; 8 spines.
    return cluster(multi_rail_fat_tree(NICS, 16, servers=servers), h800_server)


def nic_rate(G):
    return G.edges["n0/nic1", next(iter(w for w in G.adj["n0/nic1"] if "leaf" in w))]["bandwidth"]


def a2a(G, routing="spray", pxn=True, gpus=2 * GPUS):
    return run(G, "alltoall", "nccl", gpus, S, routing=routing, pxn=pxn).algbw


@pytest.mark.parametrize("routing", ROUTINGS)
def test_intact_all_to_all_is_nic_bound(routing):
    G = mpft()
    assert a2a(G, routing) == pytest.approx(2 * NICS * nic_rate(G) / GPUS, rel=1e-9)


MPFT_FAILURES = {
    "nic cable": dict(links=["n0/nic0--p0/leaf0"]),
    "leaf switch": dict(switches=["p0/leaf0"]),
    "spine switch": dict(switches=["p0/spine0"]),      # the plane's only spine: plane 0 is cut
    "whole plane": dict(planes=[0]),
}


@pytest.mark.parametrize("pxn", [True, False])
@pytest.mark.parametrize("routing", ROUTINGS)
@pytest.mark.parametrize("kind", list(MPFT_FAILURES))
def test_multi_plane_failure_costs_one_plane_of_eight(kind, routing, pxn):
    G = mpft()
    H = fail(G, **MPFT_FAILURES[kind])
    # One plane of P is gone between the two servers: (P - 1)/P of the intact all-to-all.
    intact = 2 * NICS * nic_rate(G) / GPUS
    assert a2a(H, routing, pxn) == pytest.approx(intact * (NICS - 1) / NICS, rel=1e-9)


def test_dead_plane_on_four_servers_is_seven_eighths():
    G = mpft(4)
    B = nic_rate(G)
    n = 4 * GPUS
    # Each NIC sends (n - G) / n of S; with plane 0 dead, G GPUs' network bytes share 7 NICs.
    intact = B / ((n - GPUS) / n)
    assert a2a(G, "dmodk", gpus=n) == pytest.approx(intact, rel=1e-9)
    H = fail(G, planes=[0])
    assert a2a(H, "dmodk", gpus=n) == pytest.approx(intact * 7 / 8, rel=1e-9)


def test_dead_nic_traffic_arrives_on_the_other_nics_then_nvlink():
    H = fail(mpft(), planes=[0])
    r = route(H, ["n0/gpu3"], ["n1/gpu0"], "spray")
    sh = r.shares(0)
    # n1/gpu0's own NIC is dead: the transfer arrives spread over n1's 7 other NICs, ...
    for k in range(1, NICS):
        assert sh[f"n1/nic{k}->n1/pcie_switch{k}"] == pytest.approx(1 / 7)
        # ... each hands it to the GPU next to it, which forwards it over NVLink.
        assert sh[f"n1/gpu{k}->n1/nvswitch0"] == pytest.approx(1 / 7)
    assert sh["n1/nvswitch0->n1/gpu0"] == pytest.approx(1.0)
    # At the source, PXN: 1/7 leaves through n0/gpu3's own NIC, 6/7 through proxies.
    assert sh["n0/gpu3->n0/pcie_switch3"] == pytest.approx(1 / 7)
    assert sh["n0/gpu3->n0/nvswitch0"] == pytest.approx(6 / 7)
    assert not any("nic0" in k for k in sh)


MRFT_FAILURES = {
    "nic cable": dict(links=["n0/nic0--leaf0"]),
    "leaf switch": dict(switches=["leaf0"]),
    "rail": dict(switches=["leaf0", "leaf1"]),
}


@pytest.mark.parametrize("kind", list(MRFT_FAILURES))
def test_multi_rail_failure_spray_keeps_seven_eighths(kind):
    G = mrft()
    B = nic_rate(G)
    H = fail(G, **MRFT_FAILURES[kind])
    # n0 (and for a rail, n1 too) has 7 NICs left: sprayed over them evenly, 7/8 survives.
    assert a2a(H, "spray") == pytest.approx(2 * (NICS - 1) * B / GPUS, rel=1e-9)


@pytest.mark.parametrize("kind", list(MRFT_FAILURES))
def test_multi_rail_failure_adaptive_reaches_the_best_single_path_placement(kind):
    G = mrft()
    B = nic_rate(G)
    H = fail(G, **MRFT_FAILURES[kind])
    # Whole flows: n0/gpu0's G network sends cannot split, so over NICS - 1 NICs one NIC
    # takes ceil(G / (NICS - 1)) of them on top of its own GPU's G.  Each send is S / (2G).
    worst = GPUS + -(-GPUS // (NICS - 1))
    best = S / (worst * S / (2 * GPUS) / B)
    assert a2a(H, "adaptive") == pytest.approx(best, rel=1e-9)
    assert a2a(H, "hash") <= best * (1 + 1e-9)


def test_multi_rail_spine_failure_costs_nothing():
    G = mrft()
    H = fail(G, switches=["spine0"])
    # Each leaf keeps 7 uplinks of rate B for one NIC of rate B: still NIC-bound.
    for routing in ROUTINGS:
        assert a2a(H, routing) == pytest.approx(2 * NICS * nic_rate(G) / GPUS, rel=1e-9)


def test_only_truly_cut_traffic_is_reported_by_rank():
    G = mpft()
    B = nic_rate(G)
    # Every NIC cable of n1 but nic3's is cut: all of n1's traffic fails over to n1/nic3,
    # even without PXN, so K = 1 NIC carries it: algbw = 2 K B / G.
    H = fail(G, links=[f"n1/nic{k}--p{k}/leaf1" for k in range(NICS) if k != 3])
    assert a2a(H, "dmodk", pxn=False) == pytest.approx(2 * B / GPUS, rel=1e-9)
    # Cut n1/nic3 as well: n1 is cut off, and the error names it and its ranks, not NICs.
    H2 = fail(H, links=["n1/nic3--p3/leaf1"])
    with pytest.raises(RoutingError, match=r"n1 \(8 rank\(s\)\)"):
        a2a(H2, "dmodk", pxn=False)


def test_ranks_named_when_a_plane_is_unreachable_from_the_source_server():
    # Two planes: plane 1 of n0 and plane 0 of n1 are dead, so no plane joins the servers.
    G = cluster(multi_plane_fat_tree(2, 2, servers=2), h800_server)
    H = fail(G, links=["n0/nic1--p1/leaf0", "n1/nic0--p0/leaf1"])
    with pytest.raises(RoutingError, match=r"rank 0 \(n0/gpu0\) -> rank 8 \(n1/gpu0\)"):
        run(H, "alltoall", "direct", 16, S)


@pytest.mark.parametrize("routing", ["hash", "dmodk", "spray", "adaptive"])
@pytest.mark.parametrize("build", [mpft, mrft])
def test_solver_and_collective_give_identical_shares(build, routing):
    G = fail(build(), links=["n0/nic2--" + ("p2/leaf0" if build is mpft else "leaf4")])
    pairs = [(f"n{a}/gpu{i}", f"n{b}/gpu{j}") for a in range(2) for b in range(2)
             for i in range(GPUS) for j in range(GPUS) if (a, i) != (b, j)]
    for pxn in (True, False):
        pm = PathModel(G, routing, pxn=pxn, seed=5)
        mine = pm.shares(pairs)
        r = route(G, [u for u, _ in pairs], [v for _, v in pairs], routing, seed=5, pxn=pxn)
        for k, sh in enumerate(mine):
            assert {pm.name(x): pytest.approx(s) for x, s in sh.items()} == r.shares(k)


def test_cli_bench_deepseek_v3_cluster_fails_over(capsys):
    import json

    from netemu.cli import main

    def algbw(*extra):
        assert main(["bench", "alltoall", "--algo", "nccl", "--cluster", "deepseek-v3-cluster",
                     "--gpus", "16", "--size", "1GiB", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)["rows"][0]["algbw"]

    intact = algbw()
    assert algbw("--fail-link", "n0/nic0--p0/leaf0") == pytest.approx(intact * 7 / 8, rel=1e-9)
    assert algbw("--fail-plane", "0", "--no-pxn") == pytest.approx(intact * 7 / 8, rel=1e-9)
