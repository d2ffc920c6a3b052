"""The experiment runner and its CLI: names, exit codes, failures named, pool = Dask = serial."""

import sys
import types

import pytest

import netemu.experiments as experiments
from netemu.experiments import runner
from netemu.cli import main as cli
from netemu.errors import ExperimentError, ParameterError

# A quick experiment (three points, a few seconds): inference_speed_limit now also builds the
# 2,048-GPU cluster for its prediction row.
FAST = "node_limited_routing"


def test_every_registered_experiment_follows_the_interface():
    for name in experiments.EXPERIMENTS:
        m = runner.load(name)
        assert m.NAME == name
        assert isinstance(m.TITLE, str) and m.TITLE
        assert callable(m.run_point) and callable(m.report)
        assert len(m.points()) > 0


def test_list_prints_every_experiment(capsys):
    assert cli(["experiments", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == experiments.EXPERIMENTS


@pytest.mark.parametrize("argv, needle", [
    (["experiments", "run", "nope"], "unknown experiment 'nope'; allowed: topology_cost"),
    (["experiments", "run"], "or --all"),
    (["experiments", "run", "--all", FAST], "not both"),
    (["experiments", "run", "--jobs", "0", FAST], "at least 1 worker, got 0"),
    (["experiments", "run", "--jobs", "two", FAST], "'two' is not a whole number"),
    (["experiments", "run", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1", FAST],
     "give one or the other"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys, tmp_path):
    assert cli(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    assert not any(tmp_path.iterdir()), "nothing is written after bad arguments"


def test_unreachable_scheduler_exits_2_naming_it(capsys, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", "1s")
    assert cli(["experiments", "run", FAST, "--scheduler", "tcp://127.0.0.1:1",
                "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tcp://127.0.0.1:1" in err


def test_library_rejects_bad_jobs():
    with pytest.raises(ParameterError, match="got 0"):
        runner.sweep([FAST], jobs=0, progress=False)
    with pytest.raises(ParameterError, match="got True"):
        runner.sweep([FAST], jobs=True, progress=False)


@pytest.fixture
def broken(monkeypatch):
    """A registered experiment whose second point raises."""
    m = types.ModuleType("netemu.experiments.broken")
    m.NAME, m.TITLE = "broken", "fails at one point"
    m.points = lambda: [{"k": 0}, {"k": 1}, {"k": 2}]

    def run_point(point):
        if point["k"] == 1:
            raise ZeroDivisionError("boom")
        return [{"k": point["k"]}]

    m.run_point = run_point
    m.report = lambda rows, out_dir: []
    monkeypatch.setitem(sys.modules, "netemu.experiments.broken", m)
    monkeypatch.setattr(experiments, "EXPERIMENTS", experiments.EXPERIMENTS + ["broken"])
    monkeypatch.setattr(runner, "EXPERIMENTS", experiments.EXPERIMENTS)
    return m


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_point_fails_the_run_and_is_named(broken, jobs, tmp_path):
    # jobs=2 forks a pool: the workers inherit the registered module.
    with pytest.raises(ExperimentError, match=r"experiment broken, point \{'k': 1\}: "
                                              r"ZeroDivisionError: boom"):
        runner.run(["broken"], jobs=jobs, out_dir=tmp_path, progress=False, quiet=True)
    assert not (tmp_path / "summary.csv").exists()


def test_cli_failed_point_exits_1(broken, capsys, tmp_path):
    assert cli(["experiments", "run", "broken", "--jobs", "1", "--quiet",
                "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "point {'k': 1}" in err


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.suffix in (".csv", ".md")}


def test_serial_pool_and_dask_give_identical_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    names = [FAST, "storage_read"]
    serial, pool, dask = tmp_path / "serial", tmp_path / "pool", tmp_path / "dask"
    runner.run(names, jobs=1, out_dir=serial, progress=False, quiet=True)
    runner.run(names, jobs=2, out_dir=pool, progress=False, quiet=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc:
        runner.run(names, scheduler=lc.scheduler_address, out_dir=dask, progress=False,
                   quiet=True)
    s = _files(serial)
    assert set(s) == {f"{FAST}.csv", "storage_read.csv", "summary.csv", "summary.md",
                      "summary_figures.csv"}
    assert _files(pool) == s
    assert _files(dask) == s
    for d in (serial, pool, dask):
        assert (d / f"{FAST}.png").stat().st_size > 0


def test_python_m_experiments_runs_named_experiments(tmp_path, capsys):
    from netemu.experiments.__main__ import main
    assert main([FAST, "--out", str(tmp_path), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "nodes per token" in out and "largest prediction error" in out
    assert {p.name for p in tmp_path.iterdir()} == {
        f"{FAST}.csv", f"{FAST}.png", "summary.csv", "summary.md", "summary_figures.csv",
        "index.html", "run.json"}


def test_rerunning_one_experiment_keeps_the_others_rows(tmp_path):
    """summary.csv stays whole: a run replaces its experiments' rows, keeps the rest as written."""
    import csv
    runner.run([FAST, "storage_read"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    both = (tmp_path / "summary.csv").read_bytes(), (tmp_path / "summary.md").read_bytes()
    runner.run(["storage_read"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    assert ((tmp_path / "summary.csv").read_bytes(), (tmp_path / "summary.md").read_bytes()) \
        == both
    runner.run([FAST], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    assert (tmp_path / "summary.csv").read_bytes() == both[0]
    rows = list(csv.DictReader(open(tmp_path / "summary.csv", newline="")))
    # In the registry's order, each experiment's rows once.
    names = [r["experiment"] for r in rows]
    assert names == sorted(names, key=experiments.EXPERIMENTS.index)
    assert names.count(FAST) == len(runner.run([FAST], jobs=1, out_dir=tmp_path / "alone",
                                              progress=False, quiet=True)[FAST])


def test_summary_rows_carry_kind_band_and_note(tmp_path, monkeypatch):
    """A check stays a check; a module's TOLERANCE sets the band of its predictions only."""
    import csv
    from netemu.experiments import storage_read
    monkeypatch.setattr(storage_read, "TOLERANCE", 0.05, raising=False)
    runner.run(["storage_read"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "summary.csv", newline="")))
    assert tuple(rows[0]) == runner.SUMMARY_FIELDS
    bound = next(r for r in rows if r["metric"] == "read bound TB/s")
    assert (bound["kind"], bound["band"], bound["in_band"]) == ("check", "", "")
    assert "360" in bound["note"]
    for r in rows:
        if r["kind"] == "prediction":
            assert float(r["band"]) == 0.05
            assert r["in_band"] == ("yes" if abs(float(r["error"])) <= 0.05 else "no")
    figures = list(csv.DictReader(open(tmp_path / "summary_figures.csv", newline="")))
    checks_only = next(f for f in figures if f["metric"] == "read bound TB/s")
    assert (checks_only["predictions"], checks_only["checks"]) == ("0", "1")
    md = (tmp_path / "summary.md").read_text()
    assert md.index("**Predictions**") < md.index("**Consistency checks**") < \
        md.index("**Per figure**")


def test_run_with_readme_regenerates_its_blocks(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- results-table -->\n<!-- /results-table -->\n"
                      "<!-- failure-table -->\n<!-- /failure-table -->\n")
    assert cli(["experiments", "run", FAST, "--jobs", "1", "--quiet", "--out", str(tmp_path),
                "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "| ISCA §4.3 | H800 node | scale-up / scale-out bandwidth |" in text


def test_points_go_out_longest_first_ties_in_order():
    todo = [("a", 0, {"k": 0}), ("a", 1, {"k": 1}), ("b", 0, {"k": 0}), ("b", 1, {"k": 1})]
    from netemu.experiments.point_costs import point_key
    costs = {("a", point_key({"k": 1})): 5.0, ("b", point_key({"k": 0})): 9.0,
             ("a", point_key({"k": 0})): 1.0, ("b", point_key({"k": 1})): 1.0}
    assert runner.longest_first(todo, costs) == [todo[2], todo[1], todo[0], todo[3]]


def test_run_records_each_points_cpu_in_run_json(tmp_path):
    import json
    runner.run([FAST], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    run = json.loads((tmp_path / "run.json").read_text())
    points = runner.load(FAST).points()
    assert [t["point"] for t in run["timings"]] == points
    assert all(t["cpu_s"] >= 0 and t["wall_s"] >= 0 and t["start_s"] >= 0
               for t in run["timings"])
    assert run["cpu_s"][FAST] == pytest.approx(sum(t["cpu_s"] for t in run["timings"]),
                                               abs=1e-3)
    # A later run in the same folder orders its points by these timings.
    assert len(runner.previous_costs(tmp_path)) == len(points)


@pytest.fixture
def two_fake(monkeypatch):
    """Two registered experiments that log their points and reports (serial runs only)."""
    log = []

    def make(name, n, fail_report=False):
        m = types.ModuleType(f"netemu.experiments.{name}")
        m.NAME, m.TITLE = name, name

        def points():
            return [{"k": k} for k in range(n)]

        def run_point(point):
            log.append(("point", name, point["k"]))
            return [{"k": point["k"]}]

        def report(rows, out_dir):
            log.append(("report", name, [r["k"] for r in rows]))
            if fail_report:
                raise ValueError("bad figure")
            (out_dir / f"{name}.csv").write_text("k\n")
            return [{"point": "all", "metric": "points", "paper": None, "netemu": len(rows)}]

        m.points, m.run_point, m.report = points, run_point, report
        monkeypatch.setitem(sys.modules, f"netemu.experiments.{name}", m)
        return m

    make("early", 1)
    make("late", 2)
    make("badreport", 1, fail_report=True)
    names = experiments.EXPERIMENTS + ["early", "late", "badreport"]
    monkeypatch.setattr(experiments, "EXPERIMENTS", names)
    monkeypatch.setattr(runner, "EXPERIMENTS", names)
    return log


def test_an_experiments_report_runs_once_its_last_point_is_in(two_fake, tmp_path):
    runner.run(["early", "late"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    assert two_fake == [("point", "early", 0), ("report", "early", [0]),
                        ("point", "late", 0), ("point", "late", 1), ("report", "late", [0, 1])]
    assert (tmp_path / "early.csv").exists() and (tmp_path / "late.csv").exists()


def test_a_failed_report_leaves_no_results_and_no_folder_it_made(two_fake, tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="bad figure"):
        runner.run(["early", "badreport", "late"], jobs=1, out_dir=out, progress=False,
                   quiet=True)
    # The failure stopped the sweep: "late"'s points never ran, nothing was written.
    assert ("point", "late", 0) not in two_fake
    assert not out.exists()


def test_short_points_go_last_by_experiment_heaviest_report_first():
    from netemu.experiments.point_costs import SHORT, point_key
    todo = [("a", 0, {"k": 0}), ("a", 1, {"k": 1}), ("b", 0, {"k": 0}), ("b", 1, {"k": 1}),
            ("c", 0, {"k": 0})]
    small = SHORT / 10
    costs = {("a", point_key({"k": 0})): small, ("a", point_key({"k": 1})): 2 * small,
             ("b", point_key({"k": 0})): small, ("b", point_key({"k": 1})): 7.0,
             ("c", point_key({"k": 0})): small}
    # b's long point first; then the short ones: b's report costs most, then c's, then a's
    # (whose two short points go longest first).
    order = runner.longest_first(todo, costs, {"a": 0.1, "b": 2.0, "c": 0.5})
    assert order == [todo[3], todo[2], todo[4], todo[1], todo[0]]
    # Without report costs for them (none recorded), short points keep experiment order.
    order = runner.longest_first(todo, costs, {"a": 0.0, "b": 0.0, "c": 0.0})
    assert order == [todo[3], todo[1], todo[0], todo[2], todo[4]]


def test_previous_report_costs_read_from_run_json(tmp_path):
    assert runner.previous_report_costs(tmp_path) == {}
    (tmp_path / "run.json").write_text('{"report_cpu_s": {"a": 1.5}}')
    assert runner.previous_report_costs(tmp_path) == {"a": 1.5}
    (tmp_path / "run.json").write_text("not json")
    assert runner.previous_report_costs(tmp_path) == {}


def test_affinity_keeps_an_experiment_on_the_worker_that_ran_it():
    from netemu.experiments.runner import _Affinity
    todo = [("a", 0, {}), ("b", 0, {}), ("a", 1, {}), ("b", 1, {}), ("c", 0, {}),
            ("a", 2, {})]
    pick = _Affinity(todo)
    first, second = pick.take(None), pick.take(None)
    assert (first[0], second[0]) == ("a", "b")          # in order while no worker is known
    pick.done(101, first)
    assert pick.take(101) == ("a", 1, {})               # its own experiment, skipping b's point
    pick.done(202, second)
    assert pick.take(202) == ("b", 1, {})
    # Nothing of b left: worker 202 takes an experiment no worker has run (c), not a's.
    assert pick.take(202) == ("c", 0, {})
    # Worker 101 still has a's last point; once only other workers' points are left, a free
    # worker takes them over rather than wait, and a is then its own experiment too.
    assert pick.take(202) == ("a", 2, {})
    assert pick.take(101) is None
    pick = _Affinity([("a", 0, {}), ("b", 0, {}), ("a", 1, {}), ("b", 1, {})])
    pick.done(1, pick.take(None))       # worker 1 ran a
    assert pick.take(2) == ("b", 0, {})  # b: no worker started it
    assert pick.take(2) == ("b", 1, {})
    assert pick.take(2) == ("a", 1, {})  # only a is left: taken over
    assert pick.warm[2] == {"a", "b"}
