"""A training step of a model on a cluster, with every collective on the real fabric at once.

:func:`run_step` turns jobs -- a :class:`~netemu.collectives.models.Transformer`, a
:class:`~netemu.collectives.layout.Layout`, a sequence length and a global batch, on a set
of GPUs -- into compute and communication tasks (:mod:`netemu.collectives.timeline`) and
runs them together, so data-parallel gradient sums, expert all-to-alls, tensor-parallel
all-reduces and pipeline sends contend wherever they share a link, a NIC or host memory,
within a job and between jobs.

What a step is made of
----------------------
Per pipeline stage ``s`` (every GPU that holds stage ``s``'s layers runs the same program,
so one program per stage stands for all of them) and micro-batch ``i``:

- ``F(s, i)``: forward compute, every kernel of the stage's layers
  (:meth:`~netemu.collectives.models.Transformer.layer_ops`: GEMMs, fused attention at its
  causal half as FlashAttention computes it, normalisations, activations, token permutation,
  the loss) timed by the GPU's roofline, max(FLOPs / GEMM rate, bytes / memory bandwidth)
  (:meth:`~netemu.topologies.compute.GpuCompute.kernel_time`; a GEMM's FLOPs counted in
  output tiles and waves over the GPU's SMs, :mod:`netemu.topologies.gemm_tiles`), the
  tensor-parallel ones divided by ``tp``; ``B(s, i)`` the backward kernels (plus the forward again with
  recomputation): FlashAttention's backward recomputing the scores (2.5x its forward FLOPs),
  each GEMM's input and weight gradients as two kernels, the weight gradient reading and
  writing the gradient accumulator (``Layout.grad_accum_bytes``, FP32 by default).  ``compute="gemm"`` times GEMM FLOPs alone at the GEMM rate, the backward
  at twice the forward.  A :class:`~netemu.collectives.models.ConvNet` (VGG) is priced the
  same way, one image a sample, data parallel only.
- tensor parallelism: two all-reduces of the micro-batch's activations per layer in each
  direction (Megatron-LM's f and g operators), in line with the compute;
- expert parallelism: dispatch and combine per MoE layer (DeepEP's node-limited transport or
  plain all-to-all, :func:`~netemu.collectives.moe.moe_dispatch_combine`), in line, or beside
  the compute with ``overlap_ep`` (the micro-batch ends when both have); the routing is a
  seeded draw, and the experts' compute is the busiest GPU's share of it (the combine waits
  for that GPU), as in the decode model;
- pipeline parallelism: the activations go to the next stage after ``F`` and their gradients
  back after ``B``, on streams of their own, in the 1F1B order (warm-up forwards, then one
  forward one backward, then the remaining backwards);
- data parallelism: the last backward fills gradient buckets layer by layer in reverse
  order (PyTorch DDP's ``bucket_cap_mb`` buckets); once a bucket's last layer is done
  (``overlap_dp``), it is summed across the stage's data-parallel ranks by the layout's
  library; routed-expert gradients among the ranks that hold the same experts; ZeRO-1/2
  reduce-scatter (HFReduce, which has no reduce-scatter: its allreduce, each rank keeping
  its shard), then all-gather the updated shards; ZeRO-3 (FSDP) treats every layer as a
  unit: its parameters are all-gathered before its forward and its backward (the next
  unit's gather while this one computes, at most two units gathered), its gradients reduced
  after its backward (NCCL reduce-scatter, or the layout's allreduce library when that is
  HFReduce);
- the optimizer: Adam with FP32 master weights touches 30 bytes of GPU memory per local
  parameter (read master, gradient, two moments; write master, moments and the BF16 copy:
  Micikevicius et al., Mixed Precision Training, ICLR 2018), at the GPU's memory bandwidth.

Every collective is built by :mod:`netemu.collectives` on the GPUs it really runs on and
routed by the one path model, so its bytes land on the same resources as ``netemu bench``'s.

Outputs
-------
:class:`StepResult` per job: step time, tokens/s, MFU against the BF16 peak (causal and
non-causal FLOPs), the compute time of a stage, and the time the stages' GPUs waited,
split by what was in flight while they waited (``dp``, ``ep``, ``tp``, ``pp`` or
``bubble`` when nothing of theirs was).
"""

from dataclasses import dataclass, field

import numpy as np

from netemu.errors import ParameterError

from .layout import Layout
from .models import ConvNet, Transformer
from .timeline import Phase, Task, simulate

__all__ = ["Job", "StepResult", "run_step", "place", "PLACEMENTS", "ADAM_BYTES_PER_PARAM",
           "ADAM_STATE_BYTES", "COMPUTE_MODELS"]

#: GPU memory bytes Adam touches per parameter with FP32 master weights and moments and a BF16
#: working copy: read 4+4+4+4 (master, gradient, m, v), write 4+4+4+2 (Micikevicius et al.,
#: "Mixed Precision Training", ICLR 2018, for the FP32 master copy; Adam's two moments).
ADAM_BYTES_PER_PARAM = 30
#: GPU memory bytes Adam's state holds per parameter: FP32 master weights, first and second
#: moments (Micikevicius et al., ICLR 2018; Kingma & Ba, ICLR 2015), 4 bytes each.
ADAM_STATE_BYTES = 12
#: Placement policies for several jobs: ``packed`` gives each job the next free servers in
#: order; ``interleaved`` deals servers to the jobs in turn, so their traffic meets on leaves.
PLACEMENTS = ("packed", "interleaved")
#: How compute is timed: every kernel by the GPU's roofline, or GEMM FLOPs at the
#: matrix-multiply rate alone (the model before memory-bound work was counted).
COMPUTE_MODELS = ("roofline", "gemm")


@dataclass
class Job:
    """One training job: what it trains, how it is split, and where it runs.

    Attributes
    ----------
    name : str
    model : Transformer or ConvNet
    layout : Layout
    seq : int
        Sequence length, tokens (1 for a :class:`ConvNet`: a sample is an image).
    batch : int
        Global batch, sequences (images) per step.
    gpus : list of str or None
        The job's GPUs in rank order (None: placed by :func:`run_step`).
    """
    name: str
    model: Transformer
    layout: Layout
    seq: int
    batch: int
    gpus: list = None

    def __post_init__(self):
        if not isinstance(self.model, (Transformer, ConvNet)):
            raise ParameterError(f"job {self.name!r}: model must be a Transformer or a "
                                 f"ConvNet, got {type(self.model).__name__}")
        if not isinstance(self.layout, Layout):
            raise ParameterError(f"job {self.name!r}: layout must be a Layout, got "
                                 f"{type(self.layout).__name__}")
        for k in ("seq", "batch"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**40:
                raise ParameterError(f"job {self.name!r}: {k} must be a whole number >= 1, "
                                     f"got {v!r}")
        lay = self.layout
        if isinstance(self.model, ConvNet):
            if self.seq != 1:
                raise ParameterError(f"job {self.name!r}: a convolutional network's sample is "
                                     f"one image, so seq must be 1, got {self.seq}")
            if (lay.tp, lay.pp, lay.ep) != (1, 1, 1):
                raise ParameterError(f"job {self.name!r}: a convolutional network runs data "
                                     f"parallel only (tp = pp = ep = 1), got tp={lay.tp}, "
                                     f"pp={lay.pp}, ep={lay.ep}")
        if self.batch % (lay.dp * lay.microbatch):
            raise ParameterError(f"job {self.name!r}: batch {self.batch} is not a multiple of "
                                 f"dp x microbatch = {lay.dp} x {lay.microbatch}")
        if lay.pp > self.model.layers:
            raise ParameterError(f"job {self.name!r}: pp={lay.pp} is more than the model's "
                                 f"{self.model.layers} layers")
        if self.model.moe and lay.ep > 1 and self.model.experts % lay.ep:
            raise ParameterError(f"job {self.name!r}: {self.model.experts} experts do not "
                                 f"spread evenly over ep={lay.ep}")

    @property
    def microbatches(self):
        return self.batch // (self.layout.dp * self.layout.microbatch)

    @property
    def tokens(self):
        return self.batch * self.seq


@dataclass
class StepResult:
    """One job's step (seconds, tokens/s, fractions)."""
    job: str
    gpus: int
    step_time: float
    tokens: int
    model_flops: float
    model_flops_noncausal: float
    peak: float
    compute_time: float
    waits: dict
    timeline: object = field(default=None, repr=False)
    task_ids: list = field(default_factory=list, repr=False)
    simulated_microbatches: int = 0
    #: GPU memory of the job's fullest GPU, bytes by part (``weights``, ``gradients``,
    #: ``optimizer``, ``activations``, ``total``; ``stage``: its pipeline stage); see
    #: :meth:`_Builder._memory`.
    memory: dict = field(default_factory=dict)
    #: The GPU's memory, bytes (0: unknown).
    memory_capacity: float = 0.0

    @property
    def fits(self):
        """Whether the fullest GPU's memory holds the step (None when the GPU's size is
        unknown)."""
        if not self.memory_capacity or not self.memory:
            return None
        return self.memory["total"] <= self.memory_capacity

    @property
    def tokens_per_s(self):
        return self.tokens / self.step_time

    @property
    def mfu(self):
        """Model FLOPs (causal attention) / (step time x GPUs x BF16 peak)."""
        return self.model_flops / (self.step_time * self.gpus * self.peak)

    @property
    def mfu_noncausal(self):
        return self.model_flops_noncausal / (self.step_time * self.gpus * self.peak)

    @property
    def exposed_comm(self):
        """Waiting time of the GPUs with a collective of the job in flight (s)."""
        return sum(v for k, v in self.waits.items() if k != "bubble")

    def row(self):
        return {"job": self.job, "gpus": self.gpus, "step_time_s": self.step_time,
                "tokens_per_s": self.tokens_per_s, "mfu": self.mfu,
                "mfu_noncausal": self.mfu_noncausal, "compute_s": self.compute_time,
                **{f"wait_{k}_s": v for k, v in sorted(self.waits.items())},
                "memory_GiB": self.memory.get("total", 0.0) / 2**30,
                "fits": "" if self.fits is None else self.fits}


# -- placement -----------------------------------------------------------------------------------

def place(G, sizes, policy="packed"):
    """GPU lists for jobs of ``sizes`` GPUs: whole servers, by ``policy`` (:data:`PLACEMENTS`)."""
    from .ranks import by_server, cluster_gpus
    if policy not in PLACEMENTS:
        raise ParameterError(f"placement policy must be one of {', '.join(PLACEMENTS)}, got "
                             f"{policy!r}")
    servers = [m for _, m in by_server(cluster_gpus(G))]
    per = len(servers[0]) if servers else 0
    need = []
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(f"a job's GPU count must be a whole number >= 1, got {n!r}")
        need.append(-(-n // per))
    if sum(need) > len(servers):
        raise ParameterError(f"jobs of {list(sizes)} GPUs need {sum(need)} servers of {per} "
                             f"GPUs; the cluster has {len(servers)}")
    if policy == "packed":
        out, k = [], 0
        for n, c in zip(sizes, need):
            out.append([g for s in servers[k:k + c] for g in s][:n])
            k += c
        return out
    got = [[] for _ in sizes]
    k = 0
    while any(len(g) < c for g, c in zip(got, need)):
        for j, c in enumerate(need):
            if len(got[j]) < c:
                got[j].append(servers[k])
                k += 1
    return [[g for s in srv for g in s][:n] for srv, n in zip(got, sizes)]


# -- phases of collectives -----------------------------------------------------------------------

class _Shares:
    """The path model's shares, asked for in batches and kept (a route call has a fixed cost
    per call on a large cluster, so one call for many transfers beats many calls)."""

    def __init__(self, pm):
        self.pm, self.cache = pm, {}

    def __call__(self, pairs):
        missing = list(dict.fromkeys(p for p in pairs if p not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.pm.shares(missing)))
        return [self.cache[p] for p in pairs]


#: Jobs whose routed communication a process keeps (see :func:`_comm_memo`); a 2,048-GPU
#: DeepSeek-V3 job's is about 40 MB (measured, its shares included), so a handful.
COMM_CACHE_JOBS = 4
_COMM = {}


def _comm_memo(pm, job, what=None):
    """The routed communication of ``job`` on path model ``pm`` (its phases, and the shares
    they were summed from), kept per process for the points of a sweep that differ only in
    how compute is timed.

    What a job's collectives move and where depends on the path model (graph, routing,
    PXN, seed) and on the job's model, layout, sequence length and GPUs, never on the GPU's
    compute speed or on the number of micro-batches (the collectives of a micro-batch are
    the same whichever its index; :func:`run_step`'s shortened runs share them), so those
    are the key.  The path model stands for the graph: :func:`~netemu.collectives.workload.path_model`
    gives a new one when the graph was changed in place (it checks a fingerprint of the
    graph), and the key holds the model itself and that fingerprint, so an entry is never
    served for another or a changed graph.  At most :data:`COMM_CACHE_JOBS` jobs are kept,
    the least recently used dropped first.  ``what`` replaces the job's sequence length in
    the key for jobs of another kind (a decode job: its batch).
    """
    key = (id(pm), getattr(pm, "_fingerprint", None), pm.spec.key(), type(job).__name__,
           job.model, job.layout, job.seq if what is None else what, tuple(job.gpus))
    try:
        hash(key)
    except TypeError:
        return {}                     # a model or policy that cannot be a key: not kept
    hit = _COMM.pop(key, None)
    if hit is None or hit[0] is not pm:
        hit = (pm, {})
    _COMM[key] = hit                 # most recently used last
    while len(_COMM) > COMM_CACHE_JOBS:
        del _COMM[next(iter(_COMM))]
    return hit[1]


def clear_caches():
    """Forget every job's routed communication kept by :func:`_comm_memo`."""
    _COMM.clear()


def _stage_phase(pm, st, S, scale=1.0, shares_of=None):
    """The :class:`Phase` of a workload stage of size ``S`` repeated ``scale`` times in a row."""
    shares_of = shares_of or pm.shares
    shares = shares_of([(u, v) for u, v, _ in st.transfers])
    load = _load(st.transfers, shares)
    for spec, amount in st.work:
        r = pm.extra(*spec) if isinstance(spec, tuple) else pm.res.node(spec)
        load[r] = load.get(r, 0.0) + amount
    if st.mode == "pipeline":
        chain = shares_of(st.chain) if st.chain else []
        alpha = sum(pm.latency(sh) for sh in chain) + _overhead(pm, st, chain)
        work = S + (max(len(chain), 1) - 1) * st.chunk
    else:
        alpha = pm.max_latency(shares) + (
            st.step_overhead if not isinstance(st.step_overhead, dict) else 0.0)
        work = S
    return load, work * scale, alpha * scale


def _load(transfers, shares):
    """``{resource: sum of amount x share}`` over ``transfers`` and their ``shares``, summed
    transfer by transfer in order (so the same floating-point sums whichever way), resources
    in order of first appearance.

    A large all-to-all (a quarter of a million messages) is summed as arrays: the routes'
    resources and shares laid end to end, then one ordered bincount.
    """
    if len(transfers) < 512:
        load = {}
        for (_, _, amount), sh in zip(transfers, shares):
            for r, x in sh.items():
                load[r] = load.get(r, 0.0) + amount * x
        return load
    sizes = [len(sh) for sh in shares]
    n = sum(sizes)
    cols = np.fromiter((r for sh in shares for r in sh), dtype=np.int64, count=n)
    vals = np.fromiter((x for sh in shares for x in sh.values()), dtype=np.float64, count=n)
    w = np.repeat(np.fromiter((a for _, _, a in transfers), dtype=np.float64,
                              count=len(transfers)), sizes) * vals
    total = np.bincount(cols, weights=w)
    keys, first = np.unique(cols, return_index=True)
    keys = keys[np.argsort(first)]
    return dict(zip(keys.tolist(), total[keys].tolist()))


def _overhead(pm, st, chain_shares):
    """The stage's software latency (as :func:`~netemu.collectives.workload.evaluate` charges
    it), from the chain's shares already at hand."""
    from .workload import _hop_kind
    o = st.step_overhead
    if not isinstance(o, dict):
        return len(st.chain) * float(o)
    return o.get("base", 0.0) + sum(o[_hop_kind(pm, u, v, sh)]
                                    for (u, v), sh in zip(st.chain, chain_shares))


def _merged(pm, workloads, scale=1.0, stages=None, shares_of=None):
    """One phase per workload stage, summed over ``workloads`` (alike collectives on disjoint
    groups that run together): loads add up, latency is the largest."""
    if not workloads:
        return []
    if isinstance(shares_of, _Shares):
        # One routing call for every transfer and chain hop of the merge.
        shares_of([(u, v) for w in workloads for st in w.stages
                   for u, v in [(a, b) for a, b, _ in st.transfers] + list(st.chain)])
    out = []
    idx = range(len(workloads[0].stages)) if stages is None else stages
    for k in idx:
        load, work, alpha = {}, 0.0, 0.0
        for w in workloads:
            l, wk, a = _stage_phase(pm, w.stages[k], w.size, scale, shares_of)
            # Loads are per byte of the group's own S; groups of a merge share one S.
            for r, s in l.items():
                load[r] = load.get(r, 0.0) + s
            work, alpha = max(work, wk), max(alpha, a)
        out.append(Phase(load, work, alpha))
    return out


def _collective(G, pm, kind, algorithm, groups, size, routing, pxn, seed):
    """Workloads of ``kind`` by ``algorithm`` on each group of two or more GPUs (the path
    model ``pm`` is the job's).  ``'nccl'`` picks as :func:`netemu.collectives.run` does, on
    the first group; the others of the same size and server count run the same (the groups
    of one stage are alike)."""
    from . import ALGORITHMS, _nccl
    from .ranks import by_server
    out, chosen = [], {}
    for g in (list(g) for g in groups if len(g) > 1):
        if algorithm != "nccl":
            out.append(ALGORITHMS[kind][algorithm](pm, g, size))
            continue
        shape = (len(g), len(by_server(g)))
        if shape not in chosen:
            w = _nccl(G, pm, kind, g, size, routing, seed)
            chosen[shape] = w.algorithm if "nccl_choice" not in w.info else w.info["nccl_choice"]
            out.append(w)
            continue
        algo = chosen[shape]
        w = (ALGORITHMS[kind][algo] if algo in ALGORITHMS[kind] else
             ALGORITHMS[kind]["ring"])(pm, g, size)
        out.append(w)
    return out


# -- one job's tasks -------------------------------------------------------------------------------

class _Builder:
    def __init__(self, G, pm, job, ranks, compute, routing, pxn, seed, memo=None,
                 compute_model="roofline"):
        self.G, self.pm, self.job, self.ranks = G, pm, job, ranks
        self.lay, self.model = job.layout, job.model
        self.routing, self.pxn, self.seed = routing, pxn, seed
        self.gpu, self.compute_model = compute, compute_model
        self.flops_per_s = compute.throughput(self.lay.precision)
        self.hbm = compute.hbm
        self.tasks = []          # (key, Task, dep keys)
        self.keys = {}
        self.compute_time_stage = {}
        self.slices = {}
        self._memo = _comm_memo(pm, job) if memo is None else memo
        self.shares = self._memo.setdefault("shares", _Shares(pm))

    def add(self, key, task, deps=()):
        self.keys[key] = len(self.tasks)
        self.tasks.append((key, task, [d for d in deps if d is not None]))
        return key

    def rank(self, s, d, t):
        return self.ranks[self.lay.rank(s, d, t)]

    def build(self):
        lay, m = self.lay, self.model
        stage_layers = np.array_split(np.arange(m.layers), lay.pp)
        self.stage_layers = [list(map(int, x)) for x in stage_layers]
        mb = self.job.microbatches
        if "net" not in self._memo:
            # One routing call for every pipeline send of the job.
            self.shares([(self.rank(s, d, t), self.rank(s2, d, t)) for s in range(lay.pp)
                         for s2 in (s - 1, s + 1) if 0 <= s2 < lay.pp
                         for d in range(lay.dp) for t in range(lay.tp)])
            self._memo["net"] = [self._stage_net(s) for s in range(lay.pp)]
        comm = [{**self._stage_compute(s), **net} for s, net in enumerate(self._memo["net"])]
        self.memory = max((self._memory(s, comm[s], mb) for s in range(lay.pp)),
                          key=lambda x: x["total"])
        self.compute_time = 0.0
        order = {s: _order_1f1b(s, lay.pp, mb) for s in range(lay.pp)}
        self.last_parts = {}
        for s in range(lay.pp):
            for kind, i in order[s]:
                self._micro(s, kind, i, comm[s], mb)
        for s in range(lay.pp):
            self._sync(s, comm[s], mb)
        return self._resolve()

    def _resolve(self):
        out = []
        for key, task, deps in self.tasks:
            task.deps = [self.keys[d] for d in deps]
            out.append(task)
        return out

    # -- per stage: collectives and compute times
    def _memory(self, s, c, mb):
        """GPU memory of one GPU of stage ``s``, bytes by part: weights (the activations'
        width; with ZeRO-3 the GPU's shard and at most two gathered units), the gradient
        accumulator (``grad_accum_bytes``; a shard from ZeRO-2 on), Adam's state
        (:data:`ADAM_STATE_BYTES`; a shard from ZeRO-1 on) and the activations the 1F1B
        schedule holds at its fullest: ``min(pp - s, micro-batches)`` micro-batches in
        flight, each keeping what its layers' backward reads
        (:meth:`~netemu.collectives.models.Transformer.layer_activation_bytes`; with
        ``recompute`` only the layers' inputs, and one layer's full set while it is
        recomputed), and the last stage the logits.  A lower bound: the CUDA context,
        communication buffers, temporaries and the allocator's slack are not counted."""
        lay, m, job = self.lay, self.model, self.job
        tokens = lay.microbatch * job.seq
        e = lay.act_bytes
        params = c["dense"] + c["expert"]
        shard = c["dense"] / lay.dp + c["expert"] / max(1, lay.dp // lay.ep)
        weights = params * e
        if lay.zero == 3:
            unit = max((u[2] + u[3] for u in c["units"]), default=0.0)
            weights = shard * e + 2 * unit * e
        grads = (shard if lay.zero >= 2 else params) * lay.grad_accum_bytes
        opt = (shard if lay.zero >= 1 else params) * ADAM_STATE_BYTES
        layers = self.stage_layers[s]

        def act(i, inputs_only=False):
            return m.layer_activation_bytes(i, tokens, e, lay.tp, lay.ep,
                                            inputs_only=inputs_only,
                                            **self._expert_load(s, i, tokens))

        full = [act(i) for i in layers]
        flight = min(lay.pp - s, mb)
        acts = flight * (sum(act(i, True) for i in layers) + max(full, default=0.0)
                         if lay.recompute else sum(full))
        acts += m.head_activation_bytes(tokens, e, lay.tp, last=s == lay.pp - 1)
        return {"stage": s, "weights": weights, "gradients": grads, "optimizer": opt,
                "activations": acts, "total": weights + grads + opt + acts}

    def _stage_compute(self, s):
        """Stage ``s``'s compute: forward and backward time of a micro-batch, its layers'
        :meth:`_units`, and its dense and routed-expert parameters on one GPU."""
        lay, job = self.lay, self.job
        tokens = lay.microbatch * job.seq
        layers = self.stage_layers[s]
        units = self._units(s, tokens, layers, s == 0, s == lay.pp - 1)
        t_f = sum(u[0] for u in units)
        t_b = sum(u[1] for u in units)
        return {"F": t_f, "B": t_b + (t_f if lay.recompute else 0.0), "units": units,
                "dense": sum(u[2] for u in units), "expert": sum(u[3] for u in units)}

    def _stage_net(self, s):
        """Stage ``s``'s communication phases (tensor-parallel all-reduces, expert
        all-to-alls, pipeline sends): what compute speed does not change."""
        lay, m, job, pm = self.lay, self.model, self.job, self.pm
        tokens = lay.microbatch * job.seq
        layers = self.stage_layers[s]
        out = {}
        args = (self.routing, self.pxn, self.seed)
        act = tokens * m.hidden * lay.act_bytes
        if lay.tp > 1:
            groups = [[self.rank(s, d, t) for t in range(lay.tp)] for d in range(lay.dp)]
            ws = _collective(self.G, pm, "allreduce", "nccl", groups, act, *args)
            out["tp"] = _merged(pm, ws, scale=2 * len(layers), shares_of=self.shares)
        n_moe = sum(m.is_moe_layer(i) for i in layers)
        if m.moe and lay.ep > 1 and n_moe:
            out["ep_f"], out["ep_b"] = self._ep(s, tokens, n_moe)
        if s < lay.pp - 1:
            out["pp"] = self._p2p(s, s + 1, act / lay.tp)
        if s > 0:
            out["pp_back"] = self._p2p(s, s - 1, act / lay.tp)
        return out

    def _units(self, s, tokens, layers, first, last):
        """Per layer of stage ``s``, in order: (forward s, backward s, dense parameters,
        routed-expert parameters) on one GPU.  The embedding's and the head's kernels and
        parameters go with the stage's first and last layer.

        ``compute_model="roofline"`` times every kernel of the layer
        (:meth:`~netemu.collectives.models.Transformer.layer_ops`) by the roofline of the
        GPU (:meth:`~netemu.topologies.compute.GpuCompute.kernel_time`): GEMMs at their
        matrix-multiply rate or their bytes over memory bandwidth, whichever is longer, and
        the memory-bound kernels at memory bandwidth.  ``"gemm"`` times the layer's GEMM
        FLOPs alone at the matrix-multiply rate, the backward at twice the forward."""
        lay, m, job = self.lay, self.model, self.job
        per_ep = lay.ep if m.moe else 1
        # The input embedding's gradient is complete when the backward reaches it (last); a
        # separate head's when the backward starts.
        emb_in = m.stage_embedding_params(first, False)
        emb_head = m.stage_embedding_params(first, last) - emb_in
        out = []
        for k, i in enumerate(layers):
            dense = m.dense_params(i) + (emb_in if k == 0 else 0) + \
                (emb_head if k == len(layers) - 1 else 0)
            if self.compute_model == "gemm":
                f = m.layer_forward_flops(i, job.seq, causal=True) * tokens
                if k == len(layers) - 1 and last:
                    f += m.head_forward_flops() * tokens
                tf = f / lay.tp / self.flops_per_s
                tb = 2 * tf
            else:
                # Every micro-batch's weight gradients are added into the accumulator.
                wg = 2 * lay.grad_accum_bytes
                ops = m.layer_ops(i, tokens, job.seq, act_bytes=lay.act_bytes, ep=lay.ep,
                                  wgrad_bytes=wg, **self._expert_load(s, i, tokens))
                if k == 0 and first:
                    ops += m.head_ops(tokens, lay.act_bytes, first=True, last=False,
                                      wgrad_bytes=wg)
                if k == len(layers) - 1 and last:
                    ops += m.head_ops(tokens, lay.act_bytes, first=False, last=True,
                                      wgrad_bytes=wg)
                tf, tb = self.gpu.ops_time(ops, lay.precision, lay.tp)
            out.append((tf, tb, dense / lay.tp, m.expert_params(i) / lay.tp / per_ep))
        return out

    def _p2p(self, s, s2, size):
        from .workload import Stage
        lay = self.lay
        transfers = [(self.rank(s, d, t), self.rank(s2, d, t), 1.0)
                     for d in range(lay.dp) for t in range(lay.tp)]
        if lay.stagger_pp:
            from netemu.routing import server_key
            first = {}
            for u, v, a in transfers:
                first.setdefault(server_key(u), (u, v, a))
            transfers = list(first.values())
        load, work, alpha = _stage_phase(self.pm, Stage("pp", transfers, mode="flows"), size,
                                         shares_of=self.shares)
        return [Phase(load, work, alpha)]

    def _ep(self, s, tokens, n_moe):
        """Dispatch and combine phases of the stage's expert groups, forward and backward.

        The groups of a job are alike (``ep`` consecutive data-parallel ranks, the same
        number per server), so the token routing is drawn once, on the first group, and
        carried to the others rank by rank: the same pattern of bytes on their own GPUs."""
        from .moe import moe_dispatch_combine
        from .workload import Workload
        lay, m = self.lay, self.model
        groups = self._ep_groups(s)
        key = ("ep", tokens)
        if key not in self._memo:
            self._memo[key] = (groups[0], moe_dispatch_combine(
                self.pm, groups[0], tokens=tokens, hidden=m.hidden, topk=m.topk,
                seed=self.seed, forward=lay.ep_library == "deepep",
                dispatch_bytes=lay.dispatch_bytes, combine_bytes=lay.combine_bytes,
                **self._ep_routing()))
        first, w0 = self._memo[key]
        ws = []
        for g in groups:
            to = dict(zip(first, g))
            stages = [type(st)(st.name, [(to[u], to[v], a) for u, v, a in st.transfers],
                               mode=st.mode) for st in w0.stages]
            ws.append(Workload(w0.collective, w0.algorithm, g, w0.size, stages, w0.info))
        fwd = _merged(self.pm, ws, scale=n_moe, shares_of=self.shares)
        # Backward: the combine's gradient goes the dispatch's way, the dispatch's gradient the
        # combine's way, both in the combine's (gradient) precision.
        ratio = lay.combine_bytes / lay.dispatch_bytes
        back = [Phase(fwd[0].load, fwd[0].work * ratio, fwd[0].latency), fwd[1]]
        return fwd, back

    def _ep_groups(self, s):
        """Stage ``s``'s expert groups: ``ep`` consecutive data-parallel ranks each."""
        lay = self.lay
        return [[self.rank(s, g * lay.ep + e, t) for e in range(lay.ep)]
                for t in range(lay.tp) for g in range(lay.dp // lay.ep)]

    def _ep_routing(self):
        """The token routing of the expert all-to-all (and of the experts' compute)."""
        lay, m = self.lay, self.model
        return {"experts_per_gpu": m.experts // lay.ep, "node_limit": m.node_limit or None,
                "routing": "random"}

    def _expert_load(self, s, i, tokens):
        """``{"expert_copies": n}`` for an expert-parallel MoE layer ``i`` (the busiest GPU's
        copies, :meth:`_expert_copies`), else ``{}`` (the model's balanced split)."""
        m = self.model
        if m.moe and self.lay.ep > 1 and m.is_moe_layer(i):
            return {"expert_copies": self._expert_copies(s, tokens)}
        return {}

    def _expert_copies(self, s, tokens):
        """Token copies the busiest GPU of an expert group computes per micro-batch: every
        selection of one of its experts, its own tokens' included, in the same seeded draw
        as the all-to-all's (the combine, and so the next layer, waits for that GPU; the
        decode model prices its experts the same way)."""
        key = ("copies", tokens)
        if key not in self._memo:
            from .moe import token_destinations
            # The group the all-to-all drew on, when it has (its routing is carried to the
            # other groups rank by rank, so one group's loads stand for all).
            first = self._memo[("ep", tokens)][0] if ("ep", tokens) in self._memo \
                else self._ep_groups(s)[0]
            dests = token_destinations(first, tokens=tokens, topk=self.model.topk,
                                       seed=self.seed, **self._ep_routing())
            recv = np.bincount(np.concatenate([d.ravel() for d in dests]),
                               minlength=len(first))
            self._memo[key] = int(recv.max())
        return self._memo[key]

    # -- the 1F1B program of one stage
    def _micro(self, s, kind, i, c, mb):
        lay, j = self.lay, self.job.name
        gpu = f"{j}/s{s}/gpu"
        key = (kind, s, i)
        if kind == "F":
            deps = [("send", s - 1, i)] if s > 0 else []
            self._compute_and_comm(key, gpu, s, c, "F", deps, "ep_f", self._parts(c, "F"))
            if s < lay.pp - 1:
                self.add(("send", s, i), Task(f"{j} s{s} send mb{i}", f"{j}/s{s}/pp",
                                              phases=c["pp"], tag="pp", group=f"s{s}"),
                         [self.last_parts[key]])
        else:
            deps = [("bsend", s + 1, i)] if s < lay.pp - 1 else [self.last_parts[("F", s, i)]]
            parts = self._parts(c, "B") if lay.zero == 3 else \
                self._buckets(c) if i == mb - 1 else [(1.0, 0.0, 0.0, None)]
            self._compute_and_comm(key, gpu, s, c, "B", deps, "ep_b", parts)
            if s > 0:
                self.add(("bsend", s, i), Task(f"{j} s{s} grad send mb{i}", f"{j}/s{s}/ppb",
                                               phases=c["pp_back"], tag="pp", group=f"s{s}"),
                         [self.last_parts[key]])

    def _parts(self, c, kind):
        """How ``kind``'s compute is cut: one part, or with ZeRO-3 / FSDP one part per layer
        (an FSDP unit), in execution order: (fraction of the time, dense and expert
        parameters of the unit, the layer)."""
        units = c["units"]
        if self.lay.zero != 3:
            return [(1.0, 0.0, 0.0, None)]
        col = 0 if kind == "F" else 1
        total = sum(u[col] for u in units) or 1.0
        order = range(len(units)) if kind == "F" else range(len(units) - 1, -1, -1)
        return [(units[k][col] / total if sum(u[col] for u in units) else 1 / len(units),
                 units[k][2], units[k][3], k) for k in order]

    def _buckets(self, c):
        """The last backward cut where gradient buckets become ready (data parallelism with
        ``overlap_dp``): layers in backward order fill buckets of ``layout.bucket`` bytes, as
        PyTorch DDP builds them in reverse parameter order; a bucket is summed once the
        backward of its last layer is done; a layer larger than a bucket is spread evenly
        over as many buckets.  At most 64 buckets (neighbours merged).  Returns (fraction of
        the backward, dense and expert parameters of the bucket, None) per bucket, in order."""
        lay = self.lay
        units = c["units"]
        if lay.zero or not lay.overlap_dp:
            return [(1.0, c["dense"], c["expert"], None)]
        gb, cap = lay.grad_bytes, lay.bucket
        out, cur = [], [0.0, 0.0, 0.0]
        for tf, tb, d, x in reversed(units):
            size = (d + x) * gb
            if size > cap:
                if cur[1] + cur[2]:
                    out.append(cur)
                    cur = [0.0, 0.0, 0.0]
                n = int(np.ceil(size / cap))
                cur[0] += tb / n
                out.append([cur[0], d / n, x / n])
                out += [[tb / n, d / n, x / n] for _ in range(n - 1)]
                cur = [0.0, 0.0, 0.0]
                continue
            cur = [cur[0] + tb, cur[1] + d, cur[2] + x]
            if (cur[1] + cur[2]) * gb >= cap:
                out.append(cur)
                cur = [0.0, 0.0, 0.0]
        if cur[0] or cur[1] + cur[2] or not out:
            if out and not cur[1] + cur[2]:
                out[-1][0] += cur[0]           # trailing layers without parameters
            else:
                out.append(cur)
        if len(out) > 64:
            k = -(-len(out) // 64)
            out = [[sum(b[n] for b in out[a:a + k]) for n in range(3)]
                   for a in range(0, len(out), k)]
        total = sum(b[0] for b in out)
        return [((b[0] / total) if total else 1 / len(out), b[1], b[2], None) for b in out]

    def _compute_and_comm(self, key, gpu, s, c, kind, deps, ep_key, parts):
        lay, j = self.lay, self.job.name
        dur = c[kind]
        self.compute_time_stage[s] = self.compute_time_stage.get(s, 0.0) + dur
        keys = []
        for k, (frac, dense, expert, unit) in enumerate(parts):
            name = f"{j} s{s} {kind} mb{key[2]}" + (f" part{k}" if len(parts) > 1 else "")
            pk = key if k == 0 else key + (k,)
            extra = []
            if unit is not None:
                # FSDP: the unit's parameters are all-gathered before its compute, at most
                # two units gathered at a time (PyTorch FSDP's limit_all_gathers; the
                # next unit's gather runs while this one computes).
                extra.append(self._unit_collective(
                    s, "allgather", dense, expert, key + ("ag", unit), f"{j}/s{s}/ag",
                    keys[-2:-1]))
            self.add(pk, Task(name, gpu, duration=dur * frac, group=f"s{s}"),
                     (deps if k == 0 else []) + extra)
            keys.append(pk)
            if unit is not None and kind == "B":
                # Then its gradients are reduced: NCCL's reduce-scatter, or, with HFReduce
                # (which implements allreduce only, [FF] §IV), an allreduce whose shard each
                # rank keeps.
                coll = "reducescatter" if lay.dp_library == "nccl" else "allreduce"
                self._unit_collective(s, coll, dense, expert, ("rs", s, key[2], unit),
                                      f"{j}/s{s}/rs", [pk])
        self.slices[key] = (keys, parts)
        last = keys[-1]
        if "tp" in c:
            last = self.add(key + ("tp",), Task(f"{j} s{s} {kind} tp mb{key[2]}", gpu,
                                                phases=c["tp"], tag="tp", group=f"s{s}"),
                            [last])
        if ep_key in c:
            if lay.overlap_ep:
                ek = self.add(key + ("ep",), Task(f"{j} s{s} {kind} ep mb{key[2]}",
                                                  f"{j}/s{s}/ep", phases=c[ep_key], tag="ep",
                                                  group=f"s{s}"), deps)
                join = self.add(key + ("join",), Task(f"{j} s{s} {kind} join mb{key[2]}",
                                                      gpu, duration=0.0, group=f"s{s}"),
                                [last, ek])
                last = join
            else:
                last = self.add(key + ("ep",), Task(f"{j} s{s} {kind} ep mb{key[2]}", gpu,
                                                    phases=c[ep_key], tag="ep", group=f"s{s}"),
                                [last])
        self.last_parts[key] = last

    def _unit_collective(self, s, collective, dense, expert, key, stream, deps):
        """A collective of one FSDP unit's parameters (all-gather, in the activations'
        precision) or gradients (in theirs) among the stage's data-parallel ranks."""
        lay, j = self.lay, self.job.name
        width = lay.act_bytes if collective == "allgather" else lay.grad_bytes
        phases = self._dp_phases(s, collective, dense * width) + \
            self._dp_phases(s, collective, expert * width, True)
        if not phases:
            return None
        return self.add(key, Task(f"{j} s{s} {collective} {key}", stream, phases=phases,
                                  tag="dp", group=f"s{s}"), deps)

    # -- data parallelism
    def _dp_groups(self, s, expert):
        lay = self.lay
        if not expert:
            return [[self.rank(s, d, t) for d in range(lay.dp)] for t in range(lay.tp)]
        return [[self.rank(s, g * lay.ep + e, t) for g in range(lay.dp // lay.ep)]
                for t in range(lay.tp) for e in range(lay.ep)]

    def _dp_phases(self, s, collective, size, expert=False):
        key = (s, collective, size, expert)
        if key not in self._memo:
            lay = self.lay
            groups = [g for g in self._dp_groups(s, expert) if len(g) > 1]
            if not groups or size <= 0:
                self._memo[key] = []
            else:
                algo = lay.dp_library if collective == "allreduce" else "nccl"
                ws = _collective(self.G, self.pm, collective, algo, groups, size, self.routing,
                                 self.pxn, self.seed)
                self._memo[key] = _merged(self.pm, ws, shares_of=self.shares)
        return self._memo[key]

    def _dp_collective(self, s, c, collective, key, deps):
        lay, j = self.lay, self.job.name
        # Parameters travel in the activations' precision, gradients in their own.
        width = lay.grad_bytes if collective == "reducescatter" else lay.act_bytes
        phases = []
        for expert in (False, True):
            n = c["expert" if expert else "dense"]
            phases += self._dp_phases(s, collective, n * width, expert)
        if phases:
            return self.add(key, Task(f"{j} s{s} {collective} {key[-1]}", f"{j}/s{s}/dp",
                                      phases=phases, tag="dp", group=f"s{s}"), deps)
        return None

    def _sync(self, s, c, mb):
        lay, j = self.lay, self.job.name
        last_b = self.last_parts[("B", s, mb - 1)]
        gpu = f"{j}/s{s}/gpu"
        deps_opt = [last_b]
        if lay.zero in (0, 1, 2):
            # ZeRO-1/2 sum with NCCL's reduce-scatter; HFReduce implements allreduce only
            # ([FF] §IV), so with it every rank gets the whole sum and keeps its shard (as the
            # ZeRO-3 units below do).
            collective = "allreduce" if lay.zero == 0 or lay.dp_library != "nccl" \
                else "reducescatter"
            prev = None
            keys, parts = self.slices[("B", s, mb - 1)]
            for k, (sk, (_, dense, expert, _u)) in enumerate(zip(keys, parts)):
                phases = self._dp_phases(s, collective, dense * lay.grad_bytes) + \
                    self._dp_phases(s, collective, expert * lay.grad_bytes, True)
                if not phases:
                    continue
                prev = self.add(("dp", s, k), Task(f"{j} s{s} grad {collective} {k}",
                                                   f"{j}/s{s}/dp", phases=phases, tag="dp",
                                                   group=f"s{s}"),
                                [sk if lay.overlap_dp else last_b])
            if prev is not None:
                deps_opt.append(prev)
        else:
            deps_opt += [k for k in self.keys if k[0] == "rs" and k[1] == s]
        local = c["dense"] + c["expert"]
        if lay.zero:
            local = c["dense"] / lay.dp + c["expert"] / max(1, lay.dp // lay.ep)
        opt = self.add(("opt", s), Task(f"{j} s{s} optimizer", gpu,
                                        duration=local * ADAM_BYTES_PER_PARAM / self.hbm,
                                        group=f"s{s}"), deps_opt)
        if lay.zero in (1, 2):
            self._dp_collective(s, c, "allgather", ("ag-params", s), [opt])


def _order_1f1b(s, pp, mb):
    warm = min(pp - s - 1, mb)
    order = [("F", i) for i in range(warm)]
    for k in range(mb - warm):
        order += [("F", warm + k), ("B", k)]
    order += [("B", i) for i in range(mb - warm, mb)]
    return order


def run_step(G, jobs, *, routing="dmodk", pxn=True, seed=0, gpu=None, placement="packed",
             exact=False, compute="roofline"):
    """Run one step of every job in ``jobs`` at once on cluster ``G``.

    Parameters
    ----------
    G : networkx.Graph
        A cluster (servers inside a fabric).
    jobs : Job or list of Job
        Jobs without ``gpus`` are placed by ``placement``.
    routing, pxn, seed
        As :func:`netemu.collectives.run`.
    gpu : GpuCompute, optional
        Default: the cluster's GPUs (:func:`netemu.topologies.compute.gpu_compute`).
    exact : bool
        A single job's 1F1B steady state repeats the same cycle for every further
        micro-batch, so by default a job of many micro-batches is simulated with
        ``2 pp + 4`` and ``3 pp + 4`` of them and its times extended along the line through
        the two (tested against full simulation); ``exact=True`` simulates every one.
        Several jobs at once are always simulated in full (their cycles need not align).
    compute : {"roofline", "gemm"}
        How compute is timed (:data:`COMPUTE_MODELS`): every kernel of a layer by the GPU's
        roofline (GEMMs at the matrix-multiply rate or limited by memory bandwidth,
        elementwise and normalisation work at memory bandwidth), or the GEMM FLOPs alone at
        the matrix-multiply rate.

    Returns
    -------
    list of StepResult, one per job, in order.
    """
    if compute not in COMPUTE_MODELS:
        raise ParameterError(f"compute model must be one of {', '.join(COMPUTE_MODELS)}, got "
                             f"{compute!r}")
    if isinstance(jobs, Job):
        jobs = [jobs]
    jobs = list(jobs)
    if not jobs:
        raise ParameterError("run_step needs at least one job")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ParameterError(f"job names must differ, got {names}")
    if gpu is None:
        from netemu.topologies.compute import gpu_compute
        gpu = gpu_compute(G)
    _place_all(G, jobs, placement)
    j = jobs[0]
    m1, m2 = 2 * j.layout.pp + 4, 3 * j.layout.pp + 4
    if exact or len(jobs) > 1 or j.microbatches <= m2:
        return _simulate(G, jobs, routing, pxn, seed, gpu, compute_model=compute)
    short = [_with_microbatches(j, m) for m in (m1, m2)]
    (r1,), (r2,) = (_simulate(G, [s], routing, pxn, seed, gpu, None, compute)
                    for s in short)
    k = (j.microbatches - m2) / (m2 - m1)

    def line(a, b):
        return b + k * (b - a)

    waits = {w: line(r1.waits.get(w, 0.0), r2.waits.get(w, 0.0))
             for w in set(r1.waits) | set(r2.waits)}
    m = j.model
    return [StepResult(j.name, j.layout.world, line(r1.step_time, r2.step_time), j.tokens,
                       m.train_flops_per_token(j.seq, causal=True) * j.tokens,
                       m.train_flops_per_token(j.seq, causal=False) * j.tokens, gpu.peak_bf16,
                       line(r1.compute_time, r2.compute_time), waits, r2.timeline, r2.task_ids,
                       simulated_microbatches=m2, memory=r2.memory,
                       memory_capacity=r2.memory_capacity)]


def _with_microbatches(job, m):
    lay = job.layout
    return Job(job.name, job.model, lay, job.seq, m * lay.dp * lay.microbatch, job.gpus)


def _place_all(G, jobs, placement):
    unplaced = [j for j in jobs if j.gpus is None]
    if unplaced:
        if len(unplaced) != len(jobs):
            raise ParameterError("give every job its GPUs, or none (to place them all)")
        for j, g in zip(jobs, place(G, [j.layout.world for j in jobs], placement)):
            j.gpus = g
    seen = set()
    for j in jobs:
        if len(j.gpus) != j.layout.world:
            raise ParameterError(f"job {j.name!r}: layout needs {j.layout.world} GPUs, got "
                                 f"{len(j.gpus)}")
        clash = seen & set(j.gpus)
        if clash:
            raise ParameterError(f"job {j.name!r} shares GPU(s) {sorted(clash)[:3]} with "
                                 f"another job")
        seen |= set(j.gpus)


def _simulate(G, jobs, routing, pxn, seed, gpu, memos=None, compute_model="roofline"):
    from .workload import path_model
    pm = path_model(G, routing, pxn=pxn, seed=seed)
    builders = (_Builder(G, pm, j, list(j.gpus), gpu, routing, pxn, seed,
                         (memos or {}).get(j.name), compute_model) for j in jobs)
    tl, spans, built = _run_builders(pm, builders)
    return [_step_result(j, span, b, tl, gpu) for j, span, b in zip(jobs, spans, built)]


def _run_builders(pm, builders):
    """Build each job's tasks (``builders``, built in turn) into one timeline and simulate it:
    ``(timeline, each job's task span, the builders)``."""
    tasks, spans, built = [], [], []
    for b in builders:
        t = b.build()
        off = len(tasks)
        for task in t:
            task.deps = [d + off for d in task.deps]
        tasks += t
        spans.append(range(off, off + len(t)))
        built.append(b)
    return simulate(pm.capacity, tasks), spans, built


def _step_result(j, span, b, tl, gpu):
    """The :class:`StepResult` of training job ``j`` (tasks ``span`` of timeline ``tl``)."""
    step = float(tl.end[list(span)].max())
    m = j.model
    flops = m.train_flops_per_token(j.seq, causal=True) * j.tokens
    flops_nc = m.train_flops_per_token(j.seq, causal=False) * j.tokens
    waits = _waits(tl, span, j.layout.pp, j.name, step)
    comp = max(b.compute_time_stage.values())
    return StepResult(j.name, j.layout.world, step, j.tokens, flops, flops_nc, gpu.peak_bf16,
                      comp, waits, tl, list(span), simulated_microbatches=j.microbatches,
                      memory=b.memory, memory_capacity=gpu.memory)


def _idle_gaps(busy, end):
    """The intervals in [0, end) that no ``(start, stop)`` of ``busy`` covers."""
    idle, t = [], 0.0
    for a, b in sorted(busy):
        if a > t:
            idle.append((t, a))
        t = max(t, b)
    if t < end:
        idle.append((t, end))
    return idle


def _waits(tl, span, pp, job, step):
    """Mean over stages of the time their GPUs waited, by what of the job was in flight."""
    total = {}
    span = np.asarray(list(span))
    for s in range(pp):
        gpu, grp = f"{job}/s{s}/gpu", f"s{s}"
        idle = _idle_gaps(((tl.start[i], tl.end[i]) for i in span
                           if tl.tasks[i].stream == gpu and not tl.tasks[i].phases), step)
        ci = [i for i in span if tl.tasks[i].phases and tl.tasks[i].group == grp]
        cs, ce = tl.start[ci], tl.end[ci]
        tags = np.array([tl.tasks[i].tag for i in ci], dtype=object)
        for a, b in idle:
            hit = np.flatnonzero((cs < b) & (ce > a))
            cuts = sorted({a, b} | {float(x) for x in np.concatenate([cs[hit], ce[hit]])
                                    if a < x < b})
            for x, y in zip(cuts, cuts[1:]):
                on = sorted({tags[k] for k in hit if cs[k] <= x and ce[k] >= y})
                for tag in on or ["bubble"]:
                    total[tag] = total.get(tag, 0.0) + (y - x) / max(1, len(on))
    return {k: float(v / pp) for k, v in total.items()}
