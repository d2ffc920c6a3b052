"""``netemu step MODEL --cluster PRESET --layout dp=..,tp=..,pp=..,ep=.. --seq N --batch N``, or ``netemu step JOBS.toml``.

One training step of a model on a cluster, every collective on the fabric at once: step
time, tokens/s, MFU, and what the GPUs waited for.

MODEL        llama-13b | deepseekmoe-16b | deepseek-v3 | gpt2-medium
--cluster    a preset, a generator (``netemu topo list``) or a graph file; their parameters
             follow as --NAME VALUE
--layout     dp=, tp=, pp=, ep=, zero=, microbatch=, dp_library=nccl|hfreduce|hfreduce-nvlink,
             ep_library=deepep|nccl, overlap_dp=, overlap_ep=, recompute=, stagger_pp=,
             precision=, grad_bytes=, act_bytes=, dispatch_bytes=, combine_bytes=,
             bucket= (bytes: 25MiB, 1e8)
--seq N      sequence length (tokens);  --batch N  global batch (sequences)
--routing    dmodk | hash | spray (default dmodk)
--placement  packed | interleaved: jobs' ranks on consecutive or alternate servers
             (default packed)
--seed N     seed of hashed ECMP (default 0)
JOBS.toml    instead of MODEL: a workload file (several jobs on one cluster; the README's
             "Training steps" section shows one); then no --cluster, --layout, --seq, --batch
--timeline P a PNG of the step: each stage's GPU stream and collectives over time
--json       the results as JSON
"""

import argparse
import json

from . import add_params
from .settings import Settings
from .names import check_routing
from .solve import _int_option, load_topology, split_options
from ..errors import ParameterError

_FLAGS = ("json",)
_OPTIONS = ("cluster", "layout", "seq", "batch", "routing", "seed", "timeline", "placement")
#: The routings a training step runs with, and what it runs when not told.
ROUTINGS = ("dmodk", "hash", "spray")
DEFAULT_ROUTING, DEFAULT_PLACEMENT = "dmodk", "packed"


def register(sub):
    p = sub.add_parser("step", help="time a training step of a model on a cluster",
                       description=__doc__.splitlines()[0],
                       usage="netemu step MODEL --cluster PRESET --layout LAYOUT --seq N "
                             "--batch N [--json] [--timeline PNG] | netemu step JOBS.toml",
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL")
    add_params(p)
    p.set_defaults(func=run)


def run(args):
    from ..collectives.layout import Layout
    from ..collectives.models import MODELS
    from ..collectives.step import Job, run_step

    model_name = args.model
    flags, opts, rest = split_options(list(args.params), _FLAGS, _OPTIONS)
    routing = check_routing(opts.get("routing", DEFAULT_ROUTING), ROUTINGS)
    seed = _int_option(opts, "seed", 0, minimum=0)
    from ..collectives.step import PLACEMENTS
    from .names import pick
    placement = pick(opts.get("placement", DEFAULT_PLACEMENT), PLACEMENTS, "placement")
    from_file = set()
    if model_name.endswith(".toml"):
        if rest or any(k in opts for k in ("cluster", "layout", "seq", "batch")):
            raise ParameterError(f"{model_name} describes the cluster and the jobs; give no "
                                 f"--cluster, --layout, --seq, --batch or preset parameters")
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
        for need in ("cluster", "layout", "seq", "batch"):
            if need not in opts:
                raise ParameterError(f"--{need} is required")
        layout = Layout.parse(opts["layout"])
        seq = _int_option(opts, "seq", None, minimum=1)
        batch = _int_option(opts, "batch", None, minimum=1)
        G = load_topology(opts["cluster"], rest)
        source = opts["cluster"]
        jobs = [Job(model_name, MODELS[model_name], layout, seq, batch)]
    import networkx as nx
    results = run_step(nx.freeze(G), jobs, routing=routing, seed=seed, placement=placement)
    if "timeline" in opts:
        from ..collectives.step_plot import plot_timeline
        plot_timeline(results, opts["timeline"])
    from .topo_args import display_name
    name = display_name(G, source)
    given = set(opts) | from_file
    shown = (Settings(given).add("routing", routing, DEFAULT_ROUTING)
             .add("placement", placement, DEFAULT_PLACEMENT).add("seed", seed, 0))
    if "json" in flags:
        print(json.dumps({"cluster": name, "routing": routing, "placement": placement,
                          **shown.json(), "jobs": [r.row() for r in results]}, indent=2))
    else:
        print(format_results(name, routing, results, shown))
    return 0


def format_results(name, routing, results, settings=None):
    lines = [f"# netemu step on {name}",
             f"# {settings.text() if settings is not None else f'routing {routing}'}",
             f"# {'job':<16} {'GPUs':>6} {'step(s)':>10} {'tokens/s':>12} {'MFU':>7} "
             f"{'compute(s)':>11}  waits (s)"]
    for r in results:
        waits = ", ".join(f"{k} {v:.3g}" for k, v in sorted(r.waits.items(), key=lambda kv: -kv[1]))
        lines.append(f"  {r.job:<16} {r.gpus:>6} {r.step_time:>10.4g} {r.tokens_per_s:>12.4g} "
                     f"{100 * r.mfu:>6.1f}% {r.compute_time:>11.4g}  {waits or '-'}")
    return "\n".join(lines)
