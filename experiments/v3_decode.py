"""DeepSeek-V3 decoding on the fabric: netemu's decode iteration beside ISCA §2.3.2's TPOT bound.

[ISCA] §2.3.2 bounds the time per output token (TPOT) from the expert all-to-all alone: 32
tokens per device and micro-batch, nine experts per token (8 routed + 1 shared, all over the
network), hidden about 7K, FP8 dispatch, BF16 combine, 50 GB/s per device, two micro-batches
whose compute is hidden, 61 layers, no latency: 61 x 2 x 120.96 us = 14.76 ms.

Rows
----
``check``: that workload run through :func:`netemu.collectives.decode.run_decode` -- a model
of 61 MoE layers of hidden 7,000 with one expert per device on 64 hosts of a non-blocking
fat-tree at the CX7's 50 GB/s, compute free, two micro-batches of 32 tokens, the shared
expert as a ninth destination -- reproduces the paper's arithmetic through the decode
module's program and the flow model.  It follows from the paper's inputs: a *check*.

netemu's own rows: DeepSeek-V3 as released (:data:`~netemu.collectives.models.MODELS`: 61
layers, 3 of them dense, MLA, 256 routed experts + 1 shared, FP8 weights) served on 256 GPUs
of the DeepSeek-V3 MPFT cluster (one routed expert per GPU, [ISCA] §2.3.2's "each device
holds one expert"), attention data-parallel, DeepEP low-latency kernels (one RDMA message
per token per expert with FP8 scales and header, PXN across planes, catalogue latency and
endpoint overhead), the shared expert on each token's GPU while its dispatch flies, and
every kernel timed by the roofline on the H800's datasheet figures (HBM 3.35 TB/s, FP8 dense
peak), so attention reads the KV cache at HBM speed and the experts read their weights.  The
paper's value is a *bound* (compute hidden, no latency), not a measurement, so netemu's TPOT
lies above it by construction: these rows are netemu's alone, the bound named in their note.

Inputs that no source fixes, each a choice shown across a range: the context (tokens in each
sequence's cache; 4,096 -- the V3 training sequence length, arXiv:2412.19437 §4.2 -- with
1,024 and 16,384 beside it), the KV-cache precision (BF16 as FlashMLA's cache, 2 bytes), the
batch (the paper's 32 tokens per micro-batch, two micro-batches), the NIC and NVLink rates
(``nominal`` and ``achievable``, as :mod:`netemu.experiments.deepep_modes`), and the
two-micro-batch overlap on and off.  MTP (§2.3.3) is not modelled.

A second *check*: the KV cache per token of the model's released shape, (kv_lora + qk_rope)
x 61 layers x 2 bytes, against [ISCA] Table 1.
"""

from netemu.experiments.support import compare_row, write_rows

NAME = "v3_decode"
TITLE = "ISCA §2.3.2: DeepSeek-V3 decode TPOT on the fabric vs the EP bound"
LABEL = "ISCA §2.3.2 decode"
#: The section's workload ([ISCA] §2.3.2), inputs of the check.
TOKENS, HIDDEN, ROUTED, SHARED, LAYERS, DEVICES = 32, 7000, 8, 1, 61, 64
#: Served-model choices (see the module notes).
CONTEXTS = (1024, 4096, 16384)
CONTEXT = 4096
CLUSTER_GPUS = 256


def points():
    out = [{"case": "check"}]
    out += [{"case": "v3", "rates": "nominal", "microbatches": mb, "context": CONTEXT}
            for mb in (2, 1)]
    out += [{"case": "v3", "rates": "achievable", "microbatches": 2, "context": CONTEXT}]
    out += [{"case": "v3", "rates": "nominal", "microbatches": 2, "context": c}
            for c in CONTEXTS if c != CONTEXT]
    return out


def _check():
    from netemu.collectives.decode import DecodeJob, DecodeLayout, run_decode
    from netemu.collectives.models import Transformer
    from netemu.topologies.compute import GpuCompute
    from netemu.topologies.fat_tree import two_layer_fat_tree
    from netemu.topologies.hardware import CX7_400G
    inf = float("inf")
    free = GpuCompute("compute hidden", {"bf16": inf}, inf, inf)
    model = Transformer("isca-2.3.2", layers=LAYERS, hidden=HIDDEN, heads=1, ffn=0, vocab=1,
                        experts=DEVICES, shared_experts=SHARED, topk=ROUTED, expert_ffn=1)
    lay = DecodeLayout(dp=DEVICES, microbatches=2, ep_library="nccl", shared="remote",
                       token_routing="balanced", dispatch_bytes=1, combine_bytes=2)
    G = two_layer_fat_tree(16, link_bandwidth=CX7_400G.bandwidth)
    (r,) = run_decode(G, DecodeJob("check", model, lay, 2 * TOKENS, 1), gpu=free)
    return r


def _v3(point):
    from netemu.collectives.decode import DecodeJob, DecodeLayout, run_decode
    from netemu.collectives.models import MODELS
    from netemu.collectives.ranks import pick_ranks
    from netemu.experiments.deepep_modes import deepep_cluster, endpoint_overhead
    from netemu.topologies.compute import H800_COMPUTE
    G = deepep_cluster(point["rates"])
    lay = DecodeLayout(dp=CLUSTER_GPUS, microbatches=point["microbatches"],
                       ep_library="deepep-ll", precision="fp8", weight_bytes=1, kv_bytes=2,
                       ep_overhead=endpoint_overhead(CLUSTER_GPUS))
    job = DecodeJob("deepseek-v3", MODELS["deepseek-v3"], lay, 2 * TOKENS, point["context"],
                    gpus=pick_ranks(G, CLUSTER_GPUS))
    (r,) = run_decode(G, job, gpu=H800_COMPUTE)
    return r


def run_point(point):
    if point["case"] == "check":
        r = _check()
        return [{"case": "check", "rates": "paper (50 GB/s, no latency)", "microbatches": 2,
                 **r.row()}]
    r = _v3(point)
    return [{"case": "v3", "rates": point["rates"], "microbatches": point["microbatches"],
             **r.row()}]


def kv_bytes_per_token(model):
    """BF16 KV-cache bytes per token of an MLA model (all layers)."""
    return (model.kv_lora + model.qk_rope) * model.layers * 2


def report(rows, out_dir):
    from netemu.collectives.models import MODELS
    from netemu.experiments.published import ISCA_INFERENCE, ISCA_TABLE1_KV_BYTES
    write_rows(out_dir, NAME, rows)
    _plot(rows, out_dir)
    bound = ISCA_INFERENCE["scale-out"]
    out = [compare_row("DeepSeek-V3", "KV cache bytes/token (BF16)",
                       ISCA_TABLE1_KV_BYTES["deepseek-v3"],
                       kv_bytes_per_token(MODELS["deepseek-v3"]), kind="check",
                       note="(kv_lora + qk_rope) x layers x 2 B of the released config; "
                            "[ISCA] Table 1 counts the same")]
    for r in rows:
        if r["case"] == "check":
            point, kind = "64 devices, paper's inputs", "check"
            note = "the paper's workload through the decode program, compute free, 50 GB/s"
        else:
            point = (f"MPFT 256 GPUs, {r['rates']} rates, {r['microbatches']} micro-batch"
                     f"{'es' if r['microbatches'] > 1 else ''}, context {r['context']}")
            note = ("vs a bound (compute hidden, no latency): netemu includes attention over "
                    "the KV cache, expert and shared GEMMs, routing imbalance and latency")
            if (r["rates"], r["microbatches"], r["context"]) != ("nominal", 2, CONTEXT):
                # The other choices show how far the unpublished inputs move the result;
                # only the primary point is set beside the paper.
                note = "sensitivity of an unpublished input (see the module notes)"
                out.append(compare_row(point, "TPOT ms", None, r["tpot_ms"], note=note))
                out.append(compare_row(point, "exposed communication ms", None,
                                       r["exposed_comm_ms"], note=note))
                continue
        if r["case"] == "check":
            out.append(compare_row(point, "TPOT ms", bound["tpot_ms"], r["tpot_ms"],
                                   kind=kind, note=note))
            out.append(compare_row(point, "tokens/s per user", bound["tokens_per_s"],
                                   r["tokens_per_s_per_user"], kind=kind, note=note))
        else:
            # The paper's figure is a bound, not a measurement: netemu's TPOT sits above it
            # by construction, so the row is netemu's alone with the bound named beside it.
            note = (f"the paper's {bound['tpot_ms']} ms is a lower bound (compute hidden, no "
                    "latency), not a measurement; " + note.split(": ", 1)[1])
            out.append(compare_row(point, "TPOT ms", None, r["tpot_ms"], note=note))
            out.append(compare_row(point, "tokens/s per user", None,
                                   r["tokens_per_s_per_user"], note=note))
        if r["case"] == "v3":
            out.append(compare_row(point, "exposed communication ms", None,
                                   r["exposed_comm_ms"], note="netemu only: GPU idle with "
                                   "dispatch or combine in flight"))
            out.append(compare_row(point, "tokens/s per GPU", None,
                                   r["tokens_per_s_per_gpu"], note="netemu only"))
    return out


def _plot(rows, out_dir):
    """TPOT per case: netemu's parts (bars) and total (marker); the check's total beside the
    paper's arithmetic, drawn as a check; the served-model cases netemu's alone, with the
    section's bound as a reference line (a bound, not a measurement)."""
    from netemu.experiments.figures import Plot
    from netemu.experiments.published import ISCA_INFERENCE

    bound = ISCA_INFERENCE["scale-out"]["tpot_ms"]
    cats = ["paper's inputs\n(check)" if r["case"] == "check" else
            f"{r['rates']}\n{r['microbatches']} micro-b.\ncontext {r['context']}" for r in rows]
    p = Plot(TITLE, error=False, categories=cats, ylabel="time per output token (ms)",
             width=7.5, height=4.2)
    parts = (("compute_ms", "#e0e0e0"), ("wait_dispatch_ms", "#bcbddc"),
             ("wait_combine_ms", "#9e9ac8"), ("wait_bubble_ms", "#bdbdbd"))
    bottom = [0.0] * len(rows)
    for key, colour in parts:
        vals = [float(r.get(key) or 0.0) for r in rows]
        if any(vals):
            name = key.replace("wait_", "waiting: ").replace("_ms", "")
            p.bars(cats, vals, key, f"netemu: {name}", role="netemu", colour=colour,
                   bottom=bottom)
            bottom = [b + v for b, v in zip(bottom, vals)]
    check = [(c, r) for c, r in zip(cats, rows) if r["case"] == "check"]
    if check:
        (c, r), = check
        p.check([c], [bound], "TPOT", f"§2.3.2's arithmetic ({bound:g} ms)")
        p.netemu([c], [r["tpot_ms"]], "TPOT", "TPOT, the paper's workload", line=False)
        p.annotate_errors([c], [r["tpot_ms"]], [bound], prefix="check ", offset=(8, 12))
    served = [(c, r) for c, r in zip(cats, rows) if r["case"] != "check"]
    if served:
        p.netemu([c for c, _ in served], [r["tpot_ms"] for _, r in served], "served",
                 "TPOT, DeepSeek-V3 served on the MPFT cluster", only=True, line=False)
    p.reference(bound, f"paper: §2.3.2's TPOT bound, {bound:g} ms (compute hidden, no latency; "
                "not a measurement)")
    p.main[0].set_ylim(0, 1.15 * max(bottom + [bound] + [r["tpot_ms"] for r in rows]))
    p.save(f"{out_dir}/{NAME}.png")
