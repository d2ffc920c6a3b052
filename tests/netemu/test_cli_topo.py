import json
import os
import subprocess
import sys

import pytest

from netemu.cli import main
from netemu.io import load


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_generators_and_presets(capsys):
    code, out, _ = run(capsys, "topo", "list")
    assert code == 0
    for name in ("two-layer-fat-tree", "three-layer-fat-tree", "multi-plane-fat-tree",
                 "multi-rail-fat-tree", "slim-fly", "dragonfly", "fire-flyer-2",
                 "isca-mpft", "ff-dgx-3layer", "--radix"):
        assert name in out


def test_info_json_matches_formula(capsys):
    code, out, _ = run(capsys, "topo", "info", "two-layer-fat-tree", "--leaves", "4", "--spines", "2",
                       "--hosts-per-leaf", "3", "--json")
    assert code == 0
    s = json.loads(out)
    assert (s["endpoints"], s["switches"], s["links"], s["endpoint_links"]) == (12, 6, 8, 12)


def test_info_human(capsys):
    code, out, _ = run(capsys, "topo", "info", "three-layer-fat-tree", "--k", "4")
    assert code == 0
    assert "endpoints" in out and "16" in out


@pytest.mark.parametrize("suffix", [".graphml", ".json"])
def test_build_then_info_from_file(capsys, tmp_path, suffix):
    out_file = tmp_path / f"g{suffix}"
    code, out, _ = run(capsys, "topo", "build", "three-layer-fat-tree", "--k", "4", "--out", str(out_file))
    assert code == 0 and out_file.exists()
    G = load(out_file)
    assert G.graph["params"]["k"] == 4
    code, out, _ = run(capsys, "topo", "info", str(out_file), "--json")
    assert json.loads(out)["switches"] == 20


def test_draw_writes_png(capsys, tmp_path):
    png = tmp_path / "ls.png"
    code, _, _ = run(capsys, "topo", "draw", "two-layer-fat-tree", "--leaves", "4", "--spines", "2",
                     "--hosts-per-leaf", "4", "--out", str(png))
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_summarises_large_graph(capsys, tmp_path):
    png = tmp_path / "big.png"
    code, out, _ = run(capsys, "topo", "draw", "three-layer-fat-tree", "--k", "12", "--out", str(png))
    assert code == 0 and png.exists()


@pytest.mark.parametrize("argv,needle", [
    (["topo", "info", "no-such-topology"], "unknown topology 'no-such-topology'"),
    (["topo", "info", "two-layer-fat-tree", "--radix", "63"], "radix"),
    (["topo", "info", "two-layer-fat-tree", "--radix", "sixty"], "radix"),
    (["topo", "info", "two-layer-fat-tree", "--colour", "red"], "no parameter --colour"),
    (["topo", "info", "two-layer-fat-tree", "--radix"], "needs a value"),
    (["topo", "info", "isca-ft2", "--radix", "8"], "takes no parameters"),
    (["topo", "build", "three-layer-fat-tree", "--k", "4"], "--out FILE is required"),
    (["topo", "build", "three-layer-fat-tree", "--k", "4", "--out", "x.txt"], "allowed file types"),
    (["topo", "build", "three-layer-fat-tree", "--k", "4", "--out", "/nonexistent/dir/g.json"],
     "does not exist"),
    (["topo", "info", "/nonexistent/g.json"], "no such file"),
    (["topo", "frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_malformed_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml")
    code, _, err = run(capsys, "topo", "info", str(bad))
    assert code == 2 and "bad.graphml" in err and len(err.strip().splitlines()) == 1


def test_unwritable_output_is_one_line(capsys):
    # /proc refuses new files even to root, so this holds as any user.
    code, _, err = run(capsys, "topo", "build", "three-layer-fat-tree", "--k", "4",
                       "--out", "/proc/netemu-test.json")
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists("/proc/netemu-test.json")


def test_python_m_netemu_entry_point():
    r = subprocess.run([sys.executable, "-m", "netemu", "topo", "info", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_generator_sharing_a_preset_name_takes_parameters(capsys):
    code, out, _ = run(capsys, "topo", "info", "fire-flyer-2", "--json")
    default = json.loads(out)
    code, out, _ = run(capsys, "topo", "info", "fire-flyer-2", "--gpu-servers-per-zone", "300", "--json")
    assert code == 0
    assert json.loads(out)["endpoints"] == default["endpoints"] - 2 * 300


def test_catalogue_models_by_name(capsys):
    code, out, _ = run(capsys, "topo", "info", "fire-flyer-2", "--switch", "IB-NDR-64", "--json")
    assert code == 0 and json.loads(out)["switches"] > 122
    code, _, err = run(capsys, "topo", "info", "fire-flyer-2", "--switch", "foo")
    assert code == 2 and "allowed: IB-NDR-64, QM8700" in err


def test_list_shows_bandwidths_in_gbps(capsys):
    _, out, _ = run(capsys, "topo", "list")
    assert "--link-bandwidth (default 400Gbps)" in out
