#!/usr/bin/env bash
# The full test suite on a fresh Debian 12 machine, as root: installs what it needs (apt
# packages, the real Debian packages of other Ceph releases, tox), then runs every tox env.
# This is the README's test command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then
    # root (a container) has no sudo and needs none; anyone else needs it
    SUDO=$(command -v sudo) || { echo "tools/test-all.sh: run as root or install sudo" >&2; exit 2; }
fi

echo "== apt packages"
$SUDO apt-get update -qq
# librbd1/librados2: the real client under test; ceph-*: the one-node test cluster;
# binutils: readelf, the peer the ELF reader is compared with; gcc: stub libraries.
$SUDO apt-get install -y -qq --no-install-recommends \
    librbd1 librados2 python3-rbd python3-rados ceph-mon ceph-osd ceph-mgr ceph-common \
    binutils gcc libc6-dev python3 python3-venv ca-certificates >/dev/null
# --- issue 11 (build gate): dpkg-gensymbols is the oracle for `librbd-probe symbols`
$SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
# --- end issue 11

echo "== real Debian packages of other Ceph releases (cached)"
$SUDO python3 tools/fetch_corpus.py

# --- consumers ground truth (issue 9, helper h9) -------------------------------------------
# Real Debian packages that USE librbd/librados (qemu-block-extra, libvirt's rbd backend, fio,
# tcmu-runner, tgt-rbd, rbd-nbd, ceph-common, ...) of four suites, downloaded and unpacked,
# never installed (about 300 MB, cached).  scanelf (pax-utils) lists their consumers for the
# discovery test and the sweep bench.
echo "== consumer packages for the loader ground truth (cached)"
$SUDO apt-get install -y -qq --no-install-recommends pax-utils >/dev/null
$SUDO python3 tools/fetch_consumers.py
# --- end consumers ground truth --------------------------------------------------------------

echo "== test tools"
PY=${LIBRBD_PROBE_TOOL_PYTHON:-python3}
VENV=${LIBRBD_PROBE_TOOL_VENV:-$HOME/.cache/librbd_probe/tool-venv}
[ -x "$VENV/bin/tox" ] || { "$PY" -m venv "$VENV" && "$VENV/bin/pip" install -q 'tox<4.5' 'virtualenv<20.22'; }

echo "== install-and-run smoke test (the README's first command, verbatim, HOME in a scratch dir)"
SMOKE=$(mktemp -d)
FIRST=$(sed -n '/^```sh$/{n;p;q}' README.md)
case "$FIRST" in '$(command -v sudo) '*) ;; *) echo "README's first command lost its sudo prefix" >&2; exit 1;; esac
HOME="$SMOKE" sh -ec "$FIRST" >/dev/null
rm -rf "$SMOKE"

echo "== tox"
# The floor and the newest interpreter (pyenv builds on this kind of machine).
for v in 3.6 3.13; do
    dir=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$dir" ] && PATH="$dir:$PATH"
done
export PATH
"$VENV/bin/tox" -e py36,py313,lint "$@"
