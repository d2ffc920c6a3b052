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
