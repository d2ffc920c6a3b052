"""Slim Fly: diameter-2 networks of routers from McKay–Miller–Širáň graphs.

A Slim Fly ([SF]) joins ``2 q²`` routers so that any two are at most two hops
apart, with far fewer routers and cables than a fat-tree of the same size.  Its
router graph is the McKay–Miller–Širáň (MMS) graph ([MMS], described
geometrically by [Hafner]) for a prime power ``q = 4w + δ``, ``δ ∈ {-1, 0, 1}``:

- routers ``(s, a, b)``: subgraph ``s ∈ {0, 1}``, group ``a`` and position
  ``b``, both elements of the finite field GF(q); ``q`` groups of ``q``
  routers per subgraph;
- ``ξ`` a primitive element of GF(q) and two generator sets ``X`` and ``X'``
  of ``(q - δ)/2`` powers of ``ξ`` each ([SF]): for ``δ = 1`` the even
  and the odd powers; for ``δ = 0`` the even powers ``ξ^0 ... ξ^(q-2)`` and the
  odd powers ``ξ^1 ... ξ^(q-1)``; for ``δ = -1``
  ``X = {ξ^0, ξ^2, ..., ξ^(2w-2), ξ^(2w-1), ξ^(2w+1), ..., ξ^(4w-3)}`` and
  ``X' = {ξ^1, ξ^3, ..., ξ^(2w-1), ξ^(2w), ξ^(2w+2), ..., ξ^(4w-2)}``;
- inside a group of subgraph 0, ``(0, x, y) ~ (0, x, y')`` iff ``y - y' ∈ X``;
  inside a group of subgraph 1, ``(1, m, c) ~ (1, m, c')`` iff ``c - c' ∈ X'``;
- across subgraphs, ``(0, x, y) ~ (1, m, c)`` iff ``y = m x + c``.

Every router then has network radix ``k' = (3q - δ)/2`` (``(q - δ)/2`` links in
its group and ``q`` to the other subgraph) and the router graph has diameter 2.
Each router also serves ``p`` endpoints; [SF] balances the network with
``p ≈ k'/2``.

GF(q) is implemented here (a few lines: log/antilog tables from a primitive
polynomial found by exhaustive search), which keeps netemu free of the
``galois`` package for tables of at most a few thousand entries.

**The ring construction.**  A radix-64 router fits ``k' + p = 63`` ports at
``q = 28`` (1,568 routers, ``k' = 42``, ``p = 21``): the SF column of [ISCA]
Table 3.  28 is not a prime power, so no MMS graph of that size exists.
``construction='ring'`` builds the same-shaped graph with arithmetic modulo
``q`` instead of GF(q): the same three adjacency rules, with symmetric
generator sets of ``(q - δ)/2`` residues chosen deterministically (below).
It has exactly ``2 q²`` routers of network radix ``(3q - δ)/2`` and the same
edge count, but ``y = m x + c`` does not define a projective-plane-like
incidence over a ring with zero divisors, so **diameter 2 is not
guaranteed**: the router graph has diameter 3 for every non-prime-power ``q``
from 12 to 28, ``q = 28`` included (measured in
``tests/topologies/test_slim_fly.py``); for a prime ``q`` the integers mod
``q`` are a field and the diameter is 2 again.  It is a stand-in for cost and
size comparisons (one more router hop than a true Slim Fly), not a Slim Fly.

Ring generator sets: the non-zero residues pair up as ``{a, q - a}``;
``X`` takes the pairs of odd ``a`` (``a = 1, 3, 5, ...``) and ``X'`` the pairs
of even ``a`` (``a = 2, 4, ...``), each topped up to ``w`` pairs (``(q - δ)/2``
residues) with the smallest pairs of the other parity when its own run out.

Naming: routers ``r{i}`` (role ``router``, attrs ``subgraph``, ``x`` = group,
``y`` = position, ``index`` = ``i``), ``i = s q² + a q + b`` with elements of
GF(q) numbered as in the field tables; endpoints ``n{h}`` (role ``host``, attr
``router``) with ``h = i p + j``.  The first half of the endpoints therefore
sits on subgraph 0 and the second half on subgraph 1.

References
----------
.. [SF] M. Besta, T. Hoefler, "Slim Fly: A Cost Effective Low-Diameter Network
   Topology", SC'14 (extended version arXiv:1912.08968).
.. [MMS] B. D. McKay, M. Miller, J. Širáň, "A note on large graphs of
   diameter two and given maximum degree", J. Comb. Theory B 74 (1998).
.. [Hafner] P. R. Hafner, "Geometric realisation of the graphs of McKay–Miller–
   Širáň", J. Comb. Theory B 90 (2004).
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3", ISCA '25, Table 3.
"""

import numpy as np

from netemu.checks import check_choice, check_int, check_nonnegative, check_positive
from netemu.errors import ParameterError
from netemu.graph import MEDIA, new_graph
from netemu.memory import check_fits, graph_bytes

from .hardware import IB_NDR_64

__all__ = ["slim_fly", "slim_fly_delta", "prime_power", "GaloisField"]

CONSTRUCTIONS = ("mms", "ring")


def prime_power(q):
    """``(p, n)`` with ``q = p**n`` for a prime ``p``, or ``None`` if ``q`` is not a prime power.

    >>> prime_power(27), prime_power(28), prime_power(2)
    ((3, 3), None, (2, 1))
    """
    if q < 2:
        return None
    p = next(d for d in range(2, q + 1) if q % d == 0)
    n = 0
    while q % p == 0:
        q //= p
        n += 1
    return (p, n) if q == 1 else None


def slim_fly_delta(q):
    """``δ ∈ {-1, 0, 1}`` with ``q = 4w + δ``; raise :class:`ParameterError` if none fits.

    >>> slim_fly_delta(5), slim_fly_delta(7), slim_fly_delta(28)
    (1, -1, 0)
    """
    delta = q - 4 * round(q / 4)
    if delta not in (-1, 0, 1):
        raise ParameterError(f"q must be 4w + δ with δ in -1, 0, 1 (q mod 4 in 0, 1, 3), "
                             f"got q={q} (q mod 4 = 2)")
    return delta


class GaloisField:
    """The finite field GF(q) for a prime power ``q``, elements numbered ``0 ... q-1``.

    Element ``e`` stands for the polynomial whose base-``p`` digits are its
    coefficients; multiplication is modulo the first primitive polynomial of
    degree ``n`` (coefficients read as a base-``p`` number, smallest first),
    whose root ``x`` is the primitive element ``xi``.  Tables: ``add``, ``sub``,
    ``mul`` (q x q arrays) and ``power[e]`` = ``xi**e``.

    >>> F = GaloisField(4)
    >>> int(F.mul[F.xi, F.xi]), int(F.add[F.xi, 1])
    (3, 3)
    >>> sorted(int(F.power[e]) for e in range(3))
    [1, 2, 3]
    """

    def __init__(self, q):
        pn = prime_power(q)
        if pn is None:
            raise ParameterError(f"GF(q) needs a prime power q, got {q}")
        self.q, (self.p, self.n) = q, pn
        p, n = self.p, self.n
        digits = np.array([[(e // p**i) % p for i in range(n)] for e in range(q)], dtype=np.int64)
        weights = p ** np.arange(n, dtype=np.int64)
        self.add = ((digits[:, None, :] + digits[None, :, :]) % p) @ weights
        self.sub = ((digits[:, None, :] - digits[None, :, :]) % p) @ weights
        self.power = self._primitive_powers(digits, weights)
        log = np.zeros(q, dtype=np.int64)
        log[self.power] = np.arange(q - 1)
        self.mul = np.zeros((q, q), dtype=np.int64)
        nz = np.arange(1, q)
        self.mul[1:, 1:] = self.power[(log[nz][:, None] + log[nz][None, :]) % (q - 1)]
        self.xi = int(self.power[1 % (q - 1)]) if q > 2 else 1

    def _primitive_powers(self, digits, weights):
        """Powers ``xi**0 ... xi**(q-2)`` for the first primitive polynomial."""
        p, n, q = self.p, self.n, self.q
        for low in range(1, p**n):
            f = digits[low]                       # x^n + f[n-1] x^(n-1) + ... + f[0]
            if f[0] == 0:
                continue
            v = np.zeros(n, dtype=np.int64)
            v[0] = 1
            seen, powers = set(), []
            for _ in range(q - 1):
                e = int(v @ weights)
                if e in seen:
                    break
                seen.add(e)
                powers.append(e)
                top = v[-1]
                v = np.concatenate(([0], v[:-1]))
                v = (v - top * f) % p
            else:
                if len(powers) == q - 1 and int(v @ weights) == 1:
                    return np.array(powers, dtype=np.int64)
        raise AssertionError(f"no primitive polynomial found for GF({q})")  # pragma: no cover


def _mms_generators(field, delta):
    """The MMS generator sets ``X`` and ``X'`` as arrays of field elements ([SF])."""
    q = field.q
    if delta == 1:
        xs, xps = range(0, q - 1, 2), range(1, q - 1, 2)
    elif delta == 0:
        xs, xps = range(0, q - 1, 2), range(1, q, 2)
    else:
        w = (q + 1) // 4
        xs = list(range(0, 2 * w - 1, 2)) + list(range(2 * w - 1, 4 * w - 2, 2))
        xps = list(range(1, 2 * w, 2)) + list(range(2 * w, 4 * w - 1, 2))
    power = lambda exps: np.array(sorted({int(field.power[e % (q - 1)]) for e in exps}))
    return power(xs), power(xps)


def _ring_generators(q, delta):
    """Symmetric sets of ``(q - δ)/2`` residues mod ``q`` for the ring construction."""
    size = (q - delta) // 2
    pairs = list(range(1, (q + 1) // 2))          # a stands for {a, q - a}; a < q/2
    odd = [a for a in pairs if a % 2] + [a for a in pairs if not a % 2]
    even = [a for a in pairs if not a % 2] + [a for a in pairs if a % 2]
    expand = lambda order: np.array(sorted({r for a in order[:size // 2] for r in (a, q - a)}))
    return expand(odd), expand(even)


class _Ring:
    """Integers modulo ``q`` with the same table interface as :class:`GaloisField`."""

    def __init__(self, q):
        r = np.arange(q)
        self.q = q
        self.add = (r[:, None] + r[None, :]) % q
        self.sub = (r[:, None] - r[None, :]) % q
        self.mul = (r[:, None] * r[None, :]) % q


def slim_fly(q, p, *, link_bandwidth=IB_NDR_64.port_bandwidth, latency=0.0, construction="mms", medium="ib"):
    """Return a Slim Fly of ``2 q²`` routers with ``p`` endpoints each.

    Parameters
    ----------
    q : int
        Routers per group and groups per subgraph; ``q = 4w + δ`` with ``δ``
        in -1, 0, 1, and a prime power for ``construction='mms'``.  At least 3.
    p : int
        Endpoints per router, at least 0 ([SF] balances at ``ceil(k'/2)``).
    link_bandwidth : float
        Bytes/s per direction of every link, router-router and endpoint
        (default 400 Gb/s).
    latency : float
        Seconds per link (default 0).
    construction : {'mms', 'ring'}
        ``'mms'``: the McKay–Miller–Širáň graph over GF(q), diameter 2.
        ``'ring'``: the same rules over the integers mod ``q`` for any such
        ``q``; same size and degrees, diameter not guaranteed (module docs).
    medium : str
        Link medium (default ``'ib'``).

    Returns
    -------
    networkx.Graph
        Routers ``r{i}`` and endpoints ``n{h}`` as described in the module
        docstring; ``q**3`` inter-subgraph links plus ``q**2 (q - δ)/2``
        intra-group links.

    Raises
    ------
    ParameterError
        ``q`` below 3, ``q mod 4 == 2``, ``q`` not a prime power with
        ``construction='mms'``, ``p`` negative, or a bad bandwidth, latency,
        construction or medium.

    Examples
    --------
    The smallest MMS graph, q = 5: 50 routers of network radix 7 (the
    Hoffman–Singleton graph), diameter 2:

    >>> import networkx as nx
    >>> G = slim_fly(5, 4)
    >>> routers = [n for n, r in G.nodes(data="role") if r == "router"]
    >>> len(routers), {G.degree(r) for r in routers}
    (50, {11})
    >>> nx.diameter(G.subgraph(routers))
    2

    The ISCA-sized stand-in over the integers mod 28:

    >>> G = slim_fly(28, 21, construction="ring")
    >>> G.number_of_nodes() - 2 * 28**2, G.degree("r0")
    (32928, 63)
    """
    params = dict(q=q, p=p, link_bandwidth=link_bandwidth, latency=latency,
                  construction=construction, medium=medium)
    q = check_int("q", q, minimum=3)
    p = check_int("p", p, minimum=0)
    link_bandwidth = check_positive("link_bandwidth", link_bandwidth)
    latency = check_nonnegative("latency", latency)
    check_choice("construction", construction, CONSTRUCTIONS)
    check_choice("medium", medium, sorted(MEDIA))
    check_fits(graph_bytes(2 * q * q * (1 + p), 2 * q * q * (p + 2 * q)),
               f"a Slim Fly with q={q:,}")
    delta = slim_fly_delta(q)
    if construction == "mms":
        if prime_power(q) is None:
            raise ParameterError(f"q={q} is not a prime power, so no MMS graph exists; use a "
                                 f"prime power q (e.g. {_nearest_prime_powers(q)}) or "
                                 f"construction='ring'")
        arith = GaloisField(q)
        X, Xp = _mms_generators(arith, delta)
    else:
        arith = _Ring(q)
        X, Xp = _ring_generators(q, delta)
    params.update(q=q, p=p, link_bandwidth=link_bandwidth, latency=latency)

    G = new_graph("slim_fly", params)
    q2 = q * q
    G.add_nodes_from((f"r{i}", {"role": "router", "subgraph": i // q2, "x": i % q2 // q,
                                "y": i % q, "index": i}) for i in range(2 * q2))
    attrs = {"bandwidth": link_bandwidth, "latency": latency, "medium": medium, "cables": 1}
    edges = []
    for s, gens in ((0, X), (1, Xp)):
        in_set = np.zeros(q, dtype=bool)
        in_set[gens] = True
        # y ~ y' iff y - y' in the generator set; the sets are symmetric, so take y < y'.
        ys, yps = np.nonzero(in_set[arith.sub] & np.triu(np.ones((q, q), dtype=bool), 1))
        for a in range(q):
            base = s * q2 + a * q
            edges.extend((f"r{base + y}", f"r{base + yp}") for y, yp in zip(ys, yps))
    for x in range(q):
        for m in range(q):
            ys = arith.add[arith.mul[m, x]]       # y = m x + c, indexed by c
            edges.extend((f"r{x * q + int(ys[c])}", f"r{q2 + m * q + c}") for c in range(q))
    G.add_edges_from(edges, **attrs)
    G.add_nodes_from((f"n{h}", {"role": "host", "router": h // p, "index": h})
                     for h in range(2 * q2 * p))
    G.add_edges_from(((f"n{h}", f"r{h // p}") for h in range(2 * q2 * p)), **attrs)
    return G


def _nearest_prime_powers(q):
    below = next(n for n in range(q - 1, 2, -1) if prime_power(n) and n % 4 != 2)
    above = next(n for n in range(q + 1, 4 * q) if prime_power(n) and n % 4 != 2)
    return f"{below} or {above}"
