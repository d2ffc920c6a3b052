"""The latency catalogue: every figure sourced, annotate() and path_latency() add it up right."""

import dataclasses

import pytest

from netemu.errors import GraphError, ParameterError
from netemu.topologies import latency as L
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.servers import h800_server

FIGURES = [L.PROPAGATION, L.IB_HDR_SWITCH, L.IB_NDR_SWITCH, L.ETHERNET_400G_SWITCH,
           L.IB_ADAPTER, L.ROCE_ADAPTER, L.NVLINK_LAUNCH, L.NVLINK_WRITE, L.PCIE_READ_RTT,
           L.PCIE_SWITCH, L.CPU_POLL]


@pytest.mark.parametrize("fig", FIGURES, ids=lambda f: f.name)
def test_every_figure_has_a_source_and_a_positive_value(fig):
    assert fig.source.strip() and fig.seconds > 0
    lo, hi = fig.span
    assert 0 < lo <= fig.seconds <= hi
    with pytest.raises(dataclasses.FrozenInstanceError):
        fig.seconds = 0


def _tree(medium="ib", **kw):
    return L.annotate(two_layer_fat_tree(4, medium=medium), **kw)


@pytest.mark.parametrize("medium", ["ib", "ethernet"])
def test_annotate_splits_switch_latency_and_adds_propagation(medium):
    G = _tree(medium)
    sw = L.SWITCH_LATENCY[medium].seconds
    per_m = L.PROPAGATION.seconds
    assert G.edges["n0", "leaf0"]["latency"] == pytest.approx(L.HOST_CABLE_M * per_m + sw / 2)
    assert G.edges["leaf0", "spine0"]["latency"] == pytest.approx(L.FABRIC_CABLE_M * per_m + sw)


@pytest.mark.parametrize("medium,transport", [("ib", "ib"), ("ethernet", "ethernet")])
def test_path_latency_is_overhead_plus_switches_plus_cables(medium, transport):
    G = _tree(medium)
    sw, per_m = L.SWITCH_LATENCY[medium].seconds, L.PROPAGATION.seconds
    end = L.ENDPOINT_OVERHEAD[transport].seconds
    same = L.path_latency(G, ["n0", "leaf0", "n1"])
    cross = L.path_latency(G, ["n0", "leaf0", "spine0", "leaf1", "n2"])
    assert same == pytest.approx(end + sw + 2 * L.HOST_CABLE_M * per_m)
    assert cross == pytest.approx(end + 3 * sw + (2 * L.HOST_CABLE_M + 2 * L.FABRIC_CABLE_M) * per_m)
    assert L.transport(G, ["n0", "leaf0", "n1"]) == transport


def test_overrides_change_the_figures():
    base = L.path_latency(_tree(), ["n0", "leaf0", "n1"])
    hdr = L.path_latency(_tree(switch_latency={"ib": L.IB_HDR_SWITCH}), ["n0", "leaf0", "n1"])
    assert base - hdr == pytest.approx(L.IB_NDR_SWITCH.seconds - L.IB_HDR_SWITCH.seconds)
    no_cable = L.path_latency(_tree(host_cable_m=0), ["n0", "leaf0", "n1"], overhead=0)
    assert no_cable == pytest.approx(L.IB_NDR_SWITCH.seconds)
    assert L.path_latency(_tree(switch_latency={"ib": 0.0}), ["n0", "leaf0", "n1"],
                          overhead=1e-6) == pytest.approx(1e-6 + 2 * L.HOST_CABLE_M * 5e-9)


def test_intra_server_edges_carry_no_latency_and_nvlink_uses_its_host_path():
    G = L.annotate(h800_server("n0"))
    assert all(d["latency"] == 0.0 for _, _, d in G.edges(data=True))
    path = ["n0/gpu0", "n0/nvswitch0", "n0/gpu1"]
    assert L.transport(G, path) == "nvlink"
    assert L.path_latency(G, path) == L.ENDPOINT_OVERHEAD["nvlink"].seconds


def test_bad_inputs_raise_the_right_errors():
    G = L.annotate(two_layer_fat_tree(4))
    del G.edges["n1", "leaf0"]["latency"]
    with pytest.raises(GraphError, match="'n0'-'leaf0'|'leaf0'-'n1'.*annotate"):
        L.path_latency(G, ["n0", "leaf0", "n1"])
    G = L.annotate(G)
    with pytest.raises(GraphError, match="not an edge"):
        L.path_latency(G, ["n0", "n1"])
    with pytest.raises(GraphError, match="at least two"):
        L.path_latency(G, ["n0"])
    with pytest.raises(ParameterError, match="host_cable_m"):
        L.annotate(G, host_cable_m=-1)
    with pytest.raises(ParameterError, match="'nvlink'.*allowed: ethernet, ib"):
        L.annotate(G, switch_latency={"nvlink": 1e-9})
    with pytest.raises(ParameterError, match="overhead"):
        L.path_latency(G, ["n0", "leaf0", "n1"], overhead=-1.0)
    G.edges["leaf0", "spine0"]["medium"] = "ethernet"
    with pytest.raises(GraphError, match="mixes network media"):
        L.path_latency(G, ["n0", "leaf0", "spine0", "leaf1", "n2"])
    G.edges["leaf0", "spine0"]["medium"] = "pcie"
    with pytest.raises(GraphError, match="reaches a switch"):
        L.annotate(G)
    S = L.annotate(h800_server("n0"))
    with pytest.raises(GraphError, match="endpoint overheads exist"):
        L.path_latency(S, ["n0/gpu0", "n0/pcie_switch0", "n0/nic0"])


# --- the host-side path -------------------------------------------------------------------

def test_inline_post_on_the_vendors_best_host_is_the_vendors_back_to_back_figure():
    """The adapters' pipelines are what the vendor figure leaves after its own host legs."""
    rtt, poll = L.PCIE_READ_RTT.span[0], L.CPU_POLL.span[0]
    for kind in ("ib", "ethernet"):
        t = L.endpoint_terms(kind, post="inline", pcie_rtt=rtt, pcie_switches=0, poll=poll)
        assert sum(t.values()) == pytest.approx(L.ADAPTER[kind].seconds)
        assert L.adapter_pipeline(kind) == pytest.approx(
            L.ADAPTER[kind].seconds - (rtt / 2 + rtt / 2 + poll))
    assert L.adapter_pipeline("ethernet") - L.adapter_pipeline("ib") == pytest.approx(
        L.ROCE_ADAPTER.seconds - L.IB_ADAPTER.seconds)


@pytest.mark.parametrize("switches", [0, 1, 2])
def test_doorbell_post_adds_two_pcie_reads_each_crossing_the_switches_twice(switches):
    rtt, hop = 700e-9, L.PCIE_SWITCH.seconds
    kw = dict(pcie_rtt=rtt, pcie_switches=switches, poll=50e-9)
    door = sum(L.endpoint_terms("ib", post="doorbell", **kw).values())
    inline = sum(L.endpoint_terms("ib", post="inline", **kw).values())
    assert door - inline == pytest.approx(2 * (rtt + 2 * switches * hop))
    # Inline: post (half a round trip) + write (half) + poll + pipelines + 2 crossings.
    assert inline == pytest.approx(rtt + 50e-9 + L.adapter_pipeline("ib") + 2 * switches * hop)


def test_nvlink_path_closed_form():
    rtt, hop = 600e-9, L.PCIE_SWITCH.seconds
    t = L.endpoint_terms("nvlink", pcie_rtt=rtt, pcie_switches=1, poll=80e-9)
    assert sum(t.values()) == pytest.approx(
        L.NVLINK_LAUNCH.seconds + 2 * rtt + 4 * hop + L.NVLINK_WRITE.seconds + 80e-9)


@pytest.mark.parametrize("kind", ["ib", "ethernet", "nvlink"])
def test_range_brackets_the_nominal_and_matches_its_definition(kind):
    low, nominal, high = L.endpoint_range(kind)
    assert low < nominal < high
    assert nominal == pytest.approx(L.ENDPOINT_OVERHEAD[kind].seconds)
    assert L.ENDPOINT_OVERHEAD[kind].span == pytest.approx((low, high))
    if kind != "nvlink":
        assert low == pytest.approx(L.ADAPTER[kind].seconds)   # inline, best host, no switch
        rtt, hop, poll = L.PCIE_READ_RTT.span[1], L.PCIE_SWITCH.span[1], L.CPU_POLL.span[1]
        assert high == pytest.approx(3 * rtt + 6 * hop + poll + L.adapter_pipeline(kind))


def test_endpoint_terms_reject_bad_choices():
    with pytest.raises(ParameterError, match="'pcie'.*allowed: ethernet, ib, nvlink"):
        L.endpoint_terms("pcie")
    with pytest.raises(ParameterError, match="post 'bounce'.*allowed: doorbell, inline"):
        L.endpoint_terms("ib", post="bounce")
    with pytest.raises(ParameterError, match="end 'mid'"):
        L.endpoint_terms("ib", end="mid")
    with pytest.raises(ParameterError, match="pcie_switches.*got -1"):
        L.endpoint_terms("ib", pcie_switches=-1)
    with pytest.raises(ParameterError, match="pcie_rtt"):
        L.endpoint_terms("ib", pcie_rtt=-1e-9)
