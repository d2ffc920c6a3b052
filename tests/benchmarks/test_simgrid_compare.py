"""netemu's flow solver against SimGrid on small fat-trees (benchmarks/simgrid_compare.py).

Needs the SimGrid venv that benchmarks/install_simgrid.sh builds (the path in
NETEMU_SIMGRID_VENV, default /var/cache/netemu-simgrid-venv); skipped without it.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "simgrid_compare.py"
_spec = importlib.util.spec_from_file_location("simgrid_compare", _PATH)
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)

needs_simgrid = pytest.mark.skipif(
    not sc.simgrid_available(),
    reason=f"SimGrid venv missing at {sc.DEFAULT_VENV}: run benchmarks/install_simgrid.sh")


def _naive_completion_times(capacities, flows, sizes):
    """Fluid max-min by textbook progressive filling, re-solved at every completion.

    Independent of netemu.flow on purpose: it checks the harness (routes,
    FlowSet, the SimGrid worker) apart from the solver under test.
    """
    A = flows.totals().tocsc()  # flows x resources
    remaining = np.asarray(sizes, dtype=float).copy()
    finish = np.full(remaining.size, np.nan)
    active = np.ones(remaining.size, dtype=bool)
    now = 0.0
    while active.any():
        rate = np.zeros(remaining.size)
        frozen = ~active
        cap = np.asarray(capacities, dtype=float).copy()
        while not frozen.all():
            load = A.T @ (~frozen).astype(float)
            used = load > 0
            level = np.min(cap[used] / load[used])
            rate[~frozen] += level
            cap -= level * load
            saturated = used & (cap <= 1e-9 * np.asarray(capacities))
            frozen |= (A[:, saturated].sum(axis=1).A1 > 0)
        dt = np.min(remaining[active] / rate[active])
        now += dt
        remaining[active] -= rate[active] * dt
        done = active & (remaining <= 1e-9 * np.asarray(sizes))
        finish[done] = now
        active &= ~done
    return finish


def _netemu_solver():
    flow = pytest.importorskip("netemu.flow")
    if not hasattr(flow, "completion_times"):
        pytest.skip("netemu.flow.completion_times is not written yet")
    return flow.completion_times


def test_routes_follow_d_mod_k():
    paths, n_res = sc.netemu_routes(4, 4, 2, np.array([0, 0, 5]), np.array([1, 7, 10]))
    assert n_res == 2 * 16 + 2 * 4 * 2
    np.testing.assert_array_equal(paths[0], [0, -1, -1, 16 + 1])           # same leaf
    np.testing.assert_array_equal(paths[1], [0, 32 + 0 * 2 + 1, 32 + 8 + 1 * 2 + 1, 16 + 7])
    np.testing.assert_array_equal(paths[2], [5, 32 + 1 * 2 + 0, 32 + 8 + 2 * 2 + 0, 16 + 10])


def test_naive_solver_on_a_dumbbell():
    # Two flows share resource 0; the short one finishes at 2 (rate 1/2), the
    # long one then runs alone: 1 + 3 more units at rate 1.
    flows = sc.netemu_flowset(np.array([[0, 1], [0, 2]]), 3)
    np.testing.assert_allclose(_naive_completion_times(np.ones(3), flows, [1.0, 4.0]), [2.0, 5.0])


@needs_simgrid
@pytest.mark.parametrize("hosts,spines,workload", [
    (16, None, "all-to-all"), (16, 2, "random"), (32, 2, "all-to-all"), (64, None, "random")])
def test_harness_matches_simgrid(hosts, spines, workload):
    r = sc.compare(hosts, workload, spines=spines, probe=10**9, solver=_naive_completion_times)
    assert r["route_problems"] == []
    # Both sides are exact max-min; only rounding separates them.
    assert r["max_rel_diff"] < 1e-9


@needs_simgrid
@pytest.mark.parametrize("hosts,spines,workload", [
    (16, None, "all-to-all"), (16, 2, "random"), (32, 2, "all-to-all"),
    (64, None, "all-to-all"), (64, 4, "random")])
def test_netemu_matches_simgrid(hosts, spines, workload):
    r = sc.compare(hosts, workload, spines=spines, probe=10**9, solver=_netemu_solver())
    assert r["route_problems"] == []
    assert r["makespan_rel_diff"] < sc.TOLERANCE
    np.testing.assert_allclose(r["finish_netemu"], r["finish_simgrid"], rtol=1e-6)
