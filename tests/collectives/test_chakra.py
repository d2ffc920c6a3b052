"""Chakra execution traces: a hand-written encoder builds small traces (independent of the
reader); their run is checked by hand; malformed traces give one clear error."""

import struct

import pytest

from netemu import ParameterError, TrafficError
from netemu.collectives import chakra
from netemu.collectives.chakra import read_trace, run_chakra
from netemu.collectives.software import NCCL_STEP_LATENCY
from netemu.topologies import two_layer_fat_tree
from netemu.topologies.compute import GpuCompute

B = 1e9
GPU = GpuCompute("test", {"bf16": 1e12}, 1e12, 1e11)
RING = NCCL_STEP_LATENCY["ring"]
COMP, SEND, RECV, COLL = 4, 5, 6, 7            # et_def.proto NodeType
ALL_REDUCE = 0                                  # et_def.proto CollectiveCommType


# -- a protobuf encoder written from the wire-format specification -----------------------------

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def key(num, wt):
    return varint(num << 3 | wt)


def vfield(num, v):
    return key(num, 0) + varint(v)


def lfield(num, payload):
    return key(num, 2) + varint(len(payload)) + payload


def attr(name, **value):
    (kind, v), = value.items()
    body = lfield(1, name.encode())
    if kind == "int64":
        body += vfield(9, v & (2**64 - 1))
    elif kind == "uint64":
        body += vfield(13, v)
    elif kind == "int32":
        body += vfield(7, v & (2**64 - 1))
    elif kind == "bool":
        body += vfield(27, int(v))
    elif kind == "string":
        body += lfield(29, v.encode())
    elif kind == "double":
        body += key(3, 1) + struct.pack("<d", v)
    return lfield(10, body)


def node(nid, name, ntype, deps=(), duration=0, attrs=(), packed=True):
    body = vfield(1, nid) + lfield(2, name.encode()) + vfield(3, ntype)
    if deps:
        if packed:
            body += lfield(5, b"".join(varint(d) for d in deps))
        else:
            body += b"".join(vfield(5, d) for d in deps)
    if duration:
        body += vfield(7, duration)
    return body + b"".join(attrs)


def trace(*nodes):
    meta = lfield(1, b"0.0.4")
    return b"".join(varint(len(m)) + m for m in (meta,) + nodes)


def write(tmp_path, name, per_rank):
    for r, data in enumerate(per_rank):
        (tmp_path / f"{name}.{r}.et").write_bytes(data)
    return str(tmp_path / name)


def allreduce_trace(first_us, size):
    # comp A -> comp B -> allreduce -> comp C (25 us)
    return trace(node(1, "A", COMP, duration=first_us, attrs=[attr("is_cpu_op", bool=False)]),
                 node(2, "B", COMP, deps=[1], duration=50, packed=False),
                 node(3, "AR", COLL, deps=[2], attrs=[attr("comm_type", int64=ALL_REDUCE),
                                                      attr("comm_size", uint64=size)]),
                 node(4, "C", COMP, deps=[3], duration=25))


def _fabric():
    return two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=1, link_bandwidth=B)


def test_reader_decodes_the_hand_encoded_fields(tmp_path):
    p = tmp_path / "t.0.et"
    p.write_bytes(trace(node(7, "x", COMP, deps=[1, 300], duration=123,
                             attrs=[attr("num_ops", int64=-5), attr("pg_name", string="g"),
                                    attr("w", double=0.25), attr("n", int32=-3)])))
    meta, (nd,) = read_trace(p)
    assert meta["version"] == "0.0.4"
    assert (nd.id, nd.name, nd.type, nd.data_deps, nd.duration_micros) == \
        (7, "x", COMP, [1, 300], 123)
    assert nd.attr == {"num_ops": -5, "pg_name": "g", "w": 0.25, "n": -3}


def test_compute_chain_and_one_allreduce_by_hand(tmp_path):
    size = 10**6
    # Rank 1's first kernel is longer: the allreduce starts when both ranks reach it.
    prefix = write(tmp_path, "job", [allreduce_trace(100, size), allreduce_trace(130, size)])
    r = run_chakra(_fabric(), prefix, gpu=GPU)
    # Ring allreduce of two ranks: each hop carries the whole buffer once, NCCL's step
    # latency per network hop (two) plus its base.
    allreduce = size / B + RING["base"] + 2 * RING["network"]
    assert r.step_time == pytest.approx((130 + 50) * 1e-6 + allreduce + 25e-6, rel=1e-9)
    assert r.gpus == 2 and r.nodes == 8
    assert r.compute_time == pytest.approx((130 + 50 + 25) * 1e-6, rel=1e-12)
    # Rank 0 waits 30 us for rank 1 (bubble) then both wait the allreduce.
    assert r.waits["allreduce"] == pytest.approx(allreduce, rel=1e-9)
    assert r.waits["bubble"] == pytest.approx(30e-6 / 2, rel=1e-9)


def test_send_and_receive_pair_by_hand(tmp_path):
    size = 2 * 10**6
    send = trace(node(1, "A", COMP, duration=40),
                 node(2, "S", SEND, deps=[1], attrs=[attr("comm_dst", int32=1),
                                                    attr("comm_size", int64=size),
                                                    attr("comm_tag", int32=9)]))
    recv = trace(node(5, "R", RECV, attrs=[attr("comm_src", int32=0),
                                           attr("comm_size", int64=size),
                                           attr("comm_tag", int32=9)]),
                 node(6, "C", COMP, deps=[5], duration=10))
    r = run_chakra(_fabric(), write(tmp_path, "pp", [send, recv]), gpu=GPU)
    assert r.step_time == pytest.approx(40e-6 + size / B + 10e-6, rel=1e-9)


def test_num_ops_at_the_gemm_rate_when_no_duration(tmp_path):
    t = trace(node(1, "A", COMP, attrs=[attr("num_ops", uint64=3 * 10**9)]))
    r = run_chakra(_fabric(), write(tmp_path, "f", [t, t]), gpu=GPU)
    assert r.step_time == pytest.approx(3e9 / 1e12, rel=1e-12)


@pytest.mark.parametrize("data, message", [
    (trace(node(1, "A", COMP))[:-2], "says .* bytes; .* remain"),
    (b"\xff" * 12, "varint is longer than 10 bytes"),
    (trace(node(1, "A", 11)), "node type 11"),
    (trace(node(1, "A", COMP, deps=[9])), "depends on node 9"),
    (trace(node(1, "A", COMP, deps=[2]), node(2, "B", COMP, deps=[1])), "dependency cycle"),
    (trace(node(1, "A", COMP), node(1, "B", COMP)), "node id 1 appears twice"),
    (trace(node(1, "A", 8)), "STORAGE_NODE, which netemu does not run"),
    (trace(node(1, "A", COLL, attrs=[attr("comm_type", int64=3)])), "GATHER is not supported"),
    (varint(3) + key(1, 3) + b"\x00\x00", "wire type 3"),
    (b"", "empty"),
])
def test_malformed_traces_are_one_clear_error(tmp_path, data, message):
    prefix = write(tmp_path, "bad", [data, trace()])
    with pytest.raises(TrafficError, match=message):
        run_chakra(_fabric(), prefix, gpu=GPU)


def test_collectives_that_differ_across_ranks_and_missing_files(tmp_path):
    prefix = write(tmp_path, "j", [allreduce_trace(1, 100), allreduce_trace(1, 200)])
    with pytest.raises(TrafficError, match="differs across ranks"):
        run_chakra(_fabric(), prefix, gpu=GPU)
    with pytest.raises(TrafficError, match=r"no Chakra trace .*nothing\.0\.et"):
        run_chakra(_fabric(), str(tmp_path / "nothing"), gpu=GPU)
    three = write(tmp_path, "three", [trace()] * 3)
    with pytest.raises(TrafficError, match="has 3 ranks; the cluster has 2 GPUs"):
        run_chakra(_fabric(), three, gpu=GPU)
    with pytest.raises(ParameterError, match="must be distinct and below"):
        run_chakra(_fabric(), prefix, gpu=GPU, comm_groups={"g": [0, 5]})


def test_file_size_is_bounded(tmp_path, monkeypatch):
    prefix = write(tmp_path, "big", [allreduce_trace(1, 100)] * 2)
    monkeypatch.setattr(chakra, "MAX_NODES", 3)
    with pytest.raises(TrafficError, match="more than 3 nodes"):
        run_chakra(_fabric(), prefix, gpu=GPU)
    monkeypatch.setattr(chakra, "MAX_BYTES", 16)
    with pytest.raises(TrafficError, match="101 bytes, more than the 16 bytes a Chakra trace may have"):
        run_chakra(_fabric(), prefix, gpu=GPU)


def _group_trace(pg, size):
    return trace(node(1, "A", COMP, duration=10),
                 node(2, "AR", COLL, deps=[1], attrs=[attr("comm_type", int64=ALL_REDUCE),
                                                      attr("comm_size", uint64=size),
                                                      attr("pg_name", string=pg)]))


def test_two_communicators_across_one_uplink_share_it(tmp_path):
    # Four hosts, two per leaf; groups {0, 2} and {1, 3} both cross the leaf-spine links.
    G = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=B)
    size = 10**6
    prefix = write(tmp_path, "g", [_group_trace(p, size) for p in "abab"])
    r = run_chakra(G, prefix, gpu=GPU, comm_groups={"a": [0, 2], "b": [1, 3]})
    alone = size / B + RING["base"] + 2 * RING["network"]
    assert r.step_time == pytest.approx(10e-6 + alone + size / B, rel=1e-9)
    # Inside a leaf each: no link in common, each as fast as alone.
    prefix2 = write(tmp_path, "h", [_group_trace(p, size) for p in "aabb"])
    r = run_chakra(G, prefix2, gpu=GPU, comm_groups={"a": [0, 1], "b": [2, 3]})
    assert r.step_time == pytest.approx(10e-6 + alone, rel=1e-9)
    with pytest.raises(TrafficError, match="names process group 'b', which the comm groups"):
        run_chakra(G, prefix, gpu=GPU, comm_groups={"a": [0, 1, 2, 3]})
    with pytest.raises(TrafficError, match="group 'a' does not hold rank 1"):
        run_chakra(G, prefix2, gpu=GPU, comm_groups={"a": [0, 2], "b": [1, 3]})


def test_gzipped_trace_barrier_and_cli(tmp_path, capsys):
    import gzip
    import json

    from netemu.cli import main
    t = trace(node(1, "A", COMP, duration=10),
              node(2, "sync", COLL, deps=[1], attrs=[attr("comm_type", int64=9)]),
              node(3, "B", COMP, deps=[2], duration=5))
    slow = trace(node(1, "A", COMP, duration=30),
                 node(2, "sync", COLL, deps=[1], attrs=[attr("comm_type", int64=9)]),
                 node(3, "B", COMP, deps=[2], duration=5))
    (tmp_path / "z.0.et").write_bytes(gzip.compress(t))
    (tmp_path / "z.1.et").write_bytes(slow)
    r = run_chakra(_fabric(), str(tmp_path / "z"), gpu=GPU)
    # The barrier moves no bytes: rank 0 waits for rank 1, then both run B.
    assert r.step_time == pytest.approx(35e-6, rel=1e-12)
    (tmp_path / "bad.0.et").write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(TrafficError, match="bad gzip data"):
        read_trace(tmp_path / "bad.0.et")
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"a": [0, 1]}))
    argv = ["step", str(tmp_path / "z"), "--chakra", "--cluster", "fire-flyer-2-cluster"]
    assert main(argv + ["--comm-groups", str(groups), "--json"]) == 0
    row, = json.loads(capsys.readouterr().out)["jobs"]
    assert row["gpus"] == 2 and row["nodes"] == 6 and row["phase"] == "chakra"
    assert main(argv + ["--layout", "dp=2"]) == 2
    assert "does not apply to a Chakra trace" in capsys.readouterr().err
    groups.write_text('{"a": [0, -1]}')
    assert main(argv + ["--comm-groups", str(groups)]) == 2
    err = capsys.readouterr().err
    assert "must map each name to a list of rank numbers" in err and err.count("\n") == 1


def test_random_and_mutated_bytes_give_a_trace_or_one_traffic_error(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    good = allreduce_trace(100, 10**6)

    @settings(max_examples=200, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.one_of(st.binary(max_size=64),
                     st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)).map(
                         lambda m: good[:m[0]] + bytes([m[1]]) + good[m[0] + 1:]),
                     st.integers(1, len(good) - 1).map(lambda k: good[:k])))
    def check(data):
        p = tmp_path / "f.0.et"
        p.write_bytes(data)
        try:
            meta, nodes = read_trace(p)
        except TrafficError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(meta, dict) and all(n.type in chakra.NODE_TYPES for n in nodes)

    check()


def test_mutated_traces_run_or_fail_with_one_error(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    G = _fabric()
    send = trace(node(1, "A", COMP, duration=40),
                 node(2, "S", SEND, deps=[1], attrs=[attr("comm_dst", int32=1),
                                                    attr("comm_size", int64=1000),
                                                    attr("comm_tag", int32=9)]),
                 node(3, "AR", COLL, deps=[2], attrs=[attr("comm_type", int64=ALL_REDUCE),
                                                      attr("comm_size", uint64=1000)]))
    recv = trace(node(5, "R", RECV, attrs=[attr("comm_src", int32=0),
                                           attr("comm_size", int64=1000),
                                           attr("comm_tag", int32=9)]),
                 node(6, "AR", COLL, deps=[5], attrs=[attr("comm_type", int64=ALL_REDUCE),
                                                      attr("comm_size", uint64=1000)]))

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(0, len(send) - 1), st.integers(0, 255))
    def check(at, byte):
        prefix = write(tmp_path, "m", [send[:at] + bytes([byte]) + send[at + 1:], recv])
        try:
            r = run_chakra(G, prefix, gpu=GPU)
        except (TrafficError, ParameterError) as exc:
            assert "\n" not in str(exc)
            return
        assert r.step_time >= 0

    check()


def _one_collective(tmp_path, name, comm_type, size):
    t = trace(node(1, "C", COLL, attrs=[attr("comm_type", int64=comm_type),
                                        attr("comm_size", uint64=size)]))
    return run_chakra(_fabric(), write(tmp_path, name, [t, t]), gpu=GPU).step_time


def test_all_gather_comm_size_is_each_ranks_part_as_astra_sim_reads_it(tmp_path):
    # ASTRA-sim: an ALL_GATHER's comm_size is what each rank contributes (the result is
    # comm_size x ranks); a REDUCE_SCATTER's is the whole input (the result is comm_size /
    # ranks).  On two ranks over one 1 GB/s hop each rank sends its part once: P more bytes
    # a rank take P / B longer (latencies cancel in the difference).
    part = 10**6
    ag1 = _one_collective(tmp_path, "ag1", 2, part)
    ag2 = _one_collective(tmp_path, "ag2", 2, 2 * part)
    assert ag2 - ag1 == pytest.approx(part / B, rel=1e-9)
    # A reduce-scatter whose input is the gathered buffer (2P) moves the same bytes.
    assert _one_collective(tmp_path, "rs", 7, 2 * part) == pytest.approx(ag1, rel=1e-12)
    rs1 = _one_collective(tmp_path, "rs1", 7, part)
    assert _one_collective(tmp_path, "rs2", 7, 2 * part) - rs1 == pytest.approx(part / 2 / B,
                                                                               rel=1e-9)
