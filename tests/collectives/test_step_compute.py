"""Compute in the step model: VGG16 from its layer list, a convolutional DDP step by hand, the
roofline of single kernels, FSDP units by hand."""

import pytest

from netemu import ParameterError
from netemu.collectives.layout import Layout
from netemu.collectives.models import MODELS, ConvNet, Transformer, gemm_op, memory_op, vgg
from netemu.collectives.software import NCCL_STEP_LATENCY
from netemu.collectives.step import ADAM_BYTES_PER_PARAM, Job, run_step
from netemu.topologies import two_layer_fat_tree
from netemu.topologies.compute import GpuCompute

B = 1e9                 # link bandwidth, bytes/s
RATE, HBM = 1e12, 1e11  # test GPU: GEMM FLOP/s, memory bytes/s (ridge at 10 FLOP/byte)
GPU = GpuCompute("test", {"tf32": RATE, "bf16": RATE}, RATE, HBM)
RING = NCCL_STEP_LATENCY["ring"]


def test_vgg16_parameters_and_flops_match_the_closed_form():
    # Configuration D: 3x3 convolutions (channels per block 64x2, 128x2, 256x3, 512x3, 512x3,
    # each block ending in a 2x2 pool) on 224 x 224 x 3, then 25088 -> 4096 -> 4096 -> 1000.
    blocks = [(64, 2, 224), (128, 2, 112), (256, 3, 56), (512, 3, 28), (512, 3, 14)]
    params = flops = 0
    cin = 3
    for cout, n, side in blocks:
        for _ in range(n):
            params += 9 * cin * cout + cout
            flops += 2 * 9 * cin * cout * side * side
            cin = cout
    for fin, fout in ((512 * 7 * 7, 4096), (4096, 4096), (4096, 1000)):
        params += fin * fout + fout
        flops += 2 * fin * fout
    m = vgg()
    assert m.layers == 16
    assert m.params() == params
    assert m.forward_flops_per_token() == flops
    assert m.train_flops_per_token() == 3 * flops
    # The paper's rounded figure for configuration D is 138 M parameters.
    assert round(m.params() / 1e6) == 138
    assert MODELS["vgg16"] == m


def test_vgg_configuration_errors():
    with pytest.raises(ParameterError, match="max-pool must follow a convolution"):
        vgg(("M", 64))
    with pytest.raises(ParameterError, match="channel count >= 1 or 'M', got 0"):
        vgg((64, 0))


def test_roofline_memory_bound_and_compute_bound_gemm_by_hand():
    # A skinny GEMM: 8 tokens x (1024 x 1024) in 2-byte elements.  FLOPs 2*8*1024*1024 =
    # 16.8 M; bytes 2*(8*1024 + 1024*1024 + 8*1024) = 2.13 MB; intensity 7.9 < 10: memory-bound.
    small = gemm_op("small", 8, 1024, 1024, 2)
    assert small.flops == 2 * 8 * 1024 * 1024
    assert small.bytes == 2 * (8 * 1024 + 1024 * 1024 + 8 * 1024)
    f, b = GPU.ops_time([small], "bf16")
    assert f == pytest.approx(small.bytes / HBM)
    assert f > small.flops / RATE
    assert b == pytest.approx(2 * small.bytes / HBM)
    # A square GEMM of 1024: intensity 2*1024^3 / (2*3*1024^2) = 341 > 10: compute-bound.
    big = gemm_op("big", 1024, 1024, 1024, 2)
    f, b = GPU.ops_time([big], "bf16")
    assert f == pytest.approx(2 * 1024 ** 3 / RATE)
    assert b == pytest.approx(4 * 1024 ** 3 / RATE)
    # An elementwise kernel is its bytes over memory bandwidth, split by tensor parallelism
    # unless replicated.
    ew = memory_op("gelu", 2e6, 3e6)
    assert GPU.ops_time([ew], "bf16", tp=2) == pytest.approx((1e6 / HBM, 1.5e6 / HBM))
    rep = memory_op("norm", 2e6, 3e6, tp_split=False)
    assert GPU.ops_time([rep], "bf16", tp=2) == pytest.approx((2e6 / HBM, 3e6 / HBM))
    with pytest.raises(ParameterError, match="kernel kind must be 'gemm' or 'memory'"):
        GPU.kernel_time("vector", 1.0, 1.0, "bf16")


def test_transformer_kernels_carry_the_model_flops():
    # The GEMM kernels of every layer add up to the FLOPs the step reports (dense, MoE, MLA).
    for name in ("llama-13b", "deepseekmoe-16b", "deepseek-v3", "gpt2-medium"):
        m = MODELS[name]
        for i in (0, m.layers - 1):
            ops = m.layer_ops(i, 512, 512, ep=1)
            gemm = sum(o.flops for o in ops if o.kind == "gemm")
            assert gemm == pytest.approx(m.layer_forward_flops(i, 512) * 512, rel=1e-12)
            assert all(o.flops == 0 for o in ops if o.kind == "memory")


def test_moe_expert_gemms_shrink_with_tokens_and_turn_memory_bound():
    # 64 experts, top-6, h = 2048, expert 1408: each expert sees tokens*6/64 tokens.  At 64
    # tokens that is 6 rows: FLOPs 2*6*2048*2816 against bytes 2*(6*2048 + 2048*2816 +
    # 6*2816): intensity ~6 < 10, memory-bound on the test GPU.
    m = MODELS["deepseekmoe-16b"]
    ops = {o.name: o for o in m.layer_ops(1, 64, 64)}
    up = ops["expert_up"]
    rows = 64 * 6 / 64
    assert up.flops == pytest.approx(64 * 2 * rows * 2048 * 2816)
    assert up.bytes == pytest.approx(64 * 2 * (rows * 2048 + 2048 * 2816 + rows * 2816))
    assert up.bytes / 64 / HBM > up.flops / 64 / RATE


def test_ddp_step_of_a_tiny_cnn_by_hand():
    # One 3x3 convolution 1 -> 8 channels on 8x8 images (then a 2x2 pool) and one fully
    # connected layer 128 -> 10; two GPUs under two leaves, 4 images each, FP32 (4-byte)
    # activations, gradients all-reduced once after the backward (one NCCL ring of 2 ranks).
    m = ConvNet("tiny-cnn", ((1, 8, 3, 8, 8, True),), ((8 * 4 * 4, 10),))
    n, e = 4, 4
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    lay = Layout(dp=2, microbatch=n, overlap_dp=False, precision="tf32", act_bytes=e,
                 grad_bytes=4)
    (r,) = run_step(G, Job("cnn", m, lay, 1, 2 * n), gpu=GPU)

    def gemm(flops, nbytes):
        return max(flops / RATE, nbytes / HBM)
    # Convolution as an implicit GEMM: M = 4*64 pixels, K = 9, N = 8.
    conv_f = 2 * n * 64 * 9 * 8
    conv_b = e * (n * 64 * 1 + 9 * 8 + n * 64 * 8)
    relu = 2 * n * 64 * 8 * e, 3 * n * 64 * 8 * e
    pool = n * 64 * 8 * e * 5 / 4, n * 64 * 8 * e * 9 / 4
    fc_f = 2 * n * 128 * 10
    fc_b = e * (n * 128 + 128 * 10 + n * 10)
    loss = n * 10 * e, 2 * n * 10 * e
    fwd = gemm(conv_f, conv_b) + (relu[0] + pool[0]) / HBM + gemm(fc_f, fc_b) + loss[0] / HBM
    # Backward: no input gradient for the first convolution; two GEMMs for the FC layer.
    bwd = gemm(conv_f, conv_b) + (relu[1] + pool[1]) / HBM + 2 * gemm(fc_f, fc_b) + \
        loss[1] / HBM
    params = 9 * 8 + 8 + 128 * 10 + 10
    assert m.params() == params
    allreduce = params * 4 / B + RING["base"] + 2 * RING["network"]
    opt = params * ADAM_BYTES_PER_PARAM / HBM
    assert r.compute_time == pytest.approx(fwd + bwd, rel=1e-12)
    assert r.step_time == pytest.approx(fwd + bwd + allreduce + opt, rel=1e-9)
    assert r.waits["dp"] == pytest.approx(allreduce, rel=1e-9)
    assert r.tokens_per_s == pytest.approx(2 * n / r.step_time)     # images per second


def test_ddp_buckets_follow_the_backward_by_layer():
    # Two FC layers of 1,004 and 1,000 parameters, FP32 gradients in 4,000-byte buckets: the
    # last layer's gradient fills the first bucket as soon as its backward is done, and its
    # allreduce overlaps the rest of the backward; the first layer's spreads over two buckets.
    m = ConvNet("fc", (), ((250, 4), (4, 200)))
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    lay = Layout(dp=2, microbatch=1, precision="tf32", act_bytes=4, grad_bytes=4,
                 bucket=4 * 1000)
    (r,) = run_step(G, Job("fc", m, lay, 1, 2), gpu=GPU)
    (r_end,) = run_step(G, Job("fc", m, lay.with_(overlap_dp=False), 1, 2), gpu=GPU)
    # Without overlap, one allreduce of every gradient after the whole backward.
    tl_end = r_end.timeline
    ends = [tl_end.tasks[i].name for i in r_end.task_ids if tl_end.tasks[i].phases]
    assert ends == ["fc s0 grad allreduce 0"]
    tl = r.timeline
    names = {tl.tasks[i].name: i for i in r.task_ids}
    first = names["fc s0 grad allreduce 0"]
    part1 = names["fc s0 B mb0 part1"]
    # The first bucket (the last layer's 1,000 parameters) starts when its layer's backward
    # ends, before the backward of the first layer does.
    assert len([n for n in names if "grad allreduce" in n]) == 3
    assert tl.start[first] == pytest.approx(tl.end[names["fc s0 B mb0 part0"]])
    assert tl.start[first] < tl.end[part1]


def test_fsdp_units_gather_one_layer_ahead_by_hand():
    # Two identical layers, ZeRO-3 on 2 ranks across the fabric, GEMM-only compute.  Each
    # unit's all-gather (2-rank NCCL ring: the half each rank lacks crosses one link) runs one
    # unit ahead of the compute.
    m = Transformer("u", layers=2, hidden=64, heads=4, ffn=256, vocab=8, gated=False,
                    tied=True, rope=False)
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    lay = Layout(dp=2, zero=3)
    (r,) = run_step(G, Job("u", m, lay, 16, 2), gpu=GPU, compute="gemm")
    tl = r.timeline
    names = {tl.tasks[i].name: i for i in r.task_ids}
    ag = sorted((tl.start[i], tl.end[i], n) for n, i in names.items() if "allgather" in n)
    assert len(ag) == 4                        # two units, forward and backward
    f0, f1 = names["u s0 F mb0 part0"], names["u s0 F mb0 part1"]
    # Unit 0's forward waits for its gather; unit 1's gather runs during unit 0's forward.
    assert tl.start[f0] == pytest.approx(ag[0][1])
    assert ag[1][0] == pytest.approx(ag[0][1]) and ag[1][0] < tl.end[f0]
    assert tl.start[f1] == pytest.approx(max(tl.end[f0], ag[1][1]))
    # Gradients are reduce-scattered unit by unit after each unit's backward.
    rs = [n for n in names if "reducescatter" in n]
    assert len(rs) == 2


def test_convnet_jobs_refuse_what_they_cannot_run():
    m = vgg()
    with pytest.raises(ParameterError, match="seq must be 1, got 224"):
        Job("v", m, Layout(dp=2), 224, 2)
    with pytest.raises(ParameterError, match="data parallel only"):
        Job("v", m, Layout(dp=2, pp=2), 1, 2)
    with pytest.raises(ParameterError, match="compute model must be one of roofline, gemm"):
        G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
        run_step(G, Job("v", m, Layout(dp=2), 1, 2), gpu=GPU, compute="flops")


def test_gpt2_medium_ties_its_head_to_the_embedding():
    # 24 layers of 4 h^2 (attention) + 2 * h * 4h (GELU MLP), one shared 50,257 x h matrix.
    m, h, V = MODELS["gpt2-medium"], 1024, 50257
    assert m.params() == 24 * (4 * h * h + 2 * h * 4 * h) + V * h
    # A tied matrix is held (and its gradient summed) on both ends of a pipeline.
    assert m.stage_embedding_params(True, True) == V * h
    assert m.stage_embedding_params(True, False) == m.stage_embedding_params(False, True) == V * h
    assert m.stage_embedding_params(False, False) == 0
    untied = MODELS["llama-13b"]
    assert untied.stage_embedding_params(True, True) == 2 * 32000 * 5120
    # No rotary kernel for learned positions.
    assert "rope" not in {o.name for o in m.layer_ops(0, 8, 8)}
    assert "rope" in {o.name for o in untied.layer_ops(0, 8, 8)}
