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
