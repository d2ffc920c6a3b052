"""Presets against the papers' published tables (compared, never fed in)."""

import pytest

from netemu.experiments.published import FF_TABLE3, ISCA_TABLE3
from netemu.errors import ParameterError
from netemu.graph import validate
from netemu.topologies import preset, summary
from netemu.topologies.presets import PRESETS, slim_fly_for_radix

SMALL = ["isca-ft2", "fire-flyer-2", "ff-pcie-3layer", "ff-dgx-3layer"]


@pytest.fixture(scope="module")
def summaries():
    return {}


def _summary(cache, name):
    if name not in cache:
        G = preset(name)
        if name in SMALL:
            validate(G)
        cache[name] = summary(G)
    return cache[name]


@pytest.mark.parametrize("name", list(ISCA_TABLE3))
def test_isca_table3_counts_exact(summaries, name):
    s = _summary(summaries, name)
    paper = ISCA_TABLE3[name]
    assert (s["endpoints"], s["switches"], s["links"]) == (
        paper["endpoints"], paper["switches"], paper["links"])


@pytest.mark.parametrize("name", list(ISCA_TABLE3))
def test_isca_table3_cost_within_10_percent(summaries, name):
    s = _summary(summaries, name)
    paper_usd = ISCA_TABLE3[name]["cost_musd"] * 1e6
    assert s["cost_usd"] == pytest.approx(paper_usd, rel=0.10)
    assert s["cost_per_endpoint_usd"] == pytest.approx(s["cost_usd"] / s["endpoints"])


@pytest.mark.parametrize("name", list(FF_TABLE3))
def test_fire_flyer_switch_counts(summaries, name):
    assert _summary(summaries, name)["switches"] == FF_TABLE3[name]["switches"]


def test_every_preset_is_listed_and_unknown_refused():
    assert set(PRESETS) >= set(ISCA_TABLE3) | set(FF_TABLE3)
    with pytest.raises(ParameterError, match="unknown preset 'nope'; allowed: isca-ft2"):
        preset("nope")


def test_slim_fly_radix_rule():
    # k' = (3q - δ)/2 plus p = ceil(k'/2) endpoints must fit the radix; the next q must not.
    for radix in (16, 32, 48, 64, 128):
        q, p = slim_fly_for_radix(radix)
        delta = q - 4 * round(q / 4)
        k_net = (3 * q - delta) // 2
        assert k_net + p <= radix
        assert p == -(-k_net // 2)
