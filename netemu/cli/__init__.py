"""Command line entry point: ``netemu COMMAND ...`` (also ``python -m netemu``).

Each command lives in its own module with ``register(subparsers)``, which adds
a sub-parser and sets ``func(args) -> int``.  This is the one place that wires
:mod:`netemu`, :mod:`topologies` and :mod:`collectives` together.  Bad input of
any documented kind ends in one line on stderr and exit status 2.
"""

import argparse
import importlib
import sys

from ..errors import NetemuError

#: Command modules, in the order ``netemu --help`` lists them.
COMMAND_MODULES = ["netemu.cli.topo", "netemu.cli.solve", "netemu.cli.bench", "netemu.cli.step",
                   "netemu.cli.emulate", "netemu.cli.experiments"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own usage errors: one line, exit 2, like every other bad input.
        raise _UsageError(f"{self.prog}: error: {message}")

    def format_help(self):
        # An epilog that needs an import (the generators' names) is made only when asked
        # for: building the parser for every command stays free of it.
        fill = getattr(self, "fill_epilog", None)
        if fill is not None:
            self.epilog = fill()
        return super().format_help()

    def _check_value(self, action, value):
        # argparse's check of a fixed-set word (a command, an action), with the closest
        # known words named, as every other unknown name is.
        if action.choices is not None and value not in action.choices:
            from ..checks import did_you_mean
            choices = ", ".join(map(repr, action.choices))
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from "
                                                 f"{choices}){did_you_mean(value, action.choices)}")


class _UsageError(Exception):
    pass


def one_line(message):
    """``message`` with line breaks and other control characters escaped (``\\x1e``), so
    that an error echoing user input stays one printable line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, read only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print netemu's version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from netemu import __version__
        print(f"netemu {__version__}")
        parser.exit()


def add_params(parser):
    """The tokens after a command's first argument (generator parameters and the
    command's own options), read by the command itself.  Never named in a usage error:
    ``params`` is this module's word, not the user's."""
    parser.add_argument("params", nargs=argparse.REMAINDER, default=[],
                        help=argparse.SUPPRESS).required = False


def build_parser():
    parser = _Parser(prog="netemu", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv=None):
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        status = args.func(args) or 0
        sys.stdout.flush()      # a full disk (> /dev/full) shows here, not at exit
        return status
    except _UsageError as exc:
        print(one_line(str(exc)), file=sys.stderr)
        return 2
    except NetemuError as exc:
        print(one_line(f"netemu: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netemu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``netemu ... | head``): stop quietly, as Unix tools do.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        import errno
        if exc.filename is not None or exc.errno not in (errno.ENOSPC, errno.EDQUOT,
                                                         errno.EFBIG, errno.EIO):
            raise
        # Output could not be written (ENOSPC on /dev/full, EIO): one line, and stdout
        # pointed at /dev/null so that the interpreter's own flush at exit stays quiet.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(one_line(f"netemu: error: cannot write the output ({exc.strerror or exc})"),
              file=sys.stderr)
        return 2
