#!/usr/bin/env bash
# The full test suite on a fresh Debian 12 machine, as root: installs what it needs (apt
# packages, the real Debian packages of other Ceph releases, tox), then runs every tox env.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

echo "== apt packages"
$SUDO apt-get update -qq
# librbd1/librados2: the real client under test; ceph-*: the one-node test cluster;
# binutils: readelf, the peer the ELF reader is compared with; gcc: stub libraries.
$SUDO apt-get install -y -qq --no-install-recommends \
    librbd1 librados2 python3-rbd python3-rados ceph-mon ceph-osd ceph-mgr ceph-common \
    binutils gcc libc6-dev python3 python3-venv ca-certificates >/dev/null

# >>> h12b: fleet HTML check (issue 12) -- headless Chromium, Debian's package
echo "== chromium (fleet HTML page checked in a real headless browser)"
command -v chromium >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
export LIBRBD_PROBE_ARTIFACTS=${LIBRBD_PROBE_ARTIFACTS:-$HOME/.cache/librbd_probe/artifacts}
# <<< h12b

echo "== real Debian packages of other Ceph releases (cached)"
$SUDO python3 tools/fetch_corpus.py

echo "== test tools"
PY=${LIBRBD_PROBE_TOOL_PYTHON:-python3}
VENV=${LIBRBD_PROBE_TOOL_VENV:-$HOME/.cache/librbd_probe/tool-venv}
[ -x "$VENV/bin/tox" ] || { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install -q 'tox<4.5' 'virtualenv<20.22'; }

echo "== install-and-run smoke test (the README's first command, in a scratch venv)"
SMOKE=$(mktemp -d)
"$PY" -m venv "$SMOKE/venv"
"$SMOKE/venv/bin/pip" install -q .
"$SMOKE/venv/bin/librbd-probe" >/dev/null
rm -rf "$SMOKE"

echo "== tox"
# The floor and the newest interpreter (pyenv builds on this kind of machine).
for v in 3.6 3.13; do
    dir=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] && PATH="$dir:$PATH"
done
export PATH
"$VENV/bin/tox" -e py36,py313,lint "$@"
