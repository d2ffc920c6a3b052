"""Save and load netemu graphs as GraphML or node-link JSON.

The format follows the file name: ``.graphml`` or ``.json``.  GraphML cannot
hold a mapping, so the graph's ``params`` travel as a JSON string.  Loading
validates the graph; a file that is unreadable, malformed or breaks the graph
contract raises :class:`~netemu.errors.GraphFileError` naming the file.
"""

import json
import os
import tempfile
from pathlib import Path

import networkx as nx

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


def save(G, path):
    """Write ``G`` to ``path`` (``.graphml`` or ``.json``) atomically: no partial file on error."""
    suffix = _format(path)
    H = G.copy()
    H.graph["params"] = json.dumps(G.graph.get("params", {}), sort_keys=True)
    if "failures" in G.graph:
        H.graph["failures"] = json.dumps(G.graph["failures"], sort_keys=True)
    if suffix == ".graphml":
        write_atomically(path, lambda fh: nx.write_graphml(H, fh))
    else:
        data = json.dumps(nx.node_link_data(H, edges="links"), sort_keys=True).encode()
        write_atomically(path, lambda fh: fh.write(data))


def load(path):
    """Read a graph saved by :func:`save` (or any file that meets the graph contract)."""
    suffix = _format(path)
    raw = read_bounded(path, GraphFileError, what="graph file")
    try:
        if suffix == ".graphml":
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
