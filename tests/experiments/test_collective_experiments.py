"""The collective experiments: one sweep point each end to end, files written, values sane."""

import csv

import pytest

from netemu.experiments import (deepep_modes, deepep_mpft, hfreduce_nvlink, hfreduce_vs_nccl,
                                inference_speed_limit, mpft_vs_mrft_alltoall, mpft_vs_mrft_latency,
                                node_limited_routing)

MODULES = [hfreduce_vs_nccl, hfreduce_nvlink, mpft_vs_mrft_alltoall, deepep_mpft,
           inference_speed_limit, deepep_modes, mpft_vs_mrft_latency, node_limited_routing]


@pytest.mark.parametrize("m", MODULES, ids=lambda m: m.NAME)
def test_points_are_distinct_and_picklable(m):
    import pickle
    pts = m.points()
    assert len(pts) == len({pickle.dumps(p) for p in pts}) > 0


def test_inference_speed_limit_is_exact(tmp_path):
    # The paper's arithmetic re-run on generated topologies: exact, and labelled a check.
    rows = [r for p in inference_speed_limit.points() if p["system"] in inference_speed_limit.CHECKS
            for r in inference_speed_limit.run_point(p)]
    cmp = inference_speed_limit.report(rows, tmp_path)
    exact = {(c["point"], c["metric"]): c for c in cmp}
    assert {c["kind"] for c in cmp} == {"check"}
    for system in ("scale-out", "nvl72"):
        for metric, digits in (("ep_step_us", 2), ("tpot_ms", 2)):
            c = exact[(system, metric)]
            assert round(c["netemu"], digits) == c["paper"]
    assert (tmp_path / "inference_speed_limit.csv").exists()
    assert (tmp_path / "inference_speed_limit.png").stat().st_size > 0


def _one(m, point, tmp_path):
    rows = m.run_point(point)
    assert rows and all(isinstance(r, dict) for r in rows)
    return rows


def test_hfreduce_beats_nccl_at_a_point():
    hf = hfreduce_vs_nccl.run_point({"gpus": 64, "algorithm": "hfreduce"})[0]
    nc = hfreduce_vs_nccl.run_point({"gpus": 64, "algorithm": "nccl"})[0]
    assert hf["algbw_GBps"] > nc["algbw_GBps"] > 0
    assert nc["runs"] in ("ring", "tree")


def test_cross_zone_job_spans_both_zones():
    from netemu.experiments.hfreduce_nvlink import _ranks, _zone
    G = hfreduce_vs_nccl.ff_cluster()
    ranks = _ranks(G, 128, "cross")
    zones = {_zone(G, r.split("/")[0]) for r in ranks}
    assert zones == {0, 1} and len(ranks) == 128


def test_mpft_and_mrft_agree_at_a_point():
    a = mpft_vs_mrft_alltoall.run_point({"gpus": 32, "size": 128 * 2**20, "fabric": "mpft"})[0]
    b = mpft_vs_mrft_alltoall.run_point({"gpus": 32, "size": 128 * 2**20, "fabric": "mrft"})[0]
    assert a["algbw_GBps"] == pytest.approx(b["algbw_GBps"], rel=0.03)


def test_report_writes_csv_png_and_comparisons(tmp_path):
    rows = deepep_mpft.run_point({"gpus": 16, "rates": "nominal"})
    # report() expects the whole sweep; give it the one point for every GPU count and option
    full = [dict(r, gpus=n, rates=q) for q in deepep_modes.RATES for n in deepep_mpft.GPUS
            for r in rows]
    cmp = deepep_mpft.report(full, tmp_path)
    assert len(cmp) == 16 and {"point", "metric", "paper", "netemu", "error"} <= set(cmp[0])
    assert {c["kind"] for c in cmp} == {"prediction"}
    # DeepEP's figure counts the sender's own node; the network does not carry that share.
    assert all(r["deepep_GBps"] > r["network_GBps_per_gpu"] > 0 for r in rows)
    with open(tmp_path / "deepep_mpft.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(full)
    assert (tmp_path / "deepep_mpft.png").stat().st_size > 0
