"""Comparison rows with their kind, for the [ISCA] experiments.

:func:`netemu.experiments.support.compare_row` is gaining ``kind=`` ("prediction" or
"check"); until that version is in, :func:`row` adds the ``kind`` key itself, so the
[ISCA] experiments label every row either way.  Delete this module once
``compare_row(..., kind=)`` is everywhere.
"""

from netemu.errors import ParameterError
from netemu.experiments.support import compare_row

__all__ = ["row", "KINDS"]

KINDS = ("prediction", "check")


def row(point, metric, paper, ours, kind):
    """``compare_row`` with ``kind``: "prediction" (netemu computes it from hardware facts)
    or "check" (it follows from the paper's own inputs; never counted as agreement)."""
    if kind not in KINDS:
        raise ParameterError(f"kind must be one of {KINDS}, got {kind!r}")
    try:
        return compare_row(point, metric, paper, ours, kind=kind)
    except TypeError:        # compare_row before it took kind=
        return dict(compare_row(point, metric, paper, ours), kind=kind)
