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
    "A100_PCIE", "H800_SXM",
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
    gpus_per_socket: int = 4                   # "four GPUs within the same NUMA node", [FF] §IV-A
    nic: NicModel = CX6_200G


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


A100_PCIE = _A100Pcie()
H800_SXM = _H800Sxm()
