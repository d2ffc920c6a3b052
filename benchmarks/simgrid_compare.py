"""netemu's fluid max-min solver side by side with SimGrid 4.1 on a two-layer fat-tree.

SimGrid's CM02 network model, with the flags below and zero latency, is plain
max-min fair sharing re-solved at every completion: the same model as
``netemu.flow.completion_times``.  Given the same resources and the same routes,
both must give the same finish time for every flow, so this script checks
netemu number for number against an independent, widely used implementation
and times the two in the same run (machines are noisy: only the ratio means
anything).

The fabric is SimGrid's ``FAT_TREE`` cluster ``2;H,L;1,S;1,1``: L leaves of H
hosts, S spines, one cable per leaf-spine pair, every link the same bandwidth
and each direction its own resource.  SimGrid routes single-path d-mod-k (host
p on leaf p // H; a flow to host d climbs through spine d % S); netemu is given
those same routes, and a probe of SimGrid's own routes checks that they are the
same up to a renaming of links.

Workloads, all flows starting at t = 0:
  all-to-all  every ordered pair of hosts, 1 MB each;
  random      16 flows per host to uniformly random other hosts, 0.5-2 MB (seeded).

SimGrid runs in a subprocess with the Python of the venv that
``benchmarks/install_simgrid.sh`` builds (one fat-tree per process: SimGrid
numbers fat-tree nodes with process-wide counters).

    bash benchmarks/install_simgrid.sh            # once; 15-25 minutes
    python benchmarks/simgrid_compare.py [--hosts 64 128 256 512] [--workload all-to-all random]

Exits 1 when a makespan differs by more than 1% or the routes do not match.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Measure the checkout this script belongs to, not whatever netemu is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_VENV = os.environ.get("NETEMU_SIMGRID_VENV", "/var/cache/netemu-simgrid-venv")
BANDWIDTH = 12.5e9  # bytes/s (100 Gbit/s); both tools get the same, so any value would do
MB = 1_000_000
FLOWS_PER_HOST = 16
TOLERANCE = 0.01  # makespans must agree within 1%

# CM02 with these settings is unweighted max-min: no TCP window bound, no
# cross-traffic on the reverse path, no bandwidth or latency correction factors.
# With latency 0 every flow gets sharing penalty 1 (equal weights).  SimGrid's
# default timing precision merges completions less than ~1 ns apart, which moves
# some finish times by ~1e-6 relative; at 1e-14 s it matches exact max-min to
# ~1e-14 at no measurable cost, so per-flow differences reflect the models only.
SIMGRID_FLAGS = [
    "--cfg=network/model:CM02",
    "--cfg=network/crosstraffic:0",
    "--cfg=network/TCP-gamma:0",
    "--cfg=network/weight-S:0",
    "--cfg=network/bandwidth-factor:1",
    "--cfg=network/latency-factor:1",
    "--cfg=precision/timing:1e-14",
    "--log=root.thres:critical",
]


# --------------------------------------------------------------------------- fabric and workloads

def fat_tree_shape(hosts, spines=None):
    """(H, L, S) for ``hosts`` hosts: H hosts per leaf, L leaves, S spines.

    H is the largest power of two with H * H <= hosts, capped at 16 (the shapes
    of the reference figures: 64 = 8x8x8, 256 = 16x16x16, 512 = 32x16x16); S = H
    (full bisection) unless ``spines`` is given.
    """
    if hosts < 4:
        raise ValueError(f"hosts = {hosts}; need at least 4")
    h = 1
    while (2 * h) ** 2 <= hosts and 2 * h <= 16:
        h *= 2
    if hosts % h:
        raise ValueError(f"hosts = {hosts} is not a multiple of {h} hosts per leaf")
    return h, hosts // h, int(spines) if spines else h


def make_workload(name, hosts, seed=0):
    """(src, dst, size) integer arrays, one entry per flow."""
    if name == "all-to-all":
        src, dst = np.divmod(np.arange(hosts * hosts), hosts)
        keep = src != dst
        src, dst = src[keep], dst[keep]
        size = np.full(src.size, MB, dtype=np.int64)
    elif name == "random":
        rng = np.random.default_rng(seed)
        src = np.repeat(np.arange(hosts), FLOWS_PER_HOST)
        dst = (src + rng.integers(1, hosts, size=src.size)) % hosts
        # Whole bytes: SimGrid takes an integer size.
        size = rng.integers(MB // 2, 2 * MB, endpoint=True, size=src.size)
    else:
        raise ValueError(f"unknown workload {name!r}; expected 'all-to-all' or 'random'")
    return src.astype(np.int64), dst.astype(np.int64), size.astype(np.int64)


def netemu_routes(H, L, S, src, dst):
    """Resources of each flow along its d-mod-k path, and the resource count.

    Resources: host up (h), host down (N + h), leaf l -> spine s (2N + l*S + s),
    spine s -> leaf l (2N + L*S + l*S + s).  Returns ``(paths, n_resources)``
    where ``paths`` is (n_flows, 4) in path order with -1 where an intra-leaf
    flow skips the spine.
    """
    n = H * L
    ls, ld = src // H, dst // H
    spine = dst % S
    inter = ls != ld
    paths = np.stack([src,
                      np.where(inter, 2 * n + ls * S + spine, -1),
                      np.where(inter, 2 * n + L * S + ld * S + spine, -1),
                      n + dst], axis=1)
    return paths, 2 * n + 2 * L * S


def netemu_flowset(paths, n_resources):
    """A FlowSet with share 1 on every resource of every path, built without Python loops."""
    import scipy.sparse as sp
    from netemu.flow import FlowSet

    used = paths >= 0
    indptr = np.concatenate([[0], np.cumsum(used.sum(axis=1))])
    indices = paths[used]  # row-major: each flow's resources stay together, in path order
    direct = sp.csr_matrix((np.ones(indices.size), indices, indptr),
                           shape=(paths.shape[0], n_resources))
    return FlowSet(n_resources, direct)


def run_netemu(H, L, S, src, dst, size, solver=None):
    """Per-flow finish times from netemu, and the wall time of building plus solving.

    ``run_netemu.cpu`` holds the CPU time of the same.
    """
    if solver is None:
        from netemu.flow import completion_times as solver
    t0, c0 = time.perf_counter(), time.process_time()
    paths, n_res = netemu_routes(H, L, S, src, dst)
    flows = netemu_flowset(paths, n_res)
    finish = solver(np.full(n_res, BANDWIDTH), flows, size.astype(np.float64))
    run_netemu.cpu = time.process_time() - c0
    return np.asarray(finish, dtype=np.float64), time.perf_counter() - t0


def run_netemu_maps(H, L, S, src, dst, size):
    """The same through the documented interface: ``completion_times(capacities, flows,
    sizes)`` with Python lists, ``flows`` a list of ``{resource: share}`` dicts.

    Making the dicts is the user's side and is not timed; the call is.  Returns the
    finish times, the wall time and the CPU time of the call.
    """
    from netemu.flow import completion_times

    paths, n_res = netemu_routes(H, L, S, src, dst)
    maps = [{r: 1.0 for r in p if r >= 0} for p in paths.tolist()]
    caps, sizes = [BANDWIDTH] * n_res, size.astype(float).tolist()
    t0, c0 = time.perf_counter(), time.process_time()
    finish = completion_times(caps, maps, sizes)
    return np.asarray(finish), time.perf_counter() - t0, time.process_time() - c0


# --------------------------------------------------------------------------- SimGrid side

def simgrid_python(venv=DEFAULT_VENV):
    return os.path.join(venv, "bin", "python")


def simgrid_available(venv=DEFAULT_VENV):
    py = simgrid_python(venv)
    if not os.access(py, os.X_OK):
        return False
    return subprocess.run([py, "-c", "from simgrid import Engine"],
                          capture_output=True).returncode == 0


def platform_xml(H, L, S, bandwidth=BANDWIDTH):
    n = H * L
    return f"""<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="world" routing="Full">
    <cluster id="ft" prefix="host-" suffix="" radical="0-{n - 1}" speed="1Gf"
             bw="{bandwidth!r}Bps" lat="0s" topology="FAT_TREE"
             topo_parameters="2;{H},{L};1,{S};1,1" sharing_policy="SPLITDUPLEX"/>
  </zone>
</platform>
"""


def run_simgrid(H, L, S, src, dst, size, probe=20000, venv=DEFAULT_VENV, seed=0, timeout=3600,
                flags=SIMGRID_FLAGS):
    """Run the workload in SimGrid in a subprocess.

    Returns (finish times, Engine.run wall time, probed flow ids, their routes as
    lists of SimGrid link names).  ``probe`` flows (all when fewer) have their
    route read with ``Host.route_to`` before the run.
    """
    n_flows = src.size
    if probe >= n_flows:
        probe_ids = np.arange(n_flows)
    else:
        probe_ids = np.sort(np.random.default_rng(seed + 1).choice(n_flows, probe, replace=False))
    with tempfile.TemporaryDirectory(prefix="netemu-simgrid-") as tmp:
        inp, out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        with open(os.path.join(tmp, "platform.xml"), "w") as fh:
            fh.write(platform_xml(H, L, S))
        np.savez(inp, src=src, dst=dst, size=size, probe=probe_ids)
        proc = subprocess.run([simgrid_python(venv), os.path.abspath(__file__), "--simgrid-worker",
                               os.path.join(tmp, "platform.xml"), inp, out, *flags],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"SimGrid worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        res = np.load(out)
        finish, wall = res["finish"], float(res["wall"])
        run_simgrid.cpu = float(res["cpu"]) if "cpu" in res.files else float("nan")
        run_simgrid.version = str(res["version"]) if "version" in res.files else "?"
        with open(out + ".routes.json") as fh:
            routes = json.load(fh)
    return finish, wall, probe_ids, routes


def _simgrid_worker(platform, inp, out, *flags):
    """Runs under the SimGrid venv's Python: no netemu, no scipy."""
    from simgrid import Actor, Comm, Engine, Host

    import simgrid

    # SimGrid 3.x (Debian's python3-simgrid 3.32) names the timing precision surf/precision;
    # 4.x renamed it precision/timing.
    if str(getattr(simgrid, "simgrid_version", "4")).split(".")[0] == "3":
        flags = [f.replace("precision/timing", "surf/precision") for f in flags]
    data = np.load(inp)
    src, dst, size = data["src"].tolist(), data["dst"].tolist(), data["size"].tolist()
    e = Engine([sys.argv[0], *flags])
    e.load_platform(platform)
    n_hosts = len(e.all_hosts)
    hosts = [Host.by_name(f"host-{i}") for i in range(n_hosts)]

    routes = []
    for f in data["probe"].tolist():
        links, _ = hosts[src[f]].route_to(hosts[dst[f]])
        routes.append([link.name for link in links])

    comms = []

    def sender():
        for s, d, b in zip(src, dst, size):
            comms.append(Comm.sendto_async(hosts[s], hosts[d], b))
        # Waiting in order costs one simcall per flow; a flow already done returns at once.
        for c in comms:
            c.wait()

    Actor.create("sender", hosts[0], sender)
    t0, c0 = time.perf_counter(), time.process_time()
    e.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finish = np.array([c.finish_time for c in comms], dtype=np.float64)
    np.savez(out, finish=finish, wall=wall, cpu=cpu,
             version=str(getattr(simgrid, "simgrid_version", "4.x")))
    with open(out + ".routes.json", "w") as fh:
        json.dump(routes, fh)


# --------------------------------------------------------------------------- comparison

def check_routes(paths, probe_ids, sg_routes):
    """Problems found when matching SimGrid's routes to netemu's, link by link.

    The two agree when one renaming of SimGrid links to netemu resources, the
    same for every flow and one-to-one, turns every probed SimGrid route into
    the netemu path of that flow, in order.  Then both tools solve isomorphic
    max-min problems.
    """
    sg_to_ne, ne_to_sg, problems = {}, {}, []
    for f, names in zip(probe_ids.tolist(), sg_routes):
        res = [int(r) for r in paths[f] if r >= 0]
        if len(res) != len(names):
            problems.append(f"flow {f}: SimGrid route has {len(names)} links, netemu {len(res)}: {names}")
            continue
        for name, r in zip(names, res):
            if sg_to_ne.setdefault(name, r) != r or ne_to_sg.setdefault(r, name) != name:
                problems.append(f"flow {f}: SimGrid link {name} <-> netemu resource {r} clashes with "
                                f"{sg_to_ne[name]} / {ne_to_sg[r]} seen on another flow")
        if len(problems) > 20:
            break
    return problems


def compare(hosts, workload, spines=None, seed=0, probe=20000, venv=DEFAULT_VENV, solver=None,
            optim="Lazy"):
    """One fat-tree, one workload, both tools: a dict of the figures and the raw times.

    ``optim`` is SimGrid's ``network/optim``: Lazy (its default for CM02) or Full.
    """
    H, L, S = fat_tree_shape(hosts, spines)
    src, dst, size = make_workload(workload, hosts, seed)
    sg_finish, sg_wall, probe_ids, sg_routes = run_simgrid(
        H, L, S, src, dst, size, probe, venv, seed, flags=SIMGRID_FLAGS + [f"--cfg=network/optim:{optim}"])
    ne_finish, ne_wall = run_netemu(H, L, S, src, dst, size, solver)
    ne_cpu = run_netemu.cpu
    maps = {}
    if solver is None:  # the documented list-of-dicts interface, same instance, same run
        m_finish, m_wall, m_cpu = run_netemu_maps(H, L, S, src, dst, size)
        if not np.array_equal(m_finish, ne_finish):
            raise AssertionError("list-of-dicts and FlowSet inputs gave different finish times")
        maps = dict(wall_maps=m_wall, cpu_maps=m_cpu, speedup_maps=sg_wall / m_wall,
                    cpu_speedup_maps=run_simgrid.cpu / m_cpu)
    paths, _ = netemu_routes(H, L, S, src, dst)
    problems = check_routes(paths, probe_ids, sg_routes)
    sg_span, ne_span = sg_finish.max(), ne_finish.max()
    return dict(hosts=hosts, shape=f"{L}x{S}x{H}", workload=workload, flows=int(src.size),
                makespan_simgrid=float(sg_span), makespan_netemu=float(ne_span),
                makespan_rel_diff=float(abs(ne_span - sg_span) / sg_span),
                max_rel_diff=float(np.max(np.abs(ne_finish - sg_finish) / sg_finish)),
                wall_simgrid=sg_wall, wall_netemu=ne_wall, speedup=sg_wall / ne_wall,
                cpu_simgrid=run_simgrid.cpu, cpu_netemu=ne_cpu,
                cpu_speedup=run_simgrid.cpu / ne_cpu, **maps,
                routes_probed=int(probe_ids.size), route_problems=problems,
                finish_simgrid=sg_finish, finish_netemu=ne_finish)


def _table(rows):
    head = ("hosts", "LxSxH", "workload", "flows", "makespan SG (s)", "makespan netemu (s)",
            "max rel diff", "wall SG (s)", "wall netemu (s)", "SG/netemu", "maps (s)",
            "SG/maps", "cpu SG/FlowSet/maps (s)", "cpu SG/maps", "routes")
    lines = [head]
    for r in rows:
        has_maps = "wall_maps" in r
        lines.append((str(r["hosts"]), r["shape"], r["workload"], f"{r['flows']:,}",
                      f"{r['makespan_simgrid']:.6e}", f"{r['makespan_netemu']:.6e}",
                      f"{r['max_rel_diff']:.1e}", f"{r['wall_simgrid']:.3f}",
                      f"{r['wall_netemu']:.3f}", f"{r['speedup']:.1f}x",
                      f"{r['wall_maps']:.3f}" if has_maps else "-",
                      f"{r['speedup_maps']:.1f}x" if has_maps else "-",
                      f"{r['cpu_simgrid']:.2f}/{r['cpu_netemu']:.3f}/"
                      + (f"{r['cpu_maps']:.3f}" if has_maps else "-"),
                      f"{r['cpu_speedup_maps']:.1f}x" if has_maps else "-",
                      "ok" if not r["route_problems"] else "MISMATCH"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--workload", nargs="+", choices=["all-to-all", "random"],
                    default=["all-to-all", "random"])
    ap.add_argument("--spines", type=int, default=None,
                    help="spine count (default: hosts per leaf, full bisection)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probe", type=int, default=20000,
                    help="flows whose SimGrid route is checked (default 20000; all when fewer)")
    ap.add_argument("--optim", choices=["Lazy", "Full"], default="Lazy",
                    help="SimGrid's network/optim (default Lazy, its own default for CM02)")
    ap.add_argument("--venv", default=DEFAULT_VENV, help="SimGrid venv (benchmarks/install_simgrid.sh)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    if not simgrid_available(args.venv):
        print(f"SimGrid is not importable from {args.venv}; run benchmarks/install_simgrid.sh "
              f"{args.venv}", file=sys.stderr)
        return 2
    # A tiny solve first, so that a JIT compile (numba, if installed) is not
    # charged to the first timed case: SimGrid's C++ is compiled ahead too.
    run_netemu(2, 2, 2, *make_workload("all-to-all", 4))
    rows, failed = [], False
    for workload in args.workload:
        for hosts in args.hosts:
            r = compare(hosts, workload, args.spines, args.seed, args.probe, args.venv,
                        optim=args.optim)
            rows.append(r)
            print(f"done: {hosts} hosts, {workload}", file=sys.stderr, flush=True)
            for p in r["route_problems"][:5]:
                print("route mismatch:", p, file=sys.stderr)
            failed |= bool(r["route_problems"]) or r["makespan_rel_diff"] > TOLERANCE
    print(_table(rows))
    print(f"SimGrid {run_simgrid.version}; "
          f"maps = completion_times through the documented list of {{resource: share}} dicts; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([{k: v for k, v in r.items() if not k.startswith("finish_")} for r in rows],
                      fh, indent=1)
    if failed:
        print(f"FAILED: a makespan differs by more than {TOLERANCE:.0%} or routes differ", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--simgrid-worker":
        _simgrid_worker(*sys.argv[2:])
    else:
        sys.exit(main())
