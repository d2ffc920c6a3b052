"""NCCL's algorithm choice under the two tuning.cc versions netemu holds, as closed forms."""

import math

import pytest

from netemu.collectives.nccl import TUNINGS, predicted_times
from netemu.errors import ParameterError

US = 1e-6


def test_unknown_tuning_is_refused_by_name():
    with pytest.raises(ParameterError, match="tuning"):
        predicted_times(10e9, 16, 2, 2**27, tuning="2.18")


def test_2_2x_matches_its_tuning_cc_by_hand():
    # tuning.cc at commit b647562, Simple protocol, PCIe inside the node, Ampere, AMD CPU:
    # ring latency base 8.4 + (steps - 2N) * max(5.7, 3 x 2.0) + 2N * 14, x 1.4 plateau;
    # tree latency 2 * ((ppn - 1) * 28 + log2(N) * 28); tree bw min(0.92 B, 17.8 GB/s) / 2.
    B, n, N, S = 9e9, 32, 4, 2**28
    steps = 2 * (n - 1)
    ring = 1.4 * (8.4 + (steps - 2 * N) * 6.0 + 2 * N * 14.0) * US + S / (B * n / steps)
    tree = 2 * ((n // N - 1) * 28 + math.log2(N) * 28) * US + S / (min(0.92 * B, 17.8e9) / 2)
    t = predicted_times(B, n, N, S, "pcie", "2.2x")
    assert t["ring"] == pytest.approx(ring, rel=1e-12)
    assert t["tree"] == pytest.approx(tree, rel=1e-12)


def test_2_10_matches_its_tuning_cc_by_hand():
    # tuning.cc at commit 01afd20: ring 8.4 + (steps - 2(N-1)) * 5.7 + 2(N-1) * 9.6, x 1.9;
    # tree 2 * ((ppn - 1) * 28 + log2(N) * 50); tree bw min(0.9 B, 80 GB/s) / 2 beyond 2 nodes.
    B, n, N, S = 9e9, 32, 4, 2**28
    steps = 2 * (n - 1)
    ring = 1.9 * (8.4 + (steps - 2 * (N - 1)) * 5.7 + 2 * (N - 1) * 9.6) * US + S / (B * n / steps)
    tree = 2 * ((n // N - 1) * 28 + math.log2(N) * 50) * US + S / (min(0.9 * B, 80e9) / 2)
    t = predicted_times(B, n, N, S, "pcie", "2.10")
    assert t["ring"] == pytest.approx(ring, rel=1e-12)
    assert t["tree"] == pytest.approx(tree, rel=1e-12)


@pytest.mark.parametrize("tuning", TUNINGS)
def test_ring_then_tree_as_the_job_grows(tuning):
    # The ring's latency grows linearly with the node count, the tree's with its logarithm:
    # once tree is cheaper it stays cheaper for every larger job (8 GPUs per node, 186 MiB).
    choices = []
    for nodes in (2, 4, 8, 16, 32, 64, 128, 180, 256, 512):
        t = predicted_times(9e9, 8 * nodes, nodes, 186 * 2**20, "pcie", tuning)
        choices.append(min(t, key=t.get))
    assert choices[0] == "ring" and choices[-1] == "tree"
    first_tree = choices.index("tree")
    assert set(choices[first_tree:]) == {"tree"}
