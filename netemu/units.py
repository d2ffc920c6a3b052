"""Unit helpers: netemu computes in SI (bytes, bytes/s, seconds) and converts at the edges.

``gbps(400)`` reads as "400 Gb/s" at the call site and returns bytes per second.

>>> gbps(400)
50000000000.0
>>> GBps(25)
25000000000.0
>>> parse_size("186MiB")
195035136
>>> format_bytes(128 * MiB)
'128MiB'
"""

import math
import re

from .errors import ParameterError

__all__ = [
    "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "TB",
    "gbps", "mbps", "GBps", "GiBps", "to_gbps", "to_GBps",
    "us", "ns", "parse_size", "format_bytes",
]

KB, MB, GB, TB = 10**3, 10**6, 10**9, 10**12
KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40
us = 1e-6
ns = 1e-9


def gbps(x):
    """Gigabits per second (1e9 bit/s) to bytes per second."""
    return x * 1e9 / 8


def mbps(x):
    """Megabits per second (1e6 bit/s) to bytes per second."""
    return x * 1e6 / 8


def GBps(x):
    """Gigabytes per second (1e9 B/s, as nccl-tests prints) to bytes per second."""
    return x * 1e9


def GiBps(x):
    """Gibibytes per second (2**30 B/s) to bytes per second."""
    return x * GiB


def to_gbps(bytes_per_s):
    """Bytes per second to gigabits per second."""
    return bytes_per_s * 8 / 1e9


def to_GBps(bytes_per_s):
    """Bytes per second to gigabytes per second (1e9 B/s)."""
    return bytes_per_s / 1e9


_SIZE_UNITS = {
    "": 1, "B": 1,
    "K": KiB, "KB": KB, "KIB": KiB,
    "M": MiB, "MB": MB, "MIB": MiB,
    "G": GiB, "GB": GB, "GIB": GiB,
    "T": TiB, "TB": TB, "TIB": TiB,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text):
    """Parse a byte count such as ``186MiB``, ``4G`` (binary), ``1.5GB`` (decimal) or ``4096``.

    Single letters K/M/G/T are binary, as in nccl-tests' ``-b 8M``.  The result
    must be a whole, positive number of bytes.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = text
    else:
        m = _SIZE_RE.match(str(text))
        unit = m.group(2).upper() if m else None
        if not m or unit not in _SIZE_UNITS:
            raise ParameterError(
                f"size {text!r} is not a byte count; expected a number with an optional unit "
                f"B, K/KiB, M/MiB, G/GiB, T/TiB (binary) or KB, MB, GB, TB (decimal)")
        value = float(m.group(1)) * _SIZE_UNITS[unit]
    if not math.isfinite(value) or value <= 0 or value != int(value):
        raise ParameterError(f"size {text!r} must be a whole number of bytes > 0")
    return int(value)


def format_bytes(n):
    """Shortest exact binary spelling of a byte count (``128MiB``), else plain bytes."""
    for unit, factor in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{int(n)}B"
