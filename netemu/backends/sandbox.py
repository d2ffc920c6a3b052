"""Run a command in a throw-away network, PID and mount namespace that dies with its parent.

Everything an emulation creates -- namespaces, veth links, processes -- lives
inside a fresh ``unshare --net --pid --mount --fork --kill-child`` sandbox.
When the sandbox's first process dies, even by SIGKILL, the kernel kills every
process in its PID namespace and the namespaces go with their last user, so
nothing is left in the real root namespace and ``mn -c`` (which kills and
deletes by name, machine-wide) is never needed.

``--kill-child`` only ties the sandbox to the ``unshare`` process, not to the
program that started it: killing that program alone would leave ``unshare``
and the whole emulation running, re-parented to init.  :func:`start` closes
that gap with the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG,
SIGKILL)``, set in ``unshare`` before it runs): whatever ends the starting
program, SIGKILL included, the kernel kills ``unshare``, which kills the
sandbox's first process, which takes the PID namespace with it.  Every process
of a sandbox made by :func:`start` carries :data:`TOP_MARK` in its
environment, naming the program that started it, so that an orphan (one whose
starter is gone, e.g. made by an older netemu) can be found and killed by
:func:`orphans` without touching anything that is not ours.
"""

import ctypes
import os
import shutil
import signal
import subprocess

__all__ = ["UNSHARE", "sandbox_command", "in_sandbox", "ENV_FLAG", "TOP_MARK", "start",
           "relay", "orphans", "top_mark", "process_start"]

#: Set in the sandboxed process's environment.
ENV_FLAG = "NETEMU_SANDBOX"
#: Environment mark of every process in a sandbox made by :func:`start`: the starting
#: program as ``<pid namespace inode>:<pid>:<start time in clock ticks>`` (the start time
#: tells a live starter from a later process that reuses its pid).
TOP_MARK = "NETEMU_EMULATE_TOP"
UNSHARE = ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc",
           "--propagation", "private"]
#: prctl(2) option: the signal the kernel sends a process when its parent thread exits.
PR_SET_PDEATHSIG = 1


def sandbox_command(argv, private_tmp=False):
    """``argv`` wrapped to run in a new sandbox with its loopback up.

    ``private_tmp`` mounts an empty tmpfs on /tmp inside the sandbox: needed
    around Mininet's ``mn`` tool, whose cleanup after an error deletes
    ``/tmp/*.log`` and ``/tmp/*.out`` (everybody's, on a shared machine).
    netemu's own backend never runs that cleanup, and keeps /tmp shared so
    that files it writes there (captures) outlive the sandbox.
    """
    if shutil.which("unshare") is None:
        from ..errors import EmulationError
        raise EmulationError("unshare not found (util-linux); it is needed to contain the "
                             "emulation")
    # sh stays PID 1 of the sandbox (not exec): the command then gets ordinary signal
    # semantics, and when sh ends the kernel kills whatever else is left inside.
    setup = "ip link set lo up"
    if private_tmp:
        setup += " && mount -t tmpfs tmpfs /tmp"
    return UNSHARE + ["env", f"{ENV_FLAG}=1", "sh", "-c", setup + ' && "$@"', "sh"] + list(argv)


def in_sandbox():
    """True inside a sandbox made by :func:`sandbox_command`."""
    return os.environ.get(ENV_FLAG) == "1"


def _stat(pid):
    """Fields 3 on of ``/proc/PID/stat`` (state, parent, group, ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    return stat[stat.rindex(b")") + 2:].split()


def process_start(pid):
    """Start time of live process ``pid`` (clock ticks since boot); None if it is gone or a
    zombie (dead, not yet reaped)."""
    fields = _stat(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def top_mark(pid=None):
    """The :data:`TOP_MARK` value naming process ``pid`` (default this one)."""
    pid = os.getpid() if pid is None else pid
    ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
    return f"{ns}:{pid}:{process_start(pid)}"


def _die_with_parent(parent, ignore_sigint):
    """A ``preexec_fn``: SIGKILL this child when ``parent`` ends (checked once set, in case
    the parent ended before), and optionally start it with SIGINT ignored."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl      # resolved before the fork

    def preexec():
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return preexec


def start(argv, env=None, *, ignore_sigint=False, **popen_args):
    """Start ``argv`` in a new sandbox that dies with this process; the ``unshare`` Popen.

    The sandbox's processes carry :data:`TOP_MARK` naming this process.  With
    ``ignore_sigint`` they start with SIGINT ignored, so that a terminal's
    Ctrl-C (sent to the whole foreground process group) reaches only this
    process, which decides what to pass on (:func:`relay`); a sandboxed
    program may install its own SIGINT handler once it is ready for one.
    """
    env = dict(os.environ if env is None else env)
    env[TOP_MARK] = top_mark()
    return subprocess.Popen(sandbox_command(argv), env=env,
                            preexec_fn=_die_with_parent(os.getpid(), ignore_sigint),
                            **popen_args)


def _status(pid):
    """``(parent pid, process group, innermost pid, caught-signal mask)`` of ``pid``, or
    None if it is gone."""
    fields = _stat(pid)
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        nspid = int(status.get("NSpid", str(pid)).split()[-1])
        caught = int(status.get("SigCgt", "0"), 16)
    except (OSError, ValueError):
        return None
    if fields is None:
        return None
    return int(fields[1]), int(fields[2]), nspid, caught


def relay(proc, sig):
    """Send ``sig`` to the programs running in sandbox ``proc`` (a :func:`start` Popen).

    The targets are ``proc``'s descendants in its process group -- the ones
    a terminal's Ctrl-C would reach -- that have a handler for ``sig``: not
    ``unshare`` itself (which would die at once and SIGKILL the sandbox, with
    no teardown), nor the PID namespace's init (which the kernel protects), nor
    a program still starting up (its default action would end it mid-import,
    and the shell above it would print "Terminated").  Returns the pids
    signalled; none means nothing in the sandbox is ready to tear down, and
    the caller may as well kill it (``proc.kill()``: the sandbox goes with it).
    """
    try:
        group = os.getpgid(proc.pid)
    except OSError:
        return []
    status = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        st = _status(int(d))
        if st is not None:
            status[int(d)] = st
    children = {}
    for pid, (ppid, *_rest) in status.items():
        children.setdefault(ppid, []).append(pid)
    sent, todo = [], list(children.get(proc.pid, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        _ppid, pg, nspid, caught = status[pid]
        if pg != group or nspid == 1 or not caught >> (sig - 1) & 1:
            continue
        try:
            os.kill(pid, sig)
            sent.append(pid)
        except OSError:
            pass
    return sent


def _environ_mark(pid, key):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    key = key.encode() + b"="
    return next((e[len(key):].decode(errors="replace") for e in env if e.startswith(key)), None)


def _top_alive(mark, own_ns):
    """True when the starter named by ``mark`` lives, None when this process cannot tell
    (it sees another PID namespace), False when it is gone."""
    try:
        ns, pid, started = (int(x) for x in mark.split(":"))
    except ValueError:
        return None
    if ns != own_ns:
        return None
    return process_start(pid) == started


def orphans():
    """``{mark: [pid, ...]}`` of every sandbox made by :func:`start` whose starter is gone.

    Processes are ours only if their environment carries :data:`TOP_MARK`;
    a mark this process cannot judge (its starter's PID namespace is not
    ours) is left alone, and so are this process and its ancestors.  Each
    list starts with the sandbox's root (the marked process whose parent is
    not marked), whose death takes the whole sandbox with it.
    """
    own_ns = os.stat("/proc/self/ns/pid").st_ino
    ancestors, pid = set(), os.getpid()
    while pid > 1:
        ancestors.add(pid)
        st = _status(pid)
        pid = st[0] if st else 0
    marked = {}
    for d in filter(str.isdigit, os.listdir("/proc")):
        mark = _environ_mark(int(d), TOP_MARK)
        if mark is not None and int(d) not in ancestors:
            marked[int(d)] = mark
    verdict = {m: _top_alive(m, own_ns) for m in set(marked.values())}
    found = {}
    for pid, mark in sorted(marked.items()):
        if verdict[mark] is False:
            found.setdefault(mark, []).append(pid)
    for mark, pids in found.items():
        roots = [p for p in pids if (_status(p) or (0,))[0] not in pids]
        found[mark] = roots + [p for p in pids if p not in roots]
    return found
