"""``netemu emulate`` killed or interrupted from outside, as root: nothing survives it.

Each test starts the command as a user would (``python3 -m netemu emulate
...``, in its own session so that a Ctrl-C can be sent to its process group
as a terminal would), signals it, and checks that no process of its sandbox
remains, besides the ``nothing_left`` check of namespaces, links and Mininet
processes in the real root namespace.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from netemu.backends.sandbox import TOP_MARK, process_start, sandbox_command, top_mark

from .mininet_support import ROOT, needs_mininet, nothing_left, run_scenario, \
    scale_for  # noqa: F401

pytestmark = [*needs_mininet, pytest.mark.usefixtures("nothing_left")]

SMALL = ["two-layer-fat-tree", "--leaves", "2", "--spines", "2", "--hosts-per-leaf", "2",
         "--scale", scale_for(20)]
#: 16 hosts and 6 routers: a build long enough to be interrupted half-way.
LEAF_SPINE = ["two-layer-fat-tree", "--leaves", "4", "--spines", "2", "--hosts-per-leaf", "4",
              "--scale", scale_for(20)]
#: How long the kernel may take to end a sandbox once its starter is killed (s): it is
#: immediate; the bound only keeps a failing test from hanging.
GONE_WITHIN = 10
#: How long a teardown may take on this shared 2-core machine (s).
TEARDOWN_WITHIN = 60


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), NETEMU_MININET_LOG="warning")


def start(*argv, stdin=False):
    """``python3 -m netemu emulate ARGV`` in a session of its own; the Popen."""
    return subprocess.Popen([sys.executable, "-m", "netemu", "emulate", *map(str, argv)],
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=str(ROOT), start_new_session=True)


def _environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def sandbox_procs(mark):
    """Live processes (not zombies) whose :data:`TOP_MARK` is ``mark``: ``{pid: cmdline}``."""
    key = f"{TOP_MARK}={mark}".encode()
    return {int(d): _cmdline(int(d)) for d in filter(str.isdigit, os.listdir("/proc"))
            if key in _environ(int(d)) and process_start(int(d)) is not None}


def mark_of(top, timeout=120):
    """The mark of the sandbox ``top`` started (read from its ``unshare`` child)."""
    prefix = f"{TOP_MARK}=".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d in filter(str.isdigit, os.listdir("/proc")):
            for e in _environ(int(d)):
                if e.startswith(prefix) and f":{top.pid}:".encode() in e:
                    return e[len(prefix):].decode()
        assert top.poll() is None, top.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no sandbox of {top.pid} within {timeout} s")


def wait_for(mark, word, count=1, timeout=180):
    """Wait until ``count`` processes of sandbox ``mark`` have ``word`` in their command."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(word in c for c in sandbox_procs(mark).values()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {word!r} in sandbox {mark} after {timeout} s")


def assert_gone(mark, within):
    deadline = time.monotonic() + within
    while sandbox_procs(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_procs(mark) == {}


def _finish(p, timeout):
    try:
        return p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


@pytest.mark.parametrize("argv, running, count", [
    (["--duration", "30"], "traffic_agent.py", 4),   # traffic flowing: an agent per host
    (["--cli"], "mininet:", 8),                      # a lab session waiting on its stdin
], ids=["traffic", "cli"])
def test_kill_9_of_the_command_ends_its_sandbox(argv, running, count):
    top = start(*SMALL, *argv, stdin=True)
    mark = mark_of(top)
    wait_for(mark, running, count)
    assert len(sandbox_procs(mark)) >= count + 3     # and unshare, sh, the run itself
    top.kill()
    _finish(top, 10)
    assert_gone(mark, GONE_WITHIN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_sigterm_to_the_command_tears_the_emulation_down(sig):
    top = start(*SMALL, "--duration", "30")
    mark = mark_of(top)
    wait_for(mark, "traffic_agent.py")
    top.send_signal(sig)
    out, err = _finish(top, TEARDOWN_WITHIN)
    assert top.returncode == 128 + sig
    assert err == f"netemu: terminated by {signal.Signals(sig).name}\n" and out == ""
    assert_gone(mark, GONE_WITHIN)


@pytest.mark.parametrize("to", ["group", "command"])
def test_ctrl_c_during_the_build_is_one_line_and_leaves_nothing(to):
    """A Ctrl-C (SIGINT to the whole process group, as a terminal sends it; or to the
    command alone) while Mininet is still creating nodes: exit 130, one line, no Mininet
    teardown traceback."""
    top = start(*LEAF_SPINE, "--duration", "3")
    mark = mark_of(top)
    wait_for(mark, "mininet:", count=3)          # 3 of the 22 nodes exist
    if to == "group":
        os.killpg(top.pid, signal.SIGINT)
    else:
        top.send_signal(signal.SIGINT)
    out, err = _finish(top, TEARDOWN_WITHIN)
    assert (top.returncode, err, out) == (130, "netemu: interrupted\n", "")
    assert_gone(mark, GONE_WITHIN)


def test_clean_kills_an_orphaned_sandbox_and_spares_a_live_run():
    """An orphan -- a sandboxed run whose starter is gone, made here by marking a sandbox
    with a dead process -- is found and killed by --clean; a live run's is not touched."""
    live = start(*SMALL, "--cli", stdin=True)
    orphan = None
    try:
        dead = subprocess.Popen(["sleep", "30"])
        gone = top_mark(dead.pid)
        dead.kill()
        dead.wait()
        orphan = subprocess.Popen(
            sandbox_command([sys.executable, "-m", "netemu", "emulate", *map(str, SMALL),
                             "--cli"]),
            env=dict(_env(), **{TOP_MARK: gone}), stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        live_mark = mark_of(live)
        wait_for(live_mark, "mininet:", count=8)     # 4 hosts, 4 routers: built
        wait_for(gone, "mininet:", count=8)
        before = set(sandbox_procs(live_mark))
        orphaned = set(sandbox_procs(gone))
        p = subprocess.run([sys.executable, "-m", "netemu", "emulate", "--clean"],
                           capture_output=True, text=True, env=_env(), cwd=str(ROOT),
                           timeout=60)
        assert p.returncode == 0, p.stderr
        killed = set(map(int, p.stdout.split(":", 2)[2].split("(")[0].split()))
        assert "(1 orphaned sandbox(es))" in p.stdout
        assert orphan.pid in killed and killed <= orphaned, (p.stdout, orphaned)
        assert orphan.wait(timeout=GONE_WITHIN) is not None
        assert_gone(gone, GONE_WITHIN)
        # The live run is untouched: --clean killed none of its processes (its own short-lived
        # helpers may come and go meanwhile), and it still answers and exits cleanly below.
        assert not (killed & before), (killed & before)
        out, err = live.communicate("exit\n", timeout=TEARDOWN_WITHIN)
        assert live.returncode == 0, err[-2000:]
        assert_gone(live_mark, GONE_WITHIN)
    finally:
        for q in (live, orphan):
            if q is not None and q.poll() is None:
                q.kill()
                q.wait()


def test_teardown_of_node_shells_left_waiting_mid_command():
    """What an interrupted build leaves: node shells whose command's output was never read
    (Mininet's ``net.stop()`` then fails an assertion).  The teardown reads a finished one
    back, interrupts a running one, and stops the network without an error."""
    (r,) = run_scenario("""
        from netemu.backends.mininet import Emulation
        G = two_layer_fat_tree(leaves=2, spines=2, hosts_per_leaf=2)
        em = Emulation(G, 5e-5).start()
        quick, slow = em.node("n0"), em.node("leaf0")
        quick.sendCmd("echo done")            # finished, its output unread
        slow.sendCmd("sleep 60")              # still running
        assert quick.waiting and slow.waiting
        t = time.monotonic()
        em.stop()
        emit({"stopped": em.net is None, "waiting": [quick.waiting, slow.waiting],
              "seconds": time.monotonic() - t})
    """)
    assert r["stopped"] and r["waiting"] == [False, False]
    # Interrupted, not waited for: the 60-s command did not hold the teardown.
    assert r["seconds"] < 30, r
