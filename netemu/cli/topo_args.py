"""What the command line needs from :mod:`topologies`: names, parameters, building.

``netemu topo`` and every other command that takes a TOPO argument resolve it
here: a generator name (``two-layer-fat-tree``; ``two_layer_fat_tree`` is taken too), a
preset name (``isca-mpft``), or — handled by the caller — a saved graph file.  What
the command line prints spells generators with dashes (:func:`display_name`).
"""

import inspect
import re
from dataclasses import is_dataclass

from netemu.errors import ParameterError
from netemu.units import parse_bandwidth

from .names import dashed, did_you_mean, match

__all__ = ["generators", "build_from_cli", "parse_value", "parse_params", "signature_text",
           "display_name", "dash_generator_names"]


def generators():
    """Mapping of CLI name -> generator function, for every public generator."""
    from netemu.topologies import GENERATORS
    return {name.replace("_", "-"): fn for name, fn in GENERATORS.items()}


#: How a bandwidth parameter is written, for the help of every command that takes TOPO.
BANDWIDTH_HELP = ("bandwidth parameters: 400G = 400Gb/s = 400Gbps = 400 Gbit/s (bits);\n"
                  "  50GB/s = 50GBps, 50GiB/s = 50GiBps (bytes); a bare number is bytes/s")


def parse_value(text):
    """A CLI parameter value: int, float, bool, or the text as given.

    A bandwidth with its unit (``400G``, ``50GiB/s``) stays text here: :func:`build_from_cli`
    reads it with :func:`netemu.units.parse_bandwidth` where the parameter is a bandwidth,
    and a parameter that is not one refuses it (``--radix 4Gbps``).

    >>> parse_value("64"), parse_value("1e-6"), parse_value("400Gbps"), parse_value("true")
    (64, 1e-06, '400Gbps', True)
    """
    low = text.strip()
    if low.lower() in ("true", "yes"):
        return True
    if low.lower() in ("false", "no"):
        return False
    try:
        v = int(low)
    except ValueError:
        pass
    else:
        if abs(v) >= 2**1023:   # no generator can use it, and float(v) would overflow
            raise ParameterError(f"value {low[:20]}... ({len(low)} digits) is out of range")
        return v
    try:
        return float(low)
    except ValueError:
        pass
    return low


def parse_params(tokens):
    """``['--radix', '64', '--k=8']`` -> ``{'radix': 64, 'k': 8}``."""
    params = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) == 2:
            raise ParameterError(f"expected a parameter such as --radix 64, got {tok!r}")
        if "=" in tok:
            key, value = tok[2:].split("=", 1)
            i += 1
        else:
            key = tok[2:]
            if i + 1 >= len(tokens):
                raise ParameterError(f"parameter --{key} needs a value")
            value = tokens[i + 1]
            i += 2
        key = key.replace("-", "_")
        if not key.isidentifier():
            raise ParameterError(f"expected a parameter such as --radix 64, got --{key}")
        if key in params:
            raise ParameterError(f"parameter --{key.replace('_', '-')} given twice")
        params[key] = parse_value(value)
    return params


def signature_text(fn):
    """``radix=None, leaves=None, ...`` as CLI options."""
    parts = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = ("" if p.default is inspect.Parameter.empty
                   else f" (default {_short(p.default, p.name)})")
        parts.append(f"--{p.name.replace('_', '-')}{default}")
    return " ".join(parts)


def _short(value, name=""):
    if isinstance(value, float) and "bandwidth" in name:
        return f"{value * 8 / 1e9:g}Gbps"
    if isinstance(value, float) and value >= 1e6:
        return f"{value:.4g}"
    if hasattr(value, "name") and not isinstance(value, (str, int, float)):
        return value.name
    return repr(value)


def _catalogue_entry(key, value, kind):
    """A hardware model named on the command line (``--switch QM8700``)."""
    from netemu.topologies import hardware

    models = {m.name: m for m in vars(hardware).values() if isinstance(m, kind)}
    if value not in models:
        raise ParameterError(f"--{key.replace('_', '-')} {value!r} is not in the hardware catalogue; "
                             f"allowed: {', '.join(sorted(models))}"
                             f"{did_you_mean(value, models)}")
    return models[value]


def _option(key):
    return "--" + key.replace("_", "-")


def _is_bandwidth(fn, key):
    """Whether parameter ``key`` of ``fn`` is a bandwidth: by its name, or by its
    docstring's ``bytes/s`` (``host_memory`` of :func:`h800_server` is one)."""
    if "bandwidth" in key:
        return True
    doc = inspect.getdoc(fn) or ""
    m = re.search(rf"^{re.escape(key)} :.*\n((?:[ \t]+.*\n?)*)", doc, flags=re.M)
    return bool(m) and "bytes/s" in m.group(1)


def _typed(fn, params):
    """``params`` with every bandwidth given as text read by :func:`parse_bandwidth`."""
    return {k: (parse_bandwidth(v, _option(k)) if isinstance(v, str) and _is_bandwidth(fn, k)
                else v)
            for k, v in params.items()}


#: Where a bare parameter name in a library message stands for the parameter itself (a
#: list of them, or the subject of the message), not for the English word.
_LISTED = r"(?:^|(?<=, )|(?<=needs )|(?<= or )|(?<= and )|(?<=got )|(?<=missing )|(?<=but not ))"


def _cli_words(message, names):
    """A library message with the parameter names it quotes spelled as options, and
    generators with dashes: the command-line user typed ``--link-bandwidth`` and
    ``two-layer-fat-tree``, not ``link_bandwidth`` and ``two_layer_fat_tree``."""
    from netemu.topologies import GENERATORS
    for g in GENERATORS:
        message = re.sub(rf"(?<![\w'\"-]){g}(?![\w'\"])", dashed(g), message)
    for n in sorted(names, key=len, reverse=True):
        if "_" in n:
            message = re.sub(rf"(?<![\w'\"-]){re.escape(n)}(?![\w'\"])", _option(n), message)
        else:   # a plain word (k, leaves, fabric) only where it names the parameter
            message = re.sub(rf"{_LISTED}{re.escape(n)}(?=$|[ ,;:)])", _option(n), message)
    return message


def _call(label, fn, params, names):
    """``fn(**params)`` with its ParameterError worded for the command line."""
    try:
        return fn(**params)
    except ParameterError as exc:
        text = _cli_words(str(exc), names)
        raise ParameterError(text if text.startswith(label) else f"{label}: {text}") from None


def _unknown_parameter(name, key, allowed, preset=False):
    options = [_option(a) for a in allowed]
    if preset:
        takes = "no parameters" if not allowed else "only " + ", ".join(options)
        text = f"preset {name!r} takes {takes}, got {_option(key)}"
    else:
        text = f"{name} has no parameter {_option(key)}; allowed: {', '.join(options)}"
    raise ParameterError(text + did_you_mean(_option(key), options))


def build_from_cli(name, params):
    """Build a generator or preset by its CLI name with parsed ``params``.

    ``name`` may use dashes or underscores; a bandwidth parameter given as text
    (``'400G'``) is read by :func:`netemu.units.parse_bandwidth`.
    """
    from netemu.topologies.presets import PRESETS, preset

    gens = generators()
    known = sorted(set(gens) | set(PRESETS))
    name = match(name, known) or name
    # A generator and a preset may share a name (fire-flyer-2): the generator takes the
    # parameters, and with none given it builds the same network as the preset.
    if name in PRESETS and name not in gens:
        builder = PRESETS[name][0]
        allowed = list(inspect.signature(builder).parameters)
        for key in params:
            if key not in allowed:
                _unknown_parameter(name, key, allowed, preset=True)
        return _call(name, lambda **kw: preset(name, **kw), _typed(builder, params), allowed)
    if name not in gens:
        raise ParameterError(f"unknown topology {name!r}; allowed: a graph file (.graphml, "
                             f".json) or one of {', '.join(known)}{did_you_mean(name, known)}")
    fn = gens[name]
    sig = inspect.signature(fn)
    allowed = [p for p in sig.parameters if sig.parameters[p].kind not in
               (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    for key in params:
        if key not in allowed:
            _unknown_parameter(name, key, allowed)
    missing = [p for p in allowed if sig.parameters[p].default is inspect.Parameter.empty
               and p not in params]
    if missing:
        raise ParameterError(f"{name} needs {' and '.join(_option(p) for p in missing)} "
                             f"(`netemu topo list` shows every generator's parameters)")
    params = _typed(fn, params)
    for key, value in params.items():
        default = sig.parameters[key].default
        if is_dataclass(default) and isinstance(value, str):
            params[key] = _catalogue_entry(key, value, type(default))
    return _call(name, fn, params, allowed)


def display_name(G, fallback=None):
    """What a result calls graph ``G``: its preset, else its generator with dashes.

    >>> import networkx as nx
    >>> display_name(nx.Graph(name="two_layer_fat_tree")), display_name(nx.Graph(), "g.json")
    ('two-layer-fat-tree', 'g.json')
    """
    name = G.graph.get("preset") or G.graph.get("name")
    if not name:
        return fallback
    return dashed(name) if _is_generator(name) else name


def _is_generator(name):
    from netemu.topologies import GENERATORS
    return isinstance(name, str) and name.replace("-", "_") in GENERATORS


def dash_generator_names(G):
    """Spell generator names in ``G.graph`` (its ``name``, a cluster's ``fabric``) with
    dashes, as the command line does, before a graph is written for users to read."""
    if _is_generator(G.graph.get("name")):
        G.graph["name"] = dashed(G.graph["name"])
    params = G.graph.get("params")
    if isinstance(params, dict):
        G.graph["params"] = {k: (dashed(v) if _is_generator(v) else v)
                             for k, v in params.items()}
    return G
