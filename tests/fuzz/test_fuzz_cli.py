"""``netemu.cli.main`` in-process on generated argv: exit 0 or 2, one line on error, no traceback."""

import contextlib
import io
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.cli import main
from netemu.io import save
from netemu.topologies.fat_tree import two_layer_fat_tree

_DIR = tempfile.mkdtemp(prefix="netemu-cli-fuzz-")
_GRAPH = os.path.join(_DIR, "g.json")
save(two_layer_fat_tree(4), _GRAPH)
with open(os.path.join(_DIR, "t.csv"), "w") as fh:
    fh.write("src,dst,bytes\nn0,n1,1MiB\nn2,n3,5\n")

# Small fabrics only, so that a run that succeeds stays quick.
_TOPOS = ["two-layer-fat-tree", "three-layer-fat-tree", "multi-plane-fat-tree",
          "multi-rail-fat-tree", "dragonfly", "slim-fly", "no-such-topo", _GRAPH,
          os.path.join(_DIR, "missing.graphml"), os.path.join(_DIR, "t.csv"), "", "-x"]
_PARAMS = ["--radix", "--k", "--planes", "--rails", "--servers", "--a", "--p", "--h", "--q",
           "--leaves", "--link-bandwidth", "--latency", "--medium", "--bogus"]
_VALUES = ["4", "8", "2", "0", "-1", "3", "x", "nan", "inf", "1e400", "400Gbps", "ib", "",
           "2.5", "1MiB"]
_OPTIONS = {
    "--traffic": ["all-to-all", "permutation", "incast:n0", "incast:zz", "shift:1", "shift:x",
                  os.path.join(_DIR, "t.csv"), "bogus", os.path.join(_DIR, "nofile.csv")],
    "--routing": ["spray", "hash", "dmodk", "ospf"],
    "--seed": ["0", "3", "-1", "x"],
    "--size": ["1MiB", "0", "-3", "nan", "12"],
    "--top": ["0", "3", "-2"],
    "--fail-link": ["leaf0--spine0", "n0--leaf0", "a--b", "leaf0-spine0", "leaf0--spine0,leaf1--spine1"],
    "--fail-switch": ["spine0", "leaf1", "n0", "nope"],
    "--fail-plane": ["0", "1", "9", "x"],
    "--fail-fraction": ["0", "0.2", "1", "1.5", "x", "nan"],
}
_FLAGS = ["--json", "--no-pxn"]


@st.composite
def solve_argv(draw):
    argv = ["solve", draw(st.sampled_from(_TOPOS))]
    for _ in range(draw(st.integers(0, 3))):
        argv.append(draw(st.sampled_from(_PARAMS)))
        if draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(_VALUES)))
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(_OPTIONS) + _FLAGS))
        argv.append(name)
        if name in _OPTIONS and draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(_OPTIONS[name])))
    return argv


@st.composite
def topo_argv(draw):
    action = draw(st.sampled_from(["list", "info", "build", "draw", "nope"]))
    argv = ["topo", action]
    if action in ("info", "build", "draw"):
        argv.append(draw(st.sampled_from(_TOPOS)))
        for _ in range(draw(st.integers(0, 3))):
            argv.append(draw(st.sampled_from(_PARAMS)))
            argv.append(draw(st.sampled_from(_VALUES)))
        if action != "info" or draw(st.booleans()):
            argv += ["--out", draw(st.sampled_from([os.path.join(_DIR, "o.json"),
                                                    os.path.join(_DIR, "o.png"),
                                                    os.path.join(_DIR, "o.txt"),
                                                    os.path.join(_DIR, "no", "o.json")]))]
        if draw(st.booleans()):
            argv.append("--json")
    return argv


junk_argv = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(
    ["solve", "topo", "bench", "--help", "-h", "--json", "info", "--radix"])), max_size=5)


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help and friends
            code = exc.code
    assert code in (0, 2, None), (argv, code, err.getvalue())
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        # one line, unless argparse printed a usage/help block first
        assert lines, argv
        assert "Traceback" not in err.getvalue()
        if not err.getvalue().startswith("usage:"):
            assert len(lines) == 1, (argv, err.getvalue())
    for leftover in os.listdir(_DIR):
        assert not leftover.startswith(".netemu-"), (argv, leftover)   # no partial file


SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(argv=solve_argv())
def test_cli_solve(argv):
    _run(argv)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=topo_argv())
def test_cli_topo(argv):
    _run(argv)


@SETTINGS
@given(argv=junk_argv)
def test_cli_junk(argv):
    _run(argv)
