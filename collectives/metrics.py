"""nccl-tests' bandwidth words: ``algbw = S / t`` and ``busbw = algbw * factor``.

GB means 1e9 bytes, as nccl-tests prints it.  ``S`` is what nccl-tests calls the
size: the per-rank buffer for allreduce, broadcast and reduce; the whole per-rank
send buffer for all-to-all; the whole array (per-rank count x ranks) for
all-gather and reduce-scatter.  The factor makes ``busbw`` comparable with a
link's peak whatever the rank count (nccl-tests ``doc/PERFORMANCE.md``).
"""

from netemu.errors import ParameterError

__all__ = ["COLLECTIVES", "bus_factor", "algbw", "busbw"]

#: Collective name -> busbw factor as a function of the rank count n.
_FACTORS = {
    "allreduce": lambda n: 2 * (n - 1) / n,
    "reducescatter": lambda n: (n - 1) / n,
    "allgather": lambda n: (n - 1) / n,
    "alltoall": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
}
COLLECTIVES = tuple(_FACTORS)


def bus_factor(collective, n):
    """The nccl-tests busbw factor of ``collective`` on ``n`` ranks.

    Examples
    --------
    >>> bus_factor("allreduce", 8), bus_factor("alltoall", 4), bus_factor("broadcast", 16)
    (1.75, 0.75, 1.0)
    """
    if collective not in _FACTORS:
        raise ParameterError(f"unknown collective {collective!r}; allowed: {', '.join(COLLECTIVES)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"rank count must be an integer >= 1, got {n!r}")
    return float(_FACTORS[collective](n))


def algbw(size, seconds):
    """``S / t`` in bytes/s."""
    return size / seconds


def busbw(collective, n, size, seconds):
    """``algbw * bus_factor`` in bytes/s."""
    return algbw(size, seconds) * bus_factor(collective, n)
