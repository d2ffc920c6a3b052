"""``netemu step MODEL --cluster PRESET --layout dp=..,tp=..,pp=..,ep=.. --seq N --batch N``, ``--phase decode``, ``--chakra``, or ``netemu step JOBS.toml``.

One training step of a model on a cluster (or one decode iteration, or a Chakra execution
trace), every collective on the fabric at once: step time, tokens/s, MFU (decode: time per
output token, tokens/s per GPU and per user), and what the GPUs waited for.

MODEL        llama-13b | deepseekmoe-16b | deepseek-v3 | gpt2-medium | vgg16
--cluster    a preset, a generator (``netemu topo list``) or a graph file; their parameters
             follow as --NAME VALUE
--layout     dp=, tp=, pp=, ep=, zero=, microbatch=, dp_library=nccl|hfreduce|hfreduce-nvlink,
             ep_library=deepep|nccl, overlap_dp=, overlap_ep=, recompute=, stagger_pp=,
             precision=, grad_bytes=, act_bytes=, grad_accum_bytes=, dispatch_bytes=,
             combine_bytes=, bucket= (bytes: 25MiB, 1e8)
--seq N      sequence length (tokens);  --batch N  global batch (sequences)
--routing    dmodk | hash | spray (default dmodk)
--placement  packed | interleaved: jobs' ranks on consecutive or alternate servers
             (default packed)
--seed N     seed of hashed ECMP (default 0)
JOBS.toml    instead of MODEL: a workload file (several jobs on one cluster, training and
             decode, see docs/workloads.md); then no --cluster, --layout, --seq, --batch
--phase decode  one decode iteration instead of a training step: --batch is sequences per
             GPU, --context N tokens in each sequence's KV cache, --iterations N (default 1);
             --layout dp=, tp=, ep= (0: all GPUs), microbatches=1|2,
             ep_library=deepep-ll|deepep|nccl, shared=local|remote, token_routing=,
             precision=, weight_bytes=, kv_bytes=, act_bytes=, dispatch_bytes=,
             combine_bytes=, ep_overhead= (s).  Prints TPOT and tokens/s per GPU and user.
--chakra     MODEL is a Chakra execution-trace prefix: NAME.0.et ... NAME.(N-1).et, one per
             rank, run on the first N GPUs of --cluster; --comm-groups FILE.json maps a
             collective's pg_name to its ranks ({"NAME": [0, 1, ...]}); no --layout
--timeline P a PNG of the step: each stage's GPU stream and collectives over time
--json       the results as JSON
"""

import argparse
import json

from . import add_params
from .settings import Settings
from .names import check_routing, pick
from .solve import _int_option, load_topology, split_options
from ..errors import ParameterError

_FLAGS = ("json", "chakra")
_OPTIONS = ("cluster", "layout", "seq", "batch", "routing", "seed", "timeline", "placement",
            "phase", "context", "iterations", "comm-groups")
_PHASES = ("train", "decode")
#: The routings a training step runs with, and what it runs when not told.
ROUTINGS = ("dmodk", "hash", "spray")
DEFAULT_ROUTING, DEFAULT_PLACEMENT = "dmodk", "packed"


def register(sub):
    p = sub.add_parser("step", help="time a training step or a decode iteration of a model "
                                    "(or a Chakra trace) on a cluster",
                       description=__doc__.splitlines()[0],
                       usage="netemu step MODEL --cluster PRESET --layout LAYOUT --seq N "
                             "--batch N [--json] [--timeline PNG] | netemu step MODEL --phase "
                             "decode --cluster PRESET --layout LAYOUT --batch N --context N | "
                             "netemu step TRACE_PREFIX --chakra --cluster PRESET | "
                             "netemu step JOBS.toml",
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL")
    add_params(p)
    p.set_defaults(func=run)


def run(args):
    from ..collectives.layout import Layout
    from ..collectives.models import MODELS
    from ..collectives.step import Job

    model_name = args.model
    flags, opts, rest = split_options(list(args.params), _FLAGS, _OPTIONS)
    routing = check_routing(opts.get("routing", DEFAULT_ROUTING), ROUTINGS)
    seed = _int_option(opts, "seed", 0, minimum=0)
    from ..collectives.step import PLACEMENTS
    placement = pick(opts.get("placement", DEFAULT_PLACEMENT), PLACEMENTS, "placement")
    phase = pick(opts.get("phase", "train"), _PHASES, "phase")
    from_file = set()
    if "chakra" in flags:
        return _run_chakra(model_name, flags, opts, rest, routing, seed)
    if phase == "train":
        for k in ("context", "iterations", "comm-groups"):
            if k in opts:
                raise ParameterError(f"--{k} belongs to --phase decode or --chakra")
    if model_name.endswith(".toml"):
        if rest or any(k in opts for k in ("cluster", "layout", "seq", "batch", "phase",
                                           "context", "iterations")):
            raise ParameterError(f"{model_name} describes the cluster and the jobs; give no "
                                 f"--cluster, --layout, --seq, --batch, --phase, --context, "
                                 f"--iterations or preset parameters")
        from ..collectives.workload_file import load_workload
        spec, jobs = load_workload(model_name)
        source = spec.get("preset") or spec["graph"]
        params = spec.get("params", {})
        if not isinstance(params, dict):
            raise ParameterError(f"[cluster] params must be a table, got {params!r}")
        G = load_topology(source, [x for k, v in params.items() for x in (f"--{k}", str(v))])
        from_file = {k for k in ("routing", "placement") if k in spec}
        routing = spec.get("routing", routing)
        placement = spec.get("placement", placement)
    else:
        model_name = pick(model_name, list(MODELS), "model",
                          allowed=f"{', '.join(MODELS)}, or a workload file NAME.toml")
        needs = ("cluster", "layout", "batch", "context") if phase == "decode" else \
            ("cluster", "layout", "seq", "batch")
        for need in needs:
            if need not in opts:
                raise ParameterError(f"--{need} is required" + (" with --phase decode"
                                                                   if phase == "decode" else ""))
        batch = _int_option(opts, "batch", None, minimum=1)
        if phase == "decode":
            from ..collectives.decode import DecodeJob, DecodeLayout
            if "seq" in opts:
                raise ParameterError("--seq is a training option; a decode job takes --context")
            jobs = [DecodeJob(model_name, MODELS[model_name], DecodeLayout.parse(opts["layout"]),
                              batch, _int_option(opts, "context", None, minimum=1),
                              iterations=_int_option(opts, "iterations", 1, minimum=1))]
        else:
            jobs = [Job(model_name, MODELS[model_name], Layout.parse(opts["layout"]),
                        _int_option(opts, "seq", None, minimum=1), batch)]
        G = load_topology(opts["cluster"], rest)
        source = opts["cluster"]
    import networkx as nx

    from ..collectives.decode import run_jobs
    results = run_jobs(nx.freeze(G), jobs, routing=routing, seed=seed, placement=placement)
    return _print(results, G, source, routing, placement, seed, flags, opts, from_file)


def _print(results, G, source, routing, placement, seed, flags, opts, from_file=()):
    if "timeline" in opts:
        from ..collectives.step_plot import plot_timeline
        plot_timeline(results, opts["timeline"])
    from .topo_args import display_name
    name = display_name(G, source)
    given = set(opts) | set(from_file)
    shown = Settings(given).add("routing", routing, DEFAULT_ROUTING)
    if placement is not None:
        shown = shown.add("placement", placement, DEFAULT_PLACEMENT)
    shown = shown.add("seed", seed, 0)
    if "json" in flags:
        print(json.dumps({"cluster": name, "routing": routing, "placement": placement,
                          **shown.json(), "jobs": [r.row() for r in results]}, indent=2))
    else:
        print(format_results(name, routing, results, shown))
    return 0


def _run_chakra(prefix, flags, opts, rest, routing, seed):
    import networkx as nx

    from ..collectives.chakra import load_comm_groups, run_chakra
    for k in ("layout", "seq", "batch", "context", "iterations", "phase", "placement"):
        if k in opts:
            raise ParameterError(f"--{k} does not apply to a Chakra trace (the trace says what "
                                 f"runs)")
    if "cluster" not in opts:
        raise ParameterError("--cluster is required with --chakra")
    groups = load_comm_groups(opts["comm-groups"]) if "comm-groups" in opts else None
    G = load_topology(opts["cluster"], rest)
    result = run_chakra(nx.freeze(G), prefix, comm_groups=groups, routing=routing, seed=seed)
    # A trace's ranks run on the cluster's first GPUs in order: no placement policy applies.
    return _print([result], G, opts["cluster"], routing, None, seed, flags, opts)


def format_results(name, routing, results, settings=None):
    from ..collectives.decode import DecodeResult
    decode = [r for r in results if isinstance(r, DecodeResult)]
    results = [r for r in results if not isinstance(r, DecodeResult)]
    lines = [f"# netemu step on {name}",
             f"# {settings.text() if settings is not None else f'routing {routing}'}"]
    if decode:
        lines.append(f"# {'decode job':<16} {'GPUs':>6} {'batch':>6} {'context':>8} "
                     f"{'TPOT(ms)':>9} {'tok/s/GPU':>10} {'tok/s/user':>10} "
                     f"{'compute(ms)':>11}  waits (ms)")
        for r in decode:
            waits = ", ".join(f"{k} {1e3 * v:.3g}" for k, v in
                              sorted(r.waits.items(), key=lambda kv: -kv[1]))
            lines.append(f"  {r.job:<16} {r.gpus:>6} {r.batch:>6} {r.context:>8} "
                         f"{1e3 * r.tpot:>9.4g} {r.tokens_per_s_per_gpu:>10.4g} "
                         f"{r.tokens_per_s_per_user:>10.4g} {1e3 * r.compute_time:>11.4g}  "
                         f"{waits or '-'}")
    traces = [r for r in results if not hasattr(r, "mfu")]
    results = [r for r in results if hasattr(r, "mfu")]
    for r in traces:
        waits = ", ".join(f"{k} {v:.3g}" for k, v in sorted(r.waits.items(), key=lambda kv: -kv[1]))
        lines += [f"# {'trace':<16} {'ranks':>6} {'nodes':>8} {'step(s)':>10} {'compute(s)':>11}"
                  f"  waits (s)",
                  f"  {r.job:<16} {r.gpus:>6} {r.nodes:>8} {r.step_time:>10.4g} "
                  f"{r.compute_time:>11.4g}  {waits or '-'}"]
    if not results:
        return "\n".join(lines)
    lines.append(f"# {'job':<16} {'GPUs':>6} {'step(s)':>10} {'tokens/s':>12} {'MFU':>7} "
                 f"{'compute(s)':>11}  waits (s)")
    for r in results:
        waits = ", ".join(f"{k} {v:.3g}" for k, v in sorted(r.waits.items(), key=lambda kv: -kv[1]))
        lines.append(f"  {r.job:<16} {r.gpus:>6} {r.step_time:>10.4g} {r.tokens_per_s:>12.4g} "
                     f"{100 * r.mfu:>6.1f}% {r.compute_time:>11.4g}  {waits or '-'}")
    for r in results:
        if r.memory:
            mem = r.memory
            parts = ", ".join(f"{k} {mem[k] / 2**30:.3g}" for k in
                              ("weights", "gradients", "optimizer", "activations"))
            cap = "" if r.fits is None else (
                f" of {r.memory_capacity / 2**30:.3g} GiB: "
                + ("fits" if r.fits else "DOES NOT FIT (try zero=, recompute= or more pp)"))
            lines.append(f"# {r.job}: fullest GPU (stage {mem['stage']}) needs at least "
                         f"{mem['total'] / 2**30:.3g} GiB{cap} ({parts} GiB)")
    return "\n".join(lines)
