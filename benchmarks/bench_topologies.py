"""Build time and peak memory of the large presets.

Each case runs in a fresh subprocess so that its peak RSS is its own.  The
reference, measured in the same run, is bare networkx: inserting the same
number of attribute-free edges into an empty ``nx.Graph``.  The ratio says
what the generator's own work (names, attributes, validation-ready graph)
costs on top of networkx itself.

    python benchmarks/bench_topologies.py [PRESET ...]
"""

import json
import subprocess
import sys

CASES = ["isca-mpft", "isca-ft3", "isca-dragonfly", "isca-slimfly", "fire-flyer-2",
         "fire-flyer-2-cluster", "deepseek-v3-cluster"]

_CHILD = r"""
import json, resource, sys, time
import networkx as nx
from netemu.topologies.presets import preset
name = sys.argv[1]
t0 = time.perf_counter(); G = preset(name); t_build = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
edges = [(u, v) for u, v in G.edges()]
t0 = time.perf_counter(); H = nx.Graph(); H.add_edges_from(edges); t_ref = time.perf_counter() - t0
print(json.dumps(dict(name=name, nodes=G.number_of_nodes(), edges=G.number_of_edges(),
                      build_s=t_build, ref_s=t_ref, peak_bytes=peak)))
"""


def run(name):
    out = subprocess.run([sys.executable, "-c", _CHILD, name], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    names = argv or CASES
    print(f"{'preset':<22} {'nodes':>9} {'edges':>9} {'build s':>8} {'peak MB':>8} "
          f"{'nx insert s':>11} {'ratio':>6}")
    for name in names:
        r = run(name)
        print(f"{r['name']:<22} {r['nodes']:>9,} {r['edges']:>9,} {r['build_s']:>8.2f} "
              f"{r['peak_bytes'] / 2**20:>8.0f} {r['ref_s']:>11.2f} {r['build_s'] / r['ref_s']:>6.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
