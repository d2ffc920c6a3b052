"""completion_times re-solves only part of the flows at each event: check it against
re-solving every present flow from scratch, on random instances built to have many
simultaneous arrivals and completions, and 0-byte flows."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from netemu import flow
from netemu.flow import FlowSet, completion_times

from . import flow_reference as ref
from .test_flow import examples, expand, flowsets, full_resolve_fluid, leaf_spine_all_to_all

# Both sides are exact progressive filling; they differ only in rounding and in the
# 1e-9 tie bands, so finish times agree far inside the 1e-7 used against the reference.
EVENT_RTOL = 1e-9


def random_network(rng, R, n, max_path=4):
    """Capacities and a FlowSet of n flows over 1..max_path random resources with random shares."""
    cap = rng.choice([1.0, 2.0, 3.0, 5.0], R) * rng.choice([1.0, 1.0, 1.5], R)
    rows, cols, vals = [], [], []
    for f in range(n):
        res = rng.choice(R, size=rng.integers(1, max_path + 1), replace=False)
        rows += [f] * res.size
        cols += res.tolist()
        vals += rng.choice([0.5, 1.0, 1.0, 2.0], res.size).tolist()
    return cap, FlowSet(R, sp.csr_matrix((vals, (rows, cols)), shape=(n, R)))


def event_inputs(rng, n, zero_share=0.1):
    """Sizes and starts from small sets, so that many flows arrive and finish together."""
    sizes = rng.choice([0.5, 1.0, 1.0, 2.0, 3.0], n)
    sizes[rng.random(n) < zero_share] = 0.0
    starts = rng.choice([0.0, 0.0, 0.5, 1.0, 2.5], n)
    return sizes, starts


@examples(300)
@given(flowsets(), st.data())
def test_incremental_equals_full_re_solve_on_small_flowsets(inst, data):
    # groups, counts, shared resources; sizes include 0 and repeat, starts repeat
    cap, fs = inst
    n = fs.n_flows
    sizes = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0]),
                                        min_size=n, max_size=n)))
    starts = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0]),
                                         min_size=n, max_size=n)))
    np.testing.assert_allclose(completion_times(cap, fs, sizes, starts),
                               full_resolve_fluid(cap, fs, sizes, starts), rtol=EVENT_RTOL)


@examples(60)
@given(st.integers(0, 2**32 - 1), st.integers(4, 30), st.integers(10, 120))
def test_incremental_equals_full_re_solve_on_random_networks(seed, R, n):
    # general graphs: bottlenecks shift between resources as flows come and go
    rng = np.random.default_rng(seed)
    cap, fs = random_network(rng, R, n)
    sizes, starts = event_inputs(rng, n)
    np.testing.assert_allclose(completion_times(cap, fs, sizes, starts),
                               full_resolve_fluid(cap, fs, sizes, starts), rtol=EVENT_RTOL)


@examples(25)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_incremental_equals_full_re_solve_on_leaf_spine(seed, sprayed):
    rng = np.random.default_rng(seed)
    cap, fs, _ = leaf_spine_all_to_all(3, 4, 2, 1.0, 0.7, sprayed=sprayed)
    pick = rng.choice(fs.n_flows, 80, replace=False)
    sub = FlowSet(fs.n_resources, fs.direct[pick], fs.groups[pick], fs.group_matrix)
    sizes, starts = event_inputs(rng, pick.size)
    np.testing.assert_allclose(completion_times(cap, sub, sizes, starts),
                               full_resolve_fluid(cap, sub, sizes, starts), rtol=EVENT_RTOL)


@examples(40)
@given(flowsets(), st.data())
def test_zero_byte_and_simultaneous_flows_match_exact_reference(inst, data):
    cap, fs = inst
    n = fs.n_flows
    sizes = data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=n, max_size=n))
    starts = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    flows, row = expand(fs)
    t = completion_times(cap, fs, sizes, starts)
    exp = ref.fluid_finish_times(cap, flows, [sizes[r] for r in row], [starts[r] for r in row])
    np.testing.assert_allclose(t[row], [float(x) for x in exp], rtol=1e-12)


def test_zero_byte_flow_finishes_at_its_start_and_takes_nothing():
    t = completion_times([1.0], [{0: 1.0}, {0: 1.0}, {0: 1.0}], sizes=[2.0, 0.0, 0.0],
                         starts=[0.0, 0.5, 3.0])
    assert t.tolist() == [2.0, 0.5, 3.0]
    assert completion_times([1.0], [{0: 1.0}], sizes=[0.0], starts=[1.5]).tolist() == [1.5]


def run_kernel(cap, fs, sizes, starts, local=True):
    """Finish times, and the kernel's counts summed over events: events, flows re-solved,
    flows present, solves, checks that sent the solver back for more flows, fallbacks to
    re-solving every flow at or above the level."""
    order = np.argsort(starts, kind="stable")
    ix = flow._Index(flow._reorder(fs, order))
    fin, stats = flow._fluid_run(*flow._kernel_args(ix, np.asarray(cap, float)),
                                 np.asarray(sizes, float)[order], np.asarray(starts, float)[order],
                                 local)
    out = np.empty_like(fin)
    out[order] = fin
    return out, stats


def test_locality_and_the_check_are_both_exercised():
    # Most events must re-solve far fewer flows than are present, and on some the check
    # must send the solver back for more flows; the answer must still be the full re-solve.
    rng = np.random.default_rng(3)
    cap, fs = random_network(rng, 60, 400, max_path=3)
    sizes = rng.uniform(0.5, 3.0, 400)
    starts = rng.uniform(0.0, 20.0, 400)
    finish, (events, resolved, present, solves, retries, fallbacks) = run_kernel(cap, fs, sizes,
                                                                                 starts)
    assert resolved < 0.5 * present
    assert retries > 0
    np.testing.assert_allclose(finish, full_resolve_fluid(cap, fs, sizes, starts),
                               rtol=EVENT_RTOL)


@examples(30)
@given(st.integers(0, 2**32 - 1))
def test_local_re_solve_equals_plain_resumption(seed):
    # the fallback path on its own (every event re-solves all flows at or above the level)
    # gives the same finish times as the local one
    rng = np.random.default_rng(seed)
    cap, fs = random_network(rng, 25, 150)
    sizes, starts = event_inputs(rng, 150, zero_share=0.0)
    local, st_local = run_kernel(cap, fs, sizes, starts)
    plain, st_plain = run_kernel(cap, fs, sizes, starts, local=False)
    assert st_plain[5] == st_plain[3] > 0 and st_plain[4] == 0  # every solve was a fallback
    assert st_local[1] <= st_plain[1]
    np.testing.assert_allclose(local, plain, rtol=EVENT_RTOL)
