"""Mininet building blocks for a routed Clos: Linux routers, HTB-shaped links, hosts.

This module needs only the standard library and Mininet, so that Mininet's own
``mn --custom`` (Debian's ``/usr/bin/python3``, which has no numpy or
networkx) can load it by file path, and :mod:`netemu.backends.mininet` builds
on the very same classes.

Why a routed Clos: on this kind of machine (docs/mininet.md) the
kernel has no Open vSwitch module and Linux bridges in a looped fabric need
STP, which leaves one spanning tree.  Linux routers with multipath routes are
the only switch model that uses a fat-tree's parallel paths, and they need no
controller, no daemon and nothing in the root namespace.

A *spec* (plain dict) says what to build::

    {'routers': [name, ...],
     'hosts': [(name, 'ip/24', gateway ip), ...],
     'links': [(a, b, ip_a or None, ip_b or None, rate bit/s, queue bytes, offload), ...],
     'routes': {router: [(prefix, [next-hop ip, ...]), ...]}}

Host links carry the host's address on the host side and the gateway on the
router side; router-router links are /30s.  A route with several next hops is
an ECMP group that the kernel spreads by hashing the 5-tuple
(``fib_multipath_hash_policy=3``, fields 0x37), one next hop is a static route.
"""

import importlib.machinery
import importlib.util
import sys

__all__ = ["import_mininet", "Router", "EmuHost", "HTBIntf", "HTBLink", "ClosTopo",
           "MULTIPATH_SYSCTLS", "TCP_CC"]

#: Per-namespace sysctls of a router.  Hash policy 3 with fields 0x37 (src/dst IP, protocol,
#: src/dst port) makes a flow's path a pure function of its 5-tuple; policy 1 uses the
#: socket's random hash, and the default fields 0x7 ignore ports (reference §3 item 2).
MULTIPATH_SYSCTLS = ("net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=3 "
                     "net.ipv4.fib_multipath_hash_fields=0x0037 "
                     "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0")
#: Congestion control set in every host namespace.  The root's default here is BBR, which
#: shares FIFOs badly; only reno and bbr are allowed in a child namespace, so reno it is
#: (the traffic agent asks for cubic per socket, which root may do).
TCP_CC = "reno"
#: HTB quantum of one full Ethernet frame: the default (rate / r2q) is "too big" above
#: about 16 Mbit/s and makes the kernel warn on every link.
HTB_QUANTUM = 1514
#: HTB burst, as Mininet's TCLink uses: large enough for line rate up to 1 Gbit/s.  The ceil
#: bucket (cburst) gets the same size: tc's default at 1 Gbit/s, 1,375 bytes, is smaller than
#: one frame, and held a single flow 3-6% below the link's rate.
HTB_BURST = "15k"
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def import_mininet():
    """Import Mininet: a pip-installed copy first, else Debian's package only.

    The pyenv interpreter does not see Debian's dist-packages, so this loads the
    ``mininet`` package alone from there rather than adding the whole directory
    to ``sys.path``.  Raises ImportError naming the install command.
    """
    try:
        import mininet.net  # noqa: F401  (pip: mininet==2.3.0.dev6, or Debian's python)
        return sys.modules["mininet"]
    except ImportError:
        pass
    spec = importlib.machinery.PathFinder.find_spec("mininet", [DEBIAN_DIST_PACKAGES])
    if spec is None:
        raise ImportError("Mininet is not installed: apt-get install mininet, "
                          "and pip install 'mininet==2.3.0.dev6'")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mininet"] = mod
    spec.loader.exec_module(mod)
    import mininet.net  # noqa: F401
    return mod


import_mininet()
import mininet.net as _mnnet  # noqa: E402
from mininet.link import Intf, Link  # noqa: E402
from mininet.node import Host, Node  # noqa: E402
from mininet.topo import Topo  # noqa: E402
from mininet.util import rlimitTestAndSet  # noqa: E402


def _fix_rlimits_only():
    """Mininet's ``fixLimits`` also rewrites global sysctls of the root namespace and never
    restores them; keep only its rlimit part."""
    from resource import RLIMIT_NOFILE, RLIMIT_NPROC
    rlimitTestAndSet(RLIMIT_NPROC, 8192)
    rlimitTestAndSet(RLIMIT_NOFILE, 16384)


_mnnet.fixLimits = _fix_rlimits_only


class EmulationSetupError(RuntimeError):
    """A command that configures the emulated network failed (tc, ip route, sysctl)."""


def _checked(node, cmd):
    out = node.cmd(cmd + "; echo __rc=$?")
    text, _, rc = out.rpartition("__rc=")
    if rc.strip() != "0":
        raise EmulationSetupError(f"{node.name}: {cmd!r} failed: {text.strip()}")
    return text


class EmuHost(Host):
    """A host whose namespace uses a loss-based TCP congestion control."""

    def config(self, **params):
        r = super().config(**params)
        _checked(self, f"sysctl -qw net.ipv4.tcp_congestion_control={TCP_CC}")
        return r


class Router(Node):
    """A Linux router in its own namespace, added as a Mininet *switch*.

    Mininet starts switches after every link exists, so :meth:`start` is where
    the multipath sysctls and the routes (``routes=[(prefix, [via, ...])]``)
    go in.  Forced into its own namespace: Mininet puts switches in the root
    namespace by default, and a forwarding router there would route the host.
    """

    def __init__(self, name, routes=(), **params):
        params["inNamespace"] = True
        params.pop("listenPort", None)
        self.routes = list(routes)
        super().__init__(name, **params)

    def start(self, controllers=None):
        _checked(self, "sysctl -qw " + MULTIPATH_SYSCTLS)
        for prefix, hops in self.routes:
            nh = " ".join(f"nexthop via {via} weight 1" for via in hops)
            _checked(self, f"ip route replace {prefix} {nh}")

    def set_routes(self, routes):
        """Replace the routing table's learned routes (connected routes stay)."""
        wanted = {p for p, _ in routes}
        for prefix, _ in self.routes:
            if prefix not in wanted:
                self.cmd(f"ip route del {prefix}")
        self.routes = list(routes)
        for prefix, hops in self.routes:
            nh = " ".join(f"nexthop via {via} weight 1" for via in hops)
            _checked(self, f"ip route replace {prefix} {nh}")

    def connected(self):
        # Mininet waits for switches to reach their controller; a router has none.
        return True

    def stop(self, deleteIntfs=False):
        if deleteIntfs:
            self.deleteIntfs()

    def defaultIntf(self):
        # Routers have no single "default" interface; Mininet asks for one when printing.
        return super().defaultIntf() if self.intfs else None


class HTBIntf(Intf):
    """A veth end shaped by HTB at ``rate`` bit/s, with a byte FIFO of ``queue`` bytes.

    No netem: this kernel has none, and Mininet's TCLink would print an error
    and carry on without the delay.  Segmentation offload (TSO/GSO) is turned
    off unless ``offload``: per-packet realism at low rates, while above about
    100 Mbit/s the 2 cores need large segments.
    """

    def config(self, rate=None, queue=None, offload=False, **params):
        r = super().config(**params)
        if rate is None:
            return r
        seg = "on" if offload else "off"
        _checked(self, f"ethtool -K {self.name} gro off tso {seg} gso {seg}")
        _checked(self, f"tc qdisc replace dev {self.name} root handle 5: htb default 1")
        _checked(self, f"tc class add dev {self.name} parent 5: classid 5:1 htb rate "
                       f"{int(rate)}bit burst {HTB_BURST} cburst {HTB_BURST} quantum {HTB_QUANTUM}")
        _checked(self, f"tc qdisc add dev {self.name} parent 5:1 handle 10: bfifo "
                       f"limit {int(queue)}")
        self.rate, self.queue, self.offload = rate, queue, offload
        return r


class HTBLink(Link):
    """A link shaped the same way in both directions (see :class:`HTBIntf`)."""

    def __init__(self, node1, node2, rate=None, queue=None, offload=False,
                 params1=None, params2=None, **kw):
        shape = {"rate": rate, "queue": queue, "offload": offload}
        p1 = dict(params1 or {}, **shape)
        p2 = dict(params2 or {}, **shape)
        kw["intf"] = HTBIntf     # Mininet.addLink passes its default Intf otherwise
        super().__init__(node1, node2, params1=p1, params2=p2, **kw)


class ClosTopo(Topo):
    """A Mininet topology from a spec (see the module docstring)."""

    def build(self, spec=None):
        if spec is None:
            raise ValueError("ClosTopo needs a spec")
        self.spec = spec
        routes = spec.get("routes", {})
        for r in spec["routers"]:
            self.addSwitch(r, cls=Router, routes=routes.get(r, ()))
        for name, ip, gw in spec["hosts"]:
            self.addHost(name, cls=EmuHost, ip=ip, defaultRoute=f"via {gw}")
        for a, b, ip_a, ip_b, rate, queue, offload in spec["links"]:
            p1 = {"ip": ip_a} if ip_a else {}
            p2 = {"ip": ip_b} if ip_b else {}
            self.addLink(a, b, cls=HTBLink, rate=rate, queue=queue, offload=offload,
                         params1=p1, params2=p2)
