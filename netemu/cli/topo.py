"""``netemu topo list | info | build | draw``: generate, inspect, save and draw topologies.

TOPO is a generator name with dashes followed by its parameters
(``two-layer-fat-tree --radix 64``), a preset (``isca-mpft``), or a saved graph
file (``.graphml`` / ``.json``).
"""

import argparse
import json
import math
from pathlib import Path

from . import add_params
from ..errors import ParameterError


def register(sub):
    p = sub.add_parser("topo", help="generate, inspect, save and draw topologies",
                       description=__doc__.splitlines()[0])
    tsub = p.add_subparsers(dest="topo_command", metavar="ACTION", parser_class=type(p))
    tsub.required = True

    ls = tsub.add_parser("list", help="generators (with parameters) and presets")
    ls.set_defaults(func=_list)

    for name, helptext in (("info", "counts, bisection, diameter and cost"),
                           ("build", "write the graph to a .graphml or .json file"),
                           ("draw", "draw the graph as layers into a PNG")):
        q = tsub.add_parser(name, help=helptext, description=helptext,
                            usage=f"netemu topo {name} TOPO [--param VALUE ...]"
                                  + (" [--json]" if name == "info" else " --out FILE"),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        q.fill_epilog = _topo_help
        q.add_argument("topo", metavar="TOPO",
                       help="a generator and its parameters, a preset, or a graph file "
                            "(.graphml, .json)")
        add_params(q)
        q.set_defaults(func=_ACTIONS[name])


def _topo_help():
    """The names TOPO takes, for ``netemu topo info --help`` and its siblings."""
    import textwrap

    from netemu.topologies import GENERATORS
    from netemu.topologies.presets import PRESETS

    from .names import dashed
    from .topo_args import BANDWIDTH_HELP
    wrap = textwrap.TextWrapper(width=88, initial_indent="  ", subsequent_indent="  ",
                                break_on_hyphens=False)
    return "\n".join([
        "generators (`netemu topo list` shows their parameters):",
        wrap.fill(", ".join(sorted(dashed(g) for g in GENERATORS))),
        "presets:",
        wrap.fill(", ".join(PRESETS)),
        "options after TOPO:",
        "  --json      (info) the figures as JSON",
        "  --out FILE  (build: .graphml or .json; draw: .png)",
        BANDWIDTH_HELP,
    ])


def resolve_topo(topo, tokens, extra_flags=(), extra_options=()):
    """Build TOPO from the command line; return (graph, flags set, options given)."""
    from ..progress import working
    from .solve import load_topology, split_options

    flags, options, rest = split_options(tokens, extra_flags, extra_options)
    verb = "reading" if Path(topo).suffix.lower() in (".graphml", ".json") else "building"
    with working(f"{verb} {topo}"):
        G = load_topology(topo, rest)
    return G, flags, options


def _list(args):
    from netemu.cli.topo_args import generators, signature_text
    from netemu.topologies.presets import PRESETS

    print("generators:")
    for name, fn in sorted(generators().items()):
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        print(f"  {name}  {doc}")
        print(f"      {signature_text(fn)}")
    print("presets:")
    width = max(map(len, PRESETS))
    for name, (_, desc) in PRESETS.items():
        print(f"  {name:<{width}}  {desc}")
    return 0


def _info(args):
    from netemu.topologies.summary import summary

    from .topo_args import display_name

    from ..progress import working

    G, flags, _ = resolve_topo(args.topo, args.params, extra_flags=("json",))
    with working(f"measuring {G.number_of_nodes():,} nodes, {G.number_of_edges():,} links"):
        s = summary(G)
    if "json" in flags:
        # JSON has no NaN: a figure that does not apply (cost per endpoint of a graph
        # without endpoints) is null.
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in s.items()}
        print(json.dumps({"name": display_name(G, args.topo), **out}, indent=2,
                         default=float, allow_nan=False))
        return 0
    print(f"{display_name(G, args.topo)}  "
          f"({G.number_of_nodes()} nodes, {G.number_of_edges()} edges)")
    for key, value in s.items():
        print(f"  {key:<24} {_fmt(key, value)}")
    return 0


def _fmt(key, value):
    if key == "bisection_bandwidth":
        return f"{value * 8 / 1e12:,.2f} Tb/s"
    if key.endswith("_usd"):
        return f"${value:,.0f}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _build(args):
    from ..io import FORMATS, save
    from ..progress import counter, working

    from .topo_args import dash_generator_names

    G, _, opts = resolve_topo(args.topo, args.params, extra_options=("out",))
    out = _need_out(opts, FORMATS)
    dash_generator_names(G)     # the file's attributes say what `netemu topo list` says
    if Path(out).suffix.lower() == ".graphml":  # written element by element: a bar
        save(G, out, progress=counter(f"writing {out}", unit=" elements"))
    else:
        with working(f"writing {out}"):  # JSON is one dump: time spent only
            save(G, out)
    print(f"wrote {out} ({G.number_of_nodes()} nodes, {G.number_of_edges()} edges)")
    return 0


def _draw(args):
    # Checked before the graph is built (which can take a while) and matplotlib loads.
    out = _need_out(_out_option(args.params), (".png",))
    from netemu.graph import switches
    from netemu.plot import draw_layered

    from ..progress import working

    G, _, opts = resolve_topo(args.topo, args.params, extra_options=("out",))
    with working(f"drawing {out}"):
        if not switches(G) and any(r == "gpu" for _, r in G.nodes(data="role")):
            from netemu.topologies.servers import draw_server
            draw_server(G, out)
        else:
            draw_layered(G, out)
    print(f"wrote {out}")
    return 0


def _out_option(tokens):
    """``--out FILE`` (or ``--out=FILE``) from the raw tokens, before anything is built."""
    for i, tok in enumerate(tokens):
        if tok == "--out" and i + 1 < len(tokens):
            return {"out": tokens[i + 1]}
        if tok.startswith("--out="):
            return {"out": tok[len("--out="):]}
    return {}


def _need_out(opts, suffixes):
    out = opts.get("out")
    if not out:
        raise ParameterError(f"--out FILE is required ({', '.join(suffixes)})")
    if Path(out).suffix.lower() not in suffixes:
        raise ParameterError(f"--out {out!r}: allowed file types are {', '.join(suffixes)}")
    return out


_ACTIONS = {"info": _info, "build": _build, "draw": _draw}
