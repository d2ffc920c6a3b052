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
    Seeded uniform choice, as DeepEP's benchmark draws random scores: with
    ``node_limit = M`` a token first picks ``M`` distinct servers, then its
    ``topk`` experts among the experts of those servers (DeepSeek-V3's
    node-limited routing, [ISCA] §4.3); without a limit, or with ``M`` at least the
    number of servers, ``topk`` distinct experts anywhere.

Transport
---------
``forward=False``
    Every copy crosses from its rank to the expert's rank on its own (all RDMA,
    the §2.3.2 case where "EP all-to-all is done entirely through NIC RDMA").
``forward=True``
    DeepEP's internode kernels: a token crosses the network once per target
    server, to the GPU with the sender's local index there (same plane/rail),
    which forwards it over NVLink to the target experts on that server; copies
    for the sender's own server go over NVLink directly.  Combine is the reverse,
    reduced on the forwarding GPU, so it also crosses the network once per server.

Dispatch moves ``dispatch_bytes`` per element (FP8: 1), combine
``combine_bytes`` (BF16: 2).  Both are :class:`~collectives.workload.Stage` of
independent flows; the result's ``info`` gives DeepEP's per-GPU bottleneck
bandwidths: the most loaded rank's network (RDMA) and NVLink bytes of each stage
divided by the stage's time.
"""

import numpy as np

from netemu.errors import ParameterError
from netemu.memory import check_fits, moe_bytes
from netemu.routing import server_key

from .workload import Stage, Workload

__all__ = ["moe_dispatch_combine", "moe_traffic", "token_destinations"]

_ROUTINGS = ("balanced", "random")


def _positive_int(name, x):
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ParameterError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)


def token_destinations(ranks, *, tokens, topk, shared=0, experts_per_gpu=1, node_limit=None,
                       routing="balanced", seed=0):
    """Destination ranks of every token: a list, per rank, of a ``(tokens, topk + shared)``
    array of rank indices (a token's copies for two experts of one rank repeat that rank).
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
    servers = [server_key(x) for x in ranks]
    names = sorted(set(servers), key=servers.index)
    srv = np.array([names.index(s) for s in servers])
    n_srv = len(names)
    experts = np.repeat(np.arange(n), experts_per_gpu)        # expert -> rank
    expert_srv = srv[experts]
    if topk > experts.size:
        raise ParameterError(f"topk={topk} exceeds the {experts.size} experts of {n} ranks")
    if node_limit is not None:
        M = _positive_int("node_limit", node_limit)
        if M >= n_srv:
            node_limit = None      # "at most M servers" already holds for every token
    rng = np.random.default_rng(seed)
    out = []
    for r in range(n):
        scores = rng.random((tokens, experts.size))
        if node_limit is not None:
            pick = np.argsort(rng.random((tokens, n_srv)), axis=1)[:, :M]
            allowed = np.zeros((tokens, n_srv), dtype=bool)
            np.put_along_axis(allowed, pick, True, axis=1)
            ok = allowed[:, expert_srv]
            if (ok.sum(axis=1) < topk).any():
                raise ParameterError(f"node_limit={M} servers hold fewer than topk={topk} experts")
            scores = np.where(ok, scores, -1.0)
        top = np.argpartition(-scores, topk - 1, axis=1)[:, :topk]
        dest = experts[top]
        if shared:
            others = np.delete(np.arange(n), r)
            dest = np.concatenate([dest, rng.choice(others, size=(tokens, shared))], axis=1)
        out.append(dest)
    return out


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


def moe_dispatch_combine(pm, ranks, *, tokens, hidden, topk, shared=0, experts_per_gpu=1,
                         node_limit=None, routing="balanced", forward=False, dispatch_bytes=1,
                         combine_bytes=2, seed=0):
    """Dispatch then combine as a two-stage :class:`Workload` (see the module notes).

    ``size`` of the workload is one rank's tokens, ``tokens * hidden * dispatch_bytes``;
    the combine stage's amounts carry the ``combine_bytes / dispatch_bytes`` ratio.
    """
    ranks = list(ranks)
    n = len(ranks)
    hidden = _positive_int("hidden", hidden)
    for name, b in (("dispatch_bytes", dispatch_bytes), ("combine_bytes", combine_bytes)):
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not b > 0:
            raise ParameterError(f"{name} must be > 0 bytes per element, got {b!r}")
    kw = dict(tokens=tokens, topk=topk, shared=shared, experts_per_gpu=experts_per_gpu,
              node_limit=node_limit, routing=routing, seed=seed)
    dests = token_destinations(ranks, **kw)
    servers = [server_key(x) for x in ranks]
    srv_names = sorted(set(servers), key=servers.index)
    srv = np.array([srv_names.index(s) for s in servers])
    members = [[i for i in range(n) if srv[i] == k] for k in range(len(srv_names))]
    pairs = {}

    def add(i, j, c):
        if c:
            pairs[(i, j)] = pairs.get((i, j), 0) + int(c)

    for r, dest in enumerate(dests):
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
    S = float(tokens * hidden * dispatch_bytes)
    token_bytes = hidden * dispatch_bytes
    ratio = combine_bytes / dispatch_bytes
    dispatch = [(ranks[i], ranks[j], c * token_bytes / S) for (i, j), c in pairs.items()]
    combine = [(v, u, a * ratio) for u, v, a in dispatch]
    stages = [Stage("dispatch", dispatch, mode="flows"), Stage("combine", combine, mode="flows")]
    info = {"tokens": tokens, "hidden": hidden, "topk": topk, "shared": shared,
            "forward": forward, "routing": routing, "node_limit": node_limit,
            "dispatch_bytes": dispatch_bytes, "combine_bytes": combine_bytes}
    return Workload("alltoall", "moe", ranks, S, stages, info)


def deepep_bandwidth(pm, workload, result):
    """DeepEP's per-GPU bottleneck bandwidths of each stage, split into RDMA and NVLink.

    For every stage: the largest, over ranks, of the bytes a rank sends across the
    network (``rdma``) or inside its server (``nvlink``), divided by the stage's time.
    """
    S = workload.size
    out = {}
    for st, res in zip(workload.stages, result.stages):
        sent = {}
        for u, v, a in st.transfers:
            kind = "rdma" if any(k == "fabric" for k, _, _ in pm.plan(u, v)) else "nvlink"
            sent[(kind, u)] = sent.get((kind, u), 0.0) + a * S
        for kind in ("rdma", "nvlink"):
            top = max((b for (k, _), b in sent.items() if k == kind), default=0.0)
            out[f"{st.name}_{kind}_bw"] = top / res["time"]
        out[f"{st.name}_time"] = res["time"]
    return out
