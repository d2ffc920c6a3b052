"""A job's parallel layout: data, tensor, pipeline and expert parallelism, and how it syncs.

``Layout.parse("dp=16,pp=4")`` reads the command line's form; every field can be given in a
workload file's ``layout`` table too.  Ranks are numbered with tensor parallelism innermost,
then data parallelism, then pipeline stages (Megatron-LM's order): rank
``r = stage * dp * tp + d * tp + t``, so a stage fills whole servers and the GPUs of a server
sit in different data-parallel ranks when ``tp = 1`` (as HaiScale places them, [FF] §V-B2).
Expert-parallel groups are ``ep`` consecutive data-parallel ranks of one stage.

Examples
--------
>>> lay = Layout.parse("dp=4,tp=2,pp=2")
>>> lay.world, lay.rank(1, 3, 1)
(16, 15)
"""

from dataclasses import dataclass, fields, replace

from netemu.checks import did_you_mean
from netemu.errors import ParameterError

__all__ = ["Layout", "DP_LIBRARIES", "EP_LIBRARIES", "SCHEDULES"]

#: How data-parallel gradients are summed: NCCL-style (ring or tree as NCCL's cost model picks),
#: HFReduce through host memory and the CPU, or HFReduce with the NVLink-bridge pairs.
DP_LIBRARIES = ("nccl", "hfreduce", "hfreduce-nvlink")
#: How expert-parallel tokens move: DeepEP (one network crossing per target server, then
#: NVLink) or plain NCCL all-to-all (every copy over the network).
EP_LIBRARIES = ("deepep", "nccl")
#: Pipeline schedules: one-forward-one-backward (PipeDream-flush / Megatron's 1F1B).
SCHEDULES = ("1f1b",)

#: PyTorch DistributedDataParallel's default gradient bucket, ``bucket_cap_mb=25`` (torch.nn.
#: parallel.DistributedDataParallel documentation): gradients are summed bucket by bucket as
#: the backward pass produces them.
DDP_BUCKET = 25 * 2**20


@dataclass(frozen=True)
class Layout:
    """Parallelism and synchronisation of one job.

    Attributes
    ----------
    dp, tp, pp, ep : int
        Data, tensor, pipeline and expert parallel degrees; ``ep`` divides ``dp``.
    zero : int
        0: gradients all-reduced (DDP); 1 or 2: reduce-scattered, then the updated parameter
        shards all-gathered (ZeRO-1/2); 3: parameters all-gathered before every forward and
        backward and gradients reduce-scattered after it (ZeRO-3 / FSDP).
    microbatch : int
        Sequences per micro-batch.
    dp_library, ep_library : str
        See :data:`DP_LIBRARIES`, :data:`EP_LIBRARIES`.
    schedule : str
    overlap_dp : bool
        Sum gradient buckets while the backward pass goes on (DDP), else after it.
    overlap_ep : bool
        Run each micro-batch's expert all-to-all beside its compute (DualPipe-style overlap of
        one micro-batch's communication with another's computation) rather than in line.
    recompute : bool
        Recompute activations in the backward pass (one more forward).
    stagger_pp : bool
        The data-parallel ranks that share a server run their pipelines offset in time, so
        that their pipeline sends do not meet on the server's NIC: HaiScale's rule, "the 8
        GPUs of a node are placed in different DP ranks so their PP sends happen at
        different times" ([FF] §V-B2).  A send is then priced as one rank's send per server.
    bucket : float
        Gradient bucket bytes.
    precision : str
        GEMM precision of the compute (``'bf16'``, ``'fp16'``, ``'fp8'``, ``'tf32'``).
    grad_bytes : int
        Bytes per gradient element as the data-parallel collectives move it.  Default 4: the
        FP32 accumulator's own width, since the collectives sum the buffer the micro-batches
        accumulate into (Megatron-LM's ``accumulate_allreduce_grads_in_fp32``, which its BF16
        training turns on: "bfloat16 requires gradient accumulation and all-reduce to be done
        in fp32", megatron/training/arguments.py).  Set 2 for a reduction in BF16/FP16.
    act_bytes : int
        Bytes per activation element (and per weight of the working copy).
    grad_accum_bytes : int
        Bytes per element of the gradient accumulator the weight-gradient GEMMs add every
        micro-batch into: each such kernel reads and writes it (Megatron-LM's fused
        accumulation into a zeroed ``main_grad``), so it moves ``2 x grad_accum_bytes`` per
        weight.  Default 4: FP32, as DeepSeek's training keeps "gradients (used for batch
        size accumulation)" (DeepSeek-V3 technical report, arXiv:2412.19437 §3.3) and
        Megatron-LM's FP16/BF16 training its ``main_grad``.
    dispatch_bytes, combine_bytes : int
        Bytes per element of the expert all-to-all (DeepSeek-V3: FP8 dispatch, BF16 combine).
    """
    dp: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    zero: int = 0
    microbatch: int = 1
    dp_library: str = "nccl"
    ep_library: str = "deepep"
    schedule: str = "1f1b"
    overlap_dp: bool = True
    overlap_ep: bool = False
    recompute: bool = False
    stagger_pp: bool = False
    bucket: float = DDP_BUCKET
    precision: str = "bf16"
    grad_bytes: int = 4
    act_bytes: int = 2
    grad_accum_bytes: int = 4
    dispatch_bytes: int = 2
    combine_bytes: int = 2

    def __post_init__(self):
        for name in ("dp", "tp", "pp", "ep", "microbatch", "grad_bytes", "act_bytes",
                     "grad_accum_bytes", "dispatch_bytes", "combine_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"layout {name} must be an integer >= 1, got {v!r}")
        if self.zero not in (0, 1, 2, 3):
            raise ParameterError(f"layout zero must be 0, 1, 2 or 3, got {self.zero!r}")
        if self.dp % self.ep:
            raise ParameterError(f"layout ep={self.ep} must divide dp={self.dp} (expert groups "
                                 f"are made of data-parallel ranks)")
        for name, allowed in (("dp_library", DP_LIBRARIES), ("ep_library", EP_LIBRARIES),
                              ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"layout {name} must be one of {', '.join(allowed)}, got "
                                     f"{getattr(self, name)!r}"
                                     + did_you_mean(getattr(self, name), allowed))
        for name in ("overlap_dp", "overlap_ep", "recompute", "stagger_pp"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"layout {name} must be true or false, got "
                                     f"{getattr(self, name)!r}")
        if isinstance(self.bucket, bool) or not isinstance(self.bucket, (int, float)) \
                or not 0 < self.bucket < 2**50:
            raise ParameterError(f"layout bucket must be bytes > 0, got {self.bucket!r}")

    @property
    def world(self):
        return self.dp * self.tp * self.pp

    def rank(self, stage, d, t):
        """Rank index of (pipeline stage, data-parallel index, tensor-parallel index)."""
        return stage * self.dp * self.tp + d * self.tp + t

    @classmethod
    def parse(cls, text, **extra):
        """``'dp=16,tp=1,pp=4,ep=1'`` (any fields, ``name=value`` joined by commas)."""
        return parse_fields(cls, text, "layout", _value, extra)

    @classmethod
    def from_dict(cls, d):
        return fields_from_dict(cls, d, "layout")

    def with_(self, **kw):
        return replace(self, **kw)


def parse_fields(cls, text, what, value, extra=None):
    """``cls(**fields)`` from ``'name=value,...'``: every name a field of the dataclass
    ``cls``, each value read by ``value(name, text, default)``; ``what`` names it in errors."""
    kw = dict(extra or {})
    known = {f.name: f for f in fields(cls)}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, text_value = part.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise ParameterError(f"{what} item {part!r} is not NAME=VALUE with NAME one of "
                                 f"{', '.join(known)}" + did_you_mean(name, list(known)))
        kw[name] = value(name, text_value.strip(), known[name].default)
    return cls(**kw)


def check_fields(cls, d, what):
    """ParameterError unless ``d`` is a table (a workload file's) whose keys are all fields
    of the dataclass ``cls``, naming the unknown ones, the allowed ones and the nearest."""
    if not isinstance(d, dict):
        raise ParameterError(f"a {what} is a table of fields, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    bad = set(d) - known
    if bad:
        raise ParameterError(f"unknown {what} field(s) {sorted(bad)}; allowed: "
                             f"{', '.join(sorted(known))}"
                             + "".join(did_you_mean(k, sorted(known)) for k in sorted(bad)))


def fields_from_dict(cls, d, what):
    """``cls(**d)`` for a table (a workload file's) whose keys must all be fields of ``cls``."""
    check_fields(cls, d, what)
    return cls(**d)


def _value(name, text, default):
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ParameterError(f"layout {name} must be true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ParameterError(f"layout {name} must be a whole number, got {text!r}") from None
    if isinstance(default, float):
        from netemu.units import parse_size
        return float(parse_size(text))
    return text
