"""``netemu solve TOPO [--param VALUE ...] --traffic PATTERN --routing MODE``: rates on a fabric.

TOPO is a saved graph (``.graphml`` / ``.json``), a generator name followed by
its parameters (``two-layer-fat-tree --radix 8``) or a preset (``isca-ft2``);
``netemu topo list`` shows every generator, its parameters, and every preset.
Bandwidth parameters take ``400G`` = ``400Gb/s`` = ``400Gbps`` (bits) or ``50GB/s`` =
``50GBps``, ``50GiB/s`` (bytes); a bare number is bytes/s.

Options (anywhere after TOPO):

--traffic all-to-all | permutation | incast:DST | shift:K | FILE.csv   (default all-to-all)
--routing spray | hash | dmodk | adaptive                             (default spray)
--seed N            seed of the permutation and of hashed ECMP (default 0)
--size SIZE         bytes per generated flow (``64MiB``, ``1GB``, ``1e9``; ``4G`` = 4 GiB);
                    gives completion times
--no-pxn            keep flows on their source's own NIC (no forwarding inside servers)
--top N             saturated links to list (default 10)
--json              machine-readable output
--heatmap FILE.png  per-link utilisation as a matrix
--fail-link U--V    fail a link (repeatable, or a comma list)
--fail-switch NAME  fail a switch and its links (repeatable, or a comma list)
--fail-plane K      fail every switch of plane K (repeatable, or a comma list)
--fail-fraction F   fail ceil(F x n) of the n switch-to-switch links, chosen by --seed
                    With any --fail-*, pairs the failures cut apart are listed by name
                    (rate NaN, left out of the solve) instead of being an error.
"""

import argparse
import json
from pathlib import Path

from . import add_params
from .settings import Settings
from ..errors import ParameterError, TrafficError

#: Beyond this many flows, --json gives the summary without the per-flow list.
JSON_FLOW_LIMIT = 10_000

_FLAGS = ("json", "no-pxn")
_OPTIONS = ("traffic", "routing", "seed", "size", "heatmap", "top")


def register(sub):
    p = sub.add_parser("solve", help="route a traffic pattern and compute max-min fair rates",
                       description=__doc__.splitlines()[0],
                       usage="netemu solve TOPO [--param VALUE ...] [--traffic PATTERN] "
                             "[--routing spray|hash|dmodk|adaptive] [--seed N] [--size SIZE] [--json] "
                             "[--heatmap FILE.png] [--fail-link U--V] [--fail-switch NAME] "
                             "[--fail-plane K] [--fail-fraction F]",
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topo", metavar="TOPO")
    add_params(p)
    p.set_defaults(func=run)


def split_options(tokens, flag_names=_FLAGS, option_names=_OPTIONS, repeatable=()):
    """A command's own flags and options out of the tokens after TOPO; the rest are
    generator parameters.  Shared by every command that takes a TOPO.

    Options in ``repeatable`` (such as :data:`netemu.failures.FAIL_OPTIONS`) may
    be given several times; their value is the list of all given values.
    """
    flags, options, rest = set(), {}, []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        name = tok[2:].split("=", 1)[0] if tok.startswith("--") else None
        if name in flag_names:
            if "=" in tok:
                raise ParameterError(f"--{name} takes no value")
            flags.add(name)
            i += 1
        elif name in option_names or name in repeatable:
            if name in options and name not in repeatable:
                raise ParameterError(f"--{name} given twice")
            if "=" in tok:
                value = tok.split("=", 1)[1]
                i += 1
            elif i + 1 < len(tokens):
                value = tokens[i + 1]
                i += 2
            else:
                raise ParameterError(f"--{name} needs a value")
            if name in repeatable:
                options.setdefault(name, []).append(value)
            else:
                options[name] = value
        else:
            rest.append(tok)
            i += 1
    return flags, options, rest


def load_topology(topo, tokens):
    """A graph from a file, or from a generator or preset via :mod:`topologies`."""
    from ..io import FORMATS, load

    if Path(topo).suffix.lower() in FORMATS:
        if tokens:
            raise ParameterError(f"a graph file takes no parameters, got {' '.join(tokens)}")
        return load(topo)
    try:
        from netemu.cli.topo_args import build_from_cli, parse_params
    except ImportError as exc:
        raise ParameterError(f"cannot build {topo!r}: generators are unavailable ({exc}); "
                             f"give a graph file (.graphml, .json)") from None
    return build_from_cli(topo, parse_params(tokens))


#: The generated patterns ``--traffic`` takes, as its help and errors spell them.
TRAFFIC_KINDS = ("all-to-all", "permutation", "incast:DST", "shift:K")
#: Their leading words, for "did you mean".
TRAFFIC_WORDS = ("all-to-all", "permutation", "incast", "shift")


def make_traffic(G, spec, seed=0, size=None):
    """Traffic from a ``--traffic`` spec."""
    from .. import traffic as T

    spec = spec.strip()
    if spec.lower().endswith(".csv"):
        if size is not None:
            raise ParameterError("--size applies to generated patterns; a CSV file gives bytes "
                                 "per flow")
        return T.from_csv(spec, G)
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind in ("all-to-all", "alltoall", "all2all") and not arg:
        return T.all_to_all(G, size=size)
    if kind == "permutation" and not arg:
        return T.permutation(G, seed, size=size)
    if kind == "incast" and arg:
        return T.incast(G, arg, size=size)
    if kind == "shift" and arg:
        try:
            k = int(arg)
        except ValueError:
            raise TrafficError(f"shift:K needs an integer K, got {arg!r}") from None
        return T.shift(G, k, size=size)
    from .names import did_you_mean
    raise TrafficError(f"unknown traffic {spec!r}; allowed: {', '.join(TRAFFIC_KINDS)}, "
                       f"FILE.csv{did_you_mean(kind, TRAFFIC_WORDS)}")


def run(args):
    from ..units import parse_size

    from ..failures import FAIL_OPTIONS, apply_cli_failures
    from .names import check_routing

    flags, opts, rest = split_options(args.params, repeatable=FAIL_OPTIONS)
    routing = check_routing(opts.get("routing", DEFAULT_ROUTING))
    seed = _int_option(opts, "seed", 0, minimum=0)
    top = _int_option(opts, "top", 10, minimum=0)
    size = parse_size(opts["size"], "--size") if "size" in opts else None
    heatmap = opts.get("heatmap")
    if heatmap is not None:
        _check_out(heatmap)
    G = load_topology(args.topo, rest)
    # Traffic is made on the intact fabric so that pairs the failures cut apart
    # are reported, not quietly missing from the pattern.
    traffic = make_traffic(G, opts.get("traffic", DEFAULT_TRAFFIC), seed, size)
    H = apply_cli_failures(G, opts, seed=seed)
    report = "report" if H is not G or H.graph.get("failures") else "raise"
    from ..progress import working
    from ..solution import solve  # numba and scipy load once the arguments are known good

    with working(f"solving {traffic.n_flows:,} flows"):
        sol = solve(H, traffic, routing, seed=seed, pxn="no-pxn" not in flags, disconnected=report)
    G = H
    if heatmap is not None:
        write_heatmap(sol, heatmap)
    from .topo_args import display_name
    name = display_name(G, args.topo)
    shown = (Settings(set(opts) | flags)
             .add("traffic", sol.traffic.name, DEFAULT_TRAFFIC)
             .add("routing", routing, DEFAULT_ROUTING)
             .add("pxn", "no-pxn" not in flags, True, "PXN", given="no-pxn" in flags)
             .add("seed", seed, 0))
    if "json" in flags:
        print(json.dumps(to_json(sol, name, top, shown), indent=2))
    else:
        print(format_table(sol, name, top, shown))
    return 0


#: What ``solve`` runs when not told: every pair, sprayed over equal-cost paths.
DEFAULT_TRAFFIC, DEFAULT_ROUTING = "all-to-all", "spray"


def _int_option(opts, name, default, minimum):
    if name not in opts:
        return default
    try:
        value = int(opts[name])
    except ValueError:
        raise ParameterError(f"--{name} must be an integer, got {opts[name]!r}") from None
    if value < minimum:
        raise ParameterError(f"--{name} must be >= {minimum}, got {value}")
    return value


def _check_out(path):
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ParameterError(f"--heatmap {path}: the file name must end in .png")
    directory = p.parent if str(p.parent) else Path(".")
    if not directory.is_dir():
        raise ParameterError(f"--heatmap {path}: directory {str(directory)!r} does not exist")


def _gbps(x):
    return x * 8 / 1e9


def to_json(sol, name, top=10, settings=None):
    s = sol.summary()
    out = {
        "topology": name,
        "traffic": sol.traffic.name,
        "routing": sol.routes.mode,
        **(settings.json() if settings is not None else {}),
        "n_flows": s["flows"],
        "aggregate_bps": s["aggregate"] * 8,           # bits/s, as the key says
        "aggregate_bytes_per_s": s["aggregate"],
        "rate_bytes_per_s": {"min": s["rate_min"], "median": s["rate_median"],
                             "max": s["rate_max"]},
        "saturated": s["saturated"],
        "bottlenecks": [{"resource": sol.resources.name(r),
                         "utilisation": float(sol.utilisation[r]),
                         "load_bytes_per_s": float(sol.load[r])}
                        for r in sol.bottlenecks[:top].tolist()],
    }
    if sol.makespan is not None:
        out["makespan_s"] = sol.makespan
    failures = (sol.graph.graph.get("failures") if sol.graph is not None else None)
    if failures:
        out["failures"] = failures
        # Disconnected pairs have no rate (NaN in the library, absent here), never 0.
        out["disconnected"] = [{"src": str(a), "dst": str(b)}
                               for a, b in getattr(sol, "disconnected", [])]
    if sol.n_flows <= JSON_FLOW_LIMIT:
        out["flows"] = [{"src": f["src"], "dst": f["dst"], "rate_bytes_per_s": f["rate"],
                         **({"bytes": f["bytes"]} if "bytes" in f else {}),
                         **({"completion_s": f["completion"]} if "completion" in f else {})}
                        for f in sol.flow_table()]
    else:
        out["flows"] = None
        out["flows_omitted"] = (f"{sol.n_flows} flows exceed the per-flow listing limit of "
                                f"{JSON_FLOW_LIMIT}; summary only")
    return out


def format_table(sol, name, top=10, settings=None):
    s = sol.summary()
    lines = [
        f"topology     {name}",
        (f"settings     {settings.text()}" if settings is not None else
         f"traffic      {sol.traffic.name}, routing {sol.routes.mode}"),
        f"flows        {s['flows']:,}",
        f"aggregate    {_gbps(s['aggregate']):,.2f} Gb/s",
        f"flow rate    min {_gbps(s['rate_min']):,.3f}  median {_gbps(s['rate_median']):,.3f}  "
        f"max {_gbps(s['rate_max']):,.3f} Gb/s",
    ]
    if sol.makespan is not None:
        lines.append(f"makespan     {sol.makespan:.6g} s")
    lines.append(f"saturated    {s['saturated']:,} resources")
    if top and sol.bottlenecks.size:
        ids = sol.bottlenecks[:top].tolist()
        names = [sol.resources.name(r) for r in ids]
        width = max(map(len, names))
        for r, n in zip(ids, names):
            lines.append(f"  {n:<{width}}  {100 * sol.utilisation[r]:6.1f}%  "
                         f"{_gbps(sol.load[r]):,.2f} Gb/s")
        if sol.bottlenecks.size > top:
            lines.append(f"  ... and {sol.bottlenecks.size - top:,} more")
    lines.extend(_failure_lines(sol))
    return "\n".join(lines)


#: Disconnected pairs printed by name in the table (all of them go to --json).
DISCONNECTED_SHOWN = 20


def _failure_lines(sol):
    rec = sol.graph.graph.get("failures") if sol.graph is not None else None
    if not rec:
        return []
    what = [f"{len(rec.get('failed_links', []))} link(s)"]
    if rec.get("switches"):
        what.append(f"switches {', '.join(rec['switches'])}")
    if rec.get("planes"):
        what.append(f"plane(s) {', '.join(map(str, rec['planes']))}")
    lines = [f"failed       {'; '.join(what)}"]
    if rec.get("lost_endpoints"):
        lines.append(f"cut off      {', '.join(rec['lost_endpoints'][:DISCONNECTED_SHOWN])}"
                     + (" ..." if len(rec["lost_endpoints"]) > DISCONNECTED_SHOWN else ""))
    pairs = getattr(sol, "disconnected", [])
    lines.append(f"disconnected {len(pairs):,} flow(s), no rate (not counted in the figures above)")
    for a, b in pairs[:DISCONNECTED_SHOWN]:
        lines.append(f"  {a} -> {b}")
    if len(pairs) > DISCONNECTED_SHOWN:
        lines.append(f"  ... and {len(pairs) - DISCONNECTED_SHOWN:,} more (all in --json)")
    return lines


#: Largest matrix drawn with every node named on the axes.
_LABELLED = 64
#: Above this many nodes only switch-to-switch links are drawn.
_ALL_NODES = 256


def write_heatmap(sol, path):
    """Per-link utilisation as a (from node x to node) matrix, PNG, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    res = sol.resources
    E = res.n_edge_resources
    tail, head = res.edge_tail[:E], res.edge_head[:E]
    util = sol.utilisation[:E]
    title = "link utilisation"
    nodes_used = np.unique(np.concatenate([tail, head]))
    if nodes_used.size > _ALL_NODES:
        from ..graph import SWITCH_ROLES
        is_sw = np.array([sol.graph.nodes[n].get("role") in SWITCH_ROLES for n in res.nodes])
        keep = is_sw[tail] & is_sw[head]
        if keep.any():
            tail, head, util = tail[keep], head[keep], util[keep]
            title = "switch-to-switch link utilisation"
        nodes_used = np.unique(np.concatenate([tail, head]))
    from ..routing import natural_key
    order = sorted(nodes_used.tolist(), key=lambda i: natural_key(res.nodes[i]))
    pos = {n: k for k, n in enumerate(order)}
    M = np.full((len(order), len(order)), np.nan)
    M[[pos[t] for t in tail.tolist()], [pos[h] for h in head.tolist()]] = util
    size = min(12.0, 3 + 0.15 * len(order))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    try:
        im = ax.imshow(np.ma.masked_invalid(M), cmap="viridis", vmin=0,
                       vmax=max(1.0, float(np.nanmax(M)) if M.size else 1.0),
                       interpolation="nearest")
        fig.colorbar(im, ax=ax, label="utilisation (load / capacity)")
        ax.set_xlabel("to node")
        ax.set_ylabel("from node")
        ax.set_title(f"{title}: {sol.traffic.name}, {sol.routes.mode}")
        if len(order) <= _LABELLED:
            labels = [str(res.nodes[i]) for i in order]
            ax.set_xticks(range(len(order)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(order)), labels, fontsize=6)
        fig.tight_layout()
        _save_atomic(fig, path)
    finally:
        plt.close(fig)


def _save_atomic(fig, path):
    from ..plot import save_figure
    save_figure(fig, path)