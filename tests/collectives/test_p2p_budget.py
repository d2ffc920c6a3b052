"""GPU<->NIC P2P budget: one per direction, or one for both ([FF] §IV-D2), as closed forms."""

import pytest

from netemu.collectives import run
from netemu.collectives.paths import PathModel
from netemu.topologies.clusters import cluster
from netemu.topologies.fat_tree import two_layer_fat_tree
from netemu.topologies.hardware import A100_PCIE, CX6_200G
from netemu.topologies.servers import pcie_a100_server

SIZE = 186 * 2**20


@pytest.fixture(scope="module", params=[False, True], ids=["per-direction", "shared"])
def pair(request):
    fabric = two_layer_fat_tree(4, link_bandwidth=CX6_200G.bandwidth)
    return request.param, cluster(fabric, pcie_a100_server, shared_p2p=request.param)


def _names(pm, shares):
    return {pm.name(r) for r in shares}


def test_dma_both_ways_lands_on_one_resource_only_when_shared(pair):
    shared, G = pair
    pm = PathModel(G)
    out, back = pm.shares([("n0/gpu4", "n0/nic0"), ("n0/nic0", "n0/gpu4")])
    p2p_out = {n for n in _names(pm, out) if ":p2p" in n}
    p2p_in = {n for n in _names(pm, back) if ":p2p" in n}
    if shared:
        assert p2p_out == p2p_in == {"n0/nic0:p2p-both"}
    else:
        assert p2p_out == {"n0/nic0:p2p-out"} and p2p_in == {"n0/nic0:p2p-in"}


def test_ring_bus_bandwidth_is_the_p2p_budget_over_the_directions_sharing_it(pair):
    # A ring over two servers with one NIC each: on every server one GPU sends to the NIC and
    # another receives from it, each at the ring's edge rate, which is the ring's busbw.  The
    # P2P budget is the tightest resource (NIC line rate, PCIe and root ports are all higher),
    # so busbw = budget per direction, or budget / 2 when both directions share it.
    shared, G = pair
    r = run(G, "allreduce", "ring", 16, SIZE)
    assert A100_PCIE.gpu_nic_p2p < min(CX6_200G.bandwidth, A100_PCIE.pcie_gpu_to_cpu)
    want = A100_PCIE.gpu_nic_p2p / (2 if shared else 1)
    assert r.peak_busbw == pytest.approx(want, rel=1e-9)


def test_hfreduce_stages_through_host_memory_so_the_p2p_form_does_not_matter():
    fabric = two_layer_fat_tree(4, link_bandwidth=CX6_200G.bandwidth)
    a, b = (run(cluster(fabric, pcie_a100_server, shared_p2p=s), "allreduce", "hfreduce", 16,
                SIZE) for s in (False, True))
    assert a.algbw == b.algbw
