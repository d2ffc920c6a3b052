"""Presets: counts from closed forms of each generator's own parameters (never a paper's table;
the comparison with the papers' tables is the experiments' job)."""

import math

import pytest

from netemu.errors import ParameterError
from netemu.graph import validate
from netemu.topologies import preset, summary
from netemu.topologies.fire_flyer import INTERZONE_SWITCHES, ZONES
from netemu.topologies.hardware import H800_SXM, IB_NDR_64, QM8700
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


def _ft2(k):
    """Two-layer fat-tree of radix k: k leaves of k/2 hosts, k/2 spines, every leaf on every spine."""
    return {"endpoints": k * k // 2, "switches": k + k // 2, "links": k * k // 2}


def _ft3(k):
    """k-ary three-layer fat-tree: k pods of k/2 leaves and k/2 spines, (k/2)^2 cores;
    k/2 hosts per leaf; leaf-spine and spine-core layers each k^3/4 cables."""
    return {"endpoints": k ** 3 // 4, "switches": k * k + k * k // 4, "links": k ** 3 // 2}


def _slim_fly(radix):
    """Slim Fly (q, p): 2q^2 routers of network degree k' = (3q - delta)/2, p endpoints each."""
    q, p = slim_fly_for_radix(radix)
    delta = q - 4 * round(q / 4)
    k_net = (3 * q - delta) // 2
    routers = 2 * q * q
    return {"endpoints": routers * p, "switches": routers, "links": routers * k_net // 2}


def _dragonfly(radix):
    """Balanced dragonfly p = h = a/2 with a*h - 1 groups (the preset's choice): a complete
    graph inside each group and every global port used (a*h per group, one end each)."""
    p = (radix + 1) // 4
    a, h = 2 * p, p
    g = a * h - 1
    return {"endpoints": g * a * p, "switches": g * a,
            "links": g * a * (a - 1) // 2 + g * a * h // 2}


def _expected_counts(name):
    k = IB_NDR_64.ports
    if name == "isca-ft2":
        return _ft2(k)
    if name == "isca-mpft":      # one two-layer fat-tree per NIC plane
        return {key: H800_SXM.nics_per_server * v for key, v in _ft2(k).items()}
    if name == "isca-ft3":
        return _ft3(k)
    if name == "isca-slimfly":
        return _slim_fly(k)
    if name == "isca-dragonfly":
        return _dragonfly(k)
    raise KeyError(name)


ISCA = ["isca-ft2", "isca-mpft", "isca-ft3", "isca-slimfly", "isca-dragonfly"]


@pytest.mark.parametrize("name", ISCA)
def test_isca_presets_counts_from_closed_forms(summaries, name):
    s = _summary(summaries, name)
    want = _expected_counts(name)
    assert (s["endpoints"], s["switches"], s["links"]) == (
        want["endpoints"], want["switches"], want["links"])


@pytest.mark.parametrize("name", ISCA)
def test_isca_presets_cost_is_positive_and_per_endpoint_consistent(summaries, name):
    s = _summary(summaries, name)
    assert math.isfinite(s["cost_usd"]) and s["cost_usd"] > 0
    assert s["cost_per_endpoint_usd"] == pytest.approx(s["cost_usd"] / s["endpoints"])


def test_three_layers_cost_more_per_endpoint_than_two(summaries):
    # Per endpoint FT3 has more switches (5/k vs 3/k) and twice the fabric cables (2 vs 1)
    # of FT2 on the same switch: a cost model that charges switches and cables must agree.
    ft2, ft3 = _summary(summaries, "isca-ft2"), _summary(summaries, "isca-ft3")
    assert ft3["switches"] / ft3["endpoints"] > ft2["switches"] / ft2["endpoints"]
    assert ft3["links"] / ft3["endpoints"] > ft2["links"] / ft2["endpoints"]
    assert ft3["cost_per_endpoint_usd"] > ft2["cost_per_endpoint_usd"]


def _ff_switches(name):
    R, half = QM8700.ports, QM8700.ports // 2
    if name == "fire-flyer-2":
        # ZONES zones, each a two-layer fat-tree of R leaves and R/2 spines, plus the
        # inter-zone switches (the generator's defaults).
        return ZONES * (R + half) + INTERZONE_SWITCHES
    if name == "ff-pcie-3layer":
        # 4 pods of R/2 leaves and R/2 spines; cores take every spine uplink, R ports each.
        return 4 * (half + half) + 4 * half * half // R
    if name == "ff-dgx-3layer":
        # 25 pods of R/2 leaves and R/2 spines; R/2 x 16 cores.
        return 25 * (half + half) + half * 16
    raise KeyError(name)


@pytest.mark.parametrize("name", ["fire-flyer-2", "ff-pcie-3layer", "ff-dgx-3layer"])
def test_fire_flyer_switch_counts(summaries, name):
    assert _summary(summaries, name)["switches"] == _ff_switches(name)


def test_every_preset_is_listed_and_unknown_refused():
    assert set(PRESETS) >= set(ISCA) | {"fire-flyer-2", "ff-pcie-3layer", "ff-dgx-3layer"}
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
