"""The README's generated blocks: rendered from summary rows, and in step with the results."""

import subprocess
from pathlib import Path

import pytest

from netemu.cli import main as cli
from netemu.errors import ParameterError
from netemu.experiments import readme_table as rt
from netemu.experiments.agreement import figure_summary, in_band

ROOT = Path(__file__).resolve().parents[2]


def _row(exp, point, metric, paper, ours, kind="prediction", band=None, note=""):
    e = None if paper is None else (ours - paper) / paper
    return {"experiment": exp, "point": point, "metric": metric, "kind": kind,
            "paper": paper, "netemu": ours, "error": e, "band": band,
            "in_band": in_band(e, band), "note": note}


SMALL = [
    _row("fig", "16 GPUs", "algbw GB/s", 8.0, 9.0, band=0.15),
    _row("fig", "32 GPUs", "algbw GB/s", 8.0, 10.0, band=0.15),
    _row("fig", "all", "bound TB/s", 9.0, 9.0, kind="check", note="sum of NIC rates"),
    _row("failure_resilience", "MPFT 1 link", "rel. throughput [0.800, 0.900]", None, 0.85,
         kind="netemu only"),
    _row("failure_resilience", "FT3 1 link", "rel. throughput [0.950, 1.000]", None, 0.975,
         kind="netemu only"),
    _row("failure_resilience", "MPFT 1 plane", "rel. throughput [0.700, 0.700]", None, 0.7,
         kind="netemu only"),
]
LABEL = {"fig": "Fig. X", "failure_resilience": "failures"}

EXPECTED_RESULTS = """\
2 predictions (1 of the 2 with a tolerance band inside it), 1 consistency check.

**Predictions** (netemu computes the number from hardware and software facts; only these count toward agreement):

| result | point | metric | paper | netemu | error | band | in band |
|---|---|---|---:|---:|---:|---:|---|
| Fig. X | 16 GPUs | algbw GB/s | 8 | 9 | +12.5% | ±15% | yes |
| Fig. X | 32 GPUs | algbw GB/s | 8 | 10 | +25.0% | ±15% | no |

**Consistency checks** (the number follows from the paper's own inputs by construction; labelled, never counted as agreement):

| result | point | metric | paper | netemu | difference | why a check |
|---|---|---|---:|---:|---:|---|
| Fig. X | all | bound TB/s | 9 | 9 | +0.0% | sum of NIC rates |

**Per figure** (predictions only; shape = the points ranked by value in the same order, values within 1% counted as tied):

| result | metric | predictions | mean abs error | max abs error | band | inside band | shape |
|---|---|---:|---:|---:|---:|---:|---|
| Fig. X | algbw GB/s | 2 | 18.8% | 25.0% | ±15% | 1/2 | differs (0/1 pairs) |"""

EXPECTED_FAILURES = """\
| failed | MPFT | FT3 |
|---|---:|---:|
| 1 link | 0.850 [0.800, 0.900] | 0.975 [0.950, 1.000] |
| 1 plane | 0.700 [0.700, 0.700] | – |"""


def test_results_block_from_a_small_summary():
    # paper 8 = 8 (tied), netemu 9 < 10: the one pair is ordered differently.
    lines = rt.results_block(SMALL, figure_summary(SMALL, LABEL), LABEL)
    assert "\n".join(lines) == EXPECTED_RESULTS


def test_failure_block_from_a_small_summary():
    assert "\n".join(rt.failure_block(SMALL)) == EXPECTED_FAILURES


def test_long_series_collapse_to_one_line_with_ranges():
    rows = [_row("fig", f"{n} MiB", "ratio", 1.0, 1.0 + n / 1000, kind="check", note="by "
                 "construction") for n in range(1, rt.COLLAPSE + 2)]
    table = rt.checks_table(rows, LABEL)
    assert len(table) == 3
    assert table[2] == (f"| Fig. X | {rt.COLLAPSE + 1} points: 1 MiB … {rt.COLLAPSE + 1} MiB | "
                        f"ratio | 1 | 1.001 to 1.013 | +0.1% to +1.3% | by construction |")
    assert len(rt.checks_table(rows, LABEL, collapse=False)) == rt.COLLAPSE + 1 + 2


README = """# title

<!-- results-table -->
old
<!-- /results-table -->

middle

<!-- failure-table -->
old
<!-- /failure-table -->
end
"""


def test_render_readme_replaces_only_the_blocks():
    out = rt.render_readme(README, SMALL, figure_summary(SMALL, LABEL), LABEL)
    assert out == README.replace("old\n<!-- /results-table -->",
                                 EXPECTED_RESULTS + "\n<!-- /results-table -->").replace(
        "old\n<!-- /failure-table -->", EXPECTED_FAILURES + "\n<!-- /failure-table -->")
    assert rt.render_readme(out, SMALL, figure_summary(SMALL, LABEL), LABEL) == out


def test_readme_without_markers_is_a_parameter_error():
    with pytest.raises(ParameterError, match="results-table"):
        rt.render_readme("# nothing\n", SMALL, [], LABEL)


def _write_summary(path, rows):
    import csv
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=rt.SUMMARY_FIELDS)
        w.writeheader()
        w.writerows(rows)


def test_cli_readme_rewrites_and_check_reports_stale(tmp_path, capsys):
    rows = [dict(r, experiment="storage_read") if r["experiment"] == "fig" else r
            for r in SMALL]
    _write_summary(tmp_path / "summary.csv", rows)
    assert rt.read_summary(tmp_path / "summary.csv") == rows
    readme = tmp_path / "README.md"
    readme.write_text(README)
    args = ["experiments", "readme", "--results", str(tmp_path), "--readme", str(readme)]
    assert cli(args + ["--check"]) == 1
    assert "differ" in capsys.readouterr().err
    assert readme.read_text() == README
    assert cli(args) == 0
    assert "Fire-Flyer §VI-B" in readme.read_text()      # storage_read's label
    assert cli(args + ["--check"]) == 0


def test_cli_readme_without_results_exits_2(tmp_path, capsys):
    assert cli(["experiments", "readme", "--results", str(tmp_path / "none"),
                "--readme", str(tmp_path / "README.md")]) == 2
    assert "no summary.csv" in capsys.readouterr().err


def _tracked(path):
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", path],
                             capture_output=True, check=False)
    except OSError:
        return False
    return out.returncode == 0


@pytest.mark.skipif(not _tracked("results/summary.csv"),
                    reason="results/ is not committed: the README's tables are checked against "
                           "a fresh run by `netemu experiments readme --check`")
def test_readme_tables_equal_what_the_committed_results_give():
    assert not rt.update_readme(ROOT / "README.md", ROOT / "results", check=True)
