"""Where numba keeps the solver's compiled kernels: one cache per user and source version.

numba's default for ``cache=True`` is ``__pycache__`` beside the source file, so
every fresh checkout (and every CI job) compiles the kernels again, about 12 s
on first use.  Here the cache directory is named by the SHA-256 of the source
file instead of by its path: every checkout or install of the same version of
:mod:`netemu.flow` on this machine shares one compiled copy, and an edited file
gets a directory of its own.  numba keys each entry further by signature, CPU
and numba version, so a shared directory never serves a wrong binary.

The directory is ``$NETEMU_CACHE_DIR``, else ``$XDG_CACHE_HOME/netemu``, else
``~/.cache/netemu``.  numba's own ``NUMBA_CACHE_DIR``, when set, still wins; and
where no cache directory is writable numba's usual places are tried in turn.
"""

import hashlib
import os
from pathlib import Path

__all__ = ["cache_dir", "cache_for", "is_cached"]


def cache_dir():
    """The per-user directory that holds netemu's compiled kernels."""
    root = os.environ.get("NETEMU_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg, "netemu") if xdg else os.path.join(Path.home(), ".cache", "netemu")
    return Path(root) / "numba"


def cache_for(fn):
    """A numba ``FunctionCache`` for ``fn`` in :func:`cache_dir`, or None to keep numba's default.

    Uses numba's caching classes, which are not public API: any failure to set up leaves
    numba's default in place (``cache=True``: ``__pycache__``).
    """
    try:
        from numba.core import caching, config

        if config.CACHE_DIR:  # the user chose a place for every numba cache: respect it
            return None

        class _ContentLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
            def __init__(self, py_func, py_file):
                self._py_file = py_file
                self._lineno = py_func.__code__.co_firstlineno
                digest = hashlib.sha256(Path(py_file).read_bytes()).hexdigest()[:20]
                self._cache_path = str(cache_dir() / f"{Path(py_file).stem}-{digest}")

            def get_cache_path(self):
                return self._cache_path

        class _Impl(caching.CompileResultCacheImpl):
            _locator_classes = [_ContentLocator] + list(caching.CompileResultCacheImpl._locator_classes)

        class _Cache(caching.FunctionCache):
            _impl_class = _Impl

        return _Cache(fn)
    except Exception:  # pragma: no cover - a numba without these internals
        return None


def is_cached(kernel):
    """Whether ``kernel`` (a numba dispatcher) has compiled code on disk for this source.

    True when its cache index exists (it names the source file's version, so an edited
    file has none); False when it has none or when numba's caching classes (not public
    API) do not say -- callers use it only to decide whether a compile is ahead.
    """
    try:
        return os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:  # plain Python (no numba), no cache, or other numba internals
        return False
