"""Where the solver's compiled kernels are cached (netemu/_kernel_cache.py)."""

import hashlib
from pathlib import Path

import pytest

from netemu import _kernel_cache


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NETEMU_CACHE_DIR", str(tmp_path / "n"))
    assert _kernel_cache.cache_dir() == tmp_path / "n" / "numba"
    monkeypatch.delenv("NETEMU_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert _kernel_cache.cache_dir() == tmp_path / "x" / "netemu" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert _kernel_cache.cache_dir() == tmp_path / "h" / ".cache" / "netemu" / "numba"


def _module(tmp_path, name, text):
    path = tmp_path / name / "kern.py"
    path.parent.mkdir()
    path.write_text(text)
    namespace = {}
    exec(compile(text, str(path), "exec"), namespace)
    return path, namespace["f"]


def test_same_source_shares_one_directory_whatever_its_path(monkeypatch, tmp_path):
    pytest.importorskip("numba")
    monkeypatch.setenv("NETEMU_CACHE_DIR", str(tmp_path / "cache"))
    text = "def f(x):\n    return x + 1\n"
    path_a, fa = _module(tmp_path, "checkout_a", text)
    path_b, fb = _module(tmp_path, "checkout_b", text)
    _, fc = _module(tmp_path, "edited", text + "# edited\n")
    a, b, c = (_kernel_cache.cache_for(f) for f in (fa, fb, fc))
    if a is None:
        pytest.skip("this numba has no caching internals; numba's default cache is used")
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    assert Path(a.cache_path) == tmp_path / "cache" / "numba" / f"kern-{digest}"
    assert a.cache_path == b.cache_path  # two checkouts of one version: one compile
    assert c.cache_path != a.cache_path  # an edited file never loads the old binary


def _cached_kernel(monkeypatch, tmp_path, source):
    """``(f, kernel, cache)``: ``source``'s ``f`` compiled by numba into a per-test kernel
    cache (skipped where numba or its caching internals are missing)."""
    numba = pytest.importorskip("numba")
    monkeypatch.setenv("NETEMU_CACHE_DIR", str(tmp_path / "cache"))
    _, f = _module(tmp_path, "checkout", source)
    cache = _kernel_cache.cache_for(f)
    if cache is None:
        pytest.skip("this numba has no caching internals")
    kernel = numba.njit(cache=True)(f)
    kernel._cache = cache
    return f, kernel, cache


def test_kernels_compile_into_the_cache_and_give_the_same_numbers(monkeypatch, tmp_path):
    _, kernel, cache = _cached_kernel(monkeypatch, tmp_path, "def f(x):\n    return 2 * x + 1\n")
    assert kernel(20) == 41
    assert any(p.suffix == ".nbi" for p in Path(cache.cache_path).iterdir())


def test_is_cached_says_whether_a_kernel_is_on_disk(monkeypatch, tmp_path):
    f, kernel, _ = _cached_kernel(monkeypatch, tmp_path, "def f(x):\n    return 3 * x\n")
    assert not _kernel_cache.is_cached(kernel)      # nothing compiled yet
    assert kernel(2) == 6
    assert _kernel_cache.is_cached(kernel)          # compiled and saved by the call
    assert not _kernel_cache.is_cached(f)           # a plain function: no compiled code


def test_warm_kernels_compiles_the_fluid_kernel_in_a_child(monkeypatch):
    # An empty cache: the fluid kernel's warm-up runs in a forked child, the rates' in this
    # process, then the fluid one here again (a load from the cache the child filled).
    from netemu.experiments import runner
    calls = []
    monkeypatch.setattr(runner, "_warm_rates", lambda: calls.append("rates"))
    monkeypatch.setattr(runner, "_warm_fluid", lambda: calls.append("fluid"))
    monkeypatch.setattr(runner, "_warm_routing", lambda: calls.append("routing"))
    monkeypatch.setattr(runner, "_warm_summary", lambda: calls.append("summary"))
    monkeypatch.setattr(_kernel_cache, "is_cached", lambda kernel: False)
    started = []

    class Child:
        def join(self):
            started.append("joined")

    monkeypatch.setattr(runner, "_forked", lambda target: started.append(target) or Child())
    runner.warm_kernels()
    assert started == [runner._warm_fluid, "joined"]
    assert calls == ["rates", "routing", "summary", "fluid"]
    # On a filled cache no child is started (and the routing kernel is left to its first use).
    monkeypatch.setattr(_kernel_cache, "is_cached", lambda kernel: True)
    started.clear()
    calls.clear()
    runner.warm_kernels()
    assert started == [] and calls == ["rates", "fluid"]


def test_forked_child_runs_its_target(tmp_path):
    import multiprocessing

    from netemu.experiments import runner
    if "fork" not in multiprocessing.get_all_start_methods():
        assert runner._forked(lambda: None) is None
        return
    mark = tmp_path / "ran"
    proc = runner._forked(lambda: mark.write_text("yes"))
    proc.join()
    assert proc.exitcode == 0 and mark.read_text() == "yes"
