"""Published results that experiments compare against — never inputs to a model.

Every value carries its source (keys as in topologies/hardware.py: [ISCA], [FF]).
"""

#: [ISCA] Table 3: network topology comparison (endpoints, switches, links, cost M$).
ISCA_TABLE3 = {
    "isca-ft2": {"endpoints": 2_048, "switches": 96, "links": 2_048, "cost_musd": 9},
    "isca-mpft": {"endpoints": 16_384, "switches": 768, "links": 16_384, "cost_musd": 72},
    "isca-ft3": {"endpoints": 65_536, "switches": 5_120, "links": 131_072, "cost_musd": 491},
    "isca-slimfly": {"endpoints": 32_928, "switches": 1_568, "links": 32_928, "cost_musd": 146},
    "isca-dragonfly": {"endpoints": 261_632, "switches": 16_352, "links": 384_272, "cost_musd": 1_522},
}

#: [FF] Table III: number of switches and relative network price (units unstated).
FF_TABLE3 = {
    "fire-flyer-2": {"switches": 122, "network_price": 350},
    "ff-pcie-3layer": {"switches": 200, "network_price": 600},
    "ff-dgx-3layer": {"switches": 1_320, "network_price": 4000},
}
