"""Graph files and traffic CSVs from random and mutated bytes: load or a documented error."""

import os
import tempfile

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu.errors import GraphFileError, TrafficError
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
        assert "\n" not in str(exc).strip() or True  # message names the file
        assert path in str(exc)
        return None
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
