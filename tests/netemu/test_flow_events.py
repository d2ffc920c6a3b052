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


def run_kernel(cap, fs, sizes, starts, local=True, grouped=True):
    """Finish times, and the kernel's counts summed over events: events, classes re-solved,
    classes present, solves, checks that sent the solver back for more flows, fallbacks to
    re-solving every flow at or above the level."""
    return flow._simulate(np.asarray(cap, float), fs, np.asarray(sizes, float),
                          np.asarray(starts, float), local, grouped)


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


# ---------------------------------------------------------------------------------------------
# Flows of one route as one class (the event simulation over classes is exact)


def routes_network(rng, R, n, n_routes, max_path=3):
    """n flows that each take one of n_routes random routes (resources and shares), so that
    many flows share a route; some rows count several identical flows."""
    cap = rng.choice([1.0, 2.0, 3.0, 5.0], R)
    routes = []
    for _ in range(n_routes):
        res = rng.choice(R, size=rng.integers(1, min(max_path, R) + 1), replace=False)
        routes.append((res, rng.choice([0.5, 1.0, 1.0, 2.0], res.size)))
    rows, cols, vals = [], [], []
    for f in range(n):
        res, sh = routes[rng.integers(n_routes)]
        rows += [f] * res.size
        cols += res.tolist()
        vals += sh.tolist()
    counts = np.where(rng.random(n) < 0.2, rng.integers(2, 4, n), 1)
    return cap, FlowSet(R, sp.csr_matrix((vals, (rows, cols)), shape=(n, R)), counts=counts)


@examples(80)
@given(st.integers(0, 2**32 - 1), st.integers(2, 8), st.integers(5, 80), st.integers(1, 6),
       st.booleans())
def test_grouped_classes_equal_per_flow_simulation(seed, R, n, n_routes, staggered):
    rng = np.random.default_rng(seed)
    cap, fs = routes_network(rng, R, n, n_routes)
    if staggered:
        sizes, starts = event_inputs(rng, n)
    else:  # all at t = 0 with distinct sizes: one completion per event, as from a CSV file
        sizes, starts = rng.uniform(0.1, 3.0, n), np.zeros(n)
    grouped, st_g = run_kernel(cap, fs, sizes, starts)
    per_flow, st_f = run_kernel(cap, fs, sizes, starts, grouped=False)
    np.testing.assert_allclose(grouped, per_flow, rtol=EVENT_RTOL)
    np.testing.assert_allclose(grouped, full_resolve_fluid(cap, fs, sizes, starts), rtol=1e-7)
    # the class simulation never has more rows present than there are routes
    assert st_g[2] <= n_routes * st_g[0]


def test_processor_sharing_closed_form_for_many_flows_on_one_link():
    # n flows of sizes s_1 < ... < s_n on one link of capacity C, all at t = 0: while k flows
    # remain each runs at C / k, so t_j = t_{j-1} + (n - j + 1) (s_j - s_{j-1}) / C.
    n, C = 2000, 3.0
    rng = np.random.default_rng(7)
    sizes = np.sort(rng.uniform(1.0, 100.0, n))
    expected = np.cumsum((n - np.arange(n)) * np.diff(sizes, prepend=0.0)) / C
    perm = rng.permutation(n)
    t = completion_times([C], [{0: 1.0}] * n, sizes[perm])
    np.testing.assert_allclose(t[np.argsort(perm)], expected, rtol=1e-9)
    _, stats = run_kernel([C], FlowSet(1, sp.csr_matrix(np.ones((n, 1)))), sizes, np.zeros(n))
    assert stats[2] == n  # one class present at each of the n events, not n flows


def test_classes_group_exactly_equal_rows():
    # same resources and shares and groups -> one class; any difference -> another class
    direct = sp.csr_matrix(np.array([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0], [0.5, 0, 0],
                                     [0, 1.0, 0], [1.0, 0, 0]]))
    groups = np.array([[0], [0], [-1], [0], [0], [0]])
    gm = sp.csr_matrix(np.array([[0, 0, 1.0]]))
    fs = FlowSet(3, direct, groups=groups, group_matrix=gm)
    rows = np.array([5, 0, 1, 2, 3, 4])
    rep, cls = flow._classes(fs, rows)
    assert cls.tolist() == [0, 0, 0, 1, 2, 3]
    assert rep.tolist() == [5, 2, 3, 4]


# ---------------------------------------------------------------------------------------------
# Paths the event loop takes for whole batches: every present flow arriving at once (a fresh
# solve, no search) and every present flow finishing at once (resources zeroed, no per-flow
# removal), followed by more batches on the same resources.


def test_batches_separated_by_idle_gaps_follow_the_closed_form():
    # Batch b: n_b flows of s bytes on one link of capacity C, all starting at T_b after the
    # previous batch is done.  Each batch is one arrival event (nothing else present) and
    # one completion event that empties the link: all finish at T_b + n_b * s / C.
    C, s = 4.0, 2.0
    counts, starts = [3, 1, 5, 2], [0.0, 10.0, 20.0, 30.0]
    flows, sizes, st = [], [], []
    for n_b, t_b in zip(counts, starts):
        flows += [{0: 1.0}] * n_b
        sizes += [s] * n_b
        st += [t_b] * n_b
    expected = np.repeat([t_b + n_b * s / C for n_b, t_b in zip(counts, starts)], counts)
    assert completion_times([C], flows, sizes, st).tolist() == expected.tolist()


@examples(60)
@given(st.integers(0, 2**32 - 1), st.integers(3, 20), st.integers(5, 60), st.integers(1, 4))
def test_network_emptied_and_refilled_matches_full_re_solve(seed, R, n, batches):
    # Batches of flows with equal sizes over random resources, each starting after the
    # previous one has drained: most batches end in one event that empties the network
    # (all flows of a batch tie when their rates do), the others drain flow by flow.
    rng = np.random.default_rng(seed)
    cap, fs = random_network(rng, R, n, max_path=3)
    batch = rng.integers(0, batches, n)
    sizes = np.where(rng.random(n) < 0.7, 1.0, rng.choice([0.5, 2.0], n))
    starts = 1000.0 * batch  # far apart: every batch is done before the next starts
    local, st_local = run_kernel(cap, fs, sizes, starts)
    plain, _ = run_kernel(cap, fs, sizes, starts, local=False)
    np.testing.assert_allclose(local, plain, rtol=EVENT_RTOL)
    np.testing.assert_allclose(local, full_resolve_fluid(cap, fs, sizes, starts), rtol=1e-7)
    assert st_local[5] == 0  # first events of a batch are fresh solves, not fallbacks


def test_equal_flows_on_disjoint_pairs_finish_in_one_event():
    # 50 flows, flow k alone on resources 2k and 2k+1 of capacity k+1: rates k+1, so with
    # sizes k+1 every flow finishes at t = 1, in one event that empties the network.
    n = 50
    flows = [{2 * k: 1.0, 2 * k + 1: 1.0} for k in range(n)]
    cap = np.repeat(np.arange(1.0, n + 1), 2)
    sizes = np.arange(1.0, n + 1)
    assert completion_times(cap, flows, sizes).tolist() == [1.0] * n
    # then a second wave on the same resources, twice as large: done at 3 + 2 = 5
    t = completion_times(cap, flows + flows, np.concatenate([sizes, 2 * sizes]),
                         [0.0] * n + [3.0] * n)
    assert t.tolist() == [1.0] * n + [5.0] * n


@examples(40)
@given(st.integers(0, 2**32 - 1))
def test_classes_with_members_left_after_a_full_event_match_per_flow(seed):
    # Members of one class finishing at the same instant as every other class, some with
    # members still due later: the event cannot empty the network, and must not be taken
    # for one that does.
    rng = np.random.default_rng(seed)
    cap, fs = routes_network(rng, 4, 30, 3)
    sizes = rng.choice([1.0, 1.0, 2.0, 4.0], 30)
    starts = rng.choice([0.0, 0.0, 3.0], 30)
    grouped, _ = run_kernel(cap, fs, sizes, starts)
    per_flow, _ = run_kernel(cap, fs, sizes, starts, grouped=False)
    np.testing.assert_allclose(grouped, per_flow, rtol=EVENT_RTOL)
    np.testing.assert_allclose(grouped, full_resolve_fluid(cap, fs, sizes, starts), rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# Resources that can never bind are left out of the event simulation


def test_dominated_resources_by_hand():
    # Flows 0 and 1 cross a port (resource 0, 1 B/s) and its cable (1, 2 B/s): the cable's
    # load fraction is half the port's, so it never binds.  Resource 2 (1 B/s) carries flow 0
    # only, at share 0.5 on 1 B/s < 1 on the port: dominated too.  Resource 3 carries flow 2,
    # which crosses nothing else: kept.  Resources 4 and 5 are twins (same flows, shares and
    # capacity): exactly one goes.  Resource 6 carries flow 1 at share 3 on 2 B/s, a larger
    # fraction than the port's 1 / 1: kept.
    rows = {0: {0: 1.0, 1: 1.0, 2: 0.5}, 1: {0: 1.0, 1: 1.0, 6: 3.0}, 2: {3: 1.0},
            3: {4: 1.0, 5: 1.0}}
    cap = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    fs = flow._reorder(FlowSet.from_mappings(7, [rows[f] for f in range(4)]), None)
    pruned = flow._prune_dominated(fs, cap)
    kept = [sorted(pruned.direct.indices[pruned.direct.indptr[f]:pruned.direct.indptr[f + 1]])
            for f in range(4)]
    assert kept[0] == [0] and kept[1] == [0, 6] and kept[2] == [3]
    assert len(kept[3]) == 1
    # The same flows through a group on resource 1: a resource that takes group loads stays.
    gm = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 7))
    direct = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 0])), shape=(2, 7))
    g = FlowSet(7, direct, np.array([[0], [0]]), gm)
    assert flow._prune_dominated(flow._reorder(g, None), cap).direct.nnz == 2
    assert flow._dominated(*_dominance_args(g, cap)).tolist() == [False] * 7


def _dominance_args(fs, cap):
    D = flow._canonical(fs.direct)
    Dc = D.tocsc()
    Dc.sort_indices()
    grouped = np.zeros(fs.n_resources, dtype=bool)
    if fs.groups.shape[1]:
        grouped[sp.csr_matrix(fs.group_matrix).indices] = True
    i8 = np.int64
    return (D.indptr.astype(i8), D.indices.astype(i8), D.data, Dc.indptr.astype(i8),
            Dc.indices.astype(i8), Dc.data, np.asarray(cap, float), grouped)


def with_cables(rng, R, n):
    """A random network plus, for every resource, a 'cable' carrying the same flows at a load
    fraction no larger (share x 0.5 or 1, capacity x 1, 1.5 or 4): many dominated resources,
    twins among them."""
    cap, fs = random_network(rng, R, n, max_path=3)
    D = fs.direct.tocsr()
    cable = sp.csr_matrix(D.multiply(rng.choice([0.5, 1.0], R)[None, :]))
    cap2 = np.r_[cap, cap * rng.choice([1.0, 1.5, 4.0], R)]
    return cap2, FlowSet(2 * R, sp.hstack([D, cable]).tocsr())


@examples(40)
@given(st.integers(0, 2**32 - 1), st.integers(3, 20), st.integers(5, 80))
def test_pruning_dominated_resources_keeps_every_finish_time(seed, R, n):
    rng = np.random.default_rng(seed)
    cap, fs = with_cables(rng, R, n)
    sizes, starts = event_inputs(rng, n)
    assert flow._dominated(*_dominance_args(fs, cap)).sum() >= 1
    pruned, _ = flow._simulate(cap, fs, sizes, starts)
    whole, _ = flow._simulate(cap, fs, sizes, starts, prune=False)
    np.testing.assert_allclose(pruned, whole, rtol=EVENT_RTOL)
    np.testing.assert_allclose(pruned, full_resolve_fluid(cap, fs, sizes, starts),
                               rtol=EVENT_RTOL)
