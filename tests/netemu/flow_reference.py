"""Slow, obviously-correct reference for the flow solver, in exact rational arithmetic.

Textbook weighted progressive filling written from the definition, with
:class:`fractions.Fraction` so that ties are exact and nothing depends on a
tolerance.  It shares no code with :mod:`netemu.flow`: flows are plain lists of
``{resource: share}`` dicts, every flow is its own object (counted rows must be
expanded by the caller), and every step rescans everything.
"""

from fractions import Fraction
import math


def max_min(capacities, flows, demands=None, weights=None):
    """Weighted max-min rates (Fractions) of ``flows``; ``demands`` entries None/inf = no cap."""
    n = len(flows)
    cap = [Fraction(c) for c in capacities]
    w = [Fraction(x) for x in weights] if weights is not None else [Fraction(1)] * n
    dem = [None] * n
    if demands is not None:
        dem = [None if d is None or d == math.inf else Fraction(d) for d in demands]
    shares = [{i: Fraction(s) for i, s in f.items()} for f in flows]
    used = [Fraction(0)] * len(cap)
    rate = [None] * n
    active = set(range(n))
    while active:
        weight_on = [Fraction(0)] * len(cap)
        for f in active:
            for i, s in shares[f].items():
                weight_on[i] += w[f] * s
        levels = {i: (cap[i] - used[i]) / weight_on[i] for i in range(len(cap)) if weight_on[i] > 0}
        events = list(levels.values()) + [dem[f] / w[f] for f in active if dem[f] is not None]
        if not events:
            raise ValueError(f"flows {sorted(active)} are unbounded")
        level = min(events)
        saturated = {i for i, lv in levels.items() if lv == level}
        done = {f for f in active
                if saturated.intersection(shares[f]) or (dem[f] is not None and dem[f] / w[f] == level)}
        for f in done:
            rate[f] = w[f] * level
            for i, s in shares[f].items():
                used[i] += rate[f] * s
        active -= done
    return rate


def fluid_finish_times(capacities, flows, sizes, starts=None):
    """Finish time (Fraction) of each flow: re-solve at every arrival and completion, exactly."""
    n = len(flows)
    starts = [Fraction(s) for s in starts] if starts is not None else [Fraction(0)] * n
    left = [Fraction(s) for s in sizes]
    finish = [None] * n
    t = Fraction(0)
    while any(x is None for x in finish):
        present = [f for f in range(n) if finish[f] is None and starts[f] <= t]
        future = [starts[f] for f in range(n) if starts[f] > t]
        if not present:
            t = min(future)
            continue
        rates = max_min(capacities, [flows[f] for f in present])
        dt = min(left[f] / r for f, r in zip(present, rates))
        if future:
            dt = min(dt, min(future) - t)
        for f, r in zip(present, rates):
            left[f] -= r * dt
            if left[f] == 0:
                finish[f] = t + dt
        t += dt
    return finish
