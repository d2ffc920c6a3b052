"""``results/index.html``: one self-contained page per run of the experiments.

The page gathers what a run left in its folder so that a reader opens one file in a
browser, with no server and no network:

- the comparison table from ``summary.csv``, predictions, consistency checks and
  netemu-only rows in separate tables (only predictions count toward agreement);
  each error is coloured by the experiment's tolerance band: inside, outside, or no band
  declared;
- the per-figure agreement from ``summary_figures.csv`` (mean and max error, band,
  shape; :mod:`netemu.experiments.agreement`);
- every figure (``NAME.png``), embedded as a base64 ``data:`` URI, so the page can be
  mailed or moved alone; each figure links its ``NAME.csv``, which lies beside the page;
- the run's parameters (experiments, jobs or scheduler, date) and the versions of netemu,
  Python, NumPy, networkx, SciPy and Matplotlib.

The runner writes the page after every run (:func:`netemu.experiments.runner.run`) and
keeps the run's parameters in ``run.json`` beside it; ``netemu experiments report
[--results DIR]`` rewrites the page from what the folder holds.
"""

import base64
import csv
import html
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from netemu.errors import ParameterError
from netemu.io import write_atomically

__all__ = ["write_report", "render", "versions", "RUN_FILE", "PAGE"]

#: The page's file name in the results folder.
PAGE = "index.html"
#: Where the run's parameters are kept, beside the page, for regeneration.
RUN_FILE = "run.json"
#: Distributions whose versions the page shows (import name -> distribution name).
_VERSIONED = (("netemu", "netemu"), ("numpy", "numpy"), ("networkx", "networkx"),
              ("scipy", "scipy"), ("matplotlib", "matplotlib"))

_KIND_TITLES = (
    ("prediction", "Predictions",
     "netemu computes the number from hardware and software facts; only these count toward "
     "agreement."),
    ("check", "Consistency checks",
     "The number follows from the paper's own inputs by construction: shown, never counted "
     "as agreement."),
    ("netemu only", "netemu only", "No published value to compare with."),
)

_CSS = """
body { font-family: system-ui, -apple-system, "DejaVu Sans", sans-serif; margin: 1.5em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { margin-bottom: 0.3em; }
p.lead, p.kind { color: #555; margin-top: 0.2em; }
table { border-collapse: collapse; font-size: 0.86em; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; vertical-align: top; }
th { background: #f3f3f3; text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.note { color: #555; max-width: 28em; }
td.result { white-space: nowrap; }
tr.first td { border-top: 2px solid #999; }
.in { background: #d9f0d3; }
.out { background: #f8d0cc; }
.noband { background: #eeeeee; }
.legend span { display: inline-block; padding: 0.1em 0.6em; margin-right: 0.6em;
               border: 1px solid #ccc; }
dl.params { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; }
dl.params dt { font-weight: bold; }
dl.params dd { margin: 0; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
nav a { margin-right: 1em; }
.broken { color: #b00; font-weight: bold; }
"""

# Marks an image that did not decode (and says so on the page), so a reader sees a broken
# figure instead of an empty frame; the browser test reads the same marks.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img"), bad = 0;
  imgs.forEach(function (im) {
    im.setAttribute("data-natural", im.naturalWidth + "x" + im.naturalHeight);
    if (!im.complete || im.naturalWidth === 0) {
      bad += 1;
      var p = document.createElement("p");
      p.className = "broken";
      p.textContent = "figure " + im.alt + " did not load";
      im.parentNode.insertBefore(p, im);
    }
  });
  document.body.setAttribute("data-images", imgs.length + " loaded " + (imgs.length - bad));
});
"""


def versions():
    """``{name: version}`` of netemu, Python and the libraries the results depend on."""
    from importlib import metadata

    out = {"Python": f"{platform.python_version()} ({platform.python_implementation()})"}
    for module, dist in _VERSIONED:
        try:
            out[module] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            mod = sys.modules.get(module)
            out[module] = getattr(mod, "__version__", "not installed")
    return out


def _esc(x):
    return html.escape("" if x is None else str(x), quote=True)


def _read_csv(path):
    try:
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    except FileNotFoundError:
        return []


def _band_class(row):
    """CSS class of an error cell: inside / outside the band, or no band (or no error)."""
    if row.get("in_band") == "yes":
        return "in"
    if row.get("in_band") == "no":
        return "out"
    return "noband"


def _summary_table(rows, label):
    from netemu.experiments.readme_table import _band, _pct, fmt

    head = ("result", "point", "metric", "paper", "netemu", "error", "band", "in band", "note")
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
           "<tbody>"]
    last = None
    for r in rows:
        first = r["experiment"] != last
        last = r["experiment"]
        cls = _band_class(r)
        out.append(
            f'<tr class="{"first" if first else ""}">'
            f'<td class="result">{_esc(label.get(r["experiment"], r["experiment"]))}</td>'
            f"<td>{_esc(r['point'])}</td><td>{_esc(r['metric'])}</td>"
            f'<td class="num">{_esc(fmt(r["paper"]))}</td>'
            f'<td class="num">{_esc(fmt(r["netemu"]))}</td>'
            f'<td class="num {cls}">{_esc(_pct(r["error"]))}</td>'
            f'<td class="num">{_esc(_band(r["band"]))}</td>'
            f"<td>{_esc(r['in_band'] or '–')}</td>"
            f'<td class="note">{_esc(r.get("note"))}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _figure_table(rows):
    head = ("result", "metric", "predictions", "checks", "mean |error|", "max |error|", "band",
            "inside", "shape", "pairs agreeing")
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>",
           "<tbody>"]
    for r in rows:
        band = r.get("band") or ""
        inside = r.get("inside") or ""
        if not band:
            cls = "noband"
        else:
            cls = "in" if inside and inside == r.get("predictions") else "out"
        out.append(
            "<tr>" f"<td>{_esc(r['result'])}</td><td>{_esc(r['metric'])}</td>"
            f'<td class="num">{_esc(r["predictions"])}</td>'
            f'<td class="num">{_esc(r["checks"])}</td>'
            f'<td class="num {cls}">{_esc(_pct_text(r.get("mean_abs_error")))}</td>'
            f'<td class="num {cls}">{_esc(_pct_text(r.get("max_abs_error")))}</td>'
            f'<td class="num">{_esc(_pct_text(band, sign="±") if band else "–")}</td>'
            f'<td class="num">{_esc(inside or "–")}</td>'
            f"<td>{_esc(r.get('shape') or '–')}</td>"
            f'<td class="num">{_esc(r.get("pairs_agreeing") or "–")}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _pct_text(text, sign=""):
    if text in (None, ""):
        return "–"
    return f"{sign}{100 * float(text):.1f}%"


def _figures(out_dir, names, titles):
    """``[(name, title, data URI, csv name or None), ...]`` of every PNG in ``out_dir``.

    The experiments' figures first, in run order; any other PNG in the folder after them.
    """
    pngs = {p.stem: p for p in sorted(out_dir.glob("*.png"))}
    order = [n for n in names if n in pngs] + [n for n in pngs if n not in names]
    out = []
    for n in order:
        data = base64.b64encode(pngs[n].read_bytes()).decode("ascii")
        csv_name = f"{n}.csv" if (out_dir / f"{n}.csv").is_file() else None
        out.append((n, titles.get(n, n), f"data:image/png;base64,{data}", csv_name))
    return out


def render(out_dir, run=None):
    """The page's HTML for the results in ``out_dir`` (a string; nothing is written).

    Parameters
    ----------
    out_dir : path-like
        A results folder holding ``summary.csv`` (and, usually, ``summary_figures.csv``
        and one ``NAME.png`` / ``NAME.csv`` per experiment).
    run : dict, optional
        The run's parameters (``experiments``, ``jobs``, ``scheduler``, ``date``); read
        from ``out_dir/run.json`` when not given.
    """
    from netemu.experiments import EXPERIMENTS
    from netemu.experiments.readme_table import labels, read_summary
    from netemu.experiments.runner import load

    out_dir = Path(out_dir)
    summary = read_summary(out_dir / "summary.csv")
    if not summary:
        raise ParameterError(f"{out_dir / 'summary.csv'} is missing or not a netemu summary; "
                             f"run `netemu experiments run` with --out {out_dir} first")
    if run is None:
        run = _read_run(out_dir)
    present = list(dict.fromkeys(r["experiment"] for r in summary))
    label = labels(present)
    titles = {n: load(n).TITLE for n in present if n in EXPERIMENTS}
    figures_rows = _read_csv(out_dir / "summary_figures.csv")

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>netemu results</title>", f"<style>{_CSS}</style>",
             f"<script>{_SCRIPT}</script>", "</head><body>",
             "<h1>netemu: paper against netemu</h1>"]
    preds = [r for r in summary if r["kind"] == "prediction"]
    compared = [r for r in preds if r["error"] is not None]
    banded = [r for r in compared if r["in_band"]]
    checks = sum(r["kind"] == "check" for r in summary)
    parts.append(
        f'<p class="lead">{len(summary)} comparison rows from {len(present)} experiments: '
        f"{len(compared)} predictions compared with a published value "
        + (f"({sum(r['in_band'] == 'yes' for r in banded)} of the {len(banded)} with a "
           f"tolerance band inside it)" if banded else "(none with a tolerance band)")
        + f", {checks} consistency check{'' if checks == 1 else 's'}. "
        f"Every number comes from <code>summary.csv</code> beside this page.</p>")
    parts.append('<nav><a href="#run">run</a><a href="#figures-summary">per figure</a>'
                 + "".join(f'<a href="#{k.replace(" ", "-")}">{t}</a>'
                           for k, t, _ in _KIND_TITLES if any(r["kind"] == k for r in summary))
                 + '<a href="#figures">figures</a></nav>')
    parts.append(_run_section(run))
    parts.append('<h2 id="figures-summary">Agreement per figure</h2>')
    parts.append('<p class="legend">errors: <span class="in">inside the band</span>'
                 '<span class="out">outside the band</span>'
                 '<span class="noband">no band declared</span> '
                 "(band: the experiment's <code>TOLERANCE</code>)</p>")
    parts.append(_figure_table(figures_rows) if figures_rows
                 else "<p>no summary_figures.csv in this folder.</p>")
    order = {n: i for i, n in enumerate(EXPERIMENTS)}
    for kind, title, text in _KIND_TITLES:
        rows = [r for r in summary if r["kind"] == kind]
        if not rows:
            continue
        rows.sort(key=lambda r: order.get(r["experiment"], len(order)))
        parts.append(f'<h2 id="{kind.replace(" ", "-")}">{title} ({len(rows)})</h2>')
        parts.append(f'<p class="kind">{text}</p>')
        parts.append(_summary_table(rows, label))
    parts.append('<h2 id="figures">Figures</h2>')
    figures = _figures(out_dir, list(EXPERIMENTS), titles)
    if not figures:
        parts.append("<p>no figure in this folder.</p>")
    for name, title, uri, csv_name in figures:
        link = f' — data: <a href="{_esc(csv_name)}">{_esc(csv_name)}</a>' if csv_name else ""
        parts.append(f'<figure id="fig-{_esc(name)}"><h3>{_esc(title)}</h3>'
                     f'<img src="{uri}" alt="{_esc(name)}">'
                     f"<figcaption>{_esc(name)}.png{link}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _run_section(run):
    items = [("experiments run", ", ".join(run.get("experiments") or []) or "unknown")]
    if run.get("scheduler"):
        items.append(("Dask scheduler", run["scheduler"]))
    else:
        items.append(("jobs", run.get("jobs", "unknown")))
    items.append(("date", run.get("date", "unknown")))
    items.append(("page written", _now()))
    items += list(versions().items())
    body = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in items)
    return f'<h2 id="run">Run</h2><dl class="params">{body}</dl>'


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_run(out_dir):
    try:
        with open(Path(out_dir) / RUN_FILE) as fh:
            run = json.load(fh)
    except (FileNotFoundError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


def write_report(out_dir, run=None):
    """Write ``out_dir/index.html`` (atomically) and return its path.

    With ``run`` (the run's parameters: ``experiments``, ``jobs``, ``scheduler``; ``date``
    is filled in when absent), they are also kept in ``out_dir/run.json`` so a later
    ``netemu experiments report`` shows them again; without it, ``run.json`` is read.
    """
    out_dir = Path(out_dir)
    if run is not None:
        run = {**run, "date": run.get("date") or _now()}
        text = json.dumps(run, indent=2, default=str) + "\n"
        write_atomically(out_dir / RUN_FILE, lambda fh: fh.write(text.encode()))
    page = render(out_dir, run)
    write_atomically(out_dir / PAGE, lambda fh: fh.write(page.encode("utf-8")))
    return out_dir / PAGE
