"""Every collective algorithm timed on a small hand-built cluster against a closed form.

Each test derives, here and from the graph's own parameters only, the bytes every link
carries per byte of ``S``, the number of sequential steps, and the latency terms (link
latencies are set explicitly, so every alpha term is known), then compares the model's
time with that closed form.  Nothing is read back from the model's path through the code:
the trees, rings and token counts are written out by hand for the sizes used.

The clusters are single-zone and small on purpose: the contract (a time that follows from
bytes per link, steps and latencies) must hold whatever the internal construction is.

Inputs taken from the library are the software constants with their sources
(:mod:`netemu.collectives.software`: NCCL's chunk and per-step latencies, HFReduce's chunk),
which are model inputs, not answers.
"""

import math

import pytest

from netemu.collectives import ALGORITHMS, run
from netemu.collectives.software import HFREDUCE_CHUNK, NCCL_CHUNK, NCCL_STEP_LATENCY
from netemu.graph import add_link, new_graph, validate
from netemu.units import MiB

RING = NCCL_STEP_LATENCY["ring"]
TREE = NCCL_STEP_LATENCY["tree"]
#: Far larger than any link that is meant to bind (bytes/s).
FAST = 1e15


# --------------------------------------------------------------------------- clusters

def star(n, bandwidth, latency):
    """``n`` single-endpoint hosts ``h0..`` on one non-blocking switch ``sw``."""
    G = new_graph("star", {"n": n})
    G.add_node("sw", role="switch")
    for i in range(n):
        G.add_node(f"h{i}", role="host")
        add_link(G, f"h{i}", "sw", bandwidth, latency=latency, medium="ib")
    return validate(G)


def gpu_servers(servers, gpus, *, nvlink, l_nvlink, pcie, l_pcie, nic, l_nic, planes=False):
    """``servers`` servers of ``gpus`` GPUs, every GPU pair joined by NVLink, GPU ``j`` on NIC ``j``.

    With ``planes=False`` every NIC is on one switch ``sw``; with ``planes=True`` NIC ``j``
    of every server is on switch ``sw{j}`` and carries ``plane=j`` (separate planes).
    """
    G = new_graph("gpu-servers", {"servers": servers, "gpus": gpus, "planes": planes})
    for j in range(gpus if planes else 1):
        G.add_node(f"sw{j}" if planes else "sw", role="switch")
    for s in range(servers):
        for j in range(gpus):
            g, x = f"n{s}/gpu{j}", f"n{s}/nic{j}"
            G.add_node(g, role="gpu")
            G.add_node(x, role="nic", **({"plane": j} if planes else {}))
            add_link(G, g, x, pcie, latency=l_pcie, medium="pcie")
            add_link(G, x, f"sw{j}" if planes else "sw", nic, latency=l_nic, medium="ib")
        for a in range(gpus):
            for b in range(a + 1, gpus):
                add_link(G, f"n{s}/gpu{a}", f"n{s}/gpu{b}", nvlink, latency=l_nvlink,
                         medium="nvlink")
    return validate(G)


def host_memory_servers(servers, gpus, *, pcie, l_pcie, nic, l_nic, l_mem, l_cpu_nic,
                        nvlink=None, l_nvlink=0.0):
    """HFReduce's shape with one socket: GPUs on the CPU's PCIe, host memory on the CPU, one NIC.

    Memory capacity, the CPU's reduce throughput and the CPU-NIC and CPU-memory links are
    :data:`FAST`, so only the GPU links (``pcie``) and the NIC port (``nic``) can bind.
    With ``nvlink`` set, GPUs ``2i`` and ``2i+1`` are bridged by NVLink.
    """
    G = new_graph("host-memory-servers", {"servers": servers, "gpus": gpus})
    G.add_node("sw", role="switch")
    for s in range(servers):
        cpu, mem, x = f"n{s}/cpu0", f"n{s}/memory0", f"n{s}/nic0"
        G.add_node(cpu, role="cpu", socket=0, reduce_bandwidth=FAST)
        G.add_node(mem, role="memory", socket=0, capacity=FAST)
        G.add_node(x, role="nic", socket=0)
        add_link(G, cpu, mem, FAST, latency=l_mem, medium="memory")
        add_link(G, cpu, x, FAST, latency=l_cpu_nic, medium="pcie")
        add_link(G, x, "sw", nic, latency=l_nic, medium="ib")
        for j in range(gpus):
            g = f"n{s}/gpu{j}"
            G.add_node(g, role="gpu", socket=0)
            add_link(G, g, cpu, pcie, latency=l_pcie, medium="pcie")
        if nvlink:
            for j in range(0, gpus, 2):
                add_link(G, f"n{s}/gpu{j}", f"n{s}/gpu{j + 1}", nvlink, latency=l_nvlink,
                         medium="nvlink")
    return validate(G)


def hosts(n):
    return [f"h{i}" for i in range(n)]


# Link parameters of the star: 10 GB/s ports, 3 us per link (host->switch->host: 6 us).
B, L = 10e9, 3e-6
S = 64 * MiB


def test_every_algorithm_has_a_closed_form_test_here():
    """A new algorithm must come with its closed form in this file."""
    covered = {
        "allreduce": {"ring", "tree", "hierarchical", "hfreduce", "hfreduce-nvlink"},
        "alltoall": {"direct", "pxn", "pairwise"},
        "allgather": {"ring"}, "reducescatter": {"ring"}, "broadcast": {"ring"},
        "moe": {"rdma", "deepep"},
    }
    assert {c: set(a) for c, a in ALGORITHMS.items()} == covered


# --------------------------------------------------------------------------- rings

@pytest.mark.parametrize("n", [3, 5])
def test_ring_allreduce(n):
    # n transfers i -> i+1, each 2(n-1)/n of S; every port direction carries exactly one.
    # 2(n-1) sequential steps, each host->switch->host (2 links), NCCL's network step cost.
    r = run(star(n, B, L), "allreduce", "ring", hosts(n), S)
    steps = 2 * (n - 1)
    expect = 2 * (n - 1) / n * S / B + steps * 2 * L + RING["base"] + steps * RING["network"]
    assert r.time == pytest.approx(expect, rel=1e-9)
    # nccl-tests: algbw = S / t, busbw = algbw x 2(n-1)/n for allreduce.
    assert r.algbw == pytest.approx(S / expect, rel=1e-9)
    assert r.busbw == pytest.approx(S / expect * 2 * (n - 1) / n, rel=1e-9)


@pytest.mark.parametrize("coll", ["allgather", "reducescatter"])
@pytest.mark.parametrize("n", [3, 4])
def test_ring_allgather_and_reducescatter(coll, n):
    # S is the whole array: each port moves (n-1)/n of it, in n-1 steps.
    r = run(star(n, B, L), coll, "ring", hosts(n), S)
    steps = n - 1
    expect = (n - 1) / n * S / B + steps * 2 * L + RING["base"] + steps * RING["network"]
    assert r.time == pytest.approx(expect, rel=1e-9)
    assert r.busbw == pytest.approx(S / expect * (n - 1) / n, rel=1e-9)   # factor (n-1)/n


@pytest.mark.parametrize("n", [3, 5])
def test_ring_broadcast(n):
    # A pipelined chain of n-1 hops from h0: every hop moves all of S at the port rate; the
    # pipeline fills in (n-2) chunks of NCCL's step size.
    r = run(star(n, B, L), "broadcast", "ring", hosts(n), S)
    hops = n - 1
    expect = ((S + (hops - 1) * NCCL_CHUNK) / B + hops * 2 * L + RING["base"]
              + hops * RING["network"])
    assert r.time == pytest.approx(expect, rel=1e-9)
    assert r.busbw == pytest.approx(S / expect, rel=1e-9)                 # factor 1


# --------------------------------------------------------------------------- tree

#: NCCL's double binary tree on 4 ranks, child -> parent: tree 1 is the in-order tree
#: 0 <- 2 <- {1, 3}; tree 2 is it mirrored (rank r -> 3 - r): 3 <- 1 <- {2, 0}.
TREE1 = {1: 2, 3: 2, 2: 0}
TREE2 = {3 - c: 3 - p for c, p in TREE1.items()}


def test_double_binary_tree_on_four_ranks_is_the_one_written_here():
    from netemu.collectives.ranks import double_binary_tree
    t1, t2 = double_binary_tree(4)
    assert dict(t1) == TREE1 and dict(t2) == TREE2


def test_tree_allreduce():
    n = 4
    # Each tree carries half of S up and back down: per tree edge 1/2 each way.  A host's
    # port carries 1/2 per tree edge it touches, in both trees.
    edges = [e for t in (TREE1, TREE2) for e in t.items()]
    per_port = max(0.5 * sum(h in e for e in edges) for h in range(n))
    assert per_port == 2.0            # ranks 1 and 2: internal in one tree (3 edges) + 1
    rate = B / per_port

    # Critical chain: the deepest leaf of tree 1 up to the root and back down.
    def depth(c):
        return 0 if c not in TREE1 else 1 + depth(TREE1[c])
    hops = 2 * max(depth(c) for c in range(n))
    assert hops == 4
    # Tree steps pay NCCL's *tree* latency (50 us on the network), not the ring's.
    expect = ((S + (hops - 1) * NCCL_CHUNK) / rate + hops * 2 * L + TREE["base"]
              + hops * TREE["network"])
    r = run(star(n, B, L), "allreduce", "tree", hosts(n), S)
    assert r.time == pytest.approx(expect, rel=1e-9)


def test_tree_allreduce_on_two_gpu_servers():
    # 2 servers x 2 GPUs, GPU j on NIC j: one channel per NIC (2), each carrying half of S.
    # Channel c's head in each server is GPU c (next to NIC c); the other GPU chains to it
    # over NVLink, both ways (reduce up, broadcast down) at the channel's share: the NVLink
    # of a server carries 1/2 (channel 0, one way) + 1/2 (channel 1, the other) = 1 per
    # direction.  Between servers the two trees on 2 ranks are one edge each, 1/2 of the
    # channel's share each way per tree: 1/2 per NIC port direction.  NVLink binds.
    Bv, Lv, Lp, Bn, Ln = 2.5e9, 1e-6, 2e-6, 10e9, 3e-6
    G = gpu_servers(2, 2, nvlink=Bv, l_nvlink=Lv, pcie=FAST, l_pcie=Lp, nic=Bn, l_nic=Ln)
    ranks = [f"n{s}/gpu{j}" for s in range(2) for j in range(2)]
    rate = min(Bv / 1.0, Bn / 0.5)
    assert rate == Bv
    # Chain: the deepest leaf server's other GPU -> its head (NVLink), head -> root head
    # (network), back down, head -> other GPU: 2 NVLink and 2 network hops.
    hops = 4
    alpha = (2 * (Lv + TREE["nvlink"]) + 2 * (2 * Lp + 2 * Ln + TREE["network"])
             + TREE["base"])
    r = run(G, "allreduce", "tree", ranks, S)
    assert r.time == pytest.approx((S + (hops - 1) * NCCL_CHUNK) / rate + alpha, rel=1e-9)


def ring_of_switches(n, link, host, latency):
    """n switches on a ring, host i on switch i: a ring's neighbours are one switch hop apart."""
    G = new_graph("ring", {"n": n})
    for i in range(n):
        G.add_node(f"sw{i}", role="switch")
        G.add_node(f"h{i}", role="host")
        add_link(G, f"h{i}", f"sw{i}", host, latency=latency, medium="ib")
    for i in range(n):
        add_link(G, f"sw{i}", f"sw{(i + 1) % n}", link, latency=latency, medium="ib")
    return validate(G)


def test_ring_allreduce_follows_the_physical_ring():
    # Ring order h0, h1, ... on a ring of switches: each ring hop is host-switch-switch-host
    # (3 links) and each switch-switch link carries one ring transfer per direction in use.
    n, Bl = 5, 5e9
    G = ring_of_switches(n, Bl, FAST, L)
    r = run(G, "allreduce", "ring", hosts(n), S)
    steps = 2 * (n - 1)
    expect = (2 * (n - 1) / n * S / Bl + steps * 3 * L + RING["base"]
              + steps * RING["network"])
    assert r.time == pytest.approx(expect, rel=1e-9)


# --------------------------------------------------------------------------- hierarchical

@pytest.mark.parametrize("N", [2, 3])
def test_hierarchical_allreduce(N):
    k = 2
    Bv, Lv, Bp, Lp, Bn, Ln = 40e9, 1e-6, FAST, 2e-6, 10e9, 3e-6
    G = gpu_servers(N, k, nvlink=Bv, l_nvlink=Lv, pcie=Bp, l_pcie=Lp, nic=Bn, l_nic=Ln)
    ranks = [f"n{s}/gpu{j}" for s in range(N) for j in range(k)]
    # 1. reduce-scatter inside each server: a ring of k over NVLink, (k-1)/k of S per link,
    #    k-1 steps over one NVLink each.
    intra = (k - 1) / k * S / Bv + (k - 1) * (Lv + RING["nvlink"]) + RING["base"]
    # 2. every GPU's shard (S/k) allreduced by a ring over the N same-index GPUs: GPU j of
    #    every server uses its own NIC j, which carries 2(N-1)/N of the shard; 2(N-1) steps,
    #    each GPU->NIC->switch->NIC->GPU.
    inter = (2 * (N - 1) / N * (S / k) / Bn
             + 2 * (N - 1) * (2 * Lp + 2 * Ln + RING["network"]) + RING["base"])
    # 3. all-gather inside each server: the mirror of step 1.
    expect = intra + inter + intra
    r = run(G, "allreduce", "hierarchical", ranks, S)
    assert r.time == pytest.approx(expect, rel=1e-9)
    assert [s["time"] for s in r.stages] == pytest.approx([intra, inter, intra], rel=1e-9)


@pytest.mark.parametrize("N", [3, 4])
def test_hierarchical_allreduce_with_one_gpu_per_server_is_the_ring(N):
    # Nothing to reduce inside a server: only the ring across servers, 2(N-1)/N of S per port.
    r = run(star(N, B, L), "allreduce", "hierarchical", hosts(N), S)
    steps = 2 * (N - 1)
    expect = 2 * (N - 1) / N * S / B + steps * (2 * L + RING["network"]) + RING["base"]
    assert r.time == pytest.approx(expect, rel=1e-9)
    assert len(r.stages) == 1


# --------------------------------------------------------------------------- HFReduce

#: The HFReduce shape's link latencies (s): GPU-CPU, CPU-memory, CPU-NIC, NIC-switch.
LG, LM, LC, LN = 2e-6, 0.5e-6, 1e-6, 3e-6


def _hfreduce_chain_latency():
    """Two servers: GPU -> host memory, memory -> memory over the tree's one edge up and back
    down (memory-CPU-NIC-switch-NIC-CPU-memory), CPU -> GPU; 4 sequential hops."""
    to_host = LG + LM
    across = 2 * LM + 2 * LC + 2 * LN
    back = LG
    return 4, to_host + 2 * across + back


def test_hfreduce():
    # Two servers, 2 GPUs each.  Per byte of S: each GPU copies 1 to host memory and gets 1
    # back (GPU links: 1 each way); the double binary tree on 2 servers has one edge per
    # tree, 1/2 each way per tree, so each NIC port carries 1 each way.  GPU links bind.
    Bg, Bn = 10e9, 12.5e9
    G = host_memory_servers(2, 2, pcie=Bg, l_pcie=LG, nic=Bn, l_nic=LN, l_mem=LM, l_cpu_nic=LC)
    rate = min(Bg / 1.0, Bn / 1.0)
    assert rate == Bg
    hops, alpha = _hfreduce_chain_latency()
    expect = (S + (hops - 1) * HFREDUCE_CHUNK) / rate + alpha
    r = run(G, "allreduce", "hfreduce", [f"n{s}/gpu{j}" for s in range(2) for j in range(2)], S)
    assert r.time == pytest.approx(expect, rel=1e-9)


def test_hfreduce_nvlink():
    # Bridged pairs reduce-scatter first: each GPU copies 1/2 of S to the host and gets 1/2
    # back, so the GPU links carry half; the NIC ports still carry 1 each way and bind.
    Bg, Bn = 10e9, 12.5e9
    G = host_memory_servers(2, 2, pcie=Bg, l_pcie=LG, nic=Bn, l_nic=LN, l_mem=LM, l_cpu_nic=LC,
                            nvlink=FAST, l_nvlink=0.25e-6)
    rate = min(Bg / 0.5, Bn / 1.0)
    assert rate == Bn
    hops, alpha = _hfreduce_chain_latency()
    expect = (S + (hops - 1) * HFREDUCE_CHUNK) / rate + alpha
    r = run(G, "allreduce", "hfreduce-nvlink",
            [f"n{s}/gpu{j}" for s in range(2) for j in range(2)], S)
    assert r.time == pytest.approx(expect, rel=1e-9)


# --------------------------------------------------------------------------- all-to-all

@pytest.mark.parametrize("n", [3, 6])
def test_direct_alltoall(n):
    # n(n-1) flows of S/n, n-1 on every port direction, all at B/(n-1): they end together.
    # The stage then waits for the path latency (host->switch->host).
    r = run(star(n, B, L), "alltoall", "direct", hosts(n), S)
    expect = (S / n) / (B / (n - 1)) + 2 * L
    assert r.time == pytest.approx(expect, rel=1e-9)
    assert r.busbw == pytest.approx(S / expect * (n - 1) / n, rel=1e-9)   # factor (n-1)/n


@pytest.mark.parametrize("n", [3, 5])
def test_pairwise_alltoall(n):
    # n-1 steps; in each, every host sends one flow of S/n and receives one: port rate.
    r = run(star(n, B, L), "alltoall", "pairwise", hosts(n), S)
    assert r.time == pytest.approx((n - 1) * ((S / n) / B + 2 * L), rel=1e-9)


@pytest.mark.parametrize("algo", ["pxn", "direct"])
def test_alltoall_across_planes(algo):
    # 2 servers x 2 GPUs, NIC j on plane j.  4 ranks, flows of S/4.  Whether the plane change
    # happens in the source server (PXN: through the GPU next to the destination's NIC) or in
    # the destination server (direct: through the destination's NIC on the source's plane),
    # every NIC port carries 2 flows of the other server: each runs at Bn/2.  Their path:
    # GPU-NIC, NIC-switch, switch-NIC, NIC-GPU and one NVLink hop to change plane.
    Bv, Lv, Bp, Lp, Bn, Ln = FAST, 1e-6, FAST, 2e-6, 10e9, 3e-6
    G = gpu_servers(2, 2, nvlink=Bv, l_nvlink=Lv, pcie=Bp, l_pcie=Lp, nic=Bn, l_nic=Ln,
                    planes=True)
    ranks = [f"n{s}/gpu{j}" for s in range(2) for j in range(2)]
    r = run(G, "alltoall", algo, ranks, S)
    assert r.time == pytest.approx((S / 4) / (Bn / 2) + (2 * Lp + 2 * Ln + Lv), rel=1e-9)


def rails_with_spine(*, nvlink, l_nvlink, nic, l_nic, l_pcie, spine, l_spine):
    """2 servers x 2 GPUs, rail-optimised: NIC j (``rail=j``) on leaf ``sw{j}``; the two rail
    leaves meet at one spine ``sp`` over links of ``spine`` bytes/s."""
    G = new_graph("rails", {})
    for j in range(2):
        G.add_node(f"sw{j}", role="leaf")
    G.add_node("sp", role="spine")
    for j in range(2):
        add_link(G, f"sw{j}", "sp", spine, latency=l_spine, medium="ib")
    for s in range(2):
        for j in range(2):
            g, x = f"n{s}/gpu{j}", f"n{s}/nic{j}"
            G.add_node(g, role="gpu")
            G.add_node(x, role="nic", rail=j)
            add_link(G, g, x, FAST, latency=l_pcie, medium="pcie")
            add_link(G, x, f"sw{j}", nic, latency=l_nic, medium="ib")
        add_link(G, f"n{s}/gpu0", f"n{s}/gpu1", nvlink, latency=l_nvlink, medium="nvlink")
    return validate(G)


def test_pxn_keeps_cross_rail_traffic_off_the_spine_and_direct_does_not():
    # Rails meet only at a slow spine (Bs = Bn/4).  PXN: a GPU reaches the other rail through
    # its NVLink neighbour, so no flow crosses the spine and the NIC ports bind as above
    # ((S/4) / (Bn/2), path GPU-GPU-NIC-leaf-NIC-GPU).  Direct: the 4 cross-rail flows leave
    # by their own NIC and cross the spine, 2 per spine link direction, each at Bs/2; their
    # path is GPU-NIC-leaf-spine-leaf-NIC-GPU.  Same-rail flows end earlier.
    Bv, Lv, Lp, Bn, Ln, Ls = FAST, 1e-6, 2e-6, 10e9, 3e-6, 4e-6
    Bs = Bn / 4
    G = rails_with_spine(nvlink=Bv, l_nvlink=Lv, nic=Bn, l_nic=Ln, l_pcie=Lp, spine=Bs,
                         l_spine=Ls)
    ranks = [f"n{s}/gpu{j}" for s in range(2) for j in range(2)]
    pxn = run(G, "alltoall", "pxn", ranks, S)
    direct = run(G, "alltoall", "direct", ranks, S)
    assert pxn.time == pytest.approx((S / 4) / (Bn / 2) + (Lv + 2 * Lp + 2 * Ln), rel=1e-9)
    assert direct.time == pytest.approx((S / 4) / (Bs / 2) + (2 * Lp + 2 * Ln + 2 * Ls),
                                        rel=1e-9)


# --------------------------------------------------------------------------- MoE

T, HIDDEN = 256, 1024


def _moe(algo):
    # 2 servers x 2 GPUs on one switch; one expert per GPU; every token goes to the 3 other
    # ranks (balanced routing, topk = 3): T tokens from every rank to every other rank.
    Bv, Lv, Bp, Lp, Bn, Ln = 4 * 10e9, 1e-6, FAST, 2e-6, 10e9, 3e-6
    G = gpu_servers(2, 2, nvlink=Bv, l_nvlink=Lv, pcie=Bp, l_pcie=Lp, nic=Bn, l_nic=Ln)
    ranks = [f"n{s}/gpu{j}" for s in range(2) for j in range(2)]
    r = run(G, "moe", algo, ranks, None, tokens=T, hidden=HIDDEN, topk=3, experts=4,
            token_routing="balanced")
    return r, Bv, Bn, 2 * Lp + 2 * Ln


def test_moe_rdma():
    r, Bv, Bn, lat = _moe("rdma")
    # One rank's tokens: S = T x hidden x 1 byte (FP8).  Every copy crosses on its own: a
    # NIC sends its GPU's T tokens to each of the 2 GPUs of the other server (2 flows of S),
    # so each flow gets Bn/2: 2S/Bn.  Combine sends back BF16 (2 bytes): 4S/Bn.
    S_moe = T * HIDDEN
    dispatch = 2 * S_moe / Bn + lat
    combine = 4 * S_moe / Bn + lat
    assert r.time == pytest.approx(dispatch + combine, rel=1e-9)


def test_moe_deepep():
    r, Bv, Bn, lat = _moe("deepep")
    S_moe = T * HIDDEN
    # DeepEP crosses the network once per target server, to the same-index GPU there, which
    # forwards over NVLink: each NIC port carries one flow of S (T tokens), at Bn.  An NVLink
    # direction carries the local rank's T tokens plus the T forwarded ones: 2S at Bv = 4 Bn,
    # done before the network flow.  Combine: 2 bytes per element, twice the bytes.
    net_d, nvl_d = S_moe, 2 * S_moe
    dispatch = max(net_d / Bn, nvl_d / Bv) + lat
    combine = max(2 * net_d / Bn, 2 * nvl_d / Bv) + lat
    assert dispatch == S_moe / Bn + lat
    assert r.time == pytest.approx(dispatch + combine, rel=1e-9)
    # DeepEP's per-GPU bandwidths: the busiest rank's bytes of each kind over the stage time.
    info = r.info
    assert info["dispatch_rdma_bw"] == pytest.approx(net_d / dispatch, rel=1e-9)
    assert info["dispatch_nvlink_bw"] == pytest.approx(nvl_d / dispatch, rel=1e-9)
    assert info["combine_rdma_bw"] == pytest.approx(2 * net_d / combine, rel=1e-9)
    assert info["combine_nvlink_bw"] == pytest.approx(2 * nvl_d / combine, rel=1e-9)


def test_deepep_moves_half_the_network_bytes_of_rdma_here():
    # The two closed forms above: network seconds 3S/Bn (DeepEP) against 6S/Bn (RDMA).
    rd, _, Bn, lat = _moe("rdma")
    dp, _, _, _ = _moe("deepep")
    S_moe = T * HIDDEN
    assert rd.time - 2 * lat == pytest.approx(2 * (dp.time - 2 * lat), rel=1e-9)
    assert math.isclose(dp.time - 2 * lat, 3 * S_moe / Bn, rel_tol=1e-9)
