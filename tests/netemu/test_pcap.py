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


def test_settle_waits_for_the_expected_packets_or_for_the_file_to_stop_growing(tmp_path):
    import threading
    import time

    from netemu.backends import pcap
    f = tmp_path / "live.pcap"
    pkts = bth_packets("10.0.0.2", 6, 50000)
    scapy.wrpcap(str(f), pkts[:2])
    # The rest arrives later, as from a shaper's queue: settle(n) returns once all 6 are in.
    later = threading.Timer(0.4, lambda: scapy.wrpcap(str(f), pkts))
    later.start()
    t = time.monotonic()
    pcap.settle([f], 6, timeout=5)
    assert pcap_records(f) == 6 and 0.3 < time.monotonic() - t < 4
    # Never reaching n: gives up at the timeout, and the caller counts what is there.
    t = time.monotonic()
    pcap.settle([f], 7, timeout=0.5)
    assert 0.45 < time.monotonic() - t < 3
    # Without n: returns once the file has not grown for QUIET seconds.
    t = time.monotonic()
    pcap.settle([f, tmp_path / "absent.pcap"], timeout=5)
    assert pcap.QUIET <= time.monotonic() - t < 3
    later.join()
