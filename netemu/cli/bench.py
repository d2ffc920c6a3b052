"""``netemu bench COLLECTIVE --algo ALGO --cluster PRESET --gpus LIST --size LIST``: nccl-tests on the model.

Times a collective on a cluster with netemu's routing and max-min solver and
prints a table in nccl-tests' words, one block per GPU count.

COLLECTIVE   allreduce | alltoall | allgather | reducescatter | broadcast | moe
--algo       per COLLECTIVE:
               allreduce      ring | tree | hierarchical | hfreduce | hfreduce-nvlink | nccl
               alltoall       direct | pxn | pairwise | nccl
               allgather      ring | nccl
               reducescatter  ring | nccl
               broadcast      ring | nccl
               moe            rdma | deepep
             nccl = what NCCL would run on this cluster (its choice is printed)
--cluster    a preset (fire-flyer-2-cluster, deepseek-v3-cluster, isca-mpft ...), a
             generator, or a graph file; ``netemu topo list`` shows them all.  Their
             parameters follow as ``--NAME VALUE`` (``--fabric mrft``)
--gpus       ``16,32,64`` or ``16:1440`` (doubling from 16, then 1440)
--size       the buffer size, as nccl-tests' -b: ``186MiB``, ``1GB``, ``1e9``, ``4G`` (=
             4GiB), or a range ``128MiB:16GiB`` (doubling); MoE ignores it (tokens x hidden)
--routing    dmodk | hash | spray | adaptive across the fabric (default dmodk, InfiniBand's
             static routing; adaptive = the switches' adaptive routing)
--seed N     seed of hashed ECMP and of MoE token routing (default 0)
--no-pxn     no forwarding across planes/rails inside a server
--tokens --hidden --topk --node-limit --experts --shared    MoE parameters (the output
             shows the values used, defaults marked)
--fail-link U--V  --fail-switch NAME  --fail-plane K  --fail-fraction F
             time the collective on the degraded cluster (as ``netemu solve``); ranks
             the failures cut off are named in an error
--json       rows as JSON objects: gpus, size_bytes, time_s, algbw, busbw (bytes/s)
"""

import argparse
import json

from . import add_params
from .settings import Settings
from .names import check_routing
from .solve import _int_option, load_topology, split_options
from ..errors import ParameterError
from ..units import format_bytes, parse_size

_FLAGS = ("json", "no-pxn")
_OPTIONS = ("algo", "cluster", "gpus", "size", "routing", "seed", "tokens", "hidden", "topk",
            "node-limit", "experts", "shared")
_MOE = ("tokens", "hidden", "topk", "node-limit", "experts", "shared")
_TYPE = ("float", 4)
#: InfiniBand's static routing: what a fabric like the papers' runs unless told otherwise.
DEFAULT_ROUTING = "dmodk"


def register(sub):
    p = sub.add_parser("bench", help="time a collective on a cluster (nccl-tests style)",
                       description=__doc__.splitlines()[0],
                       usage="netemu bench COLLECTIVE --algo ALGO --cluster PRESET --gpus LIST "
                             "--size LIST [--routing MODE] [--json]",
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("collective", metavar="COLLECTIVE")
    add_params(p)
    p.set_defaults(func=run)


def parse_range(text, what, parse, limit=64):
    """``a,b,c`` or ``lo:hi`` (doubling from lo, then hi) into a list of values."""
    text = str(text).strip()
    if ":" in text:
        lo_s, _, hi_s = text.partition(":")
        lo, hi = parse(lo_s), parse(hi_s)
        if hi < lo:
            raise ParameterError(f"--{what} {text}: the end {hi_s!r} is below the start {lo_s!r}")
        out, x = [], lo
        while x <= hi and len(out) < limit:
            out.append(x)
            x *= 2
        if out[-1] != hi:
            out.append(hi)
        return out
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise ParameterError(f"--{what} needs at least one value, got {text!r}")
    return [parse(t) for t in items]


def _gpu_count(text):
    try:
        n = int(text)
    except ValueError:
        raise ParameterError(f"--gpus: {text!r} is not a whole number of GPUs") from None
    if n < 2:
        raise ParameterError(f"--gpus: a collective needs at least 2 GPUs, got {n}")
    return n


def run(args):
    import netemu.collectives as collectives

    from ..failures import FAIL_OPTIONS, apply_cli_failures
    from .names import pick

    flags, opts, rest = split_options(args.params, _FLAGS, _OPTIONS, repeatable=FAIL_OPTIONS)
    coll = pick(args.collective, list(collectives.ALGORITHMS), "collective")
    for need in ("algo", "cluster", "gpus"):
        if need not in opts:
            raise ParameterError(f"--{need} is required")
    if coll != "moe" and "size" not in opts:
        raise ParameterError("--size is required")
    allowed = list(collectives.ALGORITHMS[coll]) + (["nccl"] if coll != "moe" else [])
    algo = pick(opts["algo"], allowed, "algorithm", context=f" for {coll}")
    routing = check_routing(opts.get("routing", DEFAULT_ROUTING))
    seed = _int_option(opts, "seed", 0, minimum=0)
    gpus = parse_range(opts["gpus"], "gpus", _gpu_count)
    sizes = (parse_range(opts["size"], "size", lambda t: parse_size(t, "--size"))
             if coll != "moe" else [None])
    moe = {}
    for key in _MOE:
        if key in opts:
            if coll != "moe":
                raise ParameterError(f"--{key} applies to the moe collective only")
            moe[key.replace("-", "_")] = _int_option(opts, key, None, minimum=1 if key != "shared" else 0)
    from ..progress import working

    with working(f"building {opts['cluster']}"):
        G = load_topology(opts["cluster"], rest)
    G = apply_cli_failures(G, opts, seed=seed)
    # The sweep only reads the cluster: frozen, the path model needs no walk over it per point.
    import networkx as nx
    G = nx.freeze(G)
    have = len(collectives.ranks.cluster_gpus(G))
    too_many = [n for n in gpus if n > have]
    if too_many:
        raise ParameterError(f"--gpus {too_many[0]}: cluster {opts['cluster']!r} holds {have} GPUs")
    rows = []
    for n in gpus:
        for size in sizes:
            with working(f"{coll} {algo} on {n} GPUs"):
                r = collectives.run(G, coll, algo, n, size, routing=routing, seed=seed,
                                    pxn="no-pxn" not in flags, **moe)
            row = r.row()
            if coll == "moe":
                row.update({k: v for k, v in r.info.items() if k.endswith("_bw")})
            if "nccl_choice" in r.info:
                row["nccl_choice"] = r.info["nccl_choice"]
            rows.append(row)
    from .topo_args import display_name
    name = display_name(G, opts["cluster"])
    failures = G.graph.get("failures")
    shown = (Settings(set(opts) | flags)
             .add("routing", routing, DEFAULT_ROUTING)
             .add("pxn", "no-pxn" not in flags, True, "PXN", given="no-pxn" in flags)
             .add("seed", seed, 0))
    if coll == "moe":
        from netemu.collectives import MOE_DEFAULTS
        for key in _MOE:
            arg = key.replace("-", "_")
            if arg == "node_limit" and algo != "deepep":
                continue                      # only DeepEP limits the nodes per token
            shown.add(arg, moe.get(arg, MOE_DEFAULTS[arg]), MOE_DEFAULTS[arg],
                      label=key, given=key in opts)
        shown.add("token_routing", MOE_DEFAULTS["token_routing"],
                  MOE_DEFAULTS["token_routing"], label="token-routing")
    if "json" in flags:
        out = {"collective": coll, "algorithm": algo, "cluster": name, "routing": routing,
               **shown.json()}
        if failures:
            out["failures"] = failures
        print(json.dumps({**out, "rows": rows}, indent=2))
    else:
        print(format_table(coll, algo, name, routing, rows, failures, shown))
    return 0


def format_table(coll, algo, name, routing, rows, failures=None, settings=None):
    typ, width = _TYPE
    lines = [f"# netemu bench {coll} --algo {algo} on {name}; GB/s = 1e9 bytes/s",
             f"# {settings.text() if settings is not None else f'routing {routing}'}"]
    if failures:
        parts = [f"{len(failures.get(k, []))} {what}" for k, what in (
            ("failed_links", "link(s)"), ("switches", "switch(es)"), ("planes", "plane(s)"))
            if failures.get(k)]
        lines.append(f"# failed: {', '.join(parts)}")
    for n in dict.fromkeys(r["gpus"] for r in rows):
        lines.append(f"#\n# {n} GPUs")
        lines.append(f"# {'size':>12} {'count':>12} {'type':>6} {'time(us)':>12} "
                     f"{'algbw(GB/s)':>12} {'busbw(GB/s)':>12}")
        for r in rows:
            if r["gpus"] != n:
                continue
            size = int(r["size_bytes"])
            lines.append(f"  {size:>12d} {size // width:>12d} {typ:>6} {r['time_s'] * 1e6:>12.1f} "
                         f"{r['algbw'] / 1e9:>12.2f} {r['busbw'] / 1e9:>12.2f}"
                         + (f"   ({format_bytes(size)})" if size >= 1024 else ""))
            extra = {k: v for k, v in r.items() if k.endswith("_bw")}
            if extra:
                lines.append("    per-GPU bottleneck (GB/s): " + ", ".join(
                    f"{k[:-3]} {v / 1e9:.2f}" for k, v in extra.items()))
            if "nccl_choice" in r:
                lines.append(f"    NCCL would run: {r['nccl_choice']}")
    return "\n".join(lines)
