"""ACK-aware flow-model prediction of the emulator (no root needed)."""

import numpy as np
import pytest

from netemu import traffic as T
from netemu.backends.mininet import ACK_RATIO, MTU, ack_aware_rates
from netemu.errors import ParameterError
from netemu.solution import solve
from netemu.topologies import two_layer_fat_tree

from .test_routing import leaf_spine


def test_ack_ratio_is_one_66_byte_ack_per_two_full_frames():
    assert ACK_RATIO == pytest.approx(66 / (2 * (MTU + 14)))
    assert ACK_RATIO == pytest.approx(0.021797, abs=1e-6)


def test_two_way_pair_shares_each_direction_with_the_others_acks():
    G = leaf_spine(1, 1, 2, host_bw=1e9, up_bw=1e9)
    sol = solve(G, T.all_to_all(G), "dmodk")
    # n0 -> n1 data and n1 -> n0 ACKs share every direction: x (1 + r) = c.
    assert ack_aware_rates(sol).tolist() == pytest.approx([1e9 / (1 + ACK_RATIO)] * 2)


def test_one_way_flow_is_not_slowed_by_its_own_acks():
    G = leaf_spine(1, 1, 2, host_bw=1e9, up_bw=1e9)
    sol = solve(G, T.Traffic(["n0", "n1"], [0], [1]), "dmodk")
    assert ack_aware_rates(sol).tolist() == pytest.approx([1e9])


def test_acks_take_the_path_given():
    """A flow whose ACKs return over a link another flow saturates loses r x its rate there."""
    G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2, link_bandwidth=1e9)
    tr = T.Traffic(["n0", "n1", "n2", "n3"], [0, 3], [2, 1])     # n0 -> n2, n3 -> n1
    paths = {("n0", "n2"): ["n0", "leaf0", "spine0", "leaf1", "n2"],
             ("n3", "n1"): ["n3", "leaf1", "spine0", "leaf0", "n1"]}
    sol = solve(G, tr, paths)
    r = ACK_RATIO
    # Reversed paths: spine0 -> leaf0 carries n3 -> n1 data and n0 -> n2's ACKs.
    assert ack_aware_rates(sol).tolist() == pytest.approx([1e9 / (1 + r)] * 2)
    # ACKs of n0 -> n2 through spine1 instead: nothing shares spine0 -> leaf0 with n3 -> n1,
    # but n3 -> n1's ACKs (reversed) still share leaf0 -> spine0 with n0 -> n2.
    acks = [["n2", "leaf1", "spine1", "leaf0", "n0"], ["n1", "leaf0", "spine0", "leaf1", "n3"]]
    got = ack_aware_rates(sol, acks)
    assert got.tolist() == pytest.approx([1e9 / (1 + r), 1e9 / (1 + r)])
    acks = [["n2", "leaf1", "spine1", "leaf0", "n0"], ["n1", "leaf0", "spine1", "leaf1", "n3"]]
    assert ack_aware_rates(sol, acks).tolist() == pytest.approx([1e9, 1e9])


def test_all_to_all_with_acks_is_never_above_without():
    G = two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4)
    sol = solve(G, T.all_to_all(G), "dmodk")
    with_acks = ack_aware_rates(sol)
    assert np.all(with_acks <= sol.rates * (1 + 1e-12))
    # d-mod-k's all-to-all puts as many flows each way on every link: every rate drops by
    # exactly 1 / (1 + r).
    assert with_acks.sum() == pytest.approx(sol.rates.sum() / (1 + ACK_RATIO))


@pytest.mark.parametrize("ratio", [-0.1, 1.0, float("nan"), True, "0.02"])
def test_bad_ratio_is_refused(ratio):
    G = leaf_spine(1, 1, 2, host_bw=1e9, up_bw=1e9)
    sol = solve(G, T.all_to_all(G), "dmodk")
    with pytest.raises(ParameterError, match="ACK ratio must be a number in"):
        ack_aware_rates(sol, ratio=ratio)


def test_ack_path_must_run_back():
    G = leaf_spine(1, 1, 2, host_bw=1e9, up_bw=1e9)
    sol = solve(G, T.Traffic(["n0", "n1"], [0], [1]), "dmodk")
    with pytest.raises(ParameterError, match="must run from 'n1' to 'n0'"):
        ack_aware_rates(sol, [["n0", "leaf0", "n1"]])
