"""Graph files and traffic CSVs from random and mutated bytes: load or a documented error."""

import os
import tempfile

import networkx as nx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from netemu.errors import GraphFileError, NetemuError, TrafficError
from netemu.failures import fail
from netemu.graph import validate
from netemu.io import load, save
from netemu.traffic import from_csv
from netemu.topologies.fat_tree import two_layer_fat_tree

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

_DIR = tempfile.mkdtemp(prefix="netemu-fuzz-")


def _valid_bytes(suffix):
    path = os.path.join(_DIR, f"valid{suffix}")
    if not os.path.exists(path):
        G = two_layer_fat_tree(4)
        save(fail(G, links=["leaf0--spine0"]) if suffix == ".json" else G, path)
    with open(path, "rb") as fh:
        return fh.read()


def _load_bytes(data, suffix):
    path = os.path.join(_DIR, f"case{suffix}")
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        G = load(path)
    except GraphFileError as exc:
        # One line (the CLI prints it as is) that names the file.
        assert "\n" not in str(exc).strip(), str(exc)
        assert path in str(exc)
        event("refused")
        return None
    event("loaded")
    # whatever loads meets the contract (disconnected only if it says it failed)
    assert isinstance(G, nx.Graph)
    validate(G, allow_disconnected=True)
    return G


@st.composite
def mutated(draw, suffix):
    data = bytearray(_valid_bytes(suffix))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            data = data[:i]
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b"NaN", b"-1", b"0", b'"role": "x"', b"inf",
                                              b"<", b'"', b"{", b"1e999", b"\xff\xfe"]))
        elif data:
            j = draw(st.integers(i, min(len(data), i + 40)))
            del data[i:j]
    return bytes(data)


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".json", ".graphml"]))
def test_random_bytes(data, suffix):
    _load_bytes(data, suffix)


@SETTINGS
@given(data=mutated(".json"))
def test_mutated_json(data):
    _load_bytes(data, ".json")


@SETTINGS
@given(data=mutated(".graphml"))
def test_mutated_graphml(data):
    _load_bytes(data, ".graphml")


_cell = st.one_of(st.sampled_from(["n0", "n1", "n7", "leaf0", "nowhere", "", " ", "1MiB", "0",
                                   "-5", "nan", "inf", "1e400", "4 KiB", "12", "\"", "a,b"]),
                  st.text(max_size=6))
_rows = st.lists(st.lists(_cell, min_size=0, max_size=4), max_size=6)
_header = st.sampled_from(["src,dst,bytes", "dst,src,bytes", "src,dst", "SRC, DST, BYTES", "",
                           "src,dst,bytes,extra"])


@SETTINGS
@given(header=_header, rows=_rows, raw=st.binary(max_size=60), use_raw=st.booleans(),
       with_graph=st.booleans())
def test_traffic_csv(header, rows, raw, use_raw, with_graph):
    path = os.path.join(_DIR, "traffic.csv")
    with open(path, "wb") as fh:
        if use_raw:
            fh.write(raw)
        else:
            fh.write("\n".join([header] + [",".join(r) for r in rows]).encode("utf-8", "surrogatepass"))
    G = two_layer_fat_tree(4) if with_graph else None
    try:
        t = from_csv(path, G)
    except TrafficError as exc:
        assert path in str(exc)
        return
    assert t.n_flows >= 1 and (t.sizes > 0).all()
    if G is not None:
        t.check(G)


# --- Mostly valid files: what was saved loads back the same --------------------------------
#
# A small fat-tree with drawn link bandwidths and latencies is saved (JSON or GraphML); one
# time in four one attribute is made bad before saving.  Unchanged graphs must load back with
# the same nodes, edges, roles, bandwidths and latencies; changed ones load to a valid graph
# or raise GraphFileError.  Likewise for traffic CSVs of drawn flows between the endpoints.

from hypothesis import HealthCheck as _HC  # noqa: E402

_FILE_SETTINGS = settings(max_examples=120, deadline=None,
                          suppress_health_check=[_HC.too_slow])


@st.composite
def _graph_case(draw):
    G = two_layer_fat_tree(draw(st.sampled_from([2, 4])))
    for u, v, d in G.edges(data=True):
        d["bandwidth"] = draw(st.floats(1e6, 1e12))
        d["latency"] = draw(st.floats(0, 1e-3))
    broken = draw(st.integers(0, 3)) == 0
    if broken:
        u, v = draw(st.sampled_from(sorted(G.edges)))
        key = draw(st.sampled_from(["bandwidth", "latency"]))
        G.edges[u, v][key] = draw(st.sampled_from([0.0, -1.0, float("nan"), float("inf")]))
    return G, broken, draw(st.sampled_from([".json", ".graphml"]))


@_FILE_SETTINGS
@given(case=_graph_case())
def test_saved_graphs_load_back(case):
    G, broken, suffix = case
    path = os.path.join(_DIR, f"roundtrip{suffix}")
    try:
        save(G, path)
        H = load(path)
    except (GraphFileError, NetemuError):
        event("broken: refused")
        assert broken, "a valid graph did not survive save and load"
        return
    event("broken: loaded" if broken else "valid")
    validate(H, allow_disconnected=True)
    if broken:
        return
    assert set(H.nodes) == set(G.nodes)
    assert {frozenset(e) for e in H.edges} == {frozenset(e) for e in G.edges}
    for n, r in G.nodes(data="role"):
        assert H.nodes[n]["role"] == r
    for u, v, d in G.edges(data=True):
        assert H.edges[u, v]["bandwidth"] == pytest.approx(d["bandwidth"], rel=1e-12)
        assert H.edges[u, v]["latency"] == pytest.approx(d["latency"], rel=1e-12, abs=0)


_HOSTS = [f"n{i}" for i in range(8)]          # the endpoints of two_layer_fat_tree(4)


@st.composite
def _csv_case(draw):
    flows = draw(st.lists(st.tuples(st.sampled_from(_HOSTS), st.sampled_from(_HOSTS),
                                    st.integers(1, 10**9)).filter(lambda f: f[0] != f[1]),
                          min_size=1, max_size=8))
    lines = [f"{s},{d},{b}" for s, d, b in flows]
    broken = draw(st.integers(0, 3)) == 0
    if broken:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.sampled_from([f"{flows[i][0]},nowhere,1", f"{flows[i][0]},"
                                         f"{flows[i][1]},-5", "a,b", f"{flows[i][0]},"
                                         f"{flows[i][0]},1", "n0,n1,nan"]))
    return flows, "\n".join(["src,dst,bytes"] + lines) + "\n", broken


@_FILE_SETTINGS
@given(case=_csv_case())
def test_traffic_csv_mostly_valid(case):
    flows, text, broken = case
    path = os.path.join(_DIR, "traffic-valid.csv")
    with open(path, "w") as fh:
        fh.write(text)
    G = two_layer_fat_tree(4)
    try:
        t = from_csv(path, G)
    except TrafficError as exc:
        event("broken: refused")
        assert broken, f"a valid CSV was refused: {exc}"
        assert path in str(exc)
        return
    event("broken: read" if broken else "valid")
    if broken:
        return
    assert t.n_flows == len(flows)
    names = [t.endpoints[i] for i in t.src], [t.endpoints[i] for i in t.dst]
    assert list(zip(*names)) == [(s, d) for s, d, _ in flows]
    assert t.sizes.tolist() == [float(b) for _, _, b in flows]
