"""The hardware catalogue: every figure netemu takes from hardware or a paper, once, with its source.

Source keys (full references in the README):

- [ISCA] Zhao et al., "Insights into DeepSeek-V3: Scaling Challenges and Reflections on Hardware
  for AI Architectures", ISCA '25, arXiv:2505.09343.
- [FF] An et al., "Fire-Flyer AI-HPC: A Cost-Effective Software-Hardware Co-Design for Deep
  Learning", SC'24, arXiv:2408.14158.

These are *inputs* (hardware parameters).  Published *results* (measured bandwidths, costs, step
times) are never stored here: experiments compare against them, models do not consume them.
All values in SI: bytes, bytes/s, seconds.
"""

from dataclasses import dataclass

from netemu.units import GBps, GiBps, gbps

__all__ = [
    "SwitchModel", "QM8700", "IB_NDR_64", "ROCE_400G_128",
    "NicModel", "CX6_200G", "CX7_400G",
    "A100_PCIE", "H800_SXM", "GB200_NVL72",
]


@dataclass(frozen=True)
class SwitchModel:
    """A switch ASIC/box: port count and per-port bandwidth (bytes/s per direction)."""
    name: str
    ports: int
    port_bandwidth: float
    medium: str
    source: str


@dataclass(frozen=True)
class NicModel:
    name: str
    bandwidth: float          # bytes/s per direction, nominal line rate
    medium: str
    source: str


#: Mellanox QM8700 HDR InfiniBand switch, 40 ports x 200 Gb/s.  [FF] §III-B
QM8700 = SwitchModel("QM8700", 40, gbps(200), "ib", "[FF] §III-B")
#: 64-port 400G NDR InfiniBand switch of the MPFT.  [ISCA] §5.1
IB_NDR_64 = SwitchModel("IB-NDR-64", 64, gbps(400), "ib", "[ISCA] §5.1")
#: 128-port 400G RoCE switch (Fire-Flyer next generation).  [FF] §IX, [ISCA] §5.2
ROCE_400G_128 = SwitchModel("RoCE-400G-128", 128, gbps(400), "ethernet", "[FF] §IX; [ISCA] §5.2")

#: ConnectX-6 200 Gb/s InfiniBand NIC of the Fire-Flyer 2 node and storage node.  [FF] §III-A, §VI-B
CX6_200G = NicModel("ConnectX-6", gbps(200), "ib", "[FF] §III-A, §VI-B")
#: ConnectX-7 400 Gb/s InfiniBand NIC of the H800 node.  [ISCA] §4.1
CX7_400G = NicModel("ConnectX-7", gbps(400), "ib", "[ISCA] §4.1")


@dataclass(frozen=True)
class _A100Pcie:
    """Fire-Flyer 2 PCIe A100 node figures.  [FF] §III-A, §IV-C, §IV-D."""
    gpus_per_server: int = 8                   # [FF] §III-A
    pcie_gpu_to_cpu: float = GBps(27)          # PCIe 4.0 x16 GPU->CPU "> 27 GB/s", [FF] §IV-D
    root_port_to_cpu: float = GBps(37.5)       # root-complex port -> CPU internal bus max, [FF] §IV-D
    gpu_nic_p2p: float = GiBps(9)              # GPU<->NIC P2P on Rome, no chained write, [FF] §IV-D
    host_memory: float = GBps(320)             # 16 x DDR4-3200, practical, [FF] §IV-D3
    nvlink_bridge: float = GBps(600)           # NVLink bridge between a GPU pair, [FF] §IV-C
    nvlink_pairs: tuple = ((0, 1), (2, 3), (4, 5), (6, 7))   # secondary analysis, UNCONFIRMED
    shared_root_port_gpus: tuple = (5, 6)      # "GPU5 and GPU6 share one root port", [FF] Fig. 4
    # "About 37 GB/s total" for GPU5 + GPU6, "lower if bidirectional" ([FF] §IV-D): the shared
    # port is one budget for both directions, not 37.5 GB/s each way.  The text gives no figure
    # for the bidirectional case, so netemu takes the bound this sentence allows (in + out <=
    # root_port_to_cpu); on by default because the hardware has it.
    shared_root_port_one_budget: bool = True
    # GPU<->NIC P2P in both directions at once: issue 15 reads [FF] §IV-D2 as "bidirectional
    # transfers lower it further"; the project's reference notes (papers.md B1) attach "lower if
    # bidirectional" to the shared root port only, and [FF] §IV-D gives "NCCL allreduce about
    # 4 GB/s" as the result of the 9 GiB/s figure, which a ring sending and receiving through the
    # NIC at once reaches only with about 9 GiB/s each way (INFERRED: one budget for both would
    # give about 2.4 GB/s algbw).  So the default is one 9 GiB/s budget
    # per direction; pcie_a100_server(shared_p2p=True) makes it one budget for both directions
    # (in + out <= gpu_nic_p2p), the strongest form of the "lower further" reading.
    gpu_nic_p2p_one_budget: bool = False
    gpus_per_socket: int = 4                   # "four GPUs within the same NUMA node", [FF] §IV-A
    nic: NicModel = CX6_200G
    # Streaming multiprocessors of an A100 (PCIe and SXM alike): "108 SMs", NVIDIA A100 Tensor
    # Core GPU Architecture whitepaper (2020), A100 specifications table.
    sms: int = 108


@dataclass(frozen=True)
class _H800Sxm:
    """DeepSeek-V3 H800 node figures.  [ISCA] §4.1, §4.3, §5.1."""
    gpus_per_server: int = 8                   # [ISCA] §5.1
    nvlink_bidirectional: float = GBps(400)    # "reduced from 900 GB/s to 400 GB/s", [ISCA] §4.1
    nvlink_unidirectional: float = GBps(200)   # [ISCA] §4.3
    nvlink_achievable: float = GBps(160)       # "about 160 GB/s is actually achievable", [ISCA] §4.3
    nic_effective: float = GBps(40)            # effective per-NIC bandwidth used in §4.3, [ISCA] §4.3
    nics_per_server: int = 8                   # one CX7 per GPU, [ISCA] §4.1
    storage_nic: float = gbps(400)             # 1 x 400G RoCE storage NIC, [ISCA] §5.1
    nic: NicModel = CX7_400G
    # H100 SXM5: 132 SMs (NVIDIA H100 Tensor Core GPU Architecture whitepaper, 2022); the H800
    # differs from it only in FP64 and NVLink ([ISCA] §4.1), so 132 (INFERRED, papers.md A1).
    sms: int = 132


@dataclass(frozen=True)
class _Gb200Nvl72:
    """GB200 NVL72 scale-up domain as [ISCA] §2.3.2 describes it."""
    gpus: int = 72                             # "72 GPUs", [ISCA] §2.3.2
    nvlink_unidirectional: float = GBps(900)   # "900 GB/s unidirectional", [ISCA] §2.3.2


A100_PCIE = _A100Pcie()
GB200_NVL72 = _Gb200Nvl72()
H800_SXM = _H800Sxm()


# --- Server internals, used by topologies/servers.py ---------------------------------------------
# A figure that no primary source confirmed says UNCONFIRMED in its ``source``, so anyone reading a
# graph built from it can tell which numbers are soft and override them.

__all__ += [
    "LinkModel", "NvlinkModel", "PCIE4_X16", "PCIE5_X16", "A100_NVLINK", "ROME_XGMI", "SPR_UPI",
    "A100_PCIE_NIC_SOCKET", "DGX_A100", "H800_HOST", "ROME_32C_REDUCE", "ROME_7742_REDUCE",
    "SPR_56C_REDUCE",
]


@dataclass(frozen=True)
class LinkModel:
    """A point-to-point interconnect inside a server: ``bandwidth`` in bytes/s per direction."""
    name: str
    bandwidth: float
    medium: str
    source: str


@dataclass(frozen=True)
class NvlinkModel:
    """A GPU's NVLink ports: ``links`` links of ``link_bandwidth`` bytes/s per direction each.

    NVIDIA quotes NVLink as the sum of both directions ("600 GB/s" for A100); netemu edges
    carry one direction, so builders use :attr:`per_direction`.
    """
    name: str
    links: int
    link_bandwidth: float
    source: str

    @property
    def per_direction(self):
        return self.links * self.link_bandwidth

    @property
    def bidirectional(self):
        return 2 * self.per_direction


def _pcie_x16(giga_transfers):
    # 128b/130b line code (PCIe 3.0 onwards), 16 lanes, bits -> bytes.
    return giga_transfers * 1e9 * 16 * (128 / 130) / 8


#: PCIe 4.0 x16: 16 GT/s a lane -> 31.5 GB/s per direction.
PCIE4_X16 = LinkModel("PCIe 4.0 x16", _pcie_x16(16), "pcie",
                      "PCI-SIG PCI Express Base Specification 4.0: 16 GT/s, 128b/130b")
#: PCIe 5.0 x16: 32 GT/s a lane -> 63.0 GB/s per direction.
PCIE5_X16 = LinkModel("PCIe 5.0 x16", _pcie_x16(32), "pcie",
                      "PCI-SIG PCI Express Base Specification 5.0: 32 GT/s, 128b/130b")

#: A100 third-generation NVLink: 12 links, "600 GB/s" in total (both directions) per GPU, i.e.
#: 25 GB/s per link per direction; the same 12 links whether through NVSwitch (SXM) or through
#: the NVLink bridge of a PCIe pair, which is why [FF] Table I gives 600 GB/s for both.
A100_NVLINK = NvlinkModel(
    "NVLink 3 (A100)", 12, GBps(25),
    "NVIDIA NVLink page (nvidia.com/data-center/nvlink): A100 has 12 third-generation links, "
    "600 GB/s total; 25 GB/s per link per direction (4 pairs x 50 Gb/s) per NVIDIA A100 "
    "architecture whitepaper, read via secondary summaries")

#: EPYC Rome/Milan socket-to-socket Infinity Fabric (xGMI), per direction.  UNCONFIRMED: 4 x16
#: links (64 lanes) per AnandTech's Rome review, taken at 16 GT/s -> 128 GB/s; no AMD document
#: was found, and a forum figure says 18 GT/s (144 GB/s).  A builder parameter overrides it.
ROME_XGMI = LinkModel("EPYC Rome xGMI, 4 x16", 4 * 16 * 16e9 / 8, "infinity_fabric",
                      "UNCONFIRMED: 4 x16 xGMI links (AnandTech Rome review) at 16 GT/s")
#: Xeon Sapphire Rapids socket-to-socket UPI 2.0, per direction.  UNCONFIRMED: 4 links x 16 GT/s,
#: about 32 GB/s per link per direction; DeepSeek does not name its H800 node's CPU.
SPR_UPI = LinkModel("Xeon SPR UPI 2.0, 4 links", 4 * GBps(32), "internal",
                    "UNCONFIRMED: 4 UPI 2.0 links at 16 GT/s, ~32 GB/s each per direction")

#: Socket of the Fire-Flyer 2 node's IB NIC ("GPU4-7 plus the IB NIC on CPU1").  Secondary
#: analysis of [FF] Fig. 4, UNCONFIRMED.
A100_PCIE_NIC_SOCKET = 1


def _avx2_reduce(cores, clock_hz):
    # One 256-bit (32-byte) vector add of a freshly loaded operand per core per cycle: the
    # bytes of input a socket's SIMD reduction can sum per second.  An upper bound; host memory
    # runs out long before it.  UNCONFIRMED (no measured figure is published).
    return cores * clock_hz * 32


#: SIMD reduce throughput of one Fire-Flyer socket: 32 cores ([FF] Table I, "2 x AMD EPYC
#: Rome/Milan, 32 cores each") at 2.5 GHz (base clock of a 32-core EPYC 7502; the exact model is
#: not named, UNCONFIRMED).
ROME_32C_REDUCE = _avx2_reduce(32, 2.5e9)
#: Same for the DGX-A100's EPYC 7742: 64 cores ([FF] Table I) at 2.25 GHz base (AMD product page).
ROME_7742_REDUCE = _avx2_reduce(64, 2.25e9)
#: Same for an H800 host socket: 56 cores at 2.0 GHz (Xeon 8480C of DGX H100; UNCONFIRMED for
#: DeepSeek's nodes).
SPR_56C_REDUCE = _avx2_reduce(56, 2.0e9)


@dataclass(frozen=True)
class _DgxA100:
    """DGX-A100 figures.  [FF] Table I; NVIDIA DGX A100 documentation; NCCL topology dump."""
    gpus_per_server: int = 8                    # [FF] Table I
    sockets: int = 2                            # 2 x AMD EPYC 7742, [FF] Table I
    nvlink: NvlinkModel = A100_NVLINK           # "600 GB/s among all 8 GPUs", [FF] Table I
    # Six NVSwitches, each GPU with 2 links to each: NVIDIA A100 whitepaper ("six second-generation
    # NVSwitch"); a DGX-A100 NCCL topology dump shows count="2" to 6 switches (NVIDIA/nccl#1505).
    nvswitches: int = 6
    compute_nics: int = 8                       # 9 x CX6 in all, [FF] Table I; 8 compute +
    storage_nics: int = 1                       # 1 dual-port storage NIC (NVIDIA/nccl#1505 dump)
    # Four PCIe Gen4 switches, 2 GPUs + 2 compute NICs each, 2 switches per socket; storage NIC on
    # a socket-0 root port.  Read from the NCCL topology dump of a DGX-A100 (NVIDIA/nccl#1505) and
    # GDS docs ("GPUs and the NICs are under the same switch"); UNCONFIRMED against NVIDIA's guide.
    pcie_switches: int = 4
    storage_nic_socket: int = 0
    pcie: LinkModel = PCIE4_X16                 # "first accelerated system with all PCIe Gen4"
    # Same 16-channel DDR4-3200 as the Fire-Flyer node ([FF] Table I), so the same practical
    # figure ([FF] §IV-D3) applies.  INFERRED.
    host_memory: float = A100_PCIE.host_memory
    socket_link: LinkModel = ROME_XGMI
    nic: NicModel = CX6_200G
    sms: int = A100_PCIE.sms                    # the same A100 die, SXM4 form


@dataclass(frozen=True)
class _H800Host:
    """The H800 node's host side: CPUs, memory, PCIe tree.  [ISCA] names none of it."""
    sockets: int = 2                            # UNCONFIRMED (HGX H800 servers are dual-socket)
    # One PCIe switch per GPU/NIC pair: [ISCA] Fig. 2 per a secondary reading ("each GPU reaches
    # its CX7 through a PCIe switch"), UNCONFIRMED.
    pcie_switches: int = 8
    pcie: LinkModel = PCIE5_X16                 # Hopper and CX7 are PCIe Gen5 x16; UNCONFIRMED
    storage_nic_socket: int = 0                 # UNCONFIRMED
    # NVSwitch chips on an HGX H100/H800 8-GPU board: four on DGX H100 (NVIDIA DGX BasePOD
    # reference architecture, "Four NVIDIA NVSwitch chips"); UNCONFIRMED for DeepSeek's nodes.
    nvswitches: int = 4
    # 2 sockets x 8 channels DDR5-4800 (as DGX H100's 2 x Xeon 8480C), theoretical peak.
    # UNCONFIRMED, and a theoretical figure where the Fire-Flyer one is practical.
    host_memory: float = GBps(2 * 8 * 38.4)
    socket_link: LinkModel = SPR_UPI


DGX_A100 = _DgxA100()
H800_HOST = _H800Host()
