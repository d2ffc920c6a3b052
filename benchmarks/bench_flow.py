"""Speed and memory of the flow solver (netemu.flow) on the targets of docs/architecture.md §7.

Run: ``python benchmarks/bench_flow.py [--quick]``.  Each case runs in a fresh
process so that its peak resident memory (ru_maxrss) is its own; the figure
printed is the increase over an idle process that imported the same modules.
Times are wall-clock and come with a reference measured in the same run (a plain
sparse mat-vec over the same share matrix, or naive re-solving with the
vectorised solver), because machines are noisy and only ratios travel.

Ratios against SimGrid come from benchmarks/simgrid_compare.py, which runs
SimGrid and netemu on the same workloads in the same run.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# Measure the checkout this script belongs to, not whatever netemu is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netemu.flow import FlowSet, completion_times, max_min_rates  # noqa: E402

GBIT = 1e9 / 8          # bytes/s per Gbit/s


def leaf_spine(L, H, S, host_bw, fabric_bw, src, dst, paths):
    """FlowSet for flows src->dst on an L-leaf, S-spine leaf-spine, H hosts per leaf.

    Resources: host uplinks, host downlinks, leaf->spine, spine->leaf.  Direct
    shares: the two host links.  Groups: ``paths="spray"`` one per (src leaf, dst
    leaf), share 1/S on S up and S down links; ``"hash"`` one per (src leaf, dst
    leaf, spine) with the spine hashed from the pair; ``"dmodk"`` the same with
    spine = dst % S, SimGrid's FAT_TREE routing.  Intra-leaf flows have no group.
    """
    N = L * H
    R = 2 * N + 2 * L * S
    cap = np.empty(R)
    cap[:2 * N] = host_bw
    cap[2 * N:] = fabric_bw
    n = src.size
    indptr = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
    indices = np.empty(2 * n, dtype=np.int32)
    indices[0::2] = src
    indices[1::2] = N + dst
    direct = sp.csr_matrix((np.ones(2 * n), indices, indptr), shape=(n, R))
    sl, dl = src // H, dst // H
    inter = sl != dl
    up0, down0 = 2 * N, 2 * N + L * S
    if paths == "spray":
        gid = np.where(inter, sl * L + dl, -1)
        g = np.arange(L * L)
        gl, gd = np.divmod(g, L)
        s = np.arange(S)
        cols = np.concatenate([up0 + gl[:, None] * S + s, down0 + gd[:, None] * S + s], axis=1)
        gm = sp.csr_matrix((np.full(cols.size, 1.0 / S), cols.ravel().astype(np.int32),
                            np.arange(0, cols.size + 1, 2 * S)), shape=(L * L, R))
    else:
        if paths == "dmodk":
            spine = dst % S
        else:  # ECMP hashing looks random per pair; a seeded draw stands in for the hash
            spine = np.random.default_rng(12345).integers(0, S, src.size)
        gid = np.where(inter, (sl * L + dl) * S + spine, -1)
        g = np.arange(L * L * S)
        gl, rest = np.divmod(g, L * S)
        gd, gs = np.divmod(rest, S)
        cols = np.stack([up0 + gl * S + gs, down0 + gd * S + gs], axis=1)
        gm = sp.csr_matrix((np.ones(cols.size), cols.ravel().astype(np.int32),
                            np.arange(0, cols.size + 1, 2)), shape=(L * L * S, R))
    return cap, FlowSet(R, direct, gid, gm)


def all_to_all_pairs(N):
    src, dst = np.divmod(np.arange(N * N, dtype=np.int64), N)
    keep = src != dst
    return src[keep], dst[keep]


def load(fs, rates):
    """Bytes/s on each resource: direct shares plus each group's summed member rates."""
    x = rates * fs.counts
    valid = fs.groups >= 0
    gx = np.bincount(fs.groups[valid], weights=np.broadcast_to(x[:, None], fs.groups.shape)[valid],
                     minlength=fs.group_matrix.shape[0])
    return fs.direct.T @ x + fs.group_matrix.T @ gx


def matvec_reference(fs, repeat=3):
    """Seconds for one load computation A^T x over the same factored matrix (best of repeat)."""
    x = np.ones(fs.n_flows)
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fs.direct.T @ x
        valid = fs.groups >= 0
        gw = np.bincount(fs.groups[valid], weights=np.broadcast_to(x[:, None], fs.groups.shape)[valid],
                         minlength=fs.group_matrix.shape[0])
        fs.group_matrix.T @ gw
        best = min(best, time.perf_counter() - t)
    return best


# ---------------------------------------------------------------------------
# Cases (each runs in its own process)


def case_a2a(paths, fabric_gbit):
    L, H, S = 64, 32, 32
    t0 = time.perf_counter()
    src, dst = all_to_all_pairs(L * H)
    cap, fs = leaf_spine(L, H, S, 400 * GBIT, fabric_gbit * GBIT, src, dst, paths)
    t1 = time.perf_counter()
    rates = max_min_rates(cap, fs)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mv = matvec_reference(fs)
    util = load(fs, rates) / cap
    return dict(flows=int(fs.n_flows), build_s=t1 - t0, solve_s=t2 - t1, total_s=t2 - t0,
                matvec_s=mv, solve_over_matvec=(t2 - t1) / mv,
                min_rate_gbit=float(rates.min() / GBIT), max_rate_gbit=float(rates.max() / GBIT),
                distinct_rates=int(np.unique(rates.round(6)).size),
                max_utilisation=float(util.max()), maxrss_mb=peak)


def random_traffic(L, H, S, n_per_host=None, n_flows=None, seed=1):
    rng = np.random.default_rng(seed)
    N = L * H
    if n_per_host is not None:  # distinct random destinations per host, never itself
        src = np.repeat(np.arange(N), n_per_host)
        dst = np.concatenate([(h + 1 + rng.choice(N - 1, n_per_host, replace=False)) % N
                              for h in range(N)])
    else:
        src = rng.integers(0, N, n_flows)
        dst = (src + 1 + rng.integers(0, N - 1, n_flows)) % N
    return src, dst, rng


def case_ct_8192():
    L, H, S = 32, 16, 16  # SimGrid's 512-host fat-tree: 32 leaves x 16 hosts, 16 spines
    src, dst, rng = random_traffic(L, H, S, n_per_host=16)
    sizes = rng.uniform(0.5e6, 2e6, src.size)
    cap, fs = leaf_spine(L, H, S, 100 * GBIT, 100 * GBIT, src, dst, "dmodk")
    t0 = time.perf_counter()
    finish = completion_times(cap, fs, sizes)
    t1 = time.perf_counter()
    naive = naive_event_loop(cap, fs, sizes, np.zeros(src.size), events=150)
    return dict(flows=int(src.size), seconds=t1 - t0, makespan_s=float(finish.max()),
                naive_s_per_event=naive, naive_est_s=naive * src.size,
                speedup_vs_naive=naive * src.size / (t1 - t0))


def case_ct_100k(paths):
    L, H, S = 32, 16, 16
    n = 100_000
    src, dst, rng = random_traffic(L, H, S, n_flows=n, seed=2)
    sizes = rng.uniform(0.5e6, 2e6, n)
    # 125 GB offered over 50 ms against 6.4 TB/s of host uplinks: about 40 % load on
    # average, so thousands of flows are in flight at once
    starts = rng.uniform(0, 0.05, n)
    cap, fs = leaf_spine(L, H, S, 100 * GBIT, 100 * GBIT, src, dst, paths)
    t0 = time.perf_counter()
    finish = completion_times(cap, fs, sizes, starts)
    t1 = time.perf_counter()
    dur = finish - starts
    # mean number in flight = sum of durations / span (Little's law)
    in_flight = dur.sum() / (finish.max() - starts.min())
    naive = naive_event_loop(cap, fs, sizes, starts, events=100, skip_to=0.025)
    return dict(flows=n, paths=paths, seconds=t1 - t0, makespan_s=float(finish.max()),
                mean_in_flight=float(in_flight), naive_s_per_event=naive,
                naive_est_s=naive * 2 * n, speedup_vs_naive=naive * 2 * n / (t1 - t0))


def naive_event_loop(cap, fs, sizes, starts, events, skip_to=0.0):
    """Seconds per event of re-solving every event with max_min_rates on the present flows.

    Runs ``events`` events of the same fluid simulation from time ``skip_to`` (flows
    that would have started earlier are taken as just started: the load, not the
    exact history, is what matters for the cost per event).
    """
    M = fs.totals().tocsr()
    rem = sizes.copy()
    present = np.flatnonzero(starts <= skip_to)
    pending = np.sort(np.flatnonzero(starts > skip_to))
    pending = pending[np.argsort(starts[pending], kind="stable")]
    t = skip_to
    nxt = 0
    tic = time.perf_counter()
    for _ in range(events):
        sub = FlowSet(fs.n_resources, M[present], counts=fs.counts[present])
        r = max_min_rates(cap, sub)
        dt = (rem[present] / r).min()
        if nxt < pending.size:
            dt = min(dt, starts[pending[nxt]] - t)
        rem[present] -= r * dt
        t += dt
        keep = rem[present] > 1e-9 * sizes[present]
        present = present[keep]
        while nxt < pending.size and starts[pending[nxt]] <= t:
            present = np.append(present, pending[nxt])
            nxt += 1
    return (time.perf_counter() - tic) / events


CASES = {
    "a2a_spray": lambda: case_a2a("spray", 400),
    "a2a_spray_oversub4": lambda: case_a2a("spray", 100),
    "a2a_hash": lambda: case_a2a("hash", 400),
    "ct_8192_dmodk": case_ct_8192,
    "ct_100k_dmodk": lambda: case_ct_100k("dmodk"),
    "ct_100k_spray": lambda: case_ct_100k("spray"),
    "idle": lambda: {},
}


def run_case(name):
    out = CASES[name]()
    out.setdefault("maxrss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), help="run one case in this process")
    ap.add_argument("cases", nargs="*", help="cases to run (default: all)")
    args = ap.parse_args()
    if args.case:
        run_case(args.case)
        return
    # warm numba's cache so that no case pays for compilation
    completion_times([1.0], [{0: 1.0}], [1.0])
    names = args.cases or [c for c in CASES if c != "idle"]
    results = {}
    for name in ["idle"] + names:
        p = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True,
                           text=True, check=True)
        results[name] = json.loads(p.stdout.strip().splitlines()[-1])
    base = results.pop("idle")["maxrss_mb"]
    print(f"idle process (imports only): {base:.0f} MB resident")
    for name, r in results.items():
        r["peak_extra_mb"] = r.pop("maxrss_mb") - base
        print(f"\n{name}")
        for k, v in r.items():
            print(f"  {k:22s} {v:.4g}" if isinstance(v, float) else f"  {k:22s} {v}")


if __name__ == "__main__":
    main()
