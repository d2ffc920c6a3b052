"""The sandbox's bookkeeping, without root: marks, orphans, and whom an interrupt is passed to.

These use ordinary child processes (``sleep``, small Pythons) in place of a
sandbox: finding orphans and relaying a signal read only ``/proc`` and send
signals, which needs no privilege for one's own processes.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from netemu.backends import sandbox
from netemu.backends.sandbox import TOP_MARK, orphans, process_start, relay, top_mark


@pytest.fixture
def children():
    """Processes a test starts; every one is killed and reaped afterwards."""
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def _reaped(p):
    p.kill()
    p.wait(timeout=10)
    return p


def test_a_mark_names_a_live_process_until_it_is_gone(children):
    p = subprocess.Popen(["sleep", "30"])
    children.append(p)
    ns, pid, start = top_mark(p.pid).split(":")
    assert int(ns) == os.stat("/proc/self/ns/pid").st_ino and int(pid) == p.pid
    # Started after this test process: its start time (clock ticks since boot) is not earlier.
    assert int(start) == process_start(p.pid) >= process_start(os.getpid())
    p.kill()
    # Dead but not yet reaped (a zombie) counts as gone, and so does a reaped one.
    deadline = time.monotonic() + 10
    while process_start(p.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process_start(p.pid) is None
    p.wait(timeout=10)
    assert process_start(p.pid) is None


def test_orphans_are_the_marked_processes_whose_starter_is_gone(children):
    dead = _reaped(subprocess.Popen(["sleep", "30"]))
    gone = top_mark(os.getpid()).split(":")
    gone[1:] = [str(dead.pid), "1"]              # a pid whose start time cannot match
    gone = ":".join(gone)
    alive = top_mark()                           # this test process: alive
    elsewhere = "1:1:1"                          # a starter in a PID namespace not ours
    for mark in (gone, gone, alive, elsewhere):
        children.append(subprocess.Popen(["sleep", "30"], env=dict(os.environ,
                                                                    **{TOP_MARK: mark})))
    plain = subprocess.Popen(["sleep", "30"], env={k: v for k, v in os.environ.items()
                                                   if k != TOP_MARK})
    children.append(plain)
    found = orphans()
    assert sorted(found.get(gone, [])) == sorted(p.pid for p in children[:2])
    assert alive not in found and elsewhere not in found
    assert all(plain.pid not in pids for pids in found.values())


def test_an_orphaned_tree_lists_its_root_first(children):
    mark = ":".join(top_mark().split(":")[:2] + ["1"])   # this pid, wrong start time: gone
    root = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"],
                            env=dict(os.environ, **{TOP_MARK: mark}))
    children.append(root)
    deadline = time.monotonic() + 10
    while len(orphans().get(mark, [])) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = orphans()[mark]
    assert pids[0] == root.pid and len(pids) == 3


#: A child that catches SIGTERM (as the sandboxed run does once it is ready) and reports it.
CATCHER = textwrap.dedent("""
    import signal, sys, time
    def term(*_):
        print("caught", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    print("ready", flush=True)
    time.sleep(30)
""")


def test_relay_signals_only_descendants_that_catch_the_signal(children, tmp_path):
    """As in a sandbox: the wrapper (here sh) is never signalled; a child still without a
    handler (here sleep, in place of a run still importing) is left alone; one with a
    handler gets the signal; a child in another process group (a Mininet node shell) too is
    left alone."""
    out = tmp_path / "catcher.out"
    script = (f"{sys.executable} -c '{CATCHER}' > {out} & "
              f"sleep 30 & "
              f"{sys.executable} -c 'import os, time; os.setpgid(0, 0); time.sleep(30)' & "
              f"wait")
    top = subprocess.Popen(["sh", "-c", script])
    children.append(top)
    deadline = time.monotonic() + 60
    while (not out.exists() or "ready" not in out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = relay(top, signal.SIGTERM)
    assert len(sent) == 1
    deadline = time.monotonic() + 30
    while "caught" not in out.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "caught" in out.read_text()
    assert top.poll() is None                    # sh and the others live on
    # Nothing left that catches it: relay says so, and the caller kills the sandbox.
    assert relay(top, signal.SIGTERM) == []


def test_start_arms_the_parent_death_signal(tmp_path):
    """A starter killed with SIGKILL takes the ``unshare`` it started with it (checked without
    unshare: the same pre-exec step on a plain child)."""
    code = textwrap.dedent(f"""
        import os, subprocess, sys, time
        from netemu.backends.sandbox import _die_with_parent
        p = subprocess.Popen(["sleep", "30"], preexec_fn=_die_with_parent(os.getpid(), False))
        print(p.pid, flush=True)
        time.sleep(30)
    """)
    starter = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               text=True)
    try:
        child = int(starter.stdout.readline())
        assert process_start(child) is not None
        starter.kill()
        starter.wait(timeout=10)
        deadline = time.monotonic() + 10
        while process_start(child) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process_start(child) is None
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()


def test_start_marks_the_sandbox_with_its_starter(monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, argv, env=None, preexec_fn=None, **kw):
            seen.update(argv=argv, env=env, preexec=preexec_fn)
    monkeypatch.setattr(sandbox.subprocess, "Popen", FakePopen)
    sandbox.start(["true"], {"A": "1"})
    assert seen["env"] == {"A": "1", TOP_MARK: top_mark()}
    assert seen["argv"][:len(sandbox.UNSHARE)] == sandbox.UNSHARE and seen["argv"][-1] == "true"
    assert callable(seen["preexec"])


#: Interrupt the process three times: SIGINT, then SIGTERM and SIGINT while "tearing down".
ONE_SHOT = textwrap.dedent("""
    import os, signal, time
    from netemu.backends.mininet import install_interrupt_handlers
    install_interrupt_handlers()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted once", flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        print("teardown finished", flush=True)
""")


def test_a_run_is_interrupted_once_and_its_teardown_is_not():
    """The first of SIGINT/SIGTERM/SIGHUP interrupts the run; later ones (a terminal's Ctrl-C
    and the starter's relayed SIGTERM both arriving) are absorbed quietly."""
    p = subprocess.run([sys.executable, "-c", ONE_SHOT], capture_output=True, text=True,
                       timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "interrupted once\nteardown finished\n",
                                                  "")


def test_sigterm_first_exits_with_its_number():
    code = textwrap.dedent("""
        import os, signal, time
        from netemu.backends.mininet import install_interrupt_handlers
        install_interrupt_handlers()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert (p.returncode, p.stderr) == (128 + signal.SIGTERM, "")
