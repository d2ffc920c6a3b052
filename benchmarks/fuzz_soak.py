"""Robustness soak: issue 18's fuzz at scale, outside the unit tests.

Runs, with fixed seeds, (1) distinct CLI argument vectors in this process, (2) mutated node-link
graph files, (3) traffic CSVs, (4) API calls with odd arguments, (5) memory probes on the
large presets in child processes, and (6) interrupts: ``netemu experiments run latency
--jobs 2`` stopped by SIGINT or SIGTERM at random moments over an earlier result set.
Prints counts: tracebacks, hangs, memory over the limit, torn result sets (target 0 each).

This process runs under RLIMIT_AS = LIMIT (a MemoryError counts as memory over the
limit); a case that uses HANG_S CPU seconds, or HANG_WALL_S wall seconds, is a hang.

Run: ``nice -n 19 python benchmarks/fuzz_soak.py [--scale 1.0] [--phases ...]``: at scale 1
about 25 minutes for the in-process phases, 40 for the memory probes and 3 for the interrupts
on the shared 2-core machine at load 10 (phases may run as separate invocations side by side).
"""

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.robust_cases import (cli_argv, make_files, mutate_graph,  # noqa: E402
                                     node_link, traffic_csv)

#: Address space this process and its children may use (bytes); a choice for a shared
#: machine, not a netemu limit.
LIMIT = 6_000_000_000
HANG_S = 120
HANG_WALL_S = 1200
PRESETS = ["isca-ft3", "isca-slimfly", "isca-dragonfly"]


PHASES = ("cli", "graph files", "traffic csv", "api", "memory", "interrupts")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _one(fn, counts, label, log):
    """Run one case: NetemuError or success are fine; anything else is counted."""
    from netemu.errors import NetemuError

    # CPU time bounds a spinning case; a wall-clock alarm, much longer, a blocked one (a
    # read that never returns uses no CPU).  Wall time alone would count a case starved by
    # the machine's other work as a hang.
    signal.setitimer(signal.ITIMER_PROF, HANG_S)
    signal.alarm(HANG_WALL_S)
    try:
        fn()
    except NetemuError as exc:
        if "\n" in str(exc):
            counts["multi-line errors"] += 1
    except Hang:
        counts["hangs"] += 1
        log.append(f"hang: {label}")
    except MemoryError:
        counts["memory over the limit"] += 1
        log.append(f"memory: {label}")
    except Exception:
        counts["tracebacks"] += 1
        log.append(f"traceback: {label}\n{traceback.format_exc(limit=3)}")
    finally:
        signal.alarm(0)
        signal.setitimer(signal.ITIMER_PROF, 0)
    counts["inputs"] += 1
    if counts["inputs"] % 500 == 0:
        print(f"  {counts['inputs']:,} inputs, {time.strftime('%H:%M:%S')}", file=sys.stderr,
              flush=True)


def cli_cases(n, files, counts, log):
    from netemu.cli import main

    # Distinct vectors only: a repeated vector (the generator draws "solve NAME" with no
    # option often) is the same deterministic run, so it is drawn again instead of re-run.
    seen = set()
    seed = -1
    while len(seen) < n:
        seed += 1
        argv = cli_argv(random.Random(seed), files)
        if tuple(argv) in seen:
            continue
        seen.add(tuple(argv))

        def call():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
            if code not in (0, 2) or "Traceback" in err.getvalue() or (
                    code == 2 and len(err.getvalue().strip().splitlines()) != 1):
                raise RuntimeError(f"exit {code}: {err.getvalue()[-300:]}")
            if code == 0 and "--json" in argv:
                json.loads(out.getvalue())
        _one(call, counts, f"netemu {' '.join(argv)}", log)


def graph_cases(n, directory, counts, log):
    from netemu.io import load

    path = os.path.join(directory, "case.json")
    for seed in range(n):
        rng = random.Random(10**6 + seed)
        with open(path, "w") as fh:
            fh.write(json.dumps(mutate_graph(rng, node_link(rng))))
        _one(lambda: load(path), counts, f"graph seed {seed}", log)


def csv_cases(n, directory, counts, log):
    from netemu.traffic import from_csv

    path = os.path.join(directory, "case.csv")
    for seed in range(n):
        with open(path, "wb") as fh:
            fh.write(traffic_csv(random.Random(2 * 10**6 + seed)))
        _one(lambda: from_csv(path), counts, f"csv seed {seed}", log)


def api_cases(n, counts, log):
    import netemu
    from netemu import traffic as T
    from netemu.io import load
    from netemu.topologies.fat_tree import two_layer_fat_tree

    odd = [None, "x", 5, -1, 1.5, float("nan"), [1], ["n0"], {"a": 1}, b"n0", 10**30, True,
           float("inf"), -0.0, 2**63, "n0"]
    G = two_layer_fat_tree(4)
    for seed in range(n):
        rng = random.Random(3 * 10**6 + seed)
        a, b = rng.choice(odd), rng.choice(odd)
        calls = [lambda: T.all_to_all(G, size=a), lambda: T.all_to_all(G, endpoints=a),
                 lambda: T.permutation(G, a), lambda: T.shift(G, a), lambda: T.incast(G, a),
                 lambda: T.Traffic(["n0", "n1"], [0], [1], a), lambda: T.from_csv(a, G),
                 lambda: load(a), lambda: netemu.solve(G, T.all_to_all(G), a),
                 lambda: netemu.solve(a, T.all_to_all(G)),
                 lambda: netemu.solve(G, T.permutation(G, 0), "hash", seed=b),
                 lambda: T.shift(G, 1, size=a)]
        k = rng.randrange(len(calls))
        _one(calls[k], counts, f"api call {k} with {a!r}, {b!r}", log)


#: The stated memory limit every memory probe runs under (NETEMU_MEMORY_LIMIT): a probe
#: must be refused up front or stay under it; a choice for a shared machine.
PROBE_LIMIT = 4_000_000_000
#: A probe that uses this many CPU seconds, or makes no CPU progress for PROBE_IDLE_S wall
#: seconds, counts as a hang.
PROBE_CPU_S = 900
PROBE_IDLE_S = 300
#: Each probe: the reproducers of issue 18, then the large presets under every traffic
#: and routing the CLI offers for them, generators asked for huge sizes and MoE draws.
PROBES = (
    [["solve", p] for p in PRESETS + ["isca-mpft"]]
    + [["solve", p, "--traffic", t] for p in PRESETS + ["isca-mpft"]
       for t in ("shift:1", "permutation")]
    + [["solve", p, "--routing", "hash"] for p in ("isca-ft3", "isca-mpft")]
    + [["solve", "isca-ft2", "--traffic", "all-to-all", "--size", "1MiB"],
       ["solve", "two-layer-fat-tree", "--radix", "2000000"],
       ["solve", "three-layer-fat-tree", "--k", "200"],
       ["solve", "dragonfly", "--a", "64", "--p", "32", "--h", "32"],
       ["solve", "slim-fly", "--q", "101", "--p", "50"]]
    + [["bench", "moe", "--algo", "deepep", "--cluster", "deepseek-v3-cluster",
        "--gpus", "16", opt, val] for opt, val in (
            ("--tokens", "10000000"), ("--tokens", "9223372036854775807"),
            ("--experts", "9223372036854775808"), ("--tokens", "100000000"),
            ("--experts", "100000000"))])


def _cpu_seconds(pid):
    """CPU seconds (user + system) used so far by process ``pid``, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _run_measured(cmd, timeout, env, idle=PROBE_IDLE_S):
    """Run ``cmd``; ``(returncode, stderr, peak resident bytes)`` or None on a hang.

    A hang is ``timeout`` CPU seconds, or ``idle`` wall seconds without a CPU second of
    progress: on a shared machine at nice 19 a working child can be starved for minutes
    of wall time, which is slowness of the machine, not of netemu.  The child's own peak
    comes from wait4's rusage (not the sum over all children)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        last_cpu, last_progress = 0.0, time.time()
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            cpu = _cpu_seconds(proc.pid)
            if cpu >= last_cpu + 1.0:
                last_cpu, last_progress = cpu, time.time()
            if cpu > timeout or time.time() - last_progress > idle:
                proc.kill()
                os.wait4(proc.pid, 0)
                return None
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, err.read().decode(errors="replace"), usage.ru_maxrss * 1024


def memory_probes(counts, log):
    """Large requests in children under the stated limit: each must be refused up front
    (one line, exit 2) or finish with its peak resident set under the limit."""
    env = dict(os.environ, NETEMU_MEMORY_LIMIT=str(PROBE_LIMIT))
    for argv in PROBES:
        cmd = ["prlimit", f"--as={LIMIT}", sys.executable, "-m", "netemu", *argv]
        t0 = time.time()
        got = _run_measured(cmd, PROBE_CPU_S, env)
        if got is None:
            counts["hangs"] += 1
            log.append(f"hang: {' '.join(argv)}")
            continue
        code, err, peak = got
        counts["memory probes"] += 1
        counts["inputs"] += 1
        outcome = "refused" if code == 2 else f"exit {code}"
        print(f"  probe {' '.join(argv)}: {outcome}, peak {peak / 1e9:.2f} GB, "
              f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)
        if ("MemoryError" in err or "Unable to allocate" in err or code < 0
                or peak > PROBE_LIMIT):
            counts["memory over the limit"] += 1
            log.append(f"memory: {' '.join(argv)}: peak {peak / 1e9:.2f} GB: {err[-200:]}")
        elif "Traceback" in err or code not in (0, 2) or (
                code == 2 and len(err.strip().splitlines()) != 1):
            counts["tracebacks"] += 1
            log.append(f"traceback: {' '.join(argv)}: {err[-300:]}")


def _old_set(out):
    """An earlier result set whose every file says OLD, so a mix with a new one shows."""
    from netemu.experiments.readme_table import SUMMARY_FIELDS

    out.mkdir(parents=True, exist_ok=True)
    for name in ("latency.csv", "latency.png", "summary_figures.csv", "summary.md"):
        (out / name).write_text("OLD\n")
    row = {k: "" for k in SUMMARY_FIELDS}
    row.update(experiment="latency", point="OLD", metric="OLD", kind="check")
    (out / "summary.csv").write_text(",".join(SUMMARY_FIELDS) + "\n"
                                     + ",".join(row[k] for k in SUMMARY_FIELDS) + "\n")
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _group(pgid):
    """Pids of live (not zombie) processes in process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(entry))
    return out


def interrupts(n, directory, counts, log):
    for trial in range(n):
        rng = random.Random(4 * 10**6 + trial)
        out = Path(directory) / f"results{trial}"
        old = _old_set(out)
        # A session of its own: whatever it leaves behind (orphaned workers) is found by
        # its process group and cleaned up, and cannot hold this process's pipes for ever.
        proc = subprocess.Popen([sys.executable, "-m", "netemu", "experiments", "run",
                                 "latency", "--quiet", "--jobs", "2", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        time.sleep(rng.uniform(0.3, 4.0))
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        proc.send_signal(sig)         # to the top process only, as `kill PID` does
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            left = _group(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
            counts["hangs"] += 1
            log.append(f"hang: interrupt trial {trial} ({sig.name}): still running 120 s "
                       f"after the signal; processes left {left}")
            shutil.rmtree(out, ignore_errors=True)
            continue
        left = _group(proc.pid)
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
            counts["hangs"] += 1
            log.append(f"hang: interrupt trial {trial} ({sig.name}): the run exited and left "
                       f"processes {left}")
        counts["interrupts"] += 1
        counts["inputs"] += 1
        if "Traceback" in err:
            counts["tracebacks"] += 1
            log.append(f"traceback: interrupt trial {trial}: {err[-300:]}")
        now = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        hidden = [p for p in out.iterdir() if p.name.startswith(".netemu")]
        kept_old = [k for k in old if now.get(k) == old[k]]
        if hidden or (kept_old and len(kept_old) != len(old)):
            counts["torn result sets"] += 1
            log.append(f"torn: trial {trial}: old {sorted(kept_old)}, hidden {hidden}")
        shutil.rmtree(out, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--phases", default=",".join(PHASES),
                    help=f"comma-separated subset of {','.join(PHASES)} (default: all)")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    if phases - set(PHASES):
        ap.error(f"unknown phases {sorted(phases - set(PHASES))}; choose from {PHASES}")
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPROF, _alarm)
    os.environ.setdefault("NETEMU_MEMORY_LIMIT", "4GB")
    counts = dict.fromkeys(["inputs", "tracebacks", "hangs", "memory over the limit",
                            "torn result sets", "multi-line errors", "memory probes",
                            "interrupts"], 0)
    log = []
    directory = tempfile.mkdtemp(prefix="netemu-soak-")
    try:
        files = make_files(directory)
        s = args.scale
        t0 = time.time()
        for label, run in (("cli", lambda: cli_cases(int(7000 * s), files, counts, log)),
                           ("graph files", lambda: graph_cases(int(3000 * s), directory,
                                                               counts, log)),
                           ("traffic csv", lambda: csv_cases(int(2000 * s), directory,
                                                             counts, log)),
                           ("api", lambda: api_cases(int(2100 * s), counts, log)),
                           ("memory", lambda: memory_probes(counts, log)),
                           ("interrupts", lambda: interrupts(max(1, int(70 * s)), directory,
                                                             counts, log))):
            if label not in phases:
                continue
            before = counts["inputs"]
            run()
            bad = {k: counts[k] for k in ("tracebacks", "hangs", "memory over the limit",
                                          "torn result sets", "multi-line errors")}
            print(f"{label:<12} {counts['inputs'] - before:>6} inputs  "
                  f"{time.time() - t0:7.0f} s  totals so far {bad}", file=sys.stderr,
                  flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for line in log[:200]:
        print(line, file=sys.stderr)
    for k, v in counts.items():
        print(f"{k:<24} {v:>7,}")
    bad = sum(counts[k] for k in ("tracebacks", "hangs", "memory over the limit",
                                  "torn result sets", "multi-line errors"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
