"""Traffic patterns and the CSV reader."""

import numpy as np
import pytest

from netemu.errors import TrafficError
from netemu.graph import add_link, new_graph
from netemu.traffic import Traffic, all_to_all, from_csv, incast, permutation, shift


@pytest.fixture
def G():
    G = new_graph("star", {})
    G.add_node("sw", role="switch")
    for h in range(6):
        G.add_node(f"n{h}", role="host")
        add_link(G, f"n{h}", "sw", 1e9)
    return G


def test_all_to_all_is_every_ordered_pair_once(G):
    t = all_to_all(G, size=10)
    N = 6
    assert t.n_flows == N * (N - 1)
    pairs = set(zip(t.src.tolist(), t.dst.tolist()))
    assert pairs == {(a, b) for a in range(N) for b in range(N) if a != b}
    assert (t.sizes == 10).all()
    sub = all_to_all(G, endpoints=["n1", "n4", "n5"])
    assert sub.pairs() == [("n1", "n4"), ("n1", "n5"), ("n4", "n1"), ("n4", "n5"),
                           ("n5", "n1"), ("n5", "n4")]
    assert sub.sizes is None


@pytest.mark.parametrize("seed", range(5))
def test_permutation_is_a_seeded_derangement(G, seed):
    t = permutation(G, seed)
    assert sorted(t.src.tolist()) == sorted(t.dst.tolist()) == list(range(6))
    assert not np.any(t.src == t.dst)
    assert permutation(G, seed).pairs() == t.pairs()


def test_incast_and_shift(G):
    t = incast(G, "n2")
    assert sorted(a for a, _ in t.pairs()) == ["n0", "n1", "n3", "n4", "n5"]
    assert {b for _, b in t.pairs()} == {"n2"}
    assert incast(G, "n2", srcs=["n0", "n1"]).pairs() == [("n0", "n2"), ("n1", "n2")]
    s = shift(G, 2)
    assert s.pairs() == [(f"n{i}", f"n{(i + 2) % 6}") for i in range(6)]
    assert shift(G, -1).pairs()[0] == ("n0", "n5")


def test_pattern_errors(G):
    with pytest.raises(TrafficError, match="multiple of the 6 endpoints"):
        shift(G, 6)
    with pytest.raises(TrafficError, match="'sw'.*not an endpoint"):
        all_to_all(G, endpoints=["n0", "sw"])
    with pytest.raises(TrafficError, match="'zz' is not a node"):
        incast(G, "zz")
    with pytest.raises(TrafficError, match="also listed as a source"):
        incast(G, "n0", srcs=["n0", "n1"])
    with pytest.raises(TrafficError, match="at least 2 endpoints"):
        all_to_all(G, endpoints=["n0"])


@pytest.mark.parametrize("size", [0, -1, float("nan"), float("inf")])
def test_bad_sizes(G, size):
    with pytest.raises(TrafficError, match="size"):
        all_to_all(G, size=size)


def test_traffic_object_errors():
    with pytest.raises(TrafficError, match="no flows"):
        Traffic(["a", "b"], [], [])
    with pytest.raises(TrafficError, match="to itself"):
        Traffic(["a", "b"], [0, 1], [1, 1])
    with pytest.raises(TrafficError, match="outside the 2 endpoints"):
        Traffic(["a", "b"], [0], [2])
    with pytest.raises(TrafficError, match="listed twice"):
        Traffic(["a", "a"], [0], [1])


def write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_reads_flows_with_units(tmp_path, G):
    p = write(tmp_path, "src,dst,bytes\nn0,n1,1000\n\nn1,n0,1MiB\nn2,n0,2.5e3\n")
    t = from_csv(p, G)
    assert t.pairs() == [("n0", "n1"), ("n1", "n0"), ("n2", "n0")]
    assert t.sizes.tolist() == [1000.0, 1048576.0, 2500.0]
    # column order follows the header
    t2 = from_csv(write(tmp_path, "bytes,dst,src\n5,n1,n0\n", "b.csv"))
    assert t2.pairs() == [("n0", "n1")] and t2.sizes.tolist() == [5.0]


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("src,dst,bytes\n", "no flows"),
    ("src,dst\nn0,n1\n", "line 1: header must name"),
    ("src,dst,size\nn0,n1,3\n", "line 1: header must name"),
    ("src,dst,bytes\nn0,n1,5\nn0,n1\n", "line 3: expected 3 fields"),
    ("src,dst,bytes\nn0,n1,5\nn1,n2,-4\n", "line 3: bytes '-4'"),
    ("src,dst,bytes\nn0,n1,0\n", "line 2: bytes '0'"),
    ("src,dst,bytes\nn0,n1,nan\n", "line 2: bytes 'nan'"),
    ("src,dst,bytes\nn0,n1,inf\n", "line 2: bytes 'inf'"),
    ("src,dst,bytes\nn0,n1,lots\n", "line 2: bytes 'lots'"),
    ("src,dst,bytes\n\nn0,n0,5\n", "line 3: 'n0' sends to itself"),
    ("src,dst,bytes\nn0,,5\n", "line 2: empty endpoint"),
    ("src,dst,bytes\nn0,n1,5\nn1,\"n2,3\n", "line 3"),
])
def test_csv_errors_name_the_line(tmp_path, text, match):
    with pytest.raises(TrafficError, match=match):
        from_csv(write(tmp_path, text))


def test_csv_names_must_be_endpoints(tmp_path, G):
    p = write(tmp_path, "src,dst,bytes\nn0,n1,5\nn1,sw,5\n")
    with pytest.raises(TrafficError, match="line 3: 'sw' is not an endpoint"):
        from_csv(p, G)
    p = write(tmp_path, "src,dst,bytes\nn0,n1,5\nn1,n9,5\n", "c.csv")
    with pytest.raises(TrafficError, match="line 3: 'n9' is not a node"):
        from_csv(p, G)
    t = from_csv(p)                             # without G the check waits for solve
    with pytest.raises(TrafficError, match="'n9' is not a node"):
        t.check(G)


def test_csv_missing_file(tmp_path):
    with pytest.raises(TrafficError, match="no such file"):
        from_csv(tmp_path / "nope.csv")
