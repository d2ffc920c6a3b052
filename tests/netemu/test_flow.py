"""Tests of the flow solver against closed forms, invariants and an exact reference."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import SolverInputError
from netemu.flow import FlowSet, _filler_rates, _kernel_rates, completion_times, max_min_rates

from . import flow_reference as ref

RTOL = 1e-7
def examples(n):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# Independent checks of a claimed max-min allocation


def assert_max_min(cap, flows, rates, demands=None, weights=None, counts=None):
    """Feasibility and the bottleneck property, which together define weighted max-min."""
    n = len(flows)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    m = np.ones(n) if counts is None else np.asarray(counts, float)
    d = [math.inf if demands is None or demands[f] is None else demands[f] for f in range(n)]
    load = np.zeros(len(cap))
    top = np.zeros(len(cap))  # largest rate/weight among the flows on each resource
    for f, fl in enumerate(flows):
        assert rates[f] >= 0
        assert rates[f] <= d[f] * (1 + RTOL)
        for i, s in fl.items():
            load[i] += m[f] * rates[f] * s
            top[i] = max(top[i], rates[f] / w[f])
    assert np.all(load <= np.asarray(cap) * (1 + RTOL)), (load, cap)
    for f, fl in enumerate(flows):
        if rates[f] >= d[f] * (1 - RTOL):
            continue
        assert any(load[i] >= cap[i] * (1 - RTOL) and rates[f] / w[f] >= top[i] * (1 - RTOL)
                   for i in fl), f"flow {f} has no bottleneck"


def expand(fs):
    """Every member flow of a FlowSet as its own mapping (counts expanded), and the row of each."""
    M = fs.totals().tocsr()
    flows, row = [], []
    for f in range(fs.n_flows):
        lo, hi = M.indptr[f], M.indptr[f + 1]
        mapping = {int(i): float(s) for i, s in zip(M.indices[lo:hi], M.data[lo:hi])}
        for _ in range(int(fs.counts[f])):
            flows.append(mapping)
            row.append(f)
    return flows, np.array(row, dtype=int)


# ---------------------------------------------------------------------------
# Random small instances

share_st = st.one_of(st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0]),
                     st.floats(0.05, 4.0, allow_nan=False))
cap_st = st.one_of(st.sampled_from([1.0, 2.0, 10.0]), st.floats(0.5, 100.0, allow_nan=False))


@st.composite
def instances(draw, demands=True, weights=True):
    R = draw(st.integers(1, 6))
    n = draw(st.integers(1, 8))
    cap = draw(st.lists(cap_st, min_size=R, max_size=R))
    flows = []
    for _ in range(n):
        res = draw(st.lists(st.integers(0, R - 1), min_size=1, max_size=R, unique=True))
        flows.append({i: draw(share_st) for i in res})
    dem = None
    if demands and draw(st.booleans()):
        dem = draw(st.lists(st.one_of(st.none(), st.just(math.inf), st.just(0.0),
                                      st.floats(0.01, 60.0)), min_size=n, max_size=n))
        for f in range(n):  # a flow without resources is allowed when it has a demand
            if dem[f] is not None and dem[f] != math.inf and draw(st.integers(0, 5)) == 0:
                flows[f] = {}
    w = None
    if weights and draw(st.booleans()):
        w = draw(st.lists(st.one_of(st.sampled_from([1.0, 2.0, 3.0]), st.floats(0.1, 10.0)),
                          min_size=n, max_size=n))
    return cap, flows, dem, w


@st.composite
def flowsets(draw):
    R = draw(st.integers(1, 6))
    n = draw(st.integers(1, 7))
    nG = draw(st.integers(0, 4))
    K = draw(st.integers(1, 2)) if nG else 0
    cap = draw(st.lists(cap_st, min_size=R, max_size=R))
    gm = np.zeros((nG, R))
    for g in range(nG):
        for i in draw(st.lists(st.integers(0, R - 1), min_size=1, max_size=R, unique=True)):
            gm[g, i] = draw(share_st)
    dm = np.zeros((n, R))
    groups = np.full((n, K), -1)
    for f in range(n):
        for k in range(K):
            groups[f, k] = draw(st.integers(-1, nG - 1))
        need = not (groups[f] >= 0).any()
        for i in draw(st.lists(st.integers(0, R - 1), min_size=int(need), max_size=R, unique=True)):
            dm[f, i] = draw(share_st)
    counts = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    fs = FlowSet(R, sp.csr_matrix(dm), groups if K else None,
                 sp.csr_matrix(gm) if K else None, np.array(counts))
    return cap, fs


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray([float(x) for x in b]),
                               rtol=RTOL, atol=0)


@examples(1000)
@given(instances())
def test_matches_exact_reference_and_is_max_min(inst):
    cap, flows, dem, w = inst
    rates = max_min_rates(cap, flows, demands=dem, weights=w)
    close(rates, ref.max_min(cap, flows, dem, w))
    assert_max_min(cap, flows, rates, dem, w)


@examples(400)
@given(flowsets())
def test_flowset_groups_and_counts_equal_expanded_members(inst):
    cap, fs = inst
    flows, row = expand(fs)
    rates = max_min_rates(cap, fs)
    close(rates[row], ref.max_min(cap, flows))
    assert_max_min(cap, flows, rates[row])
    # the compiled solver used by completion_times gives the same rates, and so does the
    # vectorised filling (max_min_rates uses the first without weights or demands)
    np.testing.assert_allclose(_kernel_rates(cap, fs), rates, rtol=RTOL)
    close(_filler_rates(cap, fs)[row], ref.max_min(cap, flows))


@examples(250)
@given(flowsets(), st.data())
def test_flowset_with_weights_and_demands(inst, data):
    cap, fs = inst
    n = fs.n_flows
    w = data.draw(st.lists(st.floats(0.1, 10.0), min_size=n, max_size=n))
    dem = data.draw(st.lists(st.one_of(st.none(), st.floats(0.0, 30.0)), min_size=n, max_size=n))
    flows, row = expand(fs)
    rates = max_min_rates(cap, fs, demands=dem, weights=w)
    close(rates[row], ref.max_min(cap, flows, [dem[r] for r in row], [w[r] for r in row]))
    assert_max_min(cap, [flows[i] for i in np.unique(row, return_index=True)[1]], rates,
                   dem, w, fs.counts)


@examples(200)
@given(instances(demands=False, weights=False))
def test_kernel_matches_reference(inst):
    cap, flows, _, _ = inst
    close(_kernel_rates(cap, flows), ref.max_min(cap, flows))
    close(_filler_rates(cap, flows), ref.max_min(cap, flows))


def test_larger_random_case_three_ways():
    rng = np.random.default_rng(7)
    R, n = 40, 250
    cap = rng.uniform(1, 20, R).round(1)
    flows = []
    for _ in range(n):
        res = rng.choice(R, size=rng.integers(1, 5), replace=False)
        flows.append({int(i): float(rng.choice([0.5, 1.0, 2.0])) for i in res})
    dem = [float(x) if x < 1.5 else None for x in rng.uniform(0, 3, n)]
    w = rng.choice([1.0, 2.0, 4.0], n)
    rates = max_min_rates(cap, flows, demands=dem, weights=w)
    close(rates, ref.max_min(cap, flows, dem, w))
    close(_kernel_rates(cap, flows), ref.max_min(cap, flows))


# ---------------------------------------------------------------------------
# Closed forms


@pytest.mark.parametrize("caps", [[4.0, 4.0, 4.0], [6.0, 2.0, 9.0, 5.0], [1.0]])
def test_line_network(caps):
    # one long flow over every link, one short flow per link: the long flow gets half of
    # the tightest link; each short flow gets what the long flow leaves on its link
    flows = [{i: 1.0 for i in range(len(caps))}] + [{i: 1.0} for i in range(len(caps))]
    rates = max_min_rates(caps, flows)
    long = min(caps) / 2
    assert rates[0] == pytest.approx(long, rel=1e-12)
    np.testing.assert_allclose(rates[1:], np.array(caps) - long, rtol=1e-12)


@pytest.mark.parametrize("k,access", [(4, 100.0), (5, 1.0), (3, 0.5)])
def test_dumbbell(k, access):
    # k flows, each over its own access link (flow 0's is `access`, others 1e3) and a shared
    # bottleneck of 10: flow 0 gets min(access, 10/k), the rest split what remains
    c = 10.0
    caps = [c, access] + [1e3] * (k - 1)
    flows = [{0: 1.0, 1 + f: 1.0} for f in range(k)]
    rates = max_min_rates(caps, flows)
    r0 = min(access, c / k)
    assert rates[0] == pytest.approx(r0, rel=1e-12)
    np.testing.assert_allclose(rates[1:], (c - r0) / (k - 1), rtol=1e-12)


def test_parking_lot_with_weights():
    # links 0..n-1 of capacity c; flow 0 crosses all with weight w, flow 1+i crosses link i:
    # on each link w*L + L = c, so the long flow gets c*w/(1+w), each short one c/(1+w)
    n, c, w = 5, 12.0, 3.0
    flows = [{i: 1.0 for i in range(n)}] + [{i: 1.0} for i in range(n)]
    rates = max_min_rates([c] * n, flows, weights=[w] + [1.0] * n)
    assert rates[0] == pytest.approx(c * w / (1 + w), rel=1e-12)
    np.testing.assert_allclose(rates[1:], c / (1 + w), rtol=1e-12)


def leaf_spine_all_to_all(L, H, S, host_bw, fabric_bw, sprayed=True):
    """A FlowSet for all-to-all on an L-leaf, S-spine fabric with H hosts per leaf."""
    N = L * H
    up = lambda h: h                                 # host h -> its leaf
    down = lambda h: N + h                           # leaf -> host h
    lu = lambda l, s: 2 * N + l * S + s              # leaf l -> spine s
    ld = lambda l, s: 2 * N + L * S + l * S + s      # spine s -> leaf l
    R = 2 * N + 2 * L * S
    cap = np.r_[np.full(2 * N, host_bw), np.full(2 * L * S, fabric_bw)]
    src, dst = np.divmod(np.arange(N * N), N)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    n = src.size
    rows = np.repeat(np.arange(n), 2)
    cols = np.c_[up(src), down(dst)].ravel()
    direct = sp.csr_matrix((np.ones(2 * n), (rows, cols)), shape=(n, R))
    sl, dl = src // H, dst // H
    if sprayed:
        gid = np.where(sl != dl, sl * L + dl, -1)
        g = np.arange(L * L)
        gl, gd = np.divmod(g, L)
        grow = np.repeat(g, 2 * S)
        gcol = np.c_[lu(gl[:, None], np.arange(S)), ld(gd[:, None], np.arange(S))].ravel()
        gm = sp.csr_matrix((np.full(grow.size, 1.0 / S), (grow, gcol)), shape=(L * L, R))
    else:  # d-mod-k single paths: group per (src leaf, dst leaf, spine)
        spine = dst % S
        gid = np.where(sl != dl, (sl * L + dl) * S + spine, -1)
        g = np.arange(L * L * S)
        gl, rest = np.divmod(g, L * S)
        gd, gs = np.divmod(rest, S)
        grow = np.repeat(g, 2)
        gcol = np.c_[lu(gl, gs), ld(gd, gs)].ravel()
        gm = sp.csr_matrix((np.ones(grow.size), (grow, gcol)), shape=(L * L * S, R))
    return cap, FlowSet(R, direct, gid, gm), sl != dl


@pytest.mark.parametrize("L,H,S,fabric_bw", [(4, 4, 4, 1.0), (4, 4, 2, 1.0), (3, 5, 2, 0.6),
                                             (6, 2, 3, 5.0)])
def test_leaf_spine_all_to_all_sprayed(L, H, S, fabric_bw):
    # N-1 flows per host link; each leaf->spine link carries H*(N-H)/S inter-leaf flows' worth.
    # Inter-leaf flows get the smaller of the two fair shares; intra-leaf flows fill the host
    # link with what the (N-H) inter-leaf flows leave.
    N, hb = L * H, 1.0
    inter = min(hb / (N - 1), fabric_bw * S / (H * (N - H)))
    intra = (hb - (N - H) * inter) / (H - 1)
    cap, fs, is_inter = leaf_spine_all_to_all(L, H, S, hb, fabric_bw)
    rates = max_min_rates(cap, fs)
    np.testing.assert_allclose(rates[is_inter], inter, rtol=1e-9)
    np.testing.assert_allclose(rates[~is_inter], intra, rtol=1e-9)
    np.testing.assert_allclose(_kernel_rates(cap, fs), rates, rtol=1e-9)


def test_leaf_spine_d_mod_k_matches_reference_and_bottleneck():
    cap, fs, _ = leaf_spine_all_to_all(3, 4, 2, 1.0, 1.5, sprayed=False)
    flows, row = expand(fs)
    rates = max_min_rates(cap, fs)
    close(rates[row], ref.max_min(cap, flows))
    close(_kernel_rates(cap, fs)[row], ref.max_min(cap, flows))


def test_counts_scale_load():
    # c flows as one counted row share a link with one single flow: each gets C/(c+1)
    rates = max_min_rates([12.0], FlowSet(1, sp.csr_matrix(np.ones((2, 1))), counts=np.array([5, 1])))
    np.testing.assert_allclose(rates, [2.0, 2.0], rtol=1e-12)


def test_cancellation_guard_on_a_millionfold_shrinking_load():
    # 10^9 counted flows cross link 0 (share 1/3, capacity 1e9) and link 1 (capacity 1); one
    # flow crosses link 0 only (share 0.1).  Link 1 saturates first, leaving link 0's active
    # load 10^10 times smaller: computed by subtraction it would be off by about 2e-7.
    # Sixteen idle flows on link 2 keep that first step small, so the solver updates loads
    # incrementally rather than recomputing them all.
    m = 10**9
    rows = np.zeros((18, 3))
    rows[0, :2] = [1 / 3, 1.0]
    rows[1, 0] = 0.1
    rows[2:, 2] = 1.0
    fs = FlowSet(3, sp.csr_matrix(rows), counts=np.array([m] + [1] * 17))
    cap = [1e9, 1.0, 1e12]
    expected = np.r_[1.0 / m, (1e9 - 1 / 3) / 0.1, np.full(16, 1e12 / 16)]
    np.testing.assert_allclose(max_min_rates(cap, fs), expected, rtol=1e-12)
    np.testing.assert_allclose(_filler_rates(cap, fs), expected, rtol=1e-12)
    np.testing.assert_allclose(_kernel_rates(cap, fs), expected, rtol=1e-12)


def test_demands_cap_and_release_capacity():
    # three flows on a link of 9: one capped at 1, the other two split the remaining 8
    rates = max_min_rates([9.0], [{0: 1.0}] * 3, demands=[1.0, None, np.inf])
    np.testing.assert_allclose(rates, [1.0, 4.0, 4.0], rtol=1e-12)


def test_flow_without_resources():
    assert max_min_rates([1.0], [{0: 1.0}, {}], demands=[None, 3.5]).tolist() == [1.0, 3.5]
    with pytest.raises(SolverInputError, match="flow 1 uses no resource and has no demand"):
        max_min_rates([1.0], [{0: 1.0}, {}])
    with pytest.raises(SolverInputError, match="flow 0 uses no resource"):
        completion_times([1.0], [{}], sizes=[1.0])


def test_no_flows():
    assert max_min_rates([1.0], []).shape == (0,)
    assert completion_times([1.0], [], sizes=[]).shape == (0,)


# ---------------------------------------------------------------------------
# Completion times


def test_two_flows_share_a_link():
    # both at c/2 until the small one ends at 2*s1/c; then the big one alone at c
    c, s1, s2 = 4.0, 2.0, 5.0
    t = completion_times([c], [{0: 1.0}, {0: 1.0}], [s1, s2])
    np.testing.assert_allclose(t, [2 * s1 / c, (s1 + s2) / c], rtol=1e-12)


def test_staggered_start():
    # flow 0 alone until t0 (sends c*t0), then both at c/2: flow 0 ends at
    # t0 + 2(s - c t0)/c; flow 1 has sent the same meanwhile, then runs at c
    c, s, t0 = 2.0, 6.0, 1.0
    t = completion_times([c], [{0: 1.0}, {0: 1.0}], [s, s], starts=[0.0, t0])
    t_a = t0 + 2 * (s - c * t0) / c
    t_b = t_a + (s - (t_a - t0) * c / 2) / c
    np.testing.assert_allclose(t, [t_a, t_b], rtol=1e-12)


def test_finishing_flow_frees_capacity_downstream():
    # A crosses links 0 (cap 2) and 1 (cap 10); B crosses link 0; C crosses link 1.
    # First A=B=1, C=9.  B (size 1) ends at t=1; then A is limited by link 0 alone: 2,
    # and C gets 8.  Sizes: A 5 -> 1 + 4/2 = 3; C 30 -> 9 + 8*(t-1) = 30 at t = 1 + 21/8.
    t = completion_times([2.0, 10.0], [{0: 1.0, 1: 1.0}, {0: 1.0}, {1: 1.0}], [5.0, 1.0, 30.0])
    t_c = 3 + (30 - 9 - 8 * 2) / 10  # after A ends at 3, C has 30-9-16 left at rate 10
    np.testing.assert_allclose(t, [3.0, 1.0, t_c], rtol=1e-12)


def test_idle_gap_before_a_late_start():
    t = completion_times([1.0], [{0: 1.0}, {0: 1.0}], [1.0, 2.0], starts=[0.0, 5.0])
    np.testing.assert_allclose(t, [1.0, 7.0], rtol=1e-12)


def test_counted_rows_finish_like_their_members():
    fs = FlowSet(2, sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]])), counts=np.array([3, 2]))
    flows, row = expand(fs)
    sizes, starts = [4.0, 9.0], [0.0, 0.5]
    t = completion_times([10.0, 3.0], fs, sizes, starts)
    exp = ref.fluid_finish_times([10.0, 3.0], flows, [sizes[r] for r in row],
                                 [starts[r] for r in row])
    close(t[row], exp)


@examples(150)
@given(flowsets(), st.data())
def test_completion_times_match_exact_fluid_reference(inst, data):
    cap, fs = inst
    n = fs.n_flows
    sizes = data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.5]), min_size=n, max_size=n))
    starts = data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.25, 1.0, 2.0]), min_size=n, max_size=n))
    flows, row = expand(fs)
    t = completion_times(cap, fs, sizes, starts)
    exp = ref.fluid_finish_times(cap, flows, [sizes[r] for r in row], [starts[r] for r in row])
    np.testing.assert_allclose(t[row], [float(x) for x in exp], rtol=1e-7)


def full_resolve_fluid(cap, fs, sizes, starts):
    """Fluid simulation that re-solves every present flow with max_min_rates at every event."""
    M = fs.totals().tocsr()
    n = fs.n_flows
    left = np.array(sizes, float)
    finish = np.full(n, np.nan)
    t = 0.0
    while np.isnan(finish).any():
        here = np.flatnonzero(np.isnan(finish) & (starts <= t))
        later = starts[np.isnan(finish) & (starts > t)]
        if here.size == 0:
            t = later.min()
            continue
        r = max_min_rates(cap, FlowSet(fs.n_resources, M[here], counts=fs.counts[here]))
        dt = min((left[here] / r).min(), later.min() - t if later.size else np.inf)
        left[here] -= r * dt
        t += dt
        finish[here[left[here] <= 1e-9 * np.asarray(sizes)[here]]] = t
    return finish


@pytest.mark.parametrize("paths,seed", [(True, 1), (False, 2), (False, 3)])
def test_completion_times_on_a_leaf_spine_match_full_re_solving(paths, seed):
    # completion_times keeps the slower flows' rates between events; re-solving everything
    # at every event with the vectorised solver must give the same finish times
    rng = np.random.default_rng(seed)
    cap, fs, _ = leaf_spine_all_to_all(3, 4, 2, 1.0, 0.7, sprayed=paths)
    pick = rng.choice(fs.n_flows, 60, replace=False)
    sub = FlowSet(fs.n_resources, fs.direct[pick], fs.groups[pick], fs.group_matrix)
    sizes = rng.uniform(0.5, 2.0, pick.size)
    starts = np.where(rng.random(pick.size) < 0.3, 0.0, rng.uniform(0, 20, pick.size))
    np.testing.assert_allclose(completion_times(cap, sub, sizes, starts),
                               full_resolve_fluid(cap, sub, sizes, starts), rtol=1e-7)


# ---------------------------------------------------------------------------
# Bad input


GOOD = [{0: 1.0}, {0: 0.5, 1: 1.0}]


@pytest.mark.parametrize("kwargs,match", [
    (dict(capacities=[1.0, 0.0]), r"capacities\[1\] is 0.0; every capacity must be a finite"),
    (dict(capacities=[1.0, -2.0]), r"capacities\[1\] is -2.0"),
    (dict(capacities=[np.nan, 1.0]), r"capacities\[0\] is nan"),
    (dict(capacities=[np.inf, 1.0]), r"capacities\[0\] is inf"),
    (dict(capacities=[1.0]), r"flow 1 names resource 1; allowed: integers 0..0"),
    (dict(capacities=[[1.0, 2.0]]), r"capacities has shape \(1, 2\)"),
    (dict(capacities=["a", 1.0]), r"capacities must be a sequence of numbers"),
    (dict(capacities="12"), r"capacities must be a sequence of numbers"),
    (dict(flows=[{0: 1.0}, {1: 0.0}]),
     r"flow 1 puts share 0.0 on resource 1; every share must be a finite number > 0"),
    (dict(flows=[{0: -1.0}]), r"flow 0 puts share -1.0 on resource 0"),
    (dict(flows=[{0: np.nan}]), r"share nan"),
    (dict(flows=[{0: np.inf}]), r"share inf"),
    (dict(flows=[{0: "x"}]), r"flow shares must be numbers"),
    (dict(flows=[{-1: 1.0}]), r"names resource -1"),
    (dict(flows=[{1.5: 1.0}]), r"names resource 1.5"),
    (dict(flows=[[0, 1]]), r"flow 0 is list; expected a mapping"),
    (dict(flows={0: 1.0}), r"flows must be a FlowSet or a sequence"),
    (dict(flows=None), r"flows must be a FlowSet or a sequence"),
    (dict(demands=[1.0]), r"demands has shape \(1,\); expected one value per flow: \(2,\)"),
    (dict(demands=[1.0, -1.0]), r"demands\[1\] is -1.0; a demand must be a number >= 0"),
    (dict(demands=[np.nan, 1.0]), r"demands\[0\] is nan"),
    (dict(weights=[1.0, 0.0]), r"weights\[1\] is 0.0; every weight must be a finite number > 0"),
    (dict(weights=[-1.0, 1.0]), r"weights\[0\] is -1.0"),
    (dict(weights=[np.inf, 1.0]), r"weights\[0\] is inf"),
    (dict(weights=[1.0, 1.0, 1.0]), r"weights has shape \(3,\)"),
])
def test_max_min_rates_rejects(kwargs, match):
    args = dict(capacities=[1.0, 2.0], flows=GOOD, demands=None, weights=None)
    args.update(kwargs)
    with pytest.raises(SolverInputError, match=match):
        max_min_rates(**args)


def test_flowset_rejects_bad_group_shares():
    with pytest.raises(SolverInputError, match="group_matrix contain -2.0; every share must be"):
        FlowSet(2, sp.csr_matrix((1, 2)), [0], sp.csr_matrix(np.array([[1.0, -2.0]])))


def test_flowset_resource_count_must_match():
    fs = FlowSet.from_mappings(3, GOOD)
    with pytest.raises(SolverInputError, match="FlowSet has 3 resources but 2 capacities"):
        max_min_rates([1.0, 2.0], fs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(sizes=[1.0, -1.0]), r"sizes\[1\] is -1.0; every size must be a finite number of bytes >= 0"),
    (dict(sizes=[np.nan, 1.0]), r"sizes\[0\] is nan"),
    (dict(sizes=[np.inf, 1.0]), r"sizes\[0\] is inf"),
    (dict(sizes=[1.0]), r"sizes has shape \(1,\)"),
    (dict(starts=[0.0, -1.0]), r"starts\[1\] is -1.0; every start time must be a finite"),
    (dict(starts=[np.inf, 0.0]), r"starts\[0\] is inf"),
    (dict(capacities=[0.0, 1.0]), r"capacities\[0\] is 0.0"),
])
def test_completion_times_rejects(kwargs, match):
    args = dict(capacities=[1.0, 2.0], flows=GOOD, sizes=[1.0, 1.0], starts=None)
    args.update(kwargs)
    with pytest.raises(SolverInputError, match=match):
        completion_times(**args)


def test_from_mappings_fast_and_checked_paths_agree():
    # Plain dicts with int keys take the vectorised conversion; OrderedDicts and numpy
    # keys take the per-entry one.  Both must give the same matrix, entry by entry.
    from collections import OrderedDict

    rng = np.random.default_rng(3)
    flows = [{int(r): float(s) for r, s in zip(rng.choice(9, size=k, replace=False),
                                                rng.uniform(0.1, 2.0, size=k))}
             for k in rng.integers(0, 5, size=40)]
    fast = FlowSet.from_mappings(9, flows).direct.toarray()
    slow = FlowSet.from_mappings(9, [OrderedDict(m) for m in flows]).direct.toarray()
    numpy_keys = FlowSet.from_mappings(9, [{np.int64(r): s for r, s in m.items()}
                                           for m in flows]).direct.toarray()
    expected = np.zeros((40, 9))
    for f, m in enumerate(flows):
        for r, s in m.items():
            expected[f, r] = s
    assert np.array_equal(fast, expected)
    assert np.array_equal(slow, expected)
    assert np.array_equal(numpy_keys, expected)


@pytest.mark.parametrize("flows,match", [
    ([{0: 1.0}, {True: 1.0}], r"flow 1 names resource True"),
    ([{0: 1.0}, {1: 1.0, 2: 1.0}], r"flow 1 names resource 2; allowed: integers 0..1"),
    ([{0: 1.0}, {1: 1.0, 0: -3.0}], r"flow 1 puts share -3.0 on resource 0"),
])
def test_from_mappings_fast_path_names_the_bad_entry(flows, match):
    with pytest.raises(SolverInputError, match=match):
        FlowSet.from_mappings(2, flows)


def test_from_mappings_rows_come_out_canonical():
    # Dict order is not column order; the fast path sorts each row in place, and the matrix
    # it returns is canonical (sorted, no duplicates) with every share where the dict put it.
    flows = [{5: 1.0, 0: 2.0, 3: 0.5}, {2: 1.0}, {4: 3.0, 1: 1.5}, {}]
    m = FlowSet.from_mappings(6, flows).direct
    assert m.indptr.tolist() == [0, 3, 4, 6, 6]
    assert m.indices.tolist() == [0, 3, 5, 2, 1, 4]
    assert m.data.tolist() == [2.0, 0.5, 1.0, 1.0, 1.5, 3.0]
    assert m.has_canonical_format


def test_sizes_given_as_a_list_are_checked_as_an_array_would_be():
    # a list of plain numbers converts by fromiter; anything else keeps the usual messages
    assert completion_times([2.0], [{0: 1.0}, {0: 1.0}], [1.0, 3]).tolist() == [1.0, 2.0]
    with pytest.raises(SolverInputError, match=r"sizes must be a sequence of numbers"):
        completion_times([2.0], [{0: 1.0}], ["one"])
    with pytest.raises(SolverInputError, match=r"sizes has shape \(1, 2\)"):
        completion_times([2.0], [{0: 1.0}], [[1.0, 2.0]])
    with pytest.raises(SolverInputError, match=r"sizes\[0\] is nan"):
        completion_times([2.0], [{0: 1.0}], [None])


def test_kernels_drop_numbas_private_nrt_option_where_numba_lacks_it(monkeypatch):
    numba_cpu = pytest.importorskip("numba.core.cpu")
    from netemu import flow
    assert flow._knows_nrt() == hasattr(numba_cpu.CPUTargetOptions, "_nrt")
    monkeypatch.setattr(numba_cpu, "CPUTargetOptions", type("Options", (), {}))
    assert flow._knows_nrt() is False
