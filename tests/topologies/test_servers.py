"""Structure of the server builders, checked against the hardware catalogue (never retyped)."""

import math
import os

import networkx as nx
import pytest

from netemu.errors import NetemuError, ParameterError
from netemu.graph import SERVER_ROLES, validate
from netemu.io import load, save
from netemu.topologies.hardware import (A100_NVLINK, A100_PCIE, A100_PCIE_NIC_SOCKET, CX6_200G, CX7_400G,
                                 DGX_A100, H800_HOST, H800_SXM, PCIE4_X16, ROME_XGMI)
from netemu.topologies.servers import (dgx_a100_server, draw_server, h800_server, p2p_limit,
                                pcie_a100_server, server_gpus, server_nics)

BUILDERS = {
    "pcie_a100": pcie_a100_server,
    "pcie_a100_no_bridges": lambda name="n0": pcie_a100_server(name, nvlink_bridges=False),
    "h800": h800_server,
    "h800_chips": lambda name="n0": h800_server(name, nvswitch_chips=True),
    "dgx_a100": dgx_a100_server,
    "dgx_a100_chips": lambda name="n0": dgx_a100_server(name, nvswitch_chips=True),
}


def roles_on(G, path):
    return [G.nodes[n]["role"] for n in path]


def unique_shortest_path(G, u, v):
    paths = list(nx.all_shortest_paths(G, u, v))
    assert len(paths) == 1, f"{u}->{v} has {len(paths)} shortest paths: {paths}"
    return paths[0]


def socket_of_gpu(i):
    return i // A100_PCIE.gpus_per_socket


# --- every builder -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_validates_and_follows_naming(key):
    G = BUILDERS[key]("srv7")
    assert validate(G) is G
    for n, d in G.nodes(data=True):
        assert n.startswith("srv7/"), n
        assert d["role"] in SERVER_ROLES
        assert d["server"] == "srv7"
        assert isinstance(d["index"], int)
    assert G.graph["params"]["name"] == "srv7"
    assert len(server_gpus(G)) == 8


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_memory_nodes_share_the_catalogue_host_memory(key):
    G = BUILDERS[key]()
    family = key.split("_no_bridges")[0].split("_chips")[0]
    expected = {"pcie_a100": A100_PCIE.host_memory, "h800": H800_HOST.host_memory,
                "dgx_a100": DGX_A100.host_memory}[family]
    mems = [n for n, r in G.nodes(data="role") if r == "memory"]
    assert len(mems) == len([n for n, r in G.nodes(data="role") if r == "cpu"]) == 2
    assert math.isclose(sum(G.nodes[m]["capacity"] for m in mems), expected)
    for m in mems:
        (cpu,) = G[m]
        assert G.nodes[cpu]["socket"] == G.nodes[m]["socket"]


@pytest.mark.parametrize("key", sorted(BUILDERS))
@pytest.mark.parametrize("suffix", [".json", ".graphml"])
def test_round_trips_through_graph_files(key, suffix, tmp_path):
    G = BUILDERS[key]()
    save(G, tmp_path / f"g{suffix}")
    H = load(tmp_path / f"g{suffix}")
    assert set(H.nodes) == set(G.nodes) and H.number_of_edges() == G.number_of_edges()
    nic = server_nics(G)[0]
    assert H.nodes[nic].get("p2p_bandwidth") == G.nodes[nic].get("p2p_bandwidth")


def test_an_int_name_is_a_server_number():
    G = pcie_a100_server(17)
    assert server_gpus(G)[3] == "n17/gpu3"
    assert G.nodes["n17/gpu3"]["server"] == 17
    assert server_nics(G, 17) == server_nics(G, "n17") == ["n17/nic0"]


# --- Fire-Flyer 2 PCIe A100 node -----------------------------------------------------------------

@pytest.mark.parametrize("bridges", [True, False])
@pytest.mark.parametrize("i", range(A100_PCIE.gpus_per_server))
def test_pcie_a100_gpu_path_to_nic_crosses_expected_ports_and_sockets(i, bridges):
    G = pcie_a100_server(nvlink_bridges=bridges)
    path = unique_shortest_path(G, f"n0/gpu{i}", "n0/nic0")
    cpus = [G.nodes[n]["socket"] for n in path if G.nodes[n]["role"] == "cpu"]
    ports = [n for n in path if G.nodes[n]["role"] == "root_port"]
    assert roles_on(G, path).count("pcie_switch") == 0
    if socket_of_gpu(i) == A100_PCIE_NIC_SOCKET:
        assert cpus == [A100_PCIE_NIC_SOCKET]
    else:
        assert cpus == [socket_of_gpu(i), A100_PCIE_NIC_SOCKET]
        assert any(G.edges[a, b]["medium"] == ROME_XGMI.medium for a, b in zip(path, path[1:]))
    # The GPU's own root port, then the NIC's.
    assert len(ports) == 2
    assert f"n0/gpu{i}" in G[ports[0]] and "n0/nic0" in G[ports[1]]
    assert G.nodes[ports[0]]["socket"] == socket_of_gpu(i)


def test_pcie_a100_only_the_catalogue_pair_shares_a_root_port():
    G = pcie_a100_server()
    devices = {rp: sorted(m for m in G[rp] if G.nodes[m]["role"] in ("gpu", "nic"))
               for rp, r in G.nodes(data="role") if r == "root_port"}
    shared = [rp for rp, devs in devices.items() if len(devs) > 1]
    assert len(shared) == 1
    assert devices[shared[0]] == [f"n0/gpu{i}" for i in A100_PCIE.shared_root_port_gpus]
    # 7 ports for GPUs and 1 for the NIC, as [FF] Fig. 4 labels them.
    gpu_ports = A100_PCIE.gpus_per_server - (len(A100_PCIE.shared_root_port_gpus) - 1)
    assert len(devices) == gpu_ports + 1
    assert not any(r == "pcie_switch" for _, r in G.nodes(data="role"))


def test_pcie_a100_link_figures_come_from_the_catalogue():
    G = pcie_a100_server()
    for rp, r in G.nodes(data="role"):
        if r != "root_port":
            continue
        (cpu,) = [m for m in G[rp] if G.nodes[m]["role"] == "cpu"]
        assert G.edges[rp, cpu]["bandwidth"] == A100_PCIE.root_port_to_cpu
        assert G.nodes[cpu]["socket"] == G.nodes[rp]["socket"]
    for i, gpu in enumerate(server_gpus(G)):
        (rp,) = [m for m in G[gpu] if G.nodes[m]["role"] == "root_port"]
        assert G.edges[gpu, rp]["bandwidth"] == A100_PCIE.pcie_gpu_to_cpu
        assert G.nodes[gpu]["socket"] == socket_of_gpu(i)
    nic = G.nodes["n0/nic0"]
    assert nic["line_rate"] == CX6_200G.bandwidth and nic["port_medium"] == CX6_200G.medium
    assert nic["socket"] == A100_PCIE_NIC_SOCKET
    assert G.edges["n0/cpu0", "n0/cpu1"]["bandwidth"] == ROME_XGMI.bandwidth


def test_pcie_a100_shared_port_is_the_only_pcie_bottleneck_below_the_cpu():
    # Two GPUs at full PCIe speed exceed one root port's uplink only where they share it.
    G = pcie_a100_server()
    for rp, r in G.nodes(data="role"):
        if r == "root_port":
            demand = sum(G.edges[rp, m]["bandwidth"] for m in G[rp] if G.nodes[m]["role"] == "gpu")
            uplink = A100_PCIE.root_port_to_cpu
            assert (demand > uplink) == (len([m for m in G[rp] if m.startswith("n0/gpu")]) > 1)


@pytest.mark.parametrize("bridges", [True, False])
def test_pcie_a100_nvlink_pairs_exactly_when_asked(bridges):
    G = pcie_a100_server(nvlink_bridges=bridges)
    nvlink = {tuple(sorted((G.nodes[u]["index"], G.nodes[v]["index"])))
              for u, v, m in G.edges(data="medium") if m == "nvlink"}
    assert nvlink == (set(A100_PCIE.nvlink_pairs) if bridges else set())
    assert G.graph["params"]["nvlink_bridges"] is bridges
    for a, b in nvlink:
        bw = G.edges[f"n0/gpu{a}", f"n0/gpu{b}"]["bandwidth"]
        # [FF]'s 600 GB/s per pair is NVIDIA's both-directions sum of the 12 A100 links.
        assert bw == A100_NVLINK.per_direction
        assert 2 * bw == A100_PCIE.nvlink_bridge == A100_NVLINK.bidirectional


def test_pcie_a100_p2p_limit_applies_to_gpu_nic_dma_only():
    G = pcie_a100_server()
    for gpu in server_gpus(G):
        assert p2p_limit(G, gpu, "n0/nic0") == p2p_limit(G, "n0/nic0", gpu) == A100_PCIE.gpu_nic_p2p
        assert p2p_limit(G, gpu, "n0/memory1") is None
    assert p2p_limit(G, "n0/gpu0", "n0/gpu1") is None
    assert p2p_limit(G, "n0/cpu1", "n0/nic0") is None


@pytest.mark.parametrize("shared", [True, False])
def test_pcie_a100_shared_root_port_is_one_budget_exactly_when_asked(shared):
    G = pcie_a100_server(shared_root_port=shared)
    for rp, r in G.nodes(data="role"):
        if r != "root_port":
            continue
        gpus = [m for m in G[rp] if G.nodes[m]["role"] == "gpu"]
        (cpu,) = [m for m in G[rp] if G.nodes[m]["role"] == "cpu"]
        # Only a port two GPUs share gets a direction-blind budget, equal to its uplink.
        want = G.edges[rp, cpu]["bandwidth"] if shared and len(gpus) > 1 else None
        assert G.nodes[rp].get("capacity") == want
    assert G.graph["params"]["shared_root_port"] is shared


def test_pcie_a100_defaults_follow_the_catalogue():
    G = pcie_a100_server()
    assert G.graph["params"]["shared_root_port"] is A100_PCIE.shared_root_port_one_budget is True
    assert G.nodes["n0/nic0"]["p2p_shared"] is A100_PCIE.gpu_nic_p2p_one_budget
    assert G.graph["params"]["shared_p2p"] is A100_PCIE.gpu_nic_p2p_one_budget


@pytest.mark.parametrize("shared", [True, False])
def test_pcie_a100_shared_p2p_marks_the_nic_only(shared):
    G = pcie_a100_server(shared_p2p=shared)
    marked = {n for n, v in G.nodes(data="p2p_shared") if v is not None}
    assert marked == {"n0/nic0"} and G.nodes["n0/nic0"]["p2p_shared"] is shared
    # The budget's size does not change with its form.
    assert p2p_limit(G, "n0/gpu0", "n0/nic0") == A100_PCIE.gpu_nic_p2p


def test_p2p_limit_refuses_other_servers_and_unknown_nodes():
    G = nx.compose(pcie_a100_server("a"), pcie_a100_server("b"))
    with pytest.raises(ParameterError, match="different servers"):
        p2p_limit(G, "a/gpu0", "b/nic0")
    with pytest.raises(ParameterError, match="'a/gpu99'"):
        p2p_limit(G, "a/gpu99", "a/nic0")


def test_socket_link_bandwidth_overrides_the_unconfirmed_figure():
    G = pcie_a100_server(socket_link_bandwidth=ROME_XGMI.bandwidth / 2)
    assert G.edges["n0/cpu0", "n0/cpu1"]["bandwidth"] == ROME_XGMI.bandwidth / 2


# --- H800 node -----------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(H800_SXM.gpus_per_server))
def test_h800_gpu_reaches_its_nic_through_one_pcie_switch_and_no_cpu(i):
    G = h800_server()
    path = unique_shortest_path(G, f"n0/gpu{i}", f"n0/nic{i}")
    assert roles_on(G, path) == ["gpu", "pcie_switch", "nic"]
    (sw,) = path[1:2]
    assert sorted(m for m in G[sw] if G.nodes[m]["role"] in ("gpu", "nic")) == \
        [f"n0/gpu{i}", f"n0/nic{i}"]
    # The pair's PCIe switch sits on the GPU's socket.
    (cpu,) = [m for m in G[sw] if G.nodes[m]["role"] == "cpu"]
    per_socket = H800_SXM.gpus_per_server // H800_HOST.sockets
    assert G.nodes[cpu]["socket"] == G.nodes[f"n0/gpu{i}"]["socket"] == i // per_socket


def test_h800_nics_and_links_come_from_the_catalogue():
    G = h800_server()
    nics = server_nics(G)
    assert nics == [f"n0/nic{i}" for i in range(H800_SXM.nics_per_server)]
    for n in nics:
        assert G.nodes[n]["line_rate"] == CX7_400G.bandwidth
        (sw,) = G[n]
        assert G.edges[n, sw]["bandwidth"] == H800_HOST.pcie.bandwidth
    (storage,) = server_nics(G, kind="storage")
    assert G.nodes[storage]["line_rate"] == H800_SXM.storage_nic
    assert G.nodes[storage]["port_medium"] == "ethernet"
    assert [G.nodes[m]["socket"] for m in G[storage]] == [H800_HOST.storage_nic_socket]
    assert p2p_limit(G, "n0/gpu0", "n0/nic0") is None
    (nvs,) = [n for n, r in G.nodes(data="role") if r == "nvswitch"]
    assert G.nodes[nvs]["chips"] == H800_HOST.nvswitches
    for g in server_gpus(G):
        assert G.edges[g, nvs]["bandwidth"] == H800_SXM.nvlink_unidirectional
        assert 2 * G.edges[g, nvs]["bandwidth"] == H800_SXM.nvlink_bidirectional


def test_h800_nvlink_is_one_switch_hop_between_any_two_gpus():
    G = h800_server()
    gpus = server_gpus(G)
    for a in gpus:
        for b in gpus:
            if a != b:
                assert roles_on(G, unique_shortest_path(G, a, b)) == ["gpu", "nvswitch", "gpu"]


def test_h800_achievable_nvlink_and_split_chips():
    G = h800_server(nvlink_bandwidth=H800_SXM.nvlink_achievable, nvswitch_chips=True)
    chips = [n for n, r in G.nodes(data="role") if r == "nvswitch"]
    assert len(chips) == H800_HOST.nvswitches
    for g in server_gpus(G):
        per_gpu = sum(G.edges[g, c]["bandwidth"] for c in chips)
        assert math.isclose(per_gpu, H800_SXM.nvlink_achievable)


# --- DGX-A100 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("i", range(DGX_A100.gpus_per_server))
def test_dgx_gpu_reaches_its_nic_through_its_pcie_switch(i):
    G = dgx_a100_server()
    path = unique_shortest_path(G, f"n0/gpu{i}", f"n0/nic{i}")
    assert roles_on(G, path) == ["gpu", "pcie_switch", "nic"]
    per_switch = DGX_A100.gpus_per_server // DGX_A100.pcie_switches
    assert path[1] == f"n0/pcie_switch{i // per_switch}"


def test_dgx_pcie_switches_hold_two_gpus_and_two_nics_each():
    G = dgx_a100_server()
    switches = [n for n, r in G.nodes(data="role") if r == "pcie_switch"]
    assert len(switches) == DGX_A100.pcie_switches
    per_socket = DGX_A100.pcie_switches // DGX_A100.sockets
    for k, sw in enumerate(sorted(switches, key=lambda n: G.nodes[n]["index"])):
        kinds = sorted(G.nodes[m]["role"] for m in G[sw])
        assert kinds == ["cpu"] + ["gpu"] * 2 + ["nic"] * 2
        (cpu,) = [m for m in G[sw] if G.nodes[m]["role"] == "cpu"]
        assert G.nodes[cpu]["socket"] == k // per_socket
        for m in G[sw]:
            assert G.edges[sw, m]["bandwidth"] == PCIE4_X16.bandwidth


def test_dgx_nics_and_nvswitches_come_from_the_catalogue():
    G = dgx_a100_server()
    assert len(server_nics(G)) == DGX_A100.compute_nics
    assert len(server_nics(G, kind="storage")) == DGX_A100.storage_nics
    # [FF] Table I counts the DGX-A100's NICs all together.
    assert len(server_nics(G, kind="all")) == DGX_A100.compute_nics + DGX_A100.storage_nics
    for n in server_nics(G, kind="all"):
        assert G.nodes[n]["line_rate"] == CX6_200G.bandwidth
    (nvs,) = [n for n, r in G.nodes(data="role") if r == "nvswitch"]
    assert G.nodes[nvs]["chips"] == DGX_A100.nvswitches
    for g in server_gpus(G):
        assert G.edges[g, nvs]["bandwidth"] == A100_NVLINK.per_direction


def test_dgx_chip_split_keeps_each_gpus_nvlink_total():
    G = dgx_a100_server(nvswitch_chips=True)
    chips = [n for n, r in G.nodes(data="role") if r == "nvswitch"]
    assert len(chips) == DGX_A100.nvswitches
    for g in server_gpus(G):
        assert math.isclose(sum(G.edges[g, c]["bandwidth"] for c in chips),
                            A100_NVLINK.per_direction)
    # 12 links over 6 chips: 2 links' worth on each.
    assert math.isclose(G.edges["n0/gpu0", chips[0]]["bandwidth"],
                        A100_NVLINK.link_bandwidth * A100_NVLINK.links / DGX_A100.nvswitches)


# --- queries on cluster graphs -------------------------------------------------------------------

def test_queries_pick_a_server_in_a_graph_of_several():
    G = nx.compose(h800_server("n0"), h800_server("n1"))
    with pytest.raises(ParameterError, match="pass server="):
        server_nics(G)
    assert server_nics(G, "n1")[3] == "n1/nic3"
    assert server_gpus(G, "n0") == [f"n0/gpu{i}" for i in range(8)]
    with pytest.raises(ParameterError, match="'n9'"):
        server_gpus(G, "n9")


def test_nic_order_follows_index_not_insertion():
    G = h800_server()
    H = nx.Graph()
    H.add_nodes_from(reversed(list(G.nodes(data=True))))
    H.add_edges_from(G.edges(data=True))
    assert server_nics(H) == [f"n0/nic{i}" for i in range(H800_SXM.nics_per_server)]


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("builder", [pcie_a100_server, h800_server, dgx_a100_server])
@pytest.mark.parametrize("bad", ["", "a/b", "has space", -1, True, 1.5, None, ("n", 0)])
def test_bad_names_raise(builder, bad):
    with pytest.raises(ParameterError, match="name must be"):
        builder(bad)


@pytest.mark.parametrize("call, param", [
    (lambda: pcie_a100_server(nvlink_bridges="yes"), "nvlink_bridges"),
    (lambda: pcie_a100_server(nvlink_bridges=1), "nvlink_bridges"),
    (lambda: pcie_a100_server(socket_link_bandwidth=0), "socket_link_bandwidth"),
    (lambda: pcie_a100_server(shared_root_port="false"), "shared_root_port"),
    (lambda: pcie_a100_server(shared_root_port=None), "shared_root_port"),
    (lambda: pcie_a100_server(shared_p2p=0), "shared_p2p"),
    (lambda: pcie_a100_server(socket_link_bandwidth=float("nan")), "socket_link_bandwidth"),
    (lambda: h800_server(nvlink_bandwidth=-1.0), "nvlink_bandwidth"),
    (lambda: h800_server(nvlink_bandwidth="160GBps"), "nvlink_bandwidth"),
    (lambda: h800_server(host_memory=0), "host_memory"),
    (lambda: h800_server(nvswitch_chips="no"), "nvswitch_chips"),
    (lambda: dgx_a100_server(socket_link_bandwidth=float("inf")), "socket_link_bandwidth"),
    (lambda: dgx_a100_server(nvswitch_chips=None), "nvswitch_chips"),
    (lambda: server_nics(h800_server(), kind="rail"), "kind"),
])
def test_bad_parameters_raise_naming_the_parameter(call, param):
    with pytest.raises(ParameterError) as exc:
        call()
    assert param in str(exc.value)


# --- drawing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_draw_server_writes_one_file_atomically(key, tmp_path):
    out = tmp_path / "server.png"
    draw_server(BUILDERS[key](), out)
    assert out.stat().st_size > 10_000
    with open(out, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["server.png"]


def test_draw_server_picks_one_server_of_a_cluster(tmp_path):
    G = nx.compose(dgx_a100_server("n0"), dgx_a100_server("n1"))
    with pytest.raises(ParameterError, match="pass server="):
        draw_server(G, tmp_path / "x.png")
    draw_server(G, tmp_path / "x.png", server="n1")
    assert (tmp_path / "x.png").exists()


def test_draw_server_rejects_bad_paths(tmp_path):
    with pytest.raises(ParameterError, match="must end in"):
        draw_server(pcie_a100_server(), tmp_path / "x.txt")
    with pytest.raises(NetemuError):
        draw_server(pcie_a100_server(), tmp_path / "missing" / "x.png")
    assert os.listdir(tmp_path) == []
