"""A 'flows' stage (independent transfers, fluid simulation): saturated resources and the
stage's latency, derived by hand on a star."""

import pytest

from netemu.collectives.workload import Stage, Workload, evaluate
from netemu.graph import add_link, new_graph


def star(host_bw, latency):
    """One switch, a host per entry of ``host_bw`` (link bandwidth, latency per host)."""
    G = new_graph("star", {})
    G.add_node("sw", role="switch")
    for i, (b, lat) in enumerate(zip(host_bw, latency)):
        G.add_node(f"n{i}", role="host")
        add_link(G, f"n{i}", "sw", b, latency=lat)
    return G


def test_flows_stage_bottlenecks_and_latency_by_hand():
    # n1, n2 and n3 send to n0 over n0's 5 GB/s link (5/3 GB/s each); n3 also sends to n2.
    G = star([5e9, 10e9, 10e9, 10e9], [1e-6, 2e-6, 3e-6, 5e-6])
    S = 1e9
    st = Stage("s", [("n1", "n0", 1.0), ("n2", "n0", 1.0), ("n3", "n0", 1.0),
                     ("n3", "n2", 1.0)], mode="flows", step_overhead=0.5e-6)
    r = evaluate(G, Workload("alltoall", "test", ["n0", "n1", "n2", "n3"], S, [st]))
    out = r.stages[0]
    # Rates at t=0: three flows share sw->n0 (5/3 GB/s each); n3->n2 takes the rest of n3's
    # link (10 - 5/3) and of sw->n2 (10): 25/3 GB/s, saturating n3->sw as well.
    assert set(out["bottlenecks"]) == {"sw->n0", "n3->sw"}
    # The slowest path's latency: n3 -> sw -> n2 (5 + 3 us), plus the stage's overhead.
    assert out["alpha"] == pytest.approx(8e-6 + 0.5e-6, rel=1e-12)
    # The three flows into n0 end together at 3 GB / 5 GB/s.
    assert out["beta"] == pytest.approx(3 * S / 5e9, rel=1e-12)
