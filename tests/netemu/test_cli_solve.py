"""``netemu solve``: output, JSON, heatmap, exit codes."""

import json
import os

import pytest

from netemu.cli import main
from netemu.io import save

from .test_routing import leaf_spine


@pytest.fixture
def graph_file(tmp_path):
    p = tmp_path / "ls.json"
    save(leaf_spine(2, 2, 2, host_bw=1e9, up_bw=1e9), p)
    return p


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_from_graph_file(capsys, graph_file):
    code, out, err = run(capsys, "solve", graph_file, "--traffic", "all-to-all")
    assert code == 0 and err == ""
    # 4 hosts, 12 flows, host links limit: each flow 1e9/3 B/s = 2.667 Gb/s, aggregate 32 Gb/s
    assert "flows        12" in out
    assert "aggregate    32.00 Gb/s" in out
    assert "min 2.667  median 2.667  max 2.667 Gb/s" in out
    assert "n0->leaf0" in out


def test_json_output(capsys, graph_file):
    code, out, _ = run(capsys, "solve", graph_file, "--traffic", "shift:1", "--routing", "dmodk",
                       "--size", "1MB", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["n_flows"] == 4 and len(doc["flows"]) == 4
    assert doc["aggregate_bps"] == pytest.approx(4 * 1e9 * 8)
    assert doc["flows"][0]["src"] == "n0" and doc["flows"][0]["dst"] == "n1"
    assert doc["flows"][0]["rate_bytes_per_s"] == pytest.approx(1e9)
    assert doc["makespan_s"] == pytest.approx(1e6 / 1e9)
    assert {b["resource"] for b in doc["bottlenecks"]} >= {"n0->leaf0", "leaf0->n1"}


def test_generator_topology_and_csv_traffic(capsys, tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("src,dst,bytes\nn0,n5,1000\nn1,n5,1000\n")
    code, out, _ = run(capsys, "solve", "two-layer-fat-tree", "--leaves", "2", "--spines", "2",
                       "--hosts-per-leaf", "4", "--link-bandwidth", "1e9", "--traffic", csv,
                       "--json")
    assert code == 0
    doc = json.loads(out)
    assert [f["rate_bytes_per_s"] for f in doc["flows"]] == pytest.approx([0.5e9, 0.5e9])


def test_heatmap_written(capsys, graph_file, tmp_path):
    png = tmp_path / "util.png"
    code, _, _ = run(capsys, "solve", graph_file, "--routing", "hash", "--heatmap", png)
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_failure_leaves_no_file(capsys, graph_file, tmp_path, monkeypatch):
    import matplotlib.figure
    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", boom)
    png = tmp_path / "util.png"
    code, out, err = run(capsys, "solve", graph_file, "--heatmap", png)
    assert code == 2 and "No space left on device" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["ls.json"]


@pytest.mark.parametrize("args, match", [
    (["--routing", "random"], "--routing must be one of 'spray', 'hash', 'dmodk', 'adaptive'"),
    (["--traffic", "bogus"], "unknown traffic 'bogus'"),
    (["--traffic", "incast:leaf0"], "'leaf0'"),
    (["--traffic", "shift:x"], "shift:K needs an integer"),
    (["--traffic", "shift:4"], "multiple of the 4 endpoints"),
    (["--seed", "-3"], "--seed must be >= 0"),
    (["--seed"], "--seed needs a value"),
    (["--heatmap", "/no/such/dir/u.png"], "does not exist"),
    (["--heatmap", "u.svg"], "must end in .png"),
    (["--size", "0"], "size"),
    (["--radix", "4"], "a graph file takes no parameters"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, graph_file, args, match):
    code, out, err = run(capsys, "solve", graph_file, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and match in err


def test_bad_topology_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "solve", tmp_path / "missing.json")
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "solve", "no-such-generator")
    assert code == 2 and "unknown topology" in err and err.count("\n") == 1


def test_no_times_gives_rates_without_a_simulation(capsys, graph_file, monkeypatch):
    import netemu.flow

    def refuse(*args, **kwargs):
        raise AssertionError("completion_times ran under --no-times")
    monkeypatch.setattr(netemu.flow, "completion_times", refuse)
    code, out, _ = run(capsys, "solve", graph_file, "--traffic", "shift:1", "--routing", "dmodk",
                       "--size", "1MB", "--json", "--no-times")
    assert code == 0
    doc = json.loads(out)
    assert "makespan_s" not in doc
    assert doc["flows"][0]["rate_bytes_per_s"] == pytest.approx(1e9)
    assert "completion_s" not in doc["flows"][0] and doc["flows"][0]["bytes"] == 1e6
    assert doc["settings"]["times"] is False and "times" not in doc["defaults"]
    code, out, _ = run(capsys, "solve", graph_file, "--size", "1MB", "--no-times")
    assert code == 0 and "makespan" not in out and "flows        12" in out
    assert "completion times off" in out
    monkeypatch.undo()
    code, out, _ = run(capsys, "solve", graph_file, "--size", "1MB")
    assert "completion times on (default)" in out and "makespan" in out
