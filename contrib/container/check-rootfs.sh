#!/bin/sh
# Gate an exported container rootfs before the image ships:
#   docker export "$(docker create IMAGE)" | tar -x -C rootfs && contrib/container/check-rootfs.sh rootfs
# Usage: check-rootfs.sh ROOTFS [POLICY]   (exit codes: librbd-probe's, README "Build gate")
set -e
rootfs=${1:?usage: check-rootfs.sh ROOTFS [POLICY]}
policy=${2:-$(dirname "$0")/../librbd.policy}
librbd-probe --root "$rootfs" --policy "$policy" --markdown
