"""ISCA Table 5 experiment: the per-hop model's orderings, and report() output."""

import csv

import pytest

from netemu.experiments import latency as m
from netemu.topologies import latency as L


@pytest.fixture(scope="module")
def rows():
    return [r for p in m.points() for r in m.run_point(p)]


def _get(rows, t, p):
    return next(r for r in rows if (r["transport"], r["placement"]) == (t, p))


def test_cross_leaf_is_slower_by_two_switches_and_two_fabric_cables(rows):
    for t, medium in (("ib", "ib"), ("roce", "ethernet")):
        same, cross = _get(rows, t, "same leaf"), _get(rows, t, "cross leaf")
        assert (same["switches"], cross["switches"]) == (1, 3)
        extra = 2 * L.SWITCH_LATENCY[medium].seconds + \
            2 * L.FABRIC_CABLE_M * L.PROPAGATION.seconds
        assert cross["total_us"] - same["total_us"] == pytest.approx(extra / m.US)


def test_roce_minus_ib_is_the_switches_and_adapters_only(rows):
    """The PCIe legs and the poll are the same host side for both: they cancel."""
    for p, switches in (("same leaf", 1), ("cross leaf", 3)):
        extra = switches * (L.ETHERNET_400G_SWITCH.seconds - L.IB_NDR_SWITCH.seconds) + \
            L.ROCE_ADAPTER.seconds - L.IB_ADAPTER.seconds
        diff = _get(rows, "roce", p)["total_us"] - _get(rows, "ib", p)["total_us"]
        assert diff == pytest.approx(extra / m.US)


def test_every_row_brackets_its_nominal_with_the_range(rows):
    for r in rows:
        assert r["total_min_us"] <= r["total_inline_us"] <= r["total_us"] <= r["total_max_us"]
        assert r["total_us"] == pytest.approx(r["endpoint_us"] + r["fabric_us"])
        terms = [v for k, v in r.items() if k.endswith(" us") and not k.startswith("total")]
        assert sum(terms) == pytest.approx(r["endpoint_us"])


def test_nvlink_path_stays_inside_the_server(rows):
    r = _get(rows, "nvlink", "intra node")
    assert r["switches"] == 0 and "nvswitch" in r["path"]
    assert r["total_us"] == pytest.approx(L.ENDPOINT_OVERHEAD["nvlink"].seconds / m.US)


def test_report_writes_files_and_compares_every_table_entry(rows, tmp_path):
    cmp = m.report(rows, tmp_path)
    assert (tmp_path / "latency.png").stat().st_size > 0
    with open(tmp_path / "latency.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    absolute = [c for c in cmp if c["metric"] == "latency us"]
    # One comparison per point of the sweep, carrying netemu's own total for that point.
    assert sorted(c["point"] for c in absolute) == sorted(
        f"{r['transport']} {r['placement']}" for r in rows)
    for c in absolute:
        t, p = c["point"].split(" ", 1)
        assert c["paper"] > 0
        assert c["netemu"] == _get(rows, t, p)["total_us"]
        assert c["error"] == pytest.approx((c["netemu"] - c["paper"]) / c["paper"])
    assert {c["point"] for c in cmp if c["metric"] == "added latency us"} == \
        {"roce cross - same leaf", "ib cross - same leaf", "roce - ib same leaf",
         "roce - ib cross leaf"}
    assert all(c["kind"] == "prediction" for c in cmp)
