"""Closed forms that the collective models must reproduce, each derived here from the topology."""

import numpy as np
import pytest

import netemu.collectives as collectives
from netemu.collectives import run
from netemu.graph import add_link, new_graph
from netemu.units import GiB, MiB
from netemu.topologies import preset
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.hardware import CX7_400G, GB200_NVL72
from netemu.topologies.servers import scale_up_domain


def ring_of_switches(n, link_bw, host_bw):
    """n switches on a ring, one host each: the uniform ring."""
    G = new_graph("ring", {"n": n})
    for i in range(n):
        G.add_node(f"sw{i}", role="switch")
        G.add_node(f"n{i}", role="host")
        add_link(G, f"n{i}", f"sw{i}", host_bw)
    for i in range(n):
        add_link(G, f"sw{i}", f"sw{(i + 1) % n}", link_bw)
    return G


@pytest.mark.parametrize("n", [3, 5, 8])
def test_ring_allreduce_on_uniform_ring_has_busbw_of_the_link(n):
    B = 12.5e9
    G = ring_of_switches(n, B, 4 * B)
    ranks = [f"n{i}" for i in range(n)]
    r = run(G, "allreduce", "ring", ranks, 1 * GiB)
    assert r.peak_busbw == pytest.approx(B, rel=1e-9)
    # alpha: NCCL's base latency plus its per-step network latency for 2(n-1) steps
    lat = collectives.software.NCCL_STEP_LATENCY["ring"]
    alpha = lat["base"] + 2 * (n - 1) * lat["network"]
    assert r.time == pytest.approx(2 * (n - 1) / n * GiB / B + alpha, rel=1e-9)


@pytest.mark.parametrize("coll", ["allgather", "reducescatter"])
def test_ring_gather_scatter_busbw_is_link(coll):
    B = 10e9
    G = ring_of_switches(6, B, 4 * B)
    r = run(G, coll, "ring", [f"n{i}" for i in range(6)], 6 * MiB)
    assert r.peak_busbw == pytest.approx(B, rel=1e-9)
    assert r.busbw < r.peak_busbw


def test_host_links_bind_when_slower_than_the_ring():
    G = ring_of_switches(4, 10e9, 5e9)
    r = run(G, "allreduce", "ring", [f"n{i}" for i in range(4)], GiB)
    assert r.peak_busbw == pytest.approx(5e9, rel=1e-9)
    assert set(r.stages[0]["bottlenecks"]) == {f"n{i}->sw{i}" for i in range(4)} | \
        {f"sw{i}->n{i}" for i in range(4)}


@pytest.mark.parametrize("radix,routing", [(4, "dmodk"), (8, "dmodk"), (8, "spray")])
def test_direct_alltoall_on_nonblocking_fat_tree_has_busbw_of_the_nic(radix, routing):
    B = 50e9
    G = two_layer_fat_tree(radix, link_bandwidth=B)
    n = len(collectives.ranks.cluster_gpus(G))
    r = run(G, "alltoall", "direct", n, 64 * MiB, routing=routing)
    assert r.busbw == pytest.approx(B, rel=1e-9)


def test_pairwise_alltoall_matches_direct_on_nonblocking_tree():
    G = two_layer_fat_tree(4, link_bandwidth=25e9)
    d = run(G, "alltoall", "direct", 8, 8 * MiB)
    p = run(G, "alltoall", "pairwise", 8, 8 * MiB)
    assert len(p.stages) == 7
    assert p.time == pytest.approx(d.time, rel=1e-9)


def test_broadcast_chain_busbw_is_link_for_large_messages():
    B = 10e9
    G = ring_of_switches(5, B, 4 * B)
    r = run(G, "broadcast", "ring", [f"n{i}" for i in range(5)], 64 * GiB)
    # steady state exactly the link; the fill costs (hops - 1) chunks
    assert r.stages[0]["rate"] == pytest.approx(B, rel=1e-9)
    fill = (r.stages[0]["hops"] - 1) * collectives.software.NCCL_CHUNK / B
    assert r.beta_time == pytest.approx(64 * GiB / B + fill, rel=1e-9)


def test_tree_allreduce_rate_on_leaf_spine():
    # Double binary tree of single-GPU servers: each server sends and receives 2 units per
    # byte when it is internal in one tree (1 + 1/2 + 1/2), so the NIC caps at B / 2.
    B = 25e9
    G = two_layer_fat_tree(8, link_bandwidth=B)
    r = run(G, "allreduce", "tree", 16, GiB)
    t1, t2 = collectives.ranks.double_binary_tree(16)
    sends = np.zeros(16)
    for tree in (t1, t2):
        for c, p in tree:
            sends[c] += 0.5
            sends[p] += 0.5
    assert r.stages[0]["rate"] == pytest.approx(B / sends.max(), rel=1e-9)


# --- HFReduce's bound -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ff():
    # The shared root port as two 37.5 GB/s directions, so that memory binds (the default
    # one-budget port is checked by the direction-blind case below).
    return preset("fire-flyer-2-cluster", shared_root_port=False)


def _hfreduce_bound(G, server="n1"):
    """min(memory / its per-byte traffic, NIC / tree traffic, shared root port / its traffic),
    each from the node's own parameters; an internal tree server with 8 GPUs on 2 sockets."""
    nic = f"{server}/nic0"
    nic_socket = G.nodes[nic]["socket"]
    mem = f"{server}/memory{nic_socket}"
    gpus = [n for n in G.nodes if n.startswith(server + "/gpu")]
    k, sockets = len(gpus), 2
    # D2H interleaved (k/sockets) + reduce reads of the local copies (k/sockets) + result write
    # (1) + one H2D read per socket (sockets) + tree: send 2, receive 2, add-read 1.
    per_byte = k / sockets + k / sockets + 1 + sockets + 2 + 2 + 1
    memory = G.nodes[mem]["capacity"] / per_byte
    fabric_port = next(d["bandwidth"] for _, v, d in G.edges(nic, data=True)
                       if G.nodes[v]["role"] == "leaf")
    network = fabric_port / 2
    rp = f"{server}/rp5"
    shared = [g for g in gpus if G.has_edge(g, rp)]
    up = G.edges[rp, f"{server}/cpu{G.nodes[rp]['socket']}"]["bandwidth"]
    port = G.nodes[rp].get("capacity", None)
    port_bound = port / (2 * len(shared)) if port else up / len(shared)
    return min(memory, network, port_bound), (memory, network, port_bound)


def test_hfreduce_memory_accounting_is_24_per_byte(ff):
    r = run(ff, "allreduce", "hfreduce", 64, 186 * MiB)
    assert r.info["host_memory_per_byte"] == pytest.approx(24.0)


def test_hfreduce_rate_is_the_memory_bound(ff):
    r = run(ff, "allreduce", "hfreduce", 64, 186 * MiB)
    bound, parts = _hfreduce_bound(ff)
    assert parts[0] == bound
    assert r.stages[0]["rate"] == pytest.approx(bound, rel=1e-9)


def test_hfreduce_rate_is_the_network_bound_with_fast_memory():
    G = preset("fire-flyer-2-cluster", shared_root_port=False)
    for n, c in G.nodes(data="capacity"):
        if c is not None and G.nodes[n]["role"] == "memory":
            G.nodes[n]["capacity"] = c * 10
    r = run(G, "allreduce", "hfreduce", 64, 186 * MiB)
    bound, parts = _hfreduce_bound(G)
    assert parts[1] == bound
    assert r.stages[0]["rate"] == pytest.approx(bound, rel=1e-9)


def test_hfreduce_rate_is_the_shared_port_bound_when_the_port_is_direction_blind():
    G = preset("fire-flyer-2-cluster")
    for n in G.nodes:
        if n.endswith("/rp5"):
            G.nodes[n]["capacity"] = 15e9
    r = run(G, "allreduce", "hfreduce", 64, 186 * MiB)
    bound, parts = _hfreduce_bound(G)
    assert parts[2] == bound
    assert r.stages[0]["rate"] == pytest.approx(bound, rel=1e-9)


def test_hfreduce_nvlink_halves_pcie_and_memory_traffic(ff):
    a = run(ff, "allreduce", "hfreduce", 64, 186 * MiB)
    b = run(ff, "allreduce", "hfreduce-nvlink", 64, 186 * MiB)
    # D2H and reduce reads halve (8 -> 4 each), everything else stays: 24 - 8 = 16.
    assert b.info["host_memory_per_byte"] == pytest.approx(16.0)
    assert b.algbw > a.algbw


# --- ISCA §2.3.2 inference speed limit -----------------------------------------------------------

TOKENS, HIDDEN, ROUTED, SHARED = 32, 7000, 8, 1
#: [ISCA] §2.3.2 counts 61 MoE layers, each with a dispatch and a combine per micro-batch step
#: (the "x 2" of its TPOT estimate): the model's layer count, an input of the estimate.
LAYERS, PASSES = 61, 2


def _ep_step(G, ranks):
    # [ISCA] §2.3.2's assumptions: 32 tokens per device, hidden ~7K (7000), 8 routed + 1 shared
    # expert, one expert per device, FP8 dispatch and BF16 combine, latency excluded.
    r = run(G, "moe", "rdma", ranks, None, tokens=TOKENS, hidden=HIDDEN, topk=ROUTED,
            shared=SHARED, experts=ranks, node_limit=None, token_routing="balanced")
    return r.time


def _ep_closed_form(per_gpu_bandwidth):
    """Every device sends (and receives) tokens x (routed + shared) copies of hidden elements,
    1 byte each to dispatch and 2 to combine; balanced routing keeps every port busy to the
    end, so the step is those bytes over one device's port."""
    return TOKENS * (ROUTED + SHARED) * HIDDEN * (1 + 2) / per_gpu_bandwidth


def test_inference_speed_limit_scale_out():
    B = CX7_400G.bandwidth
    G = two_layer_fat_tree(16, link_bandwidth=B)
    t = _ep_step(G, 64)
    assert t == pytest.approx(_ep_closed_form(B), rel=1e-9)
    assert LAYERS * PASSES * t == pytest.approx(LAYERS * PASSES * _ep_closed_form(B), rel=1e-9)


def test_inference_speed_limit_scale_up():
    G = scale_up_domain()
    gpu = "n0/gpu0"
    B = sum(d["bandwidth"] for _, _, d in G.edges(gpu, data=True))   # its whole NVLink port
    t = _ep_step(G, GB200_NVL72.gpus)
    assert t == pytest.approx(_ep_closed_form(B), rel=1e-9)


@pytest.mark.parametrize("n", [3, 5])
def test_ring_alpha_counts_every_hop_latency_of_the_chain(n):
    # Each of the 2(n-1) ring steps crosses host->switch->switch->host: 3 links of latency L.
    L = 1e-6
    G = ring_of_switches(n, 12.5e9, 50e9)
    ranks = [f"n{i}" for i in range(n)]
    before = run(G, "allreduce", "ring", ranks, GiB).time
    for _, _, d in G.edges(data=True):
        d["latency"] = L          # changed in place: the cached path model must notice
    after = run(G, "allreduce", "ring", ranks, GiB).time
    assert after - before == pytest.approx(2 * (n - 1) * 3 * L, rel=1e-6)
