"""``netemu emulate TOPO [--param VALUE ...] --traffic PATTERN --scale S``: packet-level check.

Builds the fabric in Mininet (Linux routers, HTB-shaped links at bandwidth x
scale), runs the traffic as real TCP flows and prints each flow's goodput
beside the flow model's prediction for the same paths (scaled back to the
graph's units).  Runs as root, inside a throw-away network/PID/mount
namespace, so that even a killed run leaves nothing behind.

Options (anywhere after TOPO):

--traffic all-to-all | permutation | incast:DST | shift:K | FILE.csv   (default permutation)
--routing hash | dmodk   kernel ECMP over the 5-tuple, or static D-mod-k (default hash)
--scale S                emulated rate / real rate (default 1e-3: 400 Gb/s -> 400 Mb/s)
--duration SEC           measured seconds (default 10), after --warmup SEC (default 2)
--seed N                 seed of the permutation (default 0)
--queue BYTES            FIFO per link direction (default max(100 frames, 10 ms))
--offload on|off|auto    TSO/GSO on the links (auto: on above 50 Mbit/s)
--pcap FILE              capture the first flow's source host link (tcpdump; scapy/Wireshark)
--fail-link U--V         fail a link (repeatable, or a comma list)
--fail-switch NAME       fail a switch and its links (repeatable, or a comma list)
--fail-plane K           fail every switch of plane K (repeatable, or a comma list)
--fail-fraction F        fail ceil(F x n) of the n switch-to-switch links, chosen by --seed
                         The network is built without what failed; routes and the flow
                         model both use the degraded graph.  Pairs the failures cut apart
                         are listed by name and not run (no rate, not a zero).
--fail-at SEC            build with the --fail-link links up, measure SEC s, take them
                         down (routes recomputed on the degraded graph, Emulation.set_link),
                         then measure --duration s: "before" and the main figures ("after")
                         each beside the model of its own graph.  The first phase's TCP
                         connections end before the links go down; the second opens new ones.
--force                  run even when the CPU, not the links, would limit it
--acks                   charge each flow's ACKs (one 66-byte frame per two 1514-byte
                         segments) on the links they take, in the prediction
--json                   machine-readable output
--cli                    open Mininet's CLI on the built network (after the traffic, if any)
--clean                  kill what an unsandboxed, killed run left (processes marked as ours)
"""

import argparse
import json
import os
import signal
import subprocess
import sys

from .solve import load_topology, make_traffic, split_options
from ..errors import EmulationError, ParameterError

_FLAGS = ("json", "cli", "force", "clean", "acks")
_OPTIONS = ("traffic", "routing", "scale", "duration", "warmup", "seed", "queue", "offload",
            "pcap", "fail-at")
#: Environment mark of every process an emulation starts: ``<pid of the run>``.
RUN_MARK = "NETEMU_EMULATE_RUN"


def register(sub):
    p = sub.add_parser("emulate", help="run a traffic pattern as real TCP flows in Mininet "
                                       "beside the flow model",
                       description=__doc__.splitlines()[0],
                       usage="netemu emulate TOPO [--param VALUE ...] [--traffic PATTERN] "
                             "[--routing hash|dmodk] [--scale S] [--duration SEC] [--acks] [--json] "
                             "[--cli] [--fail-link U--V] [--fail-switch NAME] [--fail-plane K] "
                             "[--fail-fraction F] | netemu emulate --clean",
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # --clean is also a parser option so that ``netemu emulate --clean`` (no TOPO) parses;
    # after TOPO it is one of the tokens split_options reads.
    p.add_argument("--clean", dest="clean_first", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("topo", metavar="TOPO", nargs="?")
    p.add_argument("params", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def _float(opts, name, default, lo, hi):
    if name not in opts:
        return default
    try:
        x = float(opts[name])
    except ValueError:
        raise ParameterError(f"--{name} must be a number, got {opts[name]!r}") from None
    if not lo <= x <= hi:
        raise ParameterError(f"--{name} must be in [{lo:g}, {hi:g}], got {x:g}")
    return x


def parse(args):
    tokens = ([args.topo] if args.topo and args.topo.startswith("--") else []) + args.params
    from ..failures import FAIL_OPTIONS  # networkx loads only when a command needs it

    topo = None if not args.topo or args.topo.startswith("--") else args.topo
    flags, opts, rest = split_options(tokens, _FLAGS, _OPTIONS, repeatable=FAIL_OPTIONS)
    if getattr(args, "clean_first", False):
        flags.add("clean")
    for bad in ("delay", "loss"):
        at = [i for i, t in enumerate(rest) if t == f"--{bad}" or t.startswith(f"--{bad}=")]
        if at:
            given = " ".join(rest[at[0]:at[0] + (1 if "=" in rest[at[0]] else 2)])
            raise ParameterError(f"{given}: the emulator cannot add {bad} (this kernel has "
                                 f"no netem) and will not drop the request; links carry "
                                 f"their bandwidth only")
    if "clean" in flags:
        if topo or rest or opts or flags - {"clean"}:
            raise ParameterError("--clean takes nothing else")
        return None, flags, opts, rest
    if topo is None:
        raise ParameterError("emulate needs TOPO (a graph file, generator or preset) or --clean")
    routing = opts.get("routing", "hash")
    if routing not in ("hash", "dmodk"):
        raise ParameterError(f"--routing must be hash or dmodk, got {routing!r}"
                             + ("; packet spraying has no Linux forwarding equivalent"
                                if routing == "spray" else ""))
    offload = opts.get("offload", "auto")
    if offload not in ("on", "off", "auto"):
        raise ParameterError(f"--offload must be on, off or auto, got {offload!r}")
    _float(opts, "scale", 1e-3, 1e-9, 1.0)
    _float(opts, "duration", 10.0, 1.0, 3600.0)
    _float(opts, "warmup", 2.0, 0.0, 3600.0)
    if "queue" in opts and not opts["queue"].isdigit():
        raise ParameterError(f"--queue must be a whole number of bytes, got {opts['queue']!r}")
    if "seed" in opts and not opts["seed"].isdigit():
        raise ParameterError(f"--seed must be an integer >= 0, got {opts['seed']!r}")
    if "fail-at" in opts:
        _float(opts, "fail-at", 1.0, 1.0, 3600.0)
        if not opts.get("fail-link"):
            raise ParameterError("--fail-at SEC takes the --fail-link links down mid-run; "
                                 "give at least one --fail-link U--V")
    if "pcap" in opts:
        d = os.path.dirname(os.path.abspath(opts["pcap"]))
        if not os.path.isdir(d):
            raise ParameterError(f"--pcap {opts['pcap']}: directory {d!r} does not exist")
    return topo, flags, opts, rest


def run(args):
    topo, flags, opts, rest = parse(args)
    if "clean" in flags:
        return clean()
    from ..backends import unavailable
    from ..backends.sandbox import in_sandbox, sandbox_command
    if not in_sandbox():
        # Validate everything that needs no root (arguments, graph, failures, the CPU
        # estimate) first: bad input gets its own message on any machine.
        _prepare(topo, flags, opts, rest)
    why = unavailable()
    if why:
        raise EmulationError(f"cannot emulate here: {why}")
    if not in_sandbox():
        argv = [sys.executable, "-m", "netemu", "emulate", topo] + args.params
        env = dict(os.environ)
        pypath = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = pypath + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen(sandbox_command(argv), env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the whole group; let the inner run tear down.
            try:
                return proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                return 130
    return _emulate(topo, flags, opts, rest)


def _prepare(topo, flags, opts, rest):
    """Graph to build, traffic to run, pairs the failures cut, scale, offload; every check
    that needs no root runs here, before a sandbox is made."""
    from ..backends.mininet import build_spec, check_can_emulate, emulated_graph, \
        split_disconnected
    from ..failures import apply_cli_failures
    G = load_topology(topo, rest)
    seed = int(opts.get("seed", 0))
    # Traffic is made on the intact fabric, so that pairs the failures cut apart are named
    # rather than silently left out of the pattern.
    traffic = make_traffic(G, opts.get("traffic", "permutation"), seed)
    later = []
    if "fail-at" in opts:
        # Check every failure on the full request, then build with the links still up.
        from ..failures import cli_failures, fail
        from ..graph import is_switch
        fail(G, seed=seed, **cli_failures(opts))
        later = cli_failures({"fail-link": opts["fail-link"]})["links"]
        for u, v in later:
            if not (is_switch(G, u) and is_switch(G, v)):
                raise ParameterError(f"--fail-at: {u}--{v} is a host link; only "
                                     f"switch-to-switch links can go down mid-run")
        opts = {k: v for k, v in opts.items() if k != "fail-link"}
    H = apply_cli_failures(G, opts, seed=seed)
    disconnected = []
    if H is not G:
        traffic, disconnected = split_disconnected(H, traffic)
        if traffic is None:
            raise EmulationError(f"the failures cut every one of the {len(disconnected)} "
                                 f"pairs apart (first {disconnected[0][0]} -> "
                                 f"{disconnected[0][1]}); nothing to emulate")
        H = emulated_graph(H)
    scale = _float(opts, "scale", 1e-3, 1e-9, 1.0)
    offload = {"on": True, "off": False, "auto": None}[opts.get("offload", "auto")]
    spec = build_spec(H, scale, opts.get("routing", "hash"),
                      queue=int(opts["queue"]) if "queue" in opts else None, offload=offload)
    if "force" not in flags:
        check_can_emulate(H, traffic, scale, spec["offload"])
    return H, traffic, disconnected, scale, offload, later


def _emulate(topo, flags, opts, rest):
    from ..backends.mininet import Emulation
    os.environ[RUN_MARK] = str(os.getpid())     # inherited by every process of the run
    G, traffic, disconnected, scale, offload, later = _prepare(topo, flags, opts, rest)
    run_traffic = "cli" not in flags or "traffic" in opts
    with Emulation(G, scale, opts.get("routing", "hash"),
                   queue=int(opts["queue"]) if "queue" in opts else None,
                   offload=offload) as em:
        result = None
        if run_traffic:
            args = dict(duration=_float(opts, "duration", 10.0, 1.0, 3600.0),
                        warmup=_float(opts, "warmup", 2.0, 0.0, 3600.0),
                        force="force" in flags, count_acks="acks" in flags)
            before = None
            if later:
                before = em.run(traffic, **dict(args, duration=_float(opts, "fail-at", 1.0,
                                                                      1.0, 3600.0)))
                traffic, disconnected = _take_down(em, traffic, disconnected, later)
            failures = em.current.graph.get("failures") if not later else \
                _record(em.current, later)
            if "pcap" in opts:
                src = traffic.pairs(1)[0][0]
                with em.capture(src, os.path.abspath(opts["pcap"])):
                    result = em.run(traffic, **args)
            else:
                result = em.run(traffic, **args)
            name = G.graph.get("preset") or G.graph.get("name") or topo
            if "json" in flags:
                out = {"topology": name, **result.to_json(), "timings_s": em.timings}
                if before is not None:
                    out["fail_at_s"] = before.duration
                    b = before.to_json()
                    out["before"] = {"flows": b["flows"], "aggregate": b["aggregate"],
                                     "traffic": b["traffic"]}
                if failures:
                    out["failures"] = failures
                    out["disconnected"] = [{"src": str(a), "dst": str(b)}
                                           for a, b in disconnected]
                print(json.dumps(out, indent=2), flush=True)
            else:
                if before is not None:
                    print(f"before the links went down ({before.duration:g} s measured):",
                          flush=True)
                    print(format_table(before, name), flush=True)
                    print(f"\nafter {', '.join(f'{u}--{v}' for u, v in later)} went down:",
                          flush=True)
                print(format_table(result, name, failures=failures,
                                   disconnected=disconnected), flush=True)
        if "cli" in flags:
            print(host_map(em), flush=True)
            em.cli()
    return 0


def _take_down(em, traffic, disconnected, links):
    """Take ``links`` down in the running emulation; the traffic the degraded fabric can
    still carry, and every pair cut so far."""
    from ..backends.mininet import split_disconnected
    for u, v in links:
        em.set_link(u, v, up=False)
    runnable, cut = split_disconnected(em.current, traffic)
    if runnable is None:
        raise EmulationError(f"taking {', '.join(f'{u}--{v}' for u, v in links)} down cut "
                             f"every pair apart; nothing to measure after it")
    return runnable, list(disconnected) + cut


def _record(H, links):
    """The failure record of the graph in force, with the links taken down mid-run."""
    rec = dict(H.graph.get("failures") or {})
    rec["failed_links"] = list(rec.get("failed_links", [])) + [f"{u}--{v}" for u, v in links]
    return rec


def host_map(em):
    lines = ["netemu node -> Mininet node (address)"]
    hosts, routers, _ = em.spec["layout"]
    for h in hosts:
        lines.append(f"  {h} -> {em.spec['mn'][h]} ({em.spec['ip'][h]})")
    for r in routers:
        lines.append(f"  {r} -> {em.spec['mn'][r]}")
    return "\n".join(lines)


def format_table(result, name, limit=40, failures=None, disconnected=()):
    j = result.to_json()
    a = j["aggregate"]
    lines = [f"topology     {name}",
             f"traffic      {j['traffic']}, routing {j['routing']}, scale {j['scale']:g}, "
             f"offload {'on' if j['offload'] else 'off'}, {j['duration_s']:g} s"
             + (", ACKs counted in the prediction" if j["acks_counted"] else ""),
             f"aggregate    measured {a['measured_bps'] / 1e9:,.2f} Gb/s, predicted "
             f"{a['predicted_bps'] / 1e9:,.2f} Gb/s, error {100 * a['error']:+.1f}%",
             f"per flow     mean |error| {100 * a['mean_abs_flow_error']:.1f}%",
             f"load average {j['load_average'][0]:.1f} -> {j['load_average'][1]:.1f}"]
    flows = j["flows"]
    w = max(len(f"{f['src']} -> {f['dst']}") for f in flows[:limit])
    for f in flows[:limit]:
        lines.append(f"  {f['src'] + ' -> ' + f['dst']:<{w}}  {f['measured_bps'] / 1e9:8.2f}  "
                     f"{f['predicted_bps'] / 1e9:8.2f} Gb/s")
    if len(flows) > limit:
        lines.append(f"  ... and {len(flows) - limit} more flows")
    if failures:
        lines.extend(failure_lines(failures, disconnected, limit))
    return "\n".join(lines)


def failure_lines(failures, disconnected, limit=40):
    """What failed, and every pair it cut apart, by name."""
    what = [f"{len(failures.get('failed_links', []))} link(s)"]
    if failures.get("switches"):
        what.append(f"switches {', '.join(failures['switches'])}")
    if failures.get("planes"):
        what.append(f"planes {', '.join(map(str, failures['planes']))}")
    links = failures.get("failed_links", [])
    lines = [f"failed       {'; '.join(what)}"
             + (f": {', '.join(links[:8])}{' ...' if len(links) > 8 else ''}" if links else "")]
    if disconnected:
        lines.append(f"disconnected {len(disconnected)} pair(s), not run (no rate; not "
                     f"counted above):")
        shown = [f"{a} -> {b}" for a, b in disconnected[:limit]]
        lines.extend(f"  {x}" for x in shown)
        if len(disconnected) > limit:
            lines.append(f"  ... and {len(disconnected) - limit} more pairs")
    return lines


def clean():
    """Kill processes marked with :data:`RUN_MARK` whose run is gone; report what was done.

    A run in the default sandbox leaves nothing; this is for a run whose
    sandbox was bypassed or broke.  Matching by our own mark, never by a
    process name, leaves other users' Mininet alone; a mark is only stale when
    no ``netemu emulate`` process with the marked id lives in the marked
    process's PID namespace.
    """
    if os.geteuid() != 0:
        raise EmulationError("--clean needs root")
    procs = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        info = _proc_info(int(d))
        if info is not None:
            procs[int(d)] = info
    alive = {(ns, nspid) for ns, nspid, cmd, _mark in procs.values()
             if b"netemu" in cmd and b"emulate" in cmd}
    killed = []
    for pid, (ns, _nspid, _cmd, mark) in procs.items():
        if mark is None or pid == os.getpid() or (ns, mark) in alive:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    print(f"netemu emulate --clean: killed {len(killed)} leftover process(es)"
          + (f": {' '.join(map(str, killed))}" if killed else ""))
    return 0


def _proc_info(pid):
    """(pid namespace, innermost pid, cmdline, run mark or None) of a process, or None."""
    try:
        ns = os.readlink(f"/proc/{pid}/ns/pid")
        with open(f"/proc/{pid}/status") as f:
            nspid = next((int(line.split()[-1]) for line in f if line.startswith("NSpid:")), pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except (OSError, ValueError):
        return None
    key = RUN_MARK.encode() + b"="
    mark = next((int(e[len(key):]) for e in env if e.startswith(key) and e[len(key):].isdigit()),
                None)
    return ns, nspid, cmd, mark
