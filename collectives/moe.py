"""MoE expert-parallel dispatch and combine (DeepEP's all-to-all), with node-limited routing.

Every rank holds ``tokens`` tokens of ``hidden`` elements and ``experts_per_gpu``
routed experts.  Each token goes to ``topk`` routed experts plus ``shared``
shared-expert copies, all on other ranks' experts.

Routing of tokens to experts
----------------------------
``'balanced'``
    Token ``t`` of rank ``r`` goes to the ranks ``r + 1 + (c mod (n - 1))`` for
    its copies ``c = (topk + shared) * t + j``: every rank sends and receives the
    same number of copies, the assumption behind [ISCA] §2.3.2's per-device limit.
``'random'``
    Seeded uniform choice: with ``node_limit = M`` a token first picks ``M``
    distinct servers uniformly, then its ``topk`` experts uniformly among the
    experts of those servers; without a limit, or with ``M`` at least the number
    of servers, ``topk`` distinct experts anywhere.
``'grouped'``
    DeepEP's benchmark and DeepSeek-V3's group-limited gating ([ISCA] §4.3): every
    expert gets an independent random score, a server's *group score* is the
    largest score of its experts (DeepEP ``tests/test_internode.py``:
    ``scores.view(num_tokens, num_nodes, -1).amax(dim=-1)``), the token keeps the
    ``node_limit`` servers of highest group score and takes the ``topk``
    highest-scored experts among theirs.  Unlike ``'random'`` the kept servers
    each hold the token's best expert of their group, so a token spreads over
    more of them.  Without a limit it is a plain top-``topk`` of the scores
    (DeepEP ``tests/test_low_latency.py``).

Transport
---------
``forward=False``
    Every copy crosses from its rank to the expert's rank on its own (all RDMA,
    the §2.3.2 case where "EP all-to-all is done entirely through NIC RDMA").
    ``per_expert=True`` sends one message per token *per expert* (DeepEP's
    low-latency kernels: two experts on one rank get two messages); otherwise
    one per token per destination rank.
``forward=True``
    DeepEP's normal (internode) kernels: a token crosses the network once per
    target server, to the GPU with the sender's local index there (same
    plane/rail), which forwards it over NVLink to the target experts on that
    server; copies for the sender's own server go over NVLink directly.  Combine
    is the reverse, reduced on the forwarding GPU, so it also crosses the network
    once per server.

Bytes
-----
A dispatched token is ``hidden * dispatch_bytes`` plus ``scale_bytes`` (FP8's
scales: :func:`fp8_scale_bytes`) plus ``header_bytes`` per message; a combined
one ``hidden * combine_bytes``.  Both stages are
:class:`~collectives.workload.Stage` of independent flows.

DeepEP's bandwidth metric
-------------------------
DeepEP's test scripts do not report physical network bytes.  ``test_internode.py``
counts, per rank, ``num_rdma_token_sent``: each token once per *distinct
destination node including the sender's own node* (``rdma_idx = topk_idx //
(num_experts // num_nodes)``, deduplicated per token), times the token's bytes
(FP8: ``hidden * (1 + 4 / 128)``, the FP32 scale of every 128 elements; BF16:
``hidden * 2``), over the kernel's time; its NVL figure counts the tokens the
rank receives, deduplicated per rank (``recv_x``).  ``test_low_latency.py``
counts every (token, expert) selection: ``hidden + hidden / 128 * 4 + 16`` bytes
for FP8 dispatch, ``hidden * 2`` for BF16 combine.  :func:`deepep_bandwidth`
reports both that logical metric and the busiest GPU's physical bytes.
"""

import numpy as np

from netemu.errors import ParameterError
from netemu.memory import check_fits, moe_bytes
from netemu.routing import server_key

from .workload import Stage, Workload

__all__ = ["deepep", "DEEPEP_MODES", "moe_dispatch_combine", "moe_traffic", "token_destinations", "deepep_bandwidth",
           "deepep_counts", "fp8_scale_bytes", "FP8_SCALE_BLOCK", "FP8_SCALE_BYTES",
           "LOW_LATENCY_HEADER_BYTES"]

_ROUTINGS = ("balanced", "random", "grouped")

#: Elements that share one FP8 scale: 1 x 128 tiles ([ISCA] §2.4; DeepEP
#: ``tests/utils.py`` ``per_token_cast_to_fp8`` views a token as ``(-1, 128)``).
FP8_SCALE_BLOCK = 128
#: Bytes of one scale: FP32 (``per_token_cast_to_fp8`` returns ``x_amax / 448.0`` in float32;
#: ``test_internode.py``'s ``fp8_factor = (1 + 4 / 128) / 2``).
FP8_SCALE_BYTES = 4
#: Bytes a low-latency dispatch message carries besides the token and its scales
#: (DeepEP ``tests/test_low_latency.py``: ``num_fp8_bytes = hidden + hidden / 128 * 4 + 16``).
LOW_LATENCY_HEADER_BYTES = 16


def fp8_scale_bytes(hidden):
    """Bytes of the FP8 scales of one token of ``hidden`` elements (one FP32 per 128).

    Examples
    --------
    >>> fp8_scale_bytes(7168), fp8_scale_bytes(256)
    (224, 8)
    """
    hidden = _positive_int("hidden", hidden)
    return -(-hidden // FP8_SCALE_BLOCK) * FP8_SCALE_BYTES


def _positive_int(name, x):
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ParameterError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)


def _servers(ranks):
    servers = [server_key(x) for x in ranks]
    names = sorted(set(servers), key=servers.index)
    return np.array([names.index(s) for s in servers]), len(names)


#: Destinations of the last few seeded draws (key: every argument), stored as the smallest
#: integer type that holds a rank: a sweep evaluates the same job on several clusters (the
#: nominal and achievable rates, DeepEP's two modes) and the draw is most of a point's work.
_DRAWS = {}
_DRAW_SLOTS = 4


def token_destinations(ranks, *, tokens, topk, shared=0, experts_per_gpu=1, node_limit=None,
                       routing="balanced", seed=0):
    """Destination ranks of every token: a list, per rank, of a ``(tokens, topk + shared)``
    array of rank indices (a token's copies for two experts of one rank repeat that rank;
    the order of a token's copies is not specified).

    A seeded draw (``routing`` ``'random'`` or ``'grouped'``) is a pure function of the
    arguments; the last few are kept, and each call returns new arrays.
    """
    n = len(ranks)
    tokens = _positive_int("tokens", tokens)
    topk = _positive_int("topk", topk)
    if isinstance(shared, bool) or not isinstance(shared, int) or shared < 0:
        raise ParameterError(f"shared must be an integer >= 0, got {shared!r}")
    experts_per_gpu = _positive_int("experts_per_gpu", experts_per_gpu)
    if routing not in _ROUTINGS:
        raise ParameterError(f"routing must be one of {_ROUTINGS}, got {routing!r}")
    copies = topk + shared
    # Refuse before numpy sizes anything (tokens x experts arrays overflow int64 first).
    check_fits(moe_bytes(n, tokens, copies, n * experts_per_gpu, len(set(map(server_key, ranks)))),
               f"MoE routing of {tokens:,} tokens over {n * experts_per_gpu:,} experts")
    if routing == "balanced":
        c = np.arange(tokens * copies).reshape(tokens, copies)
        return [(r + 1 + c % (n - 1)) % n for r in range(n)]
    srv, n_srv = _servers(ranks)
    experts = np.repeat(np.arange(n), experts_per_gpu)        # expert -> rank
    if topk > experts.size:
        raise ParameterError(f"topk={topk} exceeds the {experts.size} experts of {n} ranks")
    if node_limit is not None:
        node_limit = _positive_int("node_limit", node_limit)
        if node_limit >= n_srv:
            node_limit = None      # "at most M servers" already holds for every token
    # Every argument is checked and a whole number here; a seed that is not one (a Generator
    # carries state) is never kept.
    key = None
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        key = (tuple(ranks), tokens, topk, shared, experts_per_gpu, node_limit, routing,
               int(seed))
        hit = _DRAWS.get(key)
        if hit is not None:
            _DRAWS[key] = _DRAWS.pop(key)                   # most recently used
            return [d.astype(np.int64) for d in hit]
    out = _draw(n, srv, n_srv, experts, tokens=tokens, topk=topk, shared=shared,
                node_limit=node_limit, routing=routing, seed=seed)
    if key is not None:
        while len(_DRAWS) >= _DRAW_SLOTS:
            del _DRAWS[next(iter(_DRAWS))]
        small = np.min_scalar_type(max(n - 1, 0))
        _DRAWS[key] = [d.astype(small) for d in out]
    return out


def _draw(n, srv, n_srv, experts, *, tokens, topk, shared, node_limit, routing, seed):
    """:func:`token_destinations`' seeded draw, on checked arguments."""
    expert_srv = srv[experts]
    M = node_limit
    rng = np.random.default_rng(seed)
    # Servers holding equally many experts, in server order (every job filled server by
    # server): a server's group score is then a max over one reshaped axis, not a copy of
    # its columns per server, and its candidates one gather (_grouped_top).
    counts = np.bincount(expert_srv, minlength=n_srv)
    contiguous = bool((counts == counts[0]).all() and (np.diff(expert_srv) >= 0).all())
    out = []
    for r in range(n):
        scores = rng.random((tokens, experts.size))
        if node_limit is not None and routing == "grouped" and contiguous:
            top = _grouped_top(scores, tokens, n_srv, int(counts[0]), M, topk)
            dest = experts[top]
            if shared:
                others = np.delete(np.arange(n), r)
                dest = np.concatenate([dest, rng.choice(others, size=(tokens, shared))], axis=1)
            out.append(dest)
            continue
        if node_limit is not None:
            if routing == "grouped":          # servers of unequal or scattered experts
                group = np.stack([scores[:, expert_srv == k].max(axis=1)
                                  for k in range(n_srv)], axis=1)
                pick = np.argsort(-group, axis=1)[:, :M]
            else:
                pick = np.argsort(rng.random((tokens, n_srv)), axis=1)[:, :M]
            allowed = np.zeros((tokens, n_srv), dtype=bool)
            np.put_along_axis(allowed, pick, True, axis=1)
            ok = allowed[:, expert_srv]
            if (ok.sum(axis=1) < topk).any():
                raise ParameterError(f"node_limit={M} servers hold fewer than topk={topk} experts")
            scores[~ok] = -1.0
        # In place: the same values argpartition(-scores) sees, without a second array.
        np.negative(scores, out=scores)
        top = np.argpartition(scores, topk - 1, axis=1)[:, :topk]
        dest = experts[top]
        if shared:
            others = np.delete(np.arange(n), r)
            dest = np.concatenate([dest, rng.choice(others, size=(tokens, shared))], axis=1)
        out.append(dest)
    return out


def _grouped_top(scores, tokens, n_srv, per, M, topk):
    """Experts of each token's ``topk`` best scores among the ``M`` servers whose best expert
    scores highest (servers holding ``per`` experts each, in server order).

    The same experts as masking every other server's scores to -1 and taking the ``topk``
    best of all (scores lie in [0, 1) and the ``M`` servers hold at least ``topk``), found
    among the ``M * per`` candidates only.
    """
    per_srv = scores.reshape(tokens, n_srv, per)
    if per < 64:
        # Elementwise maxima of the servers' k-th experts (numpy reduces a short inner axis
        # several times slower); the same maxima.
        group = per_srv[:, :, 0].copy()
        for k in range(1, per):
            np.maximum(group, per_srv[:, :, k], out=group)
    else:
        group = per_srv.max(axis=2)
    np.negative(group, out=group)
    pick = np.argsort(group, axis=1)[:, :M]
    if M * per < topk:
        raise ParameterError(f"node_limit={M} servers hold fewer than topk={topk} experts")
    rows = np.arange(tokens)[:, None]
    cand = per_srv[rows, pick].reshape(tokens, M * per)
    np.negative(cand, out=cand)
    best = np.argpartition(cand, topk - 1, axis=1)[:, :topk]
    return pick[rows, best // per] * per + best % per


def moe_traffic(ranks, **kw):
    """Tokens per (source rank, destination rank): an ``n x n`` integer matrix.

    A token counts once per distinct destination rank (two experts of one rank
    get one copy), and never for its own rank.

    Examples
    --------
    >>> m = moe_traffic(["a", "b", "c"], tokens=4, topk=1)
    >>> m.tolist(), m.sum(axis=0).tolist()
    ([[0, 2, 2], [2, 0, 2], [2, 2, 0]], [4, 4, 4])
    """
    n = len(ranks)
    counts = np.zeros((n, n), dtype=np.int64)
    for r, dest in enumerate(token_destinations(ranks, **kw)):
        hit = np.zeros((dest.shape[0], n), dtype=bool)
        np.put_along_axis(hit, dest, True, axis=1)
        hit[:, r] = False
        counts[r] = hit.sum(axis=0)
    return counts


def deepep_counts(ranks, dests):
    """DeepEP's logical token counts per rank, from the destinations of every token.

    Parameters
    ----------
    ranks : list of node names
    dests : list of int arrays
        Per rank, ``(tokens, copies)`` destination rank indices (:func:`token_destinations`).

    Returns
    -------
    dict of numpy arrays, one entry per rank
        ``rdma_tokens``: DeepEP ``test_internode.py``'s ``num_rdma_token_sent``, each
        token once per distinct destination server *including the sender's own*;
        ``nvl_recv_tokens``: the tokens a rank receives, once per (token, rank) however
        many of its experts the token picked, its own tokens included (``recv_x``);
        ``selections``: (token, expert) pairs a rank sends (``test_low_latency.py``).

    Examples
    --------
    Two servers of two GPUs; rank 0's token picks experts on ranks 0, 1 and 3 (both
    servers), its second token ranks 1 and 1 (its own server only):

    The other ranks' tokens all go to rank 3 (three experts there: one message per
    selection, one token for DeepEP's counts).

    >>> ranks = ["a/gpu0", "a/gpu1", "b/gpu0", "b/gpu1"]
    >>> dests = [np.array([[0, 1, 3], [1, 1, 1]])] + [np.array([[3, 3, 3]])] * 3
    >>> c = deepep_counts(ranks, dests)
    >>> c["rdma_tokens"].tolist(), c["nvl_recv_tokens"].tolist(), c["selections"].tolist()
    ([3, 1, 1, 1], [1, 2, 0, 4], [6, 3, 3, 3])
    """
    n = len(ranks)
    srv, n_srv = _servers(ranks)
    rdma = np.zeros(n, dtype=np.int64)
    recv = np.zeros(n, dtype=np.int64)
    sel = np.zeros(n, dtype=np.int64)
    for r, dest in enumerate(dests):
        hit = np.zeros((dest.shape[0], n), dtype=bool)
        np.put_along_axis(hit, dest, True, axis=1)
        recv += hit.sum(axis=0)
        nodes = np.zeros((dest.shape[0], n_srv), dtype=bool)
        np.put_along_axis(nodes, srv[dest], True, axis=1)
        rdma[r] = nodes.sum()
        sel[r] = dest.size
    return {"rdma_tokens": rdma, "nvl_recv_tokens": recv, "selections": sel}


def _nonnegative(name, b):
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not b >= 0:
        raise ParameterError(f"{name} must be >= 0 bytes, got {b!r}")
    return b


def moe_dispatch_combine(pm, ranks, *, tokens, hidden, topk, shared=0, experts_per_gpu=1,
                         node_limit=None, routing="balanced", forward=False, dispatch_bytes=1,
                         combine_bytes=2, scale_bytes=0, header_bytes=0, per_expert=False,
                         overhead=0.0, seed=0):
    """Dispatch then combine as a two-stage :class:`Workload` (see the module notes).

    ``size`` of the workload is one rank's dispatched tokens, ``tokens *
    (hidden * dispatch_bytes + scale_bytes + header_bytes)``.  ``overhead`` (seconds)
    is added once to each stage (an endpoint's fixed cost, e.g. from
    :mod:`topologies.latency`).  ``info['deepep']`` holds :func:`deepep_counts` and the
    bytes DeepEP's scripts count per token, for :func:`deepep_bandwidth`.
    """
    ranks = list(ranks)
    n = len(ranks)
    hidden = _positive_int("hidden", hidden)
    for name, b in (("dispatch_bytes", dispatch_bytes), ("combine_bytes", combine_bytes)):
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not b > 0:
            raise ParameterError(f"{name} must be > 0 bytes per element, got {b!r}")
    _nonnegative("scale_bytes", scale_bytes)
    _nonnegative("header_bytes", header_bytes)
    if isinstance(overhead, bool) or not isinstance(overhead, (int, float)) or not overhead >= 0:
        raise ParameterError(f"overhead must be >= 0 seconds, got {overhead!r}")
    if per_expert and forward:
        raise ParameterError("per_expert messages are DeepEP's low-latency mode (forward=False); "
                             "the forwarding kernels send a token once per server")
    kw = dict(tokens=tokens, topk=topk, shared=shared, experts_per_gpu=experts_per_gpu,
              node_limit=node_limit, routing=routing, seed=seed)
    dests = token_destinations(ranks, **kw)
    srv, n_srv = _servers(ranks)
    members = [[i for i in range(n) if srv[i] == k] for k in range(n_srv)]
    pairs = {}

    def add(i, j, c):
        if c:
            pairs[(i, j)] = pairs.get((i, j), 0) + int(c)

    for r, dest in enumerate(dests):
        if per_expert:
            per_rank = np.bincount(dest.ravel(), minlength=n)
            per_rank[r] = 0
            for j in np.flatnonzero(per_rank):
                add(r, j, per_rank[j])
            continue
        hit = np.zeros((dest.shape[0], n), dtype=bool)
        np.put_along_axis(hit, dest, True, axis=1)
        hit[:, r] = False
        per_rank = hit.sum(axis=0)
        if not forward:
            for j in np.flatnonzero(per_rank):
                add(r, j, per_rank[j])
            continue
        local_pos = members[srv[r]].index(r)
        for k, group in enumerate(members):
            if k == srv[r]:
                for j in group:
                    add(r, j, per_rank[j])
                continue
            reached = int(hit[:, group].any(axis=1).sum())
            entry = group[min(local_pos, len(group) - 1)]
            add(r, entry, reached)
            for j in group:
                if j != entry:
                    add(entry, j, per_rank[j])
    dispatch_token = hidden * dispatch_bytes + scale_bytes + header_bytes
    combine_token = hidden * combine_bytes
    # Byte counts are exact integers up to 2^53 in the solver's float64 sizes; beyond, the
    # per-rank counts times the token size overflow numpy's integers.
    most = tokens * (topk + shared) * max(dispatch_token, combine_token)
    if most > 2**53:
        raise ParameterError(f"hidden={hidden}: {tokens:,} tokens x {topk + shared} copies make "
                             f"about 10^{len(str(int(most))) - 1} bytes a rank, more than 2^53, "
                             f"the largest size held exactly; use a smaller hidden or fewer "
                             f"tokens")
    S = float(tokens * dispatch_token)
    dispatch = [(ranks[i], ranks[j], c * dispatch_token / S) for (i, j), c in pairs.items()]
    combine = [(ranks[j], ranks[i], c * combine_token / S) for (i, j), c in pairs.items()]
    stages = [Stage("dispatch", dispatch, mode="flows", step_overhead=float(overhead)),
              Stage("combine", combine, mode="flows", step_overhead=float(overhead))]
    counts = deepep_counts(ranks, dests)
    info = {"tokens": tokens, "hidden": hidden, "topk": topk, "shared": shared,
            "forward": forward, "routing": routing, "node_limit": node_limit,
            "dispatch_bytes": dispatch_bytes, "combine_bytes": combine_bytes,
            "scale_bytes": scale_bytes, "header_bytes": header_bytes, "per_expert": per_expert,
            "deepep": {"counts": counts, "dispatch_token_bytes": dispatch_token,
                       "combine_token_bytes": combine_token,
                       "metric": "selections" if per_expert else "rdma_tokens"}}
    return Workload("alltoall", "moe", ranks, S, stages, info)


def deepep_bandwidth(pm, workload, result, *, rank=0):
    """Bandwidths of each stage: DeepEP's logical metric and the physical per-GPU bytes.

    Physical, for every stage: the largest, over ranks, of the bytes a rank sends
    across the network (``{stage}_rdma_bw``) or inside its server
    (``{stage}_nvlink_bw``), divided by the stage's time.

    DeepEP's metric, as its test scripts print it for one rank (``rank``, index into
    the workload's ranks; DeepEP prints local rank 0): ``{stage}_deepep_rdma_bw`` is the
    rank's logical bytes over the stage's time, counted as :func:`deepep_counts` says
    (per destination server including its own for the forwarding kernels, per (token,
    expert) selection for ``per_expert`` messages); ``{stage}_deepep_nvl_bw`` the tokens
    it receives (forwarding kernels only).  All in bytes/s; ``{stage}_time`` in seconds.
    """
    S = workload.size
    out = {}
    dep = workload.info.get("deepep")
    for st, res in zip(workload.stages, result.stages):
        sent = _sent_bytes(pm, st.transfers, S)
        for kind in ("rdma", "nvlink"):
            out[f"{st.name}_{kind}_bw"] = sent[kind] / res["time"]
        out[f"{st.name}_time"] = res["time"]
        if dep is not None:
            token = dep[f"{st.name}_token_bytes"]
            counts = dep["counts"]
            out[f"{st.name}_deepep_rdma_bw"] = float(counts[dep["metric"]][rank] * token / res["time"])
            if dep["metric"] == "rdma_tokens":
                out[f"{st.name}_deepep_nvl_bw"] = float(counts["nvl_recv_tokens"][rank] * token
                                                        / res["time"])
    return out


def _sent_bytes(pm, transfers, S):
    """``{'rdma': b, 'nvlink': b}``: the most bytes any sender puts on transfers that cross
    the fabric (its plan has a fabric segment) and on those that stay inside its server.

    Whether a plan crosses the fabric depends on the two ends' servers only (one server:
    a path inside it; two: a fabric segment, :meth:`netemu.serverpaths.ServerPaths.plan`),
    so one plan is looked at per pair of servers, not per transfer; each sender's bytes are
    summed in the transfers' order, as a loop over them would.
    """
    if not transfers:
        return {"rdma": 0.0, "nvlink": 0.0}
    us, vs, amounts = zip(*transfers)
    node_id = {}
    ui = np.fromiter((node_id.setdefault(x, len(node_id)) for x in us), dtype=np.int64,
                     count=len(us))
    vi = np.fromiter((node_id.setdefault(x, len(node_id)) for x in vs), dtype=np.int64,
                     count=len(vs))
    server_id = {}
    srv = np.array([server_id.setdefault(server_key(x), len(server_id)) for x in node_id],
                   dtype=np.int64)
    pair = srv[ui] * len(server_id) + srv[vi]
    kinds, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
    crosses = np.array([any(k == "fabric" for k, _, _ in pm.plan(us[i], vs[i]))
                        for i in first.tolist()], dtype=bool)
    rdma = crosses[inverse.ravel()]
    n = len(node_id)
    # (a * S per transfer, as before; bincount adds each sender's in the transfers' order.)
    sent = np.bincount(ui + n * (~rdma), weights=np.asarray(amounts, dtype=float) * S,
                       minlength=2 * n)
    # Bytes are >= 0, so the senders without such transfers (0 here) change no maximum.
    return {"rdma": float(sent[:n].max()), "nvlink": float(sent[n:].max())}


#: DeepEP's two kernel modes with its benchmark settings (inputs, with their source).
#: ``normal``: ``tests/test_internode.py`` defaults (4,096 tokens, hidden 7,168, top-8 of 256
#: experts, top-``min(num_nodes, 4)`` groups, one group per node), FP8 dispatch with its scales,
#: BF16 combine; [DeepEP-legacy] "4096 tokens per batch, 7168 hidden, top-4 groups, top-8
#: experts, FP8 dispatching and BF16 combining".  ``low-latency``: ``tests/test_low_latency.py``
#: (128 tokens, hidden 7,168, top-8 of all experts, no group limit, one message per selection of
#: ``hidden + hidden / 128 * 4 + 16`` bytes, BF16 combine) and [DeepEP-legacy] "128 tokens per
#: batch, 7168 hidden, top-8 experts".  The low-latency script's default of 288 experts does not
#: divide EP 64-256; 256 (DeepSeek-V3's routed experts) is netemu's choice, and only sets which
#: selections stay on the sender's own GPU (1 in EP either way).
DEEPEP_MODES = {
    "normal": {"tokens": 4096, "hidden": 7168, "topk": 8, "experts": 256, "max_groups": 4,
               "forward": True, "per_expert": False, "header_bytes": 0},
    "low-latency": {"tokens": 128, "hidden": 7168, "topk": 8, "experts": 256, "max_groups": None,
                    "forward": False, "per_expert": True,
                    "header_bytes": LOW_LATENCY_HEADER_BYTES},
}


def deepep(G, gpus, mode="normal", *, overhead=0.0, routing="dmodk", seed=0, **settings):
    """Time one of DeepEP's kernel modes on ``G`` and report its bandwidths.

    Parameters
    ----------
    G : networkx.Graph
        A cluster (servers with GPUs inside a fabric).
    gpus : int or list
        EP size (GPUs filled server by server) or the rank nodes.
    mode : {'normal', 'low-latency'}
        See :data:`DEEPEP_MODES`.
    overhead : float
        Seconds added once to each stage (endpoint overhead of a message).
    routing, seed
        Path routing policy and seed (routing of tokens uses ``seed`` too).
    **settings
        Override entries of the mode's settings (``tokens``, ``hidden``, ``topk``,
        ``experts``, ``max_groups``).

    Returns
    -------
    Result
        ``info`` has :func:`deepep_bandwidth`'s keys plus ``topk_groups``.
    """
    from .ranks import pick_ranks
    from .workload import evaluate, path_model

    if mode not in DEEPEP_MODES:
        raise ParameterError(f"mode must be one of {tuple(DEEPEP_MODES)}, got {mode!r}")
    p = dict(DEEPEP_MODES[mode])
    unknown = set(settings) - {"tokens", "hidden", "topk", "experts", "max_groups"}
    if unknown:
        raise ParameterError(f"unknown DeepEP settings {sorted(unknown)}; allowed: tokens, "
                             f"hidden, topk, experts, max_groups")
    p.update(settings)
    ranks = pick_ranks(G, gpus)
    experts = _positive_int("experts", p["experts"])
    if experts % len(ranks):
        raise ParameterError(f"{experts} experts do not spread evenly over {len(ranks)} GPUs")
    _, n_srv = _servers(ranks)
    groups = None if p["max_groups"] is None else min(n_srv, p["max_groups"])
    pm = path_model(G, routing, seed=seed)
    w = moe_dispatch_combine(
        pm, ranks, tokens=p["tokens"], hidden=p["hidden"], topk=p["topk"],
        experts_per_gpu=experts // len(ranks), node_limit=groups, routing="grouped",
        forward=p["forward"], per_expert=p["per_expert"], dispatch_bytes=1, combine_bytes=2,
        scale_bytes=fp8_scale_bytes(p["hidden"]), header_bytes=p["header_bytes"],
        overhead=overhead, seed=seed)
    w.algorithm = f"deepep-{mode}"
    res = evaluate(G, w, routing=routing, seed=seed)
    res.info.update(deepep_bandwidth(pm, w, res))
    res.info["topk_groups"] = groups
    return res
