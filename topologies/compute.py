"""GPU compute figures: matrix-multiply throughput and memory bandwidth, each with its source.

These are the inputs of a training or decode step's compute time
(:mod:`netemu.collectives.step`).  A *measured* GEMM throughput is preferred where a source
gives one (Fire-Flyer Table II measured the PCIe A100 and the DGX-A100); otherwise the
datasheet's dense peak, marked as such: it is an upper bound, and a step computed from it is
a lower bound on time.  All values SI: FLOP/s and bytes/s.

Source keys as in :mod:`netemu.topologies.hardware`.
"""

from dataclasses import dataclass, field

__all__ = ["GpuCompute", "A100_PCIE_COMPUTE", "A100_SXM_COMPUTE", "H800_COMPUTE", "GPUS",
           "gpu_compute"]


@dataclass(frozen=True)
class GpuCompute:
    """What one GPU computes per second.

    Attributes
    ----------
    name : str
    gemm : dict
        Matrix-multiply throughput by precision (``'fp16'``, ``'bf16'``, ``'tf32'``,
        ``'fp8'``), FLOP/s, as a step uses it.
    peak_bf16 : float
        Dense BF16/FP16 tensor peak, FLOP/s: the denominator of MFU.
    hbm : float
        Memory bandwidth, bytes/s: the roof of memory-bound kernels (elementwise work,
        normalisations, token permutation, the optimizer; GEMMs whose operands outweigh their
        FLOPs).  The datasheet's peak: a step timed with it is a lower bound on time.
    sources : dict
        The source of every figure, by attribute (and ``gemm:PRECISION``).
    """
    name: str
    gemm: dict
    peak_bf16: float
    hbm: float
    sources: dict = field(default_factory=dict)

    def kernel_time(self, kind, flops, nbytes, precision):
        """Seconds of one kernel by the roofline (Williams, Waterman & Patterson, "Roofline",
        CACM 52(4), 2009): a ``'gemm'`` takes max(FLOPs / GEMM rate, bytes / memory
        bandwidth), a ``'memory'`` kernel bytes / memory bandwidth.

        >>> g = GpuCompute("t", {"bf16": 100e12}, 100e12, 1e12)
        >>> g.kernel_time("gemm", 1e12, 1e9, "bf16"), g.kernel_time("gemm", 1e12, 1e11, "bf16")
        (0.01, 0.1)
        """
        from netemu.errors import ParameterError
        if kind == "memory":
            return nbytes / self.hbm
        if kind != "gemm":
            raise ParameterError(f"kernel kind must be 'gemm' or 'memory', got {kind!r}")
        return max(flops / self.throughput(precision), nbytes / self.hbm)

    def ops_time(self, ops, precision, tp=1):
        """Forward and backward seconds of a list of
        :class:`~netemu.collectives.models.Op` on one GPU, the ops that tensor parallelism
        splits divided by ``tp`` (their FLOPs and bytes both)."""
        fwd = bwd = 0.0
        for op in ops:
            d = tp if op.tp_split else 1
            fwd += self.kernel_time(op.kind, op.flops / d, op.bytes / d, precision)
            bwd += self.kernel_time(op.kind, op.bwd_flops / d, op.bwd_bytes / d, precision)
        return fwd, bwd

    def throughput(self, precision):
        """GEMM FLOP/s at ``precision``; ParameterError naming the ones this GPU has."""
        from netemu.errors import ParameterError
        if precision not in self.gemm:
            raise ParameterError(f"{self.name} has no GEMM figure for precision {precision!r}; "
                                 f"allowed: {', '.join(sorted(self.gemm))}")
        return self.gemm[precision]


#: The Fire-Flyer 2 PCIe A100: GEMM throughput measured by the paper ([FF] Table II: TF32 107,
#: FP16 220 TFLOPS per GPU); peak 312 TFLOPS dense FP16/BF16 and 1,555 GB/s HBM2 (NVIDIA A100
#: PCIe 40GB datasheet; the 40 GB model is the server generator's choice, UNCONFIRMED).
A100_PCIE_COMPUTE = GpuCompute(
    "A100 PCIe", {"fp16": 220e12, "bf16": 220e12, "tf32": 107e12}, 312e12, 1.555e12,
    {"gemm:fp16": "[FF] Table II, measured FP16 GEMM", "gemm:bf16": "[FF] Table II FP16 figure "
     "(same tensor-core rate for BF16 on A100, NVIDIA A100 datasheet)",
     "gemm:tf32": "[FF] Table II, measured TF32 GEMM", "peak_bf16": "NVIDIA A100 datasheet",
     "hbm": "NVIDIA A100 PCIe 40GB datasheet, UNCONFIRMED which memory Fire-Flyer has"})

#: The DGX-A100's SXM A100: measured GEMM [FF] Table II (TF32 131, FP16 263 TFLOPS);
#: 2,039 GB/s HBM2e (NVIDIA A100 SXM 80GB datasheet).
A100_SXM_COMPUTE = GpuCompute(
    "A100 SXM", {"fp16": 263e12, "bf16": 263e12, "tf32": 131e12}, 312e12, 2.039e12,
    {"gemm:fp16": "[FF] Table II, measured FP16 GEMM", "gemm:tf32": "[FF] Table II",
     "peak_bf16": "NVIDIA A100 datasheet", "hbm": "NVIDIA A100 SXM 80GB datasheet"})

#: The H800 SXM: H100 SXM compute ([ISCA] §4.1: only FP64 and NVLink are reduced), so the H100
#: SXM datasheet's dense peaks apply: BF16 989.4 TFLOPS, FP8 1,978.9 TFLOPS; HBM3 3.35 TB/s.
#: No measured GEMM figure is published for it: the GEMM entries are the datasheet peaks, an
#: upper bound (experiments show the step across a range of achieved fractions).
H800_COMPUTE = GpuCompute(
    "H800 SXM", {"bf16": 989.4e12, "fp16": 989.4e12, "fp8": 1978.9e12}, 989.4e12, 3.35e12,
    {"gemm:bf16": "NVIDIA H100 SXM datasheet dense peak (upper bound)",
     "gemm:fp8": "NVIDIA H100 SXM datasheet dense peak (upper bound)",
     "peak_bf16": "NVIDIA H100 SXM datasheet; [ISCA] §4.1 (H800 = H100 but FP64, NVLink)",
     "hbm": "NVIDIA H100 SXM datasheet"})

#: By the server generator that holds the GPU.
GPUS = {"pcie_a100_server": A100_PCIE_COMPUTE, "dgx_a100_server": A100_SXM_COMPUTE,
        "h800_server": H800_COMPUTE}


def gpu_compute(G):
    """The :class:`GpuCompute` of the GPUs of cluster ``G`` (from the server generator's name
    the cluster records), or ParameterError when the graph does not say."""
    from netemu.errors import ParameterError
    params = G.graph.get("params") or {}
    server = params.get("server") if isinstance(params, dict) else None
    name = getattr(server, "__name__", server)
    if isinstance(name, str) and name in GPUS:
        return GPUS[name]
    for _, d in G.nodes(data=True):
        if d.get("role") == "gpu" and d.get("model"):
            for g in GPUS.values():
                if g.name.split()[0] in str(d["model"]):
                    return g
    raise ParameterError(f"cluster {G.graph.get('name')!r} does not say which GPU it holds; "
                         f"pass gpu= one of {', '.join(sorted(GPUS))}")
