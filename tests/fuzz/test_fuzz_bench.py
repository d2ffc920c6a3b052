"""``netemu bench`` and ``netemu experiments`` on generated argv: exit 0 or 2, one line, no traceback.

The cluster is a small saved graph (8 PCIe A100 servers on a radix-4 two-layer
fat-tree), so that the runs that succeed stay quick.
"""

import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.io import save
from tests.fuzz.test_fuzz_cli import _run
from netemu.topologies.clusters import cluster
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.hardware import CX6_200G
from netemu.topologies.servers import pcie_a100_server

_DIR = tempfile.mkdtemp(prefix="netemu-bench-fuzz-")
_CLUSTER = os.path.join(_DIR, "c.json")
save(cluster(two_layer_fat_tree(4, link_bandwidth=CX6_200G.bandwidth), pcie_a100_server), _CLUSTER)

_COLLECTIVES = ["allreduce", "alltoall", "allgather", "reducescatter", "broadcast", "moe", "sum", ""]
_OPTIONS = {
    "--algo": ["ring", "tree", "hierarchical", "hfreduce", "hfreduce-nvlink", "nccl", "direct",
               "pxn", "pairwise", "rdma", "deepep", "nope"],
    "--cluster": [_CLUSTER, os.path.join(_DIR, "missing.json"), "no-such-cluster"],
    "--gpus": ["2", "8", "16", "64", "65", "1", "0", "-8", "x", "8:32", "32:8", "8,16", ","],
    "--size": ["1MiB", "186MiB", "1KiB:4KiB", "0", "-1MiB", "nan", "inf", "x", "4:1"],
    "--routing": ["dmodk", "hash", "spray", "ospf"],
    "--seed": ["0", "7", "-1", "x"],
    "--tokens": ["16", "0", "x"], "--hidden": ["64", "-1"], "--topk": ["2", "0"],
    "--node-limit": ["1", "0"], "--experts": ["16", "7", "0"], "--shared": ["0", "1", "-1"],
    "--fail-link": ["leaf0--spine0", "n0/nic0--leaf0", "a--b", "leaf0-spine0"],
    "--fail-switch": ["spine0", "leaf0", "n0/gpu0", "nope"],
    "--fail-fraction": ["0", "0.5", "1", "2", "x"],
}
_FLAGS = ["--json", "--no-pxn"]


_GOOD = {"--cluster": [_CLUSTER], "--gpus": ["2", "8", "16", "8:32", "8,16"],
         "--size": ["1MiB", "1KiB:4KiB", "186MiB"]}


def _pairs():
    import netemu.collectives as collectives
    return [(c, a) for c, algos in collectives.ALGORITHMS.items()
            for a in list(algos) + (["nccl"] if c != "moe" else [])]


@st.composite
def bench_argv(draw):
    # Mostly valid combinations (so that runs succeed and exercise the models), with bad
    # values mixed in.
    if draw(st.integers(0, 3)):
        coll, algo = draw(st.sampled_from(_pairs()))
    else:
        coll, algo = draw(st.sampled_from(_COLLECTIVES)), draw(st.sampled_from(_OPTIONS["--algo"]))
    argv = ["bench", coll]
    if draw(st.integers(0, 9)):
        argv += ["--algo", algo]
    for name in ("--cluster", "--gpus", "--size"):
        if draw(st.integers(0, 9)):
            pool = _GOOD[name] if draw(st.integers(0, 3)) else _OPTIONS[name]
            argv += [name, draw(st.sampled_from(pool))]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(sorted(_OPTIONS) + _FLAGS))
        argv.append(name)
        if name in _OPTIONS and draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(_OPTIONS[name])))
    return argv


# No "--all" and no real experiment name (text of up to 8 characters cannot spell one), so
# nothing runs for seconds: this exercises the parser, list, and the bad-argument paths.
experiments_argv = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(
    ["list", "run", "--jobs", "0", "-3", "x", "--scheduler", "--out", "nope", "--quiet"])),
    max_size=5).map(lambda a: ["experiments"] + a)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=bench_argv())
def test_cli_bench(argv):
    _run(argv)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=experiments_argv)
def test_cli_experiments_arguments(argv):
    _run(argv)
