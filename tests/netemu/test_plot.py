"""Layered drawings: grouping keeps every node and cable, and large groupings fall back to roles."""

from collections import Counter

import pytest

from netemu import plot
from netemu.topologies import dragonfly, two_layer_fat_tree


def _cables(G):
    return sum(d.get("cables", 1) for _, _, d in G.edges(data=True))


@pytest.mark.parametrize("key", [plot._group_key, lambda n, d: (d.get("role"),)])
def test_grouping_keeps_every_node_and_cable(key):
    G = dragonfly(4, 2, 2)
    nodes, lines, internal = plot._grouped(G, key)
    assert sum(count for _, count, _ in nodes.values()) == G.number_of_nodes()
    assert sum(c for c, _, _ in lines.values()) + sum(internal.values()) == _cables(G)
    roles = Counter(r for _, r in G.nodes(data="role"))
    by_role = Counter()
    for k, (_, count, d) in nodes.items():
        by_role[d["role"]] += count
    assert by_role == roles


def test_many_groups_are_drawn_by_role(tmp_path, monkeypatch):
    # a = 8 routers a group, h = 10 global links each: 81 router groups, whose
    # 81 * 80 / 2 = 3,240 pairs each hold one global cable: past the line limit.
    G = dragonfly(8, 1, 10)
    grouped, lines, _ = plot._grouped(G, plot._group_key)
    assert len(lines) >= 81 * 80 // 2 > plot.LINE_LIMIT
    titles = []
    monkeypatch.setattr(plot, "save_figure",
                        lambda fig, path: titles.append(fig.axes[0].get_title()))
    plot.draw_layered(G, tmp_path / "df.png")
    assert titles and titles[0].endswith("(grouped by role)")


def test_few_groups_keep_their_positions(tmp_path, monkeypatch):
    G = two_layer_fat_tree(32)  # 560 nodes: past DETAIL_LIMIT
    titles = []
    monkeypatch.setattr(plot, "save_figure",
                        lambda fig, path: titles.append(fig.axes[0].get_title()))
    plot.draw_layered(G, tmp_path / "ft.png")
    assert titles[0].endswith("(alike nodes grouped)")
