"""Decode iterations: a tiny MoE model by hand (memory-bound attention and experts, all-to-all
on a small fabric), the two-micro-batch overlap on and off, jobs sharing a link, bad input."""

import pytest

from netemu import ParameterError
from netemu.collectives.decode import DecodeJob, DecodeLayout, kernel_times, run_decode, run_jobs
from netemu.collectives.layout import Layout
from netemu.collectives.models import Transformer
from netemu.collectives.step import Job
from netemu.topologies import two_layer_fat_tree
from netemu.topologies.compute import GpuCompute

B = 1e9                   # link bandwidth, bytes/s
HBM, RATE = 1e11, 1e12    # the test GPU's memory bandwidth (bytes/s) and GEMM rate (FLOP/s)
GPU = GpuCompute("test", {"bf16": RATE}, RATE, HBM)

# One MoE layer: h = 64, 4 heads of 16 (standard attention), 2 experts of 256 (GELU, two
# matrices), top-1, vocabulary 100.  BF16 weights and cache, FP8 dispatch, BF16 combine.
H, HEADS, FFN, E, V = 64, 4, 256, 2, 100
TINY = Transformer("tiny-moe", layers=1, hidden=H, heads=HEADS, ffn=0, vocab=V, experts=E,
                   topk=1, expert_ffn=FFN, gated=False)
CTX = 128


def _by_hand(b):
    """Kernel seconds of a micro-batch of ``b`` tokens per GPU (each kernel: the larger of its
    bytes over HBM and its FLOPs over the GEMM rate)."""
    attn_params = 4 * H * H                                  # q, k, v, o
    proj = max(attn_params * 2 / HBM, 2 * attn_params * b / RATE)
    kv = b * CTX * 2 * H * 2                                 # K and V, all heads, BF16
    core = max(kv / HBM, b * 4 * CTX * H / RATE)
    router = max(H * E * 2 / HBM, 2 * H * E * b / RATE)
    expert = 2 * H * FFN                                     # one expert per GPU, hit
    experts = max(expert * 2 / HBM, 2 * expert * b / RATE)
    head = max(V * H * 2 / HBM, 2 * V * H * b / RATE)
    # Two hosts, one expert each, balanced routing: every token crosses to the other host
    # (the two directions do not meet); a plain all-to-all of FP8 elements, no scales.
    dispatch = b * H * 1 / B
    combine = b * H * 2 / B
    return dict(attn=proj + core, router=router, experts=experts, head=head,
                dispatch=dispatch, combine=combine)


def _job(mb, batch=8, gpus=None, name="d"):
    lay = DecodeLayout(dp=2, ep=2, ep_library="nccl", token_routing="balanced",
                       microbatches=mb)
    return DecodeJob(name, TINY, lay, batch, CTX, gpus=gpus)


def _fabric(hosts_per_leaf=1):
    return two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=hosts_per_leaf,
                              link_bandwidth=B)


def test_one_micro_batch_is_attention_dispatch_experts_combine_head_in_line():
    k = _by_hand(8)
    # Memory-bound at this batch: the cache and the weights, not the FLOPs, set the time.
    assert k["attn"] > 2 * 4 * H * H * 8 / RATE
    (r,) = run_decode(_fabric(), _job(1), gpu=GPU)
    tpot = k["attn"] + k["router"] + k["dispatch"] + k["experts"] + k["combine"] + k["head"]
    assert r.tpot == pytest.approx(tpot, rel=1e-9)
    assert r.waits["dispatch"] == pytest.approx(k["dispatch"], rel=1e-9)
    assert r.waits["combine"] == pytest.approx(k["combine"], rel=1e-9)
    assert r.exposed_comm == pytest.approx(k["dispatch"] + k["combine"], rel=1e-9)
    assert r.compute_time == pytest.approx(tpot - k["dispatch"] - k["combine"], rel=1e-9)
    assert r.tokens_per_s_per_gpu == pytest.approx(8 / tpot)
    assert r.tokens_per_s_per_user == pytest.approx(1 / tpot)
    # Cache per GPU: 8 sequences x 128 tokens x (K, V) x 64 elements x 2 bytes, one layer.
    assert r.kv_bytes_per_gpu == 8 * CTX * 2 * H * 2
    # Weights per GPU: attention, router, head and embedding, one of the two experts; BF16.
    assert r.weight_bytes_per_gpu == 2 * (4 * H * H + H * E + 2 * V * H + 2 * H * FFN)


def test_two_micro_batches_hide_the_dispatch_and_all_but_the_last_combine():
    k = _by_hand(4)
    # The parameters keep each transfer inside the compute it overlaps: dispatch under the
    # other micro-batch's attention, combine under its experts, the last combine over the
    # first head only partly.
    assert k["dispatch"] < k["attn"] + k["router"] and k["combine"] < k["experts"]
    assert k["combine"] > k["head"]
    (r,) = run_decode(_fabric(), _job(2), gpu=GPU)
    # GPU stream: A0 A1 E0 E1 H0 H1; H1 waits for the combine of micro-batch 1, which
    # starts when E1 ends.
    tpot = 2 * (k["attn"] + k["router"]) + 2 * k["experts"] + k["combine"] + k["head"]
    assert r.tpot == pytest.approx(tpot, rel=1e-9)
    assert r.waits == pytest.approx({"combine": k["combine"] - k["head"]}, rel=1e-9)
    (one,) = run_decode(_fabric(), _job(1), gpu=GPU)
    assert r.exposed_comm < one.exposed_comm
    # Each micro-batch reads the weights again: more compute, less waiting.
    assert r.compute_time > one.compute_time


def test_kernel_times_match_the_hand_count():
    k = kernel_times(_job(1), GPU)
    h = _by_hand(8)
    assert k["attention"] == pytest.approx(h["attn"], rel=1e-12)
    assert k["experts"] == pytest.approx(h["experts"], rel=1e-12)
    assert k["head"] == pytest.approx(h["head"], rel=1e-12)


def test_two_decode_jobs_on_a_shared_uplink_wait_for_each_other_and_apart_do_not():
    G = _fabric(hosts_per_leaf=2)
    k = _by_hand(8)
    (alone,) = run_decode(G, _job(1, gpus=["n0", "n2"]), gpu=GPU)
    # Across the leaves both jobs' all-to-alls cross the same leaf-spine links at the same
    # time: each moves at half the rate.
    a, b = run_decode(G, [_job(1, gpus=["n0", "n2"], name="a"),
                          _job(1, gpus=["n1", "n3"], name="b")], gpu=GPU)
    assert a.tpot == pytest.approx(alone.tpot + k["dispatch"] + k["combine"], rel=1e-9)
    assert b.tpot == pytest.approx(a.tpot, rel=1e-12)
    a, b = run_decode(G, [_job(1, gpus=["n0", "n1"], name="a"),
                          _job(1, gpus=["n2", "n3"], name="b")], gpu=GPU)
    assert a.tpot == pytest.approx(alone.tpot, rel=1e-12)


def test_decode_beside_a_training_job_shares_the_fabric():
    G = _fabric(hosts_per_leaf=2)
    m = Transformer("t", layers=1, hidden=64, heads=4, ffn=64, vocab=200_000, gated=False)
    # Its gradient all-reduce (25.6 MB over 1 GB/s) starts after about 1.5 ms of compute
    # (the head's one-token GEMMs read its 25.6 MB of weights at memory bandwidth, twice,
    # and its weight gradient reads and writes the 51.2 MB FP32 accumulator) and crosses
    # the same leaf-spine links as the decode job's all-to-all: 600 decode iterations
    # (about 3.2 ms) run into it.
    train = Job("train", m, Layout(dp=2, overlap_dp=False), 1, 2, gpus=["n1", "n3"])
    dec = _job(1, gpus=["n0", "n2"])
    dec.iterations = 600
    (alone,) = run_decode(G, dec, gpu=GPU)
    (train_alone,) = run_jobs(G, [train], gpu=GPU)
    both = run_jobs(G, [dec, train], gpu=GPU)
    assert alone.tpot == pytest.approx(_by_hand(8)["attn"] + sum(
        v for k, v in _by_hand(8).items() if k != "attn"), rel=1e-9)
    assert both[0].tpot > alone.tpot * 1.01
    assert both[1].step_time > train_alone.step_time


def test_bad_decode_input_names_the_value():
    with pytest.raises(ParameterError, match=r"ep=3 must divide dp x tp = 4"):
        DecodeLayout(dp=4, ep=3)
    with pytest.raises(ParameterError, match=r"microbatches must be 1 or 2, got 3"):
        DecodeLayout(microbatches=3)
    with pytest.raises(ParameterError, match=r"decode layout item 'zz=1'"):
        DecodeLayout.parse("dp=2,zz=1")
    with pytest.raises(ParameterError, match=r"ep_library must be one of"):
        DecodeLayout.parse("ep_library=mpi")
    with pytest.raises(ParameterError, match=r"batch 3 does not split into 2 micro-batches"):
        _job(2, batch=3)
    with pytest.raises(ParameterError, match=r"2 experts do not spread evenly over ep=4"):
        DecodeJob("d", TINY, DecodeLayout(dp=4), 8, CTX)
    with pytest.raises(ParameterError, match=r"context must be a whole number"):
        DecodeJob("d", TINY, DecodeLayout(dp=2), 8, 0)
    assert DecodeLayout.parse("dp=4,tp=2,microbatches=2,weight_bytes=1,ep_overhead=2e-6") == \
        DecodeLayout(dp=4, tp=2, microbatches=2, weight_bytes=1.0, ep_overhead=2e-6)


def test_tensor_parallel_attention_splits_weights_and_kv_heads_and_all_reduces():
    from netemu.collectives.software import NCCL_STEP_LATENCY
    ring = NCCL_STEP_LATENCY["ring"]
    # A dense layer with grouped-query attention (2 KV heads of 16) on two GPUs of one
    # attention group: each holds half the weights and one KV head of all 2 x 8 sequences.
    m = Transformer("gqa", layers=1, hidden=H, heads=HEADS, kv_heads=2, ffn=FFN, vocab=V,
                    gated=False)
    job = DecodeJob("tp", m, DecodeLayout(tp=2), 8, CTX)
    (r,) = run_decode(_fabric(), job, gpu=GPU)
    seqs = 2 * 8
    attn_params = 2 * H * H + 2 * H * 2 * 16                 # q, o; k, v of 2 KV heads
    proj = max(attn_params / 2 * 2 / HBM, 2 * attn_params * 8 / RATE)
    core = max(seqs * CTX * 2 * 16 * 2 / HBM, seqs * 4 * CTX * H / 2 / RATE)
    mlp = max(2 * H * FFN / 2 * 2 / HBM, 2 * 2 * H * FFN * 8 / RATE)
    head = max(V * H / 2 * 2 / HBM, 2 * V * H * 8 / RATE)
    # NCCL ring of two ranks over the fabric: the group's activations once per hop.
    allreduce = seqs * H * 2 / B + ring["base"] + 2 * ring["network"]
    assert r.tpot == pytest.approx(proj + core + allreduce + mlp + allreduce + head, rel=1e-9)
    assert r.waits == pytest.approx({"tp": 2 * allreduce}, rel=1e-9)
    assert r.kv_bytes_per_gpu == seqs * CTX * 2 * 16 * 2


def test_workload_file_and_cli_run_a_decode_job(tmp_path, capsys):
    from netemu.cli import main
    from netemu.collectives.workload_file import parse_workload
    text = """
        [cluster]
        preset = "fire-flyer-2-cluster"
        [[job]]
        name = "serve"
        phase = "decode"
        model = { name = "deepseekmoe-16b", layers = 2 }
        layout = "dp=16,ep=16,microbatches=2"
        batch = 8
        context = 256
        iterations = 2
    """
    _, (job,) = parse_workload(text)
    assert isinstance(job, DecodeJob)
    assert (job.batch, job.context, job.iterations, job.layout.microbatches) == (8, 256, 2, 2)
    with pytest.raises(ParameterError, match=r"unknown key\(s\) \['seq'\] for a decode job"):
        parse_workload(text.replace("context = 256", "context = 256\nseq = 4"))
    with pytest.raises(ParameterError, match=r"phase must be one of train, decode"):
        parse_workload(text.replace('"decode"', '"prefill"'))
    with pytest.raises(ParameterError, match=r"job 0 needs 'context'"):
        parse_workload(text.replace("context = 256", ""))
    f = tmp_path / "serve.toml"
    f.write_text(text)
    assert main(["step", str(f)]) == 0
    out = capsys.readouterr().out
    assert "decode job" in out and "serve" in out and "TPOT(ms)" in out
    argv = ["step", "deepseekmoe-16b", "--phase", "decode", "--cluster", "fire-flyer-2-cluster",
            "--layout", "dp=16,ep=16", "--batch", "4"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--context is required with --phase decode" in err and err.count("\n") == 1
    assert main(argv + ["--context", "64", "--seq", "8"]) == 2
    assert "--seq is a training option" in capsys.readouterr().err
    assert main(["step", "deepseekmoe-16b", "--phase", "prefill"]) == 2
    assert "unknown phase 'prefill'; allowed: train, decode" in capsys.readouterr().err


def test_example_workload_files_parse():
    from pathlib import Path

    from netemu.collectives.workload_file import load_workload
    root = Path(__file__).resolve().parents[2] / "docs" / "workloads"
    spec, jobs = load_workload(root / "serve_beside_training.toml")
    assert spec["preset"] == "fire-flyer-2-cluster"
    assert [type(j).__name__ for j in jobs] == ["DecodeJob", "Job"]
    assert jobs[0].layout.world == 16 and jobs[1].layout.world == 32
