"""Every command of the README's bash blocks that needs no root runs as written.

Each block runs from a fresh temporary folder, its commands in order with bash (so a block
may use a file an earlier command of it wrote), with ``netemu`` meaning this Python's
``-m netemu``.  Each command must exit 0, and the files it says it writes (``--out``,
``--heatmap``, ``--pcap``, ``> FILE``, an experiment run's results) must then exist.

Commands skipped, each with its reason, are matched by :data:`SKIPS`; a command that no rule
names is run, so a new README command is tested unless a rule here says why not.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # every README command: a minute or two on a quiet machine

README = Path(__file__).resolve().parent.parent / "README.md"

#: (what the command line contains, why it is not run here)
SKIPS = (
    ("pip install", "installs packages into the environment the tests run in"),
    ("python3 -m netemu.experiments", "the main job: every experiment, minutes on 2 cores "
                                      "(tests/experiments run the runner on small sets)"),
    ("bash tests/run.sh", "the whole test suite, of which this test is a part"),
    ("netemu experiments run hfreduce_vs_nccl deepep_mpft",
     "two of the main job's longest sweeps: minutes on 2 cores, over 10 min under load; "
     "tests/experiments/test_runner.py and test_html_report.py run the same command on a "
     "quick experiment and check the files it writes"),
    ("dask ", "starts a Dask scheduler or workers by hand (HOST is a placeholder)"),
    ("--scheduler tcp://HOST", "needs the Dask cluster started above (HOST is a placeholder)"),
    ("netemu emulate", "packet-level emulation: needs root and Mininet (the README says "
                       "root only; tests/netemu/test_mininet_emulation.py runs it)"),
    ("sudo ", "needs root"),
    ("apt-get", "installs system packages"),
)

#: Options whose value is a file the command writes.
_WRITES = ("--out", "--heatmap", "--pcap")


def commands(text):
    """``[[command, ...] per bash block]``: continuation lines joined, comment lines dropped."""
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    out = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", "", block)
        cmds, pending = [], ""
        for line in joined.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            pending += line + "\n"
            if pending.count("'") % 2 == 0:      # a quoted argument may span lines
                cmds.append(pending.strip())
                pending = ""
        out.append(cmds)
    return out


def skip_reason(cmd):
    """Why ``cmd`` is not run here, or None."""
    for needle, reason in SKIPS:
        if needle in cmd:
            return reason
    return None


def files_written(cmd):
    """The files ``cmd`` says it writes, relative to where it runs."""
    words = shlex.split(cmd, comments=True)
    out = [words[i + 1] for i, w in enumerate(words[:-1]) if w in _WRITES]
    out += [words[i + 1] for i, w in enumerate(words[:-1]) if w == ">"]   # shell redirection
    if words[:3] == ["netemu", "experiments", "run"]:
        out_dir = out.pop(0) if "--out" in words else "results"
        names = [w for w in words[3:] if not w.startswith("-") and w != out_dir
                 and not w.isdigit()]
        out += [f"{out_dir}/{n}.{ext}" for n in names for ext in ("csv", "png")]
        out += [f"{out_dir}/{f}" for f in ("summary.csv", "summary_figures.csv", "index.html")]
    return out


BLOCKS = commands(README.read_text())


def test_the_readme_has_the_blocks_this_test_expects():
    every = [c for b in BLOCKS for c in b]
    assert any(c.startswith("netemu topo list") for c in every)
    assert any(c.startswith("netemu solve ft3.graphml") for c in every)
    # What is skipped, and why, in one place (shown with -rs).
    skipped = {c: skip_reason(c) for c in every if skip_reason(c)}
    assert all(skipped.values())
    assert not any(c.startswith("netemu topo") or c.startswith("netemu solve")
                   or c.startswith("netemu bench") for c in skipped)


#: Seconds one command may take before it counts as failed (and its processes are killed).
TIMEOUT = 600


def _run(cmd, cwd, env):
    """``(exit status, stderr)`` of ``bash -c cmd``; on timeout its whole process group is
    killed (a worker pool's processes included), and the status is None."""
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, f"still running after {TIMEOUT} s (killed)"


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    """A PATH folder whose ``netemu`` is this interpreter's ``python -m netemu``."""
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "netemu"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m netemu \"$@\"\n")
    exe.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"block{i}-{(b or ['empty'])[0].split('#')[0].strip()[:40]}"
                              for i, b in enumerate(BLOCKS)])
def test_readme_block_runs_as_written(index, tmp_path, shim):
    block = BLOCKS[index]
    runnable = [c for c in block if skip_reason(c) is None]
    if not runnable:
        pytest.skip("; ".join(sorted({f"{c.split()[0]} ...: {skip_reason(c)}" for c in block})))
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}",
           "MPLBACKEND": "Agg"}
    # The README's commands run from a clone; the example files they name come along.
    import shutil
    shutil.copytree(Path(__file__).resolve().parents[1] / "docs" / "workloads",
                    tmp_path / "docs" / "workloads")
    failures = []
    for cmd in runnable:
        code, err = _run(cmd, tmp_path, env)
        if code != 0:
            failures.append(f"{cmd}\n  exit {code}: {err.strip()[-500:]}")
            continue
        missing = [f for f in files_written(cmd) if not (tmp_path / f).is_file()]
        if missing:
            failures.append(f"{cmd}\n  did not write {', '.join(missing)}")
    assert failures == []
