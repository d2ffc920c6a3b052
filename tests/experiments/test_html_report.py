"""results/index.html: tables by kind, errors coloured by band, figures embedded, run and versions;
rendered in a real headless browser (Debian's chromium) when it is installed."""

import base64
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from netemu.cli import main as cli
from netemu.experiments import html_report, runner
from netemu.experiments.readme_table import read_summary

FAST = "node_limited_routing"
#: The test figure's size in pixels: figsize (2, 1) inches at 50 dots per inch.
FIG_W, FIG_H = 100, 50


def _row(exp, point, kind, paper, ours, band=None):
    error = None if paper is None else (ours - paper) / paper
    in_band = "" if error is None or band is None else ("yes" if abs(error) <= band else "no")
    return {"experiment": exp, "point": point, "metric": "latency us", "kind": kind,
            "paper": paper, "netemu": ours, "error": error, "band": band, "in_band": in_band,
            "note": ""}


#: Two predictions inside and outside a ±25% band, one without a band, one check, one netemu-only.
ROWS = [
    _row("latency", "inside", "prediction", 2.0, 2.2, band=0.25),     # +10%
    _row("latency", "outside", "prediction", 2.0, 3.0, band=0.25),    # +50%
    _row("storage_read", "no band", "prediction", 4.0, 5.0),
    _row("storage_read", "by construction", "check", 8.0, 8.0),
    _row("failure_resilience", "netemu alone", "netemu only", None, 1.0),
]


@pytest.fixture
def results(tmp_path):
    """A results folder: summary files from ROWS, one figure of known size and its CSV."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runner._write_summary(tmp_path, ROWS)
    fig, ax = plt.subplots(figsize=(FIG_W / 50, FIG_H / 50), dpi=50)
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "latency.png", dpi=50)   # no tight bbox: exactly FIG_W x FIG_H
    plt.close(fig)
    (tmp_path / "latency.csv").write_text("a,b\n1,2\n")
    return tmp_path


class _Page(HTMLParser):
    """Tables (rows of (class, cells)), images and links of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.links, self.body = {}, [], [], {}
        self._section, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._section = a.get("id")
        elif tag == "body":
            self.body = a
        elif tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = [a.get("class", ""), ""]
        elif tag == "img":
            self.images.append(a)
        if tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        if tag in ("img", "script") and "src" in a:
            self.links.append(a["src"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(tuple(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.tables.setdefault(self._section, []).append(self._row)
            self._row = None


def _parse(text):
    p = _Page()
    p.feed(text)
    return p


def _png_size(data):
    # PNG: 8-byte signature, then the IHDR chunk whose first two fields are width and height.
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _missing_links(page, folder):
    """Links that are neither data: URIs, in-page anchors, nor files that exist in ``folder``."""
    return [h for h in page.links if not h.startswith(("data:", "#"))
            and not (Path(folder) / h).is_file()]


def test_tables_apart_by_kind_and_errors_coloured_by_band(results):
    page = _parse(html_report.render(results, {"experiments": ["latency"], "jobs": 2}))
    preds, checks, alone = (page.tables[k] for k in ("prediction", "check", "netemu-only"))
    # In the registry's order of experiments (storage_read before latency).
    assert [r[1][1] for r in preds] == ["no band", "inside", "outside"]
    assert [r[1][1] for r in checks] == ["by construction"]
    assert [r[1][1] for r in alone] == ["netemu alone"]
    error_class = {r[1][1]: r[5][0].split()[-1] for r in preds + checks + alone}
    assert error_class == {"inside": "in", "outside": "out", "no band": "noband",
                           "by construction": "noband", "netemu alone": "noband"}
    # The errors shown are (netemu - paper) / paper of the rows, as percentages.
    assert [r[5][1] for r in preds] == ["+25.0%", "+10.0%", "+50.0%"]
    # Per figure: one line per (experiment, metric); latency's band holds 1 of its 2 predictions.
    per_figure = {r[0][1]: r for r in page.tables["figures-summary"]}
    assert per_figure["ISCA Table 5"][7][1] == "1"


def test_figures_are_embedded_and_nothing_links_a_missing_file(results):
    text = html_report.render(results, {"experiments": ["latency"], "jobs": 2})
    page = _parse(text)
    assert len(page.images) == 1
    uri = page.images[0]["src"]
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data == (results / "latency.png").read_bytes()
    assert _png_size(data) == (FIG_W, FIG_H)
    assert "latency.csv" in page.links
    assert _missing_links(page, results) == []


def test_run_parameters_and_versions_are_shown(results):
    import matplotlib
    import networkx
    import numpy
    import scipy
    import platform

    html_report.write_report(results, {"experiments": ["latency", "storage_read"], "jobs": 3})
    text = (results / "index.html").read_text()
    params = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text))
    assert params["experiments run"] == "latency, storage_read"
    assert params["jobs"] == "3"
    assert params["numpy"] == numpy.__version__ and params["scipy"] == scipy.__version__
    assert params["networkx"] == networkx.__version__
    assert params["matplotlib"] == matplotlib.__version__
    assert params["Python"].startswith(platform.python_version())
    assert params["netemu"] != "not installed"
    # Regenerated without parameters: they come back from run.json.
    saved = json.loads((results / html_report.RUN_FILE).read_text())
    assert saved["experiments"] == ["latency", "storage_read"] and saved["date"]
    html_report.write_report(results)
    again = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>",
                            (results / "index.html").read_text()))
    assert again["experiments run"] == "latency, storage_read" and again["date"] == saved["date"]


def test_runner_writes_the_page_and_cli_rewrites_it(tmp_path, capsys):
    runner.run([FAST], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    page = _parse((tmp_path / "index.html").read_text())
    assert len(page.images) == 1 and _missing_links(page, tmp_path) == []
    assert json.loads((tmp_path / "run.json").read_text())["experiments"] == [FAST]
    n_rows = len(read_summary(tmp_path / "summary.csv"))
    assert sum(len(v) for k, v in page.tables.items() if k != "figures-summary") == n_rows
    (tmp_path / "index.html").unlink()
    assert cli(["experiments", "report", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "index.html").is_file()
    capsys.readouterr()


def test_cli_report_without_results_exits_2_with_one_line(tmp_path, capsys):
    assert cli(["experiments", "report", "--results", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.csv" in err
    assert not (tmp_path / "none").exists()


# --- in a real browser ---------------------------------------------------------------------------

def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars"]


def _browser(*args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), *_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=180, check=True)


@pytest.mark.skipif(_chromium() is None,
                    reason="Debian's chromium is not installed (tests/run.sh installs it as root)")
def test_page_renders_in_headless_chromium(results):
    html_report.write_report(results, {"experiments": ["latency"], "jobs": 1})
    # The page moves alone: copy it where nothing else lies, so an image or style it needed
    # from beside it would be missing.
    alone = results / "alone"
    alone.mkdir()
    shutil.copy(results / "index.html", alone / "index.html")
    url = (alone / "index.html").as_uri()
    dom = _browser("--dump-dom", url).stdout.decode()
    page = _parse(dom)
    # The page's own script ran on load and recorded each image's decoded size.
    assert page.body.get("data-images") == "1 loaded 1"
    assert [im.get("data-natural") for im in page.images] == [f"{FIG_W}x{FIG_H}"]
    assert [len(page.tables[k]) for k in ("prediction", "check", "netemu-only")] == [3, 1, 1]
    assert 'class="broken"' not in dom
    # Only the data CSV is linked, and it lies beside the page in the results folder.
    assert _missing_links(page, results) == []

    shot = results / "shot.png"
    _browser("--window-size=1000,1400", f"--screenshot={shot}", url)
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    # Not blank: text and coloured cells make many distinct colours.
    flat = (pixels[..., :3] * 255).astype(int).reshape(-1, 3)
    assert len({tuple(p) for p in flat[::37]}) > 20
