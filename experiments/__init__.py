"""Experiments that reproduce the papers' plots and tables on the flow-level backend.

Run them with ``python3 -m netemu.experiments`` (all of them) or
``netemu experiments list | run NAME... | run --all [--jobs N] [--scheduler ADDRESS]``
(:mod:`experiments.runner`).

The experiment interface
------------------------
Every module named in :data:`EXPERIMENTS` defines::

    NAME = "storage_read"                      # the module's name; results/NAME.csv, .png
    TITLE = "Fire-Flyer §VI-B: storage read"   # one line, printed above its table

    def points():
        # The sweep: a list of small picklable dicts, one per point, in a fixed order.

    def run_point(point):
        # A pure, deterministic function of ``point`` -> list of row dicts (picklable).
        # Points run in any process (a local pool or a Dask worker), in any order.

    def report(rows, out_dir):
        # ``rows``: the rows of all points, in points() order.  Writes out_dir/NAME.csv
        # and out_dir/NAME.png (labelled axes with units, the paper's points beside
        # netemu's) and returns the comparison rows made by support.compare_row
        # [{point, metric, paper, netemu, error, kind, note}] (error = (netemu - paper)
        # / paper, None where there is no published value; kind "prediction" or "check").

    TOLERANCE = 0.20          # optional: the band of its predictions, or {metric: band}
    LABEL = "ISCA Fig. 7"     # optional: short name in the README (default: TITLE to the colon)

Published values live only in :mod:`experiments.published`, with their
sources, and only ``report`` reads them: no model sees a paper's result.
"""

#: Every experiment, in the order ``run --all`` reports them.
EXPERIMENTS = [
    "topology_cost",
    "hfreduce_vs_nccl",
    "hfreduce_nvlink",
    "hfreduce_bounds",
    "fire_flyer_next_gen",
    "mpft_vs_mrft_alltoall",
    "mpft_vs_mrft_latency",
    "deepep_mpft",
    "deepep_modes",
    "node_limited_routing",
    "inference_speed_limit",
    "storage_read",
    "latency",
    "roce_routing",
    "failure_resilience",
    "sensitivity",
    "fire_flyer_fig8",
    "training_scaling",
    "v3_training",
    "v3_decode",
]
