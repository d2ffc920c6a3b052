"""One question, every door: ``netemu bench``, ``netemu.collectives.run`` on ``preset()`` and the
experiment's ``run_point`` give the same number, and hardware options travel through each door."""

import json

import pytest

from netemu.cli import main
from netemu.collectives import run
from netemu.experiments import hfreduce_vs_nccl, mpft_vs_mrft_alltoall
from netemu.topologies.presets import preset

MIB = 2**20
FF_SIZE = 186 * MIB


def _bench(capsys, *args):
    assert main(["bench", *args, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    return row["algbw"]


def test_hfreduce_point_is_the_same_through_every_door(capsys):
    cli = _bench(capsys, "allreduce", "--algo", "hfreduce", "--cluster", "fire-flyer-2-cluster",
                 "--gpus", "16", "--size", "186MiB")
    python = run(preset("fire-flyer-2-cluster"), "allreduce", "hfreduce", 16, FF_SIZE).algbw
    (row,) = hfreduce_vs_nccl.run_point({"gpus": 16, "algorithm": "hfreduce"})
    assert cli == pytest.approx(python, rel=1e-12)
    assert row["algbw_GBps"] * 1e9 == pytest.approx(python, rel=1e-12)


def test_shared_root_port_switch_travels_through_every_door(capsys):
    cli = _bench(capsys, "allreduce", "--algo", "hfreduce", "--cluster", "fire-flyer-2-cluster",
                 "--gpus", "16", "--size", "186MiB", "--shared-root-port", "false")
    python = run(preset("fire-flyer-2-cluster", shared_root_port=False), "allreduce", "hfreduce",
                 16, FF_SIZE).algbw
    (row,) = hfreduce_vs_nccl.run_point({"gpus": 16, "algorithm": "hfreduce"})
    assert cli == pytest.approx(python, rel=1e-12)
    assert row["rootport_perdir_GBps"] * 1e9 == pytest.approx(python, rel=1e-12)
    # Without the one-budget port the shared port gives 37.5 GB/s each way: never slower.
    assert python >= row["algbw_GBps"] * 1e9


def test_alltoall_point_is_the_same_through_every_door(capsys):
    cli = _bench(capsys, "alltoall", "--algo", "nccl", "--cluster", "deepseek-v3-cluster",
                 "--fabric", "mpft", "--gpus", "32", "--size", "128MiB")
    python = run(preset("deepseek-v3-cluster", fabric="mpft"), "alltoall", "nccl", 32,
                 128 * MIB).algbw
    (row,) = mpft_vs_mrft_alltoall.run_point({"gpus": 32, "size": 128 * MIB, "fabric": "mpft"})
    assert cli == pytest.approx(python, rel=1e-12)
    assert row["algbw_GBps"] * 1e9 == pytest.approx(python, rel=1e-12)


def test_topo_parameters_reach_the_preset_for_solve_and_bench():
    # The TOPO parsing that ``netemu solve`` and ``netemu bench`` share.
    from netemu.cli.solve import load_topology
    G = load_topology("fire-flyer-2-cluster", ["--shared-root-port", "false",
                                                "--shared-p2p=true"])
    assert "capacity" not in G.nodes["n0/rp5"] and G.nodes["n0/nic0"]["p2p_shared"] is True
    assert G.graph["params"]["server_params"] == {"shared_root_port": False, "shared_p2p": True}
