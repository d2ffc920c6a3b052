"""Mininet's own ``mn`` with ``--custom netemu/mn_topos.py`` (needs root and Mininet).

Runs both ``mn`` scripts a machine may have: the one of the project's Python
(PyPI ``mininet``) and Debian's ``/usr/bin/mn``, which runs ``/usr/bin/python3``
without numpy or networkx -- mn_topos.py must import there too.  Every run is
inside a sandbox with a private /tmp: ``mn``'s cleanup after an error deletes
``/tmp/*.log`` machine-wide, and ``mn -c`` is never run outside a sandbox.
"""

import os
import subprocess
import sys

import pytest

from netemu.backends.sandbox import sandbox_command

from .mininet_support import ROOT, needs_mininet, nothing_left  # noqa: F401 (fixture)

pytestmark = [*needs_mininet, pytest.mark.usefixtures("nothing_left")]

CUSTOM = str(ROOT / "netemu" / "mn_topos.py")


def _mn_scripts():
    found = {}
    ours = os.path.join(os.path.dirname(sys.executable), "mn")
    if os.access(ours, os.X_OK):
        found["project python"] = ours
    if os.access("/usr/bin/mn", os.X_OK):
        found["debian python"] = "/usr/bin/mn"
    return found


MN = _mn_scripts()


def mn(script, *args, stdin=None, timeout=120):
    # Not from ROOT: mn must find the file by its path alone, as a user's ``sudo mn`` does.
    p = subprocess.run(sandbox_command([script, "--custom", CUSTOM, *args], private_tmp=True),
                       input=stdin, capture_output=True, text=True, timeout=timeout, cwd="/")
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("which", sorted(MN) or [pytest.param(
    None, marks=pytest.mark.skip(reason="no mn script found"))])
@pytest.mark.parametrize("topo, pings", [("leafspine,4,2,4", 16 * 15), ("fattree,4", 16 * 15)])
def test_mn_custom_pingall(which, topo, pings):
    code, out = mn(MN[which], "--topo", topo, "--test", "pingall")
    assert code == 0, out[-3000:]
    assert f"*** Results: 0% dropped ({pings}/{pings} received)" in out, out[-3000:]


@pytest.mark.skipif("debian python" not in MN, reason="no /usr/bin/mn")
def test_fattree_routers_have_ecmp_routes():
    """The switches are routers with one multipath route per host: an edge router of pod 1
    reaches a host of pod 4 through both of its aggregation routers."""
    code, out = mn(MN["debian python"], "--topo", "fattree,4,10",
                   stdin="p1e1 ip route show 10.1.15.0/24\np1e1 sysctl "
                         "net.ipv4.fib_multipath_hash_policy\nexit\n")
    assert code == 0, out[-3000:]
    hops = [ln.split()[2] for ln in out.splitlines() if ln.strip().startswith("nexthop via")]
    assert len(hops) == 2 and len(set(hops)) == 2, out[-3000:]
    assert "net.ipv4.fib_multipath_hash_policy = 3" in out
