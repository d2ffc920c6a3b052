"""Benchmark: the main job, ``python3 -m netemu.experiments``, as a user runs it.

Runs every experiment in a fresh process (default ``--jobs``: every core) and prints its
wall time, the CPU seconds of the whole process tree, the sweep's own wall time and the
CPU seconds of each experiment's points (from the run's ``run.json``, which the runner
writes), with the load average around the run: the development machine is shared, so
CPU seconds per experiment are the figure that compares across runs.

    python benchmarks/bench_mainjob.py [--fresh-clone] [--jobs N] [--out DIR]
                                       [--compare DIR] [--record]

``--fresh-clone``  also ``git clone`` this checkout, install it (``pip install --no-deps
                   -e``) into a new venv and run the main job there with an empty kernel
                   cache (``NETEMU_CACHE_DIR``): what a new installation pays on its first
                   run, install time printed apart.
``--compare DIR``  check that every CSV of the run equals DIR's (numbers to 1e-9 relative,
                   text exactly): speed work must not move a result.
``--record``       write the points' and the reports' CPU seconds into
                   experiments/point_costs.py, the tables the runner orders points by.

Targets (issue 17): <= 60 s warm, <= 90 s from a fresh clone after install, 2 cores.
"""

import argparse
import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _load():
    return os.getloadavg()[0]


def main_job(python, out, *, jobs=None, env=None, cwd=None):
    """Run the main job once; ``{wall, cpu, load_before, load_after, run}``."""
    args = [python, "-m", "netemu.experiments", "--out", str(out), "--quiet"]
    if jobs:
        args += ["--jobs", str(jobs)]
    load0, c0, t0 = _load(), _children_cpu(), time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    run = json.loads((Path(out) / "run.json").read_text())
    return {"wall": wall, "cpu": cpu, "load_before": load0, "load_after": _load(), "run": run}


def report(label, got):
    run = got["run"]
    cpu = run.get("cpu_s", {})
    points = run.get("timings", [])
    print(f"\n{label}: wall {got['wall']:.1f} s, CPU {got['cpu']:.1f} s (all processes), "
          f"sweep wall {run.get('sweep_wall_s', float('nan')):.1f} s, points' CPU "
          f"{sum(cpu.values()):.1f} s over {len(points)} points; load average "
          f"{got['load_before']:.1f} -> {got['load_after']:.1f}")
    starts = [t["start_s"] for t in points if "start_s" in t]
    if starts:
        # Before the first point: imports, the points' list and the kernels (compiled on a
        # first run); the reports run in the parent as experiments complete.
        reports = run.get("report_cpu_s", {})
        print(f"  first point started {min(starts):.1f} s into the sweep"
              + (f"; reports {sum(reports.values()):.1f} s CPU in the parent, beside the "
                 f"workers" if reports else ""))
    ends = [t["start_s"] + t["wall_s"] for t in points if "start_s" in t]
    if ends and run.get("jobs"):
        # How busy the workers stayed: points' wall seconds over jobs x the sweep's span.
        span = max(ends)
        busy = sum(t["wall_s"] for t in points) / (run["jobs"] * span)
        last = sorted(ends)[-run["jobs"]:]
        print(f"  workers busy {100 * busy:.0f}% of the sweep; the last {run['jobs']} points "
              f"ended at {', '.join(f'{e:.1f}' for e in last)} s")
    print(f"  {'experiment':<24} {'points':>6} {'CPU s':>8} {'max point s':>12}")
    for name, s in sorted(cpu.items(), key=lambda x: -x[1]):
        mine = [t["cpu_s"] for t in points if t["experiment"] == name]
        print(f"  {name:<24} {len(mine):>6} {s:>8.1f} {max(mine, default=0):>12.2f}")


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def compare(out, ref):
    """Names of CSV cells that differ between ``out`` and ``ref`` (1e-9 relative on numbers)."""
    bad = []
    for path in sorted(Path(ref).glob("*.csv")):
        mine = Path(out) / path.name
        if not mine.exists():
            bad.append(f"{path.name}: missing")
            continue
        a = list(csv.reader(open(mine, newline="")))
        b = list(csv.reader(open(path, newline="")))
        if len(a) != len(b):
            bad.append(f"{path.name}: {len(a)} rows against {len(b)}")
            continue
        for i, (ra, rb) in enumerate(zip(a, b)):
            for j, (x, y) in enumerate(zip(ra, rb)):
                if x == y:
                    continue
                u, v = _number(x), _number(y)
                if u is None or v is None or not math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12):
                    bad.append(f"{path.name} row {i} column {b[0][j] if j < len(b[0]) else j}: "
                               f"{x!r} against {y!r}")
            if len(ra) != len(rb):
                bad.append(f"{path.name} row {i}: {len(ra)} fields against {len(rb)}")
    return bad


def record(run):
    """Write the points' CPU seconds into experiments/point_costs.py's COSTS table."""
    sys.path.insert(0, str(ROOT))
    from netemu.experiments.point_costs import point_key
    table = {}
    for t in run["timings"]:
        table.setdefault(t["experiment"], {})[point_key(t["point"])] = round(t["cpu_s"], 2)
    path = ROOT / "experiments" / "point_costs.py"
    text = path.read_text()
    head, rest = text.split("COSTS = ", 1)
    tail = rest[rest.index("\n\n\n"):]
    lines = ["{"]
    for name, pts in table.items():
        lines.append(f"    {name!r}: {{")
        lines += [f"        {k!r}: {v!r}," for k, v in pts.items()]
        lines.append("    },")
    lines.append("}")
    text = head + "COSTS = " + "\n".join(lines) + tail
    reports = run.get("report_cpu_s") or {}
    if reports and "\nREPORT_COSTS = {" in text:
        # The reports' CPU seconds too: the runner hands out the short points of the
        # experiments with the costliest reports first.
        before, after = text.split("\nREPORT_COSTS = {", 1)
        after = after[after.index("\n}\n") + 3:]
        body = "".join(f"    {name!r}: {round(s, 2)!r},\n" for name, s in reports.items())
        text = before + "\nREPORT_COSTS = {\n" + body + "}\n" + after
    path.write_text(text)
    print(f"recorded {sum(map(len, table.values()))} points and {len(reports)} reports "
          f"into {path}")


def fresh_clone(args):
    """Clone, install into a new venv, run with an empty kernel cache."""
    tmp = Path(tempfile.mkdtemp(prefix="netemu-clone-"))
    try:
        clone, venv = tmp / "netemu", tmp / "venv"
        t0 = time.perf_counter()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run([PY, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-e",
                        str(clone)], check=True, capture_output=True)
        install = time.perf_counter() - t0
        env = dict(os.environ, NETEMU_CACHE_DIR=str(tmp / "cache"))
        env.pop("NUMBA_CACHE_DIR", None)
        env.pop("PYTHONPATH", None)
        # From the clone's root, as the README's command runs (a working directory that
        # holds the clone as "netemu/" would shadow the installed package with a namespace).
        got = main_job(str(venv / "bin" / "python"), tmp / "results", jobs=args.jobs, env=env,
                       cwd=clone)
        print(f"\nfresh clone: clone + venv + install {install:.1f} s (not counted)")
        report("fresh clone, empty kernel cache", got)
        return got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh-clone", action="store_true")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", default=None, help="keep the warm run's results here")
    ap.add_argument("--compare", default=None, metavar="DIR")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="netemu-mainjob-"))
    if out.exists() and (out / "run.json").exists():
        # The runner orders points by an earlier run.json in its folder: start clean, so the
        # run is the one a user gets (ordered by the shipped table).
        (out / "run.json").unlink()
    got = main_job(PY, out, jobs=args.jobs, cwd=ROOT)
    report("warm (this checkout, kernel cache filled)", got)
    status = 0
    if args.compare:
        bad = compare(out, args.compare)
        print(f"\nCSV comparison with {args.compare}: "
              + ("every cell equal (1e-9 relative)" if not bad else f"{len(bad)} cells differ"))
        for line in bad[:30]:
            print("  " + line)
        status = 1 if bad else 0
    if args.record:
        record(got["run"])
    if args.fresh_clone:
        fresh_clone(args)
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
