"""How well netemu agrees with a figure: error statistics, tolerance bands and curve shape.

Only *predictions* (:data:`netemu.experiments.support.KINDS`) count toward agreement; a
*check* follows from the paper's own inputs and is reported beside them, never counted.

A figure's curves are grouped by ``(experiment, metric)``: every comparison row of one
experiment with the same metric is one series (``"hfreduce algbw GB/s"`` and ``"nccl algbw
GB/s"`` of Fire-Flyer Fig. 7a are two).  Per series:

- mean and max of ``|error|`` over its predictions;
- the tolerance band the experiment declares (module attribute ``TOLERANCE``: a fraction
  for every metric, or ``{metric: fraction}``; none when absent) and how many predictions
  lie inside it (``|error| <= band``);
- whether the *shape* matches: the ranking of the points by value is the same in the paper
  and in netemu.  Every pair of points is compared: both sides must order it the same way
  (``<``, ``>`` or tied).  Two values are *tied* when they differ by at most :data:`TIE`
  of the larger: published values are data labels of two or three significant digits, so a
  smaller difference is not an ordering the paper shows.  A monotone run in the paper that
  netemu renders flat (or the reverse) therefore counts as a disagreement: a flat model
  curve does not reproduce a falling one.  The count of agreeing pairs is given beside the
  verdict.
"""

from itertools import combinations

__all__ = ["TIE", "tolerance_of", "in_band", "order", "shape", "figure_summary",
           "FIGURE_FIELDS"]

#: Relative difference under which two values of one curve count as tied (see module doc).
TIE = 0.01

#: Columns of results/summary_figures.csv.
FIGURE_FIELDS = ("experiment", "result", "metric", "predictions", "checks", "mean_abs_error",
                 "max_abs_error", "band", "inside", "shape", "pairs_agreeing")


def tolerance_of(module, metric):
    """The band (fraction) ``module`` declares for ``metric``, or None.

    ``module.TOLERANCE`` may be a number (every metric) or a mapping ``{metric: number}``.

    Examples
    --------
    >>> import types
    >>> m = types.SimpleNamespace(TOLERANCE={"nccl algbw GB/s": 0.25})
    >>> tolerance_of(m, "nccl algbw GB/s"), tolerance_of(m, "other")
    (0.25, None)
    """
    tol = getattr(module, "TOLERANCE", None)
    if isinstance(tol, dict):
        tol = tol.get(metric)
    return None if tol is None else float(tol)


def in_band(error, band):
    """``'yes'``/``'no'`` whether ``|error| <= band``; ``''`` without an error or a band."""
    if error is None or band is None:
        return ""
    return "yes" if abs(error) <= band + 1e-12 else "no"


def order(a, b, tie=TIE):
    """-1, 0 or 1: ``a`` below, tied with or above ``b`` (ties within ``tie`` of the larger).

    Examples
    --------
    >>> order(1.0, 2.0), order(4.01, 4.0), order(3.0, 2.0)
    (-1, 0, 1)
    """
    if abs(a - b) <= tie * max(abs(a), abs(b)):
        return 0
    return -1 if a < b else 1


def shape(paper, ours, tie=TIE):
    """``(agreeing, pairs)``: point pairs that paper and netemu order the same way.

    Examples
    --------
    >>> shape([3.0, 2.0, 1.0], [30.0, 20.0, 10.0])       # both falling
    (3, 3)
    >>> shape([3.0, 2.0, 1.0], [5.0, 5.0, 5.0])          # netemu flat: no pair agrees
    (0, 3)
    """
    pairs = list(combinations(range(len(paper)), 2))
    agree = sum(order(paper[i], paper[j], tie) == order(ours[i], ours[j], tie)
                for i, j in pairs)
    return agree, len(pairs)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def figure_summary(summary, labels=None):
    """One row per ``(experiment, metric)`` that has a published value (FIGURE_FIELDS).

    Parameters
    ----------
    summary : list of dict
        Rows of results/summary.csv (``experiment, point, metric, kind, paper, netemu,
        error, band, ...``).
    labels : mapping, optional
        ``{experiment: short label}`` for the ``result`` column (default: the name).
    """
    labels = labels or {}
    groups = {}
    for r in summary:
        if r.get("paper") is None:
            continue
        groups.setdefault((r["experiment"], r["metric"]), []).append(r)
    out = []
    for (exp, metric), rows in groups.items():
        pred = [r for r in rows if r.get("kind") == "prediction" and r.get("error") is not None]
        band = next((r["band"] for r in pred if r.get("band") is not None), None)
        errs = [abs(r["error"]) for r in pred]
        numeric = [r for r in pred if _is_number(r["paper"]) and _is_number(r["netemu"])]
        agree, pairs = shape([r["paper"] for r in numeric], [r["netemu"] for r in numeric])
        out.append({
            "experiment": exp, "result": labels.get(exp, exp), "metric": metric,
            "predictions": len(pred),
            "checks": sum(1 for r in rows if r.get("kind") == "check"),
            "mean_abs_error": sum(errs) / len(errs) if errs else None,
            "max_abs_error": max(errs) if errs else None,
            "band": band,
            "inside": sum(abs(e) <= band + 1e-12 for e in errs) if band is not None else None,
            "shape": ("" if pairs == 0 else "matches" if agree == pairs else "differs"),
            "pairs_agreeing": f"{agree}/{pairs}" if pairs else "",
        })
    return out
