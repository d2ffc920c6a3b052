"""Names typed on the command line: matched with dashes and underscores alike, and an
unknown one answered with the closest known names ("did you mean ...?").

Every command resolves its fixed-set names here (generators and presets, algorithms,
routing modes, traffic kinds, experiments, models), so that they are all forgiving in
the same way and all refuse in the same words.
"""

from netemu.checks import did_you_mean
from netemu.errors import ParameterError

__all__ = ["match", "pick", "check_routing", "did_you_mean", "dashed"]


def _key(name):
    return str(name).replace("_", "-").lower()


def match(value, choices):
    """The one of ``choices`` that ``value`` names, dashes, underscores and case alike;
    None if there is none.

    >>> match("two_layer_fat_tree", ["two-layer-fat-tree"]), match("x", ["y"])
    ('two-layer-fat-tree', None)
    """
    if value in choices:
        return value
    found = [c for c in choices if _key(c) == _key(value)]
    return found[0] if len(found) == 1 else None


def pick(value, choices, what, allowed=None, context=""):
    """``match(value, choices)``, else ParameterError ``unknown WHAT 'x'; allowed: ...; did
    you mean 'y'?`` (``allowed`` replaces the list of ``choices`` in the message;
    ``context`` follows the name: ``' for allreduce'``).

    >>> pick("hfreduce_nvlink", ["ring", "hfreduce-nvlink"], "algorithm")
    'hfreduce-nvlink'
    >>> pick("rign", ["ring", "tree"], "algorithm")
    Traceback (most recent call last):
    ...
    netemu.errors.ParameterError: unknown algorithm 'rign'; allowed: ring, tree; did you mean 'ring'?
    """
    found = match(value, choices)
    if found is not None:
        return found
    raise ParameterError(f"unknown {what} {value!r}{context}; allowed: "
                         f"{allowed or ', '.join(map(str, choices))}{did_you_mean(value, choices)}")


def check_routing(routing, allowed=None):
    """``routing`` if it is one of ``allowed`` (default: every routing mode), else a
    ParameterError naming the allowed ones and the closest match."""
    if allowed is None:
        from netemu.policies import MODES as allowed
    if routing in allowed:
        return routing
    raise ParameterError(f"--routing must be one of {', '.join(map(repr, allowed))}, got "
                         f"{routing!r}{did_you_mean(routing, allowed)}")


def dashed(name):
    """A generator's function name as the command line spells it: ``two-layer-fat-tree``.

    >>> dashed("two_layer_fat_tree")
    'two-layer-fat-tree'
    """
    return str(name).replace("_", "-")
