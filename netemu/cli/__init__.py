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
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def one_line(message):
    """``message`` with line breaks and other control characters escaped (``\\x1e``), so
    that an error echoing user input stays one printable line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def build_parser():
    parser = _Parser(prog="netemu", description=__doc__.splitlines()[0])
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
