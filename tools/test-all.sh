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

# >>> h12b: fleet HTML check (issue 12) -- headless Chromium, Debian's package
echo "== chromium (fleet HTML page checked in a real headless browser)"
command -v chromium >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
export LIBRBD_PROBE_ARTIFACTS=${LIBRBD_PROBE_ARTIFACTS:-$HOME/.cache/librbd_probe/artifacts}
# <<< h12b

# >>> h12a: single-file build, Ansible collection, Prometheus textfile (issue 12)
echo "== openssh-server, promtool, node_exporter, ansible-core (tests/test_pyz, test_ansible, test_prometheus)"
H12A_PKGS="openssh-server openssh-sftp-server prometheus prometheus-node-exporter"
if ! dpkg -s $H12A_PKGS >/dev/null 2>&1; then
    # No service may start from a postinst (sshd on *:22, prometheus on *:9090, node_exporter on
    # *:9100): a temporary policy-rc.d refuses them, unless the machine already has its own.
    H12A_POLICY=/usr/sbin/policy-rc.d
    H12A_OWN_POLICY=""
    if [ ! -e "$H12A_POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$H12A_POLICY" >/dev/null
        $SUDO chmod 755 "$H12A_POLICY"
        H12A_OWN_POLICY=1
    fi
    $SUDO apt-get install -y -qq --no-install-recommends $H12A_PKGS >/dev/null
    if [ -n "$H12A_OWN_POLICY" ]; then $SUDO rm -f "$H12A_POLICY"; fi
fi
# ansible-core from PyPI (controller side only; targets need no module-side Python)
H12A_ANSIBLE=${LIBRBD_PROBE_ANSIBLE_VENV:-$HOME/.cache/librbd_probe/ansible-venv}
[ -x "$H12A_ANSIBLE/bin/ansible-playbook" ] || {
    python3 -m venv "$H12A_ANSIBLE" && "$H12A_ANSIBLE/bin/pip" install -q 'ansible-core>=2.17,<2.18'; }
# the json stdout callback is ansible.posix.json: that one collection, out of the PyPI "ansible" wheel
H12A_COLL=${LIBRBD_PROBE_ANSIBLE_COLLECTIONS:-$HOME/.cache/librbd_probe/ansible-collections}
if [ ! -f "$H12A_COLL/ansible_collections/ansible/posix/plugins/callback/json.py" ]; then
    H12A_DL=$HOME/.cache/librbd_probe/pip-dl
    "$H12A_ANSIBLE/bin/pip" download -q --no-deps 'ansible==10.7.0' -d "$H12A_DL"
    python3 - "$H12A_DL/ansible-10.7.0-py3-none-any.whl" "$H12A_COLL" <<'H12A_PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    for name in wheel.namelist():
        if name.startswith("ansible_collections/ansible/posix/"):
            wheel.extract(name, sys.argv[2])
H12A_PY
fi
# <<< h12a

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
