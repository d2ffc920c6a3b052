"""[FF] §III-B's cross-zone rule: "only one pair of nodes communicates across zones".

Tests of the rule on a small two-zone Fire-Flyer cluster, never of a paper value: the
trees over servers of both zones have exactly one edge across zones per tree (the same
pair in both), and the stage is timed on the slower of the two trees.
"""

import numpy as np
import pytest

import netemu.collectives as collectives
from netemu.collectives import build, evaluate, path_model
from netemu.collectives.hfreduce import hfreduce
from netemu.collectives.ranks import (by_server, cluster_gpus, double_binary_tree,
                                      zoned_double_binary_tree)
from netemu.routing import server_key
from netemu.topologies.clusters import cluster
from netemu.topologies.fire_flyer import fire_flyer_2
from netemu.topologies.hardware import SwitchModel
from netemu.topologies.servers import pcie_a100_server
from netemu.units import MiB, gbps

#: An 8-port switch at the PCIe A100 node's NIC rate: zones of 8 leaves x 4 down ports.
TOY8 = SwitchModel("toy-8", 8, gbps(200), "ib", "test")


def two_zones(per_zone):
    return cluster(fire_flyer_2(gpu_servers_per_zone=per_zone, storage_servers=0, switch=TOY8),
                   pcie_a100_server)


def fabric_zone(G, server):
    """Zone of a server read off the fabric: the ``zone`` of the leaf its NIC plugs into."""
    leaves = [m for m in G.adj[f"{server}/nic0"] if G.nodes[m].get("role") == "leaf"]
    return G.nodes[leaves[0]]["zone"]


def check_tree(edges, n):
    """A spanning tree over 0..n-1 with at most two children a rank; returns its depth."""
    parent = dict(edges)
    assert len(edges) == n - 1 == len(parent)
    roots = [r for r in range(n) if r not in parent]
    assert len(roots) == 1
    assert np.bincount([p for _, p in edges], minlength=n).max() <= 2
    depth = 0
    for r in range(n):
        d, x = 0, r
        while x in parent:
            x, d = parent[x], d + 1
            assert d < n                      # no cycle
        depth = max(depth, d)
    return depth


@pytest.mark.parametrize("join", ["roots", "nccl"])
@pytest.mark.parametrize("sizes", [(1, 1), (2, 3), (4, 4), (5, 3), (8, 8), (7, 12), (3, 4, 5)])
def test_each_tree_crosses_between_zones_once_and_through_the_same_pair(sizes, join):
    zones = [z for z, k in enumerate(sizes) for _ in range(k)]
    trees = zoned_double_binary_tree(zones, join)
    pairs = set()
    for t in trees:
        check_tree(t, len(zones))
        cross = [(c, p) for c, p in t if zones[c] != zones[p]]
        assert len(cross) == len(sizes) - 1   # one edge per zone boundary: one for two zones
        pairs |= {frozenset(e) for e in cross}
    assert len(pairs) == len(sizes) - 1       # the same pairs in both trees


def test_one_zone_is_nccls_double_binary_tree():
    for n in (2, 5, 16):
        assert zoned_double_binary_tree(["z"] * n) == double_binary_tree(n)


@pytest.mark.parametrize("algorithm", ["tree", "hfreduce", "hfreduce-nvlink"])
def test_a_job_over_both_zones_talks_across_them_through_one_pair(algorithm):
    G = two_zones(4)
    ranks = cluster_gpus(G)
    zone = {s: fabric_zone(G, s) for s, _ in by_server(ranks)}
    assert sorted(zone.values()) == [0] * 4 + [1] * 4
    w = build(G, "allreduce", algorithm, ranks, 64 * MiB)
    cross = {frozenset((server_key(u), server_key(v))) for st in w.stages
             for u, v, _ in st.transfers if zone[server_key(u)] != zone[server_key(v)]}
    assert len(cross) == 1
    assert w.info["cross_zone_pairs"] == 1


def test_a_job_inside_one_zone_never_crosses():
    G = two_zones(4)
    ranks = [g for s, gs in by_server(cluster_gpus(G)) if fabric_zone(G, s) == 1 for g in gs]
    w = build(G, "allreduce", "hfreduce", ranks, 64 * MiB)
    assert w.info["cross_zone_pairs"] == 0


def test_the_stage_is_as_slow_as_its_slower_tree():
    # With join='nccl' the second zone hangs from a leaf of the first zone's second tree,
    # so the second tree is the deeper one.  HFReduce's chain is D2H, up the tree, down,
    # H2D: 2 * depth + 2 hops; with no link latency a stage lasts (S + (H - 1) chunk) / X.
    G = two_zones(4)
    pm = path_model(G)
    ranks = cluster_gpus(G)
    S, chunk = 64 * MiB, 1 * MiB
    w = hfreduce(pm, ranks, S, chunk=chunk, join="nccl")
    t1, t2 = zoned_double_binary_tree([0] * 4 + [1] * 4, "nccl")
    d1, d2 = check_tree(t1, 8), check_tree(t2, 8)
    assert d2 > d1
    r = evaluate(G, w)
    X = r.stages[0]["rate"]
    expect = {"tree1": (S + (2 * d1 + 2 - 1) * chunk) / X, "tree2": (S + (2 * d2 + 2 - 1) * chunk) / X}
    assert w.info["tree_times"] == pytest.approx(expect, rel=1e-12)
    assert w.info["slowest_tree"] == "tree2"
    assert r.stages[0]["hops"] == 2 * d2 + 2
    assert r.time == pytest.approx(expect["tree2"], rel=1e-12)


def test_nccl_tree_allreduce_is_timed_on_the_slower_tree_too():
    G = two_zones(4)
    pm = path_model(G)
    w = collectives.allreduce.tree_allreduce(pm, cluster_gpus(G), 64 * MiB, join="nccl")
    times = w.info["tree_times"]
    assert times["tree2"] > times["tree1"]
    assert evaluate(G, w).time == pytest.approx(max(times.values()), rel=1e-12)


def test_bad_join_and_chunk_raise_parameter_error():
    from netemu.errors import ParameterError
    with pytest.raises(ParameterError, match="join"):
        zoned_double_binary_tree([0, 1], "middle")
    G = two_zones(4)
    with pytest.raises(ParameterError, match="chunk"):
        hfreduce(path_model(G), cluster_gpus(G)[:16], MiB, chunk=0)
