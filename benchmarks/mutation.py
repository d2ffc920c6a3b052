"""Mutation run: small deliberate bugs in the model, and which of them the tests catch.

Each *mutant* changes one operator or constant of a source file (``+``/``-``, ``*``/``/``,
``<``/``<=``, ``==``/``!=``, ``and``/``or``, a number ``n`` to ``n+1`` or ``2x``,
``True``/``False``, ``+=``/``-=``, a dropped unary minus or ``not``), written with the
standard library's :mod:`ast` so that every mutant is a valid program.  For each mutant the
chosen tests run in a forked child of one warm process (numpy, networkx, numba and netemu's
engine already imported, so a mutant costs about a second, not a fresh interpreter's start).
A mutant is *killed* when a test fails (or the run times out), *survives* when all pass.

Not mutated, by design: ``raise`` statements and error messages (their wording is not the
model), docstrings and f-strings, ``__all__``, and functions compiled by numba (a mutant
there recompiles the kernels, 15 s each; the solver has its own independent reference test
in tests/netemu/flow_reference.py).

Usage::

    python benchmarks/mutation.py                                  # collectives/, its tests
    python benchmarks/mutation.py --paths netemu/units.py --tests tests/netemu/test_units_checks.py
    python benchmarks/mutation.py --list                           # count the mutants only
    python benchmarks/mutation.py --sample 40 --seed 1             # a random subset
    python benchmarks/mutation.py --recheck out.json --tests tests/collectives   # survivors

The source tree is restored after every mutant (and on Ctrl-C); ``--json`` writes every
mutant's outcome.  Results of the runs recorded in benchmarks/README.md.
"""

import argparse
import ast
import copy
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_PATHS = ["collectives"]
#: Only sourced inputs (NCCL's and HFReduce's constants): the tests read them by design.
DEFAULT_EXCLUDE = ["collectives/software.py"]
#: The fast tests that pin the model (about 10 s for a surviving mutant on an idle machine);
#: tests/collectives/test_closed_forms.py adds the Fire-Flyer HFReduce bounds (30 s more).
DEFAULT_TESTS = ["tests/collectives/test_closed_forms_algorithms.py",
                 "tests/collectives/test_algorithms.py"]

_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}
_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
        ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BOOL = {ast.And: ast.Or, ast.Or: ast.And}


# --------------------------------------------------------------------------- mutants

def _skipped_spans(tree):
    """Line spans never mutated: raise statements, ``__all__``, numba-compiled functions."""
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            spans.append((node.lineno, node.end_lineno))
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            spans.append((node.lineno, node.end_lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [ast.unparse(d) for d in node.decorator_list]
            if any("jit" in d for d in names):
                spans.append((node.lineno, node.end_lineno))
    return spans


def _in_fstring_or_docstring(tree):
    """ids of Constant nodes that are docstrings or parts of f-strings."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            out.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _number_mutation(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 if value else 1.0
    return None


def sites(source):
    """Every mutation site of ``source``: ``(index, line, description)`` in walk order."""
    tree = ast.parse(source)
    skip = _skipped_spans(tree)
    quiet = _in_fstring_or_docstring(tree)
    out = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line is None or any(a <= line <= b for a, b in skip) or id(node) in quiet:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
            out.append((node, "op", f"{type(node.op).__name__} -> {_BINOP[type(node.op)].__name__}"))
        elif isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
            new = ast.Sub if isinstance(node.op, ast.Add) else ast.Add
            out.append((node, "augop", f"{type(node.op).__name__}= -> {new.__name__}="))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP:
                    out.append((node, ("cmp", i), f"{type(op).__name__} -> {_CMP[type(op)].__name__}"))
        elif isinstance(node, ast.BoolOp):
            out.append((node, "bool", f"{type(node.op).__name__} -> {_BOOL[type(node.op)].__name__}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            out.append((node, "unary", f"drop {type(node.op).__name__}"))
        elif isinstance(node, ast.Constant) and _number_mutation(node.value) is not None:
            out.append((node, "const", f"{node.value!r} -> {_number_mutation(node.value)!r}"))
    return tree, out


def mutate(source, k):
    """``(mutated source, line, description)`` of the ``k``-th site of ``source``."""
    tree, found = sites(source)
    node, kind, desc = found[k]
    line = node.lineno
    if kind == "op":
        node.op = _BINOP[type(node.op)]()
    elif kind == "augop":
        node.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
    elif isinstance(kind, tuple):
        i = kind[1]
        node.ops[i] = _CMP[type(node.ops[i])]()
    elif kind == "bool":
        node.op = _BOOL[type(node.op)]()
    elif kind == "unary":
        # Replace the UnaryOp by its operand in its parent.
        for parent in ast.walk(tree):
            for field, value in ast.iter_fields(parent):
                if value is node:
                    setattr(parent, field, node.operand)
                elif isinstance(value, list):
                    for j, item in enumerate(value):
                        if item is node:
                            value[j] = node.operand
    elif kind == "const":
        node.value = _number_mutation(node.value)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree), line, desc


def _source_line(source, line):
    return source.splitlines()[line - 1].strip()


# --------------------------------------------------------------------------- running

def _purge(mutated):
    """Drop from sys.modules what must be re-imported to see ``mutated`` (a path under ROOT)."""
    top = Path(mutated).relative_to(ROOT).parts[0]
    prefix = "netemu." + top if top in ("collectives", "topologies", "experiments") else "netemu"
    for name in list(sys.modules):
        if name == prefix or name.startswith(prefix + ".") or name == "tests" \
                or name.startswith("tests.") or (prefix == "netemu" and name.startswith("netemu")):
            del sys.modules[name]


def run_tests(tests, mutated, timeout):
    """Run pytest on ``tests`` in a forked child; ``'killed'``, ``'survived'`` or ``'timeout'``."""
    import pytest

    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            if mutated is not None:
                _purge(mutated)
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not mininet",
                                *tests])
        except BaseException:  # noqa: BLE001 - any crash of the mutant is a kill
            code = 99
        os._exit(int(code))
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                return "survived" if code == 0 else "killed"
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout"
            time.sleep(0.05)
    except BaseException:
        # Interrupted: end the child (it runs the mutant) before the source is restored.
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def collect_files(paths, exclude):
    files = []
    for p in paths:
        p = (ROOT / p).resolve()
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    ex = {(ROOT / e).resolve() for e in exclude}
    return [f for f in files if f not in ex and f.name != "__main__.py"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", nargs="+", default=DEFAULT_PATHS)
    ap.add_argument("--exclude", nargs="*", default=DEFAULT_EXCLUDE)
    ap.add_argument("--tests", nargs="+", default=DEFAULT_TESTS)
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per mutant")
    ap.add_argument("--sample", type=int, default=0, help="run a random subset of this many")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="count the mutants and stop")
    ap.add_argument("--json", help="write every mutant's outcome here")
    ap.add_argument("--recheck", metavar="JSON",
                    help="run only the survivors recorded in JSON (a --json output), e.g. "
                         "against a larger --tests set")
    args = ap.parse_args(argv)

    os.chdir(ROOT)
    # SIGTERM as well as Ctrl-C stops the run cleanly: child ended, source restored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    # Compiled kernels go to a private cache (the tree's own is never rewritten), and no
    # bytecode is written, so a mutant's .pyc can never outlive it.
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(),
                                                          "netemu-mutation-numba"))
    sys.dont_write_bytecode = True

    files = collect_files(args.paths, args.exclude)
    plan = []
    for f in files:
        src = f.read_text()
        plan += [(f, k) for k in range(len(sites(src)[1]))]
    print(f"{len(plan)} mutants in {len(files)} files")
    if args.list:
        for f in files:
            print(f"  {f.relative_to(ROOT)}: {len(sites(f.read_text())[1])}")
        return 0
    if args.recheck:
        wanted = {(r["file"], r["line"], r["mutation"])
                  for r in json.loads(Path(args.recheck).read_text()) if r["outcome"] == "survived"}
        keep = []
        for f, k in plan:
            node, _, desc = sites(f.read_text())[1][k]
            if (str(f.relative_to(ROOT)), node.lineno, desc) in wanted:
                keep.append((f, k))
        plan = keep
        print(f"rechecking {len(plan)} survivors of {args.recheck}")
    elif args.sample and args.sample < len(plan):
        plan = sorted(random.Random(args.seed).sample(plan, args.sample),
                      key=lambda x: (str(x[0]), x[1]))

    # Warm the parent: the engine and the tests' imports, then a clean baseline.
    import netemu.collectives  # noqa: F401
    t0 = time.monotonic()
    base = run_tests(args.tests, None, args.timeout * 5)
    print(f"baseline: {base} in {time.monotonic() - t0:.1f} s")
    if base != "survived":
        print("the tests fail without any mutant; fix them first", file=sys.stderr)
        return 2

    results = []
    originals = {}
    try:
        for i, (f, k) in enumerate(plan, 1):
            src = originals.setdefault(f, (f.read_text(), f.stat()))[0]
            st = originals[f][1]
            mutated, line, desc = mutate(src, k)
            f.write_text(mutated)
            # A distinct mtime: no stale bytecode of the original can be taken for the mutant.
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + (i + 1) * 10**9))
            t1 = time.monotonic()
            try:
                outcome = run_tests(args.tests, f, args.timeout)
            finally:
                f.write_text(src)
                os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
            rec = {"file": str(f.relative_to(ROOT)), "site": k, "line": line, "mutation": desc,
                   "code": _source_line(src, line), "outcome": outcome,
                   "seconds": round(time.monotonic() - t1, 2)}
            results.append(rec)
            mark = {"killed": ".", "timeout": "T", "survived": "S"}[outcome]
            print(f"[{i}/{len(plan)}] {mark} {rec['file']}:{line} {desc}  ({rec['seconds']} s)",
                  flush=True)
    except KeyboardInterrupt:
        print("interrupted; the source is restored", file=sys.stderr)
    finally:
        for f, (src, st) in originals.items():
            if f.read_text() != src:
                f.write_text(src)
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))

    killed = sum(r["outcome"] != "survived" for r in results)
    print(f"\ntried {len(results)}, killed {killed} "
          f"({sum(r['outcome'] == 'timeout' for r in results)} by timeout), "
          f"survived {len(results) - killed}")
    for r in results:
        if r["outcome"] == "survived":
            print(f"  S {r['file']}:{r['line']} {r['mutation']}: {r['code']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
