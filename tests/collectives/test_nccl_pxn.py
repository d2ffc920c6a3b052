"""``--algo nccl --no-pxn``: NCCL's choice is made with PXN off, as the collective then runs."""

import netemu.collectives as collectives
from netemu.collectives import run
from netemu.topologies.clusters import cluster
from netemu.topologies.planes import multi_plane_fat_tree
from netemu.topologies.servers import h800_server


def _cluster():
    return cluster(multi_plane_fat_tree(8, 2, servers=2), h800_server)


def test_nccl_allreduce_choice_is_evaluated_with_the_requested_pxn(monkeypatch):
    G = _cluster()
    calls = []
    real = collectives.evaluate

    def spy(G, w, **kw):
        calls.append((w.algorithm, kw.get("pxn", True)))
        return real(G, w, **kw)

    monkeypatch.setattr(collectives, "evaluate", spy)
    for pxn in (False, True):
        calls.clear()
        run(G, "allreduce", "nccl", 16, 2**28, pxn=pxn)
        # The ring NCCL's cost model looks at, and the chosen algorithm, both with `pxn`.
        assert calls and all(p == pxn for _, p in calls)


def test_nccl_alltoall_without_pxn_runs_direct_sends():
    G = _cluster()
    r = run(G, "alltoall", "nccl", 16, 2**30, pxn=False)
    assert r.algorithm == "direct"
    assert r.time == run(G, "alltoall", "direct", 16, 2**30, pxn=False).time
    assert run(G, "alltoall", "nccl", 16, 2**30).algorithm == "pxn"


def test_cli_bench_no_pxn_reaches_the_choice(monkeypatch, capsys):
    from netemu.cli import main

    seen = []
    real = collectives.evaluate

    def spy(G, w, **kw):
        seen.append(kw.get("pxn", True))
        return real(G, w, **kw)

    monkeypatch.setattr(collectives, "evaluate", spy)
    assert main(["bench", "allreduce", "--algo", "nccl", "--cluster", "multi-plane-fat-tree",
                 "--planes", "2", "--radix", "4", "--gpus", "2", "--size", "1MiB",
                 "--no-pxn"]) == 0
    capsys.readouterr()
    assert seen and not any(seen)
