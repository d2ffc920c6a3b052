"""Per-process builds shared by the experiments' points: a kept build gives what a fresh one
gives, and what is not kept is built afresh."""

import networkx as nx
import pytest

from netemu.experiments.support import PRICED_FABRICS, cluster, fabric
from netemu.topologies.cost import DEFAULT_LAYOUT, Layout, cost
from netemu.topologies.presets import preset


@pytest.mark.parametrize("name", ["isca-ft2", "fire-flyer-2", "ff-pcie-3layer"])
def test_a_kept_fabric_prices_as_a_fresh_build(name):
    assert name in PRICED_FABRICS
    G = fabric(name)
    assert fabric(name) is G and nx.is_frozen(G)
    for layout in (DEFAULT_LAYOUT, Layout(packing="group"), Layout(switches_per_rack=8)):
        assert cost(G, layout=layout) == cost(preset(name), layout=layout)


def test_a_fabric_not_kept_is_built_afresh():
    name = "deepseek-v3-cluster"
    assert name not in PRICED_FABRICS
    a, b = fabric(name), fabric(name)
    assert a is not b and not nx.is_frozen(a)
    assert list(a.edges(data=True)) == list(b.edges(data=True))


def test_clusters_are_kept_per_parameters():
    G = cluster("deepseek-v3-cluster", fabric="mpft")
    assert cluster("deepseek-v3-cluster", fabric="mpft") is G and nx.is_frozen(G)
    H = cluster("deepseek-v3-cluster", fabric="mrft")
    assert H is not G and H.number_of_edges() != G.number_of_edges()
