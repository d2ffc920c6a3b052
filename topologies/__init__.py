"""Topology generators: fabrics, servers, named clusters and their cost.

Every generator returns a :class:`networkx.Graph` that meets netemu's graph
contract (see :mod:`netemu.graph`): SI units, a ``role`` on every node, a
per-direction ``bandwidth`` on every edge, and the generator's name and
arguments in ``G.graph``.

>>> from topologies import preset, summary
>>> s = summary(preset("isca-ft2"))
>>> s["endpoints"], s["switches"], s["links"]
(2048, 96, 2048)
"""

from .clusters import cluster
from .cost import cost
from .dragonfly import dragonfly
from .fat_tree import three_layer_fat_tree, two_layer_fat_tree
from .fire_flyer import fire_flyer_2
from .planes import multi_plane_fat_tree, multi_rail_fat_tree
from .presets import PRESETS, preset
from .servers import dgx_a100_server, h800_server, pcie_a100_server
from .slim_fly import slim_fly
from .summary import summary

#: Public generators by function name; the CLI spells them with dashes.
GENERATORS = {fn.__name__: fn for fn in (
    two_layer_fat_tree, three_layer_fat_tree, multi_plane_fat_tree, multi_rail_fat_tree,
    slim_fly, dragonfly, fire_flyer_2, pcie_a100_server, h800_server, dgx_a100_server,
)}

__all__ = ["GENERATORS", "PRESETS", "preset", "summary", "cost", "cluster"] + list(GENERATORS)
