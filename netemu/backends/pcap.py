"""tcpdump captures inside emulated nodes, started and stopped without losing packets.

Two things lose packets in a naive capture: packets sent before tcpdump has
opened its socket, and packets libpcap still holds in an undelivered block
(by default it hands packets over in blocks, up to a second late) when
tcpdump is stopped.  :func:`start` waits for tcpdump's "listening on" and
runs it in ``--immediate-mode``; :func:`settle` waits until the file holds
the expected packets (or stops growing) before :func:`stop`.

What neither can help is a capture that cannot keep up: when tcpdump does not
drain the kernel's ring buffer fast enough the kernel drops packets, and
tcpdump only says how many when it stops ("N packets dropped by kernel").
:func:`stop` reads those counts (:func:`parse_stats`) so that the caller can
report them instead of handing over an incomplete file as if it were whole.
"""

import os
import re
import select
import signal
import struct
import subprocess
import time
from pathlib import Path

from ..errors import EmulationError

__all__ = ["start", "stop", "settle", "pcap_records", "parse_stats", "Capture",
           "LISTEN_TIMEOUT", "SETTLE_TIMEOUT"]

#: How long tcpdump may take to open its capture (s); a loaded machine needs seconds.
LISTEN_TIMEOUT = 30.0

#: How long a capture may take to show the packets still in flight when traffic ends (s).
SETTLE_TIMEOUT = 10.0

#: A capture that has not grown for this long (s) is taken as complete (when no count is known).
QUIET = 0.3


def start(node, intf, path, bpf=()):
    """Start tcpdump on ``intf`` of Mininet ``node`` writing ``path``; return once it captures."""
    cmd = ["tcpdump", "-i", intf, "--immediate-mode", "-U", "-Z", "root", "-w", str(path),
           *bpf]
    p = node.popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(p, intf)
    except BaseException:
        stop(p)
        raise
    return p


def stop(p):
    """Stop tcpdump ``p`` (SIGINT: it flushes and closes its file), kill it if it hangs.

    Returns tcpdump's own counts (:func:`parse_stats`) from what it printed as it stopped;
    all None when it printed none (killed, or started without ``stderr=PIPE``).
    """
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    text = b""
    if p.stderr is not None:
        try:
            text = p.stderr.read() or b""
        except (OSError, ValueError):
            pass
    return parse_stats(text.decode(errors="replace"))


#: tcpdump's closing report, one count per line (singular "1 packet ..." too); libpcap
#: prints "dropped by interface" only where the driver counts such drops.
_STATS = {"captured": "captured", "received_by_filter": "received by filter",
          "dropped_by_kernel": "dropped by kernel", "dropped_by_interface": "dropped by interface"}


def parse_stats(text):
    r"""tcpdump's closing counts in ``text`` (its stderr): a dict with ``captured`` (packets
    written), ``received_by_filter``, ``dropped_by_kernel`` and ``dropped_by_interface``,
    each an int, or None where the line is missing.

    >>> s = parse_stats("tcpdump: listening on h0-eth0, link-type EN10MB (Ethernet)\n"
    ...                 "8853 packets captured\n9953 packets received by filter\n"
    ...                 "1100 packets dropped by kernel\n")
    >>> s["captured"], s["received_by_filter"], s["dropped_by_kernel"], s["dropped_by_interface"]
    (8853, 9953, 1100, None)
    """
    out = {}
    for key, words in _STATS.items():
        found = re.findall(rf"^\s*(\d+) packets? {words}\s*$", text, re.M)
        out[key] = int(found[-1]) if found else None
    return out


class Capture:
    """A capture's file and, once it has stopped, tcpdump's own counts.

    Attributes
    ----------
    path : str
    stats : dict or None
        :func:`parse_stats` of tcpdump's report; None while it runs.
    """

    def __init__(self, path):
        self.path = str(path)
        self.stats = None

    @property
    def dropped(self):
        """Packets the capture lost (kernel and interface drops), None if unknown."""
        if self.stats is None or self.stats["dropped_by_kernel"] is None:
            return None
        return self.stats["dropped_by_kernel"] + (self.stats["dropped_by_interface"] or 0)

    @property
    def captured(self):
        return None if self.stats is None else self.stats["captured"]

    @property
    def drop_fraction(self):
        """Dropped over dropped + written, None if unknown or nothing was seen."""
        d, c = self.dropped, self.captured
        if d is None or c is None or d + c == 0:
            return None
        return d / (d + c)

    def to_json(self):
        return {"path": self.path, **(self.stats or dict.fromkeys(_STATS)),
                "dropped": self.dropped, "drop_fraction": self.drop_fraction,
                "complete": None if self.dropped is None else self.dropped == 0}

    def summary(self):
        """One line: what the file holds and what the capture lost."""
        c, d = self.captured, self.dropped
        if c is None or d is None:
            return f"{self.path}: tcpdump reported no counts; whether it dropped packets " \
                   f"is unknown"
        if d == 0:
            return f"{self.path}: {c:,} packets written, none dropped"
        return (f"{self.path}: {c:,} packets written, {d:,} more DROPPED by the kernel "
                f"({100 * self.drop_fraction:.1f}%): the capture could not keep up and the "
                f"file is incomplete; capture at a lower --scale")

    def __repr__(self):
        return f"<Capture {self.summary()}>"


def settle(files, n=None, timeout=SETTLE_TIMEOUT):
    """Wait until the captures ``files`` hold ``n`` packets in all (or, with ``n=None``, stop
    growing for :data:`QUIET` s), at most ``timeout`` s.

    Packets really lost stay missing: the caller reports what was captured.  Without ``n``
    only the files' sizes are watched, so a large capture is not read over and over.
    """
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        got = sum(map(pcap_records, files)) if n is not None else sum(map(_size, files))
        now = time.monotonic()
        if got != last:
            last, since = got, now
        if (n is not None and got >= n) or (n is None and now - since >= QUIET) \
                or now >= deadline:
            return
        time.sleep(0.05)


def _size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def pcap_records(path):
    """Complete packet records in the pcap file ``path`` (one being written may end mid-record)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 24:
        return 0
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    count, pos = 0, 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, pos + 8)[0]
        if pos + 16 + incl > len(data):
            break
        count, pos = count + 1, pos + 16 + incl
    return count


def _wait_listening(p, intf):
    """Block until tcpdump ``p`` says it is capturing: packets sent earlier would be missed."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    seen = b""
    while b"listening on" not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or p.poll() is not None:
            tail = seen.decode(errors="replace")[-300:]
            raise EmulationError(f"tcpdump on {intf} did not start capturing within "
                                 f"{LISTEN_TIMEOUT:.0f} s: {tail!r}")
        ready, _, _ = select.select([p.stderr], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(p.stderr.fileno(), 4096)
            if not chunk and p.poll() is not None:
                continue
            seen += chunk
