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
"""

import numbers

import numpy as np
import scipy.sparse as sp

from .errors import SolverInputError

__all__ = ["FlowSet", "max_min_rates", "completion_times"]


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
        vals = np.asarray(vals, dtype=np.float64) if vals else np.zeros(0)
        _check_shares(vals, "flow shares")
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
        raise SolverInputError(f"{what} contain {bad!r}; every share must be a finite number > 0")
