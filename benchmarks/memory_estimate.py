"""Measured peak memory of solves against netemu.memory's estimates.

Each case runs in a fresh child process: it builds the graph and the traffic,
warms the solver up on a tiny graph (numba compiles), records its resident
set, solves, and reports the growth of its peak resident set (``ru_maxrss``).
The ratio estimate / measured must stay >= 1 (the estimate errs high) and
should stay below a few (it must not refuse what fits).

Run: ``python benchmarks/memory_estimate.py``  (about a minute, < 2 GB).
"""

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import netemu
from netemu import memory
from netemu.traffic import all_to_all, shift
from netemu.cli.topo_args import build_from_cli

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()

name, params, traffic, factored = json.loads(sys.argv[1])
small = build_from_cli("two-layer-fat-tree", {"radix": 4})
netemu.solve(small, all_to_all(small), factored=False)
netemu.solve(small, all_to_all(small), factored=True)
G = build_from_cli(name, params)
T = all_to_all(G) if traffic == "all-to-all" else shift(G, 1)
est = memory.solve_estimate(G, T, "spray", factored=factored)
before = rss()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
netemu.solve(G, T, factored=factored)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"flows": T.n_flows, "estimate": est, "measured": peak - max(before, 0),
                  "peak_before": peak_before}))
"""

CASES = [
    # fabric-dominated: a few flows on dragonflies (switch x signature tables)
    ("dragonfly", {"a": 8, "p": 4, "h": 4}, "shift", False),
    ("dragonfly", {"a": 12, "p": 6, "h": 6}, "shift", False),
    # factored all-to-all: classes (source x destination switch)
    ("three-layer-fat-tree", {"k": 16}, "all-to-all", True),
    ("slim-fly", {"q": 7, "p": 6}, "all-to-all", True),
    # one row per flow
    ("two-layer-fat-tree", {"radix": 24}, "all-to-all", False),
    ("two-layer-fat-tree", {"radix": 32}, "all-to-all", False),
]


def main():
    print(f"{'case':<44} {'flows':>11} {'estimate MB':>12} {'measured MB':>12} {'ratio':>6}")
    ratios = []
    for name, params, traffic, factored in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD,
                              json.dumps([name, params, traffic, factored])],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = r["estimate"] / max(r["measured"], 1)
        ratios.append(ratio)
        label = f"{name} {params} {traffic}{' factored' if factored else ''}"
        print(f"{label:<44} {r['flows']:>11,} {r['estimate'] / 1e6:>12,.0f} "
              f"{r['measured'] / 1e6:>12,.0f} {ratio:>6.2f}", flush=True)
    print(f"estimate / measured: min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
