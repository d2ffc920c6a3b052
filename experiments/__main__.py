"""Run every experiment: ``python -m experiments [NAME ...]``.

Each experiment writes results/NAME.csv and results/NAME.png and prints a
paper-versus-netemu table.
"""

import importlib
import sys

EXPERIMENTS = ["topology_cost", "failure_resilience"]


def main(argv=None):
    names = (argv if argv is not None else sys.argv[1:]) or EXPERIMENTS
    for name in names:
        if name not in EXPERIMENTS:
            print(f"experiments: unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}",
                  file=sys.stderr)
            return 2
    for name in names:
        importlib.import_module(f"experiments.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
