"""Seeded fuzz of issue 18's classes: memory, files, numbers, API types, result sets.

Every case comes from :mod:`tests.fuzz.robust_cases` with a seed hypothesis draws
(``derandomize=True``: the same cases on every run); ``benchmarks/fuzz_soak.py`` runs the
same builders over thousands of seeds.
"""

import contextlib
import io
import json
import os
import random
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netemu import memory
from netemu.cli import main
from netemu.errors import NetemuError
from netemu.io import load
from netemu.traffic import from_csv

from .robust_cases import cli_argv, make_files, mutate_graph, node_link, traffic_csv

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
_DIR = tempfile.mkdtemp(prefix="netemu-robust-fuzz-")
_FILES = make_files(_DIR)
seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(autouse=True)
def small_memory_limit(monkeypatch):
    # Anything that would need more than this is refused up front, never attempted.
    monkeypatch.setenv(memory.LIMIT_ENV, "1GB")


@SETTINGS
@given(seeds)
def test_cli_vectors_end_in_status_0_or_one_line(seed):
    argv = cli_argv(random.Random(seed), _FILES)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 2), (argv, code, err.getvalue())
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, (argv, err.getvalue())
    if code == 0 and "--json" in argv:
        json.loads(out.getvalue())      # valid JSON (no NaN)


@SETTINGS
@given(seeds)
def test_mutated_graph_files_load_valid_or_one_error(seed):
    rng = random.Random(seed)
    path = os.path.join(_DIR, "case.json")
    with open(path, "w") as fh:
        fh.write(json.dumps(mutate_graph(rng, node_link(rng))))
    try:
        G = load(path)
    except NetemuError as exc:
        assert "\n" not in str(exc)
        return
    # What loads meets the contract: names once, links once, connected unless a real
    # failure record explains it.
    from netemu.graph import validate
    validate(G, allow_disconnected=True)
    assert len(set(G.nodes)) == G.number_of_nodes()


@SETTINGS
@given(seeds)
def test_traffic_csv_whole_bytes_or_one_error(seed):
    path = os.path.join(_DIR, "case.csv")
    with open(path, "wb") as fh:
        fh.write(traffic_csv(random.Random(seed)))
    try:
        t = from_csv(path)
    except NetemuError as exc:
        assert "\n" not in str(exc)
        return
    assert all(s >= 1 and s == int(s) for s in t.sizes.tolist())


_ODD = [None, "x", 5, -1, 1.5, float("nan"), [1], ["n0"], {"a": 1}, b"n0", 10**30, True]


@SETTINGS
@given(seeds)
def test_api_calls_with_odd_arguments(seed):
    import netemu
    from netemu import traffic as T
    from netemu.topologies.fat_tree import two_layer_fat_tree

    rng = random.Random(seed)
    G = two_layer_fat_tree(4)
    a, b = rng.choice(_ODD), rng.choice(_ODD)
    calls = [lambda: T.all_to_all(G, size=a), lambda: T.all_to_all(G, endpoints=a),
             lambda: T.permutation(G, a), lambda: T.shift(G, a), lambda: T.incast(G, a),
             lambda: T.Traffic(["n0", "n1"], [0], [1], a), lambda: T.from_csv(a, G),
             lambda: load(a), lambda: netemu.solve(G, T.all_to_all(G), a),
             lambda: netemu.solve(a, T.all_to_all(G)),
             lambda: netemu.solve(G, T.permutation(G, 0), "hash", seed=b)]
    try:
        rng.choice(calls)()
    except NetemuError as exc:
        assert "\n" not in str(exc)
