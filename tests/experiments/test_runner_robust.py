"""Result sets survive bad destinations and interruptions (issue 18, lost work)."""

import os

import pytest

from netemu.errors import ParameterError
from netemu.experiments import runner

NAME = "latency"


@pytest.fixture
def counted(monkeypatch):
    """Count the points run; no work may start before the destination is checked."""
    module = runner.load(NAME)
    calls = []
    real = module.run_point

    def run_point(point):
        calls.append(point)
        return real(point)

    monkeypatch.setattr(module, "run_point", run_point)
    return calls


def _run(out):
    return runner.run([NAME], jobs=1, out_dir=out, progress=False, quiet=True)


def test_out_is_an_existing_file(tmp_path, counted):
    out = tmp_path / "file"
    out.write_text("x")
    with pytest.raises(ParameterError, match="not a directory"):
        _run(out)
    assert counted == []


@pytest.mark.parametrize("make", [
    lambda p: p.mkdir(),
    lambda p: p.write_bytes(b"\xff\xfe\x00garbage"),
    lambda p: p.write_text(",".join(runner.SUMMARY_FIELDS) + '\n"a,b\n'),
    lambda p: p.write_text(",".join(runner.SUMMARY_FIELDS) + "\nlatency,1\n"),
])
def test_bad_previous_summary_refused_before_work(tmp_path, counted, make):
    make(tmp_path / "summary.csv")
    with pytest.raises(ParameterError, match="summary.csv"):
        _run(tmp_path)
    assert counted == []


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.mark.parametrize("when", ["report", "summary"])
def test_interrupted_run_leaves_the_previous_set(tmp_path, monkeypatch, when):
    _run(tmp_path)
    before = _snapshot(tmp_path)
    assert {"latency.csv", "summary.csv"} <= set(before)
    module = runner.load(NAME)
    real_report = module.report

    def report(rows, out_dir):
        comparisons = real_report(rows, out_dir)   # NAME.csv written, then Ctrl-C
        if when == "report":
            raise KeyboardInterrupt
        return comparisons

    def summary(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "report", report)
    if when == "summary":
        monkeypatch.setattr(runner, "_write_summary", summary)
    # Make the new set differ from the old one, so a mix would show.
    real_point = module.run_point

    def doubled(point):
        return [{k: 2 * v if isinstance(v, float) else v for k, v in r.items()}
                for r in real_point(point)]

    monkeypatch.setattr(module, "run_point", doubled)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    assert _snapshot(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".netemu")] == []


def test_stale_staging_of_a_killed_run_removed(tmp_path):
    dead = tmp_path / f"{runner.STAGING_PREFIX}999999999-x"
    dead.mkdir()
    (dead / "latency.csv").write_text("half")
    _run(tmp_path)
    assert not dead.exists()
    assert (tmp_path / "summary.csv").is_file()
