"""Failures the robustness soak (benchmarks/fuzz_soak.py) found, each as a reproducer."""

import os
import signal
import subprocess
import sys
import time

import pytest

#: A child that runs a two-worker sweep whose points block, prints its workers' pids and
#: waits to be killed.  run_task is replaced by a blocking function under the same name,
#: so the pool pickles it by reference as it does the real one.
PARENT = r"""
import multiprocessing, threading, time
from netemu.experiments import runner

def run_task(*task):
    time.sleep(120)

run_task.__module__ = runner.__name__
runner.run_task = run_task
sweep = runner._pool([("x", i, i) for i in range(4)], 2)
threading.Thread(target=lambda: next(sweep, None), daemon=True).start()
while len(multiprocessing.active_children()) < 2:
    time.sleep(0.05)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(120)
"""


def _alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_sweep_workers_die_with_their_parent(sig):
    # Found by the soak's interrupts: `experiments run --jobs 2` stopped at a bad moment left
    # its two pool workers orphaned, blocked on the task queue for ever (and holding the
    # caller's pipes open).  Killed in any way, the parent must take its workers with it.
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        # Liveness, not speed: the workers are given a generous minute to go.
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [p for p in pids if _alive(p)]
    finally:
        proc.kill()
        proc.wait()
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert left == []


class _Stuck(Exception):
    pass


def _stuck(signum, frame):
    raise _Stuck("still running after 30 s: a loop over the radix")


@pytest.mark.parametrize("radix, over", [(2**63 - 1, 1), (2**63, 2)])
def test_huge_radix_with_oversubscription_is_refused_at_once(radix, over):
    # Found by the soak: `topo info two-layer-fat-tree --radix 9223372036854775807
    # --oversubscription 1` never returned (the error message listed the whole ratios by
    # walking every port count below the radix).  The alarm turns that hang into a failure.
    from netemu.errors import ParameterError
    from netemu.topologies.fat_tree import two_layer_fat_tree

    old = signal.signal(signal.SIGALRM, _stuck)
    signal.alarm(30)
    try:
        with pytest.raises(ParameterError, match=rf"radix={radix} leaf ports .*\(u must divide"):
            two_layer_fat_tree(radix=radix, oversubscription=over)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_small_radix_still_lists_its_whole_ratios():
    from netemu.errors import ParameterError
    from netemu.topologies.fat_tree import two_layer_fat_tree

    # radix 12 = d + u with u | 12: u in {6, 4, 3, 2, 1} gives d/u = 1, 2, 3, 5, 11.
    with pytest.raises(ParameterError, match=r"whole ratios: 1, 2, 3, 5, 11\)"):
        two_layer_fat_tree(radix=12, oversubscription=4)


@pytest.mark.parametrize("hidden", ["9223372036854775807", "99999999999999999999",
                                    "1" + "0" * 400])
def test_bench_moe_huge_hidden_is_one_line(hidden, capsys):
    # Found by the soak: `bench moe --algo deepep ... --hidden 9223372036854775807` ended in
    # OverflowError after the whole solve (the per-rank byte counts overflow int64).
    from netemu.cli import main

    code = main(["bench", "moe", "--algo", "deepep", "--cluster", "deepseek-v3-cluster",
                 "--gpus", "16", "--hidden", hidden])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "hidden" in err[0]


def test_interrupt_while_the_staging_is_removed_leaves_no_temp_files(tmp_path, monkeypatch):
    # Found by the soak (interrupt trial 54, SIGTERM 2 s into `experiments run latency`): the
    # new set was in place but the hidden staging directory stayed, because the interrupt
    # landed while it was being removed.  Here SIGTERM arrives at that moment, every time.
    from netemu.experiments import runner

    real = runner.shutil.rmtree

    def rmtree(path, *a, **k):
        if os.path.basename(str(path)).startswith(runner.STAGING_PREFIX):
            os.kill(os.getpid(), signal.SIGTERM)
        return real(path, *a, **k)

    monkeypatch.setattr(runner.shutil, "rmtree", rmtree)
    with pytest.raises(KeyboardInterrupt):
        runner.run(["latency"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    assert (tmp_path / "summary.csv").is_file()          # the new set was committed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".netemu")] == []


#: A child whose SIGTERM handler raises KeyboardInterrupt (as `experiments run` installs),
#: with a two-worker sweep of blocking points; it terminates one worker as the sweep's
#: clean-up does and prints that worker's exit code.
TERMINATED = r"""
import multiprocessing, signal, threading, time
from netemu.experiments import runner

def run_task(*task):
    time.sleep(120)

def handler(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, handler)
run_task.__module__ = runner.__name__
runner.run_task = run_task
sweep = runner._pool([("x", i, i) for i in range(4)], 2)
threading.Thread(target=lambda: next(sweep, None), daemon=True).start()
while len(multiprocessing.active_children()) < 2:
    time.sleep(0.05)
time.sleep(1)                          # the workers are inside their task
worker = multiprocessing.active_children()[0]
worker.terminate()
worker.join(60)
print(worker.exitcode, flush=True)
"""


def test_a_terminated_worker_dies_of_the_signal():
    # Found by the soak (interrupt trial 47 after the fixes above: the run still alive 120 s
    # after SIGTERM, its pool's shutdown waiting on workers).  Workers are forked with the
    # parent's SIGTERM-raises-KeyboardInterrupt handler, so terminate() raised inside them
    # instead of ending them.
    out = subprocess.run([sys.executable, "-c", TERMINATED], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.split()[-1] == str(-signal.SIGTERM)


def test_huge_radix_with_rails_that_do_not_divide_it_is_refused_at_once():
    # Found by the generator fuzz: the refusal listed every divisor of the radix by walking
    # every number up to it, so a radix of 2^62 never returned.
    from netemu.errors import ParameterError
    from netemu.topologies.planes import multi_rail_fat_tree

    with pytest.raises(ParameterError, match=r"rails=3 must divide radix=4611686018427387904.*"
                                              r"allowed rails: the divisors of radix"):
        multi_rail_fat_tree(3, 2**62)
    with pytest.raises(ParameterError, match=r"allowed rails: 1, 2, 4, 8$"):
        multi_rail_fat_tree(3, 8)


def test_interrupt_during_a_report_is_acted_on_after_it(tmp_path, monkeypatch):
    # Found by the soak (interrupt trial 66): SIGTERM landing inside matplotlib's compiled
    # transform code surfaced as a TypeError traceback instead of an interruption.  Here the
    # signal arrives in the middle of report(); the report must finish, then the run stop.
    from netemu.experiments import latency, runner

    real, finished = latency.report, []

    def report(rows, out_dir):
        os.kill(os.getpid(), signal.SIGTERM)
        out = real(rows, out_dir)
        finished.append(True)
        return out

    monkeypatch.setattr(latency, "report", report)
    with pytest.raises(KeyboardInterrupt):
        runner.run(["latency"], jobs=1, out_dir=tmp_path, progress=False, quiet=True)
    assert finished == [True]
    assert not (tmp_path / "summary.csv").exists()      # stopped before the set was committed
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".netemu")] == []


def test_interrupt_while_the_kernels_warm_up_is_acted_on_after_it(monkeypatch):
    # Found by the soak (interrupt trial 42): SIGINT during the parent's first-run kernel
    # compile was raised inside an LLVM callback and printed as an ignored exception.
    from netemu.experiments import runner

    warmed = []

    def warm():
        os.kill(os.getpid(), signal.SIGINT)
        warmed.append(True)

    monkeypatch.setattr(runner, "warm_kernels", warm)
    with pytest.raises(KeyboardInterrupt):
        list(runner._pool([], 2))          # a generator: its first step warms up
    assert warmed == [True]
