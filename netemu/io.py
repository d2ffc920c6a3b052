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

from .errors import GraphError, GraphFileError
from .graph import validate

__all__ = ["save", "load", "write_atomically", "FORMATS"]

FORMATS = (".graphml", ".json")


def _format(path):
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
    import networkx as nx  # on first use, so that the CLI can read FORMATS cheaply

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
    import networkx as nx

    suffix = _format(path)
    try:
        if suffix == ".graphml":
            G = nx.read_graphml(path)
        else:
            with open(path, "rb") as fh:
                G = nx.node_link_graph(json.loads(fh.read()), edges="links")
    except FileNotFoundError:
        raise GraphFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise GraphFileError(f"{path}: cannot read ({exc.strerror})") from None
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
