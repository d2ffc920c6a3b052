"""Decode steps: one token per sequence, every layer's memory-bound kernels and expert all-to-all.

:func:`run_decode` times one decode iteration (or several in a row) of a model served on a
cluster, as DeepSeek-V3 is served: attention data-parallel (optionally tensor-parallel inside
an attention group), experts spread over an expert-parallel group with DeepEP's low-latency
kernels, and optionally two micro-batches that hide each other's all-to-all.  It builds
compute and communication tasks (:mod:`netemu.collectives.timeline`) and runs them on the
flow model, together with any other jobs (training steps of :mod:`netemu.collectives.step`
or other decode jobs) given to :func:`run_jobs`: their collectives share the fabric.

What one decode iteration is made of
------------------------------------
Every GPU holds ``batch`` sequences (one new token each) whose key/value cache holds
``context`` tokens.  An attention group of ``tp`` GPUs serves ``tp x batch`` sequences;
every GPU dispatches its own ``batch`` tokens to the experts (sequence parallelism, as
DeepSeek-V3's decoding does, arXiv:2412.19437 §3.4.2).  Per layer and micro-batch, on the
GPU's compute stream:

- ``attention``: the projections read their weights once (``weight_bytes`` per parameter,
  split over ``tp``) and do 2 FLOPs per parameter per token; the attention core reads every
  sequence's cache (``context x`` cache elements per token ``x kv_bytes``) -- multi-head
  latent attention keeps one latent of ``kv_lora + qk_rope`` elements per token shared by all
  heads (so tensor parallelism over heads does not split it: each GPU of the group reads the
  cache of all the group's sequences), grouped-query attention keeps ``2 x kv_heads x
  head_dim`` elements split over ``min(tp, kv_heads)``.  Core FLOPs: for MLA the absorbed
  form that decoding kernels compute (FlashMLA: query-key head dim 576, value head dim 512,
  deepseek-ai/FlashMLA README), ``2 ctx heads (kv_lora + qk_rope) + 2 ctx heads kv_lora``
  per token; else ``4 ctx heads head_dim``.  A dense layer's MLP runs here too, and the
  router of an MoE layer.
- tensor parallelism: one all-reduce of the group's activations after attention (and after
  a dense MLP), in line;
- ``dispatch`` (FP8 tokens with their scales), ``experts``, ``combine`` (BF16): the
  all-to-all by ``ep_library`` (``deepep-ll``: DeepEP's low-latency kernels, one RDMA
  message per token per expert with a 16-byte header, no NVLink forwarding, as
  :data:`netemu.collectives.moe.DEEPEP_MODES` describes; ``deepep``: the normal kernels,
  once per target server then NVLink; ``nccl``: one copy per destination rank), on the
  micro-batch's communication stream, while the GPU waits or computes the other
  micro-batch; the experts a GPU holds run as one grouped GEMM reading the weights of every
  expert its tokens hit; the shared experts run on the token's own GPU while its dispatch
  flies (``shared=local``, as DeepEP's low-latency kernels leave the GPU free to compute
  while tokens travel) or count as one more destination of the all-to-all
  (``shared=remote``, [ISCA] §2.3.2's nine experts per token).
- the output head, once per micro-batch after the last layer.

Every kernel is timed by the roofline: ``max(bytes / HBM bandwidth, FLOPs / GEMM rate)``
with the GPU's datasheet figures (:mod:`netemu.topologies.compute`), so small-batch kernels
are memory-bound and large ones compute-bound; a projection, MLP, router, head or grouped
expert GEMM's compute side counts its output tiles in waves over the GPU's SMs
(:mod:`netemu.topologies.gemm_tiles`).  Norms, rotary embeddings, sampling and
kernel launch gaps are not modelled: a decode iteration here is a lower bound on time.
Expert loads come from a seeded draw of the token routing (``token_routing``); all GPUs run
the same program, so the expert GEMM takes the busiest GPU's time (the combine waits for it).

With ``microbatches=2`` the GPU's batch is split in two and its compute stream runs, per
layer, attention of micro-batch 0, attention of micro-batch 1, experts of 0, experts of 1:
the dispatch of one micro-batch flies while the other's attention computes, and its
combine while the other's experts compute -- the two-micro-batch overlap DeepSeek describes
([ISCA] §2.3.2, "dual micro-batch overlap").  Each micro-batch reads the weights again.
What stays exposed is the part of one micro-batch's dispatch the other's experts do not
cover and likewise for the combine, whatever the attention time.  Not modelled: the
five-stage decode pipeline of DeepSeek's production system (attention split in two to
balance the stages) and redundant experts (the model's experts divide evenly over ``ep``).

Outputs
-------
:class:`DecodeResult`: time per output token (TPOT: one iteration, each sequence gains one
token), tokens/s per GPU (``batch / TPOT``) and per user (``1 / TPOT``), the time the GPUs
waited split by what was in flight (``dispatch``, ``combine``, ``tp``, ``bubble``), the
compute time by kernel, and the timeline.

Examples
--------
One MoE layer on two hosts of a fat-tree at 1 GB/s, every token to the other host's expert:
in line, the GPU waits for the whole dispatch and combine (microseconds); with two
micro-batches only the part of the last combine that the output head does not cover:

>>> from netemu.topologies import two_layer_fat_tree
>>> from netemu.topologies.compute import GpuCompute
>>> m = Transformer("tiny", layers=1, hidden=64, heads=4, ffn=0, vocab=100, experts=2,
...                 topk=1, expert_ffn=256, gated=False)
>>> G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=1e9)
>>> gpu = GpuCompute("test", {"bf16": 1e12}, 1e12, 1e11)
>>> for mb in (1, 2):
...     lay = DecodeLayout.parse(f"dp=2,microbatches={mb},ep_library=nccl,"
...                              f"token_routing=balanced")
...     (r,) = run_decode(G, DecodeJob("d", m, lay, batch=8, context=128), gpu=gpu)
...     print(round(r.tpot * 1e6, 4), {k: round(v * 1e6, 4) for k, v in sorted(r.waits.items())})
5.271 {'combine': 1.024, 'dispatch': 0.512}
5.2326 {'combine': 0.384}
"""

from dataclasses import dataclass, field, replace

import numpy as np

from netemu.checks import did_you_mean
from netemu.errors import ParameterError

from .layout import fields_from_dict, parse_fields
from .models import Transformer
from .timeline import Task

__all__ = ["DecodeLayout", "DecodeJob", "DecodeResult", "EP_LIBRARIES", "run_decode",
           "run_jobs", "kernel_times"]

#: How expert tokens move in decoding (see the module notes).
EP_LIBRARIES = ("deepep-ll", "deepep", "nccl")
_SHARED = ("local", "remote")
_TOKEN_ROUTINGS = ("random", "balanced")


@dataclass(frozen=True)
class DecodeLayout:
    """How a served model is split and how its decode iteration runs.

    Attributes
    ----------
    dp, tp : int
        Attention data-parallel groups and GPUs per group (tensor parallelism of attention,
        dense MLPs and the head); the job has ``dp x tp`` GPUs.
    ep : int
        GPUs of an expert-parallel group (consecutive ranks); 0 means all of the job's GPUs.
        It divides ``dp x tp``, and the model's experts divide evenly over it.
    microbatches : int
        1, or 2 for the two-micro-batch overlap.
    ep_library : str
        :data:`EP_LIBRARIES`.
    shared : str
        ``'local'``: shared experts run on the token's GPU; ``'remote'``: they are one more
        destination of the all-to-all.
    token_routing : str
        ``'random'`` (seeded uniform choice of experts) or ``'balanced'`` (every GPU sends and
        receives alike, :func:`netemu.collectives.moe.token_destinations`).
    precision : str
        GEMM precision (a key of the GPU's figures: ``'bf16'``, ``'fp8'`` ...).
    weight_bytes, kv_bytes, act_bytes : float
        Bytes per weight, per cached key/value element, per activation element (TP
        all-reduce).
    dispatch_bytes, combine_bytes : int
        Bytes per element of the expert all-to-all (FP8 dispatch with its 1x128 scales, BF16
        combine, as DeepSeek-V3).
    ep_overhead : float
        Seconds added once to each all-to-all stage (an endpoint's fixed cost).
    """
    dp: int = 1
    tp: int = 1
    ep: int = 0
    microbatches: int = 1
    ep_library: str = "deepep-ll"
    shared: str = "local"
    token_routing: str = "random"
    precision: str = "bf16"
    weight_bytes: float = 2.0
    kv_bytes: float = 2.0
    act_bytes: float = 2.0
    dispatch_bytes: int = 1
    combine_bytes: int = 2
    ep_overhead: float = 0.0

    def __post_init__(self):
        for name in ("dp", "tp", "dispatch_bytes", "combine_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"decode layout {name} must be an integer >= 1, got {v!r}")
        if isinstance(self.ep, bool) or not isinstance(self.ep, int) or self.ep < 0:
            raise ParameterError(f"decode layout ep must be an integer >= 0, got {self.ep!r}")
        if self.microbatches not in (1, 2) or isinstance(self.microbatches, bool):
            raise ParameterError(f"decode layout microbatches must be 1 or 2, got "
                                 f"{self.microbatches!r}")
        if self.ep and self.world % self.ep:
            raise ParameterError(f"decode layout ep={self.ep} must divide dp x tp = "
                                 f"{self.world}")
        for name, allowed in (("ep_library", EP_LIBRARIES), ("shared", _SHARED),
                              ("token_routing", _TOKEN_ROUTINGS)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"decode layout {name} must be one of "
                                     f"{', '.join(allowed)}, got {getattr(self, name)!r}"
                                     + did_you_mean(getattr(self, name), allowed))
        for name in ("weight_bytes", "kv_bytes", "act_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 16:
                raise ParameterError(f"decode layout {name} must be bytes in (0, 16], got {v!r}")
        o = self.ep_overhead
        if isinstance(o, bool) or not isinstance(o, (int, float)) or not 0 <= o < 1:
            raise ParameterError(f"decode layout ep_overhead must be seconds in [0, 1), got "
                                 f"{o!r}")

    @property
    def world(self):
        return self.dp * self.tp

    @property
    def ep_size(self):
        return self.ep or self.world

    @classmethod
    def parse(cls, text):
        """``'dp=256,ep=256,microbatches=2,precision=fp8'`` (``name=value`` joined by commas)."""
        return parse_fields(cls, text, "decode layout", _value)

    @classmethod
    def from_dict(cls, d):
        return fields_from_dict(cls, d, "decode layout")

    def with_(self, **kw):
        return replace(self, **kw)


@dataclass
class DecodeJob:
    """A served model: what it runs, how it is split, its batch and cache, and where.

    Attributes
    ----------
    name : str
    model : Transformer
    layout : DecodeLayout
    batch : int
        Sequences per GPU (each gains one token per iteration).
    context : int
        Tokens in each sequence's key/value cache.
    gpus : list of str or None
        The job's GPUs in rank order (None: placed like training jobs).
    iterations : int
        Decode iterations simulated one after the other (beside other jobs, more of them
        cover more of the others' time); TPOT is their mean.
    """
    name: str
    model: Transformer
    layout: DecodeLayout
    batch: int
    context: int
    gpus: list = None
    iterations: int = 1

    def __post_init__(self):
        if not isinstance(self.model, Transformer):
            raise ParameterError(f"decode job {self.name!r}: model must be a Transformer, got "
                                 f"{type(self.model).__name__}")
        if not isinstance(self.layout, DecodeLayout):
            raise ParameterError(f"decode job {self.name!r}: layout must be a DecodeLayout, "
                                 f"got {type(self.layout).__name__}")
        for k, top in (("batch", 2**20), ("context", 2**30), ("iterations", 10_000)):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= top:
                raise ParameterError(f"decode job {self.name!r}: {k} must be a whole number "
                                     f"in 1..{top:,}, got {v!r}")
        lay, m = self.layout, self.model
        if self.batch % lay.microbatches:
            raise ParameterError(f"decode job {self.name!r}: batch {self.batch} does not split "
                                 f"into {lay.microbatches} micro-batches")
        if m.moe and m.experts % lay.ep_size:
            raise ParameterError(f"decode job {self.name!r}: {m.experts} experts do not spread "
                                 f"evenly over ep={lay.ep_size}")
        if lay.tp > m.heads or m.heads % lay.tp:
            raise ParameterError(f"decode job {self.name!r}: tp={lay.tp} must divide the "
                                 f"model's {m.heads} heads")


@dataclass
class DecodeResult:
    """One decode job's iteration (seconds, tokens/s)."""
    job: str
    gpus: int
    batch: int
    context: int
    tpot: float
    compute_time: float
    kernels: dict
    waits: dict
    weight_bytes_per_gpu: float
    kv_bytes_per_gpu: float
    timeline: object = field(default=None, repr=False)
    task_ids: list = field(default_factory=list, repr=False)
    iterations: int = 1

    @property
    def step_time(self):
        """Seconds of the whole simulated run (``iterations`` decode iterations)."""
        return self.tpot * self.iterations

    @property
    def tokens_per_s_per_gpu(self):
        return self.batch / self.tpot

    @property
    def tokens_per_s_per_user(self):
        return 1.0 / self.tpot

    @property
    def exposed_comm(self):
        """Seconds per iteration the GPUs waited with a collective of the job in flight."""
        return sum(v for k, v in self.waits.items() if k != "bubble")

    def summary(self):
        return (f"{self.job}: TPOT {1e3 * self.tpot:.3g} ms, "
                f"{self.tokens_per_s_per_gpu:.4g} tok/s/GPU")

    def row(self):
        return {"job": self.job, "phase": "decode", "gpus": self.gpus, "batch": self.batch,
                "context": self.context, "tpot_ms": 1e3 * self.tpot,
                "tokens_per_s_per_gpu": self.tokens_per_s_per_gpu,
                "tokens_per_s_per_user": self.tokens_per_s_per_user,
                "compute_ms": 1e3 * self.compute_time,
                "exposed_comm_ms": 1e3 * self.exposed_comm,
                **{f"{k}_ms": 1e3 * v for k, v in sorted(self.kernels.items())},
                **{f"wait_{k}_ms": 1e3 * v for k, v in sorted(self.waits.items())},
                "weights_GB_per_gpu": self.weight_bytes_per_gpu / 1e9,
                "kv_cache_GB_per_gpu": self.kv_bytes_per_gpu / 1e9}


def _value(name, text, default):
    from .layout import _value as layout_value
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ParameterError(f"decode layout {name} must be a number, got {text!r}") from None
    return layout_value(name, text, default)


# -- per-kernel times ------------------------------------------------------------------------

def _roofline(nbytes, flops, gpu, precision, gemms=()):
    # The one roofline of the step model (GpuCompute.kernel_time), argument order of a decode
    # kernel: bytes first, since most of them are bound by their weights or cache reads.
    # ``gemms``: the kernel's GEMM launches ((M, K, N, copies, ...) each, as on one GPU), for
    # tile and wave quantization.
    return gpu.kernel_time("gemm", flops, nbytes, precision, gemms)


def _kv_elems(m):
    """Cached elements per token per layer, and how many ways tensor parallelism splits them."""
    if m.mla:
        return m.kv_lora + m.qk_rope, None
    return 2 * (m.kv_heads or m.heads) * m._hd(), (m.kv_heads or m.heads)


def _core_flops(m, ctx):
    """Attention-core FLOPs of one token over ``ctx`` cached tokens (see the module notes)."""
    if m.mla:
        return 2 * ctx * m.heads * (m.kv_lora + m.qk_rope) + 2 * ctx * m.heads * m.kv_lora
    return 4 * ctx * m.heads * m._hd()


def kernel_times(job, gpu, received=None):
    """Seconds of each kernel of one micro-batch on one GPU, per layer kind.

    Parameters
    ----------
    job : DecodeJob
    gpu : GpuCompute
    received : int, optional
        Expert copies the busiest GPU computes per micro-batch (default: the mean,
        ``batch / microbatches x topk``).

    Returns
    -------
    dict
        ``attention`` (projections + core), ``router``, ``dense_mlp``, ``shared``,
        ``experts`` and ``head``, seconds; ``tp_bytes`` the all-reduce size.
    """
    from netemu.topologies.gemm_tiles import split_gemms
    m, lay = job.model, job.layout
    b = job.batch // lay.microbatches               # this GPU's tokens in the micro-batch
    tp, wb, p = lay.tp, lay.weight_bytes, lay.precision
    attn_params = m._attn_params()
    group_seqs = tp * b
    # The attention group's tp x b tokens through 1/tp of each projection (column-parallel
    # split N, row-parallel K): 2 x attn_params x b FLOPs on each GPU.
    proj = _roofline(attn_params / tp * wb, 2 * attn_params * b, gpu, p,
                     split_gemms(m.attention_gemms(group_seqs), tp))
    elems, heads_kv = _kv_elems(m)
    split = 1 if heads_kv is None else min(tp, heads_kv)
    core = _roofline(group_seqs * job.context * elems * lay.kv_bytes / split,
                     group_seqs * _core_flops(m, job.context) / tp, gpu, p)
    out = {"attention": proj + core, "tp_bytes": group_seqs * m.hidden * lay.act_bytes}
    mlp = m._mlp_params(m.ffn) if m.ffn else 0
    out["dense_mlp"] = _roofline(mlp / tp * wb, 2 * mlp * b, gpu, p,
                                 split_gemms(m.mlp_gemms(group_seqs, m.ffn), tp)) \
        if mlp else 0.0
    out["head"] = _roofline(m.vocab * m.hidden / tp * wb, 2 * m.vocab * m.hidden * b, gpu, p,
                            ((group_seqs, m.hidden, m.vocab / tp),))
    if m.moe:
        e = m._mlp_params(m.expert_ffn)
        out["router"] = _roofline(m.hidden * m.experts * wb, 2 * m.hidden * m.experts * b,
                                  gpu, p, ((b, m.hidden, m.experts),))
        # The shared experts as one MLP of shared x expert_ffn on the GPU's own tokens.
        out["shared"] = (_roofline(m.shared_experts * e * wb, 2 * m.shared_experts * e * b,
                                   gpu, p, m.mlp_gemms(b, m.shared_experts * m.expert_ffn))
                         if m.shared_experts and lay.shared == "local" else 0.0)
        local = m.experts // lay.ep_size
        copies = b * (m.topk + (m.shared_experts if lay.shared == "remote" else 0))
        r = copies if received is None else received
        # Distinct local experts hit by r copies drawn uniformly among them (all of them when
        # each GPU holds one): their weights are read once by the grouped GEMM.
        hit = local * (1 - (1 - 1 / local) ** r) if r else 0.0
        # One grouped GEMM over the hit experts, r / hit token copies each (on average).
        gemms = m.mlp_gemms(r / hit, m.expert_ffn, hit) if r else ()
        out["experts"] = _roofline(hit * e * wb, 2 * e * r, gpu, p, gemms)
    else:
        out["router"] = out["shared"] = out["experts"] = 0.0
    return out


# -- the decode program ----------------------------------------------------------------------

class _DecodeBuilder:
    """Tasks of one decode job: one program stands for all its GPUs (they run alike)."""

    def __init__(self, G, pm, job, gpu, routing, pxn, seed, shares, memo=None):
        self.G, self.pm, self.job, self.gpu = G, pm, job, gpu
        self.routing, self.pxn, self.seed = routing, pxn, seed
        self.shares = shares
        # Phases kept from an earlier run of the same job (see run_jobs), else this run's.
        self.memo = {} if memo is None else memo
        self.ranks = list(job.gpus)
        self.tasks = []

    def add(self, task):
        self.tasks.append(task)
        return len(self.tasks) - 1

    def _ep(self):
        """Dispatch and combine phases of every expert group at once, and the busiest GPU's
        expert copies per micro-batch."""
        if "ep" not in self.memo:
            self.memo["ep"] = self._route_ep()
        return self.memo["ep"]

    def _route_ep(self):
        from .moe import (LOW_LATENCY_HEADER_BYTES, fp8_scale_bytes, moe_dispatch_combine,
                          token_destinations)
        from .step import _merged
        from .workload import Workload
        job, lay, m = self.job, self.job.layout, self.job.model
        n = lay.ep_size
        groups = [self.ranks[k:k + n] for k in range(0, len(self.ranks), n)]
        b = job.batch // lay.microbatches
        ll = lay.ep_library == "deepep-ll"
        # DeepEP sends FP8 tokens with their 1x128 scales; a plain all-to-all moves the
        # elements only.
        scale = fp8_scale_bytes(m.hidden) if lay.dispatch_bytes == 1 and \
            lay.ep_library != "nccl" else 0
        shared = m.shared_experts if lay.shared == "remote" else 0
        # The normal kernels are built around node-limited routing (a token on at most
        # ``node_limit`` servers, as in training); the low-latency ones send a message per
        # expert wherever it is (DeepEP's test_low_latency.py draws top-k of all experts).
        limit = (m.node_limit or None) if lay.ep_library == "deepep" else None
        # The routing is drawn once, on the first group, and carried to the others rank by
        # rank (their GPUs are alike): the same pattern of bytes on their own GPUs.
        w0 = moe_dispatch_combine(
            self.pm, groups[0], tokens=b, hidden=m.hidden, topk=m.topk, shared=shared,
            experts_per_gpu=m.experts // n, node_limit=limit, routing=lay.token_routing,
            forward=lay.ep_library == "deepep", per_expert=ll,
            dispatch_bytes=lay.dispatch_bytes, combine_bytes=lay.combine_bytes,
            scale_bytes=scale, header_bytes=LOW_LATENCY_HEADER_BYTES if ll else 0,
            overhead=lay.ep_overhead, seed=self.seed)
        ws = []
        for g in groups:
            to = dict(zip(groups[0], g))
            stages = [type(st)(st.name, [(to[u], to[v], a) for u, v, a in st.transfers],
                               mode=st.mode, step_overhead=st.step_overhead)
                      for st in w0.stages]
            ws.append(Workload(w0.collective, w0.algorithm, g, w0.size, stages, w0.info))
        phases = _merged(self.pm, ws, shares_of=self.shares)
        # Copies each GPU computes: every selection sent to it, its own included (the same
        # seeded draw as the all-to-all's).
        dests = token_destinations(groups[0], tokens=b, topk=m.topk, shared=shared,
                                   experts_per_gpu=m.experts // n, node_limit=limit,
                                   routing=lay.token_routing, seed=self.seed)
        recv = np.bincount(np.concatenate([d.ravel() for d in dests]), minlength=n)
        return phases, int(recv.max())

    def _tp(self, size):
        key = ("tp", size)
        if key not in self.memo:
            self.memo[key] = self._route_tp(size)
        return self.memo[key]

    def _route_tp(self, size):
        from .step import _collective, _merged
        lay = self.job.layout
        groups = [self.ranks[d * lay.tp:(d + 1) * lay.tp] for d in range(lay.dp)]
        ws = _collective(self.G, self.pm, "allreduce", "nccl", groups, size, self.routing,
                         self.pxn, self.seed)
        return _merged(self.pm, ws, shares_of=self.shares)

    def build(self):
        job, lay, m = self.job, self.job.layout, self.job.model
        name = job.name
        gpu_s = f"{name}/s0/gpu"
        moe_here = m.moe and lay.ep_size > 1
        ep_phases, received = self._ep() if moe_here else (None, None)
        k = kernel_times(job, self.gpu, received)
        self.kernels = k
        tp_phases = self._tp(k["tp_bytes"]) if lay.tp > 1 else None
        mbs = range(lay.microbatches)
        last = {i: None for i in mbs}            # each micro-batch's last task
        busy = {}

        def compute(label, dur, i, deps, kind):
            busy[kind] = busy.get(kind, 0.0) + dur
            t = self.add(Task(f"{name} {label} mb{i}", gpu_s, duration=dur, deps=deps,
                              group="s0"))
            if tp_phases and kind in ("attention", "dense_mlp"):
                t = self.add(Task(f"{name} {label} tp mb{i}", gpu_s, phases=tp_phases,
                                  deps=[t], tag="tp", group="s0"))
            return t

        def comm(label, phases, i, dep, tag):
            return self.add(Task(f"{name} {label} mb{i}", f"{name}/s0/mb{i}",
                                 phases=[phases], deps=[dep], tag=tag, group="s0"))

        for it in range(job.iterations):
            for layer in range(m.layers):
                moe = m.is_moe_layer(layer)
                for i in mbs:
                    deps = [last[i]] if last[i] is not None else []
                    t = compute(f"it{it} L{layer} attention", k["attention"], i, deps,
                                "attention")
                    if not moe:
                        t = compute(f"it{it} L{layer} mlp", k["dense_mlp"], i, [t],
                                    "dense_mlp")
                    elif k["router"]:
                        t = compute(f"it{it} L{layer} router", k["router"], i, [t], "router")
                    last[i] = t
                if not moe:
                    continue
                if not moe_here:
                    for i in mbs:
                        last[i] = compute(f"it{it} L{layer} experts",
                                          k["shared"] + k["experts"], i, [last[i]], "experts")
                    continue
                disp = {i: comm(f"it{it} L{layer} dispatch", ep_phases[0], i, last[i],
                                "dispatch") for i in mbs}
                for i in mbs:
                    if k["shared"]:
                        compute(f"it{it} L{layer} shared", k["shared"], i, [], "shared")
                    e = compute(f"it{it} L{layer} experts", k["experts"], i, [disp[i]],
                                "experts")
                    last[i] = comm(f"it{it} L{layer} combine", ep_phases[1], i, e, "combine")
            for i in mbs:
                last[i] = compute(f"it{it} head", k["head"], i, [last[i]], "head")
        self.busy = {kk: v / job.iterations for kk, v in busy.items()}
        return self.tasks


# -- running ---------------------------------------------------------------------------------

def _weights_per_gpu(job):
    m, lay = job.model, job.layout
    dense = sum(m.dense_params(i) for i in range(m.layers)) + m.embedding_params()
    if m.moe:
        shared = m.shared_experts * m._mlp_params(m.expert_ffn) * m.moe_layers
        dense -= shared                             # replicated, not split over tp
    else:
        shared = 0
    experts = sum(m.expert_params(i) for i in range(m.layers)) / lay.ep_size
    return (dense / lay.tp + shared + experts) * lay.weight_bytes


def _kv_per_gpu(job):
    m, lay = job.model, job.layout
    elems, heads_kv = _kv_elems(m)
    split = 1 if heads_kv is None else min(lay.tp, heads_kv)
    return lay.tp * job.batch * job.context * elems * lay.kv_bytes * m.layers / split


def run_decode(G, jobs, *, routing="dmodk", pxn=True, seed=0, gpu=None, placement="packed"):
    """Run decode jobs (one, or a list) on cluster ``G``; see :func:`run_jobs`."""
    if isinstance(jobs, DecodeJob):
        jobs = [jobs]
    return run_jobs(G, jobs, routing=routing, pxn=pxn, seed=seed, gpu=gpu, placement=placement)


def run_jobs(G, jobs, *, routing="dmodk", pxn=True, seed=0, gpu=None, placement="packed"):
    """Run training jobs (:class:`~netemu.collectives.step.Job`) and decode jobs
    (:class:`DecodeJob`) at once on cluster ``G``: every collective of every job shares the
    fabric.

    Returns
    -------
    list of StepResult or DecodeResult, one per job, in order.
    """
    from netemu.policies import DModK, Spray

    from .step import (Job, _Builder, _comm_memo, _place_all, _run_builders, _Shares,
                       _step_result, _waits, run_step)
    from .workload import path_model
    jobs = list(jobs)
    if not jobs:
        raise ParameterError("run_jobs needs at least one job")
    for j in jobs:
        if not isinstance(j, (Job, DecodeJob)):
            raise ParameterError(f"a job is a step.Job or a DecodeJob, got {type(j).__name__}")
    if all(isinstance(j, Job) for j in jobs):
        return run_step(G, jobs, routing=routing, pxn=pxn, seed=seed, gpu=gpu,
                        placement=placement)
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ParameterError(f"job names must differ, got {names}")
    if gpu is None:
        from netemu.topologies.compute import gpu_compute
        gpu = gpu_compute(G)
    _place_all(G, jobs, placement)
    pm = path_model(G, routing, pxn=pxn, seed=seed)
    shares = _Shares(pm)
    # A decode job's phases are kept per process (step._comm_memo) when they cannot depend
    # on the other jobs: it runs alone, or its policy routes each transfer by its two ends
    # only (hashed ECMP's port numbers and adaptive routing's placed load depend on which
    # transfers are routed together, and the jobs of one run share their routing calls).
    alone = len(jobs) == 1 or type(pm.policy) in (DModK, Spray)
    builders = (_DecodeBuilder(G, pm, j, gpu, routing, pxn, seed, shares,
                               _comm_memo(pm, j, ("decode", j.batch)) if alone else None)
                if isinstance(j, DecodeJob) else
                _Builder(G, pm, j, list(j.gpus), gpu, routing, pxn, seed, {"shares": shares})
                for j in jobs)
    tl, spans, built = _run_builders(pm, builders)
    out = []
    for j, span, b in zip(jobs, spans, built):
        if not isinstance(j, DecodeJob):
            out.append(_step_result(j, span, b, tl, gpu))
            continue
        end = float(tl.end[list(span)].max())
        waits = {k: v / j.iterations for k, v in _waits(tl, span, 1, j.name, end).items()}
        out.append(DecodeResult(j.name, j.layout.world, j.batch, j.context, end / j.iterations,
                                sum(b.busy.values()), dict(b.busy), waits, _weights_per_gpu(j),
                                _kv_per_gpu(j), tl, list(span), j.iterations))
    return out
