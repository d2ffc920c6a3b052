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


def test_kernels_compile_into_the_cache_and_give_the_same_numbers(monkeypatch, tmp_path):
    numba = pytest.importorskip("numba")
    monkeypatch.setenv("NETEMU_CACHE_DIR", str(tmp_path / "cache"))
    path, f = _module(tmp_path, "checkout", "def f(x):\n    return 2 * x + 1\n")
    cache = _kernel_cache.cache_for(f)
    if cache is None:
        pytest.skip("this numba has no caching internals")
    kernel = numba.njit(cache=True)(f)
    kernel._cache = cache
    assert kernel(20) == 41
    assert any(p.suffix == ".nbi" for p in Path(cache.cache_path).iterdir())
