"""Helpers shared by the collective experiments: cached clusters, CSV, paper-vs-netemu rows, plots."""

import csv
import functools
import io
from pathlib import Path

from netemu.io import write_atomically
from netemu.units import GB

__all__ = ["cluster", "write_rows", "compare_row", "line_plot", "GB"]


@functools.lru_cache(maxsize=4)
def _preset(name, params):
    from netemu.topologies.presets import preset
    return preset(name, **dict(params))


def cluster(name, calibrate=None, **params):
    """A preset built once per process (sweep points reuse it); ``calibrate(G)`` applied once."""
    G = _preset(name, tuple(sorted(params.items())))
    if calibrate is not None and not G.graph.get(f"calibrated:{calibrate.__name__}"):
        calibrate(G)
        G.graph[f"calibrated:{calibrate.__name__}"] = True
    return G


def write_rows(out_dir, name, rows):
    """``rows`` (dicts) to ``out_dir/NAME.csv`` atomically; returns the path."""
    path = Path(out_dir) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO(newline="")
    fields = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(text, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    write_atomically(path, lambda fh: fh.write(text.getvalue().encode()))
    return path


def compare_row(point, metric, paper, ours, kind="prediction"):
    """One comparison row; ``error`` is (netemu - paper) / paper.

    ``kind``: ``'prediction'`` (netemu computes it from hardware facts) or ``'check'``
    (it follows from the paper's own inputs by construction; never counted as agreement).
    """
    return {"point": point, "metric": metric, "paper": paper, "netemu": ours,
            "error": (ours - paper) / paper, "kind": kind}


def line_plot(path, title, xlabel, ylabel, series, *, logx=True, xticks=None):
    """Lines (netemu) and markers (paper): ``series`` = [(label, xs, ys, style), ...]."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from netemu.plot import save_figure

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, xs, ys, style in series:
        ax.plot(xs, ys, style, label=label)
    if logx:
        ax.set_xscale("log", base=2)
    if xticks is not None:
        ax.set_xticks(xticks, [str(x) for x in xticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    save_figure(fig, path)
