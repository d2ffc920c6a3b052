"""Every experiment's ``report()`` on a small run: files written, comparison rows well formed.

Each experiment runs one or two of its own cheapest points (taken from ``points()``, so the
test follows the sweep), then ``report(rows, out_dir)``.  The test checks the contract of
:mod:`netemu.experiments`: ``NAME.csv`` holds the rows, ``NAME.png`` is a PNG, and every
comparison row has the keys ``point, metric, paper, netemu, error`` with finite numbers
(``paper`` and ``error`` may be None where there is no published value).  It checks no value: the
values are the experiments' results, compared with the papers by the experiments, not here.
"""

import csv
import importlib
import math
import numbers
from pathlib import Path

import pytest

from netemu.experiments import EXPERIMENTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _keep(monkeypatch, m, attr, keys):
    """Restrict the module's dict ``attr`` (a sweep or its published table) to ``keys``."""
    table = getattr(m, attr)
    monkeypatch.setattr(m, attr, {k: table[k] for k in keys})


def _topology_cost(m, mp):
    _keep(mp, m, "ISCA_TABLE3", ["isca-ft2"])
    _keep(mp, m, "FF_TABLE3", ["fire-flyer-2", "ff-pcie-3layer"])
    if hasattr(m, "FF_TABLE3_PRICES"):
        _keep(mp, m, "FF_TABLE3_PRICES", ["fire-flyer-2", "ff-pcie-3layer"])


def _hfreduce_vs_nccl(m, mp):
    mp.setattr(m, "GPUS", (16,))


def _hfreduce_nvlink(m, mp):
    mp.setattr(m, "WITHIN", (16,))
    mp.setattr(m, "CROSS", ())
    mp.setattr(m, "FF_FIG7B", {"within": {16: m.FF_FIG7B["within"][16]}, "cross": {}})


def _mpft_vs_mrft(m, mp):
    mp.setattr(m, "ISCA_FIG5_GPUS", (min(m.ISCA_FIG5_GPUS),))
    mp.setattr(m, "ISCA_FIG5_SIZES", (min(m.ISCA_FIG5_SIZES),))


def _deepep(m, mp):
    mp.setattr(m, "GPUS", (16,))


def _storage_read(m, mp):
    mp.setattr(m, "STRIPES", (1,))
    mp.setattr(m, "HASH_SEEDS", (0,))


def _failure_resilience(m, mp):
    mp.setattr(m, "FAILED_LINKS", (0, 1))
    mp.setattr(m, "SEEDS", (0,))


def _sensitivity(m, mp):
    mp.setattr(m, "CHUNKS", (m.CHUNKS[0], m.CHUNKS[3]))     # the default 4 MiB among them
    mp.setattr(m, "CHUNK_CASES", (("hfreduce", (16,)), ("hfreduce-nvlink", (16,))))
    mp.setattr(m, "LAYOUT_RANGES", {"overhead_m": (0.0, 2.0), "packing": ("tor", "group")})
    mp.setattr(m, "COST_PRESETS", ("isca-ft2", "fire-flyer-2", "ff-pcie-3layer"))
    mp.setattr(m, "RATIOS", ("ff-pcie-3layer",))


def _training_scaling(m, mp):
    # The figure's first two GPU counts of each model, on a much smaller global batch.
    mp.setattr(m, "SETUPS", {f: dict(s, gpus=s["gpus"][:2], batch=s["pp"] * 2 * s["gpus"][1])
                             for f, s in m.SETUPS.items()})
    mp.setattr(m, "SENSITIVITY", (("9a", m.SETUPS["9a"]["gpus"][0]),))
    mp.setattr(m, "GEMM_SENSITIVITY", (("9b", m.SETUPS["9b"]["gpus"][0]),))
    mp.setattr(m, "GEMM_VARIANTS", ("per-expert",))
    mp.setattr(m, "ACCUM_POINTS", ())  # its rows are drawn and reported in test_figures.py


def _v3_training(m, mp):
    # Both fabrics and one sensitivity point, on 32 GPUs and a small batch.
    mp.setattr(m, "LAYOUT", "dp=16,pp=2,ep=8,zero=1,overlap_ep=true,dispatch_bytes=1,"
                            "combine_bytes=2")
    mp.setattr(m, "SEQ", 512)
    mp.setattr(m, "BATCH", 64)
    mp.setattr(m, "GEMM_FRACTIONS", (1.0, 0.5))


def _v3_decode(m, mp):
    # 16 GPUs of the cluster instead of 256, one context.
    mp.setattr(m, "CLUSTER_GPUS", 16)
    mp.setattr(m, "CONTEXTS", (m.CONTEXT,))


#: How each experiment's sweep is cut down to its cheapest points (module attributes patched
#: for the test only); experiments whose whole sweep is cheap run it all.
SMALL = {
    "topology_cost": _topology_cost,
    "hfreduce_vs_nccl": _hfreduce_vs_nccl,
    "hfreduce_nvlink": _hfreduce_nvlink,
    "mpft_vs_mrft_alltoall": _mpft_vs_mrft,
    "deepep_mpft": _deepep,
    "inference_speed_limit": lambda m, mp: None,
    "storage_read": _storage_read,
    "latency": lambda m, mp: None,
    "failure_resilience": _failure_resilience,
    "training_scaling": _training_scaling,
    "sensitivity": _sensitivity,
    "v3_training": _v3_training,
    "v3_decode": _v3_decode,
}


#: Experiments whose report() is exercised on a small run by their own test file (named), and
#: the one that is not yet exercised anywhere (None).
ELSEWHERE = {
    "hfreduce_bounds": "test_fire_flyer_experiments.py",
    "fire_flyer_next_gen": "test_fire_flyer_experiments.py",
    "node_limited_routing": "test_isca_experiments.py",
    "mpft_vs_mrft_latency": "test_isca_experiments.py",
    "deepep_modes": "test_isca_experiments.py",
    "roce_routing": "test_roce_routing.py",
    "fire_flyer_fig8": "test_fire_flyer_fig8.py",
}


def test_every_experiment_is_cut_down_here_or_reported_elsewhere():
    assert set(SMALL) | set(ELSEWHERE) == set(EXPERIMENTS)
    assert not set(SMALL) & set(ELSEWHERE)
    here = Path(__file__).parent
    for name, path in ELSEWHERE.items():
        if path is not None:
            assert f"{name}.report(" in (here / path).read_text(), (name, path)


def _finite(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


@pytest.mark.parametrize("name", [e for e in EXPERIMENTS if e in SMALL])
def test_report_on_a_small_run(name, tmp_path, monkeypatch):
    m = importlib.import_module(f"netemu.experiments.{name}")
    SMALL[name](m, monkeypatch)
    pts = m.points()
    assert 0 < len(pts) <= 12, f"{name}: {len(pts)} points is not a small run"
    rows = [r for p in pts for r in m.run_point(p)]
    assert rows and all(isinstance(r, dict) for r in rows)

    cmp = m.report(rows, tmp_path)

    with open(tmp_path / f"{m.NAME}.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    # The table holds the rows (topology_cost writes its comparison rows instead).
    if len(table) == len(rows):
        assert set(table[0]) >= set(rows[0])
    elif m.NAME == "sensitivity":      # its table is the spread of each choice
        assert table and {"choice", "result", "spread_pct"} <= set(table[0])
    else:
        assert len(table) == len(cmp) and set(table[0]) >= {"point", "metric", "paper", "netemu"}
    png = (tmp_path / f"{m.NAME}.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000

    assert isinstance(cmp, list)
    for c in cmp:
        assert {"point", "metric", "paper", "netemu", "error"} <= set(c), c
        assert isinstance(c["metric"], str) and c["metric"]
        assert _finite(c["netemu"]), c
        if c["paper"] is None:          # a netemu-only metric: nothing to compare with
            assert c["error"] is None, c
        else:
            assert _finite(c["paper"]), c
        if c["error"] is not None:
            assert _finite(c["error"]), c
            if c["paper"]:
                assert c["error"] == pytest.approx((c["netemu"] - c["paper"]) / c["paper"])
        if "kind" in c:
            assert c["kind"] in ("prediction", "check")
