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
every arrival and completion.  Two things keep that cheap:

- *Resumption.*  Progressive filling freezes flows in increasing order of rate,
  and a change can only alter the steps from some level ``L0`` up: when flows
  leave, ``L0`` is the lowest rate among them; when flows arrive, no resource
  they use can saturate before ``min((c - load) / s, c / (A + s))`` (``s`` their
  added shares, ``A`` the shares already there).  Flows slower than ``L0`` keep
  their rates and filling resumes from their frozen load, so a re-solve touches
  only the faster flows.
- *A compiled kernel.*  The per-event work runs under numba when it is installed
  (without it the same code runs as plain Python: same numbers, far slower).
  Resources sit in an indexed heap keyed by saturation level; keys are refreshed
  lazily, because freezing a flow never lowers a resource's level.
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .errors import SolverInputError

try:  # numba is optional: without it the kernels below run as plain Python
    from numba import njit as _njit

    def _jit(fn):
        return _njit(cache=True, nogil=True)(fn)

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    def _jit(fn):
        return fn

    HAVE_NUMBA = False

__all__ = ["FlowSet", "max_min_rates", "completion_times", "RTOL"]

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
        """Build from a sequence of ``{resource index: share}`` mappings."""
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
        bad = np.flatnonzero(~(np.isfinite(vals) & (vals > 0)))
        if bad.size:
            k = int(bad[0])
            raise SolverInputError(f"flow {rows[k]} puts share {float(vals[k])!r} on resource "
                                   f"{cols[k]}; every share must be a finite number > 0")
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


def _check_shares(values, what):
    if values.size and (not np.all(np.isfinite(values)) or values.min() <= 0):
        bad = values[~(np.isfinite(values) & (values > 0))][0]
        raise SolverInputError(f"{what} contain {float(bad)!r}; every share must be a finite number > 0")


# ---------------------------------------------------------------------------
# Input checks


def _float_array(values, name, n):
    try:
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
        Dc = D.tocsc()  # per resource: the flows that use it directly
        self.Dt_ptr, self.Dt_idx, self.Dt_val = Dc.indptr, Dc.indices, Dc.data
        self.Dt = sp.csr_matrix((Dc.data, Dc.indices, Dc.indptr), shape=(R, n))
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
            valid = self.groups >= 0
            per_flow = valid.sum(axis=1)
            ptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(per_flow, out=ptr[1:])
            self.e_group = self.groups[valid]              # one entry per (flow, group slot)
            self.e_flow = np.repeat(np.arange(n), per_flow)
            sel = sp.csr_matrix((np.ones(self.e_group.size, dtype=np.int8), self.e_group, ptr),
                                shape=(n, self.nG))
            selc = sel.tocsc()  # per group: its member flows, one per slot (duplicates kept)
            self.GF_ptr, self.GF_flow = selc.indptr, selc.indices
            self.g_entries = np.diff(self.GF_ptr)
            self.g_nnz = np.diff(self.G_ptr)
        else:
            self.K = 0
            self.nG = 0
        self.uses_none = np.diff(self.D_ptr) == 0
        if self.K:
            reach = np.zeros(n, dtype=bool)
            nonempty = np.diff(self.G_ptr) > 0
            reach[self.e_flow[nonempty[self.e_group]]] = True
            self.uses_none &= ~reach

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
        Bytes each flow (each member of a counted row) carries, finite and > 0.
    starts : sequence of float, optional
        Start time of each flow (s), finite and >= 0; default all 0.

    Returns
    -------
    numpy.ndarray of float: the finish time (s, same clock as ``starts``) of each
    flow row; all members of a counted row finish together.

    Notes
    -----
    Flows whose finish times fall within a relative ``1e-9`` of the clock finish
    in the same event.  Each re-solve touches only the flows present.

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
    _first_bad(size, np.isfinite(size) & (size > 0), "sizes",
               "every size must be a finite number of bytes > 0")
    if starts is None:
        start = np.zeros(n)
    else:
        start = _float_array(starts, "starts", n)
        _first_bad(start, np.isfinite(start) & (start >= 0), "starts",
                   "every start time must be a finite number of seconds >= 0")
    if n == 0:
        return np.zeros(0)
    _Index(fs).reject_unbounded(np.full(n, np.inf))
    # Renumber flows by start time: the flows in flight at any moment then sit close
    # together in memory, which matters more than anything else once n >> in flight.
    order = np.argsort(start, kind="stable")
    ix = _Index(_reorder(fs, order))
    finish = np.empty(n)
    finish[order] = _fluid_run(*_kernel_args(ix, cap), size[order], start[order],
                               np.arange(n, dtype=np.int64))[0]
    return finish


def _reorder(fs, order):
    """The same FlowSet with rows in the given order."""
    out = FlowSet.__new__(FlowSet)
    out.n_resources = fs.n_resources
    out.direct = _canonical(fs.direct)[order]
    out.groups = fs.groups[order]
    out.group_matrix = fs.group_matrix
    out.counts = fs.counts[order]
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


def _kernel_rates(capacities, flows):
    """Max-min rates of all flows through the compiled solver (for tests and benchmarks)."""
    cap = _capacities(capacities)
    fs = _flowset(flows, cap.size)
    ix = _Index(fs)
    ix.reject_unbounded(np.full(ix.n, np.inf))
    args = _kernel_args(ix, cap)
    ws = _workspace_jit(ix.n, ix.R, ix.nG, ix.D_idx.size, ix.n * ix.K)
    present = np.arange(ix.n, dtype=np.int64)
    rate = np.zeros(ix.n)
    _solve(present, ix.n, True, 0.0, *args, rate, *ws)
    return rate


# A 4-ary heap: half the depth of a binary one, and a node's children share a cache line.

@_jit
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


@_jit
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


@_jit
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


@_jit
def _solve(P, npres, fresh, level0, R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr, G_idx,
           G_val, Gt_ptr, Gt_idx, Gt_val, cm, rate,
           a, u, a_ref, cnt, dcnt, rstart, rfill, rflow, rval, rmark, dead, tres, hk, hr, hpos,
           dirty,
           gN, gW, gstart, gfill, gflow, tgrp, gmark, gdone, dW, dN, sgrp, sgmark,
           active, frozen):
    """Max-min rates (weights 1) of the flows P[:npres] into ``rate``; freeze order into ``frozen``.

    With ``fresh`` the flows P[:npres] are the whole system.  Otherwise progressive
    filling *resumes* at level ``level0`` with every other flow already frozen: ``u``
    must then hold, per resource, the load of all flows at the rates in ``rate`` (0 for
    flows new to the system); it is updated in place to the load at the new rates.
    """
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
        hpos[i] = -1
        if cnt[i] > 0:
            hk[size] = (cap[i] - u[i]) / a[i]
            hr[size] = i
            hpos[i] = size
            size += 1
    for j in range((size - 2) // 4, -1, -1):
        _heap_down(hk, hr, hpos, j, size)

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
                size = _heap_remove(hk, hr, hpos, 0, size)
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
                _heap_down(hk, hr, hpos, 0, size)
                continue
            if L < 0.0:
                L = max(hk[0], level)
                thr = L * (1.0 + 1e-9)
            elif hk[0] > thr:
                break
            size = _heap_remove(hk, hr, hpos, 0, size)
            dead[i] = True
            for e in range(rstart[i], rfill[i]):
                f = rflow[e]
                if active[f]:
                    active[f] = False
                    rate[f] = L
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


@_jit
def _add_load(f, scale, R, D_ptr, D_idx, D_val, K, groups, G_ptr, G_idx, G_val, out):
    """out[i] += scale * (share of flow f on resource i), over all its resources."""
    for e in range(D_ptr[f], D_ptr[f + 1]):
        out[D_idx[e]] += scale * D_val[e]
    for k in range(K):
        g = groups[f * K + k]
        if g >= 0:
            for e in range(G_ptr[g], G_ptr[g + 1]):
                out[G_idx[e]] += scale * G_val[e]


@_jit
def _fluid_run(R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr, G_idx, G_val,
               Gt_ptr, Gt_idx, Gt_val, cm, size, start, order):
    """Fluid simulation; re-solves at each event only the flows whose rates can change.

    Progressive filling freezes flows in increasing order of rate.  When flows
    leave, every step below the lowest rate among them is unchanged, so the flows
    slower than that keep their rates and filling resumes from there.  When flows
    arrive, a step can only change once some resource they use could saturate:
    resource i cannot before level min((c_i - load_i) / s_i, c_i / (A_i + s_i)),
    where load_i is its present load, A_i the summed shares of its present flows
    and s_i those of the arrivals.  The same resumption then applies.
    """
    n = size.shape[0]
    ws = _workspace_jit(n, R, nG, D_idx.shape[0], n * K)
    (a, u, a_ref, cnt, dcnt, rstart, rfill, rflow, rval, rmark, dead, tres, hk, hr, hpos,
     dirty, gN, gW, gstart, gfill, gflow, tgrp, gmark, gdone, dW, dN, sgrp, sgmark,
     active, frozen) = ws
    byrate = np.empty(n, dtype=np.int64)  # present flows, in the order they froze
    nord = 0
    Q = np.empty(n, dtype=np.int64)
    arrived = np.empty(n, dtype=np.int64)
    Atot = np.zeros(R)
    slope = np.zeros(R)
    slist = np.empty(R, dtype=np.int64)
    smark = np.zeros(R, dtype=np.bool_)
    rem = size.copy()
    rate = np.zeros(n)
    finish = np.full(n, np.nan)
    nxt = 0
    t = 0.0
    L0 = np.inf  # rates below this level cannot change at the next re-solve
    stats = np.zeros(3)  # events, flows re-solved, flows present: summed over events
    while nxt < n or nord > 0:
        if nord == 0 and start[order[nxt]] > t:
            t = start[order[nxt]]
        narr = 0
        while nxt < n and start[order[nxt]] <= t:
            arrived[narr] = order[nxt]
            narr += 1
            nxt += 1
        if narr > 0:
            ns = 0
            for j in range(narr):
                f = arrived[j]
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
        # keep the prefix of flows slower than L0; the rest is re-solved
        lo = 0
        hi = nord
        while lo < hi:
            mid = (lo + hi) >> 1
            if rate[byrate[mid]] < L0:
                lo = mid + 1
            else:
                hi = mid
        k = lo
        nq = 0
        for j in range(k, nord):
            Q[nq] = byrate[j]
            nq += 1
        for j in range(narr):
            Q[nq] = arrived[j]
            nq += 1
        level0 = rate[byrate[k - 1]] if k > 0 else 0.0
        stats[0] += 1
        stats[1] += nq
        stats[2] += k + nq
        _solve(Q, nq, k == 0, level0, R, cap, D_ptr, D_idx, D_val, K, groups, nG, G_ptr,
               G_idx, G_val, Gt_ptr, Gt_idx, Gt_val, cm, rate,
               a, u, a_ref, cnt, dcnt, rstart, rfill, rflow, rval, rmark, dead, tres, hk, hr,
               hpos, dirty, gN, gW, gstart, gfill, gflow, tgrp, gmark, gdone, dW, dN,
               sgrp, sgmark, active, frozen)
        for j in range(nq):
            byrate[k + j] = frozen[j]
        nord = k + nq
        dt = np.inf
        for j in range(nord):
            f = byrate[j]
            x = rem[f] / rate[f]
            if x < dt:
                dt = x
        if nxt < n and start[order[nxt]] - t < dt:
            dt = start[order[nxt]] - t
            t_new = start[order[nxt]]
        else:
            t_new = t + dt
        slack = dt + 1e-9 * t_new  # flows done within RTOL of the clock finish in this event
        L0 = np.inf
        kept = 0
        for j in range(nord):
            f = byrate[j]
            if rem[f] <= rate[f] * slack:
                finish[f] = t_new
                L0 = min(L0, rate[f])
                _add_load(f, -cm[f] * rate[f], R, D_ptr, D_idx, D_val, K, groups, G_ptr, G_idx,
                          G_val, u)
                _add_load(f, -cm[f], R, D_ptr, D_idx, D_val, K, groups, G_ptr, G_idx, G_val,
                          Atot)
            else:
                rem[f] -= rate[f] * dt
                byrate[kept] = f
                kept += 1
        nord = kept
        t = t_new
    return finish, stats


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
