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
