"""Fat-trees: two-layer leaf-spine fabrics and three-layer (k-ary) fat-trees.

A fat-tree built from identical switches of radix ``k`` keeps bandwidth constant
from layer to layer by giving every switch as many ports up as down.

:func:`two_layer_fat_tree`
    Leaf-spine.  With ``k``-port switches, ``k`` leaves each have ``k/2`` ports
    down to endpoints and ``k/2`` up, one to each of ``k/2`` spines; every spine
    port reaches a different leaf.  ``k = 64`` gives 2,048 endpoints, 96
    switches and 2,048 leaf-spine links, the FT2 column of [ISCA] Table 3.  An
    oversubscribed variant splits the leaf ports ``d:u``; an explicit form
    takes leaf, spine and host counts and allows parallel leaf-spine cables.

:func:`three_layer_fat_tree`
    The k-ary fat-tree of Al-Fares et al.: ``k`` pods, each with ``k/2`` leaf
    (edge) and ``k/2`` spine (aggregation) switches joined as a complete
    bipartite graph, ``k/2`` hosts per leaf and ``(k/2)^2`` core switches; spine
    ``j`` of every pod links to core group ``j`` (cores ``j*k/2 ... j*k/2 +
    k/2 - 1``).  ``k = 64`` gives 65,536 hosts, 5,120 switches and 131,072
    switch-switch links, the FT3 column of [ISCA] Table 3.  A general form
    builds partial trees with fewer pods, where a core may reach a pod by
    several parallel cables; it expresses the two three-layer trees of [FF]
    §III-C (see the function's docstring).

Every link of a netemu graph is full duplex; parallel cables between two
switches are one edge whose ``cables`` counts them and whose ``bandwidth`` is
their total (see :mod:`netemu.graph`).  Endpoints are numbered leaf by leaf, so
the first half of :func:`netemu.graph.endpoints` against the second half is the
natural worst-case bisection (half the leaves, or half the pods, against the
rest).

References
----------
.. [Al-Fares] M. Al-Fares, A. Loukissas, A. Vahdat, "A Scalable, Commodity Data
   Center Network Architecture", SIGCOMM 2008.
.. [Leiserson] C. E. Leiserson, "Fat-trees: Universal networks for
   hardware-efficient supercomputing", IEEE Trans. Computers 34(10), 1985.
.. [ISCA] Zhao et al., "Insights into DeepSeek-V3: Scaling Challenges and
   Reflections on Hardware for AI Architectures", ISCA '25, arXiv:2505.09343,
   §5.1 and Table 3.
.. [FF] An et al., "Fire-Flyer AI-HPC: A Cost-Effective Software-Hardware
   Co-Design for Deep Learning", SC'24, arXiv:2408.14158, §III-B and §III-C.
"""

import numbers
from fractions import Fraction

from netemu.checks import check_choice, check_int, check_nonnegative, check_positive
from netemu.errors import ParameterError
from netemu.graph import MEDIA, new_graph
from netemu.memory import check_fits, graph_bytes

from .hardware import IB_NDR_64

__all__ = ["two_layer_fat_tree", "three_layer_fat_tree"]

# The generic default link speed is the 400 Gb/s port of the catalogue's NDR switch,
# the one [ISCA] Table 3 prices its fat-trees with.
_DEFAULT_BANDWIDTH = IB_NDR_64.port_bandwidth


def two_layer_fat_tree(radix=None, *, leaves=None, spines=None, hosts_per_leaf=None,
                       leaf_uplinks=None, oversubscription=None,
                       link_bandwidth=_DEFAULT_BANDWIDTH, host_bandwidth=None,
                       latency=0.0, medium="ib"):
    """Return a two-layer (leaf-spine) fat-tree.

    Three ways to size it:

    * ``radix`` alone: the largest non-blocking tree of ``radix``-port switches,
      ``radix`` leaves with ``radix/2`` hosts and ``radix/2`` uplinks each, one
      to each of ``radix/2`` spines.
    * ``radix`` and ``oversubscription`` = down:up ratio ``d/u`` with ``d + u =
      radix``: ``radix`` leaves with ``d`` hosts and ``u`` uplinks, ``u``
      spines.
    * ``leaves``, ``spines`` and ``hosts_per_leaf`` (and optionally
      ``leaf_uplinks``): every leaf links to every spine by ``leaf_uplinks /
      spines`` parallel cables.  If ``radix`` is also given, it is the port
      budget every switch must fit.

    Parameters
    ----------
    radix : int, optional
        Ports per switch.  Must be even when given alone.
    leaves, spines, hosts_per_leaf : int, optional
        Explicit sizes (all three together).
    leaf_uplinks : int, optional
        Uplink cables per leaf in the explicit form; a multiple of ``spines``
        (default ``spines``: one cable per leaf-spine pair).
    oversubscription : int, float or fractions.Fraction, optional
        Leaf down:up port ratio, e.g. 3 for 3:1; with ``radix`` only.  Both
        ``radix*r/(r+1)`` and ``radix/(r+1)`` must be whole numbers.
    link_bandwidth : float
        Bytes/s per direction of one leaf-spine cable (default 400 Gb/s, the
        port of ``topologies.hardware.IB_NDR_64``).
    host_bandwidth : float, optional
        Bytes/s per direction of a host link (default ``link_bandwidth``).
    latency : float
        Seconds per link (default 0).
    medium : str
        Link medium (default ``'ib'``).

    Returns
    -------
    networkx.Graph
        Hosts ``n{h}`` (role ``host``, layer 0, attr ``leaf``), leaves
        ``leaf{i}`` (layer 1), spines ``spine{j}`` (layer 2).  Host ``h``
        hangs from leaf ``h // hosts_per_leaf``.

    Raises
    ------
    ParameterError
        A size is not a positive integer, ``radix`` is odd in the non-blocking
        form, the oversubscription does not split the ports into whole numbers,
        ``leaf_uplinks`` is not a multiple of ``spines``, a switch needs more
        ports than ``radix``, or the forms are mixed.

    Examples
    --------
    The FT2 column of [ISCA] Table 3:

    >>> from netemu.graph import endpoints, switches
    >>> G = two_layer_fat_tree(64)
    >>> len(endpoints(G)), len(switches(G))
    (2048, 96)
    >>> sum(1 for u, v in G.edges if G.nodes[u]["layer"] and G.nodes[v]["layer"])
    2048

    A 3:1 oversubscribed tree and an explicit tree with two cables per pair:

    >>> G = two_layer_fat_tree(8, oversubscription=3)
    >>> len(endpoints(G)), G.degree("leaf0"), G.degree("spine0")
    (48, 8, 8)
    >>> G = two_layer_fat_tree(leaves=4, spines=2, hosts_per_leaf=4, leaf_uplinks=4)
    >>> G.edges["leaf0", "spine1"]["cables"]
    2
    """
    params = dict(radix=radix, leaves=leaves, spines=spines, hosts_per_leaf=hosts_per_leaf,
                  leaf_uplinks=leaf_uplinks, oversubscription=oversubscription,
                  link_bandwidth=link_bandwidth, host_bandwidth=host_bandwidth,
                  latency=latency, medium=medium)
    link_bandwidth = check_positive("link_bandwidth", link_bandwidth)
    host_bandwidth = (link_bandwidth if host_bandwidth is None
                      else check_positive("host_bandwidth", host_bandwidth))
    latency = check_nonnegative("latency", latency)
    check_choice("medium", medium, sorted(MEDIA))

    explicit = {"leaves": leaves, "spines": spines, "hosts_per_leaf": hosts_per_leaf,
                "leaf_uplinks": leaf_uplinks}
    given = [name for name, value in explicit.items() if value is not None]
    if not given and radix is None:
        raise ParameterError("two_layer_fat_tree needs radix, or leaves, spines and "
                             "hosts_per_leaf; got none of them")
    if oversubscription is not None and given:
        raise ParameterError(f"oversubscription={oversubscription!r} sizes the tree from radix; "
                             f"it cannot be combined with {', '.join(given)} (explicit form)")
    if given:
        missing = [n for n in ("leaves", "spines", "hosts_per_leaf") if explicit[n] is None]
        if missing:
            raise ParameterError(f"the explicit form needs leaves, spines and hosts_per_leaf; "
                                 f"got {', '.join(given)} but not {', '.join(missing)}")
        leaves = check_int("leaves", leaves, minimum=1)
        spines = check_int("spines", spines, minimum=1)
        hosts_per_leaf = check_int("hosts_per_leaf", hosts_per_leaf, minimum=1)
        if leaf_uplinks is None:
            leaf_uplinks = spines
        leaf_uplinks = check_int("leaf_uplinks", leaf_uplinks, minimum=1)
        if leaf_uplinks % spines:
            raise ParameterError(f"leaf_uplinks={leaf_uplinks} must be a multiple of "
                                 f"spines={spines} so that every leaf reaches every spine by "
                                 f"the same number of cables")
        cables = leaf_uplinks // spines
        if radix is not None:
            radix = check_int("radix", radix, minimum=2)
            _check_ports("leaf", radix, (f"hosts_per_leaf={hosts_per_leaf}", hosts_per_leaf),
                         (f"leaf_uplinks={leaf_uplinks}", leaf_uplinks))
            _check_ports("spine", radix,
                         (f"leaves={leaves} x cables_per_leaf={cables}", leaves * cables))
    elif oversubscription is None:
        radix = check_int("radix", radix, minimum=2, even=True)
        leaves, spines, hosts_per_leaf, cables = radix, radix // 2, radix // 2, 1
    else:
        radix = check_int("radix", radix, minimum=2)
        down, up = _split_ports(radix, oversubscription)
        ratio = Fraction(oversubscription)
        params["oversubscription"] = int(ratio) if ratio.denominator == 1 else float(ratio)
        # Every spine port reaches a different leaf, so the spine radix fixes the leaf count.
        leaves, spines, hosts_per_leaf, cables = radix, up, down, 1
    _record(params, radix=radix, leaves=leaves, spines=spines, hosts_per_leaf=hosts_per_leaf,
            leaf_uplinks=leaf_uplinks, link_bandwidth=link_bandwidth,
            host_bandwidth=host_bandwidth, latency=latency)

    check_fits(graph_bytes(leaves * (1 + hosts_per_leaf) + spines,
                           leaves * (hosts_per_leaf + spines)),
               f"a two-layer fat-tree of {leaves:,} leaves, {spines:,} spines")
    G = new_graph("two_layer_fat_tree", params)
    leaf_names = [f"leaf{i}" for i in range(leaves)]
    spine_names = [f"spine{j}" for j in range(spines)]
    n_hosts = leaves * hosts_per_leaf
    G.add_nodes_from((f"n{h}", {"role": "host", "layer": 0, "index": h,
                                "leaf": h // hosts_per_leaf}) for h in range(n_hosts))
    G.add_nodes_from((name, {"role": "leaf", "layer": 1, "index": i})
                     for i, name in enumerate(leaf_names))
    G.add_nodes_from((name, {"role": "spine", "layer": 2, "index": j})
                     for j, name in enumerate(spine_names))
    G.add_edges_from(((f"n{h}", leaf_names[h // hosts_per_leaf]) for h in range(n_hosts)),
                     **_link(host_bandwidth, latency, medium))
    G.add_edges_from(((leaf, spine) for leaf in leaf_names for spine in spine_names),
                     **_link(link_bandwidth, latency, medium, cables))
    return G


def three_layer_fat_tree(k=None, *, pods=None, leaves_per_pod=None, spines_per_pod=None,
                         hosts_per_leaf=None, spine_uplinks=None, cores=None, radix=None,
                         link_bandwidth=_DEFAULT_BANDWIDTH, host_bandwidth=None,
                         latency=0.0, medium="ib"):
    """Return a three-layer fat-tree: the k-ary tree, or a general partial tree.

    Either ``k`` alone (the k-ary fat-tree of [Al-Fares]), or the general form
    given by ``pods``, ``leaves_per_pod``, ``spines_per_pod`` and
    ``hosts_per_leaf`` (all four), with ``spine_uplinks`` and ``cores``.

    In both forms every leaf links to every spine of its pod by one cable, and
    the cores are split into ``spines_per_pod`` equal groups: spine ``j`` of
    every pod links to each core of group ``j`` (cores ``j*g ... j*g + g - 1``,
    ``g = cores / spines_per_pod``) by ``spine_uplinks / g`` parallel cables.
    A core therefore reaches every pod, each by ``spine_uplinks / g`` cables.

    Parameters
    ----------
    k : int, optional
        Switch radix of the k-ary tree (even): ``k`` pods, ``k/2`` leaves,
        spines and hosts per leaf, ``(k/2)^2`` cores.
    pods, leaves_per_pod, spines_per_pod, hosts_per_leaf : int, optional
        Sizes of the general form.
    spine_uplinks : int, optional
        Uplink cables per spine (default ``leaves_per_pod``, as many up as
        down); a multiple of the group size ``g``.
    cores : int, optional
        Core switches (default ``spines_per_pod * spine_uplinks``, one cable
        per spine-core pair); a multiple of ``spines_per_pod``.
    radix : int, optional
        Port budget of every switch in the general form: ``hosts_per_leaf +
        spines_per_pod`` per leaf, ``leaves_per_pod + spine_uplinks`` per spine
        and ``pods * spine_uplinks / g`` per core must fit.  In the k-ary form
        ``k`` is the radix.
    link_bandwidth : float
        Bytes/s per direction of one switch-switch cable (default 400 Gb/s, the
        port of ``topologies.hardware.IB_NDR_64``).
    host_bandwidth : float, optional
        Bytes/s per direction of a host link (default ``link_bandwidth``).
    latency : float
        Seconds per link (default 0).
    medium : str
        Link medium (default ``'ib'``).

    Returns
    -------
    networkx.Graph
        Hosts ``n{h}`` (role ``host``, layer 0, attrs ``pod`` and ``leaf``, the
        leaf's index in its pod), leaves ``pod{p}/leaf{i}`` (layer 1), spines
        ``pod{p}/spine{j}`` (layer 2), cores ``core{c}`` (layer 3, attr
        ``group`` = the spine index they serve).

    Raises
    ------
    ParameterError
        ``k`` odd or below 2, a size not a positive integer, ``cores`` or
        ``spine_uplinks`` not divisible as above, a switch needing more ports
        than ``radix``, or the two forms mixed.

    Notes
    -----
    The two three-layer trees of [FF] §III-C, built from 40-port QM8700
    switches, are expressed by the general form.  The paper gives only their
    access points and switch counts; the shapes below are INFERRED (the
    simplest trees of 40-port switches that reproduce both counts):

    * the PCIe cluster on a three-layer tree, 1,600 access points and 200
      switches ("40 core + 160 spine and leaf"): 4 pods of 20 leaves and 20
      spines, 20 hosts per leaf, 20 uplinks per spine, 40 cores each with 10
      cables to each pod (80 + 80 + 40 switches, every port used);
    * the DGX-A100 cluster, 10,000 access points and 1,320 switches ("320 core
      + 500 spine + 500 leaf"): 25 pods of 20 leaves and 20 spines, 20 hosts
      per leaf, 16 uplinks per spine, 320 cores each with one cable to each
      pod (a 5:4 taper at the spines; cores use 25 of 40 ports).

    Examples
    --------
    >>> from netemu.graph import endpoints, switches
    >>> G = three_layer_fat_tree(4)
    >>> len(endpoints(G)), len(switches(G))
    (16, 20)
    >>> sorted(G["core0"])
    ['pod0/spine0', 'pod1/spine0', 'pod2/spine0', 'pod3/spine0']

    The two trees of [FF] §III-C (shapes INFERRED, see Notes):

    >>> G = three_layer_fat_tree(pods=4, leaves_per_pod=20, spines_per_pod=20,
    ...                          hosts_per_leaf=20, spine_uplinks=20, cores=40, radix=40)
    >>> len(endpoints(G)), len(switches(G)), G.edges["core0", "pod3/spine0"]["cables"]
    (1600, 200, 10)
    >>> G = three_layer_fat_tree(pods=25, leaves_per_pod=20, spines_per_pod=20,
    ...                          hosts_per_leaf=20, spine_uplinks=16, cores=320, radix=40)
    >>> len(endpoints(G)), len(switches(G)), G.degree("core0")
    (10000, 1320, 25)
    """
    params = dict(k=k, pods=pods, leaves_per_pod=leaves_per_pod, spines_per_pod=spines_per_pod,
                  hosts_per_leaf=hosts_per_leaf, spine_uplinks=spine_uplinks, cores=cores,
                  radix=radix, link_bandwidth=link_bandwidth, host_bandwidth=host_bandwidth,
                  latency=latency, medium=medium)
    link_bandwidth = check_positive("link_bandwidth", link_bandwidth)
    host_bandwidth = (link_bandwidth if host_bandwidth is None
                      else check_positive("host_bandwidth", host_bandwidth))
    latency = check_nonnegative("latency", latency)
    check_choice("medium", medium, sorted(MEDIA))

    general = {"pods": pods, "leaves_per_pod": leaves_per_pod, "spines_per_pod": spines_per_pod,
               "hosts_per_leaf": hosts_per_leaf, "spine_uplinks": spine_uplinks,
               "cores": cores, "radix": radix}
    given = [name for name, value in general.items() if value is not None]
    if k is not None:
        if given:
            raise ParameterError(f"k={k!r} sizes the whole k-ary tree (k is the radix); it cannot "
                                 f"be combined with {', '.join(given)} (general form)")
        k = check_int("k", k, minimum=2, even=True)
        half = k // 2
        pods, leaves_per_pod, spines_per_pod = k, half, half
        hosts_per_leaf, spine_uplinks, cores = half, half, half * half
    else:
        missing = [n for n in ("pods", "leaves_per_pod", "spines_per_pod", "hosts_per_leaf")
                   if general[n] is None]
        if missing:
            raise ParameterError(f"three_layer_fat_tree needs k, or pods, leaves_per_pod, "
                                 f"spines_per_pod and hosts_per_leaf; missing "
                                 f"{', '.join(missing)}")
        pods = check_int("pods", pods, minimum=1)
        leaves_per_pod = check_int("leaves_per_pod", leaves_per_pod, minimum=1)
        spines_per_pod = check_int("spines_per_pod", spines_per_pod, minimum=1)
        hosts_per_leaf = check_int("hosts_per_leaf", hosts_per_leaf, minimum=1)
        spine_uplinks = check_int("spine_uplinks",
                                  leaves_per_pod if spine_uplinks is None else spine_uplinks,
                                  minimum=1)
        cores = check_int("cores", spines_per_pod * spine_uplinks if cores is None else cores,
                          minimum=1)
        if cores % spines_per_pod:
            raise ParameterError(f"cores={cores} must be a multiple of spines_per_pod="
                                 f"{spines_per_pod}: spine j of every pod serves its own, "
                                 f"equal group of cores")
    group = cores // spines_per_pod
    if spine_uplinks % group:
        raise ParameterError(f"spine_uplinks={spine_uplinks} must be a multiple of the "
                             f"{group} cores each spine links to (cores={cores} / "
                             f"spines_per_pod={spines_per_pod}), so every spine-core pair gets "
                             f"the same number of cables")
    cables = spine_uplinks // group
    if radix is not None:
        radix = check_int("radix", radix, minimum=2)
        _check_ports("leaf", radix, (f"hosts_per_leaf={hosts_per_leaf}", hosts_per_leaf),
                     (f"spines_per_pod={spines_per_pod}", spines_per_pod))
        _check_ports("spine", radix, (f"leaves_per_pod={leaves_per_pod}", leaves_per_pod),
                     (f"spine_uplinks={spine_uplinks}", spine_uplinks))
        _check_ports("core", radix, (f"pods={pods} x cables_per_pod={cables}", pods * cables))
    _record(params, k=k, pods=pods, leaves_per_pod=leaves_per_pod, spines_per_pod=spines_per_pod,
            hosts_per_leaf=hosts_per_leaf, spine_uplinks=spine_uplinks, cores=cores, radix=radix,
            link_bandwidth=link_bandwidth, host_bandwidth=host_bandwidth, latency=latency)

    check_fits(graph_bytes(pods * (leaves_per_pod * (1 + hosts_per_leaf) + spines_per_pod) + cores,
                           pods * leaves_per_pod * (hosts_per_leaf + spines_per_pod)
                           + pods * cores),
               f"a three-layer fat-tree of {pods:,} pods and {cores:,} cores")
    G = new_graph("three_layer_fat_tree", params)
    hosts_per_pod = leaves_per_pod * hosts_per_leaf
    n_hosts = pods * hosts_per_pod
    leaf_names = [[f"pod{p}/leaf{i}" for i in range(leaves_per_pod)] for p in range(pods)]
    spine_names = [[f"pod{p}/spine{j}" for j in range(spines_per_pod)] for p in range(pods)]
    core_names = [f"core{c}" for c in range(cores)]
    G.add_nodes_from((f"n{h}", {"role": "host", "layer": 0, "index": h, "pod": h // hosts_per_pod,
                                "leaf": h % hosts_per_pod // hosts_per_leaf})
                     for h in range(n_hosts))
    for p in range(pods):
        G.add_nodes_from((name, {"role": "leaf", "layer": 1, "index": i, "pod": p})
                         for i, name in enumerate(leaf_names[p]))
        G.add_nodes_from((name, {"role": "spine", "layer": 2, "index": j, "pod": p})
                         for j, name in enumerate(spine_names[p]))
    G.add_nodes_from((name, {"role": "core", "layer": 3, "index": c, "group": c // group})
                     for c, name in enumerate(core_names))
    G.add_edges_from(((f"n{h}", leaf_names[h // hosts_per_pod][h % hosts_per_pod // hosts_per_leaf])
                      for h in range(n_hosts)),
                     **_link(host_bandwidth, latency, medium))
    G.add_edges_from(((leaf, spine) for p in range(pods)
                      for leaf in leaf_names[p] for spine in spine_names[p]),
                     **_link(link_bandwidth, latency, medium))
    G.add_edges_from(((spine_names[p][c // group], core) for p in range(pods)
                      for c, core in enumerate(core_names)),
                     **_link(link_bandwidth, latency, medium, cables))
    return G


def _record(params, **checked):
    """Replace the given arguments in ``params`` by their checked values (plain int and float).

    Arguments left at None stay None, so ``generator(**G.graph["params"])`` rebuilds the graph.
    """
    for name, value in checked.items():
        if params[name] is not None:
            params[name] = value


def _link(bandwidth_per_cable, latency, medium, cables=1):
    """Edge attributes of ``cables`` parallel cables, as :func:`netemu.graph.add_link` sets them
    (and refused as it refuses a total outside the graph contract's bandwidth range)."""
    from netemu.graph import BANDWIDTH_RANGE, _bandwidth_ok
    total = bandwidth_per_cable * cables
    if not _bandwidth_ok(total):
        raise ParameterError(f"{cables} cable(s) of {bandwidth_per_cable!r} bytes/s make a "
                             f"{total!r} bytes/s link; allowed: {BANDWIDTH_RANGE[0]:g} to "
                             f"{BANDWIDTH_RANGE[1]:g} bytes/s a link")
    return {"bandwidth": total, "latency": latency, "medium": medium, "cables": cables}


def _check_ports(switch, radix, *uses):
    """Raise if the ports one ``switch`` uses, given as (how it is counted, ports), exceed radix."""
    total = sum(ports for _, ports in uses)
    if total > radix:
        raise ParameterError(f"each {switch} needs {' + '.join(text for text, _ in uses)} = "
                             f"{total} ports, more than radix={radix}")


#: Radix up to which a refused oversubscription lists the whole ratios the radix allows.
_LIST_RATIOS_UP_TO = 100_000


def _split_ports(radix, oversubscription):
    """(down, up) leaf ports for a down:up ratio; both must be whole numbers >= 1."""
    if isinstance(oversubscription, bool) or not isinstance(oversubscription, numbers.Real):
        raise ParameterError(f"oversubscription must be a number > 0 (down:up ratio), "
                             f"got {oversubscription!r}")
    check_positive("oversubscription", oversubscription)
    ratio = Fraction(oversubscription)
    up = Fraction(radix) / (ratio + 1)
    down = radix - up
    if up.denominator != 1 or down.denominator != 1 or up < 1 or down < 1:
        # The whole ratios are listed for switch-sized radices only: listing them walks
        # every port count below the radix.
        whole = ("whole ratios: " + ", ".join(
            str((radix - u) // u) for u in range(radix - 1, 0, -1) if radix % u == 0)
            if radix <= _LIST_RATIOS_UP_TO else "u must divide the radix")
        raise ParameterError(
            f"oversubscription={oversubscription!r} splits the radix={radix} leaf ports into "
            f"{float(down):g} down and {float(up):g} up; both must be whole numbers >= 1, i.e. "
            f"oversubscription = d/u with d + u = {radix} ({whole})")
    return int(down), int(up)
