"""What each sweep point costs, so the runner can hand out the long points first.

:func:`estimate` gives the CPU seconds a point took when the table below was recorded
(``python3 benchmarks/bench_mainjob.py --record``, on a 2-core x86-64 machine); a point
the table does not know gets its experiment's median, and an experiment the table does
not know gets :data:`UNKNOWN`.  Only the *order* of the points depends on these numbers,
never a result: a stale table makes a run slower, not different.
"""

import json
import statistics

__all__ = ["point_key", "estimate", "COSTS", "UNKNOWN"]

#: CPU seconds of a point of an experiment that is not in :data:`COSTS`.
UNKNOWN = 1.0

#: ``{experiment: {point_key(point): CPU seconds}}`` (recorded; see the module notes).
COSTS = {}


def point_key(point):
    """A point (a small dict) as one hashable string, the same in every process."""
    return json.dumps(point, sort_keys=True, default=str)


def _medians():
    return {name: statistics.median(table.values()) for name, table in COSTS.items() if table}


_MEDIAN = _medians()


def estimate(name, point):
    """Estimated CPU seconds of ``point`` of experiment ``name`` (see the module notes)."""
    table = COSTS.get(name)
    if not table:
        return UNKNOWN
    got = table.get(point_key(point))
    return got if got is not None else _MEDIAN[name]
