"""Every docstring example of the installed ``netemu`` package runs as a doctest.

The examples are collected from ``netemu`` and its subpackages by import name (not
by file), so ``netemu.topologies`` is tested as users import it, never as a second
top-level ``topologies`` module.
"""

import doctest
import importlib
import pkgutil

import pytest



def _modules():
    names = set()
    for package in ("netemu", "netemu.topologies", "netemu.collectives", "netemu.experiments"):
        names.add(package)
        path = importlib.import_module(package).__path__
        names.update(i.name for i in pkgutil.walk_packages(path, package + ".")
                     if not i.name.endswith("__main__"))
    return sorted(names)


def _with_examples():
    finder = doctest.DocTestFinder()
    out = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                out.append(pytest.param(test, id=test.name))
    return out


@pytest.mark.parametrize("test", _with_examples())
def test_docstring_example(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{test.name}: {runner.failures} example(s) failed (see output)"
