"""``netemu experiments list | run NAME... | run --all [--jobs N] [--scheduler ADDRESS] [--out DIR] | readme | report``.

Reproduces the papers' plots and tables (``netemu experiments list`` names them):
each experiment writes DIR/NAME.csv and DIR/NAME.png and prints paper against
netemu; DIR/summary.csv and DIR/summary.md gather every comparison.

--jobs N             local worker processes (default: every core; 1 = in this process)
--scheduler ADDRESS  run the points on a Dask distributed cluster (tcp://host:port)
--out DIR            where results go (default: results)
--quiet              no tables, no progress bar
--readme FILE        after the run, regenerate FILE's results and failure tables

`netemu experiments readme [--results DIR] [--readme FILE] [--check]` regenerates the
README's tables from DIR/summary.csv (default results, README.md); --check writes nothing
and exits 1 when the tables are stale.

`netemu experiments report [--results DIR]` rewrites DIR/index.html (written after every
run): one self-contained page with the comparison tables, every figure, the run's
parameters and versions; it opens in a browser with no server.

Exit status: 0 done, 1 a point failed (named on stderr), 2 bad arguments.
"""

import argparse
import sys

from ..errors import ExperimentError


def register(sub):
    p = sub.add_parser("experiments", help="reproduce the papers' plots and tables",
                       description=__doc__.splitlines()[0],
                       epilog="\n".join(__doc__.splitlines()[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    acts.required = True
    ls = acts.add_parser("list", help="the experiments, with their titles")
    ls.set_defaults(func=_list)
    r = acts.add_parser("run", help="run experiments (NAME... or --all)")
    r.add_argument("names", nargs="*", metavar="NAME",
                   help="experiments to run (`netemu experiments list` shows them)")
    r.add_argument("--all", action="store_true", help="every experiment")
    r.add_argument("--jobs", type=_jobs, default=None, metavar="N")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS")
    r.add_argument("--out", default="results", metavar="DIR")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--readme", default=None, metavar="FILE")
    r.set_defaults(func=_run)
    rd = acts.add_parser("readme", help="regenerate the README's tables from the results")
    rd.add_argument("--results", default="results", metavar="DIR")
    rd.add_argument("--readme", default="README.md", metavar="FILE")
    rd.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when the README's tables are stale")
    rd.set_defaults(func=_readme)
    rp = acts.add_parser("report", help="rewrite DIR/index.html: tables, figures, parameters")
    rp.add_argument("--results", default="results", metavar="DIR")
    rp.set_defaults(func=_report)


def _jobs(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"needs at least 1 worker, got {n}")
    return n


def _list(args):
    from netemu.experiments import EXPERIMENTS
    from netemu.experiments.runner import load

    for name in EXPERIMENTS:
        print(f"{name:<24} {load(name).TITLE}")
    return 0


def _run(args):
    from netemu.errors import ParameterError
    from netemu.experiments import runner

    if args.all and args.names:
        raise ParameterError("give experiment names or --all, not both")
    if not args.all and not args.names:
        raise ParameterError("name the experiments to run, or --all; `netemu experiments list` "
                             "shows them")
    from netemu.experiments import EXPERIMENTS

    from .names import pick
    names = [pick(n, EXPERIMENTS, "experiment",
                  allowed=f"{', '.join(EXPERIMENTS)} (`netemu experiments list`)")
             for n in args.names]
    try:
        runner.run(None if args.all else names, jobs=args.jobs, scheduler=args.scheduler,
                   out_dir=args.out, progress=not args.quiet, quiet=args.quiet,
                   readme=args.readme)
    except ExperimentError as exc:
        # A failed point is not bad input: exit 1, still one line.
        from . import one_line
        print(one_line(f"netemu: experiment failed: {exc}"), file=sys.stderr)
        return 1
    return 0


def _readme(args):
    from netemu.experiments.readme_table import update_readme

    changed = update_readme(args.readme, args.results, check=args.check)
    if args.check and changed:
        print(f"netemu: {args.readme}'s tables differ from {args.results}/summary.csv; "
              f"run `netemu experiments readme`", file=sys.stderr)
        return 1
    return 0


def _report(args):
    from netemu.experiments.html_report import write_report

    print(f"wrote {write_report(args.results)}")
    return 0
