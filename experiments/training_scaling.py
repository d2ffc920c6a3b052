"""Fire-Flyer Fig. 9: LLaMA-13B and DeepSeekMoE-16B strong scaling on the PCIe A100 cluster.

Each point is one training step (:func:`netemu.collectives.step.run_step`) on the
``fire-flyer-2-cluster`` preset, with the paper's model, sequence length, global batch and
pipeline depth ([FF] §V, Fig. 9: LLaMA-13B sequence 2048, batch 4096, PP = 4; DeepSeekMoE-16B
sequence 4096, batch 4608, PP = 10) and HaiScale's own choices the paper states: gradients
summed by HFReduce, and "the 8 GPUs of a node are placed in different DP ranks so their PP
sends happen at different times" ([FF] §V-B2, ``stagger_pp``).  Compute is every kernel of a
layer by the GPU's roofline: GEMMs at the PCIe A100's measured FP16 GEMM throughput ([FF]
Table II, 220 TFLOPS) or their bytes over HBM bandwidth (1,555 GB/s: the datasheet figure of
Table I's PCIe A100-40GB), whichever is longer; normalisations, activations, rotary
embedding, token permutation and the loss at HBM bandwidth.  The same points with GEMM FLOPs alone at 220 TFLOPS (the compute model before
memory-bound work was counted) are reported beside them, and the first points with the
memory-bound kernels at 80% of the datasheet bandwidth (a choice: what STREAM-like copies
reach is not published for this GPU), as notes.

GEMMs are timed with tile and wave quantization (:mod:`netemu.topologies.gemm_tiles`): output
tiles of 128 x 128 (a choice: NVIDIA's cuBLAS tile list, Matrix Multiplication Background
User's Guide §2.3) in waves over the A100's 108 SMs, each tile at an SM's share of the measured
220 TFLOPS.  DeepSeekMoE-16B's routed experts run as one grouped GEMM per layer: DeepSeekMoE's
HAI-LLM kernels fuse "computations across linear layers in different experts" (Dai et al.,
arXiv:2401.06066 §4.1.2, "Infrastructures").  Sensitivity rows at each model's end points show
the tiles 128 x 256 and 64 x 128, the experts launched one by one, and the step without
quantization (the compute model before it).

The backward of a GEMM is two kernels, each timed on its own: the input gradient and the
weight gradient, which adds into the gradient accumulator, reading and writing it, in FP32
(DeepSeek's training keeps "gradients (used for batch size accumulation)" in FP32,
DeepSeek-V3 technical report §3.3; that HAI-LLM did so on the A100s is an inference, so the
end points are shown with an FP16 accumulator too).  The data-parallel sum moves that
accumulator's elements, FP32 (FP16 in the FP16-accumulator rows): frameworks reduce the
buffer they accumulate into (Megatron-LM's ``accumulate_allreduce_grads_in_fp32`` ties the
two), and HFReduce sums FP32 among other types ([FF] §IV).  FlashAttention's backward recomputes
the scores: 2.5 times its forward FLOPs (:data:`~netemu.collectives.models.FLASH_BWD_FLOPS`).

Optimizer state sharded over the data-parallel ranks (ZeRO-1): without it neither model fits
the 40 GB GPUs ([FF] Table I): netemu's memory count of the fullest GPU
(:meth:`netemu.collectives.step._Builder._memory`, a lower bound) is 68.5 GiB for LLaMA-13B
and 45.0 GiB for DeepSeekMoE-16B with the optimizer state whole, 33.5 and 30.2 GiB with it
sharded (at the smallest point; less at the larger ones).  ZeRO-1 is what DeepSeek's training
states ("ZeRO-1 DP", DeepSeek-V3 technical report §3.2; that HAI-LLM sharded the same way on
the A100s is an inference); HFReduce implements allreduce only, so the gradients are summed
by its allreduce, each rank updates its shard, and the updated parameters are all-gathered
(NCCL).  The CSV gives every point's memory and whether it fits.

Not published, so chosen and shown: one sequence per micro-batch (the sensitivity rows use
two), no activation recomputation (recomputation alone would not fit LLaMA-13B: 58.0 GiB),
and for DeepSeekMoE-16B no expert parallelism (the paper does not say HaiScale split its
experts; every data-parallel rank then holds them all and sums their gradients with
HFReduce).  Scaling efficiency is against each model's smallest
point, ``T(n0) n0 / (T(n) n)``, the paper's own definition (its 92.92% at 320 GPUs and 76.14%
at 640 follow from its step times).
"""

from netemu.experiments.support import cluster, compare_row, write_rows

NAME = "training_scaling"
TITLE = "Fire-Flyer Fig. 9: training step time, LLaMA-13B and DeepSeekMoE-16B"
LABEL = "FF Fig. 9"
TOLERANCE = {"step time s": 0.25}

#: The figure's setups ([FF] §V-B, Fig. 9).
SETUPS = {
    "9a": {"model": "llama-13b", "seq": 2048, "batch": 4096, "pp": 4,
           "gpus": (64, 128, 256, 512)},
    "9b": {"model": "deepseekmoe-16b", "seq": 4096, "batch": 4608, "pp": 10,
           "gpus": (40, 80, 160, 320, 640)},
}
#: Optimizer state sharding of every point (see the module notes: without it neither model
#: fits the GPUs' 40 GB).
ZERO = 1
#: Sensitivity to the unpublished micro-batch size: these points again with two sequences.
SENSITIVITY = (("9a", 64), ("9a", 512), ("9b", 80), ("9b", 640))
#: The fraction of the datasheet HBM bandwidth memory-bound kernels reach in the sensitivity
#: rows (a choice; 1.0 is the datasheet bound every other row uses).
HBM_FRACTION = 0.8
#: GEMM variants of the sensitivity rows at each model's end points: the tile range
#: (:data:`~netemu.topologies.gemm_tiles.GEMM_TILE_RANGE`), routed experts launched one by one
#: (DeepSeekMoE-16B only), and no tile/wave quantization (the compute model before it).
GEMM_VARIANTS = ("128x256", "64x128", "per-expert", "no-waves")
#: Where those rows are computed: each model's end points.
GEMM_SENSITIVITY = (("9a", 64), ("9a", 512), ("9b", 40), ("9b", 640))
#: Bytes per element of the gradient accumulator in the sensitivity rows (FP16; the primary
#: rows use the layout's default, FP32), and where they are computed: each model's end points.
ACCUM_SENSITIVITY = 2
ACCUM_POINTS = GEMM_SENSITIVITY


def points():
    base = {"microbatch": 1, "compute": "roofline", "hbm": 1.0, "gemm": "default"}
    pts = [{"fig": f, "gpus": n, **base} for f, s in SETUPS.items() for n in s["gpus"]]
    pts += [{"fig": f, "gpus": n, **base, "microbatch": 2} for f, n in SENSITIVITY]
    pts += [{"fig": f, "gpus": n, **base, "compute": "gemm"} for f, s in SETUPS.items()
            for n in s["gpus"]]
    pts += [{"fig": f, "gpus": n, **base, "gemm": v} for f, n in GEMM_SENSITIVITY
            for v in GEMM_VARIANTS if v != "per-expert" or SETUPS[f]["model"] != "llama-13b"]
    pts += [{"fig": f, "gpus": n, **base, "accum": ACCUM_SENSITIVITY}
            for f, n in ACCUM_POINTS]
    return pts + [{"fig": f, "gpus": s["gpus"][0], **base, "hbm": HBM_FRACTION}
                  for f, s in SETUPS.items()]


def _accum(r):
    """Bytes of a row's gradient accumulator (the layout's default when the point sets none)."""
    from netemu.collectives.layout import Layout
    return r.get("accum", r.get("grad_accum_bytes")) or Layout.grad_accum_bytes


def _primary(r):
    from netemu.collectives.layout import Layout
    return r["microbatch"] == 1 and r.get("compute", "roofline") == "roofline" and \
        r.get("hbm", 1.0) == 1.0 and r.get("gemm", "default") == "default" and \
        _accum(r) == Layout.grad_accum_bytes


def gemm_variant(gpu, variant):
    """``gpu`` with the GEMM variant of a sensitivity row: ``"default"``, a tile
    ``"RxC"``, ``"per-expert"`` launches or ``"no-waves"`` (no SM count: FLOPs / rate)."""
    from dataclasses import replace
    if variant == "default":
        return gpu
    if variant == "per-expert":
        return replace(gpu, expert_gemms="per-expert")
    if variant == "no-waves":
        return replace(gpu, sms=0)
    tm, tn = variant.split("x")
    return replace(gpu, tile=(int(tm), int(tn)))


def gemm_label(variant):
    """A GEMM variant in a figure's legend."""
    return {"per-expert": "experts one GEMM each", "no-waves": "no tile/wave quantization"}.get(
        variant, f"GEMM tiles {variant}")


def gemm_note(variant):
    """What a GEMM variant row changes, for its note."""
    return {"per-expert": "routed experts launched one GEMM each (their partial waves add up) "
                          "instead of one grouped GEMM",
            "no-waves": "GEMMs at FLOPs / rate without tile or wave quantization (the compute "
                        "model before it)"}.get(
        variant, f"GEMM tiles of {variant} instead of 128x128")


def run_point(point):
    from netemu.collectives.layout import Layout
    from netemu.collectives.models import MODELS
    from netemu.collectives.step import Job, run_step
    from dataclasses import replace

    from netemu.topologies.compute import A100_PCIE_COMPUTE
    s = SETUPS[point["fig"]]
    # The data-parallel sum moves the accumulator's elements (see Layout.grad_bytes).
    lay = Layout(dp=point["gpus"] // s["pp"], pp=s["pp"], microbatch=point["microbatch"],
                 zero=ZERO, dp_library="hfreduce", stagger_pp=True, precision="fp16",
                 grad_accum_bytes=_accum(point), grad_bytes=_accum(point))
    job = Job(s["model"], MODELS[s["model"]], lay, s["seq"], s["batch"])
    gpu = replace(A100_PCIE_COMPUTE, hbm=A100_PCIE_COMPUTE.hbm * point["hbm"])
    variant = point.get("gemm", "default")
    gpu = gemm_variant(gpu, variant)
    (r,) = run_step(cluster("fire-flyer-2-cluster"), job, gpu=gpu, compute=point["compute"])
    return [{"fig": point["fig"], "model": s["model"], "gpus": point["gpus"],
             "microbatch": point["microbatch"], "compute": point["compute"],
             "hbm": point["hbm"], "gemm": variant, "grad_accum_bytes": lay.grad_accum_bytes,
             **{k: v for k, v in r.row().items()
                                     if k not in ("job", "gpus")}}]


def report(rows, out_dir):
    from netemu.collectives.layout import Layout
    from netemu.experiments.published import FF_FIG9
    write_rows(out_dir, NAME, rows)
    out = []
    for fig, s in SETUPS.items():
        got = {r["gpus"]: r["step_time_s"] for r in rows if r["fig"] == fig and _primary(r)}
        before = {r["gpus"]: r["step_time_s"] for r in rows
                  if r["fig"] == fig and r.get("compute") == "gemm"}
        paper = FF_FIG9[fig]
        n0 = s["gpus"][0]
        for n in s["gpus"]:
            out.append(compare_row(f"{s['model']} {n} GPUs", "step time s", paper[n], got[n]))
        for n in s["gpus"][1:]:
            eff_p = paper[n0] * n0 / (paper[n] * n)
            eff = got[n0] * n0 / (got[n] * n)
            out.append(compare_row(f"{s['model']} {n} GPUs", "scaling efficiency %",
                                   100 * eff_p, 100 * eff,
                                   note=f"{100 * (eff - eff_p):+.1f} percentage points; "
                                        f"against {n0} GPUs"))
        for n in s["gpus"]:
            if n in before:
                out.append(compare_row(
                    f"{s['model']} {n} GPUs", "step time s", None, before[n],
                    note=f"before: GEMM FLOPs alone at 220 TFLOPS, "
                         f"{100 * (before[n] / paper[n] - 1):+.1f}% against the paper; the "
                         f"roofline of every kernel moves it "
                         f"{100 * (got[n] / before[n] - 1):+.1f}%"))
        for r in rows:
            if r["fig"] == fig and not _primary(r) and r.get("compute") != "gemm":
                base = got[r["gpus"]]
                what = (f"{r['microbatch']} sequences per micro-batch"
                        if r["microbatch"] != 1 else
                        gemm_note(r["gemm"]) if r.get("gemm", "default") != "default" else
                        f"a {_accum(r)}-byte gradient accumulator and data-parallel sum "
                        f"instead of FP32"
                        if _accum(r) != Layout.grad_accum_bytes else
                        f"memory-bound kernels at {r['hbm']:g} of the datasheet HBM bandwidth")
                out.append(compare_row(f"{s['model']} {r['gpus']} GPUs", "step time s",
                                       None, r["step_time_s"],
                                       note=f"sensitivity: {what} moves the step "
                                            f"{100 * (r['step_time_s'] / base - 1):+.1f}%"))
    _plot(rows, f"{out_dir}/{NAME}.png")
    return out


def _options(rows, fig):
    """(legend option, row filter, drawn as a line) of each model option beside the primary."""
    mbs = sorted({r["microbatch"] for r in rows if r["fig"] == fig and r["microbatch"] != 1})
    out = [(f"{mb} sequences per micro-batch",
            lambda r, mb=mb: r["fig"] == fig and r["microbatch"] == mb, False) for mb in mbs]
    out.append(("GEMMs only, no memory-bound kernels",
                lambda r: r["fig"] == fig and r.get("compute") == "gemm", True))
    out.append((f"memory-bound kernels at {HBM_FRACTION:g} of datasheet HBM",
                lambda r: r["fig"] == fig and r.get("hbm", 1.0) != 1.0, False))
    for v in GEMM_VARIANTS:
        out.append((gemm_label(v), lambda r, v=v: r["fig"] == fig and r.get("gemm") == v, False))
    out.append((f"{ACCUM_SENSITIVITY}-byte gradient accumulator and sum",
                lambda r: r["fig"] == fig and _accum(r) == ACCUM_SENSITIVITY, False))
    return out


def _plot(rows, path):
    """Step time (log-log, strong scaling) and scaling efficiency, paper and netemu in one
    colour per model, the micro-batch sensitivity as an option, errors underneath."""
    from netemu.experiments.figures import Plot
    from netemu.experiments.published import FF_FIG9

    ticks = sorted({n for s in SETUPS.values() for n in s["gpus"]})
    p = Plot(TITLE, ["step time", "scaling efficiency against each model's smallest point"],
             logx=True, xticks=ticks, xlabel="GPUs",
             ylabel=["step time (s, log)", "scaling efficiency (%)"], width=5.6, height=3.8,
             rotate=45)
    p.logy(0)
    for fig, s in SETUPS.items():
        model, paper = s["model"], FF_FIG9[fig]
        got = {r["gpus"]: r["step_time_s"] for r in rows if r["fig"] == fig and _primary(r)}
        xs = [n for n in s["gpus"] if n in got]
        p.compare(xs, [got[n] for n in xs], list(paper), list(paper.values()), model,
                  f"{model} (Fig. {fig})")
        for option, keep, line in _options(rows, fig):
            pts = sorted((r["gpus"], r["step_time_s"]) for r in rows if keep(r))
            if pts:
                p.netemu(*zip(*pts), model, f"{model} (Fig. {fig})", option=option, line=line)
        if len(xs) > 1:
            n0 = xs[0]
            p.compare(xs, [100 * got[n0] * n0 / (got[n] * n) for n in xs], list(paper),
                      [100 * paper[n0] * n0 / (paper[n] * n) for n in paper], model,
                      f"{model} efficiency", panel=1,
                      paper_label=f"{model} efficiency (from its step times)")
    p.band(TOLERANCE["step time s"])
    p.save(path)
