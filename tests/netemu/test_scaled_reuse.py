"""flow.scaled_reuse: inside the block, a fluid simulation that repeats one already run up to a
single factor on the capacities it uses is answered from it; anything else is simulated."""

import numpy as np
import pytest
import scipy.sparse as sp

from netemu import flow
from netemu.flow import FlowSet, completion_times, scaled_reuse

from .test_flow_events import random_network


@pytest.fixture
def kernel_calls(monkeypatch):
    """The number of fluid simulations the kernel has run since the test began."""
    calls = []
    real = flow._fluid_run

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(flow, "_fluid_run", counted)
    return calls


def _instance(seed=3, R=12, n=60):
    rng = np.random.default_rng(seed)
    cap, fs = random_network(rng, R, n)
    sizes = rng.choice([0.5, 1.0, 2.0, 3.0], n)
    sizes[::7] = 0.0
    return cap, fs, sizes


def test_scaled_capacities_give_the_scaled_finish_times_without_a_second_simulation(kernel_calls):
    cap, fs, sizes = _instance()
    fresh = completion_times(cap * 0.8, fs, sizes)           # outside a block: simulated
    assert len(kernel_calls) == 1
    with scaled_reuse():
        base = completion_times(cap, fs, sizes)
        scaled = completion_times(cap * 0.8, fs, sizes)
        again = completion_times(cap, fs, sizes)
    assert len(kernel_calls) == 2                              # the block simulated once
    np.testing.assert_allclose(scaled, fresh, rtol=1e-12)
    np.testing.assert_allclose(scaled, base / 0.8, rtol=1e-15)
    assert np.array_equal(again, base)
    assert (scaled[::7] == 0).all()                            # 0-byte flows finish at once


def test_a_capacity_that_does_not_scale_with_the_rest_is_simulated(kernel_calls):
    cap, fs, sizes = _instance()
    other = cap * 0.8
    used = np.unique(fs.direct.indices)
    other[used[0]] = cap[used[0]]                              # one resource keeps its rate
    with scaled_reuse():
        completion_times(cap, fs, sizes)
        got = completion_times(other, fs, sizes)
    assert len(kernel_calls) == 2
    np.testing.assert_allclose(got, completion_times(other, fs, sizes), rtol=1e-12)


def test_unused_resources_and_dominated_ones_may_change_freely(kernel_calls):
    # Resource 1 carries flow 1 only, which crosses resource 0 at a higher load fraction:
    # it can never bind, so its capacity is no part of the problem; resource 2 is unused.
    flows = [{0: 1.0}, {0: 1.0, 1: 1.0}]
    with scaled_reuse():
        a = completion_times([1e9, 2e9, 7.0], flows, [1e9, 3e9])
        b = completion_times([5e8, 4e9, 1.0], flows, [1e9, 3e9])
    assert len(kernel_calls) == 1
    assert a.tolist() == [2.0, 4.0] and b.tolist() == [4.0, 8.0]


def test_start_times_are_reused_only_for_the_same_capacities(kernel_calls):
    cap, fs, sizes = _instance()
    starts = np.linspace(0.0, 2.0, sizes.size)
    with scaled_reuse():
        a = completion_times(cap, fs, sizes, starts)
        b = completion_times(cap, fs, sizes, starts)           # the same problem: reused
        c = completion_times(cap * 2, fs, sizes, starts)       # would move the starts: simulated
    assert len(kernel_calls) == 2
    assert np.array_equal(a, b)
    np.testing.assert_allclose(c, completion_times(cap * 2, fs, sizes, starts), rtol=1e-12)


def test_other_sizes_or_routes_are_simulated(kernel_calls):
    cap, fs, sizes = _instance()
    with scaled_reuse():
        completion_times(cap, fs, sizes)
        completion_times(cap, fs, sizes * 2)
        D = fs.direct.copy()
        D.data[0] *= 2                                         # one share changed
        moved = FlowSet(fs.n_resources, D)
        got = completion_times(cap, moved, sizes)
    assert len(kernel_calls) == 3
    np.testing.assert_allclose(got, completion_times(cap, moved, sizes), rtol=1e-12)


def test_a_flow_set_changed_in_place_is_not_answered_from_its_old_self(kernel_calls):
    cap, fs, sizes = _instance()
    with scaled_reuse():
        before = completion_times(cap, fs, sizes)
        fs.direct.data[:] *= 3                                 # every share, in place
        after = completion_times(cap, fs, sizes)
    assert len(kernel_calls) == 2
    fresh = FlowSet(fs.n_resources, sp.csr_matrix(fs.direct))
    np.testing.assert_allclose(after, completion_times(cap, fresh, sizes), rtol=1e-12)
    assert not np.allclose(after, before)


def test_nothing_is_kept_outside_a_block_or_after_it(kernel_calls):
    cap, fs, sizes = _instance()
    completion_times(cap, fs, sizes)
    completion_times(cap, fs, sizes)
    with scaled_reuse():
        with scaled_reuse():                                   # nested: one set of kept runs
            completion_times(cap, fs, sizes)
        completion_times(cap * 0.5, fs, sizes)
    completion_times(cap, fs, sizes)
    assert len(kernel_calls) == 4
    assert flow._REUSE.__dict__.get("kept") is None


def test_only_the_latest_runs_are_kept(kernel_calls):
    cap, fs, sizes = _instance()
    with scaled_reuse():
        for k in range(flow.REUSE_SLOTS + 1):
            completion_times(cap, fs, sizes * (k + 1))
        completion_times(cap, fs, sizes * (flow.REUSE_SLOTS + 1))   # the latest: kept
        completion_times(cap, fs, sizes)                             # the oldest: dropped
    assert len(kernel_calls) == flow.REUSE_SLOTS + 2
