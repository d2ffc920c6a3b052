#!/usr/bin/env bash
# Make a Python with SimGrid's bindings, in a venv outside the repository, for
# benchmarks/simgrid_compare.py (and tests/benchmarks/test_simgrid_compare.py).
#
# Fast path (seconds): Debian's python3-simgrid (SimGrid 3.32, built for Debian's
# /usr/bin/python3) and python3-numpy, and a venv on that interpreter that sees them
# (--system-site-packages).  Measured on the 2-core CI machine: about 4 s for the apt
# install plus a few seconds for the venv.  SimGrid 3.32 has everything the worker uses
# (Engine, Host.route_to, Comm.sendto_async, Comm.finish_time).
#
# Slow path (no Debian package): SimGrid 4.1's bindings compiled from PyPI's source
# distribution (no wheel exists), 15-25 minutes on 2 cores.
#
# The venv is cached and this script does nothing when it already works.
#
# Usage: benchmarks/install_simgrid.sh [VENV_DIR]
#        (default: $NETEMU_SIMGRID_VENV or /var/cache/netemu-simgrid-venv)
#        NETEMU_SIMGRID_FROM_SOURCE=1 forces the slow path.
set -euo pipefail

VENV="${1:-${NETEMU_SIMGRID_VENV:-/var/cache/netemu-simgrid-venv}}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "from simgrid import Engine" 2>/dev/null; then
    echo "SimGrid already importable from $VENV"
    exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ "${NETEMU_SIMGRID_FROM_SOURCE:-0}" != 1 ] && [ -x /usr/bin/python3 ]; then
    if ! /usr/bin/python3 -c "import simgrid, numpy" 2>/dev/null; then
        $SUDO apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-simgrid python3-numpy python3-venv >/dev/null || true
    fi
    if /usr/bin/python3 -c "from simgrid import Engine; import numpy" 2>/dev/null; then
        rm -rf "$VENV"
        /usr/bin/python3 -m venv --system-site-packages --without-pip "$VENV"
        "$VENV/bin/python" -c "from simgrid import Engine; import numpy" 2>/dev/null
        echo "SimGrid ready in $VENV (Debian's python3-simgrid)"
        exit 0
    fi
    echo "Debian's python3-simgrid is not usable here; building SimGrid from source" >&2
fi

# The C++ build stops without Boost headers; patchelf fixes the RPATH below;
# setup.py drives cmake and a C++ compiler, present on most machines already.
PKGS="libboost-dev patchelf"
command -v cmake >/dev/null || PKGS="$PKGS cmake"
command -v g++ >/dev/null || PKGS="$PKGS g++ make"
if ! dpkg -s libboost-dev >/dev/null 2>&1 || [ "$PKGS" != "libboost-dev patchelf" ] \
        || ! command -v patchelf >/dev/null; then
    $SUDO apt-get update
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $PKGS
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install numpy "pybind11<3" setuptools wheel
# SimGrid's bindings do not compile against pybind11 3.x, and setup.py needs the
# pybind11 installed above, hence no build isolation.
"$VENV/bin/pip" install --no-build-isolation simgrid==4.1

# The extension module is installed next to libsimgrid.so.4.1 but carries no
# RPATH to find it.
SP=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for so in "$SP"/simgrid.cpython-*.so; do
    patchelf --set-rpath '$ORIGIN' "$so"
done

"$VENV/bin/python" -c "from simgrid import Engine; print('SimGrid ready in $VENV')"
