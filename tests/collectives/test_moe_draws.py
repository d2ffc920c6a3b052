"""Seeded MoE token draws: grouped routing against a direct masking of the same draws, and the
kept draws (cached = uncached, a changed argument draws afresh, callers get their own arrays)."""

import numpy as np
import pytest

from netemu.collectives import moe
from netemu.collectives.moe import token_destinations
from netemu.errors import ParameterError


def _ranks(servers, per):
    return [f"n{s}/gpu{g}" for s in range(servers) for g in range(per)]


def _masked(n, servers, per_server, tokens, topk, epg, limit, seed, shared=0):
    """Each token's experts, drawn as DeepEP's grouped top-k states it: score every expert,
    keep the ``limit`` servers whose best expert scores highest, take the ``topk`` best
    experts of those (the same seeded draws, one rank after the other)."""
    rng = np.random.default_rng(seed)
    experts_per_server = per_server * epg
    out = []
    for r in range(n):
        scores = rng.random((tokens, n * epg))
        rows = []
        for row in scores:
            best_server = [row[s * experts_per_server:(s + 1) * experts_per_server].max()
                           for s in range(servers)]
            keep = sorted(range(servers), key=lambda s: -best_server[s])[:limit]
            allowed = [e for s in keep
                       for e in range(s * experts_per_server, (s + 1) * experts_per_server)]
            chosen = sorted(allowed, key=lambda e: -row[e])[:topk]
            rows.append(sorted(e // epg for e in chosen))
        dest = np.array(rows)
        if shared:
            others = np.delete(np.arange(n), r)
            rng.choice(others, size=(tokens, shared))     # the draws the function makes too
        out.append(dest)
    return out


@pytest.mark.parametrize("servers, per, epg, limit, topk", [
    (4, 2, 2, 2, 3), (8, 1, 4, 3, 8), (3, 4, 1, 1, 4), (6, 2, 8, 4, 8)])
def test_grouped_draw_is_the_masked_top_k(servers, per, epg, limit, topk):
    moe._DRAWS.clear()
    ranks = _ranks(servers, per)
    got = token_destinations(ranks, tokens=40, topk=topk, experts_per_gpu=epg,
                             node_limit=limit, routing="grouped", seed=7)
    want = _masked(len(ranks), servers, per, 40, topk, epg, limit, seed=7)
    assert [np.sort(d, axis=1).tolist() for d in got] == [w.tolist() for w in want]


def test_grouped_draw_with_shared_experts_keeps_the_routed_part():
    moe._DRAWS.clear()
    ranks = _ranks(4, 2)
    got = token_destinations(ranks, tokens=30, topk=3, shared=1, experts_per_gpu=2,
                             node_limit=2, routing="grouped", seed=1)
    want = _masked(8, 4, 2, 30, 3, 2, 2, seed=1, shared=1)
    for r, (d, w) in enumerate(zip(got, want)):
        assert d.shape == (30, 4)
        assert np.sort(d[:, :3], axis=1).tolist() == w.tolist()
        assert (d[:, 3] != r).all()                  # the shared expert is another rank's


def test_a_kept_draw_is_the_draw_made_afresh():
    ranks = _ranks(4, 4)
    kw = dict(tokens=64, topk=4, experts_per_gpu=2, node_limit=2, routing="grouped", seed=3)
    moe._DRAWS.clear()
    fresh = token_destinations(ranks, **kw)
    again = token_destinations(ranks, **kw)          # served from the kept draws
    assert len(moe._DRAWS) == 1
    for a, b in zip(fresh, again):
        assert a.dtype == b.dtype == np.int64 and a.shape == b.shape
        assert (a == b).all() and a is not b
    again[0][:] = -1                                 # a caller's array is its own
    assert (token_destinations(ranks, **kw)[0] == fresh[0]).all()


@pytest.mark.parametrize("change", [{"seed": 4}, {"node_limit": 3}, {"topk": 3},
                                    {"experts_per_gpu": 1}, {"routing": "random"},
                                    {"tokens": 63}, {"shared": 1}])
def test_a_changed_argument_draws_afresh(change):
    ranks = _ranks(4, 4)
    kw = dict(tokens=64, topk=4, experts_per_gpu=2, node_limit=2, routing="grouped", seed=3)
    moe._DRAWS.clear()
    token_destinations(ranks, **kw)                  # kept
    changed = token_destinations(ranks, **{**kw, **change})
    moe._DRAWS.clear()
    assert all((a == b).all() for a, b in zip(changed, token_destinations(ranks, **{**kw,
                                                                                    **change})))


def test_other_ranks_draw_afresh_and_bad_arguments_are_refused_even_when_kept():
    kw = dict(tokens=16, topk=2, experts_per_gpu=1, node_limit=1, routing="grouped", seed=0)
    moe._DRAWS.clear()
    a = token_destinations(_ranks(2, 4), **kw)
    b = token_destinations(_ranks(4, 2), **kw)       # same count, other servers
    moe._DRAWS.clear()
    assert all((x == y).all() for x, y in zip(b, token_destinations(_ranks(4, 2), **kw)))
    assert any((x != y).any() for x, y in zip(a, b))
    with pytest.raises(ParameterError, match="tokens must be an integer"):
        token_destinations(_ranks(2, 4), **{**kw, "tokens": 16.0})
    with pytest.raises(ParameterError, match="tokens must be an integer"):
        token_destinations(_ranks(2, 4), **{**kw, "tokens": True, "topk": 1})


def test_kept_draws_are_bounded():
    moe._DRAWS.clear()
    for seed in range(moe._DRAW_SLOTS + 3):
        token_destinations(_ranks(2, 2), tokens=8, topk=2, node_limit=1, routing="grouped",
                           seed=seed)
    assert len(moe._DRAWS) == moe._DRAW_SLOTS
