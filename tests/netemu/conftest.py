"""Fixtures shared by the tests of :mod:`netemu`."""

import pytest


@pytest.fixture
def mininet_importable():
    """Fail (never skip) a Mininet test when root and Mininet are here but the backend does
    not import: a skip would hide a broken ``netemu.backends.clos`` from CI."""
    from .mininet_support import BROKEN

    if BROKEN is not None:
        pytest.fail(f"root and Mininet are present but netemu.backends.clos does not import: "
                    f"{BROKEN}", pytrace=False)
