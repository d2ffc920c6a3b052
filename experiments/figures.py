"""One look for every experiment's figure: the paper's points beside netemu's, errors beneath.

Conventions (the same in every figure, so a reader learns them once):

- A *group* is one curve of the paper ("hfreduce", "within a zone", "dispatch"): the paper's
  points and netemu's counterpart share its colour.  The paper's points are open markers
  without a line; netemu's default model is a solid line with filled markers.
- A *model option* of netemu (NCCL's tuning version, nominal vs achievable rates, a
  construction of the cross-zone tree) keeps its group's colour and takes a line style and
  marker of its own, the same for one option across groups, named in the legend in brackets.
- Lines that would hide one another (the same values, or within a few pixels at every shared
  point) are drawn as a wide pale band under the later line, and the legend says which one
  each band lies under.
- A figure, or a series, with nothing published to set beside it says so: its label ends in
  "(no published points)".  A paper number netemu reproduces from the paper's own inputs is a
  *check*: drawn with its own marker and labelled "check", never like a paper point.
- Under the main axes an error panel gives ``(netemu - paper) / paper`` in % per point, the
  experiment's band (its ``TOLERANCE``) shaded; sparse categorical figures annotate the error
  beside each point instead.

Every drawn series carries ``gid = "ROLE:GROUP"`` (``ROLE`` in :data:`ROLES`), so a test can
read back from the matplotlib Figure what each line shows; :func:`recording` collects the
Figures saved while it is active.
"""

import contextlib
import math
import textwrap

__all__ = ["Plot", "ROLES", "PALETTE", "recording", "error_pct", "NO_PAPER"]

#: What a drawn series is: a published point, netemu's default model, a named model option,
#: netemu with nothing published beside it, a check (the paper's number that follows from its
#: own inputs), an error-panel series, or a reference line (zero, band, bound).
ROLES = ("paper", "netemu", "option", "only", "check", "error", "reference")

#: Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), in the
#: order groups take them.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#555555",
           "#8C6D00")

#: Line style and marker of each model option, in the order options first appear.
OPTION_STYLES = (("--", "s"), (":", "^"), ("-.", "v"), ((0, (6, 2, 1, 2, 1, 2)), "P"),
                 ((0, (1, 1)), "X"), ((0, (8, 3)), "<"))
#: Markers of the paper's readings (the first is the one compared; others are alternatives).
PAPER_MARKERS = ("D", "o", "v")
#: Suffix of every series with no published value beside it.
NO_PAPER = "(no published points)"
#: Two lines closer than this many pixels at every shared point are drawn band-under-line.
COINCIDE_PX = 5.0

_recorders = []


@contextlib.contextmanager
def recording():
    """Collect ``(path, Figure)`` of every :meth:`Plot.save` while the block runs.

    Examples
    --------
    >>> with recording() as saved:
    ...     pass
    >>> saved
    []
    """
    saved = []
    _recorders.append(saved)
    try:
        yield saved
    finally:
        _recorders.remove(saved)


def error_pct(ours, paper):
    """``100 (ours - paper) / paper``, None when either is missing or the paper's value is 0.

    >>> round(error_pct(11.0, 10.0), 9)
    10.0
    >>> error_pct(1.0, None) is None
    True
    """
    if ours is None or paper is None or paper == 0:
        return None
    return 100.0 * (ours - paper) / paper


class Plot:
    """A figure of one or more panels, each a main axes and (optionally) an error panel under it.

    Parameters
    ----------
    title : str
        The figure's title (the experiment's TITLE).
    panels : int or sequence of str
        Number of side-by-side panels, or their titles.
    error : bool or sequence of bool
        Whether each panel has an error panel under it.
    logx : bool or sequence of bool
        Base-2 log x axis per panel (GPU counts, message sizes).
    xlabel, ylabel : str or sequence of str
        Axis labels with units, per panel (a single string for all).
    xticks : sequence or None
        Ticks of every numeric x axis (labelled as plain numbers).
    categories : sequence of str or None (or one per panel)
        Categorical x axis: positions 0..n-1 labelled with these names.
    width : float
        Width of one panel in inches.
    """

    def __init__(self, title, panels=1, *, error=True, logx=False, xlabel="", ylabel="",
                 xticks=None, xticklabels=None, categories=None, width=5.5, height=3.6,
                 width_ratios=None, rotate=0):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(panels) if not isinstance(panels, int) else [None] * panels
        n = len(names)
        self._per = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * n
        errors = self._per(error)
        rows = 2 if any(errors) else 1
        fig_h = height + (1.8 if rows == 2 else 0)
        self.fig = plt.figure(figsize=(width * n, fig_h))
        # Fixed margins in inches: the title (and panel titles) above, the x label below,
        # so the legend and notes under a multi-panel figure never run into the axes.
        top = 1 - (0.75 if any(names) else 0.5) / fig_h
        grid = self.fig.add_gridspec(rows, n, height_ratios=[3, 1.3] if rows == 2 else [1],
                                     width_ratios=width_ratios, hspace=0.08, wspace=0.28,
                                     top=top, bottom=0.7 / fig_h)
        self.title = title
        self.main, self.err = [], []
        if categories is not None and len(categories) == n and all(
                c is None or isinstance(c, (list, tuple)) for c in categories):
            cats = list(categories)           # one list (or None) per panel
        else:
            cats = [categories] * n
        for i in range(n):
            ax = self.fig.add_subplot(grid[0, i])
            ax.grid(True, alpha=0.3)
            if names[i]:
                ax.set_title(names[i], fontsize=10)
            e = None
            if errors[i]:
                e = self.fig.add_subplot(grid[1, i], sharex=ax)
                e._netemu_error = True        # read back by tests: this is an error panel
                e.grid(True, alpha=0.3)
                e.axhline(0.0, color="black", lw=0.8, zorder=1, gid="reference:zero")
                e.set_ylabel("netemu vs paper (%)", fontsize=8)
                ax.tick_params(labelbottom=False)
            self.main.append(ax)
            self.err.append(e)
            low = e if e is not None else ax
            low.set_xlabel(self._per(xlabel)[i])
            ax.set_ylabel(self._per(ylabel)[i])
            if cats[i] is not None:
                ax._netemu_categories = list(cats[i])
                low.set_xticks(range(len(cats[i])), [str(c) for c in cats[i]], fontsize=8)
                ax.set_xlim(-0.6, len(cats[i]) - 0.4)
            elif self._per(logx)[i]:
                ax.set_xscale("log", base=2)
            if xticks is not None and cats[i] is None:
                low.set_xticks(list(xticks), list(xticklabels) if xticklabels is not None
                               else [f"{x:g}" for x in xticks], rotation=rotate)
                low.minorticks_off()
        self._colours = {}
        self._options = {}
        self._notes = []
        self._band_notes = []

    def logy(self, panel=0):
        """A log y axis on ``panel`` with plain-number tick labels (4, 10, 40, not 4x10^0)."""
        from matplotlib.ticker import FuncFormatter
        ax = self.main[panel]
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)

    # --- styles -------------------------------------------------------------------------------

    def colour(self, group):
        """The colour of ``group`` (the next of :data:`PALETTE` the first time it is seen)."""
        if group not in self._colours:
            self._colours[group] = PALETTE[len(self._colours) % len(PALETTE)]
        return self._colours[group]

    def _option_style(self, option):
        if option not in self._options:
            self._options[option] = OPTION_STYLES[len(self._options) % len(OPTION_STYLES)]
        return self._options[option]

    def _x(self, panel, x):
        """Positions of ``x`` on ``panel``: category indexes on a categorical axis."""
        cats = getattr(self.main[panel], "_netemu_categories", None)
        if cats is None:
            return list(x)
        return [cats.index(c) for c in x]

    # --- series -------------------------------------------------------------------------------

    def paper(self, x, y, group, label, *, panel=0, reading=0, dx=0.0):
        """The paper's points of ``group``: open markers, no line.

        ``reading`` > 0 is an alternative reading of the figure (another open marker).
        ``dx`` shifts the markers on a categorical axis (a fraction of a slot).
        """
        pts = [(a, b) for a, b in zip(self._x(panel, x), y) if b is not None]
        if not pts:
            return None
        xs, ys = zip(*pts)
        line, = self.main[panel].plot(
            [a + dx for a in xs], ys, linestyle="none", marker=PAPER_MARKERS[reading],
            markersize=8 if reading == 0 else 7, markerfacecolor="none", markeredgewidth=1.6,
            color=self.colour(group), zorder=4, label=f"paper: {label}", gid=f"paper:{group}")
        return line

    def check(self, x, y, group, label, *, panel=0, dx=0.0):
        """A paper number netemu reproduces from the paper's own inputs (a consistency check)."""
        pts = [(a, b) for a, b in zip(self._x(panel, x), y) if b is not None]
        xs, ys = zip(*pts)
        line, = self.main[panel].plot(
            [a + dx for a in xs], ys, linestyle="none", marker="P", markersize=10,
            markerfacecolor="none", markeredgewidth=1.4, color=self.colour(group), zorder=4,
            label=f"check (paper's own inputs): {label}", gid=f"check:{group}")
        return line

    def netemu(self, x, y, group, label, *, panel=0, option=None, only=False, line=True,
               dx=0.0):
        """netemu's series of ``group``: its default model, or the named ``option``.

        ``only``: nothing is published beside it (the label says so).  ``line=False`` draws
        markers only (categorical points that are not a curve).
        """
        if option is None:
            ls, marker, role = "-", "o", "only" if only else "netemu"
        else:
            (ls, marker), role = self._option_style(option), "only" if only else "option"
        text = f"netemu: {label}" + (f" [{option}]" if option else "") + \
            (f" {NO_PAPER}" if only else "")
        pts = [(a, b) for a, b in zip(self._x(panel, x), y) if b is not None]
        if not pts:
            return None
        xs, ys = zip(*pts)
        art, = self.main[panel].plot([a + dx for a in xs], ys, linestyle=ls if line else "none",
                                     marker=marker, markersize=5, linewidth=1.8,
                                     color=self.colour(group), zorder=3, label=text,
                                     gid=f"{role}:{group}")
        return art

    def error(self, x, ours, paper, group, *, panel=0, option=None, dx=0.0, line=True,
              reading=0):
        """``(ours - paper) / paper`` in % at each x with both values, in the error panel.

        ``reading`` > 0: against an alternative reading of the paper (its open marker, no line).
        """
        e = self.err[panel]
        pts = [(a, error_pct(o, p)) for a, o, p in zip(self._x(panel, x), ours, paper)]
        pts = [(a, v) for a, v in pts if v is not None]
        if e is None or not pts:
            return None
        ls, marker = ("-", "o") if option is None else self._option_style(option)
        face = self.colour(group)
        if reading:
            ls, marker, face, line = "none", PAPER_MARKERS[reading], "none", False
        xs, ys = zip(*pts)
        art, = e.plot([a + dx for a in xs], ys, linestyle=ls if line else "none", marker=marker,
                      markersize=4 if not reading else 6, linewidth=1.2,
                      color=self.colour(group), markerfacecolor=face, zorder=3,
                      gid=f"error:{group}")
        return art

    def compare(self, x, ours, paper_x, paper_y, group, label, *, panel=0, option=None,
                paper_label=None, only_paper_x=True):
        """netemu's series, the paper's points and the error at every x both have."""
        self.netemu(x, ours, group, label, panel=panel, option=option)
        if paper_label is not False:
            self.paper(paper_x, paper_y, group, paper_label or label, panel=panel)
        pub = dict(zip(paper_x, paper_y))
        self.error(x, ours, [pub.get(a) for a in x], group, panel=panel, option=option)

    def band(self, fraction, *, panel=0):
        """Shade the experiment's band ``±fraction`` in the error panel."""
        if fraction is None or self.err[panel] is None:
            return
        b = 100 * fraction
        self.err[panel].axhspan(-b, b, color="#bbbbbb", alpha=0.35, zorder=0,
                                label=f"band ±{b:g}%", gid="reference:band")

    def reference(self, y, label, *, panel=0, colour="#444444", style="--", vertical=False):
        """A labelled horizontal (or vertical) reference line: a bound, a stated limit."""
        ax = self.main[panel]
        draw = ax.axvline if vertical else ax.axhline
        return draw(y, color=colour, linestyle=style, lw=1.0, zorder=2, label=label,
                    gid="reference:line")

    def bars(self, x, y, group, label, *, panel=0, slot=0, slots=1, bottom=None, role="only",
             colour=None, hatch=None, horizontal=False):
        """Bars of ``y`` at categories ``x`` (slot ``slot`` of ``slots`` side by side).

        ``horizontal``: the categories run down the y axis (long names), values along x.
        """
        ax = self.main[panel]
        w = 0.8 / slots
        pos = [a + (slot - (slots - 1) / 2) * w for a in self._x(panel, x)]
        text = label + (f" {NO_PAPER}" if role == "only" and NO_PAPER not in label else "")
        style = dict(color=colour or self.colour(group), edgecolor="white", lw=0.5,
                     hatch=hatch, label=text, zorder=2)
        c = (ax.barh(pos, y, w, left=bottom, **style) if horizontal
             else ax.bar(pos, y, w, bottom=bottom, **style))
        for p in c.patches:
            p.set_gid(f"{role}:{group}")
        c.netemu_gid = f"{role}:{group}"
        return c

    def annotate_errors(self, x, ours, paper, *, panel=0, dx=0.0, offset=(6, 0), prefix=""):
        """Write each point's error (%) beside netemu's marker (sparse categorical figures)."""
        ax = self.main[panel]
        for a, o, p in zip(self._x(panel, x), ours, paper):
            v = error_pct(o, p)
            if v is None:
                continue
            v = 0.0 if abs(v) < 0.05 else v       # no "-0.0%"
            ax.annotate(f"{prefix}{v:+.1f}%", (a + dx, o), textcoords="offset points",
                        xytext=offset, ha="right" if offset[0] < 0 else "left",
                        fontsize=7, va="center", color="#333333", zorder=5)

    def note(self, text):
        """A line under the figure (what an offset or a band means, where data come from)."""
        self._notes.append(text)

    # --- output -------------------------------------------------------------------------------

    def _separate_coinciding(self):
        """Lines that would hide one another: one of each pair becomes a wide pale band.

        Of two coinciding lines the one with fewer points of its own (outside the x values
        they share) becomes the band, the earlier one on a tie, so the longer line stays
        drawn in full over it; a note under the figure says which lies under which.
        """
        for ax in self.main + [e for e in self.err if e is not None]:
            lines = [ln for ln in ax.get_lines() if (ln.get_gid() or "").split(":")[0]
                     in ("netemu", "option", "only", "error") and ln.get_linestyle() != "None"]
            if len(lines) < 2:
                continue
            ax.autoscale_view()
            to_px = ax.transData.transform
            # In an error panel only lines equal at every point: errors of a few percent
            # sit close together by nature, and their markers keep them apart.
            partial = not getattr(ax, "_netemu_error", False)
            over = {}
            for i, a in enumerate(lines):
                for b in lines[i + 1:]:
                    if _coincide(a, b, to_px, partial=partial):
                        band, top = (b, a) if _own(b, a) < _own(a, b) else (a, b)
                        over.setdefault(band, []).append(top)
            bands = [ln for ln in lines if ln in over]
            for k, band in enumerate(bands):
                wider = sum(1 for other in bands[k + 1:] if other in over[band])
                band.set_linewidth(7.0 + 3.0 * wider)
                band.set_linestyle("-")
                band.set_alpha(0.35)
                band.set_markersize(9)
                band.set_zorder(1.5)
                band.set_solid_capstyle("round")
                if (band.get_gid() or "").startswith("error") or band.get_label().startswith("_"):
                    continue
                names = ", ".join(_short(t.get_label()) for t in over[band]
                                  if not t.get_label().startswith("_"))
                verb = "lies" if len(over[band]) == 1 else "lie"
                note = (f"Pale band: {_short(band.get_label())}; {names} {verb} within "
                        f"{COINCIDE_PX:g} px of it wherever both have points.")
                if note not in self._band_notes:
                    self._band_notes.append(note)

    def _scale_errors(self):
        """An error panel with an error beyond ±60 % goes symmetric-log past ±20 %, so one
        outlier does not flatten every other point onto the zero line."""
        from matplotlib.ticker import FixedLocator, FuncFormatter
        for e in self.err:
            if e is None:
                continue
            ys = [abs(float(y)) for ln in e.get_lines() for y in ln.get_ydata()
                  if (ln.get_gid() or "").startswith("error")]
            if ys and max(ys) > 60:
                e.set_yscale("symlog", linthresh=20, linscale=1.0)
                ticks = [t for t in (-500, -100, -50, -20, 0, 20, 100, 500)
                         if abs(t) <= 1.3 * max(ys)]
                e.yaxis.set_major_locator(FixedLocator(ticks))
                e.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+g}" if v else "0"))
                e.set_ylabel("netemu vs paper (%,\nlog past ±20)", fontsize=8)

    def save(self, path, *, legend_cols=1):
        """Finish (coinciding lines, legend, notes) and write ``path``; returns the Figure."""
        from netemu.plot import save_figure

        self._scale_errors()
        self._separate_coinciding()
        if len(self._band_notes) > 4:     # many: one line, not a paragraph
            self._band_notes = [f"Pale bands: {len(self._band_notes)} lines lie under others "
                                f"drawn within {COINCIDE_PX:g} px of them; the CSV holds every "
                                "value."]
        self._notes += self._band_notes
        from matplotlib.ticker import NullFormatter
        for ax in self.main:
            lo, hi = ax.get_ylim()
            if ax.get_yscale() == "log" and lo > 0 and hi / lo > 30:
                ax.yaxis.set_minor_formatter(NullFormatter())    # decades suffice
        handles, labels = [], []
        for ax in self.main + [e for e in self.err if e is not None]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        if handles and len(self.main) == 1:
            self.fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.905, 0.89),
                            fontsize=7.5, frameon=False, ncol=legend_cols)
        elif handles:       # several panels: the legend under them, in columns
            self.fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                            fontsize=7.5, frameon=False, ncol=max(legend_cols, 2))
        self.fig.suptitle(self.title, fontsize=11, y=1 - 0.12 / self.fig.get_figheight())
        if self._notes:
            # Under the legend when the legend is under the panels.
            rows = math.ceil(len(labels) / max(legend_cols, 2)) if len(self.main) > 1 else 0
            self.fig.text(0.1, -(0.1 + 0.19 * rows) / self.fig.get_figheight(),
                          "\n".join(textwrap.fill(t, int(16 * self.fig.get_figwidth()),
                                                   subsequent_indent="  ")
                                     for t in self._notes), fontsize=7.5, va="top", ha="left",
                          color="#333333")
        fig = self.fig
        save_figure(fig, path)
        for saved in _recorders:
            saved.append((str(path), fig))
        return fig


def _short(label):
    """A legend label without its "netemu:" prefix and no-published-points suffix."""
    return label.split(":", 1)[-1].replace(NO_PAPER, "").strip()


def _own(a, b):
    """Points of line ``a`` at x values line ``b`` does not have."""
    return len(set(map(float, a.get_xdata())) - set(map(float, b.get_xdata())))


def _coincide(a, b, to_px, partial=True):
    """Whether lines ``a`` and ``b`` would hide one another: within :data:`COINCIDE_PX` at
    every x they share, or along a stretch (two or more shared points, a third of them)."""
    pa = {float(x): float(y) for x, y in zip(a.get_xdata(), a.get_ydata())}
    pb = {float(x): float(y) for x, y in zip(b.get_xdata(), b.get_ydata())}
    shared = [x for x in sorted(set(pa) & set(pb))
              if math.isfinite(pa[x]) and math.isfinite(pb[x])]
    if not shared:
        return False
    close = 0
    for x in shared:
        (_, ya), (_, yb) = to_px([(x, pa[x]), (x, pb[x])])
        close += abs(ya - yb) <= COINCIDE_PX
    if close == len(shared):
        return len(shared) >= min(2, len(pa), len(pb))
    return partial and close >= 2 and 3 * close >= len(shared)
