"""Training steps on the fabric: closed forms for a tiny model, overlap, jobs side by side."""

import pytest

from netemu import ParameterError
from netemu.collectives.layout import Layout
from netemu.collectives.models import Transformer
from netemu.collectives.software import NCCL_STEP_LATENCY
from netemu.collectives.step import ADAM_BYTES_PER_PARAM, ADAM_STATE_BYTES, Job, place, run_step
from netemu.collectives.timeline import Phase, Task, simulate
from netemu.topologies import two_layer_fat_tree
from netemu.topologies.compute import GpuCompute

B = 1e9                 # link bandwidth, bytes/s
GPU = GpuCompute("test", {"bf16": 1e12}, 1e12, 1e11)
RING = NCCL_STEP_LATENCY["ring"]

# A tiny dense model: h = 64, 2 layers, 4 heads, GELU MLP of 256, vocab 100.
TINY = Transformer("tiny", layers=2, hidden=64, heads=4, ffn=256, vocab=100, gated=False)


def _flops_fwd_per_token(seq):
    h, ffn, vocab = 64, 256, 100
    attn = 2 * 4 * h * h                       # q, k, v, o projections
    core = 4 * (seq / 2) * h                    # causal scores and values
    mlp = 2 * 2 * h * ffn
    return 2 * (attn + core + mlp) + 2 * h * vocab


def _params():
    h = 64
    return 2 * (4 * h * h + 2 * h * 256) + 2 * 100 * h


def test_tiny_model_counts():
    assert TINY.params() == _params()
    assert TINY.forward_flops_per_token(32) == _flops_fwd_per_token(32)


def test_step_of_a_tiny_model_is_compute_then_ring_allreduce_then_optimizer():
    # Two hosts under two leaves: data parallelism over the fabric, one micro-batch each.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    lay = Layout(dp=2, overlap_dp=False)
    seq, batch = 32, 2
    (r,) = run_step(G, Job("tiny", TINY, lay, seq, batch), gpu=GPU, compute="gemm")
    f = _flops_fwd_per_token(seq) * seq / 1e12
    grads = _params() * 4                # FP32: the accumulator's elements (Layout.grad_bytes)
    # Ring allreduce of 2 ranks: each hop carries the whole buffer once; NCCL's step
    # latency per network hop (2 hops) plus its base.
    allreduce = grads / B + RING["base"] + 2 * RING["network"]
    opt = _params() * ADAM_BYTES_PER_PARAM / 1e11
    assert r.step_time == pytest.approx(f + 2 * f + allreduce + opt, rel=1e-9)
    assert r.compute_time == pytest.approx(3 * f, rel=1e-12)
    assert r.waits["dp"] == pytest.approx(allreduce, rel=1e-9)
    assert r.tokens_per_s == pytest.approx(seq * batch / r.step_time)
    model_flops = 3 * _flops_fwd_per_token(seq) * seq * batch
    assert r.mfu == pytest.approx(model_flops / (r.step_time * 2 * 1e12))


MOE = Transformer("tiny-moe", layers=1, hidden=64, heads=4, ffn=0, vocab=100, experts=2,
                  topk=2, expert_ffn=64, gated=False)


def _ep_times(tokens, dispatch_bytes, combine_bytes):
    # Two ranks, each expert on one: every token sends one copy to the other rank (topk = 2
    # covers both experts), and the two directions do not meet.
    disp = tokens * 64 * dispatch_bytes / B
    comb = tokens * 64 * combine_bytes / B
    return disp + comb, 2 * comb       # forward; backward in the gradients' precision


@pytest.mark.parametrize("seq", [64, 4096])
def test_expert_all_to_all_overlapped_hides_or_shows(seq):
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    lay = Layout(dp=2, ep=2, overlap_ep=True, ep_library="nccl", overlap_dp=False,
                 dispatch_bytes=1, combine_bytes=2)
    (r,) = run_step(G, Job("moe", MOE, lay, seq, 2), gpu=GPU, compute="gemm")
    f = MOE.forward_flops_per_token(seq) * seq / 1e12
    ep_f, ep_b = _ep_times(seq, 1, 2)
    exposed = max(0.0, ep_f - f) + max(0.0, ep_b - 2 * f)
    assert r.waits.get("ep", 0.0) == pytest.approx(exposed, rel=1e-9, abs=1e-15)
    if seq == 64:
        assert ep_f > f and exposed > 0                          # cannot hide
    else:
        assert ep_f < f and ep_b < 2 * f and exposed == 0       # hidden completely
    # In line instead, all of it is exposed.
    (r2,) = run_step(G, Job("moe", MOE, lay.with_(overlap_ep=False), seq, 2), gpu=GPU, compute="gemm")
    assert r2.waits["ep"] == pytest.approx(ep_f + ep_b, rel=1e-9)


def _allreduce_job(name, gpus):
    # A job whose step is nearly all gradient allreduce: a large vocabulary, tiny compute.
    m = Transformer(name, layers=1, hidden=64, heads=4, ffn=64, vocab=200_000, gated=False)
    return Job(name, m, Layout(dp=2, overlap_dp=False), 8, 2, gpus=gpus), m


def test_two_jobs_on_a_shared_uplink_slow_each_other_and_apart_they_do_not():
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=B)
    a, m = _allreduce_job("a", ["n0", "n2"])
    (alone,) = run_step(G, a, gpu=GPU, compute="gemm")
    grads = m.params() * 4
    # Across leaves both jobs' rings use the one leaf0-spine uplink in each direction.
    a, _ = _allreduce_job("a", ["n0", "n2"])
    b, _ = _allreduce_job("b", ["n1", "n3"])
    ra, rb = run_step(G, [a, b], gpu=GPU, compute="gemm")
    assert ra.waits["dp"] == pytest.approx(alone.waits["dp"] + grads / B, rel=1e-9)
    assert rb.step_time == pytest.approx(ra.step_time, rel=1e-9)
    # Each job inside its own leaf: no link in common, each as fast as alone.
    a, _ = _allreduce_job("a", ["n0", "n1"])
    b, _ = _allreduce_job("b", ["n2", "n3"])
    ra, rb = run_step(G, [a, b], gpu=GPU, compute="gemm")
    (solo,) = run_step(G, _allreduce_job("a", ["n0", "n1"])[0], gpu=GPU, compute="gemm")
    assert ra.step_time == pytest.approx(solo.step_time, rel=1e-12)
    assert rb.step_time == pytest.approx(solo.step_time, rel=1e-12)


def test_pipeline_1f1b_with_two_stages_closed_form():
    # Two stages on two hosts, 4 micro-batches; sends are free of contention.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    m = Transformer("p", layers=2, hidden=64, heads=4, ffn=256, vocab=100, gated=False)
    lay = Layout(pp=2, overlap_dp=False)
    seq = 32
    (r,) = run_step(G, Job("p", m, lay, seq, 4), gpu=GPU, compute="gemm")
    t = seq / 1e12
    f0 = m.layer_forward_flops(0, seq) * t
    f1 = (m.layer_forward_flops(1, seq) + m.head_forward_flops()) * t
    send = seq * 64 * 2 / B            # activations (and their gradients) of a micro-batch
    # 1F1B by hand: each stage's program in order, an op starting when its stage is free and
    # its input has arrived; sends of one direction one after the other.
    prog = {0: ["F0", "F1", "B0", "F2", "B1", "F3", "B2", "B3"],
            1: ["F0", "B0", "F1", "B1", "F2", "B2", "F3", "B3"]}
    dur = {0: {"F": f0, "B": 2 * f0}, 1: {"F": f1, "B": 2 * f1}}
    end, arrive = {}, {}
    free = {0: 0.0, 1: 0.0}
    link = {"f": 0.0, "b": 0.0}
    pos = {0: 0, 1: 0}
    while pos[0] < 8 or pos[1] < 8:
        for s in (0, 1):
            while pos[s] < 8:
                op = prog[s][pos[s]]
                kind, i = op[0], int(op[1])
                need = (0.0 if s == 0 else arrive.get(("f", i))) if kind == "F" else \
                    (end[(1, "F", i)] if s == 1 else arrive.get(("b", i)))
                if need is None:
                    break
                t0 = max(free[s], need)
                end[(s, kind, i)] = free[s] = t0 + dur[s][kind]
                if kind == "F" and s == 0:
                    link["f"] = arrive[("f", i)] = max(link["f"], free[s]) + send
                if kind == "B" and s == 1:
                    link["b"] = arrive[("b", i)] = max(link["b"], free[s]) + send
                pos[s] += 1
    end0, stage1 = free[0], free[1]
    params0 = m.dense_params(0) + m.vocab * m.hidden
    opt0 = params0 * ADAM_BYTES_PER_PARAM / 1e11
    params1 = m.dense_params(1) + m.vocab * m.hidden
    opt1 = params1 * ADAM_BYTES_PER_PARAM / 1e11
    assert r.step_time == pytest.approx(max(end0 + opt0, stage1 + opt1), rel=1e-9)


def test_timeline_closed_forms_and_errors():
    # Two collectives share one resource max-min fairly, a third waits for the first.
    tl = simulate([1e9, 1e9], [Task("a", "x", phases=[Phase({0: 1.0}, 1e9)]),
                               Task("b", "y", phases=[Phase({0: 1.0, 1: 1.0}, 2e9)]),
                               Task("c", "x", duration=0.25, deps=[1])])
    # a and b at 0.5 GB/s each until a ends at 2 s; b then alone at 1 GB/s for 1 GB more.
    assert list(tl.end) == pytest.approx([2.0, 3.0, 3.25])
    with pytest.raises(ParameterError, match="can never start"):
        simulate([1.0], [Task("a", "x", duration=1, deps=[1]), Task("b", "x", duration=1)])
    with pytest.raises(ParameterError, match="not another task"):
        simulate([1.0], [Task("a", "x", duration=1, deps=[0])])


def test_layout_and_job_errors_name_the_bad_value():
    with pytest.raises(ParameterError, match=r"ep=3 must divide dp=4"):
        Layout(dp=4, ep=3)
    with pytest.raises(ParameterError, match=r"layout item 'zz=1' is not NAME=VALUE"):
        Layout.parse("dp=2,zz=1")
    with pytest.raises(ParameterError, match=r"dp_library must be one of"):
        Layout(dp_library="gloo")
    with pytest.raises(ParameterError, match=r"batch 3 is not a multiple of dp x microbatch"):
        Job("j", TINY, Layout(dp=2), 8, 3)
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    with pytest.raises(ParameterError, match=r"need 3 servers of 1 GPUs; the cluster has 2"):
        place(G, [2, 1])
    with pytest.raises(ParameterError, match="does not say which GPU"):
        run_step(G, Job("j", TINY, Layout(dp=2), 8, 2))


def test_interleaved_placement_deals_servers_in_turn():
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=B)
    assert place(G, [2, 2], "interleaved") == [["n0", "n2"], ["n1", "n3"]]
    assert place(G, [2, 2], "packed") == [["n0", "n1"], ["n2", "n3"]]


def test_steady_state_extension_matches_full_simulation():
    # 24 micro-batches on 2 stages: simulated with 8 and 10, then extended along the line.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=B)
    m = Transformer("p", layers=4, hidden=64, heads=4, ffn=256, vocab=100, gated=False)
    job = Job("p", m, Layout(dp=2, pp=2), 64, 48)
    (full,) = run_step(G, job, gpu=GPU, exact=True, compute="gemm")
    job = Job("p", m, Layout(dp=2, pp=2), 64, 48)
    (fast,) = run_step(G, job, gpu=GPU, compute="gemm")
    assert fast.simulated_microbatches == 10 and full.simulated_microbatches == 24
    assert fast.step_time == pytest.approx(full.step_time, rel=1e-9)
    assert fast.compute_time == pytest.approx(full.compute_time, rel=1e-9)
    for k in full.waits:
        assert fast.waits[k] == pytest.approx(full.waits[k], rel=1e-6, abs=1e-12)


def test_workload_file_round_trip_and_errors(tmp_path):
    from netemu.collectives.workload_file import load_workload, parse_workload
    text = """
        [cluster]
        preset = "fire-flyer-2-cluster"
        placement = "interleaved"
        [[job]]
        name = "a"
        model = { name = "llama-13b", layers = 4 }
        layout = "dp=8,pp=2"
        seq = 128
        batch = 16
        gpus = 16
    """
    spec, (job,) = parse_workload(text)
    assert spec["preset"] == "fire-flyer-2-cluster" and spec["placement"] == "interleaved"
    assert job.model.layers == 4 and job.model.hidden == 5120
    assert (job.layout.dp, job.layout.pp, job.microbatches) == (8, 2, 2)
    with pytest.raises(ParameterError, match=r"unknown \[cluster\] key\(s\) \['presett'\]"):
        parse_workload('[cluster]\npresett = "x"\n[[job]]\n')
    with pytest.raises(ParameterError, match=r"job 0: unknown key\(s\) \['sequence'\]"):
        parse_workload('[cluster]\npreset = "x"\n[[job]]\nsequence = 1\n')
    with pytest.raises(ParameterError, match=r"unknown model field\(s\) \['layres'\].*did you "
                                             r"mean 'layers'"):
        parse_workload(text.replace("layers = 4", "layres = 4"))
    with pytest.raises(ParameterError, match=r"gpus = 4 but the layout needs 16"):
        parse_workload(text.replace("gpus = 16", "gpus = 4"))
    with pytest.raises(ParameterError, match="not valid TOML"):
        parse_workload("[cluster")
    with pytest.raises(ParameterError, match="is a device; a workload file must be a regular file"):
        load_workload("/dev/zero")
    big = tmp_path / "big.toml"
    big.write_text("#" * (2 << 20))
    with pytest.raises(ParameterError, match="2,097,152 bytes, more than the 1,048,576 bytes a workload file may have"):
        load_workload(big)


def test_cli_step_prints_the_job_and_refuses_bad_input(capsys):
    from netemu.cli import main
    argv = ["step", "llama-13b", "--cluster", "two-layer-fat-tree", "--leaves", "2"]
    assert main(argv) == 2
    assert "--layout is required" in capsys.readouterr().err
    assert main(["step", "gpt-9"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'gpt-9'" in err and err.count("\n") == 1
    assert main(["step", "llama-13b", "--cluster", "fire-flyer-2-cluster", "--layout",
                 "dp=3,ep=2", "--seq", "16", "--batch", "6"]) == 2
    assert "ep=2 must divide dp=3" in capsys.readouterr().err


def test_expert_compute_is_the_busiest_gpus_share_of_the_drawn_routing():
    # Two GPUs, two experts (one each), top-1: the seeded draw sends more of the 4 x 256
    # tokens to one expert than to the other, and that GPU's experts set the layer's time
    # (the combine waits for it), as the decode model prices them.
    import numpy as np

    from netemu.collectives.moe import token_destinations
    m = Transformer("moe-1", layers=1, hidden=64, heads=4, ffn=0, vocab=100, experts=2,
                    topk=1, expert_ffn=64, gated=False)
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    seq = 256
    lay = Layout(dp=2, ep=2, ep_library="nccl", overlap_dp=False)
    (r,) = run_step(G, Job("moe", m, lay, seq, 2), gpu=GPU)
    dests = token_destinations(["n0", "n1"], tokens=seq, topk=1, experts_per_gpu=1,
                               routing="random", seed=0)
    recv = np.bincount(np.concatenate([d.ravel() for d in dests]), minlength=2)
    busiest = int(recv.max())
    assert busiest > seq                            # the draw is not balanced

    def compute(copies):
        wg = 2 * lay.grad_accum_bytes                 # the FP32 accumulator, read and written
        ops = m.layer_ops(0, seq, seq, ep=2, wgrad_bytes=wg, expert_copies=copies) + \
            m.head_ops(seq, first=True, last=False, wgrad_bytes=wg) + \
            m.head_ops(seq, first=False, last=True, wgrad_bytes=wg)
        return sum(GPU.ops_time(ops, "bf16", 1))

    assert r.compute_time == pytest.approx(compute(busiest), rel=1e-12)
    assert r.compute_time > compute(None)           # balanced routing would be faster
    assert compute(seq) == pytest.approx(compute(None), rel=1e-12)


@pytest.mark.parametrize("library, gradient_sum", [("hfreduce", "allreduce"),
                                                   ("nccl", "reducescatter")])
def test_zero1_sums_gradients_with_the_layouts_library(library, gradient_sum):
    # ZeRO-1 on four PCIe A100 servers: NCCL reduce-scatters the gradients; HFReduce has no
    # reduce-scatter ([FF] §IV), so its allreduce sums them and each rank keeps its shard
    # (as for ZeRO-3 units). Either way the updated shards are then all-gathered.
    from netemu.topologies.presets import preset
    G = preset("fire-flyer-2-cluster")
    lay = Layout(dp=4, zero=1, dp_library=library, overlap_dp=False)
    (r,) = run_step(G, Job("z1", TINY, lay, 32, 4, gpus=[f"n{k}/gpu0" for k in range(4)]),
                    gpu=GPU, compute="gemm")
    names = [t.name for t in r.timeline.tasks]
    assert any(f"grad {gradient_sum}" in n for n in names)
    other = {"allreduce": "reducescatter", "reducescatter": "allreduce"}[gradient_sum]
    assert not any(f"grad {other}" in n for n in names)
    assert any("allgather" in n for n in names)


def test_memory_of_a_tiny_model_by_hand():
    # TINY: h = 64, two layers (attention widths 64 each, GELU MLP of 256), vocab 100, untied
    # embedding and head; one micro-batch of 32 tokens per GPU.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    layer = 4 * 64 * 64 + 2 * 64 * 256                # parameters of one layer
    emb = 100 * 64
    # Saved per layer: both norms' inputs, the projection and MLP inputs (4 x 64), q, k, v, O
    # (4 x 64), the MLP's pre-activation and activation (2 x 256); BF16.
    acts = 32 * (4 * 64 + 4 * 64 + 2 * 256) * 2
    logits = 32 * 100 * 2
    params = 2 * layer + 2 * emb

    def memory(lay, batch, gpu=GPU):
        (r,) = run_step(G, Job("tiny", TINY, lay, 32, batch), gpu=gpu, compute="gemm")
        return r

    r = memory(Layout(dp=2, overlap_dp=False), 2)
    m = r.memory
    assert m["weights"] == 2 * params and m["gradients"] == 4 * params     # FP32 accumulator
    assert m["optimizer"] == ADAM_STATE_BYTES * params
    assert m["activations"] == 2 * acts + logits
    assert m["total"] == 18 * params + 2 * acts + logits
    assert r.fits is None and r.row()["fits"] == ""                       # GPU size unknown
    # ZeRO-1 shards Adam's state over the 2 data-parallel ranks; ZeRO-2 the gradients too.
    assert memory(Layout(dp=2, zero=1, overlap_dp=False), 2).memory["optimizer"] == \
        ADAM_STATE_BYTES * params / 2
    z2 = memory(Layout(dp=2, zero=2, overlap_dp=False), 2).memory
    assert z2["gradients"] == 4 * params / 2 and z2["weights"] == 2 * params
    # Recomputation keeps each layer's input (32 x 64) and one layer's full set.
    rec = memory(Layout(dp=2, recompute=True, overlap_dp=False), 2).memory
    assert rec["activations"] == 2 * 32 * 64 * 2 + acts + logits
    # Two pipeline stages, four micro-batches: the first stage holds two in flight (1F1B) and
    # is the fuller; the last holds one and the logits.
    pp = memory(Layout(pp=2), 4).memory
    assert pp["stage"] == 0
    assert pp["total"] == 18 * (layer + emb) + 2 * acts
    # Whether it fits: against the GPU's memory when the catalogue knows it.
    small = GpuCompute("small", {"bf16": 1e12}, 1e12, 1e11, memory=pp["total"] - 1)
    big = GpuCompute("big", {"bf16": 1e12}, 1e12, 1e11, memory=pp["total"])
    assert memory(Layout(pp=2), 4, small).fits is False
    assert memory(Layout(pp=2), 4, big).fits is True


def test_a_gpu_memory_size_must_be_bytes():
    with pytest.raises(ParameterError, match=r"memory must be bytes >= 0.*'40GB'"):
        GpuCompute("g", {"bf16": 1e12}, 1e12, 1e11, memory="40GB")
    with pytest.raises(ParameterError, match=r"memory must be bytes >= 0.*-1"):
        GpuCompute("g", {"bf16": 1e12}, 1e12, 1e11, memory=-1)


def test_moe_layer_activations_by_hand():
    # DeepSeekMoE-16B's second layer on 4,096 tokens: 16 heads of 128 (q, k, v, O of 2,048
    # each), top-6 of 64 routed experts and 2 shared ones, gated experts of 1,408.
    from netemu.collectives.models import MODELS
    m = MODELS["deepseekmoe-16b"]
    T, h, f = 4096, 2048, 1408
    base = T * (4 * h + 4 * h)
    routed = T * 6 * (2 * h + 3 * f)
    shared = T * 2 * 3 * f
    assert m.layer_activation_bytes(1, T) == 2 * (base + routed + shared)
    # On a GPU of an expert group, its drawn load of copies instead of the balanced T x 6.
    assert m.layer_activation_bytes(1, T, expert_copies=100) == \
        2 * (base + 100 * (2 * h + 3 * f) + shared)
    # Tensor parallelism splits the attention and the MLP's inner tensors, not the inputs.
    assert m.layer_activation_bytes(1, T, tp=2) == \
        2 * (T * (4 * h + 2 * h) + T * 6 * (2 * h + 1.5 * f) + T * 2 * 1.5 * f)
    assert m.layer_activation_bytes(1, T, inputs_only=True) == 2 * T * h
