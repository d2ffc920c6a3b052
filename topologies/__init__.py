"""Topology generators: fabrics, servers, named clusters and their cost.

Every generator returns a :class:`networkx.Graph` that meets netemu's graph
contract (see :mod:`netemu.graph`).
"""
