import networkx as nx
import pytest

from netemu.errors import ParameterError
from netemu.graph import SWITCH_ROLES, validate
from netemu.topologies import preset
from netemu.topologies.clusters import cluster
from netemu.topologies.fire_flyer import fire_flyer_2
from netemu.topologies.hardware import H800_SXM
from netemu.topologies.planes import multi_plane_fat_tree, multi_rail_fat_tree
from netemu.topologies.presets import DEEPSEEK_V3_GPUS
from netemu.topologies.servers import h800_server, pcie_a100_server, server_gpus, server_nics


def _fabric_only(G):
    """Switches and the NICs hanging from them, without any server's insides."""
    keep = [n for n, d in G.nodes(data=True)
            if d["role"] in SWITCH_ROLES or (d["role"] == "nic" and any(
                G.nodes[m]["role"] in SWITCH_ROLES for m in G.adj[n]))]
    return G.subgraph(keep)


@pytest.fixture(scope="module")
def mpft():
    return cluster(multi_plane_fat_tree(4, 8, servers=6), h800_server)


def test_mpft_nic_k_on_plane_k_and_gpus_inside(mpft):
    for s in range(6):
        nics = server_nics(mpft, server=f"n{s}")
        assert len(server_gpus(mpft, server=f"n{s}")) == H800_SXM.gpus_per_server
        for k, nic in enumerate(nics[:4]):
            leaves = [m for m in mpft.adj[nic] if mpft.nodes[m]["role"] == "leaf"]
            assert len(leaves) == 1 and mpft.nodes[leaves[0]]["plane"] == k
            assert mpft.nodes[nic]["plane"] == k


def test_mpft_planes_meet_only_inside_servers(mpft):
    F = _fabric_only(mpft)
    for comp in nx.connected_components(F):
        planes = {F.nodes[n].get("plane") for n in comp}
        assert len(planes) == 1
    assert nx.number_connected_components(F) == 4
    # ... while the whole cluster is connected through the servers.
    assert nx.is_connected(mpft)


def test_mrft_rails_meet_at_spines():
    G = cluster(multi_rail_fat_tree(4, 8, servers=4), h800_server)
    F = _fabric_only(G)
    assert nx.is_connected(F)
    path = nx.shortest_path(F, "n0/nic0", "n1/nic3")
    assert any(G.nodes[n]["role"] == "spine" for n in path)
    assert not any(n.split("/")[0] in ("n0", "n1") and G.nodes[n]["role"] not in ("nic",)
                   for n in path[1:-1])


def test_fire_flyer_cluster_servers_in_their_zone():
    fab = fire_flyer_2(gpu_servers_per_zone=30, storage_servers=6)
    G = cluster(fab, pcie_a100_server)
    validate(G)
    hosts = [n for n, r in fab.nodes(data="role") if r == "host"]
    assert len([n for n, r in G.nodes(data="role") if r == "gpu"]) == 8 * len(hosts)
    for h in hosts:
        (nic,) = server_nics(G, server=h)
        (leaf,) = [m for m in G.adj[nic] if G.nodes[m]["role"] == "leaf"]
        (old_leaf,) = [m for m in fab.adj[h] if fab.nodes[m]["role"] == "leaf"]
        assert leaf == old_leaf
        assert G.edges[nic, leaf] == fab.edges[h, old_leaf]
    storage = [n for n, r in G.nodes(data="role") if r == "storage"]
    assert storage and all({G.nodes[m]["zone"] for m in G.adj[s]} == {0, 1} for s in storage)


def test_too_few_nics_is_an_error():
    with pytest.raises(ParameterError, match="needs 4 compute NICs.*gives 1"):
        cluster(multi_plane_fat_tree(4, 8, servers=2), pcie_a100_server)


def test_nic_rate_mismatch_is_an_error():
    with pytest.raises(ParameterError, match="runs at 400 Gb/s but its fabric link .* is 200 Gb/s"):
        cluster(fire_flyer_2(gpu_servers_per_zone=2, storage_servers=1), h800_server)


def test_not_a_builder():
    with pytest.raises(ParameterError, match="server builder"):
        cluster(fire_flyer_2(gpu_servers_per_zone=2, storage_servers=1), "h800")


@pytest.mark.parametrize("fabric", ["mpft", "mrft"])
def test_deepseek_v3_cluster_has_2048_gpus(fabric):
    G = preset("deepseek-v3-cluster", fabric=fabric)
    assert sum(1 for _, r in G.nodes(data="role") if r == "gpu") == DEEPSEEK_V3_GPUS
    validate(G)


def test_deepseek_v3_cluster_bad_fabric():
    with pytest.raises(ParameterError, match="fabric must be one of 'mpft', 'mrft', got 'torus'"):
        preset("deepseek-v3-cluster", fabric="torus")
    with pytest.raises(ParameterError, match="has no parameter 'planes'"):
        preset("deepseek-v3-cluster", planes=4)
