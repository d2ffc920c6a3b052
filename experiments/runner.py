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

import contextlib
import csv
import importlib
import io
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

from netemu.errors import ExperimentError, ParameterError
from netemu.io import write_atomically

from netemu.experiments import EXPERIMENTS
from netemu.experiments.agreement import FIGURE_FIELDS, figure_summary, in_band, tolerance_of
from netemu.experiments.common import print_comparison
from netemu.experiments.readme_table import SUMMARY_FIELDS, summary_markdown

__all__ = ["load", "tasks", "run_task", "longest_first", "warm_kernels", "sweep", "run",
           "previous_costs", "previous_report_costs",
           "summary_rows", "SUMMARY_FIELDS",
           "check_out_dir", "read_previous_summary", "STAGING_PREFIX"]

#: A run's files are written under ``out_dir/STAGING_PREFIX<pid>-*`` and moved into
#: ``out_dir`` together at the end, with SIGINT and SIGTERM held off for those renames.
STAGING_PREFIX = ".netemu-run-"
#: Largest summary.csv read back (bytes).
SUMMARY_LIMIT = 64 << 20

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
    """Run one point; module-level so that pools and Dask workers can pickle it.

    Returns ``(name, index, rows, cpu_s, wall_s, started)``: the point's CPU seconds (this
    process's, user + system), wall seconds and start (epoch seconds) ride along, so a run
    records what each point cost wherever it ran (:func:`sweep`'s ``timings``).
    """
    started, cpu, wall = time.time(), time.process_time(), time.perf_counter()
    rows = load(name).run_point(point)
    return (name, index, rows, time.process_time() - cpu, time.perf_counter() - wall,
            started)


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


def warm_kernels():
    """Load (or, on a first run, compile) the solver's kernels and the modules every point uses.

    Called in the parent before the pool starts: forked workers inherit the loaded kernels
    and modules, so start-up is paid once per run instead of once per worker, and on an
    installation's first run the kernels are compiled once (into the per-user cache,
    :mod:`netemu._kernel_cache`) instead of by every worker at the same time.
    """
    import netemu.collectives  # noqa: F401  (the modules the points import first)

    # The fluid simulation's kernel is most of a first compile (about 15 s of CPU against
    # 5 s for the others): when it is not on disk yet, a forked child compiles it into the
    # cache while this process compiles the rest, then this process loads it from there.
    from netemu import flow
    from netemu._kernel_cache import is_cached
    child = None if is_cached(flow._fluid_run) else _forked(_warm_fluid)
    _warm_rates()
    if child is not None:
        # Still compiling there: the router's kernels, which every routed point needs, and
        # the topology summary's are compiled here meanwhile, not by a worker on first use.
        _warm_routing()
        _warm_summary()
        child.join()
    _warm_fluid()


def _warm_fluid():
    from netemu import flow
    flow.completion_times([1.0, 2.0], [{0: 1.0}, {0: 1.0, 1: 1.0}], [1.0, 2.0])


def _warm_rates():
    from netemu import flow
    flow.max_min_rates([1.0, 2.0], [{0: 1.0}, {0: 1.0, 1: 1.0}])
    # The step model's timeline fills its coflows' rates with a kernel of its own.
    from netemu.collectives.timeline import Phase, Task, simulate
    simulate([1.0, 2.0], [Task("warm", "s", phases=[Phase({0: 1.0, 1: 1.0}, 1.0)])])


def _warm_routing():
    from netemu.routing import route
    from netemu.topologies.fat_tree import two_layer_fat_tree
    # Hashed ECMP over 1,200 flows of a small fat-tree: the router's compiled walk and its
    # compiled flow hashes (used from 1,000 flows on), the routing kernels the points use.
    G = two_layer_fat_tree(4)
    hosts = sorted(n for n, d in G.nodes(data=True) if G.degree(n) == 1)
    n = len(hosts)
    src = [hosts[i % n] for i in range(1200)]
    dst = [hosts[(i + 1 + i // n) % n] if (i + 1 + i // n) % n != i % n else hosts[(i + 1) % n]
           for i in range(1200)]
    route(G, src, dst, "hash")


def _warm_summary():
    from netemu.topologies.fat_tree import two_layer_fat_tree
    from netemu.topologies.summary import summary
    summary(two_layer_fat_tree(4))  # its diameter search runs the compiled row OR


def _forked(target):
    """``target`` started in a forked child (a started Process), or None where processes are
    not forked (the caller then runs everything itself, one after the other)."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        proc = multiprocessing.get_context("fork").Process(target=target, daemon=True)
        proc.start()
    except OSError:           # no process to spare: the parent compiles it, as before
        return None
    return proc


def _run_here(name, index, point):
    """:func:`run_task` in a pool worker, with the worker's pid (for :class:`_Affinity`)."""
    return os.getpid(), run_task(name, index, point)


class _Affinity:
    """Which point goes to a pool worker next: the first of ``todo`` (longest first,
    :func:`longest_first`) of an experiment that worker has run a point of, or of one no
    worker has started; else the first of all (the worker helps with another's experiment,
    which it then keeps as its own too).

    A worker keeps a cluster, its routes and path models between the points of an
    experiment (per-process caches); with the points handed out in order to whichever
    worker is free, both workers built the same clusters and routed the same jobs (about
    10 s of CPU over the main job).  Only the order of the points changes, never a row.
    """

    def __init__(self, todo):
        self.todo = list(todo)
        self.warm = {}      # pid -> experiments that worker has run points of
        self.started = set()

    def done(self, pid, task):
        self.warm.setdefault(pid, set()).add(task[0])

    def take(self, pid):
        """The next point for worker ``pid`` (None: no preference), or None when none is left."""
        if not self.todo:
            return None
        k = 0
        if pid is not None:
            mine = self.warm.setdefault(pid, set())
            k = next((i for i, t in enumerate(self.todo)
                      if t[0] in mine or t[0] not in self.started), 0)
        task = self.todo.pop(k)
        self.started.add(task[0])
        if pid is not None:
            self.warm[pid].add(task[0])
        return task


def _pool(todo, jobs):
    import queue
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # Held: a first run compiles the kernels here, and an interrupt raised inside LLVM's
    # callbacks cannot unwind (Python prints it as an ignored exception and goes on).
    with _signals_held():
        warm_kernels()
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init,
                               initargs=(os.getpid(),))
    pick = _Affinity(todo)
    out = queue.Queue()
    stop = threading.Event()
    futures = {}

    def dispatch():
        # One point per worker; each point returned frees exactly its worker, which gets the
        # next point _Affinity picks for it.  This thread hands them out while the caller
        # writes reports, so no worker waits for a report to end.
        try:
            for _ in range(jobs):
                t = pick.take(None)
                if t is None:
                    break
                futures[pool.submit(_run_here, *t)] = t
            while futures and not stop.is_set():
                done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    t = futures.pop(fut)
                    exc = fut.exception()
                    if exc is not None:
                        out.put(("failed", t, exc))
                        return
                    pid, result = fut.result()
                    pick.done(pid, t)
                    nxt = pick.take(pid)
                    if nxt is not None and not stop.is_set():
                        futures[pool.submit(_run_here, *nxt)] = nxt
                    out.put(("done", t, result))
        except BaseException as exc:  # noqa: B036 - handed to the caller, raised there
            out.put(("broken", None, exc))
        finally:
            out.put(("end", None, None))

    # Submitting starts the workers: an interrupt from here on must stop them too.
    thread = threading.Thread(target=dispatch, name="netemu-dispatch", daemon=True)
    try:
        thread.start()
        while True:
            try:
                kind, t, value = out.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "end":
                break
            if kind == "failed":
                raise _failed(t, value) from value
            if kind == "broken":
                raise value
            yield value
    except BaseException:
        # Interrupted or failed: stop the workers now rather than wait for their points.
        stop.set()
        thread.join()
        for fut in list(futures):
            fut.cancel()
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    thread.join()
    pool.shutdown(wait=True)


def _worker_init(parent):
    """Workers leave Ctrl-C to the parent (which stops them), so they print no traceback,
    and die with it however it ends: a parent killed outright cannot stop them, and an
    orphaned worker would block on the task queue for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the parent's SIGTERM-as-KeyboardInterrupt handler; the
    # parent's terminate() must end it outright, not raise inside a queue's lock.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1    # prctl(2): signal sent when the parent thread exits
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:          # the parent ended before the line above
            os.kill(os.getpid(), signal.SIGKILL)


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


def longest_first(todo, costs=None, report_costs=None):
    """``todo`` ordered by estimated cost, largest first (LPT), ties in points() order;
    the short points last, grouped by experiment, heaviest report first.

    A pool hands out points in this order (a free worker takes the first point of an
    experiment it has been running, or of one no worker has started: :class:`_Affinity`),
    so the long points start first and the short ones fill the gaps at the end: the
    workers finish together instead of one idling while another runs the sweep's last
    long point.  Costs are
    CPU seconds per point, ``costs[(name, point_key(point))]`` (a previous run's
    timings), else :func:`netemu.experiments.point_costs.estimate`.

    An experiment's report runs once its last point is in (:func:`run`), in the parent.
    With the short points (under :data:`~netemu.experiments.point_costs.SHORT` seconds)
    of every experiment interleaved at the end, most experiments would complete in the
    sweep's last second and their reports run one after the other while the workers
    idle; so the short points go experiment by experiment, the one with the costliest
    report (``report_costs[name]``, else the recorded
    :func:`~netemu.experiments.point_costs.report_estimate`) first, each experiment's
    longest first.
    """
    from netemu.experiments.point_costs import SHORT, estimate, point_key, report_estimate

    costs = costs or {}
    report_costs = report_costs or {}

    def cost(task):
        name, _, point = task
        got = costs.get((name, point_key(point)))
        return got if got is not None else estimate(name, point)

    def report(name):
        got = report_costs.get(name)
        return got if got is not None else report_estimate(name)

    keyed = [(cost(t), i, t) for i, t in enumerate(todo)]
    long_ = sorted((k for k in keyed if k[0] >= SHORT), key=lambda x: (-x[0], x[1]))
    first = {}
    for _, i, (name, _, _) in keyed:
        first.setdefault(name, i)
    short = sorted((k for k in keyed if k[0] < SHORT),
                   key=lambda x: (-report(x[2][0]), first[x[2][0]], -x[0], x[1]))
    return [t for _, _, t in long_ + short]


def sweep(names, *, jobs=None, scheduler=None, progress=True, timings=None, costs=None,
          on_experiment=None, report_costs=None):
    """Run every point of ``names``; ``{name: rows in points() order}``.

    With ``timings`` (a list), one ``{experiment, index, point, cpu_s, wall_s, start_s}`` per
    point is appended to it, in points() order (``start_s``: seconds after the sweep began).
    Points are handed to the workers longest first (:func:`longest_first`, with ``costs``
    and ``report_costs`` when given); the rows do not depend on it.  ``on_experiment(name, rows)``, when given,
    is called in this process as soon as the last point of ``name`` is in (rows in points()
    order), while the workers go on with the other points.
    """
    names = list(dict.fromkeys(names))
    began = time.time()
    todo = tasks(names)
    if scheduler is not None:
        if jobs is not None:
            raise ParameterError("jobs sets the local pool's size; with a Dask scheduler its "
                                 "workers run the points (give one or the other)")
        results = _dask(longest_first(todo, costs, report_costs), scheduler)
    else:
        jobs = _check_jobs(jobs)
        if jobs == 1 or len(todo) == 1:
            results = _serial(todo)
        else:
            results = _pool(longest_first(todo, costs, report_costs), min(jobs, len(todo)))
    from tqdm import tqdm

    counts = {n: sum(1 for t in todo if t[0] == n) for n in names}
    left = dict(counts)

    def rows_of(n):
        return [r for i in range(counts[n]) for r in got[n, i]]

    got = {}
    spent = {}
    try:
        if on_experiment is not None:
            for n in names:
                if not counts[n]:
                    on_experiment(n, [])
        with tqdm(total=len(todo), desc="experiments", unit="point", file=sys.stderr,
                  disable=not progress, dynamic_ncols=True) as bar:
            for name, index, rows, cpu, wall, started in results:
                got[name, index] = rows
                spent[name, index] = cpu, wall, started - began
                bar.set_postfix_str(name, refresh=False)
                bar.update()
                left[name] -= 1
                if not left[name] and on_experiment is not None:
                    on_experiment(name, rows_of(name))
    finally:
        # A failure here (a point's, or the callback's) stops the pool's workers now.
        close = getattr(results, "close", None)
        if close is not None:
            close()
    if timings is not None:
        for name, index, point in todo:
            cpu, wall, at = spent[name, index]
            timings.append({"experiment": name, "index": index, "point": point,
                            "cpu_s": round(cpu, 4), "wall_s": round(wall, 4),
                            "start_s": round(at, 3)})
    return {n: rows_of(n) for n in names}


def run(names=None, *, jobs=None, scheduler=None, out_dir="results", progress=True, quiet=False,
        readme=None):
    """Sweep, report (CSV + PNG per experiment), print the tables, write the summary.

    Returns ``{name: comparison rows}``.  ``out_dir/summary.csv`` holds every
    comparison row of the experiments run (with its kind, band and note), and the rows
    an earlier run there wrote for the others; ``out_dir/summary_figures.csv`` the
    per-figure agreement (:mod:`netemu.experiments.agreement`); ``out_dir/summary.md``
    both as Markdown tables; ``out_dir/index.html`` one self-contained page with the tables,
    the figures and the run's parameters (:mod:`netemu.experiments.html_report`), whose
    ``run.json`` also keeps every point's CPU and wall seconds (``timings``) and each
    experiment's CPU seconds (``cpu_s``) and the CPU seconds of its report in this process
    (``report_cpu_s``); a later run in the same folder hands out its points longest first
    by them.  Each experiment's report runs as soon as its last point is in, while the
    workers go on with the others' points; every file is written into a staging folder
    and moved into ``out_dir`` only when the whole run succeeded.  With ``readme`` (a
    path), that README's generated blocks are rewritten from the summary
    (:mod:`netemu.experiments.readme_table`).
    """
    names = list(EXPERIMENTS) if names is None else list(dict.fromkeys(names))
    if not names:
        raise ParameterError("no experiment given; allowed: " + ", ".join(EXPERIMENTS))
    for n in names:
        load(n)
    # Everything that can refuse the run does so before the first point: the output
    # directory, the summary it already holds, the README to update.
    out_dir = check_out_dir(out_dir)
    previous = read_previous_summary(out_dir / "summary.csv")
    if readme is not None:
        _check_readme(readme)
    costs = previous_costs(out_dir)
    report_costs = previous_report_costs(out_dir)
    timings = []
    started = time.perf_counter()
    made = not out_dir.exists()
    ok = False
    with _terminate_as_interrupt():
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(out_dir)
        staging = None
        try:
            # Made and removed with SIGINT/SIGTERM held: an interrupt between making it and
            # the try, or in the middle of removing it, would leave it behind.
            with _signals_held():
                staging = Path(tempfile.mkdtemp(dir=out_dir,
                                                prefix=STAGING_PREFIX + f"{os.getpid()}-"))
            comparisons = {}
            last_point = [started]
            report_cpu = {}

            def report(n, rows):
                # An experiment's report (its CSV and figure, into the staging folder) runs
                # as soon as its last point is in, while the workers run the others' points:
                # only the last experiment's report is left after the sweep.
                last_point[0] = time.perf_counter()
                cpu = time.process_time()
                # Held for the length of one report: an interrupt raised inside matplotlib's
                # compiled code comes out as another error (a TypeError), not as Ctrl-C.
                with _signals_held():
                    comparisons[n] = load(n).report(rows, staging)
                report_cpu[n] = round(time.process_time() - cpu, 3)

            sweep(names, jobs=jobs, scheduler=scheduler, progress=progress, timings=timings,
                  costs=costs, on_experiment=report, report_costs=report_costs)
            sweep_wall = last_point[0] - started
            summary = [r for n in names for r in summary_rows(n, comparisons[n])]
            kept = [r for r in previous
                    if r["experiment"] in EXPERIMENTS and r["experiment"] not in names]
            order = {n: i for i, n in enumerate(EXPERIMENTS)}
            _write_summary(staging, sorted(kept + summary, key=lambda r: order[r["experiment"]]))
            _commit(staging, out_dir)
            ok = True
        finally:
            with _signals_held():
                if staging is not None:
                    shutil.rmtree(staging, ignore_errors=True)
                if made and not ok:
                    # A failed run leaves no folder it made (the results go in only at the end).
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()
    if not quiet:
        for n in names:
            print_comparison(load(n).TITLE, comparisons[n])
    if readme is not None:
        from netemu.experiments.readme_table import update_readme
        update_readme(readme, out_dir)
    # One page to look at the whole run: table, figures, parameters (index.html).
    from netemu.experiments.html_report import write_report
    write_report(out_dir, {"experiments": names, "jobs": None if scheduler else _check_jobs(jobs),
                           "scheduler": scheduler,
                           "sweep_wall_s": round(sweep_wall, 3),
                           "cpu_s": _cpu_by_experiment(timings),
                           "report_cpu_s": report_cpu,
                           "timings": timings})
    if not quiet:
        _print_totals(summary, out_dir)
    return comparisons


def _cpu_by_experiment(timings):
    """``{experiment: CPU seconds of its points}`` (the points' own, workers' start-up aside)."""
    out = {}
    for t in timings:
        out[t["experiment"]] = round(out.get(t["experiment"], 0.0) + t["cpu_s"], 3)
    return out


def previous_report_costs(out_dir):
    """``{experiment: CPU seconds of its report}`` from ``out_dir/run.json`` (an earlier run
    there), for :func:`longest_first`; {} when there are none."""
    import json
    try:
        with open(Path(out_dir) / "run.json") as fh:
            got = json.load(fh).get("report_cpu_s") or {}
        return {str(k): float(v) for k, v in got.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def previous_costs(out_dir):
    """``{(experiment, point key): CPU seconds}`` from the timings ``out_dir/run.json`` holds
    (an earlier run there), for :func:`longest_first`; {} when there are none."""
    import json

    from netemu.experiments.point_costs import point_key
    try:
        with open(Path(out_dir) / "run.json") as fh:
            run = json.load(fh)
        return {(t["experiment"], point_key(t["point"])): float(t["cpu_s"])
                for t in run.get("timings", ())}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        # Missing, unreadable or of another layout: the shipped estimates order the points.
        return {}


def check_out_dir(out_dir):
    """``Path(out_dir)``, refused (ParameterError) unless it is a writable directory or can
    be made one: checked before any point runs, so no sweep is lost to a bad ``--out``."""
    out = Path(out_dir)
    probe = out
    while not probe.exists():           # the first existing ancestor decides
        if probe.parent == probe:
            break
        probe = probe.parent
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out}: exists and is not a directory; give a directory "
                             "for the results")
    if not probe.is_dir():
        raise ParameterError(f"--out {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ParameterError(f"--out {out}: {probe} is not writable")
    return out


def read_previous_summary(path):
    """Rows of an earlier ``summary.csv`` (kept for the experiments not re-run); [] when
    absent or of another layout.  A summary that is not a regular UTF-8 CSV file is
    refused (ParameterError naming it) before any work, not discovered after the sweep."""
    from netemu.experiments.readme_table import _parse
    from netemu.io import read_bounded

    path = Path(path)
    if not os.path.lexists(path):
        return []
    raw = read_bounded(path, ParameterError, limit=SUMMARY_LIMIT, what="summary.csv")
    try:
        text = raw.decode("utf-8")
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        if tuple(reader.fieldnames or ()) != SUMMARY_FIELDS:
            return []
        rows = list(reader)
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: not UTF-8 text; remove it or give another --out") from None
    except csv.Error as exc:
        raise ParameterError(f"{path}: malformed CSV ({exc}); remove it or give another "
                             "--out") from None
    numeric = {"paper", "netemu", "error", "band"}
    for i, r in enumerate(rows, start=2):
        if None in r or any(v is None for v in r.values()):
            raise ParameterError(f"{path}: row {i} has the wrong number of fields; remove it or "
                                 "give another --out")
    return [{k: _parse(v) if k in numeric else v for k, v in r.items()} for r in rows]


def _check_readme(readme):
    p = Path(readme)
    if not p.is_file():
        raise ParameterError(f"--readme {readme}: no such file")
    if not os.access(p, os.R_OK | os.W_OK):
        raise ParameterError(f"--readme {readme}: not readable and writable")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM ends the run like Ctrl-C (KeyboardInterrupt), so cleanup runs."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _remove_stale_staging(out_dir):
    """Staging directories of runs that were killed (SIGKILL) before they could clean up."""
    for entry in out_dir.glob(STAGING_PREFIX + "*"):
        try:
            pid = int(entry.name[len(STAGING_PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
            continue                  # its run is still going
        except ProcessLookupError:
            pass
        except (ValueError, PermissionError):
            continue
        shutil.rmtree(entry, ignore_errors=True)


def _commit(staging, out_dir):
    """Move the staged files into ``out_dir`` with SIGINT/SIGTERM held off: a run leaves
    the previous complete set or the new one (renames within one directory tree)."""
    files = sorted(staging.iterdir())
    for f in files:
        dest = out_dir / f.name
        if dest.is_dir() and not dest.is_symlink():
            raise ParameterError(f"{dest}: is a directory; cannot write results over it")
    with _signals_held():
        for f in files:
            os.replace(f, out_dir / f.name)


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM held off inside, and acted on when it ends.

    They are recorded by a handler, not blocked: Python runs signal handlers in the main
    thread whichever thread the kernel hands the signal to, so a mask on this thread alone
    does not hold them while a pool's threads run (a soak found a staging directory left
    that way)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    held = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if got:
            handler = old[got[0]]
            if callable(handler):
                handler(got[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(got[0])


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
