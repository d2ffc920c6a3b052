"""The flow solver's public functions on random arrays: finite answers or SolverInputError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import SolverInputError
from netemu.flow import FlowSet, completion_times, max_min_rates

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_num = st.one_of(st.floats(-2, 1e3), st.sampled_from([0.0, float("nan"), float("inf"), 1.0]))
_caps = st.lists(_num, min_size=0, max_size=5)
_flows = st.lists(st.dictionaries(st.integers(-1, 6), _num, max_size=3), min_size=0, max_size=6)


@SETTINGS
@given(caps=_caps, flows=_flows, sizes=st.lists(_num, max_size=7), timed=st.booleans())
def test_solver_inputs(caps, flows, sizes, timed):
    try:
        fs = FlowSet.from_mappings(len(caps), flows)
        if timed:
            out = completion_times(caps, fs, sizes)
        else:
            out = max_min_rates(caps, fs)
    except SolverInputError:
        return
    out = np.asarray(out)
    assert out.shape == (len(flows),)
    assert not np.isnan(out).any()
    if timed:  # all start at 0: a 0-byte flow finishes at once, any other later
        assert ((out > 0) == (np.asarray(sizes, dtype=float) > 0)).all()
    else:
        assert (out > 0).all()


# --- Mostly valid inputs: the answer must be max-min fair and the times consistent ------------
#
# Positive capacities, flows over existing resources with positive shares, positive sizes;
# one time in four a value is replaced by a bad one (then: an answer or SolverInputError).
# Events show the mix with --hypothesis-show-statistics.

from hypothesis import event  # noqa: E402

_bad = st.sampled_from([0.0, -1.0, float("nan"), float("inf")])


@st.composite
def _problem(draw):
    n = draw(st.integers(1, 5))
    caps = draw(st.lists(st.floats(0.5, 1e3), min_size=n, max_size=n))
    m = draw(st.integers(1, 6))
    flows = [draw(st.dictionaries(st.integers(0, n - 1), st.floats(0.1, 3.0), min_size=1,
                                  max_size=n)) for _ in range(m)]
    sizes = draw(st.lists(st.floats(1e-3, 1e3), min_size=m, max_size=m))
    broken = draw(st.integers(0, 3)) == 0
    if broken:
        what = draw(st.sampled_from(["cap", "share", "size", "resource"]))
        if what == "cap":
            caps[draw(st.integers(0, n - 1))] = draw(_bad)
        elif what == "share":
            f = flows[draw(st.integers(0, m - 1))]
            f[next(iter(f))] = draw(_bad)
        elif what == "size":
            sizes[draw(st.integers(0, m - 1))] = draw(_bad)
        else:
            flows[draw(st.integers(0, m - 1))][n + draw(st.integers(0, 2))] = 1.0
    return caps, flows, sizes, broken


def _assert_max_min(caps, flows, rates):
    caps = np.asarray(caps)
    load = np.zeros(caps.size)
    for f, x in zip(flows, rates):
        for r, s in f.items():
            load[r] += s * x
    assert (load <= caps * (1 + 1e-9)).all()                     # feasible
    saturated = load >= caps * (1 - 1e-9)
    for f, x in zip(flows, rates):
        # Progressive filling: every flow has a saturated resource on which no flow is faster.
        assert any(saturated[r] and all(y <= x * (1 + 1e-9) for g, y in zip(flows, rates)
                                        if r in g) for r in f), (f, x)


@SETTINGS
@given(problem=_problem())
def test_solver_on_mostly_valid_inputs(problem):
    caps, flows, sizes, broken = problem
    try:
        fs = FlowSet.from_mappings(len(caps), flows)
        rates = np.asarray(max_min_rates(caps, fs))
        finish = np.asarray(completion_times(caps, fs, sizes))
    except SolverInputError:
        event("broken: refused")
        assert broken, "a valid problem was refused"
        return
    event("broken: answered" if broken else "valid")
    if broken:
        return
    assert rates.shape == finish.shape == (len(flows),)
    assert (rates > 0).all() and np.isfinite(rates).all()
    _assert_max_min(caps, flows, rates)
    sizes = np.asarray(sizes)
    # No flow ends before it could alone on its tightest resource, nor before its resources
    # carried everything that crosses them (work conservation bound of the makespan).
    alone = np.array([max(s * sh / caps[r] for r, sh in f.items()) for f, s in zip(flows, sizes)])
    assert (finish >= alone * (1 - 1e-9)).all()
    work = max(sum(s * f.get(r, 0.0) for f, s in zip(flows, sizes)) / caps[r]
               for r in range(len(caps)))
    assert finish.max() >= work * (1 - 1e-9)
    # Flows that start together at the max-min rates: the first to end ends exactly when
    # its size at its initial rate says.
    first = np.argmin(finish)
    assert finish[first] == pytest.approx(np.min(sizes / rates), rel=1e-6)
