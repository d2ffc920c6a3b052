"""Named networks from the two papers, as ``preset(NAME)``.

Each preset is a generator call whose arguments come from the hardware
catalogue (switch radix and speed) and from the structural rules the papers'
sources use; none of them is fitted to a published count or cost.

==================  ==========================================================================
name                network
==================  ==========================================================================
isca-ft2            two-layer fat-tree of 64-port 400G switches ([ISCA] Table 3, FT2)
isca-mpft           eight such planes, NIC i of every H800 server on plane i ([ISCA] §5.1)
isca-ft3            k-ary three-layer fat-tree with k = 64 ([ISCA] Table 3, FT3)
isca-slimfly        Slim Fly of 64-port routers, largest q that fits, p = ceil(k'/2) ([ISCA] SF)
isca-dragonfly      balanced canonical dragonfly of 64-port routers ([ISCA] Table 3, DF)
fire-flyer-2        two zones of 40-port 200G fat-trees joined by inter-zone switches ([FF] §III-B)
ff-pcie-3layer      the same PCIe cluster on a three-layer tree, 1,600 access points ([FF] §III-C)
ff-dgx-3layer       the DGX-A100 cluster's three-layer tree, 10,000 access points ([FF] §III-C)
fire-flyer-2-       Fire-Flyer 2 with every GPU server a PCIe A100 node ([FF] §III); its
cluster             ``shared_root_port`` and ``shared_p2p`` switch the node's [FF] §IV-D budgets
deepseek-v3-        2,048 H800 GPUs (256 servers) on an 8-plane (``fabric='mpft'``) or 8-rail
cluster             (``fabric='mrft'``) fat-tree of 64-port 400G switches ([ISCA] §5.1.2)
==================  ==========================================================================
"""

import inspect
import math

from netemu.errors import ParameterError

from .hardware import A100_PCIE, H800_SXM, IB_NDR_64, QM8700

__all__ = ["PRESETS", "preset"]


def _isca_ft2():
    from .fat_tree import two_layer_fat_tree
    return two_layer_fat_tree(IB_NDR_64.ports, link_bandwidth=IB_NDR_64.port_bandwidth)


def _isca_mpft():
    from .planes import multi_plane_fat_tree
    return multi_plane_fat_tree(H800_SXM.nics_per_server, IB_NDR_64.ports,
                                link_bandwidth=IB_NDR_64.port_bandwidth)


def _isca_ft3():
    from .fat_tree import three_layer_fat_tree
    return three_layer_fat_tree(IB_NDR_64.ports, link_bandwidth=IB_NDR_64.port_bandwidth)


def slim_fly_for_radix(radix):
    """(q, p) of the largest Slim Fly whose routers fit ``radix`` ports.

    Network radix k' = (3q - δ)/2 with q = 4w + δ, δ ∈ {-1, 0, 1}; endpoints per
    router p = ceil(k'/2), the balance rule of Besta & Hoefler (SC'14, §3.1).
    """
    best = None
    for q in range(3, radix + 1):
        delta = q - 4 * round(q / 4)
        if delta not in (-1, 0, 1):
            continue
        k_net = (3 * q - delta) // 2
        p = math.ceil(k_net / 2)
        if k_net + p <= radix:
            best = (q, p)
    return best


def _isca_slimfly():
    from .slim_fly import slim_fly
    q, p = slim_fly_for_radix(IB_NDR_64.ports)
    # q = 28 for 64 ports is not a prime power: no MMS graph exists, so the ring construction
    # builds the same router count and degree (see topologies.slim_fly).
    construction = "mms" if _is_prime_power(q) else "ring"
    return slim_fly(q, p, link_bandwidth=IB_NDR_64.port_bandwidth, construction=construction)


def _isca_dragonfly():
    from .dragonfly import dragonfly
    # Balanced dragonfly (Kim et al., ISCA'08): a = 2p = 2h, radix p + (a - 1) + h <= ports.
    p = (IB_NDR_64.ports + 1) // 4
    a, h = 2 * p, p
    # [ISCA] Table 3 sizes its DF with 511 groups (= a*h - 1), two fewer than the
    # maximum a*h + 1; the generator spreads the spare global ports over the groups.
    return dragonfly(a, p, h, a * h - 1, link_bandwidth=IB_NDR_64.port_bandwidth)


def _fire_flyer_2():
    from .fire_flyer import fire_flyer_2
    return fire_flyer_2()


def _ff_pcie_3layer():
    from .fat_tree import three_layer_fat_tree
    # 1,600 access points on 40-port switches (INFERRED from [FF] §III-C: 40 core + 160
    # spine-and-leaf): 4 pods of 20 leaves x 20 hosts, 20 spines per pod with 20 uplinks.
    half = QM8700.ports // 2
    return three_layer_fat_tree(pods=4, leaves_per_pod=half, spines_per_pod=half,
                                hosts_per_leaf=half, spine_uplinks=half,
                                cores=4 * half * half // QM8700.ports,
                                link_bandwidth=QM8700.port_bandwidth, radix=QM8700.ports)


def _ff_dgx_3layer():
    from .fat_tree import three_layer_fat_tree
    # 10,000 access points (INFERRED from [FF] §III-C: 320 core + 500 spine + 500 leaf):
    # 25 pods of 20 leaves x 20 hosts; 16 uplinks per spine, each core one cable per pod.
    half = QM8700.ports // 2
    return three_layer_fat_tree(pods=25, leaves_per_pod=half, spines_per_pod=half,
                                hosts_per_leaf=half, spine_uplinks=16, cores=half * 16,
                                link_bandwidth=QM8700.port_bandwidth, radix=QM8700.ports)


def _fire_flyer_2_cluster(shared_root_port=A100_PCIE.shared_root_port_one_budget,
                          shared_p2p=A100_PCIE.gpu_nic_p2p_one_budget):
    # The two hardware behaviours of the PCIe A100 node ([FF] §IV-D), switchable here so that
    # every door (preset(), the CLI's --shared-root-port / --shared-p2p) builds the same node.
    from .clusters import cluster
    from .fire_flyer import fire_flyer_2
    from .servers import pcie_a100_server
    return cluster(fire_flyer_2(), pcie_a100_server, shared_root_port=shared_root_port,
                   shared_p2p=shared_p2p)


#: GPUs of the DeepSeek-V3 training cluster ([ISCA] abstract and §5.1.2: 2,048 H800).
DEEPSEEK_V3_GPUS = 2048


def _deepseek_v3_cluster(fabric="mpft"):
    from netemu.checks import check_choice

    from .clusters import cluster
    from .planes import multi_plane_fat_tree, multi_rail_fat_tree
    from .servers import h800_server
    check_choice("fabric", fabric, ("mpft", "mrft"))
    nics = H800_SXM.nics_per_server
    servers = DEEPSEEK_V3_GPUS // H800_SXM.gpus_per_server
    build = multi_plane_fat_tree if fabric == "mpft" else multi_rail_fat_tree
    return cluster(build(nics, IB_NDR_64.ports, servers=servers,
                         link_bandwidth=IB_NDR_64.port_bandwidth), h800_server)


def _is_prime_power(n):
    for p in range(2, n + 1):
        if n % p == 0:
            while n % p == 0:
                n //= p
            return n == 1
    return False


PRESETS = {
    "isca-ft2": (_isca_ft2, "two-layer fat-tree, 64-port 400G switches ([ISCA] Table 3 FT2)"),
    "isca-mpft": (_isca_mpft, "8-plane two-layer fat-tree, 16,384 GPUs ([ISCA] §5.1, Table 3)"),
    "isca-ft3": (_isca_ft3, "k=64 three-layer fat-tree ([ISCA] Table 3 FT3)"),
    "isca-slimfly": (_isca_slimfly, "Slim Fly of 64-port routers ([ISCA] Table 3 SF)"),
    "isca-dragonfly": (_isca_dragonfly, "canonical dragonfly of 64-port routers ([ISCA] Table 3 DF)"),
    "fire-flyer-2": (_fire_flyer_2, "Fire-Flyer 2: two zones of 40-port 200G fat-trees ([FF] §III-B)"),
    "ff-pcie-3layer": (_ff_pcie_3layer, "PCIe cluster on a 3-layer fat-tree, 1,600 ports ([FF] §III-C)"),
    "ff-dgx-3layer": (_ff_dgx_3layer, "DGX-A100 cluster's 3-layer fat-tree, 10,000 ports ([FF] §III-C)"),
    "fire-flyer-2-cluster": (_fire_flyer_2_cluster,
                             "Fire-Flyer 2 fabric with PCIe A100 servers inside ([FF] §III); "
                             "--shared-root-port, --shared-p2p true|false"),
    "deepseek-v3-cluster": (_deepseek_v3_cluster,
                            "2,048 H800 GPUs on MPFT or MRFT, --fabric mpft|mrft ([ISCA] §5.1.2)"),
}


def preset(name, **params):
    """Build the named network; see the module docstring for the names.

    ``deepseek-v3-cluster`` takes ``fabric``; ``fire-flyer-2-cluster`` takes
    ``shared_root_port`` and ``shared_p2p`` (see :func:`topologies.servers.pcie_a100_server`).

    Examples
    --------
    >>> G = preset("fire-flyer-2-cluster", shared_root_port=False)
    >>> "capacity" in G.nodes["n0/rp5"], G.nodes["n0/nic0"]["p2p_shared"]
    (False, False)
    """
    if name not in PRESETS:
        raise ParameterError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    builder = PRESETS[name][0]
    allowed = list(inspect.signature(builder).parameters)
    for key in params:
        if key not in allowed:
            raise ParameterError(f"preset {name!r} has no parameter {key!r}; allowed: "
                                 f"{', '.join(allowed) or 'none'}")
    G = builder(**params)
    G.graph["preset"] = name
    return G
