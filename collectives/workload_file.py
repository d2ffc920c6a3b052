"""Workload files: one or more training jobs on a cluster, in TOML.

A workload file says which cluster, which jobs (a model, a layout, a sequence length, a
global batch, and how many GPUs or which ones), and how to place them::

    # two jobs on the Fire-Flyer 2 cluster, placed on alternate servers
    [cluster]
    preset = "fire-flyer-2-cluster"     # or: graph = "cluster.json" (a saved graph)
    routing = "dmodk"                   # dmodk | hash | spray (default dmodk)
    placement = "interleaved"           # packed | interleaved (default packed)

    [[job]]
    name = "llama"
    model = "llama-13b"                 # a known model, or a [job.model] table of fields
    layout = "dp=16,pp=4,dp_library=hfreduce,stagger_pp=true"
    seq = 2048
    batch = 4096

    [[job]]
    name = "moe"
    model = { name = "deepseekmoe-16b", layers = 14 }   # a known model with fields changed
    layout = { dp = 8, pp = 2 }         # the layout as a table works too
    seq = 4096
    batch = 64

A job with ``phase = "decode"`` is a served model instead (:mod:`netemu.collectives.decode`):
``batch`` is sequences per GPU, ``context`` the tokens in each sequence's key/value cache,
``layout`` a decode layout (``dp``, ``tp``, ``ep``, ``microbatches``, ``ep_library``, ...) and
``iterations`` how many decode iterations run one after the other (default 1)::

    [[job]]
    name = "serve"
    phase = "decode"                    # train (default) | decode
    model = "deepseek-v3"
    layout = "dp=32,ep=32,microbatches=2,precision=fp8,weight_bytes=1"
    batch = 64                          # sequences per GPU
    context = 4096                      # tokens in each sequence's KV cache
    iterations = 4

Training and decode jobs in one file run at once on the cluster and share its fabric.
Every key is checked; an unknown one is an error that names it and the allowed ones.
``netemu step FILE.toml`` runs it; :func:`load_workload` reads it in Python.
"""


from netemu.errors import ParameterError

from .decode import DecodeJob, DecodeLayout
from .layout import Layout
from .models import MODELS, model_from_dict
from .step import PLACEMENTS, Job

__all__ = ["load_workload", "parse_workload", "MAX_BYTES"]

#: Largest workload file read (bytes): a description, not data.
MAX_BYTES = 1 << 20

_CLUSTER_KEYS = {"preset", "graph", "params", "routing", "placement", "seed", "pxn"}
_JOB_KEYS = {"name", "phase", "model", "layout", "seq", "batch", "gpus"}
_DECODE_KEYS = {"name", "phase", "model", "layout", "batch", "context", "gpus", "iterations"}
_PHASES = ("train", "decode")


def load_workload(path):
    """``(cluster spec, [Job, ...])`` from a TOML workload file (see the module notes)."""
    from netemu.io import read_bounded
    data = read_bounded(str(path), ParameterError, MAX_BYTES, "workload file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError(f"workload file {str(path)!r} is not UTF-8 text") from None
    return parse_workload(text, str(path))


def parse_workload(text, where="workload"):
    try:
        import tomllib
    except ModuleNotFoundError:      # Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{where}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"cluster", "job"}
    if unknown:
        raise ParameterError(f"{where}: unknown table(s) {sorted(unknown)}; allowed: cluster, job")
    cluster = doc.get("cluster")
    if not isinstance(cluster, dict):
        raise ParameterError(f"{where}: needs a [cluster] table with a preset or a graph")
    bad = set(cluster) - _CLUSTER_KEYS
    if bad:
        raise ParameterError(f"{where}: unknown [cluster] key(s) {sorted(bad)}; allowed: "
                             f"{', '.join(sorted(_CLUSTER_KEYS))}")
    if ("preset" in cluster) == ("graph" in cluster):
        raise ParameterError(f"{where}: [cluster] needs exactly one of preset or graph")
    if cluster.get("placement", "packed") not in PLACEMENTS:
        raise ParameterError(f"{where}: placement must be one of {', '.join(PLACEMENTS)}, got "
                             f"{cluster.get('placement')!r}")
    jobs = doc.get("job")
    if not isinstance(jobs, list) or not jobs:
        raise ParameterError(f"{where}: needs at least one [[job]]")
    return cluster, [_job(j, k, where) for k, j in enumerate(jobs)]


def _job(d, k, where):
    if not isinstance(d, dict):
        raise ParameterError(f"{where}: job {k} is not a table")
    phase = d.get("phase", "train")
    if phase not in _PHASES:
        raise ParameterError(f"{where}: job {k}: phase must be one of {', '.join(_PHASES)}, "
                             f"got {phase!r}")
    allowed = _DECODE_KEYS if phase == "decode" else _JOB_KEYS
    bad = set(d) - allowed
    if bad:
        raise ParameterError(f"{where}: job {k}: unknown key(s) {sorted(bad)} for a {phase} "
                             f"job; allowed: {', '.join(sorted(allowed))}")
    needs = ("model", "layout", "batch", "context") if phase == "decode" else \
        ("model", "layout", "seq", "batch")
    for need in needs:
        if need not in d:
            raise ParameterError(f"{where}: job {k} needs {need!r}")
    m = d["model"]
    if isinstance(m, str):
        if m not in MODELS:
            raise ParameterError(f"{where}: job {k}: unknown model {m!r}; known: "
                                 f"{', '.join(MODELS)}, or give a table of fields")
        model = MODELS[m]
    else:
        model = model_from_dict(m)
    lay = d["layout"]
    kind = DecodeLayout if phase == "decode" else Layout
    layout = kind.parse(lay) if isinstance(lay, str) else kind.from_dict(lay)
    gpus = d.get("gpus")
    if gpus is not None and not (isinstance(gpus, list) and all(isinstance(g, str) for g in gpus)):
        if isinstance(gpus, int) and not isinstance(gpus, bool):
            if gpus != layout.world:
                raise ParameterError(f"{where}: job {k}: gpus = {gpus} but the layout needs "
                                     f"{layout.world}")
            gpus = None
        else:
            raise ParameterError(f"{where}: job {k}: gpus must be a count or a list of GPU "
                                 f"names, got {gpus!r}")
    if phase == "decode":
        return DecodeJob(str(d.get("name", f"job{k}")), model, layout, d["batch"], d["context"],
                         gpus, d.get("iterations", 1))
    return Job(str(d.get("name", f"job{k}")), model, layout, d["seq"], d["batch"], gpus)
