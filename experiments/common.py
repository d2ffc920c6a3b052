"""Shared output for experiment scripts: results folder, CSV, comparison table."""

import csv
import io
import os
from pathlib import Path

from netemu.io import write_atomically

RESULTS = Path(os.environ.get("NETEMU_RESULTS", "results"))


def results_path(name, suffix):
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{name}{suffix}"


def write_csv(name, rows):
    """Write a list of dicts to results/NAME.csv atomically; return the path."""
    path = results_path(name, ".csv")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, lambda fh: fh.write(text.getvalue().encode()))
    return path


def relative_error(netemu_value, paper_value):
    return (netemu_value - paper_value) / paper_value


#: Columns of the console comparison table: (heading, alignment).
_COLUMNS = (("point", "<"), ("metric", "<"), ("kind", "<"), ("paper", ">"), ("netemu", ">"),
            ("error", ">"))


def comparison_table(title, rows):
    """The comparison rows as aligned text lines (title, heading, rule, one line per row).

    Every column is as wide as its widest cell, so long points and metrics never push the
    numbers out of line; a row without a published value shows ``-``; ``kind`` says which
    rows are predictions and which are checks (a row without one is netemu-only).

    Examples
    --------
    >>> rows = [{"point": "16 GPUs", "metric": "algbw GB/s", "paper": 8.0, "netemu": 9.0,
    ...          "error": 0.125, "kind": "prediction"},
    ...         {"point": "a much longer point name", "metric": "m", "paper": None,
    ...          "netemu": 1234.5, "error": None},
    ...         {"point": "switches", "metric": "count", "paper": 96, "netemu": 96, "error": 0.0,
    ...          "kind": "check"}]
    >>> for line in comparison_table("T", rows): print(line)
    <BLANKLINE>
    T
      point                    metric     kind        paper   netemu  error
      ---------------------------------------------------------------------
      16 GPUs                  algbw GB/s prediction   8.00     9.00 +12.5%
      a much longer point name m          netemu only  -    1,234.50
      switches                 count      check       96       96     +0.0%
    """
    cells = []
    for r in rows:
        # A row with nothing published is netemu's alone, whatever its default kind.
        kind = "netemu only" if r.get("paper") is None else (r.get("kind") or "prediction")
        err = "" if r.get("error") is None else f"{100 * r['error']:+.1f}%".replace("-0.0%",
                                                                                "+0.0%")
        cells.append([str(r["point"]), str(r["metric"]), kind, _num(r.get("paper")),
                      _num(r.get("netemu")), err])
    for i in (3, 4):
        # Whole numbers in a column of two-decimal ones: padded so the units line up.
        if any(len(c[i]) > 3 and c[i][-3] == "." for c in cells):
            for c in cells:
                if c[i] == "-" or (c[i][-1:].isdigit() and "." not in c[i] and "e" not in c[i]):
                    c[i] += "   "
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(_COLUMNS)]

    def line(values):
        return "  " + " ".join(f"{v:{a}{w}}" for v, (_, a), w in
                               zip(values, _COLUMNS, widths)).rstrip()

    header = line([h for h, _ in _COLUMNS])
    return ["", title, header, "  " + "-" * (len(header) - 2)] + [line(c) for c in cells]


def print_comparison(title, rows):
    """Print :func:`comparison_table` (rows: dicts with point, metric, paper, netemu, error
    as a fraction or None, and optionally kind)."""
    print("\n".join(comparison_table(title, rows)))


def _num(x):
    """A cell: integers as they are, every float to two decimals (so a column's decimal
    points line up), small ones to three significant digits."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}" if x != 0 and abs(x) < 0.1 else f"{x:,.2f}"
    return f"{int(x):,}"
