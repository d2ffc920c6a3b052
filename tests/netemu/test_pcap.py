"""The pcap record counter that decides when a capture has seen every packet."""

import pytest

scapy = pytest.importorskip("scapy.all")

from netemu.backends.ecmp_probe import ROCE_PORT, bth_packets  # noqa: E402
from netemu.backends.pcap import pcap_records  # noqa: E402


@pytest.mark.parametrize("nano", [False, True])
def test_counts_complete_records_and_ignores_a_cut_last_one(tmp_path, nano):
    pkts = bth_packets("10.0.0.2", 7, 50000)
    f = tmp_path / "probe.pcap"
    scapy.wrpcap(str(f), pkts, nano=nano)
    assert pcap_records(f) == 7
    assert all(p[scapy.UDP].dport == ROCE_PORT for p in scapy.rdpcap(str(f)))
    data = f.read_bytes()
    # tcpdump is still writing: the last record is only partly on disk.
    (tmp_path / "cut.pcap").write_bytes(data[:-5])
    assert pcap_records(tmp_path / "cut.pcap") == 6
    (tmp_path / "head.pcap").write_bytes(data[:30])
    assert pcap_records(tmp_path / "head.pcap") == 0


def test_big_endian_files_and_missing_ones(tmp_path):
    import struct
    f = tmp_path / "be.pcap"
    hdr = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack(">IIII", 1, 2, 3, 3) + b"abc"
    f.write_bytes(hdr + rec * 4)
    assert pcap_records(f) == 4
    assert pcap_records(tmp_path / "not-yet-created.pcap") == 0


class FakeClock:
    """A clock that moves only when the code under test sleeps; events fire at set times.

    settle() is tested on this clock, not the wall clock: its decisions (enough packets,
    timeout, quiet period) are then exact and independent of the machine's load.
    """

    def __init__(self):
        self.now = 0.0
        self.events = []

    def monotonic(self):
        return self.now

    def sleep(self, dt):
        self.now += dt
        for e in [e for e in self.events if e[0] <= self.now]:
            self.events.remove(e)
            e[1]()

    def at(self, t, fn):
        self.events.append((t, fn))


def test_settle_waits_for_the_expected_packets_or_for_the_file_to_stop_growing(tmp_path,
                                                                             monkeypatch):
    from netemu.backends import pcap
    clock = FakeClock()
    monkeypatch.setattr(pcap, "time", clock)
    f = tmp_path / "live.pcap"
    pkts = bth_packets("10.0.0.2", 6, 50000)
    scapy.wrpcap(str(f), pkts[:2])
    # The rest arrives 0.4 s later, as from a shaper's queue: settle(n) returns once all 6
    # are in, well before its timeout.
    clock.at(0.4, lambda: scapy.wrpcap(str(f), pkts))
    pcap.settle([f], 6, timeout=5)
    assert pcap_records(f) == 6
    assert 0.4 <= clock.now < 5
    # Never reaching n: gives up at the timeout (within one polling step), and the caller
    # counts what is there.
    start = clock.now
    pcap.settle([f], 7, timeout=0.5)
    assert 0.5 <= clock.now - start <= 0.5 + 0.1
    assert pcap_records(f) == 6
    # Without n: returns once the file has not grown for QUIET seconds, before the timeout.
    start = clock.now
    pcap.settle([f, tmp_path / "absent.pcap"], timeout=5)
    assert pcap.QUIET <= clock.now - start <= pcap.QUIET + 0.1
    # ... and a file that keeps growing holds it until it stops.
    start = clock.now
    for i in range(1, 4):
        clock.at(start + 0.3 * i, lambda i=i: f.write_bytes(f.read_bytes() + b"x" * i))
    pcap.settle([f], timeout=5)
    assert start + 0.9 + pcap.QUIET <= clock.now <= start + 0.9 + pcap.QUIET + 0.1


# -- tcpdump's own drop count ----------------------------------------------------------------

#: What tcpdump 4.99 / libpcap 1.10 print on stderr from start to stop (a capture that could
#: not keep up: the kernel's ring buffer overflowed).
REPORT = ("tcpdump: listening on h0-eth0, link-type EN10MB (Ethernet), snapshot length "
          "262144 bytes\n"
          "8853 packets captured\n"
          "9953 packets received by filter\n"
          "1100 packets dropped by kernel\n")


def test_parse_stats_reads_every_count():
    from netemu.backends.pcap import parse_stats
    assert parse_stats(REPORT) == {"captured": 8853, "received_by_filter": 9953,
                                   "dropped_by_kernel": 1100, "dropped_by_interface": None}
    # Singular wording, and the interface line libpcap adds where the driver counts drops.
    one = parse_stats("1 packet captured\n1 packet received by filter\n"
                      "0 packets dropped by kernel\n3 packets dropped by interface\n")
    assert one == {"captured": 1, "received_by_filter": 1, "dropped_by_kernel": 0,
                   "dropped_by_interface": 3}
    # Killed before it could report: nothing is known, nothing is made up.
    assert set(parse_stats("tcpdump: listening on h0-eth0\n").values()) == {None}
    assert set(parse_stats("").values()) == {None}


def test_capture_says_how_many_packets_it_dropped():
    from netemu.backends.pcap import Capture, parse_stats
    cap = Capture("/tmp/run.pcap")
    assert cap.dropped is None and cap.stats is None
    cap.stats = parse_stats(REPORT)
    assert cap.dropped == 1100 and cap.captured == 8853
    assert cap.drop_fraction == pytest.approx(1100 / (8853 + 1100))
    line = cap.summary()
    assert "8,853 packets written" in line and "1,100 more DROPPED" in line
    assert f"({100 * 1100 / 9953:.1f}%)" in line and "incomplete" in line
    doc = cap.to_json()
    assert doc["dropped_by_kernel"] == 1100 and doc["dropped"] == 1100
    assert doc["complete"] is False and doc["path"] == "/tmp/run.pcap"
    # Interface drops are lost packets too.
    cap.stats = dict(cap.stats, dropped_by_interface=7)
    assert cap.dropped == 1107
    # A complete capture says so; an unknown one says that it is unknown.
    cap.stats = parse_stats("5 packets captured\n5 packets received by filter\n"
                            "0 packets dropped by kernel\n")
    assert cap.summary() == "/tmp/run.pcap: 5 packets written, none dropped"
    assert cap.to_json()["complete"] is True
    cap.stats = parse_stats("")
    assert cap.dropped is None and cap.to_json()["complete"] is None
    assert "unknown" in cap.summary()


def test_stop_returns_the_counts_tcpdump_prints_as_it_stops():
    """A stand-in for tcpdump that reports like it on SIGINT: stop() hands back its counts."""
    import subprocess
    import sys
    import textwrap

    from netemu.backends.pcap import stop
    code = textwrap.dedent("""
        import signal, sys, time
        def bye(*_):
            sys.stderr.write("12 packets captured\\n14 packets received by filter\\n"
                             "2 packets dropped by kernel\\n")
            sys.exit(0)
        signal.signal(signal.SIGINT, bye)
        sys.stderr.write("tcpdump: listening on x\\n"); sys.stderr.flush()
        time.sleep(30)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    assert p.stderr.readline().startswith(b"tcpdump: listening")
    assert stop(p) == {"captured": 12, "received_by_filter": 14, "dropped_by_kernel": 2,
                       "dropped_by_interface": None}
    assert p.returncode == 0
