"""Traffic patterns: which endpoint sends to which, and how many bytes.

A :class:`Traffic` is three arrays over a list of endpoint names -- source
index, destination index and bytes -- never a Python object per flow, so that
an all-to-all over thousands of endpoints (millions of flows) stays a few
arrays.  Sizes are optional: without them a solve gives steady-state rates
only; with them it also gives completion times.

Endpoints are the fabric's access points, :func:`netemu.graph.endpoints`:
non-switch nodes linked to a switch (hosts of a fat-tree, the NICs of a
multi-plane fabric, storage nodes).

Patterns: :func:`all_to_all`, :func:`permutation` (a random derangement),
:func:`incast`, :func:`shift` (``i -> i + k``), and :func:`from_csv` for a
file with a ``src,dst,bytes`` header.
"""

import csv
import io
import math
import os
import numbers

import numpy as np

from .errors import TrafficError
from .graph import endpoints as graph_endpoints
from .memory import check_fits, traffic_bytes
from .units import parse_size

#: Peak bytes of parsing a traffic CSV per byte of file (see from_csv).
CSV_BYTES_PER_FILE_BYTE = 20
#: Largest flow, bytes (2^53: beyond it a float no longer holds every whole number).
MAX_FLOW_BYTES = float(2**53)

__all__ = ["Traffic", "AllToAll", "all_to_all", "permutation", "incast", "shift", "from_csv"]


class Traffic:
    """Flows ``endpoints[src[i]] -> endpoints[dst[i]]`` of ``sizes[i]`` bytes.

    Parameters
    ----------
    endpoints : sequence of node names
    src, dst : integer arrays of the same length, indices into ``endpoints``
    sizes : float array or scalar, optional
        Bytes per flow, finite and > 0.
    sport : integer array, optional
        Source port per flow (hashed ECMP); by default derived from the flow index.
    name : str
        What made it (``'all-to-all'``, ``'file.csv'`` ...), for printing.
    """

    def __init__(self, endpoints, src, dst, sizes=None, sport=None, name="traffic"):
        self.endpoints = list(endpoints)
        if len(set(self.endpoints)) != len(self.endpoints):
            seen, dup = set(), None
            for e in self.endpoints:
                if e in seen:
                    dup = e
                    break
                seen.add(e)
            raise TrafficError(f"endpoint {dup!r} is listed twice")
        self.src = _index_array(src, "src")
        self.dst = _index_array(dst, "dst")
        self.name = name
        n = self.src.size
        if self.dst.size != n:
            raise TrafficError(f"src has {n} flows but dst has {self.dst.size}")
        if n == 0:
            raise TrafficError(f"{name}: the traffic has no flows")
        N = len(self.endpoints)
        for arr, what in ((self.src, "src"), (self.dst, "dst")):
            if arr.min() < 0 or arr.max() >= N:
                bad = arr[(arr < 0) | (arr >= N)][0]
                raise TrafficError(f"{what} index {bad} is outside the {N} endpoints")
        same = self.src == self.dst
        if same.any():
            i = int(np.flatnonzero(same)[0])
            raise TrafficError(f"flow {i} goes from {self.endpoints[self.src[i]]!r} to itself; "
                               f"source and destination must differ")
        if sizes is not None:
            try:
                sizes = np.asarray(sizes, dtype=np.float64) if not _is_number(sizes) else \
                    np.full(n, float(sizes))
            except (TypeError, ValueError, OverflowError):
                raise TrafficError(f"sizes must be numbers of bytes, got {str(sizes)[:60]!r}") \
                    from None
            if sizes.shape != (n,):
                raise TrafficError(f"sizes must be one number per flow ({n}), got shape "
                                   f"{sizes.shape}")
            ok = np.isfinite(sizes) & (sizes > 0)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                raise TrafficError(f"flow {i} has size {sizes[i]!r}; sizes must be finite "
                                   f"numbers of bytes > 0")
        self.sizes = sizes
        if sport is not None:
            sport = _index_array(sport, "sport")
            if sport.size != n or sport.min() < 0 or sport.max() > 65535:
                raise TrafficError("sport must be one port number 0..65535 per flow")
        self.sport = sport

    @property
    def n_flows(self):
        return self.src.size

    def __len__(self):
        return self.n_flows

    def __repr__(self):
        sized = "" if self.sizes is None else f", {self.sizes.sum():.4g} bytes"
        return f"<Traffic {self.name}: {self.n_flows} flows over {len(self.endpoints)} endpoints{sized}>"

    def pairs(self, limit=None):
        """``(src name, dst name)`` of the first ``limit`` flows (all by default)."""
        m = self.n_flows if limit is None else min(limit, self.n_flows)
        e = self.endpoints
        return [(e[a], e[b]) for a, b in zip(self.src[:m].tolist(), self.dst[:m].tolist())]

    def check(self, G):
        """Raise :class:`TrafficError` unless every endpoint used is an endpoint of ``G``."""
        used = np.zeros(len(self.endpoints), dtype=bool)
        used[self.src] = True
        used[self.dst] = True
        _check_endpoints(G, [self.endpoints[i] for i in np.flatnonzero(used).tolist()])
        return self


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _index_array(a, what):
    arr = np.asarray(a)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TrafficError(f"{what} must be a 1-D array of integer indices")
    return arr.astype(np.int64, copy=False)


def _failed_endpoints(G):
    """Endpoints :func:`netemu.fail` cut off from every switch; still part of the traffic,
    so that solve names their flows as disconnected instead of dropping them."""
    rec = G.graph.get("failures") or {}
    return [n for n in rec.get("lost_endpoints", []) if n in G]


def _all_endpoints(G):
    lost = set(_failed_endpoints(G))
    if not lost:
        return graph_endpoints(G)
    eps = set(graph_endpoints(G)) | lost
    return [n for n in G if n in eps]


def _check_endpoints(G, names):
    eps = set(graph_endpoints(G)) | set(_failed_endpoints(G))
    for n in names:
        try:
            hash(n)
        except TypeError:
            raise TrafficError(f"endpoint names must be node names, got {n!r}") from None
        if n not in eps:
            if n not in G:
                raise TrafficError(f"{n!r} is not a node of the graph")
            raise TrafficError(f"{n!r} (role {G.nodes[n].get('role')!r}) is not an endpoint: "
                               f"endpoints are non-switch nodes linked to a switch")


def _endpoint_list(G, endpoints):
    if endpoints is None:
        eps = _all_endpoints(G)
    else:
        if isinstance(endpoints, str):
            raise TrafficError(f"endpoints must be a list of names, got the string {endpoints!r}")
        try:
            eps = list(endpoints)
        except TypeError:
            raise TrafficError(f"endpoints must be a list of names, got "
                               f"{type(endpoints).__name__}") from None
        _check_endpoints(G, eps)
    if len(set(eps)) != len(eps):
        raise TrafficError("endpoints lists a name twice")
    if len(eps) < 2:
        raise TrafficError(f"traffic needs at least 2 endpoints, got {len(eps)}")
    return eps


def all_to_all(G, endpoints=None, size=None):
    """Every endpoint sends to every other: ``N * (N - 1)`` flows of ``size`` bytes each.

    >>> from netemu.graph import new_graph, add_link
    >>> G = new_graph("star", {})
    >>> G.add_node("sw", role="switch")
    >>> for h in ("n0", "n1", "n2"):
    ...     G.add_node(h, role="host"); add_link(G, h, "sw", 1e9)
    >>> all_to_all(G).pairs()[:3]
    [('n0', 'n1'), ('n0', 'n2'), ('n1', 'n0')]
    """
    eps = _endpoint_list(G, endpoints)
    if size is None or _is_number(size):
        return AllToAll(eps, size)
    N = len(eps)
    check_fits(traffic_bytes(N * (N - 1)), f"an all-to-all over {N:,} endpoints "
                                           f"({N * (N - 1):,} flows)")
    src, dst = AllToAll.pair_of(np.arange(N * (N - 1), dtype=np.int64), N)
    return Traffic(eps, src, dst, size, name="all-to-all")


class AllToAll(Traffic):
    """All ``N * (N - 1)`` ordered pairs of ``endpoints``, flow ``k`` being
    ``k // (N - 1) -> j + (j >= src)`` with ``j = k mod (N - 1)``.

    The pairs are a formula, so ``src``, ``dst`` (and ``sizes`` for a uniform
    size) are built only when first read: 16,384 endpoints make 268 M flows,
    4 GB as index arrays, and the factored solver never needs them.
    """

    def __init__(self, endpoints, size=None, name="all-to-all"):
        self.endpoints = list(endpoints)
        if len(set(self.endpoints)) != len(self.endpoints) or len(self.endpoints) < 2:
            raise TrafficError("all-to-all needs at least 2 distinct endpoints")
        if size is not None:
            if not _is_number(size) or not math.isfinite(size) or size <= 0:
                raise TrafficError(f"size {size!r} is not a finite number of bytes > 0")
            size = float(size)
        self.size = size
        self.name = name
        self.sport = None
        self._pairs = None
        self._sizes = None

    @staticmethod
    def pair_of(k, N):
        """(src, dst) endpoint indices of flow numbers ``k`` of an all-to-all over ``N``."""
        k = np.asarray(k, dtype=np.int64)
        src = k // (N - 1)
        j = k % (N - 1)
        return src, j + (j >= src)

    @property
    def n_flows(self):
        N = len(self.endpoints)
        return N * (N - 1)

    def _all_pairs(self):
        if self._pairs is None:
            N = len(self.endpoints)
            check_fits(traffic_bytes(self.n_flows), f"the pairs of an all-to-all over {N:,} "
                                                    f"endpoints ({self.n_flows:,} flows)")
            self._pairs = self.pair_of(np.arange(self.n_flows, dtype=np.int64),
                                       len(self.endpoints))
        return self._pairs

    @property
    def src(self):
        return self._all_pairs()[0]

    @property
    def dst(self):
        return self._all_pairs()[1]

    @property
    def sizes(self):
        if self.size is None:
            return None
        if self._sizes is None:
            self._sizes = np.full(self.n_flows, self.size)
        return self._sizes

    def pairs(self, limit=None):
        m = self.n_flows if limit is None else min(limit, self.n_flows)
        s, d = self.pair_of(np.arange(m), len(self.endpoints))
        e = self.endpoints
        return [(e[a], e[b]) for a, b in zip(s.tolist(), d.tolist())]

    def check(self, G):
        _check_endpoints(G, self.endpoints)
        return self

    def __repr__(self):
        sized = "" if self.size is None else f", {self.size * self.n_flows:.4g} bytes"
        return (f"<Traffic {self.name}: {self.n_flows} flows over {len(self.endpoints)} "
                f"endpoints{sized}>")


def permutation(G, seed=0, endpoints=None, size=None):
    """Each endpoint sends to exactly one other and receives from exactly one.

    A derangement drawn uniformly at random with ``numpy.random.default_rng(seed)``.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TrafficError(f"seed must be an integer >= 0, got {seed!r}")
    eps = _endpoint_list(G, endpoints)
    rng = np.random.default_rng(seed)
    N = len(eps)
    while True:
        p = rng.permutation(N)
        if not np.any(p == np.arange(N)):
            break
    return Traffic(eps, np.arange(N), p, size, name=f"permutation(seed={seed})")


def incast(G, dst, srcs=None, size=None):
    """Every endpoint in ``srcs`` (default: all others) sends to ``dst``."""
    try:
        hash(dst)
    except TypeError:
        raise TrafficError(f"incast destination must be a node name, got {dst!r}") from None
    if srcs is None:
        eps = _all_endpoints(G)
        _check_endpoints(G, [dst])
        srcs = [e for e in eps if e != dst]
    else:
        srcs = list(srcs)
        if dst in srcs:
            raise TrafficError(f"incast destination {dst!r} is also listed as a source")
    eps = _endpoint_list(G, list(srcs) + [dst])
    n = len(eps) - 1
    return Traffic(eps, np.arange(n), np.full(n, n), size, name=f"incast:{dst}")


def shift(G, k, endpoints=None, size=None):
    """Endpoint ``i`` sends to endpoint ``(i + k) mod N``."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TrafficError(f"shift k must be an integer, got {k!r}")
    eps = _endpoint_list(G, endpoints)
    N = len(eps)
    if k % N == 0:
        raise TrafficError(f"shift k={k} is a multiple of the {N} endpoints, so every endpoint "
                           f"would send to itself")
    src = np.arange(N)
    # k mod N first: a k beyond int64 (shift:99999999999999999999) is still a shift.
    return Traffic(eps, src, (src + int(k) % N) % N, size, name=f"shift:{k}")


def from_csv(path, G=None):
    """Read flows from a CSV file whose header names the columns ``src``, ``dst``, ``bytes``.

    ``bytes`` is a number or a size such as ``4MiB``.  Blank lines are skipped.
    With ``G`` the names are checked against its endpoints here; otherwise when
    the traffic is solved.  Errors name the line.
    """
    from .io import read_bounded

    if not isinstance(path, (str, os.PathLike)):
        raise TrafficError(f"path must be a file name, got {type(path).__name__}")
    raw = read_bounded(path, TrafficError, what="traffic file")
    # Parsing keeps three Python list entries per row (about 110 bytes) for rows of at
    # least 6 characters ("a,b,1\n"): at most ~20 bytes per byte of file.
    check_fits(len(raw) * CSV_BYTES_PER_FILE_BYTE, f"reading {path} ({len(raw):,} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TrafficError(f"{path}: not a UTF-8 text file") from None
    del raw
    fh = io.StringIO(text, newline="")
    names, index = [], {}
    src, dst, sizes = [], [], []
    with fh:
        try:
            reader = csv.reader(fh)
            header = None
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if header is None:
                    header = [c.strip().lower() for c in row]
                    need = ["src", "dst", "bytes"]
                    if sorted(header) != sorted(need):
                        raise TrafficError(f"{path}: line {line}: header must name the columns "
                                           f"src,dst,bytes; got {','.join(row)[:80]!r}")
                    cols = [header.index(c) for c in need]
                    continue
                if len(row) != len(header):
                    raise TrafficError(f"{path}: line {line}: expected {len(header)} fields "
                                       f"(src,dst,bytes), got {len(row)}")
                s, d, b = (row[c].strip() for c in cols)
                if not s or not d:
                    raise TrafficError(f"{path}: line {line}: empty endpoint name")
                if s == d:
                    raise TrafficError(f"{path}: line {line}: {s!r} sends to itself")
                size = _parse_bytes(b)
                if size is None:
                    raise TrafficError(f"{path}: line {line}: bytes {b!r} is not a whole number "
                                       f"of bytes from 1 to {MAX_FLOW_BYTES:.3g}")
                for x in (s, d):
                    if x not in index:
                        index[x] = len(names)
                        names.append(x)
                src.append(index[s])
                dst.append(index[d])
                sizes.append(size)
        except csv.Error as exc:
            raise TrafficError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        raise TrafficError(f"{path}: empty file; expected a header src,dst,bytes")
    if not src:
        raise TrafficError(f"{path}: no flows after the header")
    if G is not None:
        eps = set(_all_endpoints(G))
        for name in names:
            if name not in eps:
                line = _first_line_of(text, name)
                what = "not a node of the graph" if name not in G else "not an endpoint"
                raise TrafficError(f"{path}: line {line}: {name!r} is {what}")
    return Traffic(names, np.array(src), np.array(dst), np.array(sizes), name=str(path))


def _parse_bytes(text):
    """A flow size: a whole number of bytes (``4096``, ``1e6``, ``4MiB``) from 1 to
    :data:`MAX_FLOW_BYTES`, as ``--size`` takes; else None."""
    try:
        v = float(text)
    except ValueError:
        try:
            v = float(parse_size(text))
        except Exception:
            return None
    return v if math.isfinite(v) and v == int(v) and 1 <= v <= MAX_FLOW_BYTES else None


def _first_line_of(text, name):
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if name in (c.strip() for c in row):
            return reader.line_num
    return "?"
