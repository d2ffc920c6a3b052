"""Generators with random parameters: a valid graph or a ParameterError, nothing else."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import GraphError, NetemuError
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
    try:
        validate(G)
    except GraphError as exc:
        # A rate the generator takes but the graph contract refuses (outside 1 B/s - 1e16
        # B/s) is still one clear error naming the edge and the range.
        assert "expected bytes/s" in str(exc) and "\n" not in str(exc), exc
        return None
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


# --- Mostly valid parameters: the build must succeed and meet the family's closed forms ------
#
# Each strategy draws a valid parameter set and, one time in four, replaces one parameter by
# an odd value (strategies.odd_values).  Unchanged sets must build, validate and match the
# counts written here; changed ones must build a valid graph or raise a NetemuError.  The
# events ("valid", "mutated: built", "mutated: refused") show the mix with
# --hypothesis-show-statistics.

from collections import Counter  # noqa: E402

from hypothesis import event  # noqa: E402

from netemu.errors import GraphError, NetemuError as _Err  # noqa: E402

MIX = Counter()


def _roles(G):
    c = Counter(r for _, r in G.nodes(data="role"))
    return c


@st.composite
def _maybe_mutated(draw, params):
    """``(params, mutated?)``: one parameter replaced by an odd value one time in four."""
    if draw(st.integers(0, 3)) == 0:
        key = draw(st.sampled_from(sorted(params)))
        params = dict(params, **{key: draw(odd_values)})
        return params, True
    return params, False


def _check(fn, params, mutated, expect):
    if mutated:
        try:
            G = fn(**params)
        except _Err:
            event("mutated: refused")
            MIX["mutated: refused"] += 1
            return
        event("mutated: built")
        MIX["mutated: built"] += 1
        validate(G)
        return
    event("valid")
    MIX["valid"] += 1
    G = validate(fn(**params))
    expect(G)


_even_radix = st.integers(1, 8).map(lambda x: 2 * x)


@st.composite
def _two_layer(draw):
    if draw(st.booleans()):
        return {"radix": draw(_even_radix)}
    s = draw(st.integers(1, 4))
    return {"leaves": draw(st.integers(1, 6)), "spines": s, "hosts_per_leaf": draw(st.integers(1, 6)),
            "leaf_uplinks": s * draw(st.integers(1, 2))}


@SETTINGS
@given(case=_two_layer().flatmap(_maybe_mutated))
def test_two_layer_fat_tree_mostly_valid(case):
    params, mutated = case

    def expect(G):
        r = _roles(G)
        if "radix" in params:
            k = params["radix"]
            L, S, H, cables = k, k // 2, k // 2, 1
        else:
            L, S, H = params["leaves"], params["spines"], params["hosts_per_leaf"]
            cables = params["leaf_uplinks"] // S
        assert (r["host"], r["leaf"], r["spine"]) == (L * H, L, S)
        for leaf in (n for n, x in G.nodes(data="role") if x == "leaf"):
            ups = [m for m in G[leaf] if G.nodes[m]["role"] == "spine"]
            assert len(ups) == S
            assert all(G.edges[leaf, m].get("cables", 1) == cables for m in ups)
            assert sum(G.nodes[m]["role"] == "host" for m in G[leaf]) == H

    _check(two_layer_fat_tree, params, mutated, expect)


_three_layer = st.one_of(
    st.integers(1, 3).map(lambda x: {"k": 2 * x}),
    st.fixed_dictionaries({"pods": st.integers(1, 3), "leaves_per_pod": st.integers(1, 3),
                           "spines_per_pod": st.integers(1, 3), "hosts_per_leaf": st.integers(1, 3)}))


@SETTINGS
@given(case=_three_layer.flatmap(_maybe_mutated))
def test_three_layer_fat_tree_mostly_valid(case):
    params, mutated = case

    def expect(G):
        r = _roles(G)
        if "k" in params:
            k = params["k"]
            assert r["host"] == k ** 3 // 4
            assert r["leaf"] + r["spine"] + r["core"] == 5 * k * k // 4
            return
        P, lp, sp, h = (params[x] for x in ("pods", "leaves_per_pod", "spines_per_pod",
                                            "hosts_per_leaf"))
        # Defaults: spine_uplinks = leaves_per_pod, cores = spines_per_pod x spine_uplinks.
        assert (r["host"], r["leaf"], r["spine"], r["core"]) == (P * lp * h, P * lp, P * sp,
                                                                 sp * lp)

    _check(three_layer_fat_tree, params, mutated, expect)


@st.composite
def _planes_or_rails(draw):
    fn = draw(st.sampled_from([multi_plane_fat_tree, multi_rail_fat_tree]))
    radix = draw(st.integers(2, 4).map(lambda x: 2 * x))
    if fn is multi_plane_fat_tree:
        n = draw(st.integers(1, 4))
        most = radix * radix // 2
        key = "planes"
    else:
        n = draw(st.sampled_from([d for d in range(1, radix + 1) if radix % d == 0]))
        most = (radix // n) * radix // 2
        key = "rails"
    servers = draw(st.one_of(st.none(), st.integers(1, most)))
    return fn, {key: n, "radix": radix, "servers": servers}


@SETTINGS
@given(case=_planes_or_rails().flatmap(
    lambda fp: _maybe_mutated(fp[1]).map(lambda pm: (fp[0],) + pm)))
def test_planes_and_rails_mostly_valid(case):
    fn, params, mutated = case

    def expect(G):
        radix = params["radix"]
        if fn is multi_plane_fat_tree:
            n, lane, most = params["planes"], "plane", radix * radix // 2
            switches = n * (radix + radix // 2)
        else:
            n, lane, most = params["rails"], "rail", (radix // params["rails"]) * radix // 2
            switches = radix + radix // 2
        servers = params["servers"] or most
        r = _roles(G)
        assert r["nic"] == servers * n
        assert r["leaf"] + r["spine"] == switches
        for s in range(servers):
            lanes = sorted(G.nodes[f"n{s}/nic{k}"][lane] for k in range(n))
            assert lanes == list(range(n))        # NIC k of every server on plane/rail k

    _check(fn, params, mutated, expect)
