"""MLCommons Chakra execution traces: read them, and run them on a cluster's fabric.

A Chakra execution trace (ET) is one file per rank, ``NAME.RANK.et`` (ASTRA-sim's
convention), each a stream of protobuf messages, every one preceded by its length as a
varint (``encodeMessage`` in Chakra's ``third_party/utils/protolib.py``): first a
``GlobalMetadata``, then ``Node`` messages, as ``schema/protobuf/et_def.proto`` of
mlcommons/chakra defines them.  netemu decodes that wire format itself (:func:`read_trace`)
rather than depending on ``protobuf`` and generated message classes: the reader is small,
reads only the fields it uses, bounds every length by the bytes that are there, and turns
every malformed input into one :class:`~netemu.errors.TrafficError` naming the file, the
byte offset and what was wrong.  Gzipped traces are read too, as protolib does.

How a trace runs (:func:`run_chakra`)
-------------------------------------
Rank ``r`` runs on the ``r``-th GPU of the cluster (server by server).  Each node becomes a
task of :mod:`netemu.collectives.timeline`, after its ``data_deps`` and ``ctrl_deps``:

- ``COMP_NODE``: ``duration_micros``, or, where that is 0, the ``num_ops`` attribute (FLOPs)
  at the GPU's GEMM rate; on the rank's GPU stream (``is_cpu_op`` nodes on its CPU stream);
- ``MEM_LOAD_NODE`` / ``MEM_STORE_NODE``: ``tensor_size`` bytes at the GPU's memory
  bandwidth, on the rank's memory stream;
- ``COMM_COLL_NODE``: ``comm_type`` (ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER(_BLOCK),
  ALL_TO_ALL, BROADCAST, BARRIER) of ``comm_size`` bytes read as ASTRA-sim reads them
  (:func:`collective_size`: an all-gather's ``comm_size`` is each rank's part, the others'
  the whole buffer) on the ranks of its ``pg_name`` (a communicator: ``comm_groups`` maps names
  to ranks, ASTRA-sim's comm-group file) or on every rank.  The ``k``-th collective of a
  communicator on every member is one collective: it starts when all members reached it
  and is timed on the fabric by NCCL's choice of algorithm, with every other transfer in
  flight (one communicator's collectives run one after the other);
- ``COMM_SEND_NODE`` / ``COMM_RECV_NODE``: matched by (``comm_src``, ``comm_dst``,
  ``comm_tag``) in order; one transfer of ``comm_size`` bytes that starts when the send and
  the receive are both posted (transfers of one tag between two ranks in order, others
  side by side);
- ``METADATA_NODE``: nothing (it orders only).  Other node types are refused.

The result is the trace's makespan, each rank's compute time, and the time the ranks' GPUs
waited split by the communication in flight that involved them.

Examples
--------
A trace file by hand: a GlobalMetadata of 2 bytes (an empty version string), then a Node of 6
bytes (id 1, type 4 = COMP_NODE, duration_micros 5):

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "t.0.et")
>>> with open(path, "wb") as fh:
...     _ = fh.write(bytes.fromhex("02" "0a00" "06" "0801" "1804" "3805"))
>>> meta, (node,) = read_trace(path)
>>> node.id, NODE_TYPES[node.type], node.duration_micros
(1, 'COMP_NODE', 5)
"""

import gzip
import heapq
import io
import os
import struct
from dataclasses import dataclass, field

import numpy as np

from netemu.errors import ParameterError, TrafficError

__all__ = ["ChakraNode", "ChakraResult", "collective_size", "read_trace", "trace_files", "run_chakra",
           "load_comm_groups", "NODE_TYPES", "COLLECTIVES", "MAX_BYTES", "MAX_RANKS",
           "MAX_NODES"]

#: Largest trace file read (bytes, after gunzip): traces of a training step are megabytes.
MAX_BYTES = 1 << 30
#: Most rank files looked for.
MAX_RANKS = 1 << 16
#: Most nodes of one file: a decoded node takes far more memory than its bytes on disk, so
#: the file's size alone does not bound what reading it costs.
MAX_NODES = 2_000_000

#: ``NodeType`` of et_def.proto.
NODE_TYPES = {0: "INVALID_NODE", 1: "METADATA_NODE", 2: "MEM_LOAD_NODE", 3: "MEM_STORE_NODE",
              4: "COMP_NODE", 5: "COMM_SEND_NODE", 6: "COMM_RECV_NODE", 7: "COMM_COLL_NODE",
              8: "STORAGE_NODE", 9: "BATCH_NODE", 10: "CHECKPOINT_NODE"}
#: ``CollectiveCommType`` of et_def.proto -> netemu's collective (None: a barrier, no bytes).
COLLECTIVES = {0: "allreduce", 2: "allgather", 5: "broadcast", 6: "alltoall",
               7: "reducescatter", 8: "reducescatter", 9: None}
_COMM_NAMES = {0: "ALL_REDUCE", 1: "REDUCE", 2: "ALL_GATHER", 3: "GATHER", 4: "SCATTER",
               5: "BROADCAST", 6: "ALL_TO_ALL", 7: "REDUCE_SCATTER", 8: "REDUCE_SCATTER_BLOCK",
               9: "BARRIER"}


def collective_size(comm_type, comm_size, members):
    """netemu's size of a Chakra collective (nccl-tests' S: an all-gather's whole gathered
    buffer, a reduce-scatter's whole input) from its ``comm_size`` as ASTRA-sim reads it.

    ASTRA-sim's system layer hands ``comm_size`` to every collective algorithm as
    ``data_size``; for ALL_GATHER the algorithm's result is ``data_size x ranks`` and each
    step sends ``data_size`` (each rank's part), for REDUCE_SCATTER the result is
    ``data_size / ranks``, for ALL_REDUCE and ALL_TO_ALL ``data_size`` (astra-sim
    ``astra-sim/system/collective/Ring.cc``, ``final_data_size`` and ``msg_size`` per
    ``ComType``; its other algorithms compute the same result sizes).  So only an
    all-gather's size is scaled, by the ``members`` of its group.

    >>> collective_size(2, 1 << 20, 8) == 8 << 20, collective_size(7, 1 << 20, 8) == 1 << 20
    (True, True)
    """
    return comm_size * members if COLLECTIVES.get(comm_type) == "allgather" else comm_size


@dataclass
class ChakraNode:
    """The fields of a Chakra ``Node`` netemu uses (``attr`` by name)."""
    id: int
    name: str = ""
    type: int = 0
    ctrl_deps: list = field(default_factory=list)
    data_deps: list = field(default_factory=list)
    duration_micros: int = 0
    attr: dict = field(default_factory=dict)


# -- the wire format -----------------------------------------------------------------------

class _Bad(Exception):
    pass


def _varint(buf, pos, end):
    out, shift = 0, 0
    while True:
        if pos >= end:
            raise _Bad("a varint runs past the end of its message")
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7
        if shift >= 70:
            raise _Bad("a varint is longer than 10 bytes")


def _fields(buf, pos, end):
    """``(field number, wire type, value, offset)`` of a message in ``buf[pos:end]``: ints
    for varints, raw bytes for fixed and length-delimited values."""
    while pos < end:
        at = pos
        key, pos = _varint(buf, pos, end)
        num, wt = key >> 3, key & 7
        if num < 1:
            raise _Bad(f"field number {num} at byte {at}")
        if wt == 0:
            val, pos = _varint(buf, pos, end)
        elif wt == 1 or wt == 5:
            n = 8 if wt == 1 else 4
            if pos + n > end:
                raise _Bad(f"a fixed-width field {num} runs past the end of its message")
            val, pos = bytes(buf[pos:pos + n]), pos + n
        elif wt == 2:
            n, pos = _varint(buf, pos, end)
            if n > end - pos:
                raise _Bad(f"field {num} says {n} bytes; {end - pos} remain")
            val, pos = (pos, pos + n), pos + n
        else:
            raise _Bad(f"wire type {wt} (field {num} at byte {at}) is not used by Chakra")
        yield num, wt, val, at


def _signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _zigzag(v):
    return (v >> 1) ^ -(v & 1)


#: Attribute value fields: number -> how a varint / fixed value reads (lists are number + 1).
_SCALAR = {3: "<d", 5: "<f", 7: "int", 9: "int", 11: "uint", 13: "uint", 15: "zigzag",
           17: "zigzag", 19: "<I", 21: "<Q", 23: "<i", 25: "<q", 27: "bool", 29: "str",
           31: "bytes"}


def _scalar(kind, wt, val, buf):
    if kind.startswith("<"):
        if wt not in (1, 5) or len(val) != struct.calcsize(kind):
            raise _Bad(f"a {kind} value has wire type {wt}")
        return struct.unpack(kind, val)[0]
    if kind in ("str", "bytes"):
        if wt != 2:
            raise _Bad(f"a {kind} value has wire type {wt}")
        raw = bytes(buf[val[0]:val[1]])
        if kind == "bytes":
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("a string is not UTF-8") from None
    if wt != 0:
        raise _Bad(f"an integer value has wire type {wt}")
    if kind == "int":
        return _signed64(val)
    if kind == "zigzag":
        return _zigzag(val)
    if kind == "bool":
        return bool(val)
    return val


def _list(kind, buf, span):
    out = []
    for num, wt, val, _ in _fields(buf, *span):
        if num != 1:
            continue
        if wt == 2 and kind not in ("str", "bytes"):
            # Packed repeated scalars.
            pos, end = val
            if kind.startswith("<"):
                n = struct.calcsize(kind)
                if (end - pos) % n:
                    raise _Bad("a packed list's length is not a multiple of its width")
                out += [struct.unpack(kind, bytes(buf[p:p + n]))[0] for p in range(pos, end, n)]
            else:
                while pos < end:
                    v, pos = _varint(buf, pos, end)
                    out.append(_scalar(kind, 0, v, buf))
        else:
            out.append(_scalar(kind, wt, val, buf))
    return out


def _attr(buf, span):
    name, value = "", None
    for num, wt, val, _ in _fields(buf, *span):
        if num == 1:
            name = _scalar("str", wt, val, buf)
        elif num in _SCALAR:
            value = _scalar(_SCALAR[num], wt, val, buf)
        elif num - 1 in _SCALAR and 4 <= num <= 32:
            if wt != 2:
                raise _Bad(f"list field {num} has wire type {wt}")
            value = _list(_SCALAR[num - 1], buf, val)
    return name, value


def _ids(wt, val, buf):
    if wt == 0:
        return [val]
    if wt != 2:
        raise _Bad(f"a dependency list has wire type {wt}")
    out, (pos, end) = [], val
    while pos < end:
        v, pos = _varint(buf, pos, end)
        out.append(v)
    return out


def _node(buf, pos, end):
    n = ChakraNode(id=0)
    for num, wt, val, _ in _fields(buf, pos, end):
        if num in (1, 3, 6, 7) and wt != 0:
            raise _Bad(f"field {num} of a Node has wire type {wt}")
        if num == 1:
            n.id = val
        elif num == 2:
            n.name = _scalar("str", wt, val, buf)
        elif num == 3:
            n.type = val
        elif num == 4:
            n.ctrl_deps += _ids(wt, val, buf)
        elif num == 5:
            n.data_deps += _ids(wt, val, buf)
        elif num == 7:
            n.duration_micros = val
        elif num == 10:
            if wt != 2:
                raise _Bad(f"an attribute has wire type {wt}")
            k, v = _attr(buf, val)
            n.attr[k] = v
    return n


def _metadata(buf, pos, end):
    out = {"version": ""}
    for num, wt, val, _ in _fields(buf, pos, end):
        if num == 1:
            out["version"] = _scalar("str", wt, val, buf)
        elif num == 2 and wt == 2:
            k, v = _attr(buf, val)
            out[k] = v
    return out


def _read_bytes(path):
    from netemu.io import read_bounded
    data = read_bounded(str(path), TrafficError, MAX_BYTES, "Chakra trace")
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
                data = gz.read(MAX_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise TrafficError(f"Chakra trace {str(path)!r}: bad gzip data ({exc})") from None
        if len(data) > MAX_BYTES:
            raise TrafficError(f"Chakra trace {str(path)!r} unpacks to more than "
                               f"{MAX_BYTES:,} bytes")
    return data


def read_trace(path):
    """``(metadata dict, [ChakraNode, ...])`` of one rank's trace file.

    Raises
    ------
    TrafficError
        The file is missing, too large, or not a Chakra trace (a length past the end, a bad
        varint, a wire type Chakra does not use, a node without a known type ...).
    """
    buf = memoryview(_read_bytes(path))
    end = len(buf)
    pos, meta, nodes = 0, None, []
    try:
        while pos < end:
            at = pos
            n, pos = _varint(buf, pos, end)
            if n == 0:
                # protolib's decodeMessage stops at a zero length; nothing may follow it.
                if pos < end:
                    raise _Bad(f"a zero-length message at byte {at} is followed by "
                               f"{end - pos} bytes")
                break
            if n > end - pos:
                raise _Bad(f"the message at byte {at} says {n} bytes; {end - pos} remain")
            if meta is None:
                meta = _metadata(buf, pos, pos + n)
            elif len(nodes) >= MAX_NODES:
                raise _Bad(f"more than {MAX_NODES:,} nodes (the limit of one file)")
            else:
                nodes.append(_node(buf, pos, pos + n))
            pos += n
    except _Bad as exc:
        raise TrafficError(f"Chakra trace {str(path)!r} is malformed near byte {at}: "
                           f"{exc}") from None
    if meta is None:
        raise TrafficError(f"Chakra trace {str(path)!r} is empty (no GlobalMetadata message)")
    for nd in nodes:
        if nd.type not in NODE_TYPES or nd.type == 0:
            raise TrafficError(f"Chakra trace {str(path)!r}: node {nd.id} ({nd.name!r}) has "
                               f"node type {nd.type}; allowed: "
                               f"{', '.join(v for k, v in NODE_TYPES.items() if k)}")
    return meta, nodes


def trace_files(prefix):
    """The rank files ``PREFIX.0.et``, ``PREFIX.1.et``, ... that exist (rank 0 must)."""
    files = []
    for r in range(MAX_RANKS + 1):
        p = f"{prefix}.{r}.et"
        if not os.path.exists(p):
            break
        files.append(p)
    if not files:
        raise TrafficError(f"no Chakra trace {prefix}.0.et (traces are PREFIX.RANK.et, one "
                           f"per rank)")
    if len(files) > MAX_RANKS:
        raise TrafficError(f"Chakra trace {prefix!r} has more than {MAX_RANKS:,} rank files")
    return files


def load_comm_groups(path):
    """``{pg_name: [ranks]}`` from a JSON file (ASTRA-sim's comm-group configuration)."""
    import json
    from netemu.io import read_bounded
    data = read_bounded(str(path), ParameterError, 1 << 24, "comm-groups file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParameterError(f"comm-groups file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not all(
            isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool)
                                              and x >= 0 for x in v) for v in doc.values()):
        raise ParameterError(f"comm-groups file {str(path)!r} must map each name to a list of "
                             f"rank numbers, e.g. {{\"0\": [0, 1]}}")
    return {str(k): list(v) for k, v in doc.items()}


# -- running a trace ---------------------------------------------------------------------------

@dataclass
class ChakraResult:
    """A trace's run on a cluster (seconds)."""
    job: str
    gpus: int
    step_time: float
    compute_time: float
    waits: dict
    nodes: int
    timeline: object = field(default=None, repr=False)
    task_ids: list = field(default_factory=list, repr=False)

    @property
    def exposed_comm(self):
        return sum(v for k, v in self.waits.items() if k != "bubble")

    def summary(self):
        return f"{self.job}: {self.gpus} ranks, {self.step_time:.4g} s"

    def row(self):
        return {"job": self.job, "phase": "chakra", "gpus": self.gpus, "nodes": self.nodes,
                "step_time_s": self.step_time, "compute_s": self.compute_time,
                "exposed_comm_s": self.exposed_comm,
                **{f"wait_{k}_s": v for k, v in sorted(self.waits.items())}}


def _order(path, nodes):
    """Nodes in dependency order (ties in file order); errors for duplicates, dangling
    dependencies and cycles."""
    index = {}
    for k, nd in enumerate(nodes):
        if nd.id in index:
            raise TrafficError(f"Chakra trace {path!r}: node id {nd.id} appears twice")
        index[nd.id] = k
    deps = []
    for nd in nodes:
        ds = list(dict.fromkeys(nd.data_deps + nd.ctrl_deps))
        for d in ds:
            if d not in index:
                raise TrafficError(f"Chakra trace {path!r}: node {nd.id} ({nd.name!r}) depends "
                                   f"on node {d}, which the file does not hold")
        deps.append([index[d] for d in ds])
    children = [[] for _ in nodes]
    missing = [len(ds) for ds in deps]
    for k, ds in enumerate(deps):
        for d in ds:
            children[d].append(k)
    ready = [k for k, m in enumerate(missing) if m == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for c in children[k]:
            missing[c] -= 1
            if missing[c] == 0:
                heapq.heappush(ready, c)
    if len(order) != len(nodes):
        stuck = [nodes[k].id for k in range(len(nodes)) if missing[k]][:5]
        raise TrafficError(f"Chakra trace {path!r}: a dependency cycle among nodes {stuck}")
    return order, deps


def _int_attr(path, nd, name, default=None):
    v = nd.attr.get(name, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise TrafficError(f"Chakra trace {path!r}: node {nd.id} ({nd.name!r}) needs attribute "
                           f"{name} as a whole number >= 0, got {v!r}")
    return int(v)


def run_chakra(G, prefix, *, comm_groups=None, routing="dmodk", pxn=True, seed=0, gpu=None,
               precision="bf16", name=None):
    """Run the Chakra trace ``PREFIX.RANK.et`` on cluster ``G`` (see the module notes).

    Returns
    -------
    ChakraResult
    """
    from .ranks import cluster_gpus
    from .step import _collective, _merged, _Shares, _stage_phase
    from .timeline import Phase, Task, simulate
    from .workload import Stage, path_model

    files = trace_files(prefix)
    avail = cluster_gpus(G)
    n = len(files)
    if n > len(avail):
        raise TrafficError(f"Chakra trace {prefix!r} has {n} ranks; the cluster has "
                           f"{len(avail)} GPUs")
    if gpu is None:
        from netemu.topologies.compute import gpu_compute
        gpu = gpu_compute(G)
    gpus = avail[:n]
    job = name or os.path.basename(str(prefix)) or "trace"
    groups = {k: list(v) for k, v in (comm_groups or {}).items()}
    for k, v in groups.items():
        bad = [r for r in v if r >= n]
        if bad or len(set(v)) != len(v):
            raise ParameterError(f"comm group {k!r}: ranks {v} must be distinct and below the "
                                 f"trace's {n}")
    pm = path_model(G, routing, pxn=pxn, seed=seed)
    shares = _Shares(pm)
    tasks, handle = [], {}          # handle: (rank, node id) -> task index
    pending = []                    # (task index, [(rank, node id) deps])
    colls, p2p = {}, {}
    phase_cache = {}
    n_nodes = 0

    def new(task, deps):
        tasks.append(task)
        pending.append((len(tasks) - 1, deps))
        return len(tasks) - 1

    def coll_phases(kind, members, size):
        key = (kind, tuple(members), size)
        if key not in phase_cache:
            ranks = [gpus[r] for r in members]
            ws = _collective(G, pm, kind, "nccl", [ranks], size, routing, pxn, seed) \
                if kind and size > 0 and len(ranks) > 1 else []
            phase_cache[key] = _merged(pm, ws, shares_of=shares) if ws else []
        return phase_cache[key]

    for r, path in enumerate(files):
        _, nodes = read_trace(path)
        n_nodes += len(nodes)
        order, deps = _order(path, nodes)
        seen = {}
        for k in order:
            nd = nodes[k]
            dep_keys = [(r, nodes[d].id) for d in deps[k]]
            t = nd.type
            label = f"{job} r{r} {nd.name or nd.id}"
            if t in (1, 4, 2, 3):
                if t == 4:
                    dur = nd.duration_micros * 1e-6
                    if dur == 0 and "num_ops" in nd.attr:
                        dur = _int_attr(path, nd, "num_ops") / gpu.throughput(precision)
                    stream = "cpu" if nd.attr.get("is_cpu_op") else "gpu"
                elif t == 1:
                    dur, stream = 0.0, "gpu"
                else:
                    dur, stream = _int_attr(path, nd, "tensor_size") / gpu.hbm, "mem"
                handle[(r, nd.id)] = new(Task(label, f"{job}/r{r}/{stream}", duration=dur,
                                              group=f"r{r}"), dep_keys)
            elif t == 7:
                ct = _int_attr(path, nd, "comm_type")
                if ct not in COLLECTIVES:
                    raise TrafficError(f"Chakra trace {path!r}: node {nd.id} ({nd.name!r}): "
                                       f"collective {_COMM_NAMES.get(ct, ct)} is not supported; "
                                       f"allowed: {', '.join(_COMM_NAMES[c] for c in COLLECTIVES)}")
                size = _int_attr(path, nd, "comm_size", 0)
                pg = nd.attr.get("pg_name")
                if pg is not None and comm_groups is not None:
                    if str(pg) not in groups:
                        raise TrafficError(f"Chakra trace {path!r}: node {nd.id} names process "
                                           f"group {pg!r}, which the comm groups lack")
                    members, gname = groups[str(pg)], str(pg)
                else:
                    members, gname = list(range(n)), "all"
                if r not in members:
                    raise TrafficError(f"Chakra trace {path!r}: node {nd.id}'s group {gname!r} "
                                       f"does not hold rank {r}")
                i = seen[gname] = seen.get(gname, -1) + 1
                c = colls.setdefault((gname, i), {"members": members, "ranks": {}})
                c["ranks"][r] = (ct, size, dep_keys, nd)
                handle[(r, nd.id)] = ("coll", gname, i)
            elif t in (5, 6):
                src = _int_attr(path, nd, "comm_src", r)
                dst = _int_attr(path, nd, "comm_dst", r)
                if (t == 5 and src != r) or (t == 6 and dst != r) or max(src, dst) >= n:
                    raise TrafficError(f"Chakra trace {path!r}: node {nd.id} ({nd.name!r}) "
                                       f"sends {src} -> {dst}, not from/to its rank {r} of {n}")
                tag = _int_attr(path, nd, "comm_tag", 0)
                side = "send" if t == 5 else "recv"
                key = (src, dst, tag)
                i = seen[(side,) + key] = seen.get((side,) + key, -1) + 1
                m = p2p.setdefault(key + (i,), {})
                m[side] = (_int_attr(path, nd, "comm_size", 0), dep_keys, nd, r)
                handle[(r, nd.id)] = ("p2p",) + key + (i,)
            else:
                raise TrafficError(f"Chakra trace {path!r}: node {nd.id} ({nd.name!r}) is a "
                                   f"{NODE_TYPES[t]}, which netemu does not run")
    for (gname, i), c in colls.items():
        got = c["ranks"]
        missing = [r for r in c["members"] if r not in got]
        if missing:
            raise TrafficError(f"collective {i} of group {gname!r} is missing on rank(s) "
                               f"{missing[:5]}")
        kinds = {(ct, size) for ct, size, _, _ in got.values()}
        if len(kinds) > 1:
            raise TrafficError(f"collective {i} of group {gname!r} differs across ranks: "
                               f"{sorted((_COMM_NAMES[ct], s) for ct, s in kinds)}")
        (ct, size), = kinds
        kind = COLLECTIVES[ct]
        size = collective_size(ct, size, len(c["members"]))
        deps = [d for _, _, ds, _ in got.values() for d in ds]
        idx = new(Task(f"{job} {gname} #{i} {_COMM_NAMES[ct]}", f"{job}/coll/{gname}",
                       phases=coll_phases(kind, c["members"], size),
                       tag=kind or "barrier", group=f"coll {gname}"), deps)
        c["task"] = idx
    for key, m in p2p.items():
        if set(m) != {"send", "recv"}:
            side = "receive" if "send" in m else "send"
            raise TrafficError(f"send/receive {key[0]} -> {key[1]} (tag {key[2]}, #{key[3]}) "
                               f"has no matching {side}")
        if m["send"][0] != m["recv"][0]:
            raise TrafficError(f"send/receive {key[0]} -> {key[1]} (tag {key[2]}): the send "
                               f"says {m['send'][0]} bytes, the receive {m['recv'][0]}")
        size = m["send"][0]
        st = Stage("p2p", [(gpus[key[0]], gpus[key[1]], 1.0)], mode="flows")
        load, work, alpha = _stage_phase(pm, st, size, shares_of=shares)
        m["task"] = new(Task(f"{job} send {key[0]}->{key[1]} tag {key[2]}",
                             f"{job}/p2p/{key[0]}-{key[1]}/{key[2]}",
                             phases=[Phase(load, work, alpha)],
                             tag="p2p", group="p2p"), m["send"][1] + m["recv"][1])

    def index(h):
        v = handle[h]
        if isinstance(v, tuple):
            return colls[v[1:]]["task"] if v[0] == "coll" else p2p[v[1:]]["task"]
        return v

    for ti, deps in pending:
        tasks[ti].deps = sorted({index(d) for d in deps} - {ti})
    tl = simulate(pm.capacity, tasks)
    step = float(tl.end.max()) if len(tasks) else 0.0
    members = {ti: set(c["members"]) for c in colls.values() for ti in [c["task"]]}
    members.update({m["task"]: {k[0], k[1]} for k, m in p2p.items()})
    busy = [0.0] * n
    for i, t in enumerate(tasks):
        if not t.phases and t.stream.endswith("/gpu"):
            busy[int(t.group[1:])] += float(tl.end[i] - tl.start[i])
    return ChakraResult(job, n, step, max(busy), _rank_waits(tl, tasks, members, n, job, step),
                        n_nodes, tl, list(range(len(tasks))))


def _rank_waits(tl, tasks, members, n, job, step):
    """Mean over ranks of the time their GPU stream was idle, by the communication in flight
    that involved the rank (shared equally when several were), else ``bubble``."""
    from .step import _idle_gaps
    total = {}
    comm = [(i, tasks[i].tag) for i in members]
    for r in range(n):
        idle = _idle_gaps(((tl.start[i], tl.end[i]) for i, t in enumerate(tasks)
                           if t.stream == f"{job}/r{r}/gpu"), step)
        mine = [(tl.start[i], tl.end[i], tag) for i, tag in comm if r in members[i]]
        for a, b in idle:
            cuts = sorted({a, b} | {x for s, e, _ in mine for x in (s, e) if a < x < b})
            for x, y in zip(cuts, cuts[1:]):
                on = sorted({tag for s, e, tag in mine if s <= x and e >= y})
                for tag in on or ["bubble"]:
                    total[tag] = total.get(tag, 0.0) + (y - x) / max(1, len(on))
    return {k: float(v / n) for k, v in total.items()}
