"""Run a command in a throw-away network, PID and mount namespace.

Everything an emulation creates -- namespaces, veth links, processes -- lives
inside a fresh ``unshare --net --pid --mount --fork --kill-child`` sandbox.
When the sandbox's first process dies, even by SIGKILL, the kernel kills every
process in its PID namespace and the namespaces go with their last user, so
nothing is left in the real root namespace and ``mn -c`` (which kills and
deletes by name, machine-wide) is never needed.
"""

import os
import shutil

__all__ = ["UNSHARE", "sandbox_command", "in_sandbox", "ENV_FLAG"]

#: Set in the sandboxed process's environment.
ENV_FLAG = "NETEMU_SANDBOX"
UNSHARE = ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc",
           "--propagation", "private"]


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
