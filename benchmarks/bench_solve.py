"""Benchmark: route and solve all-to-all on the 2,048-endpoint fat-tree and on the MPFT.

Targets (the brief): all-to-all over the 2,048-endpoint two-layer fat-tree
(4,192,256 flows) with 'hash' and with 'spray' routes and solves in <= 10 s and
<= 4 GB peak each on a 2-core machine; all-to-all over all 16,384 NICs of the
full 8-plane MPFT with PXN (268,419,072 flows) in <= 30 s.  That case goes
through the public ``netemu.solve(G, all_to_all(G))``, which solves it in
factored form (:mod:`netemu.product`); its ratio is against the ``ft2-spray``
case of the same run (whole route + solve time over whole route + solve time).

Each case runs in its own process so that its peak resident memory is its own.
Times are printed with a ratio against a reference measured in the same run on
the same data: one pass of resource loads over the case's FlowSet (a sparse
matrix-vector product, ``netemu.solution.resource_load``), so the ratio says how
many mat-vecs the whole route + solve costs, whatever the machine's speed.

Usage: python benchmarks/bench_solve.py [CASE ...]     (default: all cases)
"""

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# Measure the checkout this script belongs to, not whatever netemu is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = {
    "ft2-spray": "two-layer fat-tree k=64, all-to-all, spray",
    "ft2-hash": "two-layer fat-tree k=64, all-to-all, hash",
    "ft2-dmodk": "two-layer fat-tree k=64, all-to-all, d-mod-k",
    "mpft-2048-spray": "8-plane MPFT, all-to-all over the 2,048 NICs of servers 0-255, PXN, spray",
    "mpft-2048-hash": "8-plane MPFT, all-to-all over the 2,048 NICs of servers 0-255, PXN, hash",
    "mpft-shift-spray": "8-plane MPFT, shift over all 16,384 NICs (cross-plane), PXN, spray",
    "mpft-16384-spray": "8-plane MPFT, all-to-all over all 16,384 NICs, PXN, spray (factored)",
}
TARGET_S = {"ft2-spray": 10.0, "ft2-hash": 10.0, "mpft-16384-spray": 30.0}
TARGET_MB = 4096


def _case(name):
    import numpy as np

    from netemu.graph import endpoints
    from netemu.routing import natural_key, route
    from netemu.solution import resource_load
    from netemu import flow
    from netemu.traffic import all_to_all, shift
    from netemu.topologies import preset

    mode = name.rsplit("-", 1)[1]
    if name == "mpft-16384-spray":
        return _factored_case(name)
    t0 = time.perf_counter()
    if name.startswith("ft2"):
        G = preset("isca-ft2")
        make = lambda: all_to_all(G)                                        # noqa: E731
    else:
        G = preset("isca-mpft")
        eps = sorted(endpoints(G), key=natural_key)
        if "shift" in name:
            make = lambda: shift(G, 8 * 1000 + 3, endpoints=eps)            # noqa: E731
        else:
            sub = [e for e in eps if int(e.split("/")[0][1:]) < 256]
            make = lambda: all_to_all(G, endpoints=sub)                     # noqa: E731
    t_build = time.perf_counter() - t0

    t0 = time.perf_counter()
    traffic = make()
    t_traffic = time.perf_counter() - t0
    t0 = time.perf_counter()
    routes = route(G, (traffic.endpoints, traffic.src), (traffic.endpoints, traffic.dst), mode,
                   sport=traffic.sport)
    t_route = time.perf_counter() - t0
    fs = routes.flowset
    t0 = time.perf_counter()
    rates = flow.max_min_rates(routes.resources.capacity, fs)
    t_solve = time.perf_counter() - t0
    # Reference: one load pass over the same FlowSet (best of 3).
    ref = []
    for _ in range(3):
        t0 = time.perf_counter()
        resource_load(fs, fs.counts * rates)
        ref.append(time.perf_counter() - t0)
    t_ref = min(ref)
    return {
        "case": name,
        "flows": int(traffic.n_flows),
        "rows": int(fs.n_flows),
        "groups": int(fs.group_matrix.shape[0]),
        "build_s": t_build,
        "traffic_s": t_traffic,
        "route_s": t_route,
        "solve_s": t_solve,
        "route_solve_s": t_route + t_solve,
        "matvec_ref_s": t_ref,
        "ratio": (t_route + t_solve) / t_ref,
        "aggregate_Bps": float(np.dot(fs.counts, rates)),
        "rate_min": float(rates.min()),
        "rate_max": float(rates.max()),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _factored_case(name):
    from netemu import solve
    from netemu.solution import FactoredSolution
    from netemu.traffic import all_to_all
    from netemu.topologies import preset

    t0 = time.perf_counter()
    G = preset("isca-mpft")
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    traffic = all_to_all(G)
    t_traffic = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solve(G, traffic, "spray")
    t_total = time.perf_counter() - t0
    assert isinstance(sol, FactoredSolution)
    s = sol.summary()
    assert s["flows"] == traffic.n_flows
    return {
        "case": name,
        "flows": int(traffic.n_flows),
        "rows": int(s["rows"]),
        "groups": int(sol.routes.n_groups),
        "build_s": t_build,
        "traffic_s": t_traffic,
        "route_s": float("nan"),
        "solve_s": float("nan"),
        "route_solve_s": t_total,
        "matvec_ref_s": float("nan"),
        "ratio": float("nan"),
        "aggregate_Bps": s["aggregate"],
        "rate_min": s["rate_min"],
        "rate_max": s["rate_max"],
        "max_utilisation": float(sol.utilisation.max()),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv):
    if len(argv) == 2 and argv[0] == "--child":
        print(json.dumps(_case(argv[1])))
        return 0
    names = argv or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; allowed: {', '.join(CASES)}",
              file=sys.stderr)
        return 2
    print(f"{'case':<18} {'flows':>11} {'rows':>11} {'route s':>8} {'solve s':>8} "
          f"{'total s':>8} {'matvec s':>9} {'ratio':>7} {'peak MB':>8}  target")
    failed = False
    totals = {}
    for name in names:
        proc = subprocess.run([sys.executable, __file__, "--child", name],
                              capture_output=True, text=True)
        if proc.returncode:
            print(f"{name:<18} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            failed = True
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        totals[name] = r["route_solve_s"]
        if "max_utilisation" in r and r["max_utilisation"] > 1 + 1e-9:
            print(f"{name}: a resource is loaded past capacity ({r['max_utilisation']!r})")
            failed = True
        target = TARGET_S.get(name)
        verdict = ""
        if target is not None:
            ok = r["route_solve_s"] <= target and r["peak_mb"] <= TARGET_MB
            verdict = f"<= {target:g} s, <= {TARGET_MB} MB: {'met' if ok else 'MISSED'}"
        print(f"{name:<18} {r['flows']:>11,} {r['rows']:>11,} {r['route_s']:>8.2f} "
              f"{r['solve_s']:>8.2f} {r['route_solve_s']:>8.2f} {r['matvec_ref_s']:>9.4f} "
              f"{r['ratio']:>7.0f} {r['peak_mb']:>8.0f}  {verdict}")
    print("\nratio = (route + solve) / one resource-load mat-vec over the same FlowSet.")
    if "mpft-16384-spray" in totals and "ft2-spray" in totals:
        print(f"mpft-16384-spray (factored, {268_419_072 / 4_192_256:.0f}x the flows) took "
              f"{totals['mpft-16384-spray'] / totals['ft2-spray']:.1f}x the ft2-spray time "
              f"of this run")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
