#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what the tests need, then runs pytest.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
# The Mininet tests need Debian's mininet (mnexec) and tools; as root, install what is missing.
if [ "$(id -u)" = 0 ]; then
    missing=0
    for t in mnexec iperf3 ethtool ping tcpdump; do command -v "$t" >/dev/null 2>&1 || missing=1; done
    if [ "$missing" = 1 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends \
            mininet iperf3 ethtool iputils-ping tcpdump >/dev/null \
            || { echo "tests/run.sh: installing mininet and its tools failed" >&2; exit 1; }
    fi
    # The HTML report test opens results/index.html in Debian's headless chromium.
    if ! command -v chromium >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        { [ "$missing" = 1 ] || apt-get update -qq; } && apt-get install -y -qq \
            --no-install-recommends chromium fonts-dejavu-core >/dev/null \
            || { echo "tests/run.sh: installing chromium failed" >&2; exit 1; }
    fi
fi
# The SimGrid comparison tests (tests/benchmarks/test_simgrid_compare.py) need a Python with
# SimGrid's bindings: as root, install it (Debian's python3-simgrid: seconds; see the script).
# A failed install fails the run, so those tests never skip silently in CI.
if [ "$(id -u)" = 0 ]; then
    bash benchmarks/install_simgrid.sh \
        || { echo "tests/run.sh: installing SimGrid failed" >&2; exit 1; }
fi
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
