"""Helpers shared by the collective experiments: cached clusters, CSV, paper-vs-netemu rows, plots."""

import csv
import functools
import io
from pathlib import Path

from netemu.errors import ParameterError
from netemu.io import write_atomically
from netemu.units import GB

__all__ = ["cluster", "fabric", "PRICED_FABRICS", "write_rows", "compare_row", "KINDS", "line_plot", "GB"]

#: Classes of comparison rows.  A *prediction* is a number netemu computes from sourced
#: hardware and software facts; a *check* follows from the paper's own inputs by
#: construction (its arithmetic re-run, a ratio that cannot differ from 1 in the model, a
#: sum of NIC rates, an exact count): useful, labelled, never counted as agreement.
KINDS = ("prediction", "check")


#: Clusters kept per process: the experiments of one run use six (Fire-Flyer 2 with its three
#: hardware forms, DeepSeek-V3 on MPFT and MRFT, and Fire-Flyer 2's fabric), about 20 MB each;
#: with fewer, a worker moving between experiments rebuilt them.
CLUSTERS_KEPT = 8


@functools.lru_cache(maxsize=CLUSTERS_KEPT)
def _preset(name, params):
    import networkx as nx

    from netemu.topologies.presets import preset
    # Frozen: sweep points and experiments share the graph, so none may change its nodes or
    # links (networkx raises), and the routing and path-model caches can trust its shape
    # without walking it on every call.
    return nx.freeze(preset(name, **dict(params)))


def cluster(name, **params):
    """``preset(name, **params)`` built once per process (sweep points reuse it).

    Hardware behaviour is a parameter of the preset (``shared_root_port=...``), never a step
    applied here, so an experiment builds the same graph as ``netemu bench`` and ``preset()``.
    The graph is frozen (:func:`networkx.freeze`): copy it to change it.
    """
    return _preset(name, tuple(sorted(params.items())))


#: Fabrics priced again and again in one run: the presets of the ``sensitivity`` experiment's
#: layout study, which ``topology_cost`` prices too (the dragonfly, priced once, is left out:
#: it is the largest graph of the run).
PRICED_FABRICS = ("isca-ft2", "isca-mpft", "isca-ft3", "isca-slimfly", "fire-flyer-2",
                  "ff-pcie-3layer", "ff-dgx-3layer")


@functools.lru_cache(maxsize=len(PRICED_FABRICS))
def _priced(name):
    import networkx as nx

    from netemu.topologies.presets import preset
    return nx.freeze(preset(name))


def fabric(name):
    """``preset(name)``, frozen and built once per process when it is one of
    :data:`PRICED_FABRICS` (topologies.cost then keeps what it reads from it across
    layouts and experiments), built afresh otherwise."""
    if name in PRICED_FABRICS:
        return _priced(name)
    from netemu.topologies.presets import preset
    return preset(name)


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


def compare_row(point, metric, paper, ours, *, kind="prediction", note=""):
    """One comparison row: paper against netemu, with its class.

    Parameters
    ----------
    point, metric : str
        Where on the figure (``"16 GPUs"``) and what is compared (``"algbw GB/s"``).
    paper, ours : float or None
        The published value and netemu's; ``error`` = (netemu - paper) / paper, None
        where either is missing or the paper's value is 0.
    kind : {"prediction", "check"}
        ``"prediction"`` when netemu computes the number from hardware and software
        facts, ``"check"`` when it follows from the paper's own inputs by construction
        (see :data:`KINDS`).  Only predictions count toward agreement.
    note : str
        One line for the reader (why a row is a check, which reading of a figure).

    Raises
    ------
    ParameterError
        ``kind`` is not one of :data:`KINDS`.

    Examples
    --------
    >>> r = compare_row("16 GPUs", "algbw GB/s", 8.0, 9.0)
    >>> r["error"], r["kind"]
    (0.125, 'prediction')
    >>> compare_row("all", "bound TB/s", 9.0, 9.0, kind="check", note="sum of NIC rates")["kind"]
    'check'
    """
    if kind not in KINDS:
        raise ParameterError(f"comparison row kind {kind!r} is not known; allowed: "
                             f"{', '.join(KINDS)}")
    error = None
    if paper is not None and ours is not None and paper != 0:
        error = (ours - paper) / paper
    return {"point": point, "metric": metric, "paper": paper, "netemu": ours,
            "error": error, "kind": kind, "note": note}


def line_plot(path, title, xlabel, ylabel, series, *, logx=True, xticks=None):
    """A one-panel figure by the conventions of :mod:`netemu.experiments.figures`.

    ``series`` = [(label, xs, ys, style), ...]; a label starting with ``"paper"`` is a
    published series (open markers), any other netemu's (a line).  A paper series and a
    netemu series whose labels agree after that word share a colour, and netemu's error
    against it is drawn under the axes.  ``style`` is ignored: the conventions set the
    look.  New figures should use :class:`~netemu.experiments.figures.Plot` directly.
    """
    from netemu.experiments.figures import Plot

    def group(label):
        return label.split(" ", 1)[1] if label.split(" ", 1)[0] in ("paper", "netemu") \
            and " " in label else label

    papers = {group(lab): dict(zip(xs, ys)) for lab, xs, ys, _ in series
              if lab.startswith("paper")}
    p = Plot(title, error=bool(papers), logx=logx, xticks=xticks, xlabel=xlabel,
             ylabel=ylabel, width=7.0, height=4.2)
    for label, xs, ys, _ in series:
        g = group(label)
        if label.startswith("paper"):
            p.paper(xs, ys, g, g)
        else:
            p.netemu(xs, ys, g, g, only=g not in papers)
            if g in papers:
                p.error(xs, ys, [papers[g].get(x) for x in xs], g)
    return p.save(path)
