"""The emulator's forwarding budget: per-packet work, refusals before anything is built."""

import os

import numpy as np
import pytest

from netemu import traffic as T
from netemu.backends.mininet import (FRAME_BYTES, PACKET_HOP_BUDGET_PER_CORE, TSO_MAX_BYTES,
                                     check_can_emulate, cpu_estimate, packet_bytes)
from netemu.errors import ParameterError
from netemu.topologies import three_layer_fat_tree, two_layer_fat_tree


def test_packet_sizes_follow_tso_autosizing():
    rates = np.array([1e5, 1e6, 25e6, 1e9])            # bytes/s
    assert list(packet_bytes(rates, offload=False)) == [FRAME_BYTES] * 4
    # About 1 ms of 1.2 x the rate, at least two frames, at most 64 KiB.
    assert list(packet_bytes(rates, offload=True)) == pytest.approx(
        [2 * FRAME_BYTES, 2 * FRAME_BYTES, 25e6 * 1.2 / 1024, TSO_MAX_BYTES])


def test_one_flow_work_is_its_packets_times_its_links():
    G = three_layer_fat_tree(4)
    scale = 20e6 / 400e9                                  # 400 Gb/s links -> 20 Mbit/s
    work, budget = cpu_estimate(G, T.Traffic(["n0", "n15"], [0], [1]), scale, offload=False)
    assert work == pytest.approx(20e6 / 8 / FRAME_BYTES * 6)   # 6 links through the core
    assert budget == PACKET_HOP_BUDGET_PER_CORE[False] * os.cpu_count()


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


@pytest.mark.parametrize("topo,traffic,mbit,offload,ok", [
    ("ft", "a2a", 20, False, True),
    ("ft", "perm", 50, False, True),
    ("ft", "perm", 100, False, False),
    ("ls", "a2a", 100, True, True),
    ("ft", "a2a", 100, True, True),
    ("ft", "a2a", 150, True, False),      # many slow flows: small segments, too many packets
    ("ft", "perm", 1000, True, True),     # few fast flows: 64 KiB segments
])
def test_refusals_match_what_two_cores_emulate_faithfully(two_cores, topo, traffic, mbit,
                                                            offload, ok):
    G = three_layer_fat_tree(4) if topo == "ft" else \
        two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4)
    tr = T.all_to_all(G) if traffic == "a2a" else T.permutation(G, seed=2)
    scale = mbit * 1e6 / 400e9
    if ok:
        check_can_emulate(G, tr, scale, offload)
    else:
        with pytest.raises(ParameterError, match=r"packets/s x links of forwarding .* 2 cores "
                                                 r"emulate faithfully .* force it"):
            check_can_emulate(G, tr, scale, offload)
