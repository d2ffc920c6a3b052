"""The flow solver's public functions on random arrays: finite answers or SolverInputError."""

import numpy as np
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
