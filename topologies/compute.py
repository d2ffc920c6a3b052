"""GPU compute figures: matrix-multiply throughput and memory bandwidth, each with its source.

These are the inputs of a training or decode step's compute time
(:mod:`netemu.collectives.step`).  A *measured* GEMM throughput is preferred where a source
gives one (Fire-Flyer Table II measured the PCIe A100 and the DGX-A100); otherwise the
datasheet's dense peak, marked as such: it is an upper bound, and a step computed from it is
a lower bound on time.  All values SI: FLOP/s and bytes/s.

A GEMM whose shape is known is timed with tile and wave quantization
(:mod:`netemu.topologies.gemm_tiles`): its output tiles run in waves over the GPU's SMs, each
tile at an SM's share of the large-GEMM rate, so a GEMM of few tiles (a routed expert's, a
router's) pays for the SMs it leaves idle.  The tile and how experts are launched are
choices, fields of :class:`GpuCompute` that experiments sweep.

Source keys as in :mod:`netemu.topologies.hardware`.
"""

from dataclasses import dataclass, field

from .gemm_tiles import EXPERT_GEMMS, GEMM_TILE, gemm_compute_time
from .hardware import A100_PCIE, DGX_A100, H800_SXM

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
    sms : int
        Streaming multiprocessors (0: unknown, GEMMs timed by FLOPs alone).
    tile : tuple
        Output tile ``(tm, tn)`` of the GEMMs (a choice:
        :data:`~netemu.topologies.gemm_tiles.GEMM_TILE`).
    expert_gemms : {"grouped", "per-expert"}
        How a GPU's routed experts are launched (a property of the training or serving
        framework's kernels, a choice per workload).
    split_k : bool
        A GEMM of fewer tiles than SMs is split along K
        (:func:`~netemu.topologies.gemm_tiles.split_k`).
    memory : float
        GPU memory, bytes (0: unknown): what a training step's weights, gradients, optimizer
        state and saved activations must fit in (:func:`netemu.collectives.step.run_step`
        reports whether they do).
    """
    name: str
    gemm: dict
    peak_bf16: float
    hbm: float
    sources: dict = field(default_factory=dict)
    sms: int = 0
    tile: tuple = GEMM_TILE
    expert_gemms: str = "grouped"
    split_k: bool = True
    memory: float = 0.0

    def __post_init__(self):
        from netemu.errors import ParameterError
        if isinstance(self.sms, bool) or not isinstance(self.sms, int) or self.sms < 0:
            raise ParameterError(f"{self.name}: sms must be an integer >= 0, got {self.sms!r}")
        if (not isinstance(self.tile, tuple) or len(self.tile) != 2 or
                not all(isinstance(t, int) and not isinstance(t, bool) and t >= 1
                        for t in self.tile)):
            raise ParameterError(f"{self.name}: tile must be two integers >= 1 (rows, "
                                 f"columns), got {self.tile!r}")
        if isinstance(self.memory, bool) or not isinstance(self.memory, (int, float)) \
                or not 0 <= self.memory < 2**60:
            raise ParameterError(f"{self.name}: memory must be bytes >= 0 (0: unknown), got "
                                 f"{self.memory!r}")
        if not isinstance(self.split_k, bool):
            raise ParameterError(f"{self.name}: split_k must be True or False, got "
                                 f"{self.split_k!r}")
        if self.expert_gemms not in EXPERT_GEMMS:
            raise ParameterError(f"{self.name}: expert_gemms must be one of "
                                 f"{', '.join(EXPERT_GEMMS)}, got {self.expert_gemms!r}")

    def kernel_time(self, kind, flops, nbytes, precision, gemms=()):
        """Seconds of one kernel by the roofline (Williams, Waterman & Patterson, "Roofline",
        CACM 52(4), 2009): a ``'gemm'`` takes max(compute time, bytes / memory bandwidth), a
        ``'memory'`` kernel bytes / memory bandwidth.

        The compute time is FLOPs / GEMM rate, or, when the GEMM shapes are given
        (``gemms``: ``(M, K, N)`` or ``(M, K, N, copies)`` launches) and the GPU's SM count is
        known, the tile- and wave-quantized time of those launches
        (:func:`~netemu.topologies.gemm_tiles.gemm_compute_time`; ``flops`` is then unused).

        >>> g = GpuCompute("t", {"bf16": 100e12}, 100e12, 1e12)
        >>> g.kernel_time("gemm", 1e12, 1e9, "bf16"), g.kernel_time("gemm", 1e12, 1e11, "bf16")
        (0.01, 0.1)

        On 4 SMs in 128 x 128 tiles, a 256 x 256 output is one full wave; 256 x 384 needs 6
        tiles, two waves, the time of 8 tiles:

        >>> w = GpuCompute("t", {"bf16": 100e12}, 100e12, 1e15, sms=4)
        >>> w.kernel_time("gemm", 0, 0, "bf16", [(256, 1000, 256)]) * 1e9
        1310.72
        >>> w.kernel_time("gemm", 0, 0, "bf16", [(256, 1000, 384)]) * 1e9
        2621.44
        """
        from netemu.errors import ParameterError
        if kind == "memory":
            return nbytes / self.hbm
        if kind != "gemm":
            raise ParameterError(f"kernel kind must be 'gemm' or 'memory', got {kind!r}")
        rate = self.throughput(precision)
        if gemms and self.sms:
            compute = gemm_compute_time(gemms, rate, self.sms, self.tile,
                                        grouped=self.expert_gemms == "grouped",
                                        split=self.split_k)
        else:
            compute = flops / rate
        return max(compute, nbytes / self.hbm)

    def ops_time(self, ops, precision, tp=1):
        """Forward and backward seconds of a list of
        :class:`~netemu.collectives.models.Op` on one GPU, the ops that tensor parallelism
        splits divided by ``tp`` (their FLOPs and bytes both, and the GEMM dimension each
        splits: a column-parallel GEMM's N, a row-parallel one's K).  A backward given as
        separate kernels (``Op.bwd_parts``: a GEMM's input and weight gradients) is timed
        kernel by kernel."""
        from .gemm_tiles import split_gemms
        fwd = bwd = 0.0
        for op in ops:
            d = tp if op.tp_split else 1
            fwd += self.kernel_time(op.kind, op.flops / d, op.bytes / d, precision,
                                    split_gemms(op.gemms, d))
            for f, b, g in op.bwd_parts or ((op.bwd_flops, op.bwd_bytes, op.bwd_gemms),):
                bwd += self.kernel_time(op.kind, f / d, b / d, precision, split_gemms(g, d))
        return fwd, bwd

    def throughput(self, precision):
        """GEMM FLOP/s at ``precision``; ParameterError naming the ones this GPU has."""
        from netemu.errors import ParameterError
        if precision not in self.gemm:
            raise ParameterError(f"{self.name} has no GEMM figure for precision {precision!r}; "
                                 f"allowed: {', '.join(sorted(self.gemm))}")
        return self.gemm[precision]


#: HBM2 bandwidth of the 40 GB A100, PCIe and SXM alike (NVIDIA A100 datasheet: 1,555 GB/s;
#: the 80 GB models have 1,935 and 2,039 GB/s): both GPUs of [FF] Table I are 40 GB ones.
A100_40GB_HBM = 1.555e12
#: Memory of the A100 40GB (NVIDIA A100 datasheet, "40GB HBM2": five 8 GiB stacks) and of the
#: H100/H800 SXM ("80GB HBM3"), bytes.
A100_40GB_MEMORY = 40 * 2**30
H800_MEMORY = 80 * 2**30

#: The Fire-Flyer 2 PCIe A100: GEMM throughput measured by the paper ([FF] Table II: TF32 107,
#: FP16 220 TFLOPS per GPU); peak 312 TFLOPS dense FP16/BF16; the node's GPUs are "PCIe
#: A100-40GB" ([FF] Table I), so 1,555 GB/s of HBM2.
A100_PCIE_COMPUTE = GpuCompute(
    "A100 PCIe", {"fp16": 220e12, "bf16": 220e12, "tf32": 107e12}, 312e12, A100_40GB_HBM,
    {"gemm:fp16": "[FF] Table II, measured FP16 GEMM", "gemm:bf16": "[FF] Table II FP16 figure "
     "(same tensor-core rate for BF16 on A100, NVIDIA A100 datasheet)",
     "gemm:tf32": "[FF] Table II, measured TF32 GEMM", "peak_bf16": "NVIDIA A100 datasheet",
     "hbm": "[FF] Table I (PCIe A100-40GB); NVIDIA A100 datasheet (40 GB PCIe: 1,555 GB/s)",
     "memory": "[FF] Table I (PCIe A100-40GB); NVIDIA A100 datasheet",
     "sms": "NVIDIA A100 architecture whitepaper (hardware.A100_PCIE.sms)"},
    sms=A100_PCIE.sms, memory=A100_40GB_MEMORY)

#: The DGX-A100's SXM A100: measured GEMM [FF] Table II (TF32 131, FP16 263 TFLOPS); the DGX
#: [FF] compares against holds "SXM A100-40GB" ([FF] Table I): 1,555 GB/s of HBM2.
A100_SXM_COMPUTE = GpuCompute(
    "A100 SXM", {"fp16": 263e12, "bf16": 263e12, "tf32": 131e12}, 312e12, A100_40GB_HBM,
    {"gemm:fp16": "[FF] Table II, measured FP16 GEMM", "gemm:tf32": "[FF] Table II",
     "peak_bf16": "NVIDIA A100 datasheet",
     "hbm": "[FF] Table I (SXM A100-40GB); NVIDIA A100 datasheet (40 GB SXM: 1,555 GB/s)",
     "memory": "[FF] Table I (SXM A100-40GB); NVIDIA A100 datasheet",
     "sms": "NVIDIA A100 architecture whitepaper (hardware.DGX_A100.sms)"},
    sms=DGX_A100.sms, memory=A100_40GB_MEMORY)

#: The H800 SXM: H100 SXM compute ([ISCA] §4.1: only FP64 and NVLink are reduced), so the H100
#: SXM datasheet's dense peaks apply: BF16 989.4 TFLOPS, FP8 1,978.9 TFLOPS; HBM3 3.35 TB/s.
#: No measured GEMM figure is published for it: the GEMM entries are the datasheet peaks, an
#: upper bound (experiments show the step across a range of achieved fractions).
H800_COMPUTE = GpuCompute(
    "H800 SXM", {"bf16": 989.4e12, "fp16": 989.4e12, "fp8": 1978.9e12}, 989.4e12, 3.35e12,
    {"gemm:bf16": "NVIDIA H100 SXM datasheet dense peak (upper bound)",
     "gemm:fp8": "NVIDIA H100 SXM datasheet dense peak (upper bound)",
     "peak_bf16": "NVIDIA H100 SXM datasheet; [ISCA] §4.1 (H800 = H100 but FP64, NVLink)",
     "hbm": "NVIDIA H100 SXM datasheet",
     "memory": "NVIDIA H100 SXM datasheet, 80GB HBM3 ([ISCA] §4.1: H800 = H100 but FP64, "
               "NVLink)",
     "sms": "NVIDIA H100 architecture whitepaper, H100 SXM5 (hardware.H800_SXM.sms)"},
    sms=H800_SXM.sms, memory=H800_MEMORY)

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
