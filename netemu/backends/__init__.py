"""Backends: the flow solver and the packet-level emulation behind one contract.

:mod:`netemu.backends.base` is the contract every backend answers --
``Backend.run(G, traffic, routing) -> FlowResults`` -- with the flow solver
(``'flow'``) and Mininet (``'mininet'``) registered in ``BACKENDS``.
:mod:`netemu.backends.mininet` builds a netemu graph in Mininet as a routed
Clos (Linux routers, HTB-shaped links) and runs TCP traffic beside the flow
model's prediction; :mod:`~netemu.backends.clos` holds the Mininet classes
(also used by ``mn --custom netemu/mn_topos.py``);
:mod:`~netemu.backends.traffic_agent` is the per-host traffic generator;
:mod:`~netemu.backends.ecmp_probe` sends RoCEv2 probes and counts them per
uplink; :mod:`~netemu.backends.sandbox` contains every run.

Importing this package needs no Mininet; :func:`unavailable` says why an
emulation cannot run here (``None`` when it can).
"""

import os
import shutil

__all__ = ["unavailable"]


def unavailable():
    """Why the Mininet backend cannot run on this machine, or ``None`` if it can."""
    if os.geteuid() != 0:
        return "needs root (Mininet creates network namespaces)"
    for tool in ("mnexec", "unshare", "tc", "ip", "ethtool", "tcpdump"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} not found (apt-get install mininet iperf3 ethtool iputils-ping tcpdump)"
    try:
        from . import clos  # noqa: F401
    except ImportError as exc:
        return f"Mininet is not importable: {exc}"
    return None
