#!/usr/bin/env bash
# Build SimGrid 4.1's Python bindings into a venv outside the repository, for
# benchmarks/simgrid_compare.py.  The build compiles SimGrid from source (no
# wheel exists for it), which takes 15-25 minutes on 2 cores, so the venv is
# cached and this script does nothing when it already works.
#
# Usage: benchmarks/install_simgrid.sh [VENV_DIR]
#        (default: $NETEMU_SIMGRID_VENV or /var/cache/netemu-simgrid-venv)
set -euo pipefail

VENV="${1:-${NETEMU_SIMGRID_VENV:-/var/cache/netemu-simgrid-venv}}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "from simgrid import Engine" 2>/dev/null; then
    echo "SimGrid already importable from $VENV"
    exit 0
fi

# The C++ build stops without Boost headers; patchelf fixes the RPATH below;
# setup.py drives cmake and a C++ compiler, present on most machines already.
PKGS="libboost-dev patchelf"
command -v cmake >/dev/null || PKGS="$PKGS cmake"
command -v g++ >/dev/null || PKGS="$PKGS g++ make"
if ! dpkg -s libboost-dev >/dev/null 2>&1 || [ "$PKGS" != "libboost-dev patchelf" ] \
        || ! command -v patchelf >/dev/null; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
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
