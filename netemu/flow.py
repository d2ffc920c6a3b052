"""Low-level flow solver: exact weighted max-min fair rates and completion times.

The solver knows nothing of graphs.  Resources are numbered 0..R-1 with a
capacity each (bytes/s).  A flow at rate ``r`` puts ``share * r`` on every
resource it uses.  Two forms describe flows:

- a sequence of mappings ``{resource index: share}`` — the documented, simple form;
- a :class:`FlowSet` — the factored form that routing builds for millions of
  flows: each flow has *direct* shares plus up to K *groups*; a group is a row of
  shares (for example one leaf pair's sprayed fabric paths) that many flows use
  identically, so spraying over many parallel paths costs one row per group, not
  one per flow.  A flow row may stand for ``counts[f]`` identical flows.

Algorithm (both entry points)
-----------------------------
Weighted progressive filling, exact up to a relative tolerance of ``1e-9``: a
common *level* ``L`` rises from 0; every unfrozen flow ``f`` runs at
``weights[f] * L``.  Each step raises ``L`` straight to the next event — the
lowest level at which some resource saturates, ``(capacity - frozen load) /
active load``, or at which some flow reaches its demand — and freezes the flows
crossing the resources that saturate there (levels within the tolerance count as
ties) and the flows at their demand.  There is no iteration cap and no
approximation beyond floating point.

The per-step work is O(resources + entries of the flows frozen in that step):
per-resource active load, frozen load and active-entry count are kept up to
date; resource->flows, resource->groups and group->flows indexes find the flows
to freeze; a group's contribution to the loads is updated once per step from the
summed weight of its members frozen in that step.  A saturated resource freezes
every active member of every group that touches it.

:func:`completion_times` runs a fluid simulation that re-solves the rates at
every arrival and completion.  Four things keep that cheap:

- *Resumption.*  Progressive filling freezes flows in increasing order of rate,
  and a change can only alter the steps from some level ``L0`` up: when flows
  leave, ``L0`` is the lowest rate among them; when flows arrive, no resource
  they use can saturate before ``min((c - load) / s, c / (A + s))`` (``s`` their
  added shares, ``A`` the shares already there).  Flows slower than ``L0`` keep
  their rates.
- *Dominated resources.*  A resource whose every flow also crosses a resource that is
  at least as loaded, relative to capacity, can never bind; it is left out before the
  simulation (a NIC's cable behind its port, a link whose flows all meet at one NIC).
- *Locality.*  Of the faster flows, only those reachable from the changed
  resources through bottlenecks are re-solved, and the result is checked (a flow
  outside that set that turns out to matter is brought in and the set re-solved),
  so an event costs about the flows whose rates actually change.
- *A compiled kernel.*  The per-event work runs under numba when it is installed
  (without it the same code runs as plain Python: same numbers, far slower).
  Resources sit in an indexed heap keyed by saturation level; keys are refreshed
  lazily, because freezing a flow never lowers a resource's level.
"""

import contextlib
import functools
import numbers
import threading
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .errors import SolverInputError

try:  # numba is optional: without it the kernels below run as plain Python
    from numba import njit as _njit

    from ._kernel_cache import cache_for as _cache_for

    def _jit(fn, **options):
        kernel = _njit(cache=True, nogil=True, **options)(fn)
        # Compiled kernels go to a per-user cache keyed by this file's content, not to a
        # __pycache__ beside it: a fresh checkout or a second install of the same version
        # loads them (~0.2 s) instead of compiling them again (~12 s).
        cache = _cache_for(fn)
        if cache is not None:
            kernel._cache = cache
        return kernel

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    def _jit(fn, **options):
        return fn

    HAVE_NUMBA = False

# The kernels that allocate nothing are compiled without numba's reference counting
# (``_nrt=False``).  With it, every call of a compiled helper -- inlined or not --
# increments and decrements the count of each array it is passed, atomically: on the
# event loop's small helpers (push a resource, scan a resource's flows, sift a heap)
# that costs several times the work itself.  Without it a call costs what the same
# lines written out in the caller would.
# ``_nrt`` is numba's own (private) option: where a numba version lacks it, the kernels are
# compiled with reference counting rather than failing at their first call.
def _knows_nrt():
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return False
    return hasattr(CPUTargetOptions, "_nrt")


_NO_NRT = {"_nrt": False} if HAVE_NUMBA and _knows_nrt() else {}
_kernel = functools.partial(_jit, **_NO_NRT) if HAVE_NUMBA else _jit
# Helpers called only from such kernels are inlined into them as well: numba does not
# inline one compiled function into another by itself, and a call that passes a dozen
# arrays costs about what a short helper does.  (Inlined into a kernel that counts
# references, the helper's arrays would be counted again.)
_inlined = functools.partial(_jit, inline="always", **_NO_NRT) if HAVE_NUMBA else _jit

__all__ = ["FlowSet", "max_min_rates", "completion_times", "RTOL", "scaled_reuse"]

#: Relative tolerance of the solver: saturation levels within it are ties, and
#: flows finishing within it of the clock finish together.
RTOL = 1e-9


class FlowSet:
    """Flows in factored sparse form.

    Parameters
    ----------
    n_resources : int
    direct : scipy.sparse matrix, shape (n_flows, n_resources)
        Shares each flow puts directly on each resource.
    groups : int array, shape (n_flows, K), optional
        Group ids per flow, -1 where a flow has fewer than K groups.
    group_matrix : scipy.sparse matrix, shape (n_groups, n_resources), optional
        Shares of each group on each resource.
    counts : array of positive ints, shape (n_flows,), optional
        How many identical flows each row stands for (default 1).

    A flow's total share on resource ``i`` is
    ``direct[f, i] + sum(group_matrix[g, i] for g in groups[f] if g >= 0)``.
    """

    def __init__(self, n_resources, direct, groups=None, group_matrix=None, counts=None):
        self.n_resources = int(n_resources)
        self.direct = sp.csr_matrix(direct, dtype=np.float64)
        n = self.direct.shape[0]
        if self.direct.shape[1] != self.n_resources:
            raise SolverInputError(f"direct has {self.direct.shape[1]} columns; expected "
                                   f"n_resources = {self.n_resources}")
        if groups is None:
            self.groups = np.full((n, 0), -1, dtype=np.int64)
            self.group_matrix = sp.csr_matrix((0, self.n_resources), dtype=np.float64)
        else:
            g = np.asarray(groups, dtype=np.int64)
            self.groups = g.reshape(n, -1) if g.ndim == 1 else g
            if group_matrix is None:
                raise SolverInputError("groups given without group_matrix")
            self.group_matrix = sp.csr_matrix(group_matrix, dtype=np.float64)
            if self.group_matrix.shape[1] != self.n_resources:
                raise SolverInputError(f"group_matrix has {self.group_matrix.shape[1]} columns; "
                                       f"expected n_resources = {self.n_resources}")
            if self.groups.shape[0] != n:
                raise SolverInputError(f"groups has {self.groups.shape[0]} rows; expected {n} flows")
            if self.groups.size and (self.groups.min() < -1
                                     or self.groups.max() >= self.group_matrix.shape[0]):
                raise SolverInputError("group ids must be -1 or in [0, n_groups)")
        if counts is None:
            self.counts = np.ones(n, dtype=np.int64)
        else:
            c = np.asarray(counts)
            if c.shape != (n,) or not np.issubdtype(c.dtype, np.integer) or (c.size and c.min() < 1):
                raise SolverInputError("counts must be one whole number >= 1 per flow")
            self.counts = c.astype(np.int64)
        _check_shares(self.direct.data, "direct")
        _check_shares(self.group_matrix.data, "group_matrix")

    @property
    def n_flows(self):
        return self.direct.shape[0]

    @classmethod
    def from_mappings(cls, n_resources, flows):
        """Build from a sequence of ``{resource index: share}`` mappings.

        The common case (dicts with plain ``int`` keys) is converted by C-level
        iteration and NumPy, with no Python code run per flow or per share; any
        other input goes through a per-entry check that names the first bad flow.
        """
        fast = _mappings_to_csr(n_resources, flows)
        if fast is not None:
            return cls(n_resources, fast)
        rows, cols, vals = [], [], []
        for f, m in enumerate(flows):
            if not hasattr(m, "items"):
                raise SolverInputError(f"flow {f} is {type(m).__name__}; expected a mapping "
                                       "{resource index: share}")
            for i, s in m.items():
                if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < n_resources:
                    raise SolverInputError(f"flow {f} names resource {i!r}; allowed: integers "
                                           f"0..{n_resources - 1}")
                rows.append(f)
                cols.append(int(i))
                vals.append(s)
        try:
            vals = np.asarray(vals, dtype=np.float64) if vals else np.zeros(0)
        except (TypeError, ValueError):
            raise SolverInputError("flow shares must be numbers") from None
        _check_mapped_shares(vals, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))
        direct = sp.csr_matrix((vals, (rows, cols)), shape=(len(flows), n_resources))
        return cls(n_resources, direct)

    def totals(self):
        """The combined (n_flows × n_resources) share matrix, for checks and small cases."""
        M = self.direct.copy()
        for k in range(self.groups.shape[1]):
            g = self.groups[:, k]
            has = np.flatnonzero(g >= 0)
            sel = sp.csr_matrix((np.ones(has.size), (has, g[has])),
                                shape=(self.n_flows, self.group_matrix.shape[0]))
            M = M + sel @ self.group_matrix
        return sp.csr_matrix(M)


def _check_mapped_shares(vals, rows, cols):
    bad = np.flatnonzero(~(np.isfinite(vals) & (vals > 0)))
    if bad.size:
        k = int(bad[0])
        raise SolverInputError(f"flow {int(rows[k])} puts share {float(vals[k])!r} on resource "
                               f"{int(cols[k])}; every share must be a finite number > 0")


def _mappings_to_csr(n_resources, flows):
    """CSR matrix of a list of ``{int: share}`` dicts, or None when the input needs the slow path.

    The dict and key type checks are ``set(map(type, ...))`` and the gathering is
    ``itertools.chain`` into ``np.fromiter``: all of it runs in C, about 40 ns a share
    against 1 µs for a Python loop that checks each entry.
    """
    from itertools import chain

    n = len(flows)
    if n == 0 or not set(map(type, flows)) <= {dict}:
        return None
    lens = np.fromiter(map(len, flows), dtype=np.int64, count=n)
    nnz = int(lens.sum())
    if nnz == 0:
        return None
    keys = list(chain.from_iterable(flows))
    if set(map(type, keys)) != {int}:  # bool, float, numpy ints...: checked one by one
        return None
    cols = np.fromiter(keys, dtype=np.int64, count=nnz)
    if cols.min() < 0 or cols.max() >= n_resources:
        return None  # the slow path names the flow and the resource
    try:
        vals = np.fromiter(chain.from_iterable(map(dict.values, flows)), dtype=np.float64,
                           count=nnz)
    except (TypeError, ValueError):
        return None
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    if not np.all(np.isfinite(vals) & (vals > 0)):
        rows = np.repeat(np.arange(n, dtype=np.int64), lens)
        _check_mapped_shares(vals, rows, cols)
    m = sp.csr_matrix((vals, cols, indptr), shape=(n, n_resources))
    # Rows are whole dicts, so no (flow, resource) pair repeats: with each row's columns
    # sorted the matrix is canonical, and the solver need not copy it to make it so.
    if HAVE_NUMBA:
        _sort_rows(m.indptr, m.indices, m.data)
        m.has_canonical_format = True
    return m


@_kernel
def _sort_rows(ptr, idx, val):
    """Sort each CSR row by column in place (insertion sort: rows are a few entries)."""
    for r in range(ptr.shape[0] - 1):
        for e in range(ptr[r] + 1, ptr[r + 1]):
            c = idx[e]
            v = val[e]
            x = e - 1
            while x >= ptr[r] and idx[x] > c:
                idx[x + 1] = idx[x]
                val[x + 1] = val[x]
                x -= 1
            idx[x + 1] = c
            val[x + 1] = v


def _check_shares(values, what):
    if values.size and (not np.all(np.isfinite(values)) or values.min() <= 0):
        bad = values[~(np.isfinite(values) & (values > 0))][0]
        raise SolverInputError(f"{what} contain {float(bad)!r}; every share must be a finite number > 0")


# ---------------------------------------------------------------------------
# Input checks


def _float_array(values, name, n):
    try:
        if type(values) is list and len(values) == n:
            # half the time of asarray on a long list of Python numbers; anything that is
            # not a plain number fails here and is retried below for the usual message
            try:
                return np.fromiter(values, dtype=np.float64, count=n)
            except (TypeError, ValueError):
                pass
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise SolverInputError(f"{name} must be a sequence of numbers, got {values!r:.80}") from None
    if arr.ndim != 1 or arr.shape[0] != n:
        raise SolverInputError(f"{name} has shape {arr.shape}; expected one value per "
                               f"{'resource' if name == 'capacities' else 'flow'}: ({n},)")
    return arr


def _first_bad(arr, ok, name, allowed):
    bad = np.flatnonzero(~ok)
    if bad.size:
        k = int(bad[0])
        raise SolverInputError(f"{name}[{k}] is {float(arr[k])!r}; {allowed}")


def _capacities(capacities):
    if capacities is None or isinstance(capacities, (str, bytes)) \
            or not hasattr(capacities, "__len__"):
        raise SolverInputError(f"capacities must be a sequence of numbers, got {capacities!r}")
    c = _float_array(capacities, "capacities", len(capacities))
    _first_bad(c, np.isfinite(c) & (c > 0), "capacities",
               "every capacity must be a finite number > 0 (bytes/s)")
    return c


def _flowset(flows, n_resources):
    if isinstance(flows, FlowSet):
        if flows.n_resources != n_resources:
            raise SolverInputError(f"the FlowSet has {flows.n_resources} resources but "
                                   f"{n_resources} capacities were given")
        return flows
    if flows is None or hasattr(flows, "items") or isinstance(flows, (str, bytes)) \
            or not hasattr(flows, "__len__"):
        raise SolverInputError(f"flows must be a FlowSet or a sequence of {{resource index: share}} "
                               f"mappings, got {type(flows).__name__}")
    return FlowSet.from_mappings(n_resources, flows)


def _weights(weights, n):
    if weights is None:
        return np.ones(n)
    w = _float_array(weights, "weights", n)
    _first_bad(w, np.isfinite(w) & (w > 0), "weights", "every weight must be a finite number > 0")
    return w


def _demands(demands, n):
    if demands is None:
        return np.full(n, np.inf)
    if hasattr(demands, "__len__") and not isinstance(demands, np.ndarray):
        demands = [np.inf if d is None else d for d in demands]
    d = _float_array(demands, "demands", n)
    _first_bad(d, d >= 0, "demands",  # NaN fails d >= 0 too
               "a demand must be a number >= 0, or None / inf for no cap")
    return d


# ---------------------------------------------------------------------------
# Indexes shared by both solvers


def _canonical(m):
    m = sp.csr_matrix(m)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


class _Index:
    """Flat arrays of a FlowSet plus the transposed indexes the solvers walk."""

    def __init__(self, fs):
        n, R = fs.n_flows, fs.n_resources
        self.n, self.R = n, R
        D = _canonical(fs.direct)
        self.D_ptr, self.D_idx, self.D_val = D.indptr, D.indices, D.data
        self._D = D
        self.counts = fs.counts.astype(np.float64)
        self.K = fs.groups.shape[1]
        G = _canonical(fs.group_matrix)
        self.nG = G.shape[0]
        self.groups = np.ascontiguousarray(fs.groups, dtype=np.int64)
        if self.K and self.nG:
            self.G_ptr, self.G_idx, self.G_val = G.indptr, G.indices, G.data
            Gc = G.tocsc()  # per resource: the groups that touch it
            self.Gt_ptr, self.Gt_idx, self.Gt_val = Gc.indptr, Gc.indices, Gc.data
            self.Gt = sp.csr_matrix((Gc.data, Gc.indices, Gc.indptr), shape=(R, self.nG))
            self.g_nnz = np.diff(self.G_ptr)
        else:
            self.K = 0
            self.nG = 0
        self.uses_none = np.diff(self.D_ptr) == 0
        if self.K and self.uses_none.any():
            # A flow without direct resources still uses some if one of its groups has any.
            # Usually every group does, and then only the flows with no group slot are left.
            nonempty = self.g_nnz > 0
            if nonempty.all():
                self.uses_none &= ~(self.groups >= 0).any(axis=1)
            else:
                reach = np.zeros(n, dtype=bool)
                reach[self.e_flow[nonempty[self.e_group]]] = True
                self.uses_none &= ~reach

    # The transposed direct shares serve the vectorised filling only (the compiled kernels
    # build their own), so they too are built on first use: on 261,632 rows the transpose
    # costs a tenth of the fluid run that does not need it.

    @cached_property
    def _dt(self):
        Dc = self._D.tocsc()  # per resource: the flows that use it directly
        return Dc.indptr, Dc.indices, Dc.data, sp.csr_matrix((Dc.data, Dc.indices, Dc.indptr),
                                                            shape=(self.R, self.n))

    Dt_ptr = property(lambda self: self._dt[0])
    Dt_idx = property(lambda self: self._dt[1])
    Dt_val = property(lambda self: self._dt[2])
    Dt = property(lambda self: self._dt[3])

    # The (flow, group slot) entries and each group's member flows serve the vectorised
    # filling only; the compiled kernels build their own.  Built on first use: on 4 M rows
    # they cost more than the compiled solve itself.

    @cached_property
    def _slots(self):
        valid = self.groups >= 0
        if valid.all():
            per_flow = np.full(self.n, self.K, dtype=np.int64)
            e_group = self.groups.ravel()
        else:
            per_flow = np.count_nonzero(valid, axis=1)
            e_group = self.groups[valid]
        return per_flow, e_group, np.repeat(np.arange(self.n), per_flow)

    @property
    def e_group(self):
        """Group of each (flow, group slot) entry, flow by flow."""
        return self._slots[1]

    @property
    def e_flow(self):
        """Flow of each (flow, group slot) entry."""
        return self._slots[2]

    @cached_property
    def _members(self):
        per_flow = self._slots[0]
        ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(per_flow, out=ptr[1:])
        sel = sp.csr_matrix((np.ones(self.e_group.size, dtype=np.int8), self.e_group, ptr),
                            shape=(self.n, self.nG))
        selc = sel.tocsc()  # per group: its member flows, one per slot (duplicates kept)
        return selc.indptr, selc.indices

    @property
    def GF_ptr(self):
        return self._members[0]

    @property
    def GF_flow(self):
        return self._members[1]

    def Dt_pattern(self):
        return sp.csr_matrix((np.ones(self.Dt_idx.size), self.Dt_idx, self.Dt_ptr),
                             shape=(self.R, self.n))

    def Gt_pattern(self):
        return sp.csr_matrix((np.ones(self.Gt_idx.size), self.Gt_idx, self.Gt_ptr),
                             shape=(self.R, self.nG))

    def reject_unbounded(self, demands):
        bad = np.flatnonzero(self.uses_none & ~np.isfinite(demands))
        if bad.size:
            raise SolverInputError(
                f"flow {int(bad[0])} uses no resource and has no demand, so its max-min rate is "
                f"unbounded; give it at least one resource with a share > 0 or a finite demand")


def _ranges(ptr, rows):
    """Positions ``ptr[r] .. ptr[r+1]-1`` for every ``r`` in ``rows``, concatenated, and the lengths."""
    starts = ptr[rows].astype(np.int64)
    lens = ptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), lens
    ends = np.cumsum(lens)
    offs = np.repeat(starts - (ends - lens), lens)
    offs += np.arange(total)
    return offs, lens


def _dedupe(x, stamp):
    """Distinct values of ``x`` in O(len(x)): ``stamp`` is scratch indexed by value, never reset."""
    pos = np.arange(x.size)
    stamp[x] = pos
    return x[stamp[x] == pos]


# ---------------------------------------------------------------------------
# max_min_rates: vectorised progressive filling


def max_min_rates(capacities, flows, demands=None, weights=None):
    """Weighted max-min fair rate of every flow, by exact progressive filling.

    Parameters
    ----------
    capacities : sequence of float, length R
        Capacity of each resource (bytes/s), finite and > 0.
    flows : sequence of mappings ``{resource index: share}``, or :class:`FlowSet`
        A flow at rate ``r`` puts ``share * r`` on each resource it names; shares
        are finite and > 0, indices in ``0..R-1``.
    demands : sequence of float or None, optional
        Per-flow cap on the rate of each member flow; ``None`` or ``inf`` entries
        (and ``demands=None``) mean no cap.  Must be >= 0.
    weights : sequence of float, optional
        Weighted max-min: while unfrozen, flow ``f`` runs at ``weights[f] * L``
        for the common level ``L``.  Finite and > 0; default all 1.

    Returns
    -------
    numpy.ndarray of float, one rate per flow row (bytes/s).  For a FlowSet row
    with ``counts[f] > 1`` this is the rate of *each* of its member flows.

    Raises
    ------
    SolverInputError
        On malformed input (the message names the bad value and what is
        allowed), and for a flow that uses no resource and has no demand: its
        max-min rate would be unbounded, so the flow index is reported instead
        of returning ``inf``.

    Notes
    -----
    The result is the unique allocation in which no resource is over capacity
    and every flow either meets its demand or crosses a saturated resource on
    which its ``rate / weight`` is the largest.  Levels within a relative
    ``1e-9`` of each other are treated as ties.

    Examples
    --------
    Two flows share resource 0; the second also crosses the slower resource 1:

    >>> max_min_rates([10.0, 3.0], [{0: 1.0}, {0: 1.0, 1: 1.0}]).tolist()
    [7.0, 3.0]
    >>> max_min_rates([10.0], [{0: 1.0}, {0: 1.0}], weights=[1, 4]).tolist()
    [2.0, 8.0]
    """
    cap = _capacities(capacities)
    fs = _flowset(flows, cap.size)
    n = fs.n_flows
    w = _weights(weights, n)
    dem = _demands(demands, n)
    ix = _Index(fs)
    ix.reject_unbounded(dem)
    if HAVE_NUMBA and not np.isfinite(dem).any() and np.all(w == 1.0):
        # Unweighted, uncapped: the compiled event-driven filling that completion_times
        # uses, 2-3x less CPU than the vectorised one on large cases with thousands of
        # distinct levels (hashed all-to-all on 2,048 hosts: 5,262 levels).
        return _compiled_rates(ix, cap)
    return _Filler(ix, cap, w, dem).run()


class _Filler:
    """State of one vectorised progressive filling run."""

    def __init__(self, ix, cap, w, dem):
        self.ix, self.cap, self.w, self.dem = ix, cap, w, dem
        n, R = ix.n, ix.R
        self.nw = ix.counts * w                       # load coefficient of a row per unit level
        self.a = ix.Dt @ self.nw                       # active load per unit level
        self.cnt = np.diff(ix.Dt_ptr).astype(np.float64)  # active entries, so "no flow left" is exact
        if ix.K:
            self.gN = np.bincount(ix.e_group, minlength=ix.nG)  # active slots per group
            gW = np.bincount(ix.e_group, weights=self.nw[ix.e_flow], minlength=ix.nG)
            self.a += ix.Gt @ gW
            self.cnt += np.bincount(ix.G_idx, weights=np.repeat(self.gN, ix.g_nnz), minlength=R)
            self.stamp_g = np.empty(ix.nG, dtype=np.int64)
            self.id_g = np.empty(ix.nG, dtype=np.int64)
        self.a_ref = self.a.copy()
        self.u = np.zeros(R)
        self.alive = self.cnt > 0
        self.active = np.ones(n, dtype=bool)
        self.rate = np.empty(n)
        self.stamp_f = np.empty(n, dtype=np.int64)

    def run(self):
        ix, cap, w, dem = self.ix, self.cap, self.w, self.dem
        n_active = ix.n
        dflows = np.flatnonzero(np.isfinite(dem))
        dkeys = dem[dflows] / w[dflows]
        order = np.argsort(dkeys, kind="stable")
        dflows, dkeys = dflows[order], dkeys[order]
        p = 0
        level = 0.0
        while n_active:
            idx = np.flatnonzero(self.alive)
            lv = (cap[idx] - self.u[idx]) / self.a[idx]
            ls = lv.min() if idx.size else np.inf
            p = _next_active(dflows, self.active, p)
            ld = dkeys[p] if p < dflows.size else np.inf
            L = max(min(ls, ld), level)
            if not np.isfinite(L):  # pragma: no cover - reject_unbounded rules this out
                raise AssertionError("progressive filling found no next event")
            thr = L * (1.0 + RTOL)
            sat = idx[lv <= thr]
            parts = []
            if sat.size:
                offs, _ = _ranges(ix.Dt_ptr, sat)
                parts.append(ix.Dt_idx[offs])
                if ix.K:
                    offs, _ = _ranges(ix.Gt_ptr, sat)
                    gs = ix.Gt_idx[offs]
                    gs = _dedupe(gs[self.gN[gs] > 0], self.stamp_g)
                    offs, _ = _ranges(ix.GF_ptr, gs)
                    parts.append(ix.GF_flow[offs])
            at_demand = dflows[p:p]
            if p < dflows.size:
                q = int(np.searchsorted(dkeys, thr, side="right"))
                at_demand = dflows[p:max(p, q)]
                at_demand = at_demand[self.active[at_demand]]
                parts.append(at_demand)
                p = max(p, q)
            F = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            F = _dedupe(F[self.active[F]], self.stamp_f)
            self.rate[F] = np.minimum(w[F] * L, dem[F])
            # w * L can underflow or round below a demand that was the event itself
            self.rate[at_demand] = dem[at_demand]
            self.active[F] = False
            n_active -= F.size
            level = L
            self.alive[sat] = False
            if n_active:
                self._retire(F)
        return self.rate

    def _retire(self, F):
        """Move the frozen flows ``F`` from the active load to the frozen load."""
        ix, R = self.ix, self.ix.R
        if 8 * F.size > ix.n:
            # a large batch costs O(nnz) either way; whole mat-vecs are faster than
            # gathers and recompute the loads exactly
            return self._recompute()
        offs, lens = _ranges(ix.D_ptr, F)
        if offs.size:
            cols = ix.D_idx[offs]
            fe = np.repeat(F, lens)
            vals = ix.D_val[offs]
            self.a -= np.bincount(cols, weights=self.nw[fe] * vals, minlength=R)
            self.u += np.bincount(cols, weights=(ix.counts[fe] * self.rate[fe]) * vals, minlength=R)
            self.cnt -= np.bincount(cols, minlength=R)
        if ix.K:
            gk = ix.groups[F]
            valid = gk >= 0
            ge = gk[valid]
            if ge.size:
                fe = np.broadcast_to(F[:, None], gk.shape)[valid]
                pos = np.arange(ge.size)
                self.stamp_g[ge] = pos
                ug = ge[self.stamp_g[ge] == pos]
                self.id_g[ug] = np.arange(ug.size)
                inv = self.id_g[ge]
                dW = np.bincount(inv, weights=self.nw[fe], minlength=ug.size)
                dU = np.bincount(inv, weights=ix.counts[fe] * self.rate[fe], minlength=ug.size)
                dN = np.bincount(inv, minlength=ug.size)
                self.gN[ug] -= dN
                offs, lens = _ranges(ix.G_ptr, ug)
                cols = ix.G_idx[offs]
                vals = ix.G_val[offs]
                rep = np.repeat(np.arange(ug.size), lens)
                self.a -= np.bincount(cols, weights=dW[rep] * vals, minlength=R)
                self.u += np.bincount(cols, weights=dU[rep] * vals, minlength=R)
                self.cnt -= np.bincount(cols, weights=dN[rep], minlength=R)
        self.alive &= self.cnt > 0.5
        # Subtracting frozen loads loses about eps * a_ref / a of relative accuracy;
        # recompute a resource's load exactly once it has shrunk a millionfold.
        low = np.flatnonzero(self.alive & (self.a < 1e-6 * self.a_ref))
        if low.size:
            self._refresh(low)

    def _recompute(self):
        ix = self.ix
        x = self.nw * self.active
        # Active flows have no rate yet (it may be inf or nan): only frozen ones carry load.
        y = np.zeros(self.rate.shape)
        frozen = ~self.active
        y[frozen] = ix.counts[frozen] * self.rate[frozen]
        on = self.active.astype(np.float64)
        self.a = ix.Dt @ x
        self.u = ix.Dt @ y
        self.cnt = ix.Dt_pattern() @ on
        if ix.K:
            ef = ix.e_flow
            self.a += ix.Gt @ np.bincount(ix.e_group, weights=x[ef], minlength=ix.nG)
            self.u += ix.Gt @ np.bincount(ix.e_group, weights=y[ef], minlength=ix.nG)
            self.gN = np.bincount(ix.e_group, weights=on[ef], minlength=ix.nG).astype(np.int64)
            self.cnt += ix.Gt_pattern() @ self.gN.astype(np.float64)
        self.a_ref = self.a.copy()
        self.alive &= self.cnt > 0.5

    def _refresh(self, Q):
        ix = self.ix
        offs, lens = _ranges(ix.Dt_ptr, Q)
        fl = ix.Dt_idx[offs]
        rep = np.repeat(np.arange(Q.size), lens)
        on = self.active[fl]
        val = np.bincount(rep[on], weights=self.nw[fl[on]] * ix.Dt_val[offs][on], minlength=Q.size)
        if ix.K:
            offs, lens = _ranges(ix.Gt_ptr, Q)
            gq = ix.Gt_idx[offs]
            sq = ix.Gt_val[offs]
            rep = np.repeat(np.arange(Q.size), lens)
            keep = self.gN[gq] > 0
            gq, sq, rep = gq[keep], sq[keep], rep[keep]
            ug = np.unique(gq)
            offs, lens = _ranges(ix.GF_ptr, ug)
            fl = ix.GF_flow[offs]
            gw = np.bincount(np.repeat(np.arange(ug.size), lens),
                             weights=self.nw[fl] * self.active[fl], minlength=ug.size)
            val += np.bincount(rep, weights=gw[np.searchsorted(ug, gq)] * sq, minlength=Q.size)
        self.a[Q] = val
        self.a_ref[Q] = val


def _next_active(flows, active, p):
    """First position >= p in ``flows`` whose flow is still active (amortised O(skipped))."""
    step = 64
    while p < flows.size:
        chunk = active[flows[p:p + step]]
        hit = np.flatnonzero(chunk)
        if hit.size:
            return p + int(hit[0])
        p += chunk.size
        step *= 2
    return p


# ---------------------------------------------------------------------------
# completion_times: fluid simulation with a compiled re-solve per event


def completion_times(capacities, flows, sizes, starts=None):
    """Finish time of every flow in a fluid max-min simulation.

    Rates are the (unweighted) max-min fair rates of the flows present, re-solved
    at every arrival and every completion; between events each flow drains at
    its rate.

    Parameters
    ----------
    capacities : sequence of float, length R
        As in :func:`max_min_rates`.
    flows : sequence of mappings or :class:`FlowSet`
        As in :func:`max_min_rates`.  Every flow must use at least one resource.
    sizes : sequence of float
        Bytes each flow (each member of a counted row) carries, finite and >= 0.
        A flow of 0 bytes finishes at its start time and takes no capacity.
    starts : sequence of float, optional
        Start time of each flow (s), finite and >= 0; default all 0.

    Returns
    -------
    numpy.ndarray of float: the finish time (s, same clock as ``starts``) of each
    flow row; all members of a counted row finish together.

    Notes
    -----
    All arrivals at one instant, and all flows whose finish times fall within a
    relative ``1e-9`` of it, form one event.  An event re-solves only the flows
    whose rates can change (see :func:`_fluid_run`); the others provably keep
    theirs, so the result is the same as re-solving every present flow.

    Examples
    --------
    Two flows share a 1 GB/s link; the smaller finishes first and frees it:

    >>> completion_times([1e9], [{0: 1.0}, {0: 1.0}], sizes=[1e9, 3e9]).tolist()
    [2.0, 4.0]
    """
    cap = _capacities(capacities)
    fs = _flowset(flows, cap.size)
    n = fs.n_flows
    size = _float_array(sizes, "sizes", n)
    _first_bad(size, np.isfinite(size) & (size >= 0), "sizes",
               "every size must be a finite number of bytes >= 0")
    if starts is None:
        start = np.zeros(n)
    else:
        start = _float_array(starts, "starts", n)
        _first_bad(start, np.isfinite(start) & (start >= 0), "starts",
                   "every start time must be a finite number of seconds >= 0")
    if n == 0:
        return np.zeros(0)
    _reject_idle(fs)
    return _simulate(cap, fs, size, start)[0]


def _reject_idle(fs):
    """SolverInputError for a flow that uses no resource (it would never finish), found
    without building the solver's index (a third of the call on 261,632 flows)."""
    idle = np.diff(fs.direct.indptr) == 0
    if idle.any() and fs.groups.shape[1]:
        gnnz = np.diff(sp.csr_matrix(fs.group_matrix).indptr)
        g = fs.groups[idle]
        idle[np.flatnonzero(idle)[((g >= 0) & (gnnz[np.maximum(g, 0)] > 0)).any(axis=1)]] = False
    if idle.any():
        _Index(fs).reject_unbounded(np.full(fs.n_flows, np.inf))  # the usual message


def _simulate(cap, fs, size, start, local=True, grouped=True, prune=True):
    """Finish times of every row of ``fs`` and the kernel's event counts (see _fluid_run).

    Rows with the same resources and shares (one route) always share a rate, so
    they are simulated as one class whose count changes as its members come and
    go (``grouped``; exact, not an approximation): an event then re-solves
    classes, not flows, and 100,000 flows over 56 routes cost 56-class solves.
    Resources that can never bind are left out first (``prune``, :func:`_dominated`;
    exact too: the feasible rates, hence the max-min ones, are the same).
    """
    finish = start.copy()  # what a 0-byte flow gets
    sized = np.flatnonzero(size > 0)
    if not sized.size:
        return finish, np.zeros(6)
    # Members by start time; classes numbered by their first arrival, so that the classes
    # in flight at any moment sit close together in memory (what matters most once
    # n >> in flight).
    order = sized[np.argsort(start[sized], kind="stable")]
    fs = _reorder(fs, None)  # canonical once: the classes and the kernel read the same rows
    if prune:
        fs = _prune_dominated(fs, cap)
    kept = _REUSE.__dict__.get("kept")
    if kept is not None:
        hit = _reused(kept, cap, fs, size, start, (local, grouped, prune))
        if hit is not None:
            return hit
    if grouped:
        rep_rows, cls = _classes(fs, order)
    else:
        rep_rows, cls = order, np.arange(order.size)
    ix = _Index(_reorder(fs, rep_rows))
    fin, stats = _fluid_run(*_kernel_args(ix, cap)[:-1], fs.counts[order].astype(np.float64),
                            cls, size[order], start[order], local)
    finish[order] = fin
    if kept is not None:
        _keep(kept, cap, fs, size, start, (local, grouped, prune), finish, stats)
    return finish, stats


# Fluid simulations kept inside a scaled_reuse() block, per thread: a list of
# (flags, flow set, used resources, their capacities, sizes, starts, finish, stats).
_REUSE = threading.local()
#: Simulations a scaled_reuse() block keeps (the most recent ones).
REUSE_SLOTS = 4
# Capacity ratios within this of each other count as one factor.
_REUSE_RTOL = 1e-12


@contextlib.contextmanager
def scaled_reuse():
    """Within the block, a fluid simulation (:func:`completion_times`, and every caller of
    it: collectives, DeepEP, :func:`netemu.solve`) that differs from one already run in
    the block by a single factor on every capacity it uses is answered from that one.

    Exact: multiplying every capacity by ``a`` multiplies every max-min rate by ``a``, so
    flows that all start at 0 finish at ``1 / a`` times their old finish times (the
    problems are compared after dominated resources are left out, entry for entry, with
    the same sizes; the capacities' ratios must agree to 1e-12, the rounding of scaled
    capacities; with ``a = 1`` the problem is the same one and any start times are
    allowed).  A sweep that evaluates one workload at two rate settings whose binding
    resources all scale alike (DeepEP's nominal and achievable NIC and NVLink rates)
    simulates it once.  Outside a block nothing is kept, so a timing measures a solve.

    >>> with scaled_reuse():
    ...     a = completion_times([1e9, 2e9], [{0: 1.0}, {0: 1.0, 1: 1.0}], [1e9, 3e9])
    ...     b = completion_times([5e8, 1e9], [{0: 1.0}, {0: 1.0, 1: 1.0}], [1e9, 3e9])
    >>> a.tolist(), b.tolist()
    ([2.0, 4.0], [4.0, 8.0])
    """
    outer = _REUSE.__dict__.get("kept")
    _REUSE.kept = [] if outer is None else outer
    try:
        yield
    finally:
        _REUSE.kept = outer


def _used(fs):
    """Resources a flow set puts load on (direct entries and groups' rows)."""
    cols = fs.direct.indices
    if fs.groups.shape[1]:
        cols = np.r_[cols, sp.csr_matrix(fs.group_matrix).indices]
    return np.unique(cols)


def _same_problem(a, b):
    """Same flow set, entry for entry (canonical rows: the same arrays)."""
    Da, Db = a.direct, b.direct
    if Da.shape != Db.shape or Da.nnz != Db.nnz or a.groups.shape != b.groups.shape:
        return False
    if not (np.array_equal(Da.indptr, Db.indptr) and np.array_equal(Da.indices, Db.indices)
            and np.array_equal(Da.data, Db.data) and np.array_equal(a.counts, b.counts)
            and np.array_equal(a.groups, b.groups)):
        return False
    if not a.groups.shape[1]:
        return True
    Ga, Gb = sp.csr_matrix(a.group_matrix), sp.csr_matrix(b.group_matrix)
    return Ga.shape == Gb.shape and (Ga != Gb).nnz == 0


def _reused(kept, cap, fs, size, start, flags):
    """(finish, stats) of a kept simulation that ``fs`` repeats up to one capacity factor,
    or None."""
    for k, (fl, fs0, used, cap0, size0, start0, finish0, stats0) in enumerate(kept):
        if fl != flags or not (np.array_equal(size, size0) and np.array_equal(start, start0)
                               and _same_problem(fs, fs0)):
            continue
        ratio = cap[used] / cap0
        a = ratio[0] if ratio.size else 1.0
        # One factor, up to the rounding of the capacities themselves (3.0 * 0.8 / 3.0 is
        # not 0.8): far inside the solver's own 1e-9 tolerance.
        if not (np.isfinite(a) and a > 0 and (np.abs(ratio - a) <= _REUSE_RTOL * a).all()):
            continue
        if a != 1.0 and start.any():
            continue  # the time scale would move the starts too
        kept.append(kept.pop(k))  # most recently used last
        return (finish0.copy() if a == 1.0 else finish0 / a), stats0.copy()
    return None


def _keep(kept, cap, fs, size, start, flags, finish, stats):
    used = _used(fs)
    # A copy: the caller's flow set may be the very object solved (nothing pruned), and
    # may be changed in place before the next call.
    own = FlowSet.__new__(FlowSet)
    own.n_resources = fs.n_resources
    own.direct = fs.direct.copy()
    own.groups, own.counts = fs.groups.copy(), fs.counts.copy()
    own.group_matrix = sp.csr_matrix(fs.group_matrix, copy=True)
    kept.append((flags, own, used, cap[used].copy(), size.copy(), start.copy(), finish.copy(),
                 stats.copy()))
    del kept[:-REUSE_SLOTS]


def _prune_dominated(fs, cap):
    """``fs`` (canonical) without the direct entries on the resources :func:`_dominated`
    finds; ``fs`` itself when there are none."""
    D = fs.direct
    if D.nnz == 0:
        return fs
    grouped = np.zeros(fs.n_resources, dtype=np.bool_)
    if fs.groups.shape[1]:
        grouped[sp.csr_matrix(fs.group_matrix).indices] = True
    Dc = D.tocsc()
    Dc.sort_indices()
    i8 = np.int64
    drop = _dominated(D.indptr.astype(i8), D.indices.astype(i8), D.data.astype(np.float64),
                      Dc.indptr.astype(i8), Dc.indices.astype(i8),
                      Dc.data.astype(np.float64), cap, grouped)
    if not drop.any():
        return fs
    keep = ~drop[D.indices]
    ptr = np.r_[0, np.cumsum(keep)][D.indptr]  # kept entries before each row
    out = FlowSet.__new__(FlowSet)
    out.n_resources = fs.n_resources
    out.direct = sp.csr_matrix((D.data[keep], D.indices[keep], ptr), shape=D.shape)
    out.groups, out.group_matrix, out.counts = fs.groups, fs.group_matrix, fs.counts
    return out


@_jit
def _dominated(ptr, idx, val, cptr, cidx, cval, cap, grouped):
    """Resources that can never bind, as a mask: resource i when some resource j that
    stays carries every flow of i, each with ``share_j / cap_j >= share_i / cap_i``.

    Then at any rates i's load is at most ``cap_i`` times j's load fraction: i saturates
    only where j does, and j then freezes every flow i would (all of them cross j), so
    the feasible rates -- and the max-min ones -- are the same without i.  Over time too:
    a flow present on i is present on j.  A resource that takes group loads is kept (its
    flows are not all in the direct rows); a dominating one may take them (more load on
    j only strengthens the bound).  Dropped resources never serve as j, so of two alike
    one stays.  Rows (``ptr``/``idx``, sorted) and columns (``cptr``/``cidx``) are the
    direct shares; the work is O(entries x row length x log row length).
    """
    R = cap.shape[0]
    drop = np.zeros(R, dtype=np.bool_)
    for i in range(R):
        a, b = cptr[i], cptr[i + 1]
        if a == b or grouped[i]:
            continue
        f0 = cidx[a]
        for e0 in range(ptr[f0], ptr[f0 + 1]):  # candidates: the resources of i's first flow
            j = idx[e0]
            if j == i or drop[j]:
                continue
            ok = True
            for e in range(a, b):
                f = cidx[e]
                lo, hi = ptr[f], ptr[f + 1]
                while lo < hi:  # j in f's sorted row
                    mid = (lo + hi) >> 1
                    if idx[mid] < j:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo == ptr[f + 1] or idx[lo] != j or val[lo] * cap[i] < cval[e] * cap[j]:
                    ok = False
                    break
            if ok:
                drop[i] = True
                break
    return drop


def _classes(fs, rows):
    """Classes of identical rows (same resources, shares and groups) among ``rows``.

    Returns ``(rep, cls)``: ``rep[c]`` is a row of class ``c``, ``cls[k]`` the
    class of ``rows[k]``; classes are numbered by their first row in ``rows``.
    One compiled pass with a hash table; rows are compared entry by entry, so the
    grouping is exact.
    """
    D = _canonical(fs.direct)
    i8 = np.int64
    rows = np.ascontiguousarray(rows, dtype=i8)
    groups = np.ascontiguousarray(fs.groups, dtype=i8)
    data = np.ascontiguousarray(D.data, dtype=np.float64)
    cls, rep_pos, nc = _group_rows(D.indptr.astype(i8), D.indices.astype(i8), data,
                                   data.view(np.uint64), groups.ravel(), groups.shape[1], rows)
    return rows[rep_pos[:nc]], cls


@_jit
def _group_rows(ptr, idx, val, vbits, groups, K, rows):
    n = rows.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)   # class id per slot
    chash = np.empty(max(n, 1), dtype=np.uint64)
    rep_pos = np.empty(max(n, 1), dtype=np.int64)
    cls = np.empty(n, dtype=np.int64)
    nc = 0
    mask = np.uint64(size - 1)
    for k in range(n):
        f = rows[k]
        h = np.uint64(1469598103934665603)
        for e in range(ptr[f], ptr[f + 1]):
            h = (h ^ np.uint64(idx[e])) * np.uint64(1099511628211)
            h = (h ^ vbits[e]) * np.uint64(1099511628211)
        for j in range(K):
            h = (h ^ np.uint64(groups[f * K + j] + 2)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
        slot = h & mask
        while True:
            c = table[slot]
            if c < 0:
                table[slot] = nc
                chash[nc] = h
                rep_pos[nc] = k
                cls[k] = nc
                nc += 1
                break
            if chash[c] == h:
                g = rows[rep_pos[c]]
                same = ptr[g + 1] - ptr[g] == ptr[f + 1] - ptr[f]
                if same:
                    for j in range(K):
                        if groups[g * K + j] != groups[f * K + j]:
                            same = False
                            break
                if same:
                    o = ptr[g] - ptr[f]
                    for e in range(ptr[f], ptr[f + 1]):
                        if idx[e] != idx[e + o] or val[e] != val[e + o]:
                            same = False
                            break
                if same:
                    cls[k] = c
                    break
            slot = (slot + np.uint64(1)) & mask
    return cls, rep_pos, nc


def _reorder(fs, order):
    """The same FlowSet with canonical direct shares and rows in the given order (None:
    as they are); no copy where nothing changes."""
    D = _canonical(fs.direct)
    if order is not None and order.size == fs.n_flows \
            and (order.size == 0 or (order[0] == 0 and np.all(np.diff(order) == 1))):
        order = None  # every row, in order: the common case of flows all starting at once
    if order is None and D is fs.direct:
        return fs
    out = FlowSet.__new__(FlowSet)
    out.n_resources = fs.n_resources
    out.direct = D if order is None else D[order]
    out.groups = fs.groups if order is None else fs.groups[order]
    out.group_matrix = fs.group_matrix
    out.counts = fs.counts if order is None else fs.counts[order]
    return out


def _kernel_args(ix, cap):
    i8 = np.int64
    if ix.K:
        g = (ix.K, ix.groups.ravel(), ix.nG, ix.G_ptr.astype(i8), ix.G_idx.astype(i8),
             ix.G_val, ix.Gt_ptr.astype(i8), ix.Gt_idx.astype(i8), ix.Gt_val)
    else:
        z = np.zeros(1, dtype=i8)
        g = (0, np.zeros(0, dtype=i8), 0, z, np.zeros(0, dtype=i8), np.zeros(0),
             np.zeros(ix.R + 1, dtype=i8), np.zeros(0, dtype=i8), np.zeros(0))
    return (ix.R, cap, ix.D_ptr.astype(i8), ix.D_idx.astype(i8), ix.D_val) + g + (ix.counts,)


def _filler_rates(capacities, flows):
    """Max-min rates (weights 1, no demands) through the vectorised filling (for tests)."""
    cap = _capacities(capacities)
    ix = _Index(_flowset(flows, cap.size))
    dem = np.full(ix.n, np.inf)
    ix.reject_unbounded(dem)
    return _Filler(ix, cap, np.ones(ix.n), dem).run()


def _kernel_rates(capacities, flows):
    """Max-min rates of all flows through the compiled solver (for tests and benchmarks)."""
    cap = _capacities(capacities)
    fs = _flowset(flows, cap.size)
    ix = _Index(fs)
    ix.reject_unbounded(np.full(ix.n, np.inf))
    return _compiled_rates(ix, cap)


def _compiled_rates(ix, cap):
    args = _kernel_args(ix, cap)
    ws = _workspace_jit(ix.n, ix.R, ix.nG, ix.D_idx.size, ix.n * ix.K)
    present = np.arange(ix.n, dtype=np.int64)
    rate = np.zeros(ix.n)
    _solve(present, ix.n, True, 0.0, *args, rate, ws, np.empty(ix.n, dtype=np.int64))
    return rate


# A 4-ary min-heap (of resources by level, and of flows by projected finish time): half the
# depth of a binary one, and a node's children share a cache line.

@_kernel
def _heap_up(hk, hr, hpos, j):
    k = hk[j]
    r = hr[j]
    while j > 0:
        p = (j - 1) >> 2
        if hk[p] <= k:
            break
        hk[j] = hk[p]
        hr[j] = hr[p]
        hpos[hr[j]] = j
        j = p
    hk[j] = k
    hr[j] = r
    hpos[r] = j


@_kernel
def _heap_down(hk, hr, hpos, j, size):
    k = hk[j]
    r = hr[j]
    while True:
        c = 4 * j + 1
        if c >= size:
            break
        best = c
        end = min(c + 4, size)
        for x in range(c + 1, end):
            if hk[x] < hk[best]:
                best = x
        if hk[best] >= k:
            break
        hk[j] = hk[best]
        hr[j] = hr[best]
        hpos[hr[j]] = j
        j = best
    hk[j] = k
    hr[j] = r
    hpos[r] = j


# The same, inlined where a kernel without reference counting calls them.
_heap_up_in = _inlined(getattr(_heap_up, "py_func", _heap_up))
_heap_down_in = _inlined(getattr(_heap_down, "py_func", _heap_down))


@_kernel
def _heap_remove(hk, hr, hpos, j, size):
    """Remove heap slot j; returns the new size."""
    hpos[hr[j]] = -1
    size -= 1
    if j < size:
        r = hr[size]
        hk[j] = hk[size]
        hr[j] = r
        hpos[r] = j
        _heap_up(hk, hr, hpos, j)
        _heap_down(hk, hr, hpos, hpos[r], size)
    return size


# The solver's heap of resources only ever reads or removes its top, so it keeps no
# positions: the same moves as _heap_down/_heap_remove without writing hpos at each.

@_inlined
def _sift(hk, hr, j, size):
    k = hk[j]
    r = hr[j]
    while True:
        c = 4 * j + 1
        if c >= size:
            break
        best = c
        end = min(c + 4, size)
        for x in range(c + 1, end):
            if hk[x] < hk[best]:
                best = x
        if hk[best] >= k:
            break
        hk[j] = hk[best]
        hr[j] = hr[best]
        j = best
    hk[j] = k
    hr[j] = r


@_inlined
def _pop(hk, hr, size):
    """Remove the top of the heap hk[:size]; returns the new size."""
    size -= 1
    if size > 0:
        hk[0] = hk[size]
        hr[0] = hr[size]
        _sift(hk, hr, 0, size)
    return size


@_kernel
def _solve(P, npres, fresh, level0, R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr, G_idx,
           G_val, Gt_ptr, Gt_idx, Gt_val, cm, rate, ws, bres):
    """Max-min rates (weights 1) of the flows P[:npres] into ``rate``; freeze order into ``frozen``.

    ``bres[f]`` receives the resource whose saturation froze flow f.

    With ``fresh`` the flows P[:npres] are the whole system.  Otherwise progressive
    filling *resumes* at level ``level0`` with every other flow already frozen: ``u``
    must then hold, per resource, the load of all flows at the rates in ``rate`` (0 for
    flows new to the system); it is updated in place to the load at the new rates.
    """
    (a, u, a_ref, cnt, dcnt, rstart, rfill, rflow, rval, rmark, dead, tres, hk, hr, hpos,
     dirty, gN, gW, gstart, gfill, gflow, tgrp, gmark, gdone, dW, dN, sgrp, sgmark,
     active, frozen) = ws
    # Loads of the present flows; a resource's state is reset when first touched,
    # so nothing here costs more than the present flows and the resources they reach.
    ntres = 0
    ntg = 0
    for j in range(npres):
        f = P[j]
        active[f] = True
        m = cm[f]
        for e in range(D_ptr[f], D_ptr[f + 1]):
            i = D_idx[e]
            if not rmark[i]:
                rmark[i] = True
                tres[ntres] = i
                ntres += 1
                a[i] = 0.0
                cnt[i] = 0
                dcnt[i] = 0
            a[i] += m * D_val[e]
            u[i] -= m * rate[f] * D_val[e]  # its old load (0 for a new flow) is no longer frozen
            cnt[i] += 1
            dcnt[i] += 1
        for k in range(K):
            g = groups[f * K + k]
            if g < 0:
                continue
            if not gmark[g]:
                gmark[g] = True
                tgrp[ntg] = g
                ntg += 1
                gN[g] = 0
                gW[g] = 0.0
                gdone[g] = False
                dW[g] = 0.0
            gN[g] += 1
            gW[g] += m
            dW[g] += m * rate[f]
    for t in range(ntg):
        g = tgrp[t]
        for e in range(G_ptr[g], G_ptr[g + 1]):
            i = G_idx[e]
            if not rmark[i]:
                rmark[i] = True
                tres[ntres] = i
                ntres += 1
                a[i] = 0.0
                cnt[i] = 0
                dcnt[i] = 0
            a[i] += gW[g] * G_val[e]
            u[i] -= dW[g] * G_val[e]
            cnt[i] += gN[g]
    # resource -> present flows (direct entries) and group -> present flows, by counting sort
    s = 0
    for t in range(ntres):
        i = tres[t]
        rstart[i] = s
        rfill[i] = s
        s += dcnt[i]
    for j in range(npres):
        f = P[j]
        for e in range(D_ptr[f], D_ptr[f + 1]):
            i = D_idx[e]
            rflow[rfill[i]] = f
            rval[rfill[i]] = D_val[e]
            rfill[i] += 1
    s = 0
    for t in range(ntg):
        g = tgrp[t]
        gstart[g] = s
        gfill[g] = s
        s += gN[g]
    for j in range(npres):
        f = P[j]
        for k in range(K):
            g = groups[f * K + k]
            if g >= 0:
                gflow[gfill[g]] = f
                gfill[g] += 1
    size = 0
    for t in range(ntres):
        i = tres[t]
        if fresh:
            u[i] = 0.0
        a_ref[i] = a[i]
        dead[i] = cnt[i] == 0
        dirty[i] = False
        if cnt[i] > 0:
            hk[size] = (cap[i] - u[i]) / a[i]
            hr[size] = i
            size += 1
    for j in range((size - 2) // 4, -1, -1):
        _sift(hk, hr, j, size)

    # Keys are refreshed lazily: freezing flows only ever raises a resource's
    # saturation level (it froze at a level <= that level), so a stale key is a lower
    # bound, and only a resource that reaches the top of the heap dirty is recomputed.
    level = level0
    nact = npres
    nf = 0  # frozen[:nf] lists the flows in the order they froze
    while nact > 0 and size > 0:
        nf0 = nf
        L = -1.0
        thr = 0.0
        while size > 0:
            i = hr[0]
            if cnt[i] == 0:
                dead[i] = True
                size = _pop(hk, hr, size)
                continue
            if dirty[i]:
                dirty[i] = False
                if a[i] < 1e-6 * a_ref[i]:
                    # cancellation guard, as in the vectorised solver: recompute exactly
                    x = 0.0
                    for e in range(rstart[i], rfill[i]):
                        if active[rflow[e]]:
                            x += cm[rflow[e]] * rval[e]
                    for e in range(Gt_ptr[i], Gt_ptr[i + 1]):
                        g = Gt_idx[e]
                        if gmark[g] and gN[g] > 0:
                            x += gW[g] * Gt_val[e]  # sums of whole counts: exact
                    a[i] = x
                    a_ref[i] = x
                hk[0] = (cap[i] - u[i]) / a[i]
                _sift(hk, hr, 0, size)
                continue
            if L < 0.0:
                L = max(hk[0], level)
                thr = L * (1.0 + 1e-9)
            elif hk[0] > thr:
                break
            size = _pop(hk, hr, size)
            dead[i] = True
            for e in range(rstart[i], rfill[i]):
                f = rflow[e]
                if active[f]:
                    active[f] = False
                    rate[f] = L
                    bres[f] = i
                    frozen[nf] = f
                    nf += 1
            for e in range(Gt_ptr[i], Gt_ptr[i + 1]):
                g = Gt_idx[e]
                if not gmark[g] or gdone[g]:
                    continue
                gdone[g] = True  # every present member freezes now; never scan it again
                for e2 in range(gstart[g], gfill[g]):
                    f = gflow[e2]
                    if active[f]:
                        active[f] = False
                        rate[f] = L
                        bres[f] = i
                        frozen[nf] = f
                        nf += 1
        nact -= nf - nf0
        if L >= 0.0:
            level = L
        # the last step too: u must end as the load of every flow, for the next resume
        nsg = 0
        for t in range(nf0, nf):
            f = frozen[t]
            m = cm[f]
            for e in range(D_ptr[f], D_ptr[f + 1]):
                i = D_idx[e]
                u[i] += m * L * D_val[e]  # saturated ones too: u is the full load afterwards
                if dead[i]:
                    continue
                a[i] -= m * D_val[e]
                cnt[i] -= 1
                dirty[i] = True
            for k in range(K):
                g = groups[f * K + k]
                if g < 0:
                    continue
                if not sgmark[g]:
                    sgmark[g] = True
                    sgrp[nsg] = g
                    nsg += 1
                    dW[g] = 0.0
                    dN[g] = 0
                dW[g] += m
                dN[g] += 1
        for t in range(nsg):
            g = sgrp[t]
            sgmark[g] = False
            gN[g] -= dN[g]
            gW[g] -= dW[g]
            for e in range(G_ptr[g], G_ptr[g + 1]):
                i = G_idx[e]
                u[i] += dW[g] * L * G_val[e]
                if dead[i]:
                    continue
                a[i] -= dW[g] * G_val[e]
                cnt[i] -= dN[g]
                dirty[i] = True
    for t in range(ntres):
        rmark[tres[t]] = False
    for t in range(ntg):
        gmark[tgrp[t]] = False


#: Relative tolerance of "saturated" and "fastest on a resource" when choosing what
#: to re-solve.  Erring on the inclusive side only re-solves more flows.
_SAT = 1e-6
_TOP = 1e-8


@_kernel
def _push(i, rq, rt, rvis):
    if not rvis[i]:
        rvis[i] = True
        rq[rt] = i
        rt += 1
    return rt


@_kernel
def _top(i, skip_c, inC, rate, Dt_ptr, pc, slot_f, K, Gt_ptr, Gt_idx, GF_ptr, gpc, gslot):
    """Largest rate among the present flows on resource i (those outside C if ``skip_c``)."""
    top = 0.0
    for s in range(Dt_ptr[i], Dt_ptr[i] + pc[i]):
        f = slot_f[s]
        if not (skip_c and inC[f]):
            top = max(top, rate[f])
    for e in range(Gt_ptr[i], Gt_ptr[i + 1]):
        g = Gt_idx[e]
        for s in range(GF_ptr[g], GF_ptr[g] + gpc[g]):
            f = gslot[s] // K
            if not (skip_c and inC[f]):
                top = max(top, rate[f])
    return top


# The same two helpers, inlined where the search and the departures call them.
_push_in = _inlined(getattr(_push, "py_func", _push))
_top_in = _inlined(getattr(_top, "py_func", _top))


@_kernel
def _grow(rq, rh, rt, rvis, full, L0, t, level0, nC, C, inC, ngp, gp, gpush, cap, u, rate, rem,
          tl, D_ptr, D_idx, K, groups, G_ptr, G_idx, Gt_ptr, Gt_idx, Dt_ptr, pc, slot_f,
          GF_ptr, gpc, gslot, obnd):
    """Search from the queued resources rq[rh:rt]; returns the new (rh, rt, level0, nC, ngp).

    On a queued resource, the present flows at or above ``L0`` that are its
    fastest (all of them if ``full``) join C, and each queues its saturated
    resources.  A flow below ``L0`` keeps its rate.  ``obnd[i]`` receives the
    largest rate among the flows on i left outside C: flows only ever join C
    during an event, so it bounds from above the fastest flow outside C on i
    until the event ends.
    """
    while rh < rt:
        i = rq[rh]
        rh += 1
        thr = L0
        if full[i] > 0:
            full[i] = 2  # searched in full
        else:
            thr = max(L0, _top_in(i, False, inC, rate, Dt_ptr, pc, slot_f, K, Gt_ptr, Gt_idx,
                               GF_ptr, gpc, gslot) * (1.0 - _TOP))
        ob = 0.0
        for s in range(Dt_ptr[i], Dt_ptr[i] + pc[i]):
            f = slot_f[s]
            if inC[f]:
                continue
            r = rate[f]
            if r < L0:
                level0 = max(level0, r)
            if r >= thr:
                nC, rt, ngp = _join(f, nC, C, inC, t, rate, rem, tl, rq, rt, rvis, ngp, gp, gpush,
                                    cap, u, D_ptr, D_idx, K, groups, G_ptr, G_idx)
            else:
                ob = max(ob, r)
        for e in range(Gt_ptr[i], Gt_ptr[i + 1]):
            g = Gt_idx[e]
            for s in range(GF_ptr[g], GF_ptr[g] + gpc[g]):
                f = gslot[s] // K
                if inC[f]:
                    continue
                r = rate[f]
                if r < L0:
                    level0 = max(level0, r)
                if r >= thr:
                    nC, rt, ngp = _join(f, nC, C, inC, t, rate, rem, tl, rq, rt, rvis, ngp, gp,
                                        gpush, cap, u, D_ptr, D_idx, K, groups, G_ptr, G_idx)
                else:
                    ob = max(ob, r)
        obnd[i] = ob
    return rh, rt, level0, nC, ngp


@_inlined
def _join(f, nC, C, inC, t, rate, rem, tl, rq, rt, rvis, ngp, gp, gpush, cap, u, D_ptr, D_idx,
          K, groups, G_ptr, G_idx):
    """Flow f joins C: bring its bytes left up to time t and queue its saturated resources."""
    inC[f] = True
    C[nC] = f
    nC += 1
    rem[f] -= rate[f] * (t - tl[f])
    tl[f] = t
    for e in range(D_ptr[f], D_ptr[f + 1]):
        i = D_idx[e]
        if not rvis[i] and u[i] >= cap[i] * (1.0 - _SAT):
            rt = _push_in(i, rq, rt, rvis)
    for k in range(K):
        g = groups[f * K + k]
        if g < 0 or gpush[g]:
            continue
        gpush[g] = True  # a group's row is scanned once per event
        gp[ngp] = g
        ngp += 1
        for e in range(G_ptr[g], G_ptr[g + 1]):
            i = G_idx[e]
            if not rvis[i] and u[i] >= cap[i] * (1.0 - _SAT):
                rt = _push_in(i, rq, rt, rvis)
    return nC, rt, ngp


@_kernel
def _add_all(L0, t, nC, C, inC, ff, fsize, rate, rem, tl):
    """Plain resumption: every present flow at or above L0 joins C."""
    for j in range(fsize):
        f = ff[j]
        if not inC[f] and rate[f] >= L0:
            inC[f] = True
            C[nC] = f
            nC += 1
            rem[f] -= rate[f] * (t - tl[f])
            tl[f] = t
    return nC


@_jit
def _fluid_run(R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr, G_idx, G_val,
               Gt_ptr, Gt_idx, Gt_val, mw, mcls, size, start, local):
    """Fluid simulation of classes of flows; re-solves only what can change.

    Rows of the flow arrays are *classes*: flows with the same resources and
    shares, which always run at the same rate.  The flows themselves are
    members: member ``j`` (sorted by start time) joins class ``mcls[j]`` at
    ``start[j]`` with ``size[j]`` bytes and stands for ``mw[j]`` identical flows.
    A class's present members all drain at its rate, so each class keeps a heap
    of its members keyed by the bytes the class will have drained when each is
    done, and the class's row carries the summed weight of its present members.
    When members join or leave, the class leaves at its old rate and comes back
    at once with its new count: a departure and an arrival below, so the same
    locality argument covers it.  With one member per class this is the plain
    per-flow simulation.

    All arrivals and completions at one instant are one event.  At an event the
    rates are re-solved for a set C of flows such that every other flow provably
    keeps its rate:

    1. *Level.*  Progressive filling freezes flows in increasing order of rate,
       and a change alters only the steps from some level ``L0`` up: when flows
       leave, ``L0`` is the lowest rate among them; when flows arrive, no
       resource they use can saturate before ``min((c - load) / s, c / (A + s))``
       (``s`` their added shares, ``A`` the shares already there).  Flows slower
       than ``L0`` keep their rates, and all others end at or above ``L0``.
    2. *Search.*  C starts with the arrivals; a search starts from every
       resource of a leaving or arriving flow.  On a searched resource, the
       flows at or above ``L0`` that are its fastest (within ``_TOP``) join C;
       each flow joining C has its saturated resources searched in turn.
    3. *Re-solve and check.*  Filling resumes on C alone, every other flow's
       load frozen.  Then each flow f of C must end at or above ``L0`` and be
       the fastest on the resource b that froze it.  If b was not searched, it
       is searched now; otherwise, if f fails, every flow at or above ``L0`` on
       b joins C (b is "searched in full").  C is re-solved until the check
       passes.  Should a resource searched in full fail again, C becomes every
       present flow at or above ``L0``: plain resumption, exact by 1.

    Why the result is exact: max-min rates are the feasible rates in which every
    flow has a bottleneck, a saturated resource on which it is the fastest.
    After the check each flow of C has one, and is at or above ``L0``.  A flow
    below ``L0`` kept its rate and its bottleneck, which no flow at or above
    ``L0`` crosses.  Any other flow outside C kept its rate, and its old
    bottleneck carries no leaving or arriving flow (those resources were
    searched, and the fastest flows on a searched resource joined C) and no
    flow of C (a flow joining C has its saturated resources searched), so the
    bottleneck still holds.  Rates computed at different events can differ in
    the last bits where exact arithmetic would tie them, so "at or above
    ``L0``" and "fastest" carry small margins, which only ever enlarge C.

    Present flows sit in per-resource and per-group slot lists (swap removal),
    and projected finish times in a heap that changes only for C, so an event
    costs about C and its neighbourhood, not the flows present.

    With ``local`` false every event uses plain resumption (for tests).  Returns
    the members' finish times and ``stats``, summed over events: events, classes
    re-solved, classes present, solves, failed checks, fallbacks to plain
    resumption.
    """
    n = D_ptr.shape[0] - 1
    nm = size.shape[0]
    single = nm == n  # one member per class, member j in class j: no member heaps needed
    nnzD = D_idx.shape[0]
    ws = _workspace_jit(n, R, nG, nnzD, n * K)
    (a, u, a_ref, cnt, dcnt, rstart, rfill, rflow, rval, rmark, dead, tres, hk, hr, hpos,
     dirty, gN, gW, gstart, gfill, gflow, tgrp, gmark, gdone, dW, dN, sgrp, sgmark,
     active, frozen) = ws
    # static indexes: resource -> direct-entry slots, group -> member slots
    Dt_ptr = np.zeros(R + 1, dtype=np.int64)
    for f in range(n):
        for e in range(D_ptr[f], D_ptr[f + 1]):
            Dt_ptr[D_idx[e] + 1] += 1
    for i in range(R):
        Dt_ptr[i + 1] += Dt_ptr[i]
    slot_e = np.empty(max(nnzD, 1), dtype=np.int64)  # resource slots: present direct entries
    # ... and their flows, side by side: the searches read a resource's flows in a row
    slot_f = np.empty(max(nnzD, 1), dtype=np.int64)
    epos = np.empty(max(nnzD, 1), dtype=np.int64)    # entry -> its slot
    pc = np.zeros(R, dtype=np.int64)                 # present direct entries per resource
    G1 = max(nG, 1)
    GF_ptr = np.zeros(G1 + 1, dtype=np.int64)
    for x in range(n * K):
        if groups[x] >= 0:
            GF_ptr[groups[x] + 1] += 1
    for g in range(nG):
        GF_ptr[g + 1] += GF_ptr[g]
    gslot = np.empty(max(n * K, 1), dtype=np.int64)  # group slots: present (flow * K + k)
    gpos = np.empty(max(n * K, 1), dtype=np.int64)
    gpc = np.zeros(G1, dtype=np.int64)
    # dynamic state
    Atot = np.zeros(R)                   # summed shares (x counts) of the present flows
    npe = np.zeros(R, dtype=np.int64)    # present (flow, resource) pairs, direct or via groups
    slope = np.zeros(R)
    slist = np.empty(R, dtype=np.int64)
    smark = np.zeros(R, dtype=np.bool_)
    rem = np.zeros(n)                    # bytes left of the class's first member at time tl[f]
    tl = np.zeros(n)
    rate = np.zeros(n)
    finish = np.full(nm, np.nan)
    cm = np.zeros(n)                     # present members per class, weighted by mw
    pres = np.zeros(n, dtype=np.bool_)
    # member heaps, one segment per class: key = the class's drained bytes when done
    hp = np.zeros(n + 1, dtype=np.int64)
    for j in range(nm):
        hp[mcls[j] + 1] += 1
    for c in range(n):
        hp[c + 1] += hp[c]
    hn = np.zeros(n, dtype=np.int64)
    mkey = np.empty(max(nm, 1))
    mid = np.empty(max(nm, 1), dtype=np.int64)
    dr0 = np.zeros(n)                    # drained bytes of an arriving class at the clock
    arr = np.empty(n, dtype=np.int64)    # classes (re-)arriving at the clock
    inarr = np.zeros(n, dtype=np.bool_)
    na = 0
    fk = np.empty(n)                     # finish-time heap
    ff = np.empty(n, dtype=np.int64)
    fpos = np.full(n, -1, dtype=np.int64)
    fsize = 0
    # search scratch
    C = np.empty(n, dtype=np.int64)
    inC = np.zeros(n, dtype=np.bool_)
    bres = np.empty(n, dtype=np.int64)
    rq = np.empty(2 * R, dtype=np.int64)  # a resource is queued at most twice: once in full
    rvis = np.zeros(R, dtype=np.bool_)
    full = np.zeros(R, dtype=np.int8)  # 1: to be searched in full, 2: searched in full
    ckd = np.zeros(R, dtype=np.bool_)
    ck = np.empty(R, dtype=np.int64)
    otop = np.zeros(R)
    obnd = np.zeros(R)
    gp = np.empty(G1, dtype=np.int64)
    gpush = np.zeros(G1, dtype=np.bool_)
    rt = 0
    nxt = 0
    npres = 0
    t = 0.0
    L0dep = np.inf  # lowest rate among the flows that left at this instant
    # summed over events: events, flows re-solved, flows present, solves, checks that
    # failed, fallbacks to re-solving every flow at or above L0
    stats = np.zeros(6)
    while nxt < nm or npres > 0 or na > 0:
        if npres == 0 and na == 0 and rt == 0 and start[nxt] > t:
            t = start[nxt]
        # Rates solved at different events can differ in the last bits where exact
        # arithmetic would tie them: flows within the margin below L0 are re-solved too.
        L0 = L0dep * (1.0 - 1e-8)
        L0dep = np.inf
        nC = 0
        # members arriving at t: a present class leaves at its rate and comes back with them
        while nxt < nm and start[nxt] <= t:
            j = nxt
            nxt += 1
            c = mcls[j]
            if not inarr[c]:
                inarr[c] = True
                arr[na] = c
                na += 1
                dr0[c] = 0.0
                if pres[c]:
                    r = rate[c]
                    rem[c] -= r * (t - tl[c])
                    tl[c] = t
                    dr0[c] = mkey[hp[c]] - rem[c]
                    L0 = min(L0, r * (1.0 - 1e-8))
                    fsize = _heap_remove(fk, ff, fpos, fpos[c], fsize)
                    pres[c] = False
                    npres -= 1
                    rt = _depart(c, cm[c] * r, cm[c], cap, D_ptr, D_idx, D_val, K, groups, G_ptr,
                                 G_idx, G_val, u, Atot, npe, Dt_ptr, pc, slot_e, slot_f, epos, GF_ptr,
                                 gpc, gslot, gpos, rq, rt, rvis)
            _mpush(mkey, mid, hp[c], hn[c], dr0[c] + size[j], j)
            hn[c] += 1
            cm[c] += mw[j]
        # arriving classes: all of them join C at rate 0, and their resources are searched
        if na > 0:
            ns = 0
            for x in range(na):
                f = arr[x]
                m = cm[f]
                for e in range(D_ptr[f], D_ptr[f + 1]):
                    i = D_idx[e]
                    if not smark[i]:
                        smark[i] = True
                        slist[ns] = i
                        ns += 1
                        slope[i] = 0.0
                    slope[i] += m * D_val[e]
                for k in range(K):
                    g = groups[f * K + k]
                    if g >= 0:
                        for e in range(G_ptr[g], G_ptr[g + 1]):
                            i = G_idx[e]
                            if not smark[i]:
                                smark[i] = True
                                slist[ns] = i
                                ns += 1
                                slope[i] = 0.0
                            slope[i] += m * G_val[e]
            for j in range(ns):
                i = slist[j]
                smark[i] = False
                b = max((cap[i] - u[i]) / slope[i], cap[i] / (Atot[i] + slope[i]))
                L0 = min(L0, b * (1.0 - 1e-8))  # margin: a tie band must not be split
                Atot[i] += slope[i]
                rt = _push(i, rq, rt, rvis)
            for x in range(na):
                f = arr[x]
                inarr[f] = False
                pres[f] = True
                npres += 1
                rate[f] = 0.0
                rem[f] = mkey[hp[f]] - dr0[f]
                tl[f] = t
                inC[f] = True
                C[nC] = f
                nC += 1
                for e in range(D_ptr[f], D_ptr[f + 1]):
                    i = D_idx[e]
                    s = Dt_ptr[i] + pc[i]
                    slot_e[s] = e
                    slot_f[s] = f
                    epos[e] = s
                    pc[i] += 1
                    npe[i] += 1
                for k in range(K):
                    g = groups[f * K + k]
                    if g < 0:
                        continue
                    s = GF_ptr[g] + gpc[g]
                    gslot[s] = f * K + k
                    gpos[f * K + k] = s
                    gpc[g] += 1
                    for e in range(G_ptr[g], G_ptr[g + 1]):
                        npe[G_idx[e]] += 1
            na = 0
        # grow C, re-solve it, and repeat until every flow of C is the fastest on the
        # resource that froze it (see the docstring)
        level0 = 0.0
        rh = 0
        ngp = 0
        whole = not local
        if whole:
            nC = _add_all(L0, t, nC, C, inC, ff, fsize, rate, rem, tl)
            stats[5] += nC > 0
        elif nC == npres:
            whole = True  # every present class arrives now: a fresh solve, nothing to search
        nsolved = -1  # size of C at the last solve
        while True:
            if not whole:
                rh, rt, level0, nC, ngp = _grow(
                    rq, rh, rt, rvis, full, L0, t, level0, nC, C, inC, ngp, gp, gpush, cap, u,
                    rate, rem, tl, D_ptr, D_idx, K, groups, G_ptr, G_idx, Gt_ptr, Gt_idx, Dt_ptr,
                    pc, slot_f, GF_ptr, gpc, gslot, obnd)
            if nC == 0:
                break
            # A search after a failed check that brought no flow in leaves the problem as
            # it was solved: the same C, every other flow at the same rate.  The answer
            # stands (the proof needs only that the check passes, not the level the
            # filling resumed at); the check runs again with the resources now searched.
            if whole or nC != nsolved:
                stats[3] += 1
                _solve(C, nC, False, level0, R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr,
                       G_idx, G_val, Gt_ptr, Gt_idx, Gt_val, cm, rate, ws, bres)
                nsolved = nC
            if whole:
                break  # plain resumption is exact as it stands
            more = False
            nck = 0
            for j in range(nC):
                f = C[j]
                b = bres[f]
                if not rvis[b]:
                    rt = _push(b, rq, rt, rvis)  # saturated only now: search it
                    obnd[b] = np.inf  # not searched yet: no bound
                    more = True
                    continue
                # Every exact answer has f at or above L0, and f the fastest on b; if
                # not, flows outside C on b hold what f should get: bring them all in.
                # The search's bound settles most flows without a scan of b.
                short = rate[f] < L0 * (1.0 - RTOL)
                if not short and obnd[b] > rate[f] * (1.0 + RTOL):
                    if not ckd[b]:
                        ckd[b] = True
                        ck[nck] = b
                        nck += 1
                        otop[b] = _top(b, True, inC, rate, Dt_ptr, pc, slot_f, K, Gt_ptr,
                                       Gt_idx, GF_ptr, gpc, gslot)
                    short = otop[b] > rate[f] * (1.0 + RTOL)
                if short:
                    if full[b] == 2:
                        whole = True  # searched in full, yet not enough: give up locality
                        break
                    if full[b] == 0:
                        full[b] = 1
                        rq[rt] = b  # searched again, in full (at most once)
                        rt += 1
                        more = True
            for j in range(nck):
                ckd[ck[j]] = False
            if whole:
                nC = _add_all(L0, t, nC, C, inC, ff, fsize, rate, rem, tl)
                stats[5] += 1
                continue
            if not more:
                break
            stats[4] += 1
        for j in range(rt):
            rvis[rq[j]] = False
            full[rq[j]] = 0
        for j in range(ngp):
            gpush[gp[j]] = False
        for j in range(nC):
            inC[C[j]] = False
        rt = 0
        stats[0] += 1
        stats[1] += nC
        stats[2] += npres
        fsize = _reschedule(C, nC, t, rem, rate, fk, ff, fpos, fsize)
        # the next instant: an arrival or the earliest projected finish
        if fsize == 0:
            continue
        t_new = max(fk[0], t)
        if nxt < nm and start[nxt] < t_new:
            t_new = start[nxt]
        lim = t_new + 1e-9 * t_new  # flows done within RTOL of the clock finish now
        # An event that empties the network (every present class done now, each with its
        # one member) zeroes the resources its classes used: what removing them one by
        # one ends with (a resource's load is reset to 0 when its last flow leaves),
        # without a slot removal per entry.  Scanning the heap from its end stops at the
        # first class not done, so the scan costs no more than the pops below.
        x = fsize - 1
        while x >= 0 and fk[x] <= lim and hn[ff[x]] == 1:
            x -= 1
        if x < 0:
            for x in range(fsize):
                f = ff[x]
                fpos[f] = -1
                finish[f if single else mid[hp[f]]] = t_new
                hn[f] = 0
                pres[f] = False
                cm[f] = 0.0
                L0dep = min(L0dep, rate[f])
                _clear(f, D_ptr, D_idx, K, groups, G_ptr, G_idx, u, Atot, npe, pc, gpc)
            npres = 0
            fsize = 0
        while fsize > 0 and fk[0] <= lim:
            f = ff[0]
            fpos[f] = -1
            fsize -= 1
            if fsize > 0:
                fk[0] = fk[fsize]
                ff[0] = ff[fsize]
                fpos[ff[0]] = 0
                _heap_down(fk, ff, fpos, 0, fsize)
            r = rate[f]
            # The first member is done now; so is every other member due within the
            # same RTOL of the clock, as separate flows would be.
            dr = 0.0 if single else mkey[hp[f]] - (rem[f] - r * (t_new - tl[f]))
            thr = dr + r * (lim - t_new)
            gone = 0.0
            if single:
                finish[f] = t_new
                hn[f] = 0
            while hn[f] > 0:
                b = hp[f]
                jm = mid[b]
                finish[jm] = t_new
                gone += mw[jm]
                _mpop(mkey, mid, b, hn[f])
                hn[f] -= 1
                if mkey[b] > thr:
                    break
            pres[f] = False
            npres -= 1
            L0dep = min(L0dep, r)
            rt = _depart(f, cm[f] * r, cm[f], cap, D_ptr, D_idx, D_val, K, groups, G_ptr, G_idx,
                         G_val, u, Atot, npe, Dt_ptr, pc, slot_e, slot_f, epos, GF_ptr, gpc, gslot, gpos,
                         rq, rt, rvis)
            if hn[f] > 0:
                cm[f] -= gone  # the rest come back at once, in the next event
                dr0[f] = dr
                inarr[f] = True
                arr[na] = f
                na += 1
            else:
                cm[f] = 0.0
        t = t_new
    return finish, stats


@_kernel
def _reschedule(C, nC, t, rem, rate, fk, ff, fpos, fsize):
    """New projected finish times of the classes C[:nC] in the heap fk/ff; returns its size."""
    for j in range(nC):
        f = C[j]
        key = t + rem[f] / rate[f]
        p = fpos[f]
        if p < 0:
            p = fsize
            fsize += 1
            fk[p] = key
            ff[p] = f
            fpos[f] = p
            _heap_up_in(fk, ff, fpos, p)
        elif key < fk[p]:
            fk[p] = key
            _heap_up_in(fk, ff, fpos, p)
        else:
            fk[p] = key
            _heap_down_in(fk, ff, fpos, p, fsize)
    return fsize


@_kernel
def _clear(f, D_ptr, D_idx, K, groups, G_ptr, G_idx, u, Atot, npe, pc, gpc):
    """Class f leaves with every other present class: zero its resources and groups."""
    for e in range(D_ptr[f], D_ptr[f + 1]):
        i = D_idx[e]
        u[i] = 0.0
        Atot[i] = 0.0
        npe[i] = 0
        pc[i] = 0
    for k in range(K):
        g = groups[f * K + k]
        if g < 0:
            continue
        gpc[g] = 0
        for e in range(G_ptr[g], G_ptr[g + 1]):
            i = G_idx[e]
            u[i] = 0.0
            Atot[i] = 0.0
            npe[i] = 0


@_kernel
def _depart(f, load, share, cap, D_ptr, D_idx, D_val, K, groups, G_ptr, G_idx, G_val, u, Atot, npe,
            Dt_ptr, pc, slot_e, slot_f, epos, GF_ptr, gpc, gslot, gpos, rq, rt, rvis):
    """Class f leaves: ``load`` (count x rate) and ``share`` (count) per unit share come off
    its resources, its slots are freed and its resources queued for the search."""
    for e in range(D_ptr[f], D_ptr[f + 1]):
        i = D_idx[e]
        if u[i] >= cap[i] * (1.0 - _SAT):
            rt = _push_in(i, rq, rt, rvis)
        _leave(i, load * D_val[e], share * D_val[e], u, Atot, npe)
        s = epos[e]  # swap-remove the entry from its resource's slots
        last = Dt_ptr[i] + pc[i] - 1
        e2 = slot_e[last]
        slot_e[s] = e2
        slot_f[s] = slot_f[last]
        epos[e2] = s
        pc[i] -= 1
    for k in range(K):
        g = groups[f * K + k]
        if g < 0:
            continue
        for e in range(G_ptr[g], G_ptr[g + 1]):
            i = G_idx[e]
            if u[i] >= cap[i] * (1.0 - _SAT):
                rt = _push_in(i, rq, rt, rvis)
            _leave(i, load * G_val[e], share * G_val[e], u, Atot, npe)
        x = f * K + k
        s = gpos[x]
        last = GF_ptr[g] + gpc[g] - 1
        x2 = gslot[last]
        gslot[s] = x2
        gpos[x2] = s
        gpc[g] -= 1
    return rt


@_kernel
def _mpush(mkey, mid, b, n, key, j):
    """Push member j with ``key`` on the binary min-heap mkey[b:b+n] (size n before)."""
    p = n
    while p > 0:
        q = (p - 1) >> 1
        if mkey[b + q] <= key:
            break
        mkey[b + p] = mkey[b + q]
        mid[b + p] = mid[b + q]
        p = q
    mkey[b + p] = key
    mid[b + p] = j


@_kernel
def _mpop(mkey, mid, b, n):
    """Remove the first member of the binary min-heap mkey[b:b+n] (size n before)."""
    n -= 1
    if n == 0:
        return
    key = mkey[b + n]
    j = mid[b + n]
    p = 0
    while True:
        c = 2 * p + 1
        if c >= n:
            break
        if c + 1 < n and mkey[b + c + 1] < mkey[b + c]:
            c += 1
        if mkey[b + c] >= key:
            break
        mkey[b + p] = mkey[b + c]
        mid[b + p] = mid[b + c]
        p = c
    mkey[b + p] = key
    mid[b + p] = j


@_inlined
def _leave(i, load, share, u, Atot, npe):
    """Take one leaving (flow, resource) pair off resource i's load and summed shares."""
    npe[i] -= 1
    if npe[i] == 0:
        u[i] = 0.0  # no rounding residue survives on an idle resource
        Atot[i] = 0.0
    else:
        u[i] -= load
        Atot[i] -= share


@_jit
def _workspace_jit(n, R, nG, nnzD, nslots):
    i8, f8 = np.int64, np.float64
    g = max(nG, 1)
    return (np.zeros(R, f8), np.zeros(R, f8), np.zeros(R, f8), np.zeros(R, i8), np.zeros(R, i8),
            np.zeros(R + 1, i8), np.zeros(R, i8), np.zeros(max(nnzD, 1), i8),
            np.zeros(max(nnzD, 1), f8), np.zeros(R, np.bool_), np.zeros(R, np.bool_),
            np.zeros(R, i8), np.zeros(R, f8), np.zeros(R, i8), np.full(R, -1, i8),
            np.zeros(R, np.bool_),
            np.zeros(g, i8), np.zeros(g, f8), np.zeros(g, i8),
            np.zeros(g, i8), np.zeros(max(nslots, 1), i8), np.zeros(g, i8),
            np.zeros(g, np.bool_), np.zeros(g, np.bool_),
            np.zeros(g, f8), np.zeros(g, i8), np.zeros(g, i8),
            np.zeros(g, np.bool_),
            np.zeros(n, np.bool_), np.zeros(n, i8))
