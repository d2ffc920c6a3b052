"""What the command line needs from :mod:`topologies`: names, parameters, building.

``netemu topo`` and every other command that takes a TOPO argument resolve it
here: a generator name with dashes (``two-layer-fat-tree``), a preset name
(``isca-mpft``), or — handled by the caller — a saved graph file.
"""

import inspect
import re
from dataclasses import is_dataclass

from netemu.errors import ParameterError
from netemu.units import GBps, gbps, mbps

__all__ = ["generators", "build_from_cli", "parse_value", "parse_params", "signature_text"]


def generators():
    """Mapping of CLI name -> generator function, for every public generator."""
    from netemu.topologies import GENERATORS
    return {name.replace("_", "-"): fn for name, fn in GENERATORS.items()}


_BW = re.compile(r"^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)(gbps|mbps|gb/s|gbyte/s|GBps|GB/s)$")


def parse_value(text):
    """A CLI parameter value: int, float, bool, a bandwidth with unit, or a string.

    Bandwidths: ``400gbps`` / ``400Gbps`` (bits) or ``50GBps`` / ``50GB/s`` (bytes);
    a bare number is taken as it is (bytes/s for bandwidths, as the library does).

    >>> parse_value("64"), parse_value("1e-6"), parse_value("400Gbps"), parse_value("ring")
    (64, 1e-06, 50000000000.0, 'ring')
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
    m = _BW.match(low) or _BW.match(low.lower())
    if m:
        value, unit = float(m.group(1)), m.group(2)
        if unit in ("GBps", "GB/s"):
            return GBps(value)
        if unit.lower() == "gbps" or unit.lower() == "gb/s":
            return gbps(value)
        if unit.lower() == "mbps":
            return mbps(value)
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
                             f"allowed: {', '.join(sorted(models))}")
    return models[value]


def build_from_cli(name, params):
    """Build a generator or preset by its CLI name with parsed ``params``."""
    from netemu.topologies.presets import PRESETS, preset

    gens = generators()
    # A generator and a preset may share a name (fire-flyer-2): the generator takes the
    # parameters, and with none given it builds the same network as the preset.
    if name in PRESETS and name not in gens:
        allowed = list(inspect.signature(PRESETS[name][0]).parameters)
        bad = [k for k in params if k not in allowed]
        if bad:
            takes = ("no parameters" if not allowed
                     else "only " + ", ".join("--" + a.replace("_", "-") for a in allowed))
            raise ParameterError(f"preset {name!r} takes {takes}, got --{bad[0].replace('_', '-')}")
        return preset(name, **params)
    if name not in gens:
        known = sorted(set(gens) | set(PRESETS))
        raise ParameterError(f"unknown topology {name!r}; allowed: a graph file (.graphml, .json) "
                             f"or one of {', '.join(known)}")
    fn = gens[name]
    sig = inspect.signature(fn)
    allowed = [p for p in sig.parameters if sig.parameters[p].kind not in
               (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    for key in params:
        if key not in allowed:
            raise ParameterError(f"{name} has no parameter --{key.replace('_', '-')}; allowed: "
                                 f"{', '.join('--' + a.replace('_', '-') for a in allowed)}")
    for key, value in params.items():
        default = sig.parameters[key].default
        if is_dataclass(default) and isinstance(value, str):
            params[key] = _catalogue_entry(key, value, type(default))
    try:
        sig.bind(**params)
    except TypeError as exc:
        raise ParameterError(f"{name}: {exc}") from None
    return fn(**params)
