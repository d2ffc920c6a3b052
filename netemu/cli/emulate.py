"""``netemu emulate TOPO [--param VALUE ...] --traffic PATTERN --scale S``: packet-level check.

Builds the fabric in Mininet (Linux routers, HTB-shaped links at bandwidth x
scale), runs the traffic as real TCP flows and prints each flow's goodput
beside the flow model's prediction for the same paths (scaled back to the
graph's units).  Runs as root, inside a throw-away network/PID/mount
namespace that dies with this command, so that even a killed run (kill -9
included) leaves nothing behind.  Ctrl-C, SIGTERM or SIGHUP tear the
emulation down and exit 130, 143 or 129; a second one stops at once.  With
--cli, Ctrl-C belongs to Mininet's prompt (it stops the command running in a
node); leave with exit or Ctrl-D.

TOPO is a generator and its parameters, a preset (``netemu topo list`` shows them) or a
graph file (.graphml, .json).  Options (anywhere after TOPO):

--traffic all-to-all | permutation | incast:DST | shift:K | FILE.csv   (default permutation)
--routing hash | dmodk   kernel ECMP over the 5-tuple, or static D-mod-k (default hash)
--scale S                emulated rate / real rate (default 1e-3: 400 Gb/s -> 400 Mb/s)
--duration SEC           measured seconds (default 10), after --warmup SEC (default 2)
--seed N                 seed of the permutation (default 0)
--queue BYTES            FIFO per link direction (``256KiB``, ``1MB``, ``65536``; default
                         max(100 frames, 10 ms))
--offload on|off|auto    TSO/GSO on the links (auto: on above 50 Mbit/s)
--pcap FILE              capture the first flow's source host link (tcpdump; scapy/Wireshark);
                         the packets tcpdump could not keep up with (its own count of kernel
                         drops) are reported beside the results, never left unsaid
--fail-link U--V         fail a link (repeatable, or a comma list)
--fail-switch NAME       fail a switch and its links (repeatable, or a comma list)
--fail-plane K           fail every switch of plane K (repeatable, or a comma list)
--fail-fraction F        fail ceil(F x n) of the n switch-to-switch links, chosen by --seed
                         The network is built without what failed; routes and the flow
                         model both use the degraded graph, even when it falls apart into
                         islands (e.g. a leaf cut off with its hosts: pairs inside an island
                         still run).  Pairs the failures cut apart are listed by name, as
                         solve lists them, and not run (no rate, not a zero).
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
--clean                  kill what a run left: sandboxes whose netemu emulate is gone, and
                         processes of an unsandboxed run (only processes marked as ours)
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from . import add_params
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
    add_params(p)
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


def _queue(opts):
    """``--queue`` in bytes, or None for the default."""
    if "queue" not in opts:
        return None
    from ..units import parse_size
    return parse_size(opts["queue"], "--queue")


#: What a run uses when not told (the help above says the same).
DEFAULTS = {"traffic": "permutation", "routing": "hash", "scale": 1e-3, "duration": 10.0,
            "warmup": 2.0, "offload": "auto", "seed": 0}


def settings(opts, flags):
    """The run's settings, each marked when left at its default (:class:`Settings`)."""
    from .settings import Settings
    s = Settings(set(opts) | set(flags))
    s.add("traffic", opts.get("traffic", DEFAULTS["traffic"]), DEFAULTS["traffic"])
    s.add("routing", opts.get("routing", DEFAULTS["routing"]), DEFAULTS["routing"])
    for name, unit in (("scale", ""), ("duration", " s"), ("warmup", " s")):
        value = _float(opts, name, DEFAULTS[name], 0.0, float("inf"))
        s.add(name, value, DEFAULTS[name], shown=f"{value:g}{unit}")
    s.add("offload", opts.get("offload", DEFAULTS["offload"]), DEFAULTS["offload"])
    q = _queue(opts)
    s.add("queue", q, None, shown="max(100 frames, 10 ms)" if q is None else f"{q} B")
    s.add("seed", int(opts.get("seed", DEFAULTS["seed"])), DEFAULTS["seed"])
    s.add("acks", "acks" in flags, False, "ACKs")
    return s


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
    routing = opts.get("routing", DEFAULTS["routing"])
    if routing not in ("hash", "dmodk"):
        from .names import did_you_mean
        why = ("; packet spraying has no Linux forwarding equivalent" if routing == "spray"
               else did_you_mean(routing, ("hash", "dmodk")))
        raise ParameterError(f"--routing must be hash or dmodk, got {routing!r}{why}")
    offload = opts.get("offload", "auto")
    if offload not in ("on", "off", "auto"):
        raise ParameterError(f"--offload must be on, off or auto, got {offload!r}")
    _float(opts, "scale", 1e-3, 1e-9, 1.0)
    _float(opts, "duration", 10.0, 1.0, 3600.0)
    _float(opts, "warmup", 2.0, 0.0, 3600.0)
    _queue(opts)
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
    from ..backends.sandbox import in_sandbox
    if in_sandbox():
        return _inner(topo, flags, opts, rest)
    # Validate everything that needs no root (arguments, graph, failures, the CPU
    # estimate) first: bad input gets its own message on any machine.
    _prepare(topo, flags, opts, rest)
    why = unavailable()
    if why:
        raise EmulationError(f"cannot emulate here: {why}")
    return _run_sandboxed(topo, args.params, "cli" in flags)


#: After passing an interrupt on, how long the sandboxed run may take to tear down (s)
#: before it is killed outright (the teardown of a k=4 fat-tree takes about 4 s).
TEARDOWN_GRACE = 60.0


def _run_sandboxed(topo, params, cli):
    """Run this command again inside a sandbox that dies with this process; its status.

    This process stays in charge of signals.  The sandbox starts with SIGINT ignored, so a
    terminal's Ctrl-C never lands in its Python start-up (a traceback); SIGINT, SIGTERM and
    SIGHUP here are passed on to the sandboxed run as one SIGTERM, which tears the
    emulation down; a second signal kills the sandbox at once.  With ``--cli`` SIGINT is
    left to the sandboxed run (Mininet's prompt uses it).  A kill -9 of this process is
    covered by the sandbox's parent-death signal.
    """
    from ..backends import sandbox
    argv = [sys.executable, "-m", "netemu", "emulate", topo] + list(params)
    env = dict(os.environ)
    pypath = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = pypath + os.pathsep + env.get("PYTHONPATH", "")
    got, state = [], {"proc": None, "deadline": None}

    def on_signal(signum, _frame):
        got.append(signum)
        proc = state["proc"]
        if proc is None:
            return                       # acted on once the sandbox exists
        if len(got) > 1 or not sandbox.relay(proc, signal.SIGTERM):
            proc.kill()                  # asked twice, or nothing to ask yet: stop now
        state["deadline"] = time.monotonic() + TEARDOWN_GRACE

    # SIGINT ignored already (a job started in the background by a non-interactive shell)
    # stays ignored.
    sigint_on = signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    watched = [signal.SIGTERM, signal.SIGHUP] + ([signal.SIGINT] if sigint_on and not cli
                                                 else [])
    old = {sig: signal.signal(sig, on_signal) for sig in watched}
    if cli:
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = sandbox.start(argv, env, ignore_sigint=True)
        state["proc"] = proc
        if got:
            proc.kill()                  # interrupted before the run could be told
        while True:
            try:
                rc = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if state["deadline"] is not None and time.monotonic() > state["deadline"]:
                    proc.kill()
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    if got or (cli and rc == 130):
        sig = got[0] if got else signal.SIGINT
        print("netemu: interrupted" if sig == signal.SIGINT else
              f"netemu: terminated by {signal.Signals(sig).name}", file=sys.stderr, flush=True)
        return 128 + sig
    return rc if rc >= 0 else 128 - rc


def _inner(topo, flags, opts, rest):
    """The run inside the sandbox.  Started by :func:`_run_sandboxed` it is silent about
    interrupts (the starter prints the one line) and handles its own SIGINT from here on."""
    from ..backends.mininet import install_interrupt_handlers
    from ..backends.sandbox import TOP_MARK
    started = TOP_MARK in os.environ
    if started:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    install_interrupt_handlers()
    try:
        return _emulate(topo, flags, opts, rest)
    except KeyboardInterrupt:
        if not started:
            raise
        return 130


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
    traffic = make_traffic(G, opts.get("traffic", DEFAULTS["traffic"]), seed)
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
                      queue=_queue(opts), offload=offload)
    if "force" not in flags:
        check_can_emulate(H, traffic, scale, spec["offload"])
    return H, traffic, disconnected, scale, offload, later


def _emulate(topo, flags, opts, rest):
    from ..backends.mininet import Emulation
    os.environ[RUN_MARK] = str(os.getpid())     # inherited by every process of the run
    G, traffic, disconnected, scale, offload, later = _prepare(topo, flags, opts, rest)
    run_traffic = "cli" not in flags or "traffic" in opts
    with Emulation(G, scale, opts.get("routing", "hash"),
                   queue=_queue(opts),
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
            # Emulation.set_link records the links it took down in the graph in force.
            failures = em.current.graph.get("failures")
            cap = None
            if "pcap" in opts:
                src = traffic.pairs(1)[0][0]
                with em.capture(src, os.path.abspath(opts["pcap"])) as cap:
                    result = em.run(traffic, **args)
                if cap.dropped != 0:
                    # Also on stderr, so that a --json reader cannot miss an incomplete file.
                    print(f"netemu: warning: capture {cap.summary()}", file=sys.stderr,
                          flush=True)
            else:
                result = em.run(traffic, **args)
            from .topo_args import display_name
            name = display_name(G, topo)
            shown = settings(opts, flags)
            if "json" in flags:
                out = {"topology": name, **result.to_json(), **shown.json(),
                       "timings_s": em.timings}
                if before is not None:
                    out["fail_at_s"] = before.duration
                    b = before.to_json()
                    out["before"] = {"flows": b["flows"], "aggregate": b["aggregate"],
                                     "traffic": b["traffic"]}
                if failures:
                    out["failures"] = failures
                    out["disconnected"] = [{"src": str(a), "dst": str(b)}
                                           for a, b in disconnected]
                if cap is not None:
                    out["capture"] = cap.to_json()
                print(json.dumps(out, indent=2), flush=True)
            else:
                if before is not None:
                    print(f"before the links went down ({before.duration:g} s measured):",
                          flush=True)
                    print(format_table(before, name), flush=True)
                    print(f"\nafter {', '.join(f'{u}--{v}' for u, v in later)} went down:",
                          flush=True)
                print(format_table(result, name, failures=failures,
                                   disconnected=disconnected, settings=shown), flush=True)
                if cap is not None:
                    print(f"capture      {cap.summary()}", flush=True)
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


def host_map(em):
    lines = ["netemu node -> Mininet node (address)"]
    hosts, routers, _ = em.spec["layout"]
    for h in hosts:
        lines.append(f"  {h} -> {em.spec['mn'][h]} ({em.spec['ip'][h]})")
    for r in routers:
        lines.append(f"  {r} -> {em.spec['mn'][r]}")
    return "\n".join(lines)


def format_table(result, name, limit=40, failures=None, disconnected=(), settings=None):
    j = result.to_json()
    a = j["aggregate"]
    lines = [f"topology     {name}",
             *([f"settings     {settings.text()}"] if settings is not None else []),
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
        lines.extend(failure_lines(failures, disconnected))
    return "\n".join(lines)


def failure_lines(failures, disconnected, limit=None):
    """What failed, and every pair it cut apart, by name: the lines ``netemu solve`` prints
    for the same failures (its wording and its cut-off of the list)."""
    from .solve import DISCONNECTED_SHOWN
    limit = DISCONNECTED_SHOWN if limit is None else limit
    what = [f"{len(failures.get('failed_links', []))} link(s)"]
    if failures.get("switches"):
        what.append(f"switches {', '.join(failures['switches'])}")
    if failures.get("planes"):
        what.append(f"plane(s) {', '.join(map(str, failures['planes']))}")
    lines = [f"failed       {'; '.join(what)}"]
    lost = failures.get("lost_endpoints")
    if lost:
        lines.append(f"cut off      {', '.join(lost[:limit])}" + (" ..." if len(lost) > limit
                                                                  else ""))
    lines.append(f"disconnected {len(disconnected):,} flow(s), no rate (not counted in the "
                 f"figures above)")
    lines.extend(f"  {a} -> {b}" for a, b in disconnected[:limit])
    if len(disconnected) > limit:
        lines.append(f"  ... and {len(disconnected) - limit:,} more (all in --json)")
    return lines


#: How long --clean waits for the processes it killed to be gone (s).
CLEAN_WAIT = 10.0


def clean():
    """Kill what runs that are gone left behind; report what was done.

    Two kinds of leftovers, both matched by netemu's own environment marks,
    never by a process name, so that other users' Mininet is left alone:

    * a sandbox whose starting ``netemu emulate`` is gone
      (:func:`netemu.backends.sandbox.orphans`; since the sandbox dies with its
      starter this takes a starter from an older netemu, or one killed in the
      instant between starting the sandbox and arming its parent-death signal):
      its root is killed, which takes its whole PID namespace, and every other
      process carrying its mark;
    * processes of an unsandboxed run: marked with :data:`RUN_MARK`, stale when
      no ``netemu emulate`` process with the marked id lives in the marked
      process's PID namespace.
    """
    from ..backends.sandbox import orphans, process_start
    if os.geteuid() != 0:
        raise EmulationError("--clean needs root")
    killed = []
    sandboxes = orphans()
    for pids in sandboxes.values():
        for pid in pids:             # the root first: the rest go with its namespace
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue             # already gone with its sandbox
            killed.append(pid)
    procs = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        info = _proc_info(int(d))
        if info is not None:
            procs[int(d)] = info
    alive = {(ns, nspid) for ns, nspid, cmd, _mark in procs.values()
             if b"netemu" in cmd and b"emulate" in cmd}
    for pid, (ns, _nspid, _cmd, mark) in procs.items():
        if mark is None or pid == os.getpid() or (ns, mark) in alive or pid in killed:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    deadline = time.monotonic() + CLEAN_WAIT
    left = list(killed)
    while left and time.monotonic() < deadline:
        left = [p for p in left if process_start(p) is not None]
        if left:
            time.sleep(0.05)
    print(f"netemu emulate --clean: killed {len(killed)} leftover process(es)"
          + (f": {' '.join(map(str, killed))}" if killed else "")
          + (f" ({len(sandboxes)} orphaned sandbox(es))" if sandboxes else "")
          + (f"; {len(left)} still exiting: {' '.join(map(str, left))}" if left else ""))
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
