"""The failure_resilience experiment writes its CSV and plot, and its figures hang together."""

import csv

from netemu.experiments import failure_resilience as fr
from netemu.experiments.runner import run


def test_failure_resilience_writes_csv_and_png(tmp_path, monkeypatch):
    monkeypatch.setattr(fr, "FAILED_LINKS", (0, 2))
    monkeypatch.setattr(fr, "SEEDS", (0, 1))
    cmp = run([fr.NAME], jobs=1, out_dir=tmp_path, progress=False, quiet=True)[fr.NAME]
    assert (tmp_path / "failure_resilience.png").stat().st_size > 0
    with open(tmp_path / "failure_resilience.csv") as fh:
        rows = [{k: (v if k in ("fabric", "scenario") else float(v)) for k, v in r.items()}
                for r in csv.DictReader(fh)]
    assert len(rows) == len(fr.points()) == 3 * (1 + 2 + 2) + 2
    # one comparison row per (fabric, case), netemu's figure only
    assert {c["point"] for c in cmp} >= {"MPFT 2 links", "MPFT 1 plane", "FT3 1 spine"}
    assert all(c["paper"] is None and c["error"] is None for c in cmp)
    assert {r["fabric"] for r in rows} == {"MPFT", "MRFT", "FT3"}
    assert {r["scenario"] for r in rows if r["fabric"] == "MPFT"} == {"links", "spine", "plane"}
    for r in rows:
        # every endpoint pair in the 128-endpoint all-to-all, none silently lost
        assert r["flows"] == 128 * 127
        assert 0 < r["relative"] <= 1 + 1e-9 if r["scenario"] != "links" or r["failed"] else \
            r["relative"] == 1.0
