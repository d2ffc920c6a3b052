"""Fire-Flyer experiments: HFReduce bounds, the next-generation fabric, Table III totals,
Fig. 7b's cross-zone points and the sensitivity sweeps — each checked against a closed form
derived here from the graph or the catalogue, never against a paper value."""

import pytest

from netemu.experiments import (fire_flyer_next_gen, hfreduce_bounds, hfreduce_nvlink,
                                sensitivity, topology_cost)
from netemu.experiments.support import cluster
from netemu.topologies.hardware import ROCE_400G_128
from netemu.units import GB, MiB


# --- hfreduce_bounds ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bounds_row():
    return hfreduce_bounds.run_point({"gpus": 128})[0]


def test_bounds_follow_from_the_graph(bounds_row):
    G = cluster("fire-flyer-2-cluster")
    r = bounds_row
    mem = [c for n, c in G.nodes(data="capacity") if n.startswith("n1/")
           and G.nodes[n]["role"] == "memory"]
    # [FF] §IV-D3's steps counted per byte: D2H 8, reduce 8 + 1, network 2 + 2 + 1, H2D 2.
    assert r["memory_bytes_per_byte"] == pytest.approx(8 + 8 + 1 + 2 + 2 + 1 + 2)
    assert r["even_memory_bound_GBps"] == pytest.approx(sum(mem) / 24 / GB)
    # An internal server of the double binary tree sends 1 + 1/2 + 1/2 = 2 per byte.
    nic_port = next(d["bandwidth"] for _, v, d in G.edges("n1/nic0", data=True)
                    if G.nodes[v]["role"] == "leaf")
    assert r["NIC_port_bound_GBps"] == pytest.approx(nic_port / 2 / GB)
    # GPU5 and GPU6 each push 1 byte up (D2H) and take 1 down (H2D) through the shared port.
    up = G.edges["n0/rp5", "n0/cpu1"]["bandwidth"]
    assert r["shared_root_port_bound_GBps"] == pytest.approx(up / 2 / GB)
    assert r["shared_port_both_directions_GBps"] == pytest.approx(up / 4 / GB)
    # The NIC socket's memory holds D2H 4 + reduce reads 4 + write 1 + H2D read 1 + the other
    # socket's H2D read 1 + network 2 + 2 + 1 = 16 of the 24.
    assert r["host_memory_bound_GBps"] == pytest.approx(max(mem) / 16 / GB)
    groups = {g: r[f"{hfreduce_bounds._key(g)}_bound_GBps"] for g in hfreduce_bounds.GROUPS}
    assert r["solver_rate_GBps"] == pytest.approx(min(b for b in groups.values() if b))
    one_budget = "shared root port, one budget"
    assert r["netemu_practical_GBps"] == pytest.approx(
        min(b for g, b in groups.items() if b and g != one_budget))
    assert r["with_both_direction_port_GBps"] == pytest.approx(
        min(r["netemu_practical_GBps"], up / 4 / GB))
    assert r["paper_form_practical_GBps"] == pytest.approx(
        min(r["even_memory_bound_GBps"], r["NIC_port_bound_GBps"],
            r["shared_root_port_bound_GBps"]))


def test_bounds_report_labels_checks_and_predictions(bounds_row, tmp_path):
    rows = [dict(bounds_row)]
    cmp = hfreduce_bounds.report(rows, tmp_path)
    kinds = {c["metric"]: c["kind"] for c in cmp}
    assert kinds["host-memory bytes per byte"] == kinds["theoretical bound GB/s"] == "check"
    assert {kinds[m] for m in kinds if m.startswith("practical")} == {"prediction"}
    assert (tmp_path / "hfreduce_bounds.csv").exists()
    assert (tmp_path / "hfreduce_bounds.png").stat().st_size > 0


# --- fire_flyer_next_gen -----------------------------------------------------------------------

@pytest.mark.parametrize("planes", [1, 4])
def test_next_gen_counts_are_radix_arithmetic(planes):
    r = fire_flyer_next_gen.run_point({"planes": planes})[0]
    R = ROCE_400G_128.ports
    assert r["endpoints"] == planes * R * R // 2
    assert r["switches"] == planes * (R + R // 2)
    assert r["links"] == planes * R * (R // 2)
    assert r["cost_musd"] == pytest.approx(r["switches_musd"] + r["cables_musd"])


def test_next_gen_report_compares_the_count_as_a_check(tmp_path):
    rows = [fire_flyer_next_gen.run_point({"planes": p})[0] for p in (1, 4)]
    cmp = fire_flyer_next_gen.report(rows, tmp_path)
    assert [c.get("kind") for c in cmp if c["paper"] is not None] == ["check"]
    assert all(c.get("kind") is None and c["error"] is None for c in cmp if c["paper"] is None)
    assert (tmp_path / "fire_flyer_next_gen.png").stat().st_size > 0


# --- Table III totals --------------------------------------------------------------------------

def test_table3_totals_add_the_papers_servers_to_our_network_in_its_units(monkeypatch):
    # The arithmetic on made-up tables (not the paper's figures): network prices 500 / 900 /
    # 3,000 units, servers at 100 / 200 / 300 units.
    names = ("fire-flyer-2", "ff-pcie-3layer", "ff-dgx-3layer")
    net = dict(zip(names, (500.0, 900.0, 3000.0)))
    servers = dict(zip(names, (100.0, 200.0, 300.0)))
    monkeypatch.setattr(topology_cost, "FF_TABLE3",
                        {n: {"switches": 1, "network_price": net[n]} for n in names})
    monkeypatch.setattr(topology_cost, "FF_TABLE3_PRICES",
                        {n: {"server_price": servers[n], "total_price": servers[n] + net[n]}
                         for n in names})
    measured = {"fire-flyer-2": {"cost_usd": 1000.0}, "ff-pcie-3layer": {"cost_usd": 2000.0},
                "ff-dgx-3layer": {"cost_usd": 10000.0}}
    rows = {(r["point"], r["metric"]): r for r in topology_cost.table3_totals(measured)}
    unit = 500.0 / 1000.0
    for name, m in measured.items():
        total = servers[name] + m["cost_usd"] * unit
        assert rows[name, "total_price"]["netemu"] == pytest.approx(total)
        assert rows[name, "network_share_of_total"]["netemu"] == pytest.approx(
            m["cost_usd"] * unit / total)
    base = servers["fire-flyer-2"] + 1000.0 * unit
    assert rows["ff-dgx-3layer", "total_vs_ff2"]["netemu"] == pytest.approx(
        (servers["ff-dgx-3layer"] + 10000.0 * unit) / base)
    assert {r["kind"] for r in rows.values()} == {"check"}


# --- Fig. 7b cross-zone points -----------------------------------------------------------------

def test_fig7b_cross_zone_point_crosses_once_and_times_both_trees():
    within = hfreduce_nvlink.run_point({"gpus": 128, "zones": "within", "join": "roots",
                                        "latency": False})[0]
    cross = hfreduce_nvlink.run_point({"gpus": 128, "zones": "cross", "join": "nccl",
                                       "latency": False})[0]
    assert within["cross_zone_pairs"] == 0 and cross["cross_zone_pairs"] == 1
    assert cross["slowest_tree"] == "tree2"
    assert cross["time_s"] == pytest.approx(max(cross["tree1_time_s"], cross["tree2_time_s"]))
    assert cross["tree2_time_s"] > cross["tree1_time_s"]


# --- sensitivity -------------------------------------------------------------------------------

def test_chunk_point_is_the_pipeline_closed_form():
    rows = [sensitivity.run_point({"study": "chunk", "algorithm": "hfreduce", "gpus": 128,
                                   "chunk": c})[0] for c in (MiB, 8 * MiB)]
    S = sensitivity.SIZE
    for r in rows:
        # No link latency on the preset: t = (S + (H - 1) chunk) / X.
        t = (S + (r["chain_hops"] - 1) * r["chunk"]) / (r["rate_GBps"] * GB)
        assert r["algbw_GBps"] == pytest.approx(S / t / GB, rel=1e-9)
    assert rows[0]["algbw_GBps"] > rows[1]["algbw_GBps"]


def test_spread_is_max_minus_min_over_the_default():
    rows = [{"study": "chunk", "algorithm": a, "gpus": n, "chunk": c, "algbw_GBps": float(c)}
            for a, gpus in sensitivity.CHUNK_CASES for n in gpus for c in sensitivity.CHUNKS]
    rows += [{"study": "layout", "param": p, "value": v,
              **{f"{n}_musd": 10.0 + i for n in sensitivity.COST_PRESETS},
              **{f"{n}_vs_ff2": 1.0 for n in sensitivity.RATIOS}}
             for p, values in sensitivity.LAYOUT_RANGES.items() for i, v in enumerate(values)]
    out = sensitivity.spread(rows)
    chunk = out[0]
    lo, hi = min(sensitivity.CHUNKS), max(sensitivity.CHUNKS)
    assert chunk["spread_pct"] == pytest.approx(100 * (hi - lo) / (4 * MiB))
    overhead = next(s for s in out if s["choice"] == "layout overhead_m"
                    and s["result"] == "isca-ft2_musd")
    # overhead_m values 0, 1, 2 (default), 3, 5 -> 10 .. 14, default 12.
    assert overhead["spread_pct"] == pytest.approx(100 * 4 / 12)


def test_layout_point_reprices_with_the_changed_layout(tmp_path):
    from dataclasses import replace

    from netemu.topologies.cost import DEFAULT_LAYOUT, cost
    from netemu.topologies.presets import preset
    r = sensitivity.run_point({"study": "layout", "param": "overhead_m", "value": 5.0})[0]
    G = preset("fire-flyer-2")
    expect = cost(G, layout=replace(DEFAULT_LAYOUT, overhead_m=5.0))["total_usd"] / 1e6
    assert r["fire-flyer-2_musd"] == pytest.approx(expect)
    assert r["ff-pcie-3layer_vs_ff2"] == pytest.approx(r["ff-pcie-3layer_musd"] / expect)


def test_fig7b_report_compares_the_default_join_and_writes_the_loss(tmp_path):
    import csv

    rows = [{"gpus": p["gpus"], "zones": p["zones"], "join": p["join"], "latency": p["latency"],
             "algbw_GBps": 10.0 if p["zones"] == "within" else (9.0 if p["join"] == "roots" else 8.0)}
            for p in hfreduce_nvlink.points()]
    cmp = hfreduce_nvlink.report(rows, tmp_path)
    assert len(cmp) == len(hfreduce_nvlink.WITHIN) + len(hfreduce_nvlink.CROSS)
    assert {c["netemu"] for c in cmp if "cross" in c["point"]} == {9.0}
    with open(tmp_path / "hfreduce_nvlink.csv") as fh:
        loss = {(r["join"], r["latency"]): float(r["loss_vs_within_pct"])
                for r in csv.DictReader(fh) if r["zones"] == "cross"}
    assert loss[("roots", "False")] == pytest.approx(10.0)
    assert loss[("nccl", "False")] == pytest.approx(20.0)


@pytest.mark.parametrize("fig", ["9a", "9b"])
def test_fig9_layouts_fit_the_40gb_gpus_and_would_not_without_zero1(fig):
    # [FF] Table I's GPUs are A100-40GB: every point's layout must fit them (netemu's count is
    # a lower bound), and the optimizer state whole (ZeRO-0) would not, which is why the
    # experiment shards it.
    from netemu.collectives.layout import Layout
    from netemu.collectives.models import MODELS
    from netemu.collectives.step import Job, run_step
    from netemu.experiments import training_scaling as ts
    from netemu.topologies.compute import A100_PCIE_COMPUTE
    s = ts.SETUPS[fig]
    for n in (s["gpus"][0], s["gpus"][-1]):
        (row,) = ts.run_point({"fig": fig, "gpus": n, "microbatch": 1, "compute": "roofline",
                               "hbm": 1.0, "gemm": "default"})
        assert row["fits"] is True and row["memory_GiB"] < 40
    lay = Layout(dp=s["gpus"][0] // s["pp"], pp=s["pp"], dp_library="hfreduce",
                 stagger_pp=True, precision="fp16")
    (r,) = run_step(cluster("fire-flyer-2-cluster"),
                    Job("z0", MODELS[s["model"]], lay, s["seq"], s["batch"]),
                    gpu=A100_PCIE_COMPUTE)
    assert r.fits is False and r.memory["total"] > 40 * 2**30
