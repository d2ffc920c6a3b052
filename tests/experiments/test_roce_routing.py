"""ISCA Fig. 8 setup: TP rings across leaves, and what each routing gives them."""

from netemu.experiments import roce_routing

m = roce_routing


def test_rings_put_every_member_on_its_own_leaf():
    G = m._fabric()
    for tp in m.TP:
        groups = m.rings(G, tp)
        assert len(groups) == m.LEAVES * m.PER_LEAF // tp
        assert sorted(h for g in groups for h in g) == sorted(
            n for n, r in G.nodes(data="role") if r == "host")
        for g in groups:
            leaves = {next(v for v in G.adj[h] if G.nodes[v]["role"] == "leaf") for h in g}
            assert len(leaves) == tp


def test_adaptive_reaches_the_link_rate_and_ecmp_does_not_exceed_it():
    # Each leaf sends at most PER_LEAF ring flows up over SPINES = PER_LEAF uplinks: placed
    # one per uplink, every flow runs at the link rate, the best any routing can do.
    link = 400e9 / 8 / 1e9
    (ar,) = m.run_point({"tp": 4, "routing": "adaptive", "seed": 0})
    assert ar["busbw_min_GBps"] == ar["busbw_mean_GBps"] == link
    for seed in range(3):
        (h,) = m.run_point({"tp": 4, "routing": "hash", "seed": seed})
        assert h["busbw_min_GBps"] <= h["busbw_mean_GBps"] <= link


def test_report_rows_and_files(tmp_path):
    rows = [m.run_point({"tp": tp, "routing": r, "seed": 0})[0] for tp in m.TP
            for r in m.ROUTINGS]
    out = roce_routing.report(rows, tmp_path)
    assert (tmp_path / "roce_routing.csv").exists() and (tmp_path / "roce_routing.png").exists()
    kinds = {r["metric"] for r in out}
    assert "stated ordering holds (1 = yes)" in kinds
    assert all(r["netemu"] in (0.0, 1.0) for r in out if r["metric"].startswith("stated"))
