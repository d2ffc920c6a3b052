"""Traffic agent: one process per emulated host, sending and receiving bulk TCP flows.

Standard library only; run inside a Mininet host as
``python3 traffic_agent.py SPEC_JSON`` and prints one JSON line on stdout.
One process per host (not one iperf3 pair per flow) keeps an all-to-all of 16
hosts at 16 processes instead of 480 on a 2-core machine.

SPEC fields
    ``listen``: ``[ip, port]`` to accept flows on, or null.
    ``flows``: ``[[flow id, dst ip, dst port, src port], ...]`` to send.
    ``t0``: CLOCK_MONOTONIC time (shared by all namespaces of one kernel) when
    senders connect; ``warmup`` and ``duration`` (s): the measured window is
    ``[t0 + warmup, t0 + warmup + duration]``.
    ``cc``: TCP congestion control per socket (cubic: loss-based; root may
    choose it per socket although a child namespace may not make it the
    default).

Output: ``{"received": {"SRCIP:SPORT": bytes in the window}, "sent": {id:
bytes}, "errors": [...]}``.  Goodput is counted where it arrives, so only
bytes the receiver's application got count.
"""

import json
import selectors
import socket
import sys
import time

CHUNK = 1 << 18
#: Seconds senders keep trying to connect (listeners start at about the same time).
CONNECT_GRACE = 5.0
#: Seconds after the window during which receivers wait for senders to close.
LINGER = 1.0


def _now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def run(spec):
    t0, warm, dur = spec["t0"], spec["warmup"], spec["duration"]
    w0, w1 = t0 + warm, t0 + warm + dur
    cc = spec.get("cc")
    sel = selectors.DefaultSelector()
    received, sent, errors = {}, {}, []
    payload = memoryview(b"\0" * CHUNK)
    buf = bytearray(CHUNK)
    if spec.get("listen"):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(tuple(spec["listen"]))
        ls.listen(1024)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, ("listen", None))
    pending = [list(f) for f in spec.get("flows", [])]
    senders = 0
    while _now() < t0:
        time.sleep(min(0.01, max(0.0, t0 - _now())))
    retry_at = {}
    while True:
        now = _now()
        if now > w1 + LINGER:
            break
        if now < w1 and pending:
            still = []
            for f in pending:
                fid, dip, dport, sport = f
                if retry_at.get(fid, 0) > now:
                    still.append(f)
                    continue
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if cc:
                    try:
                        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
                    except OSError as exc:
                        errors.append(f"flow {fid}: congestion control {cc}: {exc}")
                s.bind(("0.0.0.0", sport))
                s.settimeout(2.0)
                try:
                    s.connect((dip, dport))
                except OSError as exc:
                    s.close()
                    if now - t0 > CONNECT_GRACE:
                        errors.append(f"flow {fid}: connect {dip}:{dport} from port {sport}: {exc}")
                    else:
                        retry_at[fid] = now + 0.1
                        still.append(f)
                    continue
                s.setblocking(False)
                sent[fid] = 0
                sel.register(s, selectors.EVENT_WRITE, ("send", fid))
                senders += 1
            pending = still
        if now >= w1 and senders:
            for key in list(sel.get_map().values()):
                if key.data[0] == "send":
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
            senders = 0
        if not sel.get_map() and not pending:
            if now >= w1:
                break
            time.sleep(0.05)
            continue
        for key, _ in sel.select(timeout=0.05):
            kind, ident = key.data
            if kind == "listen":
                try:
                    c, addr = key.fileobj.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                name = f"{addr[0]}:{addr[1]}"
                received.setdefault(name, 0)
                sel.register(c, selectors.EVENT_READ, ("recv", name))
            elif kind == "recv":
                try:
                    n = key.fileobj.recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    n = 0
                if n == 0:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    continue
                t = _now()
                if w0 <= t <= w1:
                    received[ident] += n
            else:
                try:
                    sent[ident] += key.fileobj.send(payload)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as exc:
                    errors.append(f"flow {ident}: send: {exc}")
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    senders -= 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return {"received": received, "sent": {str(k): v for k, v in sent.items()},
            "errors": errors + [f"flow {f[0]}: never connected" for f in pending]}


def main(argv):
    spec = json.loads(argv[1])
    out = run(spec)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
