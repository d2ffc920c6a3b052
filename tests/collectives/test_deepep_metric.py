"""DeepEP's bandwidth metric and kernel modes: counts checked by hand on small cases."""

import numpy as np
import pytest

from netemu.collectives.moe import (DEEPEP_MODES, deepep, deepep_bandwidth, deepep_counts,
                                    fp8_scale_bytes, moe_dispatch_combine, token_destinations)
from netemu.collectives.workload import evaluate, path_model
from netemu.errors import ParameterError
from netemu.topologies.clusters import cluster
from netemu.topologies.planes import multi_plane_fat_tree
from netemu.topologies.servers import h800_server

#: Two servers, two GPUs of each as the ranks: server A = ranks 0, 1; server B = ranks 2, 3.
RANKS = ["n0/gpu0", "n0/gpu1", "n1/gpu0", "n1/gpu1"]
HIDDEN = 256


@pytest.fixture(scope="module")
def two_servers():
    return cluster(multi_plane_fat_tree(8, 4, servers=2), h800_server)


def test_fp8_token_carries_one_fp32_scale_per_128_elements():
    # DeepEP test_internode.py: fp8_factor = (1 + 4 / 128) / 2 of the BF16 bytes (2 per element).
    for hidden in (128, 7168):
        assert hidden * 1 + fp8_scale_bytes(hidden) == pytest.approx(hidden * 2 * (1 + 4 / 128) / 2)


def test_balanced_routing_by_hand():
    # Balanced: token t's copy c goes to rank (r + 1 + c mod 3) mod 4; 2 tokens x 2 copies.
    d = token_destinations(RANKS, tokens=2, topk=2, routing="balanced")
    assert d[0].tolist() == [[1, 2], [3, 1]]
    assert d[1].tolist() == [[2, 3], [0, 2]]


def test_deepep_counts_by_hand():
    d = token_destinations(RANKS, tokens=2, topk=2, routing="balanced")
    c = deepep_counts(RANKS, d)
    # Distinct servers per token, the sender's own included:
    # rank 0: {A,B} + {B,A} = 4; rank 1: {B} + {A,B} = 3; rank 2: {B,A} + {A,B} = 4;
    # rank 3: {A} + {B,A} = 3.
    assert c["rdma_tokens"].tolist() == [4, 3, 4, 3]
    # Tokens each rank receives (once per token and rank): every rank is hit 4 times.
    assert c["nvl_recv_tokens"].tolist() == [4, 4, 4, 4]
    assert c["selections"].tolist() == [4, 4, 4, 4]


def test_deepep_metric_counts_the_own_node_the_network_does_not(two_servers):
    G = two_servers
    pm = path_model(G)
    scale = fp8_scale_bytes(HIDDEN)
    w = moe_dispatch_combine(pm, RANKS, tokens=2, hidden=HIDDEN, topk=2, routing="balanced",
                             forward=True, scale_bytes=scale)
    res = evaluate(G, w)
    info = deepep_bandwidth(pm, w, res)
    fp8, bf16 = HIDDEN + scale, 2 * HIDDEN
    t_d, t_c = res.stages[0]["time"], res.stages[1]["time"]
    # DeepEP's figure for rank 0: 4 (token, node) pairs.
    assert info["dispatch_deepep_rdma_bw"] * t_d == pytest.approx(4 * fp8)
    assert info["combine_deepep_rdma_bw"] * t_c == pytest.approx(4 * bf16)
    assert info["dispatch_deepep_nvl_bw"] * t_d == pytest.approx(4 * fp8)
    # What rank 0 really sends over the fabric: each token once to server B (2 tokens).
    net = sum(a * w.size for u, v, a in w.stages[0].transfers
              if u == RANKS[0] and v.startswith("n1/"))
    assert net == pytest.approx(2 * fp8)
    # Busiest GPU's network bytes: every rank sends 2 tokens to the other server.
    assert info["dispatch_rdma_bw"] * t_d == pytest.approx(2 * fp8)


def test_low_latency_sends_one_message_per_selection(two_servers):
    G = two_servers
    pm = path_model(G)
    hdr = 16
    w = moe_dispatch_combine(pm, RANKS, tokens=2, hidden=HIDDEN, topk=2, routing="balanced",
                             per_expert=True, scale_bytes=fp8_scale_bytes(HIDDEN),
                             header_bytes=hdr)
    msg = HIDDEN + fp8_scale_bytes(HIDDEN) + hdr
    sent = {}
    for u, v, a in w.stages[0].transfers:
        sent[u] = sent.get(u, 0.0) + a * w.size
    # Balanced routing never picks the sender: 4 selections leave every rank.
    assert all(b == pytest.approx(4 * msg) for b in sent.values())
    res = evaluate(G, w)
    info = deepep_bandwidth(pm, w, res)
    assert info["dispatch_deepep_rdma_bw"] * res.stages[0]["time"] == pytest.approx(4 * msg)
    assert info["combine_deepep_rdma_bw"] * res.stages[1]["time"] == pytest.approx(4 * 2 * HIDDEN)
    assert "dispatch_deepep_nvl_bw" not in info


def test_per_expert_counts_two_experts_of_one_rank_twice():
    # 2 ranks, 4 experts each: every token's 3 experts sit on ranks 0/1; one message per expert.
    ranks = ["a/gpu0", "b/gpu0"]
    d = token_destinations(ranks, tokens=50, topk=3, experts_per_gpu=4, routing="grouped", seed=1)
    c = deepep_counts(ranks, d)
    assert c["selections"].tolist() == [150, 150]
    # Forwarding dedups per node: between 50 (one node per token) and 100 (both) per rank.
    assert all(50 <= x <= 100 for x in c["rdma_tokens"])


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_grouped_routing_keeps_the_best_groups(limit):
    # 4 servers x 2 GPUs x 4 experts: at most `limit` servers per token, and with
    # limit 1 every token stays on one server.
    ranks = [f"n{s}/gpu{g}" for s in range(4) for g in range(2)]
    d = token_destinations(ranks, tokens=200, topk=4, experts_per_gpu=4, node_limit=limit,
                           routing="grouped", seed=2)
    for x in d:
        nodes = x // 2
        assert max(len(set(row)) for row in nodes) <= limit
        assert x.shape == (200, 4)


def test_deepep_modes_settings_follow_the_scripts():
    assert DEEPEP_MODES["normal"]["tokens"] == 4096 and DEEPEP_MODES["normal"]["max_groups"] == 4
    ll = DEEPEP_MODES["low-latency"]
    assert ll["tokens"] == 128 and ll["per_expert"] and ll["header_bytes"] == 16


def test_deepep_rejects_bad_requests(two_servers):
    with pytest.raises(ParameterError, match="mode"):
        deepep(two_servers, 16, "fast")
    with pytest.raises(ParameterError, match="unknown DeepEP settings"):
        deepep(two_servers, 16, "normal", hiden=7168)
    with pytest.raises(ParameterError, match="per_expert"):
        moe_dispatch_combine(path_model(two_servers), RANKS, tokens=2, hidden=8, topk=1,
                             forward=True, per_expert=True)
    with pytest.raises(ParameterError, match="scale_bytes"):
        moe_dispatch_combine(path_model(two_servers), RANKS, tokens=2, hidden=8, topk=1,
                             scale_bytes=-1)


def test_deepep_normal_mode_on_two_nodes(two_servers):
    # EP 16 on two H800 nodes, a small batch: DeepEP's figure is its own-node-inclusive count
    # over the stage time; the top-min(2, 4) = 2 groups let a token use both nodes.
    r = deepep(two_servers, 16, "normal", tokens=64)
    assert r.info["topk_groups"] == 2
    t = r.stages[0]["time"]
    fp8 = 7168 + fp8_scale_bytes(7168)
    counts = r.info["deepep"]["counts"]["rdma_tokens"]
    assert r.info["dispatch_deepep_rdma_bw"] * t == pytest.approx(counts[0] * fp8)
    assert 64 <= counts[0] <= 128


@pytest.mark.parametrize("order", ["by server", "interleaved"])
def test_grouped_routing_equals_the_plain_computation(order):
    """Group scores per server as the DeepEP script computes them (amax over each
    server's experts), top groups, top-k among their experts: the same draws give the
    same destinations whatever order the ranks come in."""
    ranks = [f"n{i // 4}/gpu{i % 4}" for i in range(16)]
    if order == "interleaved":
        ranks = ranks[::2] + ranks[1::2]
    tokens, topk, per, M = 40, 4, 2, 2
    got = token_destinations(ranks, tokens=tokens, topk=topk, experts_per_gpu=per,
                             node_limit=M, routing="grouped", seed=5)
    names = list(dict.fromkeys(r.split("/")[0] for r in ranks))
    srv = np.array([names.index(r.split("/")[0]) for r in ranks])
    experts = np.repeat(np.arange(len(ranks)), per)
    rng = np.random.default_rng(5)
    for r in range(len(ranks)):
        scores = rng.random((tokens, experts.size))
        group = np.stack([scores[:, srv[experts] == k].max(axis=1) for k in range(len(names))],
                         axis=1)
        keep = np.argsort(-group, axis=1)[:, :M]
        for t in range(tokens):
            allowed = np.isin(srv[experts], keep[t])
            s = np.where(allowed, scores[t], -1.0)
            want = sorted(experts[np.argsort(-s)[:topk]])
            assert sorted(got[r][t]) == want


def test_physical_bytes_follow_each_transfers_plan(two_servers):
    # The busiest sender's bytes over the fabric and inside its server, recomputed the plain
    # way: every transfer classified by its own plan (a fabric segment or not), summed per
    # sender.  Forwarding mixes both kinds (NVLink hops inside a server, RDMA across).
    G = two_servers
    pm = path_model(G)
    ranks = [f"n{s}/gpu{g}" for s in range(2) for g in range(4)]
    w = moe_dispatch_combine(pm, ranks, tokens=16, hidden=HIDDEN, topk=3, experts_per_gpu=2,
                             routing="grouped", forward=True, scale_bytes=8, seed=3)
    res = evaluate(G, w)
    info = deepep_bandwidth(pm, w, res)
    for st, r in zip(w.stages, res.stages):
        sent = {}
        for u, v, a in st.transfers:
            kind = "rdma" if any(k == "fabric" for k, _, _ in pm.plan(u, v)) else "nvlink"
            sent[kind, u] = sent.get((kind, u), 0.0) + a * w.size
        for kind in ("rdma", "nvlink"):
            top = max((b for (k, _), b in sent.items() if k == kind), default=0.0)
            assert top > 0
            assert info[f"{st.name}_{kind}_bw"] == top / r["time"]
