"""tcpdump captures inside emulated nodes, started and stopped without losing packets.

Two things lose packets in a naive capture: packets sent before tcpdump has
opened its socket, and packets libpcap still holds in an undelivered block
(by default it hands packets over in blocks, up to a second late) when
tcpdump is stopped.  :func:`start` waits for tcpdump's "listening on" and
runs it in ``--immediate-mode``; :func:`settle` waits until the file holds
the expected packets (or stops growing) before :func:`stop`.
"""

import os
import select
import signal
import struct
import subprocess
import time
from pathlib import Path

from ..errors import EmulationError

__all__ = ["start", "stop", "settle", "pcap_records", "LISTEN_TIMEOUT", "SETTLE_TIMEOUT"]

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
    """Stop tcpdump ``p`` (SIGINT: it flushes and closes its file), kill it if it hangs."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


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
