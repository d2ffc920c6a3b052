"""Fire-Flyer Fig. 8 experiment: report() on a small run, and its stated choices."""

import csv
import math

from netemu.collectives.models import MODELS
from netemu.experiments import fire_flyer_fig8


def test_gpt2_batch_that_fits_by_hand():
    # Korthikanti et al. Eq. 1 per sequence and layer: 34 s h + 5 a s^2 bytes.
    m = MODELS["gpt2-medium"]
    per_seq = 24 * (34 * 1024 * 1024 + 5 * 16 * 1024 * 1024)
    free = 40 * 2**30 - 16 * m.params()
    b = fire_flyer_fig8.gpt2_batch_that_fits(m, 1024)
    assert b * per_seq <= free < 2 * b * per_seq


def test_report_on_a_small_run(tmp_path, monkeypatch):
    m = fire_flyer_fig8
    monkeypatch.setattr(m, "GPUS", {"8a": (16, 32), "8b": (16, 32)})
    monkeypatch.setattr(m, "BATCH", {"8a": 4, "8b": 1})
    monkeypatch.setattr(m, "BATCH_RANGE", {"8a": (2, 8), "8b": (1, 2)})
    pub = {"8a": {lib: {16: 0.1, 32: 0.11} for lib in ("hfreduce", "nccl")},
           "8b": {lib: {16: 0.2, 32: 0.21} for lib in ("hfreduce", "nccl")}}
    import netemu.experiments.published as published
    monkeypatch.setattr(published, "FF_FIG8A", pub["8a"])
    monkeypatch.setattr(published, "FF_FIG8B", pub["8b"])
    pts = [p for p in m.points() if p["variant"] == "primary" or
           (p["variant"] in ("batch", "gemm-only") and p["gpus"] == 16)]
    rows = [r for p in pts for r in m.run_point(p)]
    cmp = fire_flyer_fig8.report(rows, tmp_path)
    with open(tmp_path / "fire_flyer_fig8.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    assert (tmp_path / "fire_flyer_fig8.png").read_bytes().startswith(b"\x89PNG")
    metrics = {c["metric"] for c in cmp}
    assert {"step time s", "HFReduce/NCCL step time", "scaling efficiency %"} <= metrics
    for c in cmp:
        assert c["kind"] == "prediction" and math.isfinite(c["netemu"])
        assert (c["paper"] is None) == (c["error"] is None)
