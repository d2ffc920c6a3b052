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
    # Backward: no input gradient for the first convolution; two GEMMs for the FC layer, each
    # a kernel of its own.  A weight gradient reads its two inputs and reads and writes the
    # FP32 accumulator (4 + 4 bytes per weight) instead of writing its result once.
    conv_w = e * (n * 64 * 1 + n * 64 * 8) + 8 * (9 * 8)
    fc_w = e * (n * 128 + n * 10) + 8 * (128 * 10)
    bwd = gemm(conv_f, conv_w) + (relu[1] + pool[1]) / HBM + gemm(fc_f, fc_b) + \
        gemm(fc_f, fc_w) + loss[1] / HBM
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


# -- tile and wave quantization -----------------------------------------------------------

SMS = 8
WAVY = GpuCompute("wavy", {"bf16": RATE}, RATE, 1e18, sms=SMS, tile=(128, 128))


def test_a_gemm_that_fills_whole_waves_is_timed_as_the_roofline():
    # 512 x 512 output in 128 x 128 tiles: 16 tiles, two full waves on 8 SMs.  Time
    # 2 M N K / rate exactly, as without quantization.
    M, K, N = 512, 300, 512
    assert WAVY.kernel_time("gemm", 2 * M * K * N, 0, "bf16", [(M, K, N)]) == \
        pytest.approx(2 * M * K * N / RATE, rel=1e-12)
    # The same with the shapes carried by an Op, forward and backward.
    op = gemm_op("g", M, K, N, 2)
    f, b = WAVY.ops_time([op], "bf16")
    assert f == pytest.approx(2 * M * K * N / RATE, rel=1e-12)
    # Input gradient 512 x 300 output (4 x 3 = 12 tiles, 2 waves of 8); weight gradient
    # 300 x 512 output (3 x 4 = 12 tiles, 2 waves): each 2 waves x 8 tiles x 2*128*128*K.
    dgrad = 2 * SMS * 2 * 128 * 128 * N / RATE
    wgrad = 2 * SMS * 2 * 128 * 128 * M / RATE
    assert b == pytest.approx(dgrad + wgrad, rel=1e-12)


def test_sms_plus_one_tiles_take_two_waves():
    # 9 tiles (3 x 3 of 128) on 8 SMs: two waves, each one tile's time 2*128*128*K / (rate/8).
    M = N = 384
    K = 1000
    one_tile = 2 * 128 * 128 * K / (RATE / SMS)
    t = WAVY.kernel_time("gemm", 0, 0, "bf16", [(M, K, N)])
    assert t == pytest.approx(2 * one_tile, rel=1e-12)
    # Against the unquantized time 2 M N K / rate: 16 tile-times for 9 tiles of work.
    assert t / (2 * M * N * K / RATE) == pytest.approx(16 / 9, rel=1e-12)
    # Eight tiles (256 x 512) fill one wave exactly.
    assert WAVY.kernel_time("gemm", 0, 0, "bf16", [(256, K, 512)]) == \
        pytest.approx(one_tile, rel=1e-12)


def test_tile_quantization_pays_for_partial_tiles():
    # 129 x 128 output: 2 x 1 tiles, one wave, the time of one tile whatever its fill.
    K = 64
    one_tile = 2 * 128 * 128 * K / (RATE / SMS)
    assert WAVY.kernel_time("gemm", 0, 0, "bf16", [(129, K, 128)]) == \
        pytest.approx(one_tile, rel=1e-12)
    assert WAVY.kernel_time("gemm", 0, 0, "bf16", [(1, K, 1)]) == \
        pytest.approx(one_tile, rel=1e-12)


def test_memory_roof_still_binds():
    # One tile's compute 2*128*128*64*8/RATE = 0.0168 ms; 1 GB over the test HBM (1e11) 10 ms.
    g = GpuCompute("w", {"bf16": RATE}, RATE, HBM, sms=SMS)
    assert g.kernel_time("gemm", 0, 1e9, "bf16", [(128, 64, 128)]) == pytest.approx(1e9 / HBM)


def test_grouped_experts_share_waves_and_per_expert_launches_do_not():
    # Three experts of 128 x 384 outputs (3 tiles each) on 8 SMs: grouped, 9 tiles in 2 waves;
    # one launch each, 3 x 1 wave.
    K = 100
    one_tile = 2 * 128 * 128 * K / (RATE / SMS)
    gemms = [(128, K, 384, 3)]
    assert WAVY.kernel_time("gemm", 0, 0, "bf16", gemms) == pytest.approx(2 * one_tile)
    seq = GpuCompute("w", {"bf16": RATE}, RATE, 1e18, sms=SMS, expert_gemms="per-expert")
    assert seq.kernel_time("gemm", 0, 0, "bf16", gemms) == pytest.approx(3 * one_tile)


def test_tensor_parallelism_splits_the_named_gemm_dimension():
    # Column-parallel up projection 128 x 64 -> 1024 over tp = 4: output 128 x 256, 2 tiles
    # (K = 64 cannot be split); row-parallel down projection 128 x 1024 -> 128 over tp = 4:
    # K 256, 1 tile, split-K into min(8 // 1, 256 // 64) = 4 slices of 64.  One wave each.
    up = gemm_op("up", 128, 64, 1024, 2)
    down = gemm_op("down", 128, 1024, 128, 2, split="K")
    f, _ = WAVY.ops_time([up, down], "bf16", tp=4)
    assert f == pytest.approx((2 * 128 * 128 * 64 + 2 * 128 * 128 * 64) * SMS / RATE,
                              rel=1e-12)


def test_split_k_fills_the_sms_with_slices_of_a_long_k():
    # 2 tiles (128 x 256 output) over K = 4096 on 8 SMs: 4 slices of 1024, 8 tiles, one wave:
    # a quarter of the unsplit time, the tiles' whole work spread over all SMs.
    K = 4096
    t = WAVY.kernel_time("gemm", 0, 0, "bf16", [(128, K, 256)])
    assert t == pytest.approx(2 * 128 * 128 * (K / 4) * SMS / RATE, rel=1e-12)
    assert t == pytest.approx(2 * 128 * 256 * K / RATE, rel=1e-12)
    # 3 tiles: 8 // 3 = 2 slices, 6 of 8 SMs busy.
    t3 = WAVY.kernel_time("gemm", 0, 0, "bf16", [(128, K, 384)])
    assert t3 == pytest.approx(2 * 128 * 128 * (K / 2) * SMS / RATE, rel=1e-12)
    # A slice is at least 64 deep: K = 128 splits in two, not four.
    assert WAVY.kernel_time("gemm", 0, 0, "bf16", [(128, 128, 256)]) == \
        pytest.approx(2 * 128 * 128 * 64 * SMS / RATE, rel=1e-12)
    # Switched off, the two tiles hold two SMs for the whole K.
    from dataclasses import replace
    off = replace(WAVY, split_k=False)
    assert off.kernel_time("gemm", 0, 0, "bf16", [(128, K, 256)]) == \
        pytest.approx(2 * 128 * 128 * K * SMS / RATE, rel=1e-12)


def test_gemm_shapes_carry_the_op_flops():
    # Every GEMM launch an Op lists adds up to its FLOPs, forward and backward (transformers
    # dense, MoE and MLA; VGG's implicit GEMMs), so quantization only adds padding and idle SMs.
    def total(gemms):
        return sum(2.0 * M * K * N * c for M, K, N, c, _ in gemms)
    for name in ("llama-13b", "deepseekmoe-16b", "deepseek-v3", "gpt2-medium", "vgg16"):
        m = MODELS[name]
        for i in (0, m.layers - 1):
            ops = m.layer_ops(i, 64, 64 if name != "vgg16" else 1, ep=2) + m.head_ops(64)
            for o in ops:
                if o.gemms:
                    assert total(o.gemms) == pytest.approx(o.flops, rel=1e-12), (name, o.name)
                    assert total(o.bwd_gemms) == pytest.approx(o.bwd_flops, rel=1e-12)


def test_deepseekmoe_expert_gemm_on_an_a100_by_hand():
    # 4096 tokens, top-6 of 64 experts: 384 rows per expert; up projection 2048 -> 2816.
    # One expert: 3 x 22 = 66 tiles of 128 x 128, one wave of 108 SMs at 220 TFLOPS / 108
    # each; 64 experts grouped: 4224 tiles, 40 waves; one launch each: 64 waves.
    from dataclasses import replace

    from netemu.topologies.compute import A100_PCIE_COMPUTE as A
    assert A.sms == 108 and A.tile == (128, 128)
    rate = 220e12
    one_wave = 2 * 128 * 128 * 2048 * 108 / rate
    m = MODELS["deepseekmoe-16b"]
    up = {o.name: o for o in m.layer_ops(1, 4096, 4096)}["expert_up"]
    assert up.gemms == ((384.0, 2048, 2816, 64, "N"),)
    nbytes = up.bytes
    assert A.kernel_time("gemm", up.flops, nbytes, "fp16", up.gemms) == \
        pytest.approx(max(40 * one_wave, nbytes / A.hbm), rel=1e-12)
    per = replace(A, expert_gemms="per-expert")
    assert per.kernel_time("gemm", up.flops, nbytes, "fp16", up.gemms) == \
        pytest.approx(max(64 * one_wave, nbytes / A.hbm), rel=1e-12)


def test_bad_gemm_settings_are_refused():
    with pytest.raises(ParameterError, match="sms must be an integer >= 0, got -1"):
        GpuCompute("x", {"bf16": 1.0}, 1.0, 1.0, sms=-1)
    with pytest.raises(ParameterError, match=r"tile must be two integers >= 1.*\(128, 0\)"):
        GpuCompute("x", {"bf16": 1.0}, 1.0, 1.0, tile=(128, 0))
    with pytest.raises(ParameterError, match="split_k must be True or False, got 1"):
        GpuCompute("x", {"bf16": 1.0}, 1.0, 1.0, split_k=1)
    with pytest.raises(ParameterError, match="expert_gemms must be one of grouped, per-expert"):
        GpuCompute("x", {"bf16": 1.0}, 1.0, 1.0, expert_gemms="fused")


def test_decode_kernels_count_tiles_and_waves():
    # A dense decode job: 8 tokens per GPU, h = 256, 4 heads, GELU MLP 1024, vocabulary 1000,
    # on a GPU of 8 SMs whose memory is fast enough (1e18 B/s) for the compute side to show.
    # Each GEMM has one row of 128 x 128 tiles (M = 8 <= 128): qkv 256 -> 768 is 6 tiles
    # (split-K: 8 // 6 = 1 slice), attn_out 256 -> 256 2 tiles (4 slices of K 64), up
    # 256 -> 1024 8 tiles, down 1024 -> 256 2 tiles (4 slices of 256), head 256 -> 1000 8
    # tiles: one wave each, of 2*128*128*(K / slices) / (rate / 8).
    from netemu.collectives.decode import DecodeJob, DecodeLayout, kernel_times
    m = Transformer("dd", layers=1, hidden=256, heads=4, ffn=1024, vocab=1000, gated=False)
    job = DecodeJob("d", m, DecodeLayout(dp=1), 8, 16)
    k = kernel_times(job, WAVY)

    def wave(K):
        return 2 * 128 * 128 * K * SMS / RATE
    core = 8 * 4 * 16 * 256 / RATE          # 4 ctx heads head_dim FLOPs per token, no shape
    assert k["attention"] == pytest.approx(wave(256) + wave(64) + core, rel=1e-12)
    assert k["dense_mlp"] == pytest.approx(wave(256) + wave(256), rel=1e-12)
    assert k["head"] == pytest.approx(wave(256), rel=1e-12)


def test_weight_gradient_is_a_kernel_of_its_own_with_its_accumulator():
    # 512 tokens x (1024 x 1024), 2-byte elements.  Input gradient (512 x 1024) . (1024 x
    # 1024): FLOPs 2*512*1024^2 = 1.07e9 (1.07 ms) against 4.2 MB (42 us at 1e11 B/s):
    # compute-bound.  Weight gradient (1024 x 512) . (512 x 1024) added into an FP32
    # accumulator read and written (8 bytes per weight): 2*(2*512*1024) + 8*1024^2 = 10.5 MB
    # (0.105 ms) against the same 1.07 ms of FLOPs: compute-bound too.  At 16 tokens the
    # FLOPs drop to 33.6 us while the accumulator's 8.4 MB take 84 us: memory-bound, and
    # timed so even beside the compute-bound input gradient.
    for M in (512, 16):
        K = N = 1024
        op = gemm_op("g", M, K, N, 2, wgrad_bytes=8)
        f = 2 * M * K * N
        dgrad = max(f / RATE, 2 * (M * N + N * K + M * K) / HBM)
        wgrad = max(f / RATE, 2 * (K * M + M * N) / HBM + 8 * K * N / HBM)
        assert op.bwd_flops == 2 * f
        assert op.bwd_bytes == pytest.approx(2 * (M * N + N * K + M * K) +
                                             2 * (K * M + M * N) + 8 * K * N)
        _, b = GPU.ops_time([op], "bf16")
        assert b == pytest.approx(dgrad + wgrad, rel=1e-12)
        # One kernel of the summed FLOPs and bytes would hide part of the slower one.
        lumped = max(op.bwd_flops / RATE, op.bwd_bytes / HBM)
        assert b >= lumped * (1 - 1e-12)
        if M == 16:
            assert b > lumped * 1.1
    # Default: the result written once in the element width (no accumulator).
    plain = gemm_op("g", 16, 1024, 1024, 2)
    assert plain.bwd_bytes == pytest.approx(2 * 2 * (16 * 1024 + 1024 * 1024 + 16 * 1024))


def test_the_accumulator_width_moves_the_step_by_its_bytes():
    # The tiny CNN of the DDP test: its convolution's weight gradient (72 weights) and the FC
    # layer's (1,280) are memory-bound, so each byte more per weight costs 1/HBM seconds per
    # weight and per read and write: FP32 (4 bytes) against FP16 (2) is 2 * 2 * 1,352 bytes.
    m = ConvNet("tiny-cnn", ((1, 8, 3, 8, 8, True),), ((8 * 4 * 4, 10),))
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)
    times = {}
    for acc in (4, 2):
        lay = Layout(dp=2, microbatch=4, overlap_dp=False, precision="tf32", act_bytes=4,
                     grad_bytes=4, grad_accum_bytes=acc)
        (r,) = run_step(G, Job("cnn", m, lay, 1, 8), gpu=GPU)
        times[acc] = r.compute_time
    assert times[4] - times[2] == pytest.approx(2 * 2 * (72 + 1280) / HBM, rel=1e-9)
    with pytest.raises(ParameterError, match=r"layout grad_accum_bytes must be an integer >= 1, "
                                             r"got 0"):
        Layout(grad_accum_bytes=0)


def test_flash_attention_backward_recomputes_the_scores():
    # FlashAttention's backward runs five matrix products against the forward's two: 2.5x the
    # forward's FLOPs (timing), while the model FLOPs of MFU keep the backward at 2x.
    m = MODELS["llama-13b"]
    att = {o.name: o for o in m.layer_ops(0, 2048, 2048)}["attention"]
    # Causal attention over 2048 tokens: 4 * (2048 / 2) * 40 heads * 128 per token.
    assert att.flops == pytest.approx(2048 * 4 * 1024 * 40 * 128)
    assert att.bwd_flops == pytest.approx(2.5 * att.flops)
    assert m.train_flops_per_token(2048) == pytest.approx(3 * m.forward_flops_per_token(2048))
