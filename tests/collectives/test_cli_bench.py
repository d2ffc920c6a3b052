"""``netemu bench``: nccl-tests table, JSON rows, and one-line errors with exit status 2."""

import json

import pytest

from netemu.cli import main


def test_table_has_nccl_tests_columns(capsys):
    assert main(["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster",
                 "--gpus", "16,32", "--size", "186MiB"]) == 0
    out = capsys.readouterr().out
    assert "algbw(GB/s)" in out and "busbw(GB/s)" in out and "time(us)" in out
    assert "# 16 GPUs" in out and "# 32 GPUs" in out and "195035136" in out


def test_json_rows(capsys):
    assert main(["bench", "alltoall", "--algo", "pxn", "--cluster", "deepseek-v3-cluster",
                 "--fabric", "mrft", "--gpus", "16:32", "--size", "128MiB:256MiB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["rows"]
    assert [(r["gpus"], r["size_bytes"]) for r in rows] == [
        (16, 128 * 2**20), (16, 256 * 2**20), (32, 128 * 2**20), (32, 256 * 2**20)]
    for r in rows:
        assert set(r) >= {"gpus", "size_bytes", "time_s", "algbw", "busbw"}
        assert r["algbw"] == pytest.approx(r["size_bytes"] / r["time_s"])
        assert r["busbw"] == pytest.approx(r["algbw"] * (r["gpus"] - 1) / r["gpus"])


def test_range_ends_on_the_last_value():
    from netemu.cli.bench import parse_range, _gpu_count
    assert parse_range("16:1440", "gpus", _gpu_count) == [16, 32, 64, 128, 256, 512, 1024, 1440]
    assert parse_range("8,24", "gpus", _gpu_count) == [8, 24]


@pytest.mark.parametrize("argv,needle", [
    (["bench", "allreduce", "--algo", "nope", "--cluster", "fire-flyer-2-cluster", "--gpus", "16",
      "--size", "1MiB"], "unknown algorithm 'nope'"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus",
      "20000", "--size", "1MiB"], "holds 9600 GPUs"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus", "16",
      "--size", "0"], "size '0'"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus", "16",
      "--size", "-4MiB"], "size '-4MiB'"),
    (["bench", "sum", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus", "16",
      "--size", "1MiB"], "unknown collective 'sum'"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "no-such-cluster", "--gpus", "16",
      "--size", "1MiB"], "no-such-cluster"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus", "x",
      "--size", "1MiB"], "--gpus"),
    (["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster", "--gpus", "16",
      "--size", "1MiB", "--tokens", "5"], "--tokens applies to the moe"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1


def _bench_json(capsys, *extra):
    assert main(["bench", "alltoall", "--algo", "direct", "--cluster", "fire-flyer-2-cluster",
                 "--gpus", "256", "--size", "1GiB", "--routing", "spray", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_failed_links_slow_the_collective_down(capsys):
    from netemu.graph import is_switch
    from netemu.topologies.presets import preset

    G = preset("fire-flyer-2-cluster")
    fabric_links = sum(1 for u, v in G.edges() if is_switch(G, u) and is_switch(G, v))
    intact = _bench_json(capsys)
    degraded = _bench_json(capsys, "--fail-fraction", "0.9", "--seed", "1")
    assert "failures" not in intact
    assert len(degraded["failures"]["failed_links"]) == -(-9 * fabric_links // 10)
    # With 90% of the leaf-spine links gone the leaves' uplinks, not the NICs, limit the
    # all-to-all: strictly slower than on the intact fabric.
    assert degraded["rows"][0]["busbw"] < 0.5 * intact["rows"][0]["busbw"]


def test_ranks_cut_off_by_a_failed_leaf_are_named(capsys):
    assert main(["bench", "allreduce", "--algo", "ring", "--cluster", "fire-flyer-2-cluster",
                 "--gpus", "64", "--size", "186MiB", "--fail-switch", "z0/leaf0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no link to the fabric (cut off by failures): n0 (8 rank(s))" in err


@pytest.mark.parametrize("algo", ["hfreduce", "hfreduce-nvlink", "tree", "ring"])
@pytest.mark.parametrize("where", [["--cluster", "pcie-a100-server"],
                                   ["--cluster", "fire-flyer-2-cluster",
                                    "--fail-link", "n0/nic0--z0/leaf0"]])
def test_a_job_inside_one_server_runs_without_a_link_to_the_fabric(capsys, algo, where):
    # A lone server, or one whose NIC link failed: a job inside it needs no fabric, and its
    # reduction socket and chain heads still follow its NIC (found by the fuzz tests: these
    # raised IndexError / ZeroDivisionError).
    assert main(["bench", "allreduce", "--algo", algo, *where, "--gpus", "8",
                 "--size", "1MiB"]) == 0
    rows = [l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("1048576")]
    assert len(rows) == 1 and float(rows[0].split()[3]) > 0
