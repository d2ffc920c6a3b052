"""``python3 -m netemu.experiments [NAME ...] [--jobs N] [--scheduler ADDRESS] [--out DIR] [--readme FILE]``.

Without names: every experiment (``netemu experiments run --all``).  Each
writes results/NAME.csv and results/NAME.png and prints paper against netemu;
results/summary.csv and results/summary.md gather the comparisons.
"""

import sys


def main(argv=None):
    from netemu.cli import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    names = [a for a in argv if not a.startswith("-")]
    options_with_values = {"--jobs", "--scheduler", "--out", "--readme"}
    # Names are the words not taken as an option's value.
    values = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in options_with_values}
    if not [n for n in names if n not in values]:
        argv = ["--all"] + argv
    return cli_main(["experiments", "run"] + argv)


if __name__ == "__main__":
    sys.exit(main())
