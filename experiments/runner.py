"""Run experiments' sweep points on a local process pool or a Dask cluster, then report.

All points of all chosen experiments form one task list (so a long sweep and a
short one share the workers), run on

- a local :class:`concurrent.futures.ProcessPoolExecutor` with ``jobs``
  workers (default: every core), or in this process when ``jobs == 1``;
- a Dask distributed cluster when ``scheduler`` is its address
  (``tcp://host:port``): ``Client.map`` then ``as_completed``.  Workers need
  netemu installed (``pip install -e .[distributed]``).

Every point is a pure function of its parameters, so both paths give the same
rows; the results are put back in each experiment's ``points()`` order before
``report``.  A failed point stops the run with :class:`ExperimentError`
naming the experiment and the point: nothing is silently left out.

The progress bar is tqdm's (on stderr): it copes with terminals, pipes and
notebooks, which a bar of our own would have to relearn.
"""

import csv
import importlib
import io
import os
import sys
from pathlib import Path

from netemu.errors import ExperimentError, ParameterError
from netemu.io import write_atomically

from netemu.experiments import EXPERIMENTS
from netemu.experiments.agreement import FIGURE_FIELDS, figure_summary, in_band, tolerance_of
from netemu.experiments.common import print_comparison
from netemu.experiments.readme_table import SUMMARY_FIELDS, read_summary, summary_markdown

__all__ = ["load", "tasks", "run_task", "sweep", "run", "summary_rows", "SUMMARY_FIELDS"]

#: How long to wait for a Dask scheduler before giving up on its address.
CONNECT_TIMEOUT = "10s"


def load(name):
    """The experiment module ``name`` (ParameterError naming the allowed ones otherwise)."""
    if name not in EXPERIMENTS:
        raise ParameterError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"netemu.experiments.{name}")


def tasks(names):
    """``[(name, index, point), ...]`` of every point of every experiment in ``names``."""
    out = []
    for name in names:
        out += [(name, i, p) for i, p in enumerate(load(name).points())]
    return out


def run_task(name, index, point):
    """Run one point; module-level so that pools and Dask workers can pickle it."""
    return name, index, load(name).run_point(point)


def _check_jobs(jobs):
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ParameterError(f"jobs must be a whole number >= 1, got {jobs!r}")
    return jobs


def _failed(task, exc):
    name, _, point = task
    return ExperimentError(f"experiment {name}, point {point}: {type(exc).__name__}: {exc}")


def _serial(todo):
    for task in todo:
        try:
            yield run_task(*task)
        except Exception as exc:  # any failure of a point, named
            raise _failed(task, exc) from exc


def _pool(todo, jobs):
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_task, *t): t for t in todo}
        try:
            for fut in as_completed(futures):
                exc = fut.exception()
                if exc is not None:
                    raise _failed(futures[fut], exc) from exc
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _dask(todo, scheduler):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ParameterError("--scheduler needs Dask's distributed package: "
                             "pip install -e '.[distributed]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    try:
        futures = client.map(run_task, *zip(*todo), pure=False)
        index = {f.key: t for f, t in zip(futures, todo)}
        for fut in as_completed(futures):
            if fut.status == "error":
                exc = fut.exception()
                raise _failed(index[fut.key], exc) from exc
            yield fut.result()
    finally:
        client.close()


def sweep(names, *, jobs=None, scheduler=None, progress=True):
    """Run every point of ``names``; ``{name: rows in points() order}``."""
    names = list(dict.fromkeys(names))
    todo = tasks(names)
    if scheduler is not None:
        if jobs is not None:
            raise ParameterError("jobs sets the local pool's size; with a Dask scheduler its "
                                 "workers run the points (give one or the other)")
        results = _dask(todo, scheduler)
    else:
        jobs = _check_jobs(jobs)
        results = _serial(todo) if jobs == 1 or len(todo) == 1 else _pool(todo, min(jobs, len(todo)))
    from tqdm import tqdm

    got = {}
    with tqdm(total=len(todo), desc="experiments", unit="point", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        for name, index, rows in results:
            got[name, index] = rows
            bar.set_postfix_str(name, refresh=False)
            bar.update()
    counts = {n: sum(1 for t in todo if t[0] == n) for n in names}
    return {n: [r for i in range(counts[n]) for r in got[n, i]] for n in names}


def run(names=None, *, jobs=None, scheduler=None, out_dir="results", progress=True, quiet=False,
        readme=None):
    """Sweep, report (CSV + PNG per experiment), print the tables, write the summary.

    Returns ``{name: comparison rows}``.  ``out_dir/summary.csv`` holds every
    comparison row of the experiments run (with its kind, band and note), and the rows
    an earlier run there wrote for the others; ``out_dir/summary_figures.csv`` the
    per-figure agreement (:mod:`netemu.experiments.agreement`); ``out_dir/summary.md``
    both as Markdown tables; ``out_dir/index.html`` one self-contained page with the tables,
    the figures and the run's parameters (:mod:`netemu.experiments.html_report`).  With ``readme`` (a path), that README's generated blocks
    are rewritten from the summary (:mod:`netemu.experiments.readme_table`).
    """
    names = list(EXPERIMENTS) if names is None else list(dict.fromkeys(names))
    if not names:
        raise ParameterError("no experiment given; allowed: " + ", ".join(EXPERIMENTS))
    for n in names:
        load(n)
    rows = sweep(names, jobs=jobs, scheduler=scheduler, progress=progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    comparisons = {}
    for n in names:
        module = load(n)
        comparisons[n] = module.report(rows[n], out_dir)
        if not quiet:
            print_comparison(module.TITLE, comparisons[n])
    summary = [r for n in names for r in summary_rows(n, comparisons[n])]
    kept = [r for r in read_summary(out_dir / "summary.csv")
            if r["experiment"] in EXPERIMENTS and r["experiment"] not in names]
    order = {n: i for i, n in enumerate(EXPERIMENTS)}
    _write_summary(out_dir, sorted(kept + summary, key=lambda r: order[r["experiment"]]))
    if readme is not None:
        from netemu.experiments.readme_table import update_readme
        update_readme(readme, out_dir)
    # One page to look at the whole run: table, figures, parameters (index.html).
    from netemu.experiments.html_report import write_report
    write_report(out_dir, {"experiments": names, "jobs": None if scheduler else _check_jobs(jobs),
                           "scheduler": scheduler})
    if not quiet:
        _print_totals(summary, out_dir)
    return comparisons


def summary_rows(name, comparisons):
    """``name``'s comparison rows as summary.csv rows: kind, band and in-band filled in.

    A row without a ``kind`` is a prediction (:func:`compare_row`'s default) when it has a
    published value, and ``'netemu only'`` when it has none.
    """
    module = load(name)
    out = []
    for r in comparisons:
        paper = r.get("paper")
        kind = r.get("kind") or ("prediction" if paper is not None else "netemu only")
        band = tolerance_of(module, r["metric"]) if kind == "prediction" else None
        out.append({"experiment": name, "point": r["point"], "metric": r["metric"],
                    "kind": kind, "paper": paper, "netemu": r.get("netemu"),
                    "error": r.get("error"), "band": band,
                    "in_band": in_band(r.get("error"), band), "note": r.get("note", "")})
    return out


def _csv_text(fields, rows):
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    return text.getvalue().encode()


def _write_summary(out_dir, summary):
    from netemu.experiments.readme_table import labels

    label = labels(dict.fromkeys(r["experiment"] for r in summary))
    figures = figure_summary(summary, label)
    write_atomically(out_dir / "summary.csv", lambda fh: fh.write(_csv_text(SUMMARY_FIELDS,
                                                                            summary)))
    write_atomically(out_dir / "summary_figures.csv",
                     lambda fh: fh.write(_csv_text(FIGURE_FIELDS, figures)))
    text = summary_markdown(summary, figures, label)
    write_atomically(out_dir / "summary.md", lambda fh: fh.write(text.encode()))


def _print_totals(summary, out_dir):
    compared = [r for r in summary if r["error"] is not None and r["kind"] == "prediction"]
    checks = sum(r["kind"] == "check" for r in summary)
    banded = [r for r in compared if r["in_band"]]
    worst = max(compared, key=lambda r: abs(r["error"]), default=None)
    print(f"\n{len(summary)} figures from {len({r['experiment'] for r in summary})} experiments: "
          f"{len(compared)} predictions compared with a published value "
          f"({sum(r['in_band'] == 'yes' for r in banded)} of the {len(banded)} with a band "
          f"inside it), {checks} consistency check{'' if checks == 1 else 's'}"
          + (f"; largest prediction error {100 * worst['error']:+.1f}% ({worst['experiment']}, "
             f"{worst['point']}, {worst['metric']})" if worst else "")
          + f"\nresults in {out_dir}/ (index.html, summary.csv, summary_figures.csv, summary.md, "
            f"one CSV and PNG per experiment)")
