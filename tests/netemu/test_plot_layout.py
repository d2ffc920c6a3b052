"""Cluster drawings: server parts in layers under the fabric, labels that overlap nothing."""

import itertools

import pytest

import netemu.plot as plot
from netemu.topologies import preset


def _drawn(monkeypatch, G, tmp_path):
    """The figure draw_layered makes for ``G`` (kept instead of closed)."""
    got = {}
    monkeypatch.setattr(plot, "save_figure", lambda fig, path: got.setdefault("fig", fig))
    plot.draw_layered(G, tmp_path / "x.png")
    return got["fig"]


@pytest.fixture(scope="module")
def cluster():
    return preset("deepseek-v3-cluster", fabric="mrft")


def test_server_parts_take_their_own_rows_and_the_host_side(cluster):
    from netemu.plot import _group_key

    nodes = {}
    for n, d in cluster.nodes(data=True):
        nodes.setdefault(_group_key(n, d), (n, 1, d))
    pos = plot.layered_positions(nodes)
    at = {k[0]: pos[k] for k in nodes if len(k) == 1}     # the server parts: one group each
    y = {r: at[r][1] for r in ("pcie_switch", "gpu", "nvswitch", "cpu", "memory")}
    nic_y = max(pos[k][1] for k in nodes if k[0] == "nic")
    leaf_y = min(pos[k][1] for k in nodes if k[0] == "leaf")
    # Fabric above, then PCIe switches, GPUs, NVSwitch: each strictly lower.
    assert leaf_y > nic_y > y["pcie_switch"] > y["gpu"] > y["nvswitch"]
    # CPU and memory in a column of their own (memory under its CPU), not above the GPUs.
    assert at["cpu"][0] == at["memory"][0] != at["gpu"][0]
    assert y["memory"] < y["cpu"]


def test_no_label_overlaps_another_or_a_box(cluster, monkeypatch, tmp_path):
    fig = _drawn(monkeypatch, cluster, tmp_path)
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    boxes = [plot._extent(t, r) for t in ax.texts]
    assert len(boxes) > 20
    overlapping = [(ax.texts[i].get_text(), ax.texts[j].get_text())
                   for i, j in itertools.combinations(range(len(boxes)), 2)
                   if plot._overlap(boxes[i], boxes[j]) > 0]
    assert overlapping == []


def test_a_label_moves_along_its_edge_off_a_box(monkeypatch):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    box = ax.text(5, 5, "box", ha="center", va="center", fontsize=10,
                  bbox=dict(boxstyle="round,pad=0.3"))
    (label,) = plot.place_labels(ax, [("label", plot.along_edge((5, 0), (5, 10)))], [box])
    r = fig.canvas.get_renderer()
    x, y = label.get_position()
    assert x == 5 and y != 5                         # still on the edge, off its midpoint
    assert plot._overlap(plot._extent(label, r), plot._extent(box, r)) == 0
    plt.close(fig)


@pytest.fixture(scope="module")
def small_cluster():
    from netemu.topologies import cluster, two_layer_fat_tree
    from netemu.topologies.servers import h800_server
    from netemu.units import gbps

    fabric = two_layer_fat_tree(leaves=2, spines=1, hosts_per_leaf=2, link_bandwidth=gbps(400))
    return cluster(fabric, h800_server)


def test_node_by_node_each_server_takes_its_own_slot(small_cluster):
    G = small_cluster
    assert G.number_of_nodes() <= plot.DETAIL_LIMIT          # drawn node by node
    pos = plot.layered_positions({n: (n, 1, d) for n, d in G.nodes(data=True)})
    spans = {}
    for n, d in G.nodes(data=True):
        if "server" in d:
            lo, hi = spans.get(d["server"], (float("inf"), float("-inf")))
            spans[d["server"]] = (min(lo, pos[n][0]), max(hi, pos[n][0]))
    ordered = sorted(spans.values())
    assert len(ordered) == 4
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:]))   # side by side, apart
    for n, d in G.nodes(data=True):
        if d["role"] == "gpu":
            sw = next(m for m in G[n] if G.nodes[m]["role"] == "pcie_switch")
            nvs = next(m for m in G[n] if G.nodes[m]["role"] == "nvswitch")
            assert pos[sw][1] > pos[n][1] > pos[nvs][1]


def test_no_box_overlaps_in_a_small_cluster(small_cluster, monkeypatch, tmp_path):
    fig = _drawn(monkeypatch, small_cluster, tmp_path)
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    boxes = [plot._extent(t, r) for t in ax.texts]
    assert [(ax.texts[i].get_text(), ax.texts[j].get_text())
            for i, j in itertools.combinations(range(len(boxes)), 2)
            if plot._overlap(boxes[i], boxes[j]) > 0] == []
