"""Measured peak memory of every estimated path against netemu.memory's estimates.

Each case runs in a fresh child process: it warms the code up on a tiny case (numba
compiles, lazy imports), records its resident set, then builds the graph and runs the
case, and reports its peak resident set (``ru_maxrss``) minus that baseline.  The
estimate is the figure netemu checks against the memory limit for the same request
(graph and solve, or the MoE draw).  The ratio estimate / measured must stay >= 1 (the
estimate errs high) and should stay below a few (it must not refuse what fits).

Paths: ``netemu.solve`` one row per flow (two-layer fat-trees of growing radix, hashed
and sprayed), the factored all-to-all (three-layer fat-trees, Slim Fly, MPFT), the
router's distance tables (dragonflies and three-layer fat-trees with shift traffic),
and ``collectives.moe.token_destinations`` (``bench moe --tokens``).

Run: ``python benchmarks/memory_estimate.py [--large]``  (a few minutes, < 3 GB;
``--large`` adds isca-mpft's all-to-all and isca-ft3's shift, several GB each).
"""

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys
spec = json.loads(sys.argv[1])

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()

def peak():
    # VmHWM, the resident high-water mark, which reset_peak() can lower (getrusage's
    # ru_maxrss cannot: a warm-up's transient peak would hide the case's own).
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def reset_peak():
    # Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current resident set.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass

if spec.get("kind") == "moe":
    from netemu.memory import moe_bytes
    from netemu.collectives.moe import token_destinations
    ranks = [f"n{i // 8}/gpu{i % 8}" for i in range(spec["gpus"])]
    token_destinations(ranks[:16], tokens=64, topk=8, routing=spec["routing"])
    token_destinations(ranks, tokens=64, topk=spec["topk"], routing=spec["routing"])
    peak0 = peak()
    reset_peak()
    base = rss()
    est = moe_bytes(spec["gpus"], spec["tokens"], spec["topk"], spec["gpus"],
                    len({r.split("/")[0] for r in ranks}))
    token_destinations(ranks, tokens=spec["tokens"], topk=spec["topk"], routing=spec["routing"])
    flows = spec["gpus"] * spec["tokens"] * spec["topk"]
else:
    import netemu
    from netemu import memory
    from netemu.traffic import all_to_all, shift
    from netemu.cli.topo_args import build_from_cli
    # Warm up on a tiny graph of the same family, so that what numba compiles for this
    # family's routes is not counted as the case's memory.
    tiny = {"two-layer-fat-tree": {"radix": 4}, "three-layer-fat-tree": {"k": 4},
            "dragonfly": {"a": 2, "p": 1, "h": 1}, "slim-fly": {"q": 5, "p": 1},
            "multi-plane-fat-tree": {"planes": 2, "radix": 4}}
    for name, params in tiny.items():
        if name not in (spec["topo"], "two-layer-fat-tree"):
            continue
        small = build_from_cli(name, params)
        for routing in ("spray", "hash"):
            netemu.solve(small, all_to_all(small), routing, factored=False)
            netemu.solve(small, shift(small, 1), routing)
        try:
            netemu.solve(small, all_to_all(small), factored=True)
        except netemu.errors.ParameterError:
            pass
    peak0 = peak()
    reset_peak()
    base = rss()
    G = build_from_cli(spec["topo"], spec["params"])
    size = spec.get("size")
    T = all_to_all(G, size=size) if spec["traffic"] == "all-to-all" else shift(G, 1, size=size)
    factored = spec.get("factored")
    est = memory.solve_estimate(G, T, spec["routing"], factored=factored)
    netemu.solve(G, T, spec["routing"], factored=factored)
    flows = T.n_flows
print(json.dumps({"flows": flows, "estimate": est, "measured": max(peak() - base, 1),
                  "warmup_peak_over_base": peak0 - base}))
"""

FT2 = "two-layer-fat-tree"
FT3 = "three-layer-fat-tree"
CASES = [
    # one row per flow, hashed and sprayed, growing radix
    dict(topo=FT2, params={"radix": 16}, traffic="all-to-all", routing="hash"),
    dict(topo=FT2, params={"radix": 24}, traffic="all-to-all", routing="hash"),
    dict(topo=FT2, params={"radix": 32}, traffic="all-to-all", routing="hash"),
    dict(topo=FT2, params={"radix": 16}, traffic="all-to-all", routing="hash", size=1e6),
    dict(topo=FT2, params={"radix": 24}, traffic="all-to-all", routing="hash", size=1e6),
    dict(topo=FT2, params={"radix": 16}, traffic="all-to-all", routing="spray", factored=False),
    dict(topo=FT2, params={"radix": 24}, traffic="all-to-all", routing="spray", factored=False),
    dict(topo=FT2, params={"radix": 32}, traffic="all-to-all", routing="spray", factored=False),
    dict(topo="multi-plane-fat-tree", params={"planes": 2, "radix": 16}, traffic="all-to-all",
         routing="spray", factored=False),
    dict(topo="multi-plane-fat-tree", params={"planes": 2, "radix": 16}, traffic="all-to-all",
         routing="hash"),
    # router tables: shift traffic on fabrics of many switches
    dict(topo=FT3, params={"k": 16}, traffic="shift", routing="spray"),
    dict(topo=FT3, params={"k": 24}, traffic="shift", routing="spray"),
    dict(topo="dragonfly", params={"a": 8, "p": 4, "h": 4}, traffic="shift", routing="spray"),
    dict(topo="dragonfly", params={"a": 12, "p": 6, "h": 6}, traffic="shift", routing="spray"),
    dict(topo="dragonfly", params={"a": 8, "p": 4, "h": 4}, traffic="shift", routing="hash"),
    dict(topo="dragonfly", params={"a": 12, "p": 6, "h": 6}, traffic="shift", routing="hash"),
    dict(topo=FT3, params={"k": 16}, traffic="shift", routing="hash"),
    dict(topo=FT3, params={"k": 24}, traffic="shift", routing="hash"),
    # factored all-to-all: classes (source x destination switch)
    dict(topo=FT3, params={"k": 12}, traffic="all-to-all", routing="spray", factored=True),
    dict(topo=FT3, params={"k": 16}, traffic="all-to-all", routing="spray", factored=True),
    dict(topo="slim-fly", params={"q": 5, "p": 4}, traffic="all-to-all", routing="spray",
         factored=True),
    dict(topo="slim-fly", params={"q": 7, "p": 6}, traffic="all-to-all", routing="spray",
         factored=True),
    dict(topo="multi-plane-fat-tree", params={"planes": 2, "radix": 16}, traffic="all-to-all",
         routing="spray", factored=True),
    dict(topo="multi-plane-fat-tree", params={"planes": 4, "radix": 24}, traffic="all-to-all",
         routing="spray", factored=True),
    # bench moe: token destinations
    dict(kind="moe", gpus=64, tokens=100_000, topk=8, routing="balanced"),
    dict(kind="moe", gpus=64, tokens=400_000, topk=8, routing="balanced"),
    dict(kind="moe", gpus=64, tokens=100_000, topk=8, routing="random"),
    dict(kind="moe", gpus=64, tokens=400_000, topk=8, routing="random"),
]
LARGE = [
    dict(topo="isca-ft2", params={}, traffic="all-to-all", routing="spray"),
    dict(topo="isca-mpft", params={}, traffic="all-to-all", routing="spray"),
    dict(topo="isca-ft3", params={}, traffic="shift", routing="spray"),
]


def label(spec):
    if spec.get("kind") == "moe":
        return f"moe {spec['gpus']} GPUs {spec['tokens']:,} tokens {spec['routing']}"
    p = ",".join(f"{k}={v}" for k, v in spec["params"].items())
    f = {True: " factored", False: " rows"}.get(spec.get("factored"), "")
    sized = " sized" if spec.get("size") else ""
    return f"{spec['topo']} {p} {spec['traffic']}{sized} {spec['routing']}{f}"


def measure(spec, limit=None):
    """Run ``spec`` in a child; ``{"flows", "estimate", "measured"}`` (bytes).

    ``limit``, when given, is passed as NETEMU_MEMORY_LIMIT so the child may go past
    this machine's free memory estimate (it is still refused above it)."""
    env = dict(os.environ)
    env.setdefault("NETEMU_MEMORY_LIMIT", limit or "64GB")
    # MemAvailable still bounds the check; only the env limit is lifted here.
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True,
                         text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{label(spec)}: {out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="add the isca-mpft and isca-ft3 cases")
    ap.add_argument("--only", help="run only cases whose label contains this text")
    args = ap.parse_args()
    cases = CASES + (LARGE if args.large else [])
    if args.only:
        cases = [c for c in cases if args.only in label(c)]
    print(f"{'case':<58} {'flows':>13} {'estimate MB':>12} {'measured MB':>12} {'ratio':>6}")
    ratios = []
    for spec in cases:
        r = measure(spec)
        ratio = r["estimate"] / r["measured"]
        ratios.append(ratio)
        print(f"{label(spec):<58} {r['flows']:>13,} {r['estimate'] / 1e6:>12,.0f} "
              f"{r['measured'] / 1e6:>12,.0f} {ratio:>6.2f}", flush=True)
    print(f"estimate / measured: min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
