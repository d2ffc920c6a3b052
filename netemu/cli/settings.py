"""The settings that shape a result, echoed with it: what was asked for and what was left
at its default (``routing spray (default)``), so that a reader of a result never has to
know a command's defaults to know what was computed.
"""

__all__ = ["Settings"]


class Settings:
    """Ordered ``(name, value, left at default)`` of one command's run.

    >>> s = Settings({"routing": "hash"})
    >>> s.add("routing", "hash", "spray").add("seed", 0, 0).add("pxn", True, True, "PXN")
    Settings(routing=hash, seed=0 (default), pxn=True (default))
    >>> s.text()
    'routing hash, seed 0 (default), PXN on (default)'
    >>> s.json()
    {'settings': {'routing': 'hash', 'seed': 0, 'pxn': True}, 'defaults': ['seed', 'pxn']}
    """

    def __init__(self, given=()):
        #: Option names the user gave (``opts`` and flags of :func:`split_options`).
        self.given = set(given)
        self.items = []

    def add(self, name, value, default, label=None, given=None, shown=None):
        """Record ``name`` = ``value``; it is a default when the user did not give
        ``name`` (or ``given`` is False) and ``value == default``.  ``label`` is its
        word in the text (default ``name``), ``shown`` its value there."""
        was_given = (name in self.given) if given is None else given
        self.items.append((name, value, not was_given and value == default,
                           label or name, shown))
        return self

    def text(self, sep=", "):
        """``routing spray (default), PXN on (default)``: one phrase per setting."""
        return sep.join(self.phrases())

    def phrases(self):
        out = []
        for name, value, is_default, label, shown in self.items:
            if shown is None:
                shown = ("on" if value else "off") if isinstance(value, bool) else value
            out.append(f"{label} {shown}" + (" (default)" if is_default else ""))
        return out

    def json(self):
        """``{"settings": {name: value}, "defaults": [names left at their default]}``."""
        return {"settings": {n: v for n, v, *_ in self.items},
                "defaults": [n for n, _, d, *_ in self.items if d]}

    def __repr__(self):
        return "Settings(" + ", ".join(f"{n}={v}" + (" (default)" if d else "")
                                       for n, v, d, *_ in self.items) + ")"
