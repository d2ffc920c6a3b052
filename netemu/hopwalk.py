"""Compiled hop-by-hop walk of hashed-ECMP and d-mod-k flows (:mod:`netemu.routing`).

The router's vectorised walk runs a dozen whole-array NumPy operations per hop
over every flow (4.2 M flows on ``isca-ft2``: about 2 s of CPU); this kernel
does the same walk flow by flow in one compiled pass, with the same arithmetic
(SplitMix64 hop hashes of :func:`netemu.routing._hop_choice`, destination-rank
digits for d-mod-k), so it picks exactly the same next hops.
"""

import numpy as np

from .flow import _jit

__all__ = ["walk"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

HASH, DMODK = 0, 1


@_jit
def _mix(x):
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@_jit
def walk(kind, cur0, tcol, Dx, ncand, offs, cv, salt, base, rank, hops):
    """Walk flows from extended node ``cur0[j]`` towards target column ``tcol[j]``.

    Returns ``(visited, code, radix, last)`` as the vectorised walk builds them:
    ``visited[h, j]`` the node reached at hop h (-1 once arrived), ``code`` the
    choices in mixed radix, ``radix`` its base, ``last`` the final node.
    """
    n = cur0.shape[0]
    K = Dx.shape[1]
    top = cv.shape[0] - 1
    visited = np.full((hops, n), -1, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)
    radix = np.ones(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    for j in range(n):
        cur = cur0[j]
        t = tcol[j]
        prod = 1
        c_j = 0
        r_j = 1
        for h in range(hops):
            if Dx[cur, t] <= 0:
                break
            key = cur * K + t
            c = ncand[key]
            k = 0
            if c > 1:
                if kind == HASH:
                    field = np.uint64(salt[cur] + 1) + _GOLDEN
                    k = np.int64(_mix(base[j] ^ field) % np.uint64(c))
                else:
                    k = (rank[j] // prod) % c
                    prod *= c
            cur = cv[min(offs[key] + k, top)]
            visited[h, j] = cur
            c_j += k * r_j
            r_j *= c
        code[j] = c_j
        radix[j] = r_j
        last[j] = cur
    return visited, code, radix, last


@_jit
def flow_hashes(h0, src_id, dst_id, sport, dport, proto):
    """:func:`netemu.routing.flow_hash` of every flow in one compiled pass (same values):
    ``h0`` is the mixed seed, the fields are folded in the same order."""
    n = src_id.shape[0]
    out = np.empty(n, dtype=np.uint64)
    fd = np.uint64(dport) + _GOLDEN
    fp = np.uint64(proto) + _GOLDEN
    for j in range(n):
        h = _mix(h0 ^ (np.uint64(src_id[j]) + _GOLDEN))
        h = _mix(h ^ (np.uint64(dst_id[j]) + _GOLDEN))
        h = _mix(h ^ (np.uint64(sport[j]) + _GOLDEN))
        h = _mix(h ^ fd)
        out[j] = _mix(h ^ fp)
    return out
