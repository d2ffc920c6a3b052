"""Software constants of the communication libraries netemu models, each with its source.

Like :mod:`topologies.hardware` for hardware, this is the one place such a
number lives.  None of them is fitted to a published result.
"""

from netemu.units import MiB

#: NCCL's per-channel staging buffer, ``NCCL_BUFFSIZE`` default 4 MiB (NCCL documentation,
#: "Environment Variables": NCCL_BUFFSIZE, default 4194304).
NCCL_BUFFSIZE = 4 * MiB
#: Pipeline slots per buffer, ``NCCL_STEPS`` = 8 (NCCL source, src/include/device.h).
NCCL_STEPS = 8
#: Bytes one pipeline step of the Simple protocol moves per channel: buffer / steps.
NCCL_CHUNK = NCCL_BUFFSIZE // NCCL_STEPS
#: HFReduce's chunk size is not published ([FF] §IV leaves it out).  netemu takes NCCL's
#: staging buffer, the size HFReduce replaces, rather than inventing a figure.
HFREDUCE_CHUNK = NCCL_BUFFSIZE

#: NCCL's own per-step latency model for its Simple protocol, in seconds per pipeline step,
#: by the kind of hop: NCCL 2.10's ``hwLat`` table (src/graph/tuning.cc, "Latencies in us"):
#: ring 3.4 (NVLink), 5.7 (PCI), 9.6 (network); tree 28, 28, 50 (its comment: the latency of
#: a 256 kB chunk); plus the ring's and tree's base latency (ring Simple 8.4 us, tree 0).
#: netemu charges them per hop of a collective's critical chain, so they are NCCL's software
#: and hardware latency of one step, not a fitted figure.
NCCL_STEP_LATENCY = {
    "ring": {"nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 9.6e-6, "base": 8.4e-6},
    "tree": {"nvlink": 28e-6, "pcie": 28e-6, "network": 50e-6, "base": 0.0},
}

#: NCCL's algorithm-selection model (``ncclTopoTuneModel`` / ``ncclTopoGetAlgoTime`` in
#: src/graph/tuning.cc) for an allreduce with the Simple protocol, as two versions of that file
#: state it.  [FF] ran NCCL of about 2.10-2.18 (2022-2023); the two versions netemu holds bracket
#: that period, and the one a reader wants is a named option (``tuning=`` of
#: :func:`collectives.nccl.predicted_times`), never a fitted choice.  Only the terms that matter
#: for a multi-node PCIe allreduce are kept; latencies in seconds, bandwidths in bytes/s.
#:
#: - ``'2.10'``: NVIDIA/nccl src/graph/tuning.cc at commit 01afd20 (copyright 2016-2020; the
#:   model netemu has always used, the same figures as :data:`NCCL_STEP_LATENCY`): tree busbw =
#:   min(0.9 x graph busbw, 80 GB/s beyond two nodes, 110 on two); ring latency per step 5.7 us
#:   (PCI) / 9.6 us (network) with 2(nodes-1) network steps, base 8.4 us; tree latency 28 us
#:   (PCI) / 50 us (network) per level; the ring's latency x 1.9 for a multi-node allreduce of at
#:   least ranks/16 x 64 KiB ("plateau effect of ring").
#: - ``'2.2x'``: the same file at commit b647562 (copyright 2016-2022, with NVLS-tree and MNNVL:
#:   a 2.2x release): tree busbw = min(0.92 x graph busbw, channels x 17.8 GB/s, Ampere beyond
#:   two nodes); network latency 14 us (ring) and 28 us (tree) per step; 2 x nodes network steps
#:   for the ring; every ring step at least the network post overhead, 2 us on an AMD CPU, x 3
#:   for Simple (``getNetOverhead``); plateau factor 1.4 on Ampere (compute capability >= 8.0),
#:   applied when a rank's share per channel is at least 64 bytes.
NCCL_TUNING = {
    "2.10": {"ring_base": 8.4e-6, "ring_lat": {"nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 9.6e-6},
             "tree_lat": {"nvlink": 28e-6, "pcie": 28e-6, "network": 50e-6},
             "tree_bw_factor": 0.9, "tree_max_bw": (110e9, 80e9), "tree_max_bw_per_channel": None,
             "ring_net_steps_extra": -1, "net_overhead": 0.0, "plateau": 1.9,
             "source": "NVIDIA/nccl src/graph/tuning.cc, commit 01afd20"},
    "2.2x": {"ring_base": 8.4e-6, "ring_lat": {"nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 14e-6},
             "tree_lat": {"nvlink": 28e-6, "pcie": 28e-6, "network": 28e-6},
             "tree_bw_factor": 0.92, "tree_max_bw": None, "tree_max_bw_per_channel": 17.8e9,
             "ring_net_steps_extra": 0, "net_overhead": 3 * 2e-6, "plateau": 1.4,
             "source": "NVIDIA/nccl src/graph/tuning.cc, commit b647562"},
}
#: The version :func:`collectives.run`'s ``nccl`` algorithm reproduces.
NCCL_DEFAULT_TUNING = "2.10"
