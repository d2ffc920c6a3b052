"""Progress helpers: silent off a terminal, and a bar that reaches its total on one."""

import io

from netemu.progress import counter, working


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_silent_when_not_a_terminal():
    out = io.StringIO()
    with working("building", delay=0.0, file=out):
        pass
    assert counter("writing", file=out) is None
    assert out.getvalue() == ""


def test_working_shows_name_on_a_terminal():
    import time

    out = _Tty()
    with working("building thing", delay=0.0, file=out):
        time.sleep(0.7)
    assert "building thing" in out.getvalue()


def test_counter_draws_up_to_the_total():
    out = _Tty()
    progress = counter("writing", delay=0.0, file=out)
    for done in (10, 50, 100):
        progress(done, 100)
    text = out.getvalue()
    assert "writing" in text and "/100" in text
    assert text.endswith("\r")  # closed: leave=False wipes the line
