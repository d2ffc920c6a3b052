"""Guard clauses shared by every public entry point.

Each raises :class:`~netemu.errors.ParameterError` with the parameter's name,
the bad value and what is allowed.  Nothing is clamped or silently rounded.
"""

import math
import numbers

from .errors import ParameterError

__all__ = ["check_int", "check_positive", "check_nonnegative", "check_choice", "did_you_mean"]


def check_int(name, value, minimum=None, maximum=None, even=False):
    """Return ``value`` if it is an integer within [minimum, maximum] (and even if asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ParameterError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    allowed = _range_text(minimum, maximum)
    if minimum is not None and value < minimum:
        raise ParameterError(f"{name} must be an integer {allowed}, got {value}")
    if maximum is not None and value > maximum:
        raise ParameterError(f"{name} must be an integer {allowed}, got {value}")
    if even and value % 2:
        raise ParameterError(f"{name} must be an even integer {allowed}, got {value}")
    return value


def check_positive(name, value):
    """Return ``value`` as float if it is a finite real number > 0."""
    return _check_real(name, value, lambda v: v > 0, "a finite number > 0")


def check_nonnegative(name, value):
    """Return ``value`` as float if it is a finite real number >= 0."""
    return _check_real(name, value, lambda v: v >= 0, "a finite number >= 0")


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name} must be one of {allowed}, got {value!r}"
                             f"{did_you_mean(value, choices)}")
    return value


def did_you_mean(value, choices, n=3):
    """``"; did you mean 'x'?"`` naming the choices closest to a mistyped ``value``, or ``""``.

    Dashes and underscores count alike, and case is ignored, so that
    ``two_layer_fat_tre`` finds ``two-layer-fat-tree``.

    >>> did_you_mean("mfrt", ["mpft", "mrft"])
    "; did you mean 'mrft' or 'mpft'?"
    >>> did_you_mean("zzz", ["mpft", "mrft"])
    ''
    """
    if not isinstance(value, str):
        return ""
    import difflib
    key = {}
    for c in choices:
        key.setdefault(str(c).replace("_", "-").lower(), str(c))
    close = difflib.get_close_matches(value.replace("_", "-").lower(), list(key), n=n)
    if not close:
        return ""
    return f"; did you mean {' or '.join(repr(key[c]) for c in close)}?"


def _check_real(name, value, ok, allowed):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not ok(value):
        raise ParameterError(f"{name} must be {allowed}, got {value!r}")
    return value


def _range_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f"from {minimum} to {maximum}"
    if minimum is not None:
        return f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""
