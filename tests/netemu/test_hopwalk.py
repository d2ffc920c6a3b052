"""The compiled hop-by-hop walk (netemu.hopwalk) routes exactly as the vectorised one."""

import numpy as np
import pytest

from netemu import routing
from netemu.routing import _mix, flow_hash
from netemu.solution import solve
from netemu.topologies.clusters import cluster
from netemu.topologies.fat_tree import three_layer_fat_tree, two_layer_fat_tree
from netemu.topologies.planes import multi_plane_fat_tree
from netemu.topologies.servers import h800_server
from netemu.traffic import all_to_all, permutation

hopwalk = pytest.importorskip("netemu.hopwalk")
pytest.importorskip("numba")

TOPOLOGIES = {
    "ft2": lambda: two_layer_fat_tree(8),
    "ft2-oversubscribed": lambda: two_layer_fat_tree(8, oversubscription=3),
    "ft3": lambda: three_layer_fat_tree(k=4),
    "mpft": lambda: multi_plane_fat_tree(4, 8),
    "h800-cluster": lambda: cluster(multi_plane_fat_tree(4, 8, servers=6), h800_server),
}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("mode", ["hash", "dmodk"])
@pytest.mark.parametrize("seed", [0, 11])
def test_compiled_walk_gives_the_vectorised_routes(monkeypatch, name, mode, seed):
    G = TOPOLOGIES[name]()
    calls = []
    walk = hopwalk.walk
    monkeypatch.setattr(hopwalk, "walk", lambda *a: calls.append(1) or walk(*a))
    for t in (all_to_all(G), permutation(G, seed)):
        a = solve(G, t, mode, seed=seed, factored=False)
        assert calls, "the compiled walk was not used"
        with monkeypatch.context() as m:
            m.setattr(routing, "_compiled_kind", lambda policy, state: None)
            b = solve(G, t, mode, seed=seed, factored=False)
        ra, rb = a.routes, b.routes
        assert np.array_equal(ra.row_of_flow, rb.row_of_flow)
        assert (ra.flowset.totals() != rb.flowset.totals()).nnz == 0
        assert a.rates.tolist() == b.rates.tolist()


@pytest.mark.parametrize("seed", [0, 5, 2**63 + 7, 2**70])
def test_compiled_flow_hashes_equal_flow_hash(seed):
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 10**6, 3000), rng.integers(0, 10**6, 3000)
    sport = rng.integers(0, 65536, 3000)
    h0 = _mix(np.uint64(seed % (1 << 64)))
    assert np.array_equal(hopwalk.flow_hashes(h0, a, b, sport, 4791, 17),
                          flow_hash(seed, a, b, sport, 4791, 17))
