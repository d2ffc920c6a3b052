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


def print_comparison(title, rows):
    """rows: dicts with point, metric, paper, netemu, error (fraction or None)."""
    print(f"\n{title}")
    header = f"  {'point':<18} {'metric':<24} {'paper':>12} {'netemu':>12} {'error':>8}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for r in rows:
        err = "" if r["error"] is None else f"{100 * r['error']:+.1f}%"
        print(f"  {r['point']:<18} {r['metric']:<24} {_num(r['paper']):>12} {_num(r['netemu']):>12} {err:>8}")


def _num(x):
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.2f}"
    return f"{int(x):,}"
