"""ISCA Table 4: DeepSeek-V3 training on 2,048 H800 GPUs, multi-plane against multi-rail fat-tree.

One training step (:func:`netemu.collectives.step.run_step`) of the DeepSeek-V3 model
(:data:`~netemu.collectives.models.MODELS`, from its released configuration) on the
``deepseek-v3-cluster`` preset with each fabric, every collective on the fabric at once:
16 pipeline stages, 64-way expert parallelism over 8 nodes with DeepEP's node-limited
transport (FP8 dispatch, BF16 combine), ZeRO-1 data parallelism, the expert all-to-all
overlapped with computation, 15,360 sequences of 4,096 tokens a step.  The layout and the
batch are the DeepSeek-V3 technical report's (arXiv:2412.19437 §3.2, §4.2: "16-way PP, 64-way
EP spanning 8 nodes, ZeRO-1 DP"; batch 15,360 sequences); the report, not [ISCA], states them.

Compute is every kernel of a layer by the H800's roofline: GEMMs at the datasheet dense BF16
peak, an upper bound (no measured GEMM throughput is published for it), or their bytes over the
datasheet HBM3 bandwidth (3.35 TB/s), whichever is longer; normalisations, activations, rotary
embedding, token permutation and the loss at HBM bandwidth.  The sensitivity rows run the GEMMs
at 3/4 and 1/2 of the peak to show how far that choice moves the result; one row gives the step
with GEMM FLOPs alone at the peak (the compute model before memory-bound work was counted).  MFU is computed as [ISCA] Table 4 does,
against the BF16 peak, with causal and non-causal attention FLOPs.

GEMMs are timed with tile and wave quantization (:mod:`netemu.topologies.gemm_tiles`): 128 x
128 output tiles (a choice) in waves over the H800's 132 SMs; a GPU's routed experts run as one
grouped GEMM (DeepGEMM's grouped kernels, as DeepSeek-V3 trains).  Sensitivity rows show the
tiles 128 x 256 and 64 x 128 and the step without quantization.

The paper's point is the near-equality of the two fabrics (MPFT 19.926 s, MRFT 19.946 s);
netemu's MPFT/MRFT ratio is a consistency check of that stated relation.

The CSV's memory column is netemu's count of the fullest GPU's memory (a lower bound for the
layout as modelled: BF16 activations of every tensor a backward reads, 16 micro-batches in
flight on the first stage under 1F1B): about 143 GiB against the H800's 80, so the layout as
netemu models it would not fit.  The V3 report keeps it in memory by means netemu does not
model: recomputing every RMSNorm and MLA up-projection in the backward, caching activations
in FP8, and DualPipe (arXiv:2412.19437 §3.2.1, §3.2.3, §3.3); with the queries, keys and values
recomputed, MLA keeps its compressed latents instead of the full-width tensors counted here.
"""

from netemu.experiments.support import cluster, compare_row, write_rows

NAME = "v3_training"
TITLE = "ISCA Table 4: DeepSeek-V3 training step, MPFT vs MRFT, 2,048 GPUs"
LABEL = "ISCA Table 4"
TOLERANCE = {"step time s": 0.25}
FABRICS = ("mpft", "mrft")
#: Fraction of the datasheet peak the GEMMs reach: 1 is the bound used; the others are the
#: sensitivity of that unpublished input.
GEMM_FRACTIONS = (1.0, 0.75, 0.5)
LAYOUT = "dp=128,pp=16,ep=64,zero=1,overlap_ep=true,dispatch_bytes=1,combine_bytes=2"
SEQ, BATCH = 4096, 15360


#: GEMM variants of the sensitivity rows (see training_scaling.GEMM_VARIANTS); V3's experts
#: are grouped, so no per-expert row.
GEMM_VARIANTS = ("128x256", "64x128", "no-waves")


def points():
    pts = [{"fabric": f, "gemm_fraction": g, "compute": "roofline"} for f in FABRICS
           for g in GEMM_FRACTIONS if f == "mpft" or g == 1.0]
    pts += [{"fabric": "mpft", "gemm_fraction": 1.0, "compute": "roofline", "gemm": v}
            for v in GEMM_VARIANTS]
    return pts + [{"fabric": "mpft", "gemm_fraction": 1.0, "compute": "gemm"}]


def run_point(point):
    from dataclasses import replace

    from netemu.collectives.layout import Layout
    from netemu.collectives.models import MODELS
    from netemu.collectives.step import Job, run_step
    from netemu.topologies.compute import H800_COMPUTE
    g = point["gemm_fraction"]
    from netemu.experiments.training_scaling import gemm_variant
    gpu = replace(H800_COMPUTE, gemm={k: v * g for k, v in H800_COMPUTE.gemm.items()})
    variant = point.get("gemm", "default")
    gpu = gemm_variant(gpu, variant)
    job = Job("deepseek-v3", MODELS["deepseek-v3"], Layout.parse(LAYOUT), SEQ, BATCH)
    compute = point.get("compute", "roofline")
    (r,) = run_step(cluster("deepseek-v3-cluster", fabric=point["fabric"]), job, gpu=gpu,
                    compute=compute)
    row = {"fabric": point["fabric"], "gemm_fraction": g, "compute": compute, "gemm": variant,
           **r.row()}
    row["tokens_per_day_B"] = r.tokens_per_s * 86400 / 1e9
    return [row]


def report(rows, out_dir):
    from netemu.experiments.published import ISCA_TABLE4

    write_rows(out_dir, NAME, rows)
    from netemu.experiments.training_scaling import gemm_note
    base = {r["fabric"]: r for r in rows if _is_base(r)}
    out = []
    for f in FABRICS:
        p, r = ISCA_TABLE4[f], base[f]
        out += [compare_row(f"{f} 2048 GPUs", "step time s", p["step_time_s"], r["step_time_s"]),
                compare_row(f"{f} 2048 GPUs", "MFU non-causal %", 100 * p["mfu_noncausal"],
                            100 * r["mfu_noncausal"]),
                compare_row(f"{f} 2048 GPUs", "MFU causal %", 100 * p["mfu_causal"],
                            100 * r["mfu"]),
                compare_row(f"{f} 2048 GPUs", "tokens/day (B)", p["tokens_per_day_B"],
                            r["tokens_per_day_B"])]
    ratio_p = ISCA_TABLE4["mpft"]["step_time_s"] / ISCA_TABLE4["mrft"]["step_time_s"]
    ratio = base["mpft"]["step_time_s"] / base["mrft"]["step_time_s"]
    out.append(compare_row("2048 GPUs", "MPFT/MRFT step time", ratio_p, ratio, kind="check",
                           note="the paper's stated relation: the two fabrics train alike"))
    for r in rows:
        if r.get("compute") == "gemm":
            p = ISCA_TABLE4[r["fabric"]]["step_time_s"]
            moved = base[r["fabric"]]["step_time_s"] / r["step_time_s"] - 1
            out.append(compare_row(f"{r['fabric']} 2048 GPUs", "step time s", None,
                                   r["step_time_s"],
                                   note=f"before: GEMM FLOPs alone at the datasheet peak, "
                                        f"{100 * (r['step_time_s'] / p - 1):+.1f}% against the "
                                        f"paper; the roofline of every kernel moves it "
                                        f"{100 * moved:+.1f}%"))
        elif r.get("gemm", "default") != "default":
            moved = r["step_time_s"] / base[r["fabric"]]["step_time_s"] - 1
            out.append(compare_row(f"{r['fabric']} 2048 GPUs", "step time s", None,
                                   r["step_time_s"],
                                   note=f"sensitivity: {gemm_note(r['gemm'])} moves the step "
                                        f"{100 * moved:+.1f}%"))
        elif r["gemm_fraction"] != 1.0:
            out.append(compare_row(f"{r['fabric']} 2048 GPUs", "step time s", None,
                                   r["step_time_s"],
                                   note=f"sensitivity: GEMMs at {r['gemm_fraction']:g} of the "
                                        f"datasheet peak"))
    _plot(rows, f"{out_dir}/{NAME}.png")
    return out


def _is_base(r):
    """The primary model's row: datasheet GEMM peak, every kernel by the roofline."""
    return r["gemm_fraction"] == 1.0 and r.get("compute", "roofline") == "roofline" \
        and r.get("gemm", "default") == "default"


def _plot(rows, path):
    """Step time per fabric and GEMM fraction: netemu's breakdown (bars: compute and each
    wait), its total (filled marker) beside the paper's (open marker, where published), one
    colour per fabric, the error per point underneath; GEMM fractions below 1 are the
    sensitivity (no published points)."""
    from netemu.experiments.figures import Plot
    from netemu.experiments.published import ISCA_TABLE4
    from netemu.experiments.training_scaling import gemm_label

    cats = [f"{r['fabric'].upper()}\nGEMM x{r['gemm_fraction']:g}"
            + ("\nGEMMs only" if r.get("compute") == "gemm" else "")
            + (f"\ntiles {r['gemm']}" if r.get("gemm", "default") != "default" else "")
            for r in rows]
    p = Plot(TITLE, categories=cats, ylabel="seconds per step", width=7.0, height=4.0)
    keys = sorted({k for r in rows for k in r if k.startswith("wait_")})
    bottom = [r["compute_s"] for r in rows]
    greys = ("#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252", "#f0f0f0")
    p.bars(cats, bottom, "compute", "netemu: compute (a stage's GPUs)", role="netemu",
           colour="#eeeeee")
    for k, key in enumerate(keys):
        vals = [r.get(key, 0.0) for r in rows]
        p.bars(cats, vals, key, f"netemu: {key[5:-2]}", role="netemu",
               colour=greys[k % len(greys)], bottom=bottom)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for f in FABRICS:
        mine = [(c, r) for c, r in zip(cats, rows) if r["fabric"] == f]
        base = [(c, r) for c, r in mine if _is_base(r)]
        if base:
            c, r = base[0]
            p.paper([c], [ISCA_TABLE4[f]["step_time_s"]], f, f"{f.upper()} step time (Table 4)")
            p.netemu([c], [r["step_time_s"]], f, f"{f.upper()} step time", line=False)
            p.error([c], [r["step_time_s"]], [ISCA_TABLE4[f]["step_time_s"]], f, line=False)
        for option, keep in (("GEMMs below the datasheet peak",
                              lambda r: r["gemm_fraction"] != 1.0),
                             ("GEMMs only, no memory-bound kernels",
                              lambda r: r.get("compute") == "gemm" and r["gemm_fraction"] == 1.0),
                             *((gemm_label(v), lambda r, v=v: r.get("gemm") == v)
                               for v in GEMM_VARIANTS)):
            sens = [(c, r) for c, r in mine if keep(r)]
            if sens:
                p.netemu([c for c, _ in sens], [r["step_time_s"] for _, r in sens], f,
                         f"{f.upper()} step time", option=option, only=True, line=False)
    p.band(TOLERANCE["step time s"])
    p.note("Bars: compute and each wait as run_step reports them; they need not add up to the "
           "step, which is the filled marker.")
    p.save(path)
