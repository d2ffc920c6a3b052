"""Command-line habits users bring from argparse/click tools (issue 20, item 4).

``--version``; the choices of every fixed-set option listed in ``--help``; "did you mean"
on every unknown name; one spelling of generator names in output (dashes), both accepted;
units as people write them, through one parser; no internal name in an error; the settings
that shaped a result echoed with it, defaults marked.
"""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import networkx as nx
import pytest

from netemu.cli import main
from netemu.errors import ParameterError
from netemu.units import parse_bandwidth, parse_size


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv):
    """The one stderr line of a refused command (exit 2, nothing on stdout)."""
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "Traceback" not in err, (code, out, err)
    assert err.count("\n") == 1, err
    return err.strip()


def help_text(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


SMALL = ["two-layer-fat-tree", "--leaves", "2", "--spines", "2", "--hosts-per-leaf", "2"]


# --- --version ---------------------------------------------------------------------------

def test_version_is_the_installed_distributions():
    want = f"netemu {metadata.version('netemu')}\n"
    commands = [[sys.executable, "-m", "netemu", "--version"]]
    script = Path(sys.executable).with_name("netemu")     # the console script, when installed
    if script.is_file():
        commands.append([str(script), "--version"])
    for argv in commands:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert (p.returncode, p.stdout, p.stderr) == (0, want, ""), argv
    import netemu
    assert netemu.__version__ == metadata.version("netemu")


def test_version_loads_no_heavy_library():
    probe = ("import contextlib, io, json, sys\nfrom netemu.cli import main\n"
             "out = io.StringIO()\n"
             "with contextlib.redirect_stdout(out):\n"
             "    try:\n"
             "        main(['--version'])\n"
             "    except SystemExit:\n"
             "        pass\n"
             "print(json.dumps([out.getvalue(), [m for m in ('numpy', 'scipy', 'networkx', "
             "'numba', 'matplotlib') if m in sys.modules]]))")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    printed, loaded = json.loads(p.stdout)
    assert printed.startswith("netemu ") and loaded == []


# --- choices in --help -------------------------------------------------------------------

HELPS = [["topo"], ["topo", "list"], ["topo", "info"], ["topo", "build"], ["topo", "draw"],
         ["solve"], ["bench"], ["step"], ["emulate"], ["experiments"], ["experiments", "run"],
         ["experiments", "readme"], ["experiments", "report"], []]


@pytest.mark.parametrize("argv", HELPS, ids=lambda a: " ".join(a) or "netemu")
def test_no_help_points_at_a_python_symbol(capsys, argv):
    text = help_text(capsys, *argv)
    assert not re.search(r"\b(?:netemu|collectives|topologies|experiments|policies)\.[A-Za-z_]",
                         text), text


def test_bench_help_lists_every_algorithm_of_every_collective(capsys):
    import netemu.collectives as collectives
    text = help_text(capsys, "bench")
    assert "ALGORITHMS" not in text
    for coll, algos in collectives.ALGORITHMS.items():
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(coll + " "))
        listed = {w.strip() for w in line.split(None, 1)[1].split("|")}
        assert listed == set(algos) | ({"nccl"} if coll != "moe" else set()), line
    from netemu.policies import MODES
    for mode in MODES:
        assert mode in text


def test_solve_step_emulate_help_list_their_choices(capsys):
    from netemu.collectives.models import MODELS
    from netemu.collectives.step import PLACEMENTS
    from netemu.policies import MODES
    from netemu.cli.solve import TRAFFIC_KINDS
    solve = help_text(capsys, "solve")
    assert all(m in solve for m in MODES) and all(k in solve for k in TRAFFIC_KINDS)
    assert "netemu topo list" in solve
    step = help_text(capsys, "step")
    assert re.search(r"MODEL +" + r" \| ".join(map(re.escape, MODELS)) + r"\n", step)
    assert " | ".join(PLACEMENTS) in step and "dmodk | hash | spray" in step
    emulate = help_text(capsys, "emulate")
    assert "hash | dmodk" in emulate and all(k in emulate for k in TRAFFIC_KINDS)


@pytest.mark.parametrize("action", ["info", "build", "draw"])
def test_topo_help_lists_generators_and_presets(capsys, action):
    from netemu.topologies import GENERATORS, PRESETS
    text = help_text(capsys, "topo", action)
    words = set(re.findall(r"[\w-]+", text))
    assert {g.replace("_", "-") for g in GENERATORS} <= words
    assert set(PRESETS) <= words
    assert "400G = 400Gb/s" in text


# --- did you mean ------------------------------------------------------------------------

@pytest.mark.parametrize("argv, suggestion", [
    (["topo", "info", "two-layer-fat-tre"], "two-layer-fat-tree"),              # generator
    (["topo", "info", "isca-mpf"], "isca-mpft"),                                # preset
    (["solve", "deepseek-v3-clustr", "--traffic", "permutation"], "deepseek-v3-cluster"),
    (["topo", "info", "deepseek-v3-cluster", "--fabric", "mfrt"], "mrft"),     # fabric
    (["topo", "info", *SMALL, "--link-bandwith", "1e9"], "--link-bandwidth"),  # parameter
    (["topo", "info", "fire-flyer-2", "--switch", "QM870"], "QM8700"),         # catalogue
    (["solve", *SMALL, "--routing", "d-mod-k"], "dmodk"),                      # routing mode
    (["solve", *SMALL, "--traffic", "permutaton"], "permutation"),             # traffic kind
    (["bench", "allreduce", "--algo", "rign", "--cluster", "isca-ft2", "--gpus", "4",
      "--size", "1MiB"], "ring"),                                               # algorithm
    (["bench", "allreduce", "--algo", "ring", "--cluster", "isca-ft2", "--gpus", "4",
      "--size", "1MiB", "--routing", "dmdok"], "dmodk"),
    (["bench", "allredce", "--algo", "ring"], "allreduce"),                     # collective
    (["step", "llama-13", "--cluster", "isca-ft2"], "llama-13b"),               # model
    (["step", "llama-13b", "--routing", "hsh"], "hash"),
    (["step", "llama-13b", "--placement", "paked"], "packed"),
    (["step", "llama-13b", "--cluster", "isca-ft2", "--layout", "dp=8,zeor=1", "--seq", "8",
      "--batch", "8"], "zero"),                                                 # layout field
    (["step", "llama-13b", "--cluster", "isca-ft2", "--layout", "dp=8,dp_library=hfreduse",
      "--seq", "8", "--batch", "8"], "hfreduce"),                               # layout value
    (["step", "deepseek-v3", "--phase", "decode", "--cluster", "isca-ft2", "--layout",
      "dp=8,ep_libary=nccl", "--batch", "8", "--context", "8"], "ep_library"),
    (["step", "llama-13b", "--phase", "decod"], "decode"),                      # phase
    (["emulate", *SMALL, "--routing", "hsh"], "hash"),
    (["experiments", "run", "hfreduce_vs_ncc"], "hfreduce_vs_nccl"),            # experiment
    (["sovle"], "solve"),                                                       # command
    (["topo", "lsit"], "list"),
])
def test_unknown_names_get_a_did_you_mean(capsys, argv, suggestion):
    line = one_line_error(capsys, *argv)
    assert f"did you mean {suggestion!r}" in line, line


def test_no_suggestion_when_nothing_is_close(capsys):
    line = one_line_error(capsys, "solve", *SMALL, "--routing", "zzzzzz")
    assert "did you mean" not in line and "'spray', 'hash', 'dmodk', 'adaptive'" in line


# --- one spelling of generator names -----------------------------------------------------

def test_underscores_are_taken_and_output_spells_dashes(capsys, tmp_path):
    code, out, _ = run(capsys, "topo", "info", "two_layer_fat_tree", "--leaves", "2",
                       "--spines", "2", "--hosts-per-leaf", "2", "--json")
    assert code == 0 and json.loads(out)["name"] == "two-layer-fat-tree"
    code, out, _ = run(capsys, "topo", "info", *SMALL)
    assert code == 0 and out.startswith("two-layer-fat-tree  (")
    code, out, _ = run(capsys, "topo", "info", "isca_ft2", "--json")
    assert code == 0 and json.loads(out)["name"] == "isca-ft2"
    for suffix in (".json", ".graphml"):
        f = tmp_path / f"g{suffix}"
        assert run(capsys, "topo", "build", *SMALL, "--out", f)[0] == 0
        from netemu.io import load
        assert load(f).graph["name"] == "two-layer-fat-tree"
        code, out, _ = run(capsys, "solve", f, "--top", "0")
        assert code == 0 and "topology     two-layer-fat-tree\n" in out
    code, out, _ = run(capsys, "solve", "two_layer_fat_tree", *SMALL[1:], "--top", "0", "--json")
    assert json.loads(out)["topology"] == "two-layer-fat-tree"


def test_topo_list_spells_every_generator_with_dashes(capsys):
    from netemu.topologies import GENERATORS
    code, out, _ = run(capsys, "topo", "list")
    assert code == 0
    for g in GENERATORS:
        assert f"  {g.replace('_', '-')}  " in out
        if "_" in g:
            assert g not in out


def test_saved_cluster_names_its_fabric_with_dashes():
    from netemu.cli.topo_args import dash_generator_names
    G = nx.Graph(name="cluster", params={"fabric": "multi_plane_fat_tree", "servers": 4,
                                         "note": "two_layer_fat_tree_like"})
    dash_generator_names(G)
    assert G.graph == {"name": "cluster", "params": {"fabric": "multi-plane-fat-tree",
                                                     "servers": 4,
                                                     "note": "two_layer_fat_tree_like"}}


# --- units -------------------------------------------------------------------------------

G_ = 10**9
GI = 2**30


@pytest.mark.parametrize("text, bytes_per_s", [
    ("400G", 400 * G_ / 8),              # a prefix alone: bits, as ports are quoted
    ("400Gb/s", 400 * G_ / 8),
    ("400Gbps", 400 * G_ / 8),
    ("400 Gbit/s", 400 * G_ / 8),
    ("400gbps", 400 * G_ / 8),
    ("1.6Tb/s", 1.6e12 / 8),
    ("100Mb/s", 100e6 / 8),
    ("100 Mbps", 100e6 / 8),
    ("50GB/s", 50 * G_),
    ("50GBps", 50 * G_),
    ("50 GByte/s", 50 * G_),
    ("50GiB/s", 50 * GI),
    ("50GiBps", 50 * GI),
    ("10Kibps", 10 * 1024 / 8),
    ("25e9", 25e9),                      # a bare number: bytes/s, as the library takes it
    ("25e9B/s", 25e9),
])
def test_bandwidth_spellings(text, bytes_per_s):
    assert parse_bandwidth(text) == pytest.approx(bytes_per_s, rel=1e-15)


@pytest.mark.parametrize("text, n", [
    ("64MiB", 64 * 2**20), ("64 MiB", 64 * 2**20), ("1GB", 10**9), ("1e9", 10**9),
    ("4G", 4 * GI), ("8M", 8 * 2**20), ("512KB", 512_000), ("2 GiB", 2 * GI),
    ("100 bytes", 100), ("4096", 4096), ("1.5GB", 1_500_000_000), ("1TiB", 2**40),
])
def test_size_spellings(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["400Gx", "400 furlongs/s", "fast", "50GB/h"])
def test_an_unknown_bandwidth_unit_lists_the_accepted_ones(text):
    with pytest.raises(ParameterError) as exc:
        parse_bandwidth(text, "--link-bandwidth")
    msg = str(exc.value)
    assert msg.startswith(f"--link-bandwidth {text!r}")
    for unit in ("b/s", "bps", "bit/s", "B/s", "Bps", "400G", "GiB/s", "Ki Mi Gi Ti"):
        assert unit in msg


@pytest.mark.parametrize("text", ["12XB", "4GB/s", "4 parsecs"])
def test_an_unknown_size_unit_lists_the_accepted_ones(text):
    with pytest.raises(ParameterError) as exc:
        parse_size(text, "--size")
    for unit in ("KB", "MiB", "GiB", "bytes", "4G"):
        assert unit in str(exc.value)


@pytest.mark.parametrize("text", ["64Mb", "1Gbit", "8b"])
def test_bits_are_not_a_size(text):
    with pytest.raises(ParameterError, match="reads as bits"):
        parse_size(text)


@pytest.mark.parametrize("text", ["0G", "-400G", "inf", "nan"])
def test_a_bandwidth_must_be_a_finite_positive_rate(text):
    with pytest.raises(ParameterError, match="bandwidth"):
        parse_bandwidth(text)


@pytest.mark.parametrize("spelling", ["400G", "400Gb/s", "400Gbps", "400 Gbit/s", "50GB/s",
                                      "50GBps", "50000000000"])
def test_generator_bandwidth_parameters_take_every_spelling(spelling):
    from netemu.cli.topo_args import build_from_cli, parse_params
    G = build_from_cli("two-layer-fat-tree", parse_params(SMALL[1:] + ["--link-bandwidth",
                                                                        spelling]))
    assert {bw for *_, bw in G.edges(data="bandwidth")} == {50e9}


def test_a_bandwidth_named_in_the_docstring_takes_units_too():
    # h800-server's --host-memory is a bandwidth (bytes/s) without the word in its name.
    from netemu.cli.topo_args import build_from_cli, parse_params
    G = build_from_cli("h800-server", parse_params(["--host-memory", "100GB/s"]))
    assert sum(c for _, c in G.nodes(data="capacity") if c and G.nodes[_]["role"] == "memory") \
        == pytest.approx(100e9)


def test_cli_unit_errors_are_one_line(capsys):
    line = one_line_error(capsys, "topo", "info", *SMALL, "--link-bandwidth", "400Gx")
    assert "--link-bandwidth '400Gx': unknown unit 'Gx'" in line and "GiB/s" in line
    line = one_line_error(capsys, "solve", *SMALL, "--size", "64Mb")
    assert "reads as bits" in line


# --- no internal names in errors ---------------------------------------------------------

@pytest.mark.parametrize("argv, shown", [
    (["solve"], "TOPO"), (["topo", "info"], "TOPO"), (["topo", "build"], "TOPO"),
    (["bench"], "COLLECTIVE"), (["step"], "MODEL"),
])
def test_a_missing_argument_names_no_internal_word(capsys, argv, shown):
    line = one_line_error(capsys, *argv)
    assert f"required: {shown}" in line and "params" not in line


@pytest.mark.parametrize("argv, option", [
    (["topo", "info", "two-layer-fat-tree"], "--hosts-per-leaf"),
    (["topo", "info", "three-layer-fat-tree", "--pods", "2"], "--leaves-per-pod"),
    (["topo", "info", "two-layer-fat-tree", "--leaves", "2", "--hosts-per-leaf", "2"],
     "--spines"),
    (["topo", "info", *SMALL, "--link-bandwidth", "-5"], "--link-bandwidth"),
    (["topo", "info", "slim-fly", "--q", "5"], "--p"),
    (["topo", "info", "two-layer-fat-tree", "--radix", "63"], "--radix"),
])
def test_generator_errors_speak_in_options(capsys, argv, option):
    line = one_line_error(capsys, *argv)
    assert option in line
    # No Python identifier (a generator's function name, a parameter with underscores).
    assert not re.search(r"(?<![-\w])[a-z]+_[a-z_]+", line), line


# --- settings and defaults echoed --------------------------------------------------------

def test_solve_echoes_its_settings_and_which_are_defaults(capsys):
    code, out, _ = run(capsys, "solve", *SMALL, "--top", "0")
    assert code == 0
    assert ("settings     traffic all-to-all (default), routing spray (default), "
            "PXN on (default), seed 0 (default)\n") in out
    code, out, _ = run(capsys, "solve", *SMALL, "--routing", "hash", "--no-pxn", "--json")
    doc = json.loads(out)
    assert doc["settings"] == {"traffic": "all-to-all", "routing": "hash", "pxn": False,
                               "seed": 0}
    assert doc["defaults"] == ["traffic", "seed"]
    # Given explicitly, a default value is not "left at its default".
    code, out, _ = run(capsys, "solve", *SMALL, "--routing", "spray", "--top", "0")
    assert "routing spray," in out and "routing spray (default)" not in out


def test_bench_echoes_its_settings(capsys):
    argv = ["bench", "allreduce", "--algo", "ring", "--cluster", *SMALL, "--gpus", "4",
            "--size", "1GB"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "\n# routing dmodk (default), PXN on (default), seed 0 (default)\n" in out
    code, out, _ = run(capsys, *argv, "--routing", "hash", "--seed", "3", "--json")
    doc = json.loads(out)
    assert doc["settings"] == {"routing": "hash", "pxn": True, "seed": 3}
    assert doc["defaults"] == ["pxn"]
    assert doc["cluster"] == "two-layer-fat-tree"
    assert [r["size_bytes"] for r in doc["rows"]] == [10**9]   # --size 1GB


def test_step_echoes_its_settings(capsys):
    argv = ["step", "gpt2-medium", "--cluster", "pcie-a100-server", "--layout", "dp=8",
            "--seq", "128", "--batch", "8"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "# routing dmodk (default), placement packed (default), seed 0 (default)\n" in out
    code, out, _ = run(capsys, *argv, "--routing", "spray", "--json")
    doc = json.loads(out)
    assert doc["settings"] == {"routing": "spray", "placement": "packed", "seed": 0}
    assert doc["defaults"] == ["placement", "seed"]


def test_emulate_echoes_its_settings():
    from netemu.cli.emulate import format_table, settings

    class Result:                       # what an EmulationResult's to_json gives
        def to_json(self):
            return {"traffic": "permutation(seed=0)", "routing": "hash", "scale": 1e-3,
                    "offload": True, "duration_s": 10.0, "acks_counted": False,
                    "load_average": [0.1, 0.2],
                    "flows": [{"src": "n0", "dst": "n1", "measured_bps": 1e8,
                               "predicted_bps": 1e8}],
                    "aggregate": {"measured_bps": 1e8, "predicted_bps": 1e8, "error": 0.0,
                                  "mean_abs_flow_error": 0.0}}

    s = settings({"routing": "dmodk", "queue": "256KiB"}, {"acks"})
    assert s.json() == {"settings": {"traffic": "permutation", "routing": "dmodk",
                                     "scale": 1e-3, "duration": 10.0, "warmup": 2.0,
                                     "offload": "auto", "queue": 256 * 1024, "seed": 0,
                                     "acks": True},
                        "defaults": ["traffic", "scale", "duration", "warmup", "offload",
                                     "seed"]}
    text = format_table(Result(), "two-layer-fat-tree", settings=s)
    assert ("settings     traffic permutation (default), routing dmodk, scale 0.001 (default), "
            "duration 10 s (default), warmup 2 s (default), offload auto (default), "
            "queue 262144 B, seed 0 (default), ACKs on") in text
