"""A collective as a workload, and its evaluation on the flow model.

Every algorithm in :mod:`collectives` turns (graph, ranks, size) into a
:class:`Workload`: stages run one after the other, each a set of transfers
(plus work on non-link resources such as host memory or a CPU's reduce
throughput).  :func:`evaluate` routes the transfers with
:class:`~collectives.paths.PathModel` and hands them to netemu's exact max-min
solver; nothing here computes a rate by itself.

Two kinds of stage
------------------
``'pipeline'``
    The stage is pipelined in chunks, as NCCL's rings and trees and HFReduce
    are: every transfer advances in lockstep with the others, so the whole
    stage is *one* flow whose share on a resource is the sum, over the
    transfers, of (bytes the transfer moves per byte of ``S``) x (its share on
    that resource).  Its max-min rate ``X`` (bytes of ``S`` per second) is the
    steady-state throughput, and the stage takes
    ``(S + (H - 1) * chunk) / X + alpha``: ``H`` is the number of sequential
    hops of the stage's critical chain, the ``(H - 1)`` chunks are the
    pipeline's fill, and ``alpha`` sums the latency of the chain's hops
    (edge ``latency`` attributes) plus ``step_overhead`` per hop.
``'flows'``
    Independent transfers started together (an all-to-all's sends): each is
    its own flow of ``amount * S`` bytes and the stage lasts until the last
    one ends in the exact fluid max-min simulation
    (:func:`netemu.flow.completion_times`), plus the largest path latency.
"""

from dataclasses import dataclass, field

import numpy as np

from netemu import flow as _flow
from netemu.errors import ParameterError, RoutingError
from netemu.policies import PathSpec
from netemu.solution import SATURATED

from .metrics import bus_factor
from .paths import PathModel

__all__ = ["Stage", "Workload", "Result", "evaluate", "path_model"]

_MODES = ("pipeline", "flows")


@dataclass
class Stage:
    """One phase of a collective.

    Attributes
    ----------
    name : str
    transfers : list of (src, dst, amount)
        ``amount`` is bytes moved per byte of the collective's size ``S``.
    mode : {'pipeline', 'flows'}
    work : list of (resource, amount)
        Load on a resource that no transfer carries: a node name with a
        ``capacity`` (a host-memory read or write), or ``(name, capacity)`` for an
        extra resource (a CPU's reduce throughput).  ``amount`` per byte of ``S``.
    chain : list of (src, dst)
        The critical chain of sequential hops (for ``'pipeline'``): its length
        is ``H`` and its latency is ``alpha``.
    chunk : float
        Pipeline chunk in bytes (0: no fill term).
    step_overhead : float or mapping
        Seconds added per hop of the chain (software cost of one step): one
        figure, or ``{'nvlink': s, 'pcie': s, 'network': s, 'base': s}`` by the kind
        of hop (a hop that crosses the fabric is ``'network'``; one inside a server
        is ``'nvlink'`` when its path uses NVLink only, else ``'pcie'``), plus
        ``'base'`` once per stage.
    """
    name: str
    transfers: list
    mode: str = "pipeline"
    work: list = field(default_factory=list)
    chain: list = field(default_factory=list)
    chunk: float = 0.0
    step_overhead: object = 0.0


@dataclass
class Workload:
    """A collective on ``ranks``: its stages, size and nccl-tests naming."""
    collective: str
    algorithm: str
    ranks: list
    size: float
    stages: list
    info: dict = field(default_factory=dict)

    @property
    def n(self):
        return len(self.ranks)


@dataclass
class Result:
    """Time and bandwidths of one collective (bytes, seconds, bytes/s)."""
    collective: str
    algorithm: str
    n: int
    size: float
    time: float
    stages: list
    info: dict

    @property
    def algbw(self):
        return self.size / self.time

    @property
    def busbw(self):
        return self.algbw * bus_factor(self.collective, self.n)

    @property
    def beta_time(self):
        """The time without latency terms: bandwidth alone (sum of the stages' ``beta``)."""
        return sum(s["beta"] for s in self.stages)

    @property
    def peak_busbw(self):
        """``busbw`` of :attr:`beta_time`: what the links allow once latency is amortised."""
        return self.size / self.beta_time * bus_factor(self.collective, self.n)

    def row(self):
        """The nccl-tests row as a dict (``gpus``, ``size_bytes``, ``time_s``, ``algbw``, ``busbw``)."""
        return {"gpus": self.n, "size_bytes": self.size, "time_s": self.time,
                "algbw": self.algbw, "busbw": self.busbw}


_MODELS = {}
#: Path models kept by path_model (each holds its graph's analysis and routes).
_MODELS_KEPT = 8


def path_model(G, routing="dmodk", *, pxn=True, seed=0):
    """A :class:`PathModel` for ``G``, reused while the same, unchanged graph is evaluated again.

    A graph changed in place since (a link's bandwidth or latency, a node's capacity,
    nodes or links added or removed) gets a new model: the check sums those attributes.
    """
    # (graph, routing policy, PXN, seed) as one value; the policy name is resolved (and
    # checked) once, in netemu.policies.
    spec = PathSpec(G, routing, pxn, seed)
    key = spec.key()
    mark = _fingerprint(G)
    hit = _MODELS.pop(key, None)
    if hit is not None and hit.G is G and hit._fingerprint == mark:
        _MODELS[key] = hit              # most recently used last
        return hit
    # The least recently used model goes first, one at a time: a sweep that visits other
    # graphs in between keeps its own model, and with it the routes it already holds
    # (PathModel.shares) and the step phases keyed by it (step._comm_memo).
    while len(_MODELS) >= _MODELS_KEPT:
        del _MODELS[next(iter(_MODELS))]
    pm = _MODELS[key] = PathModel(spec)
    pm._fingerprint = mark
    return pm


def _fingerprint(G):
    if getattr(G, "frozen", False):
        # A frozen graph (networkx.freeze) says it will not change: no walk over it.
        return ("frozen", id(G))
    return _walk_fingerprint(G)


def _walk_fingerprint(G):
    bw = lat = 0.0
    for _, _, d in G.edges(data=True):
        bw += d.get("bandwidth", 0.0)
        lat += d.get("latency", 0.0) or 0.0
    cap = sum(c for _, c in G.nodes(data="capacity") if c is not None)
    return (G.number_of_nodes(), G.number_of_edges(), bw, lat, cap)


def evaluate(G, workload, *, routing="dmodk", pxn=True, seed=0):
    """Time a :class:`Workload` on ``G`` with netemu's routing and max-min solver.

    Returns
    -------
    Result
        ``stages`` lists, per stage, its ``time``, ``rate`` (bytes of S per second,
        pipeline stages), ``alpha`` and the saturated resources ``bottlenecks``.
    """
    pm = path_model(G, routing, pxn=pxn, seed=seed)
    S = float(workload.size)
    if not S > 0:
        raise ParameterError(f"size must be > 0 bytes, got {workload.size!r}")
    stages = []
    total = 0.0
    for st in workload.stages:
        if st.mode not in _MODES:
            raise ParameterError(f"stage mode must be one of {_MODES}, got {st.mode!r}")
        try:
            out = _pipeline(pm, st, S) if st.mode == "pipeline" else _flows(pm, st, S)
        except RoutingError as exc:
            _raise_by_rank(exc, workload, st)
        out["name"] = st.name
        stages.append(out)
        total += out["time"]
    return Result(workload.collective, workload.algorithm, workload.n, S, total, stages,
                  dict(workload.info))


def _raise_by_rank(exc, workload, stage):
    """Re-raise a routing failure naming the ranks (number and GPU) of the transfers cut off."""
    pairs = getattr(exc, "pairs", None)
    if not pairs:
        raise exc
    rank = {str(g): i for i, g in enumerate(workload.ranks)}

    def who(x):
        return f"rank {rank[str(x)]} ({x})" if str(x) in rank else str(x)
    shown = sorted(pairs, key=lambda p: (rank.get(str(p[0]), -1), rank.get(str(p[1]), -1)))
    text = ", ".join(f"{who(a)} -> {who(b)}" for a, b in shown[:10])
    more = f" (and {len(shown) - 10} more)" if len(shown) > 10 else ""
    err = RoutingError(f"{workload.collective} {workload.algorithm}, stage {stage.name!r}: no path "
                       f"for {len(shown)} transfer(s) even over the surviving NICs and planes: "
                       f"{text}{more}")
    err.pairs = set(pairs)
    raise err from None


def _work_resource(pm, spec):
    if isinstance(spec, tuple):
        name, cap = spec
        return pm.extra(name, cap)
    r = pm.res.node(spec) if spec in pm.G else -1
    if r < 0:
        raise ParameterError(f"work on {spec!r}: not a node with a capacity of this graph")
    return r


def _pipeline(pm, st, S):
    shares = pm.shares([(u, v) for u, v, _ in st.transfers])
    load = {}
    for (_, _, amount), sh in zip(st.transfers, shares):
        for r, s in sh.items():
            load[r] = load.get(r, 0.0) + amount * s
    for spec, amount in st.work:
        r = _work_resource(pm, spec)
        load[r] = load.get(r, 0.0) + amount
    cap = pm.capacity
    X = float(_flow.max_min_rates(cap, [load])[0])
    chain = pm.shares(st.chain) if st.chain else []
    alpha = sum(pm.latency(sh) for sh in chain) + _overhead(pm, st)
    hops = max(len(chain), 1)
    beta = (S + (hops - 1) * st.chunk) / X
    time = beta + alpha
    util = {r: l * X / cap[r] for r, l in load.items()}
    bott = sorted((r for r, u in util.items() if u >= SATURATED), key=lambda r: -util[r])
    return {"mode": "pipeline", "time": time, "beta": beta, "rate": X, "alpha": alpha,
            "hops": len(chain),
            "bottlenecks": [pm.name(r) for r in bott], "load": load}


def _hop_kind(pm, u, v, shares):
    if any(k == "fabric" for k, _, _ in pm.plan(u, v)):
        return "network"
    media = {pm.medium(r) for r in shares if r < pm.res.n_edge_resources}
    return "nvlink" if media == {"nvlink"} else "pcie"


def _overhead(pm, st):
    """Software latency of a stage: per chain hop, by kind of hop, plus a base."""
    o = st.step_overhead
    if not isinstance(o, dict):
        return len(st.chain) * float(o)
    shares = pm.shares(st.chain) if st.chain else []
    return o.get("base", 0.0) + sum(o[_hop_kind(pm, u, v, sh)]
                                    for (u, v), sh in zip(st.chain, shares))


#: Memory one independent transfer costs while routed and solved (bytes; measured: 512-GPU
#: all-to-all, 261,632 transfers, about 1.8 KB each at peak).
BYTES_PER_TRANSFER = 2048


def check_memory(n_transfers, what):
    """Refuse, before allocating, a stage whose transfers would not fit in memory."""
    from netemu import memory

    need = n_transfers * BYTES_PER_TRANSFER
    have = memory.available_memory()
    if have is not None and need > have / 2:
        raise ParameterError(
            f"{what}: {n_transfers:,} independent transfers need about {need / 1e9:.1f} GB, "
            f"more than half of the {have / 1e9:.1f} GB available; use fewer GPUs, or "
            f"'netemu solve' for a NIC-level all-to-all of the whole fabric")


def _flows(pm, st, S):
    if st.work:
        raise ParameterError(f"stage {st.name!r}: work items need a 'pipeline' stage")
    check_memory(len(st.transfers), f"stage {st.name!r}")
    shares = pm.shares([(u, v) for u, v, _ in st.transfers])
    sizes = np.array([amount * S for _, _, amount in st.transfers], dtype=float)
    cap = pm.capacity
    fs = _flow.FlowSet.from_mappings(cap.size, shares)
    finish = _flow.completion_times(cap, fs, sizes)
    rates = _flow.max_min_rates(cap, fs)
    # Load per resource from the FlowSet's rows: each resource's terms are added flow by
    # flow, in the transfers' order, as a loop over the share maps adds them (a row holds
    # a resource once, so the order inside a row does not matter): the same sums.
    D = fs.direct
    flow_of = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    load = np.bincount(D.indices, weights=D.data * rates[flow_of], minlength=cap.size)
    util = load / cap
    bott = np.flatnonzero(util >= SATURATED)
    bott = bott[np.argsort(-util[bott], kind="stable")]
    alpha = pm.max_latency(shares) + (
        st.step_overhead if not isinstance(st.step_overhead, dict) else 0.0)
    return {"mode": "flows", "time": float(finish.max()) + alpha, "beta": float(finish.max()),
            "alpha": alpha,
            "bottlenecks": [pm.name(r) for r in bott[:20]], "finish": finish}
