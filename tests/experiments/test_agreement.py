"""Comparison rows' classes, tolerance bands and curve shape (netemu.experiments.agreement)."""

import types

import pytest

from netemu.errors import ParameterError
from netemu.experiments.agreement import figure_summary, in_band, order, shape, tolerance_of
from netemu.experiments.support import KINDS, compare_row


def test_compare_row_default_is_a_prediction_with_relative_error():
    r = compare_row("16 GPUs", "algbw GB/s", 4.0, 5.0)
    assert r == {"point": "16 GPUs", "metric": "algbw GB/s", "paper": 4.0, "netemu": 5.0,
                 "error": 0.25, "kind": "prediction", "note": ""}


def test_compare_row_check_keeps_its_note_and_missing_values_give_no_error():
    r = compare_row("all", "bound TB/s", 9.0, 9.0, kind="check", note="sum of NIC rates")
    assert (r["kind"], r["note"], r["error"]) == ("check", "sum of NIC rates", 0.0)
    assert compare_row("x", "m", None, 1.0)["error"] is None
    assert compare_row("x", "m", 0.0, 1.0)["error"] is None


@pytest.mark.parametrize("kind", ["predicted", "", None, "Check"])
def test_compare_row_rejects_an_unknown_kind_naming_the_allowed_ones(kind):
    with pytest.raises(ParameterError, match=rf"kind {kind!r}.*allowed: prediction, check"):
        compare_row("x", "m", 1.0, 1.0, kind=kind)
    assert KINDS == ("prediction", "check")


def test_tolerance_per_experiment_or_per_metric():
    assert tolerance_of(types.SimpleNamespace(TOLERANCE=0.2), "anything") == 0.2
    per = types.SimpleNamespace(TOLERANCE={"hfreduce": 0.15, "nccl": 0.25})
    assert (tolerance_of(per, "hfreduce"), tolerance_of(per, "nccl"),
            tolerance_of(per, "other")) == (0.15, 0.25, None)
    assert tolerance_of(types.SimpleNamespace(), "m") is None


def test_in_band_is_inclusive_and_empty_without_a_band():
    assert in_band(0.25, 0.25) == "yes" and in_band(-0.25, 0.25) == "yes"
    assert in_band(0.2501, 0.25) == "no"
    assert in_band(0.1, None) == "" and in_band(None, 0.2) == ""


def test_order_treats_values_within_one_percent_as_tied():
    assert order(100.0, 100.9) == 0 and order(100.0, 101.1) == -1 and order(5.0, 1.0) == 1


def test_shape_counts_pairs_ordered_alike():
    # Paper rises then falls; netemu rises monotonically: only the pair (0, 1) and (0, 2)
    # agree (both say point 0 is lowest); (1, 2) is ordered the other way.
    assert shape([1.0, 3.0, 2.0], [1.0, 2.0, 3.0]) == (2, 3)
    # A flat netemu curve against a falling paper curve agrees on no pair.
    assert shape([4.0, 3.0, 2.0, 1.0], [7.0, 7.0, 7.0, 7.0]) == (0, 6)
    # Ties on both sides agree.
    assert shape([2.0, 2.01], [5.0, 5.0]) == (1, 1)
    assert shape([1.0], [2.0]) == (0, 0)


def _row(exp, metric, paper, ours, kind="prediction", band=None):
    e = None if paper is None else (ours - paper) / paper
    return {"experiment": exp, "point": "p", "metric": metric, "kind": kind, "paper": paper,
            "netemu": ours, "error": e, "band": band, "in_band": in_band(e, band), "note": ""}


def test_figure_summary_counts_predictions_only():
    rows = [_row("a", "m", 10.0, 11.0, band=0.15),      # +10%, inside
            _row("a", "m", 20.0, 26.0, band=0.15),      # +30%, outside
            _row("a", "m", 30.0, 27.0, band=0.15),      # -10%, inside
            _row("a", "m", 5.0, 5.0, kind="check"),     # never counted
            _row("a", "n", None, 3.0, kind="netemu only"),
            _row("b", "m", 2.0, 1.0)]                   # another experiment, no band
    a, b = figure_summary(rows, {"a": "Fig. A"})
    assert (a["result"], a["metric"], a["predictions"], a["checks"]) == ("Fig. A", "m", 3, 1)
    assert a["mean_abs_error"] == pytest.approx((0.1 + 0.3 + 0.1) / 3)
    assert a["max_abs_error"] == pytest.approx(0.3)
    assert (a["band"], a["inside"]) == (0.15, 2)
    # paper 10 < 20 < 30; netemu 11 < 26 < 27: every pair ordered alike.
    assert (a["shape"], a["pairs_agreeing"]) == ("matches", "3/3")
    assert (b["result"], b["band"], b["inside"], b["shape"]) == ("b", None, None, "")
