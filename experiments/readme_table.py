"""Markdown tables of the comparison, for results/summary.md and the README's generated blocks.

The README holds two generated blocks, each between HTML comment markers:

- ``<!-- results-table -->`` ... ``<!-- /results-table -->``: the predictions (paper,
  netemu, error, band, in or out of band), the consistency checks (labelled, never counted
  as agreement) and the per-figure summary (:mod:`netemu.experiments.agreement`);
- ``<!-- failure-table -->`` ... ``<!-- /failure-table -->``: netemu-only failure results.

Both are rendered from results/summary.csv (:func:`read_summary`), so the README says what
the last ``python3 -m netemu.experiments`` run computed and nothing typed by hand:
``netemu experiments readme`` (or ``python3 -m netemu.experiments --readme README.md``)
rewrites them; ``netemu experiments readme --check`` exits 1 when they are stale.
"""

import csv
import re
from pathlib import Path

from netemu.errors import ParameterError
from netemu.io import write_atomically

__all__ = ["SUMMARY_FIELDS", "read_summary", "labels", "fmt", "summary_markdown",
           "results_block", "failure_block", "render_readme", "update_readme", "COLLAPSE"]

#: Columns of results/summary.csv.
SUMMARY_FIELDS = ("experiment", "point", "metric", "kind", "paper", "netemu", "error",
                  "band", "in_band", "note")
#: In the README, a series (experiment, metric, kind) with more rows than this is one line
#: giving its ranges (every row stays in results/summary.csv and summary.md).
COLLAPSE = 12
_NUMERIC = ("paper", "netemu", "error", "band")


def read_summary(path):
    """Rows of a ``summary.csv`` (numbers parsed back); [] if absent or of another layout."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != SUMMARY_FIELDS:
                return []
            rows = list(reader)
    except FileNotFoundError:
        return []
    return [{k: _parse(v) if k in _NUMERIC else v for k, v in r.items()} for r in rows]


def _parse(text):
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def labels(names):
    """``{experiment: short label}``: the module's ``LABEL``, else its TITLE up to the colon."""
    from netemu.experiments import EXPERIMENTS
    from netemu.experiments.runner import load

    out = {}
    for n in names:
        if n not in EXPERIMENTS:
            out[n] = n
            continue
        m = load(n)
        out[n] = getattr(m, "LABEL", None) or m.TITLE.split(":")[0]
    return out


def fmt(x):
    """A table cell: 4 significant digits (whole numbers from 1,000 up), '–' for nothing.

    Examples
    --------
    >>> fmt(8.8071), fmt(1586.7), fmt(2048), fmt(None)
    ('8.807', '1,587', '2,048', '–')
    """
    if x is None or x == "":
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e3 else f"{x:,.0f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _pct(x, signed=True):
    if x is None:
        return "–"
    x = 100 * x + 0.0          # + 0.0: no "-0.0%" for a round-off below zero
    if abs(x) < 0.05:
        x = 0.0
    return f"{x:+.1f}%" if signed else f"{x:.1f}%"


def _band(b):
    return "–" if b is None else f"±{100 * b:g}%"


def _collapse(rows):
    """Rows, with every (experiment, metric, kind) series longer than COLLAPSE made one line."""
    series = {}
    for r in rows:
        series.setdefault((r["experiment"], r["metric"], r["kind"]), []).append(r)
    out, done = [], set()
    for r in rows:
        key = (r["experiment"], r["metric"], r["kind"])
        group = series[key]
        if len(group) <= COLLAPSE:
            out.append(r)
        elif key not in done:
            done.add(key)
            out.append(_range_row(group))
    return out


def _span(values, show):
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    return show(lo) if show(lo) == show(hi) else f"{show(lo)} to {show(hi)}"


def _range_row(group):
    first = group[0]
    inside = [r["in_band"] for r in group if r.get("in_band")]
    return {**first, "point": f"{len(group)} points: {first['point']} … {group[-1]['point']}",
            "paper": _span([r["paper"] for r in group], fmt),
            "netemu": _span([r["netemu"] for r in group], fmt),
            "error": _span([r["error"] for r in group], _pct),
            "in_band": f"{inside.count('yes')}/{len(inside)}" if inside else "",
            "note": first.get("note", "")}


def _cell_error(r):
    return r["error"] if isinstance(r["error"], str) else _pct(r["error"])


def _table(header, align, lines):
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(cells) + " |" for cells in lines]


def predictions_table(rows, label, collapse=True):
    rows = [r for r in rows if r["kind"] == "prediction" and r["paper"] is not None]
    rows = _collapse(rows) if collapse else rows
    return _table(["result", "point", "metric", "paper", "netemu", "error", "band", "in band"],
                  ["---", "---", "---", "---:", "---:", "---:", "---:", "---"],
                  [[label.get(r["experiment"], r["experiment"]), str(r["point"]), r["metric"],
                    fmt(r["paper"]), fmt(r["netemu"]), _cell_error(r), _band(r["band"]),
                    r["in_band"] or "–"] for r in rows])


def checks_table(rows, label, collapse=True):
    rows = [r for r in rows if r["kind"] == "check"]
    rows = _collapse(rows) if collapse else rows
    return _table(["result", "point", "metric", "paper", "netemu", "difference", "why a check"],
                  ["---", "---", "---", "---:", "---:", "---:", "---"],
                  [[label.get(r["experiment"], r["experiment"]), str(r["point"]), r["metric"],
                    fmt(r["paper"]), fmt(r["netemu"]), _cell_error(r), r.get("note") or "–"]
                   for r in rows])


def figures_table(figures):
    lines = []
    for f in figures:
        if not f["predictions"]:
            continue
        inside = "–" if f["inside"] is None else f"{f['inside']}/{f['predictions']}"
        shape = f["shape"] + (f" ({f['pairs_agreeing']} pairs)" if f["pairs_agreeing"] else "")
        lines.append([f["result"], f["metric"], str(f["predictions"]),
                      _pct(f["mean_abs_error"], False), _pct(f["max_abs_error"], False),
                      _band(f["band"]), inside, shape or "–"])
    return _table(["result", "metric", "predictions", "mean abs error", "max abs error", "band",
                   "inside band", "shape"],
                  ["---", "---", "---:", "---:", "---:", "---:", "---:", "---"], lines)


def _plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(rows):
    pred = [r for r in rows if r["kind"] == "prediction" and r["error"] is not None]
    inside = sum(r["in_band"] == "yes" for r in pred)
    banded = sum(bool(r["in_band"]) for r in pred)
    checks = sum(r["kind"] == "check" for r in rows)
    return (f"{_plural(len(pred), 'prediction')} ({inside} of the {banded} with a tolerance "
            f"band inside it), {_plural(checks, 'consistency check')}.")


def results_block(rows, figures, label, collapse=True):
    """The README's results block (list of lines, without the markers)."""
    return ([_counts(rows), "", "**Predictions** (netemu computes the number from hardware "
             "and software facts; only these count toward agreement):", ""]
            + predictions_table(rows, label, collapse)
            + ["", "**Consistency checks** (the number follows from the paper's own inputs by "
               "construction; labelled, never counted as agreement):", ""]
            + checks_table(rows, label, collapse)
            + ["", "**Per figure** (predictions only; shape = the points ranked by value in the "
               "same order, values within 1% counted as tied):", ""]
            + figures_table(figures))


def summary_markdown(rows, figures, label):
    """results/summary.md: every row (nothing collapsed), then the per-figure summary."""
    other = [r for r in rows if r["paper"] is None]
    lines = ["# Paper against netemu", ""] + results_block(rows, figures, label, collapse=False)
    if other:
        lines += ["", "**netemu only** (no published value):", ""] + _table(
            ["result", "point", "metric", "netemu"], ["---", "---", "---", "---:"],
            [[label.get(r["experiment"], r["experiment"]), str(r["point"]), r["metric"],
              fmt(r["netemu"])] for r in other])
    return "\n".join(lines) + "\n"


_FAILED = re.compile(r"\[([-0-9.]+), ([-0-9.]+)\]")


def failure_block(rows):
    """The README's failure table from failure_resilience's rows (list of lines)."""
    cells, fabrics, cases = {}, [], []
    for r in rows:
        if r["experiment"] != "failure_resilience":
            continue
        fabric, case = r["point"].split(" ", 1)
        m = _FAILED.search(r["metric"])
        cells[fabric, case] = f"{r['netemu']:.3f} [{m.group(1)}, {m.group(2)}]" if m \
            else fmt(r["netemu"])
        fabrics += [fabric] if fabric not in fabrics else []
        cases += [case] if case not in cases else []
    return _table(["failed"] + fabrics, ["---"] + ["---:"] * len(fabrics),
                  [[c] + [cells.get((f, c), "–") for f in fabrics] for c in cases])


def _replace(text, name, lines):
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ParameterError(f"the README has no {start} ... {end} block")
    return text[:i + len(start)] + "\n" + "\n".join(lines) + "\n" + text[j:]


def render_readme(text, rows, figures, label):
    """``text`` (a README) with both generated blocks rewritten from ``rows``."""
    text = _replace(text, "results-table", results_block(rows, figures, label))
    return _replace(text, "failure-table", failure_block(rows))


def update_readme(readme, results_dir="results", *, check=False):
    """Rewrite ``readme``'s generated blocks from ``results_dir``; True if it changed.

    With ``check=True`` nothing is written: the return value says whether it would change.

    Raises
    ------
    ParameterError
        ``results_dir`` has no summary.csv of the current layout, or ``readme`` lacks a
        block's markers.
    """
    from netemu.experiments.agreement import figure_summary

    rows = read_summary(Path(results_dir) / "summary.csv")
    if not rows:
        raise ParameterError(f"no summary.csv of the current layout in {str(results_dir)!r}; "
                             f"run `netemu experiments run --all --out {results_dir}` first")
    label = labels(dict.fromkeys(r["experiment"] for r in rows))
    path = Path(readme)
    try:
        old = path.read_text()
    except FileNotFoundError:
        raise ParameterError(f"README {str(readme)!r} does not exist") from None
    new = render_readme(old, rows, figure_summary(rows, label), label)
    if new != old and not check:
        write_atomically(path, lambda fh: fh.write(new.encode()))
    return new != old
