"""Issue 18's reproducers: memory refused up front, strict graph and traffic files, numbers
in range, no CLI tracebacks.  Each failed on the code before the fix."""

import json
import os
import stat

import networkx as nx
import pytest

from netemu import memory
from netemu.cli import main
from netemu.errors import GraphError, GraphFileError, ParameterError, TrafficError
from netemu.graph import validate
from netemu.io import load, save
from netemu.topologies.dragonfly import dragonfly
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.traffic import all_to_all, from_csv, shift


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netemu")
    return lines[0]


# --- 1. memory -------------------------------------------------------------------------------

def test_router_tables_counted_in_the_estimate():
    # The router keeps hop counts (int64) and path counts (float64) for every switch and
    # endpoint signature: 16 bytes a cell at the very least, whatever the flow count.
    G = dragonfly(a=16, p=8, h=8)
    S = sum(1 for _, r in G.nodes(data="role") if r == "router")
    T = S                                    # every router has its own endpoints
    assert memory.solve_estimate(G, shift(G, 1), "spray") >= S * T * 16


def test_factored_classes_counted_in_the_estimate():
    # Factored all-to-all: an int64 class index per (source endpoint, destination leaf).
    G = two_layer_fat_tree(16)
    N, K = 16 * 8, 16
    assert memory.solve_estimate(G, all_to_all(G), "spray", factored=True) >= N * K * 8


def test_solve_refused_with_estimate_and_limit(capsys, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "20MB")
    code, _, err = run_cli(["solve", "dragonfly", "--a", "12", "--p", "6", "--h", "6",
                            "--traffic", "shift:1"], capsys)
    line = one_line_error(code, err)
    assert "GB of memory" in line and "0.0 GB allowed by NETEMU_MEMORY_LIMIT" in line


def test_limit_env_must_be_a_size(monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "lots")
    with pytest.raises(ParameterError, match="NETEMU_MEMORY_LIMIT"):
        memory.memory_limit()
    monkeypatch.setenv(memory.LIMIT_ENV, "2GiB")
    assert memory.memory_limit()[0] <= 2 * 2**30


def test_huge_need_formats(capsys):
    with pytest.raises(ParameterError, match=r"10\^300 GB"):
        memory.check_fits(10**309, "x", available=1)


@pytest.mark.parametrize("option", [["--tokens", "9223372036854775807"],
                                    ["--experts", "9223372036854775808"],
                                    ["--tokens", "10000000"]])
def test_moe_refused_up_front(option, capsys, monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "4GB")
    code, _, err = run_cli(["bench", "moe", "--algo", "deepep", "--cluster",
                            "deepseek-v3-cluster", "--gpus", "16", *option], capsys)
    assert "GB of memory" in one_line_error(code, err)


def test_moe_estimate_covers_the_destination_arrays():
    # Every rank's (tokens, topk) int64 destinations are kept: n * tokens * topk * 8 bytes.
    assert memory.moe_bytes(16, 1000, 8, 256) >= 16 * 1000 * 8 * 8 + 1000 * 256 * 8


# --- 2. files --------------------------------------------------------------------------------

@pytest.fixture
def json_graph(tmp_path):
    path = tmp_path / "g.json"
    save(two_layer_fat_tree(4), path)
    return path, json.loads(path.read_text())


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_duplicate_link_refused(json_graph):
    path, data = json_graph
    data["links"].append(dict(data["links"][0], bandwidth=1.0))
    with pytest.raises(GraphFileError, match="given twice"):
        load(_write(path, data))


def test_reversed_duplicate_link_refused(json_graph):
    path, data = json_graph
    link = dict(data["links"][0])
    link["source"], link["target"] = link["target"], link["source"]
    data["links"].append(link)
    with pytest.raises(GraphFileError, match="given twice"):
        load(_write(path, data))


def test_duplicate_node_refused(json_graph):
    path, data = json_graph
    data["nodes"].append({"id": data["nodes"][0]["id"], "role": "spine"})
    with pytest.raises(GraphFileError, match="given twice"):
        load(_write(path, data))


@pytest.mark.parametrize("edit", [
    lambda d: d.update(graph=[1]),
    lambda d: d["nodes"][0].update(role=["host"]),
    lambda d: d["graph"].update(params=None),
    lambda d: d["links"][0].update(bandwidth=int("9" * 400)),
    lambda d: d["links"][0].update(medium=["ib"]),
    lambda d: d["graph"].update(failures={"nonsense": 1}),
    lambda d: d["graph"].update(failures={"failed_links": "leaf0--spine0"}),
    lambda d: d.update(nodes=[1, 2]),
])
def test_malformed_graph_file_is_one_graph_file_error(json_graph, edit):
    path, data = json_graph
    edit(data)
    with pytest.raises(GraphFileError) as info:
        load(_write(path, data))
    assert "\n" not in str(info.value)


def test_forged_failures_record_does_not_admit_a_disconnected_graph(json_graph):
    path, data = json_graph
    # Cut host n0 off by deleting its link, and claim a failure of a link that is still there.
    data["links"] = [l for l in data["links"] if "n0" not in (l["source"], l["target"])]
    kept = data["links"][0]
    data["graph"]["failures"] = {"failed_links": [f"{kept['source']}--{kept['target']}"]}
    with pytest.raises(GraphFileError, match="still has it"):
        load(_write(path, data))
    data["graph"]["failures"] = {"failed_links": []}
    with pytest.raises(GraphFileError, match="disconnected"):
        load(_write(path, data))


def test_real_failures_record_still_loads(tmp_path):
    from netemu.failures import fail
    G = fail(two_layer_fat_tree(4), switches=["leaf0"])
    save(G, tmp_path / "f.json")
    assert load(tmp_path / "f.json").graph["failures"]["switches"] == ["leaf0"]


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_graph_and_traffic_paths_must_be_regular_files(tmp_path, kind):
    for suffix, reader, error in ((".json", load, GraphFileError),
                                  (".csv", lambda p: from_csv(p), TrafficError)):
        path = tmp_path / f"x{suffix}"
        if kind == "fifo":
            os.mkfifo(path)                 # opening it for reading would block
        elif kind == "device":
            os.symlink("/dev/zero", path)   # reading it would never end
        else:
            path.mkdir()
        with pytest.raises(error, match="regular file"):
            reader(path)


def test_oversized_file_refused(tmp_path, monkeypatch):
    import netemu.io as nio
    monkeypatch.setattr(nio, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text("src,dst,bytes\n" + "n0,n1,1\n" * 20)
    with pytest.raises(TrafficError, match="more than the 100 bytes"):
        from_csv(path)


# --- 3. numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["solve", "two-layer-fat-tree", "--radix", "1e308"],
    ["solve", "two-layer-fat-tree", "--radix", "4", "--link-bandwidth", "1e308"],
    ["solve", "two-layer-fat-tree", "--radix", "4", "--link-bandwidth", "5e-324", "--size", "1MiB"],
])
def test_extreme_numbers_one_line(argv, capsys):
    one_line_error(*run_cli(argv, capsys)[::2])


def test_huge_shift_is_shift_mod_n(capsys):
    G = two_layer_fat_tree(4)
    N = 8
    k = 99999999999999999999
    t = shift(G, k)
    assert t.dst.tolist() == [(i + k % N) % N for i in range(N)]
    code, out, _ = run_cli(["solve", "two-layer-fat-tree", "--radix", "4", "--traffic",
                            f"shift:{k}"], capsys)
    assert code == 0 and "flows        8" in out


def test_topo_info_json_is_valid_json(capsys):
    code, out, _ = run_cli(["topo", "info", "pcie-a100-server", "--json"], capsys)
    assert code == 0
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert data["cost_per_endpoint_usd"] is None


def test_switch_price_never_negative():
    from netemu.topologies.cost import PRICES, min_switch_radix, switch_price
    k = min_switch_radix()
    assert PRICES.switch_usd_per_port * k + PRICES.switch_usd_fixed > 0
    assert PRICES.switch_usd_per_port * (k - 1) + PRICES.switch_usd_fixed <= 0
    assert switch_price(k) > 0
    for radix in (2, 1, 0, -5, float("nan")):
        with pytest.raises(ParameterError, match="radix"):
            switch_price(radix)


def test_csv_half_byte_refused_like_size(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("src,dst,bytes\nn0,n1,0.5\n")
    with pytest.raises(TrafficError, match="whole number"):
        from_csv(path)
    path.write_text("src,dst,bytes\nn0,n1,1e6\nn1,n0,4KiB\n")
    assert from_csv(path).sizes.tolist() == [1e6, 4096.0]


@pytest.mark.parametrize("call", [
    lambda G: all_to_all(G, size="x"),
    lambda G: all_to_all(G, endpoints=5),
    lambda G: __import__("netemu.traffic").traffic.permutation(G, "a"),
    lambda G: __import__("netemu.traffic").traffic.incast(G, ["n0"]),
    lambda G: from_csv(5, G),
])
def test_wrong_types_are_traffic_errors(call):
    with pytest.raises(TrafficError):
        call(two_layer_fat_tree(4))


def test_wrong_types_graph_side():
    import netemu
    with pytest.raises(GraphFileError, match="file name"):
        load(5)
    with pytest.raises(GraphFileError, match="file name"):
        save(two_layer_fat_tree(4), None)
    with pytest.raises(GraphError, match="networkx graph"):
        netemu.solve(None, all_to_all(two_layer_fat_tree(4)))


# --- 4. output -------------------------------------------------------------------------------

def test_full_stdout_is_one_line(tmp_path):
    import subprocess
    import sys
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "netemu", "topo", "list"], stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
