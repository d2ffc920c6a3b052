"""The backend contract: the flow solver and the Mininet emulation behind one ``run``."""

import numpy as np
import pytest

from netemu import ParameterError
from netemu.backends.base import BACKENDS, Backend, FlowBackend, FlowResults, get_backend
from netemu.topologies import two_layer_fat_tree
from netemu.traffic import all_to_all, permutation

from .mininet_support import needs_mininet, nothing_left, run_scenario, scale_for  # noqa: F401


def test_registry_names_every_backend_and_refuses_others():
    assert set(BACKENDS) == {"flow", "mininet"}
    assert all(issubclass(c, Backend) for c in BACKENDS.values())
    with pytest.raises(ParameterError, match=r"unknown backend 'ns3'; allowed: flow, mininet"):
        get_backend("ns3")


def test_flow_backend_all_to_all_closed_form():
    # 2 leaves x 2 hosts, 2 spines, 1 GB/s links: a host sends to 3 others through its one
    # link, so each flow gets 1/3 GB/s; 12 flows carry 4 GB/s in total.
    G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2, link_bandwidth=1e9)
    r = get_backend("flow").run(G, all_to_all(G), routing="spray")
    assert isinstance(r, FlowResults)
    assert (r.backend, r.routing, r.n_flows) == ("flow", "spray", 12)
    np.testing.assert_allclose(r.rates, 1e9 / 3, rtol=1e-9)
    assert r.aggregate == pytest.approx(4e9, rel=1e-9)
    assert r.predicted is None and r.error is None


def test_flow_backend_explicit_paths_are_named_explicit():
    G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=1, link_bandwidth=1e9)
    tr = permutation(G, seed=0)
    paths = {(s, d): [s, f"leaf{int(s[1:])}", "spine0", f"leaf{int(d[1:])}", d]
             for s, d in tr.pairs()}
    r = FlowBackend().run(G, tr, routing=paths)
    assert r.routing == "explicit"
    # Both flows cross spine0, one in each direction: no sharing, full rate each.
    np.testing.assert_allclose(r.rates, 1e9, rtol=1e-9)


@needs_mininet[0]
@needs_mininet[1]
@pytest.mark.usefixtures("nothing_left")
def test_mininet_backend_measures_what_the_flow_backend_predicts():
    res = run_scenario(f"""
        from netemu.backends.base import get_backend
        G = leaf_spine()
        tr = T.permutation(G, seed=1)
        flow = get_backend("flow").run(G, tr, routing="hash")
        em = get_backend("mininet", scale={scale_for(20)}, duration=6, warmup=2).run(
            G, tr, routing="hash")
        emit({{"pairs_same": em.pairs == flow.pairs, "backend": em.backend,
               "error": em.error, "n": em.n_flows}})
    """)
    (r,) = res
    assert r["pairs_same"] and r["backend"] == "mininet" and r["n"] == 16
    # The emulation's prediction is the flow model on the kernel's paths, scaled by TCP's
    # goodput per frame; the aggregate agrees within the emulation tests' band.
    assert abs(r["error"]) <= 0.05, r
