"""The Mininet tests skip only where Mininet cannot run; a backend that does not import fails."""

import os
import subprocess
import sys
import textwrap

from .mininet_support import ROOT, _mininet_installed


def test_a_mininet_test_whose_backend_cannot_import_fails_rather_than_skips(tmp_path):
    # A child pytest in which importing netemu.backends.clos raises ImportError.
    (tmp_path / "test_broken_backend.py").write_text(textwrap.dedent("""
        import sys
        sys.modules["netemu.backends.clos"] = None      # any import of it: ImportError
        from tests.netemu.conftest import mininet_importable  # noqa: F401
        from tests.netemu.mininet_support import needs_mininet
        pytestmark = needs_mininet

        def test_emulation():
            pass
    """))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        str(tmp_path / "test_broken_backend.py")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if _mininet_installed():
        assert p.returncode == 1, p.stdout[-2000:]
        assert "1 error" in p.stdout and "does not import" in p.stdout, p.stdout[-2000:]
    else:
        # No root or no Mininet here: the honest outcome is a skip that says why.
        assert p.returncode == 0 and "1 skipped" in p.stdout, p.stdout[-2000:]
