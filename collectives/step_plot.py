"""A timeline of one training step: per pipeline stage, its GPUs' compute and its collectives."""

__all__ = ["plot_timeline", "COLOURS"]

#: One colour per kind of task, the same in every plot.
COLOURS = {"compute": "tab:blue", "dp": "tab:red", "ep": "tab:orange", "tp": "tab:purple",
           "pp": "tab:green", "dispatch": "tab:olive", "combine": "tab:brown"}


def plot_timeline(results, path):
    """Draw the step of every job in ``results`` (:func:`~netemu.collectives.step.run_step`'s
    list) to ``path``: one row per stage and kind of stream, time on the x axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from netemu.plot import save_figure

    rows = []
    for r in results:
        tl = r.timeline
        streams = {}
        for i in r.task_ids:
            t = tl.tasks[i]
            streams.setdefault(t.stream, []).append(i)
        for stream in sorted(streams, key=lambda s: (s.split("/")[1], s)):
            rows.append((stream, tl, streams[stream]))
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    for y, (stream, tl, ids) in enumerate(rows):
        bars = {}
        for i in ids:
            t = tl.tasks[i]
            kind = t.tag if t.phases else "compute"
            if tl.end[i] > tl.start[i]:
                bars.setdefault(kind, []).append((tl.start[i], tl.end[i] - tl.start[i]))
        for kind, spans in bars.items():
            ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=COLOURS.get(kind, "tab:gray"))
    ax.set_yticks(range(len(rows)), [s for s, _, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time in the step (s)")
    # A decode result says its own headline (TPOT, tokens/s); a training step its MFU.
    ax.set_title("; ".join(r.summary() if hasattr(r, "summary") else
                           f"{r.job}: step {r.step_time:.3g} s, MFU {100 * r.mfu:.1f}%"
                           for r in results))
    ax.legend(handles=[Patch(color=c, label=k) for k, c in COLOURS.items()], ncol=5,
              loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    save_figure(fig, path)
    return path
