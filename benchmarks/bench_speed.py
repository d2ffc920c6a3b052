"""Benchmark: what users wait for — CLI start, first kernel call, the documented solver
interface, a whole solve in a fresh process, graph files, drawings and the main job.

Every case prints its time next to a reference measured in the same run, and the ratio,
because the 2-core development machine is shared and its speed moves by 2x or more
between runs (see README.md in this folder).  Times are the best of ``--repeat`` runs
where a case is cheap enough to repeat.

    python benchmarks/bench_speed.py [CASE ...] [--repeat N] [--topo PRESET]

Cases (default: all but ``experiments``, which takes minutes):

  cli          ``netemu --help``, ``netemu topo list``, ``netemu solve nope`` (a one-line
               error) against ``python -c pass``; target <= 0.5 s each.
  kernel       first ``completion_times`` call in a fresh process with an empty kernel cache
               (compiles) against the same with the cache filled by the first run (loads).
  interface    ``completion_times`` through the documented list of ``{resource: share}``
               dicts against the same call on a FlowSet built from arrays, on the 512-host
               all-to-all and 256-host random instances of simgrid_compare.py.
  solve        FT2-2048 all-to-all through ``netemu.solve`` (graph to rates) in a fresh
               process, hashed and sprayed; reference: hashed, one resource-load mat-vec of
               the same solution; sprayed (solved in factored form), the row-per-flow solve
               ``factored=False`` in the same process.  Target <= 4 s hashed, <= 3 s sprayed.
  csv          ``netemu solve`` of the 8-host fat-tree with 10,000 / 30,000 / 100,000 random
               CSV flows (completion times), each in a fresh process, against the same
               command with ``--no-times``; and in one process the grouped event simulation
               against the per-flow one (``grouped=False``) on the 10,000 and 30,000 flows.
  rates        ``netemu solve two-layer-fat-tree --radix 32 --size 64MiB`` (261,632 sized
               flows) with completion times against ``--no-times`` (rates only).
  graphml      writing ``--topo`` (default isca-dragonfly) as .graphml against .json, same run.
  draw         ``netemu topo draw --topo`` against ``netemu topo info``-free building of the
               same graph (``python -c 'preset(...)'``), same run.
  experiments  ``python -m netemu.experiments`` with an empty kernel cache, then again warm.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Measure the checkout this script belongs to, not whatever netemu is installed.
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
PY = sys.executable


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(args, env=None, check=True, **kw):
    """Wall time and completed process; ``_run.cpu`` holds the child's CPU seconds."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(args, env=env or ENV, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    _run.cpu = _children_cpu() - c0
    if check and proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-2000:]}")
    return wall, proc


def _best(args, repeat, env=None):
    """Best wall time and best CPU time (user + system) over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        walls.append(_run(args, env)[0])
        cpus.append(_run.cpu)
    return min(walls), min(cpus)


def _child(code, env=None):
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    wall, proc = _run([PY, "-c", code], env)
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def case_cli(args):
    # CPU time beside wall time: on a machine loaded past its cores, wall time mostly
    # measures the wait for a core.
    ref, ref_cpu = _best([PY, "-c", "pass"], args.repeat)
    print(f"{'command':<24} {'wall s':>7} {'cpu s':>6} {'wall / python -c pass':>22}  target")
    print(f"{'python -c pass':<24} {ref:7.3f} {ref_cpu:6.3f} {1:22.1f}")
    for argv in (["--help"], ["topo", "list"], ["solve", "nope"]):
        t, cpu = _best([PY, "-m", "netemu", *argv], args.repeat)
        print(f"{'netemu ' + ' '.join(argv):<24} {t:7.3f} {cpu:6.3f} {t / ref:22.1f}  <= 0.5 s: "
              f"{'met' if t <= 0.5 else 'MISSED'}")


_KERNEL = """
import json, time
t0 = time.perf_counter()
from netemu.flow import completion_times
t1 = time.perf_counter()
completion_times([1.0, 2.0], [{0: 1.0}, {0: 1.0, 1: 1.0}], [1.0, 2.0])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_call": t2 - t1}))
"""


def case_kernel(args):
    with tempfile.TemporaryDirectory(prefix="netemu-kernel-cache-") as tmp:
        env = dict(ENV, NETEMU_CACHE_DIR=tmp)
        env.pop("NUMBA_CACHE_DIR", None)
        _, cold = _child(_KERNEL, env)
        warm = min((_child(_KERNEL, env)[1] for _ in range(args.repeat)),
                   key=lambda r: r["first_call"])
    print(f"first completion_times call, fresh process: empty cache {cold['first_call']:.2f} s "
          f"(compiles), filled cache {warm['first_call']:.3f} s (loads): "
          f"{cold['first_call'] / warm['first_call']:.0f}x")
    print("the cache is per user and per source version (netemu/_kernel_cache.py): a fresh "
          "checkout of a version already run on this machine loads")


_INTERFACE = """
import json, sys, time
sys.path.insert(0, %r)
import numpy as np
from simgrid_compare import BANDWIDTH, fat_tree_shape, make_workload, netemu_flowset, netemu_routes
from netemu.flow import completion_times
completion_times([1.0], [{0: 1.0}], [1.0])   # kernel loaded before timing
out = []
for hosts, workload in ((512, "all-to-all"), (256, "random")):
    H, L, S = fat_tree_shape(hosts)
    src, dst, size = make_workload(workload, hosts)
    paths, n_res = netemu_routes(H, L, S, src, dst)
    maps = [{int(r): 1.0 for r in p if r >= 0} for p in paths]   # what a user hands in
    caps, sizes = [BANDWIDTH] * n_res, size.astype(float).tolist()
    best_fs = best_maps = 1e9
    for _ in range(%d):
        t0 = time.perf_counter()
        a = completion_times(np.full(n_res, BANDWIDTH), netemu_flowset(paths, n_res),
                             size.astype(float))
        t1 = time.perf_counter()
        b = completion_times(caps, maps, sizes)
        t2 = time.perf_counter()
        best_fs, best_maps = min(best_fs, t1 - t0), min(best_maps, t2 - t1)
    assert np.array_equal(a, b)
    out.append(dict(hosts=hosts, workload=workload, flows=int(src.size), flowset=best_fs,
                    maps=best_maps))
print(json.dumps(out))
"""


def case_interface(args):
    _, rows = _child(_INTERFACE % (str(ROOT / "benchmarks"), args.repeat))
    print(f"{'instance':<22} {'flows':>8} {'FlowSet s':>10} {'list of dicts s':>16} {'ratio':>6}")
    for r in rows:
        print(f"{r['hosts']:>4} hosts {r['workload']:<11} {r['flows']:>8,} {r['flowset']:>10.3f} "
              f"{r['maps']:>16.3f} {r['maps'] / r['flowset']:>6.2f}")
    print("same finish times both ways; SimGrid 4.1 on the same instances: "
          "benchmarks/simgrid_compare.py (needs benchmarks/install_simgrid.sh)")


_SOLVE = """
import json, sys, time
t0 = time.perf_counter()
import netemu
from netemu.topologies import preset
from netemu.traffic import all_to_all
from netemu.solution import resource_load
G = preset("isca-ft2")
traffic = all_to_all(G)
t1 = time.perf_counter(); c1 = time.process_time()
sol = netemu.solve(G, traffic, %r)
rates = sol.rates
t2 = time.perf_counter(); c2 = time.process_time()
out = {"setup": t1 - t0, "solve": t2 - t1, "solve_cpu": c2 - c1, "flows": int(rates.size),
       "form": type(sol).__name__}
if hasattr(sol.routes, "flowset"):
    fs = sol.routes.flowset
    ref = []
    for _ in range(3):
        c = time.process_time(); resource_load(fs, fs.counts * sol.row_rates)
        ref.append(time.process_time() - c)
    out["ref"], out["ref_what"] = min(ref), "mat-vec"
else:
    c = time.process_time()
    rows = netemu.solve(G, traffic, %r, factored=False)
    out["ref"], out["ref_what"] = time.process_time() - c, "row solve"
    out["same"] = bool(abs(rows.rates - rates).max() <= 1e-9 * rates.max())
print(json.dumps(out))
"""


def case_solve(args):
    print(f"{'routing':<8} {'flows':>10} {'form':>17} {'imports+graph s':>16} {'solve s':>8} "
          f"{'solve cpu s':>12} {'reference cpu s':>22} {'ratio':>6}  target (cpu)")
    for mode, target in (("hash", 4.0), ("spray", 3.0)):
        runs = [_child(_SOLVE % (mode, mode)) for _ in range(args.repeat)]
        wall, r = min(runs, key=lambda x: x[1]["solve_cpu"])
        ref = f"{r['ref_what']} {r['ref']:.3f}"
        print(f"{mode:<8} {r['flows']:>10,} {r['form']:>17} {r['setup']:>16.2f} {r['solve']:>8.2f} "
              f"{r['solve_cpu']:>12.2f} {ref:>22} {r['solve_cpu'] / r['ref']:>6.2f}  "
              f"<= {target:g} s: {'met' if r['solve_cpu'] <= target else 'MISSED'}"
              + ("" if "same" not in r else f"; same rates as rows: {r['same']}"))
    print("solve = netemu.solve(G, all_to_all(G), routing).rates in a fresh process (kernels "
          "cached); ratio = solve CPU / reference CPU (hash: one resource-load mat-vec over "
          f"the solution's FlowSet; spray: factored=False); load average {os.getloadavg()[0]:.1f}")


_CSV_FLOWS = (10_000, 30_000, 100_000)
_CSV_TOPO = ["two-layer-fat-tree", "--radix", "4"]   # 8 hosts, 56 ordered pairs

_GROUPED = """
import json, sys, time
import numpy as np
from netemu import flow
from netemu.cli.solve import load_topology, make_traffic
from netemu.routing import route
G = load_topology("two-layer-fat-tree", ["--radix", "4"])
out = []
flow.completion_times([1.0], [{0: 1.0}], [1.0])
for path in sys.argv[1:]:
    t = make_traffic(G, path)
    r = route(G, (t.endpoints, t.src), (t.endpoints, t.dst), "spray", sizes=t.sizes)
    fs, cap = r.flowset, r.resources.capacity
    first = np.full(fs.n_flows, r.n_flows); np.minimum.at(first, r.row_of_flow, np.arange(r.n_flows))
    size, start = t.sizes[first], np.zeros(fs.n_flows)
    c0 = time.process_time(); a, sa = flow._simulate(cap, fs, size, start, True, True)
    c1 = time.process_time(); b, sb = flow._simulate(cap, fs, size, start, True, False)
    c2 = time.process_time()
    out.append(dict(flows=t.n_flows, grouped=c1 - c0, per_flow=c2 - c1,
                    rel=float(np.max(np.abs(a - b) / b)), events=int(sa[0])))
print(json.dumps(out))
"""


def _write_csv(path, n, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 8, n)
    b = (a + rng.integers(1, 8, n)) % 8
    size = rng.integers(100_000, 10_000_000, n)
    with open(path, "w") as fh:
        fh.write("src,dst,bytes\n")
        fh.writelines(f"n{x},n{y},{z}\n" for x, y, z in zip(a.tolist(), b.tolist(), size.tolist()))


def case_csv(args):
    with tempfile.TemporaryDirectory(prefix="netemu-csv-") as tmp:
        paths = []
        for n in _CSV_FLOWS:
            paths.append(os.path.join(tmp, f"flows{n}.csv"))
            _write_csv(paths[-1], n)
        print(f"{'flows':>8} {'solve s':>8} {'cpu s':>6} {'--no-times s':>13} {'cpu s':>6} "
              f"{'cpu ratio':>9}  makespan")
        for n, path in zip(_CSV_FLOWS, paths):
            cmd = [PY, "-m", "netemu", "solve", *_CSV_TOPO, "--traffic", path]
            t, proc = _run(cmd)
            cpu = _run.cpu
            tr, _ = _run(cmd + ["--no-times"])
            cpu_r = _run.cpu
            span = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("makespan")]
            print(f"{n:>8,} {t:>8.2f} {cpu:>6.2f} {tr:>13.2f} {cpu_r:>6.2f} {cpu / cpu_r:>9.2f}  "
                  f"{span[0] if span else '?'} s")
        _, rows = _child(_GROUPED.replace("sys.argv[1:]", repr(paths[:2])))
        for r in rows:
            print(f"event simulation, {r['flows']:,} flows, {r['events']:,} events: grouped "
                  f"{r['grouped']:.3f} s vs per flow {r['per_flow']:.3f} s CPU "
                  f"({r['per_flow'] / r['grouped']:.0f}x); finish times agree to {r['rel']:.1e}")
    print(f"8-host fat-tree, 56 routes (spray); fresh process per command (imports included); "
          f"load average {os.getloadavg()[0]:.1f}")


def case_rates(args):
    cmd = [PY, "-m", "netemu", "solve", "two-layer-fat-tree", "--radix", "32", "--size", "64MiB"]
    t, proc = _run(cmd)
    cpu = _run.cpu
    tr, proc_r = _run(cmd + ["--no-times"])
    cpu_r = _run.cpu
    print(f"with completion times: {t:.2f} s (cpu {cpu:.2f} s); --no-times: {tr:.2f} s (cpu "
          f"{cpu_r:.2f} s); cpu ratio {cpu / cpu_r:.2f}; 261,632 flows of 64 MiB, fresh processes; "
          f"load average {os.getloadavg()[0]:.1f}")


_WRITE = """
import json, os, sys, time
from netemu.topologies import preset
from netemu.io import save
G = preset(%r)
out = {"nodes": G.number_of_nodes(), "edges": G.number_of_edges()}
for suffix in (".json", ".graphml"):
    path = os.path.join(%r, "g" + suffix)
    t0 = time.perf_counter(); save(G, path); out[suffix] = time.perf_counter() - t0
    out[suffix + "_mb"] = os.path.getsize(path) / 1e6
print(json.dumps(out))
"""


def case_graphml(args):
    with tempfile.TemporaryDirectory(prefix="netemu-graphml-") as tmp:
        _, r = _child(_WRITE % (args.topo, tmp))
    print(f"{args.topo} ({r['nodes']:,} nodes, {r['edges']:,} links): .json {r['.json']:.2f} s "
          f"({r['.json_mb']:.0f} MB), .graphml {r['.graphml']:.2f} s ({r['.graphml_mb']:.0f} MB): "
          f"GraphML / JSON = {r['.graphml'] / r['.json']:.2f} (target <= 2)")


def case_draw(args):
    with tempfile.TemporaryDirectory(prefix="netemu-draw-") as tmp:
        build, _ = _run([PY, "-c", f"from netemu.topologies import preset; preset({args.topo!r})"])
        draw, proc = _run([PY, "-m", "netemu", "topo", "draw", args.topo, "--out",
                           os.path.join(tmp, "g.png")])
    print(f"netemu topo draw {args.topo}: {draw:.1f} s, of which building the graph alone "
          f"takes {build:.1f} s (ratio {draw / build:.2f}); {proc.stdout.strip()}")


def case_experiments(args):
    with tempfile.TemporaryDirectory(prefix="netemu-exp-") as tmp:
        env = dict(ENV, NETEMU_CACHE_DIR=os.path.join(tmp, "cache"))
        env.pop("NUMBA_CACHE_DIR", None)
        ref = _best([PY, "-c", "pass"], 3)[0]
        runs = []
        for label in ("fresh (empty kernel cache)", "warm"):
            wall, proc = _run([PY, "-m", "netemu.experiments"], env, check=False, cwd=tmp)
            runs.append((label, wall, proc.returncode))
        for label, wall, rc in runs:
            print(f"python -m netemu.experiments, {label}: {wall:.1f} s (exit {rc})")
        print(f"fresh / warm = {runs[0][1] / runs[1][1]:.2f}; targets <= 90 s fresh, "
              f"<= 60 s warm (python -c pass: {ref:.3f} s)")


CASES = {"cli": case_cli, "kernel": case_kernel, "interface": case_interface,
         "solve": case_solve, "csv": case_csv, "rates": case_rates, "graphml": case_graphml,
         "draw": case_draw, "experiments": case_experiments}
DEFAULT = ["cli", "kernel", "interface", "solve", "csv", "rates", "graphml", "draw"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", choices=[*CASES, []], default=DEFAULT,
                    metavar="CASE", help=f"any of {', '.join(CASES)} (default: {' '.join(DEFAULT)})")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timed command (best kept)")
    ap.add_argument("--topo", default="isca-dragonfly", help="preset for graphml and draw")
    args = ap.parse_args(argv)
    for name in args.cases or DEFAULT:
        print(f"== {name}", flush=True)
        CASES[name](args)
        print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
