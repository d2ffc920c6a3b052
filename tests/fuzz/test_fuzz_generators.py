"""Generators with random parameters: a valid graph or a ParameterError, nothing else."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import NetemuError
from netemu.graph import validate
from netemu.topologies.dragonfly import dragonfly
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree
from netemu.topologies.slim_fly import slim_fly

from .strategies import odd_values, small_counts

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

#: Keep successful builds small so the suite stays fast; the memory guard covers huge ones.
MAX_NODES = 20_000


def _build(fn, **kw):
    try:
        G = fn(**kw)
    except NetemuError:
        return None
    validate(G)
    assert G.number_of_nodes() <= MAX_NODES * 10
    return G


@SETTINGS
@given(radix=small_counts, leaves=small_counts, spines=small_counts, hosts=small_counts,
       uplinks=small_counts, over=st.one_of(st.none(), odd_values), bw=odd_values,
       latency=odd_values)
def test_two_layer_fat_tree(radix, leaves, spines, hosts, uplinks, over, bw, latency):
    _build(two_layer_fat_tree, radix=radix, leaves=leaves, spines=spines, hosts_per_leaf=hosts,
           leaf_uplinks=uplinks, oversubscription=over,
           link_bandwidth=bw if bw is not None else 1e9, latency=latency or 0.0)


@SETTINGS
@given(k=small_counts, pods=small_counts, lpp=small_counts, spp=small_counts, hpl=small_counts,
       up=small_counts, cores=small_counts, radix=small_counts, bw=odd_values)
def test_three_layer_fat_tree(k, pods, lpp, spp, hpl, up, cores, radix, bw):
    _build(three_layer_fat_tree, k=k, pods=pods, leaves_per_pod=lpp, spines_per_pod=spp,
           hosts_per_leaf=hpl, spine_uplinks=up, cores=cores, radix=radix, link_bandwidth=bw)


@SETTINGS
@given(fn=st.sampled_from([multi_plane_fat_tree, multi_rail_fat_tree]), n=small_counts,
       radix=small_counts, servers=small_counts, bw=odd_values, intra=odd_values,
       medium=st.sampled_from(["ib", "ethernet", "carrier-pigeon", None, 3]))
def test_planes_and_rails(fn, n, radix, servers, bw, intra, medium):
    _build(fn, **{"planes" if fn is multi_plane_fat_tree else "rails": n}, radix=radix,
           servers=servers, link_bandwidth=bw, intra_bandwidth=intra, medium=medium)


@SETTINGS
@given(a=small_counts, p=small_counts, h=small_counts, g=small_counts, bw=odd_values)
def test_dragonfly(a, p, h, g, bw):
    _build(dragonfly, a=a, p=p, h=h, g=g, link_bandwidth=bw)


@SETTINGS
@given(q=st.one_of(st.integers(-2, 14), st.sampled_from([None, 5.0, "5"])), p=small_counts,
       construction=st.sampled_from(["mms", "ring", "other", None]), bw=odd_values)
def test_slim_fly(q, p, construction, bw):
    _build(slim_fly, q=q, p=p, construction=construction, link_bandwidth=bw)
