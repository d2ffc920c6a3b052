"""The [ISCA] experiments added for issue 15: rows labelled by kind, stated relations, metrics."""

import pytest

from netemu.experiments import (deepep_modes, mpft_vs_mrft_alltoall, mpft_vs_mrft_latency,
                                node_limited_routing)
from netemu.experiments.support import compare_row
from netemu.errors import ParameterError


def test_row_carries_its_kind():
    r = compare_row("p", "m", 2.0, 3.0, kind="check")
    assert r["kind"] == "check" and r["error"] == pytest.approx(0.5)
    with pytest.raises(ParameterError, match="kind"):
        compare_row("p", "m", 2.0, 3.0, kind="agreement")


def test_node_limited_routing_rows(tmp_path):
    rows = [r for p in node_limited_routing.points() for r in node_limited_routing.run_point(p)]
    got = {r["routing"]: r for r in rows}
    # Every token reaches at least one and at most 8 nodes; the limit holds.
    assert got["top-4 groups"]["max_M"] <= 4 and got["top-4 nodes, uniform"]["max_M"] <= 4
    for r in rows:
        assert sum(r[f"share_M{m}"] for m in range(1, 9)) == pytest.approx(1.0)
        # Without forwarding a token sends one copy per expert off its node: 8 x 7/8 on average.
        assert r["mean_ib_sends_unforwarded"] == pytest.approx(7.0, abs=0.05)
    # Unlimited top-8 of 256 on 8 nodes: E[M] = 8 (1 - C(224, 8) / C(256, 8)).
    from math import comb
    assert got["unlimited"]["mean_M"] == pytest.approx(8 * (1 - comb(224, 8) / comb(256, 8)),
                                                      abs=0.02)
    cmp = node_limited_routing.report(rows, tmp_path)
    kinds = {c["metric"]: c["kind"] for c in cmp}
    assert kinds["scale-up / scale-out bandwidth"] == "check"
    assert kinds["max nodes per token M"] == "check"
    assert kinds["mean M (paper: at most 4)"] == "prediction"
    ratio = [c for c in cmp if c["metric"] == "scale-up / scale-out bandwidth"][0]
    assert ratio["netemu"] == pytest.approx(160 / 40)
    assert (tmp_path / "node_limited_routing.png").stat().st_size > 0


def test_mpft_vs_mrft_latency_report_is_a_check(tmp_path):
    sizes = mpft_vs_mrft_latency.ISCA_FIG6_SIZES
    assert sizes[0] == 64 and sizes[-1] == 16 * 2**30 and len(sizes) == 15
    rows = [{"fabric": f, "size_bytes": s, "time_us": 1.0 + s / 1e9 * (1.01 if f == "mpft" else 1)}
            for f in ("mpft", "mrft") for s in sizes]
    cmp = mpft_vs_mrft_latency.report(rows, tmp_path)
    assert {c["kind"] for c in cmp} == {"check"}
    worst = [c for c in cmp if "deviation" in c["metric"]][0]
    assert worst["netemu"] == pytest.approx((1 + 16 * 2**30 / 1e9 * 1.01) / (1 + 16 * 2**30 / 1e9))


def test_mpft_vs_mrft_latency_small_message_is_the_path_latency():
    from netemu.topologies.latency import ENDPOINT_OVERHEAD
    r = mpft_vs_mrft_latency.run_point({"fabric": "mpft", "size": 64})[0]
    # 64 B: the bytes take picoseconds, the time is the catalogue's latency of the path.
    assert r["time_us"] == pytest.approx(r["latency_part_us"], rel=1e-2)
    assert r["latency_part_us"] > ENDPOINT_OVERHEAD["ib"].seconds * 1e6


def test_fig5_ratio_rows_are_checks(tmp_path):
    rows = [{"gpus": n, "size_bytes": s, "fabric": f, "algbw_GBps": 40.0}
            for n in mpft_vs_mrft_alltoall.ISCA_FIG5_GPUS for s in mpft_vs_mrft_alltoall.ISCA_FIG5_SIZES
            for f in ("mpft", "mrft")]
    cmp = mpft_vs_mrft_alltoall.report(rows, tmp_path)
    assert {c["kind"] for c in cmp} == {"check"}


def test_deepep_modes_report_compares_low_latency_as_predictions(tmp_path):
    rows = [{"mode": m, "gpus": n, "rates": q, "stage": st, "time_us": 100.0, "deepep_GBps": 40.0}
            for q in deepep_modes.RATES for m in deepep_modes.MODES for n in deepep_modes.EP
            for st in deepep_modes.STAGES]
    cmp = deepep_modes.report(rows, tmp_path)
    assert len(cmp) == 2 * 2 * 2 * len(deepep_modes.EP)
    assert {c["kind"] for c in cmp} == {"prediction"}
    assert (tmp_path / "deepep_modes.png").stat().st_size > 0


def test_rates_options_come_from_the_catalogue():
    from netemu.topologies.hardware import CX7_400G, H800_SXM
    assert deepep_modes.rates("nominal") == (CX7_400G.bandwidth, H800_SXM.nvlink_unidirectional)
    assert deepep_modes.rates("achievable") == (H800_SXM.nic_effective, H800_SXM.nvlink_achievable)
    with pytest.raises(ParameterError, match="rates"):
        deepep_modes.rates("fitted")


def test_low_latency_mode_metric_counts_every_selection():
    # EP 16 on the nominal cluster: DeepEP's figure is 128 x 8 messages of
    # 7168 + 224 + 16 bytes over the kernel time, whatever stays on the node.
    r = {x["stage"]: x for x in deepep_modes.run_mode("low-latency", 16, "nominal")}
    d = r["dispatch"]
    assert d["deepep_GBps"] * d["time_us"] * 1e3 == pytest.approx(128 * 8 * (7168 + 224 + 16))
    c = r["combine"]
    assert c["deepep_GBps"] * c["time_us"] * 1e3 == pytest.approx(128 * 8 * 7168 * 2)
    # The kernel time is the bytes' time plus the catalogue latency of the slowest path.
    assert d["time_us"] == pytest.approx(d["bandwidth_time_us"] + d["latency_us"])
    assert 0 < d["latency_us"] < 5
