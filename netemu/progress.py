"""Progress on the terminal for work that can take more than a few seconds.

Two helpers, both on stderr through tqdm and both silent when stderr is not a
terminal (pipes, captured output, tests), so that scripted use sees only the
results:

- :func:`working` — a context manager for a step whose progress cannot be
  counted (building a large graph, one compiled solve): after ``delay`` seconds
  it shows the step's name and the time spent on it, refreshed twice a second
  from a background thread.
- :func:`counter` — a ``progress(done, total)`` callback, as taken by
  :func:`netemu.io.save`, that draws a bar once the work has taken ``delay``
  seconds.
"""

import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["working", "counter"]

#: Seconds before anything is shown: a quick answer stays uncluttered.
DELAY = 1.0


def _enabled(file):
    return hasattr(file, "isatty") and file.isatty()


@contextmanager
def working(desc, delay=DELAY, file=None):
    """Show ``desc`` and the elapsed time on stderr while the ``with`` block runs."""
    file = file or sys.stderr
    if not _enabled(file):
        yield
        return
    from tqdm import tqdm

    done = threading.Event()

    def tick():
        if done.wait(delay):
            return
        with tqdm(desc=desc, total=None, file=file, bar_format="{desc}: {elapsed}",
                  leave=False) as bar:
            while not done.wait(0.5):
                bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def counter(desc, unit="it", delay=DELAY, file=None):
    """A ``progress(done, total)`` callback that draws a bar after ``delay`` seconds, or None
    when stderr is not a terminal.  Call it with ``done == total`` at the end (it closes)."""
    file = file or sys.stderr
    if not _enabled(file):
        return None
    from tqdm import tqdm

    start = time.monotonic()
    state = {"bar": None}

    def progress(done, total):
        bar = state["bar"]
        if bar is None:
            if time.monotonic() - start < delay and done < total:
                return
            bar = state["bar"] = tqdm(desc=desc, total=total, unit=unit, unit_scale=True,
                                      file=file, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress
