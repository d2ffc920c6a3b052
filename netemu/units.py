"""Unit helpers: netemu computes in SI (bytes, bytes/s, seconds) and converts at the edges.

``gbps(400)`` reads as "400 Gb/s" at the call site and returns bytes per second.

Text from users (command-line options, graph parameters, flow files) goes through the two
parsers here, :func:`parse_bandwidth` and :func:`parse_size`, so that every option spells its
units the same way:

* a **bandwidth** is bytes/s when bare (``25e9``); with a unit, a lowercase ``b`` or ``bit``
  counts bits and an uppercase ``B`` or ``byte`` counts bytes: ``400Gb/s`` = ``400Gbps`` =
  ``400 Gbit/s`` = ``50GB/s`` = ``50GBps``.  A prefix alone counts **bits**, as NIC and
  switch port rates are quoted: ``400G`` = 400 Gb/s.  Prefixes k, M, G, T are decimal (1e3
  ...), Ki, Mi, Gi, Ti binary (2**10 ...): ``50GiB/s`` = ``50GiBps`` = 50 x 2**30 B/s.
* a **size** is bytes: ``4096``, ``1e9``, ``1GB`` (1e9), ``64MiB`` (64 x 2**20); a prefix
  alone is binary, as in nccl-tests' ``-b 8M``: ``4G`` = 4 GiB.  A lowercase ``b`` after a
  prefix (``64Mb``) is refused: it reads as bits.

>>> gbps(400)
50000000000.0
>>> GBps(25)
25000000000.0
>>> parse_bandwidth("400G") == parse_bandwidth("400Gb/s") == gbps(400)
True
>>> parse_bandwidth("50GiBps") == 50 * GiB
True
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
    "us", "ns", "parse_size", "parse_bandwidth", "format_bytes",
    "BANDWIDTH_UNITS", "SIZE_UNITS",
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


#: Multipliers of the prefixes, decimal and binary.  ``m`` is mega: no rate or size is
#: quoted in milli-units, while ``mbps`` is a common spelling of Mb/s.
_PREFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
             "ki": KiB, "mi": MiB, "gi": GiB, "ti": TiB}
_NUMBER = re.compile(r"^\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(.*?)\s*$")
_PREFIX = re.compile(r"^([kKmMgGtT]i?)?(.*)$")

#: What :func:`parse_bandwidth` accepts, for its error message and the CLI's help.
BANDWIDTH_UNITS = ("bits per second: b/s, bps, bit/s (400Gb/s, 400Gbps, 400 Gbit/s; a prefix "
                   "alone is bits: 400G); bytes per second: B/s, Bps, byte/s (50GB/s, 50GBps, "
                   "50GiB/s, 50GiBps); prefixes k M G T (decimal), Ki Mi Gi Ti (binary); "
                   "a bare number is bytes/s")
#: What :func:`parse_size` accepts.
SIZE_UNITS = ("B or bytes; KB MB GB TB (decimal: 1GB = 1e9); KiB MiB GiB TiB (binary: "
              "64MiB = 64 x 2**20); K M G T alone are binary (4G = 4GiB); a bare number "
              "(4096, 1e9) is bytes")


def _split(text):
    """``(number, prefix multiplier, prefix text, rest)`` of ``'400 Gb/s'``, or None."""
    m = _NUMBER.match(str(text))
    if not m:
        return None
    number, unit = m.groups()
    p = _PREFIX.match(unit)
    prefix, rest = (p.group(1) or ""), p.group(2).strip()
    return float(number), _PREFIXES[prefix.lower()], prefix, rest


def parse_bandwidth(text, what="bandwidth"):
    """Bytes per second from a rate as people write it: ``400G``, ``400Gb/s``, ``50GiBps`` ...

    A bare number is bytes/s (as the library takes it); a prefix with no unit is bits per
    second, as NIC rates are quoted (``400G`` = 400 Gb/s = 50e9 B/s).  ``b``/``bit`` count
    bits, ``B``/``byte`` bytes; k M G T are powers of 1000, Ki Mi Gi Ti powers of 1024.
    ``what`` names the option in the error (``'--link-bandwidth'``).

    >>> parse_bandwidth("400Gbps"), parse_bandwidth("400 Gbit/s"), parse_bandwidth("50GB/s")
    (50000000000.0, 50000000000.0, 50000000000.0)
    >>> parse_bandwidth("100Mb/s"), parse_bandwidth("1e9")
    (12500000.0, 1000000000.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        parts = _split(text)
        per_byte = _rate_unit(parts[3]) if parts else None
        if per_byte is None:
            unit = f"unknown unit {(parts[2] + parts[3])!r}" if parts else "not a bandwidth"
            raise ParameterError(f"{what} {text!r}: {unit}; accepted: {BANDWIDTH_UNITS}")
        number, scale, prefix, rest = parts
        if not rest and not prefix:
            per_byte = 1            # a bare number: bytes/s
        value = number * scale * per_byte
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{what} {text!r} must be a finite rate > 0")
    return value


def _rate_unit(rest):
    """Bytes per unit of ``rest`` (1/8 for bits, 1 for bytes), or None if it is no rate."""
    if rest in ("", "b/s", "bps") or rest.lower() in ("bit/s", "bits/s"):
        return 1 / 8                # '' with a prefix: '400G' is bits, as ports are quoted
    if rest in ("B/s", "Bps") or rest.lower() in ("byte/s", "bytes/s"):
        return 1
    return None


def parse_size(text, what="size"):
    """Parse a byte count such as ``186MiB``, ``4G`` (binary), ``1.5GB`` (decimal) or ``4096``.

    Single letters K/M/G/T are binary, as in nccl-tests' ``-b 8M``.  The result
    must be a whole, positive number of bytes.  ``what`` names the option in the error.

    >>> parse_size("1GB"), parse_size("64 MiB"), parse_size("1e9"), parse_size("8M")
    (1000000000, 67108864, 1000000000, 8388608)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = text
    else:
        parts = _split(text)
        if parts is None:
            raise ParameterError(f"{what} {text!r} is not a byte count; accepted: {SIZE_UNITS}")
        number, scale, prefix, rest = parts
        if rest == "b" or rest.lower() in ("bit", "bits"):
            p = prefix[:1].upper()
            fix = f"{number:g}{p}B or {number:g}{p}iB" if p else f"{number:g}B"
            raise ParameterError(f"{what} {text!r} reads as bits; a size is in bytes: {fix}")
        if rest.lower() not in ("", "b", "byte", "bytes"):
            raise ParameterError(f"{what} {text!r}: unknown unit {prefix + rest!r}; accepted: "
                                 f"{SIZE_UNITS}")
        if len(prefix) == 1 and not rest:
            scale = _PREFIXES[prefix.lower() + "i"]  # a lone K/M/G/T: binary, as nccl-tests
        value = number * scale
    if not math.isfinite(value) or value <= 0 or value != int(value):
        raise ParameterError(f"{what} {text!r} must be a whole number of bytes > 0")
    return int(value)


def format_bytes(n):
    """Shortest exact binary spelling of a byte count (``128MiB``), else plain bytes."""
    for unit, factor in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{int(n)}B"
