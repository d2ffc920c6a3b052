"""Benchmark: one DeepSeek-V3 training step on the 2,048-GPU cluster, as ``netemu step`` runs it.

Runs the ISCA Table 4 step (experiments/v3_training.py's layout and batch, MPFT) in a fresh
process and prints its wall and CPU time beside the time the same process took to build the
cluster graph (the same-run reference), and against the target of under a minute on the
2-core development machine.  The machine is shared; CPU seconds say more than wall seconds
when it is loaded.

    python benchmarks/bench_step.py [--fabric mpft|mrft]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, %r)
t0 = time.perf_counter(); c0 = time.process_time()
from netemu.topologies import preset
G = preset("deepseek-v3-cluster", fabric=%r)
t1 = time.perf_counter(); c1 = time.process_time()
from netemu.collectives.layout import Layout
from netemu.collectives.models import MODELS
from netemu.collectives.step import Job, run_step
from netemu.experiments.v3_training import BATCH, LAYOUT, SEQ
(r,) = run_step(G, Job("v3", MODELS["deepseek-v3"], Layout.parse(LAYOUT), SEQ, BATCH))
t2 = time.perf_counter(); c2 = time.process_time()
print(json.dumps({"build_s": t1 - t0, "build_cpu_s": c1 - c0, "step_s": t2 - t1,
                  "step_cpu_s": c2 - c1, "step_time": r.step_time,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fabric", default="mpft", choices=("mpft", "mrft"))
    args = ap.parse_args(argv)
    out = subprocess.run([sys.executable, "-c", CHILD % (str(ROOT), args.fabric)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"DeepSeek-V3 step on deepseek-v3-cluster ({args.fabric}), fresh process:")
    print(f"  cluster build (reference): {r['build_s']:.1f} s wall, {r['build_cpu_s']:.1f} s CPU")
    print(f"  step evaluation:           {r['step_s']:.1f} s wall, {r['step_cpu_s']:.1f} s CPU "
          f"(x{r['step_cpu_s'] / r['build_cpu_s']:.1f} the build's CPU; target < 60 s)")
    print(f"  predicted step time {r['step_time']:.3f} s; peak RSS {r['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
