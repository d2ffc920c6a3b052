"""The step timeline's coflow filling against netemu's general max-min solver."""

import numpy as np
import pytest

from netemu import flow
from netemu.collectives.timeline import Phase, _solve


@pytest.mark.parametrize("seed", range(8))
def test_coflow_filling_equals_the_general_solver(seed):
    rng = np.random.default_rng(seed)
    R = 60
    cap = rng.uniform(1e9, 5e10, R)
    # A few coflows over many shared resources, some with equal loads (ties).
    phases = []
    for _ in range(rng.integers(2, 9)):
        cols = rng.choice(R, size=rng.integers(1, 30), replace=False)
        vals = rng.choice([0.5, 1.0, 2.0, rng.uniform(0.1, 3)], size=cols.size)
        phases.append(Phase(dict(zip(cols.tolist(), vals.tolist())), 1e9))
    got = _solve(cap, phases)
    want = flow.max_min_rates(cap, [p.load for p in phases])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_two_coflows_on_one_link_by_hand():
    # 1 GB/s link loaded 1x by coflow a and 3x by b (three transfers): max-min gives both
    # the same rate x with x + 3x = 1e9; b's second link is not tight.
    got = _solve(np.array([1e9, 1e9]), [Phase({0: 1.0}, 1.0), Phase({0: 3.0, 1: 1.0}, 1.0)])
    np.testing.assert_allclose(got, [0.25e9, 0.25e9], rtol=1e-15)
