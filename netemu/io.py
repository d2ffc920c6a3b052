"""Save and load netemu graphs as GraphML or node-link JSON.

The format follows the file name: ``.graphml`` or ``.json``.  GraphML cannot
hold a mapping, so the graph's ``params`` travel as a JSON string.  Loading
validates the graph; a file that is unreadable, malformed or breaks the graph
contract raises :class:`~netemu.errors.GraphFileError` naming the file.
"""

import io
import json
import os
import tempfile
from pathlib import Path

from .errors import GraphError, GraphFileError
from .graph import validate

__all__ = ["save", "load", "write_atomically", "read_bounded", "FORMATS", "MAX_FILE_BYTES"]

FORMATS = (".graphml", ".json")

#: Largest graph or traffic file read (bytes).  The largest preset saved as JSON
#: (isca-dragonfly, 0.9 M nodes and links) is about 0.1 GB; a file ten times that is
#: refused rather than read into memory.
MAX_FILE_BYTES = 1 << 30


def read_bounded(path, error, limit=None, what="file"):
    """The bytes of ``path``, refused unless it is a regular file of at most ``limit`` bytes.

    Devices (``/dev/zero``), named pipes and directories raise ``error`` naming the path
    instead of reading forever or blocking: the file is opened without blocking and
    checked with ``fstat`` before a byte is read.
    """
    import stat

    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else
                    "a named pipe" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise error(f"{path}: is {kind}; a {what} must be a regular file")
        if st.st_size > limit:
            raise error(f"{path}: {st.st_size:,} bytes, more than the {limit:,} bytes a {what} "
                        "may have")
        with os.fdopen(fd, "rb") as fh:
            fd = None
            data = fh.read(limit + 1)   # the file may grow after fstat
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        if fd is not None:
            os.close(fd)
    if len(data) > limit:
        raise error(f"{path}: more than the {limit:,} bytes a {what} may have")
    return data


def _check_node_link(path, data):
    """Structure of node-link JSON, and no duplicated node or link (networkx keeps the last)."""
    if not isinstance(data, dict):
        raise GraphFileError(f"{path}: node-link JSON must be an object, got {type(data).__name__}")
    graph = data.get("graph", {})
    if not isinstance(graph, dict):
        raise GraphFileError(f"{path}: 'graph' must be an object, got {type(graph).__name__}")
    nodes, links = data.get("nodes"), data.get("links", [])
    if not isinstance(nodes, list) or not isinstance(links, list):
        raise GraphFileError(f"{path}: 'nodes' and 'links' must be lists")
    seen = set()
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or "id" not in node:
            raise GraphFileError(f"{path}: node {i} must be an object with an 'id'")
        key = node["id"]
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise GraphFileError(f"{path}: node {i} has id {str(key)[:60]!r}; expected a string "
                                 "or an integer")
        if key in seen:
            raise GraphFileError(f"{path}: node {key!r} is given twice")
        seen.add(key)
    # A directed or multi graph is refused as such after parsing; its links may repeat here.
    plain = not data.get("directed") and not data.get("multigraph")
    pairs = set()
    for i, link in enumerate(links):
        if not isinstance(link, dict) or "source" not in link or "target" not in link:
            raise GraphFileError(f"{path}: link {i} must be an object with 'source' and 'target'")
        u, v = link["source"], link["target"]
        for end in (u, v):
            if not isinstance(end, (str, int)) or isinstance(end, bool) or end not in seen:
                raise GraphFileError(f"{path}: link {i} names node {str(end)[:60]!r}, which is "
                                     "not in 'nodes'")
        pair = frozenset((u, v))
        if plain and pair in pairs:
            raise GraphFileError(f"{path}: link {u!r}-{v!r} is given twice; parallel cables are "
                                 "one link with a 'cables' count and their total 'bandwidth'")
        pairs.add(pair)


def _format(path):
    if not isinstance(path, (str, os.PathLike)):
        raise GraphFileError(f"path must be a file name, got {type(path).__name__}")
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GraphFileError(f"{path}: unknown graph file type {suffix or '(none)'!r}; "
                             f"allowed: {', '.join(FORMATS)}")
    return suffix


def write_atomically(path, write, error=GraphFileError):
    """Write a file through ``write(binary_file_object)`` so that it appears whole or not at all.

    The data goes to a temporary file beside ``path``, which gets the usual
    permissions (0666 less the umask) and is then renamed over ``path``.  An
    unwritable place raises ``error`` naming the path; any failure removes the
    temporary file.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise error(f"{path}: directory {str(directory)!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".netemu-", suffix=path.suffix)
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(G: "nx.Graph", path: "str | os.PathLike", progress=None) -> Path:
    """Write ``G`` to ``path`` (``.graphml`` or ``.json``) atomically: no partial file on error.

    ``progress``, if given, is called as ``progress(done, total)`` while a GraphML file
    is written (``total`` = nodes + edges), so that a caller can show how far it is.
    """
    import networkx as nx  # on first use, so that the CLI can read FORMATS cheaply

    suffix = _format(path)
    graph_attrs = dict(G.graph)
    graph_attrs["params"] = json.dumps(G.graph.get("params", {}), sort_keys=True)
    if "failures" in G.graph:
        graph_attrs["failures"] = json.dumps(G.graph["failures"], sort_keys=True)
    if suffix == ".graphml":
        write_atomically(path, lambda fh: _write_graphml(G, graph_attrs, fh, progress))
    else:
        H = G.copy()
        H.graph.update(graph_attrs)
        data = json.dumps(nx.node_link_data(H, edges="links"), sort_keys=True).encode()
        write_atomically(path, lambda fh: fh.write(data))


# GraphML written as a stream.  networkx builds an ElementTree of the whole file first: for
# the 278 k-node, 645 k-link dragonfly that took 202 s and 3 GB, against 30 s for JSON.
# The file is the one networkx would write (same keys, types and text; no indentation), so
# networkx's reader, and any other GraphML reader, reads it back the same.

_NS = ('<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
       'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
       'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n')


def _xml_types():
    """Python type -> GraphML ``attr.type``, as networkx's writer maps them."""
    import numpy as np

    types = {str: "string", int: "int", float: "double", bool: "boolean"}
    for t in (np.float64, np.float32, np.float16):
        types[t] = "float"
    for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
              np.int_, np.intc, np.intp):
        types[t] = "int"
    return types


def _write_graphml(G, graph_attrs, fh, progress=None, chunk=20000):
    from xml.sax.saxutils import escape, quoteattr

    if G.is_directed() or G.is_multigraph():
        raise GraphError("netemu graphs are undirected and keep parallel cables as one edge")
    xml_types = _xml_types()
    keys = {}    # (scope, name, python type) -> key id
    order = []   # key lines in order of first use

    def key(scope, name, t):
        k = (scope, name, t)
        kid = keys.get(k)
        if kid is None:
            xt = xml_types.get(t)
            if xt is None:
                raise GraphFileError(f"{scope} attribute {name!r} is a {t.__name__}; a GraphML "
                                     f"file holds only str, int, float and bool values")
            kid = keys[k] = f"d{len(keys)}"
            order.append(f'  <key id="{kid}" for="{scope}" attr.name={quoteattr(str(name))} '
                         f'attr.type="{xt}" />\n')
        return kid

    def text(v):
        if v is True or v is False:
            return "true" if v else "false"
        return escape(str(v))

    # First pass: every key, so that the <key> elements can precede the graph.
    gdata = {k: v for k, v in graph_attrs.items() if k not in ("node_default", "edge_default")}
    for k, v in gdata.items():
        key("graph", k, type(v))
    seen = set()
    for _, d in G.nodes(data=True):
        for k, v in d.items():
            if (k, type(v)) not in seen:
                seen.add((k, type(v)))
                key("node", k, type(v))
    seen = set()
    for _, _, d in G.edges(data=True):
        for k, v in d.items():
            if (k, type(v)) not in seen:
                seen.add((k, type(v)))
                key("edge", k, type(v))

    write = fh.write
    write(b"<?xml version='1.0' encoding='utf-8'?>\n")
    write(_NS.encode())
    write("".join(order).encode("utf-8"))
    write(b'  <graph edgedefault="undirected">\n')
    write("".join(f'    <data key="{keys["graph", k, type(v)]}">{text(v)}</data>\n'
                  for k, v in gdata.items()).encode("utf-8"))

    node_keys = {(k, t): kid for (scope, k, t), kid in keys.items() if scope == "node"}
    edge_keys = {(k, t): kid for (scope, k, t), kid in keys.items() if scope == "edge"}
    ids = {}  # node -> its quoted id, reused by every edge that names it
    total = G.number_of_nodes() + G.number_of_edges()
    done = 0
    buf = []

    def flush(done):
        # Write the buffered elements once a chunk is full; the count written so far.
        if len(buf) < chunk:
            return done
        write("".join(buf).encode("utf-8"))
        done += len(buf)
        buf.clear()
        if progress:
            progress(done, total)
        return done

    for n, d in G.nodes(data=True):
        q = ids[n] = quoteattr(str(n))
        if d:
            buf.append(f"    <node id={q}>\n" + "".join(
                f'      <data key="{node_keys[k, type(v)]}">{text(v)}</data>\n'
                for k, v in d.items()) + "    </node>\n")
        else:
            buf.append(f"    <node id={q} />\n")
        done = flush(done)
    for u, v, d in G.edges(data=True):
        if d:
            buf.append(f"    <edge source={ids[u]} target={ids[v]}>\n" + "".join(
                f'      <data key="{edge_keys[k, type(x)]}">{text(x)}</data>\n'
                for k, x in d.items()) + "    </edge>\n")
        else:
            buf.append(f"    <edge source={ids[u]} target={ids[v]} />\n")
        done = flush(done)
    write("".join(buf).encode("utf-8"))
    write(b"  </graph>\n</graphml>\n")
    if progress:
        progress(total, total)


_GRAPHML_NS = "{http://graphml.graphdrawing.org/xmlns}"


class _Unusual(Exception):
    """A GraphML feature the streaming reader leaves to networkx's reader."""


def _read_graphml(path):
    """The graph networkx's ``read_graphml`` gives, read as a stream; None for the unusual.

    networkx parses the whole file into an ElementTree first (167 s for the 645 k-link
    dragonfly, against 31 s for its JSON).  This reader takes each element as it ends and
    drops it.  Files with what it does not handle — key defaults, edge ids, ports,
    hyperedges, nested or several graphs, a directed graph, parallel edges, yFiles types —
    return None, and :func:`load` reads them with networkx, so every file reads as before.
    """
    import xml.etree.ElementTree as ET

    import networkx as nx

    ns = _GRAPHML_NS
    convert = {"boolean": None, "int": int, "long": int, "integer": int, "float": float,
               "double": float, "string": str}
    truth = {"true": True, "false": False, "0": False, "1": True}
    keys = {}
    nodes, edges, graph_data = [], [], {}
    graphs = 0

    def decode(elem, skip=()):
        data = {}
        for child in elem:
            if child.tag in skip:
                continue
            if child.tag != ns + "data":
                raise _Unusual(child.tag)
            k = keys.get(child.get("key"))
            text = child.text
            if k is None or text is None:
                raise _Unusual("data")
            name, kind = k
            if kind is None:
                value = truth.get(text.lower())
                if value is None:
                    raise _Unusual("boolean")
            else:
                value = kind(text)
            data[name] = value
        return data

    try:
        # "end" events only: half as many as with "start", and each costs Python time.
        KEY, NODE, EDGE, GRAPH = ns + "key", ns + "node", ns + "edge", ns + "graph"
        for _, elem in ET.iterparse(path):
            tag = elem.tag
            if tag == KEY:
                kind = elem.get("attr.type", "string")
                if kind not in convert or elem.get("yfiles.type"):
                    raise _Unusual(kind)
                keys[elem.get("id")] = (elem.get("attr.name"), convert[kind])
            elif tag == NODE:
                nodes.append((elem.get("id"), decode(elem)))
                elem.clear()  # its data is read: keep only an empty shell
            elif tag == EDGE:
                if elem.get("id") is not None or elem.get("directed") == "true":
                    raise _Unusual("edge")
                edges.append((elem.get("source"), elem.get("target"), decode(elem)))
                elem.clear()
            elif tag == GRAPH:
                graphs += 1
                if graphs > 1 or elem.get("edgedefault") != "undirected":
                    raise _Unusual("graph")
                graph_data = decode(elem, skip=(NODE, EDGE))
            elif tag in (ns + "hyperedge", ns + "port", ns + "default"):
                raise _Unusual(tag)
    except _Unusual:
        return None
    if graphs != 1:
        return None
    G = nx.Graph()
    G.graph["node_default"], G.graph["edge_default"] = {}, {}  # as networkx's reader sets them
    G.add_nodes_from(nodes)
    for u, v, d in edges:
        if G.has_edge(u, v):
            return None  # parallel edges: networkx reads them as a multigraph, which load refuses
        G.add_edge(u, v, **d)
    G.graph.update(graph_data)
    return G


def load(path: "str | os.PathLike") -> "nx.Graph":
    """Read a graph saved by :func:`save` (or any file that meets the graph contract)."""
    import networkx as nx

    suffix = _format(path)
    raw = read_bounded(path, GraphFileError, what="graph file")
    try:
        if suffix == ".graphml":
            G = _read_graphml(io.BytesIO(raw))
            if G is None:  # something the fast reader leaves to networkx
                G = nx.parse_graphml(raw)
        else:
            data = json.loads(raw)
            _check_node_link(path, data)
            G = nx.node_link_graph(data, edges="links")
    except GraphFileError:
        raise
    except Exception as exc:  # parsers raise many types for malformed input
        raise GraphFileError(f"{path}: not a valid {suffix[1:]} graph ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'malformed'})") from None
    if G.is_directed():
        raise GraphFileError(f"{path}: the graph is directed; netemu graphs are undirected "
                             "(every edge is a full-duplex link)")
    if G.is_multigraph():
        raise GraphFileError(f"{path}: the graph has parallel edges; netemu keeps parallel cables "
                             "as one edge with a 'cables' count and their total 'bandwidth'")
    for key in ("node_default", "edge_default"):  # GraphML reader bookkeeping, not ours
        G.graph.pop(key, None)
    for key, default in (("params", "{}"), ("failures", None)):
        if key in G.graph and G.graph[key] is None:
            raise GraphFileError(f"{path}: graph attribute {key!r} is null; expected a JSON "
                                 "object" + (" (leave it out for an intact graph)"
                                             if key == "failures" else ""))
        value = G.graph.get(key, default)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise GraphFileError(f"{path}: graph attribute {key!r} is not JSON: "
                                     f"{value[:60]!r}") from None
        if value is not None and not isinstance(value, dict):
            raise GraphFileError(f"{path}: graph attribute {key!r} must be a JSON object, got "
                                 f"{type(value).__name__}")
        if value is not None:
            G.graph[key] = value
    try:
        # A graph saved after netemu.fail says so, and only then may it be disconnected.
        validate(G, allow_disconnected=True)
    except GraphError as exc:
        raise GraphFileError(f"{path}: {exc}") from None
    return G
