"""What the step model keeps between calls: a cached answer equals a fresh one, and a changed
graph, layout or fabric gets a fresh one (closed forms where they exist)."""

import networkx as nx
import numpy as np
import pytest

from netemu.collectives import step as step_mod
from netemu.errors import ParameterError, RoutingError
from netemu.collectives import timeline as tl_mod
from netemu.collectives.layout import Layout
from netemu.collectives.models import Transformer
from netemu.collectives.paths import PathModel
from netemu.collectives.software import NCCL_STEP_LATENCY
from netemu.collectives.step import Job, run_step
from netemu.collectives.timeline import Phase, Task, _solve, _solve_numpy, simulate
from netemu.collectives.workload import path_model
from netemu.topologies import two_layer_fat_tree
from netemu.topologies.compute import GpuCompute

B = 1e9
GPU = GpuCompute("test", {"bf16": 1e12}, 1e12, 1e11)
RING = NCCL_STEP_LATENCY["ring"]
# Tiny compute, a large vocabulary: the step is nearly all gradient allreduce.
M = Transformer("m", layers=1, hidden=64, heads=4, ffn=64, vocab=200_000, gated=False)


def _job(gpus=None, **lay):
    return Job("m", M, Layout(dp=2, overlap_dp=False, **lay), 8, 2, gpus=gpus)


def _allreduce(grad_bytes, bandwidth):
    # Ring allreduce of two ranks over the fabric: the buffer crosses each direction once,
    # plus NCCL's base latency and one network step per hop (two hops).
    return grad_bytes / bandwidth + RING["base"] + 2 * RING["network"]


def _names(pm, shares):
    return [{pm.name(r): s for r, s in sh.items()} for sh in shares]


# -- the path model's shares per transfer ---------------------------------------------------------

@pytest.mark.parametrize("routing", ["dmodk", "spray"])
def test_kept_shares_equal_a_fresh_routing_whatever_the_batch(routing):
    G = nx.freeze(two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4, link_bandwidth=B))
    hosts = sorted(n for n, r in G.nodes(data="role") if r == "host")
    pairs = [(a, b) for a in hosts for b in hosts if a != b]
    kept = PathModel(G, routing)
    # Asked in pieces (the second call's pairs partly routed before), then all at once.
    got = kept.shares(pairs[:100]) + kept.shares(pairs[50:])
    got = got[:50] + got[100:]
    assert len(kept._pairs) == len(pairs)
    fresh = PathModel(G, routing)
    fresh._pure = False                     # route every call as asked
    assert _names(kept, got) == _names(fresh, fresh.shares(pairs))


def test_hashed_shares_are_routed_as_asked_every_time():
    # Hashed ECMP numbers a call's fabric segments as its source ports: a transfer's path
    # may depend on the others of its call, so nothing is kept per transfer.
    G = nx.freeze(two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4, link_bandwidth=B))
    hosts = sorted(n for n, r in G.nodes(data="role") if r == "host")
    pairs = [(a, b) for a in hosts for b in hosts if a != b]
    pm, fresh = PathModel(G, "hash"), PathModel(G, "hash")
    pm.shares(pairs[:100])
    assert not pm._pairs
    assert _names(pm, pm.shares(pairs[50:])) == _names(fresh, fresh.shares(pairs[50:]))


def test_kept_shares_follow_a_graph_changed_in_place():
    G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=1, link_bandwidth=B)
    pm = PathModel(G, "spray")
    (before,) = _names(pm, pm.shares([("n0", "n1")]))
    # Spray splits over both spines: half of the bytes on each uplink.
    assert sorted(v for k, v in before.items() if k.startswith("leaf0->")) == [0.5, 0.5]
    G.remove_edge("leaf0", "spine1")
    # One spine left: the whole transfer over it (resource ids of the changed graph, as a
    # new model numbers them).
    fresh = PathModel(G, "spray")
    (after,) = pm.shares([("n0", "n1")])
    assert after == fresh.shares([("n0", "n1")])[0]
    assert _names(fresh, [after]) == [{"n0->leaf0": 1.0, "leaf0->spine0": 1.0,
                                       "spine0->leaf1": 1.0, "leaf1->n1": 1.0}]


def test_a_bad_transfer_is_refused_before_and_after_others_are_kept():
    G = nx.freeze(two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B))
    pm = PathModel(G, "dmodk")
    pm.shares([("n0", "n1")])
    with pytest.raises(ParameterError, match="two different nodes"):
        pm.shares([("n0", "n1"), ("n1", "n1")])


# -- a job's routed communication -----------------------------------------------------------------

def test_a_step_routed_from_the_cache_equals_one_routed_afresh():
    G = nx.freeze(two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B))
    step_mod.clear_caches()
    (first,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    (again,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    assert len(step_mod._COMM) == 1
    step_mod.clear_caches()
    (fresh,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    assert first.step_time == again.step_time == fresh.step_time
    assert first.waits == again.waits == fresh.waits
    grads = M.params() * 4                  # the FP32 accumulator's elements (Layout.grad_bytes)
    assert first.waits["dp"] == pytest.approx(_allreduce(grads, B), rel=1e-9)


def test_only_compute_shares_the_cached_communication():
    G = nx.freeze(two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B))
    step_mod.clear_caches()
    (r,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    # Faster compute: the same communication, one cache entry.
    fast = GpuCompute("fast", {"bf16": 1e13}, 1e13, 1e11)
    (r2,) = run_step(G, _job(), gpu=fast, compute="gemm")
    assert len(step_mod._COMM) == 1
    assert r2.waits["dp"] == r.waits["dp"]
    # BF16 gradients (another layout): half the bytes, a fresh entry and a fresh answer.
    (r3,) = run_step(G, _job(grad_bytes=2), gpu=GPU, compute="gemm")
    assert len(step_mod._COMM) == 2
    assert r3.waits["dp"] == pytest.approx(_allreduce(M.params() * 2, B), rel=1e-9)
    # Other GPUs (the same two hosts the other way round) are another key too.
    run_step(G, _job(gpus=["n1", "n0"]), gpu=GPU, compute="gemm")
    assert len(step_mod._COMM) == 3


def test_a_graph_changed_in_place_is_not_served_stale():
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    step_mod.clear_caches()
    (r,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    for u, v in G.edges:
        G.edges[u, v]["bandwidth"] = 2 * B
    (r2,) = run_step(G, _job(), gpu=GPU, compute="gemm")
    grads = M.params() * 4
    assert r.waits["dp"] == pytest.approx(_allreduce(grads, B), rel=1e-9)
    assert r2.waits["dp"] == pytest.approx(_allreduce(grads, 2 * B), rel=1e-9)


def test_the_cache_keeps_a_bounded_number_of_jobs():
    G = nx.freeze(two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B))
    step_mod.clear_caches()
    for k in range(step_mod.COMM_CACHE_JOBS + 3):
        run_step(G, _job(bucket=2**20 * (k + 1)), gpu=GPU, compute="gemm")
    assert len(step_mod._COMM) == step_mod.COMM_CACHE_JOBS


# -- the timeline's rates ------------------------------------------------------------------------

def test_kept_rates_are_per_fabric():
    a = Phase({0: 1.0}, 1e9)
    b = Phase({0: 1.0}, 1e9)
    tasks = lambda: [Task("a", "s0", phases=[a]), Task("b", "s1", phases=[b])]  # noqa: E731
    # Two 1 GB transfers on one link: 2 s at 1 GB/s; the same phases on 2 GB/s: 1 s.
    assert simulate(np.array([1e9]), tasks()).makespan == pytest.approx(2.0, rel=1e-12)
    assert simulate(np.array([2e9]), tasks()).makespan == pytest.approx(1.0, rel=1e-12)
    assert simulate(np.array([1e9]), tasks()).makespan == pytest.approx(2.0, rel=1e-12)


def test_kept_rates_are_bounded(monkeypatch):
    monkeypatch.setattr(tl_mod, "_RATES_KEPT", 3)
    cap = np.array([1e9, 1e9])
    for k in range(10):
        # A fresh pair of phases each time: a set the cache has not seen.
        ph = [Phase({0: 1.0}, 1e9), Phase({0: 1.0, 1: 1.0}, 1e9)]
        tl = simulate(cap, [Task("a", "s0", phases=[ph[0]]), Task("b", "s1", phases=[ph[1]])])
        assert tl.makespan == pytest.approx(2.0, rel=1e-12)
        assert len(tl_mod._rates_cache(cap)) <= 3


@pytest.mark.parametrize("seed", range(20))
def test_compiled_filling_is_bit_for_bit_the_numpy_one(seed):
    rng = np.random.default_rng(seed)
    R = int(rng.integers(5, 200))
    cap = rng.choice([1e9, 2e9, 5e10], R) if seed % 2 else rng.uniform(1e9, 5e10, R)
    phases = []
    for _ in range(rng.integers(1, 12)):
        cols = rng.choice(R, size=int(rng.integers(1, R)), replace=False)
        vals = rng.choice([0.5, 1.0, 2.0, 1 / 3, rng.uniform(0.1, 3)], size=cols.size)
        phases.append(Phase(dict(zip(cols.tolist(), vals.tolist())), 1e9))
    assert np.array_equal(_solve(cap, phases), _solve_numpy(cap, phases))


def test_a_transfer_without_path_fails_alike_with_kept_shares():
    # leaf1 cut off from the spine: n0 -> n2 and n1 -> n3 have no path; the message counts
    # every occurrence (n0 -> n2 twice), as a call that keeps nothing does.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=B)
    G.remove_edge("leaf1", "spine0")
    asked = [("n0", "n1"), ("n0", "n2"), ("n0", "n2"), ("n1", "n3")]
    for keep in (True, False):
        pm = PathModel(G, "dmodk")
        pm._pure = keep
        pm.shares([("n0", "n1")])
        with pytest.raises(RoutingError, match=r"no path for 3 transfer\(s\).*n0->n2, n1->n3"):
            pm.shares(asked)


def test_path_models_are_dropped_least_recently_used_first():
    from netemu.collectives import workload
    graphs = [nx.freeze(two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1,
                                           link_bandwidth=B * (k + 1)))
              for k in range(workload._MODELS_KEPT + 1)]
    workload._MODELS.clear()
    first = path_model(graphs[0])
    for G in graphs[1:-1]:
        path_model(G)
    assert path_model(graphs[0]) is first           # used again: now the most recent
    path_model(graphs[-1])                          # one too many: graphs[1]'s goes
    assert len(workload._MODELS) == workload._MODELS_KEPT
    assert path_model(graphs[0]) is first
    assert all(pm.G is not graphs[1] for pm in workload._MODELS.values())
