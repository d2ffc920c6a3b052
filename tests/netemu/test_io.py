import json

import networkx as nx
import numpy as np
import pytest

from netemu.errors import GraphFileError
from netemu.io import load, save
from tests.netemu.test_graph import small


@pytest.mark.parametrize("suffix", [".graphml", ".json"])
def test_round_trip_keeps_everything(tmp_path, suffix):
    G = small()
    G.graph["params"] = {"radix": 64, "bw": 5e10, "names": ["a", "b"]}
    G.nodes["n0"]["capacity"] = 3.2e11
    G.nodes["leaf0"]["plane"] = 3
    path = tmp_path / f"g{suffix}"
    save(G, path)
    H = load(path)
    assert nx.utils.graphs_equal(G, H)
    assert H.graph["params"] == G.graph["params"]
    assert isinstance(H.nodes["leaf0"]["plane"], int)
    assert H.edges["leaf0", "spine0"]["bandwidth"] == G.edges["leaf0", "spine0"]["bandwidth"]


def test_unknown_suffix(tmp_path):
    with pytest.raises(GraphFileError, match=r"\.txt.*allowed: \.graphml, \.json"):
        save(small(), tmp_path / "g.txt")


def test_missing_file(tmp_path):
    with pytest.raises(GraphFileError, match="no such file"):
        load(tmp_path / "absent.json")


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"nodes": 5}', b"\xff\xfe"])
def test_malformed_json(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(GraphFileError, match="bad.json"):
        load(p)


def test_malformed_graphml(tmp_path):
    p = tmp_path / "bad.graphml"
    p.write_text("<graphml><graph><node id='a'></graph>")
    with pytest.raises(GraphFileError, match="bad.graphml: not a valid graphml graph"):
        load(p)


def test_contract_violation_in_file_names_file_and_edge(tmp_path):
    G = small()
    p = tmp_path / "g.json"
    save(G, p)
    data = json.loads(p.read_text())
    data["links"][0]["bandwidth"] = -1
    p.write_text(json.dumps(data))
    with pytest.raises(GraphFileError, match="g.json: edge .* bandwidth -1"):
        load(p)


def test_unwritable_directory_leaves_no_file(tmp_path):
    target = tmp_path / "missing" / "g.json"
    with pytest.raises(GraphFileError, match="does not exist"):
        save(small(), target)
    assert not target.exists()


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import netemu.io

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(netemu.io, "_write_graphml", boom)
    with pytest.raises(RuntimeError):
        save(small(), tmp_path / "g.graphml")
    assert list(tmp_path.iterdir()) == []


def test_directed_or_multi_file_refused(tmp_path):
    D = nx.DiGraph(small())
    D.graph.pop("params")
    nx.write_graphml(D, tmp_path / "d.graphml")
    with pytest.raises(GraphFileError, match="directed"):
        load(tmp_path / "d.graphml")
    M = nx.MultiGraph(small())
    M.add_edge("leaf0", "spine0", bandwidth=1.0)
    (tmp_path / "m.json").write_text(json.dumps(nx.node_link_data(M, edges="links")))
    with pytest.raises(GraphFileError, match="parallel edges"):
        load(tmp_path / "m.json")


def test_saved_file_has_umask_permissions(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        save(small(), tmp_path / "g.json")
    finally:
        os.umask(old)
    assert (tmp_path / "g.json").stat().st_mode & 0o777 == 0o644


def _typed_graph():
    G = small()
    G.graph["params"] = {"radix": 64}
    G.graph["preset"] = "a & <b>"                  # text that XML must escape
    G.nodes["n0"]["capacity"] = 3.2e11
    G.nodes["n0"]["label"] = 'quote " and \' and \u00e9'
    G.nodes["leaf0"]["plane"] = 3
    G.nodes["leaf0"]["spare"] = True
    G.nodes["leaf1"]["plane"] = 2.5                # the same name with another type elsewhere
    G.add_node("odd <id> & \"x\"", role="host")
    G.add_edge("odd <id> & \"x\"", "leaf0", bandwidth=np.float64(1e9))  # numpy value
    return G


def test_graphml_stream_reads_back_as_networkx_own_file(tmp_path):
    # The streamed writer and networkx's ElementTree writer must give files that
    # networkx's reader turns into the same graph: same nodes, edges, values and types.
    G = _typed_graph()
    save(G, tmp_path / "ours.graphml")
    H = G.copy()
    H.graph["params"] = json.dumps(G.graph["params"], sort_keys=True)
    nx.write_graphml(H, tmp_path / "theirs.graphml")
    ours = nx.read_graphml(tmp_path / "ours.graphml")
    theirs = nx.read_graphml(tmp_path / "theirs.graphml")
    assert nx.utils.graphs_equal(ours, theirs)
    assert ours.graph == theirs.graph
    for n in theirs:
        for k, v in theirs.nodes[n].items():
            assert type(ours.nodes[n][k]) is type(v)
    back = load(tmp_path / "ours.graphml")
    assert back.graph["params"] == {"radix": 64}
    assert back.graph["preset"] == "a & <b>"
    assert back.nodes["leaf0"]["spare"] is True
    assert back.nodes["leaf1"]["plane"] == 2.5 and isinstance(back.nodes["leaf0"]["plane"], int)
    assert back.nodes["n0"]["label"] == 'quote " and \' and \u00e9'
    assert back.edges["odd <id> & \"x\"", "leaf0"]["bandwidth"] == 1e9


def test_graphml_progress_reaches_the_total(tmp_path):
    G = small()
    seen = []
    save(G, tmp_path / "g.graphml", progress=lambda done, total: seen.append((done, total)))
    total = G.number_of_nodes() + G.number_of_edges()
    assert seen[-1] == (total, total)
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))


def test_graphml_refuses_values_it_cannot_hold(tmp_path):
    G = small()
    G.nodes["n0"]["where"] = [1, 2]
    with pytest.raises(GraphFileError, match=r"node attribute 'where' is a list"):
        save(G, tmp_path / "g.graphml")
    assert list(tmp_path.iterdir()) == []


def test_streaming_reader_gives_networkx_graph(tmp_path):
    # Our own files take the streaming reader; networkx's reader is the reference.
    import netemu.io as nio

    G = _typed_graph()
    save(G, tmp_path / "g.graphml")
    fast = nio._read_graphml(tmp_path / "g.graphml")
    assert fast is not None
    ref = nx.read_graphml(tmp_path / "g.graphml")
    assert nx.utils.graphs_equal(fast, ref)
    assert fast.graph == ref.graph
    assert list(fast.nodes) == list(ref.nodes) and list(fast.edges) == list(ref.edges)
    for n in ref:
        for k, v in ref.nodes[n].items():
            assert type(fast.nodes[n][k]) is type(v)


def test_unusual_graphml_falls_back_to_networkx(tmp_path):
    # Key defaults are networkx's business: the streaming reader declines, load still reads it.
    import netemu.io as nio

    G = small()
    G.graph.pop("params", None)
    for n in G:
        G.nodes[n]["weight"] = 1
    G.graph["node_default"] = {"weight": 1}
    nx.write_graphml(G, tmp_path / "d.graphml")
    assert nio._read_graphml(tmp_path / "d.graphml") is None
    H = load(tmp_path / "d.graphml")
    assert dict(H.nodes(data=True)) == dict(G.nodes(data=True))
    assert {frozenset((u, v)): d for u, v, d in H.edges(data=True)} == \
        {frozenset((u, v)): d for u, v, d in G.edges(data=True)}
