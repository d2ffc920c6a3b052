"""Heavy libraries load on first use: a CLI answer that needs no model loads none.

Checked by which modules a fresh interpreter has imported, not by timing it.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("numba", "scipy", "networkx", "matplotlib")


def _loaded_after(code):
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {list(HEAVY) + ['numpy']!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_netemu_loads_no_heavy_library():
    assert _loaded_after("import netemu") == set()


@pytest.mark.parametrize("argv", [["--help"], ["topo", "list"], ["solve", "nope"],
                                  ["topo", "draw", "two-layer-fat-tree"]])
def test_cli_answers_without_a_model(argv):
    code = ("import contextlib, io\nfrom netemu.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n"
            f"        main({argv!r})\n"
            "    except SystemExit:\n"
            "        pass")
    assert _loaded_after(code) & set(HEAVY) == set()


def test_public_names_still_resolve():
    import netemu
    from netemu import GB, fail, load, save, solve, Solution, validate  # noqa: F401

    assert GB == 10**9
    assert netemu.solve is solve
    assert netemu.routing.__name__ == "netemu.routing"  # submodules by attribute, as before
    assert set(netemu.__all__) <= set(dir(netemu))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        netemu.nothing
